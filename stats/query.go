package stats

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
)

// The queries, constants only: every value from a request is a bound
// parameter. They read the rollups (and the rejected-events table for the
// trust footer), never analytics_events.
const (
	// queryMonthTotals sums the daily rollup of [$1, $2) per event; the
	// primary key (business_date, event_name) makes it a range scan.
	queryMonthTotals = `
SELECT event_name,
       sum(events)::bigint, sum(measure_count)::bigint,
       sum(measure_sum_micro), sum(flag_true)::bigint,
       max(updated_at)
FROM analytics_daily_rollup
WHERE business_date >= $1 AND business_date < $2
GROUP BY event_name`

	// queryRejected counts the rejected records of a month that are still
	// not counted (not replayed): by event time when the record had a
	// usable one, else by the time it was received. $1, $2 are instants.
	queryRejected = `
SELECT count(*)
FROM analytics_rejected_events
WHERE replayed_at IS NULL
  AND ((event_time >= $1 AND event_time < $2)
       OR (event_time IS NULL AND received_at >= $1 AND received_at < $2))`

	// queryAgentTotals sums the per-agent rollup of [$1, $2) per agent and
	// event.
	queryAgentTotals = `
SELECT agent_id, event_name,
       sum(events)::bigint, sum(measure_count)::bigint,
       sum(measure_sum_micro), sum(flag_true)::bigint
FROM analytics_agent_daily_rollup
WHERE business_date >= $1 AND business_date < $2
GROUP BY agent_id, event_name
ORDER BY agent_id, event_name`

	// queryDaily returns the daily rollup rows of [$1, $2].
	queryDaily = `
SELECT business_date, event_name, events, measure_count, measure_sum_micro, flag_true
FROM analytics_daily_rollup
WHERE business_date >= $1 AND business_date <= $2
ORDER BY business_date, event_name`

	// queryReplica says whether the connection reads a hot standby and how
	// far its replay has come: the commit time of the last transaction it
	// replayed, and whether it holds WAL it has received and not replayed
	// (replay lagging or paused). A standby cut off from its primary
	// receives nothing and cannot know it is behind: readers still see how
	// far it has replayed.
	queryReplica = `
SELECT pg_is_in_recovery(),
       pg_last_xact_replay_timestamp(),
       pg_is_in_recovery() AND coalesce(pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn(), false)`

	queryPing = `SELECT 1`
)

// Totals are counter values by event name.
type Totals map[string]counters.Values

// MonthData is what the month endpoints are computed from.
type MonthData struct {
	Totals Totals
	// LastWritten is max(updated_at) of the month's rollup rows; zero when
	// the month has none.
	LastWritten time.Time
	// Rejected is the number of rejected, not replayed, records of the month.
	Rejected int64
	// Replica says whether the numbers come from a hot standby, and how
	// far it has replayed; zero on a primary.
	Replica Replica
}

// Replica is what a hot standby says of its replay.
type Replica struct {
	// Standby: the connection reads a hot standby (pg_is_in_recovery).
	Standby bool
	// ReplayedAt is the commit time of the last transaction the standby
	// replayed (pg_last_xact_replay_timestamp); zero if it has replayed
	// none since it started.
	ReplayedAt time.Time
	// Behind: it has received WAL it has not replayed yet.
	Behind bool
}

// AgentTotals are counter values by agent id, then event name.
type AgentTotals map[string]Totals

// DayRow is one daily-rollup row.
type DayRow struct {
	Date  time.Time
	Event string
	counters.Values
}

// BackendError is a failure of PostgreSQL (down, unreachable, timed out,
// or refusing the query). The handlers answer it with 503.
type BackendError struct {
	Backend string
	Err     error
}

func (e *BackendError) Error() string { return e.Backend + " unavailable: " + e.Err.Error() }

func (e *BackendError) Unwrap() error { return e.Err }

func pgErr(err error) error {
	if err == nil {
		return nil
	}
	return &BackendError{Backend: "postgres", Err: err}
}

// Queries runs the stats queries on a pgx pool.
type Queries struct {
	pool *pgxpool.Pool
}

// NewQueries wraps a pool.
func NewQueries(pool *pgxpool.Pool) *Queries { return &Queries{pool: pool} }

// Month reads a month's totals, last write, rejected count and, on a hot
// standby, how far it has replayed, in one round trip (a pgx batch).
func (q *Queries) Month(ctx context.Context, m Month, loc *time.Location) (MonthData, error) {
	var b pgx.Batch
	b.Queue(queryMonthTotals, m.FirstDay(), m.Next().FirstDay())
	b.Queue(queryRejected, m.Start(loc), m.End(loc))
	b.Queue(queryReplica)
	br := q.pool.SendBatch(ctx, &b)
	data, err := readMonth(br)
	if cerr := br.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return MonthData{}, pgErr(err)
	}
	return data, nil
}

func readMonth(br pgx.BatchResults) (MonthData, error) {
	data := MonthData{Totals: Totals{}}
	rows, err := br.Query()
	if err != nil {
		return data, err
	}
	for rows.Next() {
		var (
			ev      string
			v       counters.Values
			updated time.Time
		)
		if err := rows.Scan(&ev, &v.Events, &v.MeasureCount, &v.MeasureSumMicro, &v.FlagTrue, &updated); err != nil {
			rows.Close()
			return data, err
		}
		data.Totals[ev] = v
		if updated.After(data.LastWritten) {
			data.LastWritten = updated
		}
	}
	if err := rows.Err(); err != nil {
		return data, err
	}
	if err := br.QueryRow().Scan(&data.Rejected); err != nil {
		return data, err
	}
	data.Replica, err = readReplica(br)
	return data, err
}

// readReplica reads the answer to queryReplica.
func readReplica(br pgx.BatchResults) (Replica, error) {
	var (
		rep      Replica
		replayed *time.Time
	)
	if err := br.QueryRow().Scan(&rep.Standby, &replayed, &rep.Behind); err != nil {
		return Replica{}, err
	}
	if rep.Standby && replayed != nil {
		rep.ReplayedAt = *replayed
	}
	return rep, nil
}

// Agents reads a month's per-agent totals.
func (q *Queries) Agents(ctx context.Context, m Month) (AgentTotals, error) {
	return q.AgentsBetween(ctx, m.FirstDay(), m.Next().FirstDay())
}

// AgentsBetween reads the per-agent totals of the business days [from,
// to) (dates at midnight UTC).
func (q *Queries) AgentsBetween(ctx context.Context, from, to time.Time) (AgentTotals, error) {
	rows, err := q.pool.Query(ctx, queryAgentTotals, from, to)
	if err != nil {
		return nil, pgErr(err)
	}
	out := AgentTotals{}
	for rows.Next() {
		var (
			agent, ev string
			v         counters.Values
		)
		if err := rows.Scan(&agent, &ev, &v.Events, &v.MeasureCount, &v.MeasureSumMicro, &v.FlagTrue); err != nil {
			rows.Close()
			return nil, pgErr(err)
		}
		if out[agent] == nil {
			out[agent] = Totals{}
		}
		out[agent][ev] = v
	}
	if err := rows.Err(); err != nil {
		return nil, pgErr(err)
	}
	return out, nil
}

// Daily reads the daily rollup rows of the days from..to (inclusive) and,
// on a hot standby, how far it has replayed, in one round trip.
func (q *Queries) Daily(ctx context.Context, from, to time.Time) ([]DayRow, Replica, error) {
	var b pgx.Batch
	b.Queue(queryDaily, from, to)
	b.Queue(queryReplica)
	br := q.pool.SendBatch(ctx, &b)
	out, rep, err := readDaily(br)
	if cerr := br.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return nil, Replica{}, pgErr(err)
	}
	return out, rep, nil
}

func readDaily(br pgx.BatchResults) ([]DayRow, Replica, error) {
	rows, err := br.Query()
	if err != nil {
		return nil, Replica{}, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (DayRow, error) {
		var d DayRow
		err := r.Scan(&d.Date, &d.Event, &d.Events, &d.MeasureCount, &d.MeasureSumMicro, &d.FlagTrue)
		return d, err
	})
	if err != nil {
		return nil, Replica{}, err
	}
	rep, err := readReplica(br)
	return out, rep, err
}

// Ping checks that PostgreSQL answers.
func (q *Queries) Ping(ctx context.Context) error {
	var one int
	if err := q.pool.QueryRow(ctx, queryPing).Scan(&one); err != nil {
		return pgErr(err)
	}
	if one != 1 {
		return pgErr(errors.New("unexpected answer to SELECT 1"))
	}
	return nil
}

// NewPool builds (but does not connect) the pool for cfg.
func NewPool(ctx context.Context, cfg PostgresConfig) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(string(cfg.DSN))
	if err != nil {
		return nil, fmt.Errorf("postgres::dsn: %w", err)
	}
	pc.MaxConns = cfg.MaxConns
	if cfg.QueryTimeout > 0 {
		pc.ConnConfig.ConnectTimeout = cfg.QueryTimeout
	}
	// The service only reads: ask for read-only transactions so a DSN of a
	// writing role cannot change data through it either.
	if pc.ConnConfig.RuntimeParams == nil {
		pc.ConnConfig.RuntimeParams = map[string]string{}
	}
	pc.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	pc.ConnConfig.RuntimeParams["application_name"] = "otelcol-analytics-stats"
	return pgxpool.NewWithConfig(ctx, pc)
}
