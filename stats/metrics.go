package stats

import (
	"math"
	"math/big"
	"sort"
	"time"
)

// The catalog events the metrics read.
const (
	evSessionStart    = "session.start"
	evSessionMessage  = "session.message"
	evSessionEscalate = "session.escalate"
	evTakeover        = "agent.session_takeover"
	evRelease         = "agent.session_release"
	evAgentMessage    = "agent.session_message"
	evTransfer        = "agent.session_transfer"
	evLogout          = "agent.logout"
	evTicketCreated   = "ticket.created"
	evTicketClosed    = "ticket.closed"
)

// catalogReads is what the formulas below read of the catalog
// (internal/catalog/default.yaml): each event they count, the measure they
// average or sum of it and the flag they count. The store keeps per event
// exactly that measure and flag, so a metric that reads a new event or
// measure starts here; TestMetricsReadTheCatalog checks the table against
// catalog.Default().
var catalogReads = []struct{ Event, Measure, Flag string }{
	{Event: evSessionStart},
	{Event: evSessionMessage, Measure: "response_time_ms"},
	{Event: evSessionEscalate},
	{Event: evTakeover, Measure: "wait_duration_seconds"},
	{Event: evRelease, Measure: "handle_duration_seconds"},
	{Event: evAgentMessage},
	{Event: evTransfer},
	{Event: evLogout, Measure: "online_duration_seconds"},
	{Event: evTicketCreated},
	{Event: evTicketClosed, Measure: "resolution_duration_hours", Flag: "sla_met"},
}

// AIMetrics are the AI chatbot's numbers of a period (docs/spec.md §8). A nil
// *big.Rat is a metric with a zero denominator: no data.
type AIMetrics struct {
	Sessions    int64 // count(session.start): total_customers_served
	Escalations int64 // count(session.escalate)
	// Resolved is Sessions − Escalations, clamped at 0: escalations of
	// sessions started in an earlier period can outnumber this period's
	// starts, and a negative number of AI resolutions means nothing.
	Resolved      int64
	Rate          *big.Rat // Resolved / Sessions
	Messages      int64    // count(session.message)
	AvgResponseMS *big.Rat // avg(session.message.response_time_ms)
	CostSaved     *big.Rat // Resolved × cost per resolution, yuan
}

// AgentMetrics are the agent workbench's numbers of a period.
type AgentMetrics struct {
	SessionsHandled int64    // count(agent.session_takeover)
	AvgFirstResp    *big.Rat // avg(wait_duration_seconds), seconds
	Released        int64    // count(agent.session_release)
	AvgHandle       *big.Rat // avg(handle_duration_seconds), seconds
	Messages        int64    // count(agent.session_message)
	Transfers       int64    // count(agent.session_transfer)
	OnlineSeconds   *big.Rat // sum(agent.logout.online_duration_seconds); nil without logouts
}

// TicketMetrics are the tickets' numbers of a period.
type TicketMetrics struct {
	Created       int64    // count(ticket.created)
	Resolved      int64    // count(ticket.closed)
	SLAMet        int64    // count(ticket.closed with sla_met)
	SLARate       *big.Rat // SLAMet / Resolved
	AvgResolution *big.Rat // avg(resolution_duration_hours), hours
}

// Metrics are all the numbers of a period.
type Metrics struct {
	AI      AIMetrics
	Agent   AgentMetrics
	Tickets TicketMetrics
}

// IsEmpty reports whether the period has no counted event the metrics use.
func (m Metrics) IsEmpty() bool {
	return m.AI.Sessions == 0 && m.AI.Escalations == 0 && m.AI.Messages == 0 &&
		m.Agent.SessionsHandled == 0 && m.Agent.Released == 0 && m.Agent.Messages == 0 &&
		m.Agent.Transfers == 0 && m.Agent.OnlineSeconds == nil &&
		m.Tickets.Created == 0 && m.Tickets.Resolved == 0
}

// CostFen is a cost per resolution in yuan as whole fen (0.01 yuan), rounded
// half away from zero: the one rounding of cost_per_resolution, used by the
// stats service, the simulator's expectation and the demo alike.
func CostFen(yuan float64) int64 { return int64(math.Round(yuan * 100)) }

// CostSaved is docs/spec.md §8 cost_saved: resolved AI sessions × the cost
// per resolution in fen, exactly, in yuan.
func CostSaved(resolved, costFen int64) *big.Rat {
	return new(big.Rat).SetFrac(new(big.Int).Mul(big.NewInt(resolved), big.NewInt(costFen)), big.NewInt(100))
}

// ComputeMetrics applies the docs/spec.md §8 formulas to summed counters.
// costFen is the cost per AI resolution in fen.
func ComputeMetrics(t Totals, costFen int64) Metrics {
	var m Metrics
	start, esc, msg := t[evSessionStart], t[evSessionEscalate], t[evSessionMessage]
	m.AI.Sessions = start.Events
	m.AI.Escalations = esc.Events
	m.AI.Resolved = max(start.Events-esc.Events, 0)
	m.AI.Rate = ratio(m.AI.Resolved, start.Events)
	m.AI.Messages = msg.Events
	m.AI.AvgResponseMS = avgMicro(msg.MeasureSumMicro, msg.MeasureCount)
	m.AI.CostSaved = CostSaved(m.AI.Resolved, costFen)

	m.Agent = agentMetrics(t)

	closed := t[evTicketClosed]
	m.Tickets.Created = t[evTicketCreated].Events
	m.Tickets.Resolved = closed.Events
	m.Tickets.SLAMet = closed.FlagTrue
	m.Tickets.SLARate = ratio(closed.FlagTrue, closed.Events)
	m.Tickets.AvgResolution = avgMicro(closed.MeasureSumMicro, closed.MeasureCount)
	return m
}

func agentMetrics(t Totals) AgentMetrics {
	take, rel, logout := t[evTakeover], t[evRelease], t[evLogout]
	a := AgentMetrics{
		SessionsHandled: take.Events,
		AvgFirstResp:    avgMicro(take.MeasureSumMicro, take.MeasureCount),
		Released:        rel.Events,
		AvgHandle:       avgMicro(rel.MeasureSumMicro, rel.MeasureCount),
		Messages:        t[evAgentMessage].Events,
		Transfers:       t[evTransfer].Events,
	}
	if logout.MeasureCount > 0 {
		a.OnlineSeconds = logout.MeasureSumMicro.Rat()
	}
	return a
}

// AgentRow is one agent's numbers of a month.
type AgentRow struct {
	AgentID       string
	Agent         AgentMetrics
	TicketsClosed int64
	// AvgResolution is the average resolution time of the tickets the
	// agent closed, hours.
	AvgResolution *big.Rat
}

// ComputeAgents turns per-agent totals into rows sorted by agent id.
func ComputeAgents(at AgentTotals) []AgentRow {
	rows := make([]AgentRow, 0, len(at))
	for id, t := range at {
		closed := t[evTicketClosed]
		rows = append(rows, AgentRow{
			AgentID:       id,
			Agent:         agentMetrics(t),
			TicketsClosed: closed.Events,
			AvgResolution: avgMicro(closed.MeasureSumMicro, closed.MeasureCount),
		})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].AgentID < rows[j].AgentID })
	return rows
}

// DataStatus is what a reader needs to trust a month's numbers.
type DataStatus struct {
	Month Month
	// Complete: the month has ended in the business time zone.
	Complete bool
	// Rejected records of the month not counted (see queryRejected).
	Rejected int64
	// LastWritten is the last write to the month's rollups; zero if none.
	// On a standby: the last write it has replayed (see Replica).
	LastWritten time.Time
	// Replica is set when the numbers come from a hot standby.
	Replica Replica
}
