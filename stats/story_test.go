package stats

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// The seed's own sample numbers give the seed's story word for word (the
// seed's numbers are not mutually consistent, so they are set directly).
func TestStorySeedSample(t *testing.T) {
	m := Metrics{
		AI:      AIMetrics{Sessions: 5420, Rate: rat("0.853"), AvgResponseMS: rat("1500"), CostSaved: rat("54200")},
		Agent:   AgentMetrics{SessionsHandled: 812, AvgFirstResp: rat("30"), AvgHandle: rat("480")},
		Tickets: TicketMetrics{Resolved: 156, AvgResolution: rat("4"), SLARate: rat("0.952")},
	}
	st := DataStatus{
		Month: Month{Year: 2025, Month: 12}, Complete: true, Rejected: 1234,
		LastWritten: time.Date(2025, 12, 31, 16, 5, 0, 0, time.UTC),
	}
	const seed = "本月 AI 客服共服务 5,420 位客户，其中 85.3% 的问题由 AI 独立解决，平均响应时间仅 1.5 秒。需人工介入的 812 个会话，坐席平均 30 秒内响应，8 分钟内解决。共处理 156 个工单，平均 4 小时解决，SLA 达标率 95.2%。预估节省人工成本 ¥54,200。"
	assert.Equal(t, seed+"（数据说明：2025年12月已结束，数据完整；被拒绝未计入的事件 1,234 条；数据最后写入于 2026-01-01 00:05:00（Asia/Shanghai）。）",
		Story(m, st, shanghai, LangZH))
	assert.Equal(t, "This month the AI chatbot served 5,420 customers; 85.3% of their questions were resolved by the AI alone, "+
		"with an average response time of just 1.5 s. Of the 812 sessions that needed a human, agents responded within 30 s "+
		"on average and resolved them within 8 min. 156 tickets were handled, resolved in 4 h on average, with an SLA "+
		"attainment rate of 95.2%. Estimated labour cost saved: CNY 54,200. (About the data: December 2025 has ended and "+
		"its data is complete; 1,234 rejected events were not counted; last written 2026-01-01 00:05:00 (Asia/Shanghai).)",
		Story(m, st, shanghai, LangEN))
}

// Clauses without data are left out, sentence by sentence.
func TestStoryClauses(t *testing.T) {
	st := DataStatus{Month: Month{Year: 2025, Month: 12}}
	const footer = "（数据说明：2025年12月尚未结束，数据截至目前；被拒绝未计入的事件 0 条；暂无写入记录。）"
	for _, tc := range []struct {
		name string
		m    Metrics
		want string
	}{
		{"handle time only, no takeover", Metrics{Agent: AgentMetrics{AvgHandle: rat("792")}}, "坐席平均 13.2 分钟内解决。" + footer},
		{"takeovers without wait times", Metrics{Agent: AgentMetrics{SessionsHandled: 2}}, "需人工介入的 2 个会话。" + footer},
		{"messages but no sessions", Metrics{AI: AIMetrics{AvgResponseMS: rat("950"), CostSaved: rat("0")}}, "本月 AI 客服平均响应时间 1.0 秒。" + footer},
		{
			"escalations exceed starts", ComputeMetrics(Totals{evSessionStart: {Events: 2}, evSessionEscalate: {Events: 5}}, 1000),
			"本月 AI 客服共服务 2 位客户，其中 0.0% 的问题由 AI 独立解决。预估节省人工成本 ¥0。" + footer,
		},
	} {
		t.Run(tc.name, func(t *testing.T) { assert.Equal(t, tc.want, Story(tc.m, st, shanghai, LangZH)) })
	}
}

func TestComputeMetricsClamp(t *testing.T) {
	m := ComputeMetrics(Totals{evSessionStart: {Events: 2}, evSessionEscalate: {Events: 5}}, 1000)
	assert.Equal(t, int64(0), m.AI.Resolved)
	assert.Equal(t, "0", m.AI.Rate.RatString())
	assert.Equal(t, "0", m.AI.CostSaved.RatString())
	// 3 resolutions at ¥10.05 (1005 fen) = ¥30.15 exactly.
	m = ComputeMetrics(Totals{evSessionStart: {Events: 3}}, 1005)
	assert.Equal(t, "603/20", m.AI.CostSaved.RatString())
}

// CostFen rounds yuan to whole fen half away from zero; CostSaved is exact.
func TestCostFenAndCostSaved(t *testing.T) {
	for yuan, fen := range map[float64]int64{0: 0, 10: 1000, 12.5: 1250, 10.05: 1005, 0.125: 13, 0.124: 12} {
		assert.Equal(t, fen, CostFen(yuan), "CostFen(%v)", yuan)
	}
	assert.Equal(t, "75/2", CostSaved(3, 1250).RatString()) // 3 × ¥12.50 = ¥37.50
	assert.Equal(t, "0", CostSaved(4623, 0).RatString())    // a cost of 0 saves nothing
	assert.Equal(t, "46230", CostSaved(4623, 1000).RatString())
}

// BuildCaseStudy is pure: the seed's sample numbers give the seed's display
// strings, and an empty month gives no data and no NaN.
func TestBuildCaseStudy(t *testing.T) {
	m := Metrics{
		AI:      AIMetrics{Sessions: 5420, Escalations: 797, Resolved: 4623, Rate: rat("0.853"), AvgResponseMS: rat("1500"), CostSaved: rat("54200")},
		Agent:   AgentMetrics{SessionsHandled: 812, AvgFirstResp: rat("30"), AvgHandle: rat("480")},
		Tickets: TicketMetrics{Resolved: 156, SLAMet: 148, AvgResolution: rat("4"), SLARate: rat("0.952")},
	}
	written := time.Date(2025, 12, 31, 16, 5, 0, 0, time.UTC)
	st := DataStatus{Month: Month{Year: 2025, Month: 12}, Complete: true, Rejected: 3, LastWritten: written}
	cs := BuildCaseStudy(m, st, shanghai, LangZH, 1000)
	assert.Equal(t, CaseAI{TotalCustomersServed: 5420, AIResolutionRate: "85.3%", AvgResponseTime: "1.5秒", CostSaved: "¥54,200"}, cs.AIChatbot)
	assert.Equal(t, CaseAgent{SessionsHandled: 812, AvgFirstResponse: "30秒", AvgHandleTime: "8分钟"}, cs.AgentWorkbench)
	assert.Equal(t, CaseTickets{TicketsResolved: 156, AvgResolutionTime: "4小时", SLAMetRate: "95.2%"}, cs.Tickets)
	assert.Equal(t, "2025年12月", cs.Period)
	assert.Equal(t, Story(m, st, shanghai, LangZH), cs.Story)
	assert.Equal(t, int64(4623), cs.Raw.AIChatbot.AIResolved)
	assert.InDelta(t, 10.0, cs.Raw.AIChatbot.CostPerResolutionYuan, 0)
	assert.Equal(t, DataStatusJSON{
		Month: "2025-12", Timezone: "Asia/Shanghai", Complete: true, RejectedEvents: 3,
		LastWrittenAt: func() *string { s := "2026-01-01T00:05:00+08:00"; return &s }(),
	}, cs.Data)
	assert.Equal(t, "CNY 54,200", BuildCaseStudy(m, st, shanghai, LangEN, 1000).AIChatbot.CostSaved)

	empty := BuildCaseStudy(ComputeMetrics(Totals{}, 1250), DataStatus{Month: Month{Year: 2025, Month: 11}}, shanghai, LangZH, 1250)
	assert.Equal(t, CaseAI{AIResolutionRate: "暂无数据", AvgResponseTime: "暂无数据", CostSaved: "¥0"}, empty.AIChatbot)
	assert.Equal(t, "暂无数据", empty.Tickets.SLAMetRate)
	assert.Nil(t, empty.Raw.AIChatbot.AIResolutionRate)
	assert.InDelta(t, 12.5, empty.Raw.AIChatbot.CostPerResolutionYuan, 0)
	assert.Nil(t, empty.Data.LastWrittenAt)
	assert.Equal(t, "本月暂无业务数据。（数据说明：2025年11月尚未结束，数据截至目前；被拒绝未计入的事件 0 条；暂无写入记录。）", empty.Story)
}
