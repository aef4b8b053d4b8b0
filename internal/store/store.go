// Package store is the write path of otelcol-analytics: it stores batches of
// normalised business-event log records (see internal/catalog/attrs.go) in
// PostgreSQL and applies their counter deltas to Redis, exactly once.
//
// # Exactly once
//
// An event is identified by its product and event id: one product's ids
// never hide another's events. One batch is one PostgreSQL transaction. The
// accepted records' (product, id) are entered into the event-id ledger
// (analytics_event_ids, primary key (product, event_id), with the record's
// content hash) and their rows into analytics_events (primary key (product,
// event_id, business_date)) by two binary COPYs, in (product, id) order;
// the counter deltas of exactly those rows (a COPY inserts all its rows or
// fails) are summed in Go; one statement adds them to the rollup tables,
// stores the rejected records, and records the deltas as an outbox row
// (analytics_redis_outbox) under a fresh batch id. An id stored before makes
// the ledger's primary key refuse the COPY (23505 on
// analytics_event_ids_pkey): the batch is then run again after looking its
// ids up (one query, a primary-key probe per id, which also returns the
// stored content hash and business day), and only the new ones are copied.
// After a batch met such an id, the next batches look their ids up first.
// The same path catches a concurrent batch that stored one of the ids
// between the look-up and the COPY. After the commit the outbox row is
// applied to Redis and deleted (see The outbox). So:
//
//   - a resent or retried batch inserts nothing and produces no deltas;
//   - a crash or Redis outage between commit and Redis leaves the outbox row,
//     which ApplyPendingOutbox applies later (at start and periodically);
//   - an outbox row reaches Redis once, whatever crashes, fails or runs
//     concurrently (two collectors, a rebuild), below.
//
// Redis never learns an id before PostgreSQL has committed it.
//
// # The outbox
//
// Every applier of the outbox row of a batch X (X's own Write,
// ApplyPendingOutbox in any collector) follows one protocol (outbox.go):
//
//  1. in a transaction T, delete X's row, unless another transaction holds
//     it (FOR UPDATE SKIP LOCKED). T holds the row's lock from then on;
//     nothing deleted: nothing to do;
//  2. counters.Layout.Apply: one Lua script which, if X's claim key exists,
//     writes nothing; otherwise checks every increment (no overflow, only
//     integer counters), then sets the claim (no TTL) and applies all the
//     increments;
//  3. commit T;
//  4. after a successful commit only, delete the claim.
//
// A batch Redis refuses (overflow), one held by an interrupted rebuild and
// a row whose deltas cannot be decoded are rolled back at step 2 and left
// in the outbox, logged once (StuckOutbox); the rows after them go on.
// SweepClaims deletes the claims whose row is gone (a crash before step 4,
// a failing DEL).
//
// Invariant: while X's row exists, X's claim exists exactly when X's
// increments are in Redis. It holds in every state an applier, a crash or
// a failure can reach:
//
//   - The batch transaction commits X's row before any claim of X can
//     exist, with no increments of X in Redis. X is a fresh UUID: once
//     deleted, its row never comes back.
//   - Step 2 is atomic and all or nothing: a script error on the way would
//     leave part of a batch applied, so the script first checks that no
//     HINCRBY can fail, and writes the claim and the increments together or
//     not at all (a refused batch writes nothing). If the claim exists it
//     writes nothing. A Redis error of unknown outcome leaves one of the
//     two states, both within the invariant.
//   - Only the holder of X's row lock runs step 2 for X, so one applier at a
//     time: an applier that read X's id before (ApplyPendingOutbox's page)
//     calls Apply only after taking the row at step 1.
//   - A crash or failure before step 3 rolls T back: the row is back, with
//     the claim and the increments or with neither; the next applier
//     applies X or finds it applied.
//   - A commit that fails (committed or not, unknown) keeps the claim: if
//     the row is back, its next apply is a no-op; if it is gone, the claim
//     is a leftover.
//   - The claim goes (step 4, SweepClaims) only once the row's delete is
//     committed: from then on no applier passes step 1 for X again, so the
//     claim protects nothing. SweepClaims reads the claim and then looks for
//     the row; a row it does not see is deleted by a committed transaction
//     (an uncommitted delete still shows the row to others). It spares
//     claims younger than Layout.ClaimTTL (10 minutes by default), which
//     their applier deletes itself.
//   - A claim does not expire. Redis loses it only by eviction under an
//     allkeys-* policy (counters.CheckEvictionPolicy refuses those; the
//     volatile-* ones evict keys with a TTL only) or by losing its data,
//     counters with it (analyticsctl rebuild).
//
// So X is applied at most once: a second apply needs step 2 to find no
// claim while the row exists, after the first one set it. And at least
// once: the row stays until a transaction commits step 3 after step 2
// applied X or found it applied.
//
// analyticsctl rebuild --force, which replaces pending batches by the
// rollups, holds their rows locked (FOR UPDATE) for its whole run, sets
// their claims to "held" (counters.Layout.HoldClaims) before it writes
// Redis, deletes the rows in the same transaction and then the claims. An
// applier meeting a held claim (a rebuild that failed half way) leaves the
// row alone: the rebuild's rerun settles it.
//
// # Duplicates and conflicts
//
// The eventcatalog processor sets catalog.AttrContentHash, a 16-byte hash of
// what the event says, on every accepted record. A record whose (product,
// id) is stored already, or earlier in the same batch, is:
//
//   - a duplicate (Result.Duplicates) when the two hashes are equal or one
//     is unknown (a record without the attribute, or a ledger row from
//     before migration 006): a resend, silently counted once;
//   - a conflict (Result.Conflicts) when both are known and differ: the
//     stored event is kept and the record is stored in the rejected table
//     with reason duplicate_conflict, field event.id and a message naming
//     the business day of the stored event. Inside a batch the first record
//     of an id is the stored one, unless the ledger holds the id already:
//     every record of the batch is then judged against the ledger's hash.
//
// # Retention
//
// analytics_events is partitioned by business month. Retention
// (DropPartitionsBefore) drops whole months with their ledger rows and
// keeps their rollups; each dropped month is marked retired
// (analytics_retired_months, migration 007) in the same transaction. A
// retired month is final: an accepted record of it is stored in the rejected
// table with reason beyond_retention and counted nowhere, and its partition
// is never created again, so a resend, backfill or replay after retention
// cannot count an event twice. See retention.go for the cache and the race
// with a retention run in progress.
//
// # Rejected records
//
// Rejected, unnormalised, refused and conflicting records go to
// analytics_rejected_events, once per dedup_key (ON CONFLICT DO NOTHING), so
// a resent refusal adds nothing whether or not it has an event id. The key
// of a record the processor rejected is its catalog.AttrRejectKey; the store
// builds the key of its own rows (and of rejected records without the
// attribute) from the reason, product, event id and whole raw form (for a
// conflict: its content hash), see rejectKey. An accepted record that carries
// catalog.AttrRejectKey is a rejected row replayed by analyticsctl: a
// refusal or conflict of it is stored under that key, so it lands on the row
// it came from. raw is the record's OTLP/JSON
// without analytics.* attributes, at most MaxRawBytes of it (raw_truncated),
// with raw_size and raw_sha256 of the whole; a record the processor cut
// (catalog.AttrRawTruncated) keeps its body and the processor's size and
// sha256. Text columns are sanitised and cut to 1 KiB (message 4 KiB), and no
// index covers a long text column, so a rejected row is always storable.
//
// # Errors
//
// Write returns transient errors (connection refused or lost, timeouts,
// serialization failures and deadlocks, admin shutdown, too many
// connections, and anything else that is not about the data) as they are:
// the caller retries the whole batch, which is idempotent. A data error
// (SQLSTATE classes 22, 23 and 54, except the ledger refusing a known id) is
// isolated: the record a COPY error names is tried alone, otherwise the
// batch is split in halves, until the refused records stand alone. Those are
// stored in the rejected table with reason storage_refused and PostgreSQL's
// message, and the rest is stored normally. A rejected row PostgreSQL still
// refuses (a constraint added by hand) is replaced by a stand-in that keeps
// its reason, dedup key, size and sha256, with a short JSON note as raw;
// only if that is refused too does Write return a PermanentError, after
// storing the rest. A batch therefore never fails forever because of its
// content.
//
// The package depends on pgx, go-redis and pdata only, so analyticsctl
// (replay-rejected) uses it as well as the exporter.
package store

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	_ "time/tzdata" // the business time zone must resolve on any host

	"github.com/google/uuid"
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

// Config configures a Store.
type Config struct {
	// Location is the business time zone days and months are cut in.
	// Default: Asia/Shanghai.
	Location *time.Location
	// Layout names the Redis keys and TTLs. An empty Prefix becomes
	// "analytics:"; the TTLs are taken as they are (0 = no expiry).
	Layout counters.Layout
	// Logger receives one warning per Redis outage and similar rare events
	// (never one line per record). Default: no logging.
	Logger *zap.Logger
}

// Result counts what one Write did with the records of its batch.
type Result struct {
	// Inserted is the number of events stored (new product and event ids).
	Inserted int
	// Duplicates is the number of accepted records whose product and event
	// id were already stored, or repeated inside the batch, with the same
	// content (or one of the two contents unknown): a resend, counted once.
	Duplicates int
	// Conflicts is the number of accepted records whose product and event id
	// were already stored, or earlier in the batch, with a different content:
	// the stored event is kept, the record goes to the rejected table with
	// reason duplicate_conflict (and is counted in Rejected too).
	Conflicts int
	// Rejected is the number of records routed to analytics_rejected_events,
	// including RefusedByDB and Conflicts (a resent rejected record is
	// counted again but stored once: see dedup_key).
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
	logger *zap.Logger

	// AfterCommitHook, if set, is called after a batch's PostgreSQL commit
	// and before its Redis update. Returning an error makes Write return it
	// right there, as if the process had crashed at that point (tests).
	AfterCommitHook func(batchID string) error

	months     sync.Map // business month (year*12 + month - 1) → monthState: partition ensured, or month retired
	redisDown  atomic.Bool
	probeFirst atomic.Int32 // batches left that look their ids up before copying
	outbox     outboxState  // outbox rows left in place (outbox.go)
}

// New returns a Store writing through pool and rdb. It does no I/O.
func New(pool *pgxpool.Pool, rdb redis.UniversalClient, cfg Config) *Store {
	s := &Store{pool: pool, rdb: rdb, loc: cfg.Location, layout: cfg.Layout, logger: cfg.Logger}
	if s.loc == nil {
		loc, err := time.LoadLocation(counters.DefaultTimeZone)
		if err != nil { // cannot happen: time/tzdata is embedded
			panic(err)
		}
		s.loc = loc
	}
	if s.layout.Prefix == "" {
		s.layout.Prefix = counters.DefaultPrefix
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

// Write stores one batch: accepted records as events (deduplicated by
// product and event id), rejected, unnormalised and conflicting records into
// analytics_rejected_events,
// and the counter deltas in the rollups and Redis. It returns what it did.
// A non-nil error is transient (or the AfterCommitHook's): retry the same
// batch; a retry never stores or counts anything twice.
//
// An accepted record of a business month retention dropped is not stored:
// it becomes a rejected row with reason beyond_retention (see retention.go).
func (s *Store) Write(ctx context.Context, ld plog.Logs) (Result, error) {
	for range maxRetiredRebuilds {
		b := s.build(ld)
		res := Result{Duplicates: b.duplicates}
		retired, err := s.ensureMonths(ctx, b.events)
		if err != nil {
			return res, err
		}
		if retired {
			// A month of the batch is retired, as build did not know yet:
			// build again, its records become rejected rows.
			continue
		}
		err = s.writeItems(ctx, b.events, b.rejected, &res, true)
		if errors.Is(err, errMonthRetired) {
			// Retired by another collector (or behind our cache) while we
			// wrote: what was committed before is found again as
			// duplicates, so the Result is of this last run.
			continue
		}
		return res, err
	}
	return Result{}, fmt.Errorf("store: business months of the batch keep being retired while it is written: %w", errMonthRetired)
}

// writeItems writes events and rejected rows in one transaction; on a data
// error it isolates the refusing rows (see the package doc).
func (s *Store) writeItems(ctx context.Context, events []eventRow, rejected []rejectedRow, res *Result, firstTry bool) error {
	if len(events) == 0 && len(rejected) == 0 {
		return nil
	}
	probe := s.probeFirst.Load() > 0
	if probe {
		s.probeFirst.Add(-1)
	}
	err := s.commit(ctx, events, rejected, res, probe)
	if !probe && isLedgerRace(err) {
		// Some id was stored before: look the ids up this time, and for
		// the next batches too (a resent queue comes in a row).
		s.probeFirst.Store(probeAfterConflict)
	}
	for attempt := 0; attempt < maxRaceRetries && isLedgerRace(err); attempt++ {
		// A known id, or one a concurrent batch stored after our look-up:
		// run again, the look-up now sees it.
		err = s.commit(ctx, events, rejected, res, true)
	}
	if err == nil || !isDataError(err) {
		return err
	}
	var pgErr *pgconn.PgError
	_ = errors.As(err, &pgErr)
	if pgErr.Code == "23514" && strings.Contains(pgErr.Message, "no partition") {
		// A partition went away behind the cache (retention run by another
		// collector, or by this one while the batch waited for its lock):
		// ask again. A retired month sends the batch back to Write;
		// otherwise retry once.
		s.months.Clear()
		retired, err := s.ensureMonths(ctx, events)
		switch {
		case err != nil:
			return err
		case retired:
			return errMonthRetired
		case firstTry:
			return s.writeItems(ctx, events, rejected, res, false)
		}
	}
	switch {
	case len(events) > 1:
		// A COPY error names the row ("COPY analytics_events, line 17, ..."):
		// try that row alone first; otherwise split in halves.
		if i := errorRow(err); i >= 0 && i < len(events) {
			return s.writeParts(ctx, res, part{events[:i], rejected}, part{events[i : i+1], nil}, part{events[i+1:], nil})
		}
		h := len(events) / 2
		return s.writeParts(ctx, res, part{events[:h], rejected}, part{events[h:], nil})
	case len(events) == 1 && len(rejected) > 0:
		return s.writeParts(ctx, res, part{events, nil}, part{nil, rejected})
	case len(events) == 1 && len(events[0].repeats) > 0:
		// The row of a conflicting repeat may be what was refused: the
		// record alone first, then its repeats as a record of their own,
		// which meets it in the ledger (or, if it was refused, is stored).
		first := events[0]
		reps := first.repeats
		first.repeats = nil
		perm := s.writeItems(ctx, []eventRow{first}, nil, res, false)
		if !goesOn(perm) {
			return perm
		}
		next := reps[0]
		next.repeats = reps[1:]
		next.tuple = s.appendTuple(nil, &next)
		if retired, err := s.ensureMonths(ctx, []eventRow{next}); err != nil || retired {
			return cmp.Or(err, errMonthRetired)
		}
		if err := s.writeItems(ctx, []eventRow{next}, nil, res, false); err != nil {
			return err
		}
		return perm
	case len(events) == 1:
		return s.writeItems(ctx, nil, []rejectedRow{refused(&events[0], pgErr.Message)}, res, false)
	case len(rejected) > 1:
		h := len(rejected) / 2
		return s.writeParts(ctx, res, part{nil, rejected[:h]}, part{nil, rejected[h:]})
	case !rejected[0].fallback:
		// A sanitised, bounded rejected row refused (a constraint or trigger
		// added by hand): store a stand-in that keeps its reason, key, size
		// and sha256.
		return s.writeItems(ctx, nil, []rejectedRow{fallbackRow(&rejected[0], pgErr.Message)}, res, false)
	default:
		// Even the stand-in refused: nothing more can be done for it.
		return &PermanentError{Err: fmt.Errorf("store: PostgreSQL refused a rejected record (reason %s): %w", rejected[0].reason, err)}
	}
}

// part is a piece of a batch being isolated.
type part struct {
	events   []eventRow
	rejected []rejectedRow
}

// writeParts writes parts in turn. A PermanentError of one part does not
// stop the others: the first is returned once they are written. Any other
// error is returned at once (the caller retries the whole batch).
func (s *Store) writeParts(ctx context.Context, res *Result, parts ...part) error {
	var perm error
	for _, p := range parts {
		err := s.writeItems(ctx, p.events, p.rejected, res, false)
		switch {
		case err == nil:
		case goesOn(err):
			if perm == nil {
				perm = err
			}
		default:
			return err
		}
	}
	return perm
}

// goesOn reports whether writing the rest of a batch goes on after err: nil
// or a PermanentError (one record lost, not the batch).
func goesOn(err error) bool {
	if err == nil {
		return true
	}
	_, ok := errors.AsType[*PermanentError](err)
	return ok
}

// copyErrorRow returns the 0-based index of the row a COPY error names
// ("COPY <table>, line <n>, ..."), or -1.
func copyErrorRow(pgErr *pgconn.PgError, n int) int {
	const copyMarker, lineMarker = "COPY ", ", line "
	w := pgErr.Where
	i := strings.Index(w, copyMarker)
	if i < 0 {
		return -1
	}
	w = w[i+len(copyMarker):]
	i = strings.Index(w, lineMarker)
	if i < 0 {
		return -1
	}
	w = w[i+len(lineMarker):]
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

// rowError is a PostgreSQL error a COPY raised on one row, with the row's
// index in the events of the batch.
type rowError struct {
	index int
	err   error
}

func (e *rowError) Error() string { return e.err.Error() }
func (e *rowError) Unwrap() error { return e.err }

// errorRow returns the index of the event row err is about, or -1.
func errorRow(err error) int {
	if re, ok := errors.AsType[*rowError](err); ok {
		return re.index
	}
	return -1
}

// commit runs one transaction for events and rejected, then the after-commit
// steps (hook, Redis, outbox delete).
func (s *Store) commit(ctx context.Context, events []eventRow, rejected []rejectedRow, res *Result, probe bool) error {
	batchID := uuid.NewString()
	out, err := s.tx(ctx, batchID, events, rejected, probe)
	if err != nil {
		return err
	}
	res.Inserted += out.inserted
	res.Duplicates += out.duplicates
	res.Conflicts += len(out.conflicts)
	res.addRejected(rejected)
	res.addRejected(out.conflicts)
	deltas := out.deltas
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

// txOutcome is what one committed transaction did with its events.
type txOutcome struct {
	inserted   int
	duplicates int           // records known (ledger or batch) with the same or an unknown content
	conflicts  []rejectedRow // records known with a different content, stored as rejected rows
	deltas     []counters.Row
}

// tx stores one batch in one transaction and returns what it did:
//
//  1. with probe, one query finds which of the batch's (product, id) the
//     ledger already holds, with their content hash; without, every id is
//     taken as new;
//  2. the records of known ids, and the repeats inside the batch, are
//     duplicates or, when their content hash differs from the stored one,
//     conflicts (rejected rows, see resolve);
//  3. the new ids, in (product, id) order (so concurrent batches lock ledger
//     keys in one order), are copied into the ledger with their content
//     hash and their rows into analytics_events (two binary COPYs). An id
//     stored before (without probe), or committed by a concurrent batch
//     after step 1, makes the ledger's primary key fail: isLedgerRace, and
//     writeItems runs the batch again with probe;
//  4. the deltas are summed in Go from exactly the rows copied (a COPY
//     inserts all its rows or fails), and one statement adds them to the
//     rollups (in key order), stores the rejected records and conflicts and
//     writes the outbox row;
//  5. commit.
//
// With probe, a batch of known ids only (a resend) costs the query of step 1
// alone.
func (s *Store) tx(ctx context.Context, batchID string, events []eventRow, rejected []rejectedRow, probe bool) (txOutcome, error) {
	var out txOutcome
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return out, fmt.Errorf("store: acquire PostgreSQL connection: %w", err)
	}
	defer conn.Release()
	fresh, known, err := newEvents(ctx, conn.Conn(), events, probe)
	if err != nil {
		return out, err
	}
	out.duplicates, out.conflicts = resolve(events, known)
	if len(fresh) == 0 && len(rejected) == 0 && len(out.conflicts) == 0 {
		return out, nil
	}
	if len(out.conflicts) > 0 {
		rejected = append(slices.Clip(rejected), out.conflicts...)
	}
	out.deltas = aggregate(events, fresh)
	tx, err := conn.Begin(ctx)
	if err != nil {
		return txOutcome{}, fmt.Errorf("store: begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()

	if len(fresh) > 0 {
		pc := conn.Conn().PgConn()
		if _, err := pc.CopyFrom(ctx, bytes.NewReader(ledgerCopy(events, fresh)), copyLedgerSQL); err != nil {
			return txOutcome{}, copyError("copy %d ids into the ledger", events, fresh, err)
		}
		if _, err := pc.CopyFrom(ctx, newEventsReader(events, fresh), copyEventsSQL); err != nil {
			return txOutcome{}, copyError("copy %d events", events, fresh, err)
		}
	}
	args, err := finishArgs(batchID, out.deltas, rejected)
	if err != nil {
		return txOutcome{}, err
	}
	if _, err := tx.Exec(ctx, finishSQL, args...); err != nil {
		return txOutcome{}, fmt.Errorf("store: write rollups, rejected records and outbox: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return txOutcome{}, fmt.Errorf("store: commit: %w", err)
	}
	out.inserted = len(fresh)
	return out, nil
}

// storedID is what the ledger holds for a (product, id): the business day it
// was stored under and its content hash (hasHash false: unknown).
type storedID struct {
	day     int32
	hash    [contentHashSize]byte
	hasHash bool
}

// newEvents returns the indexes of the events whose (product, id) the ledger
// does not hold yet, sorted by (product, id), and, with probe, what the
// ledger holds for the others (by index).
func newEvents(ctx context.Context, conn *pgx.Conn, events []eventRow, probe bool) ([]int32, map[int32]storedID, error) {
	if len(events) == 0 {
		return nil, nil, nil
	}
	byKey := func(a, b int32) int {
		if c := strings.Compare(events[a].product, events[b].product); c != 0 {
			return c
		}
		return strings.Compare(events[a].eventID, events[b].eventID)
	}
	if !probe {
		fresh := make([]int32, len(events))
		for i := range fresh {
			fresh[i] = int32(i) //nolint:gosec // a batch holds fewer than 2^31 records
		}
		slices.SortFunc(fresh, byKey)
		return fresh, nil, nil
	}
	products := make([]string, len(events))
	ids := make([]string, len(events))
	for i := range events {
		products[i], ids[i] = events[i].product, events[i].eventID
	}
	known, err := probeLedger(ctx, conn, products, ids)
	if err != nil {
		return nil, nil, err
	}
	fresh := make([]int32, 0, len(events)-len(known))
	for i := range events {
		if _, ok := known[int32(i)]; !ok { //nolint:gosec // see above
			fresh = append(fresh, int32(i)) //nolint:gosec // see above
		}
	}
	slices.SortFunc(fresh, byKey)
	return fresh, known, nil
}

// probeLedger runs probeSQL: what the ledger holds for each (products[i],
// ids[i]) it knows, by i.
func probeLedger(ctx context.Context, conn *pgx.Conn, products, ids []string) (map[int32]storedID, error) {
	rows, err := conn.Query(ctx, probeSQL, products, ids)
	if err != nil {
		return nil, fmt.Errorf("store: look up event ids: %w", err)
	}
	defer rows.Close()
	var known map[int32]storedID
	for rows.Next() {
		var i int64
		var st storedID
		var hash []byte
		if err := rows.Scan(&i, &st.day, &hash); err != nil {
			return nil, fmt.Errorf("store: look up event ids: %w", err)
		}
		if len(hash) == contentHashSize {
			copy(st.hash[:], hash)
			st.hasHash = true
		}
		if known == nil {
			known = map[int32]storedID{}
		}
		known[int32(i-1)] = st //nolint:gosec // an index into the batch (WITH ORDINALITY counts from 1)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: look up event ids: %w", err)
	}
	return known, nil
}

// resolve sorts out the records whose (product, id) is stored already: an
// event row the ledger holds (known, by index), and every repeat inside the
// batch (eventRow.repeats). Each is a duplicate, or a conflict when both its
// content hash and the stored one (the ledger's, else the event row's) are
// known and differ; a conflict becomes a rejected row.
func resolve(events []eventRow, known map[int32]storedID) (duplicates int, conflicts []rejectedRow) {
	for i := range events {
		e := &events[i]
		st := storedID{day: e.day, hash: e.hash, hasHash: e.hasHash}
		if k, ok := known[int32(i)]; ok { //nolint:gosec // an index into the batch
			st = k
			if differ(&e.hash, e.hasHash, &st.hash, st.hasHash) {
				conflicts = append(conflicts, conflictRow(e, st.day))
			} else {
				duplicates++
			}
		}
		for j := range e.repeats {
			r := &e.repeats[j]
			if differ(&r.hash, r.hasHash, &st.hash, st.hasHash) {
				conflicts = append(conflicts, conflictRow(r, st.day))
			} else {
				duplicates++
			}
		}
	}
	return duplicates, conflicts
}

// copyError wraps a COPY error; when it names a row, the row's index in
// events goes with it (rowError) for writeItems to isolate it.
func copyError(what string, events []eventRow, fresh []int32, err error) error {
	err = fmt.Errorf("store: "+what+": %w", len(fresh), err)
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		if i := copyErrorRow(pgErr, len(fresh)); i >= 0 {
			return &rowError{index: int(fresh[i]), err: err}
		}
	}
	return err
}

// aggregate sums the counter deltas of events[fresh[...]]: one all-agents
// row per business day and event, and one per-agent row per day, agent and
// event, sorted (the rollups' lock order). Measure sums are 128-bit
// (counters.Sum) and the rollups keep them as numeric: no batch of bounded
// measures (catalog.MaxMeasure) can overflow either.
func aggregate(events []eventRow, fresh []int32) []counters.Row {
	type cell struct {
		day          int32
		agent, event string
	}
	sums := map[cell]*counters.Values{}
	add := func(c cell, e *eventRow) {
		v, ok := sums[c]
		if !ok {
			v = &counters.Values{}
			sums[c] = v
		}
		v.Events++
		if e.hasMeasure {
			v.MeasureCount++
			v.MeasureSumMicro = v.MeasureSumMicro.Add(counters.SumOf(e.measure))
		}
		if e.hasFlag && e.flag {
			v.FlagTrue++
		}
	}
	for _, i := range fresh {
		e := &events[i]
		add(cell{day: e.day, event: e.name}, e)
		if e.agentID != "" {
			add(cell{day: e.day, agent: e.agentID, event: e.name}, e)
		}
	}
	rows := make([]counters.Row, 0, len(sums))
	days := map[int32]string{}
	for c, v := range sums {
		day, ok := days[c.day]
		if !ok {
			day = dayTime(c.day).Format(counters.DateLayout)
			days[c.day] = day
		}
		rows = append(rows, counters.Row{Cell: counters.Cell{Date: day, AgentID: c.agent, Event: c.event}, Values: *v})
	}
	counters.SortRows(rows)
	return rows
}

// finishArgs returns finishSQL's arguments: the batch id, the deltas as
// parallel arrays and as the outbox JSON (NULL when there are none), and
// the rejected records as parallel arrays.
func finishArgs(batchID string, deltas []counters.Row, rejected []rejectedRow) ([]any, error) {
	n := len(deltas)
	day, agent, event := make([]string, n), make([]string, n), make([]string, n)
	events, mc, flag := make([]int64, n), make([]int64, n), make([]int64, n)
	ms := make([]counters.Sum, n)
	for i, r := range deltas {
		day[i], agent[i], event[i] = r.Date, r.AgentID, r.Event
		events[i], mc[i], ms[i], flag[i] = r.Events, r.MeasureCount, r.MeasureSumMicro, r.FlagTrue
	}
	var outbox any
	if n > 0 {
		js, err := counters.EncodeRows(deltas)
		if err != nil {
			return nil, fmt.Errorf("store: encode outbox row: %w", err)
		}
		outbox = string(js)
	}
	args := []any{batchID, outbox, day, agent, event, events, mc, ms, flag}
	return append(args, rejectedArgs(rejected)...), nil
}

// rejectedArgs returns the rejected rows as parallel arrays.
func rejectedArgs(rows []rejectedRow) []any {
	n := len(rows)
	reason := make([]string, n)
	field := make([]string, n)
	message := make([]string, n)
	name := make([]pgtype.Text, n)
	product := make([]pgtype.Text, n)
	id := make([]pgtype.Text, n)
	at := make([]pgtype.Timestamptz, n)
	raw := make([][]byte, n)
	rawSize := make([]int64, n)
	rawSHA256 := make([][]byte, n) // nil = NULL
	truncated := make([]bool, n)
	key := make([][]byte, n)
	for i := range rows {
		r := &rows[i]
		reason[i], field[i], message[i] = r.reason, r.field, r.message
		name[i] = pgtype.Text{String: r.eventName, Valid: r.eventName != ""}
		product[i] = pgtype.Text{String: r.product, Valid: r.product != ""}
		id[i] = pgtype.Text{String: r.eventID, Valid: r.eventID != ""}
		at[i] = pgtype.Timestamptz{Time: r.eventTime, Valid: r.hasTime}
		raw[i], rawSize[i], rawSHA256[i], truncated[i] = r.raw, r.rawSize, r.rawSHA256, r.rawTruncated
		key[i] = r.dedupKey[:]
	}
	return []any{reason, field, message, name, product, id, at, raw, rawSize, rawSHA256, truncated, key}
}

// PermanentError is an error retrying cannot fix (so far only a rejected
// record PostgreSQL refused even as a stand-in, see writeItems). What else
// the batch held is stored.
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

// probeAfterConflict is how many batches look their ids up first after a
// batch met an id already stored.
const probeAfterConflict = 16

// maxRaceRetries bounds the immediate re-runs of a batch the event-id ledger
// refused (a known id, or a race lost); after that the error goes to the
// caller's retry.
const maxRaceRetries = 3

// isLedgerRace reports whether err is the ledger's primary key
// (analytics_event_ids_pkey, on (product, event_id) since migration 006,
// which kept its name) refusing a (product, id) stored before: one the
// batch copied without looking it up, or one a
// concurrent transaction committed between our look-up and our COPY (a
// COPY has no ON CONFLICT, and INSERT … ON CONFLICT would write a
// speculative-insertion record per row). Not a data error: a re-run with
// the look-up skips the id.
func isLedgerRace(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "analytics_event_ids_pkey"
}
