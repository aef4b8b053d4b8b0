package stats

import (
	"math/big"
	"time"
)

// The JSON bodies of the endpoints. The case study keeps exactly the seed's
// keys (docs/design.md §5.2) in the seed's order, with the raw numbers and the data status
// beside them under "raw" and "data".

// CaseStudy is the body of /api/analytics/case-study.
type CaseStudy struct {
	Period         string         `json:"period"`
	AIChatbot      CaseAI         `json:"ai_chatbot"`
	AgentWorkbench CaseAgent      `json:"agent_workbench"`
	Tickets        CaseTickets    `json:"tickets"`
	Story          string         `json:"story"`
	Raw            CaseRaw        `json:"raw"`
	Data           DataStatusJSON `json:"data"`
}

// CaseAI is the seed's ai_chatbot object.
type CaseAI struct {
	TotalCustomersServed int64  `json:"total_customers_served"`
	AIResolutionRate     string `json:"ai_resolution_rate"`
	AvgResponseTime      string `json:"avg_response_time"`
	CostSaved            string `json:"cost_saved"`
}

// CaseAgent is the seed's agent_workbench object.
type CaseAgent struct {
	SessionsHandled  int64  `json:"sessions_handled"`
	AvgFirstResponse string `json:"avg_first_response"`
	AvgHandleTime    string `json:"avg_handle_time"`
}

// CaseTickets is the seed's tickets object.
type CaseTickets struct {
	TicketsResolved   int64  `json:"tickets_resolved"`
	AvgResolutionTime string `json:"avg_resolution_time"`
	SLAMetRate        string `json:"sla_met_rate"`
}

// CaseRaw holds the numbers behind the display strings, for machines. A
// null is a metric without data.
type CaseRaw struct {
	AIChatbot struct {
		TotalCustomersServed  int64    `json:"total_customers_served"`
		Escalations           int64    `json:"escalations"`
		AIResolved            int64    `json:"ai_resolved"`
		AIResolutionRate      *float64 `json:"ai_resolution_rate"` // ratio 0..1
		Messages              int64    `json:"messages"`
		AvgResponseTimeMS     *float64 `json:"avg_response_time_ms"`
		CostSavedYuan         *float64 `json:"cost_saved_yuan"`
		CostPerResolutionYuan float64  `json:"cost_per_resolution_yuan"`
	} `json:"ai_chatbot"`
	AgentWorkbench struct {
		SessionsHandled         int64    `json:"sessions_handled"`
		AvgFirstResponseSeconds *float64 `json:"avg_first_response_seconds"`
		SessionsReleased        int64    `json:"sessions_released"`
		AvgHandleTimeSeconds    *float64 `json:"avg_handle_time_seconds"`
	} `json:"agent_workbench"`
	Tickets struct {
		TicketsResolved        int64    `json:"tickets_resolved"`
		SLAMet                 int64    `json:"sla_met"`
		SLAMetRate             *float64 `json:"sla_met_rate"` // ratio 0..1
		AvgResolutionTimeHours *float64 `json:"avg_resolution_time_hours"`
	} `json:"tickets"`
}

// DataStatusJSON is DataStatus for the JSON bodies.
type DataStatusJSON struct {
	Month    string `json:"month"`
	Timezone string `json:"timezone"`
	// Complete: the month has ended in the business time zone.
	Complete bool `json:"complete"`
	// RejectedEvents: rejected records of the month not counted.
	RejectedEvents int64 `json:"rejected_events"`
	// LastWrittenAt: the last write to the month's rollups, RFC 3339 in the
	// business time zone; null when nothing was written.
	LastWrittenAt *string `json:"last_written_at"`
	// Standby is set when the numbers come from a hot standby: how far it
	// has replayed, and whether it holds writes not replayed yet.
	Standby *StandbyJSON `json:"standby,omitempty"`
}

// StandbyJSON is Replica for the JSON bodies.
type StandbyJSON struct {
	// ReplayedUpTo: commit time of the last transaction replayed, RFC 3339
	// in the business time zone; null if none yet.
	ReplayedUpTo *string `json:"replayed_up_to"`
	// Behind: writes received and not replayed yet (replay lagging or
	// paused): newer numbers exist on the primary.
	Behind bool `json:"behind"`
}

// Metric is a number with its unit and display string; Value is null when
// the metric has no data (display "暂无数据" / "no data").
type Metric struct {
	Value   *float64 `json:"value"`
	Unit    string   `json:"unit"`
	Display string   `json:"display"`
}

// SummaryJSON is the body of /api/analytics/summary (the AI chatbot).
type SummaryJSON struct {
	Month                string         `json:"month"`
	Period               string         `json:"period"`
	TotalCustomersServed int64          `json:"total_customers_served"`
	Escalations          int64          `json:"escalations"`
	AIResolved           int64          `json:"ai_resolved"`
	Messages             int64          `json:"messages"`
	AIResolutionRate     Metric         `json:"ai_resolution_rate"`
	AvgResponseTime      Metric         `json:"avg_response_time"`
	CostSaved            Metric         `json:"cost_saved"`
	CostPerResolution    float64        `json:"cost_per_resolution_yuan"`
	Data                 DataStatusJSON `json:"data"`
}

// AgentJSON is one agent of /api/analytics/agents.
type AgentJSON struct {
	AgentID           string `json:"agent_id"`
	SessionsHandled   int64  `json:"sessions_handled"`
	AvgFirstResponse  Metric `json:"avg_first_response"`
	SessionsReleased  int64  `json:"sessions_released"`
	AvgHandleTime     Metric `json:"avg_handle_time"`
	Messages          int64  `json:"messages"`
	Transfers         int64  `json:"transfers"`
	OnlineTime        Metric `json:"online_time"`
	TicketsClosed     int64  `json:"tickets_closed"`
	AvgResolutionTime Metric `json:"avg_resolution_time"`
}

// AgentsJSON is the body of /api/analytics/agents.
type AgentsJSON struct {
	Month  string         `json:"month"`
	Period string         `json:"period"`
	Agents []AgentJSON    `json:"agents"`
	Data   DataStatusJSON `json:"data"`
}

// TicketsJSON is the body of /api/analytics/tickets.
type TicketsJSON struct {
	Month             string         `json:"month"`
	Period            string         `json:"period"`
	TicketsCreated    int64          `json:"tickets_created"`
	TicketsResolved   int64          `json:"tickets_resolved"`
	SLAMet            int64          `json:"sla_met"`
	SLAMetRate        Metric         `json:"sla_met_rate"`
	AvgResolutionTime Metric         `json:"avg_resolution_time"`
	Data              DataStatusJSON `json:"data"`
}

// DayJSON is one day of /api/analytics/daily: every metric of that day.
type DayJSON struct {
	Date                 string `json:"date"`
	TotalCustomersServed int64  `json:"total_customers_served"`
	Escalations          int64  `json:"escalations"`
	AIResolved           int64  `json:"ai_resolved"`
	AIResolutionRate     Metric `json:"ai_resolution_rate"`
	Messages             int64  `json:"messages"`
	AvgResponseTime      Metric `json:"avg_response_time"`
	CostSaved            Metric `json:"cost_saved"`
	SessionsHandled      int64  `json:"sessions_handled"`
	AvgFirstResponse     Metric `json:"avg_first_response"`
	SessionsReleased     int64  `json:"sessions_released"`
	AvgHandleTime        Metric `json:"avg_handle_time"`
	AgentMessages        int64  `json:"agent_messages"`
	Transfers            int64  `json:"transfers"`
	OnlineTime           Metric `json:"online_time"`
	TicketsCreated       int64  `json:"tickets_created"`
	TicketsResolved      int64  `json:"tickets_resolved"`
	SLAMet               int64  `json:"sla_met"`
	SLAMetRate           Metric `json:"sla_met_rate"`
	AvgResolutionTime    Metric `json:"avg_resolution_time"`
}

// DailyJSON is the body of /api/analytics/daily.
type DailyJSON struct {
	From     string    `json:"from"`
	To       string    `json:"to"`
	Timezone string    `json:"timezone"`
	Days     []DayJSON `json:"days"`
	// Standby is set when the rollups were read from a hot standby, as in
	// the month endpoints' data.standby.
	Standby *StandbyJSON `json:"standby,omitempty"`
}

// view builds the bodies in one language.
type view struct {
	lang    Lang
	loc     *time.Location
	costFen int64
}

func (v view) display(r *big.Rat, f func(*big.Rat) string) string {
	if r == nil {
		return NoData(v.lang)
	}
	return f(r)
}

func (v view) percent(r *big.Rat) string { return v.display(r, FormatPercent) }

func (v view) responseTime(r *big.Rat) string {
	return v.display(r, func(x *big.Rat) string { return FormatResponseTime(x, v.lang).String() })
}

func (v view) duration(r *big.Rat) string {
	return v.display(r, func(x *big.Rat) string { return FormatDuration(x, v.lang).String() })
}

func (v view) hours(r *big.Rat) string {
	return v.display(r, func(x *big.Rat) string { return FormatHours(x, v.lang).String() })
}

func (v view) money(r *big.Rat) string {
	return v.display(r, func(x *big.Rat) string { return FormatMoney(x, v.lang) })
}

func (v view) metricRate(r *big.Rat) Metric {
	return Metric{Value: ratFloat(r), Unit: "ratio", Display: v.percent(r)}
}

func (v view) metricResponse(r *big.Rat) Metric {
	return Metric{Value: ratFloat(r), Unit: "ms", Display: v.responseTime(r)}
}

func (v view) metricSeconds(r *big.Rat) Metric {
	return Metric{Value: ratFloat(r), Unit: "s", Display: v.duration(r)}
}

func (v view) metricHours(r *big.Rat) Metric {
	return Metric{Value: ratFloat(r), Unit: "h", Display: v.hours(r)}
}

func (v view) metricMoney(r *big.Rat) Metric {
	return Metric{Value: ratFloat(r), Unit: "CNY", Display: v.money(r)}
}

func (v view) status(st DataStatus) DataStatusJSON {
	out := DataStatusJSON{
		Month:          st.Month.String(),
		Timezone:       v.loc.String(),
		Complete:       st.Complete,
		RejectedEvents: st.Rejected,
	}
	if !st.LastWritten.IsZero() {
		s := st.LastWritten.In(v.loc).Format(time.RFC3339)
		out.LastWrittenAt = &s
	}
	out.Standby = v.standby(st.Replica)
	return out
}

// standby is rep for the JSON bodies; nil on a primary.
func (v view) standby(rep Replica) *StandbyJSON {
	if !rep.Standby {
		return nil
	}
	out := &StandbyJSON{Behind: rep.Behind}
	if !rep.ReplayedAt.IsZero() {
		s := rep.ReplayedAt.In(v.loc).Format(time.RFC3339)
		out.ReplayedUpTo = &s
	}
	return out
}

func (v view) caseStudy(m Metrics, st DataStatus) CaseStudy {
	return BuildCaseStudy(m, st, v.loc, v.lang, v.costFen)
}

// BuildCaseStudy is the body of /api/analytics/case-study for the metrics m
// of the month st.Month: the seed's display strings and story in lang, the
// raw numbers, and the data status (times shown in loc). costFen is the
// cost per AI resolution in fen (the raw cost_per_resolution_yuan). It is
// pure: the handler calls it with the metrics it computed from the rollups,
// and the simulator's expectation (internal/simulate/casestudy) with the
// metrics it computed on its own from the events it sent, so both sides use
// the same formatting and story code.
func BuildCaseStudy(m Metrics, st DataStatus, loc *time.Location, lang Lang, costFen int64) CaseStudy {
	v := view{lang: lang, loc: loc, costFen: costFen}
	n := v.caseNumbers(m)
	return CaseStudy{
		Period:         FormatPeriod(st.Month, v.lang),
		AIChatbot:      n.AIChatbot,
		AgentWorkbench: n.AgentWorkbench,
		Tickets:        n.Tickets,
		Story:          Story(m, st, v.loc, v.lang),
		Raw:            n.Raw,
		Data:           v.status(st),
	}
}

// caseNumbers are the case study's display objects and raw numbers of a
// period, without its period, story and data status: the case study's, and
// each period of /api/analytics/live.
type caseNumbers struct {
	AIChatbot      CaseAI
	AgentWorkbench CaseAgent
	Tickets        CaseTickets
	Raw            CaseRaw
}

func (v view) caseNumbers(m Metrics) caseNumbers {
	n := caseNumbers{
		AIChatbot: CaseAI{
			TotalCustomersServed: m.AI.Sessions,
			AIResolutionRate:     v.percent(m.AI.Rate),
			AvgResponseTime:      v.responseTime(m.AI.AvgResponseMS),
			CostSaved:            v.money(m.AI.CostSaved),
		},
		AgentWorkbench: CaseAgent{
			SessionsHandled:  m.Agent.SessionsHandled,
			AvgFirstResponse: v.duration(m.Agent.AvgFirstResp),
			AvgHandleTime:    v.duration(m.Agent.AvgHandle),
		},
		Tickets: CaseTickets{
			TicketsResolved:   m.Tickets.Resolved,
			AvgResolutionTime: v.hours(m.Tickets.AvgResolution),
			SLAMetRate:        v.percent(m.Tickets.SLARate),
		},
	}
	r := &n.Raw
	r.AIChatbot.TotalCustomersServed = m.AI.Sessions
	r.AIChatbot.Escalations = m.AI.Escalations
	r.AIChatbot.AIResolved = m.AI.Resolved
	r.AIChatbot.AIResolutionRate = ratFloat(m.AI.Rate)
	r.AIChatbot.Messages = m.AI.Messages
	r.AIChatbot.AvgResponseTimeMS = ratFloat(m.AI.AvgResponseMS)
	r.AIChatbot.CostSavedYuan = ratFloat(m.AI.CostSaved)
	r.AIChatbot.CostPerResolutionYuan = float64(v.costFen) / 100
	r.AgentWorkbench.SessionsHandled = m.Agent.SessionsHandled
	r.AgentWorkbench.AvgFirstResponseSeconds = ratFloat(m.Agent.AvgFirstResp)
	r.AgentWorkbench.SessionsReleased = m.Agent.Released
	r.AgentWorkbench.AvgHandleTimeSeconds = ratFloat(m.Agent.AvgHandle)
	r.Tickets.TicketsResolved = m.Tickets.Resolved
	r.Tickets.SLAMet = m.Tickets.SLAMet
	r.Tickets.SLAMetRate = ratFloat(m.Tickets.SLARate)
	r.Tickets.AvgResolutionTimeHours = ratFloat(m.Tickets.AvgResolution)
	return n
}

func (v view) summary(m Metrics, st DataStatus) SummaryJSON {
	return SummaryJSON{
		Month:                st.Month.String(),
		Period:               FormatPeriod(st.Month, v.lang),
		TotalCustomersServed: m.AI.Sessions,
		Escalations:          m.AI.Escalations,
		AIResolved:           m.AI.Resolved,
		Messages:             m.AI.Messages,
		AIResolutionRate:     v.metricRate(m.AI.Rate),
		AvgResponseTime:      v.metricResponse(m.AI.AvgResponseMS),
		CostSaved:            v.metricMoney(m.AI.CostSaved),
		CostPerResolution:    float64(v.costFen) / 100,
		Data:                 v.status(st),
	}
}

func (v view) agents(rows []AgentRow, st DataStatus) AgentsJSON {
	return AgentsJSON{
		Month:  st.Month.String(),
		Period: FormatPeriod(st.Month, v.lang),
		Agents: v.agentRows(rows),
		Data:   v.status(st),
	}
}

func (v view) agentRows(rows []AgentRow) []AgentJSON {
	out := make([]AgentJSON, 0, len(rows))
	for _, r := range rows {
		out = append(out, AgentJSON{
			AgentID:           r.AgentID,
			SessionsHandled:   r.Agent.SessionsHandled,
			AvgFirstResponse:  v.metricSeconds(r.Agent.AvgFirstResp),
			SessionsReleased:  r.Agent.Released,
			AvgHandleTime:     v.metricSeconds(r.Agent.AvgHandle),
			Messages:          r.Agent.Messages,
			Transfers:         r.Agent.Transfers,
			OnlineTime:        v.metricSeconds(r.Agent.OnlineSeconds),
			TicketsClosed:     r.TicketsClosed,
			AvgResolutionTime: v.metricHours(r.AvgResolution),
		})
	}
	return out
}

func (v view) tickets(m Metrics, st DataStatus) TicketsJSON {
	return TicketsJSON{
		Month:             st.Month.String(),
		Period:            FormatPeriod(st.Month, v.lang),
		TicketsCreated:    m.Tickets.Created,
		TicketsResolved:   m.Tickets.Resolved,
		SLAMet:            m.Tickets.SLAMet,
		SLAMetRate:        v.metricRate(m.Tickets.SLARate),
		AvgResolutionTime: v.metricHours(m.Tickets.AvgResolution),
		Data:              v.status(st),
	}
}

func (v view) day(date time.Time, m Metrics) DayJSON {
	return DayJSON{
		Date:                 date.Format(time.DateOnly),
		TotalCustomersServed: m.AI.Sessions,
		Escalations:          m.AI.Escalations,
		AIResolved:           m.AI.Resolved,
		AIResolutionRate:     v.metricRate(m.AI.Rate),
		Messages:             m.AI.Messages,
		AvgResponseTime:      v.metricResponse(m.AI.AvgResponseMS),
		CostSaved:            v.metricMoney(m.AI.CostSaved),
		SessionsHandled:      m.Agent.SessionsHandled,
		AvgFirstResponse:     v.metricSeconds(m.Agent.AvgFirstResp),
		SessionsReleased:     m.Agent.Released,
		AvgHandleTime:        v.metricSeconds(m.Agent.AvgHandle),
		AgentMessages:        m.Agent.Messages,
		Transfers:            m.Agent.Transfers,
		OnlineTime:           v.metricSeconds(m.Agent.OnlineSeconds),
		TicketsCreated:       m.Tickets.Created,
		TicketsResolved:      m.Tickets.Resolved,
		SLAMet:               m.Tickets.SLAMet,
		SLAMetRate:           v.metricRate(m.Tickets.SLARate),
		AvgResolutionTime:    v.metricHours(m.Tickets.AvgResolution),
	}
}
