package store

import (
	"errors"
	"io"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
)

// queuedMix is a request of accepted records of every shape the queued form
// handles (rebuilt from the row, or kept exact), a rejected and an
// unnormalised record. It returns the request and the raw form (rawJSON) of
// each accepted record, in order.
func queuedMix(t testing.TB) (plog.Logs, [][]byte) {
	t.Helper()
	at := ts("2025-12-05T10:00:00Z")
	recs := []rec{
		{name: "session.message", product: "ai_chatbot", id: "m1", at: at, attrs: map[string]any{"session_id": "s1", "response_time_ms": 700.0}},
		{name: "session.message", product: "ai_chatbot", id: "m2", at: at, attrs: map[string]any{"session_id": "s2", "response_time_ms": 12.5}, traceID: "0102030405060708090a0b0c0d0e0f10"},
		{name: "session.start", product: "ai_chatbot", id: "m3", at: at, attrs: map[string]any{"session_id": "s3", "customer_id": "c"}},
		{name: "session.start", product: "ai_chatbot", at: at, attrs: map[string]any{"session_id": "derived"}}, // no event.id: derived
		{name: "session.message", product: "ai_chatbot", id: "m6", at: at, attrs: map[string]any{"session_id": "s6", "response_time_ms": 1.0}},
		{name: "session.message", product: "ai_chatbot", id: "m7", at: at, attrs: map[string]any{"session_id": "s7", "response_time_ms": 1.0}},
		{name: "no.such.event", product: "ai_chatbot", id: "r1", at: at, attrs: map[string]any{"session_id": "s"}},
		{name: "agent.session_takeover", product: "agent_workbench", id: "m5", at: at, attrs: map[string]any{"session_id": "s5", "agent_id": "a5", "wait_duration_seconds": 3.0}},
	}
	ld := normalised(t, recs...)
	lrs := logRecords(ld)
	// After the processor, as later processors or hand-built requests may
	// leave them: every attribute type, texts JSON escapes, a body, the
	// record's other fields.
	a := lrs[0].Attributes()
	a.PutStr("quote\"key\n", "tab\t\"nul\x00 invalid \xff 汉字 \\ \u2028")
	a.PutInt("n", -42)
	a.PutDouble("whole", 2)
	a.PutDouble("neg0", math.Copysign(0, -1))
	a.PutDouble("nan", math.NaN())
	a.PutDouble("inf", math.Inf(1))
	a.PutDouble("minf", math.Inf(-1))
	a.PutDouble("tiny", 5e-324)
	a.PutBool("ok", true)
	a.PutEmptyBytes("blob").FromRaw([]byte{0, 1, 0xff})
	a.PutEmpty("nothing")
	a.PutInt(catalog.KeySessionID+"_not", 1)
	a.PutInt(catalog.KeyTicketID, 7) // a key that is not a string stays in the JSON
	lrs[0].Body().SetStr("hello \"body\"")
	lrs[0].SetSeverityNumber(plog.SeverityNumberWarn)
	lrs[0].SetSeverityText("WARN")
	lrs[0].SetObservedTimestamp(pcommon.Timestamp(123))
	lrs[0].SetFlags(plog.DefaultLogRecordFlags.WithIsSampled(true))
	var sid pcommon.SpanID
	copy(sid[:], []byte{1, 2, 3, 4, 5, 6, 7, 8})
	lrs[1].SetSpanID(sid)
	lrs[2].Attributes().PutEmptyBytes(catalog.AttrRejectKey).FromRaw(hash16("given")) // replayed
	lrs[3].SetEventName("")                                                           // the name from the event.name stamp
	lrs[3].Attributes().PutStr(catalog.AttrEventName, "session.start")
	lrs[3].Attributes().PutStr(catalog.WireEventName, "session.start")
	lrs[4].SetTimestamp(0) // the time from the stamp
	lrs[4].Attributes().PutInt(catalog.AttrEventTime, at.UnixNano())
	// Kept exact: a map attribute, a body that is not a string.
	require.NoError(t, lrs[4].Attributes().PutEmptyMap("m").FromRaw(map[string]any{"x": 1.0, "y": []any{int64(1), "z"}}))
	lrs[5].Body().SetEmptyBytes().FromRaw([]byte("bin"))
	ld.ResourceLogs().At(0).Resource().Attributes().PutStr("host.name", "h1")
	ld.ResourceLogs().At(0).SetSchemaUrl("https://schema/1")
	ld.ResourceLogs().At(0).ScopeLogs().At(0).Scope().SetVersion("v9")

	var raws [][]byte
	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		rl := ld.ResourceLogs().At(i)
		for j := 0; j < rl.ScopeLogs().Len(); j++ {
			sl := rl.ScopeLogs().At(j)
			for k := 0; k < sl.LogRecords().Len(); k++ {
				lr := sl.LogRecords().At(k)
				if v, _ := lr.Attributes().Get(catalog.AttrStatus); v.Str() == catalog.StatusAccepted {
					raws = append(raws, rawJSON(source{rl: rl, sl: sl, lr: lr}))
				}
			}
		}
	}
	// An unnormalised record.
	lrs[0].CopyTo(ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().AppendEmpty())
	last := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	last.At(last.Len() - 1).Attributes().Remove(catalog.AttrStatus)
	return ld, raws
}

// TestQueuedFormRoundTrip: a batch encoded and decoded holds the same rows,
// and every accepted record's raw form, rebuilt from its row, is the
// original's byte for byte.
func TestQueuedFormRoundTrip(t *testing.T) {
	t.Parallel()
	loc, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)
	ld, raws := queuedMix(t)
	b := Convert(loc, ld)
	require.Len(t, b.events, 7)
	require.Len(t, b.rejected, 2)
	assert.Equal(t, 9, b.Len())
	exact := 0
	for i := range b.events {
		if b.events[i].rest.exact != nil {
			exact++
		}
	}
	assert.Equal(t, 2, exact, "the map attribute and the bytes body are kept exact, the rest rebuilt")

	buf, err := b.AppendBinary(nil)
	require.NoError(t, err)
	require.Equal(t, byte(BatchMagic), buf[0])
	back, err := DecodeBatch(buf)
	require.NoError(t, err)

	for name, got := range map[string]*Batch{"converted": b, "decoded": back} {
		require.Len(t, got.events, len(raws), name)
		assertSameRows(t, b, got, raws, name)
	}
	assert.Equal(t, "a5", back.events[6].agentID)
	k, ok := givenKey(back.events[2].source())
	assert.True(t, ok)
	assert.Equal(t, hash16("given"), k[:])
	assert.Equal(t, "not_normalised", back.rejected[1].reason)
	assert.Equal(t, "unknown_event", back.rejected[0].reason)

	// Encoded again, the decoded batch is the same bytes.
	again, err := back.AppendBinary(nil)
	require.NoError(t, err)
	assert.Equal(t, buf, again)
	assert.LessOrEqual(t, len(buf), b.SizeHint()+1024, "SizeHint is about the size")
}

// TestDecodeBatchRefusesDamage: every cut of an encoded batch is an error,
// never a panic; a pdata item is ErrNotBatch.
func TestDecodeBatchRefusesDamage(t *testing.T) {
	t.Parallel()
	ld, _ := queuedMix(t)
	b := Convert(time.UTC, ld)
	buf, err := b.AppendBinary(nil)
	require.NoError(t, err)
	require.Equal(t, byte(batchVersionS2), buf[1])
	v1 := appendVersion1(nil, b.appendBody(nil))
	for name, item := range map[string][]byte{"version 2": buf, "version 1": v1} {
		for n := 0; n < len(item); n++ {
			_, err := DecodeBatch(item[:n])
			require.Error(t, err, "%s cut at %d", name, n)
		}
		_, err = DecodeBatch(append(append([]byte{}, item...), 0))
		require.Error(t, err, "%s with a trailing byte", name)
		bad := append([]byte{}, item...)
		bad[1] = 9
		_, err = DecodeBatch(bad)
		require.ErrorContains(t, err, "version 9", name)
	}
	_, err = DecodeBatch(append(append([]byte{}, v1...), 0))
	require.ErrorContains(t, err, "trailing")

	var m plog.ProtoMarshaler
	pb, err := m.MarshalLogs(ld)
	require.NoError(t, err)
	_, err = DecodeBatch(pb)
	require.ErrorIs(t, err, ErrNotBatch)
}

// TestBatchMergeSplit: merging keeps the order and leaves both requests as
// they were; splitting cuts into parts of at most n, the last the smallest.
func TestBatchMergeSplit(t *testing.T) {
	t.Parallel()
	ld, _ := queuedMix(t)
	a, b := Convert(time.UTC, ld), Convert(time.UTC, ld)
	m := a.Merge(b)
	require.Equal(t, 18, m.Len())
	assert.Equal(t, 9, a.Len())
	assert.Equal(t, 9, b.Len())
	assert.Equal(t, a.events[0].eventID, m.events[7].eventID)
	parts := m.Split(5)
	var sizes []int
	total := 0
	for _, p := range parts {
		sizes = append(sizes, p.Len())
		total += p.Len()
	}
	assert.Equal(t, []int{5, 5, 5, 3}, sizes)
	assert.Equal(t, 18, total)
	assert.Equal(t, m.events[13].eventID, parts[2].events[3].eventID)
	assert.Equal(t, m.rejected[3].reason, parts[3].rejected[2].reason)
	assert.Equal(t, []*Batch{m}, m.Split(18))

	// A batch Merge made takes the next one in place; the parts of a split
	// do not share it.
	m2 := m.Merge(a)
	assert.Same(t, m, m2)
	assert.Equal(t, 27, m.Len())
	assert.Equal(t, 9, a.Len())
	p := parts[0].Merge(a)
	assert.NotSame(t, parts[0], p)
	assert.Equal(t, 5, parts[0].Len())
	assert.Equal(t, m.events[13].eventID, parts[2].events[3].eventID, "the parts are unchanged")
	assert.Equal(t, 14, p.Len())
}

// assertSameRows asserts that got holds want's rows: each event row's
// fields and tuple, its raw form (raws[i]), and the rejected rows.
func assertSameRows(t *testing.T, want, got *Batch, raws [][]byte, name string) {
	t.Helper()
	require.Len(t, got.events, len(want.events), name)
	for i := range got.events {
		e, w := &got.events[i], &want.events[i]
		assert.Equal(t, []any{w.eventID, w.name, w.product, w.agentID, w.eventTime, w.day, w.month, w.measure, w.hasMeasure, w.flag, w.hasFlag, w.hash, w.hasHash, w.tuple},
			[]any{e.eventID, e.name, e.product, e.agentID, e.eventTime, e.day, e.month, e.measure, e.hasMeasure, e.flag, e.hasFlag, e.hash, e.hasHash, e.tuple}, "%s row %d", name, i)
		assert.Equal(t, string(raws[i]), string(rawJSON(e.source())), "%s raw of row %d", name, i)
	}
	assert.Equal(t, want.rejected, got.rejected, name)
}

// readBy reads r to its end in reads of at most size bytes, each
// returning some bytes or the end.
func readBy(t *testing.T, r io.Reader, size int) []byte {
	t.Helper()
	var got []byte
	buf := make([]byte, size)
	for {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if errors.Is(err, io.EOF) {
			return got
		}
		require.NoError(t, err)
		require.Positive(t, n)
	}
}
