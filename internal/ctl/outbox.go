package ctl

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
)

const (
	outboxSQL     = `SELECT batch_id::text, created_at, deltas, quarantined_at FROM analytics_redis_outbox ORDER BY created_at, batch_id`
	outboxLockSQL = outboxSQL + ` FOR UPDATE`
)

// outboxBatch is a row of analytics_redis_outbox: the counter deltas of a
// committed batch, with what its claim in Redis says (see the package doc
// of internal/store, "The outbox"):
//
//   - counters.Unclaimed: not applied to Redis yet (pending);
//   - counters.Applied: applied, its row not deleted yet (the collector
//     deletes it at its next outbox pass): not pending;
//   - counters.Held: held by an analyticsctl rebuild that did not finish:
//     not applied, and no collector applies it; a rebuild rerun settles it.
type outboxBatch struct {
	ID      string
	Created time.Time
	Rows    []counters.Row
	State   counters.ClaimState
	Err     error // the deltas cannot be decoded (Rows is nil)
	// Quarantined is when a collector found the deltas undecodable and
	// quarantined the row (nil: not quarantined).
	Quarantined *time.Time
	days        []string // sorted
	months      []string // sorted
}

// unapplied reports whether the batch's counts are in the rollups but not
// in Redis.
func (b *outboxBatch) unapplied() bool { return b.Err == nil && b.State != counters.Applied }

// touches reports whether the batch changes a key of one of the months.
func (b *outboxBatch) touches(months map[string]bool) bool {
	for _, m := range b.months {
		if months[m] {
			return true
		}
	}
	return false
}

func (b *outboxBatch) span() string {
	if len(b.days) == 0 {
		return "nothing"
	}
	if len(b.days) == 1 {
		return b.days[0]
	}
	return b.days[0] + ".." + b.days[len(b.days)-1]
}

// readOutbox returns every outbox row with its claim's state. With lock,
// the rows are locked FOR UPDATE before their claims are read: until the
// transaction ends no collector can take them (it skips locked rows), so
// the states stay as read.
func readOutbox(ctx context.Context, q querier, rdb redis.UniversalClient, l counters.Layout, lock bool) ([]*outboxBatch, error) {
	sql := outboxSQL
	if lock {
		sql = outboxLockSQL
	}
	rows, err := q.Query(ctx, sql)
	if err != nil {
		return nil, fmt.Errorf("read the Redis outbox: %w", err)
	}
	var all []*outboxBatch
	for rows.Next() {
		var b outboxBatch
		var deltas []byte
		if err := rows.Scan(&b.ID, &b.Created, &deltas, &b.Quarantined); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read the Redis outbox: %w", err)
		}
		b.Rows, b.Err = counters.DecodeRows(deltas)
		seenD, seenM := map[string]bool{}, map[string]bool{}
		for _, r := range b.Rows {
			if !seenD[r.Date] {
				seenD[r.Date] = true
				b.days = append(b.days, r.Date)
			}
			if m := counters.MonthOf(r.Date); !seenM[m] {
				seenM[m] = true
				b.months = append(b.months, m)
			}
		}
		slices.Sort(b.days)
		slices.Sort(b.months)
		all = append(all, &b)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the Redis outbox: %w", err)
	}
	ids := make([]string, len(all))
	for i, b := range all {
		ids[i] = b.ID
	}
	claims, err := l.ReadClaims(ctx, rdb, ids)
	if err != nil {
		return nil, fmt.Errorf("check outbox claims in Redis: %w", err)
	}
	for i, b := range all {
		b.State = claims[i].State
	}
	return all, nil
}

// undecodable returns a message per outbox row whose deltas cannot be
// decoded.
func undecodable(all []*outboxBatch) []string {
	var out []string
	for _, b := range all {
		if b.Err == nil {
			continue
		}
		msg := fmt.Sprintf("outbox batch %s of %s cannot be decoded (%v): its counts are in the rollups but cannot be applied to Redis",
			b.ID, b.Created.UTC().Format("2006-01-02T15:04:05Z"), b.Err)
		if b.Quarantined != nil {
			msg += fmt.Sprintf("; a collector quarantined it at %s (its quarantined_reason says how to repair it)",
				b.Quarantined.UTC().Format("2006-01-02T15:04:05Z"))
		}
		out = append(out, msg)
	}
	return out
}
