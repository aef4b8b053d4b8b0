package counters

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Field names inside a hash. An all-agents hash (daily, monthly) has fields
// "<event>:<field>"; a per-agent hash (agent:daily, agent:monthly) has
// "<agent_id>:<event>:<field>". Event names never contain ':', so a field is
// split from the right.
const (
	FieldEvents          = "events"
	FieldMeasureCount    = "measure_count"
	FieldMeasureSumMicro = "measure_sum_micro"
	FieldFlagTrue        = "flag_true"
)

// Layout names the Redis keys and their expiries.
//
//	<prefix>daily:<YYYY-MM-DD>         all-agents counters of a business day
//	<prefix>monthly:<YYYY-MM>          all-agents counters of a business month
//	<prefix>agent:daily:<YYYY-MM-DD>   per-agent counters of a business day
//	<prefix>agent:monthly:<YYYY-MM>    per-agent counters of a business month
//	<prefix>applied:<batch uuid>       claim of an outbox batch (no TTL)
//
// A daily hash expires DailyTTL after its day has ended (DayExpiry), a
// monthly hash MonthlyTTL after its month has ended (MonthExpiry); 0 means
// no expiry. The expiry is a fixed time, not renewed by writes, and a day or
// month past it is not written any more (KeepsDay, KeepsMonth): a late event
// for a day whose hash has expired would otherwise recreate the hash with
// that event alone, so Redis never shows part of a day.
//
// A claim marks an outbox batch as applied (value: the Unix time it was
// applied) or as held by an analyticsctl rebuild (value "rebuild:<Unix
// time>"). It has no TTL: exactly-once must not depend on a key that
// expires. Its applier deletes it once the batch's outbox row is gone; a
// claim left over by a crash is deleted by the store's SweepClaims.
type Layout struct {
	Prefix     string        // default "analytics:"
	DailyTTL   time.Duration // default 400 days
	MonthlyTTL time.Duration // default 0 (never)
	// ClaimTTL is how old a left-over claim (one whose outbox row is gone)
	// must be before SweepClaims deletes it; 0 = 10 minutes. Claims have no
	// TTL of their own: an applied batch's claim is deleted right after its
	// outbox row, and the age only keeps the sweep off claims in use.
	ClaimTTL time.Duration
	// Now is the clock that decides which days and months are past their
	// expiry. nil = time.Now; tests fix it.
	Now func() time.Time
}

// DailyKey is the all-agents key of a business day.
func (l Layout) DailyKey(date string) string { return l.Prefix + "daily:" + date }

// MonthlyKey is the all-agents key of a business month.
func (l Layout) MonthlyKey(month string) string { return l.Prefix + "monthly:" + month }

// AgentDailyKey is the per-agent key of a business day.
func (l Layout) AgentDailyKey(date string) string { return l.Prefix + "agent:daily:" + date }

// AgentMonthlyKey is the per-agent key of a business month.
func (l Layout) AgentMonthlyKey(month string) string { return l.Prefix + "agent:monthly:" + month }

// ClaimKey is the key that marks an outbox batch as applied.
func (l Layout) ClaimKey(batchID string) string { return l.Prefix + "applied:" + batchID }

// FieldName is the hash field of one number of a cell.
func FieldName(agentID, event, field string) string {
	if agentID == "" {
		return event + ":" + field
	}
	return agentID + ":" + event + ":" + field
}

// ParseField splits a hash field into agent id, event and number name.
func ParseField(f string, perAgent bool) (agentID, event, field string, err error) {
	i := strings.LastIndexByte(f, ':')
	if i < 0 {
		return "", "", "", fmt.Errorf("counters: malformed field %q", f)
	}
	field = f[i+1:]
	rest := f[:i]
	if !perAgent {
		return "", rest, field, nil
	}
	j := strings.LastIndexByte(rest, ':')
	if j < 0 {
		return "", "", "", fmt.Errorf("counters: malformed per-agent field %q", f)
	}
	return rest[:j], rest[j+1:], field, nil
}

// ClaimSweepMinAge is how old a left-over claim must be before it is swept
// when Layout.ClaimTTL is 0.
const ClaimSweepMinAge = 10 * time.Minute

// SweepMinAge returns the minimum age of a left-over claim before it is
// swept (ClaimTTL, default ClaimSweepMinAge).
func (l Layout) SweepMinAge() time.Duration {
	if l.ClaimTTL > 0 {
		return l.ClaimTTL
	}
	return ClaimSweepMinAge
}

// Clock returns the time now by the layout's clock (Now, or time.Now).
func (l Layout) Clock() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// DayExpiry returns when the daily hashes of a business day (DateLayout)
// expire: DailyTTL after the day has ended in every time zone, that is
// after 12:00 UTC of the next day. It is zero when DailyTTL is 0 (never).
func (l Layout) DayExpiry(date string) time.Time {
	if l.DailyTTL <= 0 {
		return time.Time{}
	}
	d, err := time.Parse(DateLayout, date)
	if err != nil { // not a day: keep it DailyTTL from now
		return l.Clock().Add(l.DailyTTL)
	}
	return d.AddDate(0, 0, 1).Add(12 * time.Hour).Add(l.DailyTTL)
}

// MonthExpiry returns when the monthly hashes of a business month
// (MonthLayout) expire: MonthlyTTL after 12:00 UTC of the first day of the
// next month. It is zero when MonthlyTTL is 0 (never).
func (l Layout) MonthExpiry(month string) time.Time {
	if l.MonthlyTTL <= 0 {
		return time.Time{}
	}
	m, err := time.Parse(MonthLayout, month)
	if err != nil {
		return l.Clock().Add(l.MonthlyTTL)
	}
	return m.AddDate(0, 1, 0).Add(12 * time.Hour).Add(l.MonthlyTTL)
}

// KeepsDay reports whether Redis keeps the daily hashes of date now: false
// once DayExpiry has passed. Such a day is not written (nor rebuilt) any
// more, and analyticsctl verify does not compare it.
func (l Layout) KeepsDay(date string) bool {
	e := l.DayExpiry(date)
	return e.IsZero() || l.Clock().Before(e)
}

// KeepsMonth is KeepsDay for the monthly hashes.
func (l Layout) KeepsMonth(month string) bool {
	e := l.MonthExpiry(month)
	return e.IsZero() || l.Clock().Before(e)
}

type hashOp struct {
	key    string
	ttl    time.Duration // until its expiry; 0 = none
	past   bool          // past its expiry: not written, deleted if still there
	fields map[string]Sum
}

// pexpire is the script's expiry argument of op: milliseconds to live, 0 for
// none, -1 for past (delete).
func (op *hashOp) pexpire() int64 {
	switch {
	case op.past:
		return -1
	case op.ttl > 0:
		return max(op.ttl.Milliseconds(), 1)
	}
	return 0
}

// ops turns rows into per-key increments: each row counts on its day and
// its month, in the all-agents or the per-agent hashes. A key past its
// expiry gets an op without fields.
func (l Layout) ops(rows []Row) []*hashOp {
	now := l.Clock()
	byKey := map[string]*hashOp{}
	var order []*hashOp
	get := func(key string, expiry time.Time) *hashOp {
		if op, ok := byKey[key]; ok {
			return op
		}
		op := &hashOp{key: key, fields: map[string]Sum{}}
		if !expiry.IsZero() {
			// Relative to our clock, so that Redis' clock does not matter
			// (and a test's fixed clock works).
			op.ttl = expiry.Sub(now)
			op.past = op.ttl <= 0
		}
		byKey[key] = op
		order = append(order, op)
		return op
	}
	for _, r := range rows {
		var day, month *hashOp
		dayExp, monthExp := l.DayExpiry(r.Date), l.MonthExpiry(MonthOf(r.Date))
		if r.AgentID == "" {
			day = get(l.DailyKey(r.Date), dayExp)
			month = get(l.MonthlyKey(MonthOf(r.Date)), monthExp)
		} else {
			day = get(l.AgentDailyKey(r.Date), dayExp)
			month = get(l.AgentMonthlyKey(MonthOf(r.Date)), monthExp)
		}
		for _, op := range []*hashOp{day, month} {
			if op.past {
				continue
			}
			addField(op, r.AgentID, r.Event, FieldEvents, SumOf(r.Events))
			addField(op, r.AgentID, r.Event, FieldMeasureCount, SumOf(r.MeasureCount))
			addField(op, r.AgentID, r.Event, FieldMeasureSumMicro, r.MeasureSumMicro)
			addField(op, r.AgentID, r.Event, FieldFlagTrue, SumOf(r.FlagTrue))
		}
	}
	return order
}

func addField(op *hashOp, agent, event, field string, v Sum) {
	if !v.IsZero() {
		k := FieldName(agent, event, field)
		op.fields[k] = op.fields[k].Add(v)
	}
}

// Errors of Apply. ErrOverflow and ErrNotCounter refuse a batch whole
// (IsRefused): nothing of it is written, and it is refused again until the
// counters are repaired (analyticsctl rebuild). ErrHeld: the batch is held by
// an analyticsctl rebuild that was interrupted; rerunning the rebuild
// settles it.
var (
	ErrOverflow   = errors.New("counters: an increment would take a Redis counter beyond ±9.0e18 (int64 overflow)")
	ErrNotCounter = errors.New("counters: a Redis key or field to increment is not an integer counter")
	ErrHeld       = errors.New("counters: the batch is held by an interrupted analyticsctl rebuild")
)

// IsRefused reports whether err is Redis refusing a batch for its numbers
// (ErrOverflow, ErrNotCounter), as opposed to Redis being unreachable.
func IsRefused(err error) bool {
	return errors.Is(err, ErrOverflow) || errors.Is(err, ErrNotCounter)
}

// overflowBound is the largest magnitude a counter may reach: int64 ends at
// 9.22e18, and Lua numbers are doubles (exact to ±1024 there), so the
// script compares with a margin far wider than its rounding.
const overflowBound = "9.0e18"

// applyScript applies a batch exactly once, atomically, in two passes:
//
//  1. if the batch is claimed already, it does nothing (0: applied before;
//     2: held by a rebuild);
//  2. it checks every increment before writing any: each key is a hash (or
//     missing), each field an integer, and the field stays within
//     ±overflowBound after the increment; otherwise it returns the error
//     ANALYTICS_OVERFLOW or ANALYTICS_NOT_COUNTER with the key and field,
//     having written nothing (HINCRBY failing half way would leave part of
//     a batch applied);
//  3. it claims the batch (no TTL, value: the time), applies every increment
//     and sets every key's expiry. A key past its expiry comes without
//     fields and is deleted: a day past its expiry never shows part of
//     itself.
//
// KEYS[1] claim key, KEYS[2..] hash keys.
// ARGV[1] the claim's value; then for each hash key: its time to live in
// milliseconds (0 = none, -1 = past its expiry: delete), the number of
// fields n, then n pairs of field and increment.
var applyScript = redis.NewScript(`
local claim = redis.call('GET', KEYS[1])
if claim then
  if string.sub(claim, 1, 8) == 'rebuild:' then
    return 2
  end
  return 0
end
local bound = tonumber('` + overflowBound + `')
local a = 2
for k = 2, #KEYS do
  local n = tonumber(ARGV[a + 1])
  a = a + 2
  if n > 0 then
    local t = redis.call('TYPE', KEYS[k])['ok']
    if t ~= 'hash' and t ~= 'none' then
      return redis.error_reply('ANALYTICS_NOT_COUNTER ' .. KEYS[k])
    end
  end
  for i = 1, n do
    local cur = redis.call('HGET', KEYS[k], ARGV[a])
    local v = 0
    if cur then
      if #cur > 20 or not (cur == '0' or string.find(cur, '^-?[1-9]%d*$')) then
        return redis.error_reply('ANALYTICS_NOT_COUNTER ' .. KEYS[k] .. ' ' .. ARGV[a])
      end
      v = tonumber(cur)
    end
    local s = v + tonumber(ARGV[a + 1])
    if math.abs(v) > bound or math.abs(s) > bound then
      return redis.error_reply('ANALYTICS_OVERFLOW ' .. KEYS[k] .. ' ' .. ARGV[a])
    end
    a = a + 2
  end
end
redis.call('SET', KEYS[1], ARGV[1])
a = 2
for k = 2, #KEYS do
  local ttl = tonumber(ARGV[a])
  local n = tonumber(ARGV[a + 1])
  a = a + 2
  for i = 1, n do
    redis.call('HINCRBY', KEYS[k], ARGV[a], ARGV[a + 1])
    a = a + 2
  end
  if ttl > 0 then
    redis.call('PEXPIRE', KEYS[k], ttl)
  elseif ttl < 0 then
    redis.call('DEL', KEYS[k])
  end
end
return 1
`)

// Apply applies a committed batch's rows to Redis exactly once: if the batch
// id is claimed already (applied before a crash, a retry, another
// collector), it does nothing and returns applied=false; if an interrupted
// rebuild holds it, it returns ErrHeld. A batch that would overflow a
// counter, or increment something that is not a counter, is refused whole
// (ErrOverflow, ErrNotCounter; see IsRefused) with nothing written. Days and
// months past their expiry are not written (see Layout).
//
// Exactly once holds as long as the claim outlives the batch's outbox row:
// the caller deletes the row, then the claim (see internal/store). All keys
// of a batch must be in one hash slot in Redis Cluster: use a hash tag in
// the prefix there (e.g. "{analytics}:").
func (l Layout) Apply(ctx context.Context, rdb redis.Scripter, batchID string, rows []Row) (applied bool, err error) {
	if batchID == "" {
		return false, errors.New("counters: empty batch id")
	}
	ops := l.ops(rows)
	keys := make([]string, 0, len(ops)+1)
	args := make([]any, 0, 1+len(ops)*8)
	keys = append(keys, l.ClaimKey(batchID))
	args = append(args, strconv.FormatInt(l.Clock().Unix(), 10))
	for _, op := range ops {
		keys = append(keys, op.key)
		args = append(args, op.pexpire(), len(op.fields))
		for f, v := range op.fields {
			// In decimal: a sum beyond 64 bits reaches the script, which
			// refuses the batch whole (ErrOverflow).
			args = append(args, f, v.String())
		}
	}
	res, err := applyScript.Run(ctx, rdb, keys, args...).Int64()
	if err != nil {
		msg := err.Error()
		switch {
		case strings.HasPrefix(msg, "ANALYTICS_OVERFLOW "):
			return false, fmt.Errorf("counters: apply batch %s: %w: %s", batchID, ErrOverflow, strings.TrimPrefix(msg, "ANALYTICS_OVERFLOW "))
		case strings.HasPrefix(msg, "ANALYTICS_NOT_COUNTER "):
			return false, fmt.Errorf("counters: apply batch %s: %w: %s", batchID, ErrNotCounter, strings.TrimPrefix(msg, "ANALYTICS_NOT_COUNTER "))
		}
		return false, fmt.Errorf("counters: apply batch %s: %w", batchID, err)
	}
	switch res {
	case 1:
		return true, nil
	case 2:
		return false, fmt.Errorf("counters: apply batch %s: %w", batchID, ErrHeld)
	}
	return false, nil
}

// Replace sets the hashes of the given days and months to exactly the rows
// given (rebuild): each key is deleted and rewritten in one MULTI/EXEC, so a
// reader never sees half of it. days and months list every key to rewrite,
// also those that end up empty. A day or month past its expiry is only
// deleted (see Layout).
func (l Layout) Replace(ctx context.Context, rdb redis.UniversalClient, days, months []string, rows []Row) error {
	ops := l.ops(rows)
	byKey := map[string]*hashOp{}
	for _, op := range ops {
		byKey[op.key] = op
	}
	var keys []string
	for _, d := range days {
		keys = append(keys, l.DailyKey(d), l.AgentDailyKey(d))
	}
	for _, m := range months {
		keys = append(keys, l.MonthlyKey(m), l.AgentMonthlyKey(m))
	}
	_, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.Del(ctx, k)
			op, ok := byKey[k]
			if !ok || op.past || len(op.fields) == 0 {
				continue
			}
			vals := make([]any, 0, 2*len(op.fields))
			for f, v := range op.fields {
				n, ok := v.Int64()
				if !ok {
					return fmt.Errorf("%w: %s field %s would be %s, beyond Redis' 64-bit integers", ErrOverflow, k, f, v)
				}
				vals = append(vals, f, n)
			}
			p.HSet(ctx, k, vals...)
			if ms := op.pexpire(); ms > 0 {
				p.PExpire(ctx, k, time.Duration(ms)*time.Millisecond)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("counters: rebuild: %w", err)
	}
	return nil
}

// ReadDay reads the all-agents and per-agent hashes of a business day as
// rows.
func (l Layout) ReadDay(ctx context.Context, rdb redis.UniversalClient, date string) ([]Row, error) {
	return l.read(ctx, rdb, date, l.DailyKey(date), l.AgentDailyKey(date))
}

// ReadMonth reads the all-agents and per-agent hashes of a business month as
// rows whose Date is the month ("2025-12").
func (l Layout) ReadMonth(ctx context.Context, rdb redis.UniversalClient, month string) ([]Row, error) {
	return l.read(ctx, rdb, month, l.MonthlyKey(month), l.AgentMonthlyKey(month))
}

func (l Layout) read(ctx context.Context, rdb redis.UniversalClient, date, allKey, agentKey string) ([]Row, error) {
	agg := NewAggregator()
	for _, k := range []struct {
		key      string
		perAgent bool
	}{{allKey, false}, {agentKey, true}} {
		h, err := rdb.HGetAll(ctx, k.key).Result()
		if err != nil {
			return nil, fmt.Errorf("counters: read %s: %w", k.key, err)
		}
		if err := addHash(agg, date, k.key, k.perAgent, h); err != nil {
			return nil, err
		}
	}
	return agg.Rows(), nil
}

// addHash adds the fields of the hash key (all-agents, or per-agent when
// perAgent) to agg as cells of date.
func addHash(agg *Aggregator, date, key string, perAgent bool, h map[string]string) error {
	for f, s := range h {
		agent, event, field, err := ParseField(f, perAgent)
		if err != nil {
			return err
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("counters: %s field %s: %w", key, f, err)
		}
		var v Values
		switch field {
		case FieldEvents:
			v.Events = n
		case FieldMeasureCount:
			v.MeasureCount = n
		case FieldMeasureSumMicro:
			v.MeasureSumMicro = SumOf(n)
		case FieldFlagTrue:
			v.FlagTrue = n
		default:
			return fmt.Errorf("counters: %s: unknown field %q", key, f)
		}
		agg.Add(Cell{Date: date, AgentID: agent, Event: event}, v)
	}
	return nil
}

// ClaimState is what a batch's claim says.
type ClaimState int

// Claim states.
const (
	// Unclaimed: no claim, the batch's increments are not in Redis.
	Unclaimed ClaimState = iota
	// Applied: the batch's increments are in Redis.
	Applied
	// Held: an analyticsctl rebuild holds the batch: its counts are in
	// the PostgreSQL rollups, its increments are not in Redis, and it must
	// not be applied (the rebuild writes the rollups instead).
	Held
)

// holdPrefix starts the value of a claim held by a rebuild.
const holdPrefix = "rebuild:"

// Claim is a batch's claim as read from Redis.
type Claim struct {
	State ClaimState
	// At is when the claim was set; zero when unknown (a claim of a
	// version before claims carried their time).
	At time.Time
}

// ParseClaim reads a claim's value.
func ParseClaim(v string) Claim {
	c := Claim{State: Applied}
	if rest, ok := strings.CutPrefix(v, holdPrefix); ok {
		c.State, v = Held, rest
	}
	// The version before wrote "1": no time.
	if sec, err := strconv.ParseInt(v, 10, 64); err == nil && sec > 1 {
		c.At = time.Unix(sec, 0).UTC()
	}
	return c
}

// BatchOfClaimKey returns the batch id of a claim key, and whether key is
// one.
func (l Layout) BatchOfClaimKey(key string) (string, bool) {
	return strings.CutPrefix(key, l.ClaimKey(""))
}

// ReadClaims returns the claims of the batches, in order (pipelined GETs).
func (l Layout) ReadClaims(ctx context.Context, rdb redis.UniversalClient, ids []string) ([]Claim, error) {
	return readClaims(ctx, rdb, l.ClaimKey, ids)
}

func readClaims(ctx context.Context, c redis.Cmdable, key func(string) string, ids []string) ([]Claim, error) {
	out := make([]Claim, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	cmds := make([]*redis.StringCmd, len(ids))
	_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.Get(ctx, key(id))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("counters: read claims: %w", err)
	}
	for i, cmd := range cmds {
		v, err := cmd.Result()
		switch {
		case errors.Is(err, redis.Nil):
		case err != nil:
			return nil, fmt.Errorf("counters: read claim %s: %w", ids[i], err)
		default:
			out[i] = ParseClaim(v)
		}
	}
	return out, nil
}

// HoldClaims makes a rebuild hold the batches: each gets the claim
// "rebuild:<Unix time>" unless it is held already. A batch claimed as
// applied is an error (the caller holds the outbox rows locked, so no
// applier can have applied them since it read their claims).
func (l Layout) HoldClaims(ctx context.Context, rdb redis.UniversalClient, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	v := holdPrefix + strconv.FormatInt(l.Clock().Unix(), 10)
	cmds := make([]*redis.BoolCmd, len(ids))
	if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.SetNX(ctx, l.ClaimKey(id), v, 0)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("counters: hold batches: %w", err)
	}
	var taken []string
	for i, cmd := range cmds {
		if !cmd.Val() {
			taken = append(taken, ids[i])
		}
	}
	claims, err := l.ReadClaims(ctx, rdb, taken)
	if err != nil {
		return err
	}
	for i, c := range claims {
		if c.State != Held {
			return fmt.Errorf("counters: hold batch %s: it is claimed as applied", taken[i])
		}
	}
	return nil
}

// ReleaseClaims deletes the claims of the batches. Only once a batch's
// outbox row is gone (committed) may its claim go.
func (l Layout) ReleaseClaims(ctx context.Context, rdb redis.UniversalClient, ids ...string) error {
	return releaseClaims(ctx, rdb, l.ClaimKey, ids)
}

func releaseClaims(ctx context.Context, c redis.Cmdable, key func(string) string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	// One DEL per key, pipelined: one round trip, and no CROSSSLOT error
	// whatever the prefix.
	_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, id := range ids {
			p.Del(ctx, key(id))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("counters: delete claims: %w", err)
	}
	return nil
}

// ScanClaims calls fn with every claim under the prefix, a few hundred at a
// time (SCAN, on every master of a cluster). A claim deleted meanwhile is
// left out.
func (l Layout) ScanClaims(ctx context.Context, rdb redis.UniversalClient, fn func(ids []string, claims []Claim) error) error {
	pattern := globEscape(l.ClaimKey("")) + "*"
	var mu sync.Mutex // the masters of a cluster are scanned concurrently: fn is called one chunk at a time
	scan := func(ctx context.Context, c redis.Cmdable) error {
		const chunk = 500
		iter := c.Scan(ctx, 0, pattern, chunk).Iterator()
		var ids []string
		flush := func() error {
			claims, err := readClaims(ctx, c, l.ClaimKey, ids)
			if err != nil {
				return err
			}
			var keptIDs []string
			var kept []Claim
			for i, cl := range claims {
				if cl.State != Unclaimed {
					keptIDs, kept = append(keptIDs, ids[i]), append(kept, cl)
				}
			}
			ids = ids[:0]
			if len(kept) == 0 {
				return nil
			}
			mu.Lock()
			defer mu.Unlock()
			return fn(keptIDs, kept)
		}
		for iter.Next(ctx) {
			if id, ok := l.BatchOfClaimKey(iter.Val()); ok {
				ids = append(ids, id)
			}
			if len(ids) == chunk {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err := iter.Err(); err != nil {
			return fmt.Errorf("counters: scan claims: %w", err)
		}
		return flush()
	}
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
	}
	return scan(ctx, rdb)
}

// globEscape escapes the characters SCAN MATCH treats specially.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// CheckEvictionPolicy reads Redis' maxmemory-policy (on every master of a
// cluster) and says whether the counters are safe under memory pressure:
//
//   - noeviction: safe ("", nil);
//   - volatile-*: Redis may evict keys with a TTL, which are the daily
//     hashes (and the monthly ones with a monthly TTL): a warning, since
//     counts can go missing (analyticsctl rebuild restores them). Claims
//     have no TTL, so nothing is ever counted twice;
//   - allkeys-*: an error: any key may go, counter hashes and the claims
//     that keep a batch from being counted twice;
//   - CONFIG refused (managed Redis, ACLs) or an unknown policy: a warning.
//
// An error reaching Redis is returned as it is.
func CheckEvictionPolicy(ctx context.Context, rdb redis.UniversalClient) (warning string, err error) {
	var mu sync.Mutex
	var policies []string
	refused := ""
	get := func(ctx context.Context, c redis.Cmdable) error {
		res, err := c.ConfigGet(ctx, "maxmemory-policy").Result()
		mu.Lock()
		defer mu.Unlock()
		if rerr, ok := errors.AsType[redis.Error](err); ok {
			refused = rerr.Error()
			return nil
		}
		if err != nil {
			return err
		}
		if p, ok := res["maxmemory-policy"]; ok {
			policies = append(policies, p)
		} else {
			refused = "no maxmemory-policy in the CONFIG GET reply"
		}
		return nil
	}
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return get(ctx, c) })
	} else {
		err = get(ctx, rdb)
	}
	if err != nil {
		return "", fmt.Errorf("counters: read Redis maxmemory-policy: %w", err)
	}
	const fix = "CONFIG SET maxmemory-policy noeviction (and set it in redis.conf, or in the parameter group of a managed Redis)"
	var warnings []string
	for _, p := range policies {
		switch {
		case p == "noeviction":
		case strings.HasPrefix(p, "allkeys-"):
			return "", fmt.Errorf("counters: Redis maxmemory-policy is %s: under memory pressure Redis may evict any key, "+
				"the counter hashes (counts lost until analyticsctl rebuild) and the claims of applied outbox batches "+
				"(a batch then counted twice); run %s", p, fix)
		case strings.HasPrefix(p, "volatile-"):
			warnings = append(warnings, fmt.Sprintf("Redis maxmemory-policy is %s: under memory pressure Redis may evict the keys that have a TTL, "+
				"the daily counter hashes (daily_ttl) and the monthly ones if monthly_ttl is set; Redis then shows less than PostgreSQL "+
				"until analyticsctl rebuild (outbox claims have no TTL and are kept, so nothing is counted twice); "+
				"to keep every count run %s", p, fix))
		default:
			warnings = append(warnings, fmt.Sprintf("Redis maxmemory-policy is %q, which this exporter does not know: "+
				"make sure Redis never evicts keys; run %s", p, fix))
		}
	}
	if refused != "" {
		warnings = append(warnings, fmt.Sprintf("cannot read Redis maxmemory-policy (%s): make sure it is noeviction; "+
			"with allkeys-* Redis may evict counts and the claims that keep a batch from being counted twice", refused))
	}
	return strings.Join(slices.Compact(warnings), "; "), nil
}
