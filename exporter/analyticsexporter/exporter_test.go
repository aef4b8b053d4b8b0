package analyticsexporter

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
	"github.com/otelcol-analytics/otelcol-analytics/internal/normalize"
	"github.com/otelcol-analytics/otelcol-analytics/internal/store"
	"github.com/otelcol-analytics/otelcol-analytics/internal/testdb"
)

// ev is one business event as a product sends it.
type ev struct {
	name, product, id string
	at                time.Time
	attrs             map[string]any
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// normalisedLogs builds the records and runs the eventcatalog processor's
// normaliser over them, as the pipeline does before this exporter.
func normalisedLogs(t testing.TB, evs ...ev) plog.Logs {
	t.Helper()
	ld := plog.NewLogs()
	n := normalize.New(nil, normalize.Limits{})
	byProduct := map[string]plog.ResourceLogs{}
	for _, e := range evs {
		rl, ok := byProduct[e.product]
		if !ok {
			rl = ld.ResourceLogs().AppendEmpty()
			rl.Resource().Attributes().PutStr("service.name", e.product)
			rl.ScopeLogs().AppendEmpty()
			byProduct[e.product] = rl
		}
		lr := rl.ScopeLogs().At(0).LogRecords().AppendEmpty()
		lr.SetEventName(e.name)
		lr.SetTimestamp(pcommon.NewTimestampFromTime(e.at))
		require.NoError(t, lr.Attributes().FromRaw(e.attrs))
		lr.Attributes().PutStr("event.id", e.id)
		n.Record(rl.Resource(), rl.ScopeLogs().At(0).Scope(), lr, time.Now())
	}
	return ld
}

// messages returns n session.message events on day (Shanghai), ids
// prefix0000.., response_time_ms = index.
func messages(prefix string, n int, day string) []ev {
	out := make([]ev, n)
	for i := range out {
		out[i] = ev{
			name: "session.message", product: "ai_chatbot", id: fmt.Sprintf("%s%05d", prefix, i),
			at:    at(day + "T00:00:00Z").Add(time.Duration(i) * time.Millisecond),
			attrs: map[string]any{"session_id": "s", "response_time_ms": float64(i)},
		}
	}
	return out
}

type harness struct {
	cfg    *Config
	pool   *pgxpool.Pool
	rdb    *redis.Client
	layout counters.Layout
	tel    *componenttest.Telemetry
}

func newHarness(t *testing.T, migrated bool) *harness {
	t.Helper()
	var dsn string
	if migrated {
		dsn, _ = testdb.Migrated(t)
	} else {
		dsn, _ = testdb.Schema(t)
	}
	rdb, prefix := testdb.RedisPrefix(t)
	cfg := createDefaultConfig().(*Config)
	cfg.Postgres.DSN = configopaque.String(dsn)
	cfg.Redis.Addr = testdb.RedisAddr()
	cfg.Redis.KeyPrefix = prefix
	// No daily expiry: the tests write days of late 2025, which the default
	// daily_ttl (400 days after the day, by the real clock) would retire.
	cfg.Redis.DailyTTL = 0
	cfg.Migrate = !migrated
	cfg.OutboxInterval = 100 * time.Millisecond
	cfg.RetryConfig.InitialInterval = 50 * time.Millisecond
	cfg.RetryConfig.MaxInterval = 200 * time.Millisecond
	cfg.RetryConfig.RandomizationFactor = 0
	cfg.TimeoutConfig.Timeout = 5 * time.Second
	cfg.QueueConfig.Get().Batch.Get().FlushTimeout = 50 * time.Millisecond
	pool, err := pgxpool.New(context.Background(), dsn)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	return &harness{
		cfg: cfg, pool: pool, rdb: rdb, tel: tel,
		layout: counters.Layout{Prefix: prefix, DailyTTL: cfg.Redis.DailyTTL, ClaimTTL: cfg.Redis.ClaimTTL},
	}
}

// settings are exporter settings whose telemetry the harness reads.
func (h *harness) settings() exporter.Settings {
	set := exportertest.NewNopSettings(Type)
	set.TelemetrySettings = h.tel.NewTelemetrySettings()
	return set
}

func (h *harness) start(t *testing.T, adjust func(*analyticsExporter)) exporter.Logs {
	t.Helper()
	exp, err := createLogsWith(context.Background(), h.settings(), h.cfg, adjust)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	return exp
}

func (h *harness) count(t *testing.T, sql string) int {
	t.Helper()
	var n int
	require.NoError(t, h.pool.QueryRow(context.Background(), sql).Scan(&n))
	return n
}

func (h *harness) waitCount(t *testing.T, sql string, want int) {
	t.Helper()
	require.Eventually(t, func() bool { return h.count(t, sql) == want }, 60*time.Second, 20*time.Millisecond,
		"waiting for %s = %d (last %d)", sql, want, h.count(t, sql))
}

func (h *harness) rollups(t *testing.T) []counters.Row {
	t.Helper()
	// All days: the rollups of any business day ever written.
	out, err := counters.ReadRollups(context.Background(), h.pool, time.Time{}, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	return out
}

func (h *harness) redisDays(t *testing.T, days ...string) []counters.Row {
	t.Helper()
	var out []counters.Row
	for _, d := range days {
		rows, err := h.layout.ReadDay(context.Background(), h.rdb, d)
		require.NoError(t, err)
		out = append(out, rows...)
	}
	counters.SortRows(out)
	return out
}

// sumMetric returns the sum of an int counter's points, per attribute set.
func (h *harness) sumMetric(_ testing.TB, name string) map[string]int64 {
	m, err := h.tel.GetMetric(name)
	if err != nil {
		return map[string]int64{}
	}
	out := map[string]int64{}
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		key := ""
		if v, ok := dp.Attributes.Value(attribute.Key(attrReason)); ok {
			key = v.AsString()
		}
		out[key] += dp.Value
	}
	return out
}

func row(date, agent, event string, n, mc, ms, f int64) counters.Row {
	return counters.Row{
		Cell:   counters.Cell{Date: date, AgentID: agent, Event: event},
		Values: counters.Values{Events: n, MeasureCount: mc, MeasureSumMicro: counters.SumOf(ms), FlagTrue: f},
	}
}

func TestExporterWritesEachEventOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, false) // migrate: true on an empty schema
	exp := h.start(t, nil)
	ctx := context.Background()

	batch := []ev{
		{
			name: "agent.session_takeover", product: "agent_workbench", id: "k1", at: at("2025-11-30T15:59:59Z"),
			attrs: map[string]any{"agent_id": "a1", "session_id": "s1", "wait_duration_seconds": 12.5},
		},
		{
			name: "agent.session_takeover", product: "agent_workbench", id: "k2", at: at("2025-11-30T16:30:00Z"),
			attrs: map[string]any{"agent_id": "a1", "session_id": "s2", "wait_duration_seconds": 7.25},
		},
		{
			name: "ticket.closed", product: "agent_workbench", id: "k3", at: at("2025-11-30T16:30:00Z"),
			attrs: map[string]any{"ticket_id": "t1", "agent_id": "a2", "resolution_duration_hours": 3.0, "sla_met": true},
		},
		{name: "ticket.closed", product: "agent_workbench", id: "k3", at: at("2025-11-30T16:30:00Z"), // same id again
			attrs: map[string]any{"ticket_id": "t1", "agent_id": "a2", "resolution_duration_hours": 3.0, "sla_met": true}},
	}
	for range 3 {
		require.NoError(t, exp.ConsumeLogs(ctx, normalisedLogs(t, batch...)))
	}
	require.Eventually(t, func() bool {
		return h.sumMetric(t, metricEventsDuplicate)[""] == 9 // 1 in the first push, 4 in each later one
	}, 30*time.Second, 20*time.Millisecond)
	require.NoError(t, exp.Shutdown(ctx))

	want := []counters.Row{
		row("2025-11-30", "", "agent.session_takeover", 1, 1, 12_500_000, 0),
		row("2025-11-30", "a1", "agent.session_takeover", 1, 1, 12_500_000, 0),
		row("2025-12-01", "", "agent.session_takeover", 1, 1, 7_250_000, 0),
		row("2025-12-01", "", "ticket.closed", 1, 1, 3_000_000, 1),
		row("2025-12-01", "a1", "agent.session_takeover", 1, 1, 7_250_000, 0),
		row("2025-12-01", "a2", "ticket.closed", 1, 1, 3_000_000, 1),
	}
	assert.Equal(t, want, h.rollups(t))
	assert.Equal(t, want, h.redisDays(t, "2025-11-30", "2025-12-01"))
	assert.Equal(t, 3, h.count(t, `SELECT count(*) FROM analytics_events`))
	assert.Equal(t, 0, h.count(t, `SELECT count(*) FROM analytics_redis_outbox`))
	assert.Equal(t, map[string]int64{"": 3}, h.sumMetric(t, metricEventsWritten))
	assert.Equal(t, map[string]int64{"": 9}, h.sumMetric(t, metricEventsDuplicate))
}

func TestExporterSurvivesPostgresOutage(t *testing.T) {
	t.Parallel()
	h := newHarness(t, true)
	u, err := url.Parse(string(h.cfg.Postgres.DSN))
	require.NoError(t, err)
	proxy := testdb.StartProxy(t, u.Host)
	u.Host = proxy.Addr
	h.cfg.Postgres.DSN = configopaque.String(u.String())
	h.cfg.Postgres.MinConns = 0
	exp := h.start(t, nil)
	ctx := context.Background()

	require.NoError(t, exp.ConsumeLogs(ctx, normalisedLogs(t, messages("before", 300, "2025-12-10")...)))
	h.waitCount(t, `SELECT count(*) FROM analytics_events`, 300)

	proxy.Close()
	for i := range 4 {
		require.NoError(t, exp.ConsumeLogs(ctx, normalisedLogs(t, messages(fmt.Sprintf("down%d-", i), 500, "2025-12-11")...)),
			"the queue takes the data while PostgreSQL is away")
	}
	// Retries fail for a while; nothing lands.
	require.Eventually(t, func() bool { return h.sumMetric(t, metricBatchesFailed)[""] >= 3 }, 30*time.Second, 20*time.Millisecond)
	assert.Equal(t, 300, h.count(t, `SELECT count(*) FROM analytics_events`))

	proxy.Open()
	h.waitCount(t, `SELECT count(*) FROM analytics_events`, 2300)
	h.waitCount(t, `SELECT count(*) FROM analytics_redis_outbox`, 0)
	require.NoError(t, exp.Shutdown(ctx))

	// 4 × Σ(0..499) ms of response time on the 11th (Shanghai), once each.
	want := []counters.Row{
		row("2025-12-10", "", "session.message", 300, 300, 299*300/2*1_000_000, 0),
		row("2025-12-11", "", "session.message", 2000, 2000, 4*499*500/2*1_000_000, 0),
	}
	assert.Equal(t, want, h.rollups(t))
	assert.Equal(t, want, h.redisDays(t, "2025-12-10", "2025-12-11"))
	assert.Equal(t, 2300, h.count(t, `SELECT count(*) FROM analytics_event_ids`))
	assert.Equal(t, map[string]int64{"": 2300}, h.sumMetric(t, metricEventsWritten))
}

func TestExporterCrashAfterCommitIsRepaired(t *testing.T) {
	t.Parallel()
	h := newHarness(t, true)
	crashes := 0
	exp := h.start(t, func(e *analyticsExporter) {
		e.afterCommitHook = func(string) error {
			if crashes == 0 {
				crashes++
				return errors.New("simulated crash between commit and Redis")
			}
			return nil
		}
	})
	ctx := context.Background()
	require.NoError(t, exp.ConsumeLogs(ctx, normalisedLogs(t, messages("c", 100, "2025-12-12")...)))
	want := []counters.Row{row("2025-12-12", "", "session.message", 100, 100, 99*100/2*1_000_000, 0)}
	// The helper retries (all duplicates, no new deltas); the outbox loop
	// applies the crashed batch's deltas.
	require.Eventually(t, func() bool {
		return assert.ObjectsAreEqual(want, h.redisDays(t, "2025-12-12")) &&
			h.count(t, `SELECT count(*) FROM analytics_redis_outbox`) == 0 &&
			h.sumMetric(t, metricEventsDuplicate)[""] == 100 // the retry ran
	}, 30*time.Second, 20*time.Millisecond)
	require.NoError(t, exp.Shutdown(ctx))
	assert.Equal(t, 1, crashes)
	assert.Equal(t, want, h.rollups(t))
	assert.Equal(t, want, h.redisDays(t, "2025-12-12"))
	assert.Equal(t, map[string]int64{"": 100}, h.sumMetric(t, metricEventsDuplicate), "the retry found every id stored")
}

func TestExporterIsolatesBadRecords(t *testing.T) {
	t.Parallel()
	h := newHarness(t, true)
	exp := h.start(t, nil)
	ctx := context.Background()
	evs := messages("m", 1000, "2025-12-13")
	evs[10].attrs = map[string]any{"session_id": "nul\x00byte", "response_time_ms": 1.0}
	ld := normalisedLogs(t, evs...)
	// Marked accepted but holding a value PostgreSQL refuses in jsonb.
	ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(20).Attributes().PutStr("extra", "x\x00y")
	require.NoError(t, exp.ConsumeLogs(ctx, ld))
	h.waitCount(t, `SELECT count(*) FROM analytics_rejected_events`, 2)
	require.NoError(t, exp.Shutdown(ctx))

	assert.Equal(t, 998, h.count(t, `SELECT count(*) FROM analytics_events`))
	assert.Equal(t, 1, h.count(t, `SELECT count(*) FROM analytics_rejected_events WHERE reason = 'nul_byte' AND event_id = 'm00010'`))
	assert.Equal(t, 1, h.count(t, `SELECT count(*) FROM analytics_rejected_events WHERE reason = 'storage_refused' AND event_id = 'm00020'`))
	assert.Equal(t, map[string]int64{"nul_byte": 1, "storage_refused": 1}, h.sumMetric(t, metricRecordsRejected))
	assert.Equal(t, map[string]int64{"": 1}, h.sumMetric(t, metricRecordsRefused))
	assert.Equal(t, map[string]int64{"": 998}, h.sumMetric(t, metricEventsWritten))
	assert.Empty(t, h.sumMetric(t, metricBatchesFailed), "no retry")
}

// TestStartFailsFast: what an operator must fix fails Start, with a message
// naming the key. A store that does not answer is not among them (see
// TestStartWithRedisDown and TestStartWithPostgresDown): that is an outage,
// and the exporter starts and catches up.
func TestStartFailsFast(t *testing.T) {
	t.Parallel()
	base, err := url.Parse(testdb.BaseDSN())
	require.NoError(t, err)
	dsn := func(user, db string) configopaque.String {
		u := *base
		u.User = url.User(user)
		u.Path = "/" + db
		return configopaque.String(u.String())
	}
	for _, tc := range []struct {
		name   string
		adjust func(h *harness)
		hook   func(*analyticsExporter)
		want   []string
	}{
		{"bad time zone", func(h *harness) { h.cfg.Timezone = "Mars/Olympus_Mons" }, nil, []string{"timezone", "Mars/Olympus_Mons"}},
		{"bad dsn syntax", func(h *harness) { h.cfg.Postgres.DSN = "postgres://postgres@127.0.0.1:notaport/test" }, nil, []string{"postgres.dsn"}},
		{
			"unknown database", func(h *harness) { h.cfg.Postgres.DSN = dsn(base.User.Username(), "no_such_database") }, nil,
			[]string{"postgres.dsn", "/no_such_database", "3D000"},
		},
		{
			"unknown role", func(h *harness) { h.cfg.Postgres.DSN = dsn("no_such_role", base.Path[1:]) }, nil,
			[]string{"postgres.dsn", "no_such_role", "28000"},
		},
		{"schema missing", func(h *harness) { h.cfg.Migrate = false }, nil, []string{"analytics_ensure_partition", "migrate: true"}},
		{
			"redis credentials", func(h *harness) { h.cfg.Redis.Username, h.cfg.Redis.Password = "no_such_user", "x" }, nil,
			[]string{"redis.username", "Redis at " + testdb.RedisAddr(), "WRONGPASS"},
		},
		{"redis db", func(h *harness) { h.cfg.Redis.DB = 99 }, nil, []string{"redis.db", "DB index is out of range"}},
		{"eviction policy", func(*harness) {}, func(e *analyticsExporter) {
			e.checkEviction = func(context.Context, redis.UniversalClient) (string, error) {
				return "", errors.New("maxmemory-policy allkeys-lru evicts counters")
			}
		}, []string{"Redis at " + testdb.RedisAddr(), "maxmemory-policy allkeys-lru evicts counters"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, false)
			tc.adjust(h)
			exp, err := createLogsWith(context.Background(), exportertest.NewNopSettings(Type), h.cfg, tc.hook)
			require.NoError(t, err)
			err = exp.Start(context.Background(), componenttest.NewNopHost())
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			require.NoError(t, exp.Shutdown(context.Background()))
		})
	}
}

func TestShutdownIsSafe(t *testing.T) {
	t.Parallel()
	// The exporter helper's own Shutdown must be called once (the collector
	// does); our shutdown func is nil-safe and idempotent on its own.
	cfg := createDefaultConfig().(*Config)
	cfg.Postgres.DSN = "postgres://127.0.0.1/x"
	e, err := newExporter(cfg, exportertest.NewNopSettings(Type))
	require.NoError(t, err)
	require.NoError(t, e.shutdown(context.Background()), "without start")
	require.NoError(t, e.shutdown(context.Background()), "twice")
	err = e.pushBatch(context.Background(), &batchRequest{b: store.Convert(time.UTC, plog.NewLogs())})
	require.ErrorContains(t, err, "not started")

	h := newHarness(t, true)
	e2, err := newExporter(h.cfg, exportertest.NewNopSettings(Type))
	require.NoError(t, err)
	require.NoError(t, e2.start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, e2.shutdown(context.Background()))
	require.NoError(t, e2.shutdown(context.Background()))
}

func TestOutboxBacklogGauge(t *testing.T) {
	t.Parallel()
	h := newHarness(t, true)
	// Leave two outbox rows behind, as a crash would.
	for i := range 2 {
		_, err := h.pool.Exec(context.Background(), `INSERT INTO analytics_redis_outbox (batch_id, deltas) VALUES ($1::uuid, $2)`,
			fmt.Sprintf("00000000-0000-4000-8000-00000000000%d", i), `[{"d":"2025-12-14","e":"session.start","n":`+strconv.Itoa(i+1)+`}]`)
		require.NoError(t, err)
	}
	exp := h.start(t, nil) // applies them at start
	assert.Equal(t, []counters.Row{row("2025-12-14", "", "session.start", 3, 0, 0, 0)}, h.redisDays(t, "2025-12-14"))
	m, err := h.tel.GetMetric(metricOutboxBacklog)
	require.NoError(t, err)
	pts := m.Data.(metricdata.Gauge[int64]).DataPoints
	require.Len(t, pts, 1)
	assert.Equal(t, int64(0), pts[0].Value)
	require.NoError(t, exp.Shutdown(context.Background()))
}
