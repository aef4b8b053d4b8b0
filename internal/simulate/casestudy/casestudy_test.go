package casestudy

import (
	"context"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/otelcol-analytics/otelcol-analytics/internal/simulate"
	"github.com/otelcol-analytics/otelcol-analytics/sdk/bizevents"
	"github.com/otelcol-analytics/otelcol-analytics/stats"
)

func event(name, id string, at time.Time, kv ...attribute.KeyValue) simulate.Event {
	p, _ := bizevents.ProductOf(name)
	return simulate.Event{Name: name, Product: p, ID: id, Time: at, Attrs: kv}
}

func TestBuild(t *testing.T) {
	loc := simulate.DefaultLocation()
	at := time.Date(2025, 12, 3, 10, 0, 0, 0, loc)
	s, f, b := attribute.String, attribute.Float64, attribute.Bool
	// 4 starts, 1 escalation; response times 1000 ms and 2000 ms; one
	// takeover waiting 30 s; release after 480 s; 2 tickets, 1 within SLA,
	// 3 h + 5 h.
	evs := []simulate.Event{
		event("session.start", "1", at, s("session_id", "s1")),
		event("session.start", "2", at, s("session_id", "s2")),
		event("session.start", "3", at, s("session_id", "s3")),
		event("session.start", "4", at, s("session_id", "s4")),
		event("session.escalate", "5", at, s("session_id", "s4")),
		event("session.message", "6", at, s("session_id", "s1"), f("response_time_ms", 1000)),
		event("session.message", "7", at, s("session_id", "s2"), f("response_time_ms", 2000)),
		event("agent.session_takeover", "8", at, s("agent_id", "a1"), s("session_id", "s4"), f("wait_duration_seconds", 30)),
		event("agent.session_release", "9", at, s("agent_id", "a1"), s("session_id", "s4"), f("handle_duration_seconds", 480)),
		event("ticket.closed", "10", at, s("ticket_id", "t1"), f("resolution_duration_hours", 3), b("sla_met", true)),
		event("ticket.closed", "11", at, s("ticket_id", "t2"), f("resolution_duration_hours", 5), b("sla_met", false)),
	}
	x := simulate.NewExpector(loc, 10)
	for i := range evs {
		x.Add(&evs[i])
	}
	exp := x.Expectation()
	require.Len(t, exp.Months, 1)
	cs, err := Build(&exp.Months[0], loc, 10, time.Date(2026, 1, 5, 0, 0, 0, 0, loc))
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
	assert.Equal(t, "本月 AI 客服共服务 4 位客户，其中 75.0% 的问题由 AI 独立解决，平均响应时间仅 1.5 秒。"+
		"需人工介入的 1 个会话，坐席平均 30 秒内响应，8 分钟内解决。"+
		"共处理 2 个工单，平均 4 小时解决，SLA 达标率 50.0%。预估节省人工成本 ¥30。"+
		"（数据说明：2025年12月已结束，数据完整；被拒绝未计入的事件 0 条；暂无写入记录。）", cs.Story)
	assert.True(t, cs.Data.Complete)
	assert.Nil(t, cs.Data.LastWrittenAt)
	r := cs.Raw
	assert.Equal(t, int64(1), r.AIChatbot.Escalations)
	assert.Equal(t, int64(3), r.AIChatbot.AIResolved)
	assert.Equal(t, int64(2), r.AIChatbot.Messages)
	require.NotNil(t, r.AIChatbot.AIResolutionRate)
	assert.InDelta(t, 0.75, *r.AIChatbot.AIResolutionRate, 0)
	require.NotNil(t, r.AIChatbot.AvgResponseTimeMS)
	assert.InDelta(t, 1500.0, *r.AIChatbot.AvgResponseTimeMS, 0)
	require.NotNil(t, r.AIChatbot.CostSavedYuan)
	assert.InDelta(t, 30.0, *r.AIChatbot.CostSavedYuan, 0)
	assert.InDelta(t, 10.0, r.AIChatbot.CostPerResolutionYuan, 0)
	assert.Equal(t, int64(1), r.AgentWorkbench.SessionsReleased)
	require.NotNil(t, r.AgentWorkbench.AvgHandleTimeSeconds)
	assert.InDelta(t, 480.0, *r.AgentWorkbench.AvgHandleTimeSeconds, 0)
	assert.Equal(t, int64(1), r.Tickets.SLAMet)
	require.NotNil(t, r.Tickets.AvgResolutionTimeHours)
	assert.InDelta(t, 4.0, *r.Tickets.AvgResolutionTimeHours, 0)

	// The server's last write goes into the data status and the story.
	month, err := stats.ParseMonth("2025-12")
	require.NoError(t, err)
	written := time.Date(2026, 1, 4, 8, 30, 15, 0, loc)
	cs = BuildStatus(&exp.Months[0], loc, 10, stats.LangZH, Status(month, loc, time.Date(2026, 1, 5, 0, 0, 0, 0, loc), written))
	require.NotNil(t, cs.Data.LastWrittenAt)
	assert.Equal(t, "2026-01-04T08:30:15+08:00", *cs.Data.LastWrittenAt)
	assert.Contains(t, cs.Story, "数据最后写入于 2026-01-04 08:30:15（Asia/Shanghai）。）")

	// An empty month: no data, no NaN, and not complete before its end.
	cs, err = Build(&simulate.Month{Month: "2025-11"}, loc, 10, time.Date(2025, 11, 5, 0, 0, 0, 0, loc))
	require.NoError(t, err)
	assert.Equal(t, "暂无数据", cs.AIChatbot.AIResolutionRate)
	assert.Equal(t, "暂无数据", cs.Tickets.SLAMetRate)
	assert.Nil(t, cs.Raw.AIChatbot.AIResolutionRate)
	assert.False(t, cs.Data.Complete)
}

// TestMetricsEqualComputeMetrics: the expectation's numbers, converted by
// Metrics, equal what the stats service computes (stats.ComputeMetrics)
// from the same month's counter rows, for a generated month with resends.
func TestMetricsEqualComputeMetrics(t *testing.T) {
	loc := simulate.DefaultLocation()
	from, to, err := simulate.MonthRange("2025-11", loc)
	require.NoError(t, err)
	g, err := simulate.NewGenerator(simulate.Config{From: from, To: to, Location: loc, Seed: 5, Scale: 20, ResendFraction: 0.1})
	require.NoError(t, err)
	p, err := simulate.NewPipeline(map[string]sdklog.Exporter{
		bizevents.ProductAIChatbot: discard{}, bizevents.ProductAgentWorkbench: discard{},
	})
	require.NoError(t, err)
	res, err := simulate.Run(context.Background(), g, p, simulate.RunOptions{CostPerResolution: new(12.5)})
	require.NoError(t, err)
	exp := res.Expectation
	require.Len(t, exp.Months, 1)
	require.Positive(t, exp.Resent)
	mo := exp.Months[0]
	totals := stats.Totals{}
	for _, r := range mo.Rows {
		if r.AgentID == "" {
			v := totals[r.Event]
			v.Add(r.Values)
			totals[r.Event] = v
		}
	}
	want := stats.ComputeMetrics(totals, 1250)
	got := Metrics(&mo.Raw, stats.CostFen(12.5))
	require.Positive(t, got.AI.Sessions)
	require.Positive(t, got.Tickets.Created)
	require.Positive(t, got.Agent.Transfers)
	// big.Rat values compare by value, not by representation.
	assert.Equal(t, want.AI.Sessions, got.AI.Sessions)
	assert.Equal(t, want.AI.Escalations, got.AI.Escalations)
	assert.Equal(t, want.AI.Resolved, got.AI.Resolved)
	assert.Equal(t, want.AI.Messages, got.AI.Messages)
	assert.Equal(t, want.Agent.SessionsHandled, got.Agent.SessionsHandled)
	assert.Equal(t, want.Agent.Released, got.Agent.Released)
	assert.Equal(t, want.Agent.Messages, got.Agent.Messages)
	assert.Equal(t, want.Agent.Transfers, got.Agent.Transfers)
	assert.Equal(t, want.Tickets, stats.TicketMetrics{
		Created: got.Tickets.Created, Resolved: got.Tickets.Resolved, SLAMet: got.Tickets.SLAMet,
		SLARate: want.Tickets.SLARate, AvgResolution: want.Tickets.AvgResolution,
	})
	rs := func(r *big.Rat) string {
		if r == nil {
			return "no data"
		}
		return r.RatString()
	}
	for name, pair := range map[string][2]*big.Rat{
		"rate":          {want.AI.Rate, got.AI.Rate},
		"response":      {want.AI.AvgResponseMS, got.AI.AvgResponseMS},
		"cost":          {want.AI.CostSaved, got.AI.CostSaved},
		"first_resp":    {want.Agent.AvgFirstResp, got.Agent.AvgFirstResp},
		"handle":        {want.Agent.AvgHandle, got.Agent.AvgHandle},
		"online":        {want.Agent.OnlineSeconds, got.Agent.OnlineSeconds},
		"sla_rate":      {want.Tickets.SLARate, got.Tickets.SLARate},
		"avg_resolving": {want.Tickets.AvgResolution, got.Tickets.AvgResolution},
	} {
		assert.Equal(t, rs(pair[0]), rs(pair[1]), name)
		assert.NotEqual(t, "no data", rs(pair[1]), name)
	}
	// And so the whole case study is the same.
	month, err := stats.ParseMonth(mo.Month)
	require.NoError(t, err)
	st := Status(month, loc, time.Date(2026, 1, 1, 0, 0, 0, 0, loc), time.Time{})
	assert.Equal(t, stats.BuildCaseStudy(want, st, loc, stats.LangEN, 1250), BuildStatus(&mo, loc, 12.5, stats.LangEN, st))
}

type discard struct{}

func (discard) Export(context.Context, []sdklog.Record) error { return nil }
func (discard) Shutdown(context.Context) error                { return nil }
func (discard) ForceFlush(context.Context) error              { return nil }
