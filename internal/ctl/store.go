package ctl

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/redis/go-redis/v9"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
)

// querier is a pool, a connection or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// rawSQL aggregates the raw events of the business days in [$1, $2) the way
// the exporter fills the rollups: per day and event, and per day, agent and
// event for events with an agent_id. The catalog's measure and flag of each
// event come in as arrays ($3 names, $4 measures, $5 flags; an empty string = none).
//
// The measure is converted to integer millionths exactly as counters.Micro
// does in Go: the JSON number is read as a float8 (correctly rounded, the
// same float64 the exporter had), multiplied by 1e6 in float8 (IEEE, as in
// Go) and rounded half away from zero (round() on float8 rounds half to
// even, so ties are handled explicitly; x - trunc(x) is exact).
const rawSQL = `
WITH cat AS (
    SELECT * FROM unnest($3::text[], $4::text[], $5::text[]) AS c(event_name, measure, flag)
), ev AS (
    SELECT e.business_date, e.event_name, e.agent_id,
           CASE WHEN jsonb_typeof(e.attributes -> cat.measure) = 'number'
                THEN (e.attributes ->> cat.measure)::float8 * 1e6 END AS m,
           coalesce((e.attributes -> cat.flag) = 'true'::jsonb, false) AS f
    FROM analytics_events e
    LEFT JOIN cat ON cat.event_name = e.event_name
    WHERE e.business_date >= $1 AND e.business_date < $2
), r AS (
    SELECT business_date, event_name, agent_id, f,
           CASE WHEN abs(m - trunc(m)) = 0.5 THEN trunc(m) + sign(m) ELSE round(m) END::bigint AS mm
    FROM ev
)
SELECT to_char(business_date, 'YYYY-MM-DD'), coalesce(agent_id, ''), event_name,
       count(*), count(mm), coalesce(sum(mm), 0)::bigint, count(*) FILTER (WHERE f)
FROM r
GROUP BY GROUPING SETS ((business_date, event_name), (business_date, agent_id, event_name))
HAVING GROUPING(agent_id) = 1 OR coalesce(agent_id, '') <> ''`

// readRollups returns the rollup rows of the business days in [lo, hi).
func readRollups(ctx context.Context, q querier, lo, hi time.Time) ([]counters.Row, error) {
	return counters.ReadRollups(ctx, q, lo, hi)
}

// readRaw aggregates the raw events of the business days in [lo, hi).
func readRaw(ctx context.Context, q querier, cat *catalog.Catalog, lo, hi time.Time) ([]counters.Row, error) {
	names := cat.Names()
	measures := make([]string, len(names))
	flags := make([]string, len(names))
	for i, n := range names {
		e, _ := cat.Lookup(n)
		measures[i], flags[i] = e.Measure, e.Flag
	}
	rows, err := q.Query(ctx, rawSQL, lo, hi, names, measures, flags)
	if err != nil {
		return nil, fmt.Errorf("aggregate raw events: %w", err)
	}
	out, err := counters.ScanRows(rows)
	if err != nil {
		return nil, fmt.Errorf("aggregate raw events: %w", err)
	}
	return out, nil
}

// partitionExists reports whether the raw-events partition of month m (as
// analytics_ensure_partition names it) is there; retention drops old ones
// while their rollups stay.
func partitionExists(ctx context.Context, q querier, m string) (bool, error) {
	lo, _, err := monthBounds(m)
	if err != nil {
		return false, err
	}
	var ok bool
	name := "analytics_events_" + lo.Format("2006_01")
	if err := q.QueryRow(ctx, `SELECT to_regclass(quote_ident($1)) IS NOT NULL`, name).Scan(&ok); err != nil {
		return false, fmt.Errorf("look up partition %s: %w", name, err)
	}
	return ok, nil
}

const (
	outboxSQL     = `SELECT batch_id::text, created_at, deltas FROM analytics_redis_outbox ORDER BY created_at, batch_id`
	outboxLockSQL = outboxSQL + ` FOR UPDATE`
)

// outboxBatch is a row of analytics_redis_outbox: the counter deltas of a
// committed batch that have not been applied to Redis yet.
type outboxBatch struct {
	ID      string
	Created time.Time
	Rows    []counters.Row
	days    []string // sorted
	months  []string // sorted
}

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

// pendingOutbox returns the outbox batches whose claim key is not in Redis:
// those not applied yet. A batch that is claimed has been applied (the
// exporter deletes its row right after) and is left out. The rows are
// locked with FOR UPDATE when lock is set (rebuild claims them).
func pendingOutbox(ctx context.Context, q querier, rdb redis.UniversalClient, l counters.Layout, lock bool) ([]*outboxBatch, error) {
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
		if err := rows.Scan(&b.ID, &b.Created, &deltas); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read the Redis outbox: %w", err)
		}
		if b.Rows, err = counters.DecodeRows(deltas); err != nil {
			rows.Close()
			return nil, fmt.Errorf("outbox batch %s: %w", b.ID, err)
		}
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
	if len(all) == 0 {
		return nil, nil
	}
	// One EXISTS per batch, pipelined (claim keys may live in different
	// cluster slots, so no multi-key EXISTS).
	cmds := make([]*redis.IntCmd, len(all))
	_, err = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, b := range all {
			cmds[i] = p.Exists(ctx, l.ClaimKey(b.ID))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("check outbox claims in Redis: %w", err)
	}
	var pending []*outboxBatch
	for i, b := range all {
		if cmds[i].Val() == 0 {
			pending = append(pending, b)
		}
	}
	return pending, nil
}
