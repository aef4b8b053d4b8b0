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

// A difference is one number of one cell that two sources disagree on.
type difference struct {
	cell         counters.Cell // Date is a day or a month
	field        string        // counters.Field*
	left, right  counters.Sum
	lName, rName string // "redis"/"postgres" or "rollup"/"raw"
}

func (d difference) String() string {
	var b strings.Builder
	b.WriteString(d.cell.Date)
	b.WriteByte(' ')
	if d.cell.AgentID != "" {
		fmt.Fprintf(&b, "agent %s ", d.cell.AgentID)
	}
	fmt.Fprintf(&b, "%s %s: %s=%s %s=%s", d.cell.Event, d.field, d.lName, d.left, d.rName, d.right)
	return b.String()
}

// compare returns every number on which the two row sets (each sorted, one
// row per cell) differ; a cell missing on one side counts as zeros there.
func compare(left, right []counters.Row, lName, rName string) []difference {
	lm := make(map[counters.Cell]counters.Values, len(left))
	for _, r := range left {
		lm[r.Cell] = r.Values
	}
	rm := make(map[counters.Cell]counters.Values, len(right))
	cells := make([]counters.Row, 0, len(left)+len(right))
	for _, r := range right {
		rm[r.Cell] = r.Values
		cells = append(cells, counters.Row{Cell: r.Cell})
	}
	for _, r := range left {
		if _, ok := rm[r.Cell]; !ok {
			cells = append(cells, counters.Row{Cell: r.Cell})
		}
	}
	counters.SortRows(cells)
	var diffs []difference
	for _, c := range cells {
		l, r := lm[c.Cell], rm[c.Cell]
		for _, f := range []struct {
			name string
			l, r counters.Sum
		}{
			{counters.FieldEvents, counters.SumOf(l.Events), counters.SumOf(r.Events)},
			{counters.FieldMeasureCount, counters.SumOf(l.MeasureCount), counters.SumOf(r.MeasureCount)},
			{counters.FieldMeasureSumMicro, l.MeasureSumMicro, r.MeasureSumMicro},
			{counters.FieldFlagTrue, counters.SumOf(l.FlagTrue), counters.SumOf(r.FlagTrue)},
		} {
			if f.l != f.r {
				diffs = append(diffs, difference{cell: c.Cell, field: f.name, left: f.l, right: f.r, lName: lName, rName: rName})
			}
		}
	}
	return diffs
}

// filterDays keeps the rows whose Date is one of days.
func filterDays(rows []counters.Row, days map[string]bool) []counters.Row {
	var out []counters.Row
	for _, r := range rows {
		if days[r.Date] {
			out = append(out, r)
		}
	}
	return out
}

// rowsOfDay returns the rows of one day (rows sorted by date).
func rowsOfDay(rows []counters.Row, day string) []counters.Row {
	var out []counters.Row
	for _, r := range rows {
		if r.Date == day {
			out = append(out, r)
		}
	}
	return out
}

// monthTotals sums daily rows into rows whose Date is the month.
func monthTotals(rows []counters.Row) []counters.Row {
	agg := counters.NewAggregator()
	for _, r := range rows {
		agg.Add(counters.Cell{Date: counters.MonthOf(r.Date), AgentID: r.AgentID, Event: r.Event}, r.Values)
	}
	return agg.Rows()
}

type verifyReport struct {
	days, months int
	diffs        int
	pending      int
}

// runVerify compares, for every day of the period and every month it
// touches:
//
//   - the daily Redis hashes with the day's PostgreSQL rollups;
//   - the monthly Redis hashes with the sum of ALL the days of the month in
//     the rollups (a month is always checked whole, even when the period
//     covers only part of it: its Redis hash counts the whole month);
//   - the rollups of each day of the period with an aggregate of the raw
//     events of that day (skipped for months whose raw partition retention
//     has dropped, and with --no-raw).
//
// Pending outbox batches (committed in PostgreSQL, not yet applied to
// Redis, including those an interrupted rebuild holds) that touch those
// months are listed and count as differences; with --allow-pending their
// deltas are added to the Redis side instead, so the check is "Redis +
// pending = PostgreSQL". An outbox row whose deltas cannot be decoded is
// listed and counts as a difference, whatever the period.
//
// A day (or month) past its Redis expiry (daily_ttl, monthly_ttl; see
// counters.Layout) is not in Redis by design: it is noted and not compared
// with Redis (its rollups are still checked against the raw events).
func runVerify(ctx context.Context, o *Options, args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("verify", o, stderr)
	var pf periodFlags
	pf.register(fs)
	allowPending := fs.Bool("allow-pending", false, "count Redis plus the pending outbox batches against PostgreSQL instead of reporting the batches as differences")
	noRaw := fs.Bool("no-raw", false, "do not check the rollups against the raw events (faster for big months)")
	if err := parse(fs, o, args); err != nil {
		return ExitError, err
	}
	pd, err := pf.resolve()
	if err != nil {
		return ExitError, err
	}
	cat, err := o.Catalog()
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
	layout := hooksOf(ctx).layout(o.Layout())

	// One consistent snapshot of PostgreSQL for rollups, raw events and the
	// outbox.
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return ExitError, fmt.Errorf("postgres: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()

	monthSet := map[string]bool{}
	for _, m := range pd.months {
		monthSet[m] = true
	}
	all, err := readOutbox(ctx, tx, rdb, layout, false)
	if err != nil {
		return ExitError, err
	}
	var pending []*outboxBatch
	for _, b := range all {
		if b.unapplied() && b.touches(monthSet) {
			pending = append(pending, b)
		}
	}
	bad := undecodable(all)
	rep := verifyReport{days: len(pd.days), months: len(pd.months), pending: len(pending) + len(bad)}
	for _, m := range bad {
		printLine(stdout, m)
	}
	rep.diffs += len(bad)
	pendingAgg := counters.NewAggregator()
	for _, b := range pending {
		verb := "not yet applied to Redis (the pipeline is not drained)"
		if b.State == counters.Held {
			verb = "held by a rebuild that did not finish, not applied to Redis (run analyticsctl rebuild --force again)"
		}
		if *allowPending {
			verb += "; added to the Redis side (--allow-pending)"
		}
		printf(stdout, "pending: outbox batch %s of %s, %s, %s\n",
			b.ID, b.Created.UTC().Format("2006-01-02T15:04:05Z"), plural(len(b.Rows), "cell", "cells")+" on "+b.span(), verb)
		for _, r := range b.Rows {
			pendingAgg.Add(r.Cell, r.Values)
		}
	}
	pendingRows := pendingAgg.Rows()
	if !*allowPending {
		rep.diffs += len(pending)
		pendingRows = nil
	}

	for _, m := range pd.months {
		lo, hi, err := monthBounds(m)
		if err != nil {
			return ExitError, err
		}
		rollups, err := readRollups(ctx, tx, lo, hi)
		if err != nil {
			return ExitError, err
		}
		// Redis days against the rollups.
		var past []string
		for _, day := range pd.daysOf[m] {
			if !layout.KeepsDay(day) {
				past = append(past, day)
				continue
			}
			redisRows, err := layout.ReadDay(ctx, rdb, day)
			if err != nil {
				return ExitError, err
			}
			redisRows = plus(redisRows, rowsOfDay(pendingRows, day))
			rep.diffs += printDiffs(stdout, compare(redisRows, rowsOfDay(rollups, day), "redis", "postgres"))
		}
		notePast(stdout, past)
		// The Redis month against the whole month's rollups.
		if layout.KeepsMonth(m) {
			redisMonth, err := layout.ReadMonth(ctx, rdb, m)
			if err != nil {
				return ExitError, err
			}
			var pendingOfMonth []counters.Row
			for _, r := range pendingRows {
				if counters.MonthOf(r.Date) == m {
					pendingOfMonth = append(pendingOfMonth, r)
				}
			}
			redisMonth = plus(redisMonth, monthTotals(pendingOfMonth))
			rep.diffs += printDiffs(stdout, compare(redisMonth, monthTotals(rollups), "redis", "postgres"))
		} else {
			printf(stdout, "note: %s: month past the Redis TTL, not kept in Redis\n", m)
		}

		// The rollups against the raw events.
		if *noRaw {
			continue
		}
		days := map[string]bool{}
		for _, d := range pd.daysOf[m] {
			days[d] = true
		}
		ok, err := partitionExists(ctx, tx, m)
		if err != nil {
			return ExitError, err
		}
		if !ok {
			if len(filterDays(rollups, days)) == 0 {
				continue // nothing written for these days: nothing to check
			}
			printf(stdout, "note: %s has no raw-events partition (dropped by retention); its rollups are not checked against raw events\n", m)
			continue
		}
		ds := pd.daysOf[m]
		first, _ := parseDay("day", ds[0])
		last, _ := parseDay("day", ds[len(ds)-1])
		raw, err := readRaw(ctx, tx, cat, first, last.AddDate(0, 0, 1))
		if err != nil {
			return ExitError, err
		}
		rep.diffs += printDiffs(stdout, compare(filterDays(rollups, days), filterDays(raw, days), "rollup", "raw"))
	}
	summary := fmt.Sprintf("verify: %s, %s, %s", plural(rep.days, "day", "days"), plural(rep.months, "month", "months"),
		plural(rep.diffs, "difference", "differences"))
	if rep.pending > 0 {
		summary += fmt.Sprintf(" (%s)", plural(rep.pending, "pending outbox batch", "pending outbox batches"))
	}
	printLine(stdout, summary)
	if rep.diffs > 0 {
		return ExitDifferences, nil
	}
	return ExitOK, nil
}

// notePast notes the days (sorted) past their Redis expiry, one line per
// run of consecutive days.
func notePast(w io.Writer, days []string) {
	for i := 0; i < len(days); {
		j := i
		for j+1 < len(days) && nextDay(days[j]) == days[j+1] {
			j++
		}
		if i == j {
			printf(w, "note: %s: day past the Redis TTL, not kept in Redis\n", days[i])
		} else {
			printf(w, "note: %s..%s: days past the Redis TTL, not kept in Redis\n", days[i], days[j])
		}
		i = j + 1
	}
}

func nextDay(d string) string {
	t, err := time.Parse(counters.DateLayout, d)
	if err != nil {
		return ""
	}
	return t.AddDate(0, 0, 1).Format(counters.DateLayout)
}

// plus adds extra rows to rows by cell.
func plus(rows, extra []counters.Row) []counters.Row {
	if len(extra) == 0 {
		return rows
	}
	agg := counters.NewAggregator()
	for _, r := range rows {
		agg.Add(r.Cell, r.Values)
	}
	for _, r := range extra {
		agg.Add(r.Cell, r.Values)
	}
	return agg.Rows()
}

func printDiffs(w io.Writer, diffs []difference) int {
	for _, d := range diffs {
		printLine(w, d)
	}
	return len(diffs)
}
