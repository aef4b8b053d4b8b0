package analyticsexporter

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/exporter"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
	"github.com/otelcol-analytics/otelcol-analytics/internal/store"
	"github.com/otelcol-analytics/otelcol-analytics/internal/testdb"
	"github.com/otelcol-analytics/otelcol-analytics/migrations"
)

// startObserved starts the exporter with a logger whose entries the test
// reads, on host (nil: a host without extensions).
func (h *harness) startObserved(t *testing.T, host component.Host, adjust func(*analyticsExporter)) (exporter.Logs, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	set := h.settings()
	set.Logger = zap.New(core)
	exp, err := createLogsWith(context.Background(), set, h.cfg, adjust)
	require.NoError(t, err)
	if host == nil {
		host = componenttest.NewNopHost()
	}
	require.NoError(t, exp.Start(context.Background(), host))
	return exp, logs
}

// warnings returns the messages logged at warning level or above.
func warnings(logs *observer.ObservedLogs) []string {
	var out []string
	for _, e := range logs.FilterLevelExact(zapcore.WarnLevel).All() {
		out = append(out, e.Message)
	}
	for _, e := range logs.FilterLevelExact(zapcore.ErrorLevel).All() {
		out = append(out, e.Message)
	}
	return out
}

// TestStartWithRedisDown: Redis is unreachable when the exporter starts (a
// proxy in front of the real Redis, not listening). Start succeeds with one
// warning naming the address; events are stored in PostgreSQL, exactly, and
// their counts wait in the outbox with no log line per batch; when Redis
// answers, its eviction policy is checked (once) and the outbox is applied,
// so Redis equals PostgreSQL.
func TestStartWithRedisDown(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		warning string
		err     error
		level   zapcore.Level
	}{
		{"policy warns", "maxmemory-policy volatile-lru: test warning", nil, zapcore.WarnLevel},
		{"policy refused", "", errors.New("maxmemory-policy allkeys-lru: test refusal"), zapcore.ErrorLevel},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, true)
			proxy := testdb.StartProxy(t, testdb.RedisAddr())
			proxy.Close()
			h.cfg.Redis.Addr = proxy.Addr
			var checks, sweeps atomic.Int32
			exp, logs := h.startObserved(t, nil, func(e *analyticsExporter) {
				e.checkEviction = func(context.Context, redis.UniversalClient) (string, error) {
					checks.Add(1)
					return tc.warning, tc.err
				}
				e.maintEvery = 50 * time.Millisecond
				e.sweepClaims = func(*store.Store, context.Context) (int, error) { sweeps.Add(1); return 0, nil }
			})
			ctx := context.Background()

			started := logs.FilterMessageSnippet("Redis does not answer").All()
			require.Len(t, started, 1)
			assert.Equal(t, zapcore.WarnLevel, started[0].Level)
			assert.Equal(t, proxy.Addr, started[0].ContextMap()["redis"])
			assert.Contains(t, started[0].Message, "counts wait in the PostgreSQL outbox")
			assert.Equal(t, int32(0), checks.Load(), "no policy to check before Redis answers")

			first := messages("r0-", 200, "2025-12-20")
			require.NoError(t, exp.ConsumeLogs(ctx, normalisedLogs(t, first...)))
			h.waitCount(t, `SELECT count(*) FROM analytics_events`, 200)
			h.waitCount(t, `SELECT count(*) FROM analytics_redis_outbox`, 1)
			afterFirst := len(warnings(logs))
			for i := range 3 {
				require.NoError(t, exp.ConsumeLogs(ctx, normalisedLogs(t, messages(fmt.Sprintf("r%d-", i+1), 100, "2025-12-21")...)))
				h.waitCount(t, `SELECT count(*) FROM analytics_redis_outbox`, 2+i)
			}
			require.NoError(t, exp.ConsumeLogs(ctx, normalisedLogs(t, first...)), "a resend")
			h.waitCount(t, `SELECT count(*) FROM analytics_events`, 500)
			time.Sleep(3 * h.cfg.OutboxInterval) // a few outbox ticks against the dead address

			want := []counters.Row{
				row("2025-12-20", "", "session.message", 200, 200, 199*200/2*1_000_000, 0),
				row("2025-12-21", "", "session.message", 300, 300, 3*99*100/2*1_000_000, 0),
			}
			assert.Equal(t, want, h.rollups(t), "PostgreSQL is exact while Redis is away")
			assert.Equal(t, 4, h.count(t, `SELECT count(*) FROM analytics_redis_outbox`), "one pending row per committed batch, none for the resend")
			assert.Empty(t, h.redisDays(t, "2025-12-20", "2025-12-21"))
			assert.Len(t, warnings(logs), afterFirst, "no log line per batch or per outbox tick while Redis is down: %v", warnings(logs))
			assert.Equal(t, 1, afterFirst, "one warning for the outage, start's: %v", warnings(logs))
			assert.Equal(t, int32(0), checks.Load())
			assert.Equal(t, int32(0), sweeps.Load(), "no claim sweep before Redis answers")

			proxy.Open()
			h.waitCount(t, `SELECT count(*) FROM analytics_redis_outbox`, 0)
			require.Eventually(t, func() bool { return sweeps.Load() > 0 }, 10*time.Second, 10*time.Millisecond, "the maintenance sweeps claims")
			require.NoError(t, exp.Shutdown(ctx))
			assert.Equal(t, want, h.redisDays(t, "2025-12-20", "2025-12-21"), "Redis equals PostgreSQL")
			assert.Equal(t, int32(1), checks.Load(), "the eviction policy is checked on the first answer, once")
			msg := tc.warning
			if tc.err != nil {
				msg = "Redis answers but is not configured as it should be"
			}
			got := logs.FilterMessageSnippet(msg).All()
			require.Len(t, got, 1, "%v", warnings(logs))
			assert.Equal(t, tc.level, got[0].Level)
			assert.Equal(t, map[string]int64{"": 500}, h.sumMetric(t, metricEventsWritten))
		})
	}
}

// TestStartWithPostgresDown: PostgreSQL is unreachable when the exporter
// starts (a proxy in front of it, not listening), on an empty schema with
// migrate: true and a persistent queue. Start succeeds with a warning; the
// queue accepts every batch and the writes are retried; when PostgreSQL
// answers, the migrations and partitions run first and every event is
// stored once, with Redis equal to PostgreSQL.
func TestStartWithPostgresDown(t *testing.T) {
	t.Parallel()
	h := newHarness(t, false) // empty schema, migrate: true
	ref, _ := testdb.Migrated(t)
	wantVersion, _, err := migrations.Version(ref)
	require.NoError(t, err)
	u, err := url.Parse(string(h.cfg.Postgres.DSN))
	require.NoError(t, err)
	proxy := testdb.StartProxy(t, u.Host)
	proxy.Close()
	u.Host = proxy.Addr
	h.cfg.Postgres.DSN = configopaque.String(u.String())
	id, host := startFileStorage(t)
	h.cfg.QueueConfig.Get().StorageID = &id
	var sweeps atomic.Int32
	exp, logs := h.startObserved(t, host, func(e *analyticsExporter) {
		e.maintEvery = 50 * time.Millisecond
		e.sweepClaims = func(*store.Store, context.Context) (int, error) { sweeps.Add(1); return 0, nil }
	})
	ctx := context.Background()

	started := logs.FilterMessageSnippet("PostgreSQL does not answer").All()
	require.Len(t, started, 1)
	assert.Equal(t, zapcore.WarnLevel, started[0].Level)
	assert.Equal(t, proxy.Addr+u.Path, started[0].ContextMap()["postgres"])
	tables := `SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()`
	assert.Equal(t, 0, h.count(t, tables), "nothing migrated yet")

	first := messages("p0-", 300, "2025-12-22")
	require.NoError(t, exp.ConsumeLogs(ctx, normalisedLogs(t, first...)), "the queue takes the data while PostgreSQL is away")
	require.NoError(t, exp.ConsumeLogs(ctx, normalisedLogs(t, messages("p1-", 200, "2025-12-23")...)))
	require.NoError(t, exp.ConsumeLogs(ctx, normalisedLogs(t, first...)), "a resend")
	require.Eventually(t, func() bool { return h.sumMetric(t, metricBatchesFailed)[""] >= 3 }, 30*time.Second, 20*time.Millisecond,
		"pushes fail and are retried")
	time.Sleep(3 * h.cfg.OutboxInterval)
	assert.Equal(t, 0, h.count(t, tables))
	assert.Equal(t, int32(0), sweeps.Load(), "no maintenance before PostgreSQL answers")
	assert.Equal(t, []string{started[0].Message}, warnings(logs), "one warning, none per batch or retry")

	proxy.Open()
	require.Eventually(t, func() bool { return logs.FilterMessageSnippet("PostgreSQL answers").Len() > 0 }, 30*time.Second, 10*time.Millisecond,
		"schema and partitions ready")
	h.waitCount(t, `SELECT count(*) FROM analytics_events`, 500)
	h.waitCount(t, `SELECT count(*) FROM analytics_redis_outbox`, 0)
	require.Eventually(t, func() bool { return sweeps.Load() > 0 }, 10*time.Second, 10*time.Millisecond, "the maintenance sweeps claims")
	time.Sleep(200 * time.Millisecond) // let the queue's retries of the resend find everything stored
	require.NoError(t, exp.Shutdown(ctx))

	version, dirty, err := migrations.Version(string(h.cfg.Postgres.DSN))
	require.NoError(t, err)
	assert.False(t, dirty)
	assert.Equal(t, wantVersion, version, "migrations applied on first contact")
	y, m, _ := time.Now().In(time.FixedZone("CST", 8*3600)).Date() // Asia/Shanghai
	for ahead := range 3 {
		name := "analytics_events_" + time.Date(y, m+time.Month(ahead), 1, 0, 0, 0, 0, time.UTC).Format("2006_01")
		assert.Equal(t, 1, h.count(t, `SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = '`+name+`'`),
			"partition %s created ahead", name)
	}
	want := []counters.Row{
		row("2025-12-22", "", "session.message", 300, 300, 299*300/2*1_000_000, 0),
		row("2025-12-23", "", "session.message", 200, 200, 199*200/2*1_000_000, 0),
	}
	assert.Equal(t, want, h.rollups(t), "every event once")
	assert.Equal(t, want, h.redisDays(t, "2025-12-22", "2025-12-23"))
	assert.Equal(t, 500, h.count(t, `SELECT count(*) FROM analytics_event_ids`))
	assert.Equal(t, map[string]int64{"": 500}, h.sumMetric(t, metricEventsWritten))
	assert.Len(t, logs.FilterMessageSnippet("PostgreSQL answers").All(), 1)
}

// TestPostgresBackWithoutSchema: PostgreSQL is down at start with migrate:
// false; when it answers, the schema turns out to be missing. The batches
// stay queued (retried, never dropped) and the problem is logged once, not
// per retry.
func TestPostgresBackWithoutSchema(t *testing.T) {
	t.Parallel()
	h := newHarness(t, false)
	h.cfg.Migrate = false
	u, err := url.Parse(string(h.cfg.Postgres.DSN))
	require.NoError(t, err)
	proxy := testdb.StartProxy(t, u.Host)
	proxy.Close()
	u.Host = proxy.Addr
	h.cfg.Postgres.DSN = configopaque.String(u.String())
	exp, logs := h.startObserved(t, nil, nil)
	ctx := context.Background()
	require.NoError(t, exp.ConsumeLogs(ctx, normalisedLogs(t, messages("s", 10, "2025-12-24")...)))
	proxy.Open()
	require.Eventually(t, func() bool { return h.sumMetric(t, metricBatchesFailed)[""] >= 5 }, 30*time.Second, 20*time.Millisecond)
	notReady := logs.FilterMessageSnippet("PostgreSQL answers but is not ready").All()
	require.Len(t, notReady, 1, "%v", warnings(logs))
	assert.Contains(t, notReady[0].ContextMap()["error"], "migrate: true")

	// The operator migrates; the queued batch lands.
	require.NoError(t, migrations.Up(string(h.cfg.Postgres.DSN)))
	h.waitCount(t, `SELECT count(*) FROM analytics_events`, 10)
	require.NoError(t, exp.Shutdown(ctx))
	assert.Len(t, logs.FilterMessageSnippet("PostgreSQL answers but is not ready").All(), 1)
}

// TestEvictionCheckLosesRedis: Redis goes away between the ping and the
// eviction-policy check at start. That is an outage, not a refused policy:
// Start succeeds, and the policy is checked again when Redis answers.
func TestEvictionCheckLosesRedis(t *testing.T) {
	t.Parallel()
	h := newHarness(t, true)
	proxy := testdb.StartProxy(t, testdb.RedisAddr())
	h.cfg.Redis.Addr = proxy.Addr
	var checks atomic.Int32
	exp, logs := h.startObserved(t, nil, func(e *analyticsExporter) {
		e.checkEviction = func(context.Context, redis.UniversalClient) (string, error) {
			if checks.Add(1) == 1 {
				proxy.Close()
				return "", errors.New("counters: read Redis maxmemory-policy: connection reset")
			}
			return "", nil
		}
	})
	require.Len(t, logs.FilterMessageSnippet("Redis does not answer").All(), 1)
	proxy.Open()
	require.Eventually(t, func() bool { return checks.Load() == 2 }, 30*time.Second, 10*time.Millisecond)
	require.NoError(t, exp.Shutdown(context.Background()))
	assert.Equal(t, int32(2), checks.Load())
	assert.Empty(t, logs.FilterLevelExact(zapcore.ErrorLevel).All())
}
