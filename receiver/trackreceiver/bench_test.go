package trackreceiver

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkDecodeBatch500 decodes a realistic batch of 500 track calls and
// builds its records.
func BenchmarkDecodeBatch500(b *testing.B) {
	body := batchBody(500)
	lim := limits{maxBatchEvents: 500, maxEventBytes: 32 * 1024}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		p, derr := decodeBatch(body, testReceivedAt, lim)
		if derr != nil || len(p.calls) != 500 {
			b.Fatal(derr)
		}
		_ = toLogs(p.calls, nil, func(c string) string { return c }, testReceivedAt)
	}
}

// BenchmarkDecodeWideEvent decodes the worst shape of a call: 32 KB of
// one-character properties (pcommon.Map insertion is linear in the map's
// size, so this is the quadratic case).
func BenchmarkDecodeWideEvent(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"event":"e","properties":{`)
	for i := 0; sb.Len() < 32*1024-16; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `"%x":0`, i)
	}
	sb.WriteString(`}}`)
	body := []byte(sb.String())
	lim := limits{maxBatchEvents: 500, maxEventBytes: 32 * 1024}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, derr := decodeTrack(body, testReceivedAt, lim); derr != nil {
			b.Fatal(derr)
		}
	}
}
