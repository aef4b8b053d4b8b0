package counters

import (
	"context"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-analytics/otelcol-analytics/internal/testdb"
)

// TestApplyRefusesBatchWhole: a batch one of whose increments would
// overflow int64, or hit a field or key that is not a counter, is refused
// with nothing written (no claim either), although its first keys would
// have taken their increments; once the counters are repaired it applies.
func TestApplyRefusesBatchWhole(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rows := []Row{
		{Cell{Date: "2025-12-01", Event: "session.start"}, Values{Events: 1}},
		{Cell{Date: "2025-12-01", AgentID: "a1", Event: "ticket.closed"}, Values{Events: 1, MeasureCount: 1, MeasureSumMicro: SumOf(5)}},
		{Cell{Date: "2025-12-02", Event: "session.start"}, Values{Events: 1}},
	}
	const field = "session.start:events"
	for _, tc := range []struct {
		name    string
		preset  any    // the value of the field before
		notHash bool   // preset is a string key instead of a hash field
		want    error  // nil: applied
		applied string // the field after an accepted batch
	}{
		{name: "over 9.0e18", preset: int64(9_100_000_000_000_000_000), want: ErrOverflow},
		{name: "at int64's end", preset: int64(math.MaxInt64), want: ErrOverflow},
		{name: "below -9.0e18", preset: int64(-9_100_000_000_000_000_000), want: ErrOverflow},
		{name: "just within the bound", preset: int64(8_999_999_999_999_999_000), applied: "8999999999999999001"},
		{name: "not a number", preset: "abc", want: ErrNotCounter},
		{name: "hex Lua would read", preset: "0x10", want: ErrNotCounter},
		{name: "leading zero", preset: "01", want: ErrNotCounter},
		{name: "not a hash", preset: "7", notHash: true, want: ErrNotCounter},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rdb, prefix := testdb.RedisPrefix(t)
			l := Layout{Prefix: prefix}
			bad := l.DailyKey("2025-12-02")
			if tc.notHash {
				require.NoError(t, rdb.Set(ctx, bad, tc.preset, 0).Err())
			} else {
				require.NoError(t, rdb.HSet(ctx, bad, field, tc.preset).Err())
			}
			applied, err := l.Apply(ctx, rdb, "b1", rows)
			if tc.want == nil {
				require.NoError(t, err)
				require.True(t, applied)
				assert.Equal(t, tc.applied, rdb.HGet(ctx, bad, field).Val())
				assert.Equal(t, "1", rdb.HGet(ctx, l.DailyKey("2025-12-01"), field).Val())
				return
			}
			require.ErrorIs(t, err, tc.want)
			assert.True(t, IsRefused(err))
			assert.Contains(t, err.Error(), bad)
			assert.False(t, applied)
			assert.Equal(t, int64(0), rdb.Exists(ctx, l.DailyKey("2025-12-01"), l.AgentDailyKey("2025-12-01"),
				l.MonthlyKey("2025-12"), l.AgentMonthlyKey("2025-12"), l.ClaimKey("b1")).Val(),
				"nothing of the batch is written, not even the keys before the refused one")

			// Repaired (analyticsctl rebuild would do it): the batch applies, once.
			require.NoError(t, rdb.Del(ctx, bad).Err())
			applied, err = l.Apply(ctx, rdb, "b1", rows)
			require.NoError(t, err)
			require.True(t, applied)
			applied, err = l.Apply(ctx, rdb, "b1", rows)
			require.NoError(t, err)
			require.False(t, applied)
			got, err := l.ReadMonth(ctx, rdb, "2025-12")
			require.NoError(t, err)
			assert.Equal(t, []Row{
				{Cell{Date: "2025-12", Event: "session.start"}, Values{Events: 2}},
				{Cell{Date: "2025-12", AgentID: "a1", Event: "ticket.closed"}, Values{Events: 1, MeasureCount: 1, MeasureSumMicro: SumOf(5)}},
			}, got)
		})
	}
}

// TestHoldClaims: a batch held by a rebuild is not applied (ErrHeld) and
// leaves Redis alone; holding is idempotent; a released batch applies; an
// applied batch cannot be held.
func TestHoldClaims(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := testdb.RedisPrefix(t)
	now := time.Date(2025, 12, 10, 0, 0, 0, 0, time.UTC)
	l := Layout{Prefix: prefix, Now: func() time.Time { return now }}
	rows := []Row{{Cell{Date: "2025-12-01", Event: "session.start"}, Values{Events: 1}}}

	require.NoError(t, l.HoldClaims(ctx, rdb, []string{"b1", "b2"}))
	require.NoError(t, l.HoldClaims(ctx, rdb, []string{"b1"}), "holding a held batch again")
	assert.Equal(t, "rebuild:"+strconv.FormatInt(now.Unix(), 10), rdb.Get(ctx, l.ClaimKey("b1")).Val())
	applied, err := l.Apply(ctx, rdb, "b1", rows)
	require.ErrorIs(t, err, ErrHeld)
	assert.False(t, IsRefused(err))
	assert.False(t, applied)
	assert.Equal(t, int64(0), rdb.Exists(ctx, l.DailyKey("2025-12-01")).Val())

	claims, err := l.ReadClaims(ctx, rdb, []string{"b1", "b3"})
	require.NoError(t, err)
	assert.Equal(t, []Claim{{State: Held, At: now}, {}}, claims)

	require.NoError(t, l.ReleaseClaims(ctx, rdb, "b1", "b2"))
	applied, err = l.Apply(ctx, rdb, "b1", rows)
	require.NoError(t, err)
	assert.True(t, applied)
	assert.Equal(t, "1", rdb.HGet(ctx, l.DailyKey("2025-12-01"), "session.start:events").Val())
	require.ErrorContains(t, l.HoldClaims(ctx, rdb, []string{"b2", "b1"}), "batch b1: it is claimed as applied")
	assert.Equal(t, Claim{State: Applied}, ParseClaim("1"), "a claim of the version before")
}

// TestDaysPastExpiry: with daily_ttl 48h, a day whose hashes have expired is
// not written again (a late event would recreate it with itself alone), a
// hash of it still there is deleted, and the month keeps counting; a kept
// day expires at its fixed expiry, whatever the time of the write; the same
// for months with a monthly TTL, and for Replace.
func TestDaysPastExpiry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := testdb.RedisPrefix(t)
	now := time.Date(2025, 12, 10, 0, 0, 0, 0, time.UTC)
	l := Layout{Prefix: prefix, DailyTTL: 48 * time.Hour, Now: func() time.Time { return now }}

	assert.Equal(t, time.Date(2025, 12, 4, 12, 0, 0, 0, time.UTC), l.DayExpiry("2025-12-01"))
	assert.False(t, l.KeepsDay("2025-12-01"))
	assert.False(t, l.KeepsDay("2025-12-06"), "expired at 2025-12-09T12:00Z")
	assert.True(t, l.KeepsDay("2025-12-07"), "expires at 2025-12-10T12:00Z")
	assert.True(t, l.KeepsMonth("2020-01"), "monthly_ttl 0: months never expire")
	assert.True(t, Layout{}.KeepsDay("2000-01-01"), "daily_ttl 0: days never expire")

	// A hash of the expired day written before (by a version that renewed
	// TTLs on every write).
	require.NoError(t, rdb.HSet(ctx, l.DailyKey("2025-12-01"), "session.start:events", 5).Err())
	rows := []Row{
		{Cell{Date: "2025-12-01", Event: "session.start"}, Values{Events: 1}},
		{Cell{Date: "2025-12-01", AgentID: "a1", Event: "ticket.closed"}, Values{Events: 1}},
		{Cell{Date: "2025-12-09", Event: "session.start"}, Values{Events: 2}},
	}
	applied, err := l.Apply(ctx, rdb, "late", rows)
	require.NoError(t, err)
	require.True(t, applied)
	assert.Equal(t, int64(0), rdb.Exists(ctx, l.DailyKey("2025-12-01"), l.AgentDailyKey("2025-12-01")).Val(),
		"Redis shows nothing of the expired day rather than a part of it")
	assert.Equal(t, map[string]string{"session.start:events": "2"}, rdb.HGetAll(ctx, l.DailyKey("2025-12-09")).Val())
	assert.InDelta(t, float64(60*time.Hour), float64(rdb.PTTL(ctx, l.DailyKey("2025-12-09")).Val()), float64(5*time.Second),
		"2025-12-09 expires at 2025-12-12T12:00Z, 60 h after now")
	assert.Equal(t, map[string]string{"session.start:events": "3"}, rdb.HGetAll(ctx, l.MonthlyKey("2025-12")).Val())
	assert.Equal(t, map[string]string{"a1:ticket.closed:events": "1"}, rdb.HGetAll(ctx, l.AgentMonthlyKey("2025-12")).Val())
	assert.Equal(t, time.Duration(-1), rdb.TTL(ctx, l.MonthlyKey("2025-12")).Val())

	// Months with a monthly TTL: 2025-11 expired at 2025-12-02T12:00Z.
	lm := l
	lm.MonthlyTTL = 24 * time.Hour
	assert.False(t, lm.KeepsMonth("2025-11"))
	assert.True(t, lm.KeepsMonth("2025-12"))
	applied, err = lm.Apply(ctx, rdb, "months", []Row{
		{Cell{Date: "2025-11-30", Event: "session.start"}, Values{Events: 1}},
		{Cell{Date: "2025-12-09", Event: "session.start"}, Values{Events: 1}},
	})
	require.NoError(t, err)
	require.True(t, applied)
	assert.Equal(t, int64(0), rdb.Exists(ctx, l.MonthlyKey("2025-11"), l.DailyKey("2025-11-30")).Val())
	assert.Equal(t, "4", rdb.HGet(ctx, l.MonthlyKey("2025-12"), "session.start:events").Val())
	assert.InDelta(t, float64(time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC).Sub(now)), float64(rdb.PTTL(ctx, l.MonthlyKey("2025-12")).Val()), float64(5*time.Second))

	// Replace deletes an expired day and does not rewrite it.
	require.NoError(t, rdb.HSet(ctx, l.DailyKey("2025-12-01"), "session.start:events", 5).Err())
	require.NoError(t, l.Replace(ctx, rdb, []string{"2025-12-01", "2025-12-09"}, []string{"2025-12"}, rows))
	assert.Equal(t, int64(0), rdb.Exists(ctx, l.DailyKey("2025-12-01"), l.AgentDailyKey("2025-12-01")).Val())
	assert.Equal(t, map[string]string{"session.start:events": "2"}, rdb.HGetAll(ctx, l.DailyKey("2025-12-09")).Val())
	assert.InDelta(t, float64(60*time.Hour), float64(rdb.PTTL(ctx, l.DailyKey("2025-12-09")).Val()), float64(5*time.Second))
	assert.Equal(t, map[string]string{"session.start:events": "3"}, rdb.HGetAll(ctx, l.MonthlyKey("2025-12")).Val())
}

// TestScanClaims lists the claims under the prefix, and only those, also
// when the prefix holds SCAN's glob characters.
func TestScanClaims(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, base := testdb.RedisPrefix(t)
	l := Layout{Prefix: base + "{t}[ab]*:"}
	rows := []Row{{Cell{Date: "2025-12-01", Event: "session.start"}, Values{Events: 1}}}
	for i := range 1203 {
		_, err := l.Apply(ctx, rdb, "b"+strconv.Itoa(i), rows)
		require.NoError(t, err)
	}
	require.NoError(t, l.HoldClaims(ctx, rdb, []string{"h1"}))
	// Keys an unescaped pattern would match.
	require.NoError(t, rdb.Set(ctx, base+"{t}a:applied:x", "1", 0).Err())
	require.NoError(t, rdb.Set(ctx, base+"{t}[ab]*:applied", "1", 0).Err())

	states := map[string]ClaimState{}
	require.NoError(t, l.ScanClaims(ctx, rdb, func(ids []string, claims []Claim) error {
		assert.LessOrEqual(t, len(ids), 500)
		for i, id := range ids {
			states[id] = claims[i].State
		}
		return nil
	}))
	assert.Len(t, states, 1204)
	assert.Equal(t, Held, states["h1"])
	assert.Equal(t, Applied, states["b1202"])
	assert.Equal(t, "1203", rdb.HGet(ctx, l.DailyKey("2025-12-01"), "session.start:events").Val())
}

// TestCheckEvictionPolicy reads the policy of a private redis-server.
func TestCheckEvictionPolicy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := testdb.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	for _, tc := range []struct {
		policy  string
		warning []string // substrings; none: no warning
		err     []string
	}{
		{policy: "noeviction"},
		{policy: "volatile-lru", warning: []string{"maxmemory-policy is volatile-lru", "daily counter hashes", "nothing is counted twice", "CONFIG SET maxmemory-policy noeviction"}},
		{policy: "volatile-ttl", warning: []string{"maxmemory-policy is volatile-ttl"}},
		{policy: "allkeys-lru", err: []string{"maxmemory-policy is allkeys-lru", "claims of applied outbox batches", "counted twice", "CONFIG SET maxmemory-policy noeviction"}},
		{policy: "allkeys-random", err: []string{"maxmemory-policy is allkeys-random"}},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			require.NoError(t, rdb.ConfigSet(ctx, "maxmemory-policy", tc.policy).Err())
			warning, err := CheckEvictionPolicy(ctx, rdb)
			if len(tc.err) > 0 {
				require.Error(t, err)
				for _, s := range tc.err {
					assert.Contains(t, err.Error(), s)
				}
				assert.Empty(t, warning)
				return
			}
			require.NoError(t, err)
			if len(tc.warning) == 0 {
				assert.Empty(t, warning)
			}
			for _, s := range tc.warning {
				assert.Contains(t, warning, s)
			}
		})
	}

	// CONFIG refused, as on a managed Redis: a warning, not an error.
	require.NoError(t, rdb.Do(ctx, "ACL", "SETUSER", "app", "on", ">secret", "~*", "&*", "+@all", "-config").Err())
	app := redis.NewClient(&redis.Options{Addr: srv.Addr, Username: "app", Password: "secret"})
	t.Cleanup(func() { _ = app.Close() })
	warning, err := CheckEvictionPolicy(ctx, app)
	require.NoError(t, err)
	assert.Contains(t, warning, "cannot read Redis maxmemory-policy (NOPERM")
	assert.Contains(t, warning, "make sure it is noeviction")

	// Redis down: an error.
	srv.Stop()
	_, err = CheckEvictionPolicy(ctx, rdb)
	require.Error(t, err)
}
