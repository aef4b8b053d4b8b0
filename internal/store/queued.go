package store

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
)

// The queued form.
//
// The analytics exporter converts every request to a Batch when it arrives
// (Convert, before its sending queue) and writes the Batch after the queue
// (WriteBatch). A Batch holds the rows already built: each accepted record
// as its event row with its binary COPY tuple, each other record as its
// rejected row. What depends on the database stays for WriteBatch: the
// retention state of a month (beyond_retention), the duplicates inside the
// batch (batches are merged in the queue), the ledger (duplicates and
// conflicts) and PostgreSQL's refusals.
//
// An accepted record rejected at write time (duplicate_conflict,
// beyond_retention, storage_refused) needs its raw form. The Batch does not
// keep the record: it keeps what the row does not hold (its resource and
// scope once per ResourceLogs/ScopeLogs, and per record its EventName and
// Timestamp when they differ from the row's name and time, observed time,
// severity, flags, a string body, and the type of each attribute, in order),
// and rebuilds the record from the row when it is needed (source). A record
// that cannot be rebuilt so (a map or slice attribute, a body that is not a
// string, dropped attributes, a wire event.id or event.name that is not the
// row's, a cut raw form) keeps its exact protobuf instead. The rebuilt raw
// form is the original's OTLP/JSON, except that an attribute key repeated in
// one record's attributes is kept once.
//
// The persistent queue stores a Batch with AppendBinary: a magic byte that
// no protobuf message starts with, a version byte, then the rows (version
// 1, the previous release's) or the rows compressed as one s2 block
// (version 2, see queued_compress.go). DecodeBatch reads both back; an item
// without the magic byte is taken for a pdata protobuf item of an older
// collector (the caller converts it).

// Batch is a converted request: rows ready to be written. A Batch is not
// changed by WriteBatch (a retry writes the same rows again) and is safe to
// write from one goroutine at a time.
type Batch struct {
	events   []eventRow
	rejected []rejectedRow
	merged   bool // made by Merge: the slices are the batch's own, Merge appends to them
}

// Len is the number of records of the batch.
func (b *Batch) Len() int { return len(b.events) + len(b.rejected) }

// Merge returns a batch of b's records, then o's. o does not change, and
// neither does b unless Merge made it: a batch Merge made is the result of
// the next Merge too (its rows are appended to, not copied again each time a
// request joins it).
func (b *Batch) Merge(o *Batch) *Batch {
	if !b.merged {
		n, r := len(b.events)+len(o.events), len(b.rejected)+len(o.rejected)
		m := &Batch{events: make([]eventRow, 0, 2*n), rejected: make([]rejectedRow, 0, r), merged: true}
		m.events = append(m.events, b.events...)
		m.rejected = append(m.rejected, b.rejected...)
		b = m
	}
	b.events = append(b.events, o.events...)
	b.rejected = append(b.rejected, o.rejected...)
	return b
}

// Split cuts b into batches of at most n records (n > 0), the last one the
// smallest; b does not change. The parts are not made by Merge (a Merge into
// one copies it).
func (b *Batch) Split(n int) []*Batch {
	if b.Len() <= n {
		return []*Batch{b}
	}
	var out []*Batch
	ev, rej := b.events, b.rejected
	for len(ev)+len(rej) > 0 {
		part := &Batch{}
		k := min(n, len(ev))
		part.events, ev = ev[:k:k], ev[k:]
		if left := n - k; left > 0 {
			j := min(left, len(rej))
			part.rejected, rej = rej[:j:j], rej[j:]
		}
		out = append(out, part)
	}
	return out
}

// group is the resource and scope of records: the protobuf of a plog.Logs
// holding just them (no record).
type group struct{ proto []byte }

// recordRest is what an event row needs, besides its own fields and tuple,
// to rebuild its record (see "The queued form").
type recordRest struct {
	grp       *group
	exact     []byte // the record alone as a plog.Logs protobuf, when it cannot be rebuilt
	given     [rejectKeySize]byte
	hasGiven  bool // the record carries catalog.AttrRejectKey (a replayed record)
	nameSame  bool // EventName is the row's name
	eventName string
	tsSame    bool // Timestamp is the row's time
	ts        uint64
	observed  uint64
	sevNum    int32
	sevText   string
	flags     uint32
	hasBody   bool // a string body
	body      string
	kinds     string // one kind byte per attribute, in order (kind* below)
}

// Kinds of a record's attributes: where its value is in the row.
const (
	kindStr        = 'S' // in the tuple's attributes JSON, as a string
	kindInt        = 'I' // ... as a number
	kindDouble     = 'D' // ... as a number, or "NaN", "+Inf", "-Inf"
	kindBool       = 'B'
	kindBytes      = 'Y' // ... as base64
	kindEmpty      = 'E' // ... as null
	kindSession    = '0' // the tuple's session_id column
	kindAgent      = '1' // agent_id
	kindTicket     = '2' // ticket_id
	kindCustomer   = '3' // customer_id
	kindWireID     = 'W' // catalog.WireEventID, the row's event id
	kindWireName   = 'N' // catalog.WireEventName, the row's name
	tupleKeyColumn = 8   // index of session_id among the tuple's columns
)

var keyNames = [4]string{catalog.KeySessionID, catalog.KeyAgentID, catalog.KeyTicketID, catalog.KeyCustomerID}

// Convert turns ld into a batch; loc is the business time zone. It never
// fails: a record that cannot become an event row becomes a rejected row.
// The batch holds no reference to ld.
func Convert(loc *time.Location, ld plog.Logs) *Batch {
	n := ld.LogRecordCount()
	b := &Batch{events: make([]eventRow, 0, n)}
	// Every tuple goes into one buffer, and so does every row's kinds;
	// rows get their slice at the end (the buffers may move as they grow).
	c := converter{loc: loc, arena: make([]byte, 0, n*tupleSizeHint), kinds: make([]byte, 0, n*kindsSizeHint), js: make([]byte, 0, tupleSizeHint)}
	var sc attrScan
	ends := make([]int, 0, 2*n) // per row: the end of its tuple, of its kinds
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			sl := sls.At(j)
			var grp *group
			lrs := sl.LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				src := source{rl: rl, sl: sl, lr: lrs.At(k)}
				kstart := len(c.kinds)
				c.scan(src.lr, &sc) // one walk of the attributes for everything below
				switch sc.status {
				case catalog.StatusAccepted:
					// The row is built in place: b.events has room for
					// every record, and its slots past the end are zero.
					b.events = b.events[:len(b.events)+1]
					row := &b.events[len(b.events)-1]
					if problem := c.accepted(src, row, &sc); problem != "" {
						*row = eventRow{}
						b.events = b.events[:len(b.events)-1]
						c.kinds = c.kinds[:kstart]
						b.rejected = append(b.rejected, notNormalised(src, problem))
						continue
					}
					if grp == nil {
						grp = newGroup(rl, sl)
					}
					c.kinds = row.setRest(c.kinds, kstart, src, grp, &sc)
					ends = append(ends, len(c.arena), len(c.kinds))
				case catalog.StatusRejected:
					c.kinds = c.kinds[:kstart]
					b.rejected = append(b.rejected, rejectedFromRecord(src))
				default:
					c.kinds = c.kinds[:kstart]
					b.rejected = append(b.rejected, notNormalised(src, ""))
				}
			}
		}
	}
	all := string(c.kinds)
	start, kstart := 0, 0
	for i := range b.events {
		end, kend := ends[2*i], ends[2*i+1]
		b.events[i].tuple = c.arena[start:end:end]
		b.events[i].rest.kinds = all[kstart:kend]
		start, kstart = end, kend
	}
	return b
}

// kindsSizeHint is a typical record's number of attributes, to size the
// kinds buffer of a batch.
const kindsSizeHint = 8

// Convert is Convert in the Store's time zone.
func (s *Store) Convert(ld plog.Logs) *Batch { return Convert(s.loc, ld) }

// newGroup returns the group of rl's resource and sl's scope.
func newGroup(rl plog.ResourceLogs, sl plog.ScopeLogs) *group {
	ld := plog.NewLogs()
	r := ld.ResourceLogs().AppendEmpty()
	rl.Resource().CopyTo(r.Resource())
	r.SetSchemaUrl(rl.SchemaUrl())
	s := r.ScopeLogs().AppendEmpty()
	sl.Scope().CopyTo(s.Scope())
	s.SetSchemaUrl(sl.SchemaUrl())
	var m plog.ProtoMarshaler
	buf, err := m.MarshalLogs(ld)
	if err != nil { // not expected: pdata always marshals
		buf = nil
	}
	return &group{proto: buf}
}

// setRest fills row.rest from src, whose attributes sc holds (c.scan
// appended their kinds to kinds from start; the tuple is built). It returns
// kinds, cut back to start when the record keeps its exact protobuf
// (Convert gives the row its slice).
func (row *eventRow) setRest(kinds []byte, start int, src source, grp *group, sc *attrScan) []byte {
	lr := src.lr
	exact := sc.exact || lr.DroppedAttributesCount() != 0 ||
		sc.wireIDBad || (sc.seen&scanWireID != 0 && sc.wireID != row.eventID) ||
		sc.wireNameBad || (sc.seen&scanWireName != 0 && sc.wireName != row.name)
	r := &row.rest
	if !exact {
		switch lr.Body().Type() {
		case pcommon.ValueTypeEmpty:
		case pcommon.ValueTypeStr:
			r.hasBody, r.body = true, lr.Body().Str()
		default:
			exact = true
		}
	}
	if exact {
		*r = recordRest{exact: marshalOne(src)}
		return kinds[:start]
	}
	r.grp = grp
	r.given, r.hasGiven = sc.given, sc.hasGiven
	if r.nameSame = lr.EventName() == row.name; !r.nameSame {
		r.eventName = lr.EventName()
	}
	if r.tsSame = int64(lr.Timestamp()) == row.eventTime; !r.tsSame { //nolint:gosec // compared as the row's int64
		r.ts = uint64(lr.Timestamp())
	}
	r.observed = uint64(lr.ObservedTimestamp())
	r.sevNum, r.sevText, r.flags = int32(lr.SeverityNumber()), lr.SeverityText(), uint32(lr.Flags())
	return kinds
}

// marshalOne is the protobuf of a plog.Logs holding just src's record, with
// its resource and scope.
func marshalOne(src source) []byte {
	ld, _ := src.alone()
	var m plog.ProtoMarshaler
	buf, err := m.MarshalLogs(ld)
	if err != nil { // not expected: pdata always marshals
		return nil
	}
	return buf
}

// source returns the record of e: the one it was built from (rows built by
// hand in tests), or the record rebuilt from the row (see "The queued
// form").
func (e *eventRow) source() source {
	r := &e.rest
	if r.grp == nil && r.exact == nil {
		return e.src
	}
	var u plog.ProtoUnmarshaler
	if r.exact != nil {
		if ld, err := u.UnmarshalLogs(r.exact); err == nil && ld.LogRecordCount() == 1 {
			rl := ld.ResourceLogs().At(0)
			sl := rl.ScopeLogs().At(0)
			return source{rl: rl, sl: sl, lr: sl.LogRecords().At(0)}
		}
		return e.bare() // not expected: normalize.GuardQueue keeps every record decodable
	}
	ld, err := u.UnmarshalLogs(r.grp.proto)
	if err != nil || ld.ResourceLogs().Len() != 1 || ld.ResourceLogs().At(0).ScopeLogs().Len() != 1 {
		return e.bare() // not expected, as above
	}
	rl := ld.ResourceLogs().At(0)
	sl := rl.ScopeLogs().At(0)
	lr := sl.LogRecords().AppendEmpty()
	e.rebuild(lr)
	return source{rl: rl, sl: sl, lr: lr}
}

// bare is a record holding only what the row says, for a raw form that
// could not be rebuilt otherwise.
func (e *eventRow) bare() source {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", e.product)
	sl := rl.ScopeLogs().AppendEmpty()
	lr := sl.LogRecords().AppendEmpty()
	lr.SetEventName(e.name)
	lr.SetTimestamp(pcommon.Timestamp(e.eventTime)) //nolint:gosec // an accepted record's time is after 1970
	lr.Attributes().PutStr(catalog.WireEventID, e.eventID)
	return source{rl: rl, sl: sl, lr: lr}
}

// rebuild fills lr with e's record from the row and e.rest.
func (e *eventRow) rebuild(lr plog.LogRecord) {
	r := &e.rest
	cols, ok := tupleColumns(e.tuple)
	if !ok {
		src := e.bare()
		src.lr.CopyTo(lr)
		return
	}
	if r.nameSame {
		lr.SetEventName(e.name)
	} else {
		lr.SetEventName(r.eventName)
	}
	if r.tsSame {
		lr.SetTimestamp(pcommon.Timestamp(e.eventTime)) //nolint:gosec // see bare
	} else {
		lr.SetTimestamp(pcommon.Timestamp(r.ts))
	}
	lr.SetObservedTimestamp(pcommon.Timestamp(r.observed))
	lr.SetSeverityNumber(plog.SeverityNumber(r.sevNum))
	lr.SetSeverityText(r.sevText)
	lr.SetFlags(plog.LogRecordFlags(r.flags))
	if r.hasBody {
		lr.Body().SetStr(r.body)
	}
	var tid pcommon.TraceID
	if hexInto(tid[:], cols[5]) {
		lr.SetTraceID(tid)
	}
	var sid pcommon.SpanID
	if hexInto(sid[:], cols[6]) {
		lr.SetSpanID(sid)
	}
	attrs := lr.Attributes()
	attrs.EnsureCapacity(len(r.kinds) + 1)
	js := jsonReader{b: cols[7]}
	if len(js.b) > 0 {
		js.b = js.b[1:] // jsonb version
	}
	js.byte('{')
	for i := 0; i < len(r.kinds); i++ {
		switch kind := r.kinds[i]; kind {
		case kindWireID:
			attrs.PutStr(catalog.WireEventID, e.eventID)
		case kindWireName:
			attrs.PutStr(catalog.WireEventName, e.name)
		case kindSession, kindAgent, kindTicket, kindCustomer:
			attrs.PutStr(keyNames[kind-kindSession], string(cols[tupleKeyColumn+int(kind-kindSession)]))
		default:
			js.comma()
			k := js.str()
			js.byte(':')
			js.value(attrs.PutEmpty(k), kind)
		}
	}
	if r.hasGiven {
		attrs.PutEmptyBytes(catalog.AttrRejectKey).FromRaw(r.given[:])
	}
}

// tupleColumns splits a binary COPY tuple into its columns (nil: NULL).
func tupleColumns(t []byte) (cols [eventFields][]byte, ok bool) {
	offs, ok := tupleOffsets(t)
	if !ok {
		return cols, false
	}
	for i, o := range offs {
		if o[0] >= 0 {
			cols[i] = t[o[0]:o[1]:o[1]]
		}
	}
	return cols, true
}

// tupleOffsets returns where each column of a binary COPY tuple is (start,
// end; -1 for NULL).
func tupleOffsets(t []byte) (offs [eventFields][2]int, ok bool) {
	if len(t) < 2 || binary.BigEndian.Uint16(t) != eventFields {
		return offs, false
	}
	i := 2
	for c := range offs {
		if len(t)-i < 4 {
			return offs, false
		}
		n := int32(binary.BigEndian.Uint32(t[i:])) //nolint:gosec // bit reinterpretation: -1 is NULL
		i += 4
		if n < 0 {
			offs[c] = [2]int{-1, -1}
			continue
		}
		if int(n) > len(t)-i {
			return offs, false
		}
		offs[c] = [2]int{i, i + int(n)}
		i += int(n)
	}
	return offs, true
}

// hexInto decodes hex text h into dst; false when h is NULL or not dst's hex.
func hexInto(dst, h []byte) bool {
	if len(h) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, lo := unhexDigit(h[2*i]), unhexDigit(h[2*i+1])
		if hi < 0 || lo < 0 {
			return false
		}
		dst[i] = byte(hi<<4 | lo) //nolint:gosec // two hex digits: 0–255
	}
	return true
}

func unhexDigit(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	}
	return -1
}

// jsonReader reads the flat JSON object appendTuple writes (scalar values
// only, strings as appendJSONString writes them). It does not fail: a
// malformed input reads as empty values.
type jsonReader struct {
	b       []byte
	started bool // a member was read
}

func (r *jsonReader) byte(c byte) {
	if len(r.b) > 0 && r.b[0] == c {
		r.b = r.b[1:]
	}
}

// comma skips the comma before every member but the first.
func (r *jsonReader) comma() {
	if r.started {
		r.byte(',')
	}
	r.started = true
}

// str reads a JSON string (see appendJSONString: bytes other than the
// escapes are copied as they are).
func (r *jsonReader) str() string {
	if len(r.b) == 0 || r.b[0] != '"' {
		return ""
	}
	b := r.b[1:]
	var out []byte
	start := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			var s string
			if out == nil {
				s = string(b[:i])
			} else {
				s = string(append(out, b[start:i]...))
			}
			r.b = b[i+1:]
			return s
		case '\\':
			if i+1 >= len(b) {
				r.b = nil
				return ""
			}
			out = append(out, b[start:i]...)
			switch b[i+1] {
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				if i+5 < len(b) {
					if hi, lo := unhexDigit(b[i+4]), unhexDigit(b[i+5]); hi >= 0 && lo >= 0 {
						out = append(out, byte(hi<<4|lo)) //nolint:gosec // two hex digits: 0–255
					}
				}
				i += 4
			default:
				out = append(out, b[i+1])
			}
			i++
			start = i + 1
		}
	}
	r.b = nil
	return ""
}

// token reads a number, true, false or null.
func (r *jsonReader) token() string {
	i := 0
	for i < len(r.b) && r.b[i] != ',' && r.b[i] != '}' {
		i++
	}
	t := string(r.b[:i])
	r.b = r.b[i:]
	return t
}

// value reads the next value into v, as an attribute of kind.
func (r *jsonReader) value(v pcommon.Value, kind byte) {
	switch kind {
	case kindStr:
		v.SetStr(r.str())
	case kindBytes:
		raw, _ := base64.StdEncoding.DecodeString(r.str())
		v.SetEmptyBytes().FromRaw(raw)
	case kindBool:
		v.SetBool(r.token() == "true")
	case kindInt:
		n, _ := strconv.ParseInt(r.token(), 10, 64)
		v.SetInt(n)
	case kindDouble:
		if len(r.b) > 0 && r.b[0] == '"' {
			switch r.str() {
			case "NaN":
				v.SetDouble(math.NaN())
			case "+Inf":
				v.SetDouble(math.Inf(1))
			case "-Inf":
				v.SetDouble(math.Inf(-1))
			}
			return
		}
		f, _ := strconv.ParseFloat(r.token(), 64)
		v.SetDouble(f)
	default: // kindEmpty
		r.token()
	}
}

// The encoding of a Batch in the persistent queue.
const (
	// BatchMagic starts every encoded Batch: field 20 with wire type 7,
	// which does not exist, so no protobuf message (a pdata item of an
	// older collector) starts with it.
	BatchMagic = 0xA7
	// batchVersionRows is the version of the encoding after the magic
	// byte that has the rows as they are (the body, below); the previous
	// collector release wrote it.
	batchVersionRows = 1
	// batchVersionS2 has the body compressed (see queued_compress.go):
	// what AppendBinary writes.
	batchVersionS2 = 2
)

// Flags of an encoded event row.
const (
	evMeasure = 1 << iota
	evFlag
	evHasFlag
	evHash
	evGiven
	evExact
	evNameSame
	evTsSame
	evBody
)

// Flags of an encoded rejected row.
const (
	rjTime = 1 << iota
	rjTruncated
	rjSHA
	rjFallback
)

// SizeHint is about the size of the encoded batch (without the resources
// and scopes, which are shared): what the sending queue's bytes sizer counts.
func (b *Batch) SizeHint() int {
	size := 16
	for i := range b.events {
		e := &b.events[i]
		size += len(e.tuple) + len(e.rest.exact) + len(e.rest.kinds) + len(e.rest.body) + 64
	}
	for i := range b.rejected {
		r := &b.rejected[i]
		size += len(r.raw) + len(r.message) + len(r.field) + len(r.eventName) + len(r.product) + len(r.eventID) + 96
	}
	return size
}

// appendBody appends the body of the encoded batch (what follows the magic
// and version bytes of version 1, uncompressed) to dst, growing it once.
func (b *Batch) appendBody(dst []byte) []byte {
	size := b.SizeHint()
	groups := map[*group]int{}
	var order []*group
	for i := range b.events {
		if g := b.events[i].rest.grp; g != nil {
			if _, ok := groups[g]; !ok {
				groups[g] = len(order)
				order = append(order, g)
				size += len(g.proto) + 4
			}
		}
	}
	dst = slices.Grow(dst, size)
	dst = binary.AppendUvarint(dst, uint64(len(order)))
	for _, g := range order {
		dst = appendBytes(dst, g.proto)
	}
	dst = binary.AppendUvarint(dst, uint64(len(b.events)))
	for i := range b.events {
		dst = appendEvent(dst, &b.events[i], groups)
	}
	dst = binary.AppendUvarint(dst, uint64(len(b.rejected)))
	for i := range b.rejected {
		dst = appendRejected(dst, &b.rejected[i])
	}
	return dst
}

func appendBytes[T string | []byte](b []byte, s T) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendEvent(b []byte, e *eventRow, groups map[*group]int) []byte {
	r := &e.rest
	var fl uint64
	set := func(bit uint64, on bool) {
		if on {
			fl |= bit
		}
	}
	set(evMeasure, e.hasMeasure)
	set(evFlag, e.flag)
	set(evHasFlag, e.hasFlag)
	set(evHash, e.hasHash)
	set(evGiven, r.hasGiven)
	set(evExact, r.exact != nil)
	set(evNameSame, r.nameSame)
	set(evTsSame, r.tsSame)
	set(evBody, r.hasBody)
	b = binary.AppendUvarint(b, fl)
	b = appendBytes(b, e.tuple)
	b = binary.AppendVarint(b, e.eventTime)
	b = binary.AppendVarint(b, int64(e.day))
	b = binary.AppendVarint(b, int64(e.month))
	if e.hasMeasure {
		b = binary.AppendVarint(b, e.measure)
	}
	if e.hasHash {
		b = append(b, e.hash[:]...)
	}
	if r.hasGiven {
		b = append(b, r.given[:]...)
	}
	if r.exact != nil {
		return appendBytes(b, r.exact)
	}
	b = binary.AppendUvarint(b, uint64(groups[r.grp])) //nolint:gosec // an index
	if !r.nameSame {
		b = appendBytes(b, r.eventName)
	}
	if !r.tsSame {
		b = binary.AppendUvarint(b, r.ts)
	}
	b = binary.AppendUvarint(b, r.observed)
	b = binary.AppendVarint(b, int64(r.sevNum))
	b = appendBytes(b, r.sevText)
	b = binary.AppendUvarint(b, uint64(r.flags))
	if r.hasBody {
		b = appendBytes(b, r.body)
	}
	return appendBytes(b, r.kinds)
}

func appendRejected(b []byte, r *rejectedRow) []byte {
	var fl uint64
	if r.hasTime {
		fl |= rjTime
	}
	if r.rawTruncated {
		fl |= rjTruncated
	}
	if r.rawSHA256 != nil {
		fl |= rjSHA
	}
	if r.fallback {
		fl |= rjFallback
	}
	b = binary.AppendUvarint(b, fl)
	for _, s := range [...]string{r.reason, r.field, r.message, r.eventName, r.product, r.eventID} {
		b = appendBytes(b, s)
	}
	if r.hasTime {
		b = binary.AppendVarint(b, r.eventTime.UnixNano())
	}
	b = appendBytes(b, r.raw)
	b = binary.AppendVarint(b, r.rawSize)
	if r.rawSHA256 != nil {
		b = appendBytes(b, r.rawSHA256)
	}
	return append(b, r.dedupKey[:]...)
}

// ErrNotBatch is DecodeBatch's error for an item that is not an encoded
// Batch (no BatchMagic): a pdata item of an older collector.
var ErrNotBatch = errors.New("store: not an encoded batch")

// decodeBody decodes the body of an encoded batch (see appendBody); s is
// the same bytes as buf. The batch refers to buf and s.
func decodeBody(buf []byte, s string) (*Batch, error) {
	d := decoder{b: buf, s: s}
	groups := make([]*group, d.count(1))
	all := make([]group, len(groups)) // one allocation for every group
	for i := range groups {
		all[i].proto = d.bytes()
		groups[i] = &all[i]
	}
	b := &Batch{events: make([]eventRow, d.count(8))}
	for i := range b.events {
		d.event(&b.events[i], groups)
	}
	b.rejected = make([]rejectedRow, d.count(8))
	for i := range b.rejected {
		d.rejected(&b.rejected[i])
	}
	if d.err == nil && d.i != len(buf) {
		d.err = errors.New("trailing bytes")
	}
	if d.err != nil {
		return nil, fmt.Errorf("store: decode batch: %w", d.err)
	}
	return b, nil
}

// decoder reads an encoded batch: b and s are the same bytes (strings are
// cut from s, byte slices from b, without copies).
type decoder struct {
	b   []byte
	s   string
	i   int
	err error
}

var errShort = errors.New("truncated")

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.i = len(d.b)
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b[d.i:])
	if n <= 0 {
		d.fail(errShort)
		return 0
	}
	d.i += n
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b[d.i:])
	if n <= 0 {
		d.fail(errShort)
		return 0
	}
	d.i += n
	return v
}

// count reads a count of items of at least least bytes each.
func (d *decoder) count(least int) int {
	n := d.uvarint()
	if n > uint64(len(d.b)-d.i)/uint64(least) { //nolint:gosec // both positive
		d.fail(errShort)
		return 0
	}
	return int(n) //nolint:gosec // bounded by the buffer
}

// span reads a length and returns the offsets of that many bytes.
func (d *decoder) span() (int, int) {
	n := d.uvarint()
	if n > uint64(len(d.b)-d.i) { //nolint:gosec // d.i ≤ len(d.b)
		d.fail(errShort)
		return d.i, d.i
	}
	start := d.i
	d.i += int(n) //nolint:gosec // bounded by the buffer
	return start, d.i
}

func (d *decoder) bytes() []byte {
	a, z := d.span()
	return d.b[a:z:z]
}

func (d *decoder) str() string {
	a, z := d.span()
	return d.s[a:z]
}

func (d *decoder) fixed(dst []byte) {
	if len(d.b)-d.i < len(dst) {
		d.fail(errShort)
		return
	}
	d.i += copy(dst, d.b[d.i:])
}

func (d *decoder) event(e *eventRow, groups []*group) {
	r := &e.rest
	fl := d.uvarint()
	ta, tz := d.span()
	e.tuple = d.b[ta:tz:tz]
	e.eventTime = d.varint()
	e.day = int32(d.varint())   //nolint:gosec // written from an int32
	e.month = int32(d.varint()) //nolint:gosec // written from an int32
	if e.hasMeasure = fl&evMeasure != 0; e.hasMeasure {
		e.measure = d.varint()
	}
	e.flag, e.hasFlag = fl&evFlag != 0, fl&evHasFlag != 0
	if e.hasHash = fl&evHash != 0; e.hasHash {
		d.fixed(e.hash[:])
	}
	if r.hasGiven = fl&evGiven != 0; r.hasGiven {
		d.fixed(r.given[:])
	}
	if fl&evExact != 0 {
		r.exact = d.bytes()
	} else {
		g := d.uvarint()
		if g >= uint64(len(groups)) {
			d.fail(errors.New("group out of range"))
			return
		}
		r.grp = groups[g]
		if r.nameSame = fl&evNameSame != 0; !r.nameSame {
			r.eventName = d.str()
		}
		if r.tsSame = fl&evTsSame != 0; !r.tsSame {
			r.ts = d.uvarint()
		}
		r.observed = d.uvarint()
		r.sevNum = int32(d.varint()) //nolint:gosec // written from an int32
		r.sevText = d.str()
		r.flags = uint32(d.uvarint()) //nolint:gosec // written from a uint32
		if r.hasBody = fl&evBody != 0; r.hasBody {
			r.body = d.str()
		}
		r.kinds = d.str()
	}
	if d.err != nil {
		return
	}
	// The row's texts are the tuple's first columns and agent_id.
	offs, ok := tupleOffsets(e.tuple)
	if !ok || offs[0][0] < 0 || offs[1][0] < 0 || offs[2][0] < 0 {
		d.fail(errors.New("malformed tuple"))
		return
	}
	at := func(o [2]int) string {
		if o[0] < 0 {
			return ""
		}
		return d.s[ta+o[0] : ta+o[1]]
	}
	e.eventID, e.name, e.product, e.agentID = at(offs[0]), at(offs[1]), at(offs[2]), at(offs[tupleKeyColumn+1])
}

func (d *decoder) rejected(r *rejectedRow) {
	fl := d.uvarint()
	r.reason, r.field, r.message = d.str(), d.str(), d.str()
	r.eventName, r.product, r.eventID = d.str(), d.str(), d.str()
	if r.hasTime = fl&rjTime != 0; r.hasTime {
		r.eventTime = time.Unix(0, d.varint()).UTC()
	}
	r.raw = d.bytes()
	r.rawSize = d.varint()
	if fl&rjSHA != 0 {
		r.rawSHA256 = d.bytes()
	}
	r.rawTruncated, r.fallback = fl&rjTruncated != 0, fl&rjFallback != 0
	d.fixed(r.dedupKey[:])
}
