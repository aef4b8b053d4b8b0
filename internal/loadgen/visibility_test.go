package loadgen

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
	"github.com/otelcol-analytics/otelcol-analytics/internal/testdb"
)

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	assert.Equal(t, 50*time.Millisecond, Percentile(d, 0.5))
	assert.Equal(t, 99*time.Millisecond, Percentile(d, 0.99))
	assert.Equal(t, 100*time.Millisecond, Percentile(d, 1))
	assert.Equal(t, time.Millisecond, Percentile(d, 0))
	assert.Equal(t, 7*time.Millisecond, Percentile(d[6:7], 0.99))
	assert.Zero(t, Percentile(nil, 0.5))
}

// TestVisibility: samples are seen when their id reaches the ledger and
// their probe the Redis per-agent hash; stopping the poller never costs its
// connection.
func TestVisibility(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, _ := testdb.Migrated(t)
	rdb, prefix := testdb.RedisPrefix(t)
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer func() { assert.NoError(t, conn.Close(ctx)) }()

	g := testGenerator(true)
	reqs, err := g.EncodeAll(3)
	require.NoError(t, err)
	key := counters.Layout{Prefix: prefix}.AgentDailyKey(g.ProbeDay())
	vis := NewVisibility(conn, rdb, key, 5*time.Millisecond)
	sent := time.Now()
	for i := range reqs {
		vis.Add(&reqs[i], sent)
	}
	pg, rd := vis.Pending()
	assert.Equal(t, 3, pg)
	assert.Equal(t, 3, rd)

	store := func(r Request, inRedis bool) {
		_, err := conn.Exec(ctx, `INSERT INTO analytics_event_ids (event_id, business_date, product) VALUES ($1, $2, $3)`,
			r.SampleID, g.ProbeDay(), r.SampleProduct)
		require.NoError(t, err)
		if inRedis {
			require.NoError(t, rdb.HIncrBy(ctx, key, counters.FieldName(r.ProbeAgent, ProbeEvent, counters.FieldEvents), 1).Err())
		}
	}
	store(reqs[0], true)
	store(reqs[1], false)

	// Stop and start the poller over and over: the connection stays usable.
	for i := range 20 {
		runCtx, cancel := context.WithTimeout(ctx, time.Duration(i%5+1)*3*time.Millisecond)
		require.NoError(t, vis.Run(runCtx))
		cancel()
		require.NoError(t, conn.Ping(ctx), "round %d", i)
	}
	pg, rd = vis.Pending()
	assert.Equal(t, 1, pg, "request 2 is not in the ledger")
	assert.Equal(t, 2, rd, "requests 1 and 2 are not in Redis")
	require.ErrorIs(t, vis.Wait(ctx, 50*time.Millisecond), context.DeadlineExceeded)
	require.NoError(t, conn.Ping(ctx))

	store(reqs[2], true)
	require.NoError(t, rdb.HIncrBy(ctx, key, counters.FieldName(reqs[1].ProbeAgent, ProbeEvent, counters.FieldEvents), 1).Err())
	require.NoError(t, vis.Wait(ctx, 5*time.Second))
	pgLat, rdLat, missPG, missRD := vis.Latencies()
	assert.Len(t, pgLat, 3)
	assert.Len(t, rdLat, 3)
	assert.Zero(t, missPG+missRD)
	assert.Greater(t, rdLat[2], pgLat[0], "request 1 reached Redis after the rest reached PostgreSQL")
	assert.Positive(t, vis.Polls())
}
