// Command analytics-stats runs the otelcol-analytics stats service on its
// own, apart from the collector, so reads scale apart from ingest. It takes
// the same configuration keys as the analytics_stats extension:
//
//	analytics-stats --config stats.yaml
//
// Without --config it uses the built-in default.yaml, whose values come
// from ANALYTICS_STATS_ENDPOINT, ANALYTICS_STATS_POSTGRES_DSN,
// ANALYTICS_TIMEZONE, ANALYTICS_COST_PER_RESOLUTION, ANALYTICS_STATS_TOKEN
// and the exporter's ANALYTICS_REDIS_ADDR, _DB, _PASSWORD, _PREFIX and
// _DAILY_TTL. A --config file may use ${env:NAME} too.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.opentelemetry.io/collector/component"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/zap"

	"github.com/otelcol-analytics/otelcol-analytics/stats"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "analytics-stats:", err)
		os.Exit(1)
	}
}

func run() error {
	configPath := flag.String("config", "", "YAML configuration file (default: built-in, from environment variables)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg, err := loadConfig(ctx, *configPath)
	if err != nil {
		return err
	}
	logger, err := zap.NewProduction()
	if err != nil {
		return err
	}
	defer func() { _ = logger.Sync() }()
	set := component.TelemetrySettings{
		Logger:         logger,
		MeterProvider:  metricnoop.NewMeterProvider(),
		TracerProvider: tracenoop.NewTracerProvider(),
	}
	srv := stats.NewServer(cfg, set)
	if err := srv.Start(ctx, nil); err != nil {
		return err
	}
	logger.Info("analytics-stats listening", zap.String("address", srv.Addr()), zap.String("timezone", cfg.Timezone))
	<-ctx.Done()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}
