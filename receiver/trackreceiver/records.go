package trackreceiver

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// scopeName is the instrumentation scope of the records the receiver makes.
const scopeName = "github.com/otelcol-analytics/otelcol-analytics/receiver/trackreceiver"

// attrService is the resource attribute that names the records' product.
const attrService = "service.name"

// toLogs turns the calls, then the refused calls, into log records, one
// ResourceLogs per product (in order of first appearance), the product of
// each given by productOf. The calls' attribute maps are moved into the
// records.
func toLogs(calls []call, refused []refusedCall, productOf func(ctxProduct string) string, receivedAt time.Time) plog.Logs {
	ld := plog.NewLogs()
	observed := pcommon.NewTimestampFromTime(receivedAt)
	groups := make(map[string]plog.LogRecordSlice, 2)
	recordsOf := func(product string) plog.LogRecordSlice {
		recs, ok := groups[product]
		if !ok {
			rl := ld.ResourceLogs().AppendEmpty()
			if product != "" {
				rl.Resource().Attributes().PutStr(attrService, product)
			}
			sl := rl.ScopeLogs().AppendEmpty()
			sl.Scope().SetName(scopeName)
			recs = sl.LogRecords()
			groups[product] = recs
		}
		return recs
	}
	for i := range calls {
		c := &calls[i]
		lr := recordsOf(productOf(c.ctxProduct)).AppendEmpty()
		lr.SetEventName(c.name)
		lr.SetTimestamp(c.ts)
		lr.SetObservedTimestamp(observed)
		c.attrs.MoveTo(lr.Attributes())
	}
	for i := range refused {
		rc := &refused[i]
		rc.fill(recordsOf(productOf(rc.ctxProduct)).AppendEmpty())
	}
	return ld
}
