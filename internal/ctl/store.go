package ctl

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

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
// The measure is converted to integer millionths exactly as catalog.Micro
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
