package testdb

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConnectivity is the smoke test that the machine's PostgreSQL and Redis
// answer and that the schema migrates up and down cleanly.
func TestConnectivity(t *testing.T) {
	ctx := context.Background()
	dsn, schema := Migrated(t)
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer func() { assert.NoError(t, conn.Close(ctx)) }()
	var n int
	require.NoError(t, conn.QueryRow(ctx,
		`SELECT count(*) FROM information_schema.tables WHERE table_schema = $1 AND table_name = ANY($2)`,
		schema, []string{
			"analytics_events", "analytics_event_ids", "analytics_daily_rollup",
			"analytics_agent_daily_rollup", "analytics_rejected_events", "analytics_redis_outbox",
		}).Scan(&n))
	require.Equal(t, 6, n)

	var part string
	require.NoError(t, conn.QueryRow(ctx, `SELECT analytics_ensure_partition('2025-12-01')`).Scan(&part))
	require.Equal(t, "analytics_events_2025_12", part)
	require.NoError(t, conn.QueryRow(ctx, `SELECT analytics_ensure_partition('2025-12-31')`).Scan(&part))
	require.Equal(t, "analytics_events_2025_12", part)

	rdb, prefix := RedisPrefix(t)
	require.NoError(t, rdb.Set(ctx, prefix+"k", "v", 0).Err())
	require.Equal(t, "v", rdb.Get(ctx, prefix+"k").Val())
}

func TestPrivateRedisRestart(t *testing.T) {
	s := StartRedis(t)
	s.Stop()
	s.Start()
	require.NotEmpty(t, s.Addr)
}
