package trackreceiver

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/plog"
)

// FuzzDecode feeds arbitrary bodies to the request decoder (/v1/track when
// batch is false, /v1/batch when true) and checks that it never panics and
// that what it returns is consistent. The seed corpus is in
// testdata/fuzz/FuzzDecode; CI runs
//
//	go test -run '^$' -fuzz FuzzDecode -fuzztime 20s ./receiver/trackreceiver/
func FuzzDecode(f *testing.F) {
	lim := limits{maxBatchEvents: 20, maxEventBytes: 2048}
	f.Fuzz(func(t *testing.T, body []byte, batch bool) {
		decode := decodeTrack
		if batch {
			decode = decodeBatch
		}
		p, aerr := decode(body, testReceivedAt, lim)

		if aerr != nil {
			switch aerr.status {
			case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			default:
				t.Fatalf("status %d for a decode error", aerr.status)
			}
			if aerr.reason == "" || !utf8.ValidString(aerr.message) {
				t.Fatalf("bad error %#v", aerr)
			}
			if !json.Valid(body) && aerr.reason != reasonMalformedJSON && aerr.reason != reasonEventTooLarge {
				t.Fatalf("invalid JSON refused as %q", aerr.reason)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("invalid JSON accepted: %q", body)
		}
		if !batch && len(p.calls) != 1 {
			t.Fatalf("a track call decoded to %d calls", len(p.calls))
		}
		if n := len(p.calls) + len(p.rejected) + p.ignoredTotal(); n > lim.maxBatchEvents {
			t.Fatalf("%d calls out of a batch of at most %d", n, lim.maxBatchEvents)
		}
		for _, rc := range p.rejected {
			if rc.Reason == "" || !utf8.ValidString(rc.Message) {
				t.Fatalf("bad rejection %#v", rc)
			}
		}
		// Two decodes of one body give the same records.
		p2, aerr2 := decode(body, testReceivedAt, lim)
		if aerr2 != nil {
			t.Fatalf("second decode failed: %v", aerr2)
		}
		product := func(c string) string { return c }
		ld := toLogs(p.calls, product, testReceivedAt)
		ld2 := toLogs(p2.calls, product, testReceivedAt)
		if ld.LogRecordCount() != len(p.calls) {
			t.Fatalf("%d records from %d calls", ld.LogRecordCount(), len(p.calls))
		}
		var m plog.ProtoMarshaler
		b1, err := m.MarshalLogs(ld)
		if err != nil {
			t.Fatal(err)
		}
		b2, err := m.MarshalLogs(ld2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b1, b2) {
			t.Fatal("decoding is not deterministic")
		}
		// Every record is a named event with valid UTF-8 text, and it
		// survives an OTLP round trip.
		back, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(b1)
		if err != nil {
			t.Fatal(err)
		}
		if back.LogRecordCount() != len(p.calls) {
			t.Fatal("records lost in an OTLP round trip")
		}
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			lrs := ld.ResourceLogs().At(i).ScopeLogs().At(0).LogRecords()
			for j := 0; j < lrs.Len(); j++ {
				lr := lrs.At(j)
				if lr.EventName() == "" || !utf8.ValidString(lr.EventName()) {
					t.Fatalf("bad event name %q", lr.EventName())
				}
				if ts := lr.Timestamp(); ts != 0 && int64(ts) <= 0 {
					t.Fatalf("bad timestamp %d", ts)
				}
				for k, v := range lr.Attributes().All() {
					if !utf8.ValidString(k) || !utf8.ValidString(v.AsString()) {
						t.Fatalf("attribute %q is not valid UTF-8", k)
					}
				}
			}
		}
	})
}
