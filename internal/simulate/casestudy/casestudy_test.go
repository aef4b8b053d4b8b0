package casestudy

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
	"github.com/otelcol-analytics/otelcol-analytics/internal/simulate"
)

func TestBuild(t *testing.T) {
	loc := simulate.DefaultLocation()
	// 4 starts, 1 escalation; response times 1000 ms and 2000 ms; one
	// takeover waiting 30 s; release after 480 s; 2 tickets, 1 within SLA,
	// 3 h + 5 h.
	m := &simulate.Month{Month: "2025-12", Rows: []counters.Row{
		{Cell: counters.Cell{Date: "2025-12", Event: "session.start"}, Values: counters.Values{Events: 4}},
		{Cell: counters.Cell{Date: "2025-12", Event: "session.escalate"}, Values: counters.Values{Events: 1}},
		{Cell: counters.Cell{Date: "2025-12", Event: "session.message"}, Values: counters.Values{Events: 2, MeasureCount: 2, MeasureSumMicro: 3_000_000_000}},
		{Cell: counters.Cell{Date: "2025-12", Event: "agent.session_takeover"}, Values: counters.Values{Events: 1, MeasureCount: 1, MeasureSumMicro: 30_000_000}},
		{Cell: counters.Cell{Date: "2025-12", Event: "agent.session_release"}, Values: counters.Values{Events: 1, MeasureCount: 1, MeasureSumMicro: 480_000_000}},
		{Cell: counters.Cell{Date: "2025-12", Event: "ticket.closed"}, Values: counters.Values{Events: 2, MeasureCount: 2, MeasureSumMicro: 8_000_000, FlagTrue: 1}},
		// A per-agent row must not be added to the totals.
		{Cell: counters.Cell{Date: "2025-12", AgentID: "a1", Event: "session.start"}, Values: counters.Values{Events: 100}},
	}}
	cs, err := Build(m, loc, 10, time.Date(2026, 1, 5, 0, 0, 0, 0, loc))
	require.NoError(t, err)
	assert.Equal(t, "2025年12月", cs.Period)
	assert.Equal(t, int64(4), cs.AIChatbot.TotalCustomersServed)
	assert.Equal(t, "75.0%", cs.AIChatbot.AIResolutionRate)
	assert.Equal(t, "1.5秒", cs.AIChatbot.AvgResponseTime)
	assert.Equal(t, "¥30", cs.AIChatbot.CostSaved)
	assert.Equal(t, int64(1), cs.AgentWorkbench.SessionsHandled)
	assert.Equal(t, "30秒", cs.AgentWorkbench.AvgFirstResponse)
	assert.Equal(t, "8分钟", cs.AgentWorkbench.AvgHandleTime)
	assert.Equal(t, int64(2), cs.Tickets.TicketsResolved)
	assert.Equal(t, "4小时", cs.Tickets.AvgResolutionTime)
	assert.Equal(t, "50.0%", cs.Tickets.SLAMetRate)
	assert.Contains(t, cs.Story, "本月 AI 客服共服务 4 位客户")
	assert.True(t, cs.Data.Complete)
	require.NotNil(t, cs.Raw.AIChatbot.AIResolutionRate)
	assert.InDelta(t, 0.75, *cs.Raw.AIChatbot.AIResolutionRate, 0)

	// An empty month: no data, no NaN.
	cs, err = Build(&simulate.Month{Month: "2025-11"}, loc, 10, time.Date(2025, 11, 5, 0, 0, 0, 0, loc))
	require.NoError(t, err)
	assert.Equal(t, "暂无数据", cs.AIChatbot.AIResolutionRate)
	assert.False(t, cs.Data.Complete)
}
