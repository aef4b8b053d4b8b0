package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"go.uber.org/zap"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
)

// Partitions and retention.
//
// analytics_events has one partition per business month, created on demand
// by analytics_ensure_partition (once per month per Store: s.months caches
// what it answered). Retention (analytics_drop_partitions_before, migration
// 007) drops whole months and, in the same transaction, marks each one
// retired in analytics_retired_months; their ledger rows are deleted once
// that has committed (analytics_purge_retired_ledger, migration 010). A
// retired month is final: its rollups keep counting the events stored
// before, and no event of it is stored or counted again, so a resend, a
// re-run backfill or a replay after retention cannot count an event twice
// (its ledger row is gone with the month; until the purge has reached it, a
// resend of a known id is a duplicate, which counts nothing either).
//
// The store learns that a month is retired from analytics_ensure_partition,
// which returns NULL for it (and never creates its partition again), and
// caches it like an ensured month: a batch of a known month costs no query.
// prepare turns the records of a retired month into rejected rows
// (beyond_retention). A month retired by another collector after this Store
// cached it as ensured is found out when its partition is missing: the COPY
// fails with "no partition", writeItems asks analytics_ensure_partition
// again, learns the month is retired and Write prepares the batch again. No
// event of a retired month can be counted after its marker commits:
//
//   - dropping the partition takes analytics_events' ACCESS EXCLUSIVE lock,
//     so the retention run waits for every batch in flight: one that copied
//     an event of the month commits (and is counted) before the marker does;
//   - a batch after it finds no partition for the month (the COPY fails, and
//     nothing of the batch is committed);
//   - analytics_ensure_partition takes the same lock before creating a
//     partition and looks for the marker again after it, so it never
//     recreates a month retired meanwhile.

// monthState is what the Store knows of a business month: its partition
// was ensured, or the month is retired (analytics_retired_months).
type monthState struct {
	retired   bool
	retiredAt time.Time // when retention dropped it; zero: not known (before migration 007)
}

// errMonthRetired is writeItems' signal to Write that a month of the batch
// turned out retired while it was being written: Write prepares the batch
// again, now with that month's records as rejected rows.
var errMonthRetired = errors.New("store: a business month of the batch was retired meanwhile")

// maxRetiredRebuilds bounds how often Write prepares a batch again because a
// month of it turned out retired (each time one more month is known).
const maxRetiredRebuilds = 4

// retiredState returns the cached state of business month m when the month
// is known to be retired.
func (s *Store) retiredState(m int32) (monthState, bool) {
	v, ok := s.months.Load(m)
	if !ok {
		return monthState{}, false
	}
	st := v.(monthState)
	return st, st.retired
}

// ensureMonths makes sure the partition of every business month of events
// exists (cached: each month is asked once per Store). It reports whether
// one of the months is retired: those events must not be written (Write
// prepares the batch again, prepare now knows the month).
func (s *Store) ensureMonths(ctx context.Context, events []eventRow) (retired bool, err error) {
	last := int32(-1)
	for i := range events {
		m := events[i].month
		if m == last {
			continue
		}
		last = m
		if v, ok := s.months.Load(m); ok {
			retired = retired || v.(monthState).retired
			continue
		}
		st, err := s.ensureMonth(ctx, int(m/12), time.Month(m%12+1))
		if err != nil {
			return false, err
		}
		retired = retired || st.retired
	}
	return retired, nil
}

// ensureMonth runs analytics_ensure_partition for month m of year y and
// caches what it answered.
func (s *Store) ensureMonth(ctx context.Context, y int, m time.Month) (monthState, error) {
	first := time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	var name pgtype.Text
	if err := s.pool.QueryRow(ctx, ensurePartitionSQL, first).Scan(&name); err != nil {
		return monthState{}, fmt.Errorf("store: ensure partition of %s: %w", first.Format(counters.MonthLayout), err)
	}
	var st monthState
	if !name.Valid {
		// Retired: read when, for the rejected rows' message.
		var at pgtype.Timestamptz
		err := s.pool.QueryRow(ctx, retiredAtSQL, first).Scan(&at)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return monthState{}, fmt.Errorf("store: read retirement of %s: %w", first.Format(counters.MonthLayout), err)
		}
		st = monthState{retired: true, retiredAt: at.Time}
	}
	s.months.Store(int32(y*12+int(m)-1), st) //nolint:gosec // a business month of a year 1677..2262
	return st, nil
}

// EnsurePartitions creates the partitions of analytics_events for every
// business month from the month of from to the month of to (inclusive), in
// the business time zone. A retired month is skipped (and remembered).
func (s *Store) EnsurePartitions(ctx context.Context, from, to time.Time) error {
	y, m, _ := from.In(s.loc).Date()
	cur := time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	y, m, _ = to.In(s.loc).Date()
	end := time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	for ; !cur.After(end); cur = cur.AddDate(0, 1, 0) {
		if _, err := s.ensureMonth(ctx, cur.Year(), cur.Month()); err != nil {
			return err
		}
	}
	return nil
}

// DropPartitionsBefore drops the partitions of analytics_events of every
// business month before the month of cutoff (in the business time zone),
// marks those months retired, then deletes their ledger rows
// (PurgeRetiredLedger), and returns the names of the partitions dropped.
// Rollups are kept, and stay exact: from then on an event of a retired
// month is kept as a rejected row (beyond_retention) instead of being
// stored and counted again.
//
// The drop holds analytics_events' ACCESS EXCLUSIVE lock until it commits,
// so every writer's COPY waits for it: it is kept short (drop and marker
// only, migration 010). The ledger purge, one pass over the ledger, runs
// after it in short transactions of its own that block no writer. When the
// purge fails or ctx ends, the months stay marked unpurged and the next
// call goes on with them (the error is returned with the names).
func (s *Store) DropPartitionsBefore(ctx context.Context, cutoff time.Time) ([]string, error) {
	y, m, _ := cutoff.In(s.loc).Date()
	rows, err := s.pool.Query(ctx, dropPartitionsSQL, time.Date(y, m, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		return nil, fmt.Errorf("store: drop partitions: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	// Ask again for every month: the dropped ones are retired now.
	s.months.Clear()
	if err != nil {
		return nil, fmt.Errorf("store: drop partitions: %w", err)
	}
	if _, err := s.PurgeRetiredLedger(ctx); err != nil {
		return names, err
	}
	return names, nil
}

// PurgeRetiredLedger deletes the event-id ledger rows of the retired months
// whose ledger is not purged yet (analytics_purge_retired_ledger, one range
// of purgeBlocks ledger pages per call and transaction, until the end of the
// ledger) and returns how many it deleted. It stops early, with nothing
// lost, when another session is purging (that one finishes the work) or
// ctx ends (an error; the next call goes on from the page it reached).
// DropPartitionsBefore calls it.
func (s *Store) PurgeRetiredLedger(ctx context.Context) (int64, error) {
	var total int64
	for {
		var n pgtype.Int8
		var more bool
		if err := s.pool.QueryRow(ctx, purgeLedgerSQL, cmp.Or(s.purgeBlocks, purgeBlocks)).Scan(&n, &more); err != nil {
			return total, fmt.Errorf("store: purge the ledger rows of retired months (%d deleted so far): %w", total, err)
		}
		total += n.Int64
		if !n.Valid || !more {
			break
		}
	}
	if total > 0 {
		s.logger.Info("deleted the event-id ledger rows of retired months", zap.Int64("rows", total))
	}
	return total, nil
}

// purgeBlocks is how many ledger pages one purge call scans: 128 MiB, about
// 1.3M ledger rows, a transaction of well under a second on an idle machine.
const purgeBlocks = 16384

// beyondRetention is the rejected row of e, an accepted record of business
// month st retired (retention dropped its raw events). Its dedup key is of
// its content hash (of its raw form when that is unknown), so the same
// record resent is stored once; replayed, the key given.
func (s *Store) beyondRetention(e *eventRow, st monthState) rejectedRow {
	month := dayTime(e.day).Format(counters.MonthLayout)
	when := "before migration 007 (date not recorded)"
	if !st.retiredAt.IsZero() {
		when = "on " + st.retiredAt.In(s.loc).Format(time.DateOnly)
	}
	return eventRejected(e, catalog.ReasonBeyondRetention, fieldTimestamp,
		fmt.Sprintf("the raw events of business month %s were dropped by retention %s; its rollups are final, "+
			"so this event (business day %s) is not stored and not counted",
			month, when, dayTime(e.day).Format(time.DateOnly)), true)
}

// fieldTimestamp names the record's time as the eventcatalog processor's
// rejections do (normalize.FieldTimestamp).
const fieldTimestamp = "timestamp"
