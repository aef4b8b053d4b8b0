package analyticsexporter

// Hand-written, NOT generated: mdatagen is not available at our collector
// release. The instruments below are the ones metadata.yaml describes under
// `telemetry.metrics`; keep the two in step.

import (
	"context"
	"sync/atomic"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/otelcol-analytics/otelcol-analytics/internal/store"
)

const scopeName = "github.com/otelcol-analytics/otelcol-analytics/exporter/analyticsexporter"

// Metric names (metadata.yaml).
const (
	metricEventsWritten    = "otelcol_exporter_analytics_events_written"
	metricEventsDuplicate  = "otelcol_exporter_analytics_events_duplicate"
	metricEventsConflict   = "otelcol_exporter_analytics_events_conflict"
	metricRecordsRejected  = "otelcol_exporter_analytics_records_rejected"
	metricRecordsRefused   = "otelcol_exporter_analytics_records_refused"
	metricBatchDuration    = "otelcol_exporter_analytics_batch_duration"
	metricOutboxBacklog    = "otelcol_exporter_analytics_outbox_backlog"
	metricRedisDeferred    = "otelcol_exporter_analytics_redis_deferred" //nolint:gosec // a metric name, not a credential
	metricBatchesFailed    = "otelcol_exporter_analytics_batches_failed"
	metricRecordsGuarded   = "otelcol_exporter_analytics_records_guarded"
	attrReason             = "reason"
	attrOutcome            = "outcome"
	outcomeOK, outcomeFail = "ok", "error"
)

type telemetry struct {
	written    metric.Int64Counter
	duplicates metric.Int64Counter
	conflicts  metric.Int64Counter
	rejected   metric.Int64Counter
	refused    metric.Int64Counter
	deferred   metric.Int64Counter
	failed     metric.Int64Counter
	guarded    metric.Int64Counter
	duration   metric.Float64Histogram
	backlog    atomic.Int64
	reg        metric.Registration
}

func newTelemetry(set component.TelemetrySettings) (*telemetry, error) {
	m := set.MeterProvider.Meter(scopeName)
	t := &telemetry{}
	var err error
	if t.written, err = m.Int64Counter(metricEventsWritten, metric.WithUnit("{events}"),
		metric.WithDescription("Events stored in PostgreSQL and counted (new event ids).")); err != nil {
		return nil, err
	}
	if t.duplicates, err = m.Int64Counter(metricEventsDuplicate, metric.WithUnit("{events}"),
		metric.WithDescription("Accepted records skipped because their event id was already stored or repeated in the batch.")); err != nil {
		return nil, err
	}
	if t.conflicts, err = m.Int64Counter(metricEventsConflict, metric.WithUnit("{events}"),
		metric.WithDescription("Accepted records whose event id was already stored for the product with different content: kept in the rejected table as duplicate_conflict, the stored event counted once.")); err != nil {
		return nil, err
	}
	if t.rejected, err = m.Int64Counter(metricRecordsRejected, metric.WithUnit("{records}"),
		metric.WithDescription("Records stored in analytics_rejected_events, by reason (storage_refused included).")); err != nil {
		return nil, err
	}
	if t.refused, err = m.Int64Counter(metricRecordsRefused, metric.WithUnit("{records}"),
		metric.WithDescription("Accepted records PostgreSQL refused, isolated into the rejected table (reason storage_refused).")); err != nil {
		return nil, err
	}
	if t.deferred, err = m.Int64Counter(metricRedisDeferred, metric.WithUnit("{batches}"),
		metric.WithDescription("Committed batches whose Redis update failed and was left in the outbox.")); err != nil {
		return nil, err
	}
	if t.failed, err = m.Int64Counter(metricBatchesFailed, metric.WithUnit("{batches}"),
		metric.WithDescription("Write attempts that failed with a transient error (the batch is retried).")); err != nil {
		return nil, err
	}
	if t.guarded, err = m.Int64Counter(metricRecordsGuarded, metric.WithUnit("{records}"),
		metric.WithDescription("Records nested too deep for the persistent queue, cut and rejected as too_deep before it (0 behind the eventcatalog processor).")); err != nil {
		return nil, err
	}
	if t.duration, err = m.Float64Histogram(metricBatchDuration, metric.WithUnit("s"),
		metric.WithDescription("Time to write one batch (PostgreSQL transaction and Redis update)."),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)); err != nil {
		return nil, err
	}
	backlog, err := m.Int64ObservableGauge(metricOutboxBacklog, metric.WithUnit("{batches}"),
		metric.WithDescription("Outbox rows not yet applied to Redis, as of the last outbox check."))
	if err != nil {
		return nil, err
	}
	if t.reg, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(backlog, t.backlog.Load())
		return nil
	}, backlog); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *telemetry) record(ctx context.Context, res store.Result, seconds float64, err error) {
	if res.Inserted > 0 {
		t.written.Add(ctx, int64(res.Inserted))
	}
	if res.Duplicates > 0 {
		t.duplicates.Add(ctx, int64(res.Duplicates))
	}
	if res.Conflicts > 0 {
		t.conflicts.Add(ctx, int64(res.Conflicts))
	}
	for reason, n := range res.RejectedByReason {
		t.rejected.Add(ctx, int64(n), metric.WithAttributes(attribute.String(attrReason, reason)))
	}
	if res.RefusedByDB > 0 {
		t.refused.Add(ctx, int64(res.RefusedByDB))
	}
	if res.RedisDeferred > 0 {
		t.deferred.Add(ctx, int64(res.RedisDeferred))
	}
	outcome := outcomeOK
	if err != nil {
		outcome = outcomeFail
		t.failed.Add(ctx, 1)
	}
	t.duration.Record(ctx, seconds, metric.WithAttributes(attribute.String(attrOutcome, outcome)))
}

func (t *telemetry) shutdown() {
	if t != nil && t.reg != nil {
		_ = t.reg.Unregister()
	}
}
