package store

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
)

// source points at one record of a request, with its resource and scope,
// so its raw OTLP/JSON can be built when it ends up in the rejected table.
type source struct {
	rl plog.ResourceLogs
	sl plog.ScopeLogs
	lr plog.LogRecord
}

// eventRow is one accepted record: what deduplication, the rollups and the
// isolation of refused records need, and its analytics_events row, already
// encoded as a binary COPY tuple.
type eventRow struct {
	eventID    string
	name       string
	product    string
	agentID    string // "" when the record has none (no per-agent rollup)
	eventTime  int64  // Unix nanoseconds
	day        int32  // business day, days since 2000-01-01
	month      int32  // business month, year*12 + month - 1
	measure    int64  // the catalog measure in millionths, when hasMeasure
	hasMeasure bool
	flag       bool // the catalog flag, when hasFlag
	hasFlag    bool
	hash       [contentHashSize]byte // catalog.AttrContentHash, when hasHash
	hasHash    bool                  // false: the content is unknown, never a conflict
	tuple      []byte                // binary COPY tuple, columns as in copyEventsSQL
	// src is the record the row was built from, while Convert builds it
	// (and in hand-built rows of tests); rest is what rebuilds it later
	// (see source, queued.go).
	src  source
	rest recordRest
	// repeats are the later records of the batch with this row's product and
	// id and another known content hash (one per hash). Whether they
	// conflict is known once the ledger was asked (see resolve).
	repeats []eventRow
}

// contentHashSize is the size of catalog.AttrContentHash and of the
// ledger's content_hash.
const contentHashSize = 16

// idKey is what identifies an event: its id within its product.
type idKey struct{ product, id string }

// differ reports whether content hashes a and b (hasA, hasB: known) are
// both known and differ.
func differ(a *[contentHashSize]byte, hasA bool, b *[contentHashSize]byte, hasB bool) bool {
	return hasA && hasB && *a != *b
}

// batch is a Batch as one write sees it: the event rows of new ids (the
// first record of each product and id, with its repeats), and the rejected
// rows.
type batch struct {
	events     []eventRow
	rejected   []rejectedRow
	duplicates int // ids repeated inside the batch with the same or an unknown content (the first is kept)
}

// prepare is what a write decides about q's rows besides the ledger: an
// accepted record of a business month the Store knows is retired becomes a
// rejected row (beyond_retention), and a later record of a product and id of
// the batch is a repeat of the first (see addRepeat). q does not change.
func (s *Store) prepare(q *Batch) *batch {
	b := &batch{events: make([]eventRow, 0, len(q.events)), rejected: q.rejected[:len(q.rejected):len(q.rejected)]}
	seen := make(map[idKey]int, len(q.events)) // → index in b.events
	lastMonth, lastState, lastRetired := int32(-1), monthState{}, false
	for i := range q.events {
		row := &q.events[i]
		if row.month != lastMonth { // one look-up per run of a month
			lastMonth = row.month
			lastState, lastRetired = s.retiredState(row.month)
		}
		if lastRetired {
			b.rejected = append(b.rejected, s.beyondRetention(row, lastState))
			continue
		}
		k := idKey{product: row.product, id: row.eventID}
		if j, dup := seen[k]; dup {
			if !b.events[j].addRepeat(*row) {
				b.duplicates++
			}
			continue
		}
		seen[k] = len(b.events)
		b.events = append(b.events, *row)
	}
	return b
}

// addRepeat keeps r, a later record with e's product and id, among e's
// repeats when its content may conflict: its hash is known and differs from
// e's and from every repeat kept so far. It reports whether it kept r (if
// not, r is a plain duplicate). e's own hash may be unknown: the ledger's
// may not be.
func (e *eventRow) addRepeat(r eventRow) bool {
	if !r.hasHash || (e.hasHash && e.hash == r.hash) {
		return false
	}
	for i := range e.repeats {
		if e.repeats[i].hash == r.hash {
			return false
		}
	}
	e.repeats = append(e.repeats, r)
	return true
}

// tupleSizeHint is a typical tuple's size, to size a batch's buffer.
const tupleSizeHint = 256

// eventRowOf reads the normalised attributes of an accepted record (days
// and months in business time zone loc); problem is non-empty when the
// record lacks one it must have.
func eventRowOf(loc *time.Location, src source) (row eventRow, problem string) {
	attrs := src.lr.Attributes()
	row.src = src
	ev := catalog.Accepted(src.rl.Resource(), src.lr)
	switch {
	case ev.ID == "":
		return row, "accepted record without " + catalog.AttrEventID + " or " + catalog.WireEventID
	case ev.Name == "":
		return row, "accepted record without " + catalog.AttrEventName + " or an EventName"
	case ev.Product == "":
		return row, "accepted record without " + catalog.AttrProduct + " or a service.name"
	case ev.TimeUnixNano == 0:
		return row, "accepted record without " + catalog.AttrEventTime + " or a Timestamp"
	}
	row.eventID, row.name, row.product, row.eventTime = ev.ID, ev.Name, ev.Product, ev.TimeUnixNano
	if v, ok := attrs.Get(catalog.AttrContentHash); ok {
		// Absent = unknown (a processor from before content hashes).
		if v.Type() != pcommon.ValueTypeBytes || v.Bytes().Len() != contentHashSize {
			return row, "accepted record with an " + catalog.AttrContentHash + " that is not 16 bytes"
		}
		for i := range contentHashSize { // no copy of the slice (AsRaw allocates)
			row.hash[i] = v.Bytes().At(i)
		}
		row.hasHash = true
	}
	y, m, d := time.Unix(0, row.eventTime).In(loc).Date()
	row.day = pgDay(y, m, d)
	row.month = int32(y*12 + int(m) - 1) //nolint:gosec // y is 1677..2262 (int64 nanoseconds)
	return row, ""
}

// appendTuple appends the binary COPY tuple of row (columns as in
// copyEventsSQL) and fills the row's agent, measure and flag.
func appendTuple(b []byte, row *eventRow) []byte {
	b = appendInt16(b, eventFields)
	b = appendText(b, row.eventID)
	b = appendText(b, row.name)
	b = appendText(b, row.product)
	b = appendTimestamptz(b, row.eventTime)
	b = appendDate(b, row.day)
	if tid := row.src.lr.TraceID(); !tid.IsEmpty() {
		b = appendHex(b, tid[:])
	} else {
		b = appendNull(b)
	}
	if sid := row.src.lr.SpanID(); !sid.IsEmpty() {
		b = appendHex(b, sid[:])
	} else {
		b = appendNull(b)
	}

	// attributes: jsonb version 1, then every other attribute as JSON; the
	// length is filled in at the end.
	lenAt := len(b)
	b = append(b, 0, 0, 0, 0, 1, '{')
	var keys [4]string // session_id, agent_id, ticket_id, customer_id
	var has [4]bool
	first := true
	for k, v := range row.src.lr.Attributes().All() {
		switch {
		case k == catalog.AttrMeasureMicro && v.Type() == pcommon.ValueTypeInt:
			row.measure, row.hasMeasure = v.Int(), true
			continue
		case k == catalog.AttrFlag && v.Type() == pcommon.ValueTypeBool:
			row.flag, row.hasFlag = v.Bool(), true
			continue
		case strings.HasPrefix(k, catalog.AttrPrefix), k == catalog.WireEventName, k == catalog.WireEventID:
			continue
		case v.Type() == pcommon.ValueTypeStr && (k == catalog.KeySessionID || k == catalog.KeyAgentID || k == catalog.KeyTicketID || k == catalog.KeyCustomerID):
			i := 3
			switch k {
			case catalog.KeySessionID:
				i = 0
			case catalog.KeyAgentID:
				i = 1
			case catalog.KeyTicketID:
				i = 2
			}
			keys[i], has[i] = v.Str(), true
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONValue(b, v)
	}
	b = append(b, '}')
	binary.BigEndian.PutUint32(b[lenAt:], uint32(len(b)-lenAt-4)) //nolint:gosec // a field's length, non-negative and < 2 GiB
	for i := range keys {
		if has[i] {
			b = appendText(b, keys[i])
		} else {
			b = appendNull(b)
		}
	}
	row.agentID = keys[1]
	return b
}

// alone is a copy of src's record in a plog.Logs of its own, with its
// resource and scope (and their schema URLs).
func (src source) alone() (plog.Logs, plog.LogRecord) {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	src.rl.Resource().CopyTo(rl.Resource())
	rl.SetSchemaUrl(src.rl.SchemaUrl())
	sl := rl.ScopeLogs().AppendEmpty()
	src.sl.Scope().CopyTo(sl.Scope())
	sl.SetSchemaUrl(src.sl.SchemaUrl())
	lr := sl.LogRecords().AppendEmpty()
	src.lr.CopyTo(lr)
	return ld, lr
}

// rawJSON is the OTLP/JSON of a plog.Logs holding just this record with its
// resource and scope, without the analytics.* bookkeeping attributes (so a
// replay sees the record as its sender sent it).
func rawJSON(src source) []byte {
	ld, lr := src.alone()
	lr.Attributes().RemoveIf(func(k string, _ pcommon.Value) bool {
		return strings.HasPrefix(k, catalog.AttrPrefix)
	})
	var m plog.JSONMarshaler
	raw, err := m.MarshalLogs(ld)
	if err != nil {
		// Not expected: pdata always marshals. Keep something replayable by a person.
		return []byte(`{"error":` + strconv.Quote(err.Error()) + `}`)
	}
	return raw
}

// appendJSONValue appends v as JSON: int and double as numbers (NaN and
// ±Inf as the strings "NaN", "+Inf", "-Inf", which JSON cannot hold), bool,
// string, bytes as base64 (as in OTLP/JSON), maps as objects, slices as
// arrays, empty as null.
func appendJSONValue(b []byte, v pcommon.Value) []byte {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return appendJSONString(b, v.Str())
	case pcommon.ValueTypeInt:
		return strconv.AppendInt(b, v.Int(), 10)
	case pcommon.ValueTypeDouble:
		f := v.Double()
		switch {
		case math.IsNaN(f):
			return append(b, `"NaN"`...)
		case math.IsInf(f, 1):
			return append(b, `"+Inf"`...)
		case math.IsInf(f, -1):
			return append(b, `"-Inf"`...)
		}
		return strconv.AppendFloat(b, f, 'g', -1, 64)
	case pcommon.ValueTypeBool:
		return strconv.AppendBool(b, v.Bool())
	case pcommon.ValueTypeBytes:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, v.Bytes().AsRaw())
		return append(b, '"')
	case pcommon.ValueTypeMap:
		b = append(b, '{')
		first := true
		for k, e := range v.Map().All() {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendJSONValue(b, e)
		}
		return append(b, '}')
	case pcommon.ValueTypeSlice:
		b = append(b, '[')
		for i, e := range v.Slice().All() {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONValue(b, e)
		}
		return append(b, ']')
	default:
		return append(b, "null"...)
	}
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Bytes that are not valid
// UTF-8 are copied as they are, and NUL is written as \u0000: PostgreSQL
// refuses both in jsonb, and the exporter then isolates the record into the
// rejected table (storage_refused) rather than altering it silently. The
// eventcatalog processor already rejects such records, so this is the
// unnormalised or hand-built path only.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			i++ // multi-byte UTF-8 (and invalid bytes) are copied as they are
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
