package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
)

// fixtureEvent is one event of testdata/events.json, already normalised:
// it is written straight into analytics_events the way the exporter stores
// events (common ids as columns, other attributes as typed JSON).
type fixtureEvent struct {
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	Date       string         `json:"date"` // business day; the event time is 10:00 that day in Shanghai
	SessionID  string         `json:"session_id"`
	AgentID    string         `json:"agent_id"`
	TicketID   string         `json:"ticket_id"`
	CustomerID string         `json:"customer_id"`
	Attrs      map[string]any `json:"attrs"`
}

func loadFixture(t *testing.T) []fixtureEvent {
	t.Helper()
	data, err := os.ReadFile("testdata/events.json")
	require.NoError(t, err)
	var evs []fixtureEvent
	require.NoError(t, json.Unmarshal(data, &evs))
	return evs
}

var shanghai = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return loc
}()

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// insertEvents writes events into analytics_events (and the id ledger) only,
// as the exporter does, without touching the rollups.
func insertEvents(t *testing.T, conn *pgx.Conn, evs []fixtureEvent) {
	t.Helper()
	ctx := context.Background()
	cat := catalog.Default()
	for _, e := range evs {
		def, ok := cat.Lookup(e.Name)
		require.True(t, ok, e.Name)
		day, err := time.ParseInLocation(counters.DateLayout, e.Date, shanghai)
		require.NoError(t, err)
		attrs := e.Attrs
		if attrs == nil {
			attrs = map[string]any{}
		}
		js, err := json.Marshal(attrs)
		require.NoError(t, err)
		_, err = conn.Exec(ctx, `SELECT analytics_ensure_partition($1)`, day)
		require.NoError(t, err)
		_, err = conn.Exec(ctx, `INSERT INTO analytics_event_ids (product, event_id, business_date) VALUES ($1, $2, $3)`, def.Product, e.ID, day)
		require.NoError(t, err)
		_, err = conn.Exec(ctx, `INSERT INTO analytics_events
			(event_id, event_name, product, event_time, business_date, session_id, agent_id, ticket_id, customer_id, attributes)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			e.ID, e.Name, def.Product, day.Add(10*time.Hour), day,
			nullable(e.SessionID), nullable(e.AgentID), nullable(e.TicketID), nullable(e.CustomerID), js)
		require.NoError(t, err)
	}
}

// rowsOf computes the counter rows of events in Go, with catalog.Micro, the
// way the exporter does.
func rowsOf(t *testing.T, evs []fixtureEvent) []counters.Row {
	t.Helper()
	cat := catalog.Default()
	agg := counters.NewAggregator()
	for _, e := range evs {
		def, ok := cat.Lookup(e.Name)
		require.True(t, ok, e.Name)
		v := counters.Values{Events: 1}
		if f, ok := e.Attrs[def.Measure].(float64); ok && def.Measure != "" {
			m, ok := catalog.Micro(f)
			require.True(t, ok)
			v.MeasureCount, v.MeasureSumMicro = 1, counters.SumOf(m)
		}
		if b, ok := e.Attrs[def.Flag].(bool); ok && def.Flag != "" && b {
			v.FlagTrue = 1
		}
		agg.Add(counters.Cell{Date: e.Date, Event: e.Name}, v)
		if e.AgentID != "" {
			agg.Add(counters.Cell{Date: e.Date, AgentID: e.AgentID, Event: e.Name}, v)
		}
	}
	return agg.Rows()
}

// addRollups adds rows to the rollup tables, as the exporter's upsert does.
func addRollups(t *testing.T, conn *pgx.Conn, rows []counters.Row) {
	t.Helper()
	ctx := context.Background()
	for _, r := range rows {
		var err error
		if r.AgentID == "" {
			_, err = conn.Exec(ctx, `INSERT INTO analytics_daily_rollup AS t
				(business_date, event_name, events, measure_count, measure_sum_micro, flag_true) VALUES ($1, $2, $3, $4, $5, $6)
				ON CONFLICT (business_date, event_name) DO UPDATE SET events = t.events + EXCLUDED.events,
				measure_count = t.measure_count + EXCLUDED.measure_count,
				measure_sum_micro = t.measure_sum_micro + EXCLUDED.measure_sum_micro, flag_true = t.flag_true + EXCLUDED.flag_true`,
				r.Date, r.Event, r.Events, r.MeasureCount, r.MeasureSumMicro, r.FlagTrue)
		} else {
			_, err = conn.Exec(ctx, `INSERT INTO analytics_agent_daily_rollup AS t
				(business_date, agent_id, event_name, events, measure_count, measure_sum_micro, flag_true) VALUES ($1, $2, $3, $4, $5, $6, $7)
				ON CONFLICT (business_date, agent_id, event_name) DO UPDATE SET events = t.events + EXCLUDED.events,
				measure_count = t.measure_count + EXCLUDED.measure_count,
				measure_sum_micro = t.measure_sum_micro + EXCLUDED.measure_sum_micro, flag_true = t.flag_true + EXCLUDED.flag_true`,
				r.Date, r.AgentID, r.Event, r.Events, r.MeasureCount, r.MeasureSumMicro, r.FlagTrue)
		}
		require.NoError(t, err)
	}
}

// seed writes the fixture into PostgreSQL (events and rollups) and applies
// its counters to Redis, so that everything agrees.
func seed(t *testing.T, dsn string, rdb redis.UniversalClient, l counters.Layout, evs []fixtureEvent) []counters.Row {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer func() { assert.NoError(t, conn.Close(ctx)) }()
	insertEvents(t, conn, evs)
	rows := rowsOf(t, evs)
	addRollups(t, conn, rows)
	if l.Now == nil {
		l.Now = clock
	}
	applied, err := l.Apply(ctx, rdb, "seed-"+t.Name(), rows)
	require.NoError(t, err)
	require.True(t, applied)
	return rows
}

// ctlRun runs analyticsctl with no environment and returns the exit code
// and the output.
func ctlRun(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return ctlRunWith(t, testHooks{}, args...)
}

// ctlTestNow is the clock of rebuild, verify and replay-rejected in the
// tests (and of seed and testLayout): the fixture's days of 2025 stay
// within the default daily_ttl whatever the date.
var ctlTestNow = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func clock() time.Time { return ctlTestNow }

// testLayout is o's Redis layout on the test clock (ctlTestNow), as
// rebuild, verify and replay-rejected use it under ctlRun.
func testLayout(o Options) counters.Layout {
	l := o.Layout()
	l.Now = clock
	return l
}

// ctlRunWith is ctlRun with test hooks (the clock defaults to ctlTestNow).
func ctlRunWith(t *testing.T, h testHooks, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	if h.now == nil {
		h.now = clock
	}
	var out, errOut bytes.Buffer
	code = Run(withTestHooks(context.Background(), h), args, func(string) string { return "" }, &out, &errOut)
	return code, out.String(), errOut.String()
}

// common returns the common flags that point analyticsctl at a test's
// schema and Redis prefix.
func common(dsn, redisAddr, prefix string) []string {
	return []string{"--postgres-dsn", dsn, "--redis-addr", redisAddr, "--key-prefix", prefix}
}

// dumpRedis returns every hash under prefix with its fields, and whether it
// has a TTL.
func dumpRedis(t *testing.T, rdb redis.UniversalClient, prefix string) map[string]map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]map[string]string{}
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		if rdb.Type(ctx, k).Val() != "hash" {
			continue
		}
		h, err := rdb.HGetAll(ctx, k).Result()
		require.NoError(t, err)
		if rdb.TTL(ctx, k).Val() > 0 {
			h["(ttl)"] = "set"
		}
		out[k] = h
	}
	require.NoError(t, iter.Err())
	return out
}
