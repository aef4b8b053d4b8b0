package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
	"github.com/otelcol-analytics/otelcol-analytics/internal/testdb"
)

// claims returns every claim under the env's prefix: batch id → value.
func (e *env) claims(t testing.TB) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	iter := e.rdb.Scan(ctx, 0, e.layout.ClaimKey("")+"*", 1000).Iterator()
	for iter.Next(ctx) {
		id, _ := e.layout.BatchOfClaimKey(iter.Val())
		out[id] = e.rdb.Get(ctx, iter.Val()).Val()
	}
	require.NoError(t, iter.Err())
	return out
}

// insertOutbox writes an outbox row by hand.
func (e *env) insertOutbox(t testing.TB, at string, deltas string) string {
	t.Helper()
	var id string
	require.NoError(t, e.pool.QueryRow(context.Background(),
		`INSERT INTO analytics_redis_outbox (batch_id, created_at, deltas) VALUES (gen_random_uuid(), $1, $2) RETURNING batch_id::text`,
		at, deltas).Scan(&id))
	return id
}

// assertRedisEqualsRollups checks every day and month of the rollups in
// Redis, exactly.
func (e *env) assertRedisEqualsRollups(t *testing.T, msg string) {
	t.Helper()
	pg := e.rollups(t)
	days, months := map[string]bool{}, map[string]bool{}
	for _, r := range pg {
		days[r.Date], months[counters.MonthOf(r.Date)] = true, true
	}
	var dayList []string
	for d := range days {
		dayList = append(dayList, d)
	}
	assert.Equal(t, pg, e.redisDays(t, dayList...), msg)
	for m := range months {
		assert.Equal(t, monthOf(pg, m), e.redisMonth(t, m), msg+" (month "+m+")")
	}
}

var errCrash = errors.New("simulated crash")

// TestOutboxCrashPoints crashes the write path's Redis update at each step
// of the outbox protocol (after taking the row, after Apply but before the
// commit, after the commit but before the claim's delete — which is also a
// failing DEL), then restarts: Redis ends exactly equal to PostgreSQL, the
// outbox empty, no claim left once swept, and a stale apply of the row (an
// applier that read its id before) adds nothing.
func TestOutboxCrashPoints(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		step      string
		rowLeft   int  // outbox rows after the crash
		claimLeft bool // the batch's claim after the crash
		swept     int  // claims SweepClaims deletes at the end
	}{
		{step: "taken", rowLeft: 1},
		{step: "applied", rowLeft: 1, claimLeft: true},
		{step: "committed", claimLeft: true, swept: 1},
	} {
		t.Run(tc.step, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			e := newEnv(t)
			s := e.store()
			var id string
			s.outbox.hook = func(step, batchID string) error {
				if step == tc.step {
					id = batchID
					return errCrash
				}
				return nil
			}
			res, err := s.Write(ctx, normalised(t, boundaryBatch()...))
			require.NoError(t, err, "committed: a failed Redis update does not fail the write")
			assert.Equal(t, Result{Inserted: 11, RedisDeferred: 1}, res)
			require.NotEmpty(t, id)
			assert.Equal(t, boundaryRollups(), e.rollups(t))
			assert.Equal(t, tc.rowLeft, e.count(t, `SELECT count(*) FROM analytics_redis_outbox`))
			_, claimed := e.claims(t)[id]
			assert.Equal(t, tc.claimLeft, claimed)
			if tc.claimLeft {
				e.assertRedisEqualsRollups(t, "applied before the crash")
			} else {
				assert.Empty(t, e.redisDays(t, "2025-11-30", "2025-12-01"))
			}

			// Restart.
			s2 := e.store()
			n, err := s2.ApplyPendingOutbox(ctx)
			require.NoError(t, err)
			assert.Equal(t, tc.rowLeft, n)
			e.assertRedisEqualsRollups(t, "counted once")
			assert.Equal(t, 0, e.count(t, `SELECT count(*) FROM analytics_redis_outbox`))
			swept, err := s2.sweepClaims(ctx, 0)
			require.NoError(t, err)
			assert.Equal(t, tc.swept, swept)
			assert.Empty(t, e.claims(t))

			// The claim is gone: a stale apply of the row still counts nothing.
			out, err := s2.applyBatch(ctx, id, boundaryRollups())
			require.NoError(t, err)
			assert.Equal(t, outcomeGone, out)
			n, err = s2.ApplyPendingOutbox(ctx)
			require.NoError(t, err)
			assert.Equal(t, 0, n)
			e.assertRedisEqualsRollups(t, "still counted once")
			assert.Empty(t, e.claims(t))
		})
	}
}

// TestOutboxConcurrentAppliers: several collectors' ApplyPendingOutbox and
// the write path apply the same rows at once; each row counts once, and
// every claim is deleted with its row.
func TestOutboxConcurrentAppliers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	const rows = 300
	ids := make([]string, rows)
	for i := range ids {
		ids[i] = e.insertOutbox(t, fmt.Sprintf("2025-12-03T00:00:%02d.%03dZ", i/1000, i%1000),
			`[{"d":"2025-12-01","e":"session.start","n":1},{"d":"2025-12-01","a":"a1","e":"ticket.closed","n":1,"mc":1,"ms":3}]`)
	}
	var wg sync.WaitGroup
	settled := make([]int, 6)
	for w := range settled {
		wg.Go(func() {
			s := e.store()
			for e.count(t, `SELECT count(*) FROM analytics_redis_outbox`) > 0 {
				n, err := s.ApplyPendingOutbox(ctx)
				assert.NoError(t, err)
				settled[w] += n
			}
		})
	}
	wg.Go(func() { // the write path of each batch, newest first
		s := e.store()
		deltas := []counters.Row{row("2025-12-01", "", "session.start", 1, 0, 0, 0), row("2025-12-01", "a1", "ticket.closed", 1, 1, 3, 0)}
		for i := rows - 1; i >= 0; i-- {
			s.applyOutbox(ctx, ids[i], deltas)
		}
	})
	wg.Wait()
	total := 0
	for _, n := range settled {
		total += n
	}
	assert.LessOrEqual(t, total, rows)
	assert.Equal(t, []counters.Row{
		row("2025-12-01", "", "session.start", rows, 0, 0, 0),
		row("2025-12-01", "a1", "ticket.closed", rows, rows, 3*rows, 0),
	}, e.redisDays(t, "2025-12-01"))
	assert.Equal(t, []counters.Row{
		row("2025-12", "", "session.start", rows, 0, 0, 0),
		row("2025-12", "a1", "ticket.closed", rows, rows, 3*rows, 0),
	}, e.redisMonth(t, "2025-12"))
	assert.Equal(t, 0, e.count(t, `SELECT count(*) FROM analytics_redis_outbox`))
	assert.Empty(t, e.claims(t), "each claim went with its row")
}

// TestOutboxClaimSurvivesEviction: the outbox row stays after its apply
// (the commit of its delete failed) and Redis, full, evicts under
// volatile-lru: the claim has no TTL and is kept, so the late re-apply is a
// no-op and the batch counts once (the monthly hashes, which have no TTL,
// prove it; daily hashes have a TTL and may be evicted, which is what
// CheckEvictionPolicy warns of).
func TestOutboxClaimSurvivesEviction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, _ := testdb.Migrated(t)
	srv := testdb.StartRedis(t)
	rdb := redisClient(t, srv.Addr)
	require.NoError(t, rdb.ConfigSet(ctx, "maxmemory", "2mb").Err())
	require.NoError(t, rdb.ConfigSet(ctx, "maxmemory-policy", "volatile-lru").Err())
	warning, err := counters.CheckEvictionPolicy(ctx, rdb)
	require.NoError(t, err)
	assert.Contains(t, warning, "volatile-lru")
	e := newEnvWith(t, dsn, rdb, "analytics:")

	s := e.store()
	var id string
	s.outbox.hook = func(step, batchID string) error {
		if step == "applied" {
			id = batchID
			return errCrash
		}
		return nil
	}
	res, err := s.Write(ctx, normalised(t, boundaryBatch()...))
	require.NoError(t, err)
	assert.Equal(t, 1, res.RedisDeferred)
	require.Equal(t, 1, e.count(t, `SELECT count(*) FROM analytics_redis_outbox`))

	junk := strings.Repeat("x", 16<<10)
	evicted := func() int {
		for _, line := range strings.Split(rdb.Info(ctx, "stats").Val(), "\r\n") {
			if v, ok := strings.CutPrefix(line, "evicted_keys:"); ok {
				n, err := strconv.Atoi(v)
				require.NoError(t, err)
				return n
			}
		}
		t.Fatal("no evicted_keys in INFO stats")
		return 0
	}
	for i := 0; evicted() < 20 && i < 5000; i++ {
		require.NoError(t, rdb.Set(ctx, "junk:"+strconv.Itoa(i), junk, time.Hour).Err())
	}
	require.GreaterOrEqual(t, evicted(), 20, "Redis evicted keys")
	assert.Equal(t, int64(1), rdb.Exists(ctx, e.layout.ClaimKey(id)).Val(), "the claim has no TTL: not evicted")

	n, err := e.store().ApplyPendingOutbox(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	pg := e.rollups(t)
	assert.Equal(t, monthOf(pg, "2025-11"), e.redisMonth(t, "2025-11"), "counted once")
	assert.Equal(t, monthOf(pg, "2025-12"), e.redisMonth(t, "2025-12"), "counted once")
	assert.Equal(t, 0, e.count(t, `SELECT count(*) FROM analytics_redis_outbox`))
	assert.Empty(t, e.claims(t))
}

// observed returns a Store logging into an observer.
func (e *env) observed() (*Store, *observer.ObservedLogs) {
	core, logs := observer.New(zap.InfoLevel)
	return New(e.pool, e.rdb, Config{Layout: e.layout, Logger: zap.New(core)}), logs
}

func countLogs(logs *observer.ObservedLogs, level zap.AtomicLevel, prefix string) int {
	n := 0
	for _, l := range logs.All() {
		if l.Level == level.Level() && strings.HasPrefix(l.Message, prefix) {
			n++
		}
	}
	return n
}

// TestOutboxRefusedBatchDoesNotBlock: a batch whose increment would
// overflow a Redis counter is refused whole, logged once at error level,
// counted in StuckOutbox and left in the outbox; the rows after it are
// applied; once the counter is repaired it applies.
func TestOutboxRefusedBatchDoesNotBlock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	s, logs := e.observed()
	start := func(id, day string) rec {
		return rec{name: "session.start", product: "ai_chatbot", id: id, at: ts(day + "T02:00:00Z"), attrs: map[string]any{"session_id": id}}
	}
	leavePending := func(step, _ string) error {
		if step == "taken" {
			return errCrash
		}
		return nil
	}
	s.outbox.hook = leavePending
	_, err := s.Write(ctx, normalised(t, start("x1", "2025-12-01")))
	require.NoError(t, err)

	const huge = "9100000000000000000"
	require.NoError(t, e.rdb.HSet(ctx, e.layout.DailyKey("2025-12-02"), "session.start:events", huge).Err())
	s.outbox.hook = nil
	res, err := s.Write(ctx, normalised(t, start("x2", "2025-12-02"), start("x2b", "2025-12-03")))
	require.NoError(t, err)
	assert.Equal(t, Result{Inserted: 2, RedisDeferred: 1}, res)
	s.outbox.hook = leavePending
	_, err = s.Write(ctx, normalised(t, start("x3", "2025-12-04")))
	require.NoError(t, err)
	s.outbox.hook = nil
	require.Equal(t, 3, e.count(t, `SELECT count(*) FROM analytics_redis_outbox`))
	const refusal = "Redis refuses an outbox batch"
	error := zap.NewAtomicLevelAt(zap.ErrorLevel)
	assert.Equal(t, 1, countLogs(logs, error, refusal))
	assert.Equal(t, StuckOutbox{Refused: 1}, s.StuckOutbox())

	for pass := range 2 {
		n, err := s.ApplyPendingOutbox(ctx)
		require.NoError(t, err, "a refused row is not an outage")
		assert.Equal(t, 2-2*pass, n, "the rows around the refused one are applied")
		assert.Equal(t, []counters.Row{
			row("2025-12-01", "", "session.start", 1, 0, 0, 0),
			row("2025-12-02", "", "session.start", 9_100_000_000_000_000_000, 0, 0, 0),
			row("2025-12-04", "", "session.start", 1, 0, 0, 0),
		}, e.redisDays(t, "2025-12-01", "2025-12-02", "2025-12-03", "2025-12-04"), "nothing of the refused batch")
		assert.Equal(t, 1, e.count(t, `SELECT count(*) FROM analytics_redis_outbox WHERE deltas::text LIKE '%2025-12-03%'`))
		pending, err := s.PendingOutbox(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(1), pending)
		assert.Equal(t, 1, countLogs(logs, error, refusal), "logged once per batch")
		assert.Equal(t, StuckOutbox{Refused: 1}, s.StuckOutbox())
	}

	// Repaired (as analyticsctl rebuild would): it applies.
	require.NoError(t, e.rdb.HSet(ctx, e.layout.DailyKey("2025-12-02"), "session.start:events", 0).Err())
	n, err := s.ApplyPendingOutbox(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, StuckOutbox{}, s.StuckOutbox())
	assert.Equal(t, []counters.Row{row("2025-12", "", "session.start", 4, 0, 0, 0)}, e.redisMonth(t, "2025-12"))
	assert.Equal(t, 0, e.count(t, `SELECT count(*) FROM analytics_redis_outbox`))
}

// TestOutboxUndecodableRowDoesNotBlock: a row whose payload cannot be
// decoded, between two good ones, does not stop them: they are applied with
// their exact counts. It is quarantined in the same drain: its reason
// (batch id, decode error, how to repair) and time are in the table, its
// payload as it was (analyticsctl verify lists it, rebuild refuses until it
// is fixed or deleted by hand), logged once with its batch id and the
// decode error. No drain takes it again, nor a restarted collector, which
// does not log it either but counts it (StuckOutbox, from the table). Once
// repaired as the package doc says (payload fixed, reason cleared) it is
// applied, once.
func TestOutboxUndecodableRowDoesNotBlock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	e.insertOutbox(t, "2025-12-03T00:00:00Z", `[{"d":"2025-12-01","e":"session.start","n":1}]`)
	const garbage = `{"not":"rows","n":"lots"}`
	bad := e.insertOutbox(t, "2025-12-03T00:00:01Z", garbage)
	e.insertOutbox(t, "2025-12-03T00:00:02Z",
		`[{"d":"2025-12-01","e":"session.start","n":2},{"d":"2025-12-02","a":"a1","e":"ticket.closed","n":1,"mc":1,"ms":3000000}]`)
	want := []counters.Row{
		row("2025-12-01", "", "session.start", 3, 0, 0, 0),
		row("2025-12-02", "a1", "ticket.closed", 1, 1, 3_000_000, 0),
	}
	_, decodeErr := counters.DecodeRows([]byte(garbage))
	require.Error(t, decodeErr)
	const msg = "an outbox row cannot be decoded"
	errorLevel := zap.NewAtomicLevelAt(zap.ErrorLevel)
	var reason string
	var quarantinedAt time.Time

	for life := range 2 { // a collector, then the same restarted
		s, logs := e.observed()
		taken := 0
		s.outbox.hook = func(step, id string) error {
			if step == "taken" && id == bad {
				taken++
			}
			return nil
		}
		for pass := range 2 {
			before := time.Now()
			n, err := s.ApplyPendingOutbox(ctx)
			require.NoError(t, err, "an undecodable row is not a failure")
			if life == 0 && pass == 0 {
				assert.Equal(t, 2, n, "both good rows applied")
			} else {
				assert.Zero(t, n)
			}
			assert.Equal(t, want, e.redisDays(t, "2025-12-01", "2025-12-02"), "the good rows exactly once, nothing of the bad one")
			assert.Equal(t, 1-life, taken, "taken once in all: in the first drain, never again, nor after a restart")

			var left []string
			require.NoError(t, e.pool.QueryRow(ctx,
				`SELECT array_agg(batch_id::text || ' ' || deltas::text) FROM analytics_redis_outbox`).Scan(&left))
			assert.Equal(t, []string{bad + ` {"n": "lots", "not": "rows"}`}, left, "the bad row kept as it was, alone")
			var r string
			var at time.Time
			require.NoError(t, e.pool.QueryRow(ctx,
				`SELECT quarantined_reason, quarantined_at FROM analytics_redis_outbox WHERE batch_id = $1`, bad).Scan(&r, &at))
			if life == 0 && pass == 0 {
				reason, quarantinedAt = r, at
				assert.Contains(t, r, "outbox batch "+bad+" cannot be decoded ("+decodeErr.Error()+")", "the reason names the batch and the error")
				assert.Contains(t, r, "set quarantined_reason and quarantined_at to NULL", "and how to repair it")
				assert.Contains(t, r, "delete the row by hand")
				assert.WithinDuration(t, before, at, time.Minute, "quarantined in this drain")
			}
			assert.Equal(t, reason, r, "quarantined once")
			assert.Equal(t, quarantinedAt, at, "quarantined once")

			pending, err := s.PendingOutbox(ctx)
			require.NoError(t, err)
			assert.Equal(t, int64(1), pending)
			assert.Equal(t, StuckOutbox{Undecodable: 1}, s.StuckOutbox(), "counted from the table, also after a restart")

			assert.Equal(t, 1-life, countLogs(logs, errorLevel, msg), "logged once in all")
			for _, l := range logs.FilterMessageSnippet(msg).All() {
				fields := l.ContextMap()
				assert.Equal(t, bad, fields["batch_id"])
				assert.Contains(t, fields["error"], decodeErr.Error(), "the reason: what does not decode")
			}
		}
	}
	assert.Empty(t, e.claims(t), "the bad row never reached Redis")

	// Repaired: the payload fixed and the reason cleared, it is applied once.
	_, err := e.pool.Exec(ctx, `UPDATE analytics_redis_outbox SET deltas = $2, quarantined_reason = NULL, quarantined_at = NULL WHERE batch_id = $1`,
		bad, `[{"d":"2025-12-01","e":"session.start","n":4}]`)
	require.NoError(t, err)
	s := e.store()
	for pass := range 2 {
		n, err := s.ApplyPendingOutbox(ctx)
		require.NoError(t, err)
		assert.Equal(t, 1-pass, n)
		assert.Equal(t, []counters.Row{
			row("2025-12-01", "", "session.start", 7, 0, 0, 0),
			row("2025-12-02", "a1", "ticket.closed", 1, 1, 3_000_000, 0),
		}, e.redisDays(t, "2025-12-01", "2025-12-02"))
		assert.Equal(t, StuckOutbox{}, s.StuckOutbox())
		assert.Equal(t, 0, e.count(t, `SELECT count(*) FROM analytics_redis_outbox`))
	}
}

// TestOutboxQuarantineSparesRepairedRow: a row repaired (or quarantined by
// another collector) between its failed decode and its quarantine keeps
// what it has.
func TestOutboxQuarantineSparesRepairedRow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	s := e.store()
	_, decodeErr := counters.DecodeRows([]byte(`{}`))
	require.Error(t, decodeErr)
	repaired := e.insertOutbox(t, "2025-12-03T00:00:00Z", `[{"d":"2025-12-01","e":"session.start","n":1}]`)
	out, err := s.quarantine(ctx, repaired, []byte(`{}`), decodeErr)
	require.NoError(t, err)
	assert.Equal(t, outcomeGone, out)
	other := e.insertOutbox(t, "2025-12-03T00:00:01Z", `{}`)
	_, err = e.pool.Exec(ctx, `UPDATE analytics_redis_outbox SET quarantined_reason = 'by another', quarantined_at = now() WHERE batch_id = $1`, other)
	require.NoError(t, err)
	out, err = s.quarantine(ctx, other, []byte(`{}`), decodeErr)
	require.NoError(t, err)
	assert.Equal(t, outcomeGone, out)
	assert.Equal(t, 1, e.count(t, `SELECT count(*) FROM analytics_redis_outbox WHERE quarantined_reason IS NULL AND quarantined_at IS NULL`), "the repaired row")
	assert.Equal(t, 1, e.count(t, `SELECT count(*) FROM analytics_redis_outbox WHERE quarantined_reason = 'by another'`))
	n, err := s.ApplyPendingOutbox(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, StuckOutbox{Undecodable: 1}, s.StuckOutbox())
}

// TestOutboxHeldBatch: a batch held by an interrupted rebuild is left in
// the outbox (warned once) until the hold goes.
func TestOutboxHeldBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	s, logs := e.observed()
	id := e.insertOutbox(t, "2025-12-03T00:00:00Z", `[{"d":"2025-12-01","e":"session.start","n":1}]`)
	require.NoError(t, e.layout.HoldClaims(ctx, e.rdb, []string{id}))
	warn := zap.NewAtomicLevelAt(zap.WarnLevel)
	for range 2 {
		n, err := s.ApplyPendingOutbox(ctx)
		require.NoError(t, err)
		assert.Equal(t, 0, n)
		assert.Empty(t, e.redisDays(t, "2025-12-01"))
		assert.Equal(t, StuckOutbox{Held: 1}, s.StuckOutbox())
		assert.Equal(t, 1, countLogs(logs, warn, "an outbox batch is held by an interrupted analyticsctl rebuild"))
	}
	require.NoError(t, e.layout.ReleaseClaims(ctx, e.rdb, id))
	n, err := s.ApplyPendingOutbox(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, []counters.Row{row("2025-12-01", "", "session.start", 1, 0, 0, 0)}, e.redisDays(t, "2025-12-01"))
	assert.Equal(t, StuckOutbox{}, s.StuckOutbox())
}

// TestSweepClaims deletes exactly the claims whose outbox row is gone and
// that are old enough (or of unknown age).
func TestSweepClaims(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	s := e.store()
	deltas := `[{"d":"2025-12-01","e":"session.start","n":1}]`
	withRow := e.insertOutbox(t, "2025-12-03T00:00:00Z", deltas)
	heldWithRow := e.insertOutbox(t, "2025-12-03T00:00:01Z", deltas)
	gone := e.insertOutbox(t, "2025-12-03T00:00:02Z", deltas)
	goneYoung := e.insertOutbox(t, "2025-12-03T00:00:03Z", deltas)
	_, err := e.pool.Exec(ctx, `DELETE FROM analytics_redis_outbox WHERE batch_id IN ($1, $2)`, gone, goneYoung)
	require.NoError(t, err)
	old := strconv.FormatInt(testNow.Add(-time.Hour).Unix(), 10)
	young := strconv.FormatInt(testNow.Add(-time.Minute).Unix(), 10)
	for id, v := range map[string]string{
		withRow:                                old,
		heldWithRow:                            "rebuild:" + old,
		gone:                                   old,
		goneYoung:                              young,
		"seed-not-a-uuid":                      old,
		"0b4f9c38-0000-4000-8000-000000000001": "1", // a claim of the version before: no time
	} {
		require.NoError(t, e.rdb.Set(ctx, e.layout.ClaimKey(id), v, 0).Err())
	}
	n, err := s.sweepClaims(ctx, 10*time.Minute)
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	assert.Equal(t, map[string]string{withRow: old, heldWithRow: "rebuild:" + old, goneYoung: young}, e.claims(t))

	e.layout.ClaimTTL = 30 * time.Second
	n, err = New(e.pool, e.rdb, Config{Layout: e.layout}).SweepClaims(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "claim_ttl is the sweep's minimum age")
	assert.Equal(t, map[string]string{withRow: old, heldWithRow: "rebuild:" + old}, e.claims(t))
}

// TestLateEventOfExpiredDay: with daily_ttl 48h, an event of a day whose
// daily hashes have expired is stored and counted in PostgreSQL and in the
// monthly hashes, but does not recreate the day in Redis (which would show
// that event alone); a hash of the day still there is deleted.
func TestLateEventOfExpiredDay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	e.layout.DailyTTL = 48 * time.Hour
	e.layout.Now = func() time.Time { return time.Date(2025, 12, 10, 0, 0, 0, 0, time.UTC) }
	s := e.store()
	require.NoError(t, e.rdb.HSet(ctx, e.layout.DailyKey("2025-12-01"), "session.start:events", 5).Err())
	res, err := s.Write(ctx, normalised(t,
		rec{name: "session.start", product: "ai_chatbot", id: "late", at: ts("2025-12-01T02:00:00Z"), attrs: map[string]any{"session_id": "s1"}},
		rec{
			name: "agent.session_takeover", product: "agent_workbench", id: "late-a", at: ts("2025-12-01T03:00:00Z"),
			attrs: map[string]any{"agent_id": "a1", "session_id": "s1", "wait_duration_seconds": 2.0},
		},
		rec{name: "session.start", product: "ai_chatbot", id: "recent", at: ts("2025-12-09T02:00:00Z"), attrs: map[string]any{"session_id": "s2"}},
	))
	require.NoError(t, err)
	assert.Equal(t, Result{Inserted: 3}, res)
	assert.Equal(t, []counters.Row{
		row("2025-12-01", "", "agent.session_takeover", 1, 1, 2_000_000, 0),
		row("2025-12-01", "", "session.start", 1, 0, 0, 0),
		row("2025-12-01", "a1", "agent.session_takeover", 1, 1, 2_000_000, 0),
		row("2025-12-09", "", "session.start", 1, 0, 0, 0),
	}, e.rollups(t))
	assert.Equal(t, []counters.Row{row("2025-12-09", "", "session.start", 1, 0, 0, 0)}, e.redisDays(t, "2025-12-01", "2025-12-09"),
		"the expired day is not in Redis, not even in part")
	assert.Equal(t, monthOf(e.rollups(t), "2025-12"), e.redisMonth(t, "2025-12"), "months keep counting")
}
