package trackreceiver

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

var (
	testReceivedAt = time.Date(2025, 12, 15, 8, 0, 0, 0, time.UTC)
	testLimits     = limits{maxBatchEvents: 500, maxEventBytes: 32 * 1024}
)

func ts(s string) pcommon.Timestamp {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return pcommon.NewTimestampFromTime(t)
}

// decodeOne decodes a /v1/track body and returns its one record.
func decodeOne(t *testing.T, body string) plog.LogRecord {
	t.Helper()
	p, aerr := decodeTrack([]byte(body), testReceivedAt, testLimits)
	require.Nil(t, aerr)
	require.Len(t, p.calls, 1)
	ld := toLogs(p.calls, nil, func(ctxProduct string) string { return ctxProduct }, testReceivedAt)
	require.Equal(t, 1, ld.LogRecordCount())
	return ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
}

// typed renders an attribute as "Type:value" so that 3 and 3.0 differ.
func typed(v pcommon.Value) string {
	return v.Type().String() + ":" + v.AsString()
}

func TestNumbers(t *testing.T) {
	tests := []struct {
		json string
		want string
	}{
		{"3", "Int:3"},
		{"-42", "Int:-42"},
		{"0", "Int:0"},
		{"-0", "Int:0"},
		{"9223372036854775807", "Int:9223372036854775807"},
		{"-9223372036854775808", "Int:-9223372036854775808"},
		{"9223372036854775808", "Double:9223372036854776000"}, // beyond int64: a double
		{"3.0", "Double:3"},
		{"3.5", "Double:3.5"},
		{"1e2", "Double:100"},
		{"1E2", "Double:100"},
		{"2.5e-3", "Double:0.0025"},
		{"1e-400", "Double:0"}, // underflows to 0
		{"true", "Bool:true"},
		{"false", "Bool:false"},
		{`"12"`, "Str:12"},
		{`""`, "Str:"},
	}
	for _, tt := range tests {
		t.Run(tt.json, func(t *testing.T) {
			lr := decodeOne(t, `{"event":"e","properties":{"v":`+tt.json+`}}`)
			v, ok := lr.Attributes().Get("v")
			require.True(t, ok)
			assert.Equal(t, tt.want, typed(v))
		})
	}
}

func TestPropertiesShape(t *testing.T) {
	lr := decodeOne(t, `{"event":"e","properties":{
		"b":1,"a":"x","gone":null,"nested":{"z":1.5,"n":null,"list":[1,"two",null,{"k":true}]},
		"dup":1,"dup":"last"}}`)
	attrs := lr.Attributes()
	// Order is the JSON order; a repeated key keeps its first place and the
	// last value; a null property is left out; nulls nested inside are kept.
	var keys []string
	for k := range attrs.All() {
		keys = append(keys, k)
	}
	assert.Equal(t, []string{"b", "a", "nested", "dup"}, keys)
	assert.Equal(t, map[string]any{
		"b": int64(1), "a": "x", "dup": "last",
		"nested": map[string]any{"z": 1.5, "n": nil, "list": []any{int64(1), "two", nil, map[string]any{"k": true}}},
	}, attrs.AsRaw())
	n, _ := attrs.Get("nested")
	nv, _ := n.Map().Get("n")
	assert.Equal(t, pcommon.ValueTypeEmpty, nv.Type())
}

func TestFieldMapping(t *testing.T) {
	tests := []struct {
		name string
		body string
		want map[string]any
	}{
		{
			name: "messageId is event.id, userId is customer_id",
			body: `{"event":"e","messageId":"m-1","userId":"u-1","anonymousId":"a-1"}`,
			want: map[string]any{"event.id": "m-1", "customer_id": "u-1"},
		},
		{
			name: "anonymousId when there is no userId",
			body: `{"event":"e","anonymousId":"a-1","userId":""}`,
			want: map[string]any{"customer_id": "a-1"},
		},
		{
			name: "numeric ids keep their text",
			body: `{"event":"e","messageId":123,"userId":4.50}`,
			want: map[string]any{"event.id": "123", "customer_id": "4.50"},
		},
		{
			name: "a customer_id property wins",
			body: `{"event":"e","userId":"u-1","properties":{"customer_id":"c-9"}}`,
			want: map[string]any{"customer_id": "c-9"},
		},
		{
			name: "a null customer_id property is absent",
			body: `{"event":"e","userId":"u-1","properties":{"customer_id":null}}`,
			want: map[string]any{"customer_id": "u-1"},
		},
		{
			name: "messageId wins over an event.id property",
			body: `{"event":"e","messageId":"m-1","properties":{"event.id":"p-1"}}`,
			want: map[string]any{"event.id": "m-1"},
		},
		{
			name: "an event.id property is used without messageId",
			body: `{"event":"e","properties":{"event.id":"p-1"}}`,
			want: map[string]any{"event.id": "p-1"},
		},
		{
			name: "context is kept as a map",
			body: `{"event":"e","context":{"ip":"10.0.0.1","library":{"name":"analytics-python","version":"2.3.2"}}}`,
			want: map[string]any{"context": map[string]any{"ip": "10.0.0.1", "library": map[string]any{"name": "analytics-python", "version": "2.3.2"}}},
		},
		{
			name: "a context property wins",
			body: `{"event":"e","properties":{"context":"mine"},"context":{"ip":"10.0.0.1"}}`,
			want: map[string]any{"context": "mine"},
		},
		{
			name: "empty context and nulls add nothing",
			body: `{"event":"e","context":{},"properties":null,"messageId":null,"userId":null,"type":null}`,
			want: map[string]any{},
		},
		{
			name: "unknown fields are ignored",
			body: `{"event":"e","integrations":{"All":true},"channel":"server","version":2,"receivedAt":"2020-01-01T00:00:00Z"}`,
			want: map[string]any{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lr := decodeOne(t, tt.body)
			assert.Equal(t, "e", lr.EventName())
			assert.Equal(t, tt.want, lr.Attributes().AsRaw())
		})
	}
}

func TestEventTime(t *testing.T) {
	// receivedAt is 2025-12-15T08:00:00Z.
	tests := []struct {
		name   string
		fields string
		batch  string // batch-level sentAt
		want   pcommon.Timestamp
	}{
		{
			name: "timestamp as sent", fields: `"timestamp":"2025-12-15T07:00:00.123Z","originalTimestamp":"2025-12-15T06:00:00Z","sentAt":"2025-12-15T06:00:05Z"`,
			want: ts("2025-12-15T07:00:00.123Z"),
		},
		{
			name: "skew corrected", fields: `"originalTimestamp":"2025-12-15T08:10:00Z","sentAt":"2025-12-15T08:10:30Z"`,
			want: ts("2025-12-15T07:59:30Z"),
		}, // client clock 10 min fast: 30 s before receipt
		{
			name: "skew corrected with the batch sentAt", fields: `"originalTimestamp":"2025-12-15T09:00:00+08:00"`, batch: "2025-12-15T01:00:02Z",
			want: ts("2025-12-15T07:59:58Z"),
		},
		{
			name: "the call's sentAt wins over the batch's", fields: `"originalTimestamp":"2025-12-15T01:00:00Z","sentAt":"2025-12-15T01:00:10Z"`, batch: "2025-12-15T01:00:02Z",
			want: ts("2025-12-15T07:59:50Z"),
		},
		{
			name: "originalTimestamp without sentAt", fields: `"originalTimestamp":"2025-12-14T23:59:59.5+08:00"`,
			want: ts("2025-12-14T15:59:59.5Z"),
		},
		{name: "sentAt alone: no event time", fields: `"sentAt":"2025-12-15T01:00:10Z"`, want: 0},
		{name: "nothing: no event time", fields: `"timestamp":null`, want: 0},
		{name: "offset without colon", fields: `"timestamp":"2025-12-15T16:00:00.000+0800"`, want: ts("2025-12-15T08:00:00Z")},
		{name: "no zone is UTC", fields: `"timestamp":"2025-12-15T06:30:00.250"`, want: ts("2025-12-15T06:30:00.25Z")},
		{name: "space separator (Python str)", fields: `"timestamp":"2025-12-15 06:30:00.123456+00:00"`, want: ts("2025-12-15T06:30:00.123456Z")},
		{name: "date alone", fields: `"timestamp":"2025-11-30"`, want: ts("2025-11-30T00:00:00Z")},
		{name: "nanoseconds kept", fields: `"timestamp":"2025-12-15T06:30:00.123456789Z"`, want: ts("2025-12-15T06:30:00.123456789Z")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body string
			if tt.batch == "" {
				body = `{"batch":[{"event":"e",` + tt.fields + `}]}`
			} else {
				body = `{"sentAt":"` + tt.batch + `","batch":[{"event":"e",` + tt.fields + `}]}`
			}
			p, aerr := decodeBatch([]byte(body), testReceivedAt, testLimits)
			require.Nil(t, aerr)
			require.Empty(t, p.refused)
			require.Len(t, p.calls, 1)
			ld := toLogs(p.calls, nil, func(string) string { return "" }, testReceivedAt)
			lr := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
			assert.Equal(t, tt.want.AsTime().UTC(), lr.Timestamp().AsTime().UTC())
			assert.Equal(t, tt.want, lr.Timestamp())
			assert.Equal(t, pcommon.NewTimestampFromTime(testReceivedAt), lr.ObservedTimestamp())
		})
	}
}

func TestContextMergeAndProduct(t *testing.T) {
	body := `{"context":{"service":{"name":"agent_workbench","version":"1"},"library":{"name":"lib"},"locale":"zh-CN"},
		"batch":[
			{"event":"a","context":{"service":{"name":"ai_chatbot"},"locale":"en-US"}},
			{"event":"b"},
			{"event":"c","context":{"service":"not a map"}},
			{"event":"d","properties":{"context":1}}
		]}`
	p, aerr := decodeBatch([]byte(body), testReceivedAt, testLimits)
	require.Nil(t, aerr)
	require.Len(t, p.calls, 4)
	assert.Equal(t, "ai_chatbot", p.calls[0].ctxProduct)
	assert.Equal(t, map[string]any{
		"service": map[string]any{"name": "ai_chatbot", "version": "1"},
		"locale":  "en-US",
		"library": map[string]any{"name": "lib"},
	}, p.calls[0].attrs.AsRaw()["context"])
	assert.Equal(t, "agent_workbench", p.calls[1].ctxProduct)
	assert.Equal(t, map[string]any{
		"service": map[string]any{"name": "agent_workbench", "version": "1"},
		"library": map[string]any{"name": "lib"},
		"locale":  "zh-CN",
	}, p.calls[1].attrs.AsRaw()["context"])
	assert.Empty(t, p.calls[2].ctxProduct)
	// A context property hides the Segment context but not its product.
	assert.Equal(t, "agent_workbench", p.calls[3].ctxProduct)
	assert.Equal(t, map[string]any{"context": int64(1)}, p.calls[3].attrs.AsRaw())

	// Records are grouped by product, in order of first appearance.
	ld := toLogs(p.calls, nil, func(c string) string { return c }, testReceivedAt)
	require.Equal(t, 3, ld.ResourceLogs().Len())
	var got []string
	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		rl := ld.ResourceLogs().At(i)
		product := ""
		if svc, ok := rl.Resource().Attributes().Get("service.name"); ok {
			product = svc.Str()
		}
		recs := rl.ScopeLogs().At(0).LogRecords()
		for j := 0; j < recs.Len(); j++ {
			got = append(got, product+"/"+recs.At(j).EventName())
		}
		assert.Equal(t, scopeName, rl.ScopeLogs().At(0).Scope().Name())
	}
	assert.Equal(t, []string{"ai_chatbot/a", "agent_workbench/b", "agent_workbench/d", "/c"}, got)
	_, has := ld.ResourceLogs().At(2).Resource().Attributes().Get("service.name")
	assert.False(t, has, "no product: no service.name at all")
}

func TestDecodeTrackErrors(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		status  int
		reason  string
		message string
		call    bool
	}{
		{"empty", ``, 400, "malformed_json", "the body is not a JSON object: unexpected end of JSON input", false},
		{"not json", `event=e`, 400, "malformed_json", "the body is not a JSON object: invalid character 'e' looking for beginning of value", false},
		{"array", `[{"event":"e"}]`, 400, "malformed_json", "the body is not a JSON object: got an array", false},
		{"null", `null`, 400, "malformed_json", "the body is not a JSON object: got null", false},
		{"trailing data", `{"event":"e"} {}`, 400, "malformed_json", "the body is not a JSON object: invalid character '{' after top-level value", false},
		{"missing event", `{"properties":{"a":1}}`, 400, "missing_event", `event is missing: a track call needs an event name, e.g. {"event":"session.start","properties":{…}}`, true},
		{"empty event", `{"event":""}`, 400, "missing_event", `event is missing: a track call needs an event name, e.g. {"event":"session.start","properties":{…}}`, true},
		{"event not a string", `{"event":12}`, 400, "invalid_field", "event must be a string, got a number", true},
		{"identify", `{"type":"identify","userId":"u"}`, 400, "unsupported_type", `type "identify" is not accepted on /v1/track: send track calls here (other calls may go through /v1/batch, where they are ignored)`, true},
		{"type not a string", `{"type":1,"event":"e"}`, 400, "invalid_field", "type must be a string, got a number", true},
		{"properties a string", `{"event":"e","properties":"a=1"}`, 400, "invalid_field", "properties must be a JSON object, got a string", true},
		{"properties an array", `{"event":"e","properties":[1]}`, 400, "invalid_field", "properties must be a JSON object, got an array", true},
		{"number out of range", `{"event":"e","properties":{"a":{"b":[0,1e400]}}}`, 400, "invalid_field", `properties.a.b[1]: number "1e400" is out of range`, true},
		{"context not an object", `{"event":"e","context":"web"}`, 400, "invalid_field", "context must be a JSON object, got a string", true},
		{"bad messageId", `{"event":"e","messageId":{"id":1}}`, 400, "invalid_field", "messageId must be a string (or a number), got an object", true},
		{"bad userId", `{"event":"e","userId":true}`, 400, "invalid_field", "userId must be a string (or a number), got a boolean", true},
		{"bad timestamp", `{"event":"e","timestamp":"yesterday"}`, 400, "invalid_field", `timestamp: cannot read "yesterday" as an ISO-8601 time (e.g. 2025-12-15T08:00:00.000Z)`, true},
		{"epoch millis", `{"event":"e","timestamp":1765785600000}`, 400, "invalid_field", "timestamp must be a string, got a number", true},
		{"unused bad sentAt", `{"event":"e","timestamp":"2025-12-15T00:00:00Z","sentAt":"soon"}`, 400, "invalid_field", `sentAt: cannot read "soon" as an ISO-8601 time (e.g. 2025-12-15T08:00:00.000Z)`, true},
		{"before 1970", `{"event":"e","timestamp":"1969-12-31T23:59:59Z"}`, 400, "invalid_field", "timestamp 1969-12-31T23:59:59Z is outside the representable range (after 1970-01-01, before 2262-04-11)", true},
		{
			"skew correction before 1970", `{"event":"e","originalTimestamp":"2000-01-01T00:00:00Z","sentAt":"2100-01-01T00:00:00Z"}`, 400, "invalid_field",
			"the skew-corrected time receivedAt − (sentAt − originalTimestamp) 1925-12-15T08:00:00Z is outside the representable range (after 1970-01-01, before 2262-04-11)", true,
		},
		{"after 2262", `{"event":"e","timestamp":"2300-01-01T00:00:00Z"}`, 400, "invalid_field", "timestamp 2300-01-01T00:00:00Z is outside the representable range (after 1970-01-01, before 2262-04-11)", true},
		{"writeKey not a string", `{"event":"e","writeKey":1}`, 400, "invalid_field", "writeKey must be a string, got a number", false},
		{
			"not UTF-8, before the type", `{"type":"identify","userId":"` + "\x80" + `"}`, 400, "invalid_utf8",
			`the call is not valid UTF-8 (byte 0x80 at offset 29 in "userId"): send it as UTF-8; text that is not is refused, never rewritten`, true,
		},
		{
			"a bad type before UTF-8", `{"type":1,"event":"` + "\x80" + `"}`, 400, "invalid_field", "type must be a string, got a number", true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, derr := decodeTrack([]byte(tt.body), testReceivedAt, testLimits)
			require.NotNil(t, derr)
			assert.Equal(t, tt.call, derr.call)
			aerr := refusal(derr)
			assert.Equal(t, tt.status, aerr.status)
			assert.Equal(t, tt.reason, aerr.reason)
			assert.Equal(t, tt.message, aerr.message)
		})
	}
}

func TestDecodeTrackTooLarge(t *testing.T) {
	lim := limits{maxBatchEvents: 10, maxEventBytes: 100}
	body := `{"event":"e","properties":{"pad":"` + strings.Repeat("x", 100-37) + `"}}`
	require.Len(t, body, 100)
	p, derr := decodeTrack([]byte(body), testReceivedAt, lim)
	require.Nil(t, derr)
	require.Len(t, p.calls, 1)

	body = `{"event":"e","properties":{"pad":"` + strings.Repeat("x", 101-37) + `"}}`
	_, derr = decodeTrack([]byte(body), testReceivedAt, lim)
	require.NotNil(t, derr)
	assert.Equal(t, &decodeError{
		reason: "event_too_large", call: true,
		message: "the track call is 101 bytes, more than max_event_bytes (100)",
	}, derr)
	assert.Equal(t, &apiError{
		status: http.StatusRequestEntityTooLarge, reason: "event_too_large",
		message: "the track call is 101 bytes, more than max_event_bytes (100)",
	}, refusal(derr))
}

func TestDecodeBatch(t *testing.T) {
	lim := limits{maxBatchEvents: 10, maxEventBytes: 200}
	body := `{"writeKey":"wk","batch":[
		{"type":"track","event":"ok.one","messageId":"1"},
		{"type":"identify","userId":"u","traits":{"plan":"pro"}},
		{"event":"ok.two","messageId":"2"},
		{"type":"page","name":"Home"},
		{"type":"track","properties":{"a":1}},
		"not an object",
		{"type":"trak","event":"typo"},
		{"event":"big","properties":{"pad":"` + strings.Repeat("x", 200) + `"}},
		{"event":"bad.time","timestamp":"15/12/2025"},
		{"type":"identify"}
	]}`
	p, aerr := decodeBatch([]byte(body), testReceivedAt, lim)
	require.Nil(t, aerr)
	assert.Equal(t, "wk", p.writeKey)
	require.Len(t, p.calls, 2)
	assert.Equal(t, "ok.one", p.calls[0].name)
	assert.Equal(t, "ok.two", p.calls[1].name)
	assert.Equal(t, []typeCount{{"identify", 2}, {"page", 1}}, p.ignored)
	assert.Equal(t, 3, p.ignoredTotal())
	assert.Equal(t, []rejectedCall{
		{Index: 4, Reason: "missing_event", Message: `batch[4]: event is missing: a track call needs an event name, e.g. {"event":"session.start","properties":{…}}`},
		{Index: 5, Reason: "invalid_event", Message: "batch[5]: a call must be a JSON object, got a string"},
		{Index: 6, Reason: "unsupported_type", Message: `batch[6]: unknown type "trak" (want track; identify, page, screen, group and alias are ignored)`},
		{Index: 7, Reason: "event_too_large", Message: "batch[7]: the call is 239 bytes, more than max_event_bytes (200)"},
		{Index: 8, Reason: "invalid_field", Message: `batch[8]: timestamp: cannot read "15/12/2025" as an ISO-8601 time (e.g. 2025-12-15T08:00:00.000Z)`},
	}, p.rejected())
	big := `{"event":"big","properties":{"pad":"` + strings.Repeat("x", 200) + `"}}`
	assert.Equal(t, []refusedCall{
		{
			index: 4, reason: "missing_event", field: "event", raw: []byte(`{"type":"track","properties":{"a":1}}`),
			message: `event is missing: a track call needs an event name, e.g. {"event":"session.start","properties":{…}}`,
		},
		{index: 5, reason: "invalid_event", field: "", raw: []byte(`"not an object"`), message: "a call must be a JSON object, got a string"},
		{
			index: 6, reason: "unsupported_type", field: "type", raw: []byte(`{"type":"trak","event":"typo"}`), name: "typo",
			message: `unknown type "trak" (want track; identify, page, screen, group and alias are ignored)`,
		},
		{index: 7, reason: "event_too_large", field: "", raw: []byte(big), name: "big", message: "the call is 239 bytes, more than max_event_bytes (200)"},
		{
			index: 8, reason: "invalid_field", field: "timestamp", raw: []byte(`{"event":"bad.time","timestamp":"15/12/2025"}`), name: "bad.time",
			message: `timestamp: cannot read "15/12/2025" as an ISO-8601 time (e.g. 2025-12-15T08:00:00.000Z)`,
		},
	}, p.refused)
}

func TestDecodeBatchErrors(t *testing.T) {
	lim := limits{maxBatchEvents: 3, maxEventBytes: 1000}
	tests := []struct {
		name    string
		body    string
		status  int
		reason  string
		message string
	}{
		{"not json", `{"batch":[}`, 400, "malformed_json", "the body is not a JSON object: invalid character '}' looking for beginning of value"},
		{"no batch", `{"sentAt":"2025-12-15T00:00:00Z"}`, 400, "malformed_json", `the body has no "batch": a /v1/batch body is {"batch":[{"type":"track","event":…},…]}`},
		{"null batch", `{"batch":null}`, 400, "malformed_json", `the body has no "batch": a /v1/batch body is {"batch":[{"type":"track","event":…},…]}`},
		{"batch an object", `{"batch":{"event":"e"}}`, 400, "malformed_json", "batch must be a JSON array, got an object"},
		{"too many", `{"batch":[{},{},{},{}]}`, 413, "too_many_events", "the batch has 4 calls, more than max_batch_events (3); split it"},
		{"bad context", `{"batch":[],"context":[1]}`, 400, "invalid_field", "context must be a JSON object, got an array"},
		{"bad sentAt", `{"batch":[],"sentAt":"now"}`, 400, "invalid_field", `sentAt: cannot read "now" as an ISO-8601 time (e.g. 2025-12-15T08:00:00.000Z)`},
		{
			"context not UTF-8", `{"batch":[{"event":"e"}],"context":{"ip":"` + "\xff" + `"}}`, 400, "invalid_utf8",
			"context is not valid UTF-8 (byte 0xff at offset 7 of context): send it as UTF-8; text that is not is refused, never rewritten",
		},
		{
			"context with a lone surrogate", `{"batch":[{"event":"e"}],"context":{"ip":"\udfff"}}`, 400, "invalid_utf8",
			`context is not valid UTF-8 (lone UTF-16 surrogate escape \udfff at offset 7 of context): send it as UTF-8; text that is not is refused, never rewritten`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, derr := decodeBatch([]byte(tt.body), testReceivedAt, lim)
			require.NotNil(t, derr)
			assert.False(t, derr.call)
			aerr := refusal(derr)
			assert.Equal(t, tt.status, aerr.status)
			assert.Equal(t, tt.reason, aerr.reason)
			assert.Equal(t, tt.message, aerr.message)
		})
	}

	p, aerr := decodeBatch([]byte(`{"batch":[]}`), testReceivedAt, lim)
	require.Nil(t, aerr)
	assert.Empty(t, p.calls)
	assert.Empty(t, p.refused)
}

// Text that encoding/json decodes faithfully is kept as sent: a surrogate
// pair, an escaped backslash before "u", a U+FFFD the sender wrote.
func TestTextKept(t *testing.T) {
	lr := decodeOne(t, `{"event":"caf\u00e9 ☕","properties":{"emoji":"\ud83d\ude00","upper":"\uD83D\uDE00",`+
		`"not an escape":"\\ud800","sent":"\ufffd �","max":"\udbff\udfff"}}`)
	assert.Equal(t, "café ☕", lr.EventName())
	assert.Equal(t, map[string]any{
		"emoji": "😀", "upper": "😀", "not an escape": `\ud800`, "sent": "\uFFFD \uFFFD", "max": "\U0010FFFF",
	}, lr.Attributes().AsRaw())
}

// Non-track calls are dropped whatever they hold: one that is not UTF-8 is
// ignored, not refused.
func TestIgnoredNotUTF8(t *testing.T) {
	p, aerr := decodeBatch([]byte(`{"batch":[{"type":"identify","traits":{"name":"`+"\xff"+`"}},{"event":"e"}]}`), testReceivedAt, testLimits)
	require.Nil(t, aerr)
	assert.Empty(t, p.refused)
	assert.Len(t, p.calls, 1)
	assert.Equal(t, []typeCount{{"identify", 1}}, p.ignored)
}
