package scale

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
	"github.com/otelcol-analytics/otelcol-analytics/internal/normalize"
	"github.com/otelcol-analytics/otelcol-analytics/internal/store"
	"github.com/otelcol-analytics/otelcol-analytics/internal/testdb"
	"github.com/otelcol-analytics/otelcol-analytics/stats"
)

// TestPartitionsAtScale loads OTELCOL_SCALE_PART_EVENTS events (default
// 10,000,000) over 24 business months and measures, logging figures
// without timing assertions:
//
//  1. the load (events/s);
//  2. table and index sizes per month and of the ledger, bytes per event;
//  3. the stats service's case-study and summary endpoints over HTTP for the
//     oldest, a middle and the newest month (p50/p99 of 200 calls);
//  4. the ledger: a probe of 5,000 ids and Store.Write of 5,000 new events,
//     here and in a schema of OTELCOL_SCALE_PART_BASELINE events (default
//     1,000,000; 0: none);
//  5. retention dropping the oldest month (Store.DropPartitionsBefore, as
//     the exporter's maintain loop) while a writer keeps writing the newest
//     month through Store.Write: no writer error, no lost write, the month's
//     ledger rows gone, its rollups kept.
//
// It asserts the counts: events = ledger rows = rollup events, the case
// study's numbers equal the rollups', every write is stored and counted.
func TestPartitionsAtScale(t *testing.T) {
	partGate(t)
	total := partEnvInt(t, "OTELCOL_SCALE_PART_EVENTS", 10_000_000)
	baseline := 1_000_000
	if v := os.Getenv("OTELCOL_SCALE_PART_BASELINE"); v == "0" {
		baseline = 0
	} else {
		baseline = partEnvInt(t, "OTELCOL_SCALE_PART_BASELINE", baseline)
	}
	t.Logf("load average before: %s", partLoadAvg())

	dsn, schema := partSchema(t)
	e := partNewEnv(t, dsn)
	loaded := partLoad(t, e.pool, e.st, total)
	t.Logf("schema %s: loaded %d events in %s (%.0f events/s), load average %s",
		schema, loaded.events, loaded.elapsed.Round(time.Second), float64(loaded.events)/loaded.elapsed.Seconds(), partLoadAvg())
	n := partCheckCounts(t, e.pool)
	if loaded.events > 0 {
		require.Equal(t, loaded.events, n, "every loaded event counted")
	}
	require.Greater(t, n, int64(total)*99/100, "about the events asked for")

	partSizes(t, e.pool, n)
	partCaseStudy(t, dsn)
	probe := partLedgerCost(t, e, n)
	if baseline > 0 && baseline < total {
		bdsn, bschema := partMigrated(t)
		be := partNewEnv(t, bdsn)
		bl := partLoad(t, be.pool, be.st, baseline)
		t.Logf("baseline schema %s: loaded %d events in %s", bschema, bl.events, bl.elapsed.Round(time.Second))
		bn := partCheckCounts(t, be.pool)
		partSizes(t, be.pool, bn)
		bprobe := partLedgerCost(t, be, bn)
		t.Logf("ledger at %d vs %d events: probe of 5000 known ids %.1f vs %.1f ms, of 5000 new ids %.1f vs %.1f ms, "+
			"Store.Write of 5000 new events %.1f vs %.1f ms (%.1f vs %.1f µs/event)",
			n, bn, probe.known, bprobe.known, probe.fresh, bprobe.fresh, probe.write, bprobe.write,
			probe.write*1000/partBatch, bprobe.write*1000/partBatch)
	}
	partRetention(t, e)
	t.Logf("load average after: %s", partLoadAvg())
}

// partEnv is a pool and a Store on one schema.
type partEnv struct {
	dsn    string
	pool   *pgxpool.Pool
	st     *store.Store
	rdb    redis.UniversalClient
	layout counters.Layout
}

func partNewEnv(t *testing.T, dsn string) *partEnv {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dsn)
	require.NoError(t, err)
	cfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	rdb, prefix := testdb.RedisPrefix(t)
	layout := counters.Layout{Prefix: prefix, DailyTTL: 400 * 24 * time.Hour, ClaimTTL: 7 * 24 * time.Hour}
	loc, err := time.LoadLocation(counters.DefaultTimeZone)
	require.NoError(t, err)
	return &partEnv{
		dsn: dsn, pool: pool, rdb: rdb, layout: layout,
		st: store.New(pool, rdb, store.Config{Location: loc, Layout: layout}),
	}
}

// partLoadAvg is /proc/loadavg's first three fields.
func partLoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// partCheckCounts asserts that the events, the ledger rows and both
// rollups count the same events, and returns that count.
func partCheckCounts(t *testing.T, pool *pgxpool.Pool) int64 {
	t.Helper()
	ctx := context.Background()
	var events, agentEvents, ledger, daily, agent int64
	start := time.Now()
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*), count(agent_id) FROM analytics_events`).Scan(&events, &agentEvents))
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM analytics_event_ids`).Scan(&ledger))
	require.NoError(t, pool.QueryRow(ctx, `SELECT coalesce(sum(events), 0)::bigint FROM analytics_daily_rollup`).Scan(&daily))
	require.NoError(t, pool.QueryRow(ctx, `SELECT coalesce(sum(events), 0)::bigint FROM analytics_agent_daily_rollup`).Scan(&agent))
	require.Equal(t, events, ledger, "one ledger row per event")
	require.Equal(t, events, daily, "the daily rollup counts every event")
	require.Equal(t, agentEvents, agent, "the agent rollup counts every event with an agent")
	t.Logf("counts: %d events (%d with an agent) = ledger rows = rollup events (checked in %s)",
		events, agentEvents, time.Since(start).Round(time.Millisecond))
	return events
}

// partSizes logs table and index sizes per month, of the ledger and of the
// rollups, and bytes per event.
func partSizes(t *testing.T, pool *pgxpool.Pool, events int64) {
	t.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `
		SELECT c.relname, c.reltuples::bigint, pg_relation_size(c.oid), pg_indexes_size(c.oid), pg_total_relation_size(c.oid)
		FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'analytics_events'::regclass ORDER BY c.relname`)
	require.NoError(t, err)
	var sumTotal int64
	var lines []string
	for rows.Next() {
		var name string
		var tuples, heap, idx, tot int64
		require.NoError(t, rows.Scan(&name, &tuples, &heap, &idx, &tot))
		sumTotal += tot
		per := 0.0
		if tuples > 0 {
			per = float64(tot) / float64(tuples)
		}
		lines = append(lines, fmt.Sprintf("%s: %d rows, heap %s, index %s, total %s (%.0f B/event)",
			name, tuples, partMB(heap), partMB(idx), partMB(tot), per))
	}
	require.NoError(t, rows.Err())
	t.Logf("partitions:\n  %s", strings.Join(lines, "\n  "))
	for _, rel := range []string{"analytics_event_ids", "analytics_daily_rollup", "analytics_agent_daily_rollup"} {
		var heap, idx, tot int64
		require.NoError(t, pool.QueryRow(ctx, `SELECT pg_relation_size($1::regclass), pg_indexes_size($1::regclass), pg_total_relation_size($1::regclass)`, rel).
			Scan(&heap, &idx, &tot))
		t.Logf("%s: heap %s, index %s, total %s (%.0f B/event)", rel, partMB(heap), partMB(idx), partMB(tot), float64(tot)/float64(events))
		sumTotal += tot
	}
	t.Logf("events + ledger + rollups: %s for %d events, %.0f B/event", partMB(sumTotal), events, float64(sumTotal)/float64(events))
}

func partMB(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }

// partCaseStudy serves the stats handler over the schema and times the
// case-study and summary endpoints of the oldest, a middle and the newest
// month, 200 calls each, after checking the case study's count of
// customers against the rollups.
func partCaseStudy(t *testing.T, dsn string) {
	t.Helper()
	ctx := context.Background()
	cfg := stats.NewDefaultConfig()
	cfg.Postgres.DSN = configopaque.String(dsn)
	cfg.Auth.Token = "scale-token"
	require.NoError(t, cfg.Validate())
	pool, err := stats.NewPool(ctx, cfg.Postgres)
	require.NoError(t, err)
	defer pool.Close()
	h, err := stats.NewHandler(cfg, pool, stats.HandlerSettings{})
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := srv.Client()
	get := func(path string) (int, []byte) {
		req, err := http.NewRequest(http.MethodGet, srv.URL+path, http.NoBody)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer scale-token")
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer func() { _ = resp.Body.Close() }()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, body
	}
	for _, month := range []string{"2024-01", "2024-12", "2025-12"} {
		first, err := time.Parse("2006-01", month)
		require.NoError(t, err)
		var starts int64
		require.NoError(t, pool.QueryRow(ctx, `SELECT coalesce(sum(events), 0)::bigint FROM analytics_daily_rollup
			WHERE event_name = 'session.start' AND business_date >= $1 AND business_date < $2`, first, first.AddDate(0, 1, 0)).Scan(&starts))
		require.Positive(t, starts)
		status, body := get("/api/analytics/case-study?month=" + month)
		require.Equal(t, http.StatusOK, status, string(body))
		var cs struct {
			AIChatbot struct {
				TotalCustomersServed int64 `json:"total_customers_served"`
			} `json:"ai_chatbot"`
		}
		require.NoError(t, json.Unmarshal(body, &cs))
		require.Equal(t, starts, cs.AIChatbot.TotalCustomersServed, "case study of %s", month)
		for _, ep := range []string{"case-study", "summary"} {
			path := "/api/analytics/" + ep + "?month=" + month + "&lang=zh"
			lat := make([]time.Duration, 0, 200)
			for range 200 {
				s := time.Now()
				status, body := get(path)
				lat = append(lat, time.Since(s))
				require.Equal(t, http.StatusOK, status, string(body))
			}
			slices.Sort(lat)
			t.Logf("GET %s: p50 %.2f ms, p99 %.2f ms, max %.2f ms (200 calls)",
				path, partMs(lat[len(lat)/2]), partMs(lat[len(lat)*99/100]), partMs(lat[len(lat)-1]))
		}
	}
}

func partMs(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// partBatch is the batch size of the ledger measurements.
const partBatch = 5000

// partProbeSQL is the store's ledger look-up (internal/store probeSQL,
// unexported), the query of every batch that looks its ids up first.
const partProbeSQL = `SELECT u.i, l.business_date - DATE '2000-01-01', l.content_hash
FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(product, id, i)
CROSS JOIN LATERAL (
    SELECT i.business_date, i.content_hash FROM analytics_event_ids i
    WHERE i.product = u.product AND i.event_id = u.id LIMIT 1
) l`

// partCost is what one ledger measurement found (median milliseconds).
type partCost struct {
	known, fresh, write float64
}

// partLedgerCost times the ledger look-up of 5000 ids spread over the whole
// ledger (known) and of 5000 new ids, and Store.Write of 5000 new events of
// the newest month (which copies their ids into the ledger), 15 times each.
func partLedgerCost(t *testing.T, e *partEnv, events int64) partCost {
	t.Helper()
	ctx := context.Background()
	// A sample spread over every month (Bernoulli: rows from every page).
	pct := min(100, float64(partBatch*15*2)*100/float64(events))
	rows, err := e.pool.Query(ctx, fmt.Sprintf(
		`SELECT product, event_id FROM analytics_event_ids TABLESAMPLE BERNOULLI (%f) ORDER BY random() LIMIT %d`, pct, partBatch*15))
	require.NoError(t, err)
	var products, ids []string
	for rows.Next() {
		var p, id string
		require.NoError(t, rows.Scan(&p, &id))
		products, ids = append(products, p), append(ids, id)
	}
	require.NoError(t, rows.Err())
	require.Len(t, ids, partBatch*15)
	var known, fresh, write []time.Duration
	for r := range 15 {
		p, ids := products[r*partBatch:(r+1)*partBatch], ids[r*partBatch:(r+1)*partBatch]
		s := time.Now()
		found := partProbe(t, e.pool, p, ids)
		known = append(known, time.Since(s))
		require.Equal(t, partBatch, found, "every sampled id is known")

		newIDs := make([]string, partBatch)
		for i := range newIDs {
			newIDs[i] = uuid.Must(uuid.NewV7()).String()
		}
		s = time.Now()
		found = partProbe(t, e.pool, p, newIDs)
		fresh = append(fresh, time.Since(s))
		require.Zero(t, found, "no new id is known")

		ld, err := partBatchOf(newIDs, time.Date(2025, 12, 10, 9, 0, 0, 0, e.st.Location()))
		require.NoError(t, err)
		s = time.Now()
		res, err := e.st.Write(ctx, ld)
		write = append(write, time.Since(s))
		require.NoError(t, err)
		require.Equal(t, partBatch, res.Inserted)
	}
	med := func(d []time.Duration) float64 { slices.Sort(d); return partMs(d[len(d)/2]) }
	c := partCost{known: med(known), fresh: med(fresh), write: med(write)}
	t.Logf("ledger of %d ids: probe of %d known ids %.1f ms, of %d new ids %.1f ms; Store.Write of %d new events %.1f ms "+
		"(%.1f µs/event; medians of 15)", events, partBatch, c.known, partBatch, c.fresh, partBatch, c.write, c.write*1000/partBatch)
	return c
}

// partProbe runs the store's look-up and returns how many ids it found.
func partProbe(t *testing.T, pool *pgxpool.Pool, products, ids []string) int {
	t.Helper()
	rows, err := pool.Query(context.Background(), partProbeSQL, products, ids)
	require.NoError(t, err)
	n := 0
	for rows.Next() {
		n++
	}
	require.NoError(t, rows.Err())
	return n
}

// partBatchOf is a normalised batch of session.start events (ai_chatbot)
// with the given ids, one millisecond apart from at, as the eventcatalog
// processor hands it to the exporter.
func partBatchOf(ids []string, at time.Time) (plog.Logs, error) {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "ai_chatbot")
	sl := rl.ScopeLogs().AppendEmpty()
	norm := normalize.New(nil, normalize.Limits{})
	now := time.Now()
	for i, id := range ids {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetEventName("session.start")
		lr.SetTimestamp(pcommon.NewTimestampFromTime(at.Add(time.Duration(i) * time.Millisecond)))
		lr.Attributes().PutStr(catalog.WireEventID, id)
		lr.Attributes().PutStr("session_id", "s-"+id[24:])
		lr.Attributes().PutStr("channel", "web")
		if r := norm.Record(rl.Resource(), sl.Scope(), lr, now); r.Outcome != normalize.Accepted {
			return ld, fmt.Errorf("%s not accepted: %s", id, r.Reason)
		}
	}
	return ld, nil
}

// partRetention drops the oldest month with Store.DropPartitionsBefore (a
// Store of its own, as another collector's maintain loop) while a writer
// keeps writing batches of 500 new events of the newest month through
// Store.Write, and checks that no write failed or got lost and that the
// month's ledger rows went with it while its rollups stayed.
func partRetention(t *testing.T, e *partEnv) {
	t.Helper()
	ctx := context.Background()
	oldest, cut := partFirstDay, partFirstDay.AddDate(0, 1, 0)
	var rollBefore, ledgerOld, ledgerAll, newestBefore int64
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT sum(events)::bigint FROM analytics_daily_rollup WHERE business_date < $1`, cut).Scan(&rollBefore))
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT sum(events)::bigint FROM analytics_daily_rollup WHERE business_date >= '2025-12-01'`).Scan(&newestBefore))
	s := time.Now()
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE business_date < $1), count(*) FROM analytics_event_ids`, cut).
		Scan(&ledgerOld, &ledgerAll))
	t.Logf("ledger: %d rows, %d of them of %s (one sequential scan to count them: %s)",
		ledgerAll, ledgerOld, oldest.Format("2006-01"), time.Since(s).Round(time.Millisecond))
	require.Positive(t, ledgerOld)
	var ledgerBytes int64
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT pg_total_relation_size('analytics_event_ids')`).Scan(&ledgerBytes))

	// The writer: its own Store, the newest month, 500 events a batch.
	writer := store.New(e.pool, e.rdb, store.Config{Location: e.st.Location(), Layout: e.layout})
	type batchTime struct {
		start time.Time
		took  time.Duration
	}
	var (
		stop    atomic.Bool
		wg      sync.WaitGroup
		written atomic.Int64
		errs    []error
		times   []batchTime
	)
	at := time.Date(2025, 12, 20, 10, 0, 0, 0, e.st.Location())
	wg.Add(1)
	go func() {
		defer wg.Done()
		for b := 0; !stop.Load(); b++ {
			ids := make([]string, 500)
			for i := range ids {
				ids[i] = uuid.Must(uuid.NewV7()).String()
			}
			ld, err := partBatchOf(ids, at.Add(time.Duration(b)*time.Second))
			if err != nil {
				errs = append(errs, err)
				return
			}
			s := time.Now()
			res, err := writer.Write(ctx, ld)
			times = append(times, batchTime{s, time.Since(s)})
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if res.Inserted != len(ids) {
				errs = append(errs, fmt.Errorf("batch %d: inserted %d of %d", b, res.Inserted, len(ids)))
			}
			written.Add(int64(res.Inserted))
		}
	}()
	time.Sleep(3 * time.Second)
	retention := store.New(e.pool, e.rdb, store.Config{Location: e.st.Location(), Layout: e.layout})
	dropStart := time.Now()
	dropped, err := retention.DropPartitionsBefore(ctx, time.Date(2024, 2, 1, 12, 0, 0, 0, e.st.Location()))
	dropTook := time.Since(dropStart)
	require.NoError(t, err)
	time.Sleep(3 * time.Second)
	stop.Store(true)
	wg.Wait()
	require.Empty(t, errs, "no writer error")
	require.Equal(t, []string{partMonthName(oldest)}, dropped)

	var worst, during time.Duration
	for _, bt := range times {
		worst = max(worst, bt.took)
		if bt.start.Before(dropStart.Add(dropTook)) && bt.start.Add(bt.took).After(dropStart) {
			during = max(during, bt.took)
		}
	}
	var typical time.Duration
	{
		d := make([]time.Duration, len(times))
		for i, bt := range times {
			d[i] = bt.took
		}
		slices.Sort(d)
		typical = d[len(d)/2]
	}
	t.Logf("retention: dropped %v in %s while the writer wrote %d events in %d batches of 500 "+
		"(median batch %.1f ms, longest %.1f ms, longest overlapping the drop %.1f ms)",
		dropped, dropTook.Round(time.Millisecond), written.Load(), len(times), partMs(typical), partMs(worst), partMs(during))

	// Nothing lost: every write stored and counted, once.
	var newestAfter, retired, ledgerOldAfter, rollAfter int64
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT sum(events)::bigint FROM analytics_daily_rollup WHERE business_date >= '2025-12-01'`).Scan(&newestAfter))
	require.Equal(t, newestBefore+written.Load(), newestAfter, "every write counted once")
	var stored int64
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT count(*) FROM analytics_events WHERE business_date = '2025-12-20'`).Scan(&stored))
	var roll20 int64
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT sum(events)::bigint FROM analytics_daily_rollup WHERE business_date = '2025-12-20'`).Scan(&roll20))
	require.Equal(t, roll20, stored, "the writer's day: events = rollup")
	// The month is retired, its ledger rows are gone, its rollups stay.
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT count(*) FROM analytics_retired_months WHERE month = $1`, oldest).Scan(&retired))
	require.Equal(t, int64(1), retired)
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT count(*) FROM analytics_event_ids WHERE business_date < $1`, cut).Scan(&ledgerOldAfter))
	require.Zero(t, ledgerOldAfter, "the dropped month's ledger rows are deleted")
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT sum(events)::bigint FROM analytics_daily_rollup WHERE business_date < $1`, cut).Scan(&rollAfter))
	require.Equal(t, rollBefore, rollAfter, "the dropped month's rollups are kept")
	var ledgerAfter, dead int64
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT pg_total_relation_size('analytics_event_ids')`).Scan(&ledgerAfter))
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT n_dead_tup FROM pg_stat_user_tables WHERE relid = 'analytics_event_ids'::regclass`).Scan(&dead))
	t.Logf("ledger after retention: %s (before %s), %d dead rows until vacuum reuses their space", partMB(ledgerAfter), partMB(ledgerBytes), dead)
	assert.GreaterOrEqual(t, ledgerAfter, ledgerBytes, "a DELETE does not shrink the ledger's files")
}
