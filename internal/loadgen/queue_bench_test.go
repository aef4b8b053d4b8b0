package loadgen

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-analytics/otelcol-analytics/internal/normalize"
)

// BenchmarkQueueRoundTrip is what the persistent queue does to every
// request between the eventcatalog processor and the exporter: encode the
// normalised request (protobuf, as exporterhelper's queue stores it) and
// decode it back. A request is 1000 records of the load generator's mix,
// normalised by the processor's rules; bytes/record is its encoded size.
func BenchmarkQueueRoundTrip(b *testing.B) {
	g := &Generator{PerRequest: 1000, Month: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	ld := g.Logs(0)
	sent := (&plog.ProtoMarshaler{}).LogsSize(ld)
	norm := normalize.New(nil, normalize.Limits{})
	now := time.Now()
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				require.Equal(b, normalize.Accepted, norm.Record(rl.Resource(), sl.Scope(), lr, now).Outcome)
			}
		}
	}
	m, u := &plog.ProtoMarshaler{}, &plog.ProtoUnmarshaler{}
	n := ld.LogRecordCount()
	var size int
	b.ReportAllocs()
	for b.Loop() {
		buf, err := m.MarshalLogs(ld)
		if err != nil {
			b.Fatal(err)
		}
		size = len(buf)
		if _, err := u.UnmarshalLogs(buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(size)/float64(n), "bytes/record")
	b.ReportMetric(float64(sent)/float64(n), "sent-bytes/record")
}
