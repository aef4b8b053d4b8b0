package ctl

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
)

// runRebuild rewrites the Redis counters of a period from the PostgreSQL
// rollups with counters.Layout.Replace: the daily hashes of every day of the
// period, and the monthly hashes of every month the period touches, rebuilt
// whole from all the days of the month. Running it twice gives the same
// Redis.
//
// It is safe while the collector runs: it holds a SHARE lock on the rollup
// tables for the duration (the exporter's commits wait, a second or so; reads
// go on), so no batch can commit between reading the rollups and rewriting
// Redis, and a batch committed later adds its deltas on top. A batch
// committed before but not yet applied to Redis (a pending outbox row) is
// already in the rollups: applying it after the rebuild would count it twice,
// so rebuild refuses while such batches touch the period's months. With
// --force it claims those batches in Redis (the exporter then never applies
// them), widens the period to every day and month they touch, and deletes
// their outbox rows, all within the lock.
func runRebuild(ctx context.Context, o *Options, args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("rebuild", o, stderr)
	var pf periodFlags
	pf.register(fs)
	force := fs.Bool("force", false, "rebuild although outbox batches are pending for the period: claim them in Redis and rebuild every day and month they touch")
	if err := parse(fs, o, args); err != nil {
		return ExitError, err
	}
	pd, err := pf.resolve()
	if err != nil {
		return ExitError, err
	}
	pool, err := o.connectPostgres(ctx)
	if err != nil {
		return ExitError, err
	}
	defer pool.Close()
	rdb, err := o.connectRedis(ctx)
	if err != nil {
		return ExitError, err
	}
	defer func() { _ = rdb.Close() }() // the command is over: a close error changes nothing
	layout := o.Layout()

	tx, err := pool.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return ExitError, fmt.Errorf("postgres: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '60s'`); err != nil {
		return ExitError, fmt.Errorf("postgres: %w", err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE analytics_daily_rollup, analytics_agent_daily_rollup IN SHARE MODE`); err != nil {
		return ExitError, fmt.Errorf("lock the rollup tables: %w", err)
	}
	pending, err := pendingOutbox(ctx, tx, rdb, layout, true)
	if err != nil {
		return ExitError, err
	}
	days := map[string]bool{}
	months := map[string]bool{}
	for _, d := range pd.days {
		days[d] = true
		months[counters.MonthOf(d)] = true
	}
	// The batches to claim: those touching a month to rebuild, and then
	// those touching the months the claimed ones widen the period to.
	claimed := map[*outboxBatch]bool{}
	var claims []*outboxBatch
	for changed := true; changed; {
		changed = false
		for _, b := range pending {
			if claimed[b] || !b.touches(months) {
				continue
			}
			claimed[b] = true
			claims = append(claims, b)
			changed = true
			for _, d := range b.days {
				days[d] = true
				months[counters.MonthOf(d)] = true
			}
		}
	}
	if len(claims) > 0 && !*force {
		var b strings.Builder
		fmt.Fprintf(&b, "%s pending for %s: committed in PostgreSQL, not yet applied to Redis (the collector is catching up, or Redis was down):\n",
			plural(len(claims), "outbox batch is", "outbox batches are"), pd.describe())
		for _, c := range claims {
			fmt.Fprintf(&b, "  batch %s of %s, %s\n", c.ID, c.Created.UTC().Format("2006-01-02T15:04:05Z"), c.span())
		}
		b.WriteString("their counts are already in the rollups, so applying them after a rebuild would count them twice.\n")
		b.WriteString("Let the collector drain them (`analyticsctl verify` lists them) and run rebuild again, or rerun with --force:\n")
		b.WriteString("rebuild then claims them so that they are never applied, and rebuilds every day and month they touch")
		return ExitError, fmt.Errorf("%s", b.String())
	}
	if len(claims) > 0 {
		pd = newPeriod(days)
	}

	type monthRows struct {
		month string
		rows  []counters.Row
	}
	var work []monthRows
	for _, m := range pd.months {
		lo, hi, err := monthBounds(m)
		if err != nil {
			return ExitError, err
		}
		rows, err := readRollups(ctx, tx, lo, hi)
		if err != nil {
			return ExitError, err
		}
		work = append(work, monthRows{m, rows})
	}

	if len(claims) > 0 {
		cmds := make([]*redis.BoolCmd, len(claims))
		_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, c := range claims {
				cmds[i] = p.SetNX(ctx, layout.ClaimKey(c.ID), "1", claimTTL(layout))
			}
			return nil
		})
		if err != nil {
			return ExitError, fmt.Errorf("claim the pending outbox batches in Redis: %w", err)
		}
		for i, c := range claims {
			how := "claimed: it will not be applied again"
			if !cmds[i].Val() {
				how = "applied by the collector meanwhile"
			}
			printf(stdout, "outbox batch %s (%s): %s; its counts are in the rollups\n", c.ID, c.span(), how)
		}
	}

	for _, w := range work {
		ds := pd.daysOf[w.month]
		if err := layout.Replace(ctx, rdb, ds, []string{w.month}, w.rows); err != nil {
			return ExitError, fmt.Errorf("%w (rerun rebuild: it is idempotent)", err)
		}
		agents := 0
		for _, r := range w.rows {
			if r.AgentID != "" {
				agents++
			}
		}
		span := ds[0]
		if len(ds) > 1 {
			span += ".." + ds[len(ds)-1]
		}
		printf(stdout, "rebuilt %s (%s) and month %s from %s (%d per agent)\n",
			span, plural(len(ds), "day", "days"), w.month, plural(len(w.rows), "rollup row", "rollup rows"), agents)
	}

	if len(claims) > 0 {
		ids := make([]string, len(claims))
		for i, c := range claims {
			ids[i] = c.ID
		}
		if _, err := tx.Exec(ctx, `DELETE FROM analytics_redis_outbox WHERE batch_id = ANY($1::uuid[])`, ids); err != nil {
			return ExitError, fmt.Errorf("delete the claimed outbox rows: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return ExitError, fmt.Errorf("postgres: %w", err)
	}
	printf(stdout, "rebuild: %s, %s rewritten from PostgreSQL\n",
		plural(len(pd.days), "day", "days"), plural(len(pd.months), "month", "months"))
	return ExitOK, nil
}

// claimTTL is the claim TTL the exporter uses (counters.Layout's default
// when unset).
func claimTTL(l counters.Layout) time.Duration {
	if l.ClaimTTL > 0 {
		return l.ClaimTTL
	}
	return DefaultClaimTTL
}
