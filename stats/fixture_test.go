package stats

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.yaml.in/yaml/v3"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
	"github.com/otelcol-analytics/otelcol-analytics/internal/normalize"
	"github.com/otelcol-analytics/otelcol-analytics/internal/store"
	"github.com/otelcol-analytics/otelcol-analytics/internal/testdb"
)

// fixtureEvent is one business event of testdata/events.yaml, as product
// code would send it.
type fixtureEvent struct {
	ID      string         `yaml:"id"`
	Name    string         `yaml:"name"`
	Product string         `yaml:"product"`
	Time    time.Time      `yaml:"-"`
	RawTime string         `yaml:"time"`
	Attrs   map[string]any `yaml:"attrs"`
}

func readFixture(t testing.TB, path string) []fixtureEvent {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var f struct {
		Events []fixtureEvent `yaml:"events"`
	}
	require.NoError(t, yaml.Unmarshal(data, &f))
	require.NotEmpty(t, f.Events)
	for i := range f.Events {
		f.Events[i].Time, err = time.Parse(time.RFC3339, f.Events[i].RawTime)
		require.NoError(t, err, "fixture event %s", f.Events[i].ID)
	}
	return f.Events
}

// loadEvents writes events into the rollups of the schema at dsn the way
// the analytics exporter counts them: per business day (loc) and event, and
// per agent when the event carries an agent_id; the catalog's measure
// summed in millionths (catalog.Micro), its flag counted when true.
// updated_at is the cell's latest event time, as an exporter writing in
// real time would leave it.
//
// The endpoint tests load the fixture through the exporter's writer
// (loadEventsThroughStore); this loader is the independent check that the
// exporter counts the way the stats side expects (TestStoreMatchesFixture).
func loadEvents(t testing.TB, dsn string, events []fixtureEvent, loc *time.Location) {
	t.Helper()
	cat := catalog.Default()
	agg := counters.NewAggregator()
	latest := map[counters.Cell]time.Time{}
	for _, e := range events {
		def, ok := cat.Lookup(e.Name)
		require.True(t, ok, "fixture event %s: %s is not in the catalog", e.ID, e.Name)
		require.Equal(t, def.Product, e.Product, "fixture event %s", e.ID)
		v := counters.Values{Events: 1}
		if def.Measure != "" {
			if x, ok := e.Attrs[def.Measure]; ok {
				f, isNum := toFloat(x)
				require.True(t, isNum, "fixture event %s: %s is not a number", e.ID, def.Measure)
				micro, ok := catalog.Micro(f)
				require.True(t, ok)
				v.MeasureCount, v.MeasureSumMicro = 1, counters.SumOf(micro)
			}
		}
		if def.Flag != "" {
			if b, _ := e.Attrs[def.Flag].(bool); b {
				v.FlagTrue = 1
			}
		}
		date := counters.BusinessDate(e.Time, loc)
		cells := []counters.Cell{{Date: date, Event: e.Name}}
		if a, _ := e.Attrs[catalog.KeyAgentID].(string); a != "" {
			cells = append(cells, counters.Cell{Date: date, AgentID: a, Event: e.Name})
		}
		for _, c := range cells {
			agg.Add(c, v)
			if e.Time.After(latest[c]) {
				latest[c] = e.Time
			}
		}
	}
	insertRollups(t, dsn, agg.Rows(), latest)
}

func toFloat(x any) (float64, bool) {
	switch n := x.(type) {
	case int:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

func insertRollups(t testing.TB, dsn string, rows []counters.Row, updated map[counters.Cell]time.Time) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer func() { assert.NoError(t, conn.Close(ctx)) }()
	var b pgx.Batch
	for _, r := range rows {
		up := updated[r.Cell]
		if up.IsZero() {
			up = time.Now()
		}
		if r.AgentID == "" {
			b.Queue(`INSERT INTO analytics_daily_rollup
				(business_date, event_name, events, measure_count, measure_sum_micro, flag_true, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7)`,
				r.Date, r.Event, r.Events, r.MeasureCount, r.MeasureSumMicro, r.FlagTrue, up)
		} else {
			b.Queue(`INSERT INTO analytics_agent_daily_rollup
				(business_date, agent_id, event_name, events, measure_count, measure_sum_micro, flag_true, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
				r.Date, r.AgentID, r.Event, r.Events, r.MeasureCount, r.MeasureSumMicro, r.FlagTrue, up)
		}
	}
	require.NoError(t, conn.SendBatch(ctx, &b).Close())
}

// rejectedFixture are rows of analytics_rejected_events: the month of each
// is its event time in Shanghai, else its received time.
//
//	1 Nov 5, pending            → November
//	2 Nov 20, pending           → November
//	3 no event time, received Nov 10, pending → November
//	4 Nov 7, replayed           → not counted (it is in the rollups now)
//	5 Oct 31 15:00Z = Oct 31 23:00 Shanghai, received in November → October
//	6 Nov 30 16:30Z = Dec 1 00:30 Shanghai → December
//
// So: October 1, November 3, December 1.
func insertRejected(t testing.TB, dsn string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer func() { assert.NoError(t, conn.Close(ctx)) }()
	const q = `INSERT INTO analytics_rejected_events (received_at, reason, event_name, event_id, event_time, raw, replayed_at)
		VALUES ($1, $2, $3, $4, $5, '\x7b7d', $6)`
	ts := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		require.NoError(t, err)
		return v
	}
	rows := []struct {
		received, eventTime, replayed string
		id                            string
	}{
		{"2025-11-05T10:00:01+08:00", "2025-11-05T10:00:00+08:00", "", "r1"},
		{"2025-11-20T10:00:01+08:00", "2025-11-20T10:00:00+08:00", "", "r2"},
		{"2025-11-10T10:00:00+08:00", "", "", ""},
		{"2025-11-07T10:00:01+08:00", "2025-11-07T10:00:00+08:00", "2025-11-08T10:00:00+08:00", "r4"},
		{"2025-11-01T10:00:00+08:00", "2025-10-31T15:00:00Z", "", "r5"},
		{"2025-12-01T10:00:00+08:00", "2025-11-30T16:30:00Z", "", "r6"},
	}
	for _, r := range rows {
		var eventTime, replayed, id any
		if r.eventTime != "" {
			eventTime = ts(r.eventTime)
		}
		if r.replayed != "" {
			replayed = ts(r.replayed)
		}
		if r.id != "" {
			id = r.id
		}
		_, err := conn.Exec(ctx, q, ts(r.received), string(catalog.ReasonMissingAttribute), "session.start", id, eventTime, replayed)
		require.NoError(t, err)
	}
}

// loadEventsThroughStore writes events the way the collector does: each
// becomes an OTLP log record (EventName, event.id, timestamp, attributes,
// service.name), normalised by internal/normalize as the eventcatalog
// processor does, and stored by (*store.Store).Write, the analytics
// exporter's writer, which counts them into the rollups (and Redis, under
// a private key prefix).
//
// The rollups' updated_at is then set back to the latest stored event time
// of each cell (instead of the load time) so that the expected "last
// written" of the tests is a fixed, hand-checkable instant.
//
// It returns the Redis client and key prefix the counters are under.
func loadEventsThroughStore(t testing.TB, dsn string, events []fixtureEvent, loc *time.Location) (*redis.Client, string) {
	t.Helper()
	rdb, prefix := testdb.RedisPrefix(t)
	storeEvents(t, dsn, rdb, prefix, events, loc)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	require.NoError(t, err)
	defer pool.Close()
	_, err = pool.Exec(ctx, `
		UPDATE analytics_daily_rollup r SET updated_at = e.t
		FROM (SELECT business_date, event_name, max(event_time) AS t FROM analytics_events GROUP BY 1, 2) e
		WHERE r.business_date = e.business_date AND r.event_name = e.event_name`)
	require.NoError(t, err)
	return rdb, prefix
}

// storeEvents writes events through the exporter's writer into the schema
// at dsn and Redis under prefix, and requires that every one was counted
// in both: Redis' update was not left in the outbox, so the pipeline is
// drained when it returns.
func storeEvents(t testing.TB, dsn string, rdb redis.UniversalClient, prefix string, events []fixtureEvent, loc *time.Location) {
	t.Helper()
	ld := eventLogs(t, events)
	require.NoError(t, writeAll(context.Background(), newStore(t, dsn, rdb, prefix, loc), ld, len(events)))
}

// eventLogs turns events into OTLP log records as product code sends them,
// normalised by internal/normalize as the eventcatalog processor does.
func eventLogs(t testing.TB, events []fixtureEvent) plog.Logs {
	t.Helper()
	ld := plog.NewLogs()
	norm := normalize.New(nil, normalize.Limits{})
	byProduct := map[string]plog.ResourceLogs{}
	for _, e := range events {
		rl, ok := byProduct[e.Product]
		if !ok {
			rl = ld.ResourceLogs().AppendEmpty()
			rl.Resource().Attributes().PutStr("service.name", e.Product)
			rl.ScopeLogs().AppendEmpty()
			byProduct[e.Product] = rl
		}
		lr := rl.ScopeLogs().At(0).LogRecords().AppendEmpty()
		lr.SetEventName(e.Name)
		lr.SetTimestamp(pcommon.NewTimestampFromTime(e.Time))
		lr.Attributes().PutStr(catalog.WireEventID, e.ID)
		for k, v := range e.Attrs {
			require.NoError(t, lr.Attributes().PutEmpty(k).FromRaw(v))
		}
		r := norm.Record(rl.Resource(), rl.ScopeLogs().At(0).Scope(), lr, time.Now())
		require.Equal(t, normalize.Accepted, r.Outcome, "fixture event %s rejected: %s", e.ID, r.Reason)
	}
	return ld
}

// newStore is the exporter's writer over the schema at dsn and Redis under
// prefix; its pool is closed when the test ends.
func newStore(t testing.TB, dsn string, rdb redis.UniversalClient, prefix string, loc *time.Location) *store.Store {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dsn)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return store.New(pool, rdb, store.Config{Location: loc, Layout: counters.Layout{Prefix: prefix}})
}

// writeAll writes ld through st; it fails unless all n events were stored
// and counted in Redis at once (not left in the outbox). It only returns an
// error, so it may run off the test's goroutine.
func writeAll(ctx context.Context, st *store.Store, ld plog.Logs, n int) error {
	res, err := st.Write(ctx, ld)
	switch {
	case err != nil:
		return err
	case res.Inserted != n:
		return fmt.Errorf("stored %d of %d events", res.Inserted, n)
	case res.RedisDeferred != 0:
		return fmt.Errorf("the Redis update of %d transactions was left in the outbox", res.RedisDeferred)
	}
	return nil
}
