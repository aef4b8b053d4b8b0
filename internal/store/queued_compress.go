package store

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"unsafe"

	"github.com/klauspost/compress/s2"
)

// The compressed queued form (version 2): BatchMagic, batchVersionS2, then
// the body of version 1 (appendBody) as one s2 block (s2.Encode). The
// persistent queue's cost is per byte (bbolt allocates, copies and writes
// every page of a value), and the body compresses about 3.5 times.
//
// A block says its decoded length first. DecodeBatch refuses a length above
// maxDecodedBody(len(block)) before it allocates, so a damaged item is an
// error, never a huge allocation; AppendBinary writes a body beyond that
// bound (a batch of more than 64 MiB that compresses more than 64 times) as
// version 1, which is read as it is.

const (
	// decodedFloor is the decoded length always accepted.
	decodedFloor = 64 << 20
	// decodedRatio bounds the decoded length of a longer block: at most
	// this many times the block's own length.
	decodedRatio = 64
	// pooledMax is the largest scratch buffer kept for the next batch.
	pooledMax = 16 << 20
)

// maxDecodedBody is the longest body a block of n bytes may decode to.
func maxDecodedBody(n int) int {
	if n > math.MaxInt/decodedRatio {
		return math.MaxInt
	}
	return max(decodedFloor, decodedRatio*n)
}

// scratch holds the buffers AppendBinary reuses: the body and its block.
// Neither is referred to after AppendBinary returns.
type scratch struct{ body, block []byte }

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// AppendBinary appends the encoded batch (version 2) to dst.
func (b *Batch) AppendBinary(dst []byte) ([]byte, error) {
	sc := scratchPool.Get().(*scratch)
	defer func() {
		if cap(sc.body) > pooledMax {
			sc.body = nil
		}
		if cap(sc.block) > pooledMax {
			sc.block = nil
		}
		scratchPool.Put(sc)
	}()
	sc.body = b.appendBody(sc.body[:0])
	return sc.appendItem(dst, sc.body), nil
}

// appendItem appends the encoded batch of body to dst: version 2, or
// version 1 when DecodeBatch would refuse the block.
func (sc *scratch) appendItem(dst, body []byte) []byte {
	bound := s2.MaxEncodedLen(len(body))
	if bound < 0 { // beyond s2's 4 GiB block: not expected
		return appendVersion1(dst, body)
	}
	if cap(sc.block) < bound {
		sc.block = make([]byte, bound)
	}
	block := s2.Encode(sc.block[:bound], body)
	if len(body) > maxDecodedBody(len(block)) {
		return appendVersion1(dst, body)
	}
	out := make([]byte, len(dst), len(dst)+2+len(block))
	copy(out, dst)
	out = append(out, BatchMagic, batchVersionS2)
	return append(out, block...)
}

// appendVersion1 appends an encoded batch of version 1 with body to dst.
func appendVersion1(dst, body []byte) []byte {
	out := make([]byte, len(dst), len(dst)+2+len(body))
	copy(out, dst)
	out = append(out, BatchMagic, batchVersionRows)
	return append(out, body...)
}

// DecodeBatch decodes an encoded batch of version 1 or 2. A batch of
// version 1 refers to buf (which the caller must not change afterwards); one
// of version 2 owns its memory (the decompressed body, which its rows refer
// to).
func DecodeBatch(buf []byte) (*Batch, error) {
	if len(buf) == 0 || buf[0] != BatchMagic {
		return nil, ErrNotBatch
	}
	if len(buf) < 2 {
		return nil, errors.New("store: decode batch: truncated")
	}
	switch buf[1] {
	case batchVersionRows:
		body := buf[2:]
		return decodeBody(body, string(body))
	case batchVersionS2:
		block := buf[2:]
		n, err := s2.DecodedLen(block)
		if err != nil {
			return nil, fmt.Errorf("store: decode batch: %w", err)
		}
		if n > maxDecodedBody(len(block)) {
			return nil, fmt.Errorf("store: decode batch: %d bytes compressed to %d, more than this collector accepts", n, len(block))
		}
		body, err := s2.Decode(make([]byte, n), block)
		if err != nil {
			return nil, fmt.Errorf("store: decode batch: %w", err)
		}
		if n == 0 {
			return decodeBody(body, "")
		}
		// body is the batch's own and is never written again: its rows'
		// strings and byte slices may share it.
		return decodeBody(body, unsafe.String(&body[0], n)) //nolint:gosec // G103: see above

	}
	return nil, fmt.Errorf("store: encoded batch of version %d, this collector reads versions %d and %d", buf[1], batchVersionRows, batchVersionS2)
}
