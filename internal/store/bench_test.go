package store

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-analytics/otelcol-analytics/internal/loadgen"
	"github.com/otelcol-analytics/otelcol-analytics/internal/normalize"
)

// benchRequest is request k of 1000 records of the load generator's mix,
// normalised as the eventcatalog processor does (default catalog).
func benchRequest(b testing.TB, k int) plog.Logs {
	b.Helper()
	g := &loadgen.Generator{PerRequest: 1000, Month: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	ld := g.Logs(k)
	norm := normalize.New(nil, normalize.Limits{})
	now := time.Now()
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				if out := norm.Record(rl.Resource(), sl.Scope(), lr, now).Outcome; out != normalize.Accepted {
					b.Fatalf("record not accepted: %v", out)
				}
			}
		}
	}
	return ld
}

func benchLocation(b testing.TB) *time.Location {
	b.Helper()
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		b.Fatal(err)
	}
	return loc
}

// benchMerged is a merged batch of 5000 rows: five converted requests, as
// the sending queue merges them.
func benchMerged(b testing.TB, loc *time.Location) *Batch {
	b.Helper()
	q := Convert(loc, benchRequest(b, 0))
	for k := 1; k < 5; k++ {
		q = q.Merge(Convert(loc, benchRequest(b, k)))
	}
	return q
}

// BenchmarkConvert is the exporter's work before its sending queue: a
// 1000-record request becomes a Batch.
func BenchmarkConvert(b *testing.B) {
	ld := benchRequest(b, 0)
	loc := benchLocation(b)
	n := ld.LogRecordCount()
	b.ReportAllocs()
	for b.Loop() {
		if q := Convert(loc, ld); len(q.events) != n {
			b.Fatal("rows lost")
		}
	}
}

// BenchmarkWriteBatchGo is the Go side of WriteBatch on a merged batch of
// 5000 rows (five requests, as the queue merges them), without a database:
// prepare, the ids in key order (newEvents without probe), resolve,
// aggregate, the two COPY streams and finishBatchSQL's arguments.
func BenchmarkWriteBatchGo(b *testing.B) {
	loc := benchLocation(b)
	q := benchMerged(b, loc)
	s := New(nil, nil, Config{Location: loc})
	ctx := context.Background()
	buf := make([]byte, 64<<10)
	b.ReportAllocs()
	for b.Loop() {
		p := s.prepare(q)
		fresh, known, err := newEvents(ctx, nil, p.events, p.order, false)
		if err != nil {
			b.Fatal(err)
		}
		dups, conflicts := resolve(p.events, known)
		_ = dups
		deltas := aggregate(p.events, fresh)
		if _, err := io.CopyBuffer(io.Discard, newLedgerReader(p.events, fresh), buf); err != nil {
			b.Fatal(err)
		}
		if _, err := io.CopyBuffer(io.Discard, newEventsReader(p.events, fresh), buf); err != nil {
			b.Fatal(err)
		}
		args, err := finishBatchArgs("00000000-0000-0000-0000-000000000000", deltas, append(p.rejected, conflicts...))
		if err != nil || len(args) == 0 || len(fresh) != 5000 {
			b.Fatal(err, len(fresh))
		}
	}
}

// finishBatchOIDs are the types of finishBatchSQL's parameters.
var finishBatchOIDs = []uint32{
	pgtype.UUIDOID, pgtype.JSONBOID, pgtype.TextArrayOID, pgtype.TextArrayOID, pgtype.TextArrayOID,
	pgtype.Int8ArrayOID, pgtype.Int8ArrayOID, pgtype.NumericArrayOID, pgtype.Int8ArrayOID,
	pgtype.TextArrayOID, pgtype.TextArrayOID, pgtype.TextArrayOID, pgtype.TextArrayOID, pgtype.TextArrayOID, pgtype.TextArrayOID,
	pgtype.TimestamptzArrayOID, pgtype.ByteaArrayOID, pgtype.Int8ArrayOID, pgtype.ByteaArrayOID, pgtype.BoolArrayOID, pgtype.ByteaArrayOID,
}

// encodeArgs encodes finishBatchSQL's arguments as pgx sends them (a string
// in text format, anything else in its type's preferred format).
func encodeArgs(m *pgtype.Map, args []any, buf []byte) ([]byte, error) {
	buf = buf[:0]
	for i, a := range args {
		format := m.FormatCodeForOID(finishBatchOIDs[i])
		if _, ok := a.(string); ok {
			format = pgtype.TextFormatCode
		}
		var err error
		if buf, err = m.Encode(finishBatchOIDs[i], format, a, buf); err != nil {
			return nil, err
		}
	}
	return buf, nil
}

// BenchmarkFinishBatchArgs is finishBatchSQL's arguments for the deltas
// and rejected rows of a 5000-row merged batch, made and encoded as pgx
// sends them (the Go side of the statement's Exec).
func BenchmarkFinishBatchArgs(b *testing.B) {
	loc := benchLocation(b)
	q := benchMerged(b, loc)
	fresh := sortedOrder(q.events)
	deltas := aggregate(q.events, fresh)
	m := pgtype.NewMap()
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		args, err := finishBatchArgs("00000000-0000-0000-0000-000000000000", deltas, q.rejected)
		if err != nil {
			b.Fatal(err)
		}
		if buf, err = encodeArgs(m, args, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProbeArgs is probeSQL's two text[] arguments for a 5000-row
// batch, made and encoded as pgx sends them: "strings" as []string (before
// textArray), "literal" as newEvents makes them.
func BenchmarkProbeArgs(b *testing.B) {
	loc := benchLocation(b)
	q := benchMerged(b, loc)
	events := q.events
	m := pgtype.NewMap()
	encode := func(b *testing.B, buf []byte, args ...any) []byte {
		buf = buf[:0]
		for _, a := range args {
			format := m.FormatCodeForOID(pgtype.TextArrayOID)
			if _, ok := a.(string); ok {
				format = pgtype.TextFormatCode
			}
			var err error
			if buf, err = m.Encode(pgtype.TextArrayOID, format, a, buf); err != nil {
				b.Fatal(err)
			}
		}
		return buf
	}
	var buf []byte
	b.Run("strings", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			products := make([]string, len(events))
			ids := make([]string, len(events))
			for i := range events {
				products[i], ids[i] = events[i].product, events[i].eventID
			}
			buf = encode(b, buf, products, ids)
		}
	})
	b.Run("literal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = encode(b, buf,
				textArray(len(events), func(i int) string { return events[i].product }),
				textArray(len(events), func(i int) string { return events[i].eventID }))
		}
	})
}
