package analyticsexporter

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-analytics/otelcol-analytics/internal/loadgen"
	"github.com/otelcol-analytics/otelcol-analytics/internal/normalize"
	"github.com/otelcol-analytics/otelcol-analytics/internal/testdb"
)

// benchEvents is the number of events each benchmark writes: 1M, or
// ANALYTICS_BENCH_EVENTS.
func benchEvents(b *testing.B) int {
	n := 1_000_000
	if v := os.Getenv("ANALYTICS_BENCH_EVENTS"); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		require.NoError(b, err)
	}
	return n
}

// benchLogs builds n normalised events in requests of per records, a mix of
// the catalog's events (agents, measures, flags, unknown attributes) over
// December 2025, as the OTLP receiver and the processor would hand them on.
func benchLogs(b *testing.B, prefix string, n, per int) []plog.Logs {
	b.Helper()
	norm := normalize.New(nil, normalize.Limits{})
	now := time.Now()
	base := at("2025-11-30T16:00:00Z")
	var out []plog.Logs
	for start := 0; start < n; start += per {
		ld := plog.NewLogs()
		bot := ld.ResourceLogs().AppendEmpty()
		bot.Resource().Attributes().PutStr("service.name", "ai_chatbot")
		bot.Resource().Attributes().PutStr("host.name", "bot-1")
		botRecs := bot.ScopeLogs().AppendEmpty().LogRecords()
		wb := ld.ResourceLogs().AppendEmpty()
		wb.Resource().Attributes().PutStr("service.name", "agent_workbench")
		wbRecs := wb.ScopeLogs().AppendEmpty().LogRecords()
		for i := start; i < min(start+per, n); i++ {
			var lr plog.LogRecord
			var res pcommon.Resource
			agent := "agent-" + strconv.Itoa(i%50)
			session := "sess-" + strconv.Itoa(i/7)
			switch i % 5 {
			case 0:
				lr, res = botRecs.AppendEmpty(), bot.Resource()
				lr.SetEventName("session.start")
				lr.Attributes().PutStr("session_id", session)
				lr.Attributes().PutStr("customer_id", "cust-"+strconv.Itoa(i%9973))
				lr.Attributes().PutStr("channel", "web")
			case 1:
				lr, res = botRecs.AppendEmpty(), bot.Resource()
				lr.SetEventName("session.message")
				lr.Attributes().PutStr("session_id", session)
				lr.Attributes().PutDouble("response_time_ms", float64(i%3000)+0.5)
			case 2:
				lr, res = wbRecs.AppendEmpty(), wb.Resource()
				lr.SetEventName("agent.session_takeover")
				lr.Attributes().PutStr("agent_id", agent)
				lr.Attributes().PutStr("session_id", session)
				lr.Attributes().PutDouble("wait_duration_seconds", float64(i%120))
			case 3:
				lr, res = wbRecs.AppendEmpty(), wb.Resource()
				lr.SetEventName("ticket.closed")
				lr.Attributes().PutStr("ticket_id", "t-"+strconv.Itoa(i))
				lr.Attributes().PutStr("agent_id", agent)
				lr.Attributes().PutDouble("resolution_duration_hours", float64(i%48)/2)
				lr.Attributes().PutBool("sla_met", i%3 != 0)
				lr.Attributes().PutStr("priority", "high")
			default:
				lr, res = botRecs.AppendEmpty(), bot.Resource()
				lr.SetEventName("query.order")
				lr.Attributes().PutStr("session_id", session)
				lr.Attributes().PutStr("order_id", "o-"+strconv.Itoa(i))
				lr.Attributes().PutBool("success", i%4 != 0)
			}
			lr.Attributes().PutStr("event.id", prefix+strconv.Itoa(i))
			lr.SetTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Duration(i%(31*86400)) * time.Second)))
			var tid pcommon.TraceID
			tid[0], tid[15] = byte(i), byte(i>>8)
			lr.SetTraceID(tid)
			if r := norm.Record(res, pcommon.NewInstrumentationScope(), lr, now); r.Outcome != normalize.Accepted {
				b.Fatalf("record %d not accepted", i)
			}
		}
		out = append(out, ld)
	}
	return out
}

// BenchmarkExporter1M writes 1M events (ANALYTICS_BENCH_EVENTS) through the
// real exporter (queue and batching of the helper, defaults: batches of
// 5000, 4 consumers) into a fresh schema, and beside it raw pgx CopyFrom of
// the same rows straight into analytics_events of another fresh schema.
// Both report events/s. Run with -benchtime=1x (see BENCHMARKS.md).
func BenchmarkExporter1M(b *testing.B) {
	n := benchEvents(b)

	b.Run("exporter", func(b *testing.B) {
		ctx := context.Background()
		dsn, _ := testdb.Migrated(b)
		_, prefix := testdb.RedisPrefix(b)
		cfg := createDefaultConfig().(*Config)
		cfg.Postgres.DSN = configopaque.String(dsn)
		cfg.Redis.Addr = testdb.RedisAddr()
		cfg.Redis.KeyPrefix = prefix
		// No daily expiry: the default daily_ttl (400 days after the day, by
		// the real clock) would retire December 2025 and leave its days out
		// of Redis, so the benchmark would measure less work.
		cfg.Redis.DailyTTL = 0
		cfg.QueueConfig.Get().BlockOnOverflow = true
		if v := os.Getenv("ANALYTICS_BENCH_CONSUMERS"); v != "" {
			c, _ := strconv.Atoi(v)
			cfg.QueueConfig.Get().NumConsumers = c
		}
		if v := os.Getenv("ANALYTICS_BENCH_BATCH"); v != "" {
			c, _ := strconv.Atoi(v)
			cfg.QueueConfig.Get().Batch.Get().MinSize = int64(c)
			cfg.QueueConfig.Get().Batch.Get().MaxSize = int64(c)
		}
		cfg.QueueConfig.Get().Batch.Get().FlushTimeout = 100 * time.Millisecond
		tel := componenttest.NewTelemetry()
		defer func() { _ = tel.Shutdown(ctx) }()
		set := exportertest.NewNopSettings(Type)
		set.TelemetrySettings = tel.NewTelemetrySettings()
		exp, err := createLogs(ctx, set, cfg)
		require.NoError(b, err)
		require.NoError(b, exp.Start(ctx, componenttest.NewNopHost()))
		h := &harness{tel: tel}
		var total time.Duration
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			reqs := benchLogs(b, fmt.Sprintf("run%d-", i), n, 1000)
			want := int64((i + 1) * n)
			b.StartTimer()
			began := time.Now()
			for _, ld := range reqs {
				require.NoError(b, exp.ConsumeLogs(ctx, ld))
			}
			for h.sumMetric(nil, metricEventsWritten)[""] < want {
				time.Sleep(5 * time.Millisecond)
			}
			total += time.Since(began)
		}
		b.StopTimer()
		require.NoError(b, exp.Shutdown(ctx))
		b.ReportMetric(float64(b.N*n)/total.Seconds(), "events/s")
	})

	rawCopy := func(b *testing.B, batched bool) {
		ctx := context.Background()
		dsn, _ := testdb.Migrated(b)
		pool, err := pgxpool.New(ctx, dsn)
		require.NoError(b, err)
		defer pool.Close()
		for _, m := range []string{"2025-11-01", "2025-12-01", "2026-01-01"} {
			_, err := pool.Exec(ctx, `SELECT analytics_ensure_partition($1::date)`, m)
			require.NoError(b, err)
		}
		var total time.Duration
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			rows := copyRows(b, benchLogs(b, fmt.Sprintf("raw%d-", i), n, 5000))
			b.StartTimer()
			began := time.Now()
			if batched {
				// One COPY (and commit) per 5000 rows, as the exporter's batches.
				for start := 0; start < len(rows); start += 5000 {
					chunk := rows[start:min(start+5000, len(rows))]
					copied, err := pool.CopyFrom(ctx, pgx.Identifier{"analytics_events"}, loadgen.RawEventColumns, pgx.CopyFromRows(chunk))
					require.NoError(b, err)
					require.Equal(b, int64(len(chunk)), copied)
				}
			} else {
				copied, err := pool.CopyFrom(ctx, pgx.Identifier{"analytics_events"}, loadgen.RawEventColumns, pgx.CopyFromRows(rows))
				require.NoError(b, err)
				require.Equal(b, int64(n), copied)
			}
			total += time.Since(began)
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N*n)/total.Seconds(), "events/s")
	}
	b.Run("raw_copy", func(b *testing.B) { rawCopy(b, false) })
	b.Run("raw_copy_batches_of_5000", func(b *testing.B) { rawCopy(b, true) })
}

// copyRows turns the normalised records into analytics_events rows the way
// the store does (loadgen.RawRow: same columns, same JSON), outside the
// timed section.
func copyRows(b *testing.B, reqs []plog.Logs) [][]any {
	b.Helper()
	loc, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(b, err)
	var rows [][]any
	for _, ld := range reqs {
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			rl := ld.ResourceLogs().At(i)
			lrs := rl.ScopeLogs().At(0).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				rows = append(rows, loadgen.RawRow(rl.Resource(), lrs.At(k), loc))
			}
		}
	}
	return rows
}
