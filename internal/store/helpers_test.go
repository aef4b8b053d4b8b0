package store

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
	"github.com/otelcol-analytics/otelcol-analytics/internal/normalize"
	"github.com/otelcol-analytics/otelcol-analytics/internal/testdb"
)

// rec is one business event as a product would send it.
type rec struct {
	name    string
	product string
	id      string // event.id; "" = none (the processor derives one)
	at      time.Time
	attrs   map[string]any
	traceID string // 32 hex digits or ""
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// wire builds the plog.Logs a sender would send, one resource per product.
func wire(t testing.TB, recs ...rec) plog.Logs {
	t.Helper()
	ld := plog.NewLogs()
	byProduct := map[string]plog.LogRecordSlice{}
	for _, r := range recs {
		lrs, ok := byProduct[r.product]
		if !ok {
			rl := ld.ResourceLogs().AppendEmpty()
			rl.Resource().Attributes().PutStr("service.name", r.product)
			sl := rl.ScopeLogs().AppendEmpty()
			sl.Scope().SetName("test")
			lrs = sl.LogRecords()
			byProduct[r.product] = lrs
		}
		lr := lrs.AppendEmpty()
		lr.SetEventName(r.name)
		lr.SetTimestamp(pcommon.NewTimestampFromTime(r.at))
		require.NoError(t, lr.Attributes().FromRaw(r.attrs))
		if r.id != "" {
			lr.Attributes().PutStr("event.id", r.id)
		}
		if r.traceID != "" {
			var tid pcommon.TraceID
			copy(tid[:], mustHex(r.traceID))
			lr.SetTraceID(tid)
		}
	}
	return ld
}

func mustHex(s string) []byte {
	b := make([]byte, len(s)/2)
	for i := range b {
		b[i] = unhex(s[2*i])<<4 | unhex(s[2*i+1])
	}
	return b
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	panic("bad hex")
}

// normalised runs the eventcatalog processor's normaliser over every record,
// as the pipeline does before the exporter.
func normalised(t testing.TB, recs ...rec) plog.Logs {
	t.Helper()
	ld := wire(t, recs...)
	normalise(ld)
	return ld
}

// normalise runs the normaliser over every record of ld, in place.
func normalise(ld plog.Logs) {
	n := normalize.New(nil, normalize.Limits{})
	now := time.Now()
	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		rl := ld.ResourceLogs().At(i)
		for j := 0; j < rl.ScopeLogs().Len(); j++ {
			lrs := rl.ScopeLogs().At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				n.Record(rl.Resource(), rl.ScopeLogs().At(j).Scope(), lrs.At(k), now)
			}
		}
	}
}

type env struct {
	dsn    string
	pool   *pgxpool.Pool
	rdb    redis.UniversalClient
	layout counters.Layout
}

func newEnv(t testing.TB) *env {
	t.Helper()
	dsn, _ := testdb.Migrated(t)
	rdb, prefix := testdb.RedisPrefix(t)
	return newEnvWith(t, dsn, rdb, prefix)
}

func newEnvWith(t testing.TB, dsn string, rdb redis.UniversalClient, prefix string) *env {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dsn)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return &env{dsn: dsn, pool: pool, rdb: rdb, layout: counters.Layout{
		Prefix: prefix, DailyTTL: 400 * 24 * time.Hour, ClaimTTL: 7 * 24 * time.Hour,
		Now: func() time.Time { return testNow },
	}}
}

// testNow is the clock of the tests' Redis layout: the days of 2025 the
// tests write stay within daily_ttl whatever the date.
var testNow = time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC)

func (e *env) store() *Store {
	return New(e.pool, e.rdb, Config{Layout: e.layout})
}

// rollups reads both rollup tables as counter rows, sorted.
func (e *env) rollups(t testing.TB) []counters.Row {
	t.Helper()
	// All days: the rollups of any business day ever written.
	out, err := counters.ReadRollups(context.Background(), e.pool, time.Time{}, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	return out
}

// redisDays reads the Redis hashes of the given days as rows, sorted.
func (e *env) redisDays(t testing.TB, days ...string) []counters.Row {
	t.Helper()
	var out []counters.Row
	for _, d := range days {
		rows, err := e.layout.ReadDay(context.Background(), e.rdb, d)
		require.NoError(t, err)
		out = append(out, rows...)
	}
	counters.SortRows(out)
	return out
}

func (e *env) redisMonth(t testing.TB, month string) []counters.Row {
	t.Helper()
	rows, err := e.layout.ReadMonth(context.Background(), e.rdb, month)
	require.NoError(t, err)
	return rows
}

// monthOf sums day rows into month rows, as Redis' monthly hashes hold them.
func monthOf(rows []counters.Row, month string) []counters.Row {
	agg := counters.NewAggregator()
	for _, r := range rows {
		if counters.MonthOf(r.Date) == month {
			agg.Add(counters.Cell{Date: month, AgentID: r.AgentID, Event: r.Event}, r.Values)
		}
	}
	return agg.Rows()
}

func (e *env) count(t testing.TB, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, e.pool.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

func row(date, agent, event string, n, mc, ms, f int64) counters.Row {
	return counters.Row{
		Cell:   counters.Cell{Date: date, AgentID: agent, Event: event},
		Values: counters.Values{Events: n, MeasureCount: mc, MeasureSumMicro: counters.SumOf(ms), FlagTrue: f},
	}
}

func redisClient(t testing.TB, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = c.Close() })
	return c
}
