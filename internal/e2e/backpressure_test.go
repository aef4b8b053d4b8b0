package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-analytics/otelcol-analytics/internal/testdb"
)

// TestBackPressure fills the built collector's sending queue (PostgreSQL
// cut, sending_queue::queue_size 300 records) and checks the client's side
// of it: a refused request gets HTTP 429 with Retry-After: 1 and an OTLP
// status body saying why, the refusals are counted by the stock
// otelcol_exporter_enqueue_failed_log_records, and once PostgreSQL is back
// exactly the acknowledged events are stored — none of a refused request,
// each acknowledged one once.
func TestBackPressure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, _ := testdb.Migrated(t)
	_, prefix := testdb.RedisPrefix(t)
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer func() { assert.NoError(t, conn.Close(ctx)) }()

	proxy := testdb.StartProxy(t, "127.0.0.1:5432")
	proxy.Close()
	httpPort, healthPort, telPort := freePort(t), freePort(t), freePort(t)
	cfg := analyticsConfig(httpPort, healthPort, proxiedDSN(t, dsn, proxy.Addr), prefix, filepath.Join(t.TempDir(), "queue"))
	cfg = strings.Replace(cfg, "    sending_queue:\n", "    sending_queue:\n      queue_size: 300\n      num_consumers: 1\n", 1)
	cfg = strings.Replace(cfg, "        flush_timeout: 100ms\n", "        flush_timeout: 100ms\n        min_size: 100\n", 1)
	cfg = strings.Replace(cfg, "      level: none\n", fmt.Sprintf(`      level: detailed
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: %d
`, telPort), 1)
	c := startCollector(t, cfg, healthPort)

	// Requests of 101 records (100 events + 1 unknown) until the queue
	// refuses 3; the acknowledged ones are remembered.
	var acked, refused []int
	for i := 0; len(refused) < 3; i++ {
		require.Less(t, i, 200, "the queue never filled:\n%s", c.LogTail(20))
		code, header, body := postLogsFull(t, httpPort, sessionLogs(t, i*100, 100))
		switch code {
		case http.StatusOK:
			acked = append(acked, i)
		case http.StatusTooManyRequests:
			refused = append(refused, i)
			assert.Equal(t, "1", header.Get("Retry-After"))
			assert.Contains(t, body, "sending queue is full")
		default:
			t.Fatalf("request %d: HTTP %d %s", i, code, body)
		}
	}
	require.NotEmpty(t, acked)
	metrics := scrape(t, telPort)
	assert.Contains(t, metrics, fmt.Sprintf("otelcol_exporter_enqueue_failed_log_records{exporter=\"analytics\"} %d\n", 101*len(refused)))
	assert.Contains(t, metrics, fmt.Sprintf("otelcol_receiver_refused_log_records{receiver=\"otlp\",transport=\"http\"} %d\n", 101*len(refused)))

	// PostgreSQL back: every acknowledged event once, nothing refused.
	proxy.Open()
	waitInt(t, conn, 100*len(acked), 60*time.Second, `SELECT count(*) FROM analytics_events`)
	time.Sleep(time.Second)
	assert.Equal(t, 100*len(acked), queryInt(t, conn, `SELECT count(DISTINCT event_id) FROM analytics_events`))
	for _, i := range refused {
		assert.Zero(t, queryInt(t, conn, `SELECT count(*) FROM analytics_events WHERE event_id = $1`, fmt.Sprintf("e2e-%05d", i*100)),
			"an event of refused request %d is stored", i)
	}
}

// postLogsFull posts an OTLP/HTTP JSON logs request and returns the status,
// the headers and the body.
func postLogsFull(t *testing.T, port int, body string) (int, http.Header, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/v1/logs", port), strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer func() { assert.NoError(t, resp.Body.Close()) }()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, string(b)
}

// scrape returns the collector's own Prometheus metrics.
func scrape(t *testing.T, port int) string {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	require.NoError(t, err)
	defer func() { assert.NoError(t, resp.Body.Close()) }()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}
