package trackreceiver

// Hand-written, not generated: mdatagen has no release matching our
// collector version. Keep in step with metadata.yaml.

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"go.opentelemetry.io/collector/component"
)

// Metric names (metadata.yaml telemetry.metrics, with the otelcol_ prefix
// the collector's own metrics carry).
const (
	metricRequests         = "otelcol_receiver_track_requests"
	metricRequestsRejected = "otelcol_receiver_track_requests_rejected"
	metricEventsAccepted   = "otelcol_receiver_track_events_accepted"
	metricEventsRejected   = "otelcol_receiver_track_events_rejected"
	metricEventsIgnored    = "otelcol_receiver_track_events_ignored"

	attrEndpoint   = "endpoint"
	attrStatusCode = "status_code"
	attrReason     = "reason"
	attrType       = "type"
)

type telemetry struct {
	requests         metric.Int64Counter
	requestsRejected metric.Int64Counter
	eventsAccepted   metric.Int64Counter
	eventsRejected   metric.Int64Counter
	eventsIgnored    metric.Int64Counter
}

func newTelemetry(set component.TelemetrySettings) (*telemetry, error) {
	m := set.MeterProvider.Meter(scopeName)
	var t telemetry
	var err, errs error
	t.requests, err = m.Int64Counter(metricRequests,
		metric.WithDescription("HTTP requests answered, by endpoint and HTTP status code. [Alpha]"),
		metric.WithUnit("{request}"))
	errs = errors.Join(errs, err)
	t.requestsRejected, err = m.Int64Counter(metricRequestsRejected,
		metric.WithDescription("HTTP requests answered with an error status, by reason. [Alpha]"),
		metric.WithUnit("{request}"))
	errs = errors.Join(errs, err)
	t.eventsAccepted, err = m.Int64Counter(metricEventsAccepted,
		metric.WithDescription("Track calls turned into log records and accepted by the next consumer (not counting the records of refused calls). [Alpha]"),
		metric.WithUnit("{event}"))
	errs = errors.Join(errs, err)
	t.eventsRejected, err = m.Int64Counter(metricEventsRejected,
		metric.WithDescription("Calls rejected for their own content (the one call of a refused /v1/track request, or a call of a batch refused alone and handed on as a refused-call record), by reason. [Alpha]"),
		metric.WithUnit("{event}"))
	errs = errors.Join(errs, err)
	t.eventsIgnored, err = m.Int64Counter(metricEventsIgnored,
		metric.WithDescription("Segment calls other than track (identify, page, screen, group, alias), accepted and dropped, by type. [Alpha]"),
		metric.WithUnit("{event}"))
	errs = errors.Join(errs, err)
	return &t, errs
}

func (t *telemetry) request(ctx context.Context, endpoint string, status int, reason string) {
	t.requests.Add(ctx, 1, metric.WithAttributeSet(attribute.NewSet(
		attribute.String(attrEndpoint, endpoint), attribute.Int(attrStatusCode, status))))
	if status >= 400 {
		t.requestsRejected.Add(ctx, 1, metric.WithAttributeSet(attribute.NewSet(attribute.String(attrReason, reason))))
	}
}

func (t *telemetry) rejectedEvents(ctx context.Context, reason string, n int) {
	if n > 0 {
		t.eventsRejected.Add(ctx, int64(n), metric.WithAttributeSet(attribute.NewSet(attribute.String(attrReason, reason))))
	}
}

func (t *telemetry) payload(ctx context.Context, p *payload) {
	if len(p.refused) > 0 {
		// Group by reason: one Add per reason.
		var reasons []string
		counts := map[string]int{}
		for _, rc := range p.refused {
			if counts[rc.reason] == 0 {
				reasons = append(reasons, rc.reason)
			}
			counts[rc.reason]++
		}
		for _, r := range reasons {
			t.rejectedEvents(ctx, r, counts[r])
		}
	}
	for _, tc := range p.ignored {
		t.eventsIgnored.Add(ctx, int64(tc.n), metric.WithAttributeSet(attribute.NewSet(attribute.String(attrType, tc.typ))))
	}
}
