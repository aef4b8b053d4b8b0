package store

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
	"github.com/otelcol-analytics/otelcol-analytics/internal/loadgen"
	"github.com/otelcol-analytics/otelcol-analytics/internal/normalize"
)

// equivLogs is a request of odd records: repeated keys, wire ids and names
// of other types or values, maps, bodies, dropped attributes, missing or
// broken normalised attributes, rejected and unnormalised records.
func equivLogs() plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "ai_chatbot")
	rl.SetSchemaUrl("https://schema/1")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("s")
	hash := bytes.Repeat([]byte{7}, contentHashSize)
	base := func() plog.LogRecord {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetEventName("session.start")
		lr.SetTimestamp(pcommon.Timestamp(time.Date(2026, 11, 3, 17, 0, 0, 0, time.UTC).UnixNano()))
		lr.SetObservedTimestamp(12345)
		a := lr.Attributes()
		a.PutStr(catalog.AttrStatus, catalog.StatusAccepted)
		a.PutStr(catalog.WireEventID, "id-1")
		a.PutEmptyBytes(catalog.AttrContentHash).FromRaw(hash)
		a.PutStr("session_id", "s1")
		a.PutStr("channel", "we\"b\n\x01")
		return lr
	}
	base()
	lr := base()
	lr.Attributes().PutInt(catalog.AttrMeasureMicro, 42)
	lr.Attributes().PutBool(catalog.AttrFlag, true)
	lr.Attributes().PutStr("agent_id", "a1")
	lr.Attributes().PutStr("ticket_id", "t1")
	lr.Attributes().PutStr("customer_id", "c1")
	lr.Attributes().PutDouble("d", math.Inf(1))
	lr.Attributes().PutDouble("nan", math.NaN())
	lr.Attributes().PutInt("i", -3)
	lr.Attributes().PutEmptyBytes("y").FromRaw([]byte{1, 2})
	lr.Attributes().PutEmpty("e")
	lr.Attributes().PutBool("b", false)
	lr.Attributes().PutStr(catalog.WireEventName, "session.start")
	lr.Body().SetStr("body")
	lr.SetSeverityNumber(9)
	lr.SetSeverityText("INFO")
	lr.SetFlags(1)
	lr.SetTraceID(pcommon.TraceID{1, 2, 3})
	lr.SetSpanID(pcommon.SpanID{4, 5})
	base().Attributes().PutInt("session_id", 5) // a key column of another type
	base().Attributes().PutStr(catalog.WireEventName, "other")
	base().Attributes().PutInt(catalog.WireEventName, 1)
	base().Attributes().PutEmptyMap("m").PutStr("x", "y")
	base().Attributes().PutBool(catalog.AttrRawTruncated, true)
	base().SetDroppedAttributesCount(1)
	base().Body().SetInt(3)
	base().Attributes().PutEmptyBytes(catalog.AttrRejectKey).FromRaw(bytes.Repeat([]byte{9}, rejectKeySize))
	base().Attributes().PutEmptyBytes(catalog.AttrRejectKey).FromRaw([]byte{9})
	base().Attributes().PutStr(catalog.AttrEventID, "derived")
	base().Attributes().PutStr(catalog.AttrEventName, "stamped.name")
	base().Attributes().PutStr(catalog.AttrProduct, "agent_workbench")
	base().Attributes().PutInt(catalog.AttrEventTime, time.Date(2026, 10, 31, 16, 30, 0, 0, time.UTC).UnixNano())
	base().Attributes().PutStr(catalog.AttrEventTime, "x")
	base().Attributes().PutInt(catalog.AttrMeasureMicro, 1) // then a string measure below
	lr = base()
	lr.Attributes().PutStr(catalog.AttrMeasureMicro, "1")
	lr.Attributes().PutStr(catalog.AttrFlag, "true")
	base().Attributes().PutEmptyBytes(catalog.AttrContentHash).FromRaw([]byte{1}) // replaces: not 16 bytes
	base().Attributes().PutStr(catalog.AttrContentHash, "x")
	base().Attributes().Remove(catalog.AttrContentHash)
	base().Attributes().Remove(catalog.WireEventID)
	lr = base()
	lr.Attributes().Remove(catalog.WireEventID)
	lr.Attributes().PutInt(catalog.WireEventID, 1)
	lr = base()
	lr.SetEventName("")
	lr = base()
	lr.SetTimestamp(0)
	base().Attributes().PutStr(catalog.AttrStatus, catalog.StatusRejected)
	base().Attributes().PutStr(catalog.AttrStatus, "other")
	base().Attributes().PutInt(catalog.AttrStatus, 1)
	// Repeated keys (pdata keeps them as sent on the wire).
	lr = base()
	lr.Attributes().PutStr("k", "v")
	raw := lr.Attributes()
	for _, k := range []string{catalog.WireEventID, "session_id", "k", catalog.AttrMeasureMicro, catalog.AttrContentHash, catalog.AttrStatus, catalog.WireEventName, catalog.AttrRejectKey} {
		appendRawKV(raw, k)
	}
	n := 0
	for k := range raw.All() {
		if k == "k" {
			n++
		}
	}
	if n != 2 {
		panic("no repeated key")
	}
	lr = base()
	lr.Attributes().PutEmptyBytes(catalog.AttrRejectKey).FromRaw(bytes.Repeat([]byte{9}, rejectKeySize))
	lr.Attributes().PutInt(catalog.AttrMeasureMicro, 5)
	for _, k := range []string{"session_id", "agent_id", "k", catalog.AttrMeasureMicro, catalog.AttrContentHash, catalog.AttrStatus, catalog.AttrRejectKey, catalog.AttrEventTime} {
		appendRawKV(lr.Attributes(), k)
	}
	rl2 := ld.ResourceLogs().AppendEmpty() // no service.name
	sl2 := rl2.ScopeLogs().AppendEmpty()
	lr = sl2.LogRecords().AppendEmpty()
	base().CopyTo(lr)
	lr = sl2.LogRecords().AppendEmpty()
	base().CopyTo(lr)
	lr.Attributes().PutStr(catalog.AttrProduct, "p")
	return ld
}

// appendRawKV appends one more attribute k to m, even if m has k already
// (as an OTLP request may: pdata keeps the attributes as sent). pdata's API
// never repeats a key; its OTLP/JSON decoder does.
func appendRawKV(m pcommon.Map, k string) {
	tmp := plog.NewLogs()
	lr := tmp.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	m.CopyTo(lr.Attributes())
	js, err := (&plog.JSONMarshaler{}).MarshalLogs(tmp)
	if err != nil {
		panic(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(js, &doc); err != nil {
		panic(err)
	}
	rec := doc["resourceLogs"].([]any)[0].(map[string]any)["scopeLogs"].([]any)[0].(map[string]any)["logRecords"].([]any)[0].(map[string]any)
	rec["attributes"] = append(rec["attributes"].([]any), map[string]any{"key": k, "value": map[string]any{"stringValue": "dup-" + k}})
	js, err = json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	back, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(js)
	if err != nil {
		panic(err)
	}
	back.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes().CopyTo(m)
}

func TestConvertSameAsBefore(t *testing.T) {
	loc, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)
	g := &loadgen.Generator{PerRequest: 300, Month: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Probes: true}
	gen := g.Logs(3)
	norm := normalize.New(nil, normalize.Limits{})
	for _, rl := range gen.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				norm.Record(rl.Resource(), sl.Scope(), lr, time.Now())
			}
		}
	}
	for name, ld := range map[string]plog.Logs{"loadgen": gen, "odd": equivLogs()} {
		t.Run(name, func(t *testing.T) {
			want, got := refConvert(loc, ld), Convert(loc, ld)
			require.Len(t, got.events, len(want.events))
			require.Len(t, got.rejected, len(want.rejected))
			wb, err := want.AppendBinary(nil)
			require.NoError(t, err)
			gb, err := got.AppendBinary(nil)
			require.NoError(t, err)
			require.Equal(t, wb, gb)
			if name == "odd" {
				exact := 0
				for i := range got.events {
					if got.events[i].rest.exact != nil {
						exact++
					}
				}
				require.Greater(t, exact, 6)
				require.Greater(t, len(got.rejected), 5)
				require.Greater(t, len(got.events)-exact, 8)
			}
			for i := range want.events {
				w, g := &want.events[i], &got.events[i]
				require.Equal(t, w.tuple, g.tuple, i)
				require.Equal(t, [4]string{w.eventID, w.name, w.product, w.agentID}, [4]string{g.eventID, g.name, g.product, g.agentID}, i)
				require.Equal(t, w.rest.exact, g.rest.exact, i)
				require.Equal(t, w.rest.kinds, g.rest.kinds, i)
				require.Equal(t, w.rest.grp == nil, g.rest.grp == nil, i)
				if w.rest.grp != nil {
					require.Equal(t, w.rest.grp.proto, g.rest.grp.proto, i)
				}
				wr, gr := w.rest, g.rest
				wr.grp, gr.grp = nil, nil
				require.Equal(t, wr, gr, i)
				w.rest, g.rest = recordRest{}, recordRest{}
				require.Equal(t, *w, *g, i)
			}
			require.Equal(t, want.rejected, got.rejected)
		})
	}
}
