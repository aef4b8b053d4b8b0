package eventcatalogprocessor

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
	"github.com/otelcol-analytics/otelcol-analytics/internal/normalize"
	"github.com/otelcol-analytics/otelcol-analytics/internal/telemetrytest"
)

// TestTelemetryMatchesMetadata: one value on each instrument newTelemetry
// registers, and they are exactly metadata.yaml's telemetry.metrics.
func TestTelemetryMatchesMetadata(t *testing.T) {
	tt := telemetrytest.New(t)
	tel, err := newTelemetry(tt.NewTelemetrySettings())
	require.NoError(t, err)

	c := batchCounts{accepted: 1, ignored: 1, passedThrough: 1}
	c.reject(catalog.ReasonUnknownEvent)
	c.untimed(normalize.TimeFromReceipt, true)
	tel.record(context.Background(), &c)

	telemetrytest.AssertMetadata(t, tt, "metadata.yaml", telemetrytest.Prefix)
}
