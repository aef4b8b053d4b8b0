package analyticsexporter

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-analytics/otelcol-analytics/internal/store"
	"github.com/otelcol-analytics/otelcol-analytics/internal/telemetrytest"
)

// TestTelemetryMatchesMetadata: one value on each instrument newTelemetry
// registers, and they are exactly metadata.yaml's telemetry.metrics.
func TestTelemetryMatchesMetadata(t *testing.T) {
	tt := telemetrytest.New(t)
	tel, err := newTelemetry(tt.NewTelemetrySettings())
	require.NoError(t, err)
	defer tel.shutdown()

	ctx := context.Background()
	tel.record(ctx, store.Result{
		Inserted: 1, Duplicates: 1, Conflicts: 1, RefusedByDB: 1, RedisDeferred: 1,
		RejectedByReason: map[string]int{"storage_refused": 1},
	}, 0.01, errors.New("transient"))
	tel.recordsGuarded.Add(ctx, 1)
	tel.backlog.Store(1)

	telemetrytest.AssertMetadata(t, tt, "metadata.yaml", telemetrytest.Prefix)
}
