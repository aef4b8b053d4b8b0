package store

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
)

// TestLedgerPurgeAfterDrop (migration 010): retention's drop no longer
// deletes the ledger rows of the dropped month in its own transaction (which
// holds analytics_events' ACCESS EXCLUSIVE lock); they are purged after it.
//
//   - between the drop and the purge (a crash in between, simulated by
//     running only the drop), nothing of the retired month is stored or
//     counted: a resent id the ledger still holds is a duplicate, a new one
//     beyond_retention; the next DropPartitionsBefore purges the month;
//   - while a purge is in flight (its transaction open), writers of live
//     months and partition creation go on (they would wait on the lock if
//     the delete ran inside the drop).
func TestLedgerPurgeAfterDrop(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	s := e.store()
	require.NoError(t, s.EnsurePartitions(ctx, ts("2025-11-01T00:00:00Z"), ts("2026-01-15T00:00:00Z")))
	nov := rec{name: "session.start", product: "ai_chatbot", id: "n1", at: ts("2025-11-10T02:00:00Z"), attrs: map[string]any{"session_id": "s1"}}
	nov2 := rec{name: "session.start", product: "ai_chatbot", id: "n2", at: ts("2025-11-11T02:00:00Z"), attrs: map[string]any{"session_id": "s2"}}
	dec := rec{name: "session.start", product: "ai_chatbot", id: "d1", at: ts("2025-12-05T02:00:00Z"), attrs: map[string]any{"session_id": "s3"}}
	res, err := s.Write(ctx, normalised(t, nov, nov2, dec))
	require.NoError(t, err)
	require.Equal(t, 3, res.Inserted)
	want := []counters.Row{
		row("2025-11-10", "", "session.start", 1, 0, 0, 0),
		row("2025-11-11", "", "session.start", 1, 0, 0, 0),
		row("2025-12-05", "", "session.start", 1, 0, 0, 0),
	}
	require.Equal(t, want, e.rollups(t))

	// The drop alone (the purge did not run): November's ledger rows stay.
	_, err = e.pool.Exec(ctx, `SELECT analytics_drop_partitions_before('2025-12-01')`)
	require.NoError(t, err)
	assert.Equal(t, 3, e.count(t, `SELECT count(*) FROM analytics_event_ids`))
	assert.Equal(t, 1, e.count(t, `SELECT count(*) FROM analytics_retired_months WHERE ledger_purged_at IS NULL`))

	// s still has November cached as ensured; a fresh store knows it is
	// retired. Neither stores or counts anything of November.
	res, err = s.Write(ctx, normalised(t, nov))
	require.NoError(t, err)
	assert.Equal(t, Result{Duplicates: 1}, res, "the ledger still knows n1: a resend")
	n3 := rec{name: "session.start", product: "ai_chatbot", id: "n3", at: ts("2025-11-12T02:00:00Z"), attrs: map[string]any{"session_id": "s4"}}
	res, err = s.Write(ctx, normalised(t, n3))
	require.NoError(t, err)
	assert.Equal(t, Result{Rejected: 1, RejectedByReason: map[string]int{"beyond_retention": 1}}, res)
	res, err = e.store().Write(ctx, normalised(t, nov2))
	require.NoError(t, err)
	assert.Equal(t, Result{Rejected: 1, RejectedByReason: map[string]int{"beyond_retention": 1}}, res)
	assert.Equal(t, want, e.rollups(t), "November's rollups are final")

	// The next retention run drops nothing and purges the pending month.
	dropped, err := e.store().DropPartitionsBefore(ctx, ts("2025-12-10T00:00:00Z"))
	require.NoError(t, err)
	assert.Empty(t, dropped)
	assert.Equal(t, []string{"d1"}, e.ids(t))
	assert.Equal(t, 0, e.count(t, `SELECT count(*) FROM analytics_retired_months WHERE ledger_purged_at IS NULL`))
	n, err := s.PurgeRetiredLedger(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "nothing pending")
	res, err = s.Write(ctx, normalised(t, nov))
	require.NoError(t, err)
	assert.Equal(t, Result{Rejected: 1, RejectedByReason: map[string]int{"beyond_retention": 1}}, res, "purged: now beyond retention")
	assert.Equal(t, want, e.rollups(t))

	// A purge in flight blocks no writer: December's events are stored and
	// a new partition is created while its transaction is open.
	_, err = e.pool.Exec(ctx, `INSERT INTO analytics_event_ids (product, event_id, business_date) VALUES ('ai_chatbot', 'x1', '2025-12-02')`)
	require.NoError(t, err)
	_, err = e.pool.Exec(ctx, `SELECT analytics_drop_partitions_before('2026-01-01')`) // December; x1 and d1 pending
	require.NoError(t, err)
	purging, err := e.pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = purging.Rollback(ctx) }()
	var deleted int64
	require.NoError(t, purging.QueryRow(ctx, `SELECT deleted FROM analytics_purge_retired_ledger()`).Scan(&deleted))
	assert.Equal(t, int64(2), deleted)

	wctx, cancel := context.WithTimeout(ctx, 20*time.Second) // a bound on being stuck, not on speed
	defer cancel()
	jan := rec{name: "session.start", product: "ai_chatbot", id: "j1", at: ts("2026-01-05T02:00:00Z"), attrs: map[string]any{"session_id": "s5"}}
	res, err = e.store().Write(wctx, normalised(t, jan))
	require.NoError(t, err, "a writer is not held up by the purge")
	assert.Equal(t, 1, res.Inserted)
	require.NoError(t, e.store().EnsurePartitions(wctx, ts("2026-02-01T00:00:00Z"), ts("2026-02-01T00:00:00Z")), "nor is partition creation")
	n, err = s.PurgeRetiredLedger(wctx)
	require.NoError(t, err)
	assert.Zero(t, n, "another session is purging: skipped, not waited for")
	require.NoError(t, purging.Commit(ctx))
	assert.Equal(t, []string{"j1"}, e.ids(t))
	assert.Equal(t, 0, e.count(t, `SELECT count(*) FROM analytics_retired_months WHERE ledger_purged_at IS NULL`))
}

// TestLedgerPurgeResumes: a purge cut short (its context ended) leaves the
// month pending and the pages it reached recorded; the next call goes on
// from there and finishes, deleting every ledger row of the month once.
func TestLedgerPurgeResumes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	s := e.store()
	s.purgeBlocks = 2
	require.NoError(t, s.EnsurePartitions(ctx, ts("2025-11-01T00:00:00Z"), ts("2025-12-15T00:00:00Z")))
	_, err := e.pool.Exec(ctx, `INSERT INTO analytics_event_ids (product, event_id, business_date)
		SELECT 'ai_chatbot', 'id-' || i, CASE WHEN i % 3 = 0 THEN DATE '2025-11-20' ELSE DATE '2025-12-20' END
		FROM generate_series(1, 6000) i`)
	require.NoError(t, err)
	pages := e.count(t, `SELECT (pg_relation_size('analytics_event_ids') / 8192)::int`)
	require.Greater(t, pages, 20)

	// The drop alone, then a purge cut short after its first call (one call
	// by hand), and one whose context has ended: it does nothing.
	_, err = e.pool.Exec(ctx, `SELECT analytics_drop_partitions_before('2025-12-01')`)
	require.NoError(t, err)
	_, err = e.pool.Exec(ctx, `SELECT deleted FROM analytics_purge_retired_ledger(2)`)
	require.NoError(t, err)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = s.PurgeRetiredLedger(cctx)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 2, e.count(t, `SELECT ledger_purge_block::int FROM analytics_retired_months WHERE ledger_purged_at IS NULL`),
		"pending, two pages done")
	left := e.count(t, `SELECT count(*) FROM analytics_event_ids WHERE business_date < '2025-12-01'`)
	assert.Less(t, left, 2000, "the first pages are purged")
	assert.Positive(t, left)

	n, err := s.PurgeRetiredLedger(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(left), n, "the rest, once")
	assert.Zero(t, e.count(t, `SELECT count(*) FROM analytics_event_ids WHERE business_date < '2025-12-01'`))
	assert.Equal(t, 4000, e.count(t, `SELECT count(*) FROM analytics_event_ids`))
	assert.Zero(t, e.count(t, `SELECT count(*) FROM analytics_retired_months WHERE ledger_purged_at IS NULL`))
}

// ids lists the ledger's event ids.
func (e *env) ids(t testing.TB) []string {
	t.Helper()
	rows, err := e.pool.Query(context.Background(), `SELECT event_id FROM analytics_event_ids ORDER BY event_id`)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		out = append(out, id)
	}
	require.NoError(t, rows.Err())
	return out
}
