package normalize

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
)

func attrMap(t *testing.T, raw map[string]any) pcommon.Map {
	t.Helper()
	m := pcommon.NewMap()
	require.NoError(t, m.FromRaw(raw))
	return m
}

func TestDeriveEventIDGolden(t *testing.T) {
	// Pinned: ids are stored and deduplicated on; a change of the encoding
	// would make resent events count twice. Do not update without a plan.
	got := DeriveEventID("ai_chatbot", "session.message", pcommon.NewTimestampFromTime(ts),
		attrMap(t, map[string]any{
			"session_id": "s-1", "response_time_ms": 120.5, "n": int64(1), "ok": true,
			"meta": map[string]any{"b": []any{"x", int64(2)}, "a": nil},
		}))
	assert.Equal(t, "5da7536fe09e4db3a207024db855ce4f", got)
}

func TestDeriveEventIDEncoding(t *testing.T) {
	// The documented encoding, built by hand.
	var b []byte
	b = append(b, "otelcol-analytics event id v1\x00"...)
	b = append(b, 1, 'p', 1, 'e')                      // product, name: uvarint length + bytes
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 1)              // Timestamp, big-endian uint64
	b = append(b, 2)                                   // attribute count
	b = append(b, 1, 'a', 's', 1, 'x')                 // "a": string "x"
	b = append(b, 1, 'b', 'i', 0, 0, 0, 0, 0, 0, 0, 2) // "b": int 2
	sum := sha256.Sum256(b)
	want := hex.EncodeToString(sum[:16])
	assert.Equal(t, want, DeriveEventID("p", "e", 1, attrMap(t, map[string]any{"b": int64(2), "a": "x", "event.id": "ignored"})))
}

func TestDeriveEventIDDiffers(t *testing.T) {
	base := func() map[string]any {
		return map[string]any{"session_id": "s-1", "response_time_ms": 120.5, "meta": map[string]any{"k": "v", "list": []any{"a", "b"}}}
	}
	t0 := pcommon.NewTimestampFromTime(ts)
	id := func(product, name string, tstamp pcommon.Timestamp, raw map[string]any) string {
		return DeriveEventID(product, name, tstamp, attrMap(t, raw))
	}
	ref := id("ai_chatbot", "session.message", t0, base())
	require.Len(t, ref, 32)

	differ := []struct {
		name string
		id   string
	}{
		{"product", id("agent_workbench", "session.message", t0, base())},
		{"name", id("ai_chatbot", "session.start", t0, base())},
		{"timestamp +1ns", id("ai_chatbot", "session.message", t0+1, base())},
		{"timestamp unset", id("ai_chatbot", "session.message", 0, base())},
		{"attribute value", id("ai_chatbot", "session.message", t0, with(base(), "session_id", "s-2"))},
		{"attribute type: string vs int", id("ai_chatbot", "session.message", t0, with(base(), "session_id", int64(1)))},
		{"attribute type: int vs double", id("ai_chatbot", "session.message", t0, with(base(), "response_time_ms", int64(120)))},
		{"attribute key", id("ai_chatbot", "session.message", t0, with(base(), "session_id", nil, "session_id2", "s-1"))},
		{"extra attribute", id("ai_chatbot", "session.message", t0, with(base(), "x", false))},
		{"nested value", id("ai_chatbot", "session.message", t0, with(base(), "meta", map[string]any{"k": "w", "list": []any{"a", "b"}}))},
		{"slice order", id("ai_chatbot", "session.message", t0, with(base(), "meta", map[string]any{"k": "v", "list": []any{"b", "a"}}))},
	}
	seen := map[string]string{ref: "reference"}
	for _, d := range differ {
		t.Run(d.name, func(t *testing.T) {
			require.Len(t, d.id, 32)
			prev, dup := seen[d.id]
			assert.Falsef(t, dup, "same id as %s", prev)
			seen[d.id] = d.name
		})
	}

	// Length prefixes: moving bytes between key and value, or between
	// product and name, changes the id.
	assert.NotEqual(t, id("p", "n", t0, map[string]any{"a": "bc"}), id("p", "n", t0, map[string]any{"ab": "c"}))
	assert.NotEqual(t, id("ab", "c", t0, nil), id("a", "bc", t0, nil))
	assert.NotEqual(t, id("p", "n", t0, map[string]any{"a": []any{"x", "y"}}), id("p", "n", t0, map[string]any{"a": []any{"xy"}}))
}

func TestDeriveEventIDSame(t *testing.T) {
	t0 := pcommon.NewTimestampFromTime(ts)
	// Insertion order of keys, at the top and nested, does not matter.
	m1 := pcommon.NewMap()
	m1.PutStr("a", "1")
	m1.PutStr("b", "2")
	n1 := m1.PutEmptyMap("n")
	n1.PutInt("x", 1)
	n1.PutInt("y", 2)
	m2 := pcommon.NewMap()
	n2 := m2.PutEmptyMap("n")
	n2.PutInt("y", 2)
	n2.PutInt("x", 1)
	m2.PutStr("b", "2")
	m2.PutStr("a", "1")
	assert.Equal(t, DeriveEventID("p", "e", t0, m1), DeriveEventID("p", "e", t0, m2))

	// event.id and analytics.* do not enter the id.
	m3 := pcommon.NewMap()
	m1.CopyTo(m3)
	m3.PutStr(catalog.WireEventID, "given")
	m3.PutStr(catalog.AttrStatus, "accepted")
	assert.Equal(t, DeriveEventID("p", "e", t0, m1), DeriveEventID("p", "e", t0, m3))
}

func TestRecordIDStableAcrossSends(t *testing.T) {
	n := New(nil, DefaultLimits())
	send := func(r rec) string {
		_, _, lr := normalizeRec(t, n, r)
		return str(t, lr.Attributes(), catalog.AttrEventID)
	}
	attrs := func() map[string]any { return map[string]any{"session_id": "s-1", "response_time_ms": int64(120)} }

	t.Run("resend with another ObservedTimestamp", func(t *testing.T) {
		a := send(rec{eventName: "session.message", product: "ai_chatbot", attrs: attrs(), ts: ts, observed: now})
		b := send(rec{eventName: "session.message", product: "ai_chatbot", attrs: attrs(), ts: ts, observed: now.Add(time.Minute)})
		assert.Equal(t, a, b)
	})
	t.Run("no Timestamp: the ObservedTimestamp used as event time enters the id", func(t *testing.T) {
		// Two distinct events a week apart are never merged; a resend that
		// carries the same ObservedTimestamp (an SDK's export retried) keeps
		// its id.
		a := send(rec{
			eventName: "agent.session_message", product: "agent_workbench",
			attrs: map[string]any{"agent_id": "a-1", "session_id": "s-1"}, observed: now.Add(-7 * 24 * time.Hour),
		})
		b := send(rec{
			eventName: "agent.session_message", product: "agent_workbench",
			attrs: map[string]any{"agent_id": "a-1", "session_id": "s-1"}, observed: now.Add(-time.Minute),
		})
		assert.NotEqual(t, a, b)
		c := send(rec{
			eventName: "agent.session_message", product: "agent_workbench",
			attrs: map[string]any{"agent_id": "a-1", "session_id": "s-1"}, observed: now.Add(-time.Minute),
		})
		assert.Equal(t, b, c)
	})
	t.Run("no time at all: the time of receipt enters the id", func(t *testing.T) {
		res, lr := rec{
			eventName: "agent.session_message", product: "agent_workbench",
			attrs: map[string]any{"agent_id": "a-1", "session_id": "s-1"},
		}.build(t)
		r := n.Record(res, pcommon.NewInstrumentationScope(), lr, now)
		require.Equal(t, Result{Outcome: Accepted, Time: TimeFromReceipt, DerivedID: true}, r)
		first := str(t, lr.Attributes(), catalog.AttrEventID)
		res, lr = rec{
			eventName: "agent.session_message", product: "agent_workbench",
			attrs: map[string]any{"agent_id": "a-1", "session_id": "s-1"},
		}.build(t)
		n.Record(res, pcommon.NewInstrumentationScope(), lr, now.Add(7*24*time.Hour))
		assert.NotEqual(t, first, str(t, lr.Attributes(), catalog.AttrEventID))
	})
	t.Run("event.name attribute or EventName: same event, same id only if same attributes", func(t *testing.T) {
		a := send(rec{eventName: "session.message", product: "ai_chatbot", attrs: attrs(), ts: ts})
		b := send(rec{product: "ai_chatbot", attrs: with(attrs(), "event.name", "session.message"), ts: ts})
		assert.NotEqual(t, a, b, "the event.name attribute is content")
	})
	t.Run("passing the processor twice keeps the id (int widened to double)", func(t *testing.T) {
		res, lr := rec{eventName: "session.message", product: "ai_chatbot", attrs: attrs(), ts: ts}.build(t)
		require.Equal(t, Accepted, n.Record(res, pcommon.NewInstrumentationScope(), lr, now).Outcome)
		first := str(t, lr.Attributes(), catalog.AttrEventID)
		require.Equal(t, Accepted, n.Record(res, pcommon.NewInstrumentationScope(), lr, now.Add(time.Hour)).Outcome)
		assert.Equal(t, first, str(t, lr.Attributes(), catalog.AttrEventID))
		// and equals the public derivation over the normalised record
		assert.Equal(t, first, DeriveEventID("ai_chatbot", "session.message", lr.Timestamp(), lr.Attributes()))
		// and the same event sent with a double from the start
		assert.Equal(t, first, send(rec{
			eventName: "session.message", product: "ai_chatbot", ts: ts,
			attrs: map[string]any{"session_id": "s-1", "response_time_ms": 120.0},
		}))
	})
	t.Run("rejected records get a derived id too", func(t *testing.T) {
		a := send(rec{eventName: "nope", product: "ai_chatbot", attrs: attrs(), ts: ts, observed: now})
		b := send(rec{eventName: "nope", product: "ai_chatbot", attrs: attrs(), ts: ts})
		assert.Equal(t, a, b)
		assert.Len(t, a, 32)
	})
}
