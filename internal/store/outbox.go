package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
)

// The outbox's SQL. See the package doc, "The outbox", for the protocol.
const (
	// takeOutboxSQL is step 1: it deletes the row of batch $1 in the
	// applier's transaction, which holds its lock from then on, and
	// returns its deltas; nothing when the row is gone, quarantined, or
	// another transaction holds it (SKIP LOCKED: an applier never waits
	// for another one, nor for a rebuild).
	takeOutboxSQL = takeOutboxRowSQL + `RETURNING deltas`
	// takeKnownOutboxSQL is takeOutboxSQL for an applier that has the
	// deltas already (the batch's own writer): the same row taken, but its
	// deltas are not sent back.
	takeKnownOutboxSQL = takeOutboxRowSQL + `RETURNING NULL::jsonb`
	// takeOutboxRowSQL deletes batch $1's row unless it is quarantined or
	// another transaction holds it (then no row).
	takeOutboxRowSQL = `DELETE FROM analytics_redis_outbox WHERE batch_id = (
    SELECT batch_id FROM analytics_redis_outbox WHERE batch_id = $1::uuid AND quarantined_reason IS NULL
    FOR UPDATE SKIP LOCKED)
`
	// outboxPageSQL reads the ids of the rows not quarantined after ($1,
	// $2) in the outbox's order, $3 of them.
	outboxPageSQL = `SELECT batch_id::text, created_at FROM analytics_redis_outbox
WHERE (created_at, batch_id) > ($1, $2::uuid) AND quarantined_reason IS NULL
ORDER BY created_at, batch_id LIMIT $3`
	// quarantineSQL sets the reason $2 of batch $1's row if it still has
	// the deltas $3 that do not decode and no reason; nothing when the row
	// is gone, repaired, quarantined already or another transaction holds
	// it (SKIP LOCKED, as takeOutboxSQL).
	quarantineSQL = `UPDATE analytics_redis_outbox SET quarantined_reason = $2, quarantined_at = now()
WHERE batch_id = (
    SELECT batch_id FROM analytics_redis_outbox
    WHERE batch_id = $1::uuid AND quarantined_reason IS NULL AND deltas = $3::jsonb
    FOR UPDATE SKIP LOCKED)`
	countQuarantinedSQL = `SELECT count(*) FROM analytics_redis_outbox WHERE quarantined_reason IS NOT NULL`
	// outboxRowsSQL returns which of the batch ids $1 still have a row.
	outboxRowsSQL  = `SELECT batch_id::text FROM analytics_redis_outbox WHERE batch_id = ANY($1::uuid[])`
	countOutboxSQL = `SELECT count(*) FROM analytics_redis_outbox`
)

// outboxState is what a Store remembers of the outbox rows it left in
// place, so that it logs each once. An undecodable row needs no memory
// here: it is quarantined in the table (see quarantine).
type outboxState struct {
	mu          sync.Mutex
	refused     map[string]bool // Redis refuses its numbers; tried again each pass
	held        map[string]bool // held by an interrupted rebuild; tried again each pass
	quarantined int             // quarantined rows in the table, at the end of the last drain

	// hook, if set, is called after steps 1, 2 and 3 of applyBatch with
	// "taken", "applied" or "committed"; an error there is a crash at that
	// point (tests).
	hook func(step, batchID string) error
}

// applyOutcome is what applyBatch did with a row.
type applyOutcome int

const (
	// outcomeApplied: the deltas are in Redis (now, or found applied
	// before) and the row is deleted.
	outcomeApplied applyOutcome = iota
	// outcomeGone: the row is gone, or another applier has it.
	outcomeGone
	// outcomeRedisFailed: Redis failed (down, timeout); the row stays.
	outcomeRedisFailed
	// outcomeFailed: PostgreSQL failed, or a test hook; the row stays or
	// went with a committed apply (see the package doc).
	outcomeFailed
	// outcomeRefused: Redis refuses the batch's numbers (counters.IsRefused);
	// nothing applied, the row stays.
	outcomeRefused
	// outcomeHeld: an interrupted rebuild holds the batch; the row stays.
	outcomeHeld
	// outcomeUndecodable: the row's deltas cannot be decoded; this
	// applier quarantined it, and it stays.
	outcomeUndecodable
)

// applyBatch runs the outbox protocol for batch id (see the package doc):
// take the row in a transaction, apply, commit, delete the claim. deltas
// nil: decode them from the row.
func (s *Store) applyBatch(ctx context.Context, id string, deltas []counters.Row) (applyOutcome, error) {
	hook := func(step string) error {
		if s.outbox.hook == nil {
			return nil
		}
		return s.outbox.hook(step, id)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return outcomeFailed, fmt.Errorf("store: outbox row %s: begin: %w", id, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	var raw []byte
	take := takeOutboxSQL
	if deltas != nil {
		take = takeKnownOutboxSQL
	}
	if err := tx.QueryRow(ctx, take, id).Scan(&raw); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return outcomeGone, nil
		}
		return outcomeFailed, fmt.Errorf("store: outbox row %s: %w", id, err)
	}
	if err := hook("taken"); err != nil {
		return outcomeFailed, err
	}
	if deltas == nil {
		if deltas, err = counters.DecodeRows(raw); err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx)) // the row is back, unlocked
			return s.quarantine(ctx, id, raw, err)
		}
	}
	if _, err := s.layout.Apply(ctx, s.rdb, id, deltas); err != nil {
		switch {
		case counters.IsRefused(err):
			return outcomeRefused, err
		case errors.Is(err, counters.ErrHeld):
			return outcomeHeld, err
		}
		return outcomeRedisFailed, err
	}
	if err := hook("applied"); err != nil {
		return outcomeFailed, err
	}
	if err := tx.Commit(ctx); err != nil {
		// Committed or not, the claim must stay: if not, the row is back
		// and the claim makes its next apply a no-op; if so, the claim is
		// a leftover for SweepClaims.
		return outcomeFailed, fmt.Errorf("store: outbox row %s: commit: %w", id, err)
	}
	if err := hook("committed"); err != nil {
		return outcomeFailed, err
	}
	if err := s.layout.ReleaseClaims(ctx, s.rdb, id); err != nil {
		s.logger.Debug("outbox claim not deleted; SweepClaims deletes it", zap.String("batch_id", id), zap.Error(err))
	}
	return outcomeApplied, nil
}

// quarantine records in batch id's row that its deltas raw cannot be
// decoded (decodeErr): the reason, in words an operator can act on, and the
// time. From then on no applier takes the row (takeOutboxSQL,
// outboxPageSQL), in this collector or another, before or after a restart;
// its deltas stay as they were. It returns outcomeUndecodable when this
// applier set the reason (note logs it, so once in all), outcomeGone when
// the row is gone, was repaired, quarantined by another applier or is held
// by another transaction (the next drain sees it as it is then), and
// outcomeFailed when PostgreSQL failed (the row stays, not quarantined,
// for the next drain).
func (s *Store) quarantine(ctx context.Context, id string, raw []byte, decodeErr error) (applyOutcome, error) {
	reason := fmt.Sprintf("outbox batch %s cannot be decoded (%v): its counts are in the PostgreSQL rollups but not in Redis, "+
		"and no collector applies it while this reason is set; fix its deltas and set quarantined_reason and quarantined_at "+
		"to NULL (the next outbox pass applies it), or delete the row by hand (after noting its days) and run analyticsctl rebuild for those days",
		id, decodeErr)
	tag, err := s.pool.Exec(ctx, quarantineSQL, id, reason, raw)
	if err != nil {
		return outcomeFailed, fmt.Errorf("store: outbox row %s cannot be decoded (%w) and was not quarantined: %w", id, decodeErr, err)
	}
	if tag.RowsAffected() == 0 {
		return outcomeGone, nil
	}
	return outcomeUndecodable, fmt.Errorf("store: outbox row %s: %w", id, decodeErr)
}

// note logs what applyBatch did with a row, once per outage or per batch,
// and remembers the rows left in place. It reports whether the batch's
// deltas are in Redis or with another applier.
func (s *Store) note(id string, out applyOutcome, err error) bool {
	o := &s.outbox
	remember := func(m *map[string]bool) bool {
		o.mu.Lock()
		defer o.mu.Unlock()
		if (*m)[id] {
			return false
		}
		if *m == nil {
			*m = map[string]bool{}
		}
		(*m)[id] = true
		return true
	}
	switch out {
	case outcomeApplied, outcomeGone:
		if out == outcomeApplied {
			o.mu.Lock()
			delete(o.refused, id)
			delete(o.held, id)
			o.mu.Unlock()
			s.redisOutage(nil)
		}
		return true
	case outcomeRedisFailed:
		s.redisOutage(err)
	case outcomeFailed:
		s.logger.Debug("outbox row not applied; it stays for ApplyPendingOutbox", zap.String("batch_id", id), zap.Error(err))
	case outcomeRefused:
		if remember(&o.refused) {
			s.logger.Error("Redis refuses an outbox batch: nothing of it is applied, it stays in the outbox (analyticsctl verify lists it) "+
				"and the batches after it go on; repair the counters (analyticsctl rebuild --force)",
				zap.String("batch_id", id), zap.Error(err))
		}
	case outcomeHeld:
		if remember(&o.held) {
			s.logger.Warn("an outbox batch is held by an interrupted analyticsctl rebuild: it stays in the outbox until the rebuild is run again",
				zap.String("batch_id", id))
		}
	case outcomeUndecodable: // only the applier that quarantined it: once
		s.logger.Error("an outbox row cannot be decoded: it is quarantined in the outbox (its quarantined_reason says how to repair it; "+
			"analyticsctl verify lists it) and no collector tries it again; its counts are in the PostgreSQL rollups but not in Redis",
			zap.String("batch_id", id), zap.Error(err))
	}
	return false
}

// redisOutage is the one place a Redis outage is logged: err, a failed
// Redis update, starts one (a warning, once however many batches it
// defers); nil, a batch Redis took, ends it (logged once too). The batches
// deferred meanwhile are counted in Result.RedisDeferred.
func (s *Store) redisOutage(err error) {
	if err == nil {
		if s.redisDown.CompareAndSwap(true, false) {
			s.logger.Info("Redis answers again; applying the outbox")
		}
		return
	}
	if s.redisDown.CompareAndSwap(false, true) {
		s.logger.Warn("Redis update failed; counters stay in the PostgreSQL outbox and are applied when Redis answers again",
			zap.Error(err))
	}
}

// applyOutbox applies a committed batch's deltas to Redis and deletes its
// outbox row. It reports whether Redis took them (or another applier has
// them); otherwise the row stays for ApplyPendingOutbox.
func (s *Store) applyOutbox(ctx context.Context, batchID string, deltas []counters.Row) bool {
	out, err := s.applyBatch(ctx, batchID, deltas)
	return s.note(batchID, out, err)
}

// ApplyPendingOutbox applies every outbox row left behind (by a crash, a
// Redis outage, or a batch still in flight: the protocol makes that
// harmless) and deletes it. It returns how many rows it settled (applied,
// or found applied before) and the first failure of Redis or PostgreSQL,
// which leaves the remaining rows for the next call. A row Redis refuses
// (counters.IsRefused), one held by an interrupted rebuild, and one whose
// deltas cannot be decoded do not stop it: they are logged once, left in
// the outbox (PendingOutbox counts them, StuckOutbox tells them apart) and
// the rows after them are applied. Refused and held rows are tried again at
// each call; an undecodable one is quarantined (see quarantine) and no
// Store tries it again until an operator repairs it.
func (s *Store) ApplyPendingOutbox(ctx context.Context) (int, error) {
	const page = 500
	applied := 0
	var afterAt time.Time
	afterID := uuid.Nil.String()
	for {
		rows, err := s.pool.Query(ctx, outboxPageSQL, afterAt, afterID, page)
		if err != nil {
			return applied, fmt.Errorf("store: read outbox: %w", err)
		}
		type item struct {
			id string
			at time.Time
		}
		items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (item, error) {
			var it item
			err := r.Scan(&it.id, &it.at)
			return it, err
		})
		if err != nil {
			return applied, fmt.Errorf("store: read outbox: %w", err)
		}
		for _, it := range items {
			afterAt, afterID = it.at, it.id
			out, err := s.applyBatch(ctx, it.id, nil)
			s.note(it.id, out, err)
			switch out {
			case outcomeApplied:
				applied++
			case outcomeRedisFailed, outcomeFailed:
				return applied, err
			}
		}
		if len(items) < page {
			break
		}
	}
	var quarantined int
	if err := s.pool.QueryRow(ctx, countQuarantinedSQL).Scan(&quarantined); err != nil {
		return applied, fmt.Errorf("store: count quarantined outbox rows: %w", err)
	}
	s.outbox.mu.Lock()
	s.outbox.quarantined = quarantined
	s.outbox.mu.Unlock()
	return applied, nil
}

// StuckOutbox counts the outbox rows a Store has left in place, as of its
// last attempt at each, and the quarantined rows of the table.
type StuckOutbox struct {
	// Refused rows: Redis refuses their numbers (an increment would
	// overflow, or a key or field is not a counter). Tried again at each
	// ApplyPendingOutbox; rebuild them away with analyticsctl rebuild
	// --force once the counters are repaired.
	Refused int
	// Held rows: an interrupted analyticsctl rebuild holds them; running
	// the rebuild again settles them.
	Held int
	// Undecodable rows: their deltas cannot be decoded; quarantined, so no
	// Store tries them again. Unlike Refused and Held this is counted from
	// the table (quarantined_reason set, by any collector at any time), at
	// the end of this Store's last complete ApplyPendingOutbox: the table
	// is the record, and a restarted Store, which never tries them, counts
	// them too.
	Undecodable int
}

// StuckOutbox returns the outbox rows this Store has found it cannot apply
// and left in the outbox, and the quarantined ones.
func (s *Store) StuckOutbox() StuckOutbox {
	s.outbox.mu.Lock()
	defer s.outbox.mu.Unlock()
	return StuckOutbox{Refused: len(s.outbox.refused), Held: len(s.outbox.held), Undecodable: s.outbox.quarantined}
}

// PendingOutbox returns the number of outbox rows not yet applied to Redis.
func (s *Store) PendingOutbox(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, countOutboxSQL).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count outbox: %w", err)
	}
	return n, nil
}

// SweepClaims deletes the claims whose outbox row is gone and that are
// older than Layout.ClaimTTL (counters.ClaimSweepMinAge by default): those
// a crash, or a failing DEL, left after their row's delete was committed
// (step 4 of the protocol not run). It returns how many it deleted. It is
// safe at any time and from any collector: a row that is gone never comes
// back, so such a claim protects nothing (see the package doc).
func (s *Store) SweepClaims(ctx context.Context) (int, error) {
	return s.sweepClaims(ctx, s.layout.SweepMinAge())
}

func (s *Store) sweepClaims(ctx context.Context, minAge time.Duration) (int, error) {
	now := s.layout.Clock()
	deleted := 0
	err := s.layout.ScanClaims(ctx, s.rdb, func(ids []string, claims []counters.Claim) error {
		var gone, batches []string
		for i, c := range claims {
			switch {
			case !c.At.IsZero() && now.Sub(c.At) < minAge:
				// Young: most likely its applier is about to delete it.
			case uuid.Validate(ids[i]) != nil:
				gone = append(gone, ids[i]) // no outbox row has such an id
			default:
				batches = append(batches, ids[i])
			}
		}
		if len(batches) > 0 {
			rows, err := s.pool.Query(ctx, outboxRowsSQL, batches)
			if err != nil {
				return fmt.Errorf("store: look up outbox rows: %w", err)
			}
			present, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return fmt.Errorf("store: look up outbox rows: %w", err)
			}
			has := make(map[uuid.UUID]bool, len(present))
			for _, p := range present {
				has[uuid.MustParse(p)] = true
			}
			for _, id := range batches {
				if !has[uuid.MustParse(id)] {
					gone = append(gone, id)
				}
			}
		}
		if err := s.layout.ReleaseClaims(ctx, s.rdb, gone...); err != nil {
			return err
		}
		deleted += len(gone)
		return nil
	})
	if err != nil {
		return deleted, fmt.Errorf("store: sweep claims: %w", err)
	}
	return deleted, nil
}
