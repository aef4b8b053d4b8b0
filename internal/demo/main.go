package demo

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/otelcol-analytics/otelcol-analytics/internal/simulate"
)

// Exit codes of Main.
const (
	ExitOK          = 0 // every number matched
	ExitDifferences = 1 // the demo ran and something differs
	ExitError       = 2 // bad usage, a service down, the collector not starting or not draining
)

// ParseFlags returns DefaultOptions overridden by args.
func ParseFlags(args []string, stderr io.Writer) (Options, error) {
	o := DefaultOptions()
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		printLine(stderr, "usage: demo [flags]   (make demo DEMO_FLAGS='…')")
		printLine(stderr, "Runs the collector against PostgreSQL schema \"demo\" and Redis keys \"demo:*\", simulates a month,")
		printLine(stderr, "and checks the stats service's case study against the simulator's own expectation.")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.Month, "month", o.Month, "business month to simulate, YYYY-MM (default: the previous month in --timezone)")
	fs.IntVar(&o.Scale, "scale", o.Scale, "chatbot sessions on an average weekday")
	fs.Uint64Var(&o.Seed, "seed", o.Seed, "random seed: the same seed, month and scale give the same events and ids")
	fs.Float64Var(&o.ResendFraction, "resend-fraction", o.ResendFraction, "fraction of events sent a second time with the same id (0..1)")
	fs.BoolVar(&o.KeepRunning, "keep-running", o.KeepRunning, "leave the collector running at the end (report page stays up; the demo prints how to stop it)")
	fs.StringVar(&o.Binary, "collector", o.Binary, "the collector binary (make build)")
	fs.StringVar(&o.Config, "config", o.Config, "the collector configuration (its ANALYTICS_* variables are set by the demo)")
	fs.StringVar(&o.Timezone, "timezone", o.Timezone, "business time zone")
	fs.StringVar(&o.PostgresDSN, "postgres-dsn", o.PostgresDSN, "PostgreSQL database (the demo uses its --schema)")
	fs.StringVar(&o.Schema, "schema", o.Schema, "PostgreSQL schema of the demo, dropped and recreated at start")
	fs.StringVar(&o.RedisAddr, "redis-addr", o.RedisAddr, "Redis host:port")
	fs.StringVar(&o.RedisPrefix, "redis-prefix", o.RedisPrefix, "Redis key prefix of the demo; its keys are deleted at start")
	fs.Float64Var(&o.CostPerResolution, "cost-per-resolution", o.CostPerResolution, "the stats service's cost_per_resolution in yuan (passed to the collector; 0 allowed)")
	fs.DurationVar(&o.DailyTTL, "daily-ttl", o.DailyTTL, "how long after its end a day stays in Redis (the collector's redis.daily_ttl and verify's); 0 = never")
	fs.StringVar(&o.StatsEndpoint, "stats-endpoint", o.StatsEndpoint, "where the stats service (report page) listens; a free port if taken")
	fs.DurationVar(&o.DrainTimeout, "drain-timeout", o.DrainTimeout, "how long to wait for the pipeline to drain after the last event")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.RedisPassword = os.Getenv("ANALYTICS_REDIS_PASSWORD")
	return o, nil
}

// Main runs the demo with args and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := ParseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		printLine(stderr, "demo:", err)
		return ExitError
	}
	o.Out = stdout
	res, err := Run(ctx, o)
	if err != nil {
		printLine(stderr, "demo: FAILED to run:", err)
		return ExitError
	}
	return Verdict(stdout, res, o.KeepRunning)
}

// Verdict prints the verdict, the report URL and what became of the
// collector, and returns the exit code.
func Verdict(w io.Writer, res *Result, keepRunning bool) int {
	csBad, epBad := Failed(res.CaseStudyFields), Failed(res.EndpointFields)
	printLine(w)
	printLine(w, strings.Repeat("=", 72))
	code := ExitOK
	if res.OK() {
		printf(w, "✓ PASS: all %d case-study fields and all %d raw numbers of summary/tickets/agents/daily equal the\n"+
			"  simulator's expectation for %s (%s unique events, %s resends deduplicated), and Redis equals PostgreSQL.\n",
			len(res.CaseStudyFields), len(res.EndpointFields), res.Month,
			simulate.Thousands(res.Expectation.UniqueEvents), simulate.Thousands(res.Expectation.Resent))
	} else {
		code = ExitDifferences
		printf(w, "✗ FAIL for %s: %d of %d case-study fields differ, %d of %d endpoint numbers differ",
			res.Month, len(csBad), len(res.CaseStudyFields), len(epBad), len(res.EndpointFields))
		if res.VerifyCode != 0 {
			printf(w, ", analyticsctl verify exited %d (Redis ≠ PostgreSQL)", res.VerifyCode)
		}
		printLine(w, ".")
	}
	printLine(w, strings.Repeat("=", 72))
	if keepRunning && res.Collector != nil {
		printf(w, "report: %s\n", res.ReportURL)
		printf(w, "the collector keeps running (pid %d, log %s); stop it with: kill %d\n"+
			"(the next `make demo` removes its work directory once it has stopped)\n",
			res.Collector.PID(), res.Collector.LogPath, res.Collector.PID())
	} else {
		printf(w, "report: %s  (served while the collector runs: `make demo DEMO_FLAGS=--keep-running` keeps it up)\n", res.ReportURL)
		printLine(w, "the collector has been stopped; the demo's data stays in schema \"demo\" and keys \"demo:*\" until the next run")
	}
	return code
}
