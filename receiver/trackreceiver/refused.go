package trackreceiver

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
)

// A call of a batch that is refused alone is acknowledged (the batch is
// answered 200, the call listed in "rejected"), so it must not be lost: it
// is handed on with the good calls as a record marked with
// catalog.WireRejectReason, WireRejectField and WireRejectMessage, which
// the eventcatalog processor rejects as it is marked, into the
// rejected-events table. A refused /v1/track call is answered 4xx instead
// and not handed on: the client knows.

// rejectedCall is a call of a batch that was refused alone, as reported in
// the response.
type rejectedCall struct {
	Index   int    `json:"index"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// refusedCall is a call of a batch that was refused alone.
type refusedCall struct {
	index   int
	reason  string
	field   string
	message string
	// raw is the call's JSON text as received.
	raw []byte
	// name, id and ctxProduct are the call's event, messageId and
	// context.service.name (else the batch's), each when it is readable
	// ("" if not).
	name       string
	id         string
	ctxProduct string
}

// newRefusedCall keeps what is needed of the call raw (index i of its
// batch) refused with cerr.
func newRefusedCall(i int, raw json.RawMessage, cerr *callError, batchCtx pcommon.Map) refusedCall {
	rc := refusedCall{index: i, reason: cerr.reason, field: cerr.field, message: cerr.message, raw: raw}
	var obj map[string]json.RawMessage
	if jsonKind(raw) == "an object" {
		obj, _ = parseObject(raw)
	}
	rc.name, _ = readableString(obj["event"])
	if jsonKind(obj["messageId"]) == "a number" {
		rc.id = string(obj["messageId"])
	} else {
		rc.id, _ = readableString(obj["messageId"])
	}
	rc.ctxProduct = contextProduct(obj["context"])
	if rc.ctxProduct == "" {
		rc.ctxProduct = serviceName(batchCtx)
	}
	return rc
}

// readableString is the JSON string raw when it decodes to exactly the
// text sent (valid UTF-8, no lone surrogate escape).
func readableString(raw json.RawMessage) (string, bool) {
	if jsonKind(raw) != "a string" {
		return "", false
	}
	if _, _, bad := textProblem(raw); bad {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// contextProduct is the readable service.name of the JSON object ctx.
func contextProduct(ctx json.RawMessage) string {
	if jsonKind(ctx) != "an object" {
		return ""
	}
	obj, err := parseObject(ctx)
	if err != nil || jsonKind(obj["service"]) != "an object" {
		return ""
	}
	svc, err := parseObject(obj["service"])
	if err != nil {
		return ""
	}
	name, _ := readableString(svc["name"])
	return name
}

// fill makes lr the record of the refused call: no time (a resent call is
// then the same refusal), the call's JSON text as the body (a string, or
// bytes when it is not valid UTF-8), event.id when known and the
// ingest.reject.* marker.
func (rc *refusedCall) fill(lr plog.LogRecord) {
	lr.SetEventName(rc.name)
	attrs := lr.Attributes()
	// Whole, even over max_event_bytes (the request is bounded by
	// max_request_body_size): the eventcatalog processor cuts a record too
	// large to keep, with the size and sha256 of the whole (normalize.Cut).
	body := rc.raw
	if utf8.Valid(body) {
		lr.Body().SetStr(string(body))
	} else {
		lr.Body().SetEmptyBytes().FromRaw(body)
	}
	if rc.id != "" {
		attrs.PutStr(catalog.WireEventID, rc.id)
	}
	attrs.PutStr(catalog.WireRejectReason, rc.reason)
	attrs.PutStr(catalog.WireRejectField, rc.field)
	attrs.PutStr(catalog.WireRejectMessage, rc.message)
}

// rejected lists the refused calls for the response.
func (p *payload) rejected() []rejectedCall {
	if len(p.refused) == 0 {
		return nil
	}
	out := make([]rejectedCall, len(p.refused))
	for i, rc := range p.refused {
		out[i] = rejectedCall{Index: rc.index, Reason: rc.reason, Message: "batch[" + strconv.Itoa(rc.index) + "]: " + rc.message}
	}
	return out
}
