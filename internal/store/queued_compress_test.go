package store

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestQueuedFormVersion1: an item of the previous release (version 1, the
// rows uncompressed) is read as the same batch; version 2 is exactly its
// body as one s2 block, and a batch read from either encodes to the same
// version 2 item.
func TestQueuedFormVersion1(t *testing.T) {
	t.Parallel()
	loc, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)
	ld, raws := queuedMix(t)
	b := Convert(loc, ld)
	v2, err := b.AppendBinary(nil)
	require.NoError(t, err)
	v1 := appendVersion1(nil, b.appendBody(nil))
	require.Equal(t, []byte{BatchMagic, batchVersionRows}, v1[:2])
	require.Equal(t, []byte{BatchMagic, batchVersionS2}, v2[:2])
	body, err := s2.Decode(nil, v2[2:])
	require.NoError(t, err)
	assert.Equal(t, v1[2:], body, "version 2 is version 1's body, compressed")
	assert.Less(t, len(v2), len(v1))

	for name, item := range map[string][]byte{"version 1": v1, "version 2": v2} {
		got, err := DecodeBatch(item)
		require.NoError(t, err, name)
		assertSameRows(t, b, got, raws, name)
		again, err := got.AppendBinary(nil)
		require.NoError(t, err)
		assert.Equal(t, v2, again, name)
	}

	// AppendBinary appends to dst and leaves it as it was.
	dst := []byte("prefix")
	out, err := b.AppendBinary(dst[:len(dst):len(dst)])
	require.NoError(t, err)
	assert.Equal(t, "prefix", string(dst))
	assert.Equal(t, append([]byte("prefix"), v2...), out)
}

// TestDecodeBatchOwnsItsMemory: a batch of version 2 does not refer to the
// item it was read from (the queue may reuse it).
func TestDecodeBatchOwnsItsMemory(t *testing.T) {
	t.Parallel()
	ld, raws := queuedMix(t)
	b := Convert(time.UTC, ld)
	item, err := b.AppendBinary(nil)
	require.NoError(t, err)
	got, err := DecodeBatch(item)
	require.NoError(t, err)
	for i := range item {
		item[i] = 0xff
	}
	for i := range got.events {
		assert.Equal(t, b.events[i].tuple, got.events[i].tuple)
		assert.Equal(t, b.events[i].eventID, got.events[i].eventID)
		assert.Equal(t, string(raws[i]), string(rawJSON(got.events[i].source())))
	}
	assert.Equal(t, b.rejected, got.rejected)
}

// TestDecodeBatchBounded: a block that says it decodes to more than
// maxDecodedBody is refused before anything is allocated for it.
func TestDecodeBatchBounded(t *testing.T) {
	// Not parallel: it counts the bytes allocated.
	for _, n := range []uint64{decodedFloor + 1, 1 << 31, 0xffffffff, 1 << 40} {
		item := binary.AppendUvarint([]byte{BatchMagic, batchVersionS2}, n)
		item = append(item, make([]byte, 64)...)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := DecodeBatch(item)
		runtime.ReadMemStats(&after)
		require.Error(t, err, "decoded length %d", n)
		assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20), "decoded length %d", n)
	}
	assert.Equal(t, decodedFloor, maxDecodedBody(1000))
	assert.Equal(t, 64*(2<<20), maxDecodedBody(2<<20))
	// A length the block cannot hold is an error too, not a short batch.
	item := binary.AppendUvarint([]byte{BatchMagic, batchVersionS2}, 1<<20)
	_, err := DecodeBatch(append(item, 0, 'x'))
	require.Error(t, err)
}

// TestAppendItemTooCompressible: a body that DecodeBatch would refuse as
// compressed (beyond 64 MiB, compressing more than 64 times) is written as
// version 1, read as it is.
func TestAppendItemTooCompressible(t *testing.T) {
	t.Parallel()
	var sc scratch
	body := make([]byte, decodedFloor+1) // zeros: an s2 block of a few KB
	item := sc.appendItem(nil, body)
	require.Equal(t, []byte{BatchMagic, batchVersionRows}, item[:2])
	assert.Len(t, item, 2+len(body))
	// At the floor, or compressing less, it is version 2.
	item = sc.appendItem(nil, body[:decodedFloor])
	require.Equal(t, []byte{BatchMagic, batchVersionS2}, item[:2])
	n, err := s2.DecodedLen(item[2:])
	require.NoError(t, err)
	assert.Equal(t, decodedFloor, n)
	assert.Equal(t, math.MaxInt, maxDecodedBody(math.MaxInt/2))
}

// TestDecodeBatchDamagedBlocks: bytes of a compressed item changed at
// random, or random bytes after the version, are an error or a batch (s2
// blocks carry no checksum: a changed literal decodes), never a panic, and
// a batch read from a damaged item still encodes.
func TestDecodeBatchDamagedBlocks(t *testing.T) {
	t.Parallel()
	ld, _ := queuedMix(t)
	item, err := Convert(time.UTC, ld).AppendBinary(nil)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		bad := append([]byte{}, item...)
		for range 1 + rng.IntN(4) {
			i := 2 + rng.IntN(len(bad)-2)
			bad[i] ^= byte(1 + rng.IntN(255))
		}
		if got, err := DecodeBatch(bad); err == nil {
			_, err := got.AppendBinary(nil)
			require.NoError(t, err)
		}
	}
	for range 500 {
		junk := make([]byte, 2+rng.IntN(300))
		junk[0], junk[1] = BatchMagic, batchVersionS2
		for i := 2; i < len(junk); i++ {
			junk[i] = byte(rng.Uint32())
		}
		_, _ = DecodeBatch(junk)
	}
}

// FuzzDecodeBatch: any item is an error or a batch that encodes again.
func FuzzDecodeBatch(f *testing.F) {
	ld, _ := queuedMix(f)
	b := Convert(time.UTC, ld)
	v2, err := b.AppendBinary(nil)
	require.NoError(f, err)
	f.Add(v2)
	f.Add(appendVersion1(nil, b.appendBody(nil)))
	f.Add([]byte{BatchMagic, batchVersionS2, 0})
	f.Fuzz(func(t *testing.T, item []byte) {
		got, err := DecodeBatch(item)
		if err != nil {
			return
		}
		again, err := got.AppendBinary(nil)
		require.NoError(t, err)
		back, err := DecodeBatch(again)
		require.NoError(t, err)
		require.Equal(t, got.Len(), back.Len())
	})
}
