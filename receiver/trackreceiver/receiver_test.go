package trackreceiver

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configauth"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/confignet"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pipeline"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
	"github.com/otelcol-analytics/otelcol-analytics/internal/normalize"
)

const okBody = "{\"success\":true}\n"

// harness runs a track receiver on a real listener (127.0.0.1:0).
type harness struct {
	t      *testing.T
	rcv    *trackReceiver
	tel    *componenttest.Telemetry
	base   string
	client *http.Client
}

func testConfig() *Config {
	cfg := createDefaultConfig()
	cfg.ServerConfig.NetAddr.Endpoint = "127.0.0.1:0"
	return cfg
}

func newHarness(t *testing.T, cfg *Config, next consumer.Logs) *harness {
	return newHarnessHost(t, cfg, next, componenttest.NewNopHost())
}

func newHarnessHost(t *testing.T, cfg *Config, next consumer.Logs, host component.Host) *harness {
	t.Helper()
	require.NoError(t, cfg.Validate())
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := receivertest.NewNopSettings(componentType)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	rcv, err := NewFactory().CreateLogs(context.Background(), set, cfg, next)
	require.NoError(t, err)
	r := rcv.(*trackReceiver)
	r.now = func() time.Time { return testReceivedAt }
	require.NoError(t, r.Start(context.Background(), host))
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(func() {
		client.CloseIdleConnections()
		require.NoError(t, r.Shutdown(context.Background()))
	})
	return &harness{t: t, rcv: r, tel: tel, base: "http://" + r.addr.String(), client: client}
}

type request struct {
	method  string
	path    string
	body    []byte
	headers map[string]string
}

type reply struct {
	status int
	header http.Header
	body   string
}

func (h *harness) do(req request) reply {
	h.t.Helper()
	if req.method == "" {
		req.method = http.MethodPost
	}
	hr, err := http.NewRequest(req.method, h.base+req.path, bytes.NewReader(req.body))
	require.NoError(h.t, err)
	hr.Header.Set("Content-Type", "application/json")
	for k, v := range req.headers {
		hr.Header.Set(k, v)
	}
	resp, err := h.client.Do(hr)
	require.NoError(h.t, err)
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	require.NoError(h.t, err)
	return reply{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

func (h *harness) post(path, body string, headers map[string]string) reply {
	h.t.Helper()
	return h.do(request{path: path, body: []byte(body), headers: headers})
}

// counters returns every counter of the receiver (and of its ObsReport):
// "name{attr=value,…}" → value.
func (h *harness) counters() map[string]int64 {
	h.t.Helper()
	out := map[string]int64{}
	for _, name := range []string{
		metricRequests, metricRequestsRejected, metricEventsAccepted, metricEventsRejected, metricEventsIgnored,
		"otelcol_receiver_accepted_log_records", "otelcol_receiver_refused_log_records", "otelcol_receiver_failed_log_records",
	} {
		m, err := h.tel.GetMetric(name)
		if err != nil {
			continue // never recorded
		}
		sum, ok := m.Data.(metricdata.Sum[int64])
		require.True(h.t, ok, name)
		for _, dp := range sum.DataPoints {
			key := name
			var parts []string
			for _, kv := range dp.Attributes.ToSlice() {
				if kv.Key == "receiver" || kv.Key == "transport" {
					continue
				}
				parts = append(parts, string(kv.Key)+"="+kv.Value.String())
			}
			if len(parts) > 0 {
				key += "{" + strings.Join(parts, ",") + "}"
			}
			if dp.Value != 0 {
				out[key] += dp.Value
			}
		}
	}
	return out
}

func basic(key string) map[string]string {
	return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(key+":"))}
}

// records flattens what the sink received.
func records(sink *consumertest.LogsSink) (products []string, recs []plog.LogRecord) {
	for _, ld := range sink.AllLogs() {
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			rl := ld.ResourceLogs().At(i)
			product := ""
			if v, ok := rl.Resource().Attributes().Get("service.name"); ok {
				product = v.Str()
			}
			for j := 0; j < rl.ScopeLogs().Len(); j++ {
				lrs := rl.ScopeLogs().At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					products = append(products, product)
					recs = append(recs, lrs.At(k))
				}
			}
		}
	}
	return products, recs
}

// normalized runs a record through the eventcatalog processor's rules with
// the built-in catalog, as the pipeline would.
func normalized(t *testing.T, product string, lr plog.LogRecord) (normalize.Outcome, catalog.Reason, map[string]any) {
	t.Helper()
	res := pcommon.NewResource()
	if product != "" {
		res.Attributes().PutStr("service.name", product)
	}
	cp := plog.NewLogRecord()
	lr.CopyTo(cp)
	r := normalize.New(nil, normalize.DefaultLimits()).Record(res, pcommon.NewInstrumentationScope(), cp, testReceivedAt)
	attrs := cp.Attributes().AsRaw()
	if r.Outcome == normalize.Accepted {
		// The normalised form as the exporter reads it: what the record
		// carries itself is not stamped.
		ev := catalog.Accepted(res, cp)
		attrs[catalog.AttrEventName], attrs[catalog.AttrProduct] = ev.Name, ev.Product
		attrs[catalog.AttrEventID], attrs[catalog.AttrEventTime] = ev.ID, ev.TimeUnixNano
	}
	return r.Outcome, r.Reason, attrs
}

func TestTrackSingle(t *testing.T) {
	cfg := testConfig()
	cfg.WriteKeys = map[string]string{"wk_chat": "ai_chatbot"}
	sink := new(consumertest.LogsSink)
	h := newHarness(t, cfg, sink)

	body, err := os.ReadFile(filepath.Join("testdata", "track_single.json"))
	require.NoError(t, err)
	rep := h.do(request{path: "/v1/track", body: body, headers: basic("wk_chat")})
	require.Equal(t, http.StatusOK, rep.status, rep.body)
	assert.Equal(t, okBody, rep.body)
	assert.Equal(t, "application/json", rep.header.Get("Content-Type"))

	require.Len(t, sink.AllLogs(), 1)
	products, recs := records(sink)
	require.Len(t, recs, 1)
	lr := recs[0]
	assert.Equal(t, []string{"ai_chatbot"}, products)
	assert.Equal(t, "session.message", lr.EventName())
	// Skew correction: receivedAt 08:00:00 − (sentAt 08:10:02.5 − originalTimestamp 08:10:00).
	assert.Equal(t, ts("2025-12-15T07:59:57.5Z"), lr.Timestamp())
	assert.Equal(t, ts("2025-12-15T08:00:00Z"), lr.ObservedTimestamp())
	assert.Equal(t, map[string]any{
		"session_id":       "s-1",
		"response_time_ms": int64(1500),
		"tokens":           int64(3),
		"score":            float64(3),
		"ratio":            0.25,
		"escalated":        false,
		"tags":             []any{"faq", "billing"},
		"meta":             map[string]any{"model": "qwen", "temperature": 0.7},
		"event.id":         "msg-0001",
		"customer_id":      "cust-42",
		"context": map[string]any{
			"library": map[string]any{"name": "analytics-python", "version": "2.3.2"},
			"ip":      "10.1.2.3",
		},
	}, lr.Attributes().AsRaw())
	typesOf := map[string]pcommon.ValueType{}
	for k, v := range lr.Attributes().All() {
		typesOf[k] = v.Type()
	}
	assert.Equal(t, pcommon.ValueTypeInt, typesOf["tokens"])
	assert.Equal(t, pcommon.ValueTypeDouble, typesOf["score"])
	assert.Equal(t, pcommon.ValueTypeInt, typesOf["response_time_ms"])

	// The eventcatalog processor accepts it as it would an SDK record:
	// response_time_ms (a catalog double) sent as 1500 is widened.
	out, reason, attrs := normalized(t, products[0], lr)
	assert.Equal(t, normalize.Accepted, out, reason)
	assert.Equal(t, "accepted", attrs[catalog.AttrStatus])
	assert.Equal(t, "session.message", attrs[catalog.AttrEventName])
	assert.Equal(t, "ai_chatbot", attrs[catalog.AttrProduct])
	assert.Equal(t, "msg-0001", attrs[catalog.AttrEventID])
	assert.Equal(t, int64(ts("2025-12-15T07:59:57.5Z")), attrs[catalog.AttrEventTime])
	assert.Equal(t, any(float64(1500)), attrs["response_time_ms"], "widened to a double")

	assert.Equal(t, map[string]int64{
		metricRequests + "{endpoint=/v1/track,status_code=200}": 1,
		metricEventsAccepted:                    1,
		"otelcol_receiver_accepted_log_records": 1,
	}, h.counters())
}

// batchBody builds a batch of n session.start calls: batch-level context
// names the product and sentAt is 600 s after the first call, on a client
// clock one hour fast.
func batchBody(n int) []byte {
	clientBase := time.Date(2025, 12, 15, 9, 0, 0, 0, time.UTC) // 1 h fast
	var b strings.Builder
	b.WriteString(`{"sentAt":"` + clientBase.Add(600*time.Second).Format(time.RFC3339Nano) + `",`)
	b.WriteString(`"context":{"service":{"name":"ai_chatbot"},"library":{"name":"analytics.js","version":"5.2.0"}},"batch":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"type":"track","event":"session.start","messageId":"m-%03d","anonymousId":"anon-%d",`+
			`"originalTimestamp":"%s","properties":{"session_id":"s-%03d","channel":"web","n":%d}}`,
			i, i%7, clientBase.Add(time.Duration(i)*time.Second).Format(time.RFC3339Nano), i, i)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// checkBatch asserts the n records of batchBody(n), exactly.
func checkBatch(t *testing.T, sink *consumertest.LogsSink, n int) {
	t.Helper()
	require.Len(t, sink.AllLogs(), 1, "one ConsumeLogs per request")
	products, recs := records(sink)
	require.Len(t, recs, n)
	for i, lr := range recs {
		require.Equal(t, "ai_chatbot", products[i])
		require.Equal(t, "session.start", lr.EventName())
		// receivedAt 08:00:00 − (sentAt (base+600 s) − originalTimestamp (base+i s)).
		require.Equal(t, pcommon.NewTimestampFromTime(testReceivedAt.Add(time.Duration(i-600)*time.Second)), lr.Timestamp(), i)
		require.Equal(t, pcommon.NewTimestampFromTime(testReceivedAt), lr.ObservedTimestamp())
		require.Equal(t, map[string]any{
			"session_id":  fmt.Sprintf("s-%03d", i),
			"channel":     "web",
			"n":           int64(i),
			"event.id":    fmt.Sprintf("m-%03d", i),
			"customer_id": fmt.Sprintf("anon-%d", i%7),
			"context": map[string]any{
				"service": map[string]any{"name": "ai_chatbot"},
				"library": map[string]any{"name": "analytics.js", "version": "5.2.0"},
			},
		}, lr.Attributes().AsRaw(), i)
		out, reason, attrs := normalized(t, products[i], lr)
		require.Equal(t, normalize.Accepted, out, reason)
		require.Equal(t, fmt.Sprintf("m-%03d", i), attrs[catalog.AttrEventID])
	}
}

func TestBatch500(t *testing.T) {
	sink := new(consumertest.LogsSink)
	h := newHarness(t, testConfig(), sink)
	body := batchBody(500)
	require.Less(t, len(body), 512000)
	rep := h.do(request{path: "/v1/batch", body: body})
	require.Equal(t, http.StatusOK, rep.status, rep.body)
	assert.Equal(t, okBody, rep.body)
	checkBatch(t, sink, 500)
	assert.Equal(t, map[string]int64{
		metricRequests + "{endpoint=/v1/batch,status_code=200}": 1,
		metricEventsAccepted:                    500,
		"otelcol_receiver_accepted_log_records": 500,
	}, h.counters())
}

func gzipped(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(data)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func TestGzip(t *testing.T) {
	sink := new(consumertest.LogsSink)
	h := newHarness(t, testConfig(), sink)
	body := gzipped(t, batchBody(500))
	rep := h.do(request{path: "/v1/batch", body: body, headers: map[string]string{"Content-Encoding": "gzip"}})
	require.Equal(t, http.StatusOK, rep.status, rep.body)
	assert.Equal(t, okBody, rep.body)
	checkBatch(t, sink, 500)

	// A small body that inflates past max_request_body_size (512000) is
	// refused: the limit applies to the decompressed body too.
	bomb := gzipped(t, []byte(`{"batch":[`+strings.Repeat(" ", 600000)+`]}`))
	require.Less(t, len(bomb), 2000)
	rep = h.do(request{path: "/v1/batch", body: bomb, headers: map[string]string{"Content-Encoding": "gzip"}})
	assert.Equal(t, http.StatusRequestEntityTooLarge, rep.status)
	assert.JSONEq(t, `{"success":false,"reason":"body_too_large","message":"the request body is larger than max_request_body_size (512000 bytes)"}`, rep.body)

	// A gzip track call.
	rep = h.do(request{
		path: "/v1/track", body: gzipped(t, []byte(`{"event":"session.start","properties":{"session_id":"g"}}`)),
		headers: map[string]string{"Content-Encoding": "gzip"},
	})
	require.Equal(t, http.StatusOK, rep.status, rep.body)
	_, recs := records(sink)
	require.Len(t, recs, 501)
	assert.Equal(t, map[string]any{"session_id": "g"}, recs[500].Attributes().AsRaw())
}

func TestRequestErrors(t *testing.T) {
	cfg := testConfig()
	cfg.MaxBatchEvents = 3
	cfg.MaxEventBytes = 200
	cfg.ServerConfig.MaxRequestBodySize = 1000
	sink := new(consumertest.LogsSink)
	h := newHarness(t, cfg, sink)

	tests := []struct {
		name   string
		req    request
		status int
		body   string
		reason string // counted in requests_rejected
		event  bool   // counted in events_rejected
	}{
		{
			name: "malformed json", req: request{path: "/v1/track", body: []byte(`{"event":"a",}`)},
			status: 400, reason: "malformed_json",
			body: `{"success":false,"reason":"malformed_json","message":"the body is not a JSON object: invalid character '}' looking for beginning of object key string"}`,
		},
		{
			name: "missing event", req: request{path: "/v1/track", body: []byte(`{"type":"track","properties":{"session_id":"s"}}`)},
			status: 400, reason: "missing_event", event: true,
			body: `{"success":false,"reason":"missing_event","message":"event is missing: a track call needs an event name, e.g. {\"event\":\"session.start\",\"properties\":{…}}"}`,
		},
		{
			name: "identify on /v1/track", req: request{path: "/v1/track", body: []byte(`{"type":"identify","userId":"u"}`)},
			status: 400, reason: "unsupported_type", event: true,
			body: `{"success":false,"reason":"unsupported_type","message":"type \"identify\" is not accepted on /v1/track: send track calls here (other calls may go through /v1/batch, where they are ignored)"}`,
		},
		{
			name: "batch not an array", req: request{path: "/v1/batch", body: []byte(`{"batch":"x"}`)},
			status: 400, reason: "malformed_json",
			body: `{"success":false,"reason":"malformed_json","message":"batch must be a JSON array, got a string"}`,
		},
		{
			name: "too many events", req: request{path: "/v1/batch", body: []byte(`{"batch":[{"event":"a"},{"event":"b"},{"event":"c"},{"event":"d"}]}`)},
			status: 413, reason: "too_many_events",
			body: `{"success":false,"reason":"too_many_events","message":"the batch has 4 calls, more than max_batch_events (3); split it"}`,
		},
		{
			name: "track call over max_event_bytes", req: request{path: "/v1/track", body: []byte(`{"event":"a","properties":{"p":"` + strings.Repeat("x", 200) + `"}}`)},
			status: 413, reason: "event_too_large", event: true,
			body: `{"success":false,"reason":"event_too_large","message":"the track call is 201 bytes, more than max_event_bytes (200)"}`,
		},
		{
			name: "identify call over max_event_bytes", req: request{path: "/v1/identify", body: []byte(`{"userId":"` + strings.Repeat("x", 200) + `"}`)},
			status: 413, reason: "event_too_large",
			body: `{"success":false,"reason":"event_too_large","message":"the identify call is 201 bytes, more than max_event_bytes (200)"}`,
		},
		{
			name: "writeKey not a string", req: request{path: "/v1/batch", body: []byte(`{"writeKey":true,"batch":[{"event":"a"}]}`)},
			status: 400, reason: "invalid_field",
			body: `{"success":false,"reason":"invalid_field","message":"writeKey must be a string, got a boolean"}`,
		},
		{
			name: "body over max_request_body_size", req: request{path: "/v1/batch", body: []byte(`{"batch":[` + strings.Repeat(" ", 1000) + `]}`)},
			status: 413, reason: "body_too_large",
			body: `{"success":false,"reason":"body_too_large","message":"the request body is larger than max_request_body_size (1000 bytes)"}`,
		},
		{
			name: "GET", req: request{method: http.MethodGet, path: "/v1/track"},
			status: 405, reason: "method_not_allowed",
			body: `{"success":false,"reason":"method_not_allowed","message":"GET is not allowed; POST the call as JSON"}`,
		},
		{
			name: "unknown path", req: request{path: "/v2/track", body: []byte(`{}`)},
			status: 404, reason: "not_found",
			body: `{"success":false,"reason":"not_found","message":"no such endpoint \"/v2/track\"; POST track calls to /v1/track or /v1/batch"}`,
		},
		{
			name: "unsupported encoding", req: request{path: "/v1/track", body: []byte(`{}`), headers: map[string]string{"Content-Encoding": "br"}},
			status: 400, reason: "unreadable_body",
			body: `{"success":false,"reason":"unreadable_body","message":"unsupported Content-Encoding: br"}`,
		},
		{
			name: "not gzip", req: request{path: "/v1/track", body: []byte(`{"event":"a"}`), headers: map[string]string{"Content-Encoding": "gzip"}},
			status: 400, reason: "unreadable_body",
			body: `{"success":false,"reason":"unreadable_body","message":"gzip: invalid header"}`,
		},
	}
	want := map[string]int64{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := h.do(tt.req)
			assert.Equal(t, tt.status, rep.status)
			assert.JSONEq(t, tt.body, rep.body)
			assert.Equal(t, "application/json", rep.header.Get("Content-Type"))
			if tt.status == http.StatusMethodNotAllowed {
				assert.Equal(t, "POST", rep.header.Get("Allow"))
			}
		})
		endpoint := tt.req.path
		if endpoint == "/v2/track" {
			endpoint = "other"
		}
		want[fmt.Sprintf("%s{endpoint=%s,status_code=%d}", metricRequests, endpoint, tt.status)]++
		want[metricRequestsRejected+"{reason="+tt.reason+"}"]++
		if tt.event {
			want[metricEventsRejected+"{reason="+tt.reason+"}"]++
		}
	}
	assert.Empty(t, sink.AllLogs(), "nothing is handed on")
	assert.Equal(t, want, h.counters())
}

func TestBatchPartial(t *testing.T) {
	sink := new(consumertest.LogsSink)
	h := newHarness(t, testConfig(), sink)
	rep := h.post("/v1/batch", `{"batch":[
		{"type":"identify","userId":"u-1","traits":{"plan":"pro"}},
		{"type":"track","event":"agent.login","messageId":"a-1","properties":{"agent_id":"ag-1"},"context":{"service":{"name":"agent_workbench"}}},
		{"type":"track","properties":{"agent_id":"ag-2"}},
		{"type":"page","name":"Home"},
		{"type":"track","event":"agent.logout","messageId":"a-2","properties":{"agent_id":"ag-1","online_duration_seconds":3600},"context":{"service":{"name":"agent_workbench"}}}
	]}`, nil)
	require.Equal(t, http.StatusOK, rep.status)
	assert.JSONEq(t, `{"success":true,"ignored":2,"rejected":[{"index":2,"reason":"missing_event",
		"message":"batch[2]: event is missing: a track call needs an event name, e.g. {\"event\":\"session.start\",\"properties\":{…}}"}]}`, rep.body)
	// The two good calls, then the refused one (its own product: none).
	require.Len(t, sink.AllLogs(), 1)
	products, recs := records(sink)
	require.Len(t, recs, 3)
	assert.Equal(t, []string{"agent_workbench", "agent_workbench", ""}, products)
	assert.Equal(t, "agent.login", recs[0].EventName())
	assert.Equal(t, "agent.logout", recs[1].EventName())
	assert.Equal(t, pcommon.Timestamp(0), recs[0].Timestamp(), "no time sent: only ObservedTimestamp")
	out, reason, attrs := normalized(t, products[1], recs[1])
	assert.Equal(t, normalize.Accepted, out, reason)
	assert.Equal(t, int64(pcommon.NewTimestampFromTime(testReceivedAt)), attrs[catalog.AttrEventTime])
	assert.Empty(t, recs[2].EventName())
	assert.Equal(t, pcommon.Timestamp(0), recs[2].Timestamp())
	assert.Equal(t, pcommon.Timestamp(0), recs[2].ObservedTimestamp())
	// The call's text as sent: same JSON, same length (not re-encoded).
	const sentCall = `{"type":"track","properties":{"agent_id":"ag-2"}}`
	assert.JSONEq(t, sentCall, recs[2].Body().Str())
	assert.Len(t, recs[2].Body().Str(), len(sentCall))
	assert.Equal(t, map[string]any{
		catalog.WireRejectReason:  "missing_event",
		catalog.WireRejectField:   "event",
		catalog.WireRejectMessage: `event is missing: a track call needs an event name, e.g. {"event":"session.start","properties":{…}}`,
	}, recs[2].Attributes().AsRaw())

	assert.Equal(t, map[string]int64{
		metricRequests + "{endpoint=/v1/batch,status_code=200}": 1,
		metricEventsAccepted:                            2,
		metricEventsRejected + "{reason=missing_event}": 1,
		metricEventsIgnored + "{type=identify}":         1,
		metricEventsIgnored + "{type=page}":             1,
		"otelcol_receiver_accepted_log_records":         3,
	}, h.counters())

	// A batch of nothing but ignored calls consumes nothing.
	rep = h.post("/v1/batch", `{"batch":[{"type":"screen","name":"Main"}]}`, nil)
	require.Equal(t, http.StatusOK, rep.status)
	assert.JSONEq(t, `{"success":true,"ignored":1}`, rep.body)
	assert.Len(t, sink.AllLogs(), 1)
}

func TestEndpointAliases(t *testing.T) {
	sink := new(consumertest.LogsSink)
	h := newHarness(t, testConfig(), sink)
	hdr := map[string]string{"X-Service-Name": "ai_chatbot"}
	for _, tt := range []struct {
		path string
		body string
		want string
	}{
		{"/v1/t", `{"event":"session.start","messageId":"t-1"}`, okBody},
		{"/v1/b", `{"batch":[{"event":"session.start","messageId":"b-1"}]}`, okBody},
		{"/v1/import", `{"batch":[{"event":"session.start","messageId":"i-1"}]}`, okBody},
		{"/v1/identify", `{"userId":"u-1","traits":{"name":"A"}}`, "{\"success\":true,\"ignored\":1}\n"},
		{"/v1/p", `{"name":"Home"}`, "{\"success\":true,\"ignored\":1}\n"},
		{"/v1/alias", `{"previousId":"a","userId":"b"}`, "{\"success\":true,\"ignored\":1}\n"},
	} {
		t.Run(tt.path, func(t *testing.T) {
			rep := h.post(tt.path, tt.body, hdr)
			assert.Equal(t, http.StatusOK, rep.status)
			assert.Equal(t, tt.want, rep.body)
		})
	}
	products, recs := records(sink)
	require.Len(t, recs, 3)
	assert.Equal(t, []string{"ai_chatbot", "ai_chatbot", "ai_chatbot"}, products)
	var ids []string
	for _, lr := range recs {
		v, _ := lr.Attributes().Get("event.id")
		ids = append(ids, v.Str())
	}
	assert.Equal(t, []string{"t-1", "b-1", "i-1"}, ids)
	c := h.counters()
	assert.Equal(t, int64(1), c[metricEventsIgnored+"{type=identify}"])
	assert.Equal(t, int64(1), c[metricEventsIgnored+"{type=page}"])
	assert.Equal(t, int64(1), c[metricEventsIgnored+"{type=alias}"])
}

func TestWriteKeys(t *testing.T) {
	cfg := testConfig()
	cfg.WriteKeys = map[string]string{"wk_chat": "ai_chatbot", "wk_any": ""}
	sink := new(consumertest.LogsSink)
	h := newHarness(t, cfg, sink)

	const (
		withCtx   = `{"event":"session.start","context":{"service":{"name":"agent_workbench"}}}`
		withoutIt = `{"event":"session.start"}`
	)
	header := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	unauthorized := `{"success":false,"reason":"unauthorized","message":"missing or unknown write key: send it as the user name of HTTP Basic auth (empty password), or as writeKey in the body"}`
	tests := []struct {
		name    string
		body    string
		headers map[string]string
		status  int
		product string // want, on 200; "-" for none
	}{
		{name: "no key", body: withoutIt, status: 401},
		{name: "unknown key", body: withoutIt, headers: basic("wk_nope"), status: 401},
		{name: "empty key", body: withoutIt, headers: basic(""), status: 401},
		{name: "bearer is not a write key", body: withoutIt, headers: header("Authorization", "Bearer wk_chat"), status: 401},
		{
			name: "the key's product wins over context and header", body: withCtx,
			headers: merge(basic("wk_chat"), header("X-Service-Name", "other")), status: 200, product: "ai_chatbot",
		},
		{
			name: "key without colon", body: withoutIt,
			headers: header("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("wk_chat"))), status: 200, product: "ai_chatbot",
		},
		{
			name: "a password is ignored", body: withoutIt,
			headers: header("Authorization", "basic "+base64.StdEncoding.EncodeToString([]byte("wk_chat:x"))), status: 200, product: "ai_chatbot",
		},
		{name: "key in the body", body: `{"event":"session.start","writeKey":"wk_chat"}`, status: 200, product: "ai_chatbot"},
		{name: "unknown key in the body", body: `{"event":"session.start","writeKey":"wk_x"}`, status: 401},
		{name: "the header key wins over the body's", body: `{"event":"session.start","writeKey":"wk_chat"}`, headers: basic("wk_nope"), status: 401},
		{name: "a bad body without a key is unauthorized first", body: `{not json`, status: 401},
		{
			name: "open key: context over header", body: withCtx,
			headers: merge(basic("wk_any"), header("X-Service-Name", "ai_chatbot")), status: 200, product: "agent_workbench",
		},
		{
			name: "open key: header", body: withoutIt,
			headers: merge(basic("wk_any"), header("X-Service-Name", "ai_chatbot")), status: 200, product: "ai_chatbot",
		},
		{name: "open key: no product", body: withoutIt, headers: basic("wk_any"), status: 200, product: "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink.Reset()
			rep := h.post("/v1/track", tt.body, tt.headers)
			require.Equal(t, tt.status, rep.status, rep.body)
			if tt.status == http.StatusUnauthorized {
				assert.JSONEq(t, unauthorized, rep.body)
				assert.Empty(t, sink.AllLogs())
				return
			}
			products, recs := records(sink)
			require.Len(t, recs, 1)
			want := tt.product
			if want == "-" {
				want = ""
			}
			assert.Equal(t, want, products[0])
		})
	}
	assert.Equal(t, int64(7), h.counters()[metricRequestsRejected+"{reason=unauthorized}"])

	// Without write_keys there is no write-key check: any key passes.
	h2 := newHarness(t, testConfig(), sink)
	sink.Reset()
	rep := h2.post("/v1/track", withoutIt, basic("whatever"))
	assert.Equal(t, http.StatusOK, rep.status)
	assert.Len(t, sink.AllLogs(), 1)
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func TestBackPressure(t *testing.T) {
	body := `{"event":"session.start","messageId":"bp-1"}`
	tests := []struct {
		name       string
		err        error
		retryAfter time.Duration
		status     int
		header     string
		reply      string
		counters   map[string]int64
	}{
		{
			name: "retryable", err: errors.New("data refused due to high memory usage"), retryAfter: time.Second,
			status: 503, header: "1",
			reply: `{"success":false,"reason":"back_pressure","message":"the pipeline cannot take the events now; retry after 1s: data refused due to high memory usage"}`,
			counters: map[string]int64{
				metricRequests + "{endpoint=/v1/track,status_code=503}": 1,
				metricRequestsRejected + "{reason=back_pressure}":       1,
				"otelcol_receiver_refused_log_records":                  1,
			},
		},
		{
			name: "retry_after rounded up", err: errors.New("queue is full"), retryAfter: 2500 * time.Millisecond,
			status: 503, header: "3",
			reply: `{"success":false,"reason":"back_pressure","message":"the pipeline cannot take the events now; retry after 3s: queue is full"}`,
			counters: map[string]int64{
				metricRequests + "{endpoint=/v1/track,status_code=503}": 1,
				metricRequestsRejected + "{reason=back_pressure}":       1,
				"otelcol_receiver_refused_log_records":                  1,
			},
		},
		{
			name: "permanent", err: consumererror.NewPermanent(errors.New("cannot encode")), retryAfter: time.Second,
			status: 400, header: "",
			reply: `{"success":false,"reason":"pipeline_rejected","message":"the pipeline refused the events permanently (do not resend them unchanged): Permanent error: cannot encode"}`,
			counters: map[string]int64{
				metricRequests + "{endpoint=/v1/track,status_code=400}": 1,
				metricRequestsRejected + "{reason=pipeline_rejected}":   1,
				"otelcol_receiver_refused_log_records":                  1,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.RetryAfter = tt.retryAfter
			h := newHarness(t, cfg, consumertest.NewErr(tt.err))
			rep := h.post("/v1/track", body, nil)
			assert.Equal(t, tt.status, rep.status)
			assert.Equal(t, tt.header, rep.header.Get("Retry-After"))
			assert.JSONEq(t, tt.reply, rep.body)
			assert.Equal(t, tt.counters, h.counters())
		})
	}
}

// blockingConsumer holds ConsumeLogs until released.
type blockingConsumer struct {
	entered  chan struct{}
	release  chan struct{}
	returned atomic.Bool
	sink     consumertest.LogsSink
}

func (b *blockingConsumer) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (b *blockingConsumer) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	close(b.entered)
	<-b.release
	err := b.sink.ConsumeLogs(ctx, ld)
	b.returned.Store(true)
	return err
}

// The answer is written only after ConsumeLogs returned.
func TestRespondsAfterConsume(t *testing.T) {
	bc := &blockingConsumer{entered: make(chan struct{}), release: make(chan struct{})}
	h := newHarness(t, testConfig(), bc)
	type result struct {
		rep              reply
		returnedAtAnswer bool
	}
	done := make(chan result, 1)
	go func() {
		rep := h.post("/v1/track", `{"event":"session.start"}`, nil)
		done <- result{rep, bc.returned.Load()}
	}()
	<-bc.entered
	select {
	case r := <-done:
		t.Fatalf("answered %d before ConsumeLogs returned", r.rep.status)
	default:
	}
	close(bc.release)
	r := <-done
	assert.Equal(t, http.StatusOK, r.rep.status)
	assert.True(t, r.returnedAtAnswer)
	assert.Len(t, bc.sink.AllLogs(), 1)
}

// fakeAuth is a server authenticator extension that wants "X-Token: good".
type fakeAuth struct{}

func (fakeAuth) Start(context.Context, component.Host) error { return nil }
func (fakeAuth) Shutdown(context.Context) error              { return nil }
func (fakeAuth) Authenticate(ctx context.Context, sources map[string][]string) (context.Context, error) {
	if v := sources["X-Token"]; len(v) == 1 && v[0] == "good" {
		return ctx, nil
	}
	return ctx, errors.New("bad token")
}

type authHost struct {
	exts map[component.ID]component.Component
}

func (h authHost) GetExtensions() map[component.ID]component.Component { return h.exts }

func TestAuthExtension(t *testing.T) {
	id := component.MustNewID("fakeauth")
	cfg := testConfig()
	cfg.ServerConfig.Auth = configoptional.Some(confighttp.AuthConfig{Config: configauth.Config{AuthenticatorID: id}})
	sink := new(consumertest.LogsSink)
	h := newHarnessHost(t, cfg, sink, authHost{exts: map[component.ID]component.Component{id: fakeAuth{}}})

	rep := h.post("/v1/track", `{"event":"session.start"}`, nil)
	assert.Equal(t, http.StatusUnauthorized, rep.status)
	assert.JSONEq(t, `{"success":false,"reason":"unauthorized","message":"bad token"}`, rep.body)
	assert.Empty(t, sink.AllLogs())

	rep = h.post("/v1/track", `{"event":"session.start"}`, map[string]string{"X-Token": "good"})
	assert.Equal(t, http.StatusOK, rep.status)
	assert.Len(t, sink.AllLogs(), 1)
	c := h.counters()
	assert.Equal(t, int64(1), c[metricRequests+"{endpoint=/v1/track,status_code=401}"])
	assert.Equal(t, int64(1), c[metricRequestsRejected+"{reason=unauthorized}"])
}

func TestCORS(t *testing.T) {
	cfg := testConfig()
	cors := confighttp.NewDefaultCORSConfig()
	cors.AllowedOrigins = []string{"https://shop.example.com"}
	cors.AllowedHeaders = []string{"Authorization", "X-Service-Name"}
	cfg.ServerConfig.CORS = configoptional.Some(cors)
	h := newHarness(t, cfg, new(consumertest.LogsSink))

	rep := h.do(request{method: http.MethodOptions, path: "/v1/batch", headers: map[string]string{
		"Origin":                         "https://shop.example.com",
		"Access-Control-Request-Method":  "POST",
		"Access-Control-Request-Headers": "authorization,x-service-name",
	}})
	assert.Equal(t, http.StatusNoContent, rep.status)
	assert.Equal(t, "https://shop.example.com", rep.header.Get("Access-Control-Allow-Origin"))

	rep = h.post("/v1/track", `{"event":"session.start"}`, map[string]string{"Origin": "https://shop.example.com"})
	assert.Equal(t, http.StatusOK, rep.status)
	assert.Equal(t, "https://shop.example.com", rep.header.Get("Access-Control-Allow-Origin"))
}

func TestLifecycle(t *testing.T) {
	set := receivertest.NewNopSettings(componentType)
	rcv, err := NewFactory().CreateLogs(context.Background(), set, testConfig(), new(consumertest.LogsSink))
	require.NoError(t, err)
	require.NoError(t, rcv.Shutdown(context.Background()), "Shutdown before Start")
	require.NoError(t, rcv.Start(context.Background(), componenttest.NewNopHost()))
	addr := rcv.(*trackReceiver).addr.String()

	// A second receiver on the same address fails to start.
	cfg2 := testConfig()
	cfg2.ServerConfig.NetAddr.Endpoint = addr
	rcv2, err := NewFactory().CreateLogs(context.Background(), set, cfg2, new(consumertest.LogsSink))
	require.NoError(t, err)
	require.Error(t, rcv2.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, rcv2.Shutdown(context.Background()))

	require.NoError(t, rcv.Shutdown(context.Background()))
	require.NoError(t, rcv.Shutdown(context.Background()), "Shutdown twice")
	_, err = net.Dial("tcp", addr)
	require.Error(t, err, "the listener is closed")
}

// segmentGenerator posts batches of 3 track calls over a unix socket the
// way a Segment client does: it resends on 503, gives up on 400.
type segmentGenerator struct {
	t      *testing.T
	client *http.Client
	seq    atomic.Int64
	mu     sync.Mutex
	seen   map[int]int
}

func (g *segmentGenerator) Start() {}
func (g *segmentGenerator) Stop()  {}

func (g *segmentGenerator) Generate() []receivertest.UniqueIDAttrVal {
	var ids []receivertest.UniqueIDAttrVal
	var b strings.Builder
	b.WriteString(`{"context":{"service":{"name":"ai_chatbot"}},"batch":[`)
	for i := range 3 {
		id := fmt.Sprintf("id-%d", g.seq.Add(1))
		ids = append(ids, receivertest.UniqueIDAttrVal(id))
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"type":"track","event":"session.start","messageId":%q,"properties":{"test_id":%q,"session_id":"s"}}`, id, id)
	}
	b.WriteString(`]}`)
	for {
		resp, err := g.client.Post("http://track/v1/batch", "application/json", strings.NewReader(b.String()))
		if err != nil {
			g.t.Errorf("post: %v", err)
			return ids
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		g.mu.Lock()
		g.seen[resp.StatusCode]++
		g.mu.Unlock()
		switch resp.StatusCode {
		case http.StatusOK, http.StatusBadRequest:
			return ids
		case http.StatusServiceUnavailable:
			assert.Equal(g.t, "1", resp.Header.Get("Retry-After"))
			continue // back-pressure: resend
		default:
			g.t.Errorf("unexpected status %d", resp.StatusCode)
			return ids
		}
	}
}

// The receiver keeps the receiver/consumer contract: every generated
// record is either accepted once or dropped on a permanent error, with
// retryable errors resent by the client.
func TestConsumeContract(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "track.sock")
	cfg := createDefaultConfig()
	cfg.ServerConfig.NetAddr = confignet.AddrConfig{Endpoint: sock, Transport: confignet.TransportTypeUnix}
	// No keep-alive: the contract check starts and stops a receiver per
	// scenario on the same socket, and a POST on a connection the previous
	// receiver closed fails ("server closed idle connection"), not retried.
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
		DisableKeepAlives: true,
	}}
	defer client.CloseIdleConnections()
	gen := &segmentGenerator{t: t, client: client, seen: map[int]int{}}
	receivertest.CheckConsumeContract(receivertest.CheckConsumeContractParams{
		T:             t,
		Factory:       NewFactory(),
		Signal:        pipeline.SignalLogs,
		Config:        cfg,
		Generator:     gen,
		GenerateCount: 200,
	})
	// Each status was seen: the scenarios include retryable and permanent errors.
	assert.Positive(t, gen.seen[http.StatusOK])
	assert.Positive(t, gen.seen[http.StatusServiceUnavailable])
	assert.Positive(t, gen.seen[http.StatusBadRequest])
}
