package analyticsexporter

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/otelcol-analytics/otelcol-analytics/internal/testdb"
)

// smallFS mounts a tmpfs of size bytes for the test (unmounted at its end).
func smallFS(t *testing.T, size int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "fs")
	require.NoError(t, os.Mkdir(dir, 0o700))
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		if os.Geteuid() != 0 {
			t.Skipf("mount -t tmpfs needs root (euid %d): %v: %s", os.Geteuid(), err, out)
		}
		t.Fatalf("mount -t tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		out, err := exec.Command("umount", dir).CombinedOutput()
		assert.NoError(t, err, "umount: %s", out)
	})
	return dir
}

// TestQueueOnFullDisk puts the persistent queue on a 4 MiB file system with
// PostgreSQL unreachable, and sends until the exporter refuses: the refusal
// is the retryable RESOURCE_EXHAUSTED, the file system keeps its reserve,
// and once PostgreSQL is back every accepted event is stored. Without the
// guard the file system fills and the queue drops accepted items when it
// reads them back (fault scenario 8).
func TestQueueOnFullDisk(t *testing.T) {
	t.Parallel()
	const size = 4 << 20
	dir := smallFS(t, size)
	h := newHarness(t, true)
	u, err := url.Parse(string(h.cfg.Postgres.DSN))
	require.NoError(t, err)
	proxy := testdb.StartProxy(t, u.Host)
	proxy.Close()
	u.Host = proxy.Addr
	h.cfg.Postgres.DSN = configopaque.String(u.String())

	f := filestorage.NewFactory()
	fcfg := f.CreateDefaultConfig().(*filestorage.Config)
	fcfg.Directory = dir
	id := component.NewIDWithName(f.Type(), "queue")
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), fcfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), nil))
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(context.Background())) })
	h.cfg.QueueConfig.Get().StorageID = &id
	exp, logs := h.startObserved(t, storageHost{exts: map[component.ID]component.Component{id: ext}}, nil)
	ctx := context.Background()
	// Shut down before the file system is unmounted, also when the test fails.
	t.Cleanup(func() { require.NoError(t, exp.Shutdown(ctx)) })

	accepted := 0
	var refusal error
	for i := 0; refusal == nil; i++ {
		require.Less(t, i, 2000, "no refusal after %d requests of 200 events on a %d MiB queue", i, size>>20)
		err := exp.ConsumeLogs(ctx, normalisedLogs(t, messages(fmt.Sprintf("d%04d-", i), 200, "2025-12-22")...))
		if err != nil {
			refusal = err
			break
		}
		accepted += 200
	}
	st, ok := status.FromError(refusal)
	require.True(t, ok, "a gRPC status: %v", refusal)
	assert.Equal(t, codes.ResourceExhausted, st.Code(), "%v", refusal)
	assert.Contains(t, st.Message(), "persistent queue is full")
	var fs syscall.Statfs_t
	require.NoError(t, syscall.Statfs(dir, &fs))
	free := fs.Bavail * uint64(fs.Bsize) //nolint:gosec // a block size
	assert.GreaterOrEqual(t, free, uint64(1<<20)-256<<10, "the reserve is kept (give or take the last item)")
	assert.Greater(t, accepted, 2000, "the queue took a good part of its file system first")
	assert.Equal(t, 1, logs.FilterMessageSnippet("file system is full").Len(), "one warning")

	proxy.Open()
	h.waitCount(t, `SELECT count(*) FROM analytics_events`, accepted)
	h.waitCount(t, `SELECT count(*) FROM analytics_redis_outbox`, 0)
	require.Eventually(t, func() bool {
		return exp.ConsumeLogs(ctx, normalisedLogs(t, messages("after-", 200, "2025-12-22")...)) == nil
	}, 30*time.Second, 50*time.Millisecond, "taken again once the queue drained")
	h.waitCount(t, `SELECT count(*) FROM analytics_events`, accepted+200)
}

// enospcClient is a storage client on a full file system: every batch
// that writes fails with ENOSPC, reads alone succeed.
type enospcClient struct {
	storage.Client
	data map[string][]byte
}

func (c enospcClient) Batch(_ context.Context, ops ...*storage.Operation) error {
	for _, op := range ops {
		if op.Type != storage.Get {
			return &os.PathError{Op: "write", Path: "/q/exporter_analytics__logs", Err: syscall.ENOSPC}
		}
	}
	for _, op := range ops {
		op.Value = c.data[op.Key]
	}
	return nil
}

func (c enospcClient) Get(ctx context.Context, key string) ([]byte, error) {
	op := storage.GetOperation(key)
	err := c.Batch(ctx, op)
	return op.Value, err
}

// TestQueueGuardOnENOSPC: when the file system fills all the same (another
// writer), queuing an item is the retryable queue-full refusal, and reading
// one back succeeds without its metadata update instead of failing (which
// makes the exporterhelper's persistent queue drop the item).
func TestQueueGuardOnENOSPC(t *testing.T) {
	t.Parallel()
	c := guardedClient{Client: enospcClient{data: map[string][]byte{"7": []byte("item")}}, d: &queueDisk{logger: zap.NewNop()}}
	ctx := context.Background()

	put := c.Batch(ctx, storage.SetOperation("qmv0", []byte("meta")), storage.SetOperation("8", []byte("new")))
	require.ErrorIs(t, put, exporterhelper.ErrQueueIsFull)
	require.ErrorIs(t, put, syscall.ENOSPC)
	st, ok := status.FromError(backPressure(put))
	require.True(t, ok)
	assert.Equal(t, codes.ResourceExhausted, st.Code())
	assert.Contains(t, st.Message(), "persistent queue is full")

	get := storage.GetOperation("7")
	require.NoError(t, c.Batch(ctx, storage.SetOperation("qmv0", []byte("meta")), get), "the read of an item does not fail")
	assert.Equal(t, []byte("item"), get.Value)

	del := c.Batch(ctx, storage.SetOperation("qmv0", []byte("meta")), storage.DeleteOperation("7"))
	require.ErrorIs(t, del, syscall.ENOSPC, "a delete's failure is the queue's to log")
	assert.NotErrorIs(t, del, exporterhelper.ErrQueueIsFull)
}
