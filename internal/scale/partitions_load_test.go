package scale

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

	"github.com/otelcol-analytics/otelcol-analytics/internal/store"
	"github.com/otelcol-analytics/otelcol-analytics/internal/testdb"
	"github.com/otelcol-analytics/otelcol-analytics/migrations"
)

// Partitions at scale (issue 13): a schema of its own filled with months of
// raw events, ledger rows and the rollups that count them, loaded server
// side (INSERT … SELECT generate_series), one business day per statement.
// The partitions are created by the store (Store.EnsurePartitions, which
// the exporter's maintain loop calls), never by hand-written DDL.

// partGate skips unless OTELCOL_SCALE=1: the scale tests load millions of
// rows and take minutes.
func partGate(t *testing.T) {
	t.Helper()
	if os.Getenv("OTELCOL_SCALE") != "1" {
		t.Skip("scale test: loads millions of rows; `make test-scale` runs it (OTELCOL_SCALE=1)")
	}
}

// partEnvInt reads a positive integer from the environment, or def.
func partEnvInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	require.NoError(t, err, "%s", name)
	require.Positive(t, n, "%s", name)
	return n
}

// partFirstDay and partDays are the loaded business days: the 24 business
// months 2024-01 … 2025-12 (731 days).
var (
	partFirstDay = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	partLastDay  = time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)
)

const partDays = 731

// partDaySQL loads one business day: $1 the day, $2 the events of the day
// (split over the mix in its proportions), $3 the day's number (ids are
// unique across days). One statement, so one transaction: the ledger rows,
// the events (in the day's partition) and both rollups, counted from the
// rows the events insert returned, as the store does from the rows it
// copied. Rows go in (product, event id) order, as the store copies a
// batch's. Ids are UUIDv7 as the SDKs send (the 48-bit millisecond time of
// the event, then the sequence number), content hashes 16 bytes; measures
// vary around the mix's means, flags are true for 90 % (sla_met) and 95 %
// (success).
const partDaySQL = `
WITH ev(k, name, product, n, agent, mattr, mbase, mspan, fattr, fmod) AS (VALUES
    (1,  'session.start',          'ai_chatbot',      4000, false, NULL,                        0,     0,    NULL,      0),
    (2,  'session.message',        'ai_chatbot',      5000, false, 'response_time_ms',          500,   2001, NULL,      0),
    (3,  'session.escalate',       'ai_chatbot',       600, false, NULL,                        0,     0,    NULL,      0),
    (4,  'session.end',            'ai_chatbot',      3800, false, 'duration_seconds',          60,    481,  NULL,      0),
    (5,  'query.order',            'ai_chatbot',       200, false, NULL,                        0,     0,    'success', 20),
    (6,  'query.tracking',         'ai_chatbot',       100, false, NULL,                        0,     0,    'success', 20),
    (7,  'agent.session_takeover', 'agent_workbench',  600, true,  'wait_duration_seconds',     10,    41,   NULL,      0),
    (8,  'agent.session_release',  'agent_workbench',  600, true,  'handle_duration_seconds',   240,   481,  NULL,      0),
    (9,  'agent.session_message',  'agent_workbench', 1800, true,  NULL,                        0,     0,    NULL,      0),
    (10, 'agent.session_transfer', 'agent_workbench',   50, true,  NULL,                        0,     0,    NULL,      0),
    (11, 'agent.login',            'agent_workbench',   50, true,  NULL,                        0,     0,    NULL,      0),
    (12, 'agent.logout',           'agent_workbench',   50, true,  'online_duration_seconds',   25200, 7201, NULL,      0),
    (13, 'ticket.created',         'agent_workbench',  200, false, NULL,                        0,     0,    NULL,      0),
    (14, 'ticket.closed',          'agent_workbench',  180, true,  'resolution_duration_hours', 2,     5,    'sla_met', 10)),
mix AS (SELECT *, round(n * $2::float8 / 17230)::int AS nd FROM ev),
offs AS (SELECT *, (sum(nd) OVER (ORDER BY k) - nd)::bigint AS off FROM mix WHERE nd > 0),
g AS (
    SELECT o.*, i, $3::bigint * 10000000 + o.off + i AS seq,
        ($1::date::timestamp AT TIME ZONE 'Asia/Shanghai')
            + ((i - 1) * 86400000::bigint / o.nd + o.k) * interval '1 millisecond' AS t
    FROM offs o CROSS JOIN LATERAL generate_series(1, o.nd) i
),
x AS MATERIALIZED (
    SELECT g.*, m.ms, CASE WHEN g.mattr IS NULL THEN NULL ELSE g.mbase + (g.seq % g.mspan) END AS mval,
        substr(m.ms, 1, 8) || '-' || substr(m.ms, 9, 4) || '-7000-8000-' || lpad(to_hex(g.seq), 12, '0') AS event_id
    FROM g CROSS JOIN LATERAL (SELECT lpad(to_hex((extract(epoch FROM g.t) * 1000)::bigint), 12, '0') AS ms) m
),
led AS (
    INSERT INTO analytics_event_ids (product, event_id, business_date, content_hash)
    SELECT product, event_id, $1::date, decode(md5(event_id), 'hex') FROM x ORDER BY product, event_id
),
evs AS (
    INSERT INTO analytics_events (event_id, event_name, product, event_time, business_date,
        session_id, agent_id, ticket_id, customer_id, attributes, trace_id, span_id)
    SELECT event_id, name, product, t, $1::date,
        CASE WHEN name LIKE 'session.%' OR name LIKE 'agent.session%' OR name LIKE 'query.%'
             THEN 's-' || ($3::bigint * 10000 + i % 4000) END,
        CASE WHEN agent THEN 'agent-' || lpad((1 + seq % 50)::text, 2, '0') END,
        CASE WHEN name LIKE 'ticket.%' THEN 'T-' || ($3::bigint * 1000 + i % 200) END,
        CASE WHEN name = 'session.start' THEN 'cust-' || (seq % 100000) END,
        CASE WHEN mattr IS NULL THEN '{}'::jsonb ELSE jsonb_build_object(mattr, mval) END
            || CASE WHEN fattr IS NULL THEN '{}'::jsonb ELSE jsonb_build_object(fattr, seq % fmod <> 0) END
            || CASE WHEN name = 'session.start' THEN '{"channel": "web"}'::jsonb ELSE '{}'::jsonb END,
        md5(event_id), substr(md5(ms || event_id), 1, 16)
    FROM x ORDER BY product, event_id
    RETURNING event_name, agent_id, attributes
),
counted AS (
    SELECT e.event_name, e.agent_id,
        (e.attributes ->> ev.mattr)::numeric AS m, (e.attributes ->> ev.fattr)::boolean AS f
    FROM evs e JOIN ev ON ev.name = e.event_name
),
daily AS (
    INSERT INTO analytics_daily_rollup AS r (business_date, event_name, events, measure_count, measure_sum_micro, flag_true)
    SELECT $1::date, event_name, count(*), count(m), coalesce(sum(round(m * 1000000)), 0), count(*) FILTER (WHERE f)
    FROM counted GROUP BY event_name
    ON CONFLICT (business_date, event_name) DO UPDATE SET
        events = r.events + EXCLUDED.events, measure_count = r.measure_count + EXCLUDED.measure_count,
        measure_sum_micro = r.measure_sum_micro + EXCLUDED.measure_sum_micro,
        flag_true = r.flag_true + EXCLUDED.flag_true, updated_at = now()
    RETURNING events
),
agent AS (
    INSERT INTO analytics_agent_daily_rollup AS r (business_date, agent_id, event_name, events, measure_count, measure_sum_micro, flag_true)
    SELECT $1::date, agent_id, event_name, count(*), count(m), coalesce(sum(round(m * 1000000)), 0), count(*) FILTER (WHERE f)
    FROM counted WHERE agent_id IS NOT NULL GROUP BY agent_id, event_name
    ON CONFLICT (business_date, agent_id, event_name) DO UPDATE SET
        events = r.events + EXCLUDED.events, measure_count = r.measure_count + EXCLUDED.measure_count,
        measure_sum_micro = r.measure_sum_micro + EXCLUDED.measure_sum_micro,
        flag_true = r.flag_true + EXCLUDED.flag_true, updated_at = now()
)
SELECT coalesce(sum(events), 0)::bigint FROM daily`

// partLoaded is what partLoad did.
type partLoaded struct {
	events  int64 // events loaded (the sum of the days')
	elapsed time.Duration
}

// partLoad fills the schema of pool with about total events over the 24
// months (the same count every day), creating the partitions with the
// store's own EnsurePartitions first, and logs progress once a month.
// Days already loaded (a kept schema) are skipped.
func partLoad(t *testing.T, pool *pgxpool.Pool, st *store.Store, total int) partLoaded {
	t.Helper()
	ctx := context.Background()
	loc := st.Location()
	require.NoError(t, st.EnsurePartitions(ctx,
		time.Date(2024, 1, 1, 12, 0, 0, 0, loc), time.Date(2025, 12, 1, 12, 0, 0, 0, loc)))
	perDay := float64(total) / partDays
	var done map[time.Time]bool
	rows, err := pool.Query(ctx, `SELECT DISTINCT business_date FROM analytics_daily_rollup`)
	require.NoError(t, err)
	days, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
	require.NoError(t, err)
	done = make(map[time.Time]bool, len(days))
	for _, d := range days {
		done[d.UTC()] = true
	}
	var out partLoaded
	start := time.Now()
	monthStart, monthEvents := time.Now(), int64(0)
	for i, d := 0, partFirstDay; !d.After(partLastDay); i, d = i+1, d.AddDate(0, 0, 1) {
		if !done[d] {
			var n int64
			require.NoError(t, pool.QueryRow(ctx, partDaySQL, d, perDay, i).Scan(&n), "load %s", d.Format(time.DateOnly))
			out.events += n
			monthEvents += n
		}
		if next := d.AddDate(0, 0, 1); next.Day() == 1 {
			el := time.Since(monthStart)
			t.Logf("loaded %s: %d events in %s (%.0f events/s); %d so far in %s",
				d.Format("2006-01"), monthEvents, el.Round(time.Millisecond), float64(monthEvents)/el.Seconds(),
				out.events, time.Since(start).Round(time.Second))
			monthStart, monthEvents = time.Now(), 0
		}
	}
	out.elapsed = time.Since(start)
	_, err = pool.Exec(ctx, `ANALYZE`)
	require.NoError(t, err)
	return out
}

// partSchema returns the DSN of the test's schema: a fresh migrated one
// (dropped at the end), or, with OTELCOL_SCALE_PART_SCHEMA set, that schema,
// created and migrated if missing and kept (to measure again without
// loading again; drop it by hand).
func partSchema(t *testing.T) (dsn, schema string) {
	t.Helper()
	name := os.Getenv("OTELCOL_SCALE_PART_SCHEMA")
	if name == "" {
		return partMigrated(t)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, partBaseDSN())
	require.NoError(t, err)
	defer func() { require.NoError(t, conn.Close(ctx)) }()
	_, err = conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{name}.Sanitize())
	require.NoError(t, err)
	dsn = partWithSearchPath(name)
	require.NoError(t, partMigrate(dsn))
	t.Logf("kept schema %s (OTELCOL_SCALE_PART_SCHEMA): drop it by hand when done", name)
	return dsn, name
}

// partMonthName is the partition of business month m.
func partMonthName(m time.Time) string {
	return fmt.Sprintf("analytics_events_%s", m.Format("2006_01"))
}

func partMigrated(t *testing.T) (dsn, schema string) { return testdb.Migrated(t) }
func partBaseDSN() string                            { return testdb.BaseDSN() }
func partWithSearchPath(schema string) string        { return testdb.WithSearchPath(testdb.BaseDSN(), schema) }
func partMigrate(dsn string) error                   { return migrations.Up(dsn) }
