package store

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
)

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
	return s.WriteBatch(ctx, s.Convert(ld))
}

// WriteBatch is Write of a converted batch (Convert, DecodeBatch). q does
// not change: a retry writes it again.
func (s *Store) WriteBatch(ctx context.Context, q *Batch) (Result, error) {
	for range maxRetiredRebuilds {
		b := s.prepare(q)
		res := Result{Duplicates: b.duplicates}
		retired, err := s.ensureMonths(ctx, b.events)
		if err != nil {
			return res, err
		}
		if retired {
			// A month of the batch is retired, as prepare did not know
			// yet: prepare again, its records become rejected rows.
			continue
		}
		err = s.writeItems(ctx, b.events, b.order, b.rejected, &res, true)
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
// error it isolates the refusing rows (see the package doc). order is nil,
// or the indexes of events sorted by (product, id) (prepare's).
// mayRetryPartition allows one re-run after a partition the batch needs went
// away and was created again (Write's call only; its re-runs and the parts
// being isolated pass false).
func (s *Store) writeItems(ctx context.Context, events []eventRow, order []int32, rejected []rejectedRow, res *Result, mayRetryPartition bool) error {
	if len(events) == 0 && len(rejected) == 0 {
		return nil
	}
	probe := s.probeFirst.Load() > 0
	if probe {
		s.probeFirst.Add(-1)
	}
	err := s.commit(ctx, events, order, rejected, res, probe)
	if !probe && isLedgerRace(err) {
		// Some id was stored before: look the ids up this time, and for
		// the next batches too (a resent queue comes in a row).
		s.probeFirst.Store(probeAfterConflict)
	}
	for attempt := 0; attempt < maxRaceRetries && isLedgerRace(err); attempt++ {
		// A known id, or one a concurrent batch stored after our look-up:
		// run again, the look-up now sees it.
		err = s.commit(ctx, events, order, rejected, res, true)
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
		case mayRetryPartition:
			return s.writeItems(ctx, events, order, rejected, res, false)
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
		perm := s.writeItems(ctx, []eventRow{first}, nil, nil, res, false)
		if !goesOn(perm) {
			return perm
		}
		next := reps[0]
		next.repeats = reps[1:]
		if retired, err := s.ensureMonths(ctx, []eventRow{next}); err != nil || retired {
			return cmp.Or(err, errMonthRetired)
		}
		if err := s.writeItems(ctx, []eventRow{next}, nil, nil, res, false); err != nil {
			return err
		}
		return perm
	case len(events) == 1:
		return s.writeItems(ctx, nil, nil, []rejectedRow{refused(&events[0], pgErr.Message)}, res, false)
	case len(rejected) > 1:
		h := len(rejected) / 2
		return s.writeParts(ctx, res, part{nil, rejected[:h]}, part{nil, rejected[h:]})
	case !rejected[0].fallback:
		// A sanitised, bounded rejected row refused (a constraint or trigger
		// added by hand): store a stand-in that keeps its reason, key, size
		// and sha256.
		return s.writeItems(ctx, nil, nil, []rejectedRow{fallbackRow(&rejected[0], pgErr.Message)}, res, false)
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
		err := s.writeItems(ctx, p.events, nil, p.rejected, res, false)
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

// commit runs one transaction for events and rejected, then the after-commit
// steps (hook, Redis, outbox delete).
func (s *Store) commit(ctx context.Context, events []eventRow, order []int32, rejected []rejectedRow, res *Result, probe bool) error {
	batchID := uuid.NewString()
	out, err := s.writeInTx(ctx, batchID, events, order, rejected, probe)
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

// writeInTx stores one batch in one transaction and returns what it did:
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
func (s *Store) writeInTx(ctx context.Context, batchID string, events []eventRow, order []int32, rejected []rejectedRow, probe bool) (txOutcome, error) {
	var out txOutcome
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return out, fmt.Errorf("store: acquire PostgreSQL connection: %w", err)
	}
	defer conn.Release()
	fresh, known, err := newEvents(ctx, conn.Conn(), events, order, probe)
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
		if _, err := pc.CopyFrom(ctx, newLedgerReader(events, fresh), copyLedgerSQL); err != nil {
			return txOutcome{}, copyError("copy %d ids into the ledger", events, fresh, err)
		}
		if _, err := pc.CopyFrom(ctx, newEventsReader(events, fresh), copyEventsSQL); err != nil {
			return txOutcome{}, copyError("copy %d events", events, fresh, err)
		}
	}
	args, err := finishBatchArgs(batchID, out.deltas, rejected)
	if err != nil {
		return txOutcome{}, err
	}
	if _, err := tx.Exec(ctx, finishBatchSQL, args...); err != nil {
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
// ledger holds for the others (by index). order is nil, or the indexes of
// every event sorted so (then not sorted again; order does not change).
func newEvents(ctx context.Context, conn *pgx.Conn, events []eventRow, order []int32, probe bool) ([]int32, map[int32]storedID, error) {
	if len(events) == 0 {
		return nil, nil, nil
	}
	if len(order) != len(events) {
		order = sortedOrder(events)
	}
	if !probe {
		return order, nil, nil
	}
	products := textArray(len(events), func(i int) string { return events[i].product })
	ids := textArray(len(events), func(i int) string { return events[i].eventID })
	known, err := probeLedger(ctx, conn, products, ids)
	if err != nil {
		return nil, nil, err
	}
	if len(known) == 0 {
		return order, known, nil
	}
	fresh := make([]int32, 0, len(events)-len(known))
	for _, i := range order {
		if _, ok := known[i]; !ok {
			fresh = append(fresh, i)
		}
	}
	return fresh, known, nil
}

// sortedOrder returns the indexes of events sorted by (product, id) (ties
// in index order).
func sortedOrder(events []eventRow) []int32 {
	order := make([]int32, len(events))
	for i := range order {
		order[i] = int32(i) //nolint:gosec // a batch holds fewer than 2^31 records
	}
	sortByKey(events, order)
	return order
}

// probeLedger runs probeSQL: what the ledger holds for each (products[i],
// ids[i]) it knows, by i (products and ids: text[] parameters, see
// textArray).
func probeLedger(ctx context.Context, conn *pgx.Conn, products, ids any) (map[int32]storedID, error) {
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

// aggregate sums the counter deltas of events[fresh[...]]: one all-agents
// row per business day and event, and one per-agent row per day, agent and
// event, sorted (the rollups' lock order). Measure sums are 128-bit
// (counters.Sum) and the rollups keep them as numeric: no batch of bounded
// measures (catalog.MaxMeasure) can overflow either.
func aggregate(events []eventRow, fresh []int32) []counters.Row {
	// A cell is its day and the numbers of its agent and event name (the
	// agent "" is the all-agents row): no string hashed twice, none moved
	// while sorting.
	type cell struct{ day, agent, event int32 }
	type sum struct {
		cell
		v counters.Values
	}
	agents, agentOf := intern{}, map[string]int32{}
	names, nameOf := intern{}, map[string]int32{}
	agents.of(agentOf, "")
	var sums []sum
	index := make(map[cell]int32, len(fresh)/4) // → index in sums
	add := func(c cell, e *eventRow) {
		k, ok := index[c]
		if !ok {
			k = int32(len(sums)) //nolint:gosec // at most two per event
			index[c] = k
			sums = append(sums, sum{cell: c})
		}
		v := &sums[k].v
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
		c := cell{day: e.day, event: names.of(nameOf, e.name)}
		add(c, e)
		if e.agentID != "" {
			c.agent = agents.of(agentOf, e.agentID)
			add(c, e)
		}
	}
	// The order of counters.SortRows (date, agent, event): a day's date
	// text sorts as the day (four-digit years), agents and names as their
	// ranks; each day's date text is made once.
	agentRank, nameRank := agents.ranks(), names.ranks()
	type key struct{ hi, lo uint64 }
	keys := make([]key, len(sums))
	for k := range sums {
		c := &sums[k].cell
		keys[k] = key{
			hi: uint64(uint32(c.day)^1<<31)<<32 | uint64(agentRank[c.agent]), //nolint:gosec // the day's bits, in order
			lo: uint64(nameRank[c.event])<<32 | uint64(k),                    //nolint:gosec // ranks and indexes are not negative
		}
	}
	slices.SortFunc(keys, func(a, b key) int { return cmp.Or(cmp.Compare(a.hi, b.hi), cmp.Compare(a.lo, b.lo)) })
	rows := make([]counters.Row, len(sums))
	var date string
	for k := range keys {
		c := &sums[uint32(keys[k].lo)]                         //nolint:gosec // lo holds an index of sums
		if k == 0 || c.day != sums[uint32(keys[k-1].lo)].day { //nolint:gosec // lo holds an index of sums
			date = dayTime(c.day).Format(counters.DateLayout)
		}
		rows[k] = counters.Row{Cell: counters.Cell{Date: date, AgentID: agents.s[c.agent], Event: names.s[c.event]}, Values: c.v}
	}
	return rows
}

// intern numbers strings in the order they come.
type intern struct{ s []string }

// of returns s's number (m: the numbers given so far).
func (in *intern) of(m map[string]int32, s string) int32 {
	n, ok := m[s]
	if !ok {
		n = int32(len(in.s)) //nolint:gosec // fewer strings than events
		m[s] = n
		in.s = append(in.s, s)
	}
	return n
}

// ranks returns, by number, each string's rank in sorted order.
func (in *intern) ranks() []int32 {
	order := make([]int32, len(in.s))
	for i := range order {
		order[i] = int32(i) //nolint:gosec // see of
	}
	slices.SortFunc(order, func(a, b int32) int { return strings.Compare(in.s[a], in.s[b]) })
	rank := make([]int32, len(in.s))
	for r, n := range order {
		rank[n] = int32(r) //nolint:gosec // see of
	}
	return rank
}

// finishBatchArgs returns finishBatchSQL's arguments: the batch id, the deltas as
// parallel arrays and as the outbox JSON (NULL when there are none), and
// the rejected records as parallel arrays.
func finishBatchArgs(batchID string, deltas []counters.Row, rejected []rejectedRow) ([]any, error) {
	n := len(deltas)
	events, mc, flag := make([]int64, n), make([]int64, n), make([]int64, n)
	for i := range deltas {
		r := &deltas[i]
		events[i], mc[i], flag[i] = r.Events, r.MeasureCount, r.FlagTrue
	}
	day := textArray(n, func(i int) string { return deltas[i].Date })
	agent := textArray(n, func(i int) string { return deltas[i].AgentID })
	event := textArray(n, func(i int) string { return deltas[i].Event })
	var outbox any
	if n > 0 {
		js, err := outboxJSON(deltas)
		if err != nil {
			return nil, fmt.Errorf("store: encode outbox row: %w", err)
		}
		outbox = string(js)
	}
	args := []any{batchID, outbox, day, agent, event, events, mc, numericArray(deltas), flag}
	return append(args, rejectedArgs(rejected)...), nil
}

// textArray is a text[] parameter of n texts (text(i)): the array's
// literal, every element quoted. pgx sends a string parameter as it is (in
// text format), where it encodes a []string with an allocation per
// element. A text with a NUL byte, which no literal can hold (nor a
// PostgreSQL text: the COPY of its row fails first), is sent as a []string.
func textArray(n int, text func(int) string) any {
	size := 2
	for i := range n {
		size += len(text(i)) + 3
	}
	var b strings.Builder // its String is not a copy
	b.Grow(size)
	b.WriteByte('{')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		t := text(i)
		start := 0
		for j := 0; j < len(t); j++ {
			switch t[j] {
			case '"', '\\':
				b.WriteString(t[start:j])
				b.WriteByte('\\')
				start = j // the quote or backslash itself comes with the rest
			case 0:
				all := make([]string, n)
				for k := range n {
					all[k] = text(k)
				}
				return all
			}
		}
		b.WriteString(t[start:])
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// numericArray is the numeric[] parameter of the measure sums of rows, as
// its literal (pgx encodes a numeric through a big.Int, allocating).
func numericArray(rows []counters.Row) string {
	var b strings.Builder
	b.Grow(2 + len(rows)*12)
	b.WriteByte('{')
	var num [24]byte
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		if v, ok := rows[i].MeasureSumMicro.Int64(); ok {
			b.Write(strconv.AppendInt(num[:0], v, 10))
		} else {
			b.WriteString(rows[i].MeasureSumMicro.String())
		}
	}
	b.WriteByte('}')
	return b.String()
}

// outboxJSON is counters.EncodeRows(rows), byte for byte, without
// encoding/json's reflection (TestOutboxJSON compares the two).
func outboxJSON(rows []counters.Row) ([]byte, error) {
	if rows == nil {
		return []byte("null"), nil
	}
	b := make([]byte, 0, 2+len(rows)*72)
	b = append(b, '[')
	for i := range rows {
		r := &rows[i]
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		b = append(b, `{"d":`...)
		if b, err = appendJSONText(b, r.Date); err != nil {
			return nil, err
		}
		if r.AgentID != "" {
			b = append(b, `,"a":`...)
			if b, err = appendJSONText(b, r.AgentID); err != nil {
				return nil, err
			}
		}
		b = append(b, `,"e":`...)
		if b, err = appendJSONText(b, r.Event); err != nil {
			return nil, err
		}
		b = append(b, `,"n":`...)
		b = strconv.AppendInt(b, r.Events, 10)
		if r.MeasureCount != 0 {
			b = append(b, `,"mc":`...)
			b = strconv.AppendInt(b, r.MeasureCount, 10)
		}
		if !r.MeasureSumMicro.IsZero() {
			b = append(b, `,"ms":`...)
			if v, ok := r.MeasureSumMicro.Int64(); ok {
				b = strconv.AppendInt(b, v, 10)
			} else {
				b = append(b, r.MeasureSumMicro.String()...)
			}
		}
		if r.FlagTrue != 0 {
			b = append(b, `,"f":`...)
			b = strconv.AppendInt(b, r.FlagTrue, 10)
		}
		b = append(b, '}')
	}
	return append(b, ']'), nil
}

// appendJSONText appends s as encoding/json writes a string: as it is when
// every byte is printable ASCII that needs no escape (dates, event names,
// agent ids in practice), else through encoding/json itself.
func appendJSONText(b []byte, s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			js, err := json.Marshal(s)
			return append(b, js...), err
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"'), nil
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

// probeAfterConflict is how many batches look their ids up first after a
// batch met an id already stored.
const probeAfterConflict = 16

// maxRaceRetries bounds the immediate re-runs of a batch the event-id ledger
// refused (a known id, or a race lost); after that the error goes to the
// caller's retry.
const maxRaceRetries = 3
