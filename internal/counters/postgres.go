package counters

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Querier is a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// rollupsSQL reads the all-agents and per-agent rollups of the business days
// in [$1, $2).
const rollupsSQL = `
SELECT to_char(business_date, 'YYYY-MM-DD'), '' AS agent_id, event_name,
       events, measure_count, measure_sum_micro, flag_true
FROM analytics_daily_rollup
WHERE business_date >= $1 AND business_date < $2
UNION ALL
SELECT to_char(business_date, 'YYYY-MM-DD'), agent_id, event_name,
       events, measure_count, measure_sum_micro, flag_true
FROM analytics_agent_daily_rollup
WHERE business_date >= $1 AND business_date < $2`

// ReadRollups returns the PostgreSQL rollup rows (analytics_daily_rollup
// with AgentID "", analytics_agent_daily_rollup) of the business days in
// [lo, hi), sorted.
func ReadRollups(ctx context.Context, q Querier, lo, hi time.Time) ([]Row, error) {
	rows, err := q.Query(ctx, rollupsSQL, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("read rollups: %w", err)
	}
	out, err := ScanRows(rows)
	if err != nil {
		return nil, fmt.Errorf("read rollups: %w", err)
	}
	return out, nil
}

// ScanRows reads rows of (date, agent id, event, events, measure count,
// measure sum, flag true) and returns them sorted. It closes rows.
func ScanRows(rows pgx.Rows) ([]Row, error) {
	defer rows.Close()
	var out []Row
	for rows.Next() {
		var r Row
		if err := rows.Scan(&r.Date, &r.AgentID, &r.Event, &r.Events, &r.MeasureCount, &r.MeasureSumMicro, &r.FlagTrue); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	SortRows(out)
	return out, nil
}
