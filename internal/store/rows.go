package store

import (
	"cmp"
	"encoding/base64"
	"math"
	"slices"
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
	order      []int32 // the indexes of events sorted by (product, id): see newEvents
	rejected   []rejectedRow
	duplicates int // ids repeated inside the batch with the same or an unknown content (the first is kept)
}

// sortKey is an event's place in the (product, id) order, as far as it
// can tell without the strings: the rank of its product, then 16 bytes of
// its id after the prefix every id of the batch shares (zero-padded); ties
// compare the ids themselves. It holds no pointer: sorting moves 24 bytes
// and no write barrier.
type sortKey struct {
	hi, lo  uint64
	product int32
	i       int32 // index in the events
}

// sortByKey sorts idx, indexes of events in increasing order, by the
// (product, id) of their events, ties in index order.
func sortByKey(events []eventRow, idx []int32) {
	if len(idx) < 2 {
		return
	}
	// The products, in order; an event's is most often the one before's.
	var products []string
	for _, i := range idx {
		if p := events[i].product; len(products) == 0 || products[len(products)-1] != p {
			if !slices.Contains(products, p) {
				products = append(products, p)
			}
		}
	}
	slices.Sort(products)
	common := events[idx[0]].eventID
	for _, i := range idx[1:] {
		id := events[i].eventID
		n := 0
		for n < len(common) && n < len(id) && common[n] == id[n] {
			n++
		}
		common = common[:n]
	}
	keys := make([]sortKey, len(idx))
	rank, last := int32(0), ""
	for k, i := range idx {
		e := &events[i]
		if k == 0 || e.product != last {
			r, _ := slices.BinarySearch(products, e.product)
			rank, last = int32(r), e.product //nolint:gosec // fewer products than events
		}
		rest := e.eventID[len(common):]
		keys[k] = sortKey{hi: be64(rest), lo: be64(rest[min(8, len(rest)):]), product: rank, i: i}
	}
	slices.SortFunc(keys, func(a, b sortKey) int {
		if c := cmp.Compare(a.product, b.product); c != 0 {
			return c
		}
		if c := cmp.Compare(a.hi, b.hi); c != 0 {
			return c
		}
		if c := cmp.Compare(a.lo, b.lo); c != 0 {
			return c
		}
		if c := strings.Compare(events[a.i].eventID, events[b.i].eventID); c != 0 {
			return c
		}
		return cmp.Compare(a.i, b.i)
	})
	for k := range keys {
		idx[k] = keys[k].i
	}
}

// be64 is the first 8 bytes of s as a big-endian number, s padded with
// zero bytes (so numbers compare as the strings, or equal).
func be64(s string) uint64 {
	var v uint64
	for k := range 8 {
		v <<= 8
		if k < len(s) {
			v |= uint64(s[k])
		}
	}
	return v
}

// prepare is what a write decides about q's rows besides the ledger: an
// accepted record of a business month the Store knows is retired becomes a
// rejected row (beyond_retention), and a later record of a product and id of
// the batch is a repeat of the first (see addRepeat). q does not change:
// when it has neither, the batch's events are q's (nothing changes them).
func (s *Store) prepare(q *Batch) *batch {
	b := &batch{rejected: q.rejected[:len(q.rejected):len(q.rejected)]}
	idx := make([]int32, 0, len(q.events)) // the rows not retired
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
		idx = append(idx, int32(i)) //nolint:gosec // a batch holds fewer than 2^31 records
	}
	sortByKey(q.events, idx)
	// idx now holds runs of one product and id, each in the batch's order.
	same := func(k int) bool { // idx[k] is of idx[k-1]'s run
		a, b := &q.events[idx[k-1]], &q.events[idx[k]]
		return a.eventID == b.eventID && a.product == b.product
	}
	repeated := false
	for k := 1; k < len(idx) && !repeated; k++ {
		repeated = same(k)
	}
	if !repeated && len(idx) == len(q.events) {
		b.events, b.order = q.events[:len(q.events):len(q.events)], idx
		return b
	}
	// The first record of each run is an event row (in the batch's order),
	// the later ones its repeats or duplicates.
	first := make([]bool, len(q.events))
	for k, i := range idx {
		first[i] = k == 0 || !same(k)
	}
	pos := make([]int32, len(q.events)) // → index in b.events
	b.events = make([]eventRow, 0, len(idx))
	for i := range q.events {
		if first[i] {
			pos[i] = int32(len(b.events)) //nolint:gosec // see above
			b.events = append(b.events, q.events[i])
		}
	}
	b.order = make([]int32, 0, len(b.events))
	var e *eventRow
	for _, i := range idx {
		if first[i] {
			e = &b.events[pos[i]]
			b.order = append(b.order, pos[i])
			continue
		}
		if !e.addRepeat(q.events[i]) {
			b.duplicates++
		}
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

// attrScan is what one walk over a record's attributes finds: the
// normalised attributes (the first of a repeated key, as Map.Get finds it),
// the measure, flag and key columns (the last, as the tuple keeps it), the
// attributes JSON of the tuple (in converter.js) and the kinds of the
// attributes (see recordRest), or that the record keeps its exact protobuf.
type attrScan struct {
	seen                   uint16 // scan* bits: the first of that key was read
	status                 string
	name, product, id      string // "" when the first is not a string
	wireID, wireName       string // the first wire event.id / event.name, if a string
	wireIDBad, wireNameBad bool   // an event.id / event.name not a string, or not the first's value
	timeOK                 bool   // the first AttrEventTime is an int
	time                   int64
	hashBad                bool // the first AttrContentHash is not 16 bytes
	hash                   [contentHashSize]byte
	hasHash                bool
	given                  [rejectKeySize]byte
	hasGiven               bool // the first AttrRejectKey is 16 bytes (see givenKey)
	measure                int64
	hasMeasure             bool
	flag, hasFlag          bool
	keys                   [4]string // session_id, agent_id, ticket_id, customer_id
	hasKey                 [4]bool
	exact                  bool // the record cannot be rebuilt from the row (see setRest)
}

// Bits of attrScan.seen.
const (
	scanStatus = 1 << iota
	scanName
	scanProduct
	scanID
	scanTime
	scanHash
	scanGiven
	scanWireID
	scanWireName
)

// first reports whether the key of bit is met for the first time (and marks it).
func (sc *attrScan) first(bit uint16) bool {
	if sc.seen&bit != 0 {
		return false
	}
	sc.seen |= bit
	return true
}

// copyBytes copies s (as long as dst) into dst: no copy of the slice
// first (AsRaw allocates).
func copyBytes(dst []byte, s pcommon.ByteSlice) {
	for i := range dst {
		dst[i] = s.At(i)
	}
}

// converter builds the rows of one request (Convert).
type converter struct {
	loc   *time.Location
	arena []byte // every tuple, one after the other
	kinds []byte // every row's kinds, one after the other
	js    []byte // the attributes JSON of the record being scanned
	// The service.name of resource rl (read once per ResourceLogs).
	rl      plog.ResourceLogs
	hasRL   bool
	service string
}

// serviceName is the string service.name of rl's resource ("" if none).
func (c *converter) serviceName(rl plog.ResourceLogs) string {
	if !c.hasRL || c.rl != rl {
		c.rl, c.hasRL, c.service = rl, true, ""
		if v, ok := rl.Resource().Attributes().Get("service.name"); ok && v.Type() == pcommon.ValueTypeStr {
			c.service = v.Str()
		}
	}
	return c.service
}

// strOf is v's string, or "" when v is not a string (as catalog.Accepted reads).
func strOf(v pcommon.Value, t pcommon.ValueType) string {
	if t == pcommon.ValueTypeStr {
		return v.Str()
	}
	return ""
}

// scan walks lr's attributes once into sc and c.js, appending their kinds
// to c.kinds (setRest cuts them off again if the record keeps its exact
// protobuf, scan sets sc.exact then). sc is the caller's (on its stack: no
// write barrier for the strings stored in it).
func (c *converter) scan(lr plog.LogRecord, sc *attrScan) {
	*sc = attrScan{}
	js := append(c.js[:0], '{')
	kinds := c.kinds
	for k, v := range lr.Attributes().All() {
		t := v.Type()
		if strings.HasPrefix(k, catalog.AttrPrefix) {
			// Not in the JSON nor in the raw form.
			switch k {
			case catalog.AttrStatus:
				if sc.first(scanStatus) {
					sc.status = strOf(v, t)
				}
			case catalog.AttrEventName:
				if sc.first(scanName) {
					sc.name = strOf(v, t)
				}
			case catalog.AttrProduct:
				if sc.first(scanProduct) {
					sc.product = strOf(v, t)
				}
			case catalog.AttrEventID:
				if sc.first(scanID) {
					sc.id = strOf(v, t)
				}
			case catalog.AttrEventTime:
				if sc.first(scanTime) && t == pcommon.ValueTypeInt {
					sc.time, sc.timeOK = v.Int(), true
				}
			case catalog.AttrContentHash:
				if sc.first(scanHash) {
					if t != pcommon.ValueTypeBytes || v.Bytes().Len() != contentHashSize {
						sc.hashBad = true
					} else {
						copyBytes(sc.hash[:], v.Bytes())
						sc.hasHash = true
					}
				}
			case catalog.AttrRejectKey:
				if sc.first(scanGiven) {
					if t == pcommon.ValueTypeBytes && v.Bytes().Len() == rejectKeySize {
						copyBytes(sc.given[:], v.Bytes())
						sc.hasGiven = true
					}
				}
			case catalog.AttrMeasureMicro:
				if t == pcommon.ValueTypeInt {
					sc.measure, sc.hasMeasure = v.Int(), true
				}
			case catalog.AttrFlag:
				if t == pcommon.ValueTypeBool {
					sc.flag, sc.hasFlag = v.Bool(), true
				}
			case catalog.AttrRawTruncated:
				sc.exact = true // setRaw reads the record's body as its cut raw form
			}
			continue
		}
		switch k {
		case catalog.WireEventID:
			switch {
			case t != pcommon.ValueTypeStr:
				sc.wireIDBad = true
				sc.first(scanWireID)
			case sc.first(scanWireID):
				sc.wireID = v.Str()
			case v.Str() != sc.wireID:
				sc.wireIDBad = true
			}
			kinds = append(kinds, kindWireID)
			continue
		case catalog.WireEventName:
			switch {
			case t != pcommon.ValueTypeStr:
				sc.wireNameBad = true
				sc.first(scanWireName)
			case sc.first(scanWireName):
				sc.wireName = v.Str()
			case v.Str() != sc.wireName:
				sc.wireNameBad = true
			}
			kinds = append(kinds, kindWireName)
			continue
		case catalog.KeySessionID, catalog.KeyAgentID, catalog.KeyTicketID, catalog.KeyCustomerID:
			if t == pcommon.ValueTypeStr {
				i := 3
				switch k {
				case catalog.KeySessionID:
					i = 0
				case catalog.KeyAgentID:
					i = 1
				case catalog.KeyTicketID:
					i = 2
				}
				sc.keys[i], sc.hasKey[i] = v.Str(), true
				kinds = append(kinds, byte(kindSession+i))
				continue
			}
		}
		switch t {
		case pcommon.ValueTypeStr:
			kinds = append(kinds, kindStr)
		case pcommon.ValueTypeInt:
			kinds = append(kinds, kindInt)
		case pcommon.ValueTypeDouble:
			kinds = append(kinds, kindDouble)
		case pcommon.ValueTypeBool:
			kinds = append(kinds, kindBool)
		case pcommon.ValueTypeBytes:
			kinds = append(kinds, kindBytes)
		case pcommon.ValueTypeEmpty:
			kinds = append(kinds, kindEmpty)
		default: // map, slice: their values' types are not in the JSON
			sc.exact = true
		}
		if len(js) > 1 {
			js = append(js, ',')
		}
		js = appendJSONString(js, k)
		js = append(js, ':')
		js = appendJSONValue(js, v)
	}
	c.js = append(js, '}')
	c.kinds = kinds
}

// accepted builds row from src, an accepted record whose attributes c.scan
// read into sc: its normalised fields (days and months in c.loc) and its binary
// COPY tuple (columns as in copyEventsSQL), appended to c.arena. problem is
// non-empty when the record lacks an attribute it must have; c.arena does
// not change then.
func (c *converter) accepted(src source, row *eventRow, sc *attrScan) (problem string) {
	// As catalog.Accepted reads it: each stamp, else the record's own field.
	ev := catalog.Stamped{Name: sc.name, Product: sc.product, ID: sc.id, TimeUnixNano: sc.time}
	if ev.Name == "" {
		ev.Name = src.lr.EventName()
	}
	if ev.Product == "" {
		ev.Product = c.serviceName(src.rl)
	}
	if ev.ID == "" {
		ev.ID = sc.wireID
	}
	if !sc.timeOK {
		ev.TimeUnixNano = int64(src.lr.Timestamp()) //nolint:gosec // an accepted record's Timestamp is before 2262
	}
	switch {
	case ev.ID == "":
		return "accepted record without " + catalog.AttrEventID + " or " + catalog.WireEventID
	case ev.Name == "":
		return "accepted record without " + catalog.AttrEventName + " or an EventName"
	case ev.Product == "":
		return "accepted record without " + catalog.AttrProduct + " or a service.name"
	case ev.TimeUnixNano == 0:
		return "accepted record without " + catalog.AttrEventTime + " or a Timestamp"
	case sc.hashBad:
		// Absent = unknown (a processor from before content hashes).
		return "accepted record with an " + catalog.AttrContentHash + " that is not 16 bytes"
	}
	row.eventID, row.name, row.product, row.eventTime = ev.ID, ev.Name, ev.Product, ev.TimeUnixNano
	row.hash, row.hasHash = sc.hash, sc.hasHash
	row.measure, row.hasMeasure = sc.measure, sc.hasMeasure
	row.flag, row.hasFlag = sc.flag, sc.hasFlag
	row.agentID = sc.keys[1]
	y, m, d := time.Unix(0, row.eventTime).In(c.loc).Date()
	row.day = pgDay(y, m, d)
	row.month = int32(y*12 + int(m) - 1) //nolint:gosec // y is 1677..2262 (int64 nanoseconds)

	b := appendInt16(c.arena, eventFields)
	b = appendText(b, row.eventID)
	b = appendText(b, row.name)
	b = appendText(b, row.product)
	b = appendTimestamptz(b, row.eventTime)
	b = appendDate(b, row.day)
	if tid := src.lr.TraceID(); !tid.IsEmpty() {
		b = appendHex(b, tid[:])
	} else {
		b = appendNull(b)
	}
	if sid := src.lr.SpanID(); !sid.IsEmpty() {
		b = appendHex(b, sid[:])
	} else {
		b = appendNull(b)
	}
	// attributes: jsonb version 1, then every other attribute as JSON.
	b = appendInt32(b, int32(1+len(c.js))) //nolint:gosec // a field's length, non-negative and < 2 GiB
	b = append(b, 1)
	b = append(b, c.js...)
	for i := range sc.keys {
		if sc.hasKey[i] {
			b = appendText(b, sc.keys[i])
		} else {
			b = appendNull(b)
		}
	}
	c.arena = b
	return ""
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
