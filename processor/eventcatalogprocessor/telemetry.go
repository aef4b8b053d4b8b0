package eventcatalogprocessor

// Hand-written, not generated: mdatagen has no release matching our
// collector version. Keep in step with metadata.yaml.

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"go.opentelemetry.io/collector/component"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
	"github.com/otelcol-analytics/otelcol-analytics/internal/normalize"
)

const scopeName = "github.com/otelcol-analytics/otelcol-analytics/processor/eventcatalogprocessor"

// Metric names (metadata.yaml telemetry.metrics, with the otelcol_ prefix
// the collector's own metrics carry).
const (
	metricAccepted      = "otelcol_processor_eventcatalog_records_accepted"
	metricRejected      = "otelcol_processor_eventcatalog_records_rejected"
	metricIgnored       = "otelcol_processor_eventcatalog_records_ignored"
	metricPassedThrough = "otelcol_processor_eventcatalog_records_passed_through" //nolint:gosec // a metric name, not a credential ("passed")
	metricUntimed       = "otelcol_processor_eventcatalog_records_untimed"
	attrReason          = "reason"
	attrTimeSource      = "time_source"
	attrDerivedID       = "derived_id"
)

type telemetry struct {
	accepted      metric.Int64Counter
	rejected      metric.Int64Counter
	ignored       metric.Int64Counter
	passedThrough metric.Int64Counter
	untimed       metric.Int64Counter
}

func newTelemetry(set component.TelemetrySettings) (*telemetry, error) {
	m := set.MeterProvider.Meter(scopeName)
	var t telemetry
	var err, errs error
	t.accepted, err = m.Int64Counter(metricAccepted,
		metric.WithDescription("Business-event records that passed the event catalog. [Alpha]"),
		metric.WithUnit("{record}"))
	errs = errors.Join(errs, err)
	t.rejected, err = m.Int64Counter(metricRejected,
		metric.WithDescription("Business-event records that failed the event catalog, by reason. [Alpha]"),
		metric.WithUnit("{record}"))
	errs = errors.Join(errs, err)
	t.ignored, err = m.Int64Counter(metricIgnored,
		metric.WithDescription("Ordinary log records (no event name) dropped because pass_through is off. [Alpha]"),
		metric.WithUnit("{record}"))
	errs = errors.Join(errs, err)
	t.passedThrough, err = m.Int64Counter(metricPassedThrough,
		metric.WithDescription("Ordinary log records (no event name) passed on because pass_through is on. [Alpha]"),
		metric.WithUnit("{record}"))
	errs = errors.Join(errs, err)
	t.untimed, err = m.Int64Counter(metricUntimed,
		metric.WithDescription("Business-event records without a Timestamp, by where their event time came from and whether their id was derived. [Alpha]"),
		metric.WithUnit("{record}"))
	errs = errors.Join(errs, err)
	return &t, errs
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
		t.accepted.Add(ctx, c.accepted)
	}
	if c.ignored > 0 {
		t.ignored.Add(ctx, c.ignored)
	}
	if c.passedThrough > 0 {
		t.passedThrough.Add(ctx, c.passedThrough)
	}
	for i, src := range [...]normalize.TimeSource{normalize.TimeFromObserved, normalize.TimeFromReceipt} {
		for j, derived := range [...]bool{false, true} {
			if n := c.untimedBy[i][j]; n > 0 {
				t.untimed.Add(ctx, n, metric.WithAttributeSet(attribute.NewSet(
					attribute.String(attrTimeSource, src.String()), attribute.Bool(attrDerivedID, derived))))
			}
		}
	}
	for _, rc := range c.rejected {
		t.rejected.Add(ctx, rc.n, metric.WithAttributeSet(attribute.NewSet(attribute.String(attrReason, string(rc.reason)))))
	}
}
