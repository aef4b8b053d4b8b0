package analyticsexporter

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/plog"
	pdatareq "go.opentelemetry.io/collector/pdata/xpdata/request"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-analytics/otelcol-analytics/internal/store"
)

// fileStorageAt starts a file_storage extension on dir; stop shuts it down.
func fileStorageAt(t *testing.T, dir string) (id component.ID, host component.Host, stop func()) {
	t.Helper()
	f := filestorage.NewFactory()
	cfg := f.CreateDefaultConfig().(*filestorage.Config)
	cfg.Directory = dir
	id = component.NewIDWithName(f.Type(), "queue")
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), nil))
	return id, storageHost{exts: map[component.ID]component.Component{id: ext}}, func() {
		require.NoError(t, ext.Shutdown(context.Background()))
	}
}

// TestQueueFromOlderCollectorIsWritten: a queue directory written by the
// previous collector holds pdata protobuf items. The exporterhelper of
// that collector (exporterhelper.NewLogs, the stock logs encoding) queues
// two requests and cannot write them (it stops before they are); this
// exporter starts on the same directory, reads them back and stores every
// event once.
func TestQueueFromOlderCollectorIsWritten(t *testing.T) {
	t.Parallel()
	h := newHarness(t, true)
	dir := t.TempDir()
	ctx := context.Background()
	first := messages("u", 30, "2025-12-13")
	second := messages("v", 20, "2025-12-14")
	second = append(second, first[0]) // a resend: a duplicate

	// The old collector: items are queued, every write fails until it stops.
	id, host, stop := fileStorageAt(t, dir)
	old := *h.cfg
	queue := *h.cfg.QueueConfig.Get()
	queue.StorageID = &id
	queue.Batch = configoptional.None[exporterhelper.BatchConfig]()
	old.QueueConfig = configoptional.Some(queue)
	old.RetryConfig.InitialInterval = time.Hour
	attempts := make(chan struct{}, 100)
	set := h.settings() // the same exporter id, as after a restart
	oldExp, err := exporterhelper.NewLogs(ctx, set, &old,
		func(context.Context, plog.Logs) error {
			attempts <- struct{}{}
			return errors.New("PostgreSQL is away")
		},
		exporterhelper.WithRetry(old.RetryConfig),
		exporterhelper.WithQueue(old.QueueConfig))
	require.NoError(t, err)
	require.NoError(t, oldExp.Start(ctx, host))
	require.NoError(t, oldExp.ConsumeLogs(ctx, normalisedLogs(t, first...)))
	require.NoError(t, oldExp.ConsumeLogs(ctx, normalisedLogs(t, second...)))
	<-attempts // the first item is being retried, the second waits
	require.NoError(t, oldExp.Shutdown(ctx))
	stop()

	// This collector, on the same queue directory.
	id, host, stop = fileStorageAt(t, dir)
	defer stop()
	h.cfg.QueueConfig.Get().StorageID = &id
	exp, err := createLogsWith(ctx, set, h.cfg, nil)
	require.NoError(t, err)
	require.NoError(t, exp.Start(ctx, host))
	h.waitCount(t, `SELECT count(*) FROM analytics_events`, 50)
	require.Eventually(t, func() bool { return h.sumMetric(t, metricEventsDuplicate)[""] == 1 }, 30*time.Second, 20*time.Millisecond)
	require.NoError(t, exp.Shutdown(ctx))

	assert.Equal(t, 50, h.count(t, `SELECT count(DISTINCT event_id) FROM analytics_events`))
	assert.Equal(t, 0, h.count(t, `SELECT count(*) FROM analytics_rejected_events`))
	assert.Equal(t, map[string]int64{"": 50}, h.sumMetric(t, metricEventsWritten))
	var redis int64
	for _, r := range h.redisDays(t, "2025-12-13", "2025-12-14") {
		if r.AgentID == "" {
			redis += r.Events
		}
	}
	assert.Equal(t, int64(50), redis)
}

// TestBatchEncoding: the queue's encoding reads back what it wrote, and
// reads the two pdata encodings of an older collector (the request with
// its context, and plain protobuf) as the same batch Convert makes.
func TestBatchEncoding(t *testing.T) {
	t.Parallel()
	enc := batchEncoding{loc: time.UTC}
	ld := normalisedLogs(t, messages("e", 5, "2025-12-13")...)
	want := store.Convert(time.UTC, ld)
	wantBuf, err := want.AppendBinary(nil)
	require.NoError(t, err)

	buf, err := enc.Marshal(context.Background(), &batchRequest{b: want})
	require.NoError(t, err)
	assert.Equal(t, wantBuf, buf)
	_, req, err := enc.Unmarshal(buf)
	require.NoError(t, err)
	assert.Equal(t, 5, req.ItemsCount())

	withCtx, err := pdatareq.MarshalLogs(context.Background(), ld)
	require.NoError(t, err)
	plain, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	require.NoError(t, err)
	for name, old := range map[string][]byte{"request with context": withCtx, "plain protobuf": plain} {
		_, req, err := enc.Unmarshal(old)
		require.NoError(t, err, name)
		got, err := req.(*batchRequest).b.AppendBinary(nil)
		require.NoError(t, err)
		assert.Equal(t, wantBuf, got, name)
	}

	_, _, err = enc.Unmarshal([]byte{store.BatchMagic, 1, 0xff})
	require.Error(t, err, "a damaged batch is an error")
	_, _, err = enc.Unmarshal([]byte{store.BatchMagic, 2, 0xff, 0xff, 0xff, 0xff, 0x0f, 0})
	require.Error(t, err, "a damaged compressed batch is an error")
}

// TestBatchEncodingReadsVersion1: the previous release queued batches of
// version 1 (the rows uncompressed); they are read as the same batch, and
// this release writes version 2 (the same rows as one s2 block).
func TestBatchEncodingReadsVersion1(t *testing.T) {
	t.Parallel()
	enc := batchEncoding{loc: time.UTC}
	ld := normalisedLogs(t, messages("e", 5, "2025-12-13")...)
	v2, err := enc.Marshal(context.Background(), &batchRequest{b: store.Convert(time.UTC, ld)})
	require.NoError(t, err)
	require.Equal(t, []byte{store.BatchMagic, 2}, v2[:2])
	body, err := s2.Decode(nil, v2[2:])
	require.NoError(t, err)
	v1 := append([]byte{store.BatchMagic, 1}, body...)

	_, req, err := enc.Unmarshal(v1)
	require.NoError(t, err)
	assert.Equal(t, 5, req.ItemsCount())
	again, err := enc.Marshal(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, v2, again)
}

// TestBatchEncodingLogsUnreadable: an item the queue would drop (damaged,
// of a newer release's version, not pdata either) is logged at error level
// with its size and reason before the exporter helper drops it.
func TestBatchEncodingLogsUnreadable(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zap.InfoLevel)
	enc := batchEncoding{loc: time.UTC, logger: zap.New(core)}
	for name, item := range map[string][]byte{
		"damaged compressed batch":  {store.BatchMagic, 2, 0xff, 0xff, 0xff, 0xff, 0x0f, 0},
		"a newer release's version": {store.BatchMagic, 3, 1, 2, 3},
		"neither batch nor pdata":   {0xff, 0xff, 0xff},
	} {
		_, _, err := enc.Unmarshal(item)
		require.Error(t, err, name)
		entries := logs.TakeAll()
		require.Len(t, entries, 1, name)
		assert.Equal(t, zap.ErrorLevel, entries[0].Level, name)
		assert.Contains(t, entries[0].Message, "cannot be read; the sending queue drops it", name)
		fields := entries[0].ContextMap()
		assert.Equal(t, int64(len(item)), fields["item_bytes"], name)
		assert.Equal(t, err.Error(), fields["error"], name)
	}
	ld := normalisedLogs(t, messages("e", 2, "2025-12-13")...)
	buf, err := enc.Marshal(context.Background(), &batchRequest{b: store.Convert(time.UTC, ld)})
	require.NoError(t, err)
	_, _, err = enc.Unmarshal(buf)
	require.NoError(t, err)
	assert.Zero(t, logs.Len(), "a readable item logs nothing")
}

// TestMergeSplit: requests merge and split by records, as the batcher asks.
func TestMergeSplit(t *testing.T) {
	t.Parallel()
	a := &batchRequest{b: store.Convert(time.UTC, normalisedLogs(t, messages("a", 7, "2025-12-13")...))}
	b := &batchRequest{b: store.Convert(time.UTC, normalisedLogs(t, messages("b", 5, "2025-12-13")...))}
	out, err := a.MergeSplit(context.Background(), 5, exporterhelper.RequestSizerTypeItems, b)
	require.NoError(t, err)
	var sizes []int
	for _, r := range out {
		sizes = append(sizes, r.ItemsCount())
	}
	assert.Equal(t, []int{5, 5, 2}, sizes)
	assert.Equal(t, 7, a.ItemsCount(), "the merged request does not change")
	out, err = a.MergeSplit(context.Background(), 0, exporterhelper.RequestSizerTypeItems, nil)
	require.NoError(t, err)
	require.Len(t, out, 1)
	assert.Equal(t, 7, out[0].ItemsCount())
	_, err = a.MergeSplit(context.Background(), 5, exporterhelper.RequestSizerTypeBytes, b)
	require.ErrorContains(t, err, "items")
}
