// Command bench-e2e is `make bench-e2e`: the built collector with the
// default configuration, measured end to end (internal/loadgen.Bench).
// It prints progress, a table and, as its last line, the report as JSON;
// it exits 1 when the run failed or a check did not hold.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/otelcol-analytics/otelcol-analytics/internal/loadgen"
	"github.com/otelcol-analytics/otelcol-analytics/internal/testdb"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("bench-e2e", flag.ContinueOnError)
	var o loadgen.BenchOptions
	var rates, month string
	fs.StringVar(&o.Binary, "bin", "bin/otelcol-analytics", "the collector binary")
	fs.StringVar(&o.Config, "config", "otelcol-config.yaml", "the collector configuration (the default one)")
	fs.StringVar(&o.PostgresDSN, "postgres", testdb.BaseDSN(), "database the run's schemas are made in (ANALYTICS_TEST_POSTGRES_DSN)")
	fs.StringVar(&o.RedisAddr, "redis", testdb.RedisAddr(), "Redis address (ANALYTICS_TEST_REDIS_ADDR)")
	fs.IntVar(&o.RedisDB, "redis-db", 0, "Redis database number")
	fs.StringVar(&o.Transport, "transport", loadgen.TransportHTTP, "http (OTLP/HTTP protobuf) or grpc (OTLP gRPC)")
	fs.IntVar(&o.Senders, "senders", 4, "concurrent senders")
	fs.IntVar(&o.Collectors, "collectors", 1, "collector processes sharing the run's schema and Redis prefix, each with its own queue directory; sender i sends to collector i % N")
	fs.IntVar(&o.PerRequest, "per-request", 1000, "events per request")
	fs.IntVar(&o.Events, "events", 1_000_000, "events of the sustained phase")
	fs.IntVar(&o.RawEvents, "raw-events", 0, "rows of the raw COPY baseline (0: as -events, -1: none)")
	fs.IntVar(&o.RawBatch, "raw-batch", 5000, "also time raw COPY per this many rows (0: not)")
	fs.StringVar(&rates, "rates", "25000,50000,100000", "fixed rates of the latency phases, events/s (empty: none)")
	fs.DurationVar(&o.RateDuration, "rate-duration", 10*time.Second, "how long each fixed rate is sent")
	fs.DurationVar(&o.PollInterval, "poll", 20*time.Millisecond, "visibility poll interval")
	fs.DurationVar(&o.DrainTimeout, "drain-timeout", 10*time.Minute, "longest wait for the collector to store everything")
	fs.DurationVar(&o.Soak, "soak", 0, "also hold -soak-rate for this long, requests encoded as sent, the collector's RSS sampled every 10 s (0: no soak)")
	fs.Float64Var(&o.SoakRate, "soak-rate", 100_000, "events/s of the soak")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the collector, taken from the start of the sustained phase, to this file")
	fs.IntVar(&o.ProfileSeconds, "profile-seconds", 30, "length of the CPU profile")
	fs.StringVar(&month, "month", "", "business month of the events, YYYY-MM (default: the previous month)")
	fs.IntVar(&o.SpreadDays, "days", 0, "put the events on the first N days of the month only (1: one day, as live traffic; default 0: the whole month)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	for _, f := range strings.Split(rates, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		r, err := strconv.ParseFloat(f, 64)
		if err != nil || r <= 0 {
			fmt.Fprintf(os.Stderr, "bench-e2e: -rates: %q is not a positive number\n", f)
			return 2
		}
		o.Rates = append(o.Rates, r)
	}
	if month != "" {
		m, err := time.Parse("2006-01", month)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench-e2e: -month: %v\n", err)
			return 2
		}
		o.Month = m.AddDate(0, 0, 14)
	}
	if _, err := os.Stat(o.Binary); err != nil {
		fmt.Fprintf(os.Stderr, "bench-e2e: %v (run `make build`)\n", err)
		return 2
	}
	o.Out = os.Stdout

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := loadgen.Bench(ctx, o)
	if err != nil {
		rep.Problems = append(rep.Problems, err.Error())
		rep.OK = false
	}
	fmt.Println()
	if e := rep.WriteTable(os.Stdout); e != nil {
		fmt.Fprintln(os.Stderr, "bench-e2e:", e)
	}
	if e := rep.WriteJSON(os.Stdout); e != nil {
		fmt.Fprintln(os.Stderr, "bench-e2e:", e)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-e2e:", err)
		return 1
	}
	if !rep.OK {
		return 1
	}
	return 0
}
