package analyticsexporter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"
)

// The persistent queue on a full file system.
//
// The exporterhelper's persistent queue writes its metadata (read index,
// items being dispatched) on every read of an item, and when that write
// fails it drops the item: an item it had accepted, so an event
// acknowledged to the sender, is lost. Once the queue's file system is
// full, every write fails that bbolt cannot fit into its free pages, so
// the items still queued when the file system filled are dropped one by
// one as the exporter reads them (fault scenario 8: about a quarter of the
// acknowledged events of a 16 MiB queue).
//
// The guard keeps the file system from filling: an item is not queued when
// it would leave less than queueDiskReserve free (the client is asked to
// retry, RESOURCE_EXHAUSTED / HTTP 429, as for a queue full by count), so
// the queue's own reads and deletes always find room. If the file system
// fills all the same (another writer), an item whose read fails with
// ENOSPC is read without the metadata update (the storage's copy lags the
// memory's until the next write; after a crash the item is read again,
// which the exporter's deduplication absorbs) rather than dropped.

// queueDiskReserve is the free space the guard keeps on the queue's file
// system: 1 MiB or 1% of it, whichever is larger.
func queueDiskReserve(total uint64) uint64 { return max(1<<20, total/100) }

// errQueueDiskFull is a put refused by the guard; it wraps
// exporterhelper.ErrQueueIsFull, which backPressure answers with
// RESOURCE_EXHAUSTED.
var errQueueDiskFull = fmt.Errorf("%w: the file system of the persistent queue (file_storage) is full", exporterhelper.ErrQueueIsFull)

// queueDisk is the guard of the exporter's persistent queue.
//
// bbolt does not give a file's pages back to the file system: the pages of
// the items it deletes go to its free list, and later items reuse them. So
// once the file system is at its reserve, the guard still lets an item in
// as long as the items deleted since have freed as many bytes (credit),
// or the queue would refuse for good after its first fill.
type queueDisk struct {
	storageID *component.ID // the queue's storage extension (nil: in memory)
	logger    *zap.Logger
	path      atomic.Pointer[string] // the queue's file, once found
	refused   atomic.Int64           // requests refused for want of room
	atReserve atomic.Bool            // the last check found the file system at its reserve

	mu     sync.Mutex
	sizes  map[string]uint64 // bytes of the items in the file, by key (those put or read by this process)
	credit uint64            // bytes of the items deleted that no item reused since
}

// free returns the free bytes on the queue's file system and the reserve
// to keep, ok false when the file is not known.
func (d *queueDisk) free() (avail, reserve uint64, ok bool) {
	p := d.path.Load()
	if p == nil {
		return 0, 0, false
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(*p, &st); err != nil {
		return 0, 0, false
	}
	bs := uint64(st.Bsize) //nolint:gosec // a block size
	return st.Bavail * bs, queueDiskReserve(st.Blocks * bs), true
}

// full reports whether n more bytes would eat into the reserve (n 0: a
// request about to be queued, before its size is known) and the freed
// pages of the file would not hold them.
func (d *queueDisk) full(n uint64) bool {
	avail, reserve, ok := d.free()
	d.mu.Lock()
	full := ok && avail < reserve+n && d.credit < max(n, 1)
	d.mu.Unlock()
	if full && !d.atReserve.Swap(true) {
		d.logger.Warn("the persistent queue's file system is full: new data is refused (retryable) until the queue drains",
			zap.String("file", *d.path.Load()), zap.Uint64("free_bytes", avail), zap.Uint64("reserve_bytes", reserve))
	}
	if !full && n == 0 && d.atReserve.Swap(false) {
		d.logger.Info("the persistent queue has room again", zap.Uint64("free_bytes", avail))
	}
	return full
}

// written records a batch that went through: items put or read (their
// size), items deleted (their pages free for the next ones).
func (d *queueDisk) written(ops []*storage.Operation) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sizes == nil {
		d.sizes = map[string]uint64{}
	}
	for _, op := range ops {
		if isQueueMeta(op.Key) {
			continue
		}
		switch op.Type {
		case storage.Set:
			n := uint64(len(op.Value))
			d.sizes[op.Key] = n
			d.credit -= min(d.credit, n) // bbolt takes free pages first
		case storage.Get:
			if op.Value != nil {
				d.sizes[op.Key] = uint64(len(op.Value))
			}
		case storage.Delete:
			d.credit += d.sizes[op.Key]
			delete(d.sizes, op.Key)
		}
	}
}

// host returns host with the queue's storage extension wrapped.
func (d *queueDisk) host(host component.Host) component.Host {
	if d.storageID == nil || host == nil {
		return host
	}
	ext, ok := host.GetExtensions()[*d.storageID].(storage.Extension)
	if !ok {
		return host // the exporterhelper reports it
	}
	exts := map[component.ID]component.Component{}
	for id, c := range host.GetExtensions() {
		exts[id] = c
	}
	exts[*d.storageID] = guardedStorage{Extension: ext, d: d}
	return wrappedHost{Host: host, exts: exts}
}

type wrappedHost struct {
	component.Host
	exts map[component.ID]component.Component
}

func (h wrappedHost) GetExtensions() map[component.ID]component.Component { return h.exts }

type guardedStorage struct {
	storage.Extension
	d *queueDisk
}

// GetClient returns the extension's client with the guard, and finds the
// file the client opened (file_storage names it kind_type_name_signal in
// its directory) to watch its file system.
func (g guardedStorage) GetClient(ctx context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	c, err := g.Extension.GetClient(ctx, kind, id, name)
	if err != nil || kind != component.KindExporter {
		return c, err
	}
	base := fmt.Sprintf("exporter_%s_%s", id.Type(), id.Name())
	if name != "" {
		base += "_" + name
	}
	if p, ok := openFile(base); ok {
		g.d.path.Store(&p)
	} else {
		g.d.logger.Warn("the persistent queue's file was not found among the open files: its file system is not watched",
			zap.String("file", base))
	}
	return guardedClient{Client: c, d: g.d}, nil
}

// openFile returns the path of a file the process has open whose name is
// base (Linux: /proc/self/fd).
func openFile(base string) (string, bool) {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return "", false
	}
	for _, fd := range fds {
		p, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && filepath.Base(p) == base {
			return p, true
		}
	}
	return "", false
}

type guardedClient struct {
	storage.Client
	d *queueDisk
}

// Batch refuses a batch that queues an item when the file system is at its
// reserve, and reads an item without the metadata update when the read
// failed on a full file system.
func (c guardedClient) Batch(ctx context.Context, ops ...*storage.Operation) error {
	var put uint64
	gets := false
	for _, op := range ops {
		switch {
		case op.Type == storage.Get:
			gets = true
		case op.Type == storage.Set && !isQueueMeta(op.Key):
			put += uint64(len(op.Value))
		}
	}
	if put > 0 && c.d.full(put) {
		c.d.refused.Add(1)
		return errQueueDiskFull
	}
	err := c.Client.Batch(ctx, ops...)
	if err == nil {
		c.d.written(ops)
		return nil
	}
	if !errors.Is(err, syscall.ENOSPC) {
		return err
	}
	if put > 0 {
		return fmt.Errorf("%w: %w", errQueueDiskFull, err)
	}
	if !gets {
		return err
	}
	for _, op := range ops {
		if op.Type != storage.Get {
			continue
		}
		v, gerr := c.Get(ctx, op.Key)
		if gerr != nil {
			return errors.Join(err, gerr)
		}
		op.Value = v
	}
	c.d.written(ops)
	return nil
}

// isQueueMeta reports whether key is one of the persistent queue's own
// keys (its metadata) rather than a queued item (an index in decimal).
func isQueueMeta(key string) bool {
	_, err := strconv.ParseUint(key, 10, 64)
	return err != nil
}
