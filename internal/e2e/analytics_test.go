package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-analytics/otelcol-analytics/internal/ctl"
	"github.com/otelcol-analytics/otelcol-analytics/internal/testdb"
)

// analyticsConfig is a collector config with the real pipeline: OTLP/HTTP →
// eventcatalog → analytics (persistent queue in queueDir) → PostgreSQL at
// dsn and Redis under prefix.
func analyticsConfig(httpPort, healthPort int, dsn, prefix, queueDir string) string {
	return fmt.Sprintf(`
extensions:
  health_check:
    endpoint: 127.0.0.1:%d
  file_storage/queue:
    directory: %s
    create_directory: true
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:%d
processors:
  eventcatalog: {}
exporters:
  analytics:
    postgres:
      dsn: %q
    redis:
      addr: %s
      key_prefix: %q
      daily_ttl: 0 # the tests' days of 2025 must not expire
    timezone: Asia/Shanghai
    outbox_interval: 200ms
    retry_on_failure:
      initial_interval: 100ms
      max_interval: 500ms
    sending_queue:
      storage: file_storage/queue
      batch:
        flush_timeout: 100ms
service:
  extensions: [health_check, file_storage/queue]
  pipelines:
    logs:
      receivers: [otlp]
      processors: [eventcatalog]
      exporters: [analytics]
  telemetry:
    metrics:
      level: none
`, healthPort, queueDir, httpPort, dsn, testdb.RedisAddr(), prefix)
}

// sessionLogs builds an OTLP/JSON request of n session.start events of the
// AI chatbot with ids e2e-<first>..., the first half at 2025-11-30T15:59:59Z
// (Shanghai: 2025-11-30) and the second half at 2025-11-30T16:30:00Z
// (Shanghai: 2025-12-01), plus one event of an unknown name.
func sessionLogs(t *testing.T, first, n int) string {
	t.Helper()
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "ai_chatbot")
	recs := rl.ScopeLogs().AppendEmpty().LogRecords()
	before := time.Date(2025, 11, 30, 15, 59, 59, 0, time.UTC)
	after := time.Date(2025, 11, 30, 16, 30, 0, 0, time.UTC)
	for i := first; i < first+n; i++ {
		r := recs.AppendEmpty()
		r.SetEventName("session.start")
		ts := before
		if i-first >= n/2 {
			ts = after
		}
		r.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		r.Attributes().PutStr("event.id", fmt.Sprintf("e2e-%05d", i))
		r.Attributes().PutStr("session_id", fmt.Sprintf("s-%05d", i))
	}
	bad := recs.AppendEmpty()
	bad.SetEventName("chat.rating")
	bad.SetTimestamp(pcommon.NewTimestampFromTime(after))
	bad.Attributes().PutStr("event.id", fmt.Sprintf("e2e-bad-%05d", first))
	body, err := (&plog.JSONMarshaler{}).MarshalLogs(ld)
	require.NoError(t, err)
	return string(body)
}

func queryInt(t *testing.T, conn *pgx.Conn, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, conn.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

func waitInt(t *testing.T, conn *pgx.Conn, want int, timeout time.Duration, sql string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := queryInt(t, conn, sql, args...)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: got %d, want %d after %s", sql, got, want, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestCollectorKill9WithPostgresDown is SPEC §7 end to end on the built
// binary: events acknowledged while PostgreSQL is unreachable sit in the
// persistent queue, survive kill -9 of the collector, and land exactly once
// after a restart; a resend of the same events changes nothing; and
// `analyticsctl verify` finds Redis equal to PostgreSQL.
func TestCollectorKill9WithPostgresDown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, _ := testdb.Migrated(t)
	_, prefix := testdb.RedisPrefix(t)
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer func() { assert.NoError(t, conn.Close(ctx)) }()

	// The collector reaches PostgreSQL through a proxy we can cut.
	proxy := testdb.StartProxy(t, "127.0.0.1:5432")
	proxied := proxiedDSN(t, dsn, proxy.Addr)

	queueDir := filepath.Join(t.TempDir(), "queue")
	httpPort, healthPort := freePort(t), freePort(t)
	cfg := analyticsConfig(httpPort, healthPort, proxied, prefix, queueDir)

	c := startCollector(t, cfg, healthPort)
	// 1. PostgreSQL reachable: 100 events + 1 rejected land.
	require.Equal(t, http.StatusOK, postLogs(t, httpPort, sessionLogs(t, 0, 100)))
	waitInt(t, conn, 100, 30*time.Second, `SELECT count(*) FROM analytics_events`)

	// 2. PostgreSQL unreachable: 200 more are acknowledged (persisted in the
	// queue), then the collector is killed -9 before it could store them.
	proxy.Close()
	require.Equal(t, http.StatusOK, postLogs(t, httpPort, sessionLogs(t, 100, 200)))
	time.Sleep(500 * time.Millisecond) // let the exporter try and fail at least once
	c.Kill9()
	assert.Equal(t, 100, queryInt(t, conn, `SELECT count(*) FROM analytics_events`))

	// 3. PostgreSQL back, collector restarted on the same queue: everything
	// lands, once.
	proxy.Open()
	c = startCollector(t, cfg, healthPort)
	waitInt(t, conn, 300, 60*time.Second, `SELECT count(*) FROM analytics_events`)
	waitInt(t, conn, 2, 30*time.Second, `SELECT count(*) FROM analytics_rejected_events`)

	// 4. The client resends everything: nothing changes.
	require.Equal(t, http.StatusOK, postLogs(t, httpPort, sessionLogs(t, 0, 100)))
	require.Equal(t, http.StatusOK, postLogs(t, httpPort, sessionLogs(t, 100, 200)))
	time.Sleep(time.Second)
	waitInt(t, conn, 0, 30*time.Second, `SELECT count(*) FROM analytics_redis_outbox`)
	c.stop(t)

	assert.Equal(t, 300, queryInt(t, conn, `SELECT count(*) FROM analytics_events`))
	assert.Equal(t, 2, queryInt(t, conn, `SELECT count(*) FROM analytics_rejected_events`))
	// Halves of each post fall on either side of the Shanghai midnight:
	// 50 + 100 on 2025-11-30, 50 + 100 on 2025-12-01.
	assert.Equal(t, 150, queryInt(t, conn, `SELECT events FROM analytics_daily_rollup WHERE business_date = '2025-11-30' AND event_name = 'session.start'`))
	assert.Equal(t, 150, queryInt(t, conn, `SELECT events FROM analytics_daily_rollup WHERE business_date = '2025-12-01' AND event_name = 'session.start'`))

	rdb, _ := testdb.RedisPrefix(t)
	assert.Equal(t, "150", rdb.HGet(ctx, prefix+"daily:2025-11-30", "session.start:events").Val())
	assert.Equal(t, "150", rdb.HGet(ctx, prefix+"monthly:2025-12", "session.start:events").Val())

	var out, errOut bytes.Buffer
	getenv := func(string) string { return "" }
	code := ctl.Run(ctx, []string{
		"--postgres-dsn", dsn, "--redis-addr", testdb.RedisAddr(), "--key-prefix", prefix, "--daily-ttl", "0",
		"verify", "--from", "2025-11-30", "--to", "2025-12-01",
	}, getenv, &out, &errOut)
	require.Equal(t, 0, code, "verify: %s %s", out.String(), errOut.String())
	assert.Contains(t, out.String(), "0 differences")
}

func proxiedDSN(t *testing.T, dsn, addr string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	require.NoError(t, err)
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable&search_path=%s", cfg.User, addr, cfg.Database, cfg.RuntimeParams["search_path"])
}
