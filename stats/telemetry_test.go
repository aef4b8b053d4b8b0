package stats

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-analytics/otelcol-analytics/internal/telemetrytest"
)

// TestTelemetryMatchesMetadata: the instruments newTelemetry registers are
// exactly the telemetry.metrics of the extension's metadata.yaml (names,
// units, descriptions, kinds), with one request recorded; the names are the
// keys themselves, without "otelcol_".
func TestTelemetryMatchesMetadata(t *testing.T) {
	tt := telemetrytest.New(t)
	tel, err := newTelemetry(tt.NewTelemetrySettings().MeterProvider)
	require.NoError(t, err)

	h := &handler{tel: tel}
	h.instrument(http.NotFoundHandler()).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/x", http.NoBody))

	telemetrytest.AssertMetadata(t, tt, "../extension/analyticsstatsextension/metadata.yaml", "")
}
