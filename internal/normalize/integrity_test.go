package normalize

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
)

// nestedMap is a value nested d maps deep: {"k":{"k":…"leaf"}}.
func nestedMap(d int) any {
	var v any = "leaf"
	for i := 0; i < d; i++ {
		v = map[string]any{"k": v}
	}
	return v
}

// nestedSlice is a value nested d arrays deep: [[…["leaf"]]].
func nestedSlice(d int) any {
	var v any = "leaf"
	for i := 0; i < d; i++ {
		v = []any{v}
	}
	return v
}

// wantCut asserts that lr was cut: only the bookkeeping and raw.*
// attributes, the body the head of orig's OTLP/JSON, size and sha256 of it.
func wantCut(t *testing.T, res pcommon.Resource, orig plog.LogRecord, lr plog.LogRecord) {
	t.Helper()
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	res.CopyTo(rl.Resource())
	rl.ScopeLogs().AppendEmpty()
	orig.CopyTo(rl.ScopeLogs().At(0).LogRecords().AppendEmpty())
	full, err := (&plog.JSONMarshaler{}).MarshalLogs(ld)
	require.NoError(t, err)
	sum := sha256.Sum256(full)

	attrs := lr.Attributes()
	for k := range attrs.All() {
		assert.Truef(t, strings.HasPrefix(k, catalog.AttrPrefix), "attribute %s kept on a cut record", k)
	}
	size, _ := attrs.Get(catalog.AttrRawSize)
	assert.Equal(t, int64(len(full)), size.Int())
	assert.Equal(t, hex.EncodeToString(sum[:]), str(t, attrs, catalog.AttrRawSHA256))
	tr, _ := attrs.Get(catalog.AttrRawTruncated)
	assert.True(t, tr.Bool())
	body := lr.Body().Str()
	assert.LessOrEqual(t, len(body), CutBytes)
	assert.True(t, strings.HasPrefix(string(full), body), "the body is the head of the OTLP/JSON")
	assert.Equal(t, orig.EventName(), lr.EventName())
	assert.Equal(t, orig.Timestamp(), lr.Timestamp())
}

func TestRecordLimitsCutWhatCannotBeCarried(t *testing.T) {
	n := New(nil, DefaultLimits())
	nine := okMsg()
	for i := 0; i < 9; i++ {
		nine["blob_"+string(rune('a'+i))] = strings.Repeat("x", 8000)
	}
	tests := []struct {
		name    string
		rec     rec
		body    any
		field   string
		reason  catalog.Reason
		message string
	}{
		{
			name: "40 maps deep", rec: msg(with(okMsg(), "meta", nestedMap(40))),
			reason: catalog.ReasonTooDeep, field: "meta",
			message: `attribute "meta" is nested more than 16 levels deep (maps and arrays), the limit of max_depth; flatten it`,
		},
		{name: "60 arrays deep", rec: msg(with(okMsg(), "tags", nestedSlice(60))), reason: catalog.ReasonTooDeep, field: "tags"},
		{name: "17 maps deep: one over", rec: msg(with(okMsg(), "meta", nestedMap(17))), reason: catalog.ReasonTooDeep, field: "meta"},
		{name: "mixed 10 maps in 10 arrays", rec: msg(with(okMsg(), "m", nestedSlice(10).([]any)[0])), reason: "", field: ""},
		{
			name: "a deep body", rec: msg(okMsg()), body: nestedMap(30), reason: catalog.ReasonTooDeep, field: "body",
			message: `the body is nested more than 16 levels deep (maps and arrays), the limit of max_depth; flatten it`,
		},
		{
			name: "a 15 MB value", rec: msg(with(okMsg(), "blob", strings.Repeat("x", 15<<20))),
			reason: catalog.ReasonTooLarge, field: "blob",
			message: `attribute "blob" value is 15728640 bytes, more than the limit of 8192`,
		},
		{
			name: "nine values under the value limit, over the record limit", rec: msg(nine),
			reason: catalog.ReasonTooLarge, field: "record",
			message: "the record (event name, body, attribute names and values) is more than 65536 bytes, the limit of max_record_bytes; send less per event",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, lr := tt.rec.build(t)
			if tt.body != nil {
				require.NoError(t, lr.Body().FromRaw(tt.body))
			}
			orig := plog.NewLogRecord()
			lr.CopyTo(orig)
			r := n.Record(res, pcommon.NewInstrumentationScope(), lr, now)
			if tt.reason == "" {
				assert.Equal(t, Accepted, r.Outcome, lr.Attributes().AsRaw())
				return
			}
			require.Equal(t, Rejected, r.Outcome)
			assert.Equal(t, tt.reason, r.Reason)
			assert.True(t, r.Cut)
			attrs := lr.Attributes()
			assert.Equal(t, tt.field, str(t, attrs, catalog.AttrRejectField))
			if tt.message != "" {
				assert.Equal(t, tt.message, str(t, attrs, catalog.AttrRejectMessage))
			}
			assert.Equal(t, "session.message", str(t, attrs, catalog.AttrEventName))
			assert.Equal(t, "ai_chatbot", str(t, attrs, catalog.AttrProduct))
			wantCut(t, res, orig, lr)
			// What is left survives the persistent queue's encoding.
			assert.LessOrEqual(t, depth(lr.Body(), 100), 0)
		})
	}
}

func TestRecordPlausibleValues(t *testing.T) {
	n := New(nil, DefaultLimits())
	const bounds = `attribute "response_time_ms" of session.message must be between 0 and 8.64e+07, got `
	tests := []struct {
		name    string
		value   any
		message string // "" = accepted
	}{
		{name: "zero", value: 0.0},
		{name: "24 h exactly", value: 86_400_000.0},
		{name: "int widened", value: int64(250)},
		{name: "NaN", value: math.NaN(), message: `attribute "response_time_ms" of session.message must be a finite number, got double NaN; check the unit and the sender's arithmetic`},
		{name: "+Inf", value: math.Inf(1), message: `attribute "response_time_ms" of session.message must be a finite number, got double Infinity; check the unit and the sender's arithmetic`},
		{name: "-Inf", value: math.Inf(-1), message: `attribute "response_time_ms" of session.message must be a finite number, got double -Infinity; check the unit and the sender's arithmetic`},
		{name: "1e308", value: 1e308, message: bounds + "double 1e+308; check the unit and the sender's arithmetic"},
		{name: "negative", value: -5.0, message: bounds + "double -5; check the unit and the sender's arithmetic"},
		{name: "negative int", value: int64(-1), message: bounds + "int -1; check the unit and the sender's arithmetic"},
		{name: "overflowing millionths", value: 4611686018427.0, message: bounds + "double 4611686018427; check the unit and the sender's arithmetic"},
		{name: "one over 24 h", value: 86_400_000.5, message: bounds + "double 86400000.5; check the unit and the sender's arithmetic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, reason, lr := normalizeRec(t, n, msg(with(okMsg(), "response_time_ms", tt.value)))
			if tt.message == "" {
				assert.Equal(t, Accepted, out, lr.Attributes().AsRaw())
				return
			}
			require.Equal(t, Rejected, out)
			assert.Equal(t, catalog.ReasonInvalidValue, reason)
			assert.Equal(t, "response_time_ms", str(t, lr.Attributes(), catalog.AttrRejectField))
			assert.Equal(t, tt.message, str(t, lr.Attributes(), catalog.AttrRejectMessage))
		})
	}

	t.Run("every built-in measure is bounded", func(t *testing.T) {
		cat := catalog.Default()
		for _, name := range cat.Names() {
			ev, _ := cat.Lookup(name)
			if ev.Measure == "" {
				continue
			}
			a, _ := ev.Attribute(ev.Measure)
			require.NotNilf(t, a.Min, "%s.%s has no min", name, a.Name)
			require.NotNilf(t, a.Max, "%s.%s has no max", name, a.Name)
			assert.Zero(t, *a.Min, name)
			assert.False(t, a.InRange(-0.001), name)
			assert.True(t, a.InRange(*a.Max), name)
		}
	})
}

func TestRecordPastTimestamp(t *testing.T) {
	n := New(nil, DefaultLimits())
	nowMs := now.UnixMilli()
	tests := []struct {
		name    string
		ts      pcommon.Timestamp
		message string // "" = accepted
	}{
		{name: "2000-01-01 exactly", ts: pcommon.NewTimestampFromTime(DefaultMinEventTime)},
		{name: "a backfill of 2019", ts: pcommon.NewTimestampFromTime(time.Date(2019, 3, 1, 0, 0, 0, 0, time.UTC))},
		{
			name: "one second before 2000", ts: pcommon.NewTimestampFromTime(DefaultMinEventTime.Add(-time.Second)),
			message: "event time 1999-12-31T23:59:59Z is before 2000-01-01T00:00:00Z, the earliest accepted (min_event_time); check the sender's clock and the timestamp unit (nanoseconds since 1970)",
		},
		{
			name: "1 ns", ts: 1,
			message: "event time 1970-01-01T00:00:00.000000001Z is before 2000-01-01T00:00:00Z, the earliest accepted (min_event_time); check the sender's clock and the timestamp unit (nanoseconds since 1970)",
		},
		{
			name: "milliseconds", ts: pcommon.Timestamp(nowMs),
			message: "event time 1970-01-01T00:29:25.7856Z is before 2000-01-01T00:00:00Z, the earliest accepted (min_event_time); the value 1765785600000 reads as milliseconds since 1970: send the timestamp in nanoseconds",
		},
		{
			name: "seconds", ts: pcommon.Timestamp(now.Unix()),
			message: "event time 1970-01-01T00:00:01.7657856Z is before 2000-01-01T00:00:00Z, the earliest accepted (min_event_time); the value 1765785600 reads as seconds since 1970: send the timestamp in nanoseconds",
		},
		{
			name: "microseconds", ts: pcommon.Timestamp(now.UnixMicro()),
			message: "event time 1970-01-21T10:29:45.6Z is before 2000-01-01T00:00:00Z, the earliest accepted (min_event_time); the value 1765785600000000 reads as microseconds since 1970: send the timestamp in nanoseconds",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, lr := msg(okMsg()).build(t)
			lr.SetTimestamp(tt.ts)
			r := n.Record(res, pcommon.NewInstrumentationScope(), lr, now)
			if tt.message == "" {
				assert.Equal(t, Accepted, r.Outcome, lr.Attributes().AsRaw())
				return
			}
			require.Equal(t, Rejected, r.Outcome)
			assert.Equal(t, catalog.ReasonPastTimestamp, r.Reason)
			assert.Equal(t, "timestamp", str(t, lr.Attributes(), catalog.AttrRejectField))
			assert.Equal(t, tt.message, str(t, lr.Attributes(), catalog.AttrRejectMessage))
		})
	}
	t.Run("the horizon is configurable", func(t *testing.T) {
		n := New(nil, Limits{MinEventTime: time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)})
		res, lr := msg(okMsg()).build(t)
		lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Date(1995, 6, 1, 0, 0, 0, 0, time.UTC)))
		assert.Equal(t, Accepted, n.Record(res, pcommon.NewInstrumentationScope(), lr, now).Outcome)
	})
}

func TestRecordReceiverRefusal(t *testing.T) {
	n := New(nil, DefaultLimits())
	tests := []struct {
		name                   string
		eventName              string
		attrs                  map[string]any
		reason, field, message string
		wantName, wantID       string
		wantAttrs, wantNoAttrs []string
	}{
		{
			name:   "a call without an event name",
			attrs:  map[string]any{catalog.WireRejectReason: "missing_event", catalog.WireRejectField: "event", catalog.WireRejectMessage: "event is missing"},
			reason: "missing_event", field: "event", message: "event is missing",
		},
		{
			name: "with name and id", eventName: "session.start",
			attrs:  map[string]any{catalog.WireRejectReason: "invalid_field", catalog.WireRejectMessage: "properties must be a JSON object", "event.id": "m-1"},
			reason: "invalid_field", message: "properties must be a JSON object", wantName: "session.start", wantID: "m-1",
		},
		{
			name:   "a reason that is not a token",
			attrs:  map[string]any{catalog.WireRejectReason: "Bad Reason!"},
			reason: "refused_by_receiver", message: "a receiver refused the record (refused_by_receiver)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, lr := rec{eventName: tt.eventName, product: "ai_chatbot", attrs: tt.attrs}.build(t)
			lr.Body().SetStr(`{"type":"track"}`)
			r := n.Record(res, pcommon.NewInstrumentationScope(), lr, now)
			require.Equal(t, Rejected, r.Outcome)
			assert.Equal(t, catalog.Reason(tt.reason), r.Reason)
			attrs := lr.Attributes()
			assert.Equal(t, tt.field, str(t, attrs, catalog.AttrRejectField))
			assert.Equal(t, tt.message, str(t, attrs, catalog.AttrRejectMessage))
			for _, k := range []string{catalog.WireRejectReason, catalog.WireRejectField, catalog.WireRejectMessage} {
				_, ok := attrs.Get(k)
				assert.Falsef(t, ok, "%s left on the record", k)
			}
			if tt.wantName != "" {
				assert.Equal(t, tt.wantName, str(t, attrs, catalog.AttrEventName))
			} else {
				_, ok := attrs.Get(catalog.AttrEventName)
				assert.False(t, ok)
			}
			if tt.wantID != "" {
				assert.Equal(t, tt.wantID, str(t, attrs, catalog.AttrEventID))
			}
			assert.JSONEq(t, `{"type":"track"}`, lr.Body().Str())
		})
	}
}

func bytesAttr(t *testing.T, m pcommon.Map, k string) []byte {
	t.Helper()
	v, ok := m.Get(k)
	require.Truef(t, ok, "attribute %s missing", k)
	require.Equal(t, pcommon.ValueTypeBytes, v.Type(), k)
	return v.Bytes().AsRaw()
}

func TestContentHashAndRejectKey(t *testing.T) {
	n := New(nil, DefaultLimits())
	hash := func(r rec) []byte {
		out, _, lr := normalizeRec(t, n, r)
		require.Equal(t, Accepted, out)
		return bytesAttr(t, lr.Attributes(), catalog.AttrContentHash)
	}
	key := func(r rec, body string) []byte {
		res, lr := r.build(t)
		lr.Body().SetStr(body)
		rr := n.Record(res, pcommon.NewInstrumentationScope(), lr, now)
		require.Equal(t, Rejected, rr.Outcome)
		return bytesAttr(t, lr.Attributes(), catalog.AttrRejectKey)
	}
	withID := func(id string, attrs map[string]any) rec {
		return msg(with(attrs, "event.id", id))
	}

	t.Run("content hash: 16 bytes, the id does not enter it, the content does", func(t *testing.T) {
		a := hash(withID("e-1", okMsg()))
		assert.Len(t, a, 16)
		assert.Equal(t, a, hash(withID("e-2", okMsg())))
		assert.NotEqual(t, a, hash(withID("e-1", with(okMsg(), "response_time_ms", 121.0))))
		later := withID("e-1", okMsg())
		later.ts = ts.Add(time.Second)
		assert.NotEqual(t, a, hash(later))
	})
	t.Run("content hash with event.id and no Timestamp: neither emission nor receipt time enters it", func(t *testing.T) {
		timeless := func(observed, at time.Time) []byte {
			res, lr := rec{eventName: "session.message", product: "ai_chatbot", attrs: with(okMsg(), "event.id", "e-9"), observed: observed}.build(t)
			require.Equal(t, Accepted, n.Record(res, pcommon.NewInstrumentationScope(), lr, at).Outcome)
			return bytesAttr(t, lr.Attributes(), catalog.AttrContentHash)
		}
		a := timeless(time.Time{}, now)
		assert.Equal(t, a, timeless(time.Time{}, now.Add(time.Hour)), "a resend received later")
		assert.Equal(t, a, timeless(now.Add(-time.Minute), now), "a resend through a receiver that sets ObservedTimestamp")
	})
	t.Run("content hash of an id-less record is its derived id", func(t *testing.T) {
		_, _, lr := normalizeRec(t, n, msg(okMsg()))
		assert.Equal(t, str(t, lr.Attributes(), catalog.AttrEventID), hex.EncodeToString(bytesAttr(t, lr.Attributes(), catalog.AttrContentHash)))
	})
	t.Run("reject key: same refusal same key, whatever the time of receipt", func(t *testing.T) {
		bad := rec{eventName: "session.restart", product: "ai_chatbot", attrs: okMsg()} // no time at all
		k := key(bad, "")
		assert.Len(t, k, 16)
		res, lr := bad.build(t)
		lr.Body().SetStr("")
		n.Record(res, pcommon.NewInstrumentationScope(), lr, now.Add(24*time.Hour))
		assert.Equal(t, k, bytesAttr(t, lr.Attributes(), catalog.AttrRejectKey))
		observed := bad
		observed.observed = now.Add(-time.Minute)
		assert.Equal(t, k, key(observed, ""), "ObservedTimestamp (set by the track receiver at receipt) does not enter the key")
		assert.NotEqual(t, k, key(bad, "a body"), "the body is content")
		assert.NotEqual(t, k, key(rec{eventName: "session.restart", product: "ai_chatbot", attrs: with(okMsg(), "event.id", "x")}, ""), "event.id is content")
		assert.NotEqual(t, k, key(rec{eventName: "session.restart", product: "agent_workbench", attrs: okMsg()}, ""))
	})
}

func TestGuardQueue(t *testing.T) {
	// Whatever a record holds, after GuardQueue the persistent queue's
	// encoding reads it back: nothing it accepted can be dropped there.
	shapes := []struct {
		name  string
		build func(rl plog.ResourceLogs, lr plog.LogRecord)
		field string // "" = left alone
	}{
		{name: "shallow", build: func(_ plog.ResourceLogs, lr plog.LogRecord) { lr.Attributes().PutStr("a", "b") }},
		{name: "24 maps: the most the queue carries", build: func(_ plog.ResourceLogs, lr plog.LogRecord) {
			require.NoError(t, lr.Attributes().PutEmpty("m").FromRaw(nestedMap(24)))
		}},
		{name: "25 maps", field: "m", build: func(_ plog.ResourceLogs, lr plog.LogRecord) {
			require.NoError(t, lr.Attributes().PutEmpty("m").FromRaw(nestedMap(25)))
		}},
		{name: "40 maps", field: "m", build: func(_ plog.ResourceLogs, lr plog.LogRecord) {
			require.NoError(t, lr.Attributes().PutEmpty("m").FromRaw(nestedMap(40)))
		}},
		{name: "1000 arrays", field: "a", build: func(_ plog.ResourceLogs, lr plog.LogRecord) {
			require.NoError(t, lr.Attributes().PutEmpty("a").FromRaw(nestedSlice(1000)))
		}},
		{name: "a deep body", field: "body", build: func(_ plog.ResourceLogs, lr plog.LogRecord) {
			require.NoError(t, lr.Body().FromRaw(nestedMap(60)))
		}},
		{name: "a deep resource attribute", field: "resource.r", build: func(rl plog.ResourceLogs, _ plog.LogRecord) {
			require.NoError(t, rl.Resource().Attributes().PutEmpty("r").FromRaw(nestedMap(60)))
		}},
	}
	for _, tt := range shapes {
		t.Run(tt.name, func(t *testing.T) {
			ld := plog.NewLogs()
			rl := ld.ResourceLogs().AppendEmpty()
			rl.Resource().Attributes().PutStr("service.name", "ai_chatbot")
			sl := rl.ScopeLogs().AppendEmpty()
			ok := sl.LogRecords().AppendEmpty()
			ok.SetEventName("session.start")
			lr := sl.LogRecords().AppendEmpty()
			lr.SetEventName("session.message")
			tt.build(rl, lr)

			before := plog.NewLogs()
			ld.CopyTo(before)
			out, guarded := GuardQueue(ld)
			assert.Equal(t, before, ld, "the input is not modified")
			data, err := (&plog.ProtoMarshaler{}).MarshalLogs(out)
			require.NoError(t, err)
			back, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(data)
			require.NoError(t, err, "the queue could not read the item back")
			require.Equal(t, 2, back.LogRecordCount())
			got := back.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(1)
			switch {
			case tt.field == "":
				assert.Equal(t, 0, guarded)
				return
			case strings.HasPrefix(tt.field, "resource."):
				assert.Equal(t, 2, guarded, "every record under the resource")
			default:
				assert.Equal(t, 1, guarded)
			}
			assert.Equal(t, string(catalog.ReasonTooDeep), str(t, got.Attributes(), catalog.AttrRejectReason))
			assert.Equal(t, tt.field, str(t, got.Attributes(), catalog.AttrRejectField))
			assert.Equal(t, "session.message", got.EventName())
		})
	}
}

func TestRecordStampsCounters(t *testing.T) {
	n := New(nil, DefaultLimits())
	tests := []struct {
		name    string
		rec     rec
		measure any // int64 millionths, nil = not set
		flag    any // bool, nil = not set
	}{
		{"measure and flag", rec{
			eventName: "ticket.closed", product: "agent_workbench", ts: ts,
			attrs: map[string]any{"ticket_id": "t", "resolution_duration_hours": 1.2345675, "sla_met": true},
		}, int64(1_234_568), true},
		{"int measure widened", rec{
			eventName: "session.message", product: "ai_chatbot", ts: ts,
			attrs: map[string]any{"session_id": "s", "response_time_ms": int64(250)},
		}, int64(250_000_000), nil},
		{"flag only", rec{
			eventName: "query.order", product: "ai_chatbot", ts: ts,
			attrs: map[string]any{"success": false},
		}, nil, false},
		{"optional measure absent", rec{
			eventName: "session.end", product: "ai_chatbot", ts: ts,
			attrs: map[string]any{"session_id": "s"},
		}, nil, nil},
		{"no measure, no flag", rec{
			eventName: "session.start", product: "ai_chatbot", ts: ts,
			attrs: map[string]any{"session_id": "s"},
		}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, lr := normalizeRec(t, n, tt.rec)
			require.Equal(t, Accepted, out)
			got := lr.Attributes().AsRaw()
			assert.Equal(t, tt.measure, got[catalog.AttrMeasureMicro])
			assert.Equal(t, tt.flag, got[catalog.AttrFlag])
		})
	}
	t.Run("never on a rejected record", func(t *testing.T) {
		out, _, lr := normalizeRec(t, n, msg(with(okMsg(), "session_id", nil)))
		require.Equal(t, Rejected, out)
		_, ok := lr.Attributes().Get(catalog.AttrMeasureMicro)
		assert.False(t, ok)
	})
}

// A receiver's refusal too large to keep is cut like any other record, and
// keeps the receiver's reason.
func TestRecordReceiverRefusalTooLargeIsCut(t *testing.T) {
	n := New(nil, DefaultLimits())
	call := `{"type":"track","event":"session.start","properties":{"t":"` + strings.Repeat("x", 100<<10) + `"}}`
	res, lr := rec{eventName: "session.start", product: "ai_chatbot", attrs: map[string]any{
		catalog.WireRejectReason: "event_too_large", catalog.WireRejectMessage: "the call is too large",
	}}.build(t)
	lr.Body().SetStr(call)
	orig := plog.NewLogRecord()
	lr.CopyTo(orig)
	orig.Attributes().Clear() // the marker is removed before the cut
	r := n.Record(res, pcommon.NewInstrumentationScope(), lr, now)
	require.Equal(t, Rejected, r.Outcome)
	assert.Equal(t, catalog.Reason("event_too_large"), r.Reason)
	assert.True(t, r.Cut)
	wantCut(t, res, orig, lr)

	// A small one is kept whole.
	res, lr = rec{eventName: "session.start", product: "ai_chatbot", attrs: map[string]any{catalog.WireRejectReason: "missing_event"}}.build(t)
	lr.Body().SetStr(`{"type":"track"}`)
	r = n.Record(res, pcommon.NewInstrumentationScope(), lr, now)
	assert.False(t, r.Cut)
	assert.JSONEq(t, `{"type":"track"}`, lr.Body().Str())
}
