package counters

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
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

// Layout names the Redis keys and their TTLs.
//
//	<prefix>daily:<YYYY-MM-DD>         all-agents counters of a business day
//	<prefix>monthly:<YYYY-MM>          all-agents counters of a business month
//	<prefix>agent:daily:<YYYY-MM-DD>   per-agent counters of a business day
//	<prefix>agent:monthly:<YYYY-MM>    per-agent counters of a business month
//	<prefix>applied:<batch uuid>       claim of an applied outbox batch
//
// A TTL counts from the last write to the key (every write renews it); 0
// means no expiry.
type Layout struct {
	Prefix     string        // default "analytics:"
	DailyTTL   time.Duration // default 400 days
	MonthlyTTL time.Duration // default 0 (never)
	ClaimTTL   time.Duration // default 7 days; how long a batch id stays claimed
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

type hashOp struct {
	key    string
	ttl    time.Duration
	fields map[string]int64
}

// ops turns rows into per-key increments: each row counts on its day and
// its month, in the all-agents or the per-agent hashes.
func (l Layout) ops(rows []Row) []*hashOp {
	byKey := map[string]*hashOp{}
	var order []*hashOp
	get := func(key string, ttl time.Duration) *hashOp {
		if op, ok := byKey[key]; ok {
			return op
		}
		op := &hashOp{key: key, ttl: ttl, fields: map[string]int64{}}
		byKey[key] = op
		order = append(order, op)
		return op
	}
	for _, r := range rows {
		var day, month *hashOp
		if r.AgentID == "" {
			day = get(l.DailyKey(r.Date), l.DailyTTL)
			month = get(l.MonthlyKey(MonthOf(r.Date)), l.MonthlyTTL)
		} else {
			day = get(l.AgentDailyKey(r.Date), l.DailyTTL)
			month = get(l.AgentMonthlyKey(MonthOf(r.Date)), l.MonthlyTTL)
		}
		for _, op := range []*hashOp{day, month} {
			addField(op, r.AgentID, r.Event, FieldEvents, r.Events)
			addField(op, r.AgentID, r.Event, FieldMeasureCount, r.MeasureCount)
			addField(op, r.AgentID, r.Event, FieldMeasureSumMicro, r.MeasureSumMicro)
			addField(op, r.AgentID, r.Event, FieldFlagTrue, r.FlagTrue)
		}
	}
	return order
}

func addField(op *hashOp, agent, event, field string, v int64) {
	if v != 0 {
		op.fields[FieldName(agent, event, field)] += v
	}
}

// applyScript claims the batch (SET NX) and, only if the claim is new,
// applies every increment and renews every TTL, atomically.
//
// KEYS[1] claim key, KEYS[2..] hash keys.
// ARGV[1] claim TTL in seconds; then for each hash key: its TTL in seconds
// (0 = none), the number of fields n, then n pairs of field and increment.
var applyScript = redis.NewScript(`
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  return 0
end
local a = 2
for k = 2, #KEYS do
  local ttl = tonumber(ARGV[a])
  local n = tonumber(ARGV[a + 1])
  a = a + 2
  for i = 1, n do
    redis.call('HINCRBY', KEYS[k], ARGV[a], ARGV[a + 1])
    a = a + 2
  end
  if ttl > 0 then
    redis.call('EXPIRE', KEYS[k], ttl)
  end
end
return 1
`)

// Apply applies a committed batch's rows to Redis exactly once: if the batch
// id was already claimed (applied before a crash, a retry, another
// collector), it does nothing and returns applied=false. All keys of a batch
// must be in one hash slot in Redis Cluster: use a hash tag in the prefix
// there (e.g. "{analytics}:").
func (l Layout) Apply(ctx context.Context, rdb redis.Scripter, batchID string, rows []Row) (applied bool, err error) {
	if batchID == "" {
		return false, errors.New("counters: empty batch id")
	}
	ops := l.ops(rows)
	keys := make([]string, 0, len(ops)+1)
	args := make([]any, 0, 1+len(ops)*8)
	keys = append(keys, l.ClaimKey(batchID))
	args = append(args, ttlSeconds(l.ClaimTTL, 7*24*time.Hour))
	for _, op := range ops {
		keys = append(keys, op.key)
		args = append(args, ttlSeconds(op.ttl, 0), len(op.fields))
		for f, v := range op.fields {
			args = append(args, f, v)
		}
	}
	res, err := applyScript.Run(ctx, rdb, keys, args...).Int64()
	if err != nil {
		return false, fmt.Errorf("counters: apply batch %s: %w", batchID, err)
	}
	return res == 1, nil
}

func ttlSeconds(d, def time.Duration) int64 {
	if d <= 0 {
		d = def
	}
	return int64(d / time.Second)
}

// Replace sets the hashes of the given days and months to exactly the rows
// given (rebuild): each key is deleted and rewritten in one MULTI/EXEC, so a
// reader never sees half of it. days and months list every key to rewrite,
// also those that end up empty.
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
			if !ok || len(op.fields) == 0 {
				continue
			}
			vals := make([]any, 0, 2*len(op.fields))
			for f, v := range op.fields {
				vals = append(vals, f, v)
			}
			p.HSet(ctx, k, vals...)
			if op.ttl > 0 {
				p.Expire(ctx, k, op.ttl)
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
		for f, s := range h {
			agent, event, field, err := ParseField(f, k.perAgent)
			if err != nil {
				return nil, err
			}
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("counters: %s field %s: %w", k.key, f, err)
			}
			var v Values
			switch field {
			case FieldEvents:
				v.Events = n
			case FieldMeasureCount:
				v.MeasureCount = n
			case FieldMeasureSumMicro:
				v.MeasureSumMicro = n
			case FieldFlagTrue:
				v.FlagTrue = n
			default:
				return nil, fmt.Errorf("counters: %s: unknown field %q", k.key, f)
			}
			agg.Add(Cell{Date: date, AgentID: agent, Event: event}, v)
		}
	}
	return agg.Rows(), nil
}
