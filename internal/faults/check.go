package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
	"github.com/otelcol-analytics/otelcol-analytics/internal/ctl"
	"github.com/otelcol-analytics/otelcol-analytics/internal/loadgen"
	"github.com/otelcol-analytics/otelcol-analytics/stats"
)

// CheckOptions say what Check expects besides the defaults.
type CheckOptions struct {
	// Months are the business months (YYYY-MM) I4 compares (default: the
	// Env's month).
	Months []string
	// Poison is the number of records of every request that must be
	// refused (rejected, not stored), with one of Reasons.
	Poison  int
	Reasons []string
	// DrainTimeout bounds the wait for the pipeline to drain (default 3 min).
	DrainTimeout time.Duration
}

// Figures are a scenario's numbers after the drain.
type Figures struct {
	// Sent counts every event sent (replays included), Distinct the
	// distinct ones, Acked the distinct events of acknowledged requests.
	Sent, Distinct, Acked int64
	// Stored are distinct event ids in analytics_events, Rejected distinct
	// ids in analytics_rejected_events.
	Stored, Rejected int64
	// Drain is the time from Check's call until the pipeline was drained.
	Drain time.Duration
}

func (f Figures) String() string {
	return fmt.Sprintf("sent=%d (distinct %d) acknowledged=%d stored=%d rejected=%d drain=%.1fs",
		f.Sent, f.Distinct, f.Acked, f.Stored, f.Rejected, f.Drain.Seconds())
}

// SQL of the checks; $1 events per request, $2 and $3 the Env's id prefix
// and salt (ids of no Env's phase come out with a NULL phase).
const (
	perRequestSQL = `SELECT p, k, count(*), count(DISTINCT event_id), coalesce(string_agg(DISTINCT reason, ','), '') FROM (
	SELECT CASE WHEN left(event_id, 15) = $2 AND substr(event_id, 20, 4) = $3 THEN ` + loadgen.PhaseSQL + ` END AS p,
	       CASE WHEN left(event_id, 15) = $2 AND substr(event_id, 20, 4) = $3 THEN ` + loadgen.SeqSQL + ` / $1 END AS k,
	       event_id, %s AS reason
	FROM %s) s GROUP BY 1, 2`
	outboxSQL = `SELECT count(*) FROM analytics_redis_outbox`
	ledgerSQL = `SELECT count(*) FROM analytics_event_ids`
)

// Check waits until the pipeline has drained and checks I1–I5
// (docs/guarantees.md); it fails t with every broken invariant and logs the
// figures in one line.
func (e *Env) Check(t testing.TB, o CheckOptions) Figures {
	t.Helper()
	if len(o.Months) == 0 {
		o.Months = []string{e.month()}
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 3 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.DrainTimeout+5*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, e.DSN)
	if err != nil {
		t.Fatalf("faults: connect: %v", err)
	}
	defer func() { _ = conn.Close(context.Background()) }()

	c := e.Counts()
	fig := Figures{Sent: c.Sent, Distinct: c.Distinct, Acked: c.Acked}
	start := time.Now()
	want := c.Acked - int64(o.Poison*c.AckedRequests)
	if err := e.drain(ctx, conn, o.Months, want, o.DrainTimeout); err != nil {
		t.Fatalf("faults: %v", err)
	}
	fig.Drain = time.Since(start)

	var problems []string
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	stored := e.perRequest(ctx, t, conn, "''", "analytics_events")
	rejected := e.perRequest(ctx, t, conn, "reason", "analytics_rejected_events")
	var lost, dups, unexpected, wrongRejects int64
	for _, p := range e.sortedPhases() {
		pl := e.phases[p]
		hex := loadgen.PhaseHex(p)
		for _, r := range pl.records {
			k := reqKey{hex, int64(r.First) / int64(pl.perRequest)} //nolint:gosec // below 2^48
			s, j := stored[k], rejected[k]
			delete(stored, k)
			delete(rejected, k)
			fig.Stored += s.distinct
			fig.Rejected += j.distinct
			dups += s.rows - s.distinct + j.rows - j.distinct
			if !r.OK() {
				continue
			}
			if miss := int64(r.Events) - s.distinct - j.distinct; miss > 0 {
				lost += miss
			}
			if j.distinct != int64(o.Poison) || !reasonsIn(j.reasons, o.Reasons) {
				wrongRejects++
				if wrongRejects <= 3 {
					bad("I5: request %s/%d: %d rejected (reasons %q), want %d of %q", hex, r.Index, j.distinct, j.reasons, o.Poison, o.Reasons)
				}
			}
		}
	}
	for k, s := range stored {
		unexpected += s.distinct
		if k.phase == "" {
			fig.Stored += s.distinct
		}
	}
	for _, j := range rejected {
		unexpected += j.distinct
		fig.Rejected += j.distinct
	}
	if lost != 0 {
		bad("I1: %d acknowledged events neither stored nor rejected", lost)
	}
	if dups != 0 {
		bad("I2: %d duplicate rows", dups)
	}
	var ledger int64
	if err := conn.QueryRow(ctx, ledgerSQL).Scan(&ledger); err != nil {
		t.Fatalf("faults: %v", err)
	}
	if ledger != fig.Stored {
		bad("I2: the id ledger holds %d ids, analytics_events %d distinct events", ledger, fig.Stored)
	}
	if unexpected != 0 {
		bad("I3: %d stored or rejected events were never sent", unexpected)
	}
	if wrongRejects != 0 {
		bad("I5: %d acknowledged requests with other rejections than expected", wrongRejects)
	}
	switch got := fig.Stored + fig.Rejected; {
	case c.AckedRequests == c.Requests && got != fig.Distinct:
		bad("I5: sent %d distinct events, stored %d + rejected %d = %d", fig.Distinct, fig.Stored, fig.Rejected, got)
	case got < fig.Acked || got > fig.Distinct:
		bad("I5: stored %d + rejected %d = %d, not within acknowledged %d … sent %d", fig.Stored, fig.Rejected, got, fig.Acked, fig.Distinct)
	}
	problems = append(problems, e.checkCounters(ctx, o.Months)...)
	for _, p := range problems {
		t.Error(p)
	}
	return fig
}

type reqKey struct {
	phase string
	k     int64
}

type reqRows struct {
	rows, distinct int64
	reasons        string
}

// perRequest counts the rows and distinct ids of table by request.
func (e *Env) perRequest(ctx context.Context, t testing.TB, conn *pgx.Conn, reason, table string) map[reqKey]reqRows {
	t.Helper()
	id := e.IDs.ID(0)
	rows, err := conn.Query(ctx, fmt.Sprintf(perRequestSQL, reason, table), e.Opts.PerRequest, id[:15], id[19:23])
	if err != nil {
		t.Fatalf("faults: %s: %v", table, err)
	}
	out := map[reqKey]reqRows{}
	var p *string
	var k *int64
	var r reqRows
	if _, err := pgx.ForEachRow(rows, []any{&p, &k, &r.rows, &r.distinct, &r.reasons}, func() error {
		key := reqKey{}
		if p != nil && k != nil {
			key = reqKey{*p, *k}
		}
		prev := out[key]
		out[key] = reqRows{rows: prev.rows + r.rows, distinct: prev.distinct + r.distinct, reasons: r.reasons}
		return nil
	}); err != nil {
		t.Fatalf("faults: %s: %v", table, err)
	}
	return out
}

func reasonsIn(got string, want []string) bool {
	if got == "" {
		return true
	}
	for _, r := range strings.Split(got, ",") {
		if !slices.Contains(want, r) {
			return false
		}
	}
	return true
}

// drain waits until at least want events are counted in Redis for months,
// the outbox is empty, the ledger holds as many ids as Redis counts, and
// that holds for two polls in a row.
func (e *Env) drain(ctx context.Context, conn *pgx.Conn, months []string, want int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	stable := 0
	for {
		rd, err := e.redisEvents(ctx, months)
		if err != nil {
			return err
		}
		var ob, led int64
		if err := conn.QueryRow(ctx, outboxSQL).Scan(&ob); err != nil {
			return err
		}
		if err := conn.QueryRow(ctx, ledgerSQL).Scan(&led); err != nil {
			return err
		}
		now := fmt.Sprintf("Redis counts %d events (want ≥ %d), outbox %d, ledger %d", rd, want, ob, led)
		if rd >= want && ob == 0 && led == rd && now == last {
			stable++
			if stable >= 2 {
				return nil
			}
		} else {
			stable = 0
		}
		last = now
		if time.Now().After(deadline) {
			return fmt.Errorf("not drained within %s: %s", timeout, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// redisEvents adds up the events of the monthly all-agents hashes.
func (e *Env) redisEvents(ctx context.Context, months []string) (int64, error) {
	var n int64
	for _, m := range months {
		rows, err := e.Layout.ReadMonth(ctx, e.Redis, m)
		if err != nil {
			return 0, err
		}
		for _, r := range rows {
			if r.AgentID == "" {
				n += r.Events
			}
		}
	}
	return n, nil
}

// checkCounters is I4: Redis = PostgreSQL rollups (= raw events) by
// ctl.Verify, and the stats endpoints' totals = Redis, per day and month.
func (e *Env) checkCounters(ctx context.Context, months []string) []string {
	var out []string
	opts, err := ctl.DefaultOptions(e.ctlEnv())
	if err != nil {
		return []string{"I4: " + err.Error()}
	}
	res, err := ctl.Verify(ctx, ctl.VerifyOptions{Options: opts, Period: ctl.Period{Months: months}})
	if err != nil {
		return []string{"I4: verify: " + err.Error()}
	}
	if !res.Equal() {
		out = append(out, "I4: "+res.Summary())
		for i, d := range res.Differences {
			if i == 5 {
				break
			}
			out = append(out, "I4: "+d.String())
		}
	}
	for _, m := range months {
		out = append(out, e.checkStats(ctx, m, opts.Layout())...)
	}
	return out
}

// ctlEnv is the environment analyticsctl would be run with for the Env.
func (e *Env) ctlEnv() ctl.Env {
	env := map[string]string{
		"ANALYTICS_POSTGRES_DSN": e.DSN,
		"ANALYTICS_REDIS_ADDR":   e.RedisAddr,
		"ANALYTICS_REDIS_DB":     strconv.Itoa(e.RedisDB),
		"ANALYTICS_REDIS_PREFIX": e.Prefix,
		"ANALYTICS_TIMEZONE":     e.Opts.Timezone,
	}
	if ttl, ok := e.Opts.CollectorEnv["ANALYTICS_REDIS_DAILY_TTL"]; ok {
		env["ANALYTICS_REDIS_DAILY_TTL"] = ttl
	}
	return func(k string) string { return env[k] }
}

// Rebuild runs `analyticsctl rebuild --month m` for each month (with
// --force: pending batches settled) and returns its output.
func (e *Env) Rebuild(ctx context.Context, months ...string) (string, error) {
	args := []string{"rebuild", "--force"}
	for _, m := range months {
		args = append(args, "--month", m)
	}
	var stdout, stderr strings.Builder
	if code := ctl.Run(ctx, args, e.ctlEnv(), &stdout, &stderr); code != ctl.ExitOK {
		return stdout.String() + stderr.String(), fmt.Errorf("analyticsctl rebuild exited %d: %s", code, stderr.String())
	}
	return stdout.String(), nil
}

// The events behind the stats endpoints' totals (stats.ComputeMetrics).
var statsEvents = []string{"session.start", "session.escalate", "session.message"}

// checkStats compares the summary of month m and every day of it in the
// daily endpoint with the Redis hashes; a day past its Redis expiry
// (layout.KeepsDay false: the exporter no longer writes it) is not compared,
// as analyticsctl verify does not compare it.
func (e *Env) checkStats(ctx context.Context, m string, layout counters.Layout) []string {
	var out []string
	var sum stats.SummaryJSON
	if err := e.getJSON(ctx, "/api/analytics/summary?month="+m, &sum); err != nil {
		return []string{"I4: stats: " + err.Error()}
	}
	rows, err := e.Layout.ReadMonth(ctx, e.Redis, m)
	if err != nil {
		return []string{"I4: " + err.Error()}
	}
	rd := eventTotals(rows)
	got := []int64{sum.TotalCustomersServed, sum.Escalations, sum.Messages}
	for i, ev := range statsEvents {
		if got[i] != rd[ev] {
			out = append(out, fmt.Sprintf("I4: month %s %s: stats summary %d, Redis %d", m, ev, got[i], rd[ev]))
		}
	}
	lo, err := time.ParseInLocation("2006-01", m, e.Loc)
	if err != nil {
		return append(out, "I4: "+err.Error())
	}
	from, to := lo.Format(time.DateOnly), lo.AddDate(0, 1, -1).Format(time.DateOnly)
	var daily stats.DailyJSON
	if err := e.getJSON(ctx, "/api/analytics/daily?from="+from+"&to="+to, &daily); err != nil {
		return append(out, "I4: stats: "+err.Error())
	}
	for _, d := range daily.Days {
		if !layout.KeepsDay(d.Date) {
			continue
		}
		rows, err := e.Layout.ReadDay(ctx, e.Redis, d.Date)
		if err != nil {
			return append(out, "I4: "+err.Error())
		}
		rd := eventTotals(rows)
		got := []int64{d.TotalCustomersServed, d.Escalations, d.Messages}
		for i, ev := range statsEvents {
			if got[i] != rd[ev] {
				out = append(out, fmt.Sprintf("I4: day %s %s: stats daily %d, Redis %d", d.Date, ev, got[i], rd[ev]))
			}
		}
	}
	return out
}

// eventTotals is the all-agents events of rows by event.
func eventTotals(rows []counters.Row) map[string]int64 {
	out := map[string]int64{}
	for _, r := range rows {
		if r.AgentID == "" {
			out[r.Event] += r.Events
		}
	}
	return out
}

func (e *Env) getJSON(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+e.Collector.Stats+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
