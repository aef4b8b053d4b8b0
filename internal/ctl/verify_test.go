package ctl

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
	"github.com/otelcol-analytics/otelcol-analytics/internal/testdb"
)

// TestVerifyOutboxStates: a batch not applied yet and one an interrupted
// rebuild holds are pending; one applied whose row is not deleted yet is
// not; an undecodable row is listed and is a difference whatever the
// period.
func TestVerifyOutboxStates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, _ := testdb.Migrated(t)
	rdb, prefix := testdb.RedisPrefix(t)
	o, err := DefaultOptions(nil)
	require.NoError(t, err)
	o.KeyPrefix = prefix
	l := testLayout(o)
	seed(t, dsn, rdb, l, loadFixture(t))
	pending, _ := pendingBatch(t, dsn, []fixtureEvent{{ID: "e15", Name: "session.start", Date: "2025-12-03", SessionID: "s15"}})
	held, _ := pendingBatch(t, dsn, []fixtureEvent{{ID: "e16", Name: "session.start", Date: "2025-12-05", SessionID: "s16"}})
	require.NoError(t, l.HoldClaims(ctx, rdb, []string{held}))
	applied, rows := pendingBatch(t, dsn, []fixtureEvent{{ID: "e17", Name: "session.start", Date: "2025-12-02", SessionID: "s17"}})
	ok, err := l.Apply(ctx, rdb, applied, rows)
	require.NoError(t, err)
	require.True(t, ok)
	pool, err := pgxpool.New(ctx, dsn)
	require.NoError(t, err)
	defer pool.Close()
	var bad string
	_, err = pool.Exec(ctx, `UPDATE analytics_redis_outbox SET created_at = '2025-12-03T03:00:00Z' WHERE batch_id = $1`, held)
	require.NoError(t, err)
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO analytics_redis_outbox (batch_id, created_at, deltas)
		VALUES (gen_random_uuid(), '2025-12-04T02:00:00Z', '[{"d": 5}]') RETURNING batch_id::text`).Scan(&bad))
	flags := common(dsn, testdb.RedisAddr(), prefix)

	code, stdout, stderr := ctlRun(t, append([]string{"verify", "--month", "2025-12", "--no-raw"}, flags...)...)
	assert.Empty(t, stderr)
	_, decodeErr := counters.DecodeRows([]byte(`[{"d": 5}]`))
	require.Error(t, decodeErr)
	badLine := "outbox batch " + bad + " of 2025-12-04T02:00:00Z cannot be decoded (" + decodeErr.Error() +
		"): its counts are in the rollups but cannot be applied to Redis\n"
	assert.Equal(t, badLine+
		"pending: outbox batch "+pending+" of 2025-12-03T02:00:00Z, 1 cell on 2025-12-03, not yet applied to Redis (the pipeline is not drained)\n"+
		"pending: outbox batch "+held+" of 2025-12-03T03:00:00Z, 1 cell on 2025-12-05, held by a rebuild that did not finish, not applied to Redis (run analyticsctl rebuild --force again)\n"+
		"2025-12-03 session.start events: redis=0 postgres=1\n"+
		"2025-12-05 session.start events: redis=0 postgres=1\n"+
		"2025-12 session.start events: redis=4 postgres=6\n"+
		"verify: 31 days, 1 month, 6 differences (3 pending outbox batches)\n", stdout)
	assert.Equal(t, ExitDifferences, code)

	// --allow-pending adds the pending and held batches; the undecodable
	// row stays a difference, also for another month.
	code, stdout, _ = ctlRun(t, append([]string{"verify", "--month", "2025-11", "--allow-pending", "--no-raw"}, flags...)...)
	assert.Equal(t, badLine+"verify: 30 days, 1 month, 1 difference (1 pending outbox batch)\n", stdout)
	assert.Equal(t, ExitDifferences, code)

	// Once a collector quarantined the row, verify says so.
	_, err = pool.Exec(ctx, `UPDATE analytics_redis_outbox SET quarantined_reason = 'bad', quarantined_at = '2025-12-04T02:00:05Z' WHERE batch_id = $1`, bad)
	require.NoError(t, err)
	code, stdout, _ = ctlRun(t, append([]string{"verify", "--month", "2025-11", "--allow-pending", "--no-raw"}, flags...)...)
	assert.Equal(t, strings.TrimSuffix(badLine, "\n")+"; a collector quarantined it at 2025-12-04T02:00:05Z (its quarantined_reason says how to repair it)\n"+
		"verify: 30 days, 1 month, 1 difference (1 pending outbox batch)\n", stdout)
	assert.Equal(t, ExitDifferences, code)
	_, err = pool.Exec(ctx, `DELETE FROM analytics_redis_outbox WHERE batch_id = $1`, bad)
	require.NoError(t, err)
	code, stdout, _ = ctlRun(t, append([]string{"verify", "--month", "2025-12", "--allow-pending", "--no-raw"}, flags...)...)
	assert.Equal(t, "pending: outbox batch "+pending+" of 2025-12-03T02:00:00Z, 1 cell on 2025-12-03, not yet applied to Redis (the pipeline is not drained); added to the Redis side (--allow-pending)\n"+
		"pending: outbox batch "+held+" of 2025-12-03T03:00:00Z, 1 cell on 2025-12-05, held by a rebuild that did not finish, not applied to Redis (run analyticsctl rebuild --force again); added to the Redis side (--allow-pending)\n"+
		"verify: 31 days, 1 month, 0 differences (2 pending outbox batches)\n", stdout)
	assert.Equal(t, ExitOK, code)
}

// TestVerifyPastRedisTTL: days (and months) past their Redis expiry are not
// in Redis by design: verify notes them and does not report them as
// differences; the rollups of those days are still checked against the raw
// events.
func TestVerifyPastRedisTTL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, _ := testdb.Migrated(t)
	rdb, prefix := testdb.RedisPrefix(t)
	o, err := DefaultOptions(nil)
	require.NoError(t, err)
	o.KeyPrefix = prefix
	o.DailyTTL = 720 * time.Hour // by the test clock (2026-01-01) November is past it, December not
	l := testLayout(o)
	seed(t, dsn, rdb, l, loadFixture(t))
	assert.Equal(t, int64(0), rdb.Exists(ctx, l.DailyKey("2025-11-30")).Val(), "the write skipped the expired day")
	flags := append(common(dsn, testdb.RedisAddr(), prefix), "--daily-ttl", "720h")

	code, stdout, stderr := ctlRun(t, append([]string{"verify", "--month", "2025-11..2025-12"}, flags...)...)
	assert.Empty(t, stderr)
	assert.Equal(t, "note: 2025-11-01..2025-11-30: days past the Redis TTL, not kept in Redis\n"+
		"verify: 61 days, 2 months, 0 differences\n", stdout)
	assert.Equal(t, ExitOK, code)

	code, stdout, _ = ctlRun(t, append([]string{"verify", "--from", "2025-11-30", "--to", "2025-12-01"}, flags...)...)
	assert.Equal(t, "note: 2025-11-30: day past the Redis TTL, not kept in Redis\n"+
		"verify: 2 days, 2 months, 0 differences\n", stdout)
	assert.Equal(t, ExitOK, code)

	// The rollups of an expired day are still checked against the raw events.
	pool, err := pgxpool.New(ctx, dsn)
	require.NoError(t, err)
	defer pool.Close()
	_, err = pool.Exec(ctx, `UPDATE analytics_daily_rollup SET events = 7 WHERE business_date = '2025-11-30'`)
	require.NoError(t, err)
	code, stdout, _ = ctlRun(t, append([]string{"verify", "--from", "2025-11-30"}, flags...)...)
	assert.Equal(t, "note: 2025-11-30: day past the Redis TTL, not kept in Redis\n"+
		"2025-11 session.start events: redis=1 postgres=7\n"+
		"2025-11-30 session.start events: rollup=7 raw=1\n"+
		"verify: 1 day, 1 month, 2 differences\n", stdout)
	assert.Equal(t, ExitDifferences, code)

	// A month past the monthly TTL (24 h after its end) is not compared.
	code, stdout, _ = ctlRun(t, append([]string{"verify", "--from", "2025-11-30", "--monthly-ttl", "24h"}, flags...)...)
	assert.Equal(t, "note: 2025-11-30: day past the Redis TTL, not kept in Redis\n"+
		"note: 2025-11: month past the Redis TTL, not kept in Redis\n"+
		"2025-11-30 session.start events: rollup=7 raw=1\n"+
		"verify: 1 day, 1 month, 1 difference\n", stdout)
	assert.Equal(t, ExitDifferences, code)
}

// TestVerifyTyped: Verify, the typed check under analyticsctl verify, says
// in its result what the command prints: the differences, the pending
// batches, the count, and the summary line; its report is the command's
// output but for that line.
func TestVerifyTyped(t *testing.T) {
	t.Parallel()
	ctx := withTestHooks(context.Background(), testHooks{now: clock})
	dsn, _ := testdb.Migrated(t)
	rdb, prefix := testdb.RedisPrefix(t)
	o, err := DefaultOptions(nil)
	require.NoError(t, err)
	o.PostgresDSN, o.RedisAddr, o.KeyPrefix = dsn, testdb.RedisAddr(), prefix
	l := testLayout(o)
	seed(t, dsn, rdb, l, loadFixture(t))
	require.NoError(t, rdb.HSet(ctx, l.DailyKey("2025-12-01"), "session.start:events", 4).Err())
	pending, _ := pendingBatch(t, dsn, []fixtureEvent{{ID: "e15", Name: "session.start", Date: "2025-12-03", SessionID: "s15"}})

	var report bytes.Buffer
	res, err := Verify(ctx, VerifyOptions{Options: o, Period: Period{Months: []string{"2025-12"}}, NoRaw: true, Report: &report})
	require.NoError(t, err)
	assert.Equal(t, 31, res.Days)
	assert.Equal(t, 1, res.Months)
	want := []string{
		"2025-12-01 session.start events: redis=4 postgres=3",
		"2025-12-03 session.start events: redis=0 postgres=1",
		"2025-12 session.start events: redis=3 postgres=4",
	}
	var got []string
	for _, d := range res.Differences {
		got = append(got, d.String())
	}
	assert.Equal(t, want, got)
	assert.Equal(t, Difference{
		Cell: counters.Cell{Date: "2025-12-01", Event: "session.start"}, Field: counters.FieldEvents,
		Left: counters.SumOf(4), Right: counters.SumOf(3), LeftName: "redis", RightName: "postgres",
	}, res.Differences[0])
	require.Len(t, res.Pending, 1)
	assert.Equal(t, PendingBatch{ID: pending, Created: res.Pending[0].Created, Cells: 1, Span: "2025-12-03"}, res.Pending[0])
	assert.Empty(t, res.Undecodable)
	assert.False(t, res.PendingAdded)
	assert.Equal(t, 4, res.Count())
	assert.False(t, res.Equal())
	assert.Equal(t, ExitDifferences, res.ExitCode())
	assert.Equal(t, "verify: 31 days, 1 month, 4 differences (1 pending outbox batch)", res.Summary())

	code, stdout, _ := ctlRun(t, append([]string{"verify", "--month", "2025-12", "--no-raw"}, common(dsn, testdb.RedisAddr(), prefix)...)...)
	assert.Equal(t, res.ExitCode(), code)
	assert.Equal(t, report.String()+res.Summary()+"\n", stdout)

	// With AllowPending the batch is on the Redis side: only the changed
	// daily field differs.
	res, err = Verify(ctx, VerifyOptions{Options: o, Period: Period{From: "2025-12-01", To: "2025-12-03"}, AllowPending: true, NoRaw: true})
	require.NoError(t, err)
	assert.True(t, res.PendingAdded)
	assert.Len(t, res.Pending, 1)
	require.Len(t, res.Differences, 1)
	assert.Equal(t, want[0], res.Differences[0].String())
	assert.Equal(t, 1, res.Count())
	assert.Equal(t, "verify: 3 days, 1 month, 1 difference (1 pending outbox batch)", res.Summary())

	// Bad options are an error, as the flags are.
	_, err = Verify(ctx, VerifyOptions{Options: o})
	require.ErrorContains(t, err, "no period")
	bad := o
	bad.KeyPrefix = ""
	_, err = Verify(ctx, VerifyOptions{Options: bad, Period: Period{From: "2025-12-01"}})
	require.ErrorContains(t, err, "--key-prefix is empty")
}
