package trackreceiver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
)

// The decoder: a request body (one track call, a batch, or a call of an
// ignored type) into a payload of typed calls, or a decodeError. It knows
// nothing of HTTP: http.go answers its errors.

// The kinds of decodeError: the machine-readable reasons of the bodies and
// calls the decoder refuses, as they appear in responses ("reason") and in
// the receiver's telemetry (the HTTP layer's own reasons are in http.go).
const (
	reasonMalformedJSON   = "malformed_json"   // the body is not a JSON object of the expected shape
	reasonInvalidEvent    = "invalid_event"    // a batch entry is not a JSON object
	reasonMissingEvent    = "missing_event"    // a track call without an event name
	reasonInvalidField    = "invalid_field"    // a field of the wrong JSON type, a bad time, a number out of range
	reasonUnsupportedType = "unsupported_type" // a non-track call on /v1/track, an unknown type in a batch
	reasonEventTooLarge   = "event_too_large"  // a call over max_event_bytes
	reasonInvalidUTF8     = "invalid_utf8"     // a call (or a batch context) that is not valid UTF-8 or has a lone surrogate escape
	reasonTooManyEvents   = "too_many_events"  // a batch over max_batch_events
)

// Segment call types. Only track calls become business events; the others
// are accepted and dropped when they come through /v1/batch (or their own
// endpoints), so Segment clients pointed at this receiver keep working.
const typeTrack = "track"

var ignoredTypes = map[string]bool{
	"identify": true, "page": true, "screen": true, "group": true, "alias": true,
}

// attrContext is the attribute that holds a call's context.
const attrContext = "context"

// limits bound a request body.
type limits struct {
	maxBatchEvents int
	maxEventBytes  int
}

// decodeError is a body the decoder refuses. reason is its kind: the HTTP
// layer answers it with a status for the kind (refusal, http.go).
type decodeError struct {
	reason  string
	message string
	// call is set when the error is about the content of the one call of a
	// /v1/track request (it is then also counted as a rejected event).
	call bool
}

func (e *decodeError) Error() string { return e.reason + ": " + e.message }

// callError is a call that cannot become a log record.
type callError struct {
	reason string
	// field is the offending top-level field of the call ("event",
	// "properties", "timestamp", …), "" when the call as a whole is at fault.
	field   string
	message string
}

// call is one decoded track call, ready to become a log record once its
// product is known.
type call struct {
	name string
	// attrs are the properties plus event.id, customer_id and context.
	attrs pcommon.Map
	// ctxProduct is context.service.name ("" if absent).
	ctxProduct string
	// ts is the event time; 0 when the call carries none (the record then
	// has only ObservedTimestamp = the time received).
	ts pcommon.Timestamp
}

// typeCount counts the ignored calls of one type.
type typeCount struct {
	typ string
	n   int
}

// payload is a decoded request body.
type payload struct {
	// writeKey is the body's top-level writeKey ("" if absent).
	writeKey string
	calls    []call
	// refused are the calls of a batch refused alone (refused.go).
	refused []refusedCall
	ignored []typeCount
}

func (p *payload) ignore(typ string) {
	for i := range p.ignored {
		if p.ignored[i].typ == typ {
			p.ignored[i].n++
			return
		}
	}
	p.ignored = append(p.ignored, typeCount{typ, 1})
}

func (p *payload) ignoredTotal() int {
	n := 0
	for _, tc := range p.ignored {
		n += tc.n
	}
	return n
}

// decodeTrack decodes a /v1/track body: one Segment track call. The payload
// is returned whenever the body is a JSON object (so its writeKey can be
// checked), also together with an error about the call.
func decodeTrack(body []byte, receivedAt time.Time, lim limits) (*payload, *decodeError) {
	if len(body) > lim.maxEventBytes {
		return nil, &decodeError{
			reason: reasonEventTooLarge, call: true,
			message: fmt.Sprintf("the track call is %d bytes, more than max_event_bytes (%d)", len(body), lim.maxEventBytes),
		}
	}
	obj, p, derr := decodeObject(body)
	if derr != nil {
		return p, derr
	}
	typ, cerr := callType(obj)
	if cerr == nil {
		cerr = checkCallText(body)
	}
	if cerr == nil && typ != typeTrack {
		cerr = &callError{reasonUnsupportedType, "type", "type " + strconv.Quote(typ) +
			" is not accepted on /v1/track: send track calls here (other calls may go through /v1/batch, where they are ignored)"}
	}
	var c call
	if cerr == nil {
		c, cerr = decodeCall(obj, pcommon.NewMap(), "", receivedAt)
	}
	if cerr != nil {
		return p, &decodeError{reason: cerr.reason, message: cerr.message, call: true}
	}
	p.calls = []call{c}
	return p, nil
}

// decodeBatch decodes a /v1/batch body: {"batch":[call…],"context":{…},
// "sentAt":…}. A call that cannot be used is refused alone (listed in
// payload.refused); a non-track call is ignored (counted by type).
func decodeBatch(body []byte, receivedAt time.Time, lim limits) (*payload, *decodeError) {
	obj, p, derr := decodeObject(body)
	if derr != nil {
		return p, derr
	}
	raw, ok := obj["batch"]
	if !ok || isNull(raw) {
		return p, &decodeError{
			reason:  reasonMalformedJSON,
			message: `the body has no "batch": a /v1/batch body is {"batch":[{"type":"track","event":…},…]}`,
		}
	}
	var entries []json.RawMessage
	if jsonKind(raw) != "an array" || json.Unmarshal(raw, &entries) != nil {
		return p, &decodeError{
			reason:  reasonMalformedJSON,
			message: "batch must be a JSON array, got " + jsonKind(raw),
		}
	}
	if len(entries) > lim.maxBatchEvents {
		return p, &decodeError{
			reason:  reasonTooManyEvents,
			message: fmt.Sprintf("the batch has %d calls, more than max_batch_events (%d); split it", len(entries), lim.maxBatchEvents),
		}
	}

	// The batch's context and sentAt apply to every call that lacks them.
	batchCtx := pcommon.NewMap()
	if raw, ok := obj["context"]; ok && !isNull(raw) {
		if jsonKind(raw) != "an object" {
			return p, &decodeError{reason: reasonInvalidField, message: "context must be a JSON object, got " + jsonKind(raw)}
		}
		if _, where, bad := textProblem(raw); bad {
			return p, &decodeError{reason: reasonInvalidUTF8, message: "context is not valid UTF-8 (" + where + " of context)" + utf8Advice}
		}
		if err := fillMap(batchCtx, raw, false); err != nil {
			return p, &decodeError{reason: reasonInvalidField, message: "context." + err.Error()}
		}
	}
	batchSentAt, cerr := stringField(obj, "sentAt")
	if cerr == nil && batchSentAt != "" {
		_, cerr = parseTime("sentAt", batchSentAt)
	}
	if cerr != nil {
		return p, &decodeError{reason: cerr.reason, message: cerr.message}
	}

	p.calls = make([]call, 0, len(entries))
	for i, raw := range entries {
		c, cerr := decodeEntry(raw, batchCtx, batchSentAt, receivedAt, lim, p)
		if cerr != nil {
			p.refused = append(p.refused, newRefusedCall(i, raw, cerr, batchCtx))
			continue
		}
		if c != nil {
			p.calls = append(p.calls, *c)
		}
	}
	return p, nil
}

// decodeEntry decodes one call of a batch: nil, nil when it is ignored.
func decodeEntry(raw json.RawMessage, batchCtx pcommon.Map, batchSentAt string, receivedAt time.Time, lim limits, p *payload) (*call, *callError) {
	if len(raw) > lim.maxEventBytes {
		return nil, &callError{reasonEventTooLarge, "", fmt.Sprintf("the call is %d bytes, more than max_event_bytes (%d)", len(raw), lim.maxEventBytes)}
	}
	if jsonKind(raw) != "an object" {
		return nil, &callError{reasonInvalidEvent, "", "a call must be a JSON object, got " + jsonKind(raw)}
	}
	obj, err := parseObject(raw)
	if err != nil { // cannot happen: raw is valid JSON
		return nil, &callError{reasonInvalidEvent, "", "a call must be a JSON object: " + err.Error()}
	}
	typ, cerr := callType(obj)
	if cerr != nil {
		return nil, cerr
	}
	if ignoredTypes[typ] {
		p.ignore(typ) // dropped whatever it holds, so nothing is rewritten
		return nil, nil
	}
	if cerr := checkCallText(raw); cerr != nil {
		return nil, cerr
	}
	if typ != typeTrack {
		return nil, &callError{reasonUnsupportedType, "type", "unknown type " + quote(typ) + " (want track; identify, page, screen, group and alias are ignored)"}
	}
	c, cerr := decodeCall(obj, batchCtx, batchSentAt, receivedAt)
	if cerr != nil {
		return nil, cerr
	}
	return &c, nil
}

// decodeIgnored decodes the body of a call of a type the receiver ignores
// (POST /v1/identify …): it must be a JSON object; only its writeKey is
// read.
func decodeIgnored(body []byte, typ string, lim limits) (*payload, *decodeError) {
	if len(body) > lim.maxEventBytes {
		return nil, &decodeError{
			reason:  reasonEventTooLarge,
			message: fmt.Sprintf("the %s call is %d bytes, more than max_event_bytes (%d)", typ, len(body), lim.maxEventBytes),
		}
	}
	_, p, derr := decodeObject(body)
	if derr != nil {
		return p, derr
	}
	p.ignore(typ)
	return p, nil
}

// decodeObject parses a body that must be a JSON object and reads its
// writeKey. The payload is returned whenever the body is a JSON object.
func decodeObject(body []byte) (map[string]json.RawMessage, *payload, *decodeError) {
	obj, err := parseObject(body)
	if err != nil {
		return nil, nil, &decodeError{reason: reasonMalformedJSON, message: "the body is not a JSON object: " + err.Error()}
	}
	p := &payload{}
	key, cerr := stringField(obj, "writeKey")
	if cerr != nil {
		return obj, p, &decodeError{reason: cerr.reason, message: cerr.message}
	}
	p.writeKey = key
	return obj, p, nil
}

// callType is the call's type; an absent or empty type means track.
func callType(obj map[string]json.RawMessage) (string, *callError) {
	typ, cerr := stringField(obj, "type")
	if cerr != nil {
		return "", cerr
	}
	if typ == "" {
		return typeTrack, nil
	}
	return typ, nil
}

// decodeCall turns one track call into a call. batchCtx and batchSentAt
// come from the enclosing batch (empty for /v1/track).
func decodeCall(obj map[string]json.RawMessage, batchCtx pcommon.Map, batchSentAt string, receivedAt time.Time) (call, *callError) {
	name, cerr := stringField(obj, "event")
	if cerr != nil {
		return call{}, cerr
	}
	if name == "" {
		return call{}, &callError{reasonMissingEvent, "event", `event is missing: a track call needs an event name, e.g. {"event":"session.start","properties":{…}}`}
	}
	c := call{name: name, attrs: pcommon.NewMap()}

	// properties → attributes, types kept; a null property is left out.
	if raw, ok := obj["properties"]; ok && !isNull(raw) {
		if jsonKind(raw) != "an object" {
			return call{}, &callError{reasonInvalidField, "properties", "properties must be a JSON object, got " + jsonKind(raw)}
		}
		if err := fillMap(c.attrs, raw, true); err != nil {
			return call{}, &callError{reasonInvalidField, "properties", "properties." + err.Error()}
		}
	}

	// messageId → event.id (it wins over a property of that name).
	id, cerr := idField(obj, "messageId")
	if cerr != nil {
		return call{}, cerr
	}
	if id != "" {
		c.attrs.PutStr(catalog.WireEventID, id)
	}

	// userId, else anonymousId → customer_id, unless a property sets it.
	userID, cerr := idField(obj, "userId")
	if cerr != nil {
		return call{}, cerr
	}
	anonID, cerr := idField(obj, "anonymousId")
	if cerr != nil {
		return call{}, cerr
	}
	if _, set := c.attrs.Get(catalog.KeyCustomerID); !set {
		if userID != "" {
			c.attrs.PutStr(catalog.KeyCustomerID, userID)
		} else if anonID != "" {
			c.attrs.PutStr(catalog.KeyCustomerID, anonID)
		}
	}

	// context (merged over the batch's) → the map attribute "context",
	// unless a property has that name; its service.name is a product source.
	ctx := pcommon.NewMap()
	if raw, ok := obj["context"]; ok && !isNull(raw) {
		if jsonKind(raw) != "an object" {
			return call{}, &callError{reasonInvalidField, "context", "context must be a JSON object, got " + jsonKind(raw)}
		}
		if err := fillMap(ctx, raw, false); err != nil {
			return call{}, &callError{reasonInvalidField, "context", "context." + err.Error()}
		}
	}
	if batchCtx.Len() > 0 {
		mergeMissing(ctx, batchCtx)
	}
	c.ctxProduct = serviceName(ctx)
	if ctx.Len() > 0 {
		if _, set := c.attrs.Get(attrContext); !set {
			ctx.MoveTo(c.attrs.PutEmptyMap(attrContext))
		}
	}

	ts, cerr := eventTime(obj, batchSentAt, receivedAt)
	if cerr != nil {
		return call{}, cerr
	}
	c.ts = ts
	return c, nil
}

// eventTime resolves the event time the way Segment does:
//
//   - timestamp, when present, is used as it is;
//   - else originalTimestamp corrected for the sender's clock skew:
//     receivedAt − (sentAt − originalTimestamp), with sentAt the call's or
//     else the batch's; without sentAt, originalTimestamp as it is;
//   - else 0: no event time (the record keeps only ObservedTimestamp =
//     receivedAt, which the eventcatalog processor then takes as the time).
//
// Every time field present must parse, used or not.
func eventTime(obj map[string]json.RawMessage, batchSentAt string, receivedAt time.Time) (pcommon.Timestamp, *callError) {
	var times [3]time.Time
	var present [3]bool
	for i, field := range [3]string{"timestamp", "originalTimestamp", "sentAt"} {
		s, cerr := stringField(obj, field)
		if cerr != nil {
			return 0, cerr
		}
		label := field
		if s == "" && field == "sentAt" && batchSentAt != "" {
			s, label = batchSentAt, "batch sentAt"
		}
		if s == "" {
			continue
		}
		t, cerr := parseTime(label, s)
		if cerr != nil {
			cerr.field = field
			return 0, cerr
		}
		times[i], present[i] = t, true
	}
	timestamp, original, sentAt := times[0], times[1], times[2]
	var t time.Time
	field, what := "timestamp", "timestamp"
	switch {
	case present[0]:
		t = timestamp
	case present[1] && present[2]:
		t = receivedAt.Add(-sentAt.Sub(original))
		field, what = "originalTimestamp", "the skew-corrected time receivedAt − (sentAt − originalTimestamp)"
	case present[1]:
		t, field, what = original, "originalTimestamp", "originalTimestamp"
	default:
		return 0, nil
	}
	if !t.After(time.Unix(0, 0)) || t.After(maxTime) {
		return 0, &callError{reasonInvalidField, field, what + " " + t.UTC().Format(time.RFC3339Nano) +
			" is outside the representable range (after 1970-01-01, before 2262-04-11)"}
	}
	return pcommon.NewTimestampFromTime(t), nil
}

// maxTime is the latest time Unix nanoseconds in an int64 can hold.
var maxTime = time.Unix(0, math.MaxInt64)

// timeLayouts are the accepted forms of a time: ISO-8601 / RFC 3339 with
// any fraction of a second, with or without a zone (none: UTC), with a T or
// a space, or a date alone (midnight UTC).
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z0700",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02",
}

func parseTime(field, s string) (time.Time, *callError) {
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, &callError{reasonInvalidField, field, field + ": cannot read " + quote(s) +
		" as an ISO-8601 time (e.g. 2025-12-15T08:00:00.000Z)"}
}

// serviceName is ctx.service.name when it is a non-empty string.
func serviceName(ctx pcommon.Map) string {
	svc, ok := ctx.Get("service")
	if !ok || svc.Type() != pcommon.ValueTypeMap {
		return ""
	}
	name, ok := svc.Map().Get("name")
	if !ok || name.Type() != pcommon.ValueTypeStr {
		return ""
	}
	return name.Str()
}

// ---- JSON helpers ----

// parseObject parses a JSON object into its raw members (last duplicate
// wins). It fails on anything else, including trailing data.
func parseObject(data []byte) (map[string]json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, errors.New("got " + jsonKind(bytes.TrimSpace(data)))
		}
		return nil, err
	}
	if obj == nil {
		return nil, errors.New("got null")
	}
	return obj, nil
}

func isNull(raw json.RawMessage) bool { return string(raw) == "null" }

// jsonKind names the kind of a raw JSON value for messages.
func jsonKind(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// stringField reads an optional string member: "" when absent or null.
func stringField(obj map[string]json.RawMessage, field string) (string, *callError) {
	raw, ok := obj[field]
	if !ok || isNull(raw) {
		return "", nil
	}
	var s string
	if jsonKind(raw) != "a string" || json.Unmarshal(raw, &s) != nil {
		return "", &callError{reasonInvalidField, field, field + " must be a string, got " + jsonKind(raw)}
	}
	return s, nil
}

// idField reads an optional id member: a string, or a number taken as the
// text it was written as.
func idField(obj map[string]json.RawMessage, field string) (string, *callError) {
	raw, ok := obj[field]
	if ok && jsonKind(raw) == "a number" {
		return string(raw), nil
	}
	s, cerr := stringField(obj, field)
	if cerr != nil {
		cerr.message = field + " must be a string (or a number), got " + jsonKind(raw)
	}
	return s, cerr
}

// quote quotes s for a message, cut to 64 bytes.
func quote(s string) string {
	if len(s) > 64 {
		return strconv.Quote(s[:64]) + "…"
	}
	return strconv.Quote(s)
}
