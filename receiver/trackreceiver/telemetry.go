package trackreceiver

// Written by hand in the shape of mdatagen's internal/metadata
// TelemetryBuilder (mdatagen is not served at our collector release; see
// metadata.yaml): one field per telemetry.metrics entry of metadata.yaml,
// named after its key without "receiver_track_"; instrument name
// "otelcol_" + key; description + " [Alpha]"; unit as in metadata.yaml.
// TestTelemetryMatchesMetadata checks the two agree.

import (
	"context"
	"errors"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Instrument names: "otelcol_" + the metadata.yaml key.
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
	meter            metric.Meter
	requests         metric.Int64Counter
	requestsRejected metric.Int64Counter
	eventsAccepted   metric.Int64Counter
	eventsRejected   metric.Int64Counter
	eventsIgnored    metric.Int64Counter
}

func newTelemetry(set component.TelemetrySettings) (*telemetry, error) {
	t := &telemetry{meter: set.MeterProvider.Meter(scopeName)}
	var err, errs error
	t.requests, err = t.meter.Int64Counter(
		metricRequests,
		metric.WithDescription("HTTP requests answered, by endpoint and HTTP status code. [Alpha]"),
		metric.WithUnit("{request}"),
	)
	errs = errors.Join(errs, err)
	t.requestsRejected, err = t.meter.Int64Counter(
		metricRequestsRejected,
		metric.WithDescription("HTTP requests answered with an error status (4xx, 5xx), by reason. [Alpha]"),
		metric.WithUnit("{request}"),
	)
	errs = errors.Join(errs, err)
	t.eventsAccepted, err = t.meter.Int64Counter(
		metricEventsAccepted,
		metric.WithDescription("Track calls turned into log records and accepted by the next consumer (not counting the records of refused calls). [Alpha]"),
		metric.WithUnit("{event}"),
	)
	errs = errors.Join(errs, err)
	t.eventsRejected, err = t.meter.Int64Counter(
		metricEventsRejected,
		metric.WithDescription("Calls rejected for their own content (the one call of a refused /v1/track request, or a call of a batch refused alone and handed on as a refused-call record), by reason. [Alpha]"),
		metric.WithUnit("{event}"),
	)
	errs = errors.Join(errs, err)
	t.eventsIgnored, err = t.meter.Int64Counter(
		metricEventsIgnored,
		metric.WithDescription("Segment calls other than track (identify, page, screen, group, alias), accepted and dropped, by type. [Alpha]"),
		metric.WithUnit("{event}"),
	)
	errs = errors.Join(errs, err)
	return t, errs
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
