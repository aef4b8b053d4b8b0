package stats

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-analytics/otelcol-analytics/internal/testdb"
)

// benchRollups fills the rollups with two years (2024-01-01 … 2025-12-31,
// 731 days) of a busy service: 17,230 events a day, 12,595,130 events in
// all, the agent events spread over 50 agents. The numbers per day:
//
//	session.start 4000, session.message 5000 (1.5 s each), session.escalate 600,
//	session.end 3800, query.order 200, query.tracking 100,
//	agent.session_takeover 600 (30 s), agent.session_release 600 (8 min),
//	agent.session_message 1800, agent.session_transfer 50, agent.login 50,
//	agent.logout 50 (8 h), ticket.created 200, ticket.closed 180 (4 h, 90% SLA)
const benchRollups = `
WITH ev(name, n, agent, measure_micro, flag_pct) AS (VALUES
    ('session.start',           4000, false, 0::bigint,       0),
    ('session.message',         5000, false, 1500000000,      0),
    ('session.escalate',         600, false, 0,               0),
    ('session.end',             3800, false, 0,               0),
    ('query.order',              200, false, 0,               0),
    ('query.tracking',           100, false, 0,               0),
    ('agent.session_takeover',   600, true,  30000000,        0),
    ('agent.session_release',    600, true,  480000000,       0),
    ('agent.session_message',   1800, true,  0,               0),
    ('agent.session_transfer',    50, true,  0,               0),
    ('agent.login',               50, true,  0,               0),
    ('agent.logout',              50, true,  28800000000,     0),
    ('ticket.created',           200, false, 0,               0),
    ('ticket.closed',            180, true,  14400000000,    90)),
days AS (SELECT d::date AS d FROM generate_series('2024-01-01'::date, '2025-12-31'::date, interval '1 day') d),
daily AS (
    INSERT INTO analytics_daily_rollup (business_date, event_name, events, measure_count, measure_sum_micro, flag_true)
    SELECT d, name, n, CASE WHEN measure_micro > 0 THEN n ELSE 0 END, n * measure_micro, n * flag_pct / 100
    FROM days CROSS JOIN ev
    RETURNING events)
INSERT INTO analytics_agent_daily_rollup (business_date, agent_id, event_name, events, measure_count, measure_sum_micro, flag_true)
SELECT d, 'agent-' || lpad(a::text, 2, '0'), name, n / 50, CASE WHEN measure_micro > 0 THEN n / 50 ELSE 0 END,
       n / 50 * measure_micro, n / 50 * flag_pct / 100
FROM days CROSS JOIN ev CROSS JOIN generate_series(1, 50) a
WHERE agent`

// benchRejected adds 20,000 rejected records spread over the two years.
const benchRejected = `
INSERT INTO analytics_rejected_events (received_at, reason, event_name, event_id, event_time, raw)
SELECT t, 'missing_attribute', 'session.start', 'rej-' || i, t, '\x7b7d'
FROM (SELECT i, '2024-01-01 00:00+08'::timestamptz + (i * interval '52 minutes') AS t FROM generate_series(1, 20000) i) s`

// benchRawEvents puts 10,000,000 raw rows into analytics_events (which the
// stats service never reads), spread over the two years. Only with
// ANALYTICS_BENCH_10M=1: it takes minutes.
const benchRawEvents = `
INSERT INTO analytics_events (event_id, event_name, product, event_time, business_date, session_id, attributes)
SELECT 'ev-' || i, 'session.start', 'ai_chatbot', t, (t AT TIME ZONE 'Asia/Shanghai')::date, 's-' || i, '{}'::jsonb
FROM (SELECT i, '2023-12-31 16:00:00+00'::timestamptz + (i * interval '6307 milliseconds') AS t
      FROM generate_series(1, 10000000) i) s`

func loadBenchData(b *testing.B, dsn string) {
	b.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(b, err)
	defer func() { assert.NoError(b, conn.Close(ctx)) }()
	_, err = conn.Exec(ctx, benchRollups)
	require.NoError(b, err)
	_, err = conn.Exec(ctx, benchRejected)
	require.NoError(b, err)
	if os.Getenv("ANALYTICS_BENCH_10M") == "1" {
		_, err = conn.Exec(ctx, `SELECT analytics_ensure_partition(d::date)
			FROM generate_series('2024-01-01'::date, '2025-12-01'::date, interval '1 month') d`)
		require.NoError(b, err)
		start := time.Now()
		_, err = conn.Exec(ctx, benchRawEvents)
		require.NoError(b, err)
		b.Logf("loaded 10,000,000 raw events in %s", time.Since(start).Round(time.Second))
	}
	_, err = conn.Exec(ctx, `ANALYZE`)
	require.NoError(b, err)
	var events int64
	require.NoError(b, conn.QueryRow(ctx, `SELECT sum(events) FROM analytics_daily_rollup`).Scan(&events))
	require.Equal(b, int64(17230*731), events)
}

// BenchmarkCaseStudy measures GET /api/analytics/case-study over HTTP
// (httptest server, real PostgreSQL) with 12.6M events' worth of rollups
// and 20,000 rejected records in the tables (plus 10M raw events with
// ANALYTICS_BENCH_10M=1). It reports the p50 and p99 latency; the target
// is p99 ≤ 10 ms.
func BenchmarkCaseStudy(b *testing.B) {
	dsn, _ := testdb.Migrated(b)
	loadBenchData(b, dsn)
	srv := newTestServer(b, dsn, "bench-token")

	// One answer checked: June 2025 has 30 days × 4,000 starts.
	var cs CaseStudy
	r := get(b, srv, "/api/analytics/case-study?month=2025-06", "bench-token")
	require.Equal(b, http.StatusOK, r.status, r.body)
	require.NoError(b, json.Unmarshal([]byte(r.body), &cs))
	require.Equal(b, int64(120000), cs.AIChatbot.TotalCustomersServed)
	require.Equal(b, "85.0%", cs.AIChatbot.AIResolutionRate) // (4000 − 600) / 4000
	require.Equal(b, int64(18000), cs.AgentWorkbench.SessionsHandled)
	require.Equal(b, "90.0%", cs.Tickets.SLAMetRate)

	req, err := http.NewRequest(http.MethodGet, srv.URL+"/api/analytics/case-study?month=2025-06&lang=zh", http.NoBody)
	require.NoError(b, err)
	req.Header.Set("Authorization", "Bearer bench-token")
	client := srv.Client()
	lat := make([]time.Duration, 0, 4096)
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var body CaseStudy
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			b.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		i := int(float64(len(lat)-1) * p)
		return float64(lat[i].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(17230*731), "events")
}
