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
	st := DataStatus{Month: Month{Year: 2025, Month: 12}, Complete: true, Rejected: 1234,
		LastWritten: time.Date(2025, 12, 31, 16, 5, 0, 0, time.UTC)}
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
		{"escalations exceed starts", ComputeMetrics(Totals{evSessionStart: {Events: 2}, evSessionEscalate: {Events: 5}}, 1000),
			"本月 AI 客服共服务 2 位客户，其中 0.0% 的问题由 AI 独立解决。预估节省人工成本 ¥0。" + footer},
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
