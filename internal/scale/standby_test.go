package scale

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-analytics/otelcol-analytics/internal/collectorproc"
	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
	"github.com/otelcol-analytics/otelcol-analytics/internal/loadgen"
	"github.com/otelcol-analytics/otelcol-analytics/internal/testdb"
	"github.com/otelcol-analytics/otelcol-analytics/stats"
)

// statsSamples is the number of requests per endpoint of the latency
// measurement.
const statsSamples = 60

// bigAgents is the number of agents of the big month (bigMonthSQL):
// OTELCOL_SCALE_AGENTS, default 2000.
func bigAgents(t *testing.T) int {
	t.Helper()
	v := os.Getenv("OTELCOL_SCALE_AGENTS")
	if v == "" {
		return 2000
	}
	n, err := strconv.Atoi(v)
	require.NoError(t, err, "OTELCOL_SCALE_AGENTS")
	return n
}

// bigMonthSQL fills the rollups of the month [$1, $2) as a month of heavy
// traffic would leave them, without the raw events (the stats service reads
// only the rollups): for each of $3 agents and each day, one per-agent row
// of each agent event, 5..34 events each; the all-agents daily rollup is
// their sum per day and event, plus the chatbot's events (2,000,000
// sessions a day). updated_at is the insert's time, as the exporter's
// upserts set it (now()).
const bigMonthSQL = `
WITH agent_rows AS (
	INSERT INTO analytics_agent_daily_rollup (business_date, agent_id, event_name, events, measure_count, measure_sum_micro, flag_true)
	SELECT d::date, 'agent-' || lpad(a::text, 5, '0'), e.name, n, CASE WHEN e.measured THEN n ELSE 0 END,
	       CASE WHEN e.measured THEN n * 45000000::numeric ELSE 0 END, CASE WHEN e.flagged THEN n * 9 / 10 ELSE 0 END
	FROM generate_series($1::date, $2::date - 1, interval '1 day') d,
	     generate_series(1, $3::int) a,
	     (VALUES ('agent.session_takeover', true, false), ('agent.session_release', true, false),
	             ('agent.session_message', false, false), ('agent.session_transfer', false, false),
	             ('agent.login', false, false), ('agent.logout', true, false), ('ticket.closed', true, true)) e(name, measured, flagged),
	     LATERAL (SELECT 5 + (hashtext(d::text || a::text || e.name) & 2147483647) % 30 AS n) x
	RETURNING business_date, event_name, events, measure_count, measure_sum_micro, flag_true
)
INSERT INTO analytics_daily_rollup (business_date, event_name, events, measure_count, measure_sum_micro, flag_true)
SELECT business_date, event_name, sum(events), sum(measure_count), sum(measure_sum_micro), sum(flag_true)
FROM agent_rows GROUP BY 1, 2
UNION ALL
SELECT d::date, c.name, c.n, c.mc, c.ms, 0
FROM generate_series($1::date, $2::date - 1, interval '1 day') d,
     (VALUES ('session.start', 2000000, 0, 0::numeric), ('session.escalate', 300000, 0, 0::numeric),
             ('session.message', 6000000, 6000000, 6000000 * 1500000::numeric), ('session.end', 2000000, 2000000, 2000000 * 240000000::numeric)) c(name, n, mc, ms)`

// statsPaths are the month endpoints compared between primary and standby.
func statsPaths(month string) []string {
	first, _ := time.Parse("2006-01", month)
	last := first.AddDate(0, 1, -1)
	return []string{
		"/api/analytics/case-study?month=" + month,
		"/api/analytics/case-study?month=" + month + "&lang=en",
		"/api/analytics/summary?month=" + month,
		"/api/analytics/agents?month=" + month,
		"/api/analytics/tickets?month=" + month,
		"/api/analytics/daily?from=" + first.Format(time.DateOnly) + "&to=" + last.Format(time.DateOnly),
		"/report?month=" + month + "&lang=en",
	}
}

// TestScaleStatsOnStandby: the collector writes to a PostgreSQL primary;
// analytics-stats runs twice, on the primary and on a hot standby of it.
// Once replication has caught up, every endpoint answers the same from
// both. With a big month in the rollups the standby's latency is measured.
// Every body from the standby says so (data.standby, the story's clause,
// the report's line): caught up, "behind" is false and the bodies are the
// primary's once that is removed. With replay paused, the standby keeps
// answering the numbers it has replayed, and says it is behind: the
// primary has newer numbers.
func TestScaleStatsOnStandby(t *testing.T) {
	bin := needScale(t)
	statsBin := statsBinary(t, bin)
	pair := testdb.StartPGPair(t)
	rdb, prefix := testdb.RedisPrefix(t)
	gen := &loadgen.Generator{IDs: newIDs(), PerRequest: 500, Month: time.Now().AddDate(0, -1, 0)}
	gen.IDs.Phase = 1
	month := gen.Days()[0][:7]
	col := startCollector(t, loadgen.CollectorSetup{
		Binary: bin, Config: repoConfig(t), DSN: pair.PrimaryDSN,
		RedisAddr: testdb.RedisAddr(), RedisPrefix: prefix, WorkDir: t.TempDir(),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	onPrimary := startStats(t, statsBin, pair.PrimaryDSN)
	onStandby := startStats(t, statsBin, pair.StandbyDSN)
	t.Logf("%s; load %s", pair, loadgen.LoadAvg())

	// 1. The collector's events, replicated.
	var phases []sent
	send := func(g *loadgen.Generator, n int) *loadgen.Result {
		reqs, err := g.EncodeAll(n / g.PerRequest)
		require.NoError(t, err)
		res, err := loadgen.Run(ctx, loadgen.Options{Endpoint: col.OTLPHTTP, Senders: 4}, loadgen.Encoded(reqs))
		require.NoError(t, err)
		require.Empty(t, res.Refused, "refused: %v", res.Examples)
		phases = append(phases, sent{g, res})
		drainAndCheck(ctx, t, pair.PrimaryDSN, rdb, prefix, phases...)
		return res
	}
	res := send(gen, 100_000)
	lag, err := pair.WaitReplayed(ctx, time.Minute)
	require.NoError(t, err)
	t.Logf("%d events through the collector into the primary; standby caught up %.0f ms after the drain", res.AckedEvents(), ms(lag))
	before := sameEverywhere(ctx, t, onPrimary, onStandby, month)
	require.Equal(t, gen.Days()[0][:7], before.Month)
	require.Positive(t, before.TotalCustomersServed, "the collector's events are counted")
	verifyEqual(ctx, t, ctlEnv(pair.StandbyDSN, testdb.RedisAddr(), prefix), month) // Redis = the standby's rollups

	// 2. A big month in the rollups (SQL on the primary), replicated.
	bigFirst := time.Now().AddDate(0, -3, 0)
	bigFirst = time.Date(bigFirst.Year(), bigFirst.Month(), 1, 0, 0, 0, 0, time.UTC)
	big := bigFirst.Format("2006-01")
	conn, err := pgx.Connect(ctx, pair.PrimaryDSN)
	require.NoError(t, err)
	defer func() { _ = conn.Close(context.Background()) }()
	start := time.Now()
	nAgents := bigAgents(t)
	tag, err := conn.Exec(ctx, bigMonthSQL, bigFirst, bigFirst.AddDate(0, 1, 0), nAgents)
	require.NoError(t, err)
	insert := time.Since(start)
	_, err = conn.Exec(ctx, "ANALYZE analytics_agent_daily_rollup; ANALYZE analytics_daily_rollup")
	require.NoError(t, err)
	lag, err = pair.WaitReplayed(ctx, 5*time.Minute)
	require.NoError(t, err)
	var agentRows, events int64
	require.NoError(t, conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM analytics_agent_daily_rollup WHERE business_date >= $1 AND business_date < $2),
		(SELECT sum(events) FROM analytics_daily_rollup WHERE business_date >= $1 AND business_date < $2)`, bigFirst, bigFirst.AddDate(0, 1, 0)).Scan(&agentRows, &events))
	t.Logf("big month %s: %d per-agent rollup rows (%d agents), %d daily rows, %d events; insert %.1fs, standby caught up %.1fs after it",
		big, agentRows, nAgents, tag.RowsAffected(), events, insert.Seconds(), lag.Seconds())
	sum := sameEverywhere(ctx, t, onPrimary, onStandby, big)
	require.Equal(t, int64(2_000_000)*int64(bigFirst.AddDate(0, 1, -1).Day()), sum.TotalCustomersServed)
	var agents stats.AgentsJSON
	require.NoError(t, json.Unmarshal(get(ctx, t, onStandby, "/api/analytics/agents?month="+big), &agents))
	require.Len(t, agents.Agents, nAgents, "agents of the big month on the standby")

	// Latency of the standby with the big month (sequential requests; an
	// answer other than 200 is counted, not a failure: the figures say it).
	for _, p := range statsPaths(big) {
		lat := make([]time.Duration, 0, statsSamples)
		failed := map[int]int{}
		for range statsSamples {
			s := time.Now()
			if code := status(ctx, t, onStandby, p); code != http.StatusOK {
				failed[code]++
			}
			lat = append(lat, time.Since(s))
		}
		slices.Sort(lat)
		t.Logf("standby %-52s p50 %7.1f ms  p99 %7.1f ms  max %7.1f ms (%d requests, not 200: %v)", p,
			ms(loadgen.Percentile(lat, 0.50)), ms(loadgen.Percentile(lat, 0.99)), ms(lat[len(lat)-1]), len(lat), failed)
	}
	t.Logf("load after the latency run: %s", loadgen.LoadAvg())

	// 3. Replay paused: the primary moves on, the standby does not.
	pair.PauseReplay(ctx)
	pausedAt := time.Now()
	time.Sleep(1100 * time.Millisecond) // the new writes' updated_at is visibly later
	gen2 := *gen
	gen2.IDs.Phase = 2
	res2 := send(&gen2, 20_000)
	primaryNow := summary(ctx, t, onPrimary, month)
	standbyNow := summary(ctx, t, onStandby, month)
	require.Equal(t, before.TotalCustomersServed, standbyNow.TotalCustomersServed, "the paused standby answers what it replayed")
	require.Greater(t, primaryNow.TotalCustomersServed, standbyNow.TotalCustomersServed, "the primary counts the events sent while replay was paused")
	require.NotNil(t, primaryNow.Data.LastWrittenAt)
	require.NotNil(t, standbyNow.Data.LastWrittenAt)
	require.Less(t, *standbyNow.Data.LastWrittenAt, *primaryNow.Data.LastWrittenAt, "the standby's last write is the one it replayed")
	sc, err := pgx.Connect(ctx, pair.StandbyDSN)
	require.NoError(t, err)
	defer func() { _ = sc.Close(context.Background()) }()
	var behind bool
	var replayed time.Time
	require.NoError(t, sc.QueryRow(ctx, `SELECT pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn(), pg_last_xact_replay_timestamp()`).Scan(&behind, &replayed))
	require.True(t, behind, "the standby has received WAL it has not replayed")
	// What the standby says of itself: behind, replayed up to its last
	// replayed transaction (to the second, in the business time zone).
	loc, err := time.LoadLocation(counters.DefaultTimeZone)
	require.NoError(t, err)
	wantUpTo := replayed.In(loc).Format(time.RFC3339)
	wantAt := replayed.In(loc).Format(time.DateTime)
	require.Nil(t, primaryNow.Data.Standby, "the primary's summary has no data.standby")
	require.NotNil(t, standbyNow.Data.Standby, "the standby's summary has data.standby")
	require.True(t, standbyNow.Data.Standby.Behind, "the paused standby's summary says behind")
	require.NotNil(t, standbyNow.Data.Standby.ReplayedUpTo)
	require.Equal(t, wantUpTo, *standbyNow.Data.Standby.ReplayedUpTo)
	var cs, csZH stats.CaseStudy
	require.NoError(t, json.Unmarshal(get(ctx, t, onStandby, "/api/analytics/case-study?month="+month+"&lang=en"), &cs))
	require.NoError(t, json.Unmarshal(get(ctx, t, onStandby, "/api/analytics/case-study?month="+month), &csZH))
	for _, c := range []stats.CaseStudy{cs, csZH} {
		require.NotNil(t, c.Data.Standby)
		require.True(t, c.Data.Standby.Behind)
		require.Equal(t, wantUpTo, *c.Data.Standby.ReplayedUpTo)
	}
	require.True(t, cs.Data.Complete, "the month of the collector's events has ended")
	require.Contains(t, cs.Story, "has ended; ", "a standby behind does not call the month complete")
	require.NotContains(t, cs.Story, "complete")
	require.True(t, strings.HasSuffix(cs.Story, "; read from a standby replayed up to "+wantAt+
		", which holds writes not replayed yet: the primary has newer numbers.)"), cs.Story)
	require.True(t, strings.HasSuffix(csZH.Story, "；读自备库，已回放至 "+wantAt+"，尚有已接收未回放的写入，主库数据更新。）"), csZH.Story)
	require.NotContains(t, csZH.Story, "数据完整")
	var daily stats.DailyJSON
	require.NoError(t, json.Unmarshal(get(ctx, t, onStandby, "/api/analytics/daily?from="+month+"-01&to="+month+"-02"), &daily))
	require.NotNil(t, daily.Standby, "the standby's daily body has standby")
	require.True(t, daily.Standby.Behind)
	// A day older than the default redis::daily_ttl (9600h): live reads
	// the rollups.
	var live, livePrimary stats.LiveJSON
	livePath := "/api/analytics/live?lang=en&date=" + time.Now().AddDate(-2, 0, 0).Format(time.DateOnly)
	require.NoError(t, json.Unmarshal(get(ctx, t, onStandby, livePath), &live))
	require.NoError(t, json.Unmarshal(get(ctx, t, onPrimary, livePath), &livePrimary))
	require.Equal(t, stats.SourcePostgres, live.Source, "a day Redis no longer keeps: live reads the rollups (%s)", live.Reason)
	require.Equal(t, stats.SourcePostgres, livePrimary.Source)
	require.NotNil(t, live.Standby, "live from the standby's rollups has standby")
	require.True(t, live.Standby.Behind)
	require.Equal(t, wantUpTo, *live.Standby.ReplayedUpTo)
	require.Nil(t, livePrimary.Standby)
	report := string(get(ctx, t, onStandby, "/report?month="+month+"&lang=en"))
	_, rs := withoutStandby(report)
	require.Equal(t, []string{"Read from a standby replayed up to " + wantAt + "; it holds writes not replayed yet: the primary has newer numbers"}, rs.Lines)
	require.Equal(t, 1, rs.Story, "the report's story has the standby clause")
	require.Equal(t, []bool{true, true}, rs.Behind, "the report's story clause and line say behind")
	require.Contains(t, report, "<div>The month has ended</div>")
	require.NotContains(t, report, "the data is complete")
	t.Logf("replay paused for %.1fs, %d more events sent: primary says %d customers served, last written %s; standby says %d, last written %s, "+
		"data.standby %s behind=%v (its last replayed transaction: %s); standby report: %q, %q",
		time.Since(pausedAt).Seconds(), res2.AckedEvents(), primaryNow.TotalCustomersServed, *primaryNow.Data.LastWrittenAt,
		standbyNow.TotalCustomersServed, *standbyNow.Data.LastWrittenAt, *standbyNow.Data.Standby.ReplayedUpTo, standbyNow.Data.Standby.Behind,
		replayed.Format(time.RFC3339Nano), lastWrittenLine(report), rs.Lines[0])

	// 4. Replay resumed: equal again.
	pair.ResumeReplay(ctx)
	lag, err = pair.WaitReplayed(ctx, time.Minute)
	require.NoError(t, err)
	after := sameEverywhere(ctx, t, onPrimary, onStandby, month)
	require.Equal(t, primaryNow.TotalCustomersServed, after.TotalCustomersServed)
	verifyEqual(ctx, t, ctlEnv(pair.StandbyDSN, testdb.RedisAddr(), prefix), month)
	t.Logf("replay resumed: standby caught up in %.0f ms; load %s", ms(lag), loadgen.LoadAvg())
}

// sameEverywhere fetches every month endpoint from both stats services and
// requires identical bodies but for what the standby says of itself, which
// it requires: data.standby (top-level standby in daily) with behind false,
// the story's clause, the report's line. It returns the standby's summary.
func sameEverywhere(ctx context.Context, t *testing.T, primary, standby, month string) stats.SummaryJSON {
	t.Helper()
	for _, p := range statsPaths(month) {
		onPrimary, ps := withoutStandby(string(get(ctx, t, primary, p)))
		require.Equal(t, standbyStatus{}, ps, "GET %s on the primary says it is a standby", p)
		body := string(get(ctx, t, standby, p))
		onStandby, ss := withoutStandby(body)
		// A WAL record (a checkpoint, autovacuum) may arrive between
		// WaitReplayed and the request: "behind" until it is replayed.
		for try := 1; slices.Contains(ss.Behind, true) && try <= 20; try++ {
			t.Logf("GET %s on the standby: behind (try %d), again in 100 ms", p, try)
			time.Sleep(100 * time.Millisecond)
			body = string(get(ctx, t, standby, p))
			onStandby, ss = withoutStandby(body)
		}
		nJSON, story, line := 1, 0, 0
		switch {
		case strings.HasPrefix(p, "/report"):
			nJSON, story, line = 0, 1, 1
		case strings.HasPrefix(p, "/api/analytics/case-study"):
			story = 1
		}
		require.Equal(t, nJSON, ss.JSON, "GET %s on the standby: data.standby: %s", p, body)
		require.Equal(t, story, ss.Story, "GET %s on the standby: the story's standby clause: %s", p, body)
		require.Len(t, ss.Lines, line, "GET %s on the standby: the report's standby line", p)
		require.Equal(t, make([]bool, nJSON+story+line), ss.Behind, "GET %s on the standby, caught up: not behind", p)
		require.Equal(t, onPrimary, onStandby, "GET %s: primary and standby differ (but for the standby status)", p)
	}
	return summary(ctx, t, standby, month)
}

var (
	// data.standby as writeJSON writes it (last member of data, or of the
	// daily body).
	standbyJSONRE = regexp.MustCompile(`,"standby":\{"replayed_up_to":(?:null|"[^"]+"),"behind":(true|false)\}`)
	// The story's clause, English and Chinese.
	standbyStoryRE = regexp.MustCompile(`; read from a standby (?:replayed up to \d{4}-\d\d-\d\d \d\d:\d\d:\d\d|that has replayed no transaction since it started)` +
		`(, which holds writes not replayed yet: the primary has newer numbers)?|` +
		`；读自备库，(?:已回放至 \d{4}-\d\d-\d\d \d\d:\d\d:\d\d|启动以来尚未回放事务)(，尚有已接收未回放的写入，主库数据更新)?`)
	// The report's line under "Last written".
	standbyLineRE = regexp.MustCompile(`\n\s*<div id="standby">([^<]*)</div>`)
)

// standbyStatus is what a body says of the standby it was read from.
type standbyStatus struct {
	JSON, Story int      // data.standby objects, story clauses
	Lines       []string // the report's standby lines
	Behind      []bool   // each one's "behind"
}

// withoutStandby returns body with the standby status removed, and that
// status.
func withoutStandby(body string) (string, standbyStatus) {
	var st standbyStatus
	body = standbyJSONRE.ReplaceAllStringFunc(body, func(m string) string {
		st.JSON++
		st.Behind = append(st.Behind, standbyJSONRE.FindStringSubmatch(m)[1] == "true")
		return ""
	})
	body = standbyStoryRE.ReplaceAllStringFunc(body, func(m string) string {
		sm := standbyStoryRE.FindStringSubmatch(m)
		st.Story++
		st.Behind = append(st.Behind, sm[1] != "" || sm[2] != "")
		return ""
	})
	body = standbyLineRE.ReplaceAllStringFunc(body, func(m string) string {
		line := standbyLineRE.FindStringSubmatch(m)[1]
		st.Lines = append(st.Lines, line)
		st.Behind = append(st.Behind, strings.Contains(line, "the primary has newer numbers") || strings.Contains(line, "主库数据更新"))
		return ""
	})
	return body, st
}

func summary(ctx context.Context, t *testing.T, addr, month string) stats.SummaryJSON {
	t.Helper()
	var s stats.SummaryJSON
	require.NoError(t, json.Unmarshal(get(ctx, t, addr, "/api/analytics/summary?month="+month), &s))
	return s
}

func get(ctx context.Context, t *testing.T, addr, path string) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s: %s", path, body)
	return body
}

// status GETs path and returns the status code (the body is read and
// dropped).
func status(ctx context.Context, t *testing.T, addr, path string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	_, err = io.Copy(io.Discard, resp.Body)
	require.NoError(t, err)
	return resp.StatusCode
}

var lastWrittenRE = regexp.MustCompile(`(?s)Last written.{0,200}?\d{4}-\d{2}-\d{2}[^<]*`)

// lastWrittenLine is the report's "Last written …" text, tags removed.
func lastWrittenLine(html string) string {
	m := lastWrittenRE.FindString(html)
	return strings.Join(strings.Fields(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(m, " ")), " ")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// statsBinary is analytics-stats beside the collector (make build puts
// both in bin/), else OTELCOL_ANALYTICS_STATS_BIN, else one built now.
func statsBinary(t *testing.T, collector string) string {
	t.Helper()
	if p := os.Getenv("OTELCOL_ANALYTICS_STATS_BIN"); p != "" {
		return p
	}
	p := filepath.Join(filepath.Dir(collector), "analytics-stats")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	p = filepath.Join(t.TempDir(), "analytics-stats")
	out, err := exec.Command("go", "build", "-o", p, "../../cmd/analytics-stats").CombinedOutput()
	require.NoError(t, err, "go build ./cmd/analytics-stats: %s", out)
	return p
}

// startStats runs analytics-stats on dsn and returns its address.
func startStats(t *testing.T, bin, dsn string) string {
	t.Helper()
	addr, err := collectorproc.FreeAddr()
	require.NoError(t, err)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "ANALYTICS_STATS_ENDPOINT="+addr, "ANALYTICS_STATS_POSTGRES_DSN="+dsn,
		"ANALYTICS_TIMEZONE="+counters.DefaultTimeZone, "ANALYTICS_STATS_TOKEN=", "ANALYTICS_COST_PER_RESOLUTION=10")
	logPath := filepath.Join(t.TempDir(), "analytics-stats.log")
	logf, err := os.Create(logPath)
	require.NoError(t, err)
	cmd.Stdout, cmd.Stderr = logf, logf
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		_ = logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath) //nolint:gosec // the test's own file
			t.Logf("analytics-stats on %s log:\n%s", dsn, b)
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(fmt.Sprintf("http://%s/healthz", addr)) //nolint:noctx // a probe
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr
			}
		}
		require.False(t, time.Now().After(deadline), "analytics-stats on %s did not answer /healthz: %v", addr, err)
	}
}
