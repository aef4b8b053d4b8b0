package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
	"github.com/otelcol-analytics/otelcol-analytics/internal/normalize"
	"github.com/otelcol-analytics/otelcol-analytics/internal/store"
)

// Reasons replay-rejected reports for rows that stay rejected without a
// catalog reason.
const (
	reasonNotAnEvent  = "not_an_event"  // the stored record has no event name
	reasonUndecodable = "undecodable"   // raw is not OTLP/JSON logs
	reasonEmpty       = "empty"         // raw holds no log record
	reasonTruncated   = "raw_truncated" // raw holds only the start of the record (raw_truncated)
	// reasonNoTime: the stored record has no time (Timestamp and
	// ObservedTimestamp 0) and the row no event_time, so its business day is
	// not known; replaying it would put it on the day of the replay.
	reasonNoTime = "no_event_time"
)

// beyondRetention is the store's reason for a record of a retired month.
const beyondRetention = string(catalog.ReasonBeyondRetention)

// replayPage is how many rows are read, re-normalised and stored per round.
const replayPage = 500

// reasonList is a repeatable --reason flag.
type reasonList []string

func (r *reasonList) String() string { return strings.Join(*r, ",") }

func (r *reasonList) Set(v string) error {
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*r = append(*r, s)
		}
	}
	return nil
}

// replayCandidate is one rejected row read back.
type replayCandidate struct {
	id      int64
	reason  string
	key     []byte    // the row's dedup_key, put on its records (see renormalise)
	at      time.Time // the row's event_time: the time the processor used; zero = NULL
	ld      plog.Logs // re-normalised
	eventID string    // analytics.event.id of the first record once accepted
	newWhy  string    // why it stays rejected; "" = it passes now
}

// replayStats counts per original reason.
type replayStats struct {
	replayed int
	still    map[string]int // new reason → rows
}

const selectRejectedSQL = `
SELECT id, reason, raw, raw_truncated, dedup_key, event_time FROM analytics_rejected_events
WHERE replayed_at IS NULL AND id > $1
  AND (cardinality($2::text[]) = 0 OR reason = ANY($2::text[]))
  AND ($3::timestamptz IS NULL OR received_at >= $3::timestamptz)
ORDER BY id
LIMIT $4`

const markReplayedSQL = `
UPDATE analytics_rejected_events AS r
SET replayed_at = now(), replayed_event_id = u.event_id
FROM unnest($1::bigint[], $2::text[]) AS u(id, event_id)
WHERE r.id = u.id AND r.replayed_at IS NULL`

// runReplay runs every rejected event not replayed yet (optionally only some
// reasons, or those received since a time) through the current catalog with
// internal/normalize, stores those that now pass with internal/store (the
// same write path as the exporter: deduplicated by product and event id,
// rollups and Redis updated exactly once), then marks their rows
// replayed_at / replayed_event_id. A second run replays nothing; a crash
// between storing and marking is harmless, because storing again dedupes by
// product and event id.
func runReplay(ctx context.Context, o *Options, args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("replay-rejected", o, stderr)
	var reasons reasonList
	fs.Var(&reasons, "reason", "replay only rows rejected for this reason (repeatable, or comma-separated), e.g. unknown_event")
	since := fs.String("since", "", "replay only rows received at or after this time: YYYY-MM-DD (midnight in --timezone) or RFC 3339")
	dryRun := fs.Bool("dry-run", false, "re-normalise and report, store nothing and mark nothing")
	limit := fs.Int("limit", 0, "replay at most this many rows (0 = all)")
	if err := parse(fs, o, args); err != nil {
		return ExitError, err
	}
	if *limit < 0 {
		return ExitError, errors.New("--limit must not be negative")
	}
	loc, err := o.Location()
	if err != nil {
		return ExitError, err
	}
	var sinceT *time.Time
	if *since != "" {
		t, err := parseSince(*since, loc)
		if err != nil {
			return ExitError, err
		}
		sinceT = &t
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
	var st *store.Store
	if !*dryRun {
		rdb, err := o.connectRedis(ctx)
		if err != nil {
			return ExitError, err
		}
		defer func() { _ = rdb.Close() }() // the command is over: a close error changes nothing
		st = store.New(pool, rdb, store.Config{Location: loc, Layout: hooksOf(ctx).layout(o.Layout())})
	}
	norm := normalize.New(cat, normalize.DefaultLimits())

	stats := map[string]*replayStats{}
	var read, replayed, inserted, duplicates, deferred, timeless int
	var last int64
	for *limit == 0 || read < *limit {
		page := replayPage
		if *limit > 0 {
			page = min(page, *limit-read)
		}
		cands, err := readRejected(ctx, pool, last, reasons, sinceT, page)
		if err != nil {
			return ExitError, err
		}
		if len(cands) == 0 {
			break
		}
		last = cands[len(cands)-1].id
		read += len(cands)
		now := time.Now()
		var pass []*replayCandidate
		for _, c := range cands {
			renormalise(norm, c, now)
			if c.newWhy == "" {
				pass = append(pass, c)
			}
		}
		if !*dryRun && len(pass) > 0 {
			ins, dup, def, err := storeCandidates(ctx, st, pass)
			if err != nil {
				return ExitError, fmt.Errorf("store replayed events (rows marked so far stay replayed; run again to continue): %w", err)
			}
			inserted += ins
			duplicates += dup
			deferred += def
			if err := markReplayed(ctx, pool, pass); err != nil {
				return ExitError, err
			}
		}
		for _, c := range cands {
			s := stats[c.reason]
			if s == nil {
				s = &replayStats{still: map[string]int{}}
				stats[c.reason] = s
			}
			if c.newWhy == "" {
				s.replayed++
				replayed++
			} else {
				s.still[c.newWhy]++
			}
			if c.newWhy == reasonNoTime {
				timeless++
			}
		}
		if len(cands) < page {
			break
		}
	}

	verb := "replayed"
	if *dryRun {
		verb = "would be replayed"
	}
	for _, reason := range slices.Sorted(maps.Keys(stats)) {
		s := stats[reason]
		still := 0
		var parts []string
		for _, why := range slices.Sorted(maps.Keys(s.still)) {
			still += s.still[why]
			parts = append(parts, fmt.Sprintf("%s: %d", why, s.still[why]))
		}
		line := fmt.Sprintf("%s: %d %s, %d still rejected", reason, s.replayed, verb, still)
		if still > 0 {
			line += " (" + strings.Join(parts, ", ") + ")"
		}
		printLine(stdout, line)
	}
	if timeless > 0 {
		printf(stdout, "note: %s no time (no Timestamp or ObservedTimestamp in raw, no event_time in the row): "+
			"left pending, as replaying would put them on the day of the replay\n",
			plural(timeless, "rejected event has", "rejected events have"))
	}
	if *dryRun {
		printf(stdout, "replay-rejected (dry run): %s read, %d would be replayed, %d still rejected; nothing written\n",
			plural(read, "rejected event", "rejected events"), replayed, read-replayed)
		return ExitOK, nil
	}
	printf(stdout, "replay-rejected: %s read, %d replayed (%d stored, %d already stored), %d still rejected\n",
		plural(read, "rejected event", "rejected events"), replayed, inserted, duplicates, read-replayed)
	if deferred > 0 {
		printf(stdout, "note: Redis did not answer for %s; the counts wait in the outbox (the collector applies them, or run `analyticsctl rebuild`)\n",
			plural(deferred, "batch", "batches"))
	}
	return ExitOK, nil
}

// parseSince reads YYYY-MM-DD (midnight in loc) or an RFC 3339 time.
func parseSince(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.ParseInLocation("2006-01-02", s, loc); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--since %q: want YYYY-MM-DD or an RFC 3339 time such as 2025-12-01T08:00:00+08:00", s)
}

func readRejected(ctx context.Context, q querier, after int64, reasons []string, since *time.Time, limit int) ([]*replayCandidate, error) {
	if reasons == nil {
		reasons = []string{}
	}
	rows, err := q.Query(ctx, selectRejectedSQL, after, reasons, since, limit)
	if err != nil {
		return nil, fmt.Errorf("read rejected events: %w", err)
	}
	defer rows.Close()
	var out []*replayCandidate
	var um plog.JSONUnmarshaler
	for rows.Next() {
		var c replayCandidate
		var raw []byte
		var truncated bool
		var at pgtype.Timestamptz
		if err := rows.Scan(&c.id, &c.reason, &raw, &truncated, &c.key, &at); err != nil {
			return nil, fmt.Errorf("read rejected events: %w", err)
		}
		if at.Valid {
			c.at = at.Time
		}
		if truncated {
			c.newWhy = reasonTruncated
			out = append(out, &c)
			continue
		}
		ld, err := um.UnmarshalLogs(raw)
		switch {
		case err != nil:
			c.newWhy = reasonUndecodable
		case ld.LogRecordCount() == 0:
			c.newWhy = reasonEmpty
		default:
			c.ld = ld
		}
		out = append(out, &c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read rejected events: %w", err)
	}
	return out, nil
}

// renormalise runs every record of c through the normaliser. The row passes
// when every record it holds (one, as the exporter stores them) is
// accepted; otherwise newWhy is the first record's new reason.
//
// A record without a Timestamp is normalised with the row's event_time (the
// time the processor used when it rejected it) as its ObservedTimestamp, so
// it lands on its original business day, not on the day of the replay, and
// replaying it twice derives the same id. ObservedTimestamp rather than
// Timestamp: the content hash of a record with its sender's event.id covers
// its Timestamp only, so the replayed event keeps the hash a resend of the
// original record has (a duplicate, not a duplicate_conflict), and a
// derived id is of the time used either way. Without event_time and without
// an ObservedTimestamp the row stays pending (no_event_time). An accepted
// record gets the row's dedup key as catalog.AttrRejectKey: if the store
// refuses it or finds its id stored with other content, the rejected row
// it would write lands on this row (ON CONFLICT DO NOTHING) instead of
// adding one.
func renormalise(n *normalize.Normalizer, c *replayCandidate, now time.Time) {
	if c.newWhy != "" {
		return
	}
	rls := c.ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				if lr.Timestamp() == 0 {
					switch {
					case !c.at.IsZero():
						lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(c.at))
					case lr.ObservedTimestamp() == 0:
						if c.newWhy == "" {
							c.newWhy = reasonNoTime
						}
						continue
					}
				}
				r := n.Record(rl.Resource(), sls.At(j).Scope(), lr, now)
				switch r.Outcome {
				case normalize.Accepted:
					lr.Attributes().PutEmptyBytes(catalog.AttrRejectKey).FromRaw(c.key)
					if c.eventID == "" {
						c.eventID = catalog.Accepted(rl.Resource(), lr).ID
					}
				case normalize.Rejected:
					if c.newWhy == "" {
						c.newWhy = string(r.Reason)
					}
				default:
					if c.newWhy == "" {
						c.newWhy = reasonNotAnEvent
					}
				}
			}
		}
	}
}

// storeCandidates stores the accepted candidates in one Write. If
// PostgreSQL refuses some record, or its product and id are stored already
// with other content, or it is of a business month retention dropped (the
// store then keeps it in the rejected table, where its row already is), it
// writes them again one by one to find out which (those stored by the first
// Write are duplicates by then): those stay rejected, with reason
// storage_refused, duplicate_conflict or beyond_retention. duplicates
// counts the records that were already stored before this run, with the
// same content (a replay that crashed before marking its rows, or the same
// event sent again meanwhile).
func storeCandidates(ctx context.Context, st *store.Store, cands []*replayCandidate) (inserted, duplicates, deferred int, err error) {
	all := plog.NewLogs()
	for _, c := range cands {
		rls := c.ld.ResourceLogs()
		for i := 0; i < rls.Len(); i++ {
			rls.At(i).CopyTo(all.ResourceLogs().AppendEmpty())
		}
	}
	res, err := st.Write(ctx, all)
	if err != nil {
		return 0, 0, 0, err
	}
	inserted, duplicates, deferred = res.Inserted, res.Duplicates, res.RedisDeferred
	if res.RefusedByDB == 0 && res.Conflicts == 0 && res.RejectedByReason[beyondRetention] == 0 {
		return inserted, duplicates, deferred, nil
	}
	for _, c := range cands {
		r, err := st.Write(ctx, c.ld)
		if err != nil {
			return inserted, duplicates, deferred, err
		}
		inserted += r.Inserted
		deferred += r.RedisDeferred
		switch {
		case r.RefusedByDB > 0:
			c.newWhy = string(catalog.ReasonStorageRefused)
		case r.Conflicts > 0:
			c.newWhy = string(catalog.ReasonDuplicateConflict)
		case r.RejectedByReason[beyondRetention] > 0:
			c.newWhy = beyondRetention
		}
	}
	return inserted, duplicates, deferred, nil
}

// markReplayed sets replayed_at and replayed_event_id on the rows that were
// stored (those that still pass).
func markReplayed(ctx context.Context, q querier, cands []*replayCandidate) error {
	var ids []int64
	var eventIDs []string
	for _, c := range cands {
		if c.newWhy == "" {
			ids = append(ids, c.id)
			eventIDs = append(eventIDs, c.eventID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	if _, err := q.Exec(ctx, markReplayedSQL, ids, eventIDs); err != nil {
		return fmt.Errorf("mark rejected events replayed (they are stored; the next run finds them already stored and marks them): %w", err)
	}
	return nil
}
