package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
	"github.com/otelcol-analytics/otelcol-analytics/internal/normalize"
)

const costCatalog = `
events:
  - name: chat.cost
    product: ai_chatbot
    attributes:
      - {name: amount, type: double, required: true}
    measure: amount
`

// TestSumsBeyond64Bits: a custom catalog's measure is bounded only by
// catalog.MaxMeasure (10^12, 10^18 millionths). Ten such events in a day
// sum past 64 bits: PostgreSQL keeps the exact sum (numeric, counters.Sum),
// every event is stored and counted, later events of the day too; Redis,
// whose counters are 64-bit, refuses that batch whole and visibly (the
// outbox row stays, StuckOutbox says why) and goes on with the next ones.
func TestSumsBeyond64Bits(t *testing.T) {
	e := newEnv(t)
	cat, err := catalog.Parse([]byte(costCatalog))
	require.NoError(t, err)
	cat = catalog.Default().Extend(cat)
	st := New(e.pool, e.rdb, Config{Layout: e.layout})
	n := normalize.New(cat, normalize.Limits{})
	ctx := context.Background()
	write := func(prefix string, k int, amount float64) Result {
		t.Helper()
		var recs []rec
		for i := 0; i < k; i++ {
			recs = append(recs, rec{
				name: "chat.cost", product: "ai_chatbot", id: fmt.Sprintf("%s-%d", prefix, i),
				at: ts("2025-12-01T02:00:00Z").Add(time.Duration(i) * time.Second), attrs: map[string]any{"amount": amount},
			})
		}
		ld := wire(t, recs...)
		for _, rl := range ld.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					require.Equal(t, normalize.Accepted, n.Record(rl.Resource(), sl.Scope(), lr, time.Now()).Outcome)
				}
			}
		}
		res, err := st.Write(ctx, ld)
		require.NoError(t, err)
		return res
	}

	// Nine at the limit: 9e18 millionths, within 64 bits.
	res := write("a", 9, 1e12)
	assert.Equal(t, 9, res.Inserted)
	// Two more: 1.1e19, past 64 bits in PostgreSQL; Redis refuses the batch.
	res = write("b", 2, 1e12)
	assert.Equal(t, 2, res.Inserted)
	assert.Equal(t, 0, res.Rejected, "nothing refused by PostgreSQL")
	// A small later event of the same day is still stored and counted.
	res = write("c", 1, 0.5)
	assert.Equal(t, 1, res.Inserted)

	rows := e.rollups(t)
	require.Len(t, rows, 1)
	assert.Equal(t, int64(12), rows[0].Events)
	assert.Equal(t, "11000000000000500000", rows[0].MeasureSumMicro.String())

	// Redis: the first batch applied, the second refused whole (nothing of
	// it written), the third refused too: it would also leave 64 bits.
	_, err = st.ApplyPendingOutbox(ctx)
	require.NoError(t, err)
	redis := e.redisDays(t, "2025-12-01")
	require.Len(t, redis, 1)
	assert.Equal(t, int64(9), redis[0].Events)
	assert.Equal(t, "9000000000000000000", redis[0].MeasureSumMicro.String())
	pending, err := st.PendingOutbox(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(2), pending, "the refused batches stay in the outbox")
	assert.Equal(t, 2, st.StuckOutbox().Refused)

	// The per-event bound: a measure over MaxMeasure is rejected at ingest.
	rl := wire(t, rec{
		name: "chat.cost", product: "ai_chatbot", id: "big", at: ts("2025-12-01T03:00:00Z"),
		attrs: map[string]any{"amount": 2e12},
	}).ResourceLogs().At(0)
	r := n.Record(rl.Resource(), rl.ScopeLogs().At(0).Scope(), rl.ScopeLogs().At(0).LogRecords().At(0), time.Now())
	assert.Equal(t, catalog.ReasonInvalidValue, r.Reason)
}
