package migrations_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-analytics/otelcol-analytics/internal/testdb"
	"github.com/otelcol-analytics/otelcol-analytics/migrations"
)

// TestLedgerPurgeMigration: 010 takes the ledger delete out of
// analytics_drop_partitions_before (whose transaction holds
// analytics_events' ACCESS EXCLUSIVE lock) into
// analytics_purge_retired_ledger, which deletes the ledger rows of the
// retired months not purged yet, once, and skips while another session
// purges. Months retired before 010 are purged (again) by the first run.
// Reverted, the pending ledger rows are deleted and 007's drop is back.
func TestLedgerPurgeMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, _ := testdb.Schema(t)
	require.NoError(t, migrations.To(dsn, 9))
	conn := connect(t, dsn)
	for _, d := range []string{"2025-10-01", "2025-11-01", "2025-12-01", "2026-01-01"} {
		exec(t, conn, `SELECT analytics_ensure_partition($1::date)`, d)
	}
	exec(t, conn, `INSERT INTO analytics_event_ids (product, event_id, business_date) VALUES
		('ai_chatbot', 'o1', '2025-10-05'), ('ai_chatbot', 'n1', '2025-11-05'), ('ai_chatbot', 'n2', '2025-11-30'),
		('ai_chatbot', 'd1', '2025-12-01'), ('ai_chatbot', 'j1', '2026-01-31')`)
	ledger := func() []string {
		return texts(t, conn, `SELECT event_id FROM analytics_event_ids ORDER BY event_id`)
	}
	purged := func() []string {
		return texts(t, conn, `SELECT month::text || CASE WHEN ledger_purged_at IS NULL THEN ' pending' ELSE ' purged' END
			FROM analytics_retired_months ORDER BY month`)
	}
	purge := func() *int64 {
		var n *int64
		var more bool
		require.NoError(t, conn.QueryRow(ctx, `SELECT deleted, more FROM analytics_purge_retired_ledger()`).Scan(&n, &more))
		assert.False(t, more, "a small ledger: one call")
		return n
	}
	// 009: the drop deletes the ledger rows itself.
	assert.Equal(t, []string{"analytics_events_2025_10"}, texts(t, conn, `SELECT analytics_drop_partitions_before('2025-11-15')`))
	assert.Equal(t, []string{"d1", "j1", "n1", "n2"}, ledger())

	require.NoError(t, migrations.To(dsn, 10))
	assert.Equal(t, []string{"2025-10-01 pending"}, purged(), "retired before 010: purged once more")
	assert.Equal(t, int64(0), *purge())
	assert.Equal(t, []string{"2025-10-01 purged"}, purged())

	// 010: the drop leaves the ledger alone; the purge deletes November's.
	assert.Equal(t, []string{"analytics_events_2025_11"}, texts(t, conn, `SELECT analytics_drop_partitions_before('2025-12-15')`))
	assert.Equal(t, []string{"d1", "j1", "n1", "n2"}, ledger())
	assert.Equal(t, []string{"2025-10-01 purged", "2025-11-01 pending"}, purged())

	// Another session purging: this one skips (NULL), nothing deleted twice.
	other := connect(t, dsn)
	tx, err := other.Begin(ctx)
	require.NoError(t, err)
	var n int64
	require.NoError(t, tx.QueryRow(ctx, `SELECT deleted FROM analytics_purge_retired_ledger()`).Scan(&n))
	assert.Equal(t, int64(2), n)
	assert.Nil(t, purge(), "another session holds the purge")
	require.NoError(t, tx.Rollback(ctx))
	assert.Equal(t, []string{"d1", "j1", "n1", "n2"}, ledger(), "its purge rolled back")

	assert.Equal(t, int64(2), *purge())
	assert.Equal(t, []string{"d1", "j1"}, ledger())
	assert.Equal(t, []string{"2025-10-01 purged", "2025-11-01 purged"}, purged())
	assert.Equal(t, int64(0), *purge(), "nothing pending")
	// A ledger row of a month already purged (put back by hand) stays: only
	// pending months are scanned for.
	exec(t, conn, `INSERT INTO analytics_event_ids (product, event_id, business_date) VALUES ('ai_chatbot', 'late', '2025-11-10')`)
	assert.Equal(t, int64(0), *purge())
	exec(t, conn, `DELETE FROM analytics_event_ids WHERE event_id = 'late'`)

	// A partition recreated by hand and dropped again: pending again, its
	// first retirement date kept.
	before := texts(t, conn, `SELECT retired_at::text FROM analytics_retired_months WHERE month = '2025-11-01'`)
	exec(t, conn, `CREATE TABLE analytics_events_2025_11 PARTITION OF analytics_events FOR VALUES FROM ('2025-11-01') TO ('2025-12-01')`)
	exec(t, conn, `INSERT INTO analytics_event_ids (product, event_id, business_date) VALUES ('ai_chatbot', 'n3', '2025-11-12')`)
	assert.Equal(t, []string{"analytics_events_2025_11"}, texts(t, conn, `SELECT analytics_drop_partitions_before('2025-12-15')`))
	assert.Equal(t, []string{"2025-10-01 purged", "2025-11-01 pending"}, purged())
	assert.Equal(t, before, texts(t, conn, `SELECT retired_at::text FROM analytics_retired_months WHERE month = '2025-11-01'`))
	assert.Equal(t, int64(1), *purge())
	assert.Equal(t, []string{"d1", "j1"}, ledger())

	// A ledger of many pages, one page per call: the purge goes on from
	// the page it reached, and only the last call marks the month purged.
	exec(t, conn, `INSERT INTO analytics_event_ids (product, event_id, business_date)
		SELECT 'ai_chatbot', 'bulk-' || i, CASE WHEN i % 2 = 0 THEN DATE '2025-11-20' ELSE DATE '2025-12-20' END
		FROM generate_series(1, 3000) i`)
	exec(t, conn, `UPDATE analytics_retired_months SET ledger_purged_at = NULL, ledger_purge_block = 0 WHERE month = '2025-11-01'`)
	var pages int64
	require.NoError(t, conn.QueryRow(ctx, `SELECT pg_relation_size('analytics_event_ids') / 8192`).Scan(&pages))
	require.Greater(t, pages, int64(5))
	var total, calls int64
	for more := true; more; calls++ {
		var d int64
		require.NoError(t, conn.QueryRow(ctx, `SELECT deleted, more FROM analytics_purge_retired_ledger(1)`).Scan(&d, &more))
		total += d
		var block int64
		require.NoError(t, conn.QueryRow(ctx, `SELECT ledger_purge_block FROM analytics_retired_months WHERE month = '2025-11-01'`).Scan(&block))
		assert.Equal(t, calls+1, block, "call %d", calls+1)
		if more {
			assert.Equal(t, []string{"2025-10-01 purged", "2025-11-01 pending"}, purged())
		}
	}
	assert.Equal(t, pages, calls, "one call per page")
	assert.Equal(t, int64(1500), total)
	assert.Equal(t, []string{"2025-10-01 purged", "2025-11-01 purged"}, purged())
	assert.Empty(t, texts(t, conn, `SELECT event_id FROM analytics_event_ids WHERE business_date < '2025-12-01'`))
	exec(t, conn, `DELETE FROM analytics_event_ids WHERE event_id LIKE 'bulk-%'`)

	// Reverted with December dropped and not purged: its ledger rows go.
	assert.Equal(t, []string{"analytics_events_2025_12"}, texts(t, conn, `SELECT analytics_drop_partitions_before('2026-01-15')`))
	assert.Equal(t, []string{"d1", "j1"}, ledger())
	require.NoError(t, migrations.To(dsn, 9))
	assert.Equal(t, []string{"j1"}, ledger())
	assert.Empty(t, texts(t, conn, `SELECT column_name::text FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = 'analytics_retired_months' AND column_name = 'ledger_purged_at'`))
	// 007's drop again: deletes the ledger rows in its own transaction.
	exec(t, conn, `INSERT INTO analytics_daily_rollup (business_date, event_name, events) VALUES ('2026-01-31', 'session.start', 1)`)
	assert.Equal(t, []string{"analytics_events_2026_01"}, texts(t, conn, `SELECT analytics_drop_partitions_before('2026-02-15')`))
	assert.Empty(t, ledger())

	require.NoError(t, migrations.Up(dsn))
	v, dirty, err := migrations.Version(dsn)
	require.NoError(t, err)
	assert.Equal(t, []any{uint(10), false}, []any{v, dirty})
}
