package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
	"github.com/otelcol-analytics/otelcol-analytics/internal/testdb"
	"github.com/otelcol-analytics/otelcol-analytics/migrations"
)

// boundaryBatch straddles the Shanghai (UTC+8) day and month boundary of
// 2025-11-30T16:00Z = 2025-12-01T00:00+08.
func boundaryBatch() []rec {
	return []rec{
		// 2025-11-30 in Shanghai.
		{
			name: "session.start", product: "ai_chatbot", id: "e01", at: ts("2025-11-30T15:59:59Z"),
			attrs: map[string]any{"session_id": "s1", "customer_id": "c1", "channel": "web"}, traceID: "0102030405060708090a0b0c0d0e0f10",
		},
		{
			name: "session.message", product: "ai_chatbot", id: "e02", at: ts("2025-11-30T10:00:00Z"),
			attrs: map[string]any{"session_id": "s1", "response_time_ms": int64(1000)},
		}, // int widened to double
		{
			name: "ticket.closed", product: "agent_workbench", id: "e03", at: ts("2025-11-29T16:00:00Z"),
			attrs: map[string]any{"ticket_id": "t1", "resolution_duration_hours": 2.0, "sla_met": false},
		},
		// 2025-12-01 in Shanghai.
		{
			name: "session.start", product: "ai_chatbot", id: "e04", at: ts("2025-11-30T16:30:00Z"),
			attrs: map[string]any{"session_id": "s2"},
		},
		{
			name: "session.message", product: "ai_chatbot", id: "e05", at: ts("2025-11-30T16:00:00Z"),
			attrs: map[string]any{"session_id": "s2", "response_time_ms": 1500.5},
		},
		{
			name: "agent.session_takeover", product: "agent_workbench", id: "e06", at: ts("2025-12-01T01:00:00Z"),
			attrs: map[string]any{"agent_id": "a1", "session_id": "s2", "wait_duration_seconds": 30.25},
		},
		{
			name: "agent.session_takeover", product: "agent_workbench", id: "e07", at: ts("2025-12-01T02:00:00Z"),
			attrs: map[string]any{"agent_id": "a2", "session_id": "s3", "wait_duration_seconds": int64(10)},
		},
		{
			name: "agent.session_transfer", product: "agent_workbench", id: "e08", at: ts("2025-12-01T03:00:00Z"),
			attrs: map[string]any{"agent_id": "a1", "to_agent_id": "a2", "session_id": "s2"},
		},
		{
			name: "ticket.closed", product: "agent_workbench", id: "e09", at: ts("2025-12-01T04:00:00Z"),
			attrs: map[string]any{"ticket_id": "t2", "agent_id": "a1", "resolution_duration_hours": 4.5, "sla_met": true},
		},
		{
			name: "query.order", product: "ai_chatbot", id: "e10", at: ts("2025-12-01T05:00:00Z"),
			attrs: map[string]any{"session_id": "s2", "order_id": "o1", "success": true},
		},
		{
			name: "query.order", product: "ai_chatbot", id: "e11", at: ts("2025-12-01T06:00:00Z"),
			attrs: map[string]any{"session_id": "s2", "order_id": "o2", "success": false},
		},
	}
}

// boundaryRollups are boundaryBatch's rollups, worked out by hand.
func boundaryRollups() []counters.Row {
	return []counters.Row{
		row("2025-11-30", "", "session.message", 1, 1, 1_000_000_000, 0),
		row("2025-11-30", "", "session.start", 1, 0, 0, 0),
		row("2025-11-30", "", "ticket.closed", 1, 1, 2_000_000, 0),
		row("2025-12-01", "", "agent.session_takeover", 2, 2, 40_250_000, 0),
		row("2025-12-01", "", "agent.session_transfer", 1, 0, 0, 0),
		row("2025-12-01", "", "query.order", 2, 0, 0, 1),
		row("2025-12-01", "", "session.message", 1, 1, 1_500_500_000, 0),
		row("2025-12-01", "", "session.start", 1, 0, 0, 0),
		row("2025-12-01", "", "ticket.closed", 1, 1, 4_500_000, 1),
		row("2025-12-01", "a1", "agent.session_takeover", 1, 1, 30_250_000, 0),
		row("2025-12-01", "a1", "agent.session_transfer", 1, 0, 0, 0),
		row("2025-12-01", "a1", "ticket.closed", 1, 1, 4_500_000, 1),
		row("2025-12-01", "a2", "agent.session_takeover", 1, 1, 10_000_000, 0),
	}
}

func TestWriteAcrossDayAndMonthBoundary(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	s := e.store()

	res, err := s.Write(ctx, normalised(t, boundaryBatch()...))
	require.NoError(t, err)
	assert.Equal(t, Result{Inserted: 11}, res)

	want := boundaryRollups()
	assert.Equal(t, want, e.rollups(t))
	assert.Equal(t, want, e.redisDays(t, "2025-11-30", "2025-12-01"))
	assert.Equal(t, monthOf(want, "2025-11"), e.redisMonth(t, "2025-11"))
	assert.Equal(t, monthOf(want, "2025-12"), e.redisMonth(t, "2025-12"))
	// Spot-check the month hash by hand too: 2 session.start in two months.
	assert.Equal(t, []counters.Row{
		row("2025-11", "", "session.message", 1, 1, 1_000_000_000, 0),
		row("2025-11", "", "session.start", 1, 0, 0, 0),
		row("2025-11", "", "ticket.closed", 1, 1, 2_000_000, 0),
	}, e.redisMonth(t, "2025-11"))

	// Events: one row each, in the partition of their business month.
	assert.Equal(t, 11, e.count(t, `SELECT count(*) FROM analytics_events`))
	assert.Equal(t, 3, e.count(t, `SELECT count(*) FROM analytics_events_2025_11`))
	assert.Equal(t, 8, e.count(t, `SELECT count(*) FROM analytics_events_2025_12`))
	assert.Equal(t, 11, e.count(t, `SELECT count(*) FROM analytics_event_ids`))
	assert.Equal(t, 0, e.count(t, `SELECT count(*) FROM analytics_redis_outbox`))
	assert.Equal(t, 0, e.count(t, `SELECT count(*) FROM analytics_rejected_events`))

	type evRow struct {
		name, product, date              string
		eventTime                        time.Time
		session, agent, ticket, customer *string
		attrs                            string
		traceID, spanID                  *string
	}
	read := func(id string) evRow {
		var r evRow
		require.NoError(t, e.pool.QueryRow(ctx, `SELECT event_name, product, to_char(business_date, 'YYYY-MM-DD'), event_time,
			session_id, agent_id, ticket_id, customer_id, attributes::text, trace_id, span_id FROM analytics_events WHERE event_id = $1`, id).
			Scan(&r.name, &r.product, &r.date, &r.eventTime, &r.session, &r.agent, &r.ticket, &r.customer, &r.attrs, &r.traceID, &r.spanID))
		return r
	}
	p := func(s string) *string { return &s }
	r := read("e01")
	assert.Equal(t, evRow{
		name: "session.start", product: "ai_chatbot", date: "2025-11-30", eventTime: ts("2025-11-30T15:59:59Z"),
		session: p("s1"), customer: p("c1"), attrs: `{"channel": "web"}`, traceID: p("0102030405060708090a0b0c0d0e0f10"),
	},
		evRow{r.name, r.product, r.date, r.eventTime.UTC(), r.session, r.agent, r.ticket, r.customer, r.attrs, r.traceID, r.spanID})
	r = read("e04")
	assert.Equal(t, "2025-12-01", r.date)
	r = read("e09")
	assert.Equal(t, `{"sla_met": true, "resolution_duration_hours": 4.5}`, r.attrs)
	assert.Equal(t, p("a1"), r.agent)
	assert.Equal(t, p("t2"), r.ticket)
	r = read("e02") // the int was widened to a double by the processor; JSON keeps the number
	assert.Equal(t, `{"response_time_ms": 1000}`, r.attrs)
}

func TestWriteIsIdempotent(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	s := e.store()
	ld := normalised(t, boundaryBatch()...)

	for i, want := range []Result{{Inserted: 11}, {Duplicates: 11}, {Duplicates: 11}} {
		res, err := s.Write(ctx, ld)
		require.NoError(t, err)
		assert.Equal(t, want, res, "push %d", i+1)
		assert.Equal(t, boundaryRollups(), e.rollups(t), "push %d", i+1)
		assert.Equal(t, boundaryRollups(), e.redisDays(t, "2025-11-30", "2025-12-01"), "push %d", i+1)
		assert.Equal(t, 11, e.count(t, `SELECT count(*) FROM analytics_events`))
		assert.Equal(t, 0, e.count(t, `SELECT count(*) FROM analytics_redis_outbox`))
	}

	// The same id twice inside one batch: the first is kept. An exact
	// repeat is a duplicate; a repeat with other content, and e01 sent with
	// other content than stored, are conflicts (rejected rows, stored once).
	first := rec{name: "session.start", product: "ai_chatbot", id: "x1", at: ts("2025-12-02T00:00:00Z"), attrs: map[string]any{"session_id": "first"}}
	second := first
	second.attrs = map[string]any{"session_id": "second"}
	e01 := boundaryBatch()[0]
	e01Changed := e01
	e01Changed.attrs = map[string]any{"session_id": "s1"}
	twice := normalised(t, first, first, second, e01, e01Changed)
	conflicts := map[string]int{"duplicate_conflict": 2}
	for i, want := range []Result{
		{Inserted: 1, Duplicates: 2, Conflicts: 2, Rejected: 2, RejectedByReason: conflicts},
		{Duplicates: 3, Conflicts: 2, Rejected: 2, RejectedByReason: conflicts},
	} {
		res, err := s.Write(ctx, twice)
		require.NoError(t, err)
		assert.Equal(t, want, res, "push %d", i+1)
		assert.Equal(t, 2, e.count(t, `SELECT count(*) FROM analytics_rejected_events`), "push %d", i+1)
	}
	var session string
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT session_id FROM analytics_events WHERE event_id = 'x1'`).Scan(&session))
	assert.Equal(t, "first", session)
	assert.Equal(t, []counters.Row{row("2025-12-02", "", "session.start", 1, 0, 0, 0)}, e.redisDays(t, "2025-12-02"))
	assert.Equal(t, 12, e.count(t, `SELECT count(*) FROM analytics_events`))
	assert.Equal(t, 2, e.count(t, `SELECT count(*) FROM analytics_rejected_events WHERE reason = 'duplicate_conflict' AND event_id IN ('x1', 'e01')`))
}

func TestCrashBetweenCommitAndRedis(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	crash := errors.New("simulated crash after commit")

	s := e.store()
	var hooked []string
	s.AfterCommitHook = func(id string) error { hooked = append(hooked, id); return crash }
	ld := normalised(t, boundaryBatch()...)
	_, err := s.Write(ctx, ld)
	require.ErrorIs(t, err, crash)
	require.Len(t, hooked, 1)
	assert.Equal(t, boundaryRollups(), e.rollups(t), "PostgreSQL committed")
	assert.Empty(t, e.redisDays(t, "2025-11-30", "2025-12-01"), "Redis not reached")
	assert.Equal(t, 1, e.count(t, `SELECT count(*) FROM analytics_redis_outbox`))

	// The collector retries the batch: nothing new, nothing doubled.
	s.AfterCommitHook = nil
	res, err := s.Write(ctx, ld)
	require.NoError(t, err)
	assert.Equal(t, Result{Duplicates: 11}, res)
	assert.Equal(t, boundaryRollups(), e.rollups(t))

	// Restart: a new Store applies the pending outbox at start.
	s2 := e.store()
	n, err := s2.ApplyPendingOutbox(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, boundaryRollups(), e.redisDays(t, "2025-11-30", "2025-12-01"), "Redis equals PostgreSQL")
	assert.Equal(t, 0, e.count(t, `SELECT count(*) FROM analytics_redis_outbox`))
	n, err = s2.ApplyPendingOutbox(ctx)
	require.NoError(t, err)
	assert.Equal(t, 0, n)

	// A crash after the Redis update but before the outbox delete: the row
	// is applied again at restart, and the claim makes that a no-op.
	more := normalised(t, rec{name: "session.start", product: "ai_chatbot", id: "m1", at: ts("2025-12-01T08:00:00Z"), attrs: map[string]any{"session_id": "s9"}})
	s.AfterCommitHook = func(id string) error {
		deltas := []counters.Row{row("2025-12-01", "", "session.start", 1, 0, 0, 0)}
		applied, err := e.layout.Apply(ctx, e.rdb, id, deltas)
		require.NoError(t, err)
		require.True(t, applied)
		return crash
	}
	_, err = s.Write(ctx, more)
	require.ErrorIs(t, err, crash)
	assert.Equal(t, 1, e.count(t, `SELECT count(*) FROM analytics_redis_outbox`))
	n, err = e.store().ApplyPendingOutbox(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	want := boundaryRollups()
	want[7].Events = 2 // 2025-12-01 session.start
	assert.Equal(t, want, e.rollups(t))
	assert.Equal(t, want, e.redisDays(t, "2025-11-30", "2025-12-01"))
}

// TestRedisOutage: while Redis is down the batches are committed and their
// counts wait in the outbox (Result.RedisDeferred); the outage is logged
// once however many batches it defers (a warning), and once when Redis
// answers again; the backlog then reaches Redis exactly once.
func TestRedisOutage(t *testing.T) {
	dsn, _ := testdb.Migrated(t)
	srv := testdb.StartRedis(t)
	rdb := redisClient(t, srv.Addr)
	e := newEnvWith(t, dsn, rdb, "analytics:")
	ctx := context.Background()
	s, logs := e.observed()
	const down, up = "Redis update failed", "Redis answers again"
	warn, info := zap.NewAtomicLevelAt(zap.WarnLevel), zap.NewAtomicLevelAt(zap.InfoLevel)

	day := func(d string, id string) plog.Logs {
		return normalised(t, rec{
			name: "agent.session_takeover", product: "agent_workbench", id: id, at: ts(d + "T02:00:00Z"),
			attrs: map[string]any{"agent_id": "a1", "session_id": "s", "wait_duration_seconds": 1.5},
		})
	}
	res, err := s.Write(ctx, day("2025-12-01", "o1"))
	require.NoError(t, err)
	assert.Equal(t, Result{Inserted: 1}, res)

	srv.Stop()
	for i, d := range []string{"2025-12-02", "2025-12-03", "2025-12-03"} {
		res, err := s.Write(ctx, day(d, fmt.Sprintf("o%d", i+2)))
		require.NoError(t, err, "PostgreSQL keeps taking writes while Redis is down")
		assert.Equal(t, Result{Inserted: 1, RedisDeferred: 1}, res)
	}
	assert.Equal(t, 3, e.count(t, `SELECT count(*) FROM analytics_redis_outbox`))
	for range 2 {
		_, err = s.ApplyPendingOutbox(ctx)
		require.Error(t, err)
	}
	assert.Equal(t, 4, e.count(t, `SELECT count(*) FROM analytics_events`))
	assert.Equal(t, 1, countLogs(logs, warn, down), "one warning for the outage, not one per batch or pass")
	assert.Zero(t, countLogs(logs, info, up))

	srv.Start() // a fresh, empty server: the stopped one kept nothing on disk
	n, err := s.ApplyPendingOutbox(ctx)
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	assert.Equal(t, 0, e.count(t, `SELECT count(*) FROM analytics_redis_outbox`))
	assert.Equal(t, 1, countLogs(logs, info, up), "the end of the outage is logged once")
	assert.Equal(t, 1, countLogs(logs, warn, down))

	pg := e.rollups(t)
	var outage []counters.Row
	for _, r := range pg {
		if r.Date != "2025-12-01" {
			outage = append(outage, r)
		}
	}
	assert.Equal(t, []counters.Row{
		row("2025-12-02", "", "agent.session_takeover", 1, 1, 1_500_000, 0),
		row("2025-12-02", "a1", "agent.session_takeover", 1, 1, 1_500_000, 0),
		row("2025-12-03", "", "agent.session_takeover", 2, 2, 3_000_000, 0),
		row("2025-12-03", "a1", "agent.session_takeover", 2, 2, 3_000_000, 0),
	}, outage)
	assert.Equal(t, outage, e.redisDays(t, "2025-12-02", "2025-12-03"), "the outage's writes reached Redis exactly once")
	// The day written before the outage died with the non-persistent server
	// (analyticsctl rebuild restores it from PostgreSQL).
	assert.Empty(t, e.redisDays(t, "2025-12-01"))

	// Writes go straight to Redis again.
	res, err = s.Write(ctx, day("2025-12-03", "o9"))
	require.NoError(t, err)
	assert.Equal(t, Result{Inserted: 1}, res)
	assert.Equal(t, row("2025-12-03", "", "agent.session_takeover", 3, 3, 4_500_000, 0), e.redisDays(t, "2025-12-03")[0])
	assert.Equal(t, 1, countLogs(logs, info, up))

	// A second outage is logged again, once.
	srv.Stop()
	for i := range 2 {
		res, err := s.Write(ctx, day("2025-12-04", fmt.Sprintf("p%d", i)))
		require.NoError(t, err)
		assert.Equal(t, Result{Inserted: 1, RedisDeferred: 1}, res)
	}
	assert.Equal(t, 2, countLogs(logs, warn, down))
}

func TestRefusedRecordsAreIsolated(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	s := e.store()

	recs := make([]rec, 0, 1000)
	for i := range 1000 {
		recs = append(recs, rec{
			name: "session.message", product: "ai_chatbot", id: fmt.Sprintf("r%04d", i),
			at:    ts("2025-12-05T00:00:00Z").Add(time.Duration(i) * time.Second),
			attrs: map[string]any{"session_id": "s", "response_time_ms": float64(i)},
		})
	}
	// Record 100: a NUL byte; the processor rejects it (nul_byte).
	recs[100].attrs = map[string]any{"session_id": "s\x00", "response_time_ms": 1.0}
	ld := normalised(t, recs...)
	// Record 700: marked accepted, but carries a NUL in an unknown attribute
	// (as if it had bypassed the processor's check): jsonb refuses \u0000.
	lr := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(700)
	require.Equal(t, "accepted", lr.Attributes().AsRaw()["analytics.status"])
	lr.Attributes().PutStr("note", "bad\x00value")

	res, err := s.Write(ctx, ld)
	require.NoError(t, err)
	assert.Equal(t, Result{
		Inserted: 998, Rejected: 2, RefusedByDB: 1,
		RejectedByReason: map[string]int{"nul_byte": 1, "storage_refused": 1},
	}, res)

	assert.Equal(t, 998, e.count(t, `SELECT count(*) FROM analytics_events`))
	assert.Equal(t, 0, e.count(t, `SELECT count(*) FROM analytics_events WHERE event_id IN ('r0100', 'r0700')`))
	var sum int64
	for i := range 1000 {
		if i != 100 && i != 700 {
			sum += int64(i) * 1_000_000
		}
	}
	want := []counters.Row{row("2025-12-05", "", "session.message", 998, 998, sum, 0)}
	assert.Equal(t, want, e.rollups(t))
	assert.Equal(t, want, e.redisDays(t, "2025-12-05"))

	type rj struct{ reason, field, message, id, name, product string }
	rows, err := e.pool.Query(ctx, `SELECT reason, field, message, event_id, event_name, product FROM analytics_rejected_events ORDER BY event_id`)
	require.NoError(t, err)
	var got []rj
	for rows.Next() {
		var r rj
		require.NoError(t, rows.Scan(&r.reason, &r.field, &r.message, &r.id, &r.name, &r.product))
		got = append(got, r)
	}
	require.NoError(t, rows.Err())
	require.Len(t, got, 2)
	assert.Equal(t, "nul_byte", got[0].reason)
	assert.Equal(t, "session_id", got[0].field)
	assert.Equal(t, "r0100", got[0].id)
	assert.Equal(t, rj{
		reason: "storage_refused", field: "", message: "unsupported Unicode escape sequence",
		id: "r0700", name: "session.message", product: "ai_chatbot",
	}, got[1])

	// raw is the record's OTLP/JSON without the analytics.* attributes.
	var raw []byte
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT raw FROM analytics_rejected_events WHERE event_id = 'r0700'`).Scan(&raw))
	var u plog.JSONUnmarshaler
	back, err := u.UnmarshalLogs(raw)
	require.NoError(t, err)
	require.Equal(t, 1, back.LogRecordCount())
	brl := back.ResourceLogs().At(0)
	assert.Equal(t, "ai_chatbot", brl.Resource().Attributes().AsRaw()["service.name"])
	assert.Equal(t, map[string]any{"session_id": "s", "response_time_ms": 700.0, "event.id": "r0700", "note": "bad\x00value"},
		brl.ScopeLogs().At(0).LogRecords().At(0).Attributes().AsRaw())

	// Pushed again: nothing new anywhere.
	res, err = s.Write(ctx, ld)
	require.NoError(t, err)
	assert.Equal(t, 998, res.Duplicates)
	assert.Equal(t, 2, e.count(t, `SELECT count(*) FROM analytics_rejected_events`))
	assert.Equal(t, want, e.redisDays(t, "2025-12-05"))
}

// TestRefusalOutsideCopyIsBisected makes PostgreSQL refuse one row in the
// INSERT (a CHECK constraint, no row number in the error), so the batch is
// split in halves until the row stands alone.
func TestRefusalOutsideCopyIsBisected(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	s := e.store()
	_, err := e.pool.Exec(ctx, `ALTER TABLE analytics_events ADD CONSTRAINT poison CHECK (event_id NOT LIKE 'poison%')`)
	require.NoError(t, err)

	var recs []rec
	for i := range 100 {
		id := fmt.Sprintf("b%03d", i)
		if i == 37 || i == 38 || i == 90 {
			id = fmt.Sprintf("poison%03d", i)
		}
		recs = append(recs, rec{
			name: "session.start", product: "ai_chatbot", id: id, at: ts("2025-12-06T00:00:00Z"),
			attrs: map[string]any{"session_id": "s"},
		})
	}
	recs = append(recs, rec{name: "unknown.event", product: "ai_chatbot", id: "u1", at: ts("2025-12-06T00:00:00Z")})
	res, err := s.Write(ctx, normalised(t, recs...))
	require.NoError(t, err)
	assert.Equal(t, Result{
		Inserted: 97, Rejected: 4, RefusedByDB: 3,
		RejectedByReason: map[string]int{"storage_refused": 3, "unknown_event": 1},
	}, res)
	assert.Equal(t, []counters.Row{row("2025-12-06", "", "session.start", 97, 0, 0, 0)}, e.rollups(t))
	assert.Equal(t, e.rollups(t), e.redisDays(t, "2025-12-06"))
	assert.Equal(t, 3, e.count(t, `SELECT count(*) FROM analytics_rejected_events WHERE reason = 'storage_refused' AND message LIKE '%violates check constraint "poison"%'`))
}

func TestUnnormalisedRecordsAreRejected(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ld := wire(t, rec{name: "session.start", product: "ai_chatbot", id: "raw1", at: ts("2025-12-01T00:00:00Z"), attrs: map[string]any{"session_id": "s"}})
	// An accepted record missing its id is a broken contract, not an event.
	ld2 := normalised(t, rec{name: "session.start", product: "ai_chatbot", id: "raw2", at: ts("2025-12-01T00:00:00Z"), attrs: map[string]any{"session_id": "s"}})
	broken := ld2.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes()
	broken.Remove(catalog.AttrEventID)
	broken.Remove(catalog.WireEventID)
	ld2.ResourceLogs().MoveAndAppendTo(ld.ResourceLogs())

	res, err := e.store().Write(ctx, ld)
	require.NoError(t, err)
	assert.Equal(t, Result{Rejected: 2, RejectedByReason: map[string]int{"not_normalised": 2}}, res)
	rows, err := e.pool.Query(ctx, `SELECT coalesce(event_id, ''), event_name, product, message, event_time FROM analytics_rejected_events ORDER BY event_id NULLS FIRST`)
	require.NoError(t, err)
	defer rows.Close()
	var got []string
	for rows.Next() {
		var id, name, product, msg string
		var at time.Time
		require.NoError(t, rows.Scan(&id, &name, &product, &msg, &at))
		got = append(got, fmt.Sprintf("%s|%s|%s|%s|%s", id, name, product, msg, at.UTC().Format(time.RFC3339)))
	}
	assert.Equal(t, []string{
		"|session.start|ai_chatbot|the eventcatalog processor must run before the analytics exporter (accepted record without analytics.event.id or event.id)|2025-12-01T00:00:00Z",
		"raw1|session.start|ai_chatbot|the eventcatalog processor must run before the analytics exporter|2025-12-01T00:00:00Z",
	}, got)
	assert.Equal(t, 0, e.count(t, `SELECT count(*) FROM analytics_events`))
}

func TestPartitions(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	s := e.store()
	parts := func() []string {
		rows, err := e.pool.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
			JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace
			WHERE p.relname = 'analytics_events' AND n.nspname = current_schema() ORDER BY 1`)
		require.NoError(t, err)
		defer rows.Close()
		var out []string
		for rows.Next() {
			var n string
			require.NoError(t, rows.Scan(&n))
			out = append(out, n)
		}
		return out
	}
	// 2025-10-31T16:00Z is already November in Shanghai.
	require.NoError(t, s.EnsurePartitions(ctx, ts("2025-10-31T16:00:00Z"), ts("2026-01-15T00:00:00Z")))
	assert.Equal(t, []string{"analytics_events_2025_11", "analytics_events_2025_12", "analytics_events_2026_01"}, parts())

	_, err := s.Write(ctx, normalised(t, rec{name: "session.start", product: "ai_chatbot", id: "p1", at: ts("2025-11-10T00:00:00Z"), attrs: map[string]any{"session_id": "s"}}))
	require.NoError(t, err)

	dropped, err := s.DropPartitionsBefore(ctx, ts("2025-12-10T00:00:00Z"))
	require.NoError(t, err)
	assert.Equal(t, []string{"analytics_events_2025_11"}, dropped)
	assert.Equal(t, []string{"analytics_events_2025_12", "analytics_events_2026_01"}, parts())
	assert.Equal(t, 0, e.count(t, `SELECT count(*) FROM analytics_event_ids`))
	assert.Equal(t, 1, e.count(t, `SELECT events FROM analytics_daily_rollup`), "rollups are kept")
	// Migration 005: the ledger has no business_date index any more;
	// retention deletes ledger rows only when it drops a partition.
	assert.Equal(t, 0, e.count(t, `SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'analytics_event_ids' AND indexname <> 'analytics_event_ids_pkey'`))
	_, err = e.pool.Exec(ctx, `INSERT INTO analytics_event_ids (product, event_id, business_date) VALUES ('ai_chatbot', 'orphan', '2025-11-20')`)
	require.NoError(t, err)
	dropped, err = s.DropPartitionsBefore(ctx, ts("2025-12-10T00:00:00Z"))
	require.NoError(t, err)
	assert.Empty(t, dropped)
	assert.Equal(t, 1, e.count(t, `SELECT count(*) FROM analytics_event_ids`), "nothing dropped: the ledger is not scanned")
	_, err = e.pool.Exec(ctx, `DELETE FROM analytics_event_ids WHERE event_id = 'orphan'`)
	require.NoError(t, err)

	// A late event for a dropped month is not stored (migration 007: the
	// month is retired, its rollups are final) and its partition is not
	// created again; see TestRetentionThenResendCountsOnce.
	res, err := s.Write(ctx, normalised(t, rec{name: "session.start", product: "ai_chatbot", id: "p2", at: ts("2025-11-11T00:00:00Z"), attrs: map[string]any{"session_id": "s"}}))
	require.NoError(t, err)
	assert.Equal(t, Result{Rejected: 1, RejectedByReason: map[string]int{"beyond_retention": 1}}, res)
	assert.Equal(t, []string{"analytics_events_2025_12", "analytics_events_2026_01"}, parts())
}

func TestAppendJSON(t *testing.T) {
	m := pcommon.NewMap()
	require.NoError(t, m.FromRaw(map[string]any{
		"s":     "a\"b\\c\nd\te\u0001 中文 \u2028",
		"i":     int64(-42),
		"d":     0.1,
		"big":   1e300,
		"b":     true,
		"bytes": []byte{0, 1, 2, 255},
		"m":     map[string]any{"x": int64(1), "y": []any{"z", 2.5, false, nil}},
		"e":     nil,
	}))
	m.PutDouble("nan", nan())
	for k, v := range m.All() {
		t.Run(k, func(t *testing.T) {
			b := appendJSONValue(nil, v)
			var got any
			require.NoError(t, json.Unmarshal(b, &got), string(b))
			want := v.AsRaw()
			switch k {
			case "bytes":
				want = "AAEC/w=="
			case "i":
				want = -42.0
			case "m":
				want = map[string]any{"x": 1.0, "y": []any{"z", 2.5, false, nil}}
			case "nan":
				want = "NaN"
			}
			assert.Equal(t, want, got)
		})
	}
}

func nan() float64 { var z float64; return z / z }

func TestCopyErrorRow(t *testing.T) {
	for _, tc := range []struct {
		where string
		n     int
		want  int
	}{
		{`COPY analytics_stage, line 17, column attributes: "{...}"`, 100, 16},
		{`COPY analytics_events, line 3, column attributes: "{...}"`, 5, 2},
		{`COPY analytics_event_ids, line 5000`, 5000, 4999},
		{`COPY analytics_stage, line 1`, 1, 0},
		{`COPY analytics_stage, line 101, column x`, 100, -1},
		{`SQL statement "..."`, 100, -1},
		{``, 100, -1},
	} {
		assert.Equal(t, tc.want, copyErrorRow(&pgconn.PgError{Where: tc.where}, tc.n), tc.where)
	}
}

func TestIsDataError(t *testing.T) {
	for code, want := range map[string]bool{
		"22P05": true, "22021": true, "23514": true, "54000": true,
		"40001": false, "40P01": false, "57P01": false, "53300": false, "08006": false, "42P01": false,
	} {
		assert.Equal(t, want, isDataError(fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: code})), code)
	}
	assert.False(t, isDataError(context.DeadlineExceeded))
}

// TestConcurrentResendsCountOnce writes the same batches from several
// goroutines at once (collectors racing on a resend): every id is stored and
// counted once.
func TestConcurrentResendsCountOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	s := e.store()
	var recs []rec
	for i := range 400 {
		recs = append(recs, rec{
			name: "agent.session_takeover", product: "agent_workbench", id: fmt.Sprintf("c%03d", i),
			at:    ts("2025-12-07T00:00:00Z").Add(time.Duration(i) * time.Minute),
			attrs: map[string]any{"agent_id": fmt.Sprintf("a%d", i%3), "session_id": "s", "wait_duration_seconds": 2.0},
		})
	}
	batches := []plog.Logs{normalised(t, recs[:250]...), normalised(t, recs[150:]...), normalised(t, recs...)}
	errs := make(chan error, 12)
	results := make(chan Result, 12)
	for g := range 12 {
		go func() {
			res, err := s.Write(ctx, batches[g%3])
			results <- res
			errs <- err
		}()
	}
	inserted := 0
	for range 12 {
		require.NoError(t, <-errs)
		inserted += (<-results).Inserted
	}
	assert.Equal(t, 400, inserted)
	assert.Equal(t, 400, e.count(t, `SELECT count(*) FROM analytics_events`))
	want := e.rollups(t)
	require.Len(t, want, 4)
	assert.Equal(t, row("2025-12-07", "", "agent.session_takeover", 400, 400, 800_000_000, 0), want[0])
	assert.Equal(t, want, e.redisDays(t, "2025-12-07"))
}

// TestMixedBatchOnFreshStore writes, through a Store that has not met a
// duplicate yet (so it copies without looking the ids up first), a batch
// whose ids are partly stored already: the ledger refuses the copy, the
// batch is run again with the look-up, and only the new ids are stored and
// counted.
func TestMixedBatchOnFreshStore(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var recs []rec
	for i := range 300 {
		recs = append(recs, rec{
			name: "agent.session_takeover", product: "agent_workbench", id: fmt.Sprintf("m%03d", i),
			at:    ts("2025-12-08T00:00:00Z").Add(time.Duration(i) * time.Minute),
			attrs: map[string]any{"agent_id": fmt.Sprintf("a%d", i%2), "session_id": "s", "wait_duration_seconds": 1.5},
		})
	}
	res, err := e.store().Write(ctx, normalised(t, recs[100:200]...))
	require.NoError(t, err)
	assert.Equal(t, Result{Inserted: 100}, res)

	s := e.store()
	res, err = s.Write(ctx, normalised(t, recs...))
	require.NoError(t, err)
	assert.Equal(t, Result{Inserted: 200, Duplicates: 100}, res)
	assert.Equal(t, int32(probeAfterConflict), s.probeFirst.Load(), "the next batches look their ids up first")
	res, err = s.Write(ctx, normalised(t, recs[:1]...))
	require.NoError(t, err)
	assert.Equal(t, Result{Duplicates: 1}, res)
	assert.Equal(t, int32(probeAfterConflict-1), s.probeFirst.Load())
	want := []counters.Row{
		row("2025-12-08", "", "agent.session_takeover", 300, 300, 450_000_000, 0),
		row("2025-12-08", "a0", "agent.session_takeover", 150, 150, 225_000_000, 0),
		row("2025-12-08", "a1", "agent.session_takeover", 150, 150, 225_000_000, 0),
	}
	assert.Equal(t, want, e.rollups(t))
	assert.Equal(t, want, e.redisDays(t, "2025-12-08"))
	assert.Equal(t, 300, e.count(t, `SELECT count(*) FROM analytics_events`))
	assert.Equal(t, 300, e.count(t, `SELECT count(*) FROM analytics_event_ids`))
	assert.Equal(t, 0, e.count(t, `SELECT count(*) FROM analytics_redis_outbox`))
}

// TestAggregate checks the deltas summed in Go, and that a sum overflowing
// bigint is the data error PostgreSQL would raise (so the batch is split).
func TestAggregate(t *testing.T) {
	ev := func(day int32, agent, name string, measure int64, hasMeasure, flag bool) eventRow {
		return eventRow{day: day, agentID: agent, name: name, measure: measure, hasMeasure: hasMeasure, flag: flag, hasFlag: true}
	}
	d := pgDay(2025, time.December, 1)
	events := []eventRow{
		ev(d, "a1", "ticket.closed", 2_000_000, true, true),
		ev(d, "", "ticket.closed", -500_000, true, false),
		ev(d+1, "a1", "ticket.closed", 0, false, true),
		ev(d, "a2", "session.start", 0, false, false),
		ev(d, "a1", "ticket.closed", 1, true, false), // not in fresh
	}
	rows := aggregate(events, []int32{0, 1, 2, 3})
	assert.Equal(t, []counters.Row{
		row("2025-12-01", "", "session.start", 1, 0, 0, 0),
		row("2025-12-01", "", "ticket.closed", 2, 2, 1_500_000, 1),
		row("2025-12-01", "a1", "ticket.closed", 1, 1, 2_000_000, 1),
		row("2025-12-01", "a2", "session.start", 1, 0, 0, 0),
		row("2025-12-02", "", "ticket.closed", 1, 0, 0, 1),
		row("2025-12-02", "a1", "ticket.closed", 1, 0, 0, 1),
	}, rows)

	// Two measures of 5e18 millionths: past 64 bits, exact in a Sum.
	big := []eventRow{ev(d, "", "chat.cost", 5e18, true, false), ev(d, "", "chat.cost", 5e18, true, false)}
	rows = aggregate(big, []int32{0, 1})
	assert.Equal(t, "10000000000000000000", rows[0].MeasureSumMicro.String())
}

// TestBinaryCopyEncoding compares the hand-written binary COPY fields with
// pgx's own encoding of the same values.
func TestBinaryCopyEncoding(t *testing.T) {
	m := pgtype.NewMap()
	for _, at := range []string{
		"2025-12-01T00:00:00Z", "2025-11-30T15:59:59.123456789Z", "2000-01-01T00:00:00Z",
		"1999-12-31T23:59:59.9999995Z", "1969-12-31T23:59:59.999999999Z", "1900-03-01T12:00:00Z", "2100-02-28T23:00:00.000001Z",
	} {
		t.Run(at, func(t *testing.T) {
			tm := ts(at)
			want, err := m.Encode(pgtype.TimestamptzOID, pgtype.BinaryFormatCode, tm, nil)
			require.NoError(t, err)
			got := appendTimestamptz(nil, tm.UnixNano())
			assert.Equal(t, want, got[4:])
			assert.Equal(t, []byte{0, 0, 0, 8}, got[:4])

			y, mo, d := tm.Date()
			day := time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
			want, err = m.Encode(pgtype.DateOID, pgtype.BinaryFormatCode, day, nil)
			require.NoError(t, err)
			assert.Equal(t, want, appendDate(nil, pgDay(y, mo, d))[4:])
			assert.Equal(t, day, dayTime(pgDay(y, mo, d)))
		})
	}
	assert.Equal(t, []byte("\x00\x00\x00\x040aff"), appendHex(nil, []byte{0x0a, 0xff}))
	assert.Equal(t, []byte{0xff, 0xff, 0xff, 0xff}, appendNull(nil))

	// The reader streams header, tuples in the given order, and trailer,
	// whatever the size of the reads.
	events := []eventRow{{tuple: []byte("aaa")}, {tuple: []byte("bb")}, {tuple: []byte("c")}}
	want := string(copyHeader) + "c" + "aaa" + "bb" + string(copyTrailer)
	for _, size := range []int{1, 2, 7, 64} {
		assert.Equal(t, want, string(readBy(t, newEventsReader(events, []int32{2, 0, 1}), size)), "reads of %d", size)
	}
}

// TestMigrationDownUp reverts the whole schema (009 drops the outbox's
// quarantine columns, 007 drops the retired months and restores the
// retention and partition functions of 005, 006 restores ids unique across
// products and the rejected table's event_id index, 005 the ledger's
// business_date index and the old retention function, then 004..001 drop
// everything) and applies it again, with a month retired.
func TestMigrationDownUp(t *testing.T) {
	dsn, _ := testdb.Migrated(t)
	e := newEnvWith(t, dsn, nil, "")
	ctx := context.Background()
	_, err := e.pool.Exec(ctx, `SELECT analytics_ensure_partition('2025-11-01')`)
	require.NoError(t, err)
	_, err = e.pool.Exec(ctx, `SELECT analytics_drop_partitions_before('2025-12-01')`)
	require.NoError(t, err)
	require.Equal(t, 1, e.count(t, `SELECT count(*) FROM analytics_retired_months`))
	require.NoError(t, migrations.Down(dsn))
	v, dirty, err := migrations.Version(dsn)
	require.NoError(t, err)
	assert.Equal(t, []any{uint(0), false}, []any{v, dirty})
	require.NoError(t, migrations.Up(dsn))
	v, dirty, err = migrations.Version(dsn)
	require.NoError(t, err)
	assert.Equal(t, []any{uint(10), false}, []any{v, dirty})
	assert.Equal(t, 0, e.count(t, `SELECT count(*) FROM analytics_retired_months`))
}
