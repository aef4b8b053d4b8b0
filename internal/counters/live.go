package counters

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// ErrUnreadable is a hash ReadDayAndMonth read whose fields are not the
// exporter's counters (an unknown field, a value that is not an integer).
var ErrUnreadable = errors.New("counters: not a counter hash")

// ReadDayAndMonth reads what Redis holds of a business day (DateLayout) and
// of its month: the all-agents and per-agent hashes of both, in one
// pipelined round trip (the four keys share the prefix's hash tag in a
// cluster). The day's rows have Date date, the month's the month
// ("2025-12"). A key that does not exist reads as no rows; a hash that
// holds something else is ErrUnreadable; other errors are Redis'.
func (l Layout) ReadDayAndMonth(ctx context.Context, rdb redis.UniversalClient, date string) (day, month []Row, err error) {
	m := MonthOf(date)
	keys := []struct {
		key, date string
		perAgent  bool
	}{
		{l.DailyKey(date), date, false},
		{l.AgentDailyKey(date), date, true},
		{l.MonthlyKey(m), m, false},
		{l.AgentMonthlyKey(m), m, true},
	}
	cmds := make([]*redis.MapStringStringCmd, len(keys))
	_, err = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.HGetAll(ctx, k.key)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("counters: read day %s and month %s: %w", date, m, err)
	}
	dayAgg, monthAgg := NewAggregator(), NewAggregator()
	for i, k := range keys {
		agg := dayAgg
		if i >= 2 {
			agg = monthAgg
		}
		if err := addHash(agg, k.date, k.key, k.perAgent, cmds[i].Val()); err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrUnreadable, err)
		}
	}
	return dayAgg.Rows(), monthAgg.Rows(), nil
}
