// Command demo is `make demo`: it runs the collector against PostgreSQL
// schema "demo" and Redis keys "demo:*", simulates a month of both
// products' traffic, and checks the stats service's case study field by
// field against the simulator's own expectation (exit 1 if anything
// differs). The logic is internal/demo; README.md beside this file has the
// flags.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // the business time zone on machines without a zone database

	"github.com/otelcol-analytics/otelcol-analytics/internal/demo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := demo.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
