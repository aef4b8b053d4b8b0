// Command simulate sends a realistic month (or any range of days) of the two
// products' business events to an OTLP endpoint through the typed emitters
// of sdk/bizevents, and writes what the stats service must report for it.
//
//	simulate --month 2025-12 --endpoint localhost:4318 --expect-out expect.json
//
// See README.md for every flag.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // the business time zone on machines without a zone database

	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
	"github.com/otelcol-analytics/otelcol-analytics/internal/simulate"
	"github.com/otelcol-analytics/otelcol-analytics/internal/simulate/casestudy"
	"github.com/otelcol-analytics/otelcol-analytics/sdk/bizevents"
	"github.com/otelcol-analytics/otelcol-analytics/stats"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "simulate:", err)
		}
		os.Exit(1)
	}
}

type headers map[string]string

func (h headers) String() string { return fmt.Sprint(map[string]string(h)) }
func (h headers) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want Name=value, got %q", s)
	}
	h[k] = v
	return nil
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	month := fs.String("month", "", "simulate this business month, YYYY-MM (default: the previous month)")
	from := fs.String("from", "", "first day YYYY-MM-DD (with --to, instead of --month)")
	to := fs.String("to", "", "last day YYYY-MM-DD, inclusive")
	tz := fs.String("timezone", counters.DefaultTimeZone, "business time zone: days and months are cut in it")
	endpoint := fs.String("endpoint", "", "OTLP endpoint host:port or URL (default localhost:4318 for http, localhost:4317 for grpc)")
	protocol := fs.String("protocol", "http", "OTLP protocol: http (protobuf) or grpc")
	hdrs := headers{}
	fs.Var(hdrs, "header", "header Name=value sent with every export (repeatable), e.g. Authorization=Bearer …")
	seed := fs.Uint64("seed", 1, "random seed: the same seed, range and scale give the same events and ids")
	scale := fs.Int("scale", 200, "chatbot sessions on an average weekday")
	agents := fs.Int("agents", 0, "number of human agents (default scale/20, at least 3)")
	rate := fs.Float64("rate", 0, "maximum events per second (0 = unlimited)")
	resend := fs.Float64("resend-fraction", 0, "fraction of events sent a second time with the same id (0..1)")
	cost := fs.Float64("cost-per-resolution", stats.DefaultCostPerResolution, "cost saved per AI-resolved session in yuan, as configured in the stats service (0 allowed)")
	expectOut := fs.String("expect-out", "", "write the expectation (raw numbers, case study, counter rows) to this JSON file")
	dryRun := fs.Bool("dry-run", false, "generate and compute the expectation without sending anything")
	quiet := fs.Bool("quiet", false, "no progress lines")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	loc, err := time.LoadLocation(*tz)
	if err != nil {
		return fmt.Errorf("--timezone: %w", err)
	}
	cfg := simulate.Config{Location: loc, Seed: *seed, Scale: *scale, Agents: *agents, ResendFraction: *resend}
	switch {
	case *month != "" && (*from != "" || *to != ""):
		return errors.New("give either --month or --from/--to, not both")
	case *from != "" || *to != "":
		if *from == "" || *to == "" {
			return errors.New("--from and --to go together")
		}
		cfg.From, cfg.To, err = simulate.DayRange(*from, *to, loc)
	default:
		m := *month
		if m == "" {
			m = time.Now().In(loc).AddDate(0, -1, 0).Format("2006-01")
		}
		cfg.From, cfg.To, err = simulate.MonthRange(m, loc)
	}
	if err != nil {
		return err
	}
	if *scale <= 0 {
		return errors.New("--scale must be > 0")
	}
	g, err := simulate.NewGenerator(cfg)
	if err != nil {
		return err
	}

	var p *simulate.Pipeline
	if *dryRun {
		p, err = simulate.NewPipeline(map[string]sdklog.Exporter{
			bizevents.ProductAIChatbot: discard{}, bizevents.ProductAgentWorkbench: discard{},
		})
	} else {
		p, err = simulate.NewOTLPPipeline(ctx, simulate.OTLPConfig{Endpoint: *endpoint, Protocol: *protocol, Headers: hdrs})
	}
	if err != nil {
		return err
	}
	opts := simulate.RunOptions{Rate: *rate, CostPerResolution: cost}
	if !*quiet {
		opts.Progress = stderr
		where := *endpoint
		if where == "" {
			where = "the default endpoint"
		}
		if *dryRun {
			where = "nowhere (dry run)"
		}
		// Status lines on stderr: a failed write has nowhere to be reported.
		_, _ = fmt.Fprintf(stderr, "simulate: %s to %s (%s), scale %d, seed %d, resend fraction %g → %s over OTLP/%s\n",
			cfg.From.Format("2006-01-02"), cfg.To.Add(-time.Nanosecond).Format("2006-01-02"), loc, *scale, *seed, *resend, where, *protocol)
	}
	res, runErr := simulate.Run(ctx, g, p, opts)
	if res != nil && *expectOut != "" {
		if err := casestudy.AddAll(res.Expectation, loc, *cost, time.Now()); err != nil {
			return errors.Join(runErr, err)
		}
		if err := writeJSON(*expectOut, res.Expectation); err != nil {
			return errors.Join(runErr, err)
		}
		if !*quiet {
			_, _ = fmt.Fprintf(stderr, "simulate: expectation written to %s\n", *expectOut)
		}
	}
	return runErr
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644) //nolint:gosec // an output file the user asked for
}

// discard is the exporter of --dry-run.
type discard struct{}

func (discard) Export(context.Context, []sdklog.Record) error { return nil }
func (discard) Shutdown(context.Context) error                { return nil }
func (discard) ForceFlush(context.Context) error              { return nil }
