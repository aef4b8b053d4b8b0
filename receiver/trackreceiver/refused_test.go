package trackreceiver

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
	"github.com/otelcol-analytics/otelcol-analytics/internal/normalize"
)

// gotRecord is one record handed on, in comparable form.
type gotRecord struct {
	product  string
	name     string
	ts       pcommon.Timestamp
	observed pcommon.Timestamp
	body     any // string, []byte, or nil when empty
	attrs    map[string]any
}

func gotRecords(sink *consumertest.LogsSink) []gotRecord {
	products, recs := records(sink)
	out := make([]gotRecord, len(recs))
	for i, lr := range recs {
		out[i] = gotRecord{
			product: products[i], name: lr.EventName(), ts: lr.Timestamp(), observed: lr.ObservedTimestamp(),
			body: lr.Body().AsRaw(), attrs: lr.Attributes().AsRaw(),
		}
	}
	return out
}

// refusedAttrs are the attributes of a refused-call record: the marker,
// then more key/value pairs.
func refusedAttrs(reason, field, message string, kv ...any) map[string]any {
	m := map[string]any{
		catalog.WireRejectReason:  reason,
		catalog.WireRejectField:   field,
		catalog.WireRejectMessage: message,
	}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

const msgMissingEvent = `event is missing: a track call needs an event name, e.g. {"event":"session.start","properties":{…}}`

// Every refused call of a batch is handed on, in the same ConsumeLogs as
// the good calls, as one record marked with ingest.reject.*; the response
// lists it as before.
func TestBatchRefusedRecords(t *testing.T) {
	const (
		good0 = `{"event":"session.start","messageId":"g-0","properties":{"session_id":"s-0"}}`
		good2 = `{"event":"session.start","messageId":"g-2","properties":{"session_id":"s-2"}}`
	)
	bigPrefix := `{"event":"big","messageId":"r-big","properties":{"pad":"`
	big := bigPrefix + strings.Repeat("x", 4095-len(bigPrefix)) + "é" + strings.Repeat("y", 1000) + `"}}`
	require.Len(t, big, 5100)
	require.Equal(t, "é", big[4095:4097], "a rune across byte 4096")
	bigBad := `{"event":"big` + "\xff" + `","properties":{"pad":"` + strings.Repeat("x", 5000) + `"}}`

	header := map[string]string{headerServiceName: "ai_chatbot"}
	tests := []struct {
		name        string
		call        string // batch[1], between two good calls
		keys        bool   // write_keys {wk_chat: ai_chatbot, wk_any: ""}
		batchCtx    bool   // the batch's context names agent_workbench
		headers     map[string]string
		goodProduct string
		want        gotRecord // the refused call's record (ts, observed: 0)
	}{
		{
			name: "missing event", call: `{"type":"track","messageId":"r-1","properties":{"a":1}}`, headers: header, goodProduct: "ai_chatbot",
			want: gotRecord{
				product: "ai_chatbot", body: `{"type":"track","messageId":"r-1","properties":{"a":1}}`,
				attrs: refusedAttrs("missing_event", "event", msgMissingEvent, "event.id", "r-1"),
			},
		},
		{
			name: "empty event", call: `{"event":"","messageId":"r-1b"}`, headers: header, goodProduct: "ai_chatbot",
			want: gotRecord{
				product: "ai_chatbot", body: `{"event":"","messageId":"r-1b"}`,
				attrs: refusedAttrs("missing_event", "event", msgMissingEvent, "event.id", "r-1b"),
			},
		},
		{
			name: "event a number", call: `{"event":12,"messageId":"r-2"}`, headers: header, goodProduct: "ai_chatbot",
			want: gotRecord{
				product: "ai_chatbot", body: `{"event":12,"messageId":"r-2"}`,
				attrs: refusedAttrs("invalid_field", "event", "event must be a string, got a number", "event.id", "r-2"),
			},
		},
		{
			name: "properties an array", call: `{"event":"session.start","messageId":"r-3","properties":[1,2]}`, headers: header, goodProduct: "ai_chatbot",
			want: gotRecord{
				product: "ai_chatbot", name: "session.start", body: `{"event":"session.start","messageId":"r-3","properties":[1,2]}`,
				attrs: refusedAttrs("invalid_field", "properties", "properties must be a JSON object, got an array", "event.id", "r-3"),
			},
		},
		{
			name: "property number out of range", call: `{"event":"session.start","messageId":42,"properties":{"n":1e400}}`, headers: header, goodProduct: "ai_chatbot",
			want: gotRecord{
				product: "ai_chatbot", name: "session.start", body: `{"event":"session.start","messageId":42,"properties":{"n":1e400}}`,
				attrs: refusedAttrs("invalid_field", "properties", `properties.n: number "1e400" is out of range`, "event.id", "42"),
			},
		},
		{
			name: "not an object", call: `[{"event":"session.start"}]`, headers: header, goodProduct: "ai_chatbot",
			want: gotRecord{
				product: "ai_chatbot", body: `[{"event":"session.start"}]`,
				attrs: refusedAttrs("invalid_event", "", "a call must be a JSON object, got an array"),
			},
		},
		{
			name: "a string entry", call: `"session.start"`, headers: header, goodProduct: "ai_chatbot",
			want: gotRecord{
				product: "ai_chatbot", body: `"session.start"`,
				attrs: refusedAttrs("invalid_event", "", "a call must be a JSON object, got a string"),
			},
		},
		{
			name: "unknown type", call: `{"type":"trak","event":"session.start","messageId":"r-4"}`, headers: header, goodProduct: "ai_chatbot",
			want: gotRecord{
				product: "ai_chatbot", name: "session.start", body: `{"type":"trak","event":"session.start","messageId":"r-4"}`,
				attrs: refusedAttrs("unsupported_type", "type", `unknown type "trak" (want track; identify, page, screen, group and alias are ignored)`, "event.id", "r-4"),
			},
		},
		{
			name: "bad timestamp", call: `{"event":"session.start","messageId":"r-5","timestamp":"15/12/2025"}`, headers: header, goodProduct: "ai_chatbot",
			want: gotRecord{
				product: "ai_chatbot", name: "session.start", body: `{"event":"session.start","messageId":"r-5","timestamp":"15/12/2025"}`,
				attrs: refusedAttrs("invalid_field", "timestamp", `timestamp: cannot read "15/12/2025" as an ISO-8601 time (e.g. 2025-12-15T08:00:00.000Z)`, "event.id", "r-5"),
			},
		},
		{
			name: "skew-corrected time out of range", call: `{"event":"session.start","originalTimestamp":"2000-01-01T00:00:00Z","sentAt":"2100-01-01T00:00:00Z"}`,
			headers: header, goodProduct: "ai_chatbot",
			want: gotRecord{
				product: "ai_chatbot", name: "session.start", body: `{"event":"session.start","originalTimestamp":"2000-01-01T00:00:00Z","sentAt":"2100-01-01T00:00:00Z"}`,
				attrs: refusedAttrs("invalid_field", "originalTimestamp",
					"the skew-corrected time receivedAt − (sentAt − originalTimestamp) 1925-12-15T08:00:00Z is outside the representable range (after 1970-01-01, before 2262-04-11)"),
			},
		},
		{
			name: "bad messageId: no event.id", call: `{"event":"session.start","messageId":{"id":1}}`, headers: header, goodProduct: "ai_chatbot",
			want: gotRecord{
				product: "ai_chatbot", name: "session.start", body: `{"event":"session.start","messageId":{"id":1}}`,
				attrs: refusedAttrs("invalid_field", "messageId", "messageId must be a string (or a number), got an object"),
			},
		},
		{
			name: "over max_event_bytes: the whole call (the processor cuts what is too large to keep)", call: big, headers: header, goodProduct: "ai_chatbot",
			want: gotRecord{
				product: "ai_chatbot", name: "big", body: big,
				attrs: refusedAttrs("event_too_large", "", "the call is 5100 bytes, more than max_event_bytes (5000)",
					"event.id", "r-big"),
			},
		},
		{
			name: "over max_event_bytes and not UTF-8: bytes", call: bigBad, headers: header, goodProduct: "ai_chatbot",
			want: gotRecord{
				product: "ai_chatbot", body: []byte(bigBad),
				attrs: refusedAttrs("event_too_large", "", "the call is 5040 bytes, more than max_event_bytes (5000)"),
			},
		},
		// Invalid UTF-8 is refused, never rewritten: the body keeps the bytes.
		{
			name: "invalid UTF-8 in the event name", call: `{"event":"caf` + "\xe9" + `","messageId":"u-1"}`, headers: header, goodProduct: "ai_chatbot",
			want: gotRecord{
				product: "ai_chatbot", body: []byte(`{"event":"caf` + "\xe9" + `","messageId":"u-1"}`),
				attrs: refusedAttrs("invalid_utf8", "event", `the call is not valid UTF-8 (byte 0xe9 at offset 13 in "event")`+utf8Advice, "event.id", "u-1"),
			},
		},
		{
			name: "invalid UTF-8 in a property value", call: `{"event":"session.start","messageId":"u-2","properties":{"q":"` + "\xff" + `"}}`, headers: header, goodProduct: "ai_chatbot",
			want: gotRecord{
				product: "ai_chatbot", name: "session.start", body: []byte(`{"event":"session.start","messageId":"u-2","properties":{"q":"` + "\xff" + `"}}`),
				attrs: refusedAttrs("invalid_utf8", "properties", `the call is not valid UTF-8 (byte 0xff at offset 62 in "properties")`+utf8Advice, "event.id", "u-2"),
			},
		},
		{
			name: "invalid UTF-8 in a property key", call: `{"event":"session.start","messageId":"u-3","properties":{"` + "\xc3" + `":1}}`, headers: header, goodProduct: "ai_chatbot",
			want: gotRecord{
				product: "ai_chatbot", name: "session.start", body: []byte(`{"event":"session.start","messageId":"u-3","properties":{"` + "\xc3" + `":1}}`),
				attrs: refusedAttrs("invalid_utf8", "properties", `the call is not valid UTF-8 (byte 0xc3 at offset 58 in "properties")`+utf8Advice, "event.id", "u-3"),
			},
		},
		{
			name: "invalid UTF-8 in context: its readable service.name is the product",
			call: `{"event":"session.start","messageId":"u-4","context":{"ip":"` + "\xfe" + `","service":{"name":"agent_workbench"}}}`, headers: header, goodProduct: "ai_chatbot",
			want: gotRecord{
				product: "agent_workbench", name: "session.start",
				body:  []byte(`{"event":"session.start","messageId":"u-4","context":{"ip":"` + "\xfe" + `","service":{"name":"agent_workbench"}}}`),
				attrs: refusedAttrs("invalid_utf8", "context", `the call is not valid UTF-8 (byte 0xfe at offset 60 in "context")`+utf8Advice, "event.id", "u-4"),
			},
		},
		{
			name: "invalid UTF-8 in context.service.name: the header's product",
			call: `{"event":"session.start","messageId":"u-9","context":{"service":{"name":"agent` + "\xa0" + `workbench"}}}`, headers: header, goodProduct: "ai_chatbot",
			want: gotRecord{
				product: "ai_chatbot", name: "session.start",
				body:  []byte(`{"event":"session.start","messageId":"u-9","context":{"service":{"name":"agent` + "\xa0" + `workbench"}}}`),
				attrs: refusedAttrs("invalid_utf8", "context", `the call is not valid UTF-8 (byte 0xa0 at offset 78 in "context")`+utf8Advice, "event.id", "u-9"),
			},
		},
		{
			name: "invalid UTF-8 in messageId: no event.id", call: `{"event":"session.start","messageId":"m` + "\xff" + `"}`, headers: header, goodProduct: "ai_chatbot",
			want: gotRecord{
				product: "ai_chatbot", name: "session.start", body: []byte(`{"event":"session.start","messageId":"m` + "\xff" + `"}`),
				attrs: refusedAttrs("invalid_utf8", "messageId", `the call is not valid UTF-8 (byte 0xff at offset 39 in "messageId")`+utf8Advice),
			},
		},
		{
			name: "invalid UTF-8 in a key of the call: no field", call: `{"ev` + "\xff" + `ent":"x","event":"session.start","messageId":"u-7"}`, headers: header, goodProduct: "ai_chatbot",
			want: gotRecord{
				product: "ai_chatbot", name: "session.start", body: []byte(`{"ev` + "\xff" + `ent":"x","event":"session.start","messageId":"u-7"}`),
				attrs: refusedAttrs("invalid_utf8", "", `the call is not valid UTF-8 (byte 0xff at offset 4)`+utf8Advice, "event.id", "u-7"),
			},
		},
		{
			name: "lone surrogate escape in a property: the text is UTF-8, a string body",
			call: `{"event":"session.start","messageId":"u-5","properties":{"q":"\ud800x"}}`, headers: header, goodProduct: "ai_chatbot",
			want: gotRecord{
				product: "ai_chatbot", name: "session.start", body: `{"event":"session.start","messageId":"u-5","properties":{"q":"\ud800x"}}`,
				attrs: refusedAttrs("invalid_utf8", "properties", `the call is not valid UTF-8 (lone UTF-16 surrogate escape \ud800 at offset 62 in "properties")`+utf8Advice, "event.id", "u-5"),
			},
		},
		{
			name: "lone low surrogate in the event name: no name", call: `{"event":"a\uDC00","messageId":"u-6"}`, headers: header, goodProduct: "ai_chatbot",
			want: gotRecord{
				product: "ai_chatbot", body: `{"event":"a\uDC00","messageId":"u-6"}`,
				attrs: refusedAttrs("invalid_utf8", "event", `the call is not valid UTF-8 (lone UTF-16 surrogate escape \uDC00 at offset 11 in "event")`+utf8Advice, "event.id", "u-6"),
			},
		},
		// The product, resolved as for good calls.
		{
			name: "the call's context.service.name over the header", call: `{"messageId":"p-1","context":{"service":{"name":"agent_workbench"}}}`,
			headers: header, goodProduct: "ai_chatbot",
			want: gotRecord{
				product: "agent_workbench", body: `{"messageId":"p-1","context":{"service":{"name":"agent_workbench"}}}`,
				attrs: refusedAttrs("missing_event", "event", msgMissingEvent, "event.id", "p-1"),
			},
		},
		{
			name: "the batch's context.service.name", call: `{"messageId":"p-2"}`, batchCtx: true, headers: header, goodProduct: "agent_workbench",
			want: gotRecord{
				product: "agent_workbench", body: `{"messageId":"p-2"}`,
				attrs: refusedAttrs("missing_event", "event", msgMissingEvent, "event.id", "p-2"),
			},
		},
		{
			name: "the write key's product over the call's context", call: `{"messageId":"p-3","context":{"service":{"name":"agent_workbench"}}}`,
			keys: true, headers: merge(basic("wk_chat"), map[string]string{headerServiceName: "other"}), goodProduct: "ai_chatbot",
			want: gotRecord{
				product: "ai_chatbot", body: `{"messageId":"p-3","context":{"service":{"name":"agent_workbench"}}}`,
				attrs: refusedAttrs("missing_event", "event", msgMissingEvent, "event.id", "p-3"),
			},
		},
		{
			name: "no product at all", call: `{"messageId":"p-4"}`, keys: true, headers: basic("wk_any"), goodProduct: "",
			want: gotRecord{
				product: "", body: `{"messageId":"p-4"}`,
				attrs: refusedAttrs("missing_event", "event", msgMissingEvent, "event.id", "p-4"),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.MaxEventBytes = 5000
			if tt.keys {
				cfg.WriteKeys = map[string]string{"wk_chat": "ai_chatbot", "wk_any": ""}
			}
			sink := new(consumertest.LogsSink)
			h := newHarness(t, cfg, sink)
			envelope := ""
			if tt.batchCtx {
				envelope = `"context":{"service":{"name":"agent_workbench"}},`
			}
			rep := h.post("/v1/batch", `{`+envelope+`"batch":[`+good0+`,`+tt.call+`,`+good2+`]}`, tt.headers)
			require.Equal(t, http.StatusOK, rep.status, rep.body)

			reason := tt.want.attrs[catalog.WireRejectReason].(string)
			message := tt.want.attrs[catalog.WireRejectMessage].(string)
			wantResp, err := json.Marshal(map[string]any{
				"success":  true,
				"rejected": []map[string]any{{"index": 1, "reason": reason, "message": "batch[1]: " + message}},
			})
			require.NoError(t, err)
			assert.JSONEq(t, string(wantResp), rep.body)

			goodAttrs := func(i string) map[string]any {
				m := map[string]any{"session_id": "s-" + i, "event.id": "g-" + i}
				if tt.batchCtx {
					m["context"] = map[string]any{"service": map[string]any{"name": "agent_workbench"}}
				}
				return m
			}
			observed := pcommon.NewTimestampFromTime(testReceivedAt)
			require.Len(t, sink.AllLogs(), 1, "one ConsumeLogs per request")
			got := gotRecords(sink)
			assert.Equal(t, []gotRecord{
				{product: tt.goodProduct, name: "session.start", observed: observed, attrs: goodAttrs("0")},
				{product: tt.goodProduct, name: "session.start", observed: observed, attrs: goodAttrs("2")},
				tt.want,
			}, got)

			// The eventcatalog processor rejects it with the reason given.
			_, recs := records(sink)
			out, nreason, _ := normalized(t, tt.want.product, recs[2])
			assert.Equal(t, normalize.Rejected, out)
			assert.Equal(t, catalog.Reason(reason), nreason)

			assert.Equal(t, map[string]int64{
				metricRequests + "{endpoint=/v1/batch,status_code=200}": 1,
				metricEventsAccepted:                             2,
				metricEventsRejected + "{reason=" + reason + "}": 1,
				"otelcol_receiver_accepted_log_records":          3,
			}, h.counters())
		})
	}
}

// A batch of refused calls only is handed on too; if the pipeline refuses
// it, the answer is the pipeline's error as for any batch.
func TestBatchRefusedOnly(t *testing.T) {
	body := `{"batch":[{"messageId":"x-1"},{"type":"identify","userId":"u"},42]}`
	wantRecs := []gotRecord{
		{body: `{"messageId":"x-1"}`, attrs: refusedAttrs("missing_event", "event", msgMissingEvent, "event.id", "x-1")},
		{body: `42`, attrs: refusedAttrs("invalid_event", "", "a call must be a JSON object, got a number")},
	}
	wantOK := `{"success":true,"ignored":1,"rejected":[
		{"index":0,"reason":"missing_event","message":"batch[0]: ` + strings.ReplaceAll(msgMissingEvent, `"`, `\"`) + `"},
		{"index":2,"reason":"invalid_event","message":"batch[2]: a call must be a JSON object, got a number"}]}`

	sink := new(consumertest.LogsSink)
	h := newHarness(t, testConfig(), sink)
	rep := h.post("/v1/batch", body, nil)
	require.Equal(t, http.StatusOK, rep.status, rep.body)
	assert.JSONEq(t, wantOK, rep.body)
	require.Len(t, sink.AllLogs(), 1)
	assert.Equal(t, wantRecs, gotRecords(sink))
	assert.Equal(t, map[string]int64{
		metricRequests + "{endpoint=/v1/batch,status_code=200}": 1,
		metricEventsRejected + "{reason=missing_event}":         1,
		metricEventsRejected + "{reason=invalid_event}":         1,
		metricEventsIgnored + "{type=identify}":                 1,
		"otelcol_receiver_accepted_log_records":                 2,
	}, h.counters())

	h = newHarness(t, testConfig(), consumertest.NewErr(errors.New("queue is full")))
	rep = h.post("/v1/batch", body, nil)
	assert.Equal(t, http.StatusServiceUnavailable, rep.status)
	assert.JSONEq(t, `{"success":false,"reason":"back_pressure","message":"the pipeline cannot take the events now; retry after 1s: queue is full"}`, rep.body)
	assert.Equal(t, map[string]int64{
		metricRequests + "{endpoint=/v1/batch,status_code=503}": 1,
		metricRequestsRejected + "{reason=back_pressure}":       1,
		metricEventsRejected + "{reason=missing_event}":         1,
		metricEventsRejected + "{reason=invalid_event}":         1,
		metricEventsIgnored + "{type=identify}":                 1,
		"otelcol_receiver_refused_log_records":                  2,
	}, h.counters())
}

// A refused /v1/track call is answered 4xx and not handed on (the client
// was told); text that is not UTF-8 is refused, never rewritten.
func TestTrackInvalidUTF8(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		message string
	}{
		{"event name", `{"event":"caf` + "\xe9" + `"}`, `byte 0xe9 at offset 13 in "event"`},
		{"property value", `{"event":"e","properties":{"q":"a` + "\xff" + `"}}`, `byte 0xff at offset 33 in "properties"`},
		{"property key", `{"event":"e","properties":{"` + "\xed\xa0\x80" + `":1}}`, `byte 0xed at offset 28 in "properties"`},
		{"context", `{"event":"e","context":{"page":{"title":"` + "\xc0\xaf" + `"}}}`, `byte 0xc0 at offset 41 in "context"`},
		{"lone surrogate escape", `{"event":"e","properties":{"q":"\ud83d"}}`, `lone UTF-16 surrogate escape \ud83d at offset 32 in "properties"`},
		{"reversed surrogate pair", `{"event":"e","properties":{"q":"\ude00\ud83d"}}`, `lone UTF-16 surrogate escape \ude00 at offset 32 in "properties"`},
	}
	sink := new(consumertest.LogsSink)
	h := newHarness(t, testConfig(), sink)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := h.post("/v1/track", tt.body, map[string]string{headerServiceName: "ai_chatbot"})
			assert.Equal(t, http.StatusBadRequest, rep.status)
			want, err := json.Marshal(response{Reason: "invalid_utf8", Message: "the call is not valid UTF-8 (" + tt.message + ")" + utf8Advice})
			require.NoError(t, err)
			assert.JSONEq(t, string(want), rep.body)
		})
	}
	assert.Empty(t, sink.AllLogs(), "a refused /v1/track call is not handed on")
	assert.Equal(t, map[string]int64{
		metricRequests + "{endpoint=/v1/track,status_code=400}": int64(len(tests)),
		metricRequestsRejected + "{reason=invalid_utf8}":        int64(len(tests)),
		metricEventsRejected + "{reason=invalid_utf8}":          int64(len(tests)),
	}, h.counters())
}
