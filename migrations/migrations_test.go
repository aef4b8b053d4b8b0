package migrations_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-analytics/otelcol-analytics/internal/testdb"
	"github.com/otelcol-analytics/otelcol-analytics/migrations"
)

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func exec(t *testing.T, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	_, err := conn.Exec(context.Background(), sql, args...)
	require.NoError(t, err, sql)
}

func texts(t *testing.T, conn *pgx.Conn, sql string) []string {
	t.Helper()
	rows, err := conn.Query(context.Background(), sql)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err, sql)
	return out
}

// key is the store's dedup key of a rejected row (internal/store rejectKey).
func key(reason, product, id string, raw []byte) []byte {
	h := sha256.New()
	for _, s := range []string{reason, product, id} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	h.Write(raw)
	return h.Sum(nil)[:16]
}

func sum(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

// TestIngestIntegrityMigration applies 006 over data of schema 005: ledger
// rows take their event's product, rejected rows get their size, sha256 and
// a dedup key (copies of one record stored twice before keep a key each);
// then reverts it with an id stored for two products.
func TestIngestIntegrityMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, _ := testdb.Schema(t)
	require.NoError(t, migrations.To(dsn, 5))
	conn := connect(t, dsn)

	exec(t, conn, `SELECT analytics_ensure_partition('2025-12-01')`)
	for _, ev := range [][2]string{{"e1", "ai_chatbot"}, {"e2", "agent_workbench"}} {
		exec(t, conn, `INSERT INTO analytics_event_ids (event_id, business_date) VALUES ($1, '2025-12-01')`, ev[0])
		exec(t, conn, `INSERT INTO analytics_events (event_id, event_name, product, event_time, business_date)
			VALUES ($1, 'session.start', $2, '2025-12-01T02:00:00Z', '2025-12-01')`, ev[0], ev[1])
	}
	exec(t, conn, `INSERT INTO analytics_event_ids (event_id, business_date) VALUES ('gone', '2025-12-01')`)
	raw := []byte(`{"resourceLogs":[]}`)
	for _, r := range []struct{ reason, product, id any }{
		{"unknown_event", "ai_chatbot", "x1"},
		{"not_normalised", "ai_chatbot", nil}, // stored twice before: no id, no unique key
		{"not_normalised", "ai_chatbot", nil},
		{"missing_product", nil, nil},
	} {
		exec(t, conn, `INSERT INTO analytics_rejected_events (reason, product, event_id, raw) VALUES ($1, $2, $3, $4)`, r.reason, r.product, r.id, raw)
	}

	require.NoError(t, migrations.To(dsn, 6))
	assert.Equal(t, []string{"ai_chatbot/e1", "agent_workbench/e2", "/gone"},
		texts(t, conn, `SELECT product || '/' || event_id FROM analytics_event_ids WHERE content_hash IS NULL ORDER BY product DESC, event_id`))
	pk := func(table string) []string {
		return texts(t, conn, `SELECT a.attname::text FROM pg_index i
			JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
			CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
			JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
			WHERE i.indisprimary AND c.relname = '`+table+`' AND n.nspname = current_schema() ORDER BY k.ord`)
	}
	assert.Equal(t, []string{"product", "event_id"}, pk("analytics_event_ids"))
	assert.Equal(t, []string{"product", "event_id", "business_date"}, pk("analytics_events"))
	assert.Equal(t, []string{"product", "event_id", "business_date"}, pk("analytics_events_2025_12"))

	type rej struct {
		ID        int64
		Size      int64
		SHA       []byte
		Truncated bool
		Key       []byte
	}
	rows, err := conn.Query(ctx, `SELECT id, raw_size, raw_sha256, raw_truncated, dedup_key FROM analytics_rejected_events ORDER BY id`)
	require.NoError(t, err)
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[rej])
	require.NoError(t, err)
	require.Len(t, got, 4)
	copyKey := sha256.Sum256(binary.BigEndian.AppendUint64(key("not_normalised", "ai_chatbot", "", raw), uint64(got[2].ID))) //nolint:gosec // a bigserial
	size := int64(len(raw))
	assert.Equal(t, []rej{
		{got[0].ID, size, sum(raw), false, key("unknown_event", "ai_chatbot", "x1", raw)},
		{got[1].ID, size, sum(raw), false, key("not_normalised", "ai_chatbot", "", raw)},
		{got[2].ID, size, sum(raw), false, copyKey[:16]},
		{got[3].ID, size, sum(raw), false, key("missing_product", "", "", raw)},
	}, got)
	var fn []byte
	require.NoError(t, conn.QueryRow(ctx, `SELECT analytics_rejected_key('unknown_event', 'ai_chatbot', 'x1', $1)`, raw).Scan(&fn))
	assert.Equal(t, key("unknown_event", "ai_chatbot", "x1", raw), fn)

	// A row inserted by hand, as before 006: the trigger fills size and
	// sha256, the key is random (never taken for a resend).
	for range 2 {
		exec(t, conn, `INSERT INTO analytics_rejected_events (reason, raw) VALUES ('unknown_event', '\x7b7d')`)
	}
	var n int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(DISTINCT dedup_key) FROM analytics_rejected_events
		WHERE raw = '\x7b7d' AND raw_size = 2 AND raw_sha256 = sha256('\x7b7d') AND octet_length(dedup_key) = 16`).Scan(&n))
	assert.Equal(t, 2, n)

	// The same id for two products, then back to 005: the later product's
	// event is renamed, nothing is lost.
	exec(t, conn, `INSERT INTO analytics_event_ids (product, event_id, business_date) VALUES ('agent_workbench', 'e1', '2025-12-01')`)
	exec(t, conn, `INSERT INTO analytics_events (event_id, event_name, product, event_time, business_date, received_at)
		VALUES ('e1', 'agent.session_takeover', 'agent_workbench', '2025-12-01T03:00:00Z', '2025-12-01', $1)`, time.Now().Add(time.Hour))
	exec(t, conn, `INSERT INTO analytics_rejected_events (reason, event_id, raw, raw_size, dedup_key) VALUES ('duplicate_conflict', 'x1', '', 0, '\x00')`)
	require.NoError(t, migrations.To(dsn, 5))
	assert.Equal(t, []string{"e1", "e1@agent_workbench", "e2", "gone"}, texts(t, conn, `SELECT event_id FROM analytics_event_ids ORDER BY 1`))
	assert.Equal(t, []string{"agent_workbench/e1@agent_workbench", "agent_workbench/e2", "ai_chatbot/e1"},
		texts(t, conn, `SELECT product || '/' || event_id FROM analytics_events ORDER BY 1`))
	assert.Equal(t, []string{"x1"}, texts(t, conn, `SELECT event_id FROM analytics_rejected_events WHERE event_id IS NOT NULL`))
	assert.Equal(t, []string{"event_id"}, pk("analytics_event_ids"))
	assert.Equal(t, []string{"event_id", "business_date"}, pk("analytics_events"))
	require.NoError(t, migrations.To(dsn, 6))
	v, dirty, err := migrations.Version(dsn)
	require.NoError(t, err)
	assert.Equal(t, []any{uint(6), false}, []any{v, dirty})
}

// TestRetiredMonthsMigration applies 007 over data of schema 006: a month
// retention dropped before (rollups, no partition) is marked retired with no
// date; then retention marks the months it drops, a retired month's
// partition is never created again, and 007 reverted brings back the old
// functions.
func TestRetiredMonthsMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, _ := testdb.Schema(t)
	require.NoError(t, migrations.To(dsn, 6))
	conn := connect(t, dsn)
	partition := func(d string) *string {
		t.Helper()
		var name *string
		require.NoError(t, conn.QueryRow(ctx, `SELECT analytics_ensure_partition($1::date)`, d).Scan(&name))
		return name
	}
	partitions := func() []string {
		return texts(t, conn, `SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
			JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace
			WHERE p.relname = 'analytics_events' AND n.nspname = current_schema() ORDER BY 1`)
	}
	retired := func() []string {
		return texts(t, conn, `SELECT month::text || ' ' || CASE WHEN retired_at IS NULL THEN 'unknown'
			WHEN retired_at > now() - interval '1 minute' THEN 'now' ELSE 'old' END FROM analytics_retired_months ORDER BY month`)
	}

	partition("2025-11-01")
	partition("2025-12-01")
	for _, d := range []string{"2025-09-03", "2025-09-20", "2025-11-05", "2025-12-01"} { // September: dropped by 006's retention
		exec(t, conn, `INSERT INTO analytics_daily_rollup (business_date, event_name, events) VALUES ($1, 'session.start', 1)`, d)
	}
	exec(t, conn, `INSERT INTO analytics_event_ids (product, event_id, business_date) VALUES ('ai_chatbot', 'n1', '2025-11-05'), ('ai_chatbot', 'd1', '2025-12-01')`)

	require.NoError(t, migrations.To(dsn, 7))
	assert.Equal(t, []string{"2025-09-01 unknown"}, retired())
	assert.Nil(t, partition("2025-09-15"), "retired: no partition")
	assert.Equal(t, "analytics_events_2026_01", *partition("2026-01-31"))
	assert.Equal(t, []string{"analytics_events_2025_11", "analytics_events_2025_12", "analytics_events_2026_01"}, partitions())

	assert.Equal(t, []string{"analytics_events_2025_11"}, texts(t, conn, `SELECT analytics_drop_partitions_before('2025-12-15')`))
	assert.Equal(t, []string{"2025-09-01 unknown", "2025-11-01 now"}, retired())
	assert.Equal(t, []string{"d1"}, texts(t, conn, `SELECT event_id FROM analytics_event_ids`))
	assert.Empty(t, texts(t, conn, `SELECT analytics_drop_partitions_before('2025-12-15')`))
	assert.Nil(t, partition("2025-11-30"))
	assert.Equal(t, []string{"analytics_events_2025_12", "analytics_events_2026_01"}, partitions())
	_, err := conn.Exec(ctx, `INSERT INTO analytics_retired_months (month) VALUES ('2025-10-15')`)
	require.Error(t, err, "a month is its first day")

	// A partition recreated by hand and dropped again keeps the month's
	// first retirement.
	exec(t, conn, `CREATE TABLE analytics_events_2025_09 PARTITION OF analytics_events FOR VALUES FROM ('2025-09-01') TO ('2025-10-01')`)
	assert.Nil(t, partition("2025-09-15"), "retired even with a partition")
	assert.Equal(t, []string{"analytics_events_2025_09"}, texts(t, conn, `SELECT analytics_drop_partitions_before('2025-12-15')`))
	assert.Equal(t, []string{"2025-09-01 unknown", "2025-11-01 now"}, retired())

	require.NoError(t, migrations.To(dsn, 6))
	assert.Empty(t, texts(t, conn, `SELECT table_name::text FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_name = 'analytics_retired_months'`))
	assert.Equal(t, "analytics_events_2025_11", *partition("2025-11-30"), "006 recreates any month")
	assert.Equal(t, []string{"analytics_events_2025_11"}, texts(t, conn, `SELECT analytics_drop_partitions_before('2025-12-15')`))

	require.NoError(t, migrations.To(dsn, 7))
	v, dirty, err := migrations.Version(dsn)
	require.NoError(t, err)
	assert.Equal(t, []any{uint(7), false}, []any{v, dirty})
	assert.Equal(t, []string{"2025-09-01 unknown", "2025-11-01 unknown"}, retired(), "both have rollups and no partition")
}

// TestRollupSumsNumericMigration: 008 turns the measure sums into numeric,
// keeping every value; a sum beyond bigint is then stored exactly, and 008's
// down refuses to lose it (and changes nothing) until it fits again.
func TestRollupSumsNumericMigration(t *testing.T) {
	t.Parallel()
	dsn, _ := testdb.Schema(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer func() { _ = conn.Close(ctx) }()
	require.NoError(t, migrations.To(dsn, 7))
	exec(t, conn, `INSERT INTO analytics_daily_rollup (business_date, event_name, events, measure_count, measure_sum_micro) VALUES ('2025-12-01', 'chat.cost', 9, 9, 9000000000000000000)`)
	exec(t, conn, `INSERT INTO analytics_agent_daily_rollup (business_date, agent_id, event_name, events, measure_count, measure_sum_micro) VALUES ('2025-12-01', 'a1', 'chat.cost', 1, 1, -5)`)

	require.NoError(t, migrations.To(dsn, 8))
	exec(t, conn, `UPDATE analytics_daily_rollup SET measure_sum_micro = measure_sum_micro + 1000000000000000000`)
	assert.Equal(t, []string{"10000000000000000000"}, texts(t, conn, `SELECT measure_sum_micro::text FROM analytics_daily_rollup`))
	assert.Equal(t, []string{"-5"}, texts(t, conn, `SELECT measure_sum_micro::text FROM analytics_agent_daily_rollup`))

	require.Error(t, migrations.To(dsn, 7), "a sum beyond bigint cannot go back")
	// The failed down left schema 8 marked "7, dirty": what an operator
	// does with `migrate force 8`.
	exec(t, conn, `UPDATE analytics_schema_migrations SET version = 8, dirty = false`)
	assert.Equal(t, []string{"10000000000000000000"}, texts(t, conn, `SELECT measure_sum_micro::text FROM analytics_daily_rollup`), "nothing changed")
	exec(t, conn, `UPDATE analytics_daily_rollup SET measure_sum_micro = 42`)
	require.NoError(t, migrations.To(dsn, 7))
	assert.Equal(t, []string{"bigint"}, texts(t, conn, `SELECT data_type::text FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = 'analytics_daily_rollup' AND column_name = 'measure_sum_micro'`))
	require.NoError(t, migrations.To(dsn, 8))
	v, dirty, err := migrations.Version(dsn)
	require.NoError(t, err)
	assert.Equal(t, []any{uint(8), false}, []any{v, dirty})
}

// TestOutboxQuarantineMigration: 009 adds the quarantine columns to the
// outbox, keeping its rows (not quarantined); reverted, the rows stay.
func TestOutboxQuarantineMigration(t *testing.T) {
	t.Parallel()
	dsn, _ := testdb.Schema(t)
	require.NoError(t, migrations.To(dsn, 8))
	conn := connect(t, dsn)
	exec(t, conn, `INSERT INTO analytics_redis_outbox (batch_id, deltas) VALUES ('0b4f9c38-0000-4000-8000-000000000001', '{"not": "rows"}')`)

	require.NoError(t, migrations.To(dsn, 9))
	assert.Equal(t, []string{`{"not": "rows"} unset`},
		texts(t, conn, `SELECT deltas::text || ' ' || CASE WHEN quarantined_reason IS NULL AND quarantined_at IS NULL THEN 'unset' ELSE 'set' END
			FROM analytics_redis_outbox`))
	exec(t, conn, `UPDATE analytics_redis_outbox SET quarantined_reason = 'cannot be decoded', quarantined_at = now()`)

	require.NoError(t, migrations.To(dsn, 8))
	assert.Equal(t, []string{`{"not": "rows"}`}, texts(t, conn, `SELECT deltas::text FROM analytics_redis_outbox`))
	assert.Empty(t, texts(t, conn, `SELECT column_name::text FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = 'analytics_redis_outbox' AND column_name LIKE 'quarantined%'`))
	require.NoError(t, migrations.To(dsn, 9))
	v, dirty, err := migrations.Version(dsn)
	require.NoError(t, err)
	assert.Equal(t, []any{uint(9), false}, []any{v, dirty})
}
