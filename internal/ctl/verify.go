package ctl

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
)

// compare returns every number on which the two row sets (each sorted, one
// row per cell) differ; a cell missing on one side counts as zeros there.
func compare(left, right []counters.Row, lName, rName string) []Difference {
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
	var diffs []Difference
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
				diffs = append(diffs, Difference{Cell: c.Cell, Field: f.name, Left: f.l, Right: f.r, LeftName: lName, RightName: rName})
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

// VerifyOptions configure Verify.
type VerifyOptions struct {
	// Options are the common settings (DefaultOptions with what differs
	// set); they are validated as the flags are.
	Options
	// Period is the business days to check (--from, --to, --month).
	Period Period
	// AllowPending adds the pending outbox batches to the Redis side
	// instead of counting them as differences (--allow-pending).
	AllowPending bool
	// NoRaw skips the check of the rollups against the raw events (--no-raw).
	NoRaw bool
	// Report, if not nil, receives a line per finding as Verify finds it (a
	// difference, an undecodable or pending outbox batch, a note): the
	// output of analyticsctl verify but for its summary line
	// (VerifyResult.Summary).
	Report io.Writer
}

// A Difference is one number of one cell that two sources disagree on.
type Difference struct {
	Cell                counters.Cell // Date is a day or a month
	Field               string        // counters.Field*
	Left, Right         counters.Sum
	LeftName, RightName string // "redis"/"postgres" or "rollup"/"raw"
}

func (d Difference) String() string {
	var b strings.Builder
	b.WriteString(d.Cell.Date)
	b.WriteByte(' ')
	if d.Cell.AgentID != "" {
		fmt.Fprintf(&b, "agent %s ", d.Cell.AgentID)
	}
	fmt.Fprintf(&b, "%s %s: %s=%s %s=%s", d.Cell.Event, d.Field, d.LeftName, d.Left, d.RightName, d.Right)
	return b.String()
}

// A PendingBatch is an outbox batch committed in PostgreSQL and not applied
// to Redis that touches a month of the period.
type PendingBatch struct {
	ID      string
	Created time.Time
	Cells   int    // the cells it changes
	Span    string // the days it changes: a day or first..last
	// Held: held by a rebuild that did not finish (else not yet applied
	// because the pipeline is not drained).
	Held bool
}

// VerifyResult is what Verify found.
type VerifyResult struct {
	// Days and Months count the business days of the period and the
	// months they touch (each month is compared whole with Redis).
	Days, Months int
	// Differences are the numbers the sources disagree on, in the order
	// found.
	Differences []Difference
	// Undecodable has a message per outbox row whose deltas cannot be
	// decoded, whatever its period; each counts as a difference.
	Undecodable []string
	// Pending are the outbox batches not applied to Redis; each counts as a
	// difference unless PendingAdded (VerifyOptions.AllowPending) says that
	// their deltas were added to the Redis side instead.
	Pending      []PendingBatch
	PendingAdded bool
	// PastDays and PastMonths are past their Redis expiry: not kept in
	// Redis by design, not compared with it.
	PastDays, PastMonths []string
	// NoRawMonths have no raw-events partition (dropped by retention):
	// their rollups were not checked against raw events.
	NoRawMonths []string
}

// Count is the number of differences: Differences, Undecodable, and
// Pending unless PendingAdded.
func (r *VerifyResult) Count() int {
	n := len(r.Differences) + len(r.Undecodable)
	if !r.PendingAdded {
		n += len(r.Pending)
	}
	return n
}

// Equal reports whether Redis equals PostgreSQL (and the rollups the raw
// events): no difference.
func (r *VerifyResult) Equal() bool { return r.Count() == 0 }

// ExitCode is analyticsctl verify's exit code for the result.
func (r *VerifyResult) ExitCode() int {
	if r.Equal() {
		return ExitOK
	}
	return ExitDifferences
}

// Summary is the last line of analyticsctl verify's output.
func (r *VerifyResult) Summary() string {
	s := fmt.Sprintf("verify: %s, %s, %s", plural(r.Days, "day", "days"), plural(r.Months, "month", "months"),
		plural(r.Count(), "difference", "differences"))
	if n := len(r.Pending) + len(r.Undecodable); n > 0 {
		s += fmt.Sprintf(" (%s)", plural(n, "pending outbox batch", "pending outbox batches"))
	}
	return s
}

// runVerify is analyticsctl verify: the flags of Verify, its report, its
// summary line.
func runVerify(ctx context.Context, o *Options, args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("verify", o, stderr)
	vo := VerifyOptions{Report: stdout}
	vo.Period.register(fs)
	fs.BoolVar(&vo.AllowPending, "allow-pending", false, "count Redis plus the pending outbox batches against PostgreSQL instead of reporting the batches as differences")
	fs.BoolVar(&vo.NoRaw, "no-raw", false, "do not check the rollups against the raw events (faster for big months)")
	if err := parse(fs, o, args); err != nil {
		return ExitError, err
	}
	vo.Options = *o
	res, err := Verify(ctx, vo)
	if err != nil {
		return ExitError, err
	}
	printLine(stdout, res.Summary())
	return res.ExitCode(), nil
}

// Verify compares, for every day of the period and every month it touches:
//
//   - the daily Redis hashes with the day's PostgreSQL rollups;
//   - the monthly Redis hashes with the sum of ALL the days of the month in
//     the rollups (a month is always checked whole, even when the period
//     covers only part of it: its Redis hash counts the whole month);
//   - the rollups of each day of the period with an aggregate of the raw
//     events of that day (skipped for months whose raw partition retention
//     has dropped, and with NoRaw).
//
// Pending outbox batches (committed in PostgreSQL, not yet applied to
// Redis, including those an interrupted rebuild holds) that touch those
// months are listed and count as differences; with AllowPending their
// deltas are added to the Redis side instead, so the check is "Redis +
// pending = PostgreSQL". An outbox row whose deltas cannot be decoded is
// listed and counts as a difference, whatever the period.
//
// A day (or month) past its Redis expiry (daily_ttl, monthly_ttl; see
// counters.Layout) is not in Redis by design: it is noted and not compared
// with Redis (its rollups are still checked against the raw events).
//
// An error is a failure to check (bad options, a backend unreachable); the
// differences found are in the result.
func Verify(ctx context.Context, vo VerifyOptions) (VerifyResult, error) {
	if err := vo.validate(); err != nil {
		return VerifyResult{}, err
	}
	pd, err := vo.Period.resolve()
	if err != nil {
		return VerifyResult{}, err
	}
	cat, err := vo.Catalog()
	if err != nil {
		return VerifyResult{}, err
	}
	pool, err := vo.connectPostgres(ctx)
	if err != nil {
		return VerifyResult{}, err
	}
	defer pool.Close()
	rdb, err := vo.connectRedis(ctx)
	if err != nil {
		return VerifyResult{}, err
	}
	defer func() { _ = rdb.Close() }() // the check is over: a close error changes nothing

	// One consistent snapshot of PostgreSQL for rollups, raw events and the
	// outbox.
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return VerifyResult{}, fmt.Errorf("postgres: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()

	v := &verifier{
		tx: tx, rdb: rdb, layout: hooksOf(ctx).layout(vo.Layout()), cat: cat, pd: pd, noRaw: vo.NoRaw,
		report: vo.Report, res: VerifyResult{Days: len(pd.days), Months: len(pd.months)},
	}
	if v.report == nil {
		v.report = io.Discard
	}
	if err := v.outbox(ctx, vo.AllowPending); err != nil {
		return VerifyResult{}, err
	}
	for _, m := range pd.months {
		if err := v.month(ctx, m); err != nil {
			return VerifyResult{}, err
		}
	}
	return v.res, nil
}

// verifier is one run of Verify: its snapshot, its Redis, what it found.
type verifier struct {
	tx     pgx.Tx
	rdb    redis.UniversalClient
	layout counters.Layout
	cat    *catalog.Catalog
	pd     *period
	noRaw  bool
	report io.Writer
	res    VerifyResult
	// pendingRows are the pending deltas added to the Redis side
	// (AllowPending), else nil.
	pendingRows []counters.Row
}

// outbox lists the undecodable outbox rows and the pending batches that
// touch the period's months.
func (v *verifier) outbox(ctx context.Context, allowPending bool) error {
	monthSet := map[string]bool{}
	for _, m := range v.pd.months {
		monthSet[m] = true
	}
	all, err := readOutbox(ctx, v.tx, v.rdb, v.layout, false)
	if err != nil {
		return err
	}
	v.res.Undecodable = undecodable(all)
	for _, m := range v.res.Undecodable {
		printLine(v.report, m)
	}
	v.res.PendingAdded = allowPending
	pendingAgg := counters.NewAggregator()
	for _, b := range all {
		if !b.unapplied() || !b.touches(monthSet) {
			continue
		}
		p := PendingBatch{ID: b.ID, Created: b.Created, Cells: len(b.Rows), Span: b.span(), Held: b.State == counters.Held}
		v.res.Pending = append(v.res.Pending, p)
		verb := "not yet applied to Redis (the pipeline is not drained)"
		if p.Held {
			verb = "held by a rebuild that did not finish, not applied to Redis (run analyticsctl rebuild --force again)"
		}
		if allowPending {
			verb += "; added to the Redis side (--allow-pending)"
		}
		printf(v.report, "pending: outbox batch %s of %s, %s, %s\n",
			p.ID, p.Created.UTC().Format("2006-01-02T15:04:05Z"), plural(p.Cells, "cell", "cells")+" on "+p.Span, verb)
		for _, r := range b.Rows {
			pendingAgg.Add(r.Cell, r.Values)
		}
	}
	if allowPending {
		v.pendingRows = pendingAgg.Rows()
	}
	return nil
}

// month checks month m: its days and the month in Redis against the
// rollups, the rollups of the period's days against the raw events.
func (v *verifier) month(ctx context.Context, m string) error {
	lo, hi, err := monthBounds(m)
	if err != nil {
		return err
	}
	rollups, err := readRollups(ctx, v.tx, lo, hi)
	if err != nil {
		return err
	}
	if err := v.redisDays(ctx, m, rollups); err != nil {
		return err
	}
	if err := v.redisMonth(ctx, m, rollups); err != nil {
		return err
	}
	if v.noRaw {
		return nil
	}
	return v.raw(ctx, m, rollups)
}

// redisDays compares the Redis days of the period in month m with the
// rollups.
func (v *verifier) redisDays(ctx context.Context, m string, rollups []counters.Row) error {
	var past []string
	for _, day := range v.pd.daysOf[m] {
		if !v.layout.KeepsDay(day) {
			past = append(past, day)
			continue
		}
		redisRows, err := v.layout.ReadDay(ctx, v.rdb, day)
		if err != nil {
			return err
		}
		redisRows = plus(redisRows, rowsOfDay(v.pendingRows, day))
		v.found(compare(redisRows, rowsOfDay(rollups, day), "redis", "postgres"))
	}
	notePast(v.report, past)
	v.res.PastDays = append(v.res.PastDays, past...)
	return nil
}

// redisMonth compares the Redis month m with the whole month's rollups.
func (v *verifier) redisMonth(ctx context.Context, m string, rollups []counters.Row) error {
	if !v.layout.KeepsMonth(m) {
		printf(v.report, "note: %s: month past the Redis TTL, not kept in Redis\n", m)
		v.res.PastMonths = append(v.res.PastMonths, m)
		return nil
	}
	redisMonth, err := v.layout.ReadMonth(ctx, v.rdb, m)
	if err != nil {
		return err
	}
	var pendingOfMonth []counters.Row
	for _, r := range v.pendingRows {
		if counters.MonthOf(r.Date) == m {
			pendingOfMonth = append(pendingOfMonth, r)
		}
	}
	redisMonth = plus(redisMonth, monthTotals(pendingOfMonth))
	v.found(compare(redisMonth, monthTotals(rollups), "redis", "postgres"))
	return nil
}

// raw compares the rollups of the period's days in month m with the raw
// events.
func (v *verifier) raw(ctx context.Context, m string, rollups []counters.Row) error {
	ds := v.pd.daysOf[m]
	days := map[string]bool{}
	for _, d := range ds {
		days[d] = true
	}
	ok, err := partitionExists(ctx, v.tx, m)
	if err != nil {
		return err
	}
	if !ok {
		if len(filterDays(rollups, days)) == 0 {
			return nil // nothing written for these days: nothing to check
		}
		printf(v.report, "note: %s has no raw-events partition (dropped by retention); its rollups are not checked against raw events\n", m)
		v.res.NoRawMonths = append(v.res.NoRawMonths, m)
		return nil
	}
	first, _ := parseDay("day", ds[0])
	last, _ := parseDay("day", ds[len(ds)-1])
	raw, err := readRaw(ctx, v.tx, v.cat, first, last.AddDate(0, 0, 1))
	if err != nil {
		return err
	}
	v.found(compare(filterDays(rollups, days), filterDays(raw, days), "rollup", "raw"))
	return nil
}

// found records and reports diffs.
func (v *verifier) found(diffs []Difference) {
	for _, d := range diffs {
		printLine(v.report, d)
	}
	v.res.Differences = append(v.res.Differences, diffs...)
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
