package trackreceiver

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
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
		p, derr := decode(body, testReceivedAt, lim)

		if derr != nil {
			aerr := refusal(derr)
			switch aerr.status {
			case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			default:
				t.Fatalf("status %d for a decode error", aerr.status)
			}
			if derr.reason == "" || aerr.reason != derr.reason || !utf8.ValidString(derr.message) || aerr.message != derr.message {
				t.Fatalf("bad error %#v", derr)
			}
			if !json.Valid(body) && derr.reason != reasonMalformedJSON && derr.reason != reasonEventTooLarge {
				t.Fatalf("invalid JSON refused as %q", derr.reason)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("invalid JSON accepted: %q", body)
		}
		if !batch && len(p.calls) != 1 {
			t.Fatalf("a track call decoded to %d calls", len(p.calls))
		}
		if !batch && !utf8.Valid(body) {
			t.Fatalf("a track call that is not UTF-8 accepted: %q", body)
		}
		if n := len(p.calls) + len(p.refused) + p.ignoredTotal(); n > lim.maxBatchEvents {
			t.Fatalf("%d calls out of a batch of at most %d", n, lim.maxBatchEvents)
		}
		for _, rc := range p.rejected() {
			if rc.Reason == "" || !utf8.ValidString(rc.Message) {
				t.Fatalf("bad rejection %#v", rc)
			}
		}
		// Two decodes of one body give the same records.
		p2, derr2 := decode(body, testReceivedAt, lim)
		if derr2 != nil {
			t.Fatalf("second decode failed: %v", derr2)
		}
		product := func(c string) string { return c }
		ld := toLogs(p.calls, p.refused, product, testReceivedAt)
		ld2 := toLogs(p2.calls, p2.refused, product, testReceivedAt)
		nrec := len(p.calls) + len(p.refused)
		if ld.LogRecordCount() != nrec {
			t.Fatalf("%d records from %d calls and %d refused ones", ld.LogRecordCount(), len(p.calls), len(p.refused))
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
		// Every record is a named event or a marked refused call, with
		// valid UTF-8 text, and it survives an OTLP round trip. Text is
		// never rewritten: U+FFFD appears only if the body sent one.
		back, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(b1)
		if err != nil {
			t.Fatal(err)
		}
		if back.LogRecordCount() != nrec {
			t.Fatal("records lost in an OTLP round trip")
		}
		sentFFFD := bytes.Contains(body, []byte("\uFFFD")) || bytes.Contains(bytes.ToLower(body), []byte(`\ufffd`))
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			if svc, ok := ld.ResourceLogs().At(i).Resource().Attributes().Get(attrService); ok && !validValue(svc, sentFFFD) {
				t.Fatalf("bad service.name %q", svc.Str())
			}
			lrs := ld.ResourceLogs().At(i).ScopeLogs().At(0).LogRecords()
			for j := 0; j < lrs.Len(); j++ {
				lr := lrs.At(j)
				reason, refused := lr.Attributes().Get(catalog.WireRejectReason)
				if !refused && lr.EventName() == "" {
					t.Fatal("a record without event name nor reject reason")
				}
				if refused && (reason.Str() == "" || lr.Timestamp() != 0 || lr.ObservedTimestamp() != 0) {
					t.Fatalf("bad refused record %v", lr.Attributes().AsRaw())
				}
				if refused && lr.Body().Type() == pcommon.ValueTypeStr && !utf8.ValidString(lr.Body().Str()) {
					t.Fatal("a string body is not valid UTF-8")
				}
				if !utf8.ValidString(lr.EventName()) || (!sentFFFD && strings.ContainsRune(lr.EventName(), utf8.RuneError)) {
					t.Fatalf("bad event name %q", lr.EventName())
				}
				if ts := lr.Timestamp(); ts != 0 && int64(ts) <= 0 {
					t.Fatalf("bad timestamp %d", ts)
				}
				for k, v := range lr.Attributes().All() {
					if !validText(k, sentFFFD) || !validValue(v, sentFFFD) {
						t.Fatalf("attribute %q is not valid UTF-8 or was rewritten: %q", k, v.AsString())
					}
				}
			}
		}
	})
}

// validText is s valid UTF-8 without U+FFFD (unless the body sent one).
func validText(s string, sentFFFD bool) bool {
	return utf8.ValidString(s) && (sentFFFD || !strings.ContainsRune(s, utf8.RuneError))
}

// validValue checks every string of v with validText.
func validValue(v pcommon.Value, sentFFFD bool) bool {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return validText(v.Str(), sentFFFD)
	case pcommon.ValueTypeMap:
		for k, e := range v.Map().All() {
			if !validText(k, sentFFFD) || !validValue(e, sentFFFD) {
				return false
			}
		}
	case pcommon.ValueTypeSlice:
		for _, e := range v.Slice().All() {
			if !validValue(e, sentFFFD) {
				return false
			}
		}
	}
	return true
}
