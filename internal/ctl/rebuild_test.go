package ctl

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
	"github.com/otelcol-analytics/otelcol-analytics/internal/store"
	"github.com/otelcol-analytics/otelcol-analytics/internal/testdb"
)

// TestRebuildInterrupted fails rebuild --force at each of its steps, lets
// the collector run its outbox pass (or not), and reruns it: Redis ends
// exactly equal to the rollups, the pending batch is counted once (neither
// lost nor doubled), a batch applied but not yet deleted stays counted once,
// and no outbox row or claim is left.
func TestRebuildInterrupted(t *testing.T) {
	t.Parallel()
	steps := []string{"read", "held", "replaced 2025-11", "replaced 2025-12", "deleted", "committed"}
	for _, step := range steps {
		for _, collector := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/collector=%v", step, collector), func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				dsn, _ := testdb.Migrated(t)
				rdb, prefix := testdb.RedisPrefix(t)
				o, err := DefaultOptions(nil)
				require.NoError(t, err)
				o.KeyPrefix = prefix
				l := testLayout(o)
				seed(t, dsn, rdb, l, loadFixture(t))
				// Pending: committed, not applied; on a day of each month.
				pendingID, _ := pendingBatch(t, dsn, []fixtureEvent{
					{ID: "e15", Name: "session.start", Date: "2025-12-03", SessionID: "s15"},
					{ID: "e16", Name: "session.start", Date: "2025-11-30", SessionID: "s16"},
				})
				// Applied, its row not deleted yet.
				appliedID, appliedRows := pendingBatch(t, dsn, []fixtureEvent{{ID: "e17", Name: "session.start", Date: "2025-12-02", SessionID: "s17"}})
				ok, err := l.Apply(ctx, rdb, appliedID, appliedRows)
				require.NoError(t, err)
				require.True(t, ok)
				// Redis wrong on a day of the period: what the rebuild is for.
				require.NoError(t, rdb.HSet(ctx, l.DailyKey("2025-12-01"), "session.start:events", 99).Err())

				flags := append([]string{"rebuild", "--month", "2025-12", "--force"}, common(dsn, testdb.RedisAddr(), prefix)...)
				crash := errors.New("injected failure at " + step)
				code, _, stderr := ctlRunWith(t, testHooks{fault: func(s string) error {
					if s == step {
						return crash
					}
					return nil
				}}, flags...)
				require.Equal(t, ExitError, code)
				assert.Equal(t, "analyticsctl rebuild: "+crash.Error()+"\n", stderr)

				pool, err := pgxpool.New(ctx, dsn)
				require.NoError(t, err)
				defer pool.Close()
				// The collector's store, its clock an hour later, sweeping
				// claims older than a minute.
				sl := l
				sl.ClaimTTL = time.Minute
				sl.Now = func() time.Time { return ctlTestNow.Add(time.Hour) }
				st := store.New(pool, rdb, store.Config{Layout: sl})
				if collector {
					_, err := st.ApplyPendingOutbox(ctx)
					require.NoError(t, err)
					switch step {
					case "read": // nothing held yet: the pending batch is applied
						assert.Equal(t, store.StuckOutbox{}, st.StuckOutbox())
					case "committed": // settled: nothing left
						assert.Equal(t, store.StuckOutbox{}, st.StuckOutbox())
					default:
						assert.Equal(t, store.StuckOutbox{Held: 1}, st.StuckOutbox(), "the held batch is left to the rebuild")
					}
				}

				code, stdout, stderr := ctlRun(t, flags...)
				require.Equal(t, ExitOK, code, stderr)
				assert.Contains(t, stdout, "rebuild: ")

				// The collector after the rerun: nothing to apply twice.
				n, err := st.ApplyPendingOutbox(ctx)
				require.NoError(t, err)
				assert.LessOrEqual(t, n, 1)
				_, err = st.SweepClaims(ctx)
				require.NoError(t, err)
				var rows int
				require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM analytics_redis_outbox`).Scan(&rows))
				assert.Equal(t, 0, rows)
				claims := 0
				require.NoError(t, l.ScanClaims(ctx, rdb, func(ids []string, _ []counters.Claim) error {
					for _, id := range ids {
						if id == pendingID || id == appliedID {
							claims++
						}
					}
					return nil
				}))
				assert.Equal(t, 0, claims, "no claim left")

				code, stdout, _ = ctlRun(t, append([]string{"verify", "--month", "2025-11..2025-12"}, common(dsn, testdb.RedisAddr(), prefix)...)...)
				assert.Equal(t, "verify: 61 days, 2 months, 0 differences\n", stdout)
				assert.Equal(t, ExitOK, code)
				assert.Equal(t, "2", rdb.HGet(ctx, l.DailyKey("2025-11-30"), "session.start:events").Val(), "the pending batch once")
				assert.Equal(t, "1", rdb.HGet(ctx, l.DailyKey("2025-12-03"), "session.start:events").Val(), "the pending batch once")
				assert.Equal(t, "1", rdb.HGet(ctx, l.DailyKey("2025-12-02"), "session.start:events").Val(), "the applied batch once")
				assert.Equal(t, "5", rdb.HGet(ctx, l.MonthlyKey("2025-12"), "session.start:events").Val())
			})
		}
	}
}

// TestRebuildHeldBatchOtherPeriod: a batch an interrupted rebuild holds is
// settled by the next rebuild whatever its period (no collector applies it
// meanwhile), with every day and month it touches.
func TestRebuildHeldBatchOtherPeriod(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, _ := testdb.Migrated(t)
	rdb, prefix := testdb.RedisPrefix(t)
	o, err := DefaultOptions(nil)
	require.NoError(t, err)
	o.KeyPrefix = prefix
	l := testLayout(o)
	seed(t, dsn, rdb, l, loadFixture(t))
	id, _ := pendingBatch(t, dsn, []fixtureEvent{{ID: "e15", Name: "session.start", Date: "2025-11-30", SessionID: "s15"}})
	require.NoError(t, l.HoldClaims(ctx, rdb, []string{id}))
	flags := common(dsn, testdb.RedisAddr(), prefix)

	code, stdout, stderr := ctlRun(t, append([]string{"rebuild", "--from", "2025-12-20"}, flags...)...)
	assert.Equal(t, ExitError, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "  batch "+id+" of 2025-12-03T02:00:00Z, 2025-11-30 (held by a rebuild that did not finish)\n")

	code, stdout, stderr = ctlRun(t, append([]string{"rebuild", "--from", "2025-12-20", "--force"}, flags...)...)
	require.Equal(t, ExitOK, code, stderr)
	assert.Equal(t, "outbox batch "+id+" (2025-11-30): held by a rebuild that did not finish: settled now; its counts are in the rollups\n"+
		"rebuilt 2025-11-30 (1 day) and month 2025-11 from 1 rollup row (0 per agent)\n"+
		"rebuilt 2025-12-20 (1 day) and month 2025-12 from 9 rollup rows (4 per agent)\n"+
		"rebuild: 2 days, 2 months rewritten from PostgreSQL\n", stdout)
	code, stdout, _ = ctlRun(t, append([]string{"verify", "--month", "2025-11..2025-12"}, flags...)...)
	assert.Equal(t, "verify: 61 days, 2 months, 0 differences\n", stdout)
	assert.Equal(t, ExitOK, code)
	assert.Equal(t, int64(0), rdb.Exists(ctx, l.ClaimKey(id)).Val())
}

// TestRebuildRefusesUndecodableOutbox: which days an undecodable outbox row
// counts for is unknown, so rebuild stops, even with --force.
func TestRebuildRefusesUndecodableOutbox(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, _ := testdb.Migrated(t)
	rdb, prefix := testdb.RedisPrefix(t)
	pool, err := pgxpool.New(ctx, dsn)
	require.NoError(t, err)
	defer pool.Close()
	var id string
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO analytics_redis_outbox (batch_id, created_at, deltas)
		VALUES (gen_random_uuid(), '2025-12-03T02:00:00Z', '{"not": "rows"}') RETURNING batch_id::text`).Scan(&id))
	before := dumpRedis(t, rdb, prefix)
	code, stdout, stderr := ctlRun(t, append([]string{"rebuild", "--month", "2025-12", "--force"}, common(dsn, testdb.RedisAddr(), prefix)...)...)
	assert.Equal(t, ExitError, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "analyticsctl rebuild: outbox batch "+id+" of 2025-12-03T02:00:00Z cannot be decoded (counters: bad outbox deltas: ")
	assert.Contains(t, stderr, "fix or delete the row by hand (after noting its days), then rebuild those days\n")
	assert.Equal(t, before, dumpRedis(t, rdb, prefix))
}
