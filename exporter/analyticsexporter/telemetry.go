package analyticsexporter

// Written by hand in the shape of mdatagen's internal/metadata
// TelemetryBuilder (mdatagen is not served at our collector release; see
// metadata.yaml): one field per telemetry.metrics entry of metadata.yaml,
// named after its key without "exporter_analytics_"; instrument name
// "otelcol_" + key; description + " [Development]"; unit as in
// metadata.yaml. TestTelemetryMatchesMetadata checks the two agree.

import (
	"context"
	"errors"
	"sync/atomic"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/embedded"

	"github.com/otelcol-analytics/otelcol-analytics/internal/store"
)

const scopeName = "github.com/otelcol-analytics/otelcol-analytics/exporter/analyticsexporter"

// Instrument names: "otelcol_" + the metadata.yaml key.
const (
	metricEventsWritten   = "otelcol_exporter_analytics_events_written"
	metricEventsDuplicate = "otelcol_exporter_analytics_events_duplicate"
	metricEventsConflict  = "otelcol_exporter_analytics_events_conflict"
	metricRecordsRejected = "otelcol_exporter_analytics_records_rejected"
	metricRecordsRefused  = "otelcol_exporter_analytics_records_refused"
	metricRecordsGuarded  = "otelcol_exporter_analytics_records_guarded"
	metricRedisDeferred   = "otelcol_exporter_analytics_redis_deferred" //nolint:gosec // a metric name, not a credential
	metricBatchesFailed   = "otelcol_exporter_analytics_batches_failed"
	metricBatchDuration   = "otelcol_exporter_analytics_batch_duration"
	metricOutboxBacklog   = "otelcol_exporter_analytics_outbox_backlog"

	attrReason             = "reason"
	attrOutcome            = "outcome"
	outcomeOK, outcomeFail = "ok", "error"
)

type telemetry struct {
	meter           metric.Meter
	registrations   []metric.Registration
	eventsWritten   metric.Int64Counter
	eventsDuplicate metric.Int64Counter
	eventsConflict  metric.Int64Counter
	recordsRejected metric.Int64Counter
	recordsRefused  metric.Int64Counter
	recordsGuarded  metric.Int64Counter
	redisDeferred   metric.Int64Counter
	batchesFailed   metric.Int64Counter
	batchDuration   metric.Float64Histogram
	outboxBacklog   metric.Int64ObservableGauge

	// backlog is what outboxBacklog reports, stored by each outbox check.
	backlog atomic.Int64
}

func newTelemetry(set component.TelemetrySettings) (*telemetry, error) {
	t := &telemetry{meter: set.MeterProvider.Meter(scopeName)}
	var err, errs error
	t.eventsWritten, err = t.meter.Int64Counter(
		metricEventsWritten,
		metric.WithDescription("Events stored in PostgreSQL and counted (new event ids). [Development]"),
		metric.WithUnit("{event}"),
	)
	errs = errors.Join(errs, err)
	t.eventsDuplicate, err = t.meter.Int64Counter(
		metricEventsDuplicate,
		metric.WithDescription("Accepted records skipped because their event id was already stored or repeated in the batch. [Development]"),
		metric.WithUnit("{event}"),
	)
	errs = errors.Join(errs, err)
	t.eventsConflict, err = t.meter.Int64Counter(
		metricEventsConflict,
		metric.WithDescription("Accepted records whose event id was already stored for the product with different content, kept in the rejected table as duplicate_conflict (the stored event counted once). [Development]"),
		metric.WithUnit("{event}"),
	)
	errs = errors.Join(errs, err)
	t.recordsRejected, err = t.meter.Int64Counter(
		metricRecordsRejected,
		metric.WithDescription("Records stored in analytics_rejected_events, by reason (storage_refused included). [Development]"),
		metric.WithUnit("{record}"),
	)
	errs = errors.Join(errs, err)
	t.recordsRefused, err = t.meter.Int64Counter(
		metricRecordsRefused,
		metric.WithDescription("Accepted records PostgreSQL refused, isolated into the rejected table (reason storage_refused). [Development]"),
		metric.WithUnit("{record}"),
	)
	errs = errors.Join(errs, err)
	t.recordsGuarded, err = t.meter.Int64Counter(
		metricRecordsGuarded,
		metric.WithDescription("Records nested too deep for the persistent queue, cut and rejected as too_deep before it (0 behind the eventcatalog processor). [Development]"),
		metric.WithUnit("{record}"),
	)
	errs = errors.Join(errs, err)
	t.redisDeferred, err = t.meter.Int64Counter(
		metricRedisDeferred,
		metric.WithDescription("Committed batches whose Redis update failed and was left in the outbox. [Development]"),
		metric.WithUnit("{batch}"),
	)
	errs = errors.Join(errs, err)
	t.batchesFailed, err = t.meter.Int64Counter(
		metricBatchesFailed,
		metric.WithDescription("Write attempts that failed with a transient error (the batch is retried). [Development]"),
		metric.WithUnit("{batch}"),
	)
	errs = errors.Join(errs, err)
	t.batchDuration, err = t.meter.Float64Histogram(
		metricBatchDuration,
		metric.WithDescription("Time to write one batch (PostgreSQL transaction and Redis update), by outcome. [Development]"),
		metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries([]float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}...),
	)
	errs = errors.Join(errs, err)
	t.outboxBacklog, err = t.meter.Int64ObservableGauge(
		metricOutboxBacklog,
		metric.WithDescription("Outbox rows not yet applied to Redis, as of the last outbox check. [Development]"),
		metric.WithUnit("{batch}"),
	)
	errs = errors.Join(errs, err)
	if errs != nil {
		return nil, errs
	}
	if err := t.registerOutboxBacklogCallback(func(_ context.Context, o metric.Int64Observer) error {
		o.Observe(t.backlog.Load())
		return nil
	}); err != nil {
		return nil, err
	}
	return t, nil
}

// registerOutboxBacklogCallback sets the callback of the observable
// outboxBacklog (mdatagen's Register…Callback).
func (t *telemetry) registerOutboxBacklogCallback(cb metric.Int64Callback) error {
	reg, err := t.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		return cb(ctx, &observerInt64{inst: t.outboxBacklog, obs: o})
	}, t.outboxBacklog)
	if err != nil {
		return err
	}
	t.registrations = append(t.registrations, reg)
	return nil
}

type observerInt64 struct {
	embedded.Int64Observer
	inst metric.Int64Observable
	obs  metric.Observer
}

func (oi *observerInt64) Observe(value int64, opts ...metric.ObserveOption) {
	oi.obs.ObserveInt64(oi.inst, value, opts...)
}

func (t *telemetry) record(ctx context.Context, res store.Result, seconds float64, err error) {
	if res.Inserted > 0 {
		t.eventsWritten.Add(ctx, int64(res.Inserted))
	}
	if res.Duplicates > 0 {
		t.eventsDuplicate.Add(ctx, int64(res.Duplicates))
	}
	if res.Conflicts > 0 {
		t.eventsConflict.Add(ctx, int64(res.Conflicts))
	}
	for reason, n := range res.RejectedByReason {
		t.recordsRejected.Add(ctx, int64(n), metric.WithAttributes(attribute.String(attrReason, reason)))
	}
	if res.RefusedByDB > 0 {
		t.recordsRefused.Add(ctx, int64(res.RefusedByDB))
	}
	if res.RedisDeferred > 0 {
		t.redisDeferred.Add(ctx, int64(res.RedisDeferred))
	}
	outcome := outcomeOK
	if err != nil {
		outcome = outcomeFail
		t.batchesFailed.Add(ctx, 1)
	}
	t.batchDuration.Record(ctx, seconds, metric.WithAttributes(attribute.String(attrOutcome, outcome)))
}

// shutdown unregisters the callbacks of the observable instruments
// (mdatagen's Shutdown).
func (t *telemetry) shutdown() {
	if t == nil {
		return
	}
	for _, reg := range t.registrations {
		_ = reg.Unregister()
	}
}
