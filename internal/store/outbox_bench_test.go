package store

import (
	"context"
	"testing"

	"github.com/google/uuid"
)

// BenchmarkTakeOutbox is step 1 of the outbox protocol for a batch of 5000
// rows' deltas (real PostgreSQL): its row taken with its deltas sent back
// (an applier that reads them) or not (the batch's own writer, which has
// them). The transaction is rolled back: the row stays for the next round.
func BenchmarkTakeOutbox(b *testing.B) {
	e := newEnv(b)
	loc := benchLocation(b)
	q := benchMerged(b, loc)
	js, err := outboxJSON(aggregate(q.events, sortedOrder(q.events)))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	id := uuid.NewString()
	if _, err := e.pool.Exec(ctx, `INSERT INTO analytics_redis_outbox (batch_id, deltas) VALUES ($1, $2)`, id, string(js)); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct{ name, sql string }{{"deltas", takeOutboxSQL}, {"known", takeKnownOutboxSQL}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tx, err := e.pool.Begin(ctx)
				if err != nil {
					b.Fatal(err)
				}
				var raw []byte
				if err := tx.QueryRow(ctx, tc.sql, id).Scan(&raw); err != nil {
					b.Fatal(err)
				}
				if err := tx.Rollback(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
