package normalize

import (
	"crypto/sha256"
	"encoding/binary"
	"math"
	"slices"
	"strings"
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
)

// idDomain separates this encoding from any other use of sha256; bump the
// version if the encoding ever changes (ids would change with it).
const idDomain = "otelcol-analytics event id v1\x00"

// Type tags of the canonical encoding.
const (
	tagEmpty  = 'e'
	tagStr    = 's'
	tagInt    = 'i'
	tagDouble = 'd'
	tagBool   = 'b'
	tagBytes  = 'y'
	tagMap    = 'm'
	tagSlice  = 'a'
)

// rejectDomain prefixes the key of a refusal (catalog.AttrRejectKey),
// followed by the reason and a NUL.
const rejectDomain = "otelcol-analytics reject key v1\x00"

// DeriveEventID returns the deterministic id of an event that has no
// event.id: the first 16 bytes, as 32 hex digits, of the sha256 of a
// canonical encoding of product, name, the event time ts (the time Record
// used: Timestamp, else ObservedTimestamp, else the time received) and every
// attribute except event.id and analytics.*, sorted by key. Every string is
// length-prefixed and every value carries its type, so "1" and 1 differ;
// nested maps are sorted by key and slices kept in order.
//
// Record derives the id over the normalised attributes: an int sent for a
// double attribute of the catalog counts as that double, so a record that
// passes the processor twice keeps its id. For an accepted record,
// DeriveEventID over its (normalised) attributes and event time equals the
// id Record set.
func DeriveEventID(product, name string, ts pcommon.Timestamp, attrs pcommon.Map) string {
	sum := hashContent(idDomain, product, name, ts, attrs, nil, nil)
	return idHex(&sum)
}

type kv struct {
	k string
	v pcommon.Value
}

// idScratch is the per-call working memory of hashContent, pooled.
type idScratch struct {
	buf []byte
	kvs []kv
	// used is the most of kvs this call filled: only that much holds
	// references to clear before pooling.
	used int
}

var idScratchPool = sync.Pool{New: func() any {
	return &idScratch{buf: make([]byte, 0, 1024), kvs: make([]kv, 0, 32)}
}}

// hashContent is the sha256 of domain and the canonical encoding of an
// event's content (see DeriveEventID). When ev is not nil, an int value of
// one of ev's double attributes is encoded as the double it widens to. With
// body (a refusal's key), event.id and the body are encoded too.
func hashContent(domain, product, name string, ts pcommon.Timestamp, attrs pcommon.Map, ev *catalog.Event, body *pcommon.Value) [32]byte {
	s := idScratchPool.Get().(*idScratch)
	b := append(s.buf[:0], domain...)
	b = appendStr(b, product)
	b = appendStr(b, name)
	b = binary.BigEndian.AppendUint64(b, uint64(ts))

	start := len(s.kvs)
	withID := body != nil
	attrs.Range(func(k string, v pcommon.Value) bool {
		if (withID || k != catalog.WireEventID) && !strings.HasPrefix(k, catalog.AttrPrefix) {
			s.kvs = append(s.kvs, kv{k, v})
		}
		return true
	})
	top := s.kvs[start:]
	s.used = max(s.used, len(s.kvs))
	var buf [16]uint8
	order := keyOrder(top, &buf)
	b = binary.AppendUvarint(b, uint64(len(top)))
	for i := range top {
		e := top[i]
		if order != nil {
			e = top[order[i]]
		}
		b = appendStr(b, e.k)
		if ev != nil && e.v.Type() == pcommon.ValueTypeInt {
			if a, ok := ev.Attribute(e.k); ok && a.Type == catalog.TypeDouble {
				b = appendDouble(b, float64(e.v.Int()))
				continue
			}
		}
		b = s.appendValue(b, e.v)
	}
	s.kvs = s.kvs[:start]
	if body != nil {
		b = s.appendValue(b, *body)
	}

	sum := sha256.Sum256(b)
	s.buf = b
	clear(s.kvs[:s.used]) // drop references into pdata before pooling
	s.kvs, s.used = s.kvs[:0], 0
	if cap(s.buf) <= 64<<10 {
		idScratchPool.Put(s)
	}
	return sum
}

func cmpKV(a, b kv) int { return strings.Compare(a.k, b.k) }

// keyOrder puts kvs in key order, equal keys in their order. With at most
// len(buf) of them (most maps), kvs is left as it is and the positions in
// key order are returned, sorted by insertion in buf; with more, kvs itself
// is sorted (slices.SortStableFunc) and keyOrder returns nil.
func keyOrder(kvs []kv, buf *[16]uint8) []uint8 {
	if len(kvs) > len(buf) {
		slices.SortStableFunc(kvs, cmpKV)
		return nil
	}
	order := buf[:len(kvs)]
	for i := range order {
		j := i
		for ; j > 0 && kvs[i].k < kvs[order[j-1]].k; j-- {
			order[j] = order[j-1]
		}
		order[j] = uint8(i) //nolint:gosec // i < len(buf)
	}
	return order
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendDouble(b []byte, f float64) []byte {
	if math.IsNaN(f) {
		f = math.NaN() // one bit pattern for every NaN
	}
	b = append(b, tagDouble)
	return binary.BigEndian.AppendUint64(b, math.Float64bits(f))
}

func (s *idScratch) appendValue(b []byte, v pcommon.Value) []byte {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		b = append(b, tagStr)
		return appendStr(b, v.Str())
	case pcommon.ValueTypeInt:
		b = append(b, tagInt)
		return binary.BigEndian.AppendUint64(b, uint64(v.Int())) //nolint:gosec // two's complement bits on purpose: the encoding is pinned
	case pcommon.ValueTypeDouble:
		return appendDouble(b, v.Double())
	case pcommon.ValueTypeBool:
		if v.Bool() {
			return append(b, tagBool, 1)
		}
		return append(b, tagBool, 0)
	case pcommon.ValueTypeBytes:
		b = append(b, tagBytes)
		raw := v.Bytes().AsRaw()
		b = binary.AppendUvarint(b, uint64(len(raw)))
		return append(b, raw...)
	case pcommon.ValueTypeMap:
		start := len(s.kvs)
		v.Map().Range(func(k string, nv pcommon.Value) bool {
			s.kvs = append(s.kvs, kv{k, nv})
			return true
		})
		// Index, not a sub-slice: nested calls may grow s.kvs.
		end := len(s.kvs)
		s.used = max(s.used, end)
		var buf [16]uint8
		order := keyOrder(s.kvs[start:end], &buf)
		b = append(b, tagMap)
		b = binary.AppendUvarint(b, uint64(end-start)) //nolint:gosec // a count, never negative
		for i := start; i < end; i++ {
			e := s.kvs[i]
			if order != nil {
				e = s.kvs[start+int(order[i-start])]
			}
			b = appendStr(b, e.k)
			b = s.appendValue(b, e.v)
		}
		s.kvs = s.kvs[:start]
		return b
	case pcommon.ValueTypeSlice:
		sl := v.Slice()
		b = append(b, tagSlice)
		b = binary.AppendUvarint(b, uint64(sl.Len())) //nolint:gosec // a length, never negative
		for i := 0; i < sl.Len(); i++ {
			b = s.appendValue(b, sl.At(i))
		}
		return b
	}
	return append(b, tagEmpty)
}
