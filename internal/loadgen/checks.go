package loadgen

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
)

// SQL of the checks. Each reads the collector's schema (the connection's
// search_path).
const (
	outboxCountSQL   = `SELECT count(*) FROM analytics_redis_outbox`
	ledgerCountSQL   = `SELECT count(*) FROM analytics_event_ids`
	rejectedCountSQL = `SELECT count(*) FROM analytics_rejected_events`
	eventsCountSQL   = `SELECT count(*), count(DISTINCT (product, event_id)) FROM analytics_events`
	// perRequestSQL counts the stored events of each request: phase, k
	// (sequence number div $1, the events per request) and rows.
	perRequestSQL = `SELECT ` + PhaseSQL + `, ` + SeqSQL + ` / $1, count(*) FROM analytics_events GROUP BY 1, 2`
)

// Checker reads what the collector has stored: PostgreSQL through conn,
// the Redis day counters of days under layout.
type Checker struct {
	Conn   *pgx.Conn
	Redis  redis.UniversalClient
	Layout counters.Layout
	// Days are the business days whose counters RedisEvents adds up.
	Days []string
}

// RedisEvents adds up the event counts of every day hash of Days.
func (c *Checker) RedisEvents(ctx context.Context) (int64, error) {
	pipe := c.Redis.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(c.Days))
	for i, d := range c.Days {
		cmds[i] = pipe.HGetAll(ctx, c.Layout.DailyKey(d))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return 0, err
	}
	var n int64
	for _, cmd := range cmds {
		for f, v := range cmd.Val() {
			if !strings.HasSuffix(f, ":"+counters.FieldEvents) {
				continue
			}
			var x int64
			if _, err := fmt.Sscan(v, &x); err != nil {
				return 0, fmt.Errorf("loadgen: Redis field %s = %q: %w", f, v, err)
			}
			n += x
		}
	}
	return n, nil
}

func (c *Checker) count(ctx context.Context, sql string) (int64, error) {
	var n int64
	err := c.Conn.QueryRow(ctx, sql).Scan(&n)
	return n, err
}

// Outbox is the number of committed batches Redis has not confirmed.
func (c *Checker) Outbox(ctx context.Context) (int64, error) { return c.count(ctx, outboxCountSQL) }

// Ledger is the number of event ids stored.
func (c *Checker) Ledger(ctx context.Context) (int64, error) { return c.count(ctx, ledgerCountSQL) }

// WaitDrained waits until at least want events are counted in Redis, the
// outbox is empty and the ledger holds exactly as many ids as Redis counts:
// every event is committed in PostgreSQL and applied in Redis. It polls
// Redis every interval (the ledger's count(*) only once Redis is there) and
// returns the start of the poll that saw it. A poll under way when the
// time is up is finished (pgx closes a connection whose query is
// cancelled).
func (c *Checker) WaitDrained(ctx context.Context, want int64, interval, timeout time.Duration) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	qctx := context.WithoutCancel(ctx)
	var last string
	for {
		at := time.Now()
		rd, err := c.RedisEvents(qctx)
		if err != nil {
			return time.Time{}, err
		}
		last = fmt.Sprintf("Redis counts %d of %d events", rd, want)
		if rd >= want {
			ob, err := c.Outbox(qctx)
			if err != nil {
				return time.Time{}, err
			}
			led, err := c.Ledger(qctx)
			if err != nil {
				return time.Time{}, err
			}
			if ob == 0 && led == rd {
				return at, nil
			}
			last += fmt.Sprintf(", outbox %d, ledger %d", ob, led)
		}
		if !sleepUntil(ctx, at.Add(interval)) {
			return time.Time{}, fmt.Errorf("loadgen: not drained within %s (%s): %w", timeout, last, ctx.Err())
		}
	}
}

// Phase is a run whose events are checked at the end.
type Phase struct {
	Name   string
	Phase  uint16
	Result *Result
}

// Verification compares what was acknowledged with what was stored.
type Verification struct {
	// Acked is the number of events in acknowledged requests; Sent of every
	// request attempted.
	Acked int64 `json:"acked_events"`
	Sent  int64 `json:"sent_events"`
	// Stored and Distinct are count(*) and count(DISTINCT (product,
	// event_id)) of analytics_events; Ledger the ledger's rows.
	Stored   int64 `json:"stored_events"`
	Distinct int64 `json:"distinct_events"`
	Ledger   int64 `json:"ledger_ids"`
	// Rejected rows (none expected: every event is valid), outbox rows left
	// and events counted in Redis.
	Rejected    int64 `json:"rejected_rows"`
	Outbox      int64 `json:"outbox_rows"`
	RedisEvents int64 `json:"redis_events"`
	// Lost: acknowledged events not stored. Duplicates: rows beyond one per
	// event (count − distinct, and any request with more rows than events).
	// StoredUnacked: stored events of requests never acknowledged (allowed:
	// a timed-out request may have been taken). Unexpected: stored events
	// of no request sent.
	Lost          int64 `json:"lost"`
	Duplicates    int64 `json:"duplicates"`
	StoredUnacked int64 `json:"stored_unacked"`
	Unexpected    int64 `json:"unexpected"`
}

// OK reports zero loss, zero duplicates, nothing unexpected or rejected,
// and Redis equal to PostgreSQL.
func (v *Verification) OK() bool {
	return v.Lost == 0 && v.Duplicates == 0 && v.Unexpected == 0 && v.Rejected == 0 &&
		v.Outbox == 0 && v.Ledger == v.Distinct && v.RedisEvents == v.Ledger && v.Stored >= v.Acked
}

// Problems lists what is not OK, for people.
func (v *Verification) Problems() []string {
	var out []string
	add := func(bad bool, format string, a ...any) {
		if bad {
			out = append(out, fmt.Sprintf(format, a...))
		}
	}
	add(v.Lost != 0, "%d acknowledged events are not stored", v.Lost)
	add(v.Duplicates != 0, "%d duplicate rows", v.Duplicates)
	add(v.Unexpected != 0, "%d stored events were never sent", v.Unexpected)
	add(v.Rejected != 0, "%d rejected rows (every event sent is valid)", v.Rejected)
	add(v.Outbox != 0, "%d outbox rows left", v.Outbox)
	add(v.Ledger != v.Distinct, "ledger holds %d ids, analytics_events %d distinct events", v.Ledger, v.Distinct)
	add(v.RedisEvents != v.Ledger, "Redis counts %d events, the ledger %d", v.RedisEvents, v.Ledger)
	return out
}

// Verify checks every phase's requests against analytics_events: each
// acknowledged request's events stored once, nothing else stored (perRequest
// is the events per request of every phase).
func (c *Checker) Verify(ctx context.Context, phases []Phase, perRequest int) (*Verification, error) {
	v := &Verification{}
	var err error
	if err = c.Conn.QueryRow(ctx, eventsCountSQL).Scan(&v.Stored, &v.Distinct); err != nil {
		return nil, err
	}
	if v.Ledger, err = c.Ledger(ctx); err != nil {
		return nil, err
	}
	if v.Rejected, err = c.count(ctx, rejectedCountSQL); err != nil {
		return nil, err
	}
	if v.Outbox, err = c.Outbox(ctx); err != nil {
		return nil, err
	}
	if v.RedisEvents, err = c.RedisEvents(ctx); err != nil {
		return nil, err
	}
	v.Duplicates = v.Stored - v.Distinct

	type key struct {
		phase string
		k     int64
	}
	rows, err := c.Conn.Query(ctx, perRequestSQL, perRequest)
	if err != nil {
		return nil, err
	}
	stored := map[key]int64{}
	var p string
	var k, n int64
	if _, err := pgx.ForEachRow(rows, []any{&p, &k, &n}, func() error {
		stored[key{p, k}] = n
		return nil
	}); err != nil {
		return nil, err
	}
	for _, ph := range phases {
		hex := PhaseHex(ph.Phase)
		for i := range ph.Result.Records {
			rec := &ph.Result.Records[i]
			kk := key{hex, int64(rec.First) / int64(perRequest)} //nolint:gosec // below 2^48
			got := stored[kk]
			delete(stored, kk)
			v.Sent += int64(rec.Events)
			if got > int64(rec.Events) {
				v.Duplicates += got - int64(rec.Events)
				got = int64(rec.Events)
			}
			if rec.OK() {
				v.Acked += int64(rec.Events)
				v.Lost += int64(rec.Events) - got
			} else {
				v.StoredUnacked += got
			}
		}
	}
	for _, n := range stored {
		v.Unexpected += n
	}
	return v, nil
}
