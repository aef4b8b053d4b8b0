package eventcatalogprocessor

// Written by hand in the shape of mdatagen's internal/metadata
// TelemetryBuilder (mdatagen is not served at our collector release; see
// metadata.yaml): one field per telemetry.metrics entry of metadata.yaml,
// named after its key without "processor_eventcatalog_"; instrument name
// "otelcol_" + key; description + " [Alpha]"; unit as in metadata.yaml.
// TestTelemetryMatchesMetadata checks the two agree.

import (
	"context"
	"errors"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
	"github.com/otelcol-analytics/otelcol-analytics/internal/normalize"
)

const scopeName = "github.com/otelcol-analytics/otelcol-analytics/processor/eventcatalogprocessor"

// Instrument names: "otelcol_" + the metadata.yaml key.
const (
	metricAccepted      = "otelcol_processor_eventcatalog_records_accepted"
	metricRejected      = "otelcol_processor_eventcatalog_records_rejected"
	metricIgnored       = "otelcol_processor_eventcatalog_records_ignored"
	metricPassedThrough = "otelcol_processor_eventcatalog_records_passed_through" //nolint:gosec // a metric name, not a credential ("passed")
	metricUntimed       = "otelcol_processor_eventcatalog_records_untimed"

	attrReason     = "reason"
	attrTimeSource = "time_source"
	attrDerivedID  = "derived_id"
)

type telemetry struct {
	meter                metric.Meter
	recordsAccepted      metric.Int64Counter
	recordsRejected      metric.Int64Counter
	recordsIgnored       metric.Int64Counter
	recordsPassedThrough metric.Int64Counter
	recordsUntimed       metric.Int64Counter
}

func newTelemetry(set component.TelemetrySettings) (*telemetry, error) {
	t := &telemetry{meter: set.MeterProvider.Meter(scopeName)}
	var err, errs error
	t.recordsAccepted, err = t.meter.Int64Counter(
		metricAccepted,
		metric.WithDescription("Business-event records that passed the event catalog. [Alpha]"),
		metric.WithUnit("{record}"),
	)
	errs = errors.Join(errs, err)
	t.recordsRejected, err = t.meter.Int64Counter(
		metricRejected,
		metric.WithDescription("Business-event records that failed the event catalog, by reason. They are passed on marked rejected, not dropped. [Alpha]"),
		metric.WithUnit("{record}"),
	)
	errs = errors.Join(errs, err)
	t.recordsIgnored, err = t.meter.Int64Counter(
		metricIgnored,
		metric.WithDescription("Ordinary log records (no event name) dropped because pass_through is off. [Alpha]"),
		metric.WithUnit("{record}"),
	)
	errs = errors.Join(errs, err)
	t.recordsPassedThrough, err = t.meter.Int64Counter(
		metricPassedThrough,
		metric.WithDescription("Ordinary log records (no event name) passed on untouched because pass_through is on. [Alpha]"),
		metric.WithUnit("{record}"),
	)
	errs = errors.Join(errs, err)
	t.recordsUntimed, err = t.meter.Int64Counter(
		metricUntimed,
		metric.WithDescription("Business-event records without a Timestamp, by where their event time came from (observed_timestamp, receipt) and whether their id was derived. An id-less record timed at receipt cannot be recognised when resent. [Alpha]"),
		metric.WithUnit("{record}"),
	)
	errs = errors.Join(errs, err)
	return t, errs
}

// batchCounts are the counts of one batch, recorded once per batch.
type batchCounts struct {
	accepted, ignored, passedThrough int64
	rejected                         []reasonCount
	// untimedBy counts records without a Timestamp by time source
	// (observed, receipt) and derived id (no, yes).
	untimedBy [2][2]int64
}

func (c *batchCounts) untimed(src normalize.TimeSource, derived bool) {
	i, j := 0, 0
	if src == normalize.TimeFromReceipt {
		i = 1
	}
	if derived {
		j = 1
	}
	c.untimedBy[i][j]++
}

type reasonCount struct {
	reason catalog.Reason
	n      int64
}

func (c *batchCounts) reject(r catalog.Reason) {
	for i := range c.rejected {
		if c.rejected[i].reason == r {
			c.rejected[i].n++
			return
		}
	}
	c.rejected = append(c.rejected, reasonCount{r, 1})
}

func (t *telemetry) record(ctx context.Context, c *batchCounts) {
	if c.accepted > 0 {
		t.recordsAccepted.Add(ctx, c.accepted)
	}
	if c.ignored > 0 {
		t.recordsIgnored.Add(ctx, c.ignored)
	}
	if c.passedThrough > 0 {
		t.recordsPassedThrough.Add(ctx, c.passedThrough)
	}
	for i, src := range [...]normalize.TimeSource{normalize.TimeFromObserved, normalize.TimeFromReceipt} {
		for j, derived := range [...]bool{false, true} {
			if n := c.untimedBy[i][j]; n > 0 {
				t.recordsUntimed.Add(ctx, n, metric.WithAttributeSet(attribute.NewSet(
					attribute.String(attrTimeSource, src.String()), attribute.Bool(attrDerivedID, derived))))
			}
		}
	}
	for _, rc := range c.rejected {
		t.recordsRejected.Add(ctx, rc.n, metric.WithAttributeSet(attribute.NewSet(attribute.String(attrReason, string(rc.reason)))))
	}
}
