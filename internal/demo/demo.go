// Package demo is the logic of `make demo` (cmd/demo is a thin main around
// Main): a self-checking demonstration that runs the real collector binary
// against the local PostgreSQL and Redis in a place of its own (schema
// "demo", key prefix "demo:"), simulates one month of both products'
// traffic through internal/simulate over OTLP/HTTP, waits until the pipeline
// has drained, fetches the case study from the collector's stats service and
// compares it, field by field, with the simulator's own expectation, checks
// the summary/tickets/agents/daily endpoints' raw numbers the same way, and
// runs analyticsctl's verify (ctl.Verify) in process to show Redis equal to
// PostgreSQL.
//
// Every number it prints comes from the pipeline or from the simulator;
// nothing is hard-coded. The end-to-end test in internal/e2e runs the same
// Run with a small month.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/otelcol-analytics/otelcol-analytics/internal/collectorproc"
	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
	"github.com/otelcol-analytics/otelcol-analytics/internal/ctl"
	"github.com/otelcol-analytics/otelcol-analytics/internal/simulate"
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
		PostgresDSN:       counters.DefaultPostgresDSN,
		Schema:            "demo",
		ResetSchema:       true,
		RedisAddr:         counters.DefaultRedisAddr,
		RedisPrefix:       "demo:",
		ResetRedis:        true,
		DailyTTL:          counters.DefaultDailyTTL,
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
	// Verify is what the check of Redis against PostgreSQL (ctl.Verify)
	// found; nil if it could not check. VerifyCode is analyticsctl
	// verify's exit code for it (0 = Redis equals PostgreSQL, ctl.ExitError
	// = could not check), VerifyOutput its output.
	Verify       *ctl.VerifyResult
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
		len(r.EndpointFields) > 0 && len(Failed(r.EndpointFields)) == 0 && r.Verify != nil && r.Verify.Equal()
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
	if o.RedisPrefix == "" || o.RedisPrefix == counters.DefaultPrefix {
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
	r, err := newRun(&o)
	if err != nil {
		return nil, err
	}
	if err := r.isolate(ctx); err != nil {
		return nil, err
	}
	if err := r.startCollector(ctx); err != nil {
		return nil, err
	}
	finished := false
	defer func() { r.stopCollector(finished, err) }()
	if r.pool, err = pgxpool.New(ctx, r.dsn); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	defer r.pool.Close()
	mon, err := r.simulate(ctx)
	if err != nil {
		return nil, err
	}
	if err := r.drain(ctx, mon); err != nil {
		return nil, err
	}
	if err := r.checkStats(ctx, &r.res.Expectation.Months[0]); err != nil {
		return nil, err
	}
	r.verify(ctx)
	finished = true
	return r.res, nil
}

// run is one run of the demo: its options, its month, and what its steps
// have set up.
type run struct {
	o        *Options
	out      io.Writer
	loc      *time.Location
	month    string
	from, to time.Time // the month's first day and the day after its last
	dsn      string    // o.PostgresDSN with search_path o.Schema
	res      *Result
	ports    Ports
	col      *Collector
	pool     *pgxpool.Pool
}

// newRun validates o and resolves the month.
func newRun(o *Options) (*run, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
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
	return &run{
		o: o, out: o.Out, loc: loc, month: month, from: from, to: to,
		dsn: withSearchPath(o.PostgresDSN, o.Schema), res: &Result{Month: month},
	}, nil
}

// isolate is step 1: an isolated place, once no collector of an earlier
// run still uses it.
func (r *run) isolate(ctx context.Context) error {
	if pid := runningDemo(r.o.PIDFile); pid > 0 {
		return fmt.Errorf("the collector of an earlier `demo --keep-running` still runs (pid %d, see %s): stop it first with `kill %d`", pid, r.o.PIDFile, pid)
	}
	printf(r.out, "demo: 1/6 an isolated place: PostgreSQL schema %q of %s, Redis keys %s* on %s\n",
		r.o.Schema, redact(r.o.PostgresDSN), r.o.RedisPrefix, r.o.RedisAddr)
	return prepare(ctx, r.o)
}

// startCollector is step 2: the collector, on free ports, with a work
// directory of its own.
func (r *run) startCollector(ctx context.Context) error {
	ports, note, err := choosePorts(r.o.StatsEndpoint)
	if err != nil {
		return err
	}
	r.ports = ports
	if note != "" {
		printLine(r.out, "demo: note:", note)
	}
	work, err := os.MkdirTemp("", "otelcol-analytics-demo-")
	if err != nil {
		return err
	}
	r.res.WorkDir = work
	logPath := filepath.Join(work, "collector.log")
	printf(r.out, "demo: 2/6 starting %s --config %s (OTLP/HTTP %s, stats %s, log %s)\n",
		r.o.Binary, r.o.Config, ports.OTLPHTTP, ports.Stats, logPath)
	r.col, err = collectorproc.Start(ctx, collectorproc.Options{
		Binary: r.o.Binary, Config: r.o.Config, Env: collectorproc.Env(r.o.Environ, r.environ(work)),
		LogPath: logPath, Health: ports.Health, Detach: r.o.KeepRunning, Timeout: r.o.StartTimeout,
	})
	if err != nil {
		return err
	}
	printf(r.out, "demo:     collector ready (pid %d)\n", r.col.PID())
	return nil
}

// environ is the collector's ANALYTICS_* variables.
func (r *run) environ(work string) map[string]string {
	o, ports := r.o, r.ports
	return map[string]string{
		"ANALYTICS_POSTGRES_DSN":        r.dsn,
		"ANALYTICS_STATS_POSTGRES_DSN":  r.dsn,
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
	}
}

// stopCollector ends a run: with KeepRunning, a finished run leaves the
// collector running (recorded in the pid file); otherwise it is stopped,
// and its work directory removed, or kept with its log shown when the run
// failed (err).
func (r *run) stopCollector(finished bool, err error) {
	if finished && r.o.KeepRunning {
		r.res.Collector = r.col
		if r.o.PIDFile != "" {
			if werr := recordPID(r.o.PIDFile, r.col.PID(), r.res.WorkDir); werr != nil {
				printLine(r.out, "demo: cannot record the pid:", werr)
			}
		}
		return
	}
	if stopErr := r.col.Stop(30 * time.Second); stopErr != nil {
		printLine(r.out, "demo:", stopErr)
	}
	if err == nil {
		_ = os.RemoveAll(r.res.WorkDir)
		r.res.WorkDir = ""
	} else {
		printf(r.out, "demo: the collector's log is kept in %s; its last lines:\n%s\n", r.col.LogPath, r.col.LogTail(30))
	}
}

// simulate is step 3: it sends the month's events over OTLP/HTTP, printing
// the progress, and checks that the simulator sent what the generator
// announced. The monitor it returns knows how many events to wait for.
func (r *run) simulate(ctx context.Context) (*monitor, error) {
	o := r.o
	gen, err := simulate.NewGenerator(simulate.Config{
		From: r.from, To: r.to, Location: r.loc, Seed: o.Seed, Scale: o.Scale, ResendFraction: o.ResendFraction,
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
	printf(r.out, "demo: 3/6 simulating %s (%s): scale %d, seed %d, resend fraction %g: %s events (%s unique, %s resent) → OTLP/HTTP %s\n",
		r.month, o.Timezone, o.Scale, o.Seed, o.ResendFraction,
		simulate.Thousands(total), simulate.Thousands(unique), simulate.Thousands(resends), r.ports.OTLPHTTP)
	pipe, err := simulate.NewOTLPPipeline(ctx, simulate.OTLPConfig{Endpoint: r.ports.OTLPHTTP, Protocol: "http"})
	if err != nil {
		return nil, err
	}
	mon := &monitor{pool: r.pool, pipe: pipe, total: total, unique: unique, out: r.out, start: time.Now()}
	stopProgress := mon.every(ctx, time.Second)
	sim, err := simulate.Run(ctx, gen, pipe, simulate.RunOptions{CostPerResolution: &o.CostPerResolution})
	stopProgress()
	if err != nil {
		return nil, err
	}
	exp := sim.Expectation
	r.res.Expectation = exp
	if exp.UniqueEvents != unique || exp.EventsSent != total {
		return nil, fmt.Errorf("the simulator sent %d events (%d unique), the generator announced %d (%d)", exp.EventsSent, exp.UniqueEvents, total, unique)
	}
	if len(exp.Months) != 1 || exp.Months[0].Month != r.month {
		return nil, fmt.Errorf("the simulation of %s produced %d months of events", r.month, len(exp.Months))
	}
	printf(r.out, "demo:     %s events acknowledged by the collector in %s\n", simulate.Thousands(sim.Sent), sim.Elapsed.Round(100*time.Millisecond))
	return mon, nil
}

// drain is step 4: it waits until the pipeline has drained.
func (r *run) drain(ctx context.Context, mon *monitor) error {
	printf(r.out, "demo: 4/6 waiting until PostgreSQL holds the %s unique events and the Redis outbox is empty (at most %s)\n",
		simulate.Thousands(mon.unique), r.o.DrainTimeout)
	return mon.drain(ctx, r.col, r.o.DrainTimeout)
}

// verify is step 6: analyticsctl verify's check (ctl.Verify), in process,
// of the month's Redis counters against the PostgreSQL rollups and raw
// events. Its report is printed, indented; a failure to check is a
// VerifyCode of ctl.ExitError, not an error of the run.
func (r *run) verify(ctx context.Context) {
	first, last := r.from.Format(time.DateOnly), r.to.AddDate(0, 0, -1).Format(time.DateOnly)
	printf(r.out, "demo: 6/6 analyticsctl verify --from %s --to %s (Redis counters against the PostgreSQL rollups and raw events)\n", first, last)
	co, _ := ctl.DefaultOptions(nil) // the defaults, not the environment: the demo's own place
	co.PostgresDSN, co.RedisAddr, co.RedisPassword, co.KeyPrefix = r.dsn, r.o.RedisAddr, r.o.RedisPassword, r.o.RedisPrefix
	co.Timezone, co.DailyTTL = r.o.Timezone, r.o.DailyTTL
	var report strings.Builder
	vr, err := ctl.Verify(ctx, ctl.VerifyOptions{Options: co, Period: ctl.Period{From: first, To: last}, Report: &report})
	if err != nil {
		r.res.VerifyCode = ctl.ExitError
		printf(&report, "analyticsctl verify: %v\n", err)
	} else {
		r.res.Verify = &vr
		r.res.VerifyCode = vr.ExitCode()
		printLine(&report, vr.Summary())
	}
	r.res.VerifyOutput = report.String()
	for line := range strings.SplitSeq(strings.TrimRight(r.res.VerifyOutput, "\n"), "\n") {
		printLine(r.out, "    "+line)
	}
}
