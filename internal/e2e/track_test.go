package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-analytics/otelcol-analytics/internal/testdb"
)

// TestTrackReceiverToStats is issue 6's end-to-end check on the built
// binary: Segment-shaped track calls (every one authenticated by a write key; the
// desk's key names its product, the web key leaves it to context.service.name) go through the eventcatalog
// processor and the analytics exporter into PostgreSQL, a resend of the same
// messageIds changes nothing, and the stats service reports them.
func TestTrackReceiverToStats(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, _ := testdb.Migrated(t)
	_, prefix := testdb.RedisPrefix(t)
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer func() { assert.NoError(t, conn.Close(ctx)) }()

	trackPort, statsPort, healthPort := freePort(t), freePort(t), freePort(t)
	cfg := fmt.Sprintf(`
extensions:
  health_check:
    endpoint: 127.0.0.1:%d
  analytics_stats:
    http:
      endpoint: 127.0.0.1:%d
    postgres:
      dsn: %q
receivers:
  track:
    endpoint: 127.0.0.1:%d
    write_keys:
      wk_desk: agent_workbench
      wk_web: ""
processors:
  eventcatalog: {}
exporters:
  analytics:
    postgres:
      dsn: %q
    redis:
      addr: %s
      key_prefix: %q
      daily_ttl: 0 # the test's days of 2025 must not expire
    sending_queue:
      batch:
        flush_timeout: 100ms
service:
  extensions: [health_check, analytics_stats]
  pipelines:
    logs:
      receivers: [track]
      processors: [eventcatalog]
      exporters: [analytics]
  telemetry:
    metrics:
      level: none
`, healthPort, statsPort, dsn, trackPort, dsn, testdb.RedisAddr(), prefix)
	c := startCollector(t, cfg, healthPort)
	defer c.stop(t)

	// Three sessions of the chatbot, one escalated, in December 2025
	// (Shanghai); the first call at 2025-11-30T16:30Z is 2025-12-01 there.
	batch := `{"batch":[
 {"type":"track","event":"session.start","messageId":"trk-1","userId":"cust-1","timestamp":"2025-11-30T16:30:00Z","properties":{"session_id":"s-1","channel":"web"}},
 {"type":"track","event":"session.start","messageId":"trk-2","anonymousId":"anon-2","timestamp":"2025-12-02T03:00:00Z","properties":{"session_id":"s-2"}},
 {"type":"track","event":"session.start","messageId":"trk-3","userId":"cust-3","timestamp":"2025-12-03T03:00:00Z","properties":{"session_id":"s-3"}},
 {"type":"track","event":"session.escalate","messageId":"trk-4","userId":"cust-3","timestamp":"2025-12-03T03:05:00Z","properties":{"session_id":"s-3","reason":"refund"}},
 {"type":"identify","userId":"cust-1","traits":{"name":"ignored"}}
],"context":{"service":{"name":"ai_chatbot"}}}`
	post := func(path, body string, writeKey string) int {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d%s", trackPort, path), strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		if writeKey != "" {
			req.SetBasicAuth(writeKey, "")
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer func() { assert.NoError(t, resp.Body.Close()) }()
		return resp.StatusCode
	}
	takeover := `{"event":"agent.session_takeover","messageId":"trk-5","timestamp":"2025-12-03T03:05:30Z","properties":{"agent_id":"a-1","session_id":"s-3","wait_duration_seconds":30}}`

	require.Equal(t, http.StatusOK, post("/v1/batch", batch, "wk_web"))
	require.Equal(t, http.StatusOK, post("/v1/track", takeover, "wk_desk"))
	require.Equal(t, http.StatusUnauthorized, post("/v1/track", takeover, "wrong-key"))
	waitInt(t, conn, 5, 30*time.Second, `SELECT count(*) FROM analytics_events`)

	// A client retry of everything: deduplicated by messageId.
	require.Equal(t, http.StatusOK, post("/v1/batch", batch, "wk_web"))
	require.Equal(t, http.StatusOK, post("/v1/track", takeover, "wk_desk"))
	time.Sleep(time.Second)
	waitInt(t, conn, 0, 30*time.Second, `SELECT count(*) FROM analytics_redis_outbox`)
	assert.Equal(t, 5, queryInt(t, conn, `SELECT count(*) FROM analytics_events`))
	assert.Equal(t, 0, queryInt(t, conn, `SELECT count(*) FROM analytics_rejected_events`))
	var customer string
	require.NoError(t, conn.QueryRow(ctx, `SELECT customer_id FROM analytics_events WHERE event_id = 'trk-2'`).Scan(&customer))
	assert.Equal(t, "anon-2", customer)

	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/analytics/case-study?month=2025-12", statsPort))
	require.NoError(t, err)
	defer func() { assert.NoError(t, resp.Body.Close()) }()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	var cs struct {
		AIChatbot struct {
			Served         int    `json:"total_customers_served"`
			ResolutionRate string `json:"ai_resolution_rate"`
			CostSaved      string `json:"cost_saved"`
		} `json:"ai_chatbot"`
		AgentWorkbench struct {
			Handled       int    `json:"sessions_handled"`
			FirstResponse string `json:"avg_first_response"`
		} `json:"agent_workbench"`
	}
	require.NoError(t, json.Unmarshal(body, &cs), string(body))
	// 3 starts, 1 escalation: (3-1)/3 = 66.7 %, 2 × ¥10 saved; 1 takeover, 30 s.
	assert.Equal(t, 3, cs.AIChatbot.Served)
	assert.Equal(t, "66.7%", cs.AIChatbot.ResolutionRate)
	assert.Equal(t, "¥20", cs.AIChatbot.CostSaved)
	assert.Equal(t, 1, cs.AgentWorkbench.Handled)
	assert.Equal(t, "30秒", cs.AgentWorkbench.FirstResponse)
}
