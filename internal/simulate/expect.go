package simulate

import (
	"math/big"
	"sort"
	"time"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
	"github.com/otelcol-analytics/otelcol-analytics/sdk/bizevents"
	"github.com/otelcol-analytics/otelcol-analytics/stats"
)

// Avg is the exact data behind an average: how many values and their sum
// in integer millionths (each value rounded with catalog.Micro, as the
// collector does), plus the average itself for reading.
type Avg struct {
	Count    int64        `json:"count"`
	SumMicro counters.Sum `json:"sum_micro"`
	Avg      *float64     `json:"avg"` // sum/count in the value's unit; null when count = 0
}

// Mean is the exact average sum/count in the value's unit; nil when count
// = 0 (no data).
func (a Avg) Mean() *big.Rat {
	if a.Count == 0 {
		return nil
	}
	return new(big.Rat).SetFrac(a.SumMicro.Big(), new(big.Int).Mul(big.NewInt(a.Count), big.NewInt(1_000_000)))
}

// Total is the exact sum in the value's unit; nil when count = 0.
func (a Avg) Total() *big.Rat {
	if a.Count == 0 {
		return nil
	}
	return a.SumMicro.Rat()
}

func (a *Avg) finish() {
	if a.Count > 0 {
		v := a.SumMicro.Float64() / float64(a.Count)
		a.Avg = &v
	} else {
		a.Avg = nil
	}
}

func ratio(n, d int64) *float64 {
	if d == 0 {
		return nil
	}
	v := float64(n) / float64(d)
	return &v
}

// Raw are the docs/spec.md §8 numbers of one month, from the deduplicated events.
type Raw struct {
	// AI chatbot.
	TotalCustomersServed int64    `json:"total_customers_served"` // count(session.start)
	SessionsEscalated    int64    `json:"sessions_escalated"`     // count(session.escalate)
	AIResolvedSessions   int64    `json:"ai_resolved_sessions"`   // max(start − escalate, 0)
	AIResolutionRate     *float64 `json:"ai_resolution_rate"`     // (start − escalate)/start
	Messages             int64    `json:"messages"`               // count(session.message)
	ResponseTimeMs       Avg      `json:"response_time_ms"`       // session.message
	CostPerResolution    float64  `json:"cost_per_resolution"`
	CostSaved            float64  `json:"cost_saved"` // AI-resolved sessions × cost per resolution
	// Agent workbench.
	SessionsHandled       int64 `json:"sessions_handled"`        // count(agent.session_takeover)
	WaitDurationSeconds   Avg   `json:"wait_duration_seconds"`   // avg_first_response
	SessionsReleased      int64 `json:"sessions_released"`       // count(agent.session_release)
	HandleDurationSeconds Avg   `json:"handle_duration_seconds"` // avg_handle_time (agent.session_release)
	// Tickets.
	TicketsCreated          int64    `json:"tickets_created"`           // count(ticket.created)
	TicketsResolved         int64    `json:"tickets_resolved"`          // count(ticket.closed)
	ResolutionDurationHours Avg      `json:"resolution_duration_hours"` // avg_resolution_time
	SLAMet                  int64    `json:"sla_met"`                   // count(ticket.closed with sla_met)
	SLAMetRate              *float64 `json:"sla_met_rate"`
	// Per agent, sorted by agent id.
	Agents []AgentRaw `json:"agents"`
}

// AgentRaw are one agent's numbers of the month.
type AgentRaw struct {
	AgentID               string `json:"agent_id"`
	SessionsHandled       int64  `json:"sessions_handled"` // agent.session_takeover
	WaitDurationSeconds   Avg    `json:"wait_duration_seconds"`
	HandleDurationSeconds Avg    `json:"handle_duration_seconds"` // agent.session_release
	Messages              int64  `json:"messages"`                // agent.session_message
	Transfers             int64  `json:"transfers"`               // agent.session_transfer (as the transferring agent)
	OnlineDurationSeconds Avg    `json:"online_duration_seconds"` // agent.logout; the sum is the online time
	TicketsClosed         int64  `json:"tickets_closed"`          // ticket.closed with this agent_id
}

// Month is the expectation of one business month.
type Month struct {
	Month string `json:"month"`
	Raw   Raw    `json:"raw"`
	// CaseStudy is the case-study object the stats service must return for
	// the month (when the stats package offers a builder; see caseStudy).
	CaseStudy any `json:"case_study,omitempty"`
	// Rows are the month's counter rows as counters.Layout.ReadMonth returns
	// them (Date = the month; AgentID "" for all agents).
	Rows []counters.Row `json:"rows"`
	// DailyRows are the rows of each business day (the rollup tables).
	DailyRows []counters.Row `json:"daily_rows"`
}

// Expectation is what the simulator expects the pipeline to report.
type Expectation struct {
	Seed           uint64            `json:"seed"`
	Scale          int               `json:"scale"`
	Agents         int               `json:"agents"`
	From           string            `json:"from"` // first day
	To             string            `json:"to"`   // last day (inclusive)
	Timezone       string            `json:"timezone"`
	ResendFraction float64           `json:"resend_fraction"`
	EventsSent     int64             `json:"events_sent"`   // records sent, resends included
	UniqueEvents   int64             `json:"unique_events"` // distinct ids: what the collector stores
	Resent         int64             `json:"resent"`        // records sent a second time with the same id
	EventsByName   map[string]int64  `json:"events_by_name"`
	Months         []Month           `json:"months"`
	byMonth        map[string]*Month `json:"-"`
	// The single month's figures at the top level when the range lies in one
	// month (the usual --month run), for a direct comparison.
	Month     string `json:"month,omitempty"`
	Raw       *Raw   `json:"raw,omitempty"`
	CaseStudy any    `json:"case_study,omitempty"`
}

// Expector accumulates the expectation from the stream of sent events.
type Expector struct {
	cat   *catalog.Catalog
	loc   *time.Location
	cost  float64
	seen  map[string]struct{}
	daily *counters.Aggregator
	exp   Expectation
}

// NewExpector returns an Expector for events cut into days in loc; cost is
// the cost per AI-resolved session (docs/spec.md §8, default 10).
func NewExpector(loc *time.Location, cost float64) *Expector {
	return &Expector{
		cat: catalog.Default(), loc: loc, cost: cost,
		seen:  map[string]struct{}{},
		daily: counters.NewAggregator(),
		exp:   Expectation{EventsByName: map[string]int64{}, Timezone: loc.String()},
	}
}

// Add counts one sent event; a second event with an id already seen is a
// resend and is counted only in EventsSent/Resent.
func (x *Expector) Add(ev *Event) {
	x.exp.EventsSent++
	if _, dup := x.seen[ev.ID]; dup {
		x.exp.Resent++
		return
	}
	x.seen[ev.ID] = struct{}{}
	x.exp.UniqueEvents++
	x.exp.EventsByName[ev.Name]++
	date := counters.BusinessDate(ev.Time, x.loc)
	v := counters.Values{Events: 1}
	if def, ok := x.cat.Lookup(ev.Name); ok {
		if def.Measure != "" {
			if f, ok := ev.Float(def.Measure); ok {
				if m, ok := catalog.Micro(f); ok {
					v.MeasureCount, v.MeasureSumMicro = 1, counters.SumOf(m)
				}
			}
		}
		if def.Flag != "" {
			if b, ok := ev.Bool(def.Flag); ok && b {
				v.FlagTrue = 1
			}
		}
	}
	x.daily.Add(counters.Cell{Date: date, Event: ev.Name}, v)
	if agent := ev.Str(catalog.KeyAgentID); agent != "" {
		x.daily.Add(counters.Cell{Date: date, AgentID: agent, Event: ev.Name}, v)
	}
}

// Expectation returns the expectation of everything added so far.
func (x *Expector) Expectation() *Expectation {
	exp := x.exp
	exp.EventsByName = make(map[string]int64, len(x.exp.EventsByName))
	for k, v := range x.exp.EventsByName {
		exp.EventsByName[k] = v
	}
	exp.Months = nil
	exp.byMonth = map[string]*Month{}
	daily := x.daily.Rows()
	monthly := counters.NewAggregator()
	for _, r := range daily {
		m := counters.MonthOf(r.Date)
		mo := exp.byMonth[m]
		if mo == nil {
			mo = &Month{Month: m}
			exp.byMonth[m] = mo
		}
		mo.DailyRows = append(mo.DailyRows, r)
		monthly.Add(counters.Cell{Date: m, AgentID: r.AgentID, Event: r.Event}, r.Values)
	}
	for _, r := range monthly.Rows() {
		mo := exp.byMonth[r.Date]
		mo.Rows = append(mo.Rows, r)
	}
	months := make([]string, 0, len(exp.byMonth))
	for m := range exp.byMonth {
		months = append(months, m)
	}
	sort.Strings(months)
	for _, m := range months {
		mo := exp.byMonth[m]
		mo.Raw = rawOf(mo.Rows, x.cost)
		exp.Months = append(exp.Months, *mo)
	}
	return &exp
}

// rawOf derives the docs/spec.md §8 numbers from a month's rows. The measures and
// flags of the built-in catalog are exactly the attributes docs/spec.md §8 averages and
// counts (response_time_ms, wait_duration_seconds, handle_duration_seconds,
// resolution_duration_hours, sla_met, online_duration_seconds); a test
// holds the catalog to that.
func rawOf(rows []counters.Row, cost float64) Raw {
	var r Raw
	agents := map[string]*AgentRaw{}
	avg := func(a *Avg, v counters.Values) {
		a.Count += v.MeasureCount
		a.SumMicro = a.SumMicro.Add(v.MeasureSumMicro)
	}
	for _, row := range rows {
		v := row.Values
		if row.AgentID != "" {
			a := agents[row.AgentID]
			if a == nil {
				a = &AgentRaw{AgentID: row.AgentID}
				agents[row.AgentID] = a
			}
			switch row.Event {
			case bizevents.EventAgentSessionTakeover:
				a.SessionsHandled += v.Events
				avg(&a.WaitDurationSeconds, v)
			case bizevents.EventAgentSessionRelease:
				avg(&a.HandleDurationSeconds, v)
			case bizevents.EventAgentSessionMessage:
				a.Messages += v.Events
			case bizevents.EventAgentSessionTransfer:
				a.Transfers += v.Events
			case bizevents.EventAgentLogout:
				avg(&a.OnlineDurationSeconds, v)
			case bizevents.EventTicketClosed:
				a.TicketsClosed += v.Events
			}
			continue
		}
		switch row.Event {
		case bizevents.EventSessionStart:
			r.TotalCustomersServed += v.Events
		case bizevents.EventSessionEscalate:
			r.SessionsEscalated += v.Events
		case bizevents.EventSessionMessage:
			r.Messages += v.Events
			avg(&r.ResponseTimeMs, v)
		case bizevents.EventAgentSessionTakeover:
			r.SessionsHandled += v.Events
			avg(&r.WaitDurationSeconds, v)
		case bizevents.EventAgentSessionRelease:
			r.SessionsReleased += v.Events
			avg(&r.HandleDurationSeconds, v)
		case bizevents.EventTicketCreated:
			r.TicketsCreated += v.Events
		case bizevents.EventTicketClosed:
			r.TicketsResolved += v.Events
			r.SLAMet += v.FlagTrue
			avg(&r.ResolutionDurationHours, v)
		}
	}
	r.AIResolvedSessions = max(r.TotalCustomersServed-r.SessionsEscalated, 0)
	r.AIResolutionRate = ratio(r.TotalCustomersServed-r.SessionsEscalated, r.TotalCustomersServed)
	r.CostPerResolution = cost
	r.CostSaved, _ = stats.CostSaved(r.AIResolvedSessions, stats.CostFen(cost)).Float64()
	r.SLAMetRate = ratio(r.SLAMet, r.TicketsResolved)
	for _, a := range []*Avg{&r.ResponseTimeMs, &r.WaitDurationSeconds, &r.HandleDurationSeconds, &r.ResolutionDurationHours} {
		a.finish()
	}
	ids := make([]string, 0, len(agents))
	for id := range agents {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	r.Agents = make([]AgentRaw, 0, len(ids))
	for _, id := range ids {
		a := agents[id]
		for _, x := range []*Avg{&a.WaitDurationSeconds, &a.HandleDurationSeconds, &a.OnlineDurationSeconds} {
			x.finish()
		}
		r.Agents = append(r.Agents, *a)
	}
	return r
}
