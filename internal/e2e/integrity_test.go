package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/otelcol-analytics/otelcol-analytics/internal/ctl"
	"github.com/otelcol-analytics/otelcol-analytics/internal/testdb"
)

// The rule under test (issue 9): a record that was acknowledged (2xx) is
// either counted once (analytics_events) or stored in
// analytics_rejected_events with a reason, never neither; sent = stored +
// rejected, nothing else; a resend of everything adds nothing.

// integrityDay is the business day (Asia/Shanghai) of every good event.
const integrityDay = "2025-12-15"

// integrityTime is the event time of the records: 2025-12-15T08:00:00Z + i s.
func integrityTime(i int) time.Time {
	return time.Date(2025, 12, 15, 8, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second)
}

// sent is one record sent, with where it must end up.
type sent struct {
	transport, shape string
	product          string
	id               string // event.id / messageId; "" for an id-less record (then sid is its marker)
	sid              string // session_id of an id-less record
	eventName        string // the event name stored ("" = NULL, for a rejected row)
	// stored: expected in analytics_events once; else reason is the
	// expected reason of its one analytics_rejected_events row.
	stored bool
	reason string
	// processorAccepted: the eventcatalog processor accepts it (stored
	// records, and duplicate_conflict ones, which the store rejects).
	processorAccepted bool
	// cut: the processor cut it (too_deep, too_large): its raw is short
	// and raw_truncated.
	cut bool
	// hugeRaw: its whole raw form is over 1 MB (raw_size).
	hugeRaw bool
}

func (s sent) String() string { return s.transport + "/" + s.shape }

// eventKey and rejectedKey identify a row.
func (s sent) eventKey() string {
	if s.id == "" {
		return s.product + "|sid:" + s.sid
	}
	return s.product + "|" + s.id
}

func (s sent) rejectedKey() string { return s.product + "|" + s.id + "|" + s.reason }

// request is one request sent, replayable.
type request struct {
	name string
	// send sends it and reports whether it was acknowledged (2xx / OK) and
	// what the server said.
	send func(t *testing.T) (ack bool, detail string)
	// check, if set, checks the answer of an acknowledged request.
	check func(t *testing.T, detail string)
	// records are what it carries; of a refused (not acknowledged) request
	// none may appear anywhere.
	records []sent
	// wantAck is whether the request must be acknowledged.
	wantAck bool
}

// scenario collects the requests of one transport.
type scenario struct {
	transport string
	requests  []request // phase 1
	conflicts []request // phase 2, after phase 1 is stored
}

// ---- OTLP records ----

// otlpBuilder builds the records of one OTLP request.
type otlpBuilder struct {
	tr      string
	ld      plog.Logs
	recs    map[string]plog.LogRecordSlice
	records []sent
	n       int
}

func newOTLPBuilder(tr string) *otlpBuilder {
	return &otlpBuilder{tr: tr, ld: plog.NewLogs(), recs: map[string]plog.LogRecordSlice{}}
}

func (b *otlpBuilder) slice(product string) plog.LogRecordSlice {
	recs, ok := b.recs[product]
	if !ok {
		rl := b.ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", product)
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName("integrity-e2e")
		recs = sl.LogRecords()
		b.recs[product] = recs
	}
	return recs
}

// add appends a record of event name to s.product, with event.id s.id
// (none when ""), attributes attrs and the next event time, then fill;
// s says where it must end up.
func (b *otlpBuilder) add(s sent, name string, attrs map[string]any, fill func(plog.LogRecord)) {
	b.n++
	lr := b.slice(s.product).AppendEmpty()
	lr.SetEventName(name)
	lr.SetTimestamp(pcommon.NewTimestampFromTime(integrityTime(b.n)))
	if s.id != "" {
		lr.Attributes().PutStr("event.id", s.id)
	}
	for k, v := range attrs {
		if err := lr.Attributes().PutEmpty(k).FromRaw(v); err != nil {
			panic(err)
		}
	}
	if fill != nil {
		fill(lr)
	}
	s.transport = b.tr
	b.records = append(b.records, s)
}

func nestedMaps(depth int) map[string]any {
	var v any = "leaf"
	for range depth {
		v = map[string]any{"a": v}
	}
	return v.(map[string]any)
}

func nestedSlices(depth int) []any {
	var v any = "leaf"
	for range depth {
		v = []any{v}
	}
	return v.([]any)
}

// otlpRecords builds the phase-1 records of an OTLP transport: the good
// ones and every bad shape it can carry. mapDepth and sliceDepth are the
// nesting of the too_deep records (40 maps and 60 arrays over OTLP/JSON;
// 20 each over protobuf, whose decoder refuses more than 100 levels of
// messages, see otlpRefused); badUTF8 adds a record with invalid UTF-8
// (protobuf only: JSON cannot carry it).
func otlpRecords(tr string, mapDepth, sliceDepth int, badUTF8 bool) *otlpBuilder {
	b := newOTLPBuilder(tr)
	id := func(shape string) string { return "ig-" + tr + "-" + shape }
	ok := func(shape, product, name string) sent {
		return sent{shape: shape, product: product, id: id(shape), eventName: name, stored: true, processorAccepted: true}
	}
	bad := func(shape, name, reason string) sent {
		return sent{shape: shape, product: "ai_chatbot", id: id(shape), eventName: name, reason: reason}
	}
	chat := "ai_chatbot"

	b.add(ok("good1", chat, "session.start"), "session.start", map[string]any{"session_id": "s-good1", "channel": "web"}, nil)
	b.add(ok("good2", chat, "session.message"), "session.message", map[string]any{"session_id": "s-good2", "response_time_ms": 1500.5}, nil)
	b.add(sent{shape: "idless", product: chat, sid: id("idless"), eventName: "session.start", stored: true, processorAccepted: true},
		"session.start", map[string]any{"session_id": id("idless")}, nil)
	b.add(ok("shared", chat, "session.start"), "session.start", map[string]any{"session_id": "s-shared"}, nil)
	b.add(ok("shared", "agent_workbench", "agent.login"), "agent.login", map[string]any{"agent_id": "a-shared"}, nil)

	deepMap := bad("deep-map", "session.start", "too_deep")
	deepMap.cut = true
	b.add(deepMap, "session.start", map[string]any{"session_id": "s-deep-map", "nested": nestedMaps(mapDepth)}, nil)
	deepSlice := bad("deep-array", "session.start", "too_deep")
	deepSlice.cut = true
	b.add(deepSlice, "session.start", map[string]any{"session_id": "s-deep-array", "nested": nestedSlices(sliceDepth)}, nil)

	for _, c := range []struct {
		shape string
		v     float64
	}{{"nan", math.NaN()}, {"inf", math.Inf(1)}, {"1e308", 1e308}, {"minus5", -5}} {
		b.add(bad(c.shape, "session.message", "invalid_value"), "session.message",
			map[string]any{"session_id": "s-" + c.shape, "response_time_ms": c.v}, nil)
	}
	b.add(bad("millis", "session.start", "past_timestamp"), "session.start", map[string]any{"session_id": "s-millis"},
		func(lr plog.LogRecord) { lr.SetTimestamp(1765785600000) })
	huge := bad("1mb", "session.start", "too_large")
	huge.cut, huge.hugeRaw = true, true
	b.add(huge, "session.start", map[string]any{"session_id": "s-1mb", "transcript": strings.Repeat("x", 1<<20)}, nil)
	b.add(bad("unknown", "session.restart", "unknown_event"), "session.restart", map[string]any{"session_id": "s-unknown"}, nil)
	b.add(bad("missing", "session.message", "missing_attribute"), "session.message", map[string]any{"response_time_ms": 12.0}, nil)
	if badUTF8 {
		b.add(bad("utf8", "session.start", "invalid_utf8"), "session.start", map[string]any{"session_id": "s-\xff\xfe-utf8"}, nil)
	}
	// With an event.id but neither Timestamp nor ObservedTimestamp: a resend
	// is an exact resend (the time of receipt is not content).
	untimed := func(lr plog.LogRecord) { lr.SetTimestamp(0) }
	b.add(ok("timeless", chat, "session.start"), "session.start", map[string]any{"session_id": "s-timeless"}, untimed)
	b.add(bad("timeless-unknown", "session.restart", "unknown_event"), "session.restart", map[string]any{"session_id": "s-timeless-unknown"}, untimed)
	return b
}

// otlpConflict is the phase-2 record: good1's event.id, other content.
func otlpConflict(tr string) *otlpBuilder {
	b := newOTLPBuilder(tr)
	b.add(sent{
		shape: "conflict", product: "ai_chatbot", id: "ig-" + tr + "-good1", eventName: "session.start",
		reason: "duplicate_conflict", processorAccepted: true,
	}, "session.start", map[string]any{"session_id": "s-conflict", "channel": "app"}, nil)
	return b
}

// otlpRefused is a request the receiver itself refuses (protobuf cannot
// carry 40 maps of nesting): a good record next to the deep one.
func otlpRefused(tr string) *otlpBuilder {
	b := newOTLPBuilder(tr)
	b.add(sent{shape: "refused-good", product: "ai_chatbot", id: "ig-" + tr + "-refused-good", eventName: "session.start", stored: true},
		"session.start", map[string]any{"session_id": "s-refused-good"}, nil)
	b.add(sent{shape: "refused-deep", product: "ai_chatbot", id: "ig-" + tr + "-refused-deep", eventName: "session.start", reason: "too_deep"},
		"session.start", map[string]any{"session_id": "s-refused-deep", "nested": nestedMaps(40)}, nil)
	return b
}

// ---- OTLP transports ----

func httpPost(t *testing.T, url, contentType string, body []byte) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer func() { assert.NoError(t, resp.Body.Close()) }()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(out)
}

func ok2xx(code int) bool { return code >= 200 && code < 300 }

func otlpHTTPRequest(name string, port int, proto bool, b *otlpBuilder, wantAck bool) request {
	var body []byte
	var err error
	req := plogotlp.NewExportRequestFromLogs(b.ld)
	contentType := "application/json"
	if proto {
		body, err = req.MarshalProto()
		contentType = "application/x-protobuf"
	} else {
		body, err = req.MarshalJSON()
	}
	if err != nil {
		panic(err)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/v1/logs", port)
	return request{
		name: name, records: b.records, wantAck: wantAck,
		send: func(t *testing.T) (bool, string) {
			code, out := httpPost(t, url, contentType, body)
			return ok2xx(code), fmt.Sprintf("HTTP %d %s", code, cutString(out, 300))
		},
	}
}

func otlpGRPCRequest(name string, client plogotlp.GRPCClient, b *otlpBuilder, wantAck bool) request {
	return request{
		name: name, records: b.records, wantAck: wantAck,
		send: func(t *testing.T) (bool, string) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			resp, err := client.Export(ctx, plogotlp.NewExportRequestFromLogs(b.ld))
			if err != nil {
				st, _ := status.FromError(err)
				return false, fmt.Sprintf("gRPC %s: %s", st.Code(), cutString(st.Message(), 300))
			}
			ps := resp.PartialSuccess()
			return true, fmt.Sprintf("gRPC OK (partial success: %d rejected %q)", ps.RejectedLogRecords(), ps.ErrorMessage())
		},
	}
}

// ---- track ----

// trackCall is one call of the track batch.
type trackCall struct {
	text    string // the call's JSON
	record  sent
	refusal string // the receiver's reason when it refuses the call alone ("" = taken)
}

// trackCalls is the track batch: the good calls and every bad shape as a
// track sender can write it. Where JSON or the receiver's limits change the
// shape: NaN and ±Inf do not exist in JSON (1e400, beyond a double, is
// refused by the receiver as invalid_field); a timestamp in milliseconds is
// a number, which the receiver refuses (invalid_field), so past_timestamp is
// sent as a 1999 date; a 1 MB value cannot be in an acknowledged batch
// (max_request_body_size 512000: the whole request is answered 413, see
// track/1mb), so too_large is a 9000-byte value (over max_value_bytes 8192)
// and a 40 KB call is refused alone as event_too_large (max_event_bytes).
func trackCalls() []trackCall {
	const tr = "track"
	id := func(shape string) string { return "ig-" + tr + "-" + shape }
	ts := func(i int) string { return integrityTime(100 + i).Format(time.RFC3339) }
	ok := func(shape, product, name string) sent {
		return sent{transport: tr, shape: shape, product: product, id: id(shape), eventName: name, stored: true, processorAccepted: true}
	}
	bad := func(shape, name, reason string) sent {
		return sent{transport: tr, shape: shape, product: "ai_chatbot", id: id(shape), eventName: name, reason: reason}
	}
	call := func(i int, name, shape, props string) string {
		return fmt.Sprintf(`{"type":"track","event":%q,"messageId":%q,"timestamp":%q,"properties":%s}`, name, id(shape), ts(i), props)
	}
	deepMap := strings.Repeat(`{"a":`, 40) + `"leaf"` + strings.Repeat(`}`, 40)
	deepArr := strings.Repeat(`[`, 60) + `"leaf"` + strings.Repeat(`]`, 60)
	idless := sent{transport: tr, shape: "idless", product: "ai_chatbot", sid: id("idless"), eventName: "session.start", stored: true, processorAccepted: true}
	cutRec := func(s sent) sent { s.cut = true; return s }
	calls := []trackCall{
		{text: call(0, "session.start", "good1", `{"session_id":"s-good1","channel":"web"}`), record: ok("good1", "ai_chatbot", "session.start")},
		{text: call(1, "session.message", "good2", `{"session_id":"s-good2","response_time_ms":1500}`), record: ok("good2", "ai_chatbot", "session.message")},
		{
			text:   fmt.Sprintf(`{"type":"track","event":"session.start","timestamp":%q,"properties":{"session_id":%q}}`, ts(2), id("idless")),
			record: idless,
		},
		{text: call(3, "session.start", "shared", `{"session_id":"s-shared"}`), record: ok("shared", "ai_chatbot", "session.start")},
		{
			text: fmt.Sprintf(`{"type":"track","event":"agent.login","messageId":%q,"timestamp":%q,"properties":{"agent_id":"a-shared"},"context":{"service":{"name":"agent_workbench"}}}`,
				id("shared"), ts(4)),
			record: ok("shared", "agent_workbench", "agent.login"),
		},
		{text: call(5, "session.start", "deep-map", `{"session_id":"s-deep-map","nested":`+deepMap+`}`), record: cutRec(bad("deep-map", "session.start", "too_deep"))},
		{text: call(6, "session.start", "deep-array", `{"session_id":"s-deep-array","nested":`+deepArr+`}`), record: cutRec(bad("deep-array", "session.start", "too_deep"))},
		{text: call(7, "session.message", "1e308", `{"session_id":"s-1e308","response_time_ms":1e308}`), record: bad("1e308", "session.message", "invalid_value")},
		{text: call(8, "session.message", "minus5", `{"session_id":"s-minus5","response_time_ms":-5}`), record: bad("minus5", "session.message", "invalid_value")},
		{
			text:   fmt.Sprintf(`{"type":"track","event":"session.start","messageId":%q,"timestamp":"1999-12-31T00:00:00Z","properties":{"session_id":"s-past"}}`, id("past")),
			record: bad("past", "session.start", "past_timestamp"),
		},
		{text: call(10, "session.start", "9kb", `{"session_id":"s-9kb","transcript":"`+strings.Repeat("x", 9000)+`"}`), record: cutRec(bad("9kb", "session.start", "too_large"))},
		{text: call(11, "session.restart", "unknown", `{"session_id":"s-unknown"}`), record: bad("unknown", "session.restart", "unknown_event")},
		{text: call(12, "session.message", "missing", `{"response_time_ms":12}`), record: bad("missing", "session.message", "missing_attribute")},
		// Refused by the receiver inside the batch: still acknowledged,
		// so stored as rejected rows with the receiver's reason.
		{text: call(13, "session.start", "utf8", `{"session_id":"s-`+"\xff\xfe"+`-utf8"}`), record: bad("utf8", "session.start", "invalid_utf8"), refusal: "invalid_utf8"},
		{
			text:   fmt.Sprintf(`{"type":"track","messageId":%q,"timestamp":%q,"properties":{"session_id":"s-noevent"}}`, id("noevent"), ts(14)),
			record: bad("noevent", "", "missing_event"), refusal: "missing_event",
		},
		{
			text:   fmt.Sprintf(`{"type":"track","event":42,"messageId":%q,"timestamp":%q,"properties":{"session_id":"s-event42"}}`, id("event42"), ts(15)),
			record: bad("event42", "", "invalid_field"), refusal: "invalid_field",
		},
		{text: call(16, "session.start", "props-array", `[1,2]`), record: bad("props-array", "session.start", "invalid_field"), refusal: "invalid_field"},
		{
			text:   fmt.Sprintf(`{"type":"track","event":"session.start","messageId":%q,"timestamp":1765785600000,"properties":{"session_id":"s-millis"}}`, id("millis")),
			record: bad("millis", "session.start", "invalid_field"), refusal: "invalid_field",
		},
		{text: call(18, "session.message", "1e400", `{"session_id":"s-1e400","response_time_ms":1e400}`), record: bad("1e400", "session.message", "invalid_field"), refusal: "invalid_field"},
		// A messageId but no time field: the receiver's ObservedTimestamp
		// (the time received) is not content, so a resend adds nothing.
		{
			text:   fmt.Sprintf(`{"type":"track","event":"session.start","messageId":%q,"properties":{"session_id":"s-timeless"}}`, id("timeless")),
			record: ok("timeless", "ai_chatbot", "session.start"),
		},
		{
			text:   fmt.Sprintf(`{"type":"track","event":"session.restart","messageId":%q,"properties":{"session_id":"s-timeless-unknown"}}`, id("timeless-unknown")),
			record: bad("timeless-unknown", "session.restart", "unknown_event"),
		},
		{text: call(19, "session.start", "40kb", `{"session_id":"s-40kb","transcript":"`+strings.Repeat("y", 40000)+`"}`), record: bad("40kb", "session.start", "event_too_large"), refusal: "event_too_large"},
	}
	return calls
}

type trackAnswer struct {
	Success  bool `json:"success"`
	Rejected []struct {
		Index  int    `json:"index"`
		Reason string `json:"reason"`
	} `json:"rejected"`
	Reason string `json:"reason"`
}

func trackRequest(name string, port int, calls []trackCall, wantAck bool) request {
	parts := make([]string, len(calls))
	records := make([]sent, len(calls))
	wantRefused := map[int]string{}
	for i, c := range calls {
		parts[i] = c.text
		records[i] = c.record
		if c.refusal != "" {
			wantRefused[i] = c.refusal
		}
	}
	body := []byte(`{"batch":[` + strings.Join(parts, ",") + `],"context":{"service":{"name":"ai_chatbot"}}}`)
	url := fmt.Sprintf("http://127.0.0.1:%d/v1/batch", port)
	return request{
		name: name, records: records, wantAck: wantAck,
		send: func(t *testing.T) (bool, string) {
			code, out := httpPost(t, url, "application/json", body)
			return ok2xx(code), fmt.Sprintf("HTTP %d %s", code, out)
		},
		check: func(t *testing.T, detail string) {
			_, js, _ := strings.Cut(detail, " ")
			_, js, _ = strings.Cut(js, " ")
			var a trackAnswer
			require.NoError(t, json.Unmarshal([]byte(js), &a), "track answer %s", detail)
			assert.True(t, a.Success, "%s: success in %s", name, detail)
			got := map[int]string{}
			for _, r := range a.Rejected {
				got[r.Index] = r.Reason
			}
			assert.Equal(t, wantRefused, got, "%s: the calls the answer lists as rejected (index → reason)", name)
		},
	}
}

// ---- reading back ----

type eventRow struct{ product, id, name, sid string }

type rejectedRow struct {
	product, id, reason, name string
	rawLen                    int
	rawSize                   int64
	rawSHA256                 []byte
	truncated                 bool
}

func readEvents(t *testing.T, conn *pgx.Conn) []eventRow {
	t.Helper()
	rows, err := conn.Query(context.Background(),
		`SELECT product, event_id, event_name, coalesce(session_id, '') FROM analytics_events ORDER BY product, event_id`)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (eventRow, error) {
		var e eventRow
		return e, r.Scan(&e.product, &e.id, &e.name, &e.sid)
	})
	require.NoError(t, err)
	return out
}

func hasColumn(t *testing.T, conn *pgx.Conn, table, column string) bool {
	t.Helper()
	return queryInt(t, conn, `SELECT count(*) FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2`, table, column) == 1
}

func readRejected(t *testing.T, conn *pgx.Conn, rawColumns bool) []rejectedRow {
	t.Helper()
	extra := `octet_length(raw)::bigint, false, NULL::bytea`
	if rawColumns {
		extra = `raw_size, raw_truncated, raw_sha256`
	}
	rows, err := conn.Query(context.Background(), `SELECT coalesce(product, ''), coalesce(event_id, ''), reason, coalesce(event_name, ''),
		octet_length(raw), `+extra+` FROM analytics_rejected_events ORDER BY id`)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (rejectedRow, error) {
		var e rejectedRow
		return e, r.Scan(&e.product, &e.id, &e.reason, &e.name, &e.rawLen, &e.rawSize, &e.truncated, &e.rawSHA256)
	})
	require.NoError(t, err)
	return out
}

type rollupRow struct {
	day, name                      string
	events, mcount, msum, flagTrue int64
}

func readRollups(t *testing.T, conn *pgx.Conn) []rollupRow {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT business_date::text, event_name, events, measure_count, measure_sum_micro, flag_true
		FROM analytics_daily_rollup ORDER BY 1, 2`)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (rollupRow, error) {
		var e rollupRow
		return e, r.Scan(&e.day, &e.name, &e.events, &e.mcount, &e.msum, &e.flagTrue)
	})
	require.NoError(t, err)
	return out
}

// ---- the collector's own metrics ----

type sample struct {
	name   string
	labels map[string]string
	value  float64
}

func scrapeMetrics(t *testing.T, port int) []sample {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	require.NoError(t, err)
	defer func() { assert.NoError(t, resp.Body.Close()) }()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var out []sample
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		s := sample{labels: map[string]string{}}
		var rest string
		if i := strings.IndexAny(line, "{ "); i >= 0 && line[i] == '{' {
			s.name = line[:i]
			j := strings.LastIndexByte(line, '}')
			require.Greater(t, j, i, "metric line %q", line)
			parseLabels(line[i+1:j], s.labels)
			rest = strings.TrimSpace(line[j+1:])
		} else {
			s.name, rest, _ = strings.Cut(line, " ")
		}
		if f := strings.Fields(rest); len(f) > 0 {
			s.value, err = strconv.ParseFloat(f[0], 64)
			require.NoError(t, err, "metric line %q", line)
		}
		out = append(out, s)
	}
	require.NoError(t, sc.Err())
	return out
}

func parseLabels(s string, into map[string]string) {
	for s != "" {
		k, rest, ok := strings.Cut(s, `="`)
		if !ok {
			return
		}
		var v strings.Builder
		i := 0
		for ; i < len(rest) && rest[i] != '"'; i++ {
			if rest[i] == '\\' && i+1 < len(rest) {
				i++
			}
			v.WriteByte(rest[i])
		}
		into[strings.TrimLeft(k, ", ")] = v.String()
		if i+1 > len(rest) {
			return
		}
		s = strings.TrimLeft(rest[i+1:], ",")
	}
}

// metricSum sums the samples of a counter (with or without the _total
// suffix) whose labels include match.
func metricSum(samples []sample, name string, match map[string]string) float64 {
	sum := 0.0
	for _, s := range samples {
		if s.name != name && s.name != name+"_total" {
			continue
		}
		okAll := true
		for k, v := range match {
			if s.labels[k] != v {
				okAll = false
			}
		}
		if okAll {
			sum += s.value
		}
	}
	return sum
}

func metricByLabel(samples []sample, name, label string) map[string]float64 {
	out := map[string]float64{}
	for _, s := range samples {
		if s.name == name || s.name == name+"_total" {
			out[s.labels[label]] += s.value
		}
	}
	return out
}

// drainTimeout bounds each wait for the collector to store what was sent.
const drainTimeout = 20 * time.Second

const (
	metricProcAccepted = "otelcol_processor_eventcatalog_records_accepted"
	metricProcRejected = "otelcol_processor_eventcatalog_records_rejected"
	metricExpSent      = "otelcol_exporter_sent_log_records"
	metricExpFailed    = "otelcol_exporter_send_failed_log_records"
)

func cutString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// TestIngestIntegrity is issue 9 end to end on the built binary with the
// default otelcol-config.yaml (persistent queue on): good records and every
// bad shape over OTLP/HTTP JSON, OTLP/HTTP protobuf, OTLP gRPC and the
// track receiver; every acknowledged record lands exactly once, as an event
// or as a rejected row with its reason; a resend of everything adds
// nothing; the processor's counters agree.
func TestIngestIntegrity(t *testing.T) {
	t.Parallel()
	binary(t)
	ctx := context.Background()
	dsn, schema := testdb.Migrated(t)
	rdb, prefix := testdb.RedisPrefix(t)
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, conn.Close(context.Background())) })

	config, err := os.ReadFile(filepath.Join("..", "..", "otelcol-config.yaml"))
	require.NoError(t, err)
	grpcPort, httpPort, trackPort, healthPort := freePort(t), freePort(t), freePort(t), freePort(t)
	telemetryPort := freePort(t)
	addr := func(p int) string { return "127.0.0.1:" + strconv.Itoa(p) }
	// The caller's environment with these on top, as t.Setenv would give
	// it, but for this collector alone (the test runs in parallel).
	env := os.Environ()
	for k, v := range map[string]string{
		"ANALYTICS_HEALTH_ENDPOINT":    addr(healthPort),
		"ANALYTICS_PPROF_ENDPOINT":     addr(freePort(t)),
		"ANALYTICS_QUEUE_DIR":          filepath.Join(t.TempDir(), "queue"),
		"ANALYTICS_STATS_ENDPOINT":     addr(freePort(t)),
		"ANALYTICS_STATS_POSTGRES_DSN": dsn,
		"ANALYTICS_STATS_TOKEN":        "",
		"ANALYTICS_TIMEZONE":           "Asia/Shanghai",
		"ANALYTICS_OTLP_GRPC_ENDPOINT": addr(grpcPort),
		"ANALYTICS_OTLP_HTTP_ENDPOINT": addr(httpPort),
		"ANALYTICS_TRACK_ENDPOINT":     addr(trackPort),
		"ANALYTICS_CATALOG_FILE":       "",
		"ANALYTICS_POSTGRES_DSN":       dsn,
		"ANALYTICS_REDIS_ADDR":         testdb.RedisAddr(),
		"ANALYTICS_REDIS_DB":           "0",
		"ANALYTICS_REDIS_PASSWORD":     "",
		"ANALYTICS_REDIS_PREFIX":       prefix,
		"ANALYTICS_REDIS_DAILY_TTL":    "0", // the test's days of 2025 must not expire
		"ANALYTICS_TELEMETRY_PORT":     strconv.Itoa(telemetryPort),
	} {
		env = append(env, k+"="+v) // the last of a duplicate key wins (os/exec)
	}
	t.Logf("schema %s, Redis prefix %s", schema, prefix)
	c := startCollectorEnv(t, string(config), healthPort, env)
	t.Cleanup(func() {
		if t.Failed() {
			out := c.output()
			t.Logf("collector output (last 8 KiB):\n%s", out[max(0, len(out)-8<<10):])
		}
	})

	gconn, err := grpc.NewClient(addr(grpcPort), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, gconn.Close()) })
	gclient := plogotlp.NewGRPCClient(gconn)

	// The four transports.
	scenarios := []scenario{
		{
			transport: "json",
			requests:  []request{otlpHTTPRequest("json/records", httpPort, false, otlpRecords("json", 40, 60, false), true)},
			conflicts: []request{otlpHTTPRequest("json/conflict", httpPort, false, otlpConflict("json"), true)},
		},
		{
			transport: "proto",
			requests: []request{
				otlpHTTPRequest("proto/records", httpPort, true, otlpRecords("proto", 20, 20, true), true),
				otlpHTTPRequest("proto/40-deep", httpPort, true, otlpRefused("proto"), false),
			},
			conflicts: []request{otlpHTTPRequest("proto/conflict", httpPort, true, otlpConflict("proto"), true)},
		},
		{
			transport: "grpc",
			requests: []request{
				otlpGRPCRequest("grpc/records", gclient, otlpRecords("grpc", 20, 20, true), true),
				otlpGRPCRequest("grpc/40-deep", gclient, otlpRefused("grpc"), false),
			},
			conflicts: []request{otlpGRPCRequest("grpc/conflict", gclient, otlpConflict("grpc"), true)},
		},
		{
			transport: "track",
			requests: []request{
				trackRequest("track/batch", trackPort, trackCalls(), true),
				// Over max_request_body_size (512000): refused whole (413).
				trackRequest("track/1mb", trackPort, []trackCall{
					{
						text:   `{"type":"track","event":"session.start","messageId":"ig-track-refused-good","timestamp":"2025-12-15T08:00:00Z","properties":{"session_id":"s-refused-good"}}`,
						record: sent{transport: "track", shape: "refused-good", product: "ai_chatbot", id: "ig-track-refused-good", stored: true},
					},
					{
						text:   `{"type":"track","event":"session.start","messageId":"ig-track-refused-1mb","timestamp":"2025-12-15T08:00:00Z","properties":{"session_id":"s-1mb","transcript":"` + strings.Repeat("z", 1<<20) + `"}}`,
						record: sent{transport: "track", shape: "refused-1mb", product: "ai_chatbot", id: "ig-track-refused-1mb", reason: "too_large"},
					},
				}, false),
			},
			conflicts: []request{trackRequest("track/conflict", trackPort, []trackCall{{
				text: `{"type":"track","event":"session.start","messageId":"ig-track-good1","timestamp":"` + integrityTime(100).Format(time.RFC3339) +
					`","properties":{"session_id":"s-conflict","channel":"app"}}`,
				record: sent{
					transport: "track", shape: "conflict", product: "ai_chatbot", id: "ig-track-good1", eventName: "session.start",
					reason: "duplicate_conflict", processorAccepted: true,
				},
			}}, true)},
		},
	}

	// What must be where.
	var acked, notAcked []sent
	var phase1, phase2 []request
	for _, sc := range scenarios {
		phase1 = append(phase1, sc.requests...)
		phase2 = append(phase2, sc.conflicts...)
	}
	all := append(append([]request{}, phase1...), phase2...)
	send := func(round string, reqs []request) {
		for _, r := range reqs {
			ack, detail := r.send(t)
			t.Logf("%s %s: %s", round, r.name, cutString(detail, 400))
			if r.wantAck {
				assert.True(t, ack, "%s %s: acknowledged, got %s", round, r.name, detail)
			} else {
				assert.False(t, ack, "%s %s: refused by the receiver (not acknowledged), got %s", round, r.name, detail)
			}
			if ack && r.check != nil {
				r.check(t, detail)
			}
		}
	}
	for _, r := range all {
		if r.wantAck {
			acked = append(acked, r.records...)
		} else {
			notAcked = append(notAcked, r.records...)
		}
	}
	wantEvents, wantRejected := 0, 0
	wantAccepted, wantByReason := 0, map[string]int{}
	for _, s := range acked {
		if s.stored {
			wantEvents++
		} else {
			wantRejected++
		}
		if s.processorAccepted {
			wantAccepted++
		} else {
			wantByReason[s.reason]++
		}
	}

	// drain waits until the eventcatalog processor has seen want records
	// since the start and the exporter has finished as many (its sent +
	// failed records count every record it took from the queue), then
	// until PostgreSQL is quiet with an empty Redis outbox. Bounded.
	drain := func(round string, want float64) {
		t.Helper()
		deadline := time.Now().Add(drainTimeout)
		for {
			m := scrapeMetrics(t, telemetryPort)
			through := metricSum(m, metricProcAccepted, nil) + metricSum(m, metricProcRejected, nil)
			exported := metricSum(m, metricExpSent, nil) + metricSum(m, metricExpFailed, nil)
			if through >= want && exported >= through {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s: after %s the processor has seen %v records and the exporter %v, want %v", round, drainTimeout, through, exported, want)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		last, stableSince := [3]int{-1, -1, -1}, time.Now()
		for {
			now := [3]int{
				queryInt(t, conn, `SELECT count(*) FROM analytics_events`),
				queryInt(t, conn, `SELECT count(*) FROM analytics_rejected_events`),
				queryInt(t, conn, `SELECT count(*) FROM analytics_redis_outbox`),
			}
			if now != last {
				last, stableSince = now, time.Now()
			}
			if now[2] == 0 && time.Since(stableSince) > 700*time.Millisecond {
				t.Logf("%s drained: %d events, %d rejected rows", round, now[0], now[1])
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("%s: PostgreSQL not quiet after %s: %d events, %d rejected rows, %d outbox rows", round, drainTimeout, now[0], now[1], now[2])
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// Round 1: everything, then the conflicting records once the first
	// events are stored.
	start := time.Now()
	send("send", phase1)
	phase1Acked := 0
	for _, r := range phase1 {
		if r.wantAck {
			phase1Acked += len(r.records)
		}
	}
	drain("phase 1", float64(phase1Acked))
	send("send", phase2)
	drain("round 1", float64(len(acked)))
	t.Logf("round 1 took %s", time.Since(start).Round(time.Millisecond))

	rawColumns := hasColumn(t, conn, "analytics_rejected_events", "raw_size") &&
		hasColumn(t, conn, "analytics_rejected_events", "raw_truncated") &&
		hasColumn(t, conn, "analytics_rejected_events", "raw_sha256")
	if !rawColumns {
		t.Log("analytics_rejected_events has no raw_size/raw_truncated/raw_sha256 columns (migration 006 not applied): the bound of raw is checked on octet_length(raw) only")
	}

	checkRows := func(t *testing.T, round string) {
		t.Helper()
		events := readEvents(t, conn)
		rejected := readRejected(t, conn, rawColumns)

		gotEvents := map[string][]eventRow{}
		for _, e := range events {
			key := e.product + "|" + e.id
			if !strings.HasPrefix(e.id, "ig-") { // a derived id: the record is known by its session_id
				key = e.product + "|sid:" + e.sid
			}
			gotEvents[key] = append(gotEvents[key], e)
		}
		gotRejected := map[string][]rejectedRow{}
		for _, r := range rejected {
			key := r.product + "|" + r.id + "|" + r.reason
			gotRejected[key] = append(gotRejected[key], r)
		}
		expectedEvent, expectedRejected := map[string]bool{}, map[string]bool{}
		for _, s := range acked {
			if s.stored {
				expectedEvent[s.eventKey()] = true
				if rows := gotEvents[s.eventKey()]; assert.Len(t, rows, 1, "%s: %s must be in analytics_events exactly once (%s)", round, s, s.eventKey()) {
					assert.Equal(t, s.eventName, rows[0].name, "%s: %s: event_name", round, s)
				}
				for _, r := range rejected {
					if r.product == s.product && r.id == s.id && s.id != "" && r.reason != "duplicate_conflict" {
						t.Errorf("%s: %s is an event and also a rejected row (%s)", round, s, r.reason)
					}
				}
				continue
			}
			expectedRejected[s.rejectedKey()] = true
			rows := gotRejected[s.rejectedKey()]
			if !assert.Len(t, rows, 1, "%s: %s must be in analytics_rejected_events exactly once with reason %s (%s)", round, s, s.reason, s.rejectedKey()) {
				var other []string
				for _, r := range rejected {
					if r.id == s.id {
						other = append(other, fmt.Sprintf("%s (product %q, event_name %q)", r.reason, r.product, r.name))
					}
				}
				if len(other) > 0 {
					t.Logf("%s: rows of event id %s: %s", round, s.id, strings.Join(other, "; "))
				}
				if len(gotEvents[s.eventKey()]) > 0 && s.reason != "duplicate_conflict" {
					t.Logf("%s: %s was stored as an event instead", round, s)
				}
				continue
			}
			r := rows[0]
			assert.Equal(t, s.eventName, r.name, "%s: %s: event_name of its rejected row", round, s)
			if s.cut {
				assert.LessOrEqual(t, r.rawLen, 17<<10, "%s: %s: the stored raw of a cut record is at most ~16 KiB", round, s)
				if rawColumns {
					assert.True(t, r.truncated, "%s: %s: raw_truncated", round, s)
					assert.Len(t, r.rawSHA256, 32, "%s: %s: raw_sha256", round, s)
					assert.GreaterOrEqual(t, r.rawSize, int64(r.rawLen), "%s: %s: raw_size ≥ stored raw", round, s)
				}
			}
			if s.hugeRaw {
				t.Logf("%s: %s: stored raw %d bytes of raw_size %d, raw_truncated %v", round, s, r.rawLen, r.rawSize, r.truncated)
				assert.LessOrEqual(t, r.rawLen, 17<<10, "%s: %s: 1 MB sent, stored raw bounded", round, s)
				if rawColumns {
					assert.Greater(t, r.rawSize, int64(1<<20), "%s: %s: raw_size is the size of the whole record", round, s)
				}
			}
		}
		// Nothing else.
		for key, rows := range gotEvents {
			if !expectedEvent[key] {
				t.Errorf("%s: unexpected analytics_events row(s) %s (×%d, event_name %q)", round, key, len(rows), rows[0].name)
			}
		}
		for key, rows := range gotRejected {
			if !expectedRejected[key] {
				t.Errorf("%s: unexpected analytics_rejected_events row(s) %s (×%d, event_name %q)", round, key, len(rows), rows[0].name)
			}
		}
		// Not acknowledged: nowhere.
		for _, s := range notAcked {
			for _, e := range events {
				if e.id == s.id {
					t.Errorf("%s: %s was refused by the receiver but is in analytics_events", round, s)
				}
			}
			for _, r := range rejected {
				if r.id == s.id {
					t.Errorf("%s: %s was refused by the receiver but is in analytics_rejected_events (%s)", round, s, r.reason)
				}
			}
		}
		// sent = stored + rejected.
		assert.Len(t, events, wantEvents, "%s: analytics_events rows = good records acknowledged", round)
		assert.Len(t, rejected, wantRejected, "%s: analytics_rejected_events rows = bad records acknowledged", round)
		assert.Equal(t, len(acked), len(events)+len(rejected), "%s: records acknowledged = stored + rejected", round)
	}

	t.Run("round 1: every acknowledged record once, with its reason", func(t *testing.T) {
		checkRows(t, "round 1")
		// The conflicting record did not replace the first event.
		for _, tr := range []string{"json", "proto", "grpc", "track"} {
			var sid string
			err := conn.QueryRow(ctx, `SELECT session_id FROM analytics_events WHERE product = 'ai_chatbot' AND event_id = $1`, "ig-"+tr+"-good1").Scan(&sid)
			if assert.NoError(t, err, "%s/good1", tr) {
				assert.Equal(t, "s-good1", sid, "%s/good1: the first event is kept", tr)
			}
		}
	})
	rollups1 := readRollups(t, conn)
	redis1 := rdb.HGetAll(ctx, prefix+"daily:"+integrityDay).Val()
	require.NotEmpty(t, rollups1, "rollups after round 1")
	require.NotEmpty(t, redis1, "Redis daily counters after round 1")

	// Round 2: every request once more.
	send("resend", all)
	drain("round 2", float64(2*len(acked)))

	t.Run("round 2: a resend of everything adds nothing", func(t *testing.T) {
		checkRows(t, "round 2")
		assert.Equal(t, rollups1, readRollups(t, conn), "analytics_daily_rollup after the resend")
		assert.Equal(t, redis1, rdb.HGetAll(ctx, prefix+"daily:"+integrityDay).Val(), "Redis daily counters after the resend")
		var out, errOut bytes.Buffer
		code := ctl.Run(ctx, []string{
			"--postgres-dsn", dsn, "--redis-addr", testdb.RedisAddr(), "--key-prefix", prefix, "--daily-ttl", "0",
			"verify", "--from", integrityDay, "--to", integrityDay,
		}, func(string) string { return "" }, &out, &errOut)
		assert.Equal(t, 0, code, "analyticsctl verify: %s %s", out.String(), errOut.String())
		assert.Contains(t, out.String(), "0 differences")
		// Per transport: session.start good1, idless and shared (ai_chatbot),
		// session.message good2, agent.login shared (agent_workbench).
		byName := map[string]int64{}
		for _, r := range rollups1 {
			if r.day == integrityDay {
				byName[r.name] += r.events
			}
		}
		assert.Equal(t, map[string]int64{"session.start": 12, "session.message": 4, "agent.login": 4}, byName, "rollup events of %s", integrityDay)
	})

	t.Run("processor counters match what was sent", func(t *testing.T) {
		m := scrapeMetrics(t, telemetryPort)
		assert.Equal(t, 2*wantAccepted, int(metricSum(m, metricProcAccepted, nil)), "%s (2 rounds)", metricProcAccepted)
		want, got := map[string]int{}, map[string]int{}
		for r, n := range wantByReason {
			want[r] = 2 * n
		}
		for r, v := range metricByLabel(m, metricProcRejected, "reason") {
			got[r] = int(v)
		}
		assert.Equal(t, want, got, "%s by reason (2 rounds)", metricProcRejected)
		if t.Failed() {
			var names []string
			for _, s := range m {
				if strings.Contains(s.name, "eventcatalog") {
					names = append(names, fmt.Sprintf("%s%v %v", s.name, s.labels, s.value))
				}
			}
			sort.Strings(names)
			t.Logf("eventcatalog metrics:\n%s", strings.Join(names, "\n"))
		}
	})
}
