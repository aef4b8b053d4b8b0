// Package demo is the logic of `make demo` (cmd/demo is a thin main around
// Main): a self-checking demonstration that runs the real collector binary
// against the local PostgreSQL and Redis in a place of its own (schema
// "demo", key prefix "demo:"), simulates one month of both products'
// traffic through internal/simulate over OTLP/HTTP, waits until the pipeline
// has drained, fetches the case study from the collector's stats service and
// compares it, field by field, with the simulator's own expectation, checks
// the summary/tickets/agents/daily endpoints' raw numbers the same way, and
// runs `analyticsctl verify` in process to show Redis equal to PostgreSQL.
//
// Every number it prints comes from the pipeline or from the simulator;
// nothing is hard-coded. The end-to-end test in internal/e2e runs the same
// Run with a small month.
package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
	"github.com/otelcol-analytics/otelcol-analytics/internal/ctl"
	"github.com/otelcol-analytics/otelcol-analytics/internal/simulate"
	"github.com/otelcol-analytics/otelcol-analytics/internal/simulate/casestudy"
	"github.com/otelcol-analytics/otelcol-analytics/stats"
)

// Options configure a demo run. Main fills them from flags.
type Options struct {
	// Binary is the collector built by `make build` (bin/otelcol-analytics).
	Binary string
	// Config is the collector configuration; its ANALYTICS_* variables are
	// set by the demo (otelcol-config.yaml, the default one).
	Config string

	// Month is the business month to simulate, YYYY-MM; "" = the previous
	// month in Timezone.
	Month string
	// Timezone is the business time zone (the collector is told the same).
	Timezone string
	// Scale, Seed, ResendFraction: see simulate.Config.
	Scale          int
	Seed           uint64
	ResendFraction float64
	// CostPerResolution must be the stats service's cost_per_resolution
	// (the default configuration leaves it at its default).
	CostPerResolution float64

	// PostgresDSN is the database (without search_path); Schema is the
	// schema the collector writes to and the stats service reads from.
	PostgresDSN string
	Schema      string
	// ResetSchema drops and recreates Schema before starting (the demo);
	// the e2e test passes a fresh schema of its own instead.
	ResetSchema bool
	// RedisAddr, RedisPassword: the Redis server; RedisPrefix: the key
	// prefix of the demo's counters. ResetRedis deletes RedisPrefix* first.
	RedisAddr     string
	RedisPassword string
	RedisPrefix   string
	ResetRedis    bool
	// DailyTTL is the collector's redis.daily_ttl (through
	// ANALYTICS_REDIS_DAILY_TTL) and verify's --daily-ttl: a day past it is
	// not kept in Redis. 0 = never; the e2e test's fixed month needs that.
	DailyTTL time.Duration

	// StatsEndpoint is where the stats service (report page) listens when
	// that is free (default localhost:8090); "" or taken = a free port.
	StatsEndpoint string
	// StartTimeout bounds the collector's start, DrainTimeout the wait for
	// the pipeline to drain after the last event was acknowledged.
	StartTimeout, DrainTimeout time.Duration
	// KeepRunning leaves the collector running at the end (detached, its
	// output in a log file) so that the report page stays up.
	KeepRunning bool
	// PIDFile records the pid of a collector left running; a later run
	// refuses to start while that process lives (it would drop the schema
	// under it). "" = no such bookkeeping (tests).
	PIDFile string
	// Environ is the environment the collector inherits (minus every
	// ANALYTICS_* variable); nil = os.Environ().
	Environ []string
	// Out receives the demo's output.
	Out io.Writer
}

// DefaultOptions are the demo's defaults (flags override them).
func DefaultOptions() Options {
	return Options{
		Binary:            "bin/otelcol-analytics",
		Config:            "otelcol-config.yaml",
		Timezone:          counters.DefaultTimeZone,
		Scale:             200,
		Seed:              1,
		ResendFraction:    0.05,
		CostPerResolution: stats.NewDefaultConfig().CostPerResolution,
		PostgresDSN:       "postgres://postgres@127.0.0.1:5432/analytics?sslmode=disable",
		Schema:            "demo",
		ResetSchema:       true,
		RedisAddr:         "127.0.0.1:6379",
		RedisPrefix:       "demo:",
		ResetRedis:        true,
		DailyTTL:          ctl.DefaultDailyTTL,
		StatsEndpoint:     stats.DefaultEndpoint,
		StartTimeout:      90 * time.Second,
		DrainTimeout:      5 * time.Minute,
		PIDFile:           filepath.Join(os.TempDir(), "otelcol-analytics-demo.pid"),
	}
}

// Result is what a run found.
type Result struct {
	Month       string
	Expectation *simulate.Expectation
	// CaseStudy is the server's case study as it sent it.
	CaseStudy []byte
	// CaseStudyFields compares it with the expectation, field by field;
	// EndpointFields the raw numbers of the other endpoints.
	CaseStudyFields, EndpointFields []Field
	// VerifyCode is analyticsctl verify's exit code (0 = Redis equals
	// PostgreSQL), VerifyOutput its output.
	VerifyCode   int
	VerifyOutput string
	ReportURL    string
	// Collector is the still running collector with KeepRunning, else nil.
	Collector *Collector
	// WorkDir holds the collector's queue and log.
	WorkDir string
}

// OK reports whether everything matched.
func (r *Result) OK() bool {
	return r != nil && len(r.CaseStudyFields) > 0 && len(Failed(r.CaseStudyFields)) == 0 &&
		len(r.EndpointFields) > 0 && len(Failed(r.EndpointFields)) == 0 && r.VerifyCode == ctl.ExitOK
}

func (o *Options) validate() error {
	var errs []error
	if o.Scale <= 0 {
		errs = append(errs, errors.New("--scale must be > 0"))
	}
	if o.ResendFraction < 0 || o.ResendFraction > 1 {
		errs = append(errs, errors.New("--resend-fraction must be between 0 and 1"))
	}
	if o.Schema == "" || strings.EqualFold(o.Schema, "public") {
		errs = append(errs, fmt.Errorf("--schema %q: the demo needs a schema of its own (it drops and recreates it)", o.Schema))
	}
	if o.RedisPrefix == "" || o.RedisPrefix == ctl.DefaultKeyPrefix {
		errs = append(errs, fmt.Errorf("--redis-prefix %q: the demo needs a prefix of its own (it deletes its keys)", o.RedisPrefix))
	}
	if o.DailyTTL < 0 {
		errs = append(errs, fmt.Errorf("--daily-ttl %s: must not be negative", o.DailyTTL))
	}
	if math.IsNaN(o.CostPerResolution) || o.CostPerResolution < 0 {
		errs = append(errs, fmt.Errorf("--cost-per-resolution %v: must be a non-negative number of yuan (0 allowed)", o.CostPerResolution))
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Environ == nil {
		o.Environ = os.Environ()
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 90 * time.Second
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 5 * time.Minute
	}
	return errors.Join(errs...)
}

// withSearchPath returns dsn (a postgres:// URL or key=value string) with
// its search_path set to schema.
func withSearchPath(dsn, schema string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " search_path=" + schema
}

func redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		return u.Redacted()
	}
	return dsn
}

// Run runs the demo. A non-nil error is a failure to run it (a service
// down, the collector not starting, the pipeline not draining); a run that
// completes returns its Result, whose OK says whether every number matched.
func Run(ctx context.Context, o Options) (res *Result, err error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	out := o.Out
	loc, err := time.LoadLocation(o.Timezone)
	if err != nil {
		return nil, fmt.Errorf("--timezone: %w", err)
	}
	month := o.Month
	if month == "" {
		month = time.Now().In(loc).AddDate(0, -1, 0).Format("2006-01")
	}
	from, to, err := simulate.MonthRange(month, loc)
	if err != nil {
		return nil, err
	}
	firstDay, lastDay := from.Format(time.DateOnly), to.AddDate(0, 0, -1).Format(time.DateOnly)
	res = &Result{Month: month}
	dsn := withSearchPath(o.PostgresDSN, o.Schema)

	// 1. An isolated place.
	if pid := runningDemo(o.PIDFile); pid > 0 {
		return nil, fmt.Errorf("the collector of an earlier `demo --keep-running` still runs (pid %d, see %s): stop it first with `kill %d`", pid, o.PIDFile, pid)
	}
	printf(out, "demo: 1/6 an isolated place: PostgreSQL schema %q of %s, Redis keys %s* on %s\n",
		o.Schema, redact(o.PostgresDSN), o.RedisPrefix, o.RedisAddr)
	if err := prepare(ctx, &o); err != nil {
		return nil, err
	}

	// 2. The collector.
	ports, note, err := choosePorts(o.StatsEndpoint)
	if err != nil {
		return nil, err
	}
	if note != "" {
		printLine(out, "demo: note:", note)
	}
	work, err := os.MkdirTemp("", "otelcol-analytics-demo-")
	if err != nil {
		return nil, err
	}
	res.WorkDir = work
	env := collectorEnv(o.Environ, map[string]string{
		"ANALYTICS_POSTGRES_DSN":        dsn,
		"ANALYTICS_STATS_POSTGRES_DSN":  dsn,
		"ANALYTICS_REDIS_ADDR":          o.RedisAddr,
		"ANALYTICS_REDIS_DB":            "0",
		"ANALYTICS_REDIS_PASSWORD":      o.RedisPassword,
		"ANALYTICS_REDIS_PREFIX":        o.RedisPrefix,
		"ANALYTICS_REDIS_DAILY_TTL":     o.DailyTTL.String(),
		"ANALYTICS_TIMEZONE":            o.Timezone,
		"ANALYTICS_COST_PER_RESOLUTION": strconv.FormatFloat(o.CostPerResolution, 'f', -1, 64),
		"ANALYTICS_QUEUE_DIR":           filepath.Join(work, "queue"),
		"ANALYTICS_OTLP_GRPC_ENDPOINT":  ports.OTLPGRPC,
		"ANALYTICS_OTLP_HTTP_ENDPOINT":  ports.OTLPHTTP,
		"ANALYTICS_HEALTH_ENDPOINT":     ports.Health,
		"ANALYTICS_PPROF_ENDPOINT":      ports.Pprof,
		"ANALYTICS_STATS_ENDPOINT":      ports.Stats,
		"ANALYTICS_TELEMETRY_PORT":      fmt.Sprint(ports.Telemetry),
		"ANALYTICS_TRACK_ENDPOINT":      ports.Track,
	})
	printf(out, "demo: 2/6 starting %s --config %s (OTLP/HTTP %s, stats %s, log %s)\n",
		o.Binary, o.Config, ports.OTLPHTTP, ports.Stats, filepath.Join(work, "collector.log"))
	col, err := StartCollector(ctx, o.Binary, o.Config, env, filepath.Join(work, "collector.log"), ports.Health, o.KeepRunning, o.StartTimeout)
	if err != nil {
		return nil, err
	}
	printf(out, "demo:     collector ready (pid %d)\n", col.PID())
	finished := false
	defer func() {
		if finished && o.KeepRunning {
			res.Collector = col
			if o.PIDFile != "" {
				// The pid, and the work directory a later run removes once
				// the collector is gone.
				rec := strconv.Itoa(col.PID()) + "\n" + work + "\n"
				if werr := os.WriteFile(o.PIDFile, []byte(rec), 0o600); werr != nil {
					printLine(out, "demo: cannot record the pid:", werr)
				}
			}
			return
		}
		if stopErr := col.Stop(30 * time.Second); stopErr != nil {
			printLine(out, "demo:", stopErr)
		}
		if err == nil {
			_ = os.RemoveAll(work)
			res.WorkDir = ""
		} else {
			printf(out, "demo: the collector's log is kept in %s; its last lines:\n%s\n", col.LogPath, col.LogTail(30))
		}
	}()

	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	defer pool.Close()

	// 3. Simulate the month.
	gen, err := simulate.NewGenerator(simulate.Config{
		From: from, To: to, Location: loc, Seed: o.Seed, Scale: o.Scale, ResendFraction: o.ResendFraction,
	})
	if err != nil {
		return nil, err
	}
	var total, resends int64
	for _, d := range gen.Days() {
		for _, ev := range gen.Day(d) {
			total++
			if ev.Resend {
				resends++
			}
		}
	}
	unique := total - resends
	printf(out, "demo: 3/6 simulating %s (%s): scale %d, seed %d, resend fraction %g: %s events (%s unique, %s resent) → OTLP/HTTP %s\n",
		month, o.Timezone, o.Scale, o.Seed, o.ResendFraction,
		simulate.Thousands(total), simulate.Thousands(unique), simulate.Thousands(resends), ports.OTLPHTTP)
	pipe, err := simulate.NewOTLPPipeline(ctx, simulate.OTLPConfig{Endpoint: ports.OTLPHTTP, Protocol: "http"})
	if err != nil {
		return nil, err
	}
	mon := &monitor{pool: pool, pipe: pipe, total: total, unique: unique, out: out, start: time.Now()}
	stopProgress := mon.every(ctx, time.Second)
	run, runErr := simulate.Run(ctx, gen, pipe, simulate.RunOptions{CostPerResolution: &o.CostPerResolution})
	stopProgress()
	if runErr != nil {
		return nil, runErr
	}
	exp := run.Expectation
	res.Expectation = exp
	if exp.UniqueEvents != unique || exp.EventsSent != total {
		return nil, fmt.Errorf("the simulator sent %d events (%d unique), the generator announced %d (%d)", exp.EventsSent, exp.UniqueEvents, total, unique)
	}
	if len(exp.Months) != 1 || exp.Months[0].Month != month {
		return nil, fmt.Errorf("the simulation of %s produced %d months of events", month, len(exp.Months))
	}
	printf(out, "demo:     %s events acknowledged by the collector in %s\n", simulate.Thousands(run.Sent), run.Elapsed.Round(100*time.Millisecond))

	// 4. Drain.
	printf(out, "demo: 4/6 waiting until PostgreSQL holds the %s unique events and the Redis outbox is empty (at most %s)\n",
		simulate.Thousands(unique), o.DrainTimeout)
	if err := mon.drain(ctx, col, o.DrainTimeout); err != nil {
		return nil, err
	}

	// 5. The case study and the other endpoints.
	base := "http://" + ports.Stats
	res.ReportURL = base + "/report?month=" + month
	if h, p, ok := strings.Cut(ports.Stats, ":"); ok && (h == "127.0.0.1" || h == "localhost") {
		res.ReportURL = "http://localhost:" + p + "/report?month=" + month
	}
	if err := checkStats(ctx, &o, res, base, &exp.Months[0], loc); err != nil {
		return nil, err
	}

	// 6. Redis == PostgreSQL.
	printf(out, "demo: 6/6 analyticsctl verify --from %s --to %s (Redis counters against the PostgreSQL rollups and raw events)\n", firstDay, lastDay)
	var vout bytes.Buffer
	getenv := func(k string) string {
		if k == "ANALYTICS_REDIS_PASSWORD" {
			return o.RedisPassword
		}
		return ""
	}
	res.VerifyCode = ctl.Run(ctx, []string{
		"--postgres-dsn", dsn, "--redis-addr", o.RedisAddr, "--key-prefix", o.RedisPrefix, "--timezone", o.Timezone,
		"--daily-ttl", o.DailyTTL.String(),
		"verify", "--from", firstDay, "--to", lastDay,
	}, getenv, &vout, &vout)
	res.VerifyOutput = vout.String()
	for line := range strings.SplitSeq(strings.TrimRight(res.VerifyOutput, "\n"), "\n") {
		printLine(out, "    "+line)
	}
	finished = true
	return res, nil
}

// runningDemo returns the pid recorded in pidFile if that process is
// still an otelcol-analytics collector, else 0 (and removes the stale file
// and the work directory it names).
func runningDemo(pidFile string) int {
	if pidFile == "" {
		return 0
	}
	data, err := os.ReadFile(pidFile) //nolint:gosec // the demo's own pid file
	if err != nil {
		return 0
	}
	pidText, workDir, _ := strings.Cut(string(data), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(pidText))
	if err == nil && pid > 0 && syscall.Kill(pid, 0) == nil {
		// The pid may have been reused: on Linux, check what runs there.
		cmdline, rerr := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if rerr != nil || bytes.Contains(cmdline, []byte("otelcol-analytics")) {
			return pid
		}
	}
	if workDir = strings.TrimSpace(workDir); strings.Contains(filepath.Base(workDir), "otelcol-analytics-demo-") {
		_ = os.RemoveAll(workDir) //nolint:gosec // a work directory this demo created (checked by name)
	}
	_ = os.Remove(pidFile)
	return 0
}

// prepare drops and recreates the schema and deletes the prefix's keys.
func prepare(ctx context.Context, o *Options) error {
	conn, err := pgx.Connect(ctx, o.PostgresDSN)
	if err != nil {
		return fmt.Errorf("PostgreSQL at %s does not answer (run `make services`): %w", redact(o.PostgresDSN), err)
	}
	defer func() { _ = conn.Close(ctx) }()
	if o.ResetSchema {
		id := pgx.Identifier{o.Schema}.Sanitize()
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+id+" CASCADE"); err != nil {
			return fmt.Errorf("drop schema %s: %w", o.Schema, err)
		}
		if _, err := conn.Exec(ctx, "CREATE SCHEMA "+id); err != nil {
			return fmt.Errorf("create schema %s: %w", o.Schema, err)
		}
	}
	rdb := redis.NewClient(&redis.Options{Addr: o.RedisAddr, Password: o.RedisPassword})
	defer func() { _ = rdb.Close() }()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis at %s does not answer (run `make services`): %w", o.RedisAddr, err)
	}
	if !o.ResetRedis {
		return nil
	}
	var deleted int64
	iter := rdb.Scan(ctx, 0, o.RedisPrefix+"*", 1000).Iterator()
	var keys []string
	flush := func() error {
		if len(keys) == 0 {
			return nil
		}
		n, err := rdb.Del(ctx, keys...).Result()
		deleted += n
		keys = keys[:0]
		return err
	}
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
		if len(keys) == 500 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := iter.Err(); err != nil {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	if o.ResetSchema || deleted > 0 {
		printf(o.Out, "demo:     schema %q recreated empty, %d old %q keys deleted\n", o.Schema, deleted, o.RedisPrefix)
	}
	return nil
}

// monitor prints the progress: events sent (acknowledged by the
// collector), events written (rows of analytics_events), outbox rows.
type monitor struct {
	pool          *pgxpool.Pool
	pipe          *simulate.Pipeline
	total, unique int64
	out           io.Writer
	start         time.Time
	lastSent      int64
	lastAt        time.Time
}

type counts struct{ written, outbox, rejected int64 }

func (m *monitor) counts(ctx context.Context) (counts, error) {
	var c counts
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := m.pool.QueryRow(qctx, `SELECT (SELECT count(*) FROM analytics_events),
		(SELECT count(*) FROM analytics_redis_outbox), (SELECT count(*) FROM analytics_rejected_events)`).
		Scan(&c.written, &c.outbox, &c.rejected)
	return c, err
}

func (m *monitor) line(c counts, cerr error) {
	sent, failed := m.pipe.Acknowledged()
	now := time.Now()
	rate := ""
	if !m.lastAt.IsZero() && sent > m.lastSent {
		rate = fmt.Sprintf(" (%s/s)", simulate.Thousands(int64(float64(sent-m.lastSent)/now.Sub(m.lastAt).Seconds())))
	}
	m.lastSent, m.lastAt = sent, now
	var b strings.Builder
	printf(&b, "    %5.1fs  sent %s/%s%s", now.Sub(m.start).Seconds(), simulate.Thousands(sent), simulate.Thousands(m.total), rate)
	if failed > 0 {
		printf(&b, ", %s failed", simulate.Thousands(failed))
	}
	if cerr != nil {
		printf(&b, " · written ? (%v)", cerr)
	} else {
		printf(&b, " · written %s/%s · outbox %d", simulate.Thousands(c.written), simulate.Thousands(m.unique), c.outbox)
		if c.rejected > 0 {
			printf(&b, " · rejected %d", c.rejected)
		}
	}
	printLine(m.out, b.String())
}

// every prints a progress line every interval until the returned stop.
func (m *monitor) every(ctx context.Context, interval time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				c, err := m.counts(ctx)
				m.line(c, err)
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// drain waits until every unique event is in PostgreSQL (or rejected) and
// the outbox is empty, printing progress every second.
func (m *monitor) drain(ctx context.Context, col *Collector, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		c, err := m.counts(ctx)
		if err == nil && c.outbox == 0 && c.written+c.rejected >= m.unique {
			m.line(c, err)
			printf(m.out, "demo:     drained: %s events written, %d rejected, outbox empty\n", simulate.Thousands(c.written), c.rejected)
			return nil
		}
		if col.Exited() {
			return errors.New("the collector exited while draining")
		}
		if time.Now().After(deadline) {
			m.line(c, err)
			return fmt.Errorf("the pipeline did not drain within %s: %s of %s events written, %d outbox rows pending, %d rejected (see the collector's log)",
				timeout, simulate.Thousands(c.written), simulate.Thousands(m.unique), c.outbox, c.rejected)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			m.line(c, err)
		}
	}
}

// get fetches base+path and returns the body of a 200 answer.
func get(ctx context.Context, base, path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, bytes.TrimSpace(body))
	}
	return body, nil
}

func getJSON(ctx context.Context, base, path string, v any) error {
	body, err := get(ctx, base, path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}

// checkStats fetches and compares the case study and the per-part
// endpoints, printing the case study, its story and the table.
func checkStats(ctx context.Context, o *Options, res *Result, base string, m *simulate.Month, loc *time.Location) error {
	out := o.Out
	q := "?month=" + url.QueryEscape(m.Month)
	printf(out, "demo: 5/6 GET %s/api/analytics/case-study%s\n", base, q)
	body, err := get(ctx, base, "/api/analytics/case-study"+q)
	if err != nil {
		return err
	}
	res.CaseStudy = body
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, body, "    ", "  "); err != nil {
		return fmt.Errorf("the case study is not JSON: %w", err)
	}
	printf(out, "    %s\n", pretty.String())
	var got stats.CaseStudy
	if err := json.Unmarshal(body, &got); err != nil {
		return fmt.Errorf("the case study: %w", err)
	}
	printLine(out, "\n  story:")
	narrative, status := splitStory(got.Story)
	for _, s := range strings.SplitAfter(narrative, "。") {
		if s = strings.TrimSpace(s); s != "" {
			printLine(out, "    "+s)
		}
	}
	if status != "" {
		printLine(out, "    "+status)
	}
	written := ""
	if got.Data.LastWrittenAt != nil {
		written = *got.Data.LastWrittenAt
	}
	want, err := ExpectedCaseStudy(m, loc, o.CostPerResolution, written, time.Now())
	if err != nil {
		return err
	}
	if res.CaseStudyFields, err = CompareCaseStudy(want, body); err != nil {
		return err
	}
	printLine(out, "\n  the case study against the simulator's own expectation:")
	WriteTable(indent{out}, res.CaseStudyFields, 34)
	for _, f := range Failed(res.CaseStudyFields) {
		if displayWidth(f.Want) > 34 || displayWidth(f.Got) > 34 {
			printf(out, "  ✗ %s\n      expected: %s\n      got:      %s\n", f.Name, f.Want, f.Got)
		}
	}

	var b endpointBodies
	first := m.Month + "-01"
	mo, _ := stats.ParseMonth(m.Month)
	last := fmt.Sprintf("%s-%02d", m.Month, mo.Days())
	for _, e := range []struct {
		path string
		v    any
	}{
		{"/api/analytics/summary" + q, &b.Summary},
		{"/api/analytics/tickets" + q, &b.Tickets},
		{"/api/analytics/agents" + q, &b.Agents},
		{"/api/analytics/daily?from=" + first + "&to=" + last, &b.Daily},
	} {
		if err := getJSON(ctx, base, e.path, e.v); err != nil {
			return err
		}
	}
	res.EndpointFields = checkEndpoints(&b, m, casestudy.CostFen(o.CostPerResolution))
	bad := Failed(res.EndpointFields)
	printf(out, "\n  summary, tickets, agents (%d) and daily (%d days): %d raw numbers against the expectation, %d differ\n",
		len(b.Agents.Agents), len(b.Daily.Days), len(res.EndpointFields), len(bad))
	if len(bad) > 0 {
		WriteTable(indent{out}, bad, 34)
	}
	return nil
}

// indent prefixes every line written through it with two spaces.
type indent struct{ w io.Writer }

func (i indent) Write(p []byte) (int, error) {
	lines := strings.SplitAfter(string(p), "\n")
	var b strings.Builder
	for _, l := range lines {
		if l != "" {
			b.WriteString("  " + l)
		}
	}
	if _, err := io.WriteString(i.w, b.String()); err != nil {
		return 0, err
	}
	return len(p), nil
}
