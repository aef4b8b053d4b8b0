package loadgen

import (
	"context"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
)

// sampleVisibleSQL returns which of the ids ($1) of product $2 the ledger
// holds: one primary-key probe per id (an = ANY($1) may be planned as a
// sequential scan of the ledger, see BENCHMARKS.md).
const sampleVisibleSQL = `SELECT u.id FROM unnest($1::text[]) AS u(id)
WHERE EXISTS (SELECT 1 FROM analytics_event_ids i WHERE i.product = $2 AND i.event_id = u.id)`

// Visibility watches sampled events arrive: in PostgreSQL (the event id in
// the ledger, committed with its row in analytics_events) and in Redis (the
// probe agent's count in the per-agent day hash, applied after the commit).
// Every Interval it asks both about the samples not yet seen, with one
// query and one HMGET, so polling stays cheap whatever the rate. A sample
// is seen at the start of the poll that found it: it became visible between
// the previous poll and that one.
type Visibility struct {
	conn     *pgx.Conn
	rdb      redis.UniversalClient
	key      string // the per-agent day hash of the probes
	interval time.Duration

	mu      sync.Mutex
	samples []*sample
	pgWait  map[*sample]struct{}
	rdWait  map[*sample]struct{}
	polls   int
}

type sample struct {
	id, product, field string
	sent, pg, redis    time.Time
}

// NewVisibility watches the ledger through conn (its search_path the
// collector's schema) and the probes' hash key of rdb (layout.AgentDailyKey
// of Generator.ProbeDay), every interval (default 20 ms).
func NewVisibility(conn *pgx.Conn, rdb redis.UniversalClient, key string, interval time.Duration) *Visibility {
	if interval <= 0 {
		interval = 20 * time.Millisecond
	}
	return &Visibility{
		conn: conn, rdb: rdb, key: key, interval: interval,
		pgWait: map[*sample]struct{}{}, rdWait: map[*sample]struct{}{},
	}
}

// Add samples request r, sent at: its first event in PostgreSQL and, when
// it has a probe agent, in Redis. Use it as Options.OnSend.
func (v *Visibility) Add(r *Request, at time.Time) {
	s := &sample{id: r.SampleID, product: r.SampleProduct, sent: at}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.samples = append(v.samples, s)
	v.pgWait[s] = struct{}{}
	if r.ProbeAgent != "" {
		s.field = counters.FieldName(r.ProbeAgent, ProbeEvent, counters.FieldEvents)
		v.rdWait[s] = struct{}{}
	}
}

// Pending is the number of samples not yet seen in PostgreSQL and in Redis.
func (v *Visibility) Pending() (pg, rd int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.pgWait), len(v.rdWait)
}

// Run polls until ctx ends. It returns nil then, or the first poll error.
// A poll under way when ctx ends is finished, not cancelled: pgx closes a
// connection whose query is cancelled, and the connection is needed after.
func (v *Visibility) Run(ctx context.Context) error {
	t := time.NewTicker(v.interval)
	defer t.Stop()
	qctx := context.WithoutCancel(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := v.poll(qctx); err != nil {
			return err
		}
	}
}

func (v *Visibility) poll(ctx context.Context) error {
	v.mu.Lock()
	v.polls++
	byProduct := map[string][]*sample{}
	for s := range v.pgWait {
		byProduct[s.product] = append(byProduct[s.product], s)
	}
	var probes []*sample
	for s := range v.rdWait {
		probes = append(probes, s)
	}
	v.mu.Unlock()

	for product, ss := range byProduct {
		ids := make([]string, len(ss))
		byID := make(map[string]*sample, len(ss))
		for i, s := range ss {
			ids[i] = s.id
			byID[s.id] = s
		}
		at := time.Now()
		rows, err := v.conn.Query(ctx, sampleVisibleSQL, ids, product)
		if err != nil {
			return err
		}
		seen, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		v.mu.Lock()
		for _, id := range seen {
			if s := byID[id]; s != nil {
				s.pg = at
				delete(v.pgWait, s)
			}
		}
		v.mu.Unlock()
	}

	if len(probes) > 0 {
		fields := make([]string, len(probes))
		for i, s := range probes {
			fields[i] = s.field
		}
		at := time.Now()
		vals, err := v.rdb.HMGet(ctx, v.key, fields...).Result()
		if err != nil {
			return err
		}
		v.mu.Lock()
		for i, val := range vals {
			if val != nil {
				probes[i].redis = at
				delete(v.rdWait, probes[i])
			}
		}
		v.mu.Unlock()
	}
	return nil
}

// Wait polls until no sample is pending or timeout passes (or ctx ends;
// a poll under way is finished, as in Run). Run must not be running at the
// same time.
func (v *Visibility) Wait(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	qctx := context.WithoutCancel(ctx)
	for {
		if pg, rd := v.Pending(); pg == 0 && rd == 0 {
			return nil
		}
		if err := v.poll(qctx); err != nil {
			return err
		}
		if !sleepUntil(ctx, time.Now().Add(v.interval)) {
			return ctx.Err()
		}
	}
}

// Latencies are the send-to-visible times of the samples seen, sorted, in
// PostgreSQL and in Redis, and the number of samples never seen in each.
func (v *Visibility) Latencies() (pg, rd []time.Duration, missingPG, missingRedis int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, s := range v.samples {
		if !s.pg.IsZero() {
			pg = append(pg, s.pg.Sub(s.sent))
		}
		if !s.redis.IsZero() {
			rd = append(rd, s.redis.Sub(s.sent))
		}
	}
	sort.Slice(pg, func(i, j int) bool { return pg[i] < pg[j] })
	sort.Slice(rd, func(i, j int) bool { return rd[i] < rd[j] })
	return pg, rd, len(v.pgWait), len(v.rdWait)
}

// Polls is the number of polls made.
func (v *Visibility) Polls() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.polls
}

// Percentile is the q-quantile (0 … 1) of sorted durations by the
// nearest-rank method; 0 for none.
func Percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
