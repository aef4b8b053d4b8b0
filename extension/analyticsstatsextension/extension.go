package analyticsstatsextension

import (
	"context"

	"go.opentelemetry.io/collector/component"

	"github.com/otelcol-analytics/otelcol-analytics/stats"
)

// statsExtension wraps stats.Server with the collector's lifecycle.
type statsExtension struct {
	server *stats.Server
}

// Start opens the PostgreSQL pool and starts listening; it fails when the
// endpoint cannot be bound.
func (e *statsExtension) Start(ctx context.Context, host component.Host) error {
	var exts map[component.ID]component.Component
	if host != nil {
		exts = host.GetExtensions()
	}
	return e.server.Start(ctx, exts)
}

// Shutdown stops the server and closes the pool; safe to call twice or
// without Start.
func (e *statsExtension) Shutdown(ctx context.Context) error {
	if e == nil || e.server == nil {
		return nil
	}
	return e.server.Shutdown(ctx)
}
