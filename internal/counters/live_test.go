package counters

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-analytics/otelcol-analytics/internal/testdb"
)

// TestReadDayAndMonth: one pipelined read returns what Apply wrote to the
// day's and the month's hashes, all-agents and per-agent, and nothing of
// another day of the month in the day's rows; a day never written reads
// as no rows, its month as the month's.
func TestReadDayAndMonth(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := testdb.RedisPrefix(t)
	l := Layout{Prefix: prefix}
	rows := []Row{
		{Cell{Date: "2025-12-01", Event: "session.start"}, Values{Events: 2}},
		{Cell{Date: "2025-12-01", AgentID: "a1", Event: "ticket.closed"}, Values{Events: 1, MeasureCount: 1, MeasureSumMicro: SumOf(4_500_000), FlagTrue: 1}},
		{Cell{Date: "2025-12-01", Event: "ticket.closed"}, Values{Events: 1, MeasureCount: 1, MeasureSumMicro: SumOf(4_500_000), FlagTrue: 1}},
		{Cell{Date: "2025-12-02", Event: "session.start"}, Values{Events: 3}},
	}
	applied, err := l.Apply(ctx, rdb, "b1", rows)
	require.NoError(t, err)
	require.True(t, applied)

	day, month, err := l.ReadDayAndMonth(ctx, rdb, "2025-12-01")
	require.NoError(t, err)
	assert.Equal(t, []Row{rows[0], rows[2], rows[1]}, sorted(day))
	assert.Equal(t, []Row{
		{Cell{Date: "2025-12", Event: "session.start"}, Values{Events: 5}},
		{Cell{Date: "2025-12", Event: "ticket.closed"}, Values{Events: 1, MeasureCount: 1, MeasureSumMicro: SumOf(4_500_000), FlagTrue: 1}},
		{Cell{Date: "2025-12", AgentID: "a1", Event: "ticket.closed"}, Values{Events: 1, MeasureCount: 1, MeasureSumMicro: SumOf(4_500_000), FlagTrue: 1}},
	}, sorted(month))

	// The same as the two reads it replaces.
	wantDay, err := l.ReadDay(ctx, rdb, "2025-12-01")
	require.NoError(t, err)
	assert.Equal(t, wantDay, day)
	wantMonth, err := l.ReadMonth(ctx, rdb, "2025-12")
	require.NoError(t, err)
	assert.Equal(t, wantMonth, month)

	day, month, err = l.ReadDayAndMonth(ctx, rdb, "2025-12-03")
	require.NoError(t, err)
	assert.Empty(t, day)
	assert.Len(t, month, 3)
}

func sorted(rows []Row) []Row {
	out := append([]Row(nil), rows...)
	SortRows(out)
	return out
}
