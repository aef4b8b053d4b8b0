package normalize_test

import (
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
	"github.com/otelcol-analytics/otelcol-analytics/internal/loadgen"
	"github.com/otelcol-analytics/otelcol-analytics/internal/normalize"
)

var benchNow = time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)

// benchWire runs Record over every record of ld, one record per op, each
// record fresh from the protobuf of ld (as the OTLP receiver hands them over:
// attribute slices with the capacity unmarshalling left them). The
// unmarshalling, once per len(ld) records, is outside the timer.
func benchWire(b *testing.B, ld plog.Logs, now time.Time) {
	b.Helper()
	var pm plog.ProtoMarshaler
	var pu plog.ProtoUnmarshaler
	raw, err := pm.MarshalLogs(ld)
	if err != nil {
		b.Fatal(err)
	}
	type item struct {
		res   pcommon.Resource
		scope pcommon.InstrumentationScope
		lr    plog.LogRecord
	}
	var items []item
	refill := func() {
		fresh, err := pu.UnmarshalLogs(raw)
		if err != nil {
			b.Fatal(err)
		}
		items = items[:0]
		for _, rl := range fresh.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					items = append(items, item{rl.Resource(), sl.Scope(), lr})
				}
			}
		}
	}
	n := normalize.New(catalog.Default(), normalize.DefaultLimits())
	refill()
	next := 0
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if next == len(items) {
			b.StopTimer()
			refill()
			next = 0
			b.StartTimer()
		}
		it := items[next]
		next++
		if r := n.Record(it.res, it.scope, it.lr, now); r.Outcome != normalize.Accepted {
			b.Fatal(r.Outcome, r.Reason)
		}
	}
}

// sessionMessages is count copies of one accepted session.message from
// ai_chatbot, with or without its event.id.
func sessionMessages(count int, withID bool) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "ai_chatbot")
	recs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for range count {
		lr := recs.AppendEmpty()
		lr.SetEventName("session.message")
		lr.SetTimestamp(pcommon.NewTimestampFromTime(benchNow.Add(-time.Minute)))
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(benchNow))
		a := lr.Attributes()
		if withID {
			a.PutStr(catalog.WireEventID, "0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b")
		}
		a.PutStr("session_id", "sess-5b0c2c1e-8d7a-4b7e-9f6e-0c1d2e3f4a5b")
		a.PutInt("response_time_ms", 1320)
		a.PutStr("customer_id", "cust-42")
		a.PutStr("channel", "web")
		a.PutStr("model", "gpt-x")
	}
	return ld
}

// BenchmarkRecordWithID: an accepted session.message carrying its event.id.
func BenchmarkRecordWithID(b *testing.B) {
	benchWire(b, sessionMessages(1000, true), benchNow)
}

// BenchmarkRecordDerivedID: the same record without event.id (derived id).
func BenchmarkRecordDerivedID(b *testing.B) {
	benchWire(b, sessionMessages(1000, false), benchNow)
}

// BenchmarkRecordLoadgenMix: the records of a load generator request (the
// event mix of the load tests, each with its event.id), per record.
func BenchmarkRecordLoadgenMix(b *testing.B) {
	g := &loadgen.Generator{PerRequest: 1000, Month: benchNow}
	benchWire(b, g.Logs(0), benchNow.AddDate(0, 1, 0))
}

// BenchmarkDeriveEventID: the id of six attributes (the canonical encoding
// and its sha256).
func BenchmarkDeriveEventID(b *testing.B) {
	m := pcommon.NewMap()
	m.PutStr("session_id", "sess-5b0c2c1e-8d7a-4b7e-9f6e-0c1d2e3f4a5b")
	m.PutInt("response_time_ms", 1320)
	m.PutStr("customer_id", "cust-42")
	m.PutStr("channel", "web")
	m.PutStr("model", "gpt-x")
	m.PutStr("agent_id", "agent-7")
	b.ReportAllocs()
	for b.Loop() {
		normalize.DeriveEventID("ai_chatbot", "session.message", 12345, m)
	}
}
