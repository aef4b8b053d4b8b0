package loadgen

import (
	"context"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-analytics/otelcol-analytics/internal/normalize"
	"github.com/otelcol-analytics/otelcol-analytics/internal/store"
)

// BenchmarkQueueRoundTrip is what the persistent queue does to every
// request between the eventcatalog processor and the exporter. A request is
// 1000 records of the load generator's mix, normalised by the processor's
// rules; bytes/record is its encoded size in the queue.
//
//   - pdata: encode the normalised request as protobuf and decode it back
//     (the stock logs encoding, the exporter before its own request type);
//   - pdata+rows: the same, then build the rows from the decoded request
//     (what that exporter did after the queue, store.Convert);
//   - batch: encode the exporter's own request (the rows, store.Batch) and
//     decode it back;
//   - batch+rows: build the rows (before the queue now), encode, decode;
//   - batch+storage: encode, write the item to a file_storage extension (the
//     persistent queue's bbolt file, no fsync: its default), read it back,
//     delete it, decode: where the size of the queued form costs.
//
// pdata+rows and batch+rows do the same work for the exporter; the rows'
// write-time part (store's prepare, the ledger) is the same in both.
func BenchmarkQueueRoundTrip(b *testing.B) {
	g := &Generator{PerRequest: 1000, Month: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	ld := g.Logs(0)
	sent := (&plog.ProtoMarshaler{}).LogsSize(ld)
	norm := normalize.New(nil, normalize.Limits{})
	now := time.Now()
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				require.Equal(b, normalize.Accepted, norm.Record(rl.Resource(), sl.Scope(), lr, now).Outcome)
			}
		}
	}
	loc, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(b, err)
	n := ld.LogRecordCount()
	m, u := &plog.ProtoMarshaler{}, &plog.ProtoUnmarshaler{}
	pdata := func(rows bool) func(b *testing.B) {
		return func(b *testing.B) {
			var size int
			b.ReportAllocs()
			for b.Loop() {
				buf, err := m.MarshalLogs(ld)
				if err != nil {
					b.Fatal(err)
				}
				size = len(buf)
				back, err := u.UnmarshalLogs(buf)
				if err != nil {
					b.Fatal(err)
				}
				if rows && store.Convert(loc, back).Len() != n {
					b.Fatal("rows lost")
				}
			}
			b.ReportMetric(float64(size)/float64(n), "bytes/record")
			b.ReportMetric(float64(sent)/float64(n), "sent-bytes/record")
		}
	}
	batch := func(rows bool) func(b *testing.B) {
		return func(b *testing.B) {
			converted := store.Convert(loc, ld)
			var size int
			b.ReportAllocs()
			for b.Loop() {
				q := converted
				if rows {
					q = store.Convert(loc, ld)
				}
				buf, err := q.AppendBinary(nil)
				if err != nil {
					b.Fatal(err)
				}
				size = len(buf)
				back, err := store.DecodeBatch(buf)
				if err != nil {
					b.Fatal(err)
				}
				if back.Len() != n {
					b.Fatal("rows lost")
				}
			}
			b.ReportMetric(float64(size)/float64(n), "bytes/record")
			b.ReportMetric(float64(sent)/float64(n), "sent-bytes/record")
		}
	}
	storageRoundTrip := func(b *testing.B) {
		ctx := context.Background()
		f := filestorage.NewFactory()
		cfg := f.CreateDefaultConfig().(*filestorage.Config)
		cfg.Directory = b.TempDir()
		ext, err := f.Create(ctx, extensiontest.NewNopSettings(f.Type()), cfg)
		require.NoError(b, err)
		require.NoError(b, ext.Start(ctx, nil))
		defer func() { require.NoError(b, ext.Shutdown(ctx)) }()
		client, err := ext.(storage.Extension).GetClient(ctx, component.KindExporter, component.MustNewID("analytics"), "logs")
		require.NoError(b, err)
		defer func() { require.NoError(b, client.Close(ctx)) }()
		converted := store.Convert(loc, ld)
		var size int
		b.ReportAllocs()
		for b.Loop() {
			buf, err := converted.AppendBinary(nil)
			if err != nil {
				b.Fatal(err)
			}
			size = len(buf)
			if err := client.Set(ctx, "item", buf); err != nil {
				b.Fatal(err)
			}
			got, err := client.Get(ctx, "item")
			if err != nil {
				b.Fatal(err)
			}
			if err := client.Delete(ctx, "item"); err != nil {
				b.Fatal(err)
			}
			back, err := store.DecodeBatch(got)
			if err != nil {
				b.Fatal(err)
			}
			if back.Len() != n {
				b.Fatal("rows lost")
			}
		}
		b.ReportMetric(float64(size)/float64(n), "bytes/record")
	}
	b.Run("pdata", pdata(false))
	b.Run("pdata+rows", pdata(true))
	b.Run("batch", batch(false))
	b.Run("batch+rows", batch(true))
	b.Run("batch+storage", storageRoundTrip)
}
