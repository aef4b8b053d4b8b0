package ctl

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
	"github.com/otelcol-analytics/otelcol-analytics/internal/store"
	"github.com/otelcol-analytics/otelcol-analytics/internal/testdb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type (
	cell   = counters.Cell
	values = counters.Values
)

// fixtureRows are the counters of testdata/events.json, worked out by hand:
//
//	2025-12-01 session.message: 1500.5 → 1_500_500_000, 0.0000025 → 3 (a tie
//	  of float64 2.5, rounded away from zero; half-to-even would give 2),
//	  0.1234565 → 123_457 (tie 123456.5) = 1_500_623_460
//	2025-12-01 agent.session_takeover: a1 30 + 12.2500005 (tie 12250000.5 →
//	  12_250_001) = 42_250_001; a2 8 → 8_000_000; all 50_250_001
//	2025-12-02 ticket.closed: a1 4 h sla, a2 6.1 h not, none 2 h sla
var fixtureRows = []counters.Row{
	{Cell: cell{Date: "2025-11-30", Event: "session.start"}, Values: values{Events: 1}},
	{Cell: cell{Date: "2025-12-01", Event: "agent.session_takeover"}, Values: values{Events: 3, MeasureCount: 3, MeasureSumMicro: counters.SumOf(50_250_001)}},
	{Cell: cell{Date: "2025-12-01", Event: "session.message"}, Values: values{Events: 3, MeasureCount: 3, MeasureSumMicro: counters.SumOf(1_500_623_460)}},
	{Cell: cell{Date: "2025-12-01", Event: "session.start"}, Values: values{Events: 3}},
	{Cell: cell{Date: "2025-12-01", AgentID: "a1", Event: "agent.session_takeover"}, Values: values{Events: 2, MeasureCount: 2, MeasureSumMicro: counters.SumOf(42_250_001)}},
	{Cell: cell{Date: "2025-12-01", AgentID: "a2", Event: "agent.session_takeover"}, Values: values{Events: 1, MeasureCount: 1, MeasureSumMicro: counters.SumOf(8_000_000)}},
	{Cell: cell{Date: "2025-12-02", Event: "query.order"}, Values: values{Events: 1, FlagTrue: 1}},
	{Cell: cell{Date: "2025-12-02", Event: "ticket.closed"}, Values: values{Events: 3, MeasureCount: 3, MeasureSumMicro: counters.SumOf(12_100_000), FlagTrue: 2}},
	{Cell: cell{Date: "2025-12-02", AgentID: "a1", Event: "ticket.closed"}, Values: values{Events: 1, MeasureCount: 1, MeasureSumMicro: counters.SumOf(4_000_000), FlagTrue: 1}},
	{Cell: cell{Date: "2025-12-02", AgentID: "a2", Event: "ticket.closed"}, Values: values{Events: 1, MeasureCount: 1, MeasureSumMicro: counters.SumOf(6_100_000)}},
}

// TestRawAggregate checks that the SQL aggregate of raw events gives the
// numbers worked out by hand, including catalog.Micro's rounding of ties.
func TestRawAggregate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	evs := loadFixture(t)
	require.Equal(t, fixtureRows, rowsOf(t, evs), "the Go aggregate of the fixture")
	dsn, _ := testdb.Migrated(t)
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer func() { assert.NoError(t, conn.Close(ctx)) }()
	insertEvents(t, conn, evs)
	lo := time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC)
	got, err := readRaw(ctx, conn, catalog.Default(), lo, lo.AddDate(0, 2, 0))
	require.NoError(t, err)
	assert.Equal(t, fixtureRows, got)
	got, err = readRaw(ctx, conn, catalog.Default(), lo.AddDate(0, 1, 1), lo.AddDate(0, 1, 2))
	require.NoError(t, err)
	assert.Equal(t, fixtureRows[6:], got, "only 2025-12-02")
}

func TestPeriod(t *testing.T) {
	for _, tc := range []struct {
		name           string
		from, to       string
		months         []string
		days           int
		first, last    string
		monthsWant     []string
		err            string
		daysOfDecember int
	}{
		{name: "one day", from: "2025-12-01", days: 1, first: "2025-12-01", last: "2025-12-01", monthsWant: []string{"2025-12"}, daysOfDecember: 1},
		{name: "range across months", from: "2025-11-30", to: "2025-12-02", days: 3, first: "2025-11-30", last: "2025-12-02", monthsWant: []string{"2025-11", "2025-12"}, daysOfDecember: 2},
		{name: "month", months: []string{"2025-12"}, days: 31, first: "2025-12-01", last: "2025-12-31", monthsWant: []string{"2025-12"}, daysOfDecember: 31},
		{name: "february leap", months: []string{"2024-02"}, days: 29, first: "2024-02-01", last: "2024-02-29", monthsWant: []string{"2024-02"}},
		{name: "month range", months: []string{"2025-11..2026-01"}, days: 30 + 31 + 31, first: "2025-11-01", last: "2026-01-31", monthsWant: []string{"2025-11", "2025-12", "2026-01"}, daysOfDecember: 31},
		{name: "repeated months and a day, union", from: "2025-12-05", months: []string{"2025-12", "2025-10"}, days: 31 + 31, first: "2025-10-01", last: "2025-12-31", monthsWant: []string{"2025-10", "2025-12"}, daysOfDecember: 31},
		{name: "nothing", err: "no period: give --from"},
		{name: "to without from", to: "2025-12-01", err: "--to needs --from"},
		{name: "bad day", from: "2025-12-32", err: `--from "2025-12-32": want a day as YYYY-MM-DD`},
		{name: "bad month", months: []string{"2025-13"}, err: `--month "2025-13": want YYYY-MM or YYYY-MM..YYYY-MM`},
		{name: "reversed", from: "2025-12-02", to: "2025-12-01", err: "empty period: 2025-12-02 is after 2025-12-01"},
		{name: "too long", from: "2000-01-01", to: "2099-01-01", err: "is longer than 7320 days"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pf := Period{From: tc.from, To: tc.to, Months: tc.months}
			pd, err := pf.resolve()
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Len(t, pd.days, tc.days)
			assert.Equal(t, tc.first, pd.days[0])
			assert.Equal(t, tc.last, pd.days[len(pd.days)-1])
			assert.Equal(t, tc.monthsWant, pd.months)
			assert.Len(t, pd.daysOf["2025-12"], tc.daysOfDecember)
		})
	}
}

func TestOptionsFromEnv(t *testing.T) {
	env := map[string]string{
		"ANALYTICS_POSTGRES_DSN": "postgres://x@db:5432/a", "ANALYTICS_REDIS_ADDR": "r:6380", "ANALYTICS_REDIS_DB": "3",
		"ANALYTICS_REDIS_PASSWORD": "pw", "ANALYTICS_REDIS_PREFIX": "p:", "ANALYTICS_TIMEZONE": "UTC",
		"ANALYTICS_REDIS_DAILY_TTL": "24h", "ANALYTICS_REDIS_MONTHLY_TTL": "48h",
	}
	o, err := DefaultOptions(func(k string) string { return env[k] })
	require.NoError(t, err)
	assert.Equal(t, Options{
		PostgresDSN: "postgres://x@db:5432/a", RedisAddr: "r:6380", RedisDB: 3, RedisPassword: "pw", KeyPrefix: "p:",
		Timezone: "UTC", DailyTTL: 24 * time.Hour, MonthlyTTL: 48 * time.Hour, ClaimTTL: counters.DefaultClaimTTL, CatalogMode: "extend",
	}, o)
	d, err := DefaultOptions(nil)
	require.NoError(t, err)
	assert.Equal(t, Options{
		PostgresDSN: counters.DefaultPostgresDSN, RedisAddr: "127.0.0.1:6379", KeyPrefix: "analytics:", Timezone: "Asia/Shanghai",
		DailyTTL: 9600 * time.Hour, ClaimTTL: 168 * time.Hour, CatalogMode: "extend",
	}, d)
	_, err = DefaultOptions(func(k string) string {
		return map[string]string{"ANALYTICS_REDIS_DB": "x", "ANALYTICS_REDIS_DAILY_TTL": "400d"}[k]
	})
	require.ErrorContains(t, err, "ANALYTICS_REDIS_DB")
	require.ErrorContains(t, err, "ANALYTICS_REDIS_DAILY_TTL")
}

func TestUsage(t *testing.T) {
	t.Parallel()
	code, _, stderr := ctlRun(t)
	assert.Equal(t, ExitError, code)
	assert.Contains(t, stderr, "usage: analyticsctl [common flags] <command> [flags]")
	code, stdout, _ := ctlRun(t, "help")
	assert.Equal(t, ExitOK, code)
	assert.Contains(t, stdout, "replay-rejected")
	code, _, stderr = ctlRun(t, "frobnicate")
	assert.Equal(t, ExitError, code)
	assert.Contains(t, stderr, `unknown command "frobnicate"`)
	code, _, stderr = ctlRun(t, "verify", "--bogus")
	assert.Equal(t, ExitError, code)
	assert.Contains(t, stderr, "flag provided but not defined: -bogus")
	code, _, stderr = ctlRun(t, "verify", "--from", "2025-12-01", "extra")
	assert.Equal(t, ExitError, code)
	assert.Equal(t, "analyticsctl verify: unexpected argument \"extra\"\n", stderr)
	code, _, stderr = ctlRun(t, "--postgres-dsn", testdb.BaseDSN(), "--redis-addr", "127.0.0.1:1", "verify", "--from", "2025-12-01")
	assert.Equal(t, ExitError, code)
	assert.Contains(t, stderr, "analyticsctl verify: redis at 127.0.0.1:1 does not answer")
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, schema := testdb.Schema(t)
	ups, err := filepath.Glob("../../migrations/*.up.sql")
	require.NoError(t, err)
	latest := "migrate: version " + strconv.Itoa(len(ups)) + "\n"

	code, stdout, stderr := ctlRun(t, "migrate", "--version", "--postgres-dsn", dsn)
	require.Equal(t, ExitOK, code, stderr)
	assert.Equal(t, "migrate: no migration applied\n", stdout)

	code, stdout, stderr = ctlRun(t, "--postgres-dsn", dsn, "migrate")
	require.Equal(t, ExitOK, code, stderr)
	assert.Equal(t, latest, stdout)
	code, stdout, _ = ctlRun(t, "migrate", "--version", "--postgres-dsn", dsn)
	require.Equal(t, ExitOK, code)
	assert.Equal(t, latest, stdout)
	code, stdout, _ = ctlRun(t, "migrate", "--postgres-dsn", dsn)
	require.Equal(t, ExitOK, code, "up twice is a no-op")
	assert.Equal(t, latest, stdout)

	tables := func() int {
		conn, err := pgx.Connect(ctx, dsn)
		require.NoError(t, err)
		defer func() { assert.NoError(t, conn.Close(ctx)) }()
		var n int
		require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = $1 AND table_name LIKE 'analytics\_%' AND table_name <> 'analytics_schema_migrations'`, schema).Scan(&n))
		return n
	}
	require.Equal(t, 7, tables())

	code, _, stderr = ctlRun(t, "migrate", "--down", "--postgres-dsn", dsn)
	assert.Equal(t, ExitError, code)
	assert.Equal(t, "analyticsctl migrate: --down drops every analytics table and all its data; add --yes to confirm\n", stderr)
	require.Equal(t, 7, tables(), "nothing dropped without --yes")

	code, stdout, stderr = ctlRun(t, "migrate", "--down", "--yes", "--postgres-dsn", dsn)
	require.Equal(t, ExitOK, code, stderr)
	assert.Equal(t, "migrate: every migration reverted\nmigrate: no migration applied\n", stdout)
	require.Equal(t, 0, tables())

	code, stdout, stderr = ctlRun(t, "migrate", "--postgres-dsn", dsn)
	require.Equal(t, ExitOK, code, stderr)
	assert.Equal(t, latest, stdout)
	require.Equal(t, 7, tables())
}

// pendingBatch simulates what the exporter leaves behind when it has
// committed a batch and crashed (or lost Redis) before applying it: the
// events, their rollups and an outbox row. It returns the batch id.
func pendingBatch(t *testing.T, dsn string, evs []fixtureEvent) (string, []counters.Row) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer func() { assert.NoError(t, conn.Close(ctx)) }()
	insertEvents(t, conn, evs)
	rows := rowsOf(t, evs)
	addRollups(t, conn, rows)
	deltas, err := counters.EncodeRows(rows)
	require.NoError(t, err)
	var id string
	require.NoError(t, conn.QueryRow(ctx, `INSERT INTO analytics_redis_outbox (batch_id, created_at, deltas)
		VALUES (gen_random_uuid(), '2025-12-03T02:00:00Z', $1) RETURNING batch_id::text`, deltas).Scan(&id))
	return id, rows
}

func TestVerify(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	evs := loadFixture(t)
	month := []string{"verify", "--month", "2025-12"}
	for _, tc := range []struct {
		name   string
		mutate func(t *testing.T, rdb *redis.Client, l counters.Layout, conn *pgx.Conn)
		args   []string
		code   int
		out    string
	}{
		{
			name: "equal month", args: month, code: ExitOK,
			out: "verify: 31 days, 1 month, 0 differences\n",
		},
		{
			name: "equal days and months", args: []string{"verify", "--month", "2025-11..2025-12"}, code: ExitOK,
			out: "verify: 61 days, 2 months, 0 differences\n",
		},
		{
			name: "equal part of a month", args: []string{"verify", "--from", "2025-11-30", "--to", "2025-12-01"}, code: ExitOK,
			out: "verify: 2 days, 2 months, 0 differences\n",
		},
		{
			name: "a Redis field changed",
			mutate: func(t *testing.T, rdb *redis.Client, l counters.Layout, _ *pgx.Conn) {
				require.NoError(t, rdb.HSet(ctx, l.DailyKey("2025-12-01"), "session.start:events", 4).Err())
			},
			args: month, code: ExitDifferences,
			out: "2025-12-01 session.start events: redis=4 postgres=3\n" +
				"verify: 31 days, 1 month, 1 difference\n",
		},
		{
			name: "a Redis field outside the rollups",
			mutate: func(t *testing.T, rdb *redis.Client, l counters.Layout, _ *pgx.Conn) {
				require.NoError(t, rdb.HSet(ctx, l.DailyKey("2025-12-05"), "session.end:events", 1).Err())
			},
			args: []string{"verify", "--from", "2025-12-05"}, code: ExitDifferences,
			out: "2025-12-05 session.end events: redis=1 postgres=0\n" +
				"verify: 1 day, 1 month, 1 difference\n",
		},
		{
			name: "an agent key deleted",
			mutate: func(t *testing.T, rdb *redis.Client, l counters.Layout, _ *pgx.Conn) {
				require.NoError(t, rdb.Del(ctx, l.AgentDailyKey("2025-12-01")).Err())
			},
			args: month, code: ExitDifferences,
			out: "2025-12-01 agent a1 agent.session_takeover events: redis=0 postgres=2\n" +
				"2025-12-01 agent a1 agent.session_takeover measure_count: redis=0 postgres=2\n" +
				"2025-12-01 agent a1 agent.session_takeover measure_sum_micro: redis=0 postgres=42250001\n" +
				"2025-12-01 agent a2 agent.session_takeover events: redis=0 postgres=1\n" +
				"2025-12-01 agent a2 agent.session_takeover measure_count: redis=0 postgres=1\n" +
				"2025-12-01 agent a2 agent.session_takeover measure_sum_micro: redis=0 postgres=8000000\n" +
				"verify: 31 days, 1 month, 6 differences\n",
		},
		{
			name: "the monthly key deleted",
			mutate: func(t *testing.T, rdb *redis.Client, l counters.Layout, _ *pgx.Conn) {
				require.NoError(t, rdb.Del(ctx, l.MonthlyKey("2025-12")).Err())
			},
			args: []string{"verify", "--from", "2025-12-02"}, code: ExitDifferences,
			out: "2025-12 agent.session_takeover events: redis=0 postgres=3\n" +
				"2025-12 agent.session_takeover measure_count: redis=0 postgres=3\n" +
				"2025-12 agent.session_takeover measure_sum_micro: redis=0 postgres=50250001\n" +
				"2025-12 query.order events: redis=0 postgres=1\n" +
				"2025-12 query.order flag_true: redis=0 postgres=1\n" +
				"2025-12 session.message events: redis=0 postgres=3\n" +
				"2025-12 session.message measure_count: redis=0 postgres=3\n" +
				"2025-12 session.message measure_sum_micro: redis=0 postgres=1500623460\n" +
				"2025-12 session.start events: redis=0 postgres=3\n" +
				"2025-12 ticket.closed events: redis=0 postgres=3\n" +
				"2025-12 ticket.closed measure_count: redis=0 postgres=3\n" +
				"2025-12 ticket.closed measure_sum_micro: redis=0 postgres=12100000\n" +
				"2025-12 ticket.closed flag_true: redis=0 postgres=2\n" +
				"verify: 1 day, 1 month, 13 differences\n",
		},
		{
			name: "an event row without its rollup",
			mutate: func(t *testing.T, _ *redis.Client, _ counters.Layout, conn *pgx.Conn) {
				insertEvents(t, conn, []fixtureEvent{{ID: "e99", Name: "session.start", Date: "2025-12-01", SessionID: "s9"}})
			},
			args: month, code: ExitDifferences,
			out: "2025-12-01 session.start events: rollup=3 raw=4\n" +
				"verify: 31 days, 1 month, 1 difference\n",
		},
		{
			name: "a raw measure changed",
			mutate: func(t *testing.T, _ *redis.Client, _ counters.Layout, conn *pgx.Conn) {
				_, err := conn.Exec(ctx, `UPDATE analytics_events SET attributes = '{"wait_duration_seconds": 12.25}' WHERE event_id = 'e09'`)
				require.NoError(t, err)
			},
			args: month, code: ExitDifferences,
			out: "2025-12-01 agent.session_takeover measure_sum_micro: rollup=50250001 raw=50250000\n" +
				"2025-12-01 agent a1 agent.session_takeover measure_sum_micro: rollup=42250001 raw=42250000\n" +
				"verify: 31 days, 1 month, 2 differences\n",
		},
		{
			name: "raw check skipped",
			mutate: func(t *testing.T, _ *redis.Client, _ counters.Layout, conn *pgx.Conn) {
				insertEvents(t, conn, []fixtureEvent{{ID: "e99", Name: "session.start", Date: "2025-12-01", SessionID: "s9"}})
			},
			args: append(month, "--no-raw"), code: ExitOK,
			out: "verify: 31 days, 1 month, 0 differences\n",
		},
		{
			name: "raw partition dropped by retention",
			mutate: func(t *testing.T, _ *redis.Client, _ counters.Layout, conn *pgx.Conn) {
				var dropped []string
				rows, err := conn.Query(ctx, `SELECT analytics_drop_partitions_before('2025-12-01')`)
				require.NoError(t, err)
				for rows.Next() {
					var s string
					require.NoError(t, rows.Scan(&s))
					dropped = append(dropped, s)
				}
				require.NoError(t, rows.Err())
				require.Equal(t, []string{"analytics_events_2025_11"}, dropped)
			},
			args: []string{"verify", "--month", "2025-11"}, code: ExitOK,
			out: "note: 2025-11 has no raw-events partition (dropped by retention); its rollups are not checked against raw events\n" +
				"verify: 30 days, 1 month, 0 differences\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dsn, _ := testdb.Migrated(t)
			rdb, prefix := testdb.RedisPrefix(t)
			o, err := DefaultOptions(nil)
			require.NoError(t, err)
			o.KeyPrefix = prefix
			l := testLayout(o)
			seed(t, dsn, rdb, l, evs)
			if tc.mutate != nil {
				conn, err := pgx.Connect(ctx, dsn)
				require.NoError(t, err)
				defer func() { assert.NoError(t, conn.Close(ctx)) }()
				tc.mutate(t, rdb, l, conn)
			}
			code, stdout, stderr := ctlRun(t, append(tc.args, common(dsn, testdb.RedisAddr(), prefix)...)...)
			assert.Equal(t, tc.out, stdout)
			assert.Empty(t, stderr)
			assert.Equal(t, tc.code, code)
		})
	}
}

func TestVerifyPendingOutbox(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, _ := testdb.Migrated(t)
	rdb, prefix := testdb.RedisPrefix(t)
	o, err := DefaultOptions(nil)
	require.NoError(t, err)
	o.KeyPrefix = prefix
	l := testLayout(o)
	seed(t, dsn, rdb, l, loadFixture(t))
	id, rows := pendingBatch(t, dsn, []fixtureEvent{{ID: "e15", Name: "session.start", Date: "2025-12-03", SessionID: "s15"}})
	flags := common(dsn, testdb.RedisAddr(), prefix)

	code, stdout, stderr := ctlRun(t, append([]string{"verify", "--month", "2025-12"}, flags...)...)
	assert.Empty(t, stderr)
	assert.Equal(t, "pending: outbox batch "+id+" of 2025-12-03T02:00:00Z, 1 cell on 2025-12-03, not yet applied to Redis (the pipeline is not drained)\n"+
		"2025-12-03 session.start events: redis=0 postgres=1\n"+
		"2025-12 session.start events: redis=3 postgres=4\n"+
		"verify: 31 days, 1 month, 3 differences (1 pending outbox batch)\n", stdout)
	assert.Equal(t, ExitDifferences, code)

	code, stdout, _ = ctlRun(t, append([]string{"verify", "--month", "2025-12", "--allow-pending"}, flags...)...)
	assert.Equal(t, "pending: outbox batch "+id+" of 2025-12-03T02:00:00Z, 1 cell on 2025-12-03, not yet applied to Redis (the pipeline is not drained); added to the Redis side (--allow-pending)\n"+
		"verify: 31 days, 1 month, 0 differences (1 pending outbox batch)\n", stdout)
	assert.Equal(t, ExitOK, code)

	// A batch of another month is not this month's business.
	code, stdout, _ = ctlRun(t, append([]string{"verify", "--month", "2025-11"}, flags...)...)
	assert.Equal(t, "verify: 30 days, 1 month, 0 differences\n", stdout)
	assert.Equal(t, ExitOK, code)

	// Applied (claimed) but its row not yet deleted: not pending.
	applied, err := l.Apply(ctx, rdb, id, rows)
	require.NoError(t, err)
	require.True(t, applied)
	code, stdout, _ = ctlRun(t, append([]string{"verify", "--month", "2025-12"}, flags...)...)
	assert.Equal(t, "verify: 31 days, 1 month, 0 differences\n", stdout)
	assert.Equal(t, ExitOK, code)
}

// TestRebuild flushes a private Redis after seeding: verify fails, rebuild
// makes it pass, and a second rebuild leaves Redis identical.
func TestRebuild(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, _ := testdb.Migrated(t)
	srv := testdb.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer func() { assert.NoError(t, rdb.Close()) }()
	o, err := DefaultOptions(nil)
	require.NoError(t, err)
	l := testLayout(o) // the default prefix: the server is ours alone
	seed(t, dsn, rdb, l, loadFixture(t))
	seeded := dumpRedis(t, rdb, "analytics:")
	require.Len(t, seeded, 8, "daily × 3 days + agent:daily × 2 days + monthly × 2 months + agent:monthly × 1 month")

	flags := []string{"--postgres-dsn", dsn, "--redis-addr", srv.Addr}
	verify := func(period ...string) (int, string) {
		code, stdout, stderr := ctlRun(t, append(append([]string{"verify"}, period...), flags...)...)
		require.Empty(t, stderr)
		return code, stdout
	}
	code, out := verify("--month", "2025-11..2025-12")
	require.Equal(t, ExitOK, code, out)

	require.NoError(t, rdb.FlushAll(ctx).Err()) // the private server, never the shared one
	code, out = verify("--month", "2025-12")
	assert.Equal(t, ExitDifferences, code)
	assert.True(t, strings.HasSuffix(out, "verify: 31 days, 1 month, 52 differences\n"), out)

	code, stdout, stderr := ctlRun(t, append([]string{"rebuild", "--month", "2025-12"}, flags...)...)
	require.Equal(t, ExitOK, code, stderr)
	assert.Equal(t, "rebuilt 2025-12-01..2025-12-31 (31 days) and month 2025-12 from 9 rollup rows (4 per agent)\n"+
		"rebuild: 31 days, 1 month rewritten from PostgreSQL\n", stdout)
	code, out = verify("--month", "2025-12")
	assert.Equal(t, ExitOK, code, out)
	assert.Equal(t, "verify: 31 days, 1 month, 0 differences\n", out)

	// November was not rebuilt yet.
	code, out = verify("--from", "2025-11-30")
	assert.Equal(t, ExitDifferences, code)
	assert.Equal(t, "2025-11-30 session.start events: redis=0 postgres=1\n2025-11 session.start events: redis=0 postgres=1\n"+
		"verify: 1 day, 1 month, 2 differences\n", out)
	code, stdout, _ = ctlRun(t, append([]string{"rebuild", "--from", "2025-11-30"}, flags...)...)
	require.Equal(t, ExitOK, code)
	assert.Equal(t, "rebuilt 2025-11-30 (1 day) and month 2025-11 from 1 rollup row (0 per agent)\n"+
		"rebuild: 1 day, 1 month rewritten from PostgreSQL\n", stdout)

	rebuilt := dumpRedis(t, rdb, "analytics:")
	assert.Equal(t, seeded, rebuilt, "rebuild restores exactly what the exporter's increments made, TTLs included")
	code, _, _ = ctlRun(t, append([]string{"rebuild", "--month", "2025-11..2025-12"}, flags...)...)
	require.Equal(t, ExitOK, code)
	assert.Equal(t, rebuilt, dumpRedis(t, rdb, "analytics:"), "rebuild twice: identical")
	assert.Equal(t, time.Duration(-1), rdb.TTL(ctx, "analytics:monthly:2025-12").Val(), "monthly keys never expire by default")
	assert.InDelta(t, float64(l.DayExpiry("2025-12-01").Sub(ctlTestNow)), float64(rdb.PTTL(ctx, "analytics:daily:2025-12-01").Val()), float64(5*time.Second),
		"a day expires daily_ttl after its end")

	// A day with stale counters but no rollups is emptied.
	require.NoError(t, rdb.HSet(ctx, "analytics:daily:2025-12-20", "session.start:events", 7).Err())
	code, _, _ = ctlRun(t, append([]string{"rebuild", "--from", "2025-12-20"}, flags...)...)
	require.Equal(t, ExitOK, code)
	assert.Equal(t, int64(0), rdb.Exists(ctx, "analytics:daily:2025-12-20").Val())
	code, out = verify("--month", "2025-11..2025-12")
	assert.Equal(t, ExitOK, code, out)
}

// TestRebuildPendingOutbox: rebuild refuses while a committed batch is not
// yet applied to Redis; --force holds it, widens the period to every day
// and month it touches, deletes its row and then its claim, and the batch
// is never applied twice.
func TestRebuildPendingOutbox(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, _ := testdb.Migrated(t)
	rdb, prefix := testdb.RedisPrefix(t)
	o, err := DefaultOptions(nil)
	require.NoError(t, err)
	o.KeyPrefix = prefix
	l := testLayout(o)
	seed(t, dsn, rdb, l, loadFixture(t))
	id, _ := pendingBatch(t, dsn, []fixtureEvent{
		{ID: "e15", Name: "session.start", Date: "2025-12-03", SessionID: "s15"},
		{ID: "e16", Name: "session.start", Date: "2025-11-30", SessionID: "s16"},
	})
	flags := common(dsn, testdb.RedisAddr(), prefix)
	before := dumpRedis(t, rdb, prefix)

	code, stdout, stderr := ctlRun(t, append([]string{"rebuild", "--from", "2025-12-03"}, flags...)...)
	assert.Equal(t, ExitError, code)
	assert.Empty(t, stdout)
	assert.Equal(t, "analyticsctl rebuild: 1 outbox batch is pending for 2025-12-03: committed in PostgreSQL, not yet applied to Redis (the collector is catching up, or Redis was down):\n"+
		"  batch "+id+" of 2025-12-03T02:00:00Z, 2025-11-30..2025-12-03\n"+
		"their counts are already in the rollups, so applying them after a rebuild would count them twice.\n"+
		"Let the collector drain them (`analyticsctl verify` lists them) and run rebuild again, or rerun with --force:\n"+
		"rebuild then holds them so that they are never applied, and rebuilds every day and month they touch\n", stderr)
	assert.Equal(t, before, dumpRedis(t, rdb, prefix), "a refused rebuild changes nothing")

	code, stdout, stderr = ctlRun(t, append([]string{"rebuild", "--from", "2025-12-03", "--force"}, flags...)...)
	require.Equal(t, ExitOK, code, stderr)
	assert.Equal(t, "outbox batch "+id+" (2025-11-30..2025-12-03): claimed: it will not be applied again; its counts are in the rollups\n"+
		"rebuilt 2025-11-30 (1 day) and month 2025-11 from 1 rollup row (0 per agent)\n"+
		"rebuilt 2025-12-03 (1 day) and month 2025-12 from 10 rollup rows (4 per agent)\n"+
		"rebuild: 2 days, 2 months rewritten from PostgreSQL\n", stdout)

	pool, err := pgxpool.New(ctx, dsn)
	require.NoError(t, err)
	defer pool.Close()
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM analytics_redis_outbox`).Scan(&n))
	assert.Equal(t, 0, n, "the claimed outbox row is deleted")
	assert.Equal(t, int64(0), rdb.Exists(ctx, l.ClaimKey(id)).Val(), "and then its claim")
	applied, err := store.New(pool, rdb, store.Config{Layout: l}).ApplyPendingOutbox(ctx)
	require.NoError(t, err)
	assert.Equal(t, 0, applied, "the exporter has nothing left to apply")
	assert.Equal(t, "2", rdb.HGet(ctx, l.DailyKey("2025-11-30"), "session.start:events").Val())
	assert.Equal(t, "4", rdb.HGet(ctx, l.MonthlyKey("2025-12"), "session.start:events").Val())

	code, stdout, _ = ctlRun(t, append([]string{"verify", "--month", "2025-11..2025-12"}, flags...)...)
	assert.Equal(t, "verify: 61 days, 2 months, 0 differences\n", stdout)
	assert.Equal(t, ExitOK, code)
}
