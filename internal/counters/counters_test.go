package counters

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-analytics/otelcol-analytics/internal/testdb"
)

func TestParseField(t *testing.T) {
	a, e, f, err := ParseField("agent:with:colons:agent.session_takeover:measure_sum_micro", true)
	require.NoError(t, err)
	assert.Equal(t, []string{"agent:with:colons", "agent.session_takeover", "measure_sum_micro"}, []string{a, e, f})
	a, e, f, err = ParseField("session.start:events", false)
	require.NoError(t, err)
	assert.Equal(t, []string{"", "session.start", "events"}, []string{a, e, f})
	_, _, _, err = ParseField("nocolon", false)
	require.Error(t, err)
}

func TestApplyExactlyOnceAndReplace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := testdb.RedisPrefix(t)
	l := Layout{Prefix: prefix}
	rows := []Row{
		{Cell{Date: "2025-11-30", Event: "session.start"}, Values{Events: 2}},
		{Cell{Date: "2025-12-01", Event: "session.message"}, Values{Events: 3, MeasureCount: 3, MeasureSumMicro: SumOf(4_500_000)}},
		{Cell{Date: "2025-12-01", AgentID: "a:1", Event: "ticket.closed"}, Values{Events: 2, MeasureCount: 2, MeasureSumMicro: SumOf(7_000_000), FlagTrue: 1}},
	}
	applied, err := l.Apply(ctx, rdb, "b1", rows)
	require.NoError(t, err)
	require.True(t, applied)
	applied, err = l.Apply(ctx, rdb, "b1", rows)
	require.NoError(t, err)
	require.False(t, applied, "a claimed batch must not apply twice")

	assert.Equal(t, map[string]string{"session.start:events": "2"}, rdb.HGetAll(ctx, prefix+"daily:2025-11-30").Val())
	assert.Equal(t, map[string]string{"session.start:events": "2"}, rdb.HGetAll(ctx, prefix+"monthly:2025-11").Val())
	assert.Equal(t, map[string]string{
		"session.message:events": "3", "session.message:measure_count": "3", "session.message:measure_sum_micro": "4500000",
	}, rdb.HGetAll(ctx, prefix+"monthly:2025-12").Val())
	assert.Equal(t, map[string]string{
		"a:1:ticket.closed:events": "2", "a:1:ticket.closed:measure_count": "2",
		"a:1:ticket.closed:measure_sum_micro": "7000000", "a:1:ticket.closed:flag_true": "1",
	}, rdb.HGetAll(ctx, prefix+"agent:daily:2025-12-01").Val())
	assert.Equal(t, time.Duration(-1), rdb.TTL(ctx, prefix+"applied:b1").Val(), "a claim has no TTL")
	claims, err := l.ReadClaims(ctx, rdb, []string{"b1", "b2"})
	require.NoError(t, err)
	assert.Equal(t, Applied, claims[0].State)
	assert.WithinDuration(t, time.Now(), claims[0].At, 5*time.Second, "the claim's value is the time it was applied")
	assert.Equal(t, Claim{}, claims[1], "b2 is unclaimed")

	got, err := l.ReadDay(ctx, rdb, "2025-12-01")
	require.NoError(t, err)
	assert.Equal(t, rows[1:], got)

	// Replace rewrites a day whole, also to nothing.
	require.NoError(t, l.Replace(ctx, rdb, []string{"2025-11-30"}, []string{"2025-11"}, nil))
	assert.Equal(t, int64(0), rdb.Exists(ctx, prefix+"daily:2025-11-30", prefix+"monthly:2025-11").Val())
	require.NoError(t, l.Replace(ctx, rdb, []string{"2025-11-30"}, []string{"2025-11"}, rows[:1]))
	got, err = l.ReadMonth(ctx, rdb, "2025-11")
	require.NoError(t, err)
	assert.Equal(t, []Row{{Cell{Date: "2025-11", Event: "session.start"}, Values{Events: 2}}}, got)
}
