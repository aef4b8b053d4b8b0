package faults

import (
	"context"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
	"github.com/otelcol-analytics/otelcol-analytics/internal/loadgen"
	"github.com/otelcol-analytics/otelcol-analytics/internal/normalize"
	"github.com/otelcol-analytics/otelcol-analytics/migrations"
	"github.com/otelcol-analytics/otelcol-analytics/stats"
)

// window is a Source of gen's requests lo … hi-1 (request k of the run is
// gen's request lo+k, with its own index and sequence numbers: paced, it is
// due when gen's request lo+k would be in a run of them all).
type window struct {
	gen    *loadgen.Generator
	lo, hi int
}

// Request implements loadgen.Source.
func (w window) Request(k int) (loadgen.Request, bool, error) {
	if w.lo+k >= w.hi {
		return loadgen.Request{}, false, nil
	}
	r, err := w.gen.Encode(w.lo + k)
	return r, err == nil, err
}

// TestFault10TwoCollectors runs two collectors on one schema and one Redis
// key prefix, as two replicas of a deployment: both start at once on an
// empty schema (each migrates it), then A is sent requests 0–60 % and B
// requests 40–100 % of the traffic, paced, so that the middle fifth reaches
// both at about the same time; then every fifth request is sent to both
// again. Every event is stored and counted once.
func TestFault10TwoCollectors(t *testing.T) {
	t.Parallel()
	e := Start(t, Options{})
	if _, err := e.Stop(time.Minute); err != nil {
		t.Fatal(err)
	}
	e.ResetSchema(t)
	// Both collectors start on the empty schema and wait at the migration
	// lock, held here until both wait; then they migrate at once.
	gate := e.HoldMigrations(t)
	type started struct {
		p   *Peer
		err error
	}
	peer := make(chan started, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		p, err := e.StartPeer(ctx, t)
		peer <- started{p, err}
	}()
	waited := make(chan int, 1)
	go func() {
		most := 0
		for deadline := time.Now().Add(time.Minute); most < 2 && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			n, err := gate.Waiting(context.Background())
			if err != nil {
				t.Errorf("migration lock: %v", err)
				break
			}
			most = max(most, n)
		}
		if err := gate.Release(context.Background()); err != nil {
			t.Errorf("migration lock: %v", err)
		}
		waited <- most
	}()
	e.Restart()
	b := <-peer
	if b.err != nil {
		t.Fatal(b.err)
	}
	if n := <-waited; n != 2 {
		t.Fatalf("%d collectors waited at the migration lock, want 2: they did not migrate at once", n)
	}
	version, dirty, err := migrations.Version(e.DSN)
	if err != nil {
		t.Fatal(err)
	}
	if want := latestMigration(t); version != want || dirty {
		t.Fatalf("after two concurrent migrations: version %d (dirty %v), want %d, clean", version, dirty, want)
	}

	l := defaultLoad()
	gen := e.Generator(10)
	n := int(l.rate*l.d.Seconds()) / gen.PerRequest
	lo, hi := n*2/5, n*3/5
	o := loadgen.Options{Rate: l.rate, Senders: l.senders / 2, Timeout: 10 * time.Second, MaxAttempts: 1000, BackoffMax: 500 * time.Millisecond}
	var wg sync.WaitGroup
	var resA, resB *loadgen.Result
	wg.Go(func() { resA = e.Send(context.Background(), gen, o, window{gen, 0, hi}) })
	wg.Go(func() { resB = b.p.Send(context.Background(), gen, o, window{gen, lo, n}) })
	wg.Wait()
	if resA.AckedRequests() != hi || resB.AckedRequests() != n-lo {
		t.Errorf("acknowledged: A %d of %d requests, B %d of %d", resA.AckedRequests(), hi, resB.AckedRequests(), n-lo)
	}

	// Resend every fifth request to both, at once.
	var again []loadgen.Request
	for k := 0; k < n; k += 5 {
		r, err := gen.Encode(k)
		if err != nil {
			t.Fatal(err)
		}
		again = append(again, r)
	}
	unpaced := loadgen.Options{Senders: 2, Timeout: 10 * time.Second, MaxAttempts: 1000, BackoffMax: 500 * time.Millisecond}
	wg.Go(func() { e.Send(context.Background(), gen, unpaced, loadgen.Encoded(again)) })
	wg.Go(func() { b.p.Send(context.Background(), gen, unpaced, loadgen.Encoded(again)) })
	wg.Wait()

	fig := e.Check(t, CheckOptions{})
	per := int64(gen.PerRequest)
	if want := int64(n+(hi-lo)+2*len(again)) * per; fig.Sent != want {
		t.Errorf("sent %d events, want %d (%d requests, %d to both, %d resent to both)", fig.Sent, want, n, hi-lo, len(again))
	}
	if fig.Distinct != int64(n)*per {
		t.Errorf("sent %d distinct events, want %d", fig.Distinct, int64(n)*per)
	}
	t.Logf("TestFault10TwoCollectors: 2 collectors on one schema and prefix, both held at the migration lock and released at once "+
		"(schema version %d), A sent requests 0–%d, B %d–%d of %d, paced at %.0f events/s each, %d resent to both: %s",
		version, hi-1, lo, n-1, n, l.rate, len(again), fig)
}

// latestMigration is the highest version in migrations/ (NNN_name.up.sql).
func latestMigration(t *testing.T) uint {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "migrations", "*.up.sql"))
	if err != nil {
		t.Fatal(err)
	}
	var v uint
	for _, f := range files {
		n, err := strconv.ParseUint(strings.SplitN(filepath.Base(f), "_", 2)[0], 10, 32)
		if err != nil {
			t.Fatalf("migration %s: %v", f, err)
		}
		v = max(v, uint(n))
	}
	if v == 0 {
		t.Fatal("no migrations found")
	}
	return v
}

// seqOf is the sequence number in the event.id of lr, a record of a
// Generator (records are grouped by product, so their order is not that
// of their sequence numbers).
func seqOf(t *testing.T, lr plog.LogRecord) uint64 {
	id, _ := lr.Attributes().Get(catalog.WireEventID)
	_, seq, err := loadgen.ParseSeq(id.Str())
	if err != nil {
		t.Fatalf("record of a generator: %v", err)
	}
	return seq
}

// dayEvent is a business day and an event name.
type dayEvent struct{ day, event string }

// tally counts accepted events by business day and event, and late ones,
// per request of a phase, as the requests are built.
type tally struct {
	mu   sync.Mutex
	req  map[reqKey]map[dayEvent]int64
	late map[reqKey]int64
}

func (c *tally) add(phase uint16, k int, counts map[dayEvent]int64, late int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.req == nil {
		c.req, c.late = map[reqKey]map[dayEvent]int64{}, map[reqKey]int64{}
	}
	key := reqKey{loadgen.PhaseHex(phase), int64(k)}
	c.req[key], c.late[key] = counts, late
}

// acked adds up the counts of the acknowledged requests of res (gen's)
// into into, and returns their late events.
func (c *tally) acked(gen *loadgen.Generator, res *loadgen.Result, into map[dayEvent]int64) (late int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range res.Records {
		if !r.OK() {
			continue
		}
		key := reqKey{loadgen.PhaseHex(gen.IDs.Phase), int64(r.Index)}
		for de, v := range c.req[key] {
			into[de] += v
		}
		late += c.late[key]
	}
	return late
}

// dayCounts are the events of one business day as PostgreSQL, Redis and
// the stats daily endpoint count them.
type dayCounts struct {
	pg, redis map[string]int64 // by event
	stats     map[string]int64 // session.start, session.message, agent.session_takeover
}

// readDays reads the counts of every day of days from the three places.
func readDays(t *testing.T, e *Env, days []string) map[string]dayCounts {
	t.Helper()
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, e.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	out := map[string]dayCounts{}
	for _, d := range days {
		out[d] = dayCounts{pg: map[string]int64{}, redis: map[string]int64{}, stats: map[string]int64{}}
	}
	rows, err := conn.Query(ctx, `SELECT business_date::text, event_name, count(*) FROM analytics_events GROUP BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	var day, ev string
	var cnt int64
	if _, err := pgx.ForEachRow(rows, []any{&day, &ev, &cnt}, func() error {
		if c, ok := out[day]; ok {
			c.pg[ev] += cnt
		} else {
			t.Errorf("PostgreSQL holds %d %s events of %s, a day no event was sent for", cnt, ev, day)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, d := range days {
		rows, err := e.Layout.ReadDay(ctx, e.Redis, d)
		if err != nil {
			t.Fatal(err)
		}
		for ev, v := range eventTotals(rows) {
			out[d].redis[ev] = v
		}
		var daily stats.DailyJSON
		if err := e.getJSON(ctx, "/api/analytics/daily?from="+d+"&to="+d, &daily); err != nil {
			t.Fatal(err)
		}
		for _, dj := range daily.Days {
			if dj.Date != d {
				continue
			}
			out[d].stats["session.start"] = dj.TotalCustomersServed
			out[d].stats["session.message"] = dj.Messages
			out[d].stats[loadgen.ProbeEvent] = dj.SessionsHandled
		}
	}
	return out
}

// byDay is want's events of day d by event.
func byDay(want map[dayEvent]int64, d string) map[string]int64 {
	out := map[string]int64{}
	for de, v := range want {
		if de.day == d {
			out[de.event] += v
		}
	}
	return out
}

// sum adds up m.
func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// compareDays fails t for every day of days whose PostgreSQL, Redis (when
// redis says so) or stats counts differ from want.
func compareDays(t *testing.T, got map[string]dayCounts, want map[dayEvent]int64, days []string, redis func(day string) bool) {
	t.Helper()
	for _, d := range days {
		w, g := byDay(want, d), got[d]
		for _, ev := range sortedKeys(w, g.pg) {
			if g.pg[ev] != w[ev] {
				t.Errorf("day %s %s: PostgreSQL %d events, %d sent and acknowledged", d, ev, g.pg[ev], w[ev])
			}
		}
		if redis(d) {
			for _, ev := range sortedKeys(w, g.redis) {
				if g.redis[ev] != w[ev] {
					t.Errorf("day %s %s: Redis %d events, %d sent and acknowledged", d, ev, g.redis[ev], w[ev])
				}
			}
		} else if n := sum(g.redis); n != 0 {
			t.Errorf("day %s is past its Redis expiry, yet its daily hash counts %d events", d, n)
		}
		for ev, v := range g.stats {
			if v != w[ev] {
				t.Errorf("day %s %s: stats daily %d, %d sent and acknowledged", d, ev, v, w[ev])
			}
		}
	}
}

func sortedKeys(ms ...map[string]int64) []string {
	var out []string
	for _, m := range ms {
		for k := range m {
			if !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestFault12ClockJump sends, under load, this month's traffic with a fifth
// of the events stamped 3–6 h late (the sender's clock jumped), mixed with
// a backfill of last month (a phase of its own). Every request also carries
// both sides of the two time bounds of the catalog (docs/spec.md §5): an
// event 50 min in the future (accepted, within limits.max_future_skew 1h)
// and one 70 min in the future (rejected future_timestamp), one at
// limits.min_event_time 2000-01-01T00:00:00Z (accepted: a backfill, into a
// partition made on demand; its day is past the Redis daily expiry, so
// only the month counts it in Redis) and one a nanosecond before it
// (rejected past_timestamp); and both sides of the Redis daily expiry
// (redis.daily_ttl 400 days after the day's end, docs/spec.md §6.3): an
// event of the oldest day Redis still keeps, counted in its daily hash, and
// one of the newest day past it, counted in PostgreSQL, the stats and the
// monthly hash only. Each accepted event lands on its business day in
// PostgreSQL, Redis and the stats, by a count kept as the requests were
// built.
func TestFault12ClockJump(t *testing.T) {
	t.Parallel()
	now := time.Now()
	e := Start(t, Options{Month: now})
	y, m, _ := now.In(e.Loc).Date()
	lastMonth := time.Date(y, m, 1, 12, 0, 0, 0, e.Loc).AddDate(0, 0, -2)
	minTime := normalize.DefaultMinEventTime
	const skew = time.Hour // limits.max_future_skew, default
	// The Redis daily expiry of day d, by docs/spec.md §6.3: 9600 h after
	// 12:00 UTC of the next day.
	expiry := func(d time.Time) time.Time {
		y, m, dd := d.Date()
		return time.Date(y, m, dd+1, 12, 0, 0, 0, time.UTC).Add(9600 * time.Hour)
	}
	// The newest day already past its expiry, and the oldest one that stays
	// kept for the next hour (the day after it, unless an expiry falls in
	// that hour).
	pastDay := time.Date(y, m, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -420)
	for expiry(pastDay.AddDate(0, 0, 1)).Before(now) {
		pastDay = pastDay.AddDate(0, 0, 1)
	}
	if !expiry(pastDay).Before(now) {
		t.Fatalf("day %s is not past its expiry %s", pastDay.Format(time.DateOnly), expiry(pastDay))
	}
	keptDay := pastDay.AddDate(0, 0, 1)
	for expiry(keptDay).Before(now.Add(time.Hour)) {
		keptDay = keptDay.AddDate(0, 0, 1)
	}
	noon := func(d time.Time) time.Time { return time.Date(d.Year(), d.Month(), d.Day(), 12, 0, 0, 0, e.Loc) }
	var c tally
	src := func(gen *loadgen.Generator, live bool) mutated {
		return mutated{gen: gen, edit: func(k int, ld plog.Logs) {
			at := time.Now()
			counts := map[dayEvent]int64{}
			var late int64
			eachRecord(ld, func(i int, lr plog.LogRecord) {
				seq := seqOf(t, lr)
				ts := lr.Timestamp().AsTime()
				accepted := true
				switch {
				case i == 0:
					ts = at.Add(skew - 10*time.Minute)
				case i == 1:
					ts, accepted = at.Add(skew+10*time.Minute), false
				case i == 2:
					ts = minTime
				case i == 3:
					ts, accepted = minTime.Add(-time.Nanosecond), false
				case i == 4:
					ts = noon(keptDay)
				case i == 5:
					ts = noon(pastDay)
				case live && seq%5 == 0: // the clock jumped: 3–6 h late
					ts = at.Add(-3*time.Hour - time.Duration(seq*2654435761%10_800_000)*time.Millisecond) //nolint:gosec // below 3 h
					late++
				case live:
					ts = at.Add(-time.Duration(seq*104729%60_000) * time.Millisecond) //nolint:gosec // below a minute
				}
				lr.SetTimestamp(pcommon.NewTimestampFromTime(ts))
				if accepted {
					counts[dayEvent{ts.In(e.Loc).Format(time.DateOnly), lr.EventName()}]++
				}
			})
			c.add(gen.IDs.Phase, k, counts, late)
		}}
	}
	live := e.Generator(12)
	backfill := e.Generator(0x112)
	backfill.Month = lastMonth
	l := defaultLoad()
	l.rate /= 2
	l.senders /= 2
	doneLive := sendAsync(e, live, l, src(live, true))
	doneBackfill := sendAsync(e, backfill, l, src(backfill, false))
	resLive, resBackfill := <-doneLive, <-doneBackfill

	want := map[dayEvent]int64{}
	late := c.acked(live, resLive, want)
	c.acked(backfill, resBackfill, want)
	var days, months []string
	for de := range want {
		if !slices.Contains(days, de.day) {
			days = append(days, de.day)
		}
		if mo := de.day[:7]; !slices.Contains(months, mo) {
			months = append(months, mo)
		}
	}
	slices.Sort(days)
	slices.Sort(months)
	for _, mo := range []string{now.In(e.Loc).Format("2006-01"), lastMonth.Format("2006-01"), "2000-01"} {
		if !slices.Contains(months, mo) {
			t.Fatalf("no acknowledged event of month %s (months %v): the scenario tests nothing there", mo, months)
		}
	}
	keptDate, pastDate := keptDay.Format(time.DateOnly), pastDay.Format(time.DateOnly)
	for _, d := range []string{keptDate, pastDate, minTime.In(e.Loc).Format(time.DateOnly)} {
		if sum(byDay(want, d)) == 0 {
			t.Fatalf("no acknowledged event on %s: the scenario tests nothing there", d)
		}
	}
	fig := e.Check(t, CheckOptions{Months: months, Poison: 2, Reasons: []string{"future_timestamp", "past_timestamp"}})

	got := readDays(t, e, days)
	compareDays(t, got, want, days, func(d string) bool { return d != pastDate && d != "2000-01-01" })
	if n := sum(got[keptDate].redis); n == 0 {
		t.Errorf("day %s, within its Redis expiry, has no events in Redis", keptDate)
	}
	monthly := map[string]int64{}
	for _, mo := range months {
		rows, err := e.Layout.ReadMonth(t.Context(), e.Redis, mo)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range eventTotals(rows) {
			monthly[mo] += v
		}
		var w int64
		for de, v := range want {
			if de.day[:7] == mo {
				w += v
			}
		}
		if monthly[mo] != w {
			t.Errorf("month %s: Redis counts %d events, %d were sent and acknowledged dated then", mo, monthly[mo], w)
		}
	}
	t.Logf("TestFault12ClockJump: %d live requests (%d events 3–6 h late) + %d of a backfill of %s at %.0f events/s, "+
		"each with 2 events inside and 2 outside the time bounds (+1h, 2000-01-01) and one each side of the Redis daily expiry (%s kept, %s not); "+
		"months %v hold %v events: %s",
		len(resLive.Records), late, len(resBackfill.Records), lastMonth.Format("2006-01"), 2*l.rate, keptDate, pastDate, months, monthly, fig)
}

// TestFault14DST runs in America/New_York with events over the three local
// days around each 2026 change of its clocks: 2026-03-08 has 23 hours
// (02:00 EST is 03:00 EDT, at 07:00Z), 2026-11-01 25 (02:00 EDT is 01:00
// EST, at 06:00Z, so 01:30 comes twice). The expected day of every event
// comes from UTC bounds of the local days written out by hand, not from the
// time zone database; PostgreSQL, Redis and the stats must count the same,
// and a dozen events at the edges land on the day written next to them.
func TestFault14DST(t *testing.T) {
	t.Parallel()
	utc := func(s string) time.Time {
		ts, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	// The local days, as UTC half-open ranges: EST is UTC-5, EDT UTC-4.
	type localDay struct {
		date   string
		lo, hi time.Time
		hours  int
	}
	days := []localDay{
		{"2026-03-07", utc("2026-03-07T05:00:00Z"), utc("2026-03-08T05:00:00Z"), 24},
		{"2026-03-08", utc("2026-03-08T05:00:00Z"), utc("2026-03-09T04:00:00Z"), 23},
		{"2026-03-09", utc("2026-03-09T04:00:00Z"), utc("2026-03-10T04:00:00Z"), 24},
		{"2026-10-31", utc("2026-10-31T04:00:00Z"), utc("2026-11-01T04:00:00Z"), 24},
		{"2026-11-01", utc("2026-11-01T04:00:00Z"), utc("2026-11-02T05:00:00Z"), 25},
		{"2026-11-02", utc("2026-11-02T05:00:00Z"), utc("2026-11-03T05:00:00Z"), 24},
	}
	for _, d := range days {
		if got := d.hi.Sub(d.lo); got != time.Duration(d.hours)*time.Hour {
			t.Fatalf("day %s: %s, want %d h", d.date, got, d.hours)
		}
	}
	// The edges, each with the day it belongs to.
	type edge struct {
		at  time.Time
		day string
	}
	edges := []edge{
		{utc("2026-03-08T04:59:59.999999999Z"), "2026-03-07"}, // 23:59:59.999999999 EST
		{utc("2026-03-08T05:00:00Z"), "2026-03-08"},           // 00:00 EST
		{utc("2026-03-08T06:59:59.999999999Z"), "2026-03-08"}, // 01:59:59.999999999 EST
		{utc("2026-03-08T07:00:00Z"), "2026-03-08"},           // 03:00 EDT
		{utc("2026-03-09T03:59:59.999999999Z"), "2026-03-08"}, // 23:59:59.999999999 EDT
		{utc("2026-03-09T04:00:00Z"), "2026-03-09"},           // 00:00 EDT
		{utc("2026-11-01T03:59:59.999999999Z"), "2026-10-31"}, // 23:59:59.999999999 EDT
		{utc("2026-11-01T04:00:00Z"), "2026-11-01"},           // 00:00 EDT
		{utc("2026-11-01T05:30:00Z"), "2026-11-01"},           // 01:30 EDT
		{utc("2026-11-01T06:30:00Z"), "2026-11-01"},           // 01:30 EST
		{utc("2026-11-02T04:59:59.999999999Z"), "2026-11-01"}, // 23:59:59.999999999 EST
		{utc("2026-11-02T05:00:00Z"), "2026-11-02"},           // 00:00 EST
	}
	// Daily hashes that never expire: these days stay in Redis after 2027
	// too (400 days after them, the default daily_ttl would drop them).
	e := Start(t, Options{
		Timezone: "America/New_York", Month: utc("2026-03-15T12:00:00Z"),
		CollectorEnv: map[string]string{"ANALYTICS_REDIS_DAILY_TTL": "0s"},
	})
	// Events of phase p, sequence seq: the first of every 1000 are the
	// edges of its transition, the others spread over its three days.
	at := func(lo, hi time.Time, edges []edge) func(seq uint64) time.Time {
		span := uint64(hi.Sub(lo) / time.Millisecond) //nolint:gosec // three days
		return func(seq uint64) time.Time {
			if j := seq % 1000; j < uint64(len(edges)) {
				return edges[j].at
			}
			return lo.Add(time.Duration(seq*2654435761%span) * time.Millisecond) //nolint:gosec // below three days
		}
	}
	var marchEdges, novEdges []edge
	for _, ed := range edges {
		if ed.at.Month() == time.March {
			marchEdges = append(marchEdges, ed)
		} else {
			novEdges = append(novEdges, ed)
		}
	}
	march, nov := e.Generator(14), e.Generator(0x114)
	nov.Month = utc("2026-11-15T12:00:00Z")
	marchAt := at(days[0].lo, days[2].hi, marchEdges)
	novAt := at(days[3].lo, days[5].hi, novEdges)
	timed := func(gen *loadgen.Generator, at func(uint64) time.Time) mutated {
		return mutated{gen: gen, edit: func(_ int, ld plog.Logs) {
			eachRecord(ld, func(_ int, lr plog.LogRecord) {
				lr.SetTimestamp(pcommon.NewTimestampFromTime(at(seqOf(t, lr))))
			})
		}}
	}
	l := defaultLoad()
	l.rate /= 2
	l.senders /= 2
	doneMarch := sendAsync(e, march, l, timed(march, marchAt))
	doneNov := sendAsync(e, nov, l, timed(nov, novAt))
	resMarch, resNov := <-doneMarch, <-doneNov
	fig := e.Check(t, CheckOptions{Months: []string{"2026-03", "2026-10", "2026-11"}})

	// The expected count of every day and event, by the UTC bounds above.
	want := map[dayEvent]int64{}
	count := func(gen *loadgen.Generator, res *loadgen.Result, at func(uint64) time.Time) {
		for _, r := range res.Records {
			if !r.OK() {
				continue
			}
			eachRecord(gen.Logs(r.Index), func(_ int, lr plog.LogRecord) {
				seq := seqOf(t, lr)
				ts := at(seq)
				for _, d := range days {
					if !ts.Before(d.lo) && ts.Before(d.hi) {
						want[dayEvent{d.date, lr.EventName()}]++
						return
					}
				}
				t.Fatalf("event %d at %s is on none of the days", seq, ts)
			})
		}
	}
	count(march, resMarch, marchAt)
	count(nov, resNov, novAt)
	var dates []string
	for _, d := range days {
		dates = append(dates, d.date)
	}
	for _, d := range dates {
		if sum(byDay(want, d)) == 0 {
			t.Fatalf("no acknowledged event on %s: the scenario tests nothing there", d)
		}
	}
	got := readDays(t, e, dates)
	compareDays(t, got, want, dates, func(string) bool { return true })
	if ttl, err := e.Redis.TTL(t.Context(), e.Layout.DailyKey("2026-03-08")).Result(); err != nil || ttl != -1 {
		t.Errorf("daily hash of 2026-03-08: TTL %s (%v), want none (daily_ttl 0)", ttl, err)
	}

	// The edges of the first acknowledged request of each phase.
	conn, err := pgx.Connect(t.Context(), e.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	checked := 0
	for _, ph := range []struct {
		gen   *loadgen.Generator
		res   *loadgen.Result
		edges []edge
	}{{march, resMarch, marchEdges}, {nov, resNov, novEdges}} {
		i := slices.IndexFunc(ph.res.Records, func(r loadgen.Record) bool { return r.OK() && r.First%1000 == 0 })
		if i < 0 {
			t.Fatalf("phase %s: no acknowledged request begins a thousand", loadgen.PhaseHex(ph.gen.IDs.Phase))
		}
		first := ph.res.Records[i].First
		for j, ed := range ph.edges {
			var day string
			id := ph.gen.IDs.ID(first + uint64(j)) //nolint:gosec // j ≥ 0
			if err := conn.QueryRow(t.Context(), `SELECT business_date::text FROM analytics_events WHERE event_id = $1`, id).Scan(&day); err != nil {
				t.Fatalf("edge event %s (%s): %v", id, ed.at.Format(time.RFC3339Nano), err)
			}
			if day != ed.day {
				t.Errorf("event at %s (%s): business day %s, want %s", ed.at.Format(time.RFC3339Nano), ed.at.In(e.Loc).Format("15:04:05.999999999 MST"), day, ed.day)
			}
			checked++
		}
	}
	t.Logf("TestFault14DST: America/New_York, %d + %d requests over 2026-03-07…09 (23 h day) and 2026-10-31…11-02 (25 h day) at %.0f events/s; "+
		"03-08 %d events, 11-01 %d events, %d edge events on their day: %s",
		len(resMarch.Records), len(resNov.Records), 2*l.rate, sum(byDay(want, "2026-03-08")), sum(byDay(want, "2026-11-01")), checked, fig)
}
