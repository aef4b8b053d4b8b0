package ctl

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
	"github.com/otelcol-analytics/otelcol-analytics/internal/normalize"
	"github.com/otelcol-analytics/otelcol-analytics/internal/store"
	"github.com/otelcol-analytics/otelcol-analytics/internal/testdb"
)

// wireRecord is a record as a product sends it.
type wireRecord struct {
	name, product, id string
	at                string // RFC 3339
	attrs             map[string]any
}

// ingest runs records through the normaliser with the built-in catalog and
// the store, as the collector pipeline does (eventcatalog processor, then
// analytics exporter).
func ingest(t *testing.T, st *store.Store, recs ...wireRecord) store.Result {
	t.Helper()
	ld := plog.NewLogs()
	n := normalize.New(nil, normalize.DefaultLimits())
	for _, r := range recs {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", r.product)
		lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		lr.SetEventName(r.name)
		at, err := time.Parse(time.RFC3339, r.at)
		require.NoError(t, err)
		lr.SetTimestamp(pcommon.NewTimestampFromTime(at))
		require.NoError(t, lr.Attributes().FromRaw(r.attrs))
		if r.id != "" {
			lr.Attributes().PutStr("event.id", r.id)
		}
		n.Record(rl.Resource(), rl.ScopeLogs().At(0).Scope(), lr, time.Now())
	}
	res, err := st.Write(context.Background(), ld)
	require.NoError(t, err)
	return res
}

func TestReplayRejected(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, _ := testdb.Migrated(t)
	rdb, prefix := testdb.RedisPrefix(t)
	pool, err := pgxpool.New(ctx, dsn)
	require.NoError(t, err)
	defer pool.Close()
	o, err := DefaultOptions(nil)
	require.NoError(t, err)
	o.KeyPrefix = prefix
	st := store.New(pool, rdb, store.Config{Layout: testLayout(o)})

	res := ingest(t, st,
		wireRecord{"session.start", "ai_chatbot", "start-1", "2025-12-01T02:00:00Z", map[string]any{"session_id": "s1"}},
		// chat.rating is not in the built-in catalog: unknown_event.
		wireRecord{"chat.rating", "ai_chatbot", "rate-1", "2025-12-01T02:00:00Z", map[string]any{"session_id": "s1", "rating": 4.5, "helpful": true}},
		wireRecord{"chat.rating", "ai_chatbot", "", "2025-12-01T03:00:00Z", map[string]any{"session_id": "s2", "rating": 5, "helpful": false}},
		wireRecord{"chat.rating", "ai_chatbot", "", "2025-11-30T16:30:00Z", map[string]any{"session_id": "s3", "rating": 0.0000025}},
		wireRecord{"chat.rating", "ai_chatbot", "rate-4", "2025-12-02T01:00:00Z", map[string]any{"session_id": "s4"}},
		// Rejected for a reason the new catalog does not fix.
		wireRecord{"session.message", "ai_chatbot", "msg-bad", "2025-12-01T02:00:00Z", map[string]any{"session_id": "s1"}},
	)
	require.Equal(t, 1, res.Inserted)
	require.Equal(t, map[string]int{"unknown_event": 4, "missing_attribute": 1}, res.RejectedByReason)

	flags := common(dsn, testdb.RedisAddr(), prefix)
	catalogFlags := append([]string{"--catalog", "testdata/catalog-chat-rating.yaml"}, flags...)
	replay := func(args ...string) string {
		t.Helper()
		code, stdout, stderr := ctlRun(t, append(append([]string{"replay-rejected"}, args...), catalogFlags...)...)
		require.Equal(t, ExitOK, code, stderr)
		require.Empty(t, stderr)
		return stdout
	}
	count := func(sql string) int {
		t.Helper()
		var n int
		require.NoError(t, pool.QueryRow(ctx, sql).Scan(&n))
		return n
	}
	before := dumpRedis(t, rdb, prefix)

	t.Run("dry run writes nothing", func(t *testing.T) {
		assert.Equal(t, "missing_attribute: 0 would be replayed, 1 still rejected (missing_attribute: 1)\n"+
			"unknown_event: 3 would be replayed, 1 still rejected (missing_attribute: 1)\n"+
			"replay-rejected (dry run): 5 rejected events read, 3 would be replayed, 2 still rejected; nothing written\n",
			replay("--dry-run"))
		assert.Equal(t, "unknown_event: 2 would be replayed, 0 still rejected\n"+
			"replay-rejected (dry run): 2 rejected events read, 2 would be replayed, 0 still rejected; nothing written\n",
			replay("--dry-run", "--limit", "2", "--reason", "unknown_event"))
		assert.Equal(t, "replay-rejected (dry run): 0 rejected events read, 0 would be replayed, 0 still rejected; nothing written\n",
			replay("--dry-run", "--since", "2999-01-01"))
		assert.Equal(t, 1, count(`SELECT count(*) FROM analytics_events`))
		assert.Equal(t, 0, count(`SELECT count(*) FROM analytics_rejected_events WHERE replayed_at IS NOT NULL`))
		assert.Equal(t, before, dumpRedis(t, rdb, prefix))
	})

	t.Run("without the new catalog nothing passes", func(t *testing.T) {
		code, stdout, stderr := ctlRun(t, append([]string{"replay-rejected", "--reason", "unknown_event"}, flags...)...)
		require.Equal(t, ExitOK, code, stderr)
		assert.Equal(t, "unknown_event: 0 replayed, 4 still rejected (unknown_event: 4)\n"+
			"replay-rejected: 4 rejected events read, 0 replayed (0 stored, 0 already stored), 4 still rejected\n", stdout)
		assert.Equal(t, 1, count(`SELECT count(*) FROM analytics_events`))
	})

	t.Run("replayed once", func(t *testing.T) {
		assert.Equal(t, "missing_attribute: 0 replayed, 1 still rejected (missing_attribute: 1)\n"+
			"unknown_event: 3 replayed, 1 still rejected (missing_attribute: 1)\n"+
			"replay-rejected: 5 rejected events read, 3 replayed (3 stored, 0 already stored), 2 still rejected\n",
			replay())
		assert.Equal(t, 4, count(`SELECT count(*) FROM analytics_events`), "+3 events")
		assert.Equal(t, 3, count(`SELECT count(*) FROM analytics_events WHERE event_name = 'chat.rating' AND business_date = '2025-12-01'`),
			"16:30Z on 11-30 is 00:30 on 12-01 in Shanghai")
		assert.Equal(t, 1, count(`SELECT count(*) FROM analytics_rejected_events WHERE replayed_event_id = 'rate-1' AND event_id = 'rate-1'`))
		assert.Equal(t, 2, count(`SELECT count(*) FROM analytics_rejected_events WHERE replayed_event_id ~ '^[0-9a-f]{32}$'`))
		assert.Equal(t, 3, count(`SELECT count(*) FROM analytics_rejected_events r JOIN analytics_events e ON e.event_id = r.replayed_event_id`))
		assert.Equal(t, 2, count(`SELECT count(*) FROM analytics_rejected_events WHERE replayed_at IS NULL AND event_id IN ('rate-4', 'msg-bad')`))

		// By hand: ratings 4.5 + 5 (an int, widened) + 0.0000025 (a tie,
		// 3 millionths) = 9_500_003 millionths over 3; helpful once.
		var events, mc, ms, flag int64
		require.NoError(t, pool.QueryRow(ctx, `SELECT events, measure_count, measure_sum_micro, flag_true FROM analytics_daily_rollup
			WHERE business_date = '2025-12-01' AND event_name = 'chat.rating'`).Scan(&events, &mc, &ms, &flag))
		assert.Equal(t, []int64{3, 3, 9_500_003, 1}, []int64{events, mc, ms, flag})
		want := map[string]string{
			"session.start:events": "1", "chat.rating:events": "3", "chat.rating:measure_count": "3",
			"chat.rating:measure_sum_micro": "9500003", "chat.rating:flag_true": "1",
		}
		assert.Equal(t, want, rdb.HGetAll(ctx, prefix+"daily:2025-12-01").Val())
		assert.Equal(t, want, rdb.HGetAll(ctx, prefix+"monthly:2025-12").Val())

		code, stdout, _ := ctlRun(t, append([]string{"verify", "--month", "2025-12"}, catalogFlags...)...)
		assert.Equal(t, "verify: 31 days, 1 month, 0 differences\n", stdout)
		assert.Equal(t, ExitOK, code)
		// verify needs the collector's catalog to know chat.rating's measure
		// and flag in the raw events.
		code, stdout, _ = ctlRun(t, append([]string{"verify", "--month", "2025-12"}, flags...)...)
		assert.Equal(t, "2025-12-01 chat.rating measure_count: rollup=3 raw=0\n"+
			"2025-12-01 chat.rating measure_sum_micro: rollup=9500003 raw=0\n"+
			"2025-12-01 chat.rating flag_true: rollup=1 raw=0\n"+
			"verify: 31 days, 1 month, 3 differences\n", stdout)
		assert.Equal(t, ExitDifferences, code)
	})

	after := dumpRedis(t, rdb, prefix)

	t.Run("a second run replays nothing", func(t *testing.T) {
		assert.Equal(t, "missing_attribute: 0 replayed, 1 still rejected (missing_attribute: 1)\n"+
			"unknown_event: 0 replayed, 1 still rejected (missing_attribute: 1)\n"+
			"replay-rejected: 2 rejected events read, 0 replayed (0 stored, 0 already stored), 2 still rejected\n",
			replay())
		assert.Equal(t, 4, count(`SELECT count(*) FROM analytics_events`))
		assert.Equal(t, after, dumpRedis(t, rdb, prefix))
	})

	t.Run("a crash between storing and marking is harmless", func(t *testing.T) {
		_, err := pool.Exec(ctx, `UPDATE analytics_rejected_events SET replayed_at = NULL, replayed_event_id = NULL WHERE event_id = 'rate-1'`)
		require.NoError(t, err)
		assert.Equal(t, "unknown_event: 1 replayed, 0 still rejected\n"+
			"replay-rejected: 1 rejected event read, 1 replayed (0 stored, 1 already stored), 0 still rejected\n",
			replay("--reason", "unknown_event", "--limit", "1"))
		assert.Equal(t, 4, count(`SELECT count(*) FROM analytics_events`))
		assert.Equal(t, 1, count(`SELECT count(*) FROM analytics_rejected_events WHERE replayed_event_id = 'rate-1'`))
		assert.Equal(t, after, dumpRedis(t, rdb, prefix), "Redis not counted twice")
	})

	t.Run("bad flags", func(t *testing.T) {
		code, _, stderr := ctlRun(t, append([]string{"replay-rejected", "--since", "yesterday"}, flags...)...)
		assert.Equal(t, ExitError, code)
		assert.Equal(t, "analyticsctl replay-rejected: --since \"yesterday\": want YYYY-MM-DD or an RFC 3339 time such as 2025-12-01T08:00:00+08:00\n", stderr)
		code, _, stderr = ctlRun(t, append([]string{"replay-rejected", "--catalog", "testdata/nope.yaml"}, flags...)...)
		assert.Equal(t, ExitError, code)
		assert.Contains(t, stderr, "testdata/nope.yaml")
	})
}

// TestReplayRefusedByPostgres: a replayed record PostgreSQL refuses (here
// the day's rollup sum would overflow bigint) stays rejected, with reason
// storage_refused, while the others of its page are replayed.
func TestReplayRefusedByPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, _ := testdb.Migrated(t)
	rdb, prefix := testdb.RedisPrefix(t)
	pool, err := pgxpool.New(ctx, dsn)
	require.NoError(t, err)
	defer pool.Close()
	st := store.New(pool, rdb, store.Config{Layout: counters.Layout{Prefix: prefix}})
	var recs []wireRecord
	for _, id := range []string{"cost-1", "cost-2", "cost-3"} {
		recs = append(recs, wireRecord{"chat.cost", "ai_chatbot", id, "2025-12-01T02:00:00Z", map[string]any{"amount": 1e12}})
	}
	res := ingest(t, st, recs...)
	require.Equal(t, map[string]int{"unknown_event": 3}, res.RejectedByReason)
	// A constraint of the operator's that PostgreSQL enforces and the
	// catalog does not know: cost-3 is refused (23514, a data error).
	_, err = pool.Exec(ctx, `ALTER TABLE analytics_events ADD CONSTRAINT no_cost_3 CHECK (event_id <> 'cost-3')`)
	require.NoError(t, err)

	code, stdout, stderr := ctlRun(t, append([]string{"replay-rejected", "--catalog", "testdata/catalog-cost.yaml"},
		common(dsn, testdb.RedisAddr(), prefix)...)...)
	require.Equal(t, ExitOK, code, stderr)
	assert.Equal(t, "unknown_event: 2 replayed, 1 still rejected (storage_refused: 1)\n"+
		"replay-rejected: 3 rejected events read, 2 replayed (2 stored, 0 already stored), 1 still rejected\n", stdout)
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM analytics_events`).Scan(&n))
	assert.Equal(t, 2, n)
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM analytics_rejected_events WHERE replayed_at IS NULL`).Scan(&n))
	assert.Equal(t, 1, n)
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM analytics_rejected_events`).Scan(&n))
	assert.Equal(t, 3, n, "the refused record is not stored a second time")
	assert.Equal(t, "2000000000000000000", rdb.HGet(ctx, prefix+"daily:2025-12-01", "chat.cost:measure_sum_micro").Val())
}

// TestVerifyRebuildThroughStore loads the fixture through the real write
// path (normaliser + store, as the collector does), then: verify passes;
// the private Redis is flushed; verify fails; rebuild; verify passes and
// Redis holds exactly what the store's increments had made.
func TestVerifyRebuildThroughStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, _ := testdb.Migrated(t)
	srv := testdb.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer func() { assert.NoError(t, rdb.Close()) }()
	pool, err := pgxpool.New(ctx, dsn)
	require.NoError(t, err)
	defer pool.Close()
	o, err := DefaultOptions(nil)
	require.NoError(t, err)
	st := store.New(pool, rdb, store.Config{Layout: testLayout(o)})

	cat := catalog.Default()
	var recs []wireRecord
	for _, e := range loadFixture(t) {
		def, _ := cat.Lookup(e.Name)
		attrs := map[string]any{}
		for k, v := range e.Attrs {
			attrs[k] = v
		}
		for k, v := range map[string]string{"session_id": e.SessionID, "agent_id": e.AgentID, "ticket_id": e.TicketID, "customer_id": e.CustomerID} {
			if v != "" {
				attrs[k] = v
			}
		}
		day, err := time.ParseInLocation(counters.DateLayout, e.Date, shanghai)
		require.NoError(t, err)
		recs = append(recs, wireRecord{e.Name, def.Product, e.ID, day.Add(10 * time.Hour).Format(time.RFC3339), attrs})
	}
	res := ingest(t, st, recs...)
	require.Equal(t, 14, res.Inserted)
	require.Zero(t, res.Rejected)

	// The store's rollups are the numbers worked out by hand.
	got, err := readRollups(ctx, pool, time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	require.Equal(t, fixtureRows, got)

	flags := []string{"--postgres-dsn", dsn, "--redis-addr", srv.Addr}
	verify := func() (int, string) {
		code, stdout, _ := ctlRun(t, append([]string{"verify", "--month", "2025-11..2025-12"}, flags...)...)
		return code, stdout
	}
	code, out := verify()
	require.Equal(t, "verify: 61 days, 2 months, 0 differences\n", out)
	require.Equal(t, ExitOK, code)
	written := dumpRedis(t, rdb, "analytics:")

	require.NoError(t, rdb.FlushAll(ctx).Err()) // the private server
	code, out = verify()
	assert.Equal(t, ExitDifferences, code)
	assert.Contains(t, out, "verify: 61 days, 2 months, 54 differences\n")

	code, stdout, stderr := ctlRun(t, append([]string{"rebuild", "--month", "2025-11..2025-12"}, flags...)...)
	require.Equal(t, ExitOK, code, stderr)
	assert.Equal(t, "rebuilt 2025-11-01..2025-11-30 (30 days) and month 2025-11 from 1 rollup row (0 per agent)\n"+
		"rebuilt 2025-12-01..2025-12-31 (31 days) and month 2025-12 from 9 rollup rows (4 per agent)\n"+
		"rebuild: 61 days, 2 months rewritten from PostgreSQL\n", stdout)
	code, out = verify()
	assert.Equal(t, "verify: 61 days, 2 months, 0 differences\n", out)
	assert.Equal(t, ExitOK, code)
	assert.Equal(t, written, dumpRedis(t, rdb, "analytics:"))
}

// TestReplayConflictAndTruncated: a replayed record whose product and id
// were stored meanwhile with other content stays rejected
// (duplicate_conflict) without a second row, and a row whose raw form was cut
// cannot be replayed (raw_truncated).
func TestReplayConflictAndTruncated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, _ := testdb.Migrated(t)
	rdb, prefix := testdb.RedisPrefix(t)
	pool, err := pgxpool.New(ctx, dsn)
	require.NoError(t, err)
	defer pool.Close()
	st := store.New(pool, rdb, store.Config{Layout: counters.Layout{Prefix: prefix}})

	huge := map[string]any{"session_id": "s9", "rating": 1.0}
	for i := range 20 {
		huge[fmt.Sprintf("note%02d", i)] = strings.Repeat("n", 4000)
	}
	res := ingest(t, st,
		wireRecord{"chat.rating", "ai_chatbot", "same-id", "2025-12-01T02:00:00Z", map[string]any{"session_id": "s1", "rating": 4.0}},
		wireRecord{"chat.rating", "ai_chatbot", "big-id", "2025-12-01T02:00:00Z", huge},
		// Meanwhile the product reused the id for another event.
		wireRecord{"session.start", "ai_chatbot", "same-id", "2025-12-01T03:00:00Z", map[string]any{"session_id": "s1"}},
	)
	require.Equal(t, 1, res.Inserted)
	require.Equal(t, map[string]int{"unknown_event": 1, "too_large": 1}, res.RejectedByReason)
	count := func(sql string) int {
		t.Helper()
		var n int
		require.NoError(t, pool.QueryRow(ctx, sql).Scan(&n))
		return n
	}
	require.Equal(t, 1, count(`SELECT count(*) FROM analytics_rejected_events WHERE raw_truncated`))

	for range 2 {
		code, stdout, stderr := ctlRun(t, append([]string{"replay-rejected", "--catalog", "testdata/catalog-chat-rating.yaml"},
			common(dsn, testdb.RedisAddr(), prefix)...)...)
		require.Equal(t, ExitOK, code, stderr)
		assert.Equal(t, "too_large: 0 replayed, 1 still rejected (raw_truncated: 1)\n"+
			"unknown_event: 0 replayed, 1 still rejected (duplicate_conflict: 1)\n"+
			"replay-rejected: 2 rejected events read, 0 replayed (0 stored, 0 already stored), 2 still rejected\n", stdout)
	}
	assert.Equal(t, 2, count(`SELECT count(*) FROM analytics_rejected_events`), "no second row for the conflict")
	assert.Equal(t, 2, count(`SELECT count(*) FROM analytics_rejected_events WHERE replayed_at IS NULL`))
	assert.Equal(t, 1, count(`SELECT count(*) FROM analytics_events`))
	assert.Equal(t, 1, count(`SELECT count(*) FROM analytics_events WHERE event_name = 'session.start'`), "the stored event is kept")
}

// timelessRecord is a chat.rating record without Timestamp or
// ObservedTimestamp, as a sender without a clock sends it, normalised by n
// at now (the processor then uses now as its time).
func timelessRecord(t *testing.T, n *normalize.Normalizer, id string, rating float64, now time.Time) plog.Logs {
	t.Helper()
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "ai_chatbot")
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetEventName("chat.rating")
	lr.Attributes().PutStr("session_id", "s1")
	lr.Attributes().PutDouble("rating", rating)
	if id != "" {
		lr.Attributes().PutStr("event.id", id)
	}
	n.Record(rl.Resource(), rl.ScopeLogs().At(0).Scope(), lr, now)
	return ld
}

// TestReplayTimelessRecord: a rejected record without a time is replayed on
// the business day the processor gave it when it rejected it (the row's
// event_time, here 2025-12-04 in Shanghai), not on the day of the replay;
// its derived id is the one the processor derived, and a record with the
// sender's event.id keeps its content hash, so the same record sent again
// later is a duplicate, not a conflict. A row without any time stays
// pending, and the report says so.
func TestReplayTimelessRecord(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, _ := testdb.Migrated(t)
	rdb, prefix := testdb.RedisPrefix(t)
	pool, err := pgxpool.New(ctx, dsn)
	require.NoError(t, err)
	defer pool.Close()
	st := store.New(pool, rdb, store.Config{Layout: counters.Layout{Prefix: prefix}})

	// Rejected (chat.rating is not in the built-in catalog) at
	// 2025-12-03T20:30Z = 2025-12-04 04:30 in Shanghai.
	rejectedAt := time.Date(2025, 12, 3, 20, 30, 0, 0, time.UTC)
	builtin := normalize.New(nil, normalize.DefaultLimits())
	for _, ld := range []plog.Logs{
		timelessRecord(t, builtin, "", 4.5, rejectedAt),
		timelessRecord(t, builtin, "rate-own-id", 3, rejectedAt),
	} {
		res, err := st.Write(ctx, ld)
		require.NoError(t, err)
		require.Equal(t, map[string]int{"unknown_event": 1}, res.RejectedByReason)
	}
	// A record that reached the exporter unnormalised and without a time:
	// its row has no event_time.
	raw := plog.NewLogs()
	rl := raw.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "ai_chatbot")
	rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().SetEventName("chat.rating")
	res, err := st.Write(ctx, raw)
	require.NoError(t, err)
	require.Equal(t, map[string]int{"not_normalised": 1}, res.RejectedByReason)
	count := func(sql string) int {
		t.Helper()
		var n int
		require.NoError(t, pool.QueryRow(ctx, sql).Scan(&n))
		return n
	}
	require.Equal(t, 2, count(`SELECT count(*) FROM analytics_rejected_events WHERE event_time = '2025-12-03T20:30:00Z'`))
	require.Equal(t, 1, count(`SELECT count(*) FROM analytics_rejected_events WHERE event_time IS NULL`))

	flags := append([]string{"--catalog", "testdata/catalog-chat-rating.yaml"}, common(dsn, testdb.RedisAddr(), prefix)...)
	want := "not_normalised: 0 replayed, 1 still rejected (no_event_time: 1)\n" +
		"unknown_event: 2 replayed, 0 still rejected\n" +
		"note: 1 rejected event has no time (no Timestamp or ObservedTimestamp in raw, no event_time in the row): " +
		"left pending, as replaying would put them on the day of the replay\n" +
		"replay-rejected: 3 rejected events read, 2 replayed (2 stored, 0 already stored), 1 still rejected\n"
	code, stdout, stderr := ctlRun(t, append([]string{"replay-rejected"}, flags...)...)
	require.Equal(t, ExitOK, code, stderr)
	assert.Equal(t, want, stdout)

	assert.Equal(t, 2, count(`SELECT count(*) FROM analytics_events WHERE business_date = '2025-12-04' AND event_time = '2025-12-03T20:30:00Z'`))
	assert.Equal(t, 2, count(`SELECT count(*) FROM analytics_events`))
	assert.Equal(t, 2, count(`SELECT count(*) FROM analytics_rejected_events WHERE replayed_event_id = event_id`),
		"the replayed ids are the ones the processor gave (derived from the same time, and the sender's)")
	assert.Equal(t, 1, count(`SELECT count(*) FROM analytics_rejected_events WHERE replayed_at IS NULL AND reason = 'not_normalised'`))
	var events, ms int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT events, measure_sum_micro FROM analytics_daily_rollup
		WHERE business_date = '2025-12-04' AND event_name = 'chat.rating'`).Scan(&events, &ms))
	assert.Equal(t, []int64{2, 7_500_000}, []int64{events, ms})
	assert.Equal(t, 1, count(`SELECT count(*) FROM analytics_daily_rollup`), "nothing on the day of the replay")
	assert.Equal(t, "2", rdb.HGet(ctx, prefix+"daily:2025-12-04", "chat.rating:events").Val())

	// The sender sends its own-id record again, still without a time, now
	// that the catalog knows chat.rating: the processor uses its time of
	// receipt, but the content hash covers the sender's Timestamp only.
	cat, err := catalog.Load("testdata/catalog-chat-rating.yaml")
	require.NoError(t, err)
	res, err = st.Write(ctx, timelessRecord(t, normalize.New(cat, normalize.DefaultLimits()), "rate-own-id", 3, time.Now()))
	require.NoError(t, err)
	assert.Equal(t, store.Result{Duplicates: 1}, res)

	// Nothing left to replay but the time-less row.
	code, stdout, stderr = ctlRun(t, append([]string{"replay-rejected"}, flags...)...)
	require.Equal(t, ExitOK, code, stderr)
	assert.Equal(t, "not_normalised: 0 replayed, 1 still rejected (no_event_time: 1)\n"+
		"note: 1 rejected event has no time (no Timestamp or ObservedTimestamp in raw, no event_time in the row): "+
		"left pending, as replaying would put them on the day of the replay\n"+
		"replay-rejected: 1 rejected event read, 0 replayed (0 stored, 0 already stored), 1 still rejected\n", stdout)
	assert.Equal(t, 2, count(`SELECT count(*) FROM analytics_events`))
}

// TestReplayRetiredMonth: a rejected record of a month retention dropped
// since stays rejected (beyond_retention) on its own row, however often the
// replay runs; the month's rollups and partition are not touched.
func TestReplayRetiredMonth(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, _ := testdb.Migrated(t)
	rdb, prefix := testdb.RedisPrefix(t)
	pool, err := pgxpool.New(ctx, dsn)
	require.NoError(t, err)
	defer pool.Close()
	st := store.New(pool, rdb, store.Config{Layout: counters.Layout{Prefix: prefix}})
	res := ingest(t, st,
		wireRecord{"session.start", "ai_chatbot", "start-1", "2025-11-10T02:00:00Z", map[string]any{"session_id": "s1"}},
		wireRecord{"chat.rating", "ai_chatbot", "rate-1", "2025-11-10T02:00:00Z", map[string]any{"session_id": "s1", "rating": 4.5}},
		wireRecord{"chat.rating", "ai_chatbot", "rate-2", "2025-12-10T02:00:00Z", map[string]any{"session_id": "s2", "rating": 2.0}},
	)
	require.Equal(t, 1, res.Inserted)
	dropped, err := st.DropPartitionsBefore(ctx, time.Date(2025, 12, 10, 0, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	require.Equal(t, []string{"analytics_events_2025_11"}, dropped)
	before := dumpRedis(t, rdb, prefix)
	count := func(sql string) int {
		t.Helper()
		var n int
		require.NoError(t, pool.QueryRow(ctx, sql).Scan(&n))
		return n
	}

	flags := append([]string{"--catalog", "testdata/catalog-chat-rating.yaml"}, common(dsn, testdb.RedisAddr(), prefix)...)
	code, stdout, stderr := ctlRun(t, append([]string{"replay-rejected"}, flags...)...)
	require.Equal(t, ExitOK, code, stderr)
	assert.Equal(t, "unknown_event: 1 replayed, 1 still rejected (beyond_retention: 1)\n"+
		"replay-rejected: 2 rejected events read, 1 replayed (1 stored, 0 already stored), 1 still rejected\n", stdout)
	code, stdout, stderr = ctlRun(t, append([]string{"replay-rejected"}, flags...)...)
	require.Equal(t, ExitOK, code, stderr)
	assert.Equal(t, "unknown_event: 0 replayed, 1 still rejected (beyond_retention: 1)\n"+
		"replay-rejected: 1 rejected event read, 0 replayed (0 stored, 0 already stored), 1 still rejected\n", stdout)

	assert.Equal(t, 2, count(`SELECT count(*) FROM analytics_rejected_events`), "the record stays on its own row")
	assert.Equal(t, 1, count(`SELECT count(*) FROM analytics_rejected_events WHERE event_id = 'rate-1' AND replayed_at IS NULL AND reason = 'unknown_event'`))
	assert.Equal(t, 1, count(`SELECT count(*) FROM analytics_events WHERE event_id = 'rate-2'`))
	assert.Equal(t, 0, count(`SELECT count(*) FROM analytics_events WHERE business_date < '2025-12-01'`))
	assert.Equal(t, 0, count(`SELECT count(*) FROM analytics_daily_rollup WHERE business_date = '2025-11-10' AND event_name = 'chat.rating'`))
	assert.Equal(t, 1, count(`SELECT events FROM analytics_daily_rollup WHERE business_date = '2025-11-10' AND event_name = 'session.start'`))
	assert.Equal(t, 0, count(`SELECT count(*) FROM pg_class WHERE relname = 'analytics_events_2025_11' AND relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())`))
	after := dumpRedis(t, rdb, prefix)
	for _, k := range []string{prefix + "daily:2025-11-10", prefix + "monthly:2025-11"} {
		assert.Equal(t, "1", after[k]["session.start:events"], k)
		assert.Equal(t, before[k], after[k], k)
	}
	assert.Equal(t, "1", rdb.HGet(ctx, prefix+"daily:2025-12-10", "chat.rating:events").Val())
}
