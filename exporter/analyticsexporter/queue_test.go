package analyticsexporter

import (
	"context"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/plog"
)

// storageHost is a component.Host that offers one storage extension.
type storageHost struct {
	exts map[component.ID]component.Component
}

func (h storageHost) GetExtensions() map[component.ID]component.Component { return h.exts }

// startFileStorage starts a file_storage extension on a directory of the
// test's own and returns a host that offers it.
func startFileStorage(t *testing.T) (component.ID, component.Host) {
	t.Helper()
	f := filestorage.NewFactory()
	cfg := f.CreateDefaultConfig().(*filestorage.Config)
	cfg.Directory = t.TempDir()
	id := component.NewIDWithName(f.Type(), "queue")
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), nil))
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(context.Background())) })
	return id, storageHost{exts: map[component.ID]component.Component{id: ext}}
}

// nested returns a value nested d maps deep.
func nested(d int) any {
	var v any = "leaf"
	for i := 0; i < d; i++ {
		v = map[string]any{"k": v}
	}
	return v
}

// TestPersistentQueueNeverDropsAnItem sends, through the persistent queue
// (file_storage, protobuf on disk), records nested far deeper than pdata's
// protobuf decoder reads back — with and without the processor's
// normalised attributes. Without the guard in front of the queue the queue
// would drop each whole request on reading it back (a debug log); with it,
// every record ends up stored: the good ones as events, the deep ones in
// the rejected table as too_deep.
func TestPersistentQueueNeverDropsAnItem(t *testing.T) {
	t.Parallel()
	h := newHarness(t, true)
	id, host := startFileStorage(t)
	h.cfg.QueueConfig.Get().StorageID = &id
	exp, err := createLogsWith(context.Background(), h.settings(), h.cfg, nil)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), host))
	ctx := context.Background()

	ld := normalisedLogs(t, messages("q", 10, "2025-12-13")...)
	lrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	// An accepted record that grew a deep attribute after the processor.
	require.NoError(t, lrs.At(3).Attributes().PutEmpty("meta").FromRaw(nested(40)))
	// Records that never passed the processor: deep attribute, deep body.
	raw := lrs.AppendEmpty()
	raw.SetEventName("session.message")
	raw.Attributes().PutStr("event.id", "raw-1")
	require.NoError(t, raw.Attributes().PutEmpty("meta").FromRaw(nested(200)))
	body := lrs.AppendEmpty()
	body.SetEventName("session.message")
	body.Attributes().PutStr("event.id", "raw-2")
	require.NoError(t, body.Body().FromRaw(nested(1000)))
	sent := ld.LogRecordCount()
	before := plog.NewLogs()
	ld.CopyTo(before)

	require.NoError(t, exp.ConsumeLogs(ctx, ld))
	assert.Equal(t, before, ld, "the pipeline's data is not modified")
	h.waitCount(t, `SELECT (SELECT count(*) FROM analytics_events) + (SELECT count(*) FROM analytics_rejected_events)`, sent)
	require.NoError(t, exp.Shutdown(ctx))

	assert.Equal(t, 9, h.count(t, `SELECT count(*) FROM analytics_events`))
	assert.Equal(t, 0, h.count(t, `SELECT count(*) FROM analytics_events WHERE event_id = 'q00003'`))
	assert.Equal(t, 3, h.count(t, `SELECT count(*) FROM analytics_rejected_events WHERE reason = 'too_deep'`))
	assert.Equal(t, 1, h.count(t, `SELECT count(*) FROM analytics_rejected_events WHERE reason = 'too_deep' AND field = 'meta' AND event_id = 'q00003'`))
	assert.Equal(t, 1, h.count(t, `SELECT count(*) FROM analytics_rejected_events WHERE reason = 'too_deep' AND field = 'body'`))
	assert.Equal(t, map[string]int64{"": 3}, h.sumMetric(t, metricRecordsGuarded))
}

// TestExporterCountsDuplicatesAndConflicts: an exact resend is a duplicate,
// the same id with other content a conflict, each in its own metric.
func TestExporterCountsDuplicatesAndConflicts(t *testing.T) {
	t.Parallel()
	h := newHarness(t, true)
	exp := h.start(t, nil)
	ctx := context.Background()
	first := messages("c", 3, "2025-12-13")
	require.NoError(t, exp.ConsumeLogs(ctx, normalisedLogs(t, first...)))
	h.waitCount(t, `SELECT count(*) FROM analytics_events`, 3)

	again := messages("c", 3, "2025-12-13")
	again[2].attrs = map[string]any{"session_id": "other", "response_time_ms": 9.0} // c00002, other content
	require.NoError(t, exp.ConsumeLogs(ctx, normalisedLogs(t, again...)))
	h.waitCount(t, `SELECT count(*) FROM analytics_rejected_events WHERE reason = 'duplicate_conflict' AND event_id = 'c00002'`, 1)
	require.NoError(t, exp.Shutdown(ctx))

	assert.Equal(t, 3, h.count(t, `SELECT count(*) FROM analytics_events`))
	assert.Equal(t, map[string]int64{"": 3}, h.sumMetric(t, metricEventsWritten))
	assert.Equal(t, map[string]int64{"": 2}, h.sumMetric(t, metricEventsDuplicate))
	assert.Equal(t, map[string]int64{"": 1}, h.sumMetric(t, metricEventsConflict))
	assert.Equal(t, map[string]int64{"duplicate_conflict": 1}, h.sumMetric(t, metricRecordsRejected))
}
