package e2e

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
	"github.com/otelcol-analytics/otelcol-analytics/internal/ctl"
	"github.com/otelcol-analytics/otelcol-analytics/internal/testdb"
)

// TestCollectorKill9WithRedisDown is the Redis side of
// TestCollectorKill9WithPostgresDown, on the built binary: the collector
// starts while Redis is unreachable (it reaches Redis through a proxy that
// is not listening), stores what it acknowledges in PostgreSQL with the
// counts in the outbox, is killed -9, starts again with Redis still down,
// and once Redis answers, Redis equals PostgreSQL: every acknowledged
// event once.
func TestCollectorKill9WithRedisDown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, _ := testdb.Migrated(t)
	rdb, prefix := testdb.RedisPrefix(t)
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer func() { assert.NoError(t, conn.Close(ctx)) }()

	proxy := testdb.StartProxy(t, testdb.RedisAddr())
	proxy.Close()
	queueDir := filepath.Join(t.TempDir(), "queue")
	httpPort, healthPort := freePort(t), freePort(t)
	cfg := analyticsConfig(httpPort, healthPort, dsn, prefix, queueDir)
	direct := "      addr: " + testdb.RedisAddr() + "\n"
	require.Equal(t, 1, strings.Count(cfg, direct), "the config names Redis once")
	cfg = strings.Replace(cfg, direct, "      addr: "+proxy.Addr+"\n", 1)
	const (
		events = `SELECT count(*) FROM analytics_events`
		outbox = `SELECT count(*) FROM analytics_redis_outbox`
	)

	// 1. Redis unreachable at start: the collector starts and says where
	// the counts wait. 100 events + 1 rejected are stored.
	c := startCollector(t, cfg, healthPort)
	c.waitOutput(t, 10*time.Second, "Redis does not answer", proxy.Addr, "counts wait in the PostgreSQL outbox")
	require.Equal(t, http.StatusOK, postLogs(t, httpPort, sessionLogs(t, 0, 100)))
	waitInt(t, conn, 100, 30*time.Second, events)
	assert.Positive(t, queryInt(t, conn, outbox), "the counts wait in the outbox")

	// 2. 200 more are acknowledged (persisted in the queue), and the
	// collector is killed -9 at once, whatever it stored of them.
	require.Equal(t, http.StatusOK, postLogs(t, httpPort, sessionLogs(t, 100, 200)))
	c.Kill9()

	// 3. Restarted on the same queue with Redis still down: it starts again
	// (it did not before), everything lands in PostgreSQL once, a resend
	// adds nothing, and Redis has not seen a thing.
	c = startCollector(t, cfg, healthPort)
	c.waitOutput(t, 10*time.Second, "Redis does not answer")
	waitInt(t, conn, 300, 60*time.Second, events)
	waitInt(t, conn, 2, 30*time.Second, `SELECT count(*) FROM analytics_rejected_events`)
	require.Equal(t, http.StatusOK, postLogs(t, httpPort, sessionLogs(t, 0, 100)))
	require.Equal(t, http.StatusOK, postLogs(t, httpPort, sessionLogs(t, 100, 200)))
	time.Sleep(time.Second)
	assert.Equal(t, 300, queryInt(t, conn, events))
	assert.Positive(t, queryInt(t, conn, outbox))
	keys, err := rdb.Keys(ctx, prefix+"*").Result()
	require.NoError(t, err)
	assert.Empty(t, keys, "no count reached Redis while it was away")

	// 4. Redis answers: the outbox is applied and Redis equals PostgreSQL.
	proxy.Open()
	waitInt(t, conn, 0, 30*time.Second, outbox)
	c.stop(t)
	assert.Equal(t, 300, queryInt(t, conn, events))
	assert.Equal(t, 2, queryInt(t, conn, `SELECT count(*) FROM analytics_rejected_events`))
	assert.Equal(t, 150, queryInt(t, conn, `SELECT events FROM analytics_daily_rollup WHERE business_date = '2025-11-30' AND event_name = 'session.start'`))
	assert.Equal(t, 150, queryInt(t, conn, `SELECT events FROM analytics_daily_rollup WHERE business_date = '2025-12-01' AND event_name = 'session.start'`))

	lo, hi := time.Date(2025, 11, 30, 0, 0, 0, 0, time.UTC), time.Date(2025, 12, 2, 0, 0, 0, 0, time.UTC)
	pg, err := counters.ReadRollups(ctx, conn, lo, hi)
	require.NoError(t, err)
	require.NotEmpty(t, pg)
	layout := counters.Layout{Prefix: prefix}
	var red []counters.Row
	for _, day := range []string{"2025-11-30", "2025-12-01"} {
		rows, err := layout.ReadDay(ctx, rdb, day)
		require.NoError(t, err)
		red = append(red, rows...)
	}
	counters.SortRows(red)
	assert.Equal(t, pg, red, "Redis equals PostgreSQL")
	assert.Equal(t, "150", rdb.HGet(ctx, prefix+"monthly:2025-12", "session.start:events").Val())

	var out, errOut bytes.Buffer
	code := ctl.Run(ctx, []string{
		"--postgres-dsn", dsn, "--redis-addr", testdb.RedisAddr(), "--key-prefix", prefix, "--daily-ttl", "0",
		"verify", "--from", "2025-11-30", "--to", "2025-12-01",
	}, func(string) string { return "" }, &out, &errOut)
	require.Equal(t, 0, code, "verify: %s %s", out.String(), errOut.String())
	assert.Contains(t, out.String(), "0 differences")
}
