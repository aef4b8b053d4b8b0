package counters

import (
	"context"
	"encoding/json"
	"math"
	"math/big"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-analytics/otelcol-analytics/internal/testdb"
)

func bigOf(t *testing.T, s string) *big.Int {
	t.Helper()
	b, ok := new(big.Int).SetString(s, 10)
	require.True(t, ok, s)
	return b
}

func TestSumArithmetic(t *testing.T) {
	maxI := SumOf(math.MaxInt64)
	tests := []struct {
		name string
		got  Sum
		want string
	}{
		{"zero", Sum{}, "0"},
		{"small", SumOf(41).Add(SumOf(1)), "42"},
		{"negative", SumOf(-5).Add(SumOf(3)), "-2"},
		{"carry past int64", maxI.Add(SumOf(1)), "9223372036854775808"},
		{"twice max", maxI.Add(maxI), "18446744073709551614"},
		{"below min", SumOf(math.MinInt64).Add(SumOf(-1)), "-9223372036854775809"},
		{"back into range", maxI.Add(SumOf(1)).Add(SumOf(-1)), "9223372036854775807"},
		{"twice min", SumOf(math.MinInt64).Add(SumOf(math.MinInt64)), "-18446744073709551616"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.got.String())
			assert.Equal(t, 0, tt.got.Big().Cmp(bigOf(t, tt.want)))
			back, err := ParseSum(tt.want)
			require.NoError(t, err)
			assert.Equal(t, tt.got, back)
		})
	}
	// 10^20 events of the largest measure (10^18 millionths) fit.
	huge := bigOf(t, "100000000000000000000000000000000000000") // 10^38
	s, err := SumFromBig(huge)
	require.NoError(t, err)
	assert.Equal(t, huge.String(), s.String())
	_, err = SumFromBig(new(big.Int).Lsh(big.NewInt(1), 127))
	require.Error(t, err)

	v, ok := maxI.Int64()
	assert.True(t, ok)
	assert.Equal(t, int64(math.MaxInt64), v)
	_, ok = maxI.Add(SumOf(1)).Int64()
	assert.False(t, ok)
	_, ok = SumOf(-1).Int64()
	assert.True(t, ok)
	assert.Equal(t, "1.5", SumOf(1_500_000).Rat().FloatString(1))
}

func TestSumJSON(t *testing.T) {
	big2 := SumOf(math.MaxInt64).Add(SumOf(math.MaxInt64))
	data, err := json.Marshal(Values{Events: 1, MeasureSumMicro: big2})
	require.NoError(t, err)
	assert.JSONEq(t, `{"n":1,"ms":18446744073709551614}`, string(data))
	var v Values
	require.NoError(t, json.Unmarshal(data, &v))
	assert.Equal(t, big2, v.MeasureSumMicro)
	// An outbox row written before Sum existed.
	require.NoError(t, json.Unmarshal([]byte(`{"n":2,"mc":2,"ms":3000000}`), &v))
	assert.Equal(t, Values{Events: 2, MeasureCount: 2, MeasureSumMicro: SumOf(3_000_000)}, v)
	require.Error(t, json.Unmarshal([]byte(`{"ms":1.5}`), &v))
}

func TestSumThroughPostgres(t *testing.T) {
	t.Parallel()
	dsn, _ := testdb.Schema(t)
	pool, err := pgxpool.New(context.Background(), dsn)
	require.NoError(t, err)
	defer pool.Close()
	ctx := context.Background()
	for _, lit := range []string{"0", "-7", "9223372036854775808", "-123456789012345678901234567", "170141183460469231731687303715884105727"} {
		var s Sum
		require.NoError(t, pool.QueryRow(ctx, `SELECT $1::numeric`, lit).Scan(&s), lit)
		assert.Equal(t, lit, s.String())
		var back string
		require.NoError(t, pool.QueryRow(ctx, `SELECT ($1::numeric)::text`, s).Scan(&back))
		assert.Equal(t, lit, back)
	}
	var s Sum
	require.NoError(t, pool.QueryRow(ctx, `SELECT 12::bigint`).Scan(&s))
	assert.Equal(t, SumOf(12), s)
	require.Error(t, pool.QueryRow(ctx, `SELECT 1.5::numeric`).Scan(&s))
	require.Error(t, pool.QueryRow(ctx, `SELECT 'NaN'::numeric`).Scan(&s))
}
