// Package normalize applies the event catalog to one OTel log record and
// writes the normalised form (the catalog.Attr* attributes) onto it. It is
// pure logic, shared by the eventcatalog processor and by
// `analyticsctl replay-rejected`, which re-normalises stored records.
//
// The rules are those of docs/spec.md §3–§5:
//
//   - event name: LogRecord.EventName, else the string attribute event.name;
//     a record with neither is not a business event (NotAnEvent) and is left
//     untouched apart from the removal of forged analytics.* attributes;
//   - product: resource attribute service.name;
//   - event id: the string attribute event.id (1..128 bytes, valid UTF-8, no
//     NUL), else DeriveEventID over the record's content;
//   - event time: Timestamp, else ObservedTimestamp, else now;
//   - checks, first failure wins: too_deep, nul_byte / invalid_utf8,
//     invalid_event_id, too_large, missing_product, unknown_event,
//     wrong_product, missing_attribute, wrong_type, invalid_value,
//     past_timestamp / future_timestamp.
//
// An int sent for a double attribute is accepted and widened to a double in
// place on accepted records. Attributes the catalog does not know are kept.
package normalize

import (
	"encoding/hex"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
)

// MaxEventIDBytes is the longest event.id a sender may set.
const MaxEventIDBytes = 128

// MaxNameBytes is the longest event name, product (service.name) or
// attribute name a record may carry (too_large, field "event.name",
// "service.name" or the attribute name).
const MaxNameBytes = 256

// QueueMaxDepth is the deepest nesting of maps and arrays a value may have
// and still be read back from the collector's persistent queue: the queue
// stores items as protobuf, and pdata refuses to decode more than 100 levels
// of messages (three per map level, two per array level, plus the envelope).
// Limits.MaxDepth may not exceed it; GuardQueue cuts anything deeper.
const QueueMaxDepth = 24

// CutBytes is how much of a cut record's OTLP/JSON its body keeps.
const CutBytes = 16 << 10

// Limits bound what one record may carry.
type Limits struct {
	// MaxAttributes is the most attributes a record may have (too_large,
	// field "attributes"). Default 64.
	MaxAttributes int
	// MaxValueBytes is the longest string or bytes value, in bytes (too_large,
	// field = attribute name). For a map or slice value it bounds the summed
	// size of its keys and leaves. Default 8192.
	MaxValueBytes int
	// MaxRecordBytes bounds the whole record: event name, body, and every
	// attribute's key and value (too_large, field "record"). Default 65536.
	MaxRecordBytes int
	// MaxDepth is the deepest nesting of maps and arrays an attribute value
	// or the body may have (too_deep, field = the attribute name or "body");
	// a scalar is depth 0, a map of scalars depth 1. Default 16, at most
	// QueueMaxDepth.
	MaxDepth int
	// MaxFutureSkew is how far after the time received an event time may be
	// (future_timestamp, field "timestamp"). Default 1h.
	MaxFutureSkew time.Duration
	// MinEventTime is the earliest event time accepted (past_timestamp, field
	// "timestamp"): older times are almost always a unit error, such as
	// milliseconds sent where nanoseconds are expected. Default
	// 2000-01-01T00:00:00Z. Backfills of real history are after it.
	MinEventTime time.Time
}

// DefaultMinEventTime is the default Limits.MinEventTime.
var DefaultMinEventTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// DefaultLimits returns the default limits: 64 attributes, 8192 bytes per
// value, 65536 bytes per record, 16 levels of nesting, 1h of future skew,
// nothing before 2000-01-01.
func DefaultLimits() Limits {
	return Limits{
		MaxAttributes: 64, MaxValueBytes: 8192, MaxRecordBytes: 64 << 10, MaxDepth: 16,
		MaxFutureSkew: time.Hour, MinEventTime: DefaultMinEventTime,
	}
}

// Outcome is what Record decided.
type Outcome int

// The outcomes of Record.
const (
	// Accepted: the record is a valid business event.
	Accepted Outcome = iota + 1
	// Rejected: the record is a business event that failed the catalog; the
	// reason, field and message are set on it.
	Rejected
	// NotAnEvent: the record has no event name (an ordinary log).
	NotAnEvent
)

func (o Outcome) String() string {
	switch o {
	case Accepted:
		return "accepted"
	case Rejected:
		return "rejected"
	case NotAnEvent:
		return "not_an_event"
	}
	return "unknown"
}

// Field names used in AttrRejectField besides attribute names.
const (
	FieldAttributes = "attributes"
	FieldRecord     = "record"
	FieldBody       = "body"
	FieldTimestamp  = "timestamp"
	FieldProduct    = "service.name"
	FieldEventName  = catalog.WireEventName
	FieldEventID    = catalog.WireEventID
)

// Normalizer applies one catalog with one set of limits. It is immutable and
// safe for concurrent use.
type Normalizer struct {
	cat *catalog.Catalog
	lim Limits
}

// New returns a Normalizer for cat (nil: catalog.Default()) and lim. A zero or
// negative limit takes its default.
func New(cat *catalog.Catalog, lim Limits) *Normalizer {
	if cat == nil {
		cat = catalog.Default()
	}
	def := DefaultLimits()
	if lim.MaxAttributes <= 0 {
		lim.MaxAttributes = def.MaxAttributes
	}
	if lim.MaxValueBytes <= 0 {
		lim.MaxValueBytes = def.MaxValueBytes
	}
	if lim.MaxRecordBytes <= 0 {
		lim.MaxRecordBytes = def.MaxRecordBytes
	}
	if lim.MaxDepth <= 0 {
		lim.MaxDepth = def.MaxDepth
	}
	lim.MaxDepth = min(lim.MaxDepth, QueueMaxDepth)
	if lim.MaxFutureSkew <= 0 {
		lim.MaxFutureSkew = def.MaxFutureSkew
	}
	if lim.MinEventTime.IsZero() {
		lim.MinEventTime = def.MinEventTime
	}
	return &Normalizer{cat: cat, lim: lim}
}

// Catalog returns the catalog the Normalizer applies.
func (n *Normalizer) Catalog() *catalog.Catalog { return n.cat }

// Limits returns the limits the Normalizer applies (defaults filled in).
func (n *Normalizer) Limits() Limits { return n.lim }

// rejection is a failed check; message is built only on this (slow) path.
type rejection struct {
	reason  catalog.Reason
	field   string
	message string
}

// TimeSource says where the event time of a record came from.
type TimeSource int

// The time sources, in the order Record tries them.
const (
	// TimeFromTimestamp: the record's Timestamp.
	TimeFromTimestamp TimeSource = iota
	// TimeFromObserved: no Timestamp, the record's ObservedTimestamp (set by
	// the sender's SDK when the record was emitted, or by a receiver when it
	// was received).
	TimeFromObserved
	// TimeFromReceipt: neither; the time the processor saw the record.
	TimeFromReceipt
)

func (t TimeSource) String() string {
	switch t {
	case TimeFromTimestamp:
		return "timestamp"
	case TimeFromObserved:
		return "observed_timestamp"
	}
	return "receipt"
}

// Result is what Record decided about one record.
type Result struct {
	Outcome Outcome
	// Reason is set when Outcome is Rejected.
	Reason catalog.Reason
	// Time says where the event time came from (not set for NotAnEvent).
	Time TimeSource
	// DerivedID is true when the record had no event.id and got a derived one.
	DerivedID bool
	// Cut is true when the record was too deep or too large to carry and its
	// content was replaced by the start of its OTLP/JSON (see Cut).
	Cut bool
}

// Record normalises one record in place: it removes any analytics.*
// attribute already on it, resolves name, product, id and time, checks the
// record against the catalog and sets the catalog.Attr* attributes. scope is
// the record's instrumentation scope (kept in the raw form of a cut record).
//
// An accepted record gets catalog.AttrContentHash and has every int sent for
// a double attribute widened to a double. A rejected record gets the name,
// product, id and time attributes that could be resolved (no id when
// event.id is unusable) and catalog.AttrRejectKey; one rejected as too_deep
// or too_large is cut (Cut), so that it can be queued and stored.
//
// A record marked refused by a receiver (catalog.WireRejectReason) is
// rejected with the reason, field and message given, event name or not.
func (n *Normalizer) Record(res pcommon.Resource, scope pcommon.InstrumentationScope, lr plog.LogRecord, now time.Time) Result {
	attrs := lr.Attributes()
	stripAnalytics(attrs)
	rej := takeRefusal(attrs)

	name := lr.EventName()
	if name == "" {
		if v, ok := attrs.Get(catalog.WireEventName); ok && v.Type() == pcommon.ValueTypeStr {
			name = v.Str()
		}
	}
	if name == "" && rej == nil {
		return Result{Outcome: NotAnEvent}
	}

	productSet := false
	product := ""
	if v, ok := res.Attributes().Get("service.name"); ok && v.Type() == pcommon.ValueTypeStr {
		product = v.Str()
		productSet = product != ""
	}

	var out Result
	eventTime := lr.Timestamp()
	if eventTime == 0 {
		eventTime, out.Time = lr.ObservedTimestamp(), TimeFromObserved
	}
	if eventTime == 0 {
		eventTime, out.Time = pcommon.NewTimestampFromTime(now), TimeFromReceipt
	}

	idVal, hasID := attrs.Get(catalog.WireEventID)
	ev, known := n.cat.Lookup(name)

	// A receiver's refusal keeps its reason, but is cut like any record too
	// deep or too large to carry (a call over the track receiver's
	// max_event_bytes, say).
	cut := false
	if rej == nil {
		rej = n.check(name, product, productSet, lr, idVal, hasID, ev, known, eventTime, now)
		cut = rej != nil && (rej.reason == catalog.ReasonTooDeep || rej.reason == catalog.ReasonTooLarge)
	} else {
		cut = n.checkDepth(attrs, lr.Body()) != nil || n.checkSize(name, product, attrs, lr.Body()) != nil
	}
	if rej == nil && known {
		widen(ev, attrs)
	}
	var doubles *catalog.Event
	if known {
		doubles = ev
	}

	// The id: a usable event.id, else the one derived from the content, with
	// the event time actually used (two events at different times never get
	// one id). The content hash of an accepted record is that same sum.
	id, idOK := "", true
	var content [32]byte
	switch {
	case !hasID:
		content = hashContent(idDomain, product, name, eventTime, attrs, doubles, nil)
		id, out.DerivedID = idHex(&content), true
	case idVal.Type() == pcommon.ValueTypeStr && validEventID(idVal.Str()):
		// With the sender's own id, the content is what the sender said:
		// its Timestamp (0 if none), never a time of emission or receipt,
		// so a resend of a time-less record is an exact resend.
		id = idVal.Str()
		if rej == nil {
			content = hashContent(idDomain, product, name, lr.Timestamp(), attrs, doubles, nil)
		}
	default:
		idOK = false
	}

	// The key of a refusal: its reason and the whole content, event.id and
	// body included, with the sender's Timestamp only (never a time of
	// emission or receipt: a resent time-less refusal is the same refusal).
	var rejectKey [32]byte
	if rej != nil {
		body := lr.Body()
		rejectKey = hashContent(rejectDomain+string(rej.reason)+"\x00", product, name, lr.Timestamp(), attrs, nil, &body)
		if cut {
			Cut(res, scope, lr)
			attrs = lr.Attributes()
			out.Cut = true
			// A name or product over the limit is kept only in the raw form.
			if len(name) > MaxNameBytes {
				name = safeField(name[:MaxNameBytes])
				lr.SetEventName(name)
			}
			if len(product) > MaxNameBytes {
				product = safeField(product[:MaxNameBytes])
			}
		}
	}

	// An accepted record is not stamped with what it carries itself,
	// unchanged (catalog.Accepted reads it back): its EventName, its
	// resource's service.name, its event.id, its Timestamp. A rejected record
	// gets every stamp.
	accepted := rej == nil
	putName := name != "" && (!accepted || lr.EventName() != name)
	putProduct := productSet && !accepted
	putID := idOK && (!accepted || out.DerivedID)
	// A time after 2262 does not fit (and is rejected above): left unset.
	putTime := eventTime <= math.MaxInt64 && (!accepted || eventTime != lr.Timestamp())

	// Every attribute put below may grow the map: no pcommon.Value taken from
	// attrs above is used after this point. Room for exactly the stamps put
	// (no analytics.* attribute is left, so each one is appended): status,
	// name, product, id, time, then the content hash and counters of an
	// accepted record or the reason, field, message and key of a rejected one.
	stamps := 1 + b2i(putName) + b2i(putProduct) + b2i(putID) + b2i(putTime)
	if accepted {
		stamps++
		if known {
			stamps += b2i(ev.Measure != "") + b2i(ev.Flag != "")
		}
	} else {
		stamps += 4
	}
	attrs.EnsureCapacity(attrs.Len() + stamps)
	if accepted {
		attrs.PutStr(catalog.AttrStatus, catalog.StatusAccepted)
	} else {
		attrs.PutStr(catalog.AttrStatus, catalog.StatusRejected)
	}
	if putName {
		attrs.PutStr(catalog.AttrEventName, name)
	}
	if putProduct {
		attrs.PutStr(catalog.AttrProduct, product)
	}
	if putID {
		attrs.PutStr(catalog.AttrEventID, id)
	}
	if putTime {
		attrs.PutInt(catalog.AttrEventTime, int64(eventTime)) //nolint:gosec // putTime holds only for eventTime ≤ MaxInt64
	}
	if rej == nil {
		attrs.PutEmptyBytes(catalog.AttrContentHash).FromRaw(content[:16])
		if known {
			stampCounters(ev, attrs)
		}
		out.Outcome = Accepted
		return out
	}
	attrs.PutStr(catalog.AttrRejectReason, string(rej.reason))
	attrs.PutStr(catalog.AttrRejectField, rej.field)
	attrs.PutStr(catalog.AttrRejectMessage, rej.message)
	attrs.PutEmptyBytes(catalog.AttrRejectKey).FromRaw(rejectKey[:16])
	out.Outcome, out.Reason = Rejected, rej.reason
	return out
}

// takeRefusal removes a receiver's refusal mark (catalog.WireReject*) from
// attrs and returns it as a rejection, nil if there is none.
func takeRefusal(attrs pcommon.Map) *rejection {
	v, ok := attrs.Get(catalog.WireRejectReason)
	if !ok {
		return nil
	}
	reason := v.AsString()
	field, message := strAttr(attrs, catalog.WireRejectField), strAttr(attrs, catalog.WireRejectMessage)
	attrs.Remove(catalog.WireRejectReason)
	attrs.Remove(catalog.WireRejectField)
	attrs.Remove(catalog.WireRejectMessage)
	if !reasonRE.MatchString(reason) {
		reason = string(catalog.ReasonRefusedByReceiver)
	}
	if message == "" {
		message = "a receiver refused the record (" + reason + ")"
	}
	return &rejection{catalog.Reason(reason), safeField(field), sanitiseText(message)}
}

var reasonRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

func strAttr(m pcommon.Map, key string) string {
	if v, ok := m.Get(key); ok {
		return v.AsString()
	}
	return ""
}

// sanitiseText makes s valid UTF-8 without NUL bytes.
func sanitiseText(s string) string {
	if badText(s) {
		s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
	}
	return s
}

// stripAnalytics removes every attribute a sender may have forged.
func stripAnalytics(attrs pcommon.Map) {
	forged := false
	attrs.Range(func(k string, _ pcommon.Value) bool {
		if strings.HasPrefix(k, catalog.AttrPrefix) {
			forged = true
			return false
		}
		return true
	})
	if forged {
		attrs.RemoveIf(func(k string, _ pcommon.Value) bool {
			return strings.HasPrefix(k, catalog.AttrPrefix)
		})
	}
}

func validEventID(s string) bool {
	return len(s) >= 1 && len(s) <= MaxEventIDBytes && !badText(s)
}

// check runs the checks in order and returns the first failure, nil if none.
func (n *Normalizer) check(name, product string, productSet bool, lr plog.LogRecord, idVal pcommon.Value, hasID bool,
	ev *catalog.Event, known bool, eventTime pcommon.Timestamp, now time.Time,
) *rejection {
	attrs := lr.Attributes()
	// 0–3: depth, text, event.id, sizes.
	if r := n.checkContent(name, product, attrs, lr.Body(), idVal, hasID); r != nil {
		return r
	}

	// 4. Product, event, catalog attributes.
	if !productSet {
		return &rejection{
			catalog.ReasonMissingProduct, FieldProduct,
			"resource attribute service.name is missing or empty; set it to the product that sends the event (e.g. ai_chatbot)",
		}
	}
	if !known {
		return &rejection{
			catalog.ReasonUnknownEvent, FieldEventName,
			"event " + quote(name) + " is not in the event catalog; add it to the catalog file or fix the event name",
		}
	}
	if ev.Product != product {
		return &rejection{
			catalog.ReasonWrongProduct, FieldProduct,
			"event " + quote(name) + " belongs to product " + quote(ev.Product) + ", but it was sent by service.name " + quote(product),
		}
	}
	if r := checkAttributes(ev, attrs); r != nil {
		return r
	}

	// 5. Time. A timestamp of 2^63 ns or more (after 2262) does not fit the
	// signed nanoseconds every store uses: it would wrap to before 1970.
	if eventTime > math.MaxInt64 {
		return &rejection{
			catalog.ReasonFutureTimestamp, FieldTimestamp,
			"event time " + strconv.FormatUint(uint64(eventTime), 10) + " ns is after the year 2262; check the timestamp unit (nanoseconds since 1970)",
		}
	}
	if eventTime.AsTime().Before(n.lim.MinEventTime) {
		return &rejection{catalog.ReasonPastTimestamp, FieldTimestamp, n.pastMessage(eventTime, now)}
	}
	if limit := now.Add(n.lim.MaxFutureSkew); eventTime.AsTime().After(limit) {
		return &rejection{
			catalog.ReasonFutureTimestamp, FieldTimestamp,
			"event time " + eventTime.AsTime().UTC().Format(time.RFC3339Nano) + " is more than " + n.lim.MaxFutureSkew.String() +
				" after the time received (" + now.UTC().Format(time.RFC3339Nano) + "); check the sender's clock and the timestamp unit (nanoseconds)",
		}
	}
	return nil
}

// checkContent runs checks 0 to 3, in this order, and returns the first
// failure, nil if none:
//
//  0. nesting depth (checkDepth), before anything walks the values;
//  1. NUL bytes and invalid UTF-8 anywhere a string is stored: the event
//     name, the product, then every attribute key and string value, nested
//     ones too (the value of event.id is left to 2);
//  2. a sent event.id must be usable (checkEventID);
//  3. size limits (checkSize).
//
// It walks the attributes once for all of them: for each attribute its
// depth, then (until a text problem is found) its text, then (until a size
// problem is found) its size. A failure of an earlier check wins over any
// of a later one, wherever either is in the attributes, exactly as when the
// checks run one after the other.
func (n *Normalizer) checkContent(name, product string, attrs pcommon.Map, body pcommon.Value, idVal pcommon.Value, hasID bool) *rejection {
	limit, maxValue := n.lim.MaxDepth, n.lim.MaxValueBytes
	var (
		deepKey  string
		deep     bool
		textRej  *rejection
		sizeRej  *rejection
		attrSize int // the attributes' keys and values, exact while sizeRej is nil
	)
	attrs.Range(func(k string, v pcommon.Value) bool {
		t := v.Type()
		// 0. Depth (a scalar is depth 0).
		if (t == pcommon.ValueTypeMap || t == pcommon.ValueTypeSlice) && depth(v, limit) > limit {
			deep, deepKey = true, k
			return false
		}
		// 1. Text: the first attribute with a problem in its key or value.
		if textRej == nil {
			if badText(k) {
				textRej = textProblem(safeField(k), "attribute name "+quote(k), k)
			} else if k != catalog.WireEventID {
				bad := ""
				switch t {
				case pcommon.ValueTypeStr:
					if s := v.Str(); badText(s) {
						bad = s
					}
				case pcommon.ValueTypeMap, pcommon.ValueTypeSlice:
					bad = valueText(v)
				}
				if bad != "" {
					what := "attribute " + quote(k)
					if t != pcommon.ValueTypeStr {
						what = "a value nested in attribute " + quote(k)
					}
					textRej = textProblem(safeField(k), what, bad)
				}
			}
		}
		// 3. Size: the first attribute over a limit (see checkValueSizes),
		// and the sum over all of them (see checkSize).
		if textRej != nil || sizeRej != nil {
			return true // only the depth of the rest can still matter
		}
		if len(k) > MaxNameBytes {
			sizeRej = &rejection{
				catalog.ReasonTooLarge, safeField(k),
				"attribute name " + quote(k) + " is " + itoa(len(k)) + " bytes, more than the limit of " + itoa(MaxNameBytes),
			}
			return true
		}
		size := 8
		switch t {
		case pcommon.ValueTypeStr:
			size = len(v.Str())
			if size > maxValue && k != catalog.WireEventID {
				sizeRej = valueTooLarge(k, "value", size, maxValue)
			}
		case pcommon.ValueTypeBytes:
			size = v.Bytes().Len()
			if size > maxValue && k != catalog.WireEventID {
				sizeRej = valueTooLarge(k, "value", size, maxValue)
			}
		case pcommon.ValueTypeMap, pcommon.ValueTypeSlice:
			// Exact when within maxValue (see valueSize).
			if size = valueSize(v, maxValue); size > maxValue {
				sizeRej = valueTooLarge(k, "value (keys and values together)", size, maxValue)
			}
		}
		attrSize += len(k) + size
		return true
	})

	if deep {
		return attrTooDeep(deepKey, limit)
	}
	if depth(body, limit) > limit {
		return bodyTooDeep(limit)
	}

	if r := textProblem(FieldEventName, "the event name", name); r != nil {
		return r
	}
	if r := textProblem(FieldProduct, "resource attribute service.name", product); r != nil {
		return r
	}
	if textRej != nil {
		return textRej
	}

	if hasID {
		if r := checkEventID(idVal); r != nil {
			return r
		}
	}

	if r := n.checkNameSizes(name, product, attrs); r != nil {
		return r
	}
	if sizeRej != nil {
		return sizeRej
	}
	// The whole record: name, body, every key and value (attrSize is exact:
	// no value is over maxValue).
	budget := n.lim.MaxRecordBytes
	if total := len(name) + attrSize; total > budget || total+valueSize(body, budget-total) > budget {
		return recordTooLarge(budget)
	}
	return nil
}

func valueTooLarge(k, what string, size, limit int) *rejection {
	return &rejection{
		catalog.ReasonTooLarge, safeField(k),
		"attribute " + quote(k) + " " + what + " is " + itoa(size) + " bytes, more than the limit of " + itoa(limit),
	}
}

func recordTooLarge(budget int) *rejection {
	return &rejection{
		catalog.ReasonTooLarge, FieldRecord,
		"the record (event name, body, attribute names and values) is more than " + itoa(budget) +
			" bytes, the limit of max_record_bytes; send less per event",
	}
}

// pastMessage explains an event time before MinEventTime, naming the unit
// the value was probably sent in.
func (n *Normalizer) pastMessage(t pcommon.Timestamp, now time.Time) string {
	msg := "event time " + t.AsTime().UTC().Format(time.RFC3339Nano) + " is before " +
		n.lim.MinEventTime.UTC().Format(time.RFC3339) + ", the earliest accepted (min_event_time)"
	v := uint64(t)
	latest := uint64(now.Add(n.lim.MaxFutureSkew).UnixNano()) //nolint:gosec // after 1970
	for _, u := range [...]struct {
		unit string
		mul  uint64
	}{{"seconds", 1e9}, {"milliseconds", 1e6}, {"microseconds", 1e3}} {
		if v <= latest/u.mul && v*u.mul >= uint64(n.lim.MinEventTime.UnixNano()) { //nolint:gosec // after 1970
			return msg + "; the value " + strconv.FormatUint(v, 10) + " reads as " + u.unit +
				" since 1970: send the timestamp in nanoseconds"
		}
	}
	return msg + "; check the sender's clock and the timestamp unit (nanoseconds since 1970)"
}

func textProblem(field, what, s string) *rejection {
	if !badText(s) {
		return nil
	}
	if strings.IndexByte(s, 0) >= 0 {
		return &rejection{catalog.ReasonNulByte, field, what + " contains a NUL byte, which cannot be stored; remove it"}
	}
	if !utf8.ValidString(s) {
		return &rejection{catalog.ReasonInvalidUTF8, field, what + " is not valid UTF-8; send text as UTF-8"}
	}
	return nil
}

// valueText returns the first string in v (a key or value, at any depth)
// that has a NUL byte or is not valid UTF-8, "" if there is none.
func valueText(v pcommon.Value) string {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		if s := v.Str(); badText(s) {
			return s
		}
	case pcommon.ValueTypeMap:
		bad := ""
		v.Map().Range(func(k string, nv pcommon.Value) bool {
			if badText(k) {
				bad = k
				return false
			}
			bad = valueText(nv)
			return bad == ""
		})
		return bad
	case pcommon.ValueTypeSlice:
		s := v.Slice()
		for i := 0; i < s.Len(); i++ {
			if bad := valueText(s.At(i)); bad != "" {
				return bad
			}
		}
	}
	return ""
}

// badText reports whether s has a NUL byte or is not valid UTF-8. Text is
// mostly ASCII: it is read 8 bytes at a time until a byte is NUL or not
// ASCII, and only from there on checked in full.
func badText(s string) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		b := s[i : i+8]
		w := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
			uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
		// Not all ASCII, or (all ASCII) a zero byte.
		if w&hi != 0 || (w-lo)&^w&hi != 0 {
			return badTextFrom(s[i:])
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c == 0 || c >= utf8.RuneSelf {
			return badTextFrom(s[i:])
		}
	}
	return false
}

// badTextFrom is badText of s in full (s starts at a character).
func badTextFrom(s string) bool {
	return strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s)
}

func checkEventID(v pcommon.Value) *rejection {
	const want = "event.id must be a string of 1 to 128 bytes of valid UTF-8 without NUL bytes (or be left out to get a derived id)"
	if v.Type() == pcommon.ValueTypeStr && validEventID(v.Str()) {
		return nil
	}
	if v.Type() != pcommon.ValueTypeStr {
		return &rejection{catalog.ReasonInvalidEventID, FieldEventID, want + ", got " + describe(v)}
	}
	s := v.Str()
	switch {
	case s == "":
		return &rejection{catalog.ReasonInvalidEventID, FieldEventID, want + ", got an empty string"}
	case len(s) > MaxEventIDBytes:
		return &rejection{catalog.ReasonInvalidEventID, FieldEventID, want + ", got " + itoa(len(s)) + " bytes"}
	case strings.IndexByte(s, 0) >= 0:
		return &rejection{catalog.ReasonInvalidEventID, FieldEventID, want + ", got a NUL byte"}
	case !utf8.ValidString(s):
		return &rejection{catalog.ReasonInvalidEventID, FieldEventID, want + ", got invalid UTF-8"}
	}
	return nil
}

func (n *Normalizer) checkSize(name, product string, attrs pcommon.Map, body pcommon.Value) *rejection {
	if r := n.checkValueSizes(name, product, attrs); r != nil {
		return r
	}
	// The whole record: name, body, every key and value.
	budget := n.lim.MaxRecordBytes
	total := len(name) + valueSize(body, budget)
	for k, v := range attrs.All() {
		if total > budget {
			break
		}
		total += len(k) + valueSize(v, budget-total-len(k))
	}
	if total > budget {
		return recordTooLarge(budget)
	}
	return nil
}

func (n *Normalizer) checkValueSizes(name, product string, attrs pcommon.Map) *rejection {
	if r := n.checkNameSizes(name, product, attrs); r != nil {
		return r
	}
	max := n.lim.MaxValueBytes
	var rej *rejection
	attrs.Range(func(k string, v pcommon.Value) bool {
		if len(k) > MaxNameBytes {
			rej = &rejection{
				catalog.ReasonTooLarge, safeField(k),
				"attribute name " + quote(k) + " is " + itoa(len(k)) + " bytes, more than the limit of " + itoa(MaxNameBytes),
			}
			return false
		}
		what := "value"
		switch v.Type() {
		case pcommon.ValueTypeStr, pcommon.ValueTypeBytes:
			if k == catalog.WireEventID {
				return true // bounded by checkEventID
			}
		case pcommon.ValueTypeMap, pcommon.ValueTypeSlice:
			what = "value (keys and values together)"
		default:
			return true
		}
		if size := valueSize(v, max); size > max {
			rej = valueTooLarge(k, what, size, max)
			return false
		}
		return true
	})
	return rej
}

// checkNameSizes checks the number of attributes and the length of the
// event name and the product.
func (n *Normalizer) checkNameSizes(name, product string, attrs pcommon.Map) *rejection {
	if c := attrs.Len(); c > n.lim.MaxAttributes {
		return &rejection{
			catalog.ReasonTooLarge, FieldAttributes,
			"the record has " + itoa(c) + " attributes, more than the limit of " + itoa(n.lim.MaxAttributes),
		}
	}
	if len(name) > MaxNameBytes {
		return &rejection{
			catalog.ReasonTooLarge, FieldEventName,
			"the event name is " + itoa(len(name)) + " bytes, more than the limit of " + itoa(MaxNameBytes),
		}
	}
	if len(product) > MaxNameBytes {
		return &rejection{
			catalog.ReasonTooLarge, FieldProduct,
			"service.name is " + itoa(len(product)) + " bytes, more than the limit of " + itoa(MaxNameBytes),
		}
	}
	return nil
}

// valueSize is the stored size of v: the length of a string or bytes value,
// 8 for a scalar, the sum over keys and elements for a map or slice. It stops
// counting once budget is exceeded (the result is then > budget).
func valueSize(v pcommon.Value, budget int) int {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return len(v.Str())
	case pcommon.ValueTypeBytes:
		return v.Bytes().Len()
	case pcommon.ValueTypeMap:
		size := 0
		v.Map().Range(func(k string, nv pcommon.Value) bool {
			size += len(k) + valueSize(nv, budget-size-len(k))
			return size <= budget
		})
		return size
	case pcommon.ValueTypeSlice:
		s := v.Slice()
		size := 0
		for i := 0; i < s.Len() && size <= budget; i++ {
			size += valueSize(s.At(i), budget-size)
		}
		return size
	}
	return 8
}

// checkAttributes checks the catalog attributes of ev: missing first, then
// wrong type, then invalid value (each in catalog order).
func checkAttributes(ev *catalog.Event, attrs pcommon.Map) *rejection {
	var wrongType, badValue, badNumber *catalog.Attribute
	var wrongVal, badVal, badNum pcommon.Value
	for i := range ev.Attributes {
		a := &ev.Attributes[i]
		v, ok := attrs.Get(a.Name)
		if !ok {
			if a.Required {
				return &rejection{
					catalog.ReasonMissingAttribute, a.Name,
					"required attribute " + quote(a.Name) + " of " + ev.Name + " is missing",
				}
			}
			continue
		}
		if wrongType != nil {
			continue
		}
		if !typeOK(a.Type, v) {
			wrongType, wrongVal = a, v
			continue
		}
		if badValue == nil && len(a.Values) > 0 && !contains(a.Values, v.Str()) {
			badValue, badVal = a, v
		}
		if badNumber == nil && (a.Type == catalog.TypeDouble || a.Type == catalog.TypeInt) &&
			(!a.InRange(number(v)) || (a.Name == ev.Measure && math.Abs(number(v)) > catalog.MaxMeasure)) {
			badNumber, badNum = a, v
		}
	}
	if wrongType != nil {
		return &rejection{
			catalog.ReasonWrongType, wrongType.Name,
			"attribute " + quote(wrongType.Name) + " of " + ev.Name + " must be " + article(wrongType.Type) + " " + string(wrongType.Type) +
				", got " + describe(wrongVal),
		}
	}
	if badValue != nil {
		return &rejection{
			catalog.ReasonInvalidValue, badValue.Name,
			"attribute " + quote(badValue.Name) + " of " + ev.Name + " must be one of " + quoteList(badValue.Values) +
				", got " + quote(badVal.Str()),
		}
	}
	if badNumber != nil {
		return &rejection{catalog.ReasonInvalidValue, badNumber.Name, rangeMessage(ev, badNumber, badNum)}
	}
	return nil
}

// number is the value of an int or double as a float64.
func number(v pcommon.Value) float64 {
	if v.Type() == pcommon.ValueTypeInt {
		return float64(v.Int())
	}
	return v.Double()
}

func rangeMessage(ev *catalog.Event, a *catalog.Attribute, v pcommon.Value) string {
	msg := "attribute " + quote(a.Name) + " of " + ev.Name + " must be "
	f := number(v)
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0):
		msg += "a finite number"
	case a.InRange(f): // a measure over catalog.MaxMeasure
		msg += "at most " + fmtNum(catalog.MaxMeasure) + " in absolute value, the largest measure the counters sum exactly"
	case a.Min != nil && a.Max != nil:
		msg += "between " + fmtNum(*a.Min) + " and " + fmtNum(*a.Max)
	case a.Min != nil:
		msg += "at least " + fmtNum(*a.Min)
	default:
		msg += "at most " + fmtNum(*a.Max)
	}
	return msg + ", got " + describe(v) + "; check the unit and the sender's arithmetic"
}

func fmtNum(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func typeOK(t catalog.Type, v pcommon.Value) bool {
	switch t {
	case catalog.TypeString:
		return v.Type() == pcommon.ValueTypeStr
	case catalog.TypeInt:
		return v.Type() == pcommon.ValueTypeInt
	case catalog.TypeDouble:
		return v.Type() == pcommon.ValueTypeDouble || v.Type() == pcommon.ValueTypeInt
	case catalog.TypeBool:
		return v.Type() == pcommon.ValueTypeBool
	}
	return false
}

// stampCounters sets what the counters add for an accepted record of ev:
// its measure in millionths and its flag, when ev has them and the record
// carries them (checked and widened already).
func stampCounters(ev *catalog.Event, attrs pcommon.Map) {
	if ev.Measure != "" {
		if v, ok := attrs.Get(ev.Measure); ok {
			if m, ok := catalog.Micro(number(v)); ok {
				attrs.PutInt(catalog.AttrMeasureMicro, m)
			}
		}
	}
	if ev.Flag != "" {
		if v, ok := attrs.Get(ev.Flag); ok && v.Type() == pcommon.ValueTypeBool {
			attrs.PutBool(catalog.AttrFlag, v.Bool())
		}
	}
}

// widen turns every int sent for a double attribute of ev into a double.
func widen(ev *catalog.Event, attrs pcommon.Map) {
	for i := range ev.Attributes {
		a := &ev.Attributes[i]
		if a.Type != catalog.TypeDouble {
			continue
		}
		if v, ok := attrs.Get(a.Name); ok && v.Type() == pcommon.ValueTypeInt {
			v.SetDouble(float64(v.Int()))
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ---- messages (rejected path only) ----

const maxQuoted = 64

// quote quotes s for a message, cut to maxQuoted bytes, with invalid UTF-8
// and control bytes escaped.
func quote(s string) string {
	cut := ""
	if len(s) > maxQuoted {
		s, cut = s[:maxQuoted], "…"
	}
	return strconv.Quote(s) + cut
}

// safeField is an attribute name fit for the reject field: valid UTF-8, no
// NUL, at most 256 bytes.
func safeField(k string) string {
	if len(k) > 256 {
		k = k[:256]
	}
	if badText(k) {
		k = strings.ToValidUTF8(strings.ReplaceAll(k, "\x00", "\uFFFD"), "\uFFFD")
	}
	return k
}

func quoteList(vals []string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, v := range vals {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quote(v))
	}
	b.WriteByte(']')
	return b.String()
}

func article(t catalog.Type) string {
	if t == catalog.TypeInt {
		return "an"
	}
	return "a"
}

// describe says what a value is, for messages: `string "fast"`, `int 12`.
func describe(v pcommon.Value) string {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return "string " + quote(v.Str())
	case pcommon.ValueTypeInt:
		return "int " + v.AsString()
	case pcommon.ValueTypeDouble:
		return "double " + v.AsString()
	case pcommon.ValueTypeBool:
		return "bool " + v.AsString()
	case pcommon.ValueTypeBytes:
		return "bytes (" + itoa(v.Bytes().Len()) + " bytes)"
	case pcommon.ValueTypeMap:
		return "a map"
	case pcommon.ValueTypeSlice:
		return "a slice"
	}
	return "an empty value"
}

// ---- event id ----

// idHex renders the first 16 bytes of a sha256 sum as 32 hex digits.
func idHex(sum *[32]byte) string {
	var out [32]byte
	hex.Encode(out[:], sum[:16])
	return string(out[:])
}

func itoa(i int) string { return strconv.Itoa(i) }

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
