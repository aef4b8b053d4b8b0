package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
)

// partitions lists the partitions of analytics_events.
func (e *env) partitions(t testing.TB) []string {
	t.Helper()
	rows, err := e.pool.Query(context.Background(), `SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace
		WHERE p.relname = 'analytics_events' AND n.nspname = current_schema() ORDER BY 1`)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return out
}

// novemberRecs are three events of November 2025 in Shanghai (one with an
// agent, one without event.id: its id is derived).
func novemberRecs() []rec {
	return []rec{
		{name: "session.start", product: "ai_chatbot", id: "n1", at: ts("2025-11-10T02:00:00Z"), attrs: map[string]any{"session_id": "s1"}},
		{
			name: "agent.session_takeover", product: "agent_workbench", id: "n2", at: ts("2025-11-20T02:00:00Z"),
			attrs: map[string]any{"agent_id": "a1", "session_id": "s1", "wait_duration_seconds": 5.0},
		},
		{
			name: "ticket.closed", product: "agent_workbench", at: ts("2025-11-30T15:00:00Z"), // 23:00 on 11-30 in Shanghai
			attrs: map[string]any{"ticket_id": "t1", "resolution_duration_hours": 2.0, "sla_met": true},
		},
	}
}

// TestRetentionThenResendCountsOnce: retention drops November and marks it
// retired; resending its events afterwards (through the collector that
// dropped it, through one that still has November's partition cached, and
// through a fresh one) stores and counts nothing: each record is one
// rejected row (beyond_retention), however often it is resent, and
// November's partition is not created again. December is unaffected.
func TestRetentionThenResendCountsOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	s, other := e.store(), e.store()
	require.NoError(t, s.EnsurePartitions(ctx, ts("2025-11-01T00:00:00Z"), ts("2026-01-15T00:00:00Z")))
	nov := novemberRecs()
	dec := rec{name: "session.start", product: "ai_chatbot", id: "d1", at: ts("2025-12-05T02:00:00Z"), attrs: map[string]any{"session_id": "s2"}}
	res, err := other.Write(ctx, normalised(t, nov[0])) // other caches November as ensured
	require.NoError(t, err)
	require.Equal(t, 1, res.Inserted)
	res, err = s.Write(ctx, normalised(t, nov[1], nov[2], dec))
	require.NoError(t, err)
	require.Equal(t, 3, res.Inserted)

	days := []string{"2025-11-10", "2025-11-20", "2025-11-30", "2025-12-05"}
	want := []counters.Row{
		row("2025-11-10", "", "session.start", 1, 0, 0, 0),
		row("2025-11-20", "", "agent.session_takeover", 1, 1, 5_000_000, 0),
		row("2025-11-20", "a1", "agent.session_takeover", 1, 1, 5_000_000, 0),
		row("2025-11-30", "", "ticket.closed", 1, 1, 2_000_000, 1),
		row("2025-12-05", "", "session.start", 1, 0, 0, 0),
	}
	require.Equal(t, want, e.rollups(t))
	require.Equal(t, want, e.redisDays(t, days...))

	dropped, err := s.DropPartitionsBefore(ctx, ts("2025-12-10T00:00:00Z"))
	require.NoError(t, err)
	assert.Equal(t, []string{"analytics_events_2025_11"}, dropped)
	var month string
	var retiredAt time.Time
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT month::text, retired_at FROM analytics_retired_months`).Scan(&month, &retiredAt))
	assert.Equal(t, "2025-11-01", month)
	assert.WithinDuration(t, time.Now(), retiredAt, time.Minute)
	assert.Equal(t, 1, e.count(t, `SELECT count(*) FROM analytics_event_ids`), "November's ledger rows went with it")
	assert.Equal(t, want, e.rollups(t), "rollups are kept")

	beyond := Result{Rejected: 3, RejectedByReason: map[string]int{"beyond_retention": 3}}
	for i, st := range []*Store{other, s, e.store(), s} {
		res, err := st.Write(ctx, normalised(t, nov...))
		require.NoError(t, err, "resend %d", i+1)
		assert.Equal(t, beyond, res, "resend %d", i+1)
		assert.Equal(t, 3, e.count(t, `SELECT count(*) FROM analytics_rejected_events`), "one row per record, resend %d", i+1)
	}
	_, retired := other.retiredState(2025*12 + 10)
	assert.True(t, retired, "the collector with a stale cache learnt it from the missing partition")
	assert.Equal(t, want, e.rollups(t))
	assert.Equal(t, want, e.redisDays(t, days...))
	assert.Equal(t, []string{"analytics_events_2025_12", "analytics_events_2026_01"}, e.partitions(t))
	assert.Equal(t, 1, e.count(t, `SELECT count(*) FROM analytics_events`))
	assert.Equal(t, 1, e.count(t, `SELECT count(*) FROM analytics_event_ids`))

	type rejected struct {
		Reason, Field, Message, Product, EventID string
		Day                                      string
	}
	rows, err := e.pool.Query(ctx, `SELECT reason, field, message, product, event_id, (event_time AT TIME ZONE 'Asia/Shanghai')::date::text
		FROM analytics_rejected_events ORDER BY event_time`)
	require.NoError(t, err)
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[rejected])
	require.NoError(t, err)
	require.Len(t, got, 3)
	on := retiredAt.In(s.Location()).Format(time.DateOnly)
	msg := func(day string) string {
		return "the raw events of business month 2025-11 were dropped by retention on " + on +
			"; its rollups are final, so this event (business day " + day + ") is not stored and not counted"
	}
	assert.Equal(t, rejected{"beyond_retention", "timestamp", msg("2025-11-10"), "ai_chatbot", "n1", "2025-11-10"}, got[0])
	assert.Equal(t, rejected{"beyond_retention", "timestamp", msg("2025-11-20"), "agent_workbench", "n2", "2025-11-20"}, got[1])
	assert.Equal(t, "2025-11-30", got[2].Day)
	assert.Len(t, got[2].EventID, 32, "the derived id")

	t.Run("months after the cutoff are unaffected", func(t *testing.T) {
		newNov := rec{name: "session.start", product: "ai_chatbot", id: "n9", at: ts("2025-11-15T02:00:00Z"), attrs: map[string]any{"session_id": "s9"}}
		dec2 := rec{name: "session.start", product: "ai_chatbot", id: "d2", at: ts("2025-12-06T02:00:00Z"), attrs: map[string]any{"session_id": "s3"}}
		// A fresh store: it learns that November is retired in the middle
		// of the batch and builds it again.
		res, err := e.store().Write(ctx, normalised(t, dec2, newNov, dec))
		require.NoError(t, err)
		assert.Equal(t, Result{Inserted: 1, Duplicates: 1, Rejected: 1, RejectedByReason: map[string]int{"beyond_retention": 1}}, res)
		assert.Equal(t, 2, e.count(t, `SELECT count(*) FROM analytics_events`))
		assert.Equal(t, append(want, row("2025-12-06", "", "session.start", 1, 0, 0, 0)), e.rollups(t),
			"December counted, November unchanged")
	})

	t.Run("maintenance does not recreate a retired month", func(t *testing.T) {
		dropped, err := s.DropPartitionsBefore(ctx, ts("2025-12-10T00:00:00Z"))
		require.NoError(t, err)
		assert.Empty(t, dropped)
		require.NoError(t, s.EnsurePartitions(ctx, ts("2025-10-15T00:00:00Z"), ts("2026-01-15T00:00:00Z")))
		assert.Equal(t, []string{"analytics_events_2025_10", "analytics_events_2025_12", "analytics_events_2026_01"}, e.partitions(t),
			"October was never retired")
		var name *string
		require.NoError(t, e.pool.QueryRow(ctx, `SELECT analytics_ensure_partition('2025-11-20')`).Scan(&name))
		assert.Nil(t, name)
		assert.Equal(t, 1, e.count(t, `SELECT count(*) FROM analytics_retired_months`))
	})
}

// TestRetentionRace runs retention while batches write to the month it
// drops: a batch in flight when it starts is committed, and counted, before
// the month's marker; one that comes while it runs waits for it and then
// finds the month retired. No event of the month is stored or counted after
// the marker commits, and nothing deadlocks.
func TestRetentionRace(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	dropper, writer := e.store(), e.store()
	n1 := novemberRecs()[0]
	res, err := writer.Write(ctx, normalised(t, n1)) // November's partition and its 11-10 rollup row
	require.NoError(t, err)
	require.Equal(t, 1, res.Inserted)

	// A transaction holding the 11-10 rollup row: the next batch of that
	// day copies its events, then waits in its rollup update (in flight,
	// with its rows in November's partition).
	holder, err := e.pool.Acquire(ctx)
	require.NoError(t, err)
	defer holder.Release()
	tx, err := holder.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, `SELECT 1 FROM analytics_daily_rollup WHERE business_date = '2025-11-10' AND event_name = 'session.start' FOR UPDATE`)
	require.NoError(t, err)
	var holderPID int
	require.NoError(t, tx.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&holderPID))

	// The pool's four connections are all taken below: watch through one
	// of its own.
	monitor, err := pgx.Connect(ctx, e.dsn)
	require.NoError(t, err)
	defer func() { _ = monitor.Close(ctx) }()
	waitFor := func(what, sql string, args ...any) {
		t.Helper()
		require.Eventually(t, func() bool {
			var n int
			return monitor.QueryRow(ctx, sql, args...).Scan(&n) == nil && n == 1
		}, 10*time.Second, 5*time.Millisecond, what)
	}
	lockWaits := `SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
		WHERE c.relname = 'analytics_events' AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
		AND NOT l.granted AND l.mode = $1`

	type outcome struct {
		res Result
		err error
	}
	inFlight := make(chan outcome, 1)
	w1 := normalised(t, rec{name: "session.start", product: "ai_chatbot", id: "w1", at: ts("2025-11-10T03:00:00Z"), attrs: map[string]any{"session_id": "s"}})
	w2 := normalised(t, rec{name: "session.start", product: "ai_chatbot", id: "w2", at: ts("2025-11-12T03:00:00Z"), attrs: map[string]any{"session_id": "s"}})
	go func() {
		res, err := writer.Write(ctx, w1)
		inFlight <- outcome{res, err}
	}()
	waitFor("the batch waits in its rollup update", `SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))`, holderPID)

	type drop struct {
		names []string
		err   error
	}
	retention := make(chan drop, 1)
	go func() {
		names, err := dropper.DropPartitionsBefore(ctx, ts("2025-12-10T00:00:00Z"))
		retention <- drop{names, err}
	}()
	waitFor("retention waits for the batch in flight", lockWaits, "AccessExclusiveLock")

	late := make(chan outcome, 1)
	go func() {
		// writer still has November cached as ensured.
		res, err := writer.Write(ctx, w2)
		late <- outcome{res, err}
	}()
	waitFor("a later batch waits for retention", lockWaits, "RowExclusiveLock")

	require.NoError(t, tx.Commit(ctx))
	o := <-inFlight
	require.NoError(t, o.err)
	assert.Equal(t, Result{Inserted: 1}, o.res, "in flight before the marker: stored and counted")
	d := <-retention
	require.NoError(t, d.err)
	assert.Equal(t, []string{"analytics_events_2025_11"}, d.names)
	o = <-late
	require.NoError(t, o.err)
	assert.Equal(t, Result{Rejected: 1, RejectedByReason: map[string]int{"beyond_retention": 1}}, o.res, "after the marker: not counted")

	want := []counters.Row{row("2025-11-10", "", "session.start", 2, 0, 0, 0)}
	assert.Equal(t, want, e.rollups(t))
	assert.Equal(t, want, e.redisDays(t, "2025-11-10", "2025-11-12"))
	assert.Equal(t, 0, e.count(t, `SELECT count(*) FROM analytics_event_ids`))
	assert.Empty(t, e.partitions(t))
	assert.Equal(t, 1, e.count(t, `SELECT count(*) FROM analytics_rejected_events WHERE reason = 'beyond_retention' AND event_id = 'w2'`))
}

// TestRetentionUnderLoad drops a month while several collectors keep
// writing new events of it: every event is counted or rejected
// (beyond_retention), the rollups count exactly those stored, every batch
// started after the drop returned is rejected whole, and the month's
// partition and ledger rows stay gone.
func TestRetentionUnderLoad(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	require.NoError(t, e.store().EnsurePartitions(ctx, ts("2025-11-01T00:00:00Z"), ts("2025-11-01T00:00:00Z")))
	const writers, batches, per = 4, 60, 20
	var dropped time.Time
	var mu sync.Mutex
	var inserted, beyond, lateInserted int
	var wg sync.WaitGroup
	errs := make(chan error, writers+1)
	var lds [writers][batches]plog.Logs // built here: normalised asserts, so not in the writers' goroutines
	for w := range writers {
		for b := range batches {
			var recs []rec
			for i := range per {
				recs = append(recs, rec{
					name: "session.start", product: "ai_chatbot", id: fmt.Sprintf("w%d-b%02d-%02d", w, b, i),
					at: ts("2025-11-03T00:00:00Z").Add(time.Duration(i) * time.Hour), attrs: map[string]any{"session_id": "s"},
				})
			}
			lds[w][b] = normalised(t, recs...)
		}
	}
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := e.store()
			for b := range batches {
				ld := lds[w][b]
				mu.Lock()
				after := !dropped.IsZero()
				mu.Unlock()
				res, err := st.Write(ctx, ld)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				inserted += res.Inserted
				beyond += res.RejectedByReason["beyond_retention"]
				if after {
					lateInserted += res.Inserted
				}
				mu.Unlock()
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		time.Sleep(150 * time.Millisecond)
		names, err := e.store().DropPartitionsBefore(ctx, ts("2025-12-10T00:00:00Z"))
		if err == nil && len(names) != 1 {
			err = fmt.Errorf("dropped %v", names)
		}
		mu.Lock()
		dropped = time.Now()
		mu.Unlock()
		errs <- err
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, writers*batches*per, inserted+beyond)
	assert.Positive(t, beyond, "some batches came after the drop")
	assert.Zero(t, lateInserted, "nothing stored after the drop returned")
	assert.Equal(t, inserted, e.count(t, `SELECT coalesce(sum(events), 0) FROM analytics_daily_rollup`))
	var redisEvents int64
	for _, r := range e.redisDays(t, "2025-11-03", "2025-11-04") {
		redisEvents += r.Events
	}
	assert.Equal(t, int64(inserted), redisEvents)
	assert.Equal(t, beyond, e.count(t, `SELECT count(*) FROM analytics_rejected_events WHERE reason = 'beyond_retention'`))
	assert.Equal(t, 0, e.count(t, `SELECT count(*) FROM analytics_event_ids`))
	assert.Empty(t, e.partitions(t))
}
