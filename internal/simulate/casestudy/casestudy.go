// Package casestudy turns the simulator's expectation of a month into the
// case-study object the stats service must return (GET
// /api/analytics/case-study).
//
// The numbers come from the simulator alone: Metrics converts the
// expectation's raw numbers (simulate.Raw, counted from the events the
// simulator sent) into stats.Metrics, exactly (big.Rat averages of the
// integer micro sums). The display strings, the raw section and the story
// come from stats.BuildCaseStudy, the very builder the stats handler uses,
// so a difference between the two sides is a difference in the numbers, not
// in formatting. It is a package of its own so that the simulator's
// expectation does not depend on the case-study builder.
package casestudy

import (
	"math/big"
	"time"

	"github.com/otelcol-analytics/otelcol-analytics/internal/simulate"
	"github.com/otelcol-analytics/otelcol-analytics/stats"
)

// Metrics returns the stats.Metrics of the expected raw numbers r. A metric
// with a zero denominator is nil (no data), as in stats.ComputeMetrics.
func Metrics(r *simulate.Raw, costFen int64) stats.Metrics {
	var m stats.Metrics
	m.AI.Sessions = r.TotalCustomersServed
	m.AI.Escalations = r.SessionsEscalated
	m.AI.Resolved = r.AIResolvedSessions
	m.AI.Rate = frac(r.AIResolvedSessions, r.TotalCustomersServed)
	m.AI.Messages = r.Messages
	m.AI.AvgResponseMS = r.ResponseTimeMs.Mean()
	m.AI.CostSaved = stats.CostSaved(r.AIResolvedSessions, costFen)

	m.Agent.SessionsHandled = r.SessionsHandled
	m.Agent.AvgFirstResp = r.WaitDurationSeconds.Mean()
	m.Agent.Released = r.SessionsReleased
	m.Agent.AvgHandle = r.HandleDurationSeconds.Mean()
	// Every agent event carries its agent_id (required by the catalog), so
	// the agents' sums are the totals.
	var online simulate.Avg
	for _, a := range r.Agents {
		m.Agent.Messages += a.Messages
		m.Agent.Transfers += a.Transfers
		online.Count += a.OnlineDurationSeconds.Count
		online.SumMicro = online.SumMicro.Add(a.OnlineDurationSeconds.SumMicro)
	}
	m.Agent.OnlineSeconds = online.Total()

	m.Tickets.Created = r.TicketsCreated
	m.Tickets.Resolved = r.TicketsResolved
	m.Tickets.SLAMet = r.SLAMet
	m.Tickets.SLARate = frac(r.SLAMet, r.TicketsResolved)
	m.Tickets.AvgResolution = r.ResolutionDurationHours.Mean()
	return m
}

// Status is the data status the stats service reports for month when
// nothing of it was rejected: complete once now is past the month's end in
// loc. lastWritten is when the collector last wrote the month's rollups,
// which only the server knows (zero: nothing written).
func Status(month stats.Month, loc *time.Location, now, lastWritten time.Time) stats.DataStatus {
	return stats.DataStatus{Month: month, Complete: !now.Before(month.End(loc)), LastWritten: lastWritten}
}

// BuildStatus returns the case study of the expected month m in lang with
// the data status st.
func BuildStatus(m *simulate.Month, loc *time.Location, costPerResolution float64, lang stats.Lang, st stats.DataStatus) stats.CaseStudy {
	costFen := stats.CostFen(costPerResolution)
	return stats.BuildCaseStudy(Metrics(&m.Raw, costFen), st, loc, lang, costFen)
}

// Build returns the zh case study of one expected month. The story ends
// with the data-status sentence of a month with no rejected records and
// nothing written yet; the real one names when the collector last wrote
// (data.last_written_at), so compare that part with BuildStatus and the
// server's time.
func Build(m *simulate.Month, loc *time.Location, costPerResolution float64, now time.Time) (stats.CaseStudy, error) {
	month, err := stats.ParseMonth(m.Month)
	if err != nil {
		return stats.CaseStudy{}, err
	}
	return BuildStatus(m, loc, costPerResolution, stats.LangZH, Status(month, loc, now, time.Time{})), nil
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

func frac(n, d int64) *big.Rat {
	if d == 0 {
		return nil
	}
	return big.NewRat(n, d)
}
