package stats

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.uber.org/goleak"

	"github.com/otelcol-analytics/otelcol-analytics/internal/testdb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var shanghai = func() *time.Location {
	l, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return l
}()

// fixedNow is "now" in every test: December 10, 2025, noon in Shanghai —
// October and November have ended, December has not.
var fixedNow = time.Date(2025, 12, 10, 12, 0, 0, 0, shanghai)

// testCost is the cost per resolution of the fixture tests: ¥1,234.5, so
// that cost_saved exercises rounding and thousands separators.
const testCost = 1234.5

// newTestServer serves a handler over the schema at dsn.
func newTestServer(t testing.TB, dsn string, token string) *httptest.Server {
	t.Helper()
	cfg := NewDefaultConfig()
	cfg.Postgres.DSN = configopaque.String(dsn)
	cfg.CostPerResolution = testCost
	cfg.Auth.Token = configopaque.String(token)
	cfg.Postgres.QueryTimeout = 3 * time.Second
	require.NoError(t, cfg.Validate())
	pool, err := NewPool(context.Background(), cfg.Postgres)
	require.NoError(t, err)
	h, err := NewHandler(cfg, pool, HandlerSettings{Now: func() time.Time { return fixedNow }})
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		pool.Close()
	})
	return srv
}

// fixtureServer is a server over a fresh schema holding testdata/events.yaml
// (stored through the exporter's writer) and the rejected-events fixture.
func fixtureServer(t testing.TB, token string) *httptest.Server {
	t.Helper()
	dsn, _ := testdb.Migrated(t)
	loadEventsThroughStore(t, dsn, readFixture(t, "testdata/events.yaml"), shanghai)
	insertRejected(t, dsn)
	return newTestServer(t, dsn, token)
}

type response struct {
	status int
	header http.Header
	body   string
}

func get(t testing.TB, srv *httptest.Server, path, token string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+path, http.NoBody)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer func() { assert.NoError(t, resp.Body.Close()) }()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func getJSON(t *testing.T, srv *httptest.Server, path string) string {
	t.Helper()
	r := get(t, srv, path, "")
	require.Equal(t, http.StatusOK, r.status, r.body)
	require.Equal(t, "application/json; charset=utf-8", r.header.Get("Content-Type"))
	return r.body
}

// The fixture's numbers, worked out by hand from testdata/events.yaml
// (Asia/Shanghai days; cost per resolution ¥1,234.5):
//
// November 2025
//
//	session.start     12 (Nov 1: 5 — one is Oct 31 16:30Z = Nov 1 00:30 —, Nov 15: 4, Nov 30: 3)
//	session.escalate   5 (2 + 2 + 1) → AI resolved 12 − 5 = 7
//	ai_resolution_rate 7/12 = 0.58333… → "58.3%"
//	session.message    4: 1200 + 1300 + 1500 + 1800 = 5800 ms / 4 = 1450 ms → 1.45 s → "1.5秒" (half up)
//	cost_saved         7 × 1234.5 = 8641.5 → "¥8,642" (half up)
//	takeover           3: waits 20 + 41 + 30 = 91 s / 3 = 30.33 s → "30秒"
//	release            3: 480 + 540 + 600 = 1620 s / 3 = 540 s = 9 min → "9分钟"
//	ticket.closed      4: 3.5 + 4.25 + 4.25 + 5 = 17 h / 4 = 4.25 h → "4.3小时" (half up)
//	sla_met            3 of 4 → 0.75 → "75.0%"
//	ticket.created     5
//	rejected           3 (see insertRejected); last write: the ticket closed Nov 30 21:00 Shanghai
//
// Per agent (November)
//
//	a1: takeovers 2 (20, 41 → 30.5 s → "31秒"), releases 2 (480, 540 → 510 s = 8.5 min → "8.5分钟"),
//	    messages 3, transfers 1, online 28800 + 3600 = 32400 s = 9 h → "9小时",
//	    tickets closed 2 (3.5, 4.25 → 3.875 h → "3.9小时")
//	a2: takeovers 1 (30 s → "30秒"), releases 1 (600 s → "10分钟"), messages 2, transfers 0,
//	    online 22140 s = 6.15 h → "6.2小时" (half up), tickets closed 1 (4.25 h → "4.3小时")
//	a3: one login, nothing else → every average null / "暂无数据"
//
// October 2025 (no tickets, no agents): 2 starts (the second Oct 31 23:59:59 Shanghai), 0 escalations,
// rate 2/2 → "100.0%"; 1 message 800 ms → "0.8秒"; cost 2 × 1234.5 = 2469 → "¥2,469"; 1 rejected.
//
// December 2025 (not over on Dec 10): 1 start (Nov 30 16:30Z = Dec 1 00:30 Shanghai), rate "100.0%",
// no message → avg_response_time "暂无数据"; cost 1234.5 → "¥1,235"; 1 rejected.

const novemberStoryZH = "本月 AI 客服共服务 12 位客户，其中 58.3% 的问题由 AI 独立解决，平均响应时间仅 1.5 秒。" +
	"需人工介入的 3 个会话，坐席平均 30 秒内响应，9 分钟内解决。" +
	"共处理 4 个工单，平均 4.3 小时解决，SLA 达标率 75.0%。" +
	"预估节省人工成本 ¥8,642。" +
	"（数据说明：2025年11月已结束，数据完整；被拒绝未计入的事件 3 条；数据最后写入于 2025-11-30 21:00:00（Asia/Shanghai）。）"

const novemberStoryEN = "This month the AI chatbot served 12 customers; 58.3% of their questions were resolved by the AI alone, " +
	"with an average response time of just 1.5 s. " +
	"Of the 3 sessions that needed a human, agents responded within 30 s on average and resolved them within 9 min. " +
	"4 tickets were handled, resolved in 4.3 h on average, with an SLA attainment rate of 75.0%. " +
	"Estimated labour cost saved: CNY 8,642. " +
	"(About the data: November 2025 has ended and its data is complete; 3 rejected events were not counted; " +
	"last written 2025-11-30 21:00:00 (Asia/Shanghai).)"

const novemberRaw = `"raw": {
	"ai_chatbot": {"total_customers_served": 12, "escalations": 5, "ai_resolved": 7,
		"ai_resolution_rate": 0.5833333333333334, "messages": 4, "avg_response_time_ms": 1450,
		"cost_saved_yuan": 8641.5, "cost_per_resolution_yuan": 1234.5},
	"agent_workbench": {"sessions_handled": 3, "avg_first_response_seconds": 30.333333333333332,
		"sessions_released": 3, "avg_handle_time_seconds": 540},
	"tickets": {"tickets_resolved": 4, "sla_met": 3, "sla_met_rate": 0.75, "avg_resolution_time_hours": 4.25}
}`

const novemberData = `"data": {"month": "2025-11", "timezone": "Asia/Shanghai", "complete": true,
	"rejected_events": 3, "last_written_at": "2025-11-30T21:00:00+08:00"}`

func TestCaseStudy(t *testing.T) {
	t.Parallel()
	srv := fixtureServer(t, "")
	for _, tc := range []struct {
		name, path, want string
	}{
		{"november zh", "/api/analytics/case-study?month=2025-11", `{
			"period": "2025年11月",
			"ai_chatbot": {"total_customers_served": 12, "ai_resolution_rate": "58.3%", "avg_response_time": "1.5秒", "cost_saved": "¥8,642"},
			"agent_workbench": {"sessions_handled": 3, "avg_first_response": "30秒", "avg_handle_time": "9分钟"},
			"tickets": {"tickets_resolved": 4, "avg_resolution_time": "4.3小时", "sla_met_rate": "75.0%"},
			"story": "` + novemberStoryZH + `",
			` + novemberRaw + `,
			` + novemberData + `}`},
		{"november zh explicit", "/api/analytics/case-study?month=2025-11&lang=zh", `{
			"period": "2025年11月",
			"ai_chatbot": {"total_customers_served": 12, "ai_resolution_rate": "58.3%", "avg_response_time": "1.5秒", "cost_saved": "¥8,642"},
			"agent_workbench": {"sessions_handled": 3, "avg_first_response": "30秒", "avg_handle_time": "9分钟"},
			"tickets": {"tickets_resolved": 4, "avg_resolution_time": "4.3小时", "sla_met_rate": "75.0%"},
			"story": "` + novemberStoryZH + `",
			` + novemberRaw + `,
			` + novemberData + `}`},
		{"november en", "/api/analytics/case-study?month=2025-11&lang=en", `{
			"period": "November 2025",
			"ai_chatbot": {"total_customers_served": 12, "ai_resolution_rate": "58.3%", "avg_response_time": "1.5 s", "cost_saved": "CNY 8,642"},
			"agent_workbench": {"sessions_handled": 3, "avg_first_response": "30 s", "avg_handle_time": "9 min"},
			"tickets": {"tickets_resolved": 4, "avg_resolution_time": "4.3 h", "sla_met_rate": "75.0%"},
			"story": "` + novemberStoryEN + `",
			` + novemberRaw + `,
			` + novemberData + `}`},
		{"october, no tickets, zh", "/api/analytics/case-study?month=2025-10", `{
			"period": "2025年10月",
			"ai_chatbot": {"total_customers_served": 2, "ai_resolution_rate": "100.0%", "avg_response_time": "0.8秒", "cost_saved": "¥2,469"},
			"agent_workbench": {"sessions_handled": 0, "avg_first_response": "暂无数据", "avg_handle_time": "暂无数据"},
			"tickets": {"tickets_resolved": 0, "avg_resolution_time": "暂无数据", "sla_met_rate": "暂无数据"},
			"story": "本月 AI 客服共服务 2 位客户，其中 100.0% 的问题由 AI 独立解决，平均响应时间仅 0.8 秒。预估节省人工成本 ¥2,469。（数据说明：2025年10月已结束，数据完整；被拒绝未计入的事件 1 条；数据最后写入于 2025-10-31 23:59:59（Asia/Shanghai）。）",
			"raw": {
				"ai_chatbot": {"total_customers_served": 2, "escalations": 0, "ai_resolved": 2, "ai_resolution_rate": 1,
					"messages": 1, "avg_response_time_ms": 800, "cost_saved_yuan": 2469, "cost_per_resolution_yuan": 1234.5},
				"agent_workbench": {"sessions_handled": 0, "avg_first_response_seconds": null, "sessions_released": 0, "avg_handle_time_seconds": null},
				"tickets": {"tickets_resolved": 0, "sla_met": 0, "sla_met_rate": null, "avg_resolution_time_hours": null}
			},
			"data": {"month": "2025-10", "timezone": "Asia/Shanghai", "complete": true, "rejected_events": 1, "last_written_at": "2025-10-31T23:59:59+08:00"}}`},
		{"october, no tickets, en", "/api/analytics/case-study?month=2025-10&lang=en", `{
			"period": "October 2025",
			"ai_chatbot": {"total_customers_served": 2, "ai_resolution_rate": "100.0%", "avg_response_time": "0.8 s", "cost_saved": "CNY 2,469"},
			"agent_workbench": {"sessions_handled": 0, "avg_first_response": "no data", "avg_handle_time": "no data"},
			"tickets": {"tickets_resolved": 0, "avg_resolution_time": "no data", "sla_met_rate": "no data"},
			"story": "This month the AI chatbot served 2 customers; 100.0% of their questions were resolved by the AI alone, with an average response time of just 0.8 s. Estimated labour cost saved: CNY 2,469. (About the data: October 2025 has ended and its data is complete; 1 rejected event was not counted; last written 2025-10-31 23:59:59 (Asia/Shanghai).)",
			"raw": {
				"ai_chatbot": {"total_customers_served": 2, "escalations": 0, "ai_resolved": 2, "ai_resolution_rate": 1,
					"messages": 1, "avg_response_time_ms": 800, "cost_saved_yuan": 2469, "cost_per_resolution_yuan": 1234.5},
				"agent_workbench": {"sessions_handled": 0, "avg_first_response_seconds": null, "sessions_released": 0, "avg_handle_time_seconds": null},
				"tickets": {"tickets_resolved": 0, "sla_met": 0, "sla_met_rate": null, "avg_resolution_time_hours": null}
			},
			"data": {"month": "2025-10", "timezone": "Asia/Shanghai", "complete": true, "rejected_events": 1, "last_written_at": "2025-10-31T23:59:59+08:00"}}`},
		{"december, current month, default", "/api/analytics/case-study", `{
			"period": "2025年12月",
			"ai_chatbot": {"total_customers_served": 1, "ai_resolution_rate": "100.0%", "avg_response_time": "暂无数据", "cost_saved": "¥1,235"},
			"agent_workbench": {"sessions_handled": 0, "avg_first_response": "暂无数据", "avg_handle_time": "暂无数据"},
			"tickets": {"tickets_resolved": 0, "avg_resolution_time": "暂无数据", "sla_met_rate": "暂无数据"},
			"story": "本月 AI 客服共服务 1 位客户，其中 100.0% 的问题由 AI 独立解决。预估节省人工成本 ¥1,235。（数据说明：2025年12月尚未结束，数据截至目前；被拒绝未计入的事件 1 条；数据最后写入于 2025-12-01 00:30:00（Asia/Shanghai）。）",
			"raw": {
				"ai_chatbot": {"total_customers_served": 1, "escalations": 0, "ai_resolved": 1, "ai_resolution_rate": 1,
					"messages": 0, "avg_response_time_ms": null, "cost_saved_yuan": 1234.5, "cost_per_resolution_yuan": 1234.5},
				"agent_workbench": {"sessions_handled": 0, "avg_first_response_seconds": null, "sessions_released": 0, "avg_handle_time_seconds": null},
				"tickets": {"tickets_resolved": 0, "sla_met": 0, "sla_met_rate": null, "avg_resolution_time_hours": null}
			},
			"data": {"month": "2025-12", "timezone": "Asia/Shanghai", "complete": false, "rejected_events": 1, "last_written_at": "2025-12-01T00:30:00+08:00"}}`},
		{"empty month zh", "/api/analytics/case-study?month=2024-01", `{
			"period": "2024年1月",
			"ai_chatbot": {"total_customers_served": 0, "ai_resolution_rate": "暂无数据", "avg_response_time": "暂无数据", "cost_saved": "¥0"},
			"agent_workbench": {"sessions_handled": 0, "avg_first_response": "暂无数据", "avg_handle_time": "暂无数据"},
			"tickets": {"tickets_resolved": 0, "avg_resolution_time": "暂无数据", "sla_met_rate": "暂无数据"},
			"story": "本月暂无业务数据。（数据说明：2024年1月已结束，数据完整；被拒绝未计入的事件 0 条；暂无写入记录。）",
			"raw": {
				"ai_chatbot": {"total_customers_served": 0, "escalations": 0, "ai_resolved": 0, "ai_resolution_rate": null,
					"messages": 0, "avg_response_time_ms": null, "cost_saved_yuan": 0, "cost_per_resolution_yuan": 1234.5},
				"agent_workbench": {"sessions_handled": 0, "avg_first_response_seconds": null, "sessions_released": 0, "avg_handle_time_seconds": null},
				"tickets": {"tickets_resolved": 0, "sla_met": 0, "sla_met_rate": null, "avg_resolution_time_hours": null}
			},
			"data": {"month": "2024-01", "timezone": "Asia/Shanghai", "complete": true, "rejected_events": 0, "last_written_at": null}}`},
		{"empty month en", "/api/analytics/case-study?month=2024-01&lang=en", `{
			"period": "January 2024",
			"ai_chatbot": {"total_customers_served": 0, "ai_resolution_rate": "no data", "avg_response_time": "no data", "cost_saved": "CNY 0"},
			"agent_workbench": {"sessions_handled": 0, "avg_first_response": "no data", "avg_handle_time": "no data"},
			"tickets": {"tickets_resolved": 0, "avg_resolution_time": "no data", "sla_met_rate": "no data"},
			"story": "No business data this month. (About the data: January 2024 has ended and its data is complete; 0 rejected events were not counted; nothing has been written yet.)",
			"raw": {
				"ai_chatbot": {"total_customers_served": 0, "escalations": 0, "ai_resolved": 0, "ai_resolution_rate": null,
					"messages": 0, "avg_response_time_ms": null, "cost_saved_yuan": 0, "cost_per_resolution_yuan": 1234.5},
				"agent_workbench": {"sessions_handled": 0, "avg_first_response_seconds": null, "sessions_released": 0, "avg_handle_time_seconds": null},
				"tickets": {"tickets_resolved": 0, "sla_met": 0, "sla_met_rate": null, "avg_resolution_time_hours": null}
			},
			"data": {"month": "2024-01", "timezone": "Asia/Shanghai", "complete": true, "rejected_events": 0, "last_written_at": null}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := getJSON(t, srv, tc.path)
			assert.JSONEq(t, tc.want, got)
			assert.NotContains(t, got, "NaN")
		})
	}
}

// TestCaseStudySeedShape checks that the case study has exactly the keys of
// the seed's §5.2 object (docs/design.md §5.2), with the same JSON types, plus "raw" and "data".
func TestCaseStudySeedShape(t *testing.T) {
	t.Parallel()
	seedBytes, err := os.ReadFile("testdata/seed_case_study.json")
	require.NoError(t, err)
	var seed map[string]any
	require.NoError(t, json.Unmarshal(seedBytes, &seed))

	srv := fixtureServer(t, "")
	for _, month := range []string{"2025-11", "2024-01"} {
		for _, lang := range []string{"zh", "en"} {
			t.Run(month+"/"+lang, func(t *testing.T) {
				var got map[string]any
				require.NoError(t, json.Unmarshal([]byte(getJSON(t, srv, "/api/analytics/case-study?month="+month+"&lang="+lang)), &got))
				require.Contains(t, got, "raw")
				require.Contains(t, got, "data")
				delete(got, "raw")
				delete(got, "data")
				assertSameShape(t, "", seed, got)
			})
		}
	}
}

func assertSameShape(t *testing.T, path string, want, got any) {
	t.Helper()
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		require.True(t, ok, "%s: want an object, got %T", path, got)
		wk, gk := keys(w), keys(g)
		require.ElementsMatch(t, wk, gk, "%s: keys", path)
		for k := range w {
			assertSameShape(t, path+"."+k, w[k], g[k])
		}
	default:
		assert.IsType(t, want, got, "%s", path)
	}
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestSummary(t *testing.T) {
	t.Parallel()
	srv := fixtureServer(t, "")
	for _, tc := range []struct{ name, path, want string }{
		{"november zh", "/api/analytics/summary?month=2025-11", `{
			"month": "2025-11", "period": "2025年11月",
			"total_customers_served": 12, "escalations": 5, "ai_resolved": 7, "messages": 4,
			"ai_resolution_rate": {"value": 0.5833333333333334, "unit": "ratio", "display": "58.3%"},
			"avg_response_time": {"value": 1450, "unit": "ms", "display": "1.5秒"},
			"cost_saved": {"value": 8641.5, "unit": "CNY", "display": "¥8,642"},
			"cost_per_resolution_yuan": 1234.5,
			` + novemberData + `}`},
		{"november en", "/api/analytics/summary?month=2025-11&lang=en", `{
			"month": "2025-11", "period": "November 2025",
			"total_customers_served": 12, "escalations": 5, "ai_resolved": 7, "messages": 4,
			"ai_resolution_rate": {"value": 0.5833333333333334, "unit": "ratio", "display": "58.3%"},
			"avg_response_time": {"value": 1450, "unit": "ms", "display": "1.5 s"},
			"cost_saved": {"value": 8641.5, "unit": "CNY", "display": "CNY 8,642"},
			"cost_per_resolution_yuan": 1234.5,
			` + novemberData + `}`},
		{"empty month", "/api/analytics/summary?month=2024-01&lang=en", `{
			"month": "2024-01", "period": "January 2024",
			"total_customers_served": 0, "escalations": 0, "ai_resolved": 0, "messages": 0,
			"ai_resolution_rate": {"value": null, "unit": "ratio", "display": "no data"},
			"avg_response_time": {"value": null, "unit": "ms", "display": "no data"},
			"cost_saved": {"value": 0, "unit": "CNY", "display": "CNY 0"},
			"cost_per_resolution_yuan": 1234.5,
			"data": {"month": "2024-01", "timezone": "Asia/Shanghai", "complete": true, "rejected_events": 0, "last_written_at": null}}`},
	} {
		t.Run(tc.name, func(t *testing.T) { assert.JSONEq(t, tc.want, getJSON(t, srv, tc.path)) })
	}
}

func TestAgents(t *testing.T) {
	t.Parallel()
	srv := fixtureServer(t, "")
	nullSeconds := func(l string) string { return `{"value": null, "unit": "s", "display": "` + l + `"}` }
	nullHours := func(l string) string { return `{"value": null, "unit": "h", "display": "` + l + `"}` }
	for _, tc := range []struct{ name, path, want string }{
		{"november zh", "/api/analytics/agents?month=2025-11", `{
			"month": "2025-11", "period": "2025年11月",
			"agents": [
				{"agent_id": "a1", "sessions_handled": 2,
				 "avg_first_response": {"value": 30.5, "unit": "s", "display": "31秒"},
				 "sessions_released": 2,
				 "avg_handle_time": {"value": 510, "unit": "s", "display": "8.5分钟"},
				 "messages": 3, "transfers": 1,
				 "online_time": {"value": 32400, "unit": "s", "display": "9小时"},
				 "tickets_closed": 2,
				 "avg_resolution_time": {"value": 3.875, "unit": "h", "display": "3.9小时"}},
				{"agent_id": "a2", "sessions_handled": 1,
				 "avg_first_response": {"value": 30, "unit": "s", "display": "30秒"},
				 "sessions_released": 1,
				 "avg_handle_time": {"value": 600, "unit": "s", "display": "10分钟"},
				 "messages": 2, "transfers": 0,
				 "online_time": {"value": 22140, "unit": "s", "display": "6.2小时"},
				 "tickets_closed": 1,
				 "avg_resolution_time": {"value": 4.25, "unit": "h", "display": "4.3小时"}},
				{"agent_id": "a3", "sessions_handled": 0, "avg_first_response": ` + nullSeconds("暂无数据") + `,
				 "sessions_released": 0, "avg_handle_time": ` + nullSeconds("暂无数据") + `,
				 "messages": 0, "transfers": 0, "online_time": ` + nullSeconds("暂无数据") + `,
				 "tickets_closed": 0, "avg_resolution_time": ` + nullHours("暂无数据") + `}
			],
			` + novemberData + `}`},
		{"november en", "/api/analytics/agents?month=2025-11&lang=en", `{
			"month": "2025-11", "period": "November 2025",
			"agents": [
				{"agent_id": "a1", "sessions_handled": 2,
				 "avg_first_response": {"value": 30.5, "unit": "s", "display": "31 s"},
				 "sessions_released": 2,
				 "avg_handle_time": {"value": 510, "unit": "s", "display": "8.5 min"},
				 "messages": 3, "transfers": 1,
				 "online_time": {"value": 32400, "unit": "s", "display": "9 h"},
				 "tickets_closed": 2,
				 "avg_resolution_time": {"value": 3.875, "unit": "h", "display": "3.9 h"}},
				{"agent_id": "a2", "sessions_handled": 1,
				 "avg_first_response": {"value": 30, "unit": "s", "display": "30 s"},
				 "sessions_released": 1,
				 "avg_handle_time": {"value": 600, "unit": "s", "display": "10 min"},
				 "messages": 2, "transfers": 0,
				 "online_time": {"value": 22140, "unit": "s", "display": "6.2 h"},
				 "tickets_closed": 1,
				 "avg_resolution_time": {"value": 4.25, "unit": "h", "display": "4.3 h"}},
				{"agent_id": "a3", "sessions_handled": 0, "avg_first_response": ` + nullSeconds("no data") + `,
				 "sessions_released": 0, "avg_handle_time": ` + nullSeconds("no data") + `,
				 "messages": 0, "transfers": 0, "online_time": ` + nullSeconds("no data") + `,
				 "tickets_closed": 0, "avg_resolution_time": ` + nullHours("no data") + `}
			],
			` + novemberData + `}`},
		{"october: no agents", "/api/analytics/agents?month=2025-10", `{
			"month": "2025-10", "period": "2025年10月", "agents": [],
			"data": {"month": "2025-10", "timezone": "Asia/Shanghai", "complete": true, "rejected_events": 1, "last_written_at": "2025-10-31T23:59:59+08:00"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) { assert.JSONEq(t, tc.want, getJSON(t, srv, tc.path)) })
	}
}

func TestTickets(t *testing.T) {
	t.Parallel()
	srv := fixtureServer(t, "")
	for _, tc := range []struct{ name, path, want string }{
		{"november zh", "/api/analytics/tickets?month=2025-11", `{
			"month": "2025-11", "period": "2025年11月",
			"tickets_created": 5, "tickets_resolved": 4, "sla_met": 3,
			"sla_met_rate": {"value": 0.75, "unit": "ratio", "display": "75.0%"},
			"avg_resolution_time": {"value": 4.25, "unit": "h", "display": "4.3小时"},
			` + novemberData + `}`},
		{"november en", "/api/analytics/tickets?month=2025-11&lang=en", `{
			"month": "2025-11", "period": "November 2025",
			"tickets_created": 5, "tickets_resolved": 4, "sla_met": 3,
			"sla_met_rate": {"value": 0.75, "unit": "ratio", "display": "75.0%"},
			"avg_resolution_time": {"value": 4.25, "unit": "h", "display": "4.3 h"},
			` + novemberData + `}`},
		{"october: no tickets", "/api/analytics/tickets?month=2025-10&lang=zh", `{
			"month": "2025-10", "period": "2025年10月",
			"tickets_created": 0, "tickets_resolved": 0, "sla_met": 0,
			"sla_met_rate": {"value": null, "unit": "ratio", "display": "暂无数据"},
			"avg_resolution_time": {"value": null, "unit": "h", "display": "暂无数据"},
			"data": {"month": "2025-10", "timezone": "Asia/Shanghai", "complete": true, "rejected_events": 1, "last_written_at": "2025-10-31T23:59:59+08:00"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) { assert.JSONEq(t, tc.want, getJSON(t, srv, tc.path)) })
	}
}

// emptyDay is a day without events, in zh.
func emptyDay(date, noData, money string) string {
	n := func(unit string) string {
		return `{"value": null, "unit": "` + unit + `", "display": "` + noData + `"}`
	}
	return `{"date": "` + date + `", "total_customers_served": 0, "escalations": 0, "ai_resolved": 0,
		"ai_resolution_rate": ` + n("ratio") + `, "messages": 0, "avg_response_time": ` + n("ms") + `,
		"cost_saved": {"value": 0, "unit": "CNY", "display": "` + money + `"},
		"sessions_handled": 0, "avg_first_response": ` + n("s") + `, "sessions_released": 0, "avg_handle_time": ` + n("s") + `,
		"agent_messages": 0, "transfers": 0, "online_time": ` + n("s") + `,
		"tickets_created": 0, "tickets_resolved": 0, "sla_met": 0, "sla_met_rate": ` + n("ratio") + `, "avg_resolution_time": ` + n("h") + `}`
}

func TestDaily(t *testing.T) {
	t.Parallel()
	srv := fixtureServer(t, "")

	var got struct {
		From, To, Timezone string
		Days               []json.RawMessage
	}
	require.NoError(t, json.Unmarshal([]byte(getJSON(t, srv, "/api/analytics/daily?from=2025-11-01&to=2025-11-30")), &got))
	assert.Equal(t, "2025-11-01", got.From)
	assert.Equal(t, "2025-11-30", got.To)
	assert.Equal(t, "Asia/Shanghai", got.Timezone)
	require.Len(t, got.Days, 30, "every day of the range, zero-filled")

	// Nov 1: 5 starts, 2 escalations → 3/5 = 60.0%; messages 1200, 1300 → 1250 ms → "1.3秒" (half up);
	// cost 3 × 1234.5 = 3703.5 → "¥3,704"; a1: takeover 20 s, release 480 s = "8分钟", 2 messages,
	// logout 28800 s = "8小时"; 2 tickets created, 1 closed (3.5 h, SLA met).
	assert.JSONEq(t, `{"date": "2025-11-01", "total_customers_served": 5, "escalations": 2, "ai_resolved": 3,
		"ai_resolution_rate": {"value": 0.6, "unit": "ratio", "display": "60.0%"},
		"messages": 2, "avg_response_time": {"value": 1250, "unit": "ms", "display": "1.3秒"},
		"cost_saved": {"value": 3703.5, "unit": "CNY", "display": "¥3,704"},
		"sessions_handled": 1, "avg_first_response": {"value": 20, "unit": "s", "display": "20秒"},
		"sessions_released": 1, "avg_handle_time": {"value": 480, "unit": "s", "display": "8分钟"},
		"agent_messages": 2, "transfers": 0, "online_time": {"value": 28800, "unit": "s", "display": "8小时"},
		"tickets_created": 2, "tickets_resolved": 1, "sla_met": 1,
		"sla_met_rate": {"value": 1, "unit": "ratio", "display": "100.0%"},
		"avg_resolution_time": {"value": 3.5, "unit": "h", "display": "3.5小时"}}`, string(got.Days[0]))
	assert.JSONEq(t, emptyDay("2025-11-02", "暂无数据", "¥0"), string(got.Days[1]))
	// Nov 15: 4 starts, 2 escalations → 50.0%; 1500 ms → "1.5秒"; cost 2 × 1234.5 = 2469;
	// takeovers 41 + 30 → 35.5 s → "36秒"; releases 540 + 600 → 570 s = 9.5 min;
	// agent messages 1 + 2 = 3; 1 transfer; online 3600 + 22140 = 25740 s = 7.15 h → "7.2小时";
	// 2 created, 2 closed (4.25 h each, one SLA met) → 50.0%, "4.3小时".
	assert.JSONEq(t, `{"date": "2025-11-15", "total_customers_served": 4, "escalations": 2, "ai_resolved": 2,
		"ai_resolution_rate": {"value": 0.5, "unit": "ratio", "display": "50.0%"},
		"messages": 1, "avg_response_time": {"value": 1500, "unit": "ms", "display": "1.5秒"},
		"cost_saved": {"value": 2469, "unit": "CNY", "display": "¥2,469"},
		"sessions_handled": 2, "avg_first_response": {"value": 35.5, "unit": "s", "display": "36秒"},
		"sessions_released": 2, "avg_handle_time": {"value": 570, "unit": "s", "display": "9.5分钟"},
		"agent_messages": 3, "transfers": 1, "online_time": {"value": 25740, "unit": "s", "display": "7.2小时"},
		"tickets_created": 2, "tickets_resolved": 2, "sla_met": 1,
		"sla_met_rate": {"value": 0.5, "unit": "ratio", "display": "50.0%"},
		"avg_resolution_time": {"value": 4.25, "unit": "h", "display": "4.3小时"}}`, string(got.Days[14]))
	// Nov 20: only a3's login: counted in the rollup, no metric uses it.
	assert.JSONEq(t, emptyDay("2025-11-20", "暂无数据", "¥0"), string(got.Days[19]))
	// Nov 30: 3 starts, 1 escalation → 2/3 = 66.7%; 1800 ms → "1.8秒"; cost 2469;
	// 1 created, 1 closed without agent (5 h, SLA met).
	assert.JSONEq(t, `{"date": "2025-11-30", "total_customers_served": 3, "escalations": 1, "ai_resolved": 2,
		"ai_resolution_rate": {"value": 0.6666666666666666, "unit": "ratio", "display": "66.7%"},
		"messages": 1, "avg_response_time": {"value": 1800, "unit": "ms", "display": "1.8秒"},
		"cost_saved": {"value": 2469, "unit": "CNY", "display": "¥2,469"},
		"sessions_handled": 0, "avg_first_response": {"value": null, "unit": "s", "display": "暂无数据"},
		"sessions_released": 0, "avg_handle_time": {"value": null, "unit": "s", "display": "暂无数据"},
		"agent_messages": 0, "transfers": 0, "online_time": {"value": null, "unit": "s", "display": "暂无数据"},
		"tickets_created": 1, "tickets_resolved": 1, "sla_met": 1,
		"sla_met_rate": {"value": 1, "unit": "ratio", "display": "100.0%"},
		"avg_resolution_time": {"value": 5, "unit": "h", "display": "5小时"}}`, string(got.Days[29]))

	// The days add up to the month: 12 starts, 5 escalations, 4 closed tickets.
	var starts, esc, closed int64
	for _, raw := range got.Days {
		var d DayJSON
		require.NoError(t, json.Unmarshal(raw, &d))
		starts += d.TotalCustomersServed
		esc += d.Escalations
		closed += d.TicketsResolved
	}
	assert.Equal(t, []int64{12, 5, 4}, []int64{starts, esc, closed})

	t.Run("en and the month boundary", func(t *testing.T) {
		var d DailyJSON
		require.NoError(t, json.Unmarshal([]byte(getJSON(t, srv, "/api/analytics/daily?from=2025-10-31&to=2025-12-01&lang=en")), &d))
		require.Len(t, d.Days, 32)
		// Oct 31: o-start-2 (23:59:59 Shanghai); Nov 1: 5 (incl. 00:30 Shanghai); Dec 1: 1 (00:30 Shanghai).
		assert.Equal(t, int64(1), d.Days[0].TotalCustomersServed)
		assert.Equal(t, "no data", d.Days[0].AvgResponseTime.Display)
		assert.Equal(t, int64(5), d.Days[1].TotalCustomersServed)
		assert.Equal(t, "1.3 s", d.Days[1].AvgResponseTime.Display)
		assert.Equal(t, "CNY 3,704", d.Days[1].CostSaved.Display)
		assert.Equal(t, "8 min", d.Days[1].AvgHandleTime.Display)
		assert.Equal(t, "8 h", d.Days[1].OnlineTime.Display)
		assert.Equal(t, "2025-12-01", d.Days[31].Date)
		assert.Equal(t, int64(1), d.Days[31].TotalCustomersServed)
		assert.JSONEq(t, emptyDay("2025-11-02", "no data", "CNY 0"), mustJSON(t, d.Days[2]))
	})

	t.Run("default range: the current month to today", func(t *testing.T) {
		var d DailyJSON
		require.NoError(t, json.Unmarshal([]byte(getJSON(t, srv, "/api/analytics/daily")), &d))
		assert.Equal(t, "2025-12-01", d.From)
		assert.Equal(t, "2025-12-10", d.To)
		require.Len(t, d.Days, 10)
		assert.Equal(t, int64(1), d.Days[0].TotalCustomersServed)
	})
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	srv := fixtureServer(t, "")
	long := strings.Repeat("9", 5000)
	for _, tc := range []struct {
		name, path, wantErr string
		status              int
	}{
		{"month 13", "/api/analytics/case-study?month=2025-13", `invalid month "2025-13": the month must be 01 to 12`, 400},
		{"month abc", "/api/analytics/case-study?month=abc", `invalid month "abc": want YYYY-MM, e.g. 2025-12`, 400},
		{"sql", "/api/analytics/case-study?month=" + url.QueryEscape("2025-12' OR 1=1--"), `invalid month "2025-12' OR 1=1--": want YYYY-MM, e.g. 2025-12`, 400},
		{"sql semicolon", "/api/analytics/summary?month=" + url.QueryEscape("2025-12'; DROP TABLE analytics_daily_rollup;--"), `invalid month "2025-12'; DROP TABLE analytics_d"… (46 characters): want YYYY-MM, e.g. 2025-12`, 400},
		{"5000 characters", "/api/analytics/case-study?month=" + long, `invalid month "` + long[:32] + `"… (5000 characters): want YYYY-MM, e.g. 2025-12`, 400},
		{"empty month", "/api/analytics/tickets?month=", `invalid month "": want YYYY-MM, e.g. 2025-12`, 400},
		{"month 0", "/api/analytics/agents?month=2025-00", `invalid month "2025-00": the month must be 01 to 12`, 400},
		{"report month", "/report?month=2025-13", `invalid month "2025-13": the month must be 01 to 12`, 400},
		{"lang fr", "/api/analytics/case-study?month=2025-11&lang=fr", `invalid lang "fr": want zh or en`, 400},
		{"lang on daily", "/api/analytics/daily?from=2025-11-01&to=2025-11-02&lang=de", `invalid lang "de": want zh or en`, 400},
		{"from bad", "/api/analytics/daily?from=2025-11-31&to=2025-12-01", `invalid from "2025-11-31": not a calendar day`, 400},
		{"to bad", "/api/analytics/daily?from=2025-11-01&to=abc", `invalid to "abc": want YYYY-MM-DD, e.g. 2025-12-01`, 400},
		{"to before from", "/api/analytics/daily?from=2025-11-02&to=2025-11-01", `invalid range: to (2025-11-01) is before from (2025-11-02)`, 400},
		{"range too long", "/api/analytics/daily?from=2024-01-01&to=2025-01-01", `invalid range: 367 days, at most 366`, 400},
		{"from alone", "/api/analytics/daily?from=2025-11-01", `from and to go together: give both (YYYY-MM-DD) or neither (the current month)`, 400},
		{"unknown path", "/api/analytics/nope", `no such endpoint: GET /api/analytics/nope`, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := get(t, srv, tc.path, "")
			require.Equal(t, tc.status, r.status, r.body)
			assert.Equal(t, "application/json; charset=utf-8", r.header.Get("Content-Type"))
			var body map[string]string
			require.NoError(t, json.Unmarshal([]byte(r.body), &body))
			assert.Equal(t, map[string]string{"error": tc.wantErr}, body)
		})
	}

	// The table is still there after the injection attempts.
	assert.JSONEq(t, `{"total_customers_served": 12, "ai_resolution_rate": "58.3%", "avg_response_time": "1.5秒", "cost_saved": "¥8,642"}`,
		mustJSON(t, decodeCase(t, getJSON(t, srv, "/api/analytics/case-study?month=2025-11")).AIChatbot))
}

func decodeCase(t *testing.T, body string) CaseStudy {
	t.Helper()
	var cs CaseStudy
	require.NoError(t, json.Unmarshal([]byte(body), &cs))
	return cs
}

func TestAuth(t *testing.T) {
	t.Parallel()
	const token = "s3cret-token"
	srv := fixtureServer(t, token)
	for _, path := range []string{
		"/api/analytics/case-study?month=2025-11", "/api/analytics/summary?month=2025-11",
		"/api/analytics/agents?month=2025-11", "/api/analytics/tickets?month=2025-11",
		"/api/analytics/daily?from=2025-11-01&to=2025-11-02", "/api/analytics/live?date=2025-11-15",
		"/report?month=2025-11",
	} {
		t.Run(path, func(t *testing.T) {
			r := get(t, srv, path, "")
			assert.Equal(t, http.StatusUnauthorized, r.status)
			assert.JSONEq(t, `{"error": "missing or wrong bearer token (send Authorization: Bearer <token>)"}`, r.body)
			assert.Equal(t, `Bearer realm="analytics-stats"`, r.header.Get("WWW-Authenticate"))

			assert.Equal(t, http.StatusUnauthorized, get(t, srv, path, "wrong").status)
			assert.Equal(t, http.StatusUnauthorized, get(t, srv, path, token+"x").status)
			assert.Equal(t, http.StatusOK, get(t, srv, path, token).status)
		})
	}
	// A bad request is still a 401 first: nothing is said to a caller without the token.
	assert.Equal(t, http.StatusUnauthorized, get(t, srv, "/api/analytics/case-study?month=abc", "").status)
	assert.Equal(t, http.StatusBadRequest, get(t, srv, "/api/analytics/case-study?month=abc", token).status)

	h := get(t, srv, "/healthz", "")
	assert.Equal(t, http.StatusOK, h.status)
	assert.JSONEq(t, `{"status": "ok", "postgres": "ok"}`, h.body)
	a := get(t, srv, "/assets/echarts.min.js", "")
	assert.Equal(t, http.StatusOK, a.status)
	assert.Contains(t, a.header.Get("Content-Type"), "javascript")
	assert.Greater(t, len(a.body), 500_000)
}

func TestPostgresDown(t *testing.T) {
	t.Parallel()
	// Nothing listens on port 1: every read fails to connect.
	srv := newTestServer(t, "postgres://postgres@127.0.0.1:1/test?sslmode=disable", "")
	for _, path := range []string{
		"/healthz",
		"/api/analytics/case-study?month=2025-11", "/api/analytics/summary?month=2025-11",
		"/api/analytics/agents?month=2025-11", "/api/analytics/tickets?month=2025-11",
		"/api/analytics/daily?from=2025-11-01&to=2025-11-02", "/api/analytics/live?date=2025-11-15",
		"/report?month=2025-11",
	} {
		t.Run(path, func(t *testing.T) {
			r := get(t, srv, path, "")
			require.Equal(t, http.StatusServiceUnavailable, r.status, r.body)
			var body map[string]string
			require.NoError(t, json.Unmarshal([]byte(r.body), &body))
			assert.True(t, strings.HasPrefix(body["error"], "postgres unavailable: "), body["error"])
			assert.NotContains(t, body["error"], "127.0.0.1", "the answer must not show where PostgreSQL is")
			assert.Equal(t, "nosniff", r.header.Get("X-Content-Type-Options"))
		})
	}
	// Bad input is still a 400, not a 503: it is checked before any query.
	assert.Equal(t, http.StatusBadRequest, get(t, srv, "/api/analytics/case-study?month=2025-13", "").status)
}

// TestMethodNotAllowed: another method than GET on an endpoint is a 405
// with Allow (an unknown path stays a 404), and every answer says nosniff.
func TestMethodNotAllowed(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, "postgres://postgres@127.0.0.1:1/test?sslmode=disable", "")
	for _, path := range []string{"/healthz", "/api/analytics/summary", "/api/analytics/daily", "/api/analytics/live", "/report", "/assets/echarts.min.js", "/nope"} {
		for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodOptions} {
			req, err := http.NewRequest(method, srv.URL+path, http.NoBody)
			require.NoError(t, err)
			resp, err := srv.Client().Do(req)
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			if path == "/nope" {
				assert.Equal(t, http.StatusNotFound, resp.StatusCode, method+" "+path)
			} else {
				assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, method+" "+path)
				assert.Equal(t, "GET, HEAD", resp.Header.Get("Allow"), method+" "+path)
			}
			assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"), method+" "+path)
		}
	}
}

func TestReportHTML(t *testing.T) {
	t.Parallel()
	srv := fixtureServer(t, "")
	r := get(t, srv, "/report?month=2025-11", "")
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Equal(t, "text/html; charset=utf-8", r.header.Get("Content-Type"))
	for _, want := range []string{
		"客服运营月报", "2025年11月", novemberStoryZH, `src="assets/echarts.min.js"`,
		`id="chart-sessions"`, `id="chart-agents"`, `id="chart-tickets"`,
		`<span class="value">58.3%</span>`, `<span class="value">¥8,642</span>`, `<span class="value">4.3小时</span>`,
		`<tr data-agent="a1"><td>a1</td><td>2</td><td>31秒</td><td>8.5分钟</td><td>3</td><td>1</td><td>9小时</td><td>2</td></tr>`,
	} {
		assert.Contains(t, r.body, want)
	}
	assert.NotContains(t, r.body, "http://")
	assert.NotContains(t, r.body, "https://")

	en := get(t, srv, "/report?month=2025-11&lang=en", "")
	require.Equal(t, http.StatusOK, en.status)
	assert.Contains(t, en.body, "Customer service monthly report")
	assert.Contains(t, en.body, "November 2025")
	assert.Contains(t, en.body, `<span class="value">CNY 8,642</span>`)
}

// TestStoreMatchesFixture checks that the exporter's writer counts the
// fixture into exactly the rollup rows the hand-written loader derives from
// the catalog (measure, flag, business day in Shanghai, agent rows).
func TestStoreMatchesFixture(t *testing.T) {
	t.Parallel()
	events := readFixture(t, "testdata/events.yaml")
	viaStore, _ := testdb.Migrated(t)
	loadEventsThroughStore(t, viaStore, events, shanghai)
	viaSQL, _ := testdb.Migrated(t)
	loadEvents(t, viaSQL, events, shanghai)
	const q = `SELECT business_date::text, '' AS agent, event_name, events, measure_count, measure_sum_micro, flag_true FROM analytics_daily_rollup
		UNION ALL SELECT business_date::text, agent_id, event_name, events, measure_count, measure_sum_micro, flag_true FROM analytics_agent_daily_rollup
		ORDER BY 1, 2, 3`
	read := func(dsn string) []string {
		conn, err := pgx.Connect(context.Background(), dsn)
		require.NoError(t, err)
		defer func() { assert.NoError(t, conn.Close(context.Background())) }()
		rows, err := conn.Query(context.Background(), q)
		require.NoError(t, err)
		out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
			v, err := r.Values()
			return fmt.Sprint(v...), err
		})
		require.NoError(t, err)
		return out
	}
	want := read(viaSQL)
	require.Len(t, want, 50) // 31 all-agents rows, 19 per-agent rows
	assert.Equal(t, want, read(viaStore))
}

// TestSumsBeyond64Bits: a month whose measure sums leave 64 bits (days of a
// custom catalog's measure at catalog.MaxMeasure) still answers 200 with the
// exact average: the rollups keep sums as numeric, the stats read them into
// a 128-bit counters.Sum.
func TestSumsBeyond64Bits(t *testing.T) {
	t.Parallel()
	dsn, _ := testdb.Migrated(t)
	pool, err := pgxpool.New(context.Background(), dsn)
	require.NoError(t, err)
	defer pool.Close()
	// Two days of 4 session.message each, 8e18 + 9e18 millionths: the
	// month's sum, 1.7e19, is past int64 (9.22e18).
	_, err = pool.Exec(context.Background(), `INSERT INTO analytics_daily_rollup
		(business_date, event_name, events, measure_count, measure_sum_micro) VALUES
		('2025-10-10', 'session.message', 4, 4, 8000000000000000000),
		('2025-10-11', 'session.message', 4, 4, 9000000000000000000),
		('2025-10-10', 'session.start', 3, 0, 0)`)
	require.NoError(t, err)
	srv := newTestServer(t, dsn, "")
	r := get(t, srv, "/api/analytics/summary?month=2025-10&lang=en", "")
	require.Equal(t, http.StatusOK, r.status, r.body)
	// 1.7e19 millionths over 8 messages: 2,125,000,000,000 ms.
	assert.Contains(t, r.body, `"avg_response_time":{"value":2125000000000,"unit":"ms"`)
	for _, path := range []string{"/api/analytics/case-study?month=2025-10", "/api/analytics/agents?month=2025-10", "/report?month=2025-10"} {
		assert.Equal(t, http.StatusOK, get(t, srv, path, "").status, path)
	}
}
