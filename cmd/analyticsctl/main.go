// Command analyticsctl is the operator's tool for otelcol-analytics: migrate
// the PostgreSQL schema, verify and rebuild the Redis counters from
// PostgreSQL, and replay rejected events. See README.md beside this file.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/otelcol-analytics/otelcol-analytics/internal/ctl"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := ctl.Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
