package analyticsstatsextension

import (
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.uber.org/goleak"

	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
	"github.com/otelcol-analytics/otelcol-analytics/internal/testdb"
	"github.com/otelcol-analytics/otelcol-analytics/stats"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestFactory(t *testing.T) {
	f := NewFactory()
	assert.Equal(t, "analytics_stats", f.Type().String())
	assert.Equal(t, component.StabilityLevelAlpha, f.Stability())
	cfg := f.CreateDefaultConfig().(*stats.Config)
	assert.Equal(t, "localhost:8090", cfg.HTTP.NetAddr.Endpoint)
	require.NoError(t, cfg.Validate())
}

func TestConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	load := func(id string) (*stats.Config, error) {
		sub, err := cm.Sub(id)
		require.NoError(t, err)
		cfg := NewFactory().CreateDefaultConfig().(*stats.Config)
		if err := sub.Unmarshal(cfg); err != nil {
			return nil, err
		}
		return cfg, confmap.Validate(cfg)
	}
	cfg, err := load("analytics_stats")
	require.NoError(t, err)
	assert.Equal(t, stats.NewDefaultConfig().Timezone, cfg.Timezone)

	cfg, err = load("analytics_stats/custom")
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:18090", cfg.HTTP.NetAddr.Endpoint)
	assert.Equal(t, "Asia/Tokyo", cfg.Timezone)
	assert.InDelta(t, 8.0, cfg.CostPerResolution, 0)
	assert.Equal(t, "t0ken", string(cfg.Auth.Token))

	_, err = load("analytics_stats/typo")
	require.ErrorContains(t, err, "cost_per_resolutoin") //nolint:misspell // the typo under test
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// TestLifecycle starts the extension as the collector would, reads
// /healthz, an empty month's case study and today's live counters (from
// Redis) through it, and shuts it down (twice: Shutdown is idempotent).
func TestLifecycle(t *testing.T) {
	dsn, _ := testdb.Migrated(t)
	rdb, prefix := testdb.RedisPrefix(t)
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*stats.Config)
	cfg.HTTP.NetAddr.Endpoint = freeAddr(t)
	cfg.Postgres.DSN = configopaque.String(dsn)
	cfg.Auth.Token = "t0ken"
	cfg.Redis.Addr = testdb.RedisAddr()
	cfg.Redis.KeyPrefix = prefix

	// Today's counters as the exporter applies them.
	loc, err := time.LoadLocation(cfg.Timezone)
	require.NoError(t, err)
	today := counters.BusinessDate(time.Now(), loc)
	applied, err := counters.Layout{Prefix: prefix}.Apply(context.Background(), rdb, "b1",
		[]counters.Row{{Cell: counters.Cell{Date: today, Event: "session.start"}, Values: counters.Values{Events: 3}}})
	require.NoError(t, err)
	require.True(t, applied)

	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))

	client := &http.Client{Timeout: 10 * time.Second}
	do := func(path, token string) (int, string) {
		req, err := http.NewRequest(http.MethodGet, "http://"+cfg.HTTP.NetAddr.Endpoint+path, http.NoBody)
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer func() { assert.NoError(t, resp.Body.Close()) }()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	code, body := do("/healthz", "")
	assert.Equal(t, http.StatusOK, code)
	assert.JSONEq(t, `{"status": "ok", "postgres": "ok"}`, body)
	code, _ = do("/api/analytics/summary?month=2025-11", "")
	assert.Equal(t, http.StatusUnauthorized, code)
	code, body = do("/api/analytics/summary?month=2025-11", "t0ken")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `"period":"2025年11月"`)
	code, body = do("/api/analytics/live", "t0ken")
	require.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, `"source":"redis"`)
	assert.Contains(t, body, `"date":"`+today+`"`)
	assert.Contains(t, body, `"ai_chatbot":{"total_customers_served":3,`)

	// A second extension on the same endpoint fails fast at Start.
	ext2, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.ErrorContains(t, ext2.Start(context.Background(), componenttest.NewNopHost()), "listen on")
	require.NoError(t, ext2.Shutdown(context.Background()))

	require.NoError(t, ext.Shutdown(context.Background()))
	require.NoError(t, ext.Shutdown(context.Background()))
}

func TestShutdownWithoutStart(t *testing.T) {
	f := NewFactory()
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), f.CreateDefaultConfig())
	require.NoError(t, err)
	require.NoError(t, ext.Shutdown(context.Background()))
}
