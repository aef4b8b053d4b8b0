package normalize

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
)

var (
	now = time.Date(2025, 12, 15, 8, 0, 0, 0, time.UTC)
	ts  = now.Add(-time.Minute)
)

// rec describes a record to build.
type rec struct {
	eventName string         // LogRecord.EventName
	product   any            // service.name; nil = absent
	attrs     map[string]any // record attributes
	ts        time.Time      // Timestamp; zero = unset
	observed  time.Time      // ObservedTimestamp; zero = unset
}

func (r rec) build(t testing.TB) (pcommon.Resource, plog.LogRecord) {
	t.Helper()
	res := pcommon.NewResource()
	if r.product != nil {
		require.NoError(t, res.Attributes().FromRaw(map[string]any{"service.name": r.product}))
	}
	lr := plog.NewLogRecord()
	lr.SetEventName(r.eventName)
	if r.attrs != nil {
		require.NoError(t, lr.Attributes().FromRaw(r.attrs))
	}
	if !r.ts.IsZero() {
		lr.SetTimestamp(pcommon.NewTimestampFromTime(r.ts))
	}
	if !r.observed.IsZero() {
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(r.observed))
	}
	return res, lr
}

// msg is a session.message from ai_chatbot with the given attributes.
func msg(attrs map[string]any) rec {
	return rec{eventName: "session.message", product: "ai_chatbot", attrs: attrs, ts: ts}
}

func okMsg() map[string]any {
	return map[string]any{"session_id": "s-1", "response_time_ms": 120.5}
}

func with(base map[string]any, kv ...any) map[string]any {
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(base, kv[i].(string))
			continue
		}
		base[kv[i].(string)] = kv[i+1]
	}
	return base
}

func normalizeRec(t *testing.T, n *Normalizer, r rec) (Outcome, catalog.Reason, plog.LogRecord) {
	t.Helper()
	res, lr := r.build(t)
	r2 := n.Record(res, pcommon.NewInstrumentationScope(), lr, now)
	return r2.Outcome, r2.Reason, lr
}

func str(t *testing.T, m pcommon.Map, k string) string {
	t.Helper()
	v, ok := m.Get(k)
	require.Truef(t, ok, "attribute %s missing", k)
	require.Equal(t, pcommon.ValueTypeStr, v.Type(), k)
	return v.Str()
}

// acceptedEvent reads an accepted record's normalised form as the exporter
// does, with the resource it was sent with (service.name product).
func acceptedEvent(lr plog.LogRecord, product string) catalog.Stamped {
	res := pcommon.NewResource()
	res.Attributes().PutStr("service.name", product)
	return catalog.Accepted(res, lr)
}

func TestRecordRejections(t *testing.T) {
	n := New(catalog.Default(), DefaultLimits())
	big := strings.Repeat("x", 100*1024)
	many := okMsg()
	for i := 0; i < 63; i++ {
		many["extra_"+string(rune('a'+i/26))+string(rune('a'+i%26))] = int64(i)
	}
	require.Len(t, many, 65)

	tests := []struct {
		name    string
		rec     rec
		reason  catalog.Reason
		field   string
		message string // exact when set
	}{
		{
			name:    "unknown event",
			rec:     rec{eventName: "session.restart", product: "ai_chatbot", attrs: okMsg(), ts: ts},
			reason:  catalog.ReasonUnknownEvent,
			field:   "event.name",
			message: `event "session.restart" is not in the event catalog; add it to the catalog file or fix the event name`,
		},
		{
			name:    "wrong product",
			rec:     rec{eventName: "session.message", product: "agent_workbench", attrs: okMsg(), ts: ts},
			reason:  catalog.ReasonWrongProduct,
			field:   "service.name",
			message: `event "session.message" belongs to product "ai_chatbot", but it was sent by service.name "agent_workbench"`,
		},
		{
			name:   "missing product",
			rec:    rec{eventName: "session.message", attrs: okMsg(), ts: ts},
			reason: catalog.ReasonMissingProduct,
			field:  "service.name",
			message: "resource attribute service.name is missing or empty; set it to the product that sends the event " +
				"(e.g. ai_chatbot)",
		},
		{
			name:   "empty product",
			rec:    rec{eventName: "session.message", product: "", attrs: okMsg(), ts: ts},
			reason: catalog.ReasonMissingProduct,
			field:  "service.name",
		},
		{
			name:   "non-string product",
			rec:    rec{eventName: "session.message", product: int64(7), attrs: okMsg(), ts: ts},
			reason: catalog.ReasonMissingProduct,
			field:  "service.name",
		},
		{
			name:    "missing required attribute",
			rec:     msg(with(okMsg(), "session_id", nil)),
			reason:  catalog.ReasonMissingAttribute,
			field:   "session_id",
			message: `required attribute "session_id" of session.message is missing`,
		},
		{
			name:    "wrong type: string for double",
			rec:     msg(with(okMsg(), "response_time_ms", "fast")),
			reason:  catalog.ReasonWrongType,
			field:   "response_time_ms",
			message: `attribute "response_time_ms" of session.message must be a double, got string "fast"`,
		},
		{
			name:    "wrong type: numeric string for double",
			rec:     msg(with(okMsg(), "response_time_ms", "12")),
			reason:  catalog.ReasonWrongType,
			field:   "response_time_ms",
			message: `attribute "response_time_ms" of session.message must be a double, got string "12"`,
		},
		{
			name:    "wrong type: int for string",
			rec:     msg(with(okMsg(), "session_id", int64(42))),
			reason:  catalog.ReasonWrongType,
			field:   "session_id",
			message: `attribute "session_id" of session.message must be a string, got int 42`,
		},
		{
			name: "wrong type: string for bool",
			rec: rec{eventName: "ticket.closed", product: "agent_workbench", ts: ts, attrs: map[string]any{
				"ticket_id": "t-1", "resolution_duration_hours": 4.0, "sla_met": "yes",
			}},
			reason:  catalog.ReasonWrongType,
			field:   "sla_met",
			message: `attribute "sla_met" of ticket.closed must be a bool, got string "yes"`,
		},
		{
			name: "invalid value",
			rec: rec{eventName: "session.end", product: "ai_chatbot", ts: ts, attrs: map[string]any{
				"session_id": "s-1", "resolved_by": "bot",
			}},
			reason:  catalog.ReasonInvalidValue,
			field:   "resolved_by",
			message: `attribute "resolved_by" of session.end must be one of ["ai", "agent"], got "bot"`,
		},
		{
			name:   "future timestamp",
			rec:    rec{eventName: "session.message", product: "ai_chatbot", attrs: okMsg(), ts: now.Add(61 * time.Minute)},
			reason: catalog.ReasonFutureTimestamp,
			field:  "timestamp",
			message: "event time 2025-12-15T09:01:00Z is more than 1h0m0s after the time received (2025-12-15T08:00:00Z); " +
				"check the sender's clock and the timestamp unit (nanoseconds)",
		},
		{
			name:   "future observed timestamp when Timestamp is unset",
			rec:    rec{eventName: "session.message", product: "ai_chatbot", attrs: okMsg(), observed: now.Add(2 * time.Hour)},
			reason: catalog.ReasonFutureTimestamp,
			field:  "timestamp",
		},
		{
			name:    "NUL byte in a catalog value",
			rec:     msg(with(okMsg(), "session_id", "s\x001")),
			reason:  catalog.ReasonNulByte,
			field:   "session_id",
			message: `attribute "session_id" contains a NUL byte, which cannot be stored; remove it`,
		},
		{
			name:   "NUL byte in an unknown attribute",
			rec:    msg(with(okMsg(), "note", "a\x00b")),
			reason: catalog.ReasonNulByte,
			field:  "note",
		},
		{
			name:    "NUL byte nested in an unknown attribute",
			rec:     msg(with(okMsg(), "meta", map[string]any{"list": []any{"ok", "b\x00d"}})),
			reason:  catalog.ReasonNulByte,
			field:   "meta",
			message: `a value nested in attribute "meta" contains a NUL byte, which cannot be stored; remove it`,
		},
		{
			name:   "NUL byte in an attribute name",
			rec:    msg(with(okMsg(), "no\x00te", "x")),
			reason: catalog.ReasonNulByte,
			field:  "no\uFFFDte",
		},
		{
			name:   "NUL byte in the event name",
			rec:    rec{eventName: "session.message\x00", product: "ai_chatbot", attrs: okMsg(), ts: ts},
			reason: catalog.ReasonNulByte,
			field:  "event.name",
		},
		{
			name:   "NUL byte in the product",
			rec:    rec{eventName: "session.message", product: "ai_chatbot\x00", attrs: okMsg(), ts: ts},
			reason: catalog.ReasonNulByte,
			field:  "service.name",
		},
		{
			name:    "invalid UTF-8 in a value",
			rec:     msg(with(okMsg(), "session_id", "s-\xff")),
			reason:  catalog.ReasonInvalidUTF8,
			field:   "session_id",
			message: `attribute "session_id" is not valid UTF-8; send text as UTF-8`,
		},
		{
			name:   "invalid UTF-8 in a nested map key",
			rec:    msg(with(okMsg(), "meta", map[string]any{"k\xc3": "v"})),
			reason: catalog.ReasonInvalidUTF8,
			field:  "meta",
		},
		{
			name:   "invalid UTF-8 in the event name",
			rec:    rec{eventName: "session.\xe2\x28", product: "ai_chatbot", attrs: okMsg(), ts: ts},
			reason: catalog.ReasonInvalidUTF8,
			field:  "event.name",
		},
		{
			name:    "100 kB value",
			rec:     msg(with(okMsg(), "transcript", big)),
			reason:  catalog.ReasonTooLarge,
			field:   "transcript",
			message: `attribute "transcript" value is 102400 bytes, more than the limit of 8192`,
		},
		{
			name:   "100 kB bytes value",
			rec:    msg(with(okMsg(), "blob", []byte(big))),
			reason: catalog.ReasonTooLarge,
			field:  "blob",
		},
		{
			name: "large nested value",
			rec: msg(with(okMsg(), "list", func() []any {
				l := make([]any, 2000)
				for i := range l {
					l[i] = int64(i)
				}
				return l
			}())),
			reason: catalog.ReasonTooLarge,
			field:  "list",
		},
		{
			name:    "too many attributes",
			rec:     msg(many),
			reason:  catalog.ReasonTooLarge,
			field:   "attributes",
			message: "the record has 65 attributes, more than the limit of 64",
		},
		{
			name:    "event.id empty",
			rec:     msg(with(okMsg(), "event.id", "")),
			reason:  catalog.ReasonInvalidEventID,
			field:   "event.id",
			message: "event.id must be a string of 1 to 128 bytes of valid UTF-8 without NUL bytes (or be left out to get a derived id), got an empty string",
		},
		{
			name:   "event.id too long",
			rec:    msg(with(okMsg(), "event.id", strings.Repeat("a", 129))),
			reason: catalog.ReasonInvalidEventID,
			field:  "event.id",
		},
		{
			name:   "event.id with NUL",
			rec:    msg(with(okMsg(), "event.id", "a\x00b")),
			reason: catalog.ReasonInvalidEventID,
			field:  "event.id",
		},
		{
			name:   "event.id invalid UTF-8",
			rec:    msg(with(okMsg(), "event.id", "a\xff")),
			reason: catalog.ReasonInvalidEventID,
			field:  "event.id",
		},
		{
			name:    "event.id not a string",
			rec:     msg(with(okMsg(), "event.id", int64(12345))),
			reason:  catalog.ReasonInvalidEventID,
			field:   "event.id",
			message: "event.id must be a string of 1 to 128 bytes of valid UTF-8 without NUL bytes (or be left out to get a derived id), got int 12345",
		},
		// Order: the first failing check wins.
		{
			name:   "order: NUL byte before unknown event",
			rec:    rec{eventName: "nope", product: "ai_chatbot", attrs: map[string]any{"x": "\x00"}, ts: ts},
			reason: catalog.ReasonNulByte,
			field:  "x",
		},
		{
			name:   "order: too large before unknown event",
			rec:    rec{eventName: "nope", product: "ai_chatbot", attrs: map[string]any{"x": big}, ts: ts},
			reason: catalog.ReasonTooLarge,
			field:  "x",
		},
		{
			name:   "order: unknown event before wrong product",
			rec:    rec{eventName: "nope", product: "other", attrs: okMsg(), ts: ts},
			reason: catalog.ReasonUnknownEvent,
			field:  "event.name",
		},
		{
			name:   "order: wrong product before missing attribute",
			rec:    rec{eventName: "session.message", product: "other", attrs: map[string]any{}, ts: ts},
			reason: catalog.ReasonWrongProduct,
			field:  "service.name",
		},
		{
			name:   "order: missing attribute (later in catalog) before wrong type",
			rec:    msg(map[string]any{"session_id": int64(1)}),
			reason: catalog.ReasonMissingAttribute,
			field:  "response_time_ms",
		},
		{
			name: "order: wrong type (later in catalog) before invalid value",
			rec: rec{eventName: "session.end", product: "ai_chatbot", ts: ts, attrs: map[string]any{
				"session_id": "s", "resolved_by": "bot", "duration_seconds": "long",
			}},
			reason: catalog.ReasonWrongType,
			field:  "duration_seconds",
		},
		{
			name:   "order: wrong type before future timestamp",
			rec:    rec{eventName: "session.message", product: "ai_chatbot", attrs: with(okMsg(), "response_time_ms", true), ts: now.Add(48 * time.Hour)},
			reason: catalog.ReasonWrongType,
			field:  "response_time_ms",
		},
		{
			name:   "forged accepted status does not survive",
			rec:    msg(with(okMsg(), "session_id", nil, catalog.AttrStatus, "accepted", catalog.AttrRejectReason, "")),
			reason: catalog.ReasonMissingAttribute,
			field:  "session_id",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, reason, lr := normalizeRec(t, n, tt.rec)
			require.Equal(t, Rejected, out)
			assert.Equal(t, tt.reason, reason)
			attrs := lr.Attributes()
			assert.Equal(t, catalog.StatusRejected, str(t, attrs, catalog.AttrStatus))
			assert.Equal(t, string(tt.reason), str(t, attrs, catalog.AttrRejectReason))
			assert.Equal(t, tt.field, str(t, attrs, catalog.AttrRejectField))
			m := str(t, attrs, catalog.AttrRejectMessage)
			if tt.message != "" {
				assert.Equal(t, tt.message, m)
			}
			assert.LessOrEqual(t, len(m), 600, "message stays short")
			// Name and time are always resolved on an event.
			assert.Equal(t, tt.rec.eventName, str(t, attrs, catalog.AttrEventName))
			tv, ok := attrs.Get(catalog.AttrEventTime)
			require.True(t, ok)
			assert.Equal(t, pcommon.ValueTypeInt, tv.Type())
			// An id unless event.id was unusable.
			_, hasID := attrs.Get(catalog.AttrEventID)
			assert.Equal(t, tt.reason != catalog.ReasonInvalidEventID, hasID)
			// The product when there is one.
			p, hasProduct := attrs.Get(catalog.AttrProduct)
			if s, isStr := tt.rec.product.(string); isStr && s != "" {
				require.True(t, hasProduct)
				assert.Equal(t, s, p.Str())
			} else {
				assert.False(t, hasProduct)
			}
		})
	}
}

func TestRecordRejectedKeepsRawValues(t *testing.T) {
	// A rejected record is stored raw: no widening, unknown attributes kept.
	n := New(nil, Limits{})
	_, reason, lr := normalizeRec(t, n, msg(map[string]any{"response_time_ms": int64(7), "extra": "x"}))
	require.Equal(t, catalog.ReasonMissingAttribute, reason)
	v, _ := lr.Attributes().Get("response_time_ms")
	assert.Equal(t, pcommon.ValueTypeInt, v.Type())
	assert.Equal(t, int64(7), v.Int())
	assert.Equal(t, "x", str(t, lr.Attributes(), "extra"))
	assert.Equal(t, 2+9, lr.Attributes().Len()) // 2 own + status, name, product, id, time, reason, field, message, key
}

func TestRecordAccepted(t *testing.T) {
	n := New(catalog.Default(), DefaultLimits())
	old := time.Date(2019, 3, 1, 0, 0, 0, 0, time.UTC)

	tests := []struct {
		name     string
		rec      rec
		wantName string
		wantID   string // "" = derived: DeriveEventID over the normalised attributes
		wantTime time.Time
		check    func(t *testing.T, attrs pcommon.Map)
	}{
		{
			name:     "EventName",
			rec:      msg(okMsg()),
			wantName: "session.message",
			wantTime: ts,
		},
		{
			name:     "event.name attribute when EventName is empty",
			rec:      rec{product: "ai_chatbot", attrs: with(okMsg(), "event.name", "session.message"), ts: ts},
			wantName: "session.message",
			wantTime: ts,
			check: func(t *testing.T, attrs pcommon.Map) {
				assert.Equal(t, "session.message", str(t, attrs, "event.name"), "event.name is kept")
			},
		},
		{
			name:     "EventName wins over event.name",
			rec:      rec{eventName: "session.message", product: "ai_chatbot", attrs: with(okMsg(), "event.name", "session.start"), ts: ts},
			wantName: "session.message",
			wantTime: ts,
		},
		{
			name:     "id from event.id",
			rec:      msg(with(okMsg(), "event.id", "0f3c-evt-1")),
			wantName: "session.message",
			wantID:   "0f3c-evt-1",
			wantTime: ts,
		},
		{
			name:     "event.id of 128 bytes",
			rec:      msg(with(okMsg(), "event.id", strings.Repeat("é", 64))),
			wantName: "session.message",
			wantID:   strings.Repeat("é", 64),
			wantTime: ts,
		},
		{
			name:     "time from ObservedTimestamp when Timestamp is unset",
			rec:      rec{eventName: "session.message", product: "ai_chatbot", attrs: okMsg(), observed: ts.Add(-time.Hour)},
			wantName: "session.message",
			wantTime: ts.Add(-time.Hour),
		},
		{
			name:     "time from now when both are unset",
			rec:      rec{eventName: "session.message", product: "ai_chatbot", attrs: okMsg()},
			wantName: "session.message",
			wantTime: now,
		},
		{
			name:     "Timestamp wins over ObservedTimestamp",
			rec:      rec{eventName: "session.message", product: "ai_chatbot", attrs: okMsg(), ts: ts, observed: now},
			wantName: "session.message",
			wantTime: ts,
		},
		{
			name:     "old timestamp is fine (backfill)",
			rec:      rec{eventName: "session.message", product: "ai_chatbot", attrs: okMsg(), ts: old},
			wantName: "session.message",
			wantTime: old,
		},
		{
			name:     "future within the skew is fine",
			rec:      rec{eventName: "session.message", product: "ai_chatbot", attrs: okMsg(), ts: now.Add(59 * time.Minute)},
			wantName: "session.message",
			wantTime: now.Add(59 * time.Minute),
		},
		{
			name:     "int for double is widened in place",
			rec:      msg(with(okMsg(), "response_time_ms", int64(120))),
			wantName: "session.message",
			wantTime: ts,
			check: func(t *testing.T, attrs pcommon.Map) {
				v, _ := attrs.Get("response_time_ms")
				require.Equal(t, pcommon.ValueTypeDouble, v.Type())
				assert.InDelta(t, 120.0, v.Double(), 0)
			},
		},
		{
			name: "valid enum value and optional attributes absent",
			rec: rec{eventName: "session.end", product: "ai_chatbot", ts: ts, attrs: map[string]any{
				"session_id": "s-1", "resolved_by": "agent",
			}},
			wantName: "session.end",
			wantTime: ts,
		},
		{
			name: "unknown attributes are kept untouched",
			rec: msg(with(okMsg(), "campaign", "spring", "score", int64(3),
				"meta", map[string]any{"a": []any{int64(1), "x"}})),
			wantName: "session.message",
			wantTime: ts,
			check: func(t *testing.T, attrs pcommon.Map) {
				assert.Equal(t, "spring", str(t, attrs, "campaign"))
				v, _ := attrs.Get("score")
				assert.Equal(t, int64(3), v.Int())
				v, _ = attrs.Get("meta")
				assert.Equal(t, map[string]any{"a": []any{int64(1), "x"}}, v.Map().AsRaw())
			},
		},
		{
			name:     "forged analytics attributes are replaced",
			rec:      msg(with(okMsg(), catalog.AttrEventID, "forged", catalog.AttrRejectReason, "x", "analytics.anything", true)),
			wantName: "session.message",
			wantTime: ts,
			check: func(t *testing.T, attrs pcommon.Map) {
				assert.NotEqual(t, "forged", str(t, attrs, catalog.AttrEventID))
				_, ok := attrs.Get(catalog.AttrRejectReason)
				assert.False(t, ok)
				_, ok = attrs.Get("analytics.anything")
				assert.False(t, ok)
			},
		},
		{
			name: "64 attributes are fine",
			rec: msg(func() map[string]any {
				m := okMsg()
				for len(m) < 64 {
					m["k"+itoa(len(m))] = "v"
				}
				return m
			}()),
			wantName: "session.message",
			wantTime: ts,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, reason, lr := normalizeRec(t, n, tt.rec)
			attrs := lr.Attributes()
			require.Equalf(t, Accepted, out, "reason %s: %v", reason, attrs.AsRaw()[catalog.AttrRejectMessage])
			assert.Equal(t, catalog.Reason(""), reason)
			assert.Equal(t, catalog.StatusAccepted, str(t, attrs, catalog.AttrStatus))
			ev := acceptedEvent(lr, "ai_chatbot")
			assert.Equal(t, tt.wantName, ev.Name)
			assert.Equal(t, "ai_chatbot", ev.Product)
			_, stamped := attrs.Get(catalog.AttrProduct)
			assert.False(t, stamped, "an accepted record's product is its service.name, not stamped")
			assert.Equal(t, tt.wantTime.UnixNano(), ev.TimeUnixNano)
			wantID := tt.wantID
			if wantID == "" {
				wantID = DeriveEventID("ai_chatbot", tt.wantName, pcommon.NewTimestampFromTime(tt.wantTime), attrs)
				assert.Len(t, wantID, 32)
			}
			assert.Equal(t, wantID, ev.ID)
			for _, k := range []string{catalog.AttrRejectReason, catalog.AttrRejectField, catalog.AttrRejectMessage} {
				_, ok := attrs.Get(k)
				assert.Falsef(t, ok, "%s set on an accepted record", k)
			}
			if tt.check != nil {
				tt.check(t, attrs)
			}
		})
	}
}

func TestRecordNotAnEvent(t *testing.T) {
	n := New(nil, DefaultLimits())
	tests := []struct {
		name  string
		attrs map[string]any
		want  map[string]any
	}{
		{name: "plain log", attrs: map[string]any{"http.status": int64(200)}, want: map[string]any{"http.status": int64(200)}},
		{name: "no attributes", attrs: nil, want: map[string]any{}},
		{name: "empty event.name", attrs: map[string]any{"event.name": ""}, want: map[string]any{"event.name": ""}},
		{name: "non-string event.name", attrs: map[string]any{"event.name": int64(3)}, want: map[string]any{"event.name": int64(3)}},
		{
			name:  "forged analytics attributes are still removed",
			attrs: map[string]any{"msg": "hi", catalog.AttrStatus: "accepted", catalog.AttrEventID: "x"},
			want:  map[string]any{"msg": "hi"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, lr := rec{product: "ai_chatbot", attrs: tt.attrs, ts: ts}.build(t)
			lr.Body().SetStr("GET /healthz 200")
			r := n.Record(res, pcommon.NewInstrumentationScope(), lr, now)
			out, reason := r.Outcome, r.Reason
			assert.Equal(t, NotAnEvent, out)
			assert.Equal(t, catalog.Reason(""), reason)
			assert.Equal(t, tt.want, lr.Attributes().AsRaw())
			assert.Equal(t, "GET /healthz 200", lr.Body().Str())
		})
	}
}

// customYAML has an int attribute (the default catalog has none).
const customYAML = `
events:
  - name: order.paid
    product: shop
    attributes:
      - {name: order_id, type: string, required: true}
      - {name: items, type: int, required: true}
      - {name: amount, type: double}
    measure: amount
`

func TestRecordCustomCatalogTypes(t *testing.T) {
	cat, err := catalog.Parse([]byte(customYAML))
	require.NoError(t, err)
	n := New(cat, DefaultLimits())
	tests := []struct {
		name    string
		attrs   map[string]any
		out     Outcome
		reason  catalog.Reason
		message string
	}{
		{name: "int for int", attrs: map[string]any{"order_id": "o", "items": int64(3)}, out: Accepted},
		{name: "int for double", attrs: map[string]any{"order_id": "o", "items": int64(3), "amount": int64(10)}, out: Accepted},
		{
			name: "an unbounded measure over MaxMeasure", attrs: map[string]any{"order_id": "o", "items": int64(1), "amount": 2e12},
			out: Rejected, reason: catalog.ReasonInvalidValue,
			message: `attribute "amount" of order.paid must be at most 1e+12 in absolute value, the largest measure the counters sum exactly, got double 2000000000000; check the unit and the sender's arithmetic`,
		},
		{name: "an unbounded measure at MaxMeasure", attrs: map[string]any{"order_id": "o", "items": int64(1), "amount": -1e12}, out: Accepted},
		{name: "an unbounded non-measure over MaxMeasure", attrs: map[string]any{"order_id": "o", "items": int64(1e15)}, out: Accepted},
		{
			name: "double for int", attrs: map[string]any{"order_id": "o", "items": 3.0}, out: Rejected, reason: catalog.ReasonWrongType,
			message: `attribute "items" of order.paid must be an int, got double 3`,
		},
		{
			name: "numeric string for int", attrs: map[string]any{"order_id": "o", "items": "12"}, out: Rejected, reason: catalog.ReasonWrongType,
			message: `attribute "items" of order.paid must be an int, got string "12"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, reason, lr := normalizeRec(t, n, rec{eventName: "order.paid", product: "shop", attrs: tt.attrs, ts: ts})
			require.Equal(t, tt.out, out)
			assert.Equal(t, tt.reason, reason)
			if tt.message != "" {
				assert.Equal(t, tt.message, str(t, lr.Attributes(), catalog.AttrRejectMessage))
			}
			if v, ok := lr.Attributes().Get("items"); ok && out == Accepted {
				assert.Equal(t, pcommon.ValueTypeInt, v.Type(), "an int attribute stays an int")
			}
		})
	}
}

func TestLimits(t *testing.T) {
	n := New(nil, Limits{MaxAttributes: 3, MaxValueBytes: 10, MaxFutureSkew: time.Minute})
	future := func(d time.Duration) rec {
		return rec{eventName: "session.message", product: "ai_chatbot", attrs: okMsg(), ts: now.Add(d)}
	}
	tests := []struct {
		name   string
		rec    rec
		out    Outcome
		reason catalog.Reason
		field  string
	}{
		{name: "3 attributes", rec: msg(with(okMsg(), "x", "1")), out: Accepted},
		{name: "product of 257 bytes", rec: rec{eventName: "session.message", product: strings.Repeat("p", 257), attrs: okMsg(), ts: ts}, out: Rejected, reason: catalog.ReasonTooLarge, field: "service.name"},
		{name: "event name of 257 bytes", rec: rec{eventName: strings.Repeat("e", 257), product: "ai_chatbot", attrs: okMsg(), ts: ts}, out: Rejected, reason: catalog.ReasonTooLarge, field: "event.name"},
		{name: "event name of 256 bytes: unknown", rec: rec{eventName: strings.Repeat("e", 256), product: "ai_chatbot", attrs: okMsg(), ts: ts}, out: Rejected, reason: catalog.ReasonUnknownEvent, field: "event.name"},
		{name: "4 attributes", rec: msg(with(okMsg(), "x", "1", "y", "2")), out: Rejected, reason: catalog.ReasonTooLarge, field: "attributes"},
		{name: "string of 10 bytes", rec: msg(with(okMsg(), "session_id", "0123456789")), out: Accepted},
		{name: "string of 11 bytes", rec: msg(with(okMsg(), "session_id", "0123456789a")), out: Rejected, reason: catalog.ReasonTooLarge, field: "session_id"},
		{name: "bytes of 11 bytes", rec: msg(with(okMsg(), "b", []byte("0123456789a"))), out: Rejected, reason: catalog.ReasonTooLarge, field: "b"},
		{name: "map of 10 bytes", rec: msg(with(okMsg(), "m", map[string]any{"ab": "cdefghij"})), out: Accepted},
		{name: "map of 11 bytes", rec: msg(with(okMsg(), "m", map[string]any{"ab": "cdefghijk"})), out: Rejected, reason: catalog.ReasonTooLarge, field: "m"},
		{name: "attribute name of 256 bytes", rec: msg(with(okMsg(), strings.Repeat("k", 256), true)), out: Accepted},
		{name: "attribute name of 257 bytes", rec: msg(with(okMsg(), strings.Repeat("k", 257), true)), out: Rejected, reason: catalog.ReasonTooLarge, field: strings.Repeat("k", 256)},
		{name: "event.id of 128 bytes is bounded by its own rule", rec: msg(with(okMsg(), "event.id", strings.Repeat("i", 128))), out: Accepted},
		{name: "future 59s", rec: future(59 * time.Second), out: Accepted},
		{name: "future 60s", rec: future(60 * time.Second), out: Accepted},
		{name: "future 61s", rec: future(61 * time.Second), out: Rejected, reason: catalog.ReasonFutureTimestamp, field: "timestamp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, reason, lr := normalizeRec(t, n, tt.rec)
			require.Equal(t, tt.out, out, lr.Attributes().AsRaw())
			assert.Equal(t, tt.reason, reason)
			if out == Rejected {
				assert.Equal(t, tt.field, str(t, lr.Attributes(), catalog.AttrRejectField))
			}
		})
	}
	// Zero limits take the defaults.
	assert.Equal(t, DefaultLimits(), New(nil, Limits{}).Limits())
	assert.Equal(t, Limits{
		MaxAttributes: 64, MaxValueBytes: 8192, MaxRecordBytes: 65536, MaxDepth: 16,
		MaxFutureSkew: time.Hour, MinEventTime: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
	}, DefaultLimits())
}

func TestOutcomeString(t *testing.T) {
	assert.Equal(t, "accepted", Accepted.String())
	assert.Equal(t, "rejected", Rejected.String())
	assert.Equal(t, "not_an_event", NotAnEvent.String())
	assert.Equal(t, "unknown", Outcome(0).String())
}

func BenchmarkRecord(b *testing.B) {
	n := New(catalog.Default(), DefaultLimits())
	r := rec{eventName: "session.message", product: "ai_chatbot", ts: ts, observed: now, attrs: map[string]any{
		"session_id": "sess-5b0c2c1e-8d7a-4b7e-9f6e-0c1d2e3f4a5b", "response_time_ms": int64(1320),
		"customer_id": "cust-42", "channel": "web", "model": "gpt-x",
	}}
	res, tmpl := r.build(b)
	lr := plog.NewLogRecord()
	b.ReportAllocs()
	for b.Loop() {
		tmpl.CopyTo(lr)
		if r := n.Record(res, pcommon.NewInstrumentationScope(), lr, now); r.Outcome != Accepted {
			b.Fatal(r.Outcome, r.Reason)
		}
	}
}

func TestRecordConcurrent(t *testing.T) {
	// One Normalizer serves every pipeline goroutine (run with -race).
	n := New(nil, DefaultLimits())
	build := func(i int) rec {
		return msg(map[string]any{
			"session_id": "s-" + itoa(i), "response_time_ms": int64(i),
			"meta": map[string]any{"b": int64(i), "a": []any{"x", map[string]any{"z": true, "y": 1.5}}},
		})
	}
	want := make([]string, 50)
	for i := range want {
		_, _, lr := normalizeRec(t, n, build(i))
		want[i] = str(t, lr.Attributes(), catalog.AttrEventID)
	}
	type pair struct {
		res pcommon.Resource
		lr  plog.LogRecord
	}
	got := make([][]string, 4)
	inputs := make([][]pair, len(got))
	for g := range inputs {
		for i := range want {
			res, lr := build(i).build(t)
			inputs[g] = append(inputs[g], pair{res, lr})
		}
	}
	done := make(chan int)
	for g := range got {
		go func() {
			ids := make([]string, len(want))
			for i, p := range inputs[g] {
				n.Record(p.res, pcommon.NewInstrumentationScope(), p.lr, now)
				v, _ := p.lr.Attributes().Get(catalog.AttrEventID)
				ids[i] = v.Str()
			}
			got[g] = ids
			done <- g
		}()
	}
	for range got {
		<-done
	}
	for g := range got {
		assert.Equal(t, want, got[g])
	}
	assert.Len(t, map[string]bool{want[0]: true, want[1]: true, want[49]: true}, 3)
}

// A timestamp of 2^63 ns or more does not fit a signed nanosecond count:
// rejected, and no (wrapped, pre-1970) event time is set.
func TestTimestampAfter2262(t *testing.T) {
	res := pcommon.NewResource()
	res.Attributes().PutStr("service.name", "ai_chatbot")
	lr := plog.NewLogRecord()
	lr.SetEventName("session.start")
	lr.Attributes().PutStr("session_id", "s-1")
	lr.SetTimestamp(pcommon.Timestamp(1 << 63))
	r := New(nil, Limits{}).Record(res, pcommon.NewInstrumentationScope(), lr, time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC))
	out, reason := r.Outcome, r.Reason
	require.Equal(t, Rejected, out)
	assert.Equal(t, catalog.ReasonFutureTimestamp, reason)
	v, _ := lr.Attributes().Get(catalog.AttrRejectMessage)
	assert.Equal(t, "event time 9223372036854775808 ns is after the year 2262; check the timestamp unit (nanoseconds since 1970)", v.Str())
	_, ok := lr.Attributes().Get(catalog.AttrEventTime)
	assert.False(t, ok)
}

// An accepted record is stamped only with what it does not carry itself,
// unchanged; catalog.Accepted reads the same values either way.
func TestAcceptedStampsOnlyWhatDiffers(t *testing.T) {
	n := New(nil, Limits{})
	stamps := func(lr plog.LogRecord) []string {
		var out []string
		for _, k := range []string{catalog.AttrEventName, catalog.AttrProduct, catalog.AttrEventID, catalog.AttrEventTime} {
			if _, ok := lr.Attributes().Get(k); ok {
				out = append(out, k)
			}
		}
		return out
	}
	for _, tt := range []struct {
		name string
		rec  rec
		want []string
	}{
		{"all its own", msg(with(okMsg(), "event.id", "m-1")), nil},
		{
			"name from event.name",
			rec{product: "ai_chatbot", attrs: with(okMsg(), "event.id", "m-1", "event.name", "session.message"), ts: ts},
			[]string{catalog.AttrEventName},
		},
		{"derived id", msg(okMsg()), []string{catalog.AttrEventID}},
		{
			"time observed",
			rec{eventName: "session.message", product: "ai_chatbot", attrs: with(okMsg(), "event.id", "m-1"), observed: ts},
			[]string{catalog.AttrEventTime},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, reason, lr := normalizeRec(t, n, tt.rec)
			require.Equal(t, Accepted, out, reason)
			assert.Equal(t, tt.want, stamps(lr))
			ev := acceptedEvent(lr, "ai_chatbot")
			assert.Equal(t, "session.message", ev.Name)
			assert.Equal(t, ts.UnixNano(), ev.TimeUnixNano)
			if tt.name == "derived id" {
				assert.Len(t, ev.ID, 32)
			} else {
				assert.Equal(t, "m-1", ev.ID)
			}
		})
	}
}
