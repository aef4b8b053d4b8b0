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
	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
)

// msgNotNormalised is the message of a record that reached the exporter
// without the normalised attributes.
const msgNotNormalised = "the eventcatalog processor must run before the analytics exporter"

// source points at one record of the batch, with its resource and scope,
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
	tuple      []byte // binary COPY tuple, columns as in copyEventsSQL
	src        source
}

// rejectedRow is one record for analytics_rejected_events. Every text field
// is sanitised (valid UTF-8, no NUL) so that its insert cannot fail.
type rejectedRow struct {
	reason    string
	field     string
	message   string
	eventName string // "" = NULL
	product   string // "" = NULL
	eventID   string // "" = NULL
	eventTime time.Time
	hasTime   bool
	raw       []byte
}

// batch is a plog.Logs split into event rows and rejected rows.
type batch struct {
	events     []eventRow
	rejected   []rejectedRow
	duplicates int // ids repeated inside the batch (the first is kept)
}

// build splits ld into rows. It never fails: a record that cannot become an
// event row becomes a rejected row.
func (s *Store) build(ld plog.Logs) *batch {
	n := ld.LogRecordCount()
	b := &batch{events: make([]eventRow, 0, n)}
	seen := make(map[string]struct{}, n)
	// Every tuple goes into one buffer; rows get their slice of it at the end
	// (the buffer may move while it grows).
	arena := make([]byte, 0, n*tupleSizeHint)
	ends := make([]int, 0, n)
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			sl := sls.At(j)
			lrs := sl.LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				src := source{rl: rl, sl: sl, lr: lrs.At(k)}
				attrs := src.lr.Attributes()
				status, _ := attrs.Get(catalog.AttrStatus)
				switch status.Str() {
				case catalog.StatusAccepted:
					row, problem := s.eventRow(src)
					if problem != "" {
						b.rejected = append(b.rejected, notNormalised(src, problem))
						continue
					}
					if _, dup := seen[row.eventID]; dup {
						b.duplicates++
						continue
					}
					seen[row.eventID] = struct{}{}
					arena = s.appendTuple(arena, &row)
					ends = append(ends, len(arena))
					b.events = append(b.events, row)
				case catalog.StatusRejected:
					b.rejected = append(b.rejected, rejectedFromRecord(src))
				default:
					b.rejected = append(b.rejected, notNormalised(src, ""))
				}
			}
		}
	}
	start := 0
	for i, end := range ends {
		b.events[i].tuple = arena[start:end:end]
		start = end
	}
	return b
}

// tupleSizeHint is a typical tuple's size, to size a batch's buffer.
const tupleSizeHint = 256

// eventRow reads the normalised attributes of an accepted record; problem
// is non-empty when the record lacks one it must have.
func (s *Store) eventRow(src source) (row eventRow, problem string) {
	attrs := src.lr.Attributes()
	row.src = src
	if v, ok := attrs.Get(catalog.AttrEventID); ok && v.Type() == pcommon.ValueTypeStr && v.Str() != "" {
		row.eventID = v.Str()
	} else {
		return row, "accepted record without " + catalog.AttrEventID
	}
	if v, ok := attrs.Get(catalog.AttrEventName); ok && v.Type() == pcommon.ValueTypeStr && v.Str() != "" {
		row.name = v.Str()
	} else {
		return row, "accepted record without " + catalog.AttrEventName
	}
	if v, ok := attrs.Get(catalog.AttrProduct); ok && v.Type() == pcommon.ValueTypeStr {
		row.product = v.Str()
	} else {
		return row, "accepted record without " + catalog.AttrProduct
	}
	if v, ok := attrs.Get(catalog.AttrEventTime); ok && v.Type() == pcommon.ValueTypeInt {
		row.eventTime = v.Int()
	} else {
		return row, "accepted record without " + catalog.AttrEventTime
	}
	y, m, d := time.Unix(0, row.eventTime).In(s.loc).Date()
	row.day = pgDay(y, m, d)
	row.month = int32(y*12 + int(m) - 1) //nolint:gosec // y is 1677..2262 (int64 nanoseconds)
	return row, ""
}

// appendTuple appends the binary COPY tuple of row (columns as in
// copyEventsSQL) and fills the row's agent, measure and flag.
func (s *Store) appendTuple(b []byte, row *eventRow) []byte {
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

	var measure, flag string
	if ev, ok := s.cat.Lookup(row.name); ok {
		measure, flag = ev.Measure, ev.Flag
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
		if measure != "" && k == measure {
			var f float64
			switch v.Type() {
			case pcommon.ValueTypeDouble:
				f = v.Double()
			case pcommon.ValueTypeInt:
				f = float64(v.Int())
			default:
				f = math.NaN()
			}
			row.measure, row.hasMeasure = counters.Micro(f)
		}
		if flag != "" && k == flag && v.Type() == pcommon.ValueTypeBool {
			row.flag, row.hasFlag = v.Bool(), true
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

// rejectedFromRecord builds the rejected row of a record the eventcatalog
// processor marked rejected.
func rejectedFromRecord(src source) rejectedRow {
	attrs := src.lr.Attributes()
	r := rejectedRow{
		reason:    strAttr(attrs, catalog.AttrRejectReason),
		field:     strAttr(attrs, catalog.AttrRejectField),
		message:   strAttr(attrs, catalog.AttrRejectMessage),
		eventName: strAttr(attrs, catalog.AttrEventName),
		product:   strAttr(attrs, catalog.AttrProduct),
		eventID:   strAttr(attrs, catalog.AttrEventID),
	}
	if r.reason == "" {
		r.reason = "unspecified"
	}
	if v, ok := attrs.Get(catalog.AttrEventTime); ok && v.Type() == pcommon.ValueTypeInt {
		r.eventTime, r.hasTime = time.Unix(0, v.Int()).UTC(), true
	}
	r.raw = rawJSON(src)
	r.sanitise()
	return r
}

// notNormalised builds the rejected row of a record without (or with
// broken) normalised attributes. It keeps what the wire form tells.
func notNormalised(src source, problem string) rejectedRow {
	attrs := src.lr.Attributes()
	name := src.lr.EventName()
	if name == "" {
		name = strAttr(attrs, catalog.WireEventName)
	}
	product := ""
	if v, ok := src.rl.Resource().Attributes().Get("service.name"); ok {
		product = v.AsString()
	}
	msg := msgNotNormalised
	if problem != "" {
		msg += " (" + problem + ")"
	}
	r := rejectedRow{
		reason:    string(catalog.ReasonNotNormalised),
		message:   msg,
		eventName: name,
		product:   product,
		eventID:   strAttr(attrs, catalog.WireEventID),
		raw:       rawJSON(src),
	}
	if ts := src.lr.Timestamp(); ts != 0 {
		r.eventTime, r.hasTime = ts.AsTime().UTC(), true
	}
	r.sanitise()
	return r
}

// refused turns an event row PostgreSQL refused into a rejected row.
func refused(e *eventRow, pgMessage string) rejectedRow {
	r := rejectedRow{
		reason:    string(catalog.ReasonStorageRefused),
		message:   pgMessage,
		eventName: e.name,
		product:   e.product,
		eventID:   e.eventID,
		eventTime: time.Unix(0, e.eventTime).UTC(),
		hasTime:   true,
		raw:       rawJSON(e.src),
	}
	r.sanitise()
	return r
}

func (r *rejectedRow) sanitise() {
	r.reason = sanitise(r.reason)
	r.field = sanitise(r.field)
	r.message = sanitise(r.message)
	r.eventName = sanitise(r.eventName)
	r.product = sanitise(r.product)
	r.eventID = sanitise(r.eventID)
}

// sanitise makes s storable in a text column: valid UTF-8, no NUL.
func sanitise(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	return s
}

func strAttr(m pcommon.Map, key string) string {
	if v, ok := m.Get(key); ok {
		return v.AsString()
	}
	return ""
}

// rawJSON is the OTLP/JSON of a plog.Logs holding just this record with its
// resource and scope, without the analytics.* bookkeeping attributes (so a
// replay sees the record as its sender sent it).
func rawJSON(src source) []byte {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	src.rl.Resource().CopyTo(rl.Resource())
	rl.SetSchemaUrl(src.rl.SchemaUrl())
	sl := rl.ScopeLogs().AppendEmpty()
	src.sl.Scope().CopyTo(sl.Scope())
	sl.SetSchemaUrl(src.sl.SchemaUrl())
	lr := sl.LogRecords().AppendEmpty()
	src.lr.CopyTo(lr)
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
