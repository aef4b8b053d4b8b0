package analyticsexporter

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exporterhelper/xexporterhelper"
	"go.opentelemetry.io/collector/pdata/plog"
	pdatareq "go.opentelemetry.io/collector/pdata/xpdata/request"
	"go.uber.org/zap"

	"github.com/otelcol-analytics/otelcol-analytics/internal/store"
)

// The exporter's own request type. The exporterhelper converts every
// request as it arrives (store.Convert: the rows are built before the
// sending queue), the queue stores the rows (store.Batch.AppendBinary, a
// compact binary form compressed with s2; store.DecodeBatch also reads the
// uncompressed form of the previous release) instead of the pdata protobuf,
// batches are merged and split by records, and pushBatch writes them
// (store.Store.WriteBatch): what depends on the database (retention, the
// ledger, refusals, duplicates inside the merged batch) is decided there, as
// before.

// batchRequest is one request in the sending queue.
type batchRequest struct{ b *store.Batch }

var _ xexporterhelper.Request = (*batchRequest)(nil)

func (r *batchRequest) ItemsCount() int { return r.b.Len() }

// BytesSize is the size of the request as the queue stores it (bounded
// above: the sizer of sending_queue::sizer bytes).
func (r *batchRequest) BytesSize() int { return r.b.SizeHint() }

// MergeSplit merges r2 after r and splits the result into requests of at most
// maxSize records (the batch's sizer must be items: see Config.Validate).
// r2 does not change, nor r unless it is a batch being built by merging
// (store.Batch.Merge), which the batcher replaces by the result.
func (r *batchRequest) MergeSplit(_ context.Context, maxSize int, szt exporterhelper.RequestSizerType, r2 xexporterhelper.Request) ([]xexporterhelper.Request, error) {
	if szt != exporterhelper.RequestSizerTypeItems {
		return nil, fmt.Errorf("analytics exporter: batches are sized in items (records), not %s", szt.String())
	}
	b := r.b
	if r2 != nil {
		o, ok := r2.(*batchRequest)
		if !ok {
			return nil, fmt.Errorf("analytics exporter: cannot merge a %T into a batch", r2)
		}
		b = b.Merge(o.b)
	}
	if maxSize <= 0 {
		return []xexporterhelper.Request{&batchRequest{b: b}}, nil
	}
	parts := b.Split(maxSize)
	out := make([]xexporterhelper.Request, len(parts))
	for i, p := range parts {
		out[i] = &batchRequest{b: p}
	}
	return out, nil
}

// batchEncoding is how the persistent queue stores a batchRequest. It reads
// the items of an older collector too: a pdata protobuf item (with or
// without the request context) is converted as it is read, so what was
// accepted before an upgrade is written after it.
//
// An item it cannot read (damaged on disk, or written by a newer release
// after a downgrade) the exporter helper drops with a debug line only, so
// Unmarshal logs it at error level first: its size, why, and what to do.
type batchEncoding struct {
	loc    *time.Location
	logger *zap.Logger
}

func (batchEncoding) Marshal(_ context.Context, req xexporterhelper.Request) ([]byte, error) {
	return req.(*batchRequest).b.AppendBinary(nil)
}

func (e batchEncoding) Unmarshal(buf []byte) (context.Context, xexporterhelper.Request, error) {
	b, err := store.DecodeBatch(buf)
	if err == nil {
		return context.Background(), &batchRequest{b: b}, nil
	}
	if !errors.Is(err, store.ErrNotBatch) {
		return context.Background(), nil, e.unreadable(buf, err)
	}
	ctx, ld, err := pdatareq.UnmarshalLogs(buf)
	if errors.Is(err, pdatareq.ErrInvalidFormat) {
		ld, err = (&plog.ProtoUnmarshaler{}).UnmarshalLogs(buf)
	}
	if err != nil {
		return ctx, nil, e.unreadable(buf, fmt.Errorf("analytics exporter: queued item is neither a batch nor pdata: %w", err))
	}
	return ctx, &batchRequest{b: store.Convert(e.loc, ld)}, nil
}

// unreadable logs that the queued item buf cannot be read and is lost to
// the exporter, and returns err.
func (e batchEncoding) unreadable(buf []byte, err error) error {
	if e.logger != nil {
		e.logger.Error("A persistent queue item cannot be read; the sending queue drops it. Its records are not stored: "+
			"if they were acknowledged, resend them (a resend is deduplicated by event id). "+
			"After a downgrade, go back to the release that wrote the queue and let it drain first.",
			zap.Int("item_bytes", len(buf)), zap.Error(err))
	}
	return err
}

// queueBatchSettings are the settings of the sending queue: the encoding
// above, no reference counting (a batch holds no pdata).
func queueBatchSettings(loc *time.Location, logger *zap.Logger) xexporterhelper.QueueBatchSettings {
	return xexporterhelper.QueueBatchSettings{Encoding: batchEncoding{loc: loc, logger: logger}}
}
