package stats

import (
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// The service's own telemetry, built by hand with the OTel metric API (the
// collector's mdatagen is not available at our release; the metrics are
// described in extension/analyticsstatsextension/metadata.yaml).
const (
	scopeName = "github.com/otelcol-analytics/otelcol-analytics/stats"

	metricRequests = "analytics_stats_requests"
	metricDuration = "analytics_stats_request_duration"
)

type telemetry struct {
	requests metric.Int64Counter
	duration metric.Float64Histogram
}

func newTelemetry(mp metric.MeterProvider) (*telemetry, error) {
	m := mp.Meter(scopeName)
	req, err := m.Int64Counter(metricRequests,
		metric.WithDescription("HTTP requests answered by the stats service, by route and status code."),
		metric.WithUnit("{request}"))
	if err != nil {
		return nil, err
	}
	dur, err := m.Float64Histogram(metricDuration,
		metric.WithDescription("Time to answer a stats request, by route."),
		metric.WithUnit("ms"),
		metric.WithExplicitBucketBoundaries(0.5, 1, 2, 5, 10, 25, 50, 100, 250, 1000, 5000))
	if err != nil {
		return nil, err
	}
	return &telemetry{requests: req, duration: dur}, nil
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
		h.tel.duration.Record(ctx, float64(time.Since(start).Microseconds())/1000,
			metric.WithAttributes(attribute.String("route", route)))
	})
}
