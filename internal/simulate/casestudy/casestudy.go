// Package casestudy turns the simulator's expected counter rows into the
// case-study object the stats service must return (GET
// /api/analytics/case-study), using the stats package's own formulas
// (stats.ComputeMetrics) and display rules (stats.Format*, stats.Story).
//
// stats/ has no exported builder of the whole object (its view.caseStudy is
// unexported), so Build composes the same fields from the exported pieces,
// in the same way. If stats exports a builder, call it here instead. It is
// a package of its own so that a change in stats/ can only break this file.
package casestudy

import (
	"math"
	"math/big"
	"time"

	"github.com/otelcol-analytics/otelcol-analytics/internal/simulate"
	"github.com/otelcol-analytics/otelcol-analytics/stats"
)

// Build returns the zh case study of one expected month. The story ends
// with the data-status sentence of a complete month with no rejected
// records; its "last written" part (and the data.last_written_at field)
// depends on when the collector wrote, so compare those loosely.
func Build(m *simulate.Month, loc *time.Location, costPerResolution float64, now time.Time) (stats.CaseStudy, error) {
	month, err := stats.ParseMonth(m.Month)
	if err != nil {
		return stats.CaseStudy{}, err
	}
	totals := stats.Totals{}
	for _, r := range m.Rows {
		if r.AgentID == "" {
			v := totals[r.Event]
			v.Add(r.Values)
			totals[r.Event] = v
		}
	}
	costFen := int64(math.Round(costPerResolution * 100))
	met := stats.ComputeMetrics(totals, costFen)
	end := time.Date(month.Year, month.Month+1, 1, 0, 0, 0, 0, loc)
	st := stats.DataStatus{Month: month, Complete: !now.Before(end)}
	lang := stats.LangZH
	display := func(r *big.Rat, f func(*big.Rat) string) string {
		if r == nil {
			return stats.NoData(lang)
		}
		return f(r)
	}
	resp := func(r *big.Rat) string { return stats.FormatResponseTime(r, lang).String() }
	dur := func(r *big.Rat) string { return stats.FormatDuration(r, lang).String() }
	hours := func(r *big.Rat) string { return stats.FormatHours(r, lang).String() }
	money := func(r *big.Rat) string { return stats.FormatMoney(r, lang) }
	cs := stats.CaseStudy{
		Period: stats.FormatPeriod(month, lang),
		AIChatbot: stats.CaseAI{
			TotalCustomersServed: met.AI.Sessions,
			AIResolutionRate:     display(met.AI.Rate, stats.FormatPercent),
			AvgResponseTime:      display(met.AI.AvgResponseMS, resp),
			CostSaved:            display(met.AI.CostSaved, money),
		},
		AgentWorkbench: stats.CaseAgent{
			SessionsHandled:  met.Agent.SessionsHandled,
			AvgFirstResponse: display(met.Agent.AvgFirstResp, dur),
			AvgHandleTime:    display(met.Agent.AvgHandle, dur),
		},
		Tickets: stats.CaseTickets{
			TicketsResolved:   met.Tickets.Resolved,
			AvgResolutionTime: display(met.Tickets.AvgResolution, hours),
			SLAMetRate:        display(met.Tickets.SLARate, stats.FormatPercent),
		},
		Story: stats.Story(met, st, loc, lang),
		Data: stats.DataStatusJSON{
			Month: month.String(), Timezone: loc.String(), Complete: st.Complete,
		},
	}
	r := &cs.Raw
	r.AIChatbot.TotalCustomersServed = met.AI.Sessions
	r.AIChatbot.Escalations = met.AI.Escalations
	r.AIChatbot.AIResolved = met.AI.Resolved
	r.AIChatbot.AIResolutionRate = ratFloat(met.AI.Rate)
	r.AIChatbot.Messages = met.AI.Messages
	r.AIChatbot.AvgResponseTimeMS = ratFloat(met.AI.AvgResponseMS)
	r.AIChatbot.CostSavedYuan = ratFloat(met.AI.CostSaved)
	r.AIChatbot.CostPerResolutionYuan = float64(costFen) / 100
	r.AgentWorkbench.SessionsHandled = met.Agent.SessionsHandled
	r.AgentWorkbench.AvgFirstResponseSeconds = ratFloat(met.Agent.AvgFirstResp)
	r.AgentWorkbench.SessionsReleased = met.Agent.Released
	r.AgentWorkbench.AvgHandleTimeSeconds = ratFloat(met.Agent.AvgHandle)
	r.Tickets.TicketsResolved = met.Tickets.Resolved
	r.Tickets.SLAMet = met.Tickets.SLAMet
	r.Tickets.SLAMetRate = ratFloat(met.Tickets.SLARate)
	r.Tickets.AvgResolutionTimeHours = ratFloat(met.Tickets.AvgResolution)
	return cs, nil
}

// AddAll fills the case_study of every month of exp, and the top-level one
// of a single-month expectation.
func AddAll(exp *simulate.Expectation, loc *time.Location, costPerResolution float64, now time.Time) error {
	for i := range exp.Months {
		cs, err := Build(&exp.Months[i], loc, costPerResolution, now)
		if err != nil {
			return err
		}
		exp.Months[i].CaseStudy = cs
	}
	if len(exp.Months) == 1 {
		exp.CaseStudy = exp.Months[0].CaseStudy
	}
	return nil
}

func ratFloat(r *big.Rat) *float64 {
	if r == nil {
		return nil
	}
	f, _ := r.Float64()
	return &f
}
