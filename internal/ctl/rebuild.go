package ctl

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
)

// runRebuild rewrites the Redis counters of a period from the PostgreSQL
// rollups with counters.Layout.Replace: the daily hashes of every day of the
// period, and the monthly hashes of every month the period touches, rebuilt
// whole from all the days of the month. Running it twice gives the same
// Redis. Days (and months) past their Redis expiry are only deleted: Redis
// does not keep them (see counters.Layout).
//
// It is safe while the collector runs: it holds a SHARE lock on the rollup
// tables for the duration (the exporter's commits wait, a second or so; reads
// go on), so no batch can commit between reading the rollups and rewriting
// Redis, and a batch committed later adds its deltas on top. A batch
// committed before but not yet applied to Redis (a pending outbox row) is
// already in the rollups: applying it after the rebuild would count it twice,
// so rebuild refuses while such batches touch the period's months. With
// --force it settles them instead, within the lock and with their rows
// locked (FOR UPDATE: no collector takes them meanwhile):
//
//  1. it holds them in Redis (claim "rebuild:<time>", counters.Layout.
//     HoldClaims): a collector that meets a held claim leaves the row
//     alone;
//  2. it widens the period to every day and month they touch and rewrites
//     Redis from the rollups;
//  3. it deletes their outbox rows and commits;
//  4. it deletes their claims (a leftover is swept by the collector).
//
// Interrupted at any point, it can be run again: before step 3 commits, the
// rows come back, unapplied and held (or not yet held), and a rerun settles
// them whatever period it is given, since held batches are always settled,
// and rewrites their days and months again; after it, Redis has its final
// counts. Batches applied meanwhile (claimed as applied, row not deleted
// yet) are in Redis and in the rollups: the rewrite keeps them once, and
// their late delete is a no-op.
//
// A row whose deltas cannot be decoded stops the rebuild: which days it
// counts for is unknown, so no rewrite could be said to contain it.
func runRebuild(ctx context.Context, o *Options, args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("rebuild", o, stderr)
	var pf Period
	pf.register(fs)
	force := fs.Bool("force", false, "rebuild although outbox batches are pending for the period: hold them in Redis, rebuild every day and month they touch, delete them")
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
	hooks := hooksOf(ctx)
	layout := hooks.layout(o.Layout())

	tx, err := pool.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return ExitError, fmt.Errorf("postgres: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '60s'`); err != nil {
		return ExitError, fmt.Errorf("postgres: %w", err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE analytics_daily_rollup, analytics_agent_daily_rollup IN SHARE MODE`); err != nil {
		return ExitError, fmt.Errorf("lock the rollup tables: %w", err)
	}
	all, err := readOutbox(ctx, tx, rdb, layout, true)
	if err != nil {
		return ExitError, err
	}
	if bad := undecodable(all); len(bad) > 0 {
		return ExitError, fmt.Errorf("%s;\nwhich days it counts for is unknown, so rebuild cannot rewrite them; "+
			"fix or delete the row by hand (after noting its days), then rebuild those days", strings.Join(bad, ";\n"))
	}
	days := map[string]bool{}
	months := map[string]bool{}
	for _, d := range pd.days {
		days[d] = true
		months[counters.MonthOf(d)] = true
	}
	// The batches to settle: those an interrupted rebuild holds (wherever
	// they count), those not applied yet that touch a month to rebuild,
	// and then those touching the months the others widen the period to.
	claimed := map[*outboxBatch]bool{}
	var claims []*outboxBatch
	add := func(b *outboxBatch) {
		claimed[b] = true
		claims = append(claims, b)
		for _, d := range b.days {
			days[d] = true
			months[counters.MonthOf(d)] = true
		}
	}
	for _, b := range all {
		if b.State == counters.Held {
			add(b)
		}
	}
	for changed := true; changed; {
		changed = false
		for _, b := range all {
			if claimed[b] || b.State != counters.Unclaimed || !b.touches(months) {
				continue
			}
			add(b)
			changed = true
		}
	}
	if len(claims) > 0 && !*force {
		var b strings.Builder
		fmt.Fprintf(&b, "%s pending for %s: committed in PostgreSQL, not yet applied to Redis (the collector is catching up, or Redis was down):\n",
			plural(len(claims), "outbox batch is", "outbox batches are"), pd.describe())
		for _, c := range claims {
			how := ""
			if c.State == counters.Held {
				how = " (held by a rebuild that did not finish)"
			}
			fmt.Fprintf(&b, "  batch %s of %s, %s%s\n", c.ID, c.Created.UTC().Format("2006-01-02T15:04:05Z"), c.span(), how)
		}
		b.WriteString("their counts are already in the rollups, so applying them after a rebuild would count them twice.\n")
		b.WriteString("Let the collector drain them (`analyticsctl verify` lists them) and run rebuild again, or rerun with --force:\n")
		b.WriteString("rebuild then holds them so that they are never applied, and rebuilds every day and month they touch")
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
	if err := hooks.step("read"); err != nil {
		return ExitError, err
	}

	ids := make([]string, len(claims))
	var hold []string
	for i, c := range claims {
		ids[i] = c.ID
		if c.State == counters.Unclaimed {
			hold = append(hold, c.ID)
		}
	}
	if err := layout.HoldClaims(ctx, rdb, hold); err != nil {
		return ExitError, fmt.Errorf("hold the pending outbox batches in Redis: %w (rerun rebuild)", err)
	}
	for _, c := range claims {
		how := "claimed: it will not be applied again"
		if c.State == counters.Held {
			how = "held by a rebuild that did not finish: settled now"
		}
		printf(stdout, "outbox batch %s (%s): %s; its counts are in the rollups\n", c.ID, c.span(), how)
	}
	if err := hooks.step("held"); err != nil {
		return ExitError, err
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
		n := plural(len(ds), "day", "days")
		if past := pastDays(layout, ds); past > 0 {
			n += fmt.Sprintf("; %d past the Redis TTL, not kept in Redis", past)
		}
		month := "month " + w.month
		if !layout.KeepsMonth(w.month) {
			month += " (past the Redis TTL, not kept in Redis)"
		}
		printf(stdout, "rebuilt %s (%s) and %s from %s (%d per agent)\n",
			span, n, month, plural(len(w.rows), "rollup row", "rollup rows"), agents)
		if err := hooks.step("replaced " + w.month); err != nil {
			return ExitError, err
		}
	}

	if len(claims) > 0 {
		if _, err := tx.Exec(ctx, `DELETE FROM analytics_redis_outbox WHERE batch_id = ANY($1::uuid[])`, ids); err != nil {
			return ExitError, fmt.Errorf("delete the settled outbox rows: %w (rerun rebuild)", err)
		}
	}
	if err := hooks.step("deleted"); err != nil {
		return ExitError, err
	}
	if err := tx.Commit(ctx); err != nil {
		return ExitError, fmt.Errorf("postgres: commit: %w (rerun rebuild)", err)
	}
	if err := hooks.step("committed"); err != nil {
		return ExitError, err
	}
	if err := layout.ReleaseClaims(ctx, rdb, ids...); err != nil {
		// Their rows are gone: the claims protect nothing any more.
		printf(stdout, "note: the claims of the settled outbox batches are left in Redis (%v); the collector sweeps them\n", err)
	}
	printf(stdout, "rebuild: %s, %s rewritten from PostgreSQL\n",
		plural(len(pd.days), "day", "days"), plural(len(pd.months), "month", "months"))
	return ExitOK, nil
}

// pastDays counts the days past their Redis expiry.
func pastDays(l counters.Layout, days []string) int {
	n := 0
	for _, d := range days {
		if !l.KeepsDay(d) {
			n++
		}
	}
	return n
}

// testHooks let tests fix the clock of the Redis layout and fail rebuild at
// a step, through the context (withTestHooks). Outside tests there are
// none.
type testHooks struct {
	now   func() time.Time
	fault func(step string) error
}

type testHooksKey struct{}

// withTestHooks returns ctx carrying h.
func withTestHooks(ctx context.Context, h testHooks) context.Context {
	return context.WithValue(ctx, testHooksKey{}, h)
}

func hooksOf(ctx context.Context) testHooks {
	h, _ := ctx.Value(testHooksKey{}).(testHooks)
	return h
}

// layout returns l with the test clock, if any.
func (h testHooks) layout(l counters.Layout) counters.Layout {
	if h.now != nil {
		l.Now = h.now
	}
	return l
}

// step reports that rebuild has done step; a test's fault stops it there,
// as a crash or a failing Redis or PostgreSQL would.
func (h testHooks) step(name string) error {
	if h.fault == nil {
		return nil
	}
	return h.fault(name)
}
