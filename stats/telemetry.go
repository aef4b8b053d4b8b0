package stats

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// The service's own telemetry, written by hand in the shape of mdatagen's
// internal/metadata TelemetryBuilder (mdatagen is not served at our collector
// release): one field per telemetry.metrics entry of
// extension/analyticsstatsextension/metadata.yaml, named after its key
// without "analytics_stats_"; description + " [Alpha]"; unit as in
// metadata.yaml. Unlike a collector component's, the instrument name is the
// key itself, without "otelcol_" (the service also runs on its own).
// TestTelemetryMatchesMetadata checks the two agree.
const (
	scopeName = "github.com/otelcol-analytics/otelcol-analytics/stats"

	metricRequests        = "analytics_stats_requests"
	metricRequestDuration = "analytics_stats_request_duration"
)

type telemetry struct {
	meter           metric.Meter
	requests        metric.Int64Counter
	requestDuration metric.Float64Histogram
}

func newTelemetry(mp metric.MeterProvider) (*telemetry, error) {
	t := &telemetry{meter: mp.Meter(scopeName)}
	var err, errs error
	t.requests, err = t.meter.Int64Counter(
		metricRequests,
		metric.WithDescription("HTTP requests answered by the stats service, by route (the ServeMux pattern) and status code. [Alpha]"),
		metric.WithUnit("{request}"),
	)
	errs = errors.Join(errs, err)
	t.requestDuration, err = t.meter.Float64Histogram(
		metricRequestDuration,
		metric.WithDescription("Time to answer a stats request, by route. [Alpha]"),
		metric.WithUnit("ms"),
		metric.WithExplicitBucketBoundaries([]float64{0.5, 1, 2, 5, 10, 25, 50, 100, 250, 1000, 5000}...),
	)
	errs = errors.Join(errs, err)
	return t, errs
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// instrument counts every request by route pattern (never the raw path, so
// the attribute set stays small) and status code.
func (h *handler) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		route := r.Pattern // set by the ServeMux on the request it routed
		if route == "" {
			route = "unmatched"
		}
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		ctx := r.Context()
		h.tel.requests.Add(ctx, 1, metric.WithAttributes(
			attribute.String("route", route), attribute.String("code", strconv.Itoa(rec.status))))
		h.tel.requestDuration.Record(ctx, float64(time.Since(start).Microseconds())/1000,
			metric.WithAttributes(attribute.String("route", route)))
	})
}
