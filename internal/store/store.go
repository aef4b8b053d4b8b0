// Package store is the write path of otelcol-analytics: it stores batches of
// normalised business-event log records (see internal/catalog/attrs.go) in
// PostgreSQL and applies their counter deltas to Redis, exactly once.
//
// # Exactly once
//
// One batch is one PostgreSQL transaction: the accepted records are copied
// (COPY) into a per-session staging table, and one statement enters the ids
// not seen before into the event-id ledger (analytics_event_ids: an index
// probe per id, then a plain INSERT whose primary key catches a concurrent
// batch that committed the same id meanwhile; that batch is simply run
// again), inserts exactly those rows into analytics_events, adds their
// aggregates to the rollup tables, stores the rejected records, and records
// the aggregates as an outbox row (analytics_redis_outbox) under a fresh
// batch id. After the commit the outbox row is applied to Redis by
// counters.Layout.Apply, which first claims the batch id with SET NX, and is
// then deleted. So:
//
//   - a resent or retried batch inserts nothing and produces no deltas;
//   - a crash or Redis outage between commit and Redis leaves the outbox row,
//     which ApplyPendingOutbox applies later (at start and periodically);
//   - an outbox row applied twice (crash after Apply, two collectors) is a
//     no-op the second time thanks to the claim.
//
// Redis never learns an id before PostgreSQL has committed it.
//
// # Errors
//
// Write returns transient errors (connection refused or lost, timeouts,
// serialization failures and deadlocks, admin shutdown, too many
// connections, and anything else that is not about the data) as they are:
// the caller retries the whole batch, which is idempotent. A data error
// (SQLSTATE classes 22, 23 and 54) is isolated: the batch is split until the
// refused records stand alone, those are stored in the rejected table with
// reason storage_refused and PostgreSQL's message, and the rest is stored
// normally. A batch therefore never fails forever because of its content.
//
// The package depends on pgx, go-redis and pdata only, so analyticsctl
// (replay-rejected) uses it as well as the exporter.
package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	_ "time/tzdata" // the business time zone must resolve on any host

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
)

// DefaultTimeZone is the business time zone when Config.Location is nil.
const DefaultTimeZone = "Asia/Shanghai"

// Config configures a Store.
type Config struct {
	// Location is the business time zone days and months are cut in.
	// Default: Asia/Shanghai.
	Location *time.Location
	// Layout names the Redis keys and TTLs. An empty Prefix becomes
	// "analytics:"; the TTLs are taken as they are (0 = no expiry).
	Layout counters.Layout
	// Catalog gives each event's measure and flag. Default: catalog.Default().
	Catalog *catalog.Catalog
	// Logger receives one warning per Redis outage and similar rare events
	// (never one line per record). Default: no logging.
	Logger *zap.Logger
}

// Result counts what one Write did with the records of its batch.
type Result struct {
	// Inserted is the number of events stored (new event ids).
	Inserted int
	// Duplicates is the number of accepted records whose event id was
	// already stored, or repeated inside the batch.
	Duplicates int
	// Rejected is the number of records routed to analytics_rejected_events,
	// including RefusedByDB (a resent rejected record is counted again but
	// stored once when it has an event id).
	Rejected int
	// RefusedByDB is the number of accepted records PostgreSQL refused, now
	// in the rejected table with reason storage_refused.
	RefusedByDB int
	// RejectedByReason splits Rejected by reason.
	RejectedByReason map[string]int
	// RedisDeferred is the number of committed transactions whose Redis
	// update failed and was left in the outbox for ApplyPendingOutbox.
	RedisDeferred int
}

func (r *Result) addRejected(rows []rejectedRow) {
	if len(rows) == 0 {
		return
	}
	if r.RejectedByReason == nil {
		r.RejectedByReason = map[string]int{}
	}
	for i := range rows {
		r.Rejected++
		r.RejectedByReason[rows[i].reason]++
		if rows[i].reason == string(catalog.ReasonStorageRefused) {
			r.RefusedByDB++
		}
	}
}

// Store writes batches. It is safe for concurrent use.
type Store struct {
	pool   *pgxpool.Pool
	rdb    redis.UniversalClient
	loc    *time.Location
	layout counters.Layout
	cat    *catalog.Catalog
	logger *zap.Logger

	// AfterCommitHook, if set, is called after a batch's PostgreSQL commit
	// and before its Redis update. Returning an error makes Write return it
	// right there, as if the process had crashed at that point (tests).
	AfterCommitHook func(batchID string) error

	months     sync.Map // business month "2006-01" → struct{}: partition ensured
	redisDown  atomic.Bool
	stageReady string // CustomData key marking a session whose staging table exists
}

// New returns a Store writing through pool and rdb. It does no I/O.
func New(pool *pgxpool.Pool, rdb redis.UniversalClient, cfg Config) *Store {
	s := &Store{pool: pool, rdb: rdb, loc: cfg.Location, layout: cfg.Layout, cat: cfg.Catalog, logger: cfg.Logger,
		stageReady: "otelcol-analytics/store.stage"}
	if s.loc == nil {
		loc, err := time.LoadLocation(DefaultTimeZone)
		if err != nil { // cannot happen: time/tzdata is embedded
			panic(err)
		}
		s.loc = loc
	}
	if s.layout.Prefix == "" {
		s.layout.Prefix = "analytics:"
	}
	if s.cat == nil {
		s.cat = catalog.Default()
	}
	if s.logger == nil {
		s.logger = zap.NewNop()
	}
	return s
}

// Layout returns the Redis layout in use (with defaults applied).
func (s *Store) Layout() counters.Layout { return s.layout }

// Location returns the business time zone.
func (s *Store) Location() *time.Location { return s.loc }

// Write stores one batch: accepted records as events (deduplicated by event
// id), rejected and unnormalised records into analytics_rejected_events,
// and the counter deltas in the rollups and Redis. It returns what it did.
// A non-nil error is transient (or the AfterCommitHook's): retry the same
// batch; a retry never stores or counts anything twice.
func (s *Store) Write(ctx context.Context, ld plog.Logs) (Result, error) {
	b := s.build(ld)
	res := Result{Duplicates: b.duplicates}
	if err := s.ensureMonths(ctx, b.events); err != nil {
		return res, err
	}
	err := s.writeItems(ctx, b.events, b.rejected, &res, true)
	return res, err
}

// writeItems writes events and rejected rows in one transaction; on a data
// error it isolates the refusing rows (see the package doc).
func (s *Store) writeItems(ctx context.Context, events []eventRow, rejected []rejectedRow, res *Result, firstTry bool) error {
	if len(events) == 0 && len(rejected) == 0 {
		return nil
	}
	err := s.commit(ctx, events, rejected, res)
	for attempt := 0; attempt < maxRaceRetries && isLedgerRace(err); attempt++ {
		// A concurrent batch stored one of these ids after our existence
		// check: run again, the check now sees it.
		err = s.commit(ctx, events, rejected, res)
	}
	if err == nil || !isDataError(err) {
		return err
	}
	var pgErr *pgconn.PgError
	_ = errors.As(err, &pgErr)
	if firstTry && pgErr.Code == "23514" && strings.Contains(pgErr.Message, "no partition") {
		// A partition went away behind the cache (retention run by another
		// collector): ensure again and retry once.
		s.months.Clear()
		if err := s.ensureMonths(ctx, events); err != nil {
			return err
		}
		return s.writeItems(ctx, events, rejected, res, false)
	}
	switch {
	case len(events) > 1:
		// A COPY error names the row ("COPY analytics_stage, line 17, ..."):
		// try that row alone first; otherwise split in halves.
		if i := copyErrorRow(pgErr, len(events)); i >= 0 {
			if err := s.writeItems(ctx, events[:i], rejected, res, false); err != nil {
				return err
			}
			if err := s.writeItems(ctx, events[i:i+1], nil, res, false); err != nil {
				return err
			}
			return s.writeItems(ctx, events[i+1:], nil, res, false)
		}
		h := len(events) / 2
		if err := s.writeItems(ctx, events[:h], rejected, res, false); err != nil {
			return err
		}
		return s.writeItems(ctx, events[h:], nil, res, false)
	case len(events) == 1 && len(rejected) > 0:
		if err := s.writeItems(ctx, events, nil, res, false); err != nil {
			return err
		}
		return s.writeItems(ctx, nil, rejected, res, false)
	case len(events) == 1:
		return s.writeItems(ctx, nil, []rejectedRow{refused(&events[0], pgErr.Message)}, res, false)
	case len(rejected) > 1:
		h := len(rejected) / 2
		if err := s.writeItems(ctx, nil, rejected[:h], res, false); err != nil {
			return err
		}
		return s.writeItems(ctx, nil, rejected[h:], res, false)
	default:
		// A sanitised rejected row refused: nothing more can be done for it.
		return &PermanentError{Err: fmt.Errorf("store: PostgreSQL refused a rejected record (reason %s): %w", rejected[0].reason, err)}
	}
}

// copyErrorRow returns the 0-based index of the row a COPY error names, or -1.
func copyErrorRow(pgErr *pgconn.PgError, n int) int {
	const marker = "COPY " + stageTable + ", line "
	w := pgErr.Where
	i := strings.Index(w, marker)
	if i < 0 {
		return -1
	}
	w = w[i+len(marker):]
	j := 0
	for j < len(w) && w[j] >= '0' && w[j] <= '9' {
		j++
	}
	line, err := strconv.Atoi(w[:j])
	if err != nil || line < 1 || line > n {
		return -1
	}
	return line - 1
}

// commit runs one transaction for events and rejected, then the after-commit
// steps (hook, Redis, outbox delete).
func (s *Store) commit(ctx context.Context, events []eventRow, rejected []rejectedRow, res *Result) error {
	batchID := newUUID()
	deltas, err := s.tx(ctx, batchID, events, rejected)
	if err != nil {
		return err
	}
	inserted := 0
	for _, r := range deltas {
		if r.AgentID == "" {
			inserted += int(r.Events)
		}
	}
	res.Inserted += inserted
	res.Duplicates += len(events) - inserted
	res.addRejected(rejected)
	if len(deltas) == 0 {
		return nil
	}
	if h := s.AfterCommitHook; h != nil {
		if err := h(batchID); err != nil {
			return err
		}
	}
	if !s.applyOutbox(ctx, batchID, deltas) {
		res.RedisDeferred++
	}
	return nil
}

func (s *Store) tx(ctx context.Context, batchID string, events []eventRow, rejected []rejectedRow) ([]counters.Row, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: acquire PostgreSQL connection: %w", err)
	}
	defer conn.Release()
	if err := s.ensureStage(ctx, conn.Conn()); err != nil {
		return nil, err
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()

	if len(events) > 0 {
		vals := make([]any, len(stageColumns))
		_, err := tx.CopyFrom(ctx, pgx.Identifier{stageTable}, stageColumns, pgx.CopyFromSlice(len(events), func(i int) ([]any, error) {
			events[i].values(vals)
			return vals, nil
		}))
		if err != nil {
			return nil, fmt.Errorf("store: copy %d events: %w", len(events), err)
		}
	}
	args := rejectedArgs(batchID, rejected)
	rows, err := tx.Query(ctx, writeSQL, args...)
	if err != nil {
		return nil, fmt.Errorf("store: write batch: %w", err)
	}
	var deltas []counters.Row
	for rows.Next() {
		var r counters.Row
		if err := rows.Scan(&r.Date, &r.AgentID, &r.Event, &r.Events, &r.MeasureCount, &r.MeasureSumMicro, &r.FlagTrue); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: read deltas: %w", err)
		}
		deltas = append(deltas, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: write batch: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("store: commit: %w", err)
	}
	return deltas, nil
}

// ensureStage creates the session's staging table once per connection.
func (s *Store) ensureStage(ctx context.Context, conn *pgx.Conn) error {
	data := conn.PgConn().CustomData()
	if _, ok := data[s.stageReady]; ok {
		return nil
	}
	if _, err := conn.Exec(ctx, createStageSQL); err != nil {
		return fmt.Errorf("store: create staging table: %w", err)
	}
	data[s.stageReady] = struct{}{}
	return nil
}

func rejectedArgs(batchID string, rows []rejectedRow) []any {
	n := len(rows)
	reason := make([]string, n)
	field := make([]string, n)
	message := make([]string, n)
	name := make([]pgtype.Text, n)
	product := make([]pgtype.Text, n)
	id := make([]pgtype.Text, n)
	at := make([]pgtype.Timestamptz, n)
	raw := make([][]byte, n)
	for i := range rows {
		r := &rows[i]
		reason[i], field[i], message[i] = r.reason, r.field, r.message
		name[i] = pgtype.Text{String: r.eventName, Valid: r.eventName != ""}
		product[i] = pgtype.Text{String: r.product, Valid: r.product != ""}
		id[i] = pgtype.Text{String: r.eventID, Valid: r.eventID != ""}
		at[i] = pgtype.Timestamptz{Time: r.eventTime, Valid: r.hasTime}
		raw[i] = r.raw
	}
	return []any{batchID, reason, field, message, name, product, id, at, raw}
}

// applyOutbox applies a committed batch's deltas to Redis and deletes its
// outbox row. It reports whether Redis took them; on failure the row stays
// for ApplyPendingOutbox, and one warning is logged per outage.
func (s *Store) applyOutbox(ctx context.Context, batchID string, deltas []counters.Row) bool {
	if _, err := s.layout.Apply(ctx, s.rdb, batchID, deltas); err != nil {
		if s.redisDown.CompareAndSwap(false, true) {
			s.logger.Warn("Redis update failed; counters stay in the PostgreSQL outbox and are applied when Redis answers again",
				zap.Error(err))
		}
		return false
	}
	if s.redisDown.CompareAndSwap(true, false) {
		s.logger.Info("Redis answers again; applying the outbox")
	}
	if _, err := s.pool.Exec(ctx, deleteOutboxSQL, batchID); err != nil {
		// Harmless: the row is applied again later, and the claim makes
		// that a no-op.
		s.logger.Debug("outbox row applied but not deleted", zap.String("batch_id", batchID), zap.Error(err))
	}
	return true
}

// ApplyPendingOutbox applies every outbox row left behind (by a crash, a
// Redis outage, or a batch still in flight: the claim makes applying one
// twice harmless) and deletes it. It returns how many rows it applied and
// the first error, which leaves the remaining rows for the next call.
func (s *Store) ApplyPendingOutbox(ctx context.Context) (int, error) {
	const page = 500
	applied := 0
	for {
		type item struct {
			id     string
			deltas []byte
		}
		rows, err := s.pool.Query(ctx, pendingOutboxSQL, page)
		if err != nil {
			return applied, fmt.Errorf("store: read outbox: %w", err)
		}
		items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (item, error) {
			var it item
			err := r.Scan(&it.id, &it.deltas)
			return it, err
		})
		if err != nil {
			return applied, fmt.Errorf("store: read outbox: %w", err)
		}
		for _, it := range items {
			deltas, err := counters.DecodeRows(it.deltas)
			if err != nil {
				return applied, fmt.Errorf("store: outbox row %s: %w", it.id, err)
			}
			if _, err := s.layout.Apply(ctx, s.rdb, it.id, deltas); err != nil {
				if s.redisDown.CompareAndSwap(false, true) {
					s.logger.Warn("Redis update failed; counters stay in the PostgreSQL outbox", zap.Error(err))
				}
				return applied, err
			}
			if s.redisDown.CompareAndSwap(true, false) {
				s.logger.Info("Redis answers again; applying the outbox")
			}
			if _, err := s.pool.Exec(ctx, deleteOutboxSQL, it.id); err != nil {
				return applied, fmt.Errorf("store: delete outbox row %s: %w", it.id, err)
			}
			applied++
		}
		if len(items) < page {
			return applied, nil
		}
	}
}

// PendingOutbox returns the number of outbox rows not yet applied to Redis.
func (s *Store) PendingOutbox(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, countOutboxSQL).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count outbox: %w", err)
	}
	return n, nil
}

// ensureMonths makes sure the partition of every business month of events
// exists (cached: each month is asked once per Store).
func (s *Store) ensureMonths(ctx context.Context, events []eventRow) error {
	var last string
	for i := range events {
		m := events[i].month
		if m == last {
			continue
		}
		last = m
		if _, ok := s.months.Load(m); ok {
			continue
		}
		if err := s.ensureMonth(ctx, events[i].businessDate, m); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) ensureMonth(ctx context.Context, day time.Time, month string) error {
	if _, err := s.pool.Exec(ctx, ensurePartitionSQL, day); err != nil {
		return fmt.Errorf("store: ensure partition of %s: %w", month, err)
	}
	s.months.Store(month, struct{}{})
	return nil
}

// EnsurePartitions creates the partitions of analytics_events for every
// business month from the month of from to the month of to (inclusive), in
// the business time zone.
func (s *Store) EnsurePartitions(ctx context.Context, from, to time.Time) error {
	y, m, _ := from.In(s.loc).Date()
	cur := time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	y, m, _ = to.In(s.loc).Date()
	end := time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	for ; !cur.After(end); cur = cur.AddDate(0, 1, 0) {
		if err := s.ensureMonth(ctx, cur, cur.Format(counters.MonthLayout)); err != nil {
			return err
		}
	}
	return nil
}

// DropPartitionsBefore drops the partitions of analytics_events (and the
// ledger rows) of every business month before the month of cutoff (in the
// business time zone), and returns their names. Rollups are kept.
func (s *Store) DropPartitionsBefore(ctx context.Context, cutoff time.Time) ([]string, error) {
	y, m, _ := cutoff.In(s.loc).Date()
	rows, err := s.pool.Query(ctx, dropPartitionsSQL, time.Date(y, m, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		return nil, fmt.Errorf("store: drop partitions: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	s.months.Clear()
	if err != nil {
		return nil, fmt.Errorf("store: drop partitions: %w", err)
	}
	return names, nil
}

// PermanentError is an error retrying cannot fix (so far only a rejected
// record PostgreSQL refused even after sanitising). What else the batch
// held is stored.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// isDataError reports whether err is PostgreSQL refusing the data (SQLSTATE
// class 22 data exception, 23 integrity constraint violation, 54 program
// limit exceeded). Every other error — network, timeouts, class 08, 40
// (serialization, deadlock), 53 (too many connections), 57 (admin shutdown,
// query canceled), 42 (schema missing: run the migrations) — is transient:
// the batch is retried as a whole, which is idempotent.
func isDataError(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || len(pgErr.Code) < 2 || isLedgerRace(err) {
		return false
	}
	switch pgErr.Code[:2] {
	case "22", "23", "54":
		return true
	}
	return false
}

// maxRaceRetries bounds the immediate re-runs of a batch that lost a race
// on the event-id ledger; after that the error goes to the caller's retry.
const maxRaceRetries = 3

// isLedgerRace reports whether err is the ledger's primary key refusing an
// id a concurrent transaction committed between our existence check and our
// insert (the plain INSERT is cheaper than ON CONFLICT, which would write a
// speculative-insertion record per row). Transient: a re-run skips the id.
func isLedgerRace(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "analytics_event_ids_pkey"
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}
