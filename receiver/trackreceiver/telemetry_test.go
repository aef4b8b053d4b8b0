package trackreceiver

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-analytics/otelcol-analytics/internal/telemetrytest"
)

// TestTelemetryMatchesMetadata: one value on each instrument newTelemetry
// registers, and they are exactly metadata.yaml's telemetry.metrics.
func TestTelemetryMatchesMetadata(t *testing.T) {
	tt := telemetrytest.New(t)
	tel, err := newTelemetry(tt.NewTelemetrySettings())
	require.NoError(t, err)

	ctx := context.Background()
	tel.request(ctx, "/v1/batch", http.StatusBadRequest, "malformed_json") // requests, requests_rejected
	tel.rejectedEvents(ctx, "invalid_event", 1)
	tel.eventsAccepted.Add(ctx, 1)
	tel.eventsIgnored.Add(ctx, 1)

	telemetrytest.AssertMetadata(t, tt, "metadata.yaml", telemetrytest.Prefix)
}
