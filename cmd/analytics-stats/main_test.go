package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestLoadConfigFileWithEnv(t *testing.T) {
	t.Setenv("TEST_STATS_DSN", "postgres://reader@127.0.0.1:5432/analytics")
	t.Setenv("TEST_STATS_TOKEN", "abc")
	cfg, err := loadConfig(context.Background(), filepath.Join("testdata", "stats.yaml"))
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:0", cfg.HTTP.NetAddr.Endpoint)
	assert.Equal(t, "postgres://reader@127.0.0.1:5432/analytics", string(cfg.Postgres.DSN))
	assert.Equal(t, "Asia/Shanghai", cfg.Timezone)
	assert.InDelta(t, 12.5, cfg.CostPerResolution, 0)
	assert.Equal(t, "abc", string(cfg.Auth.Token))

	t.Setenv("TEST_STATS_TZ", "Nowhere/Land")
	_, err = loadConfig(context.Background(), filepath.Join("testdata", "stats.yaml"))
	require.ErrorContains(t, err, `timezone: unknown time zone "Nowhere/Land"`)
}

func TestLoadConfigDefault(t *testing.T) {
	for _, k := range []string{
		"ANALYTICS_STATS_ENDPOINT", "ANALYTICS_STATS_TOKEN", "ANALYTICS_TIMEZONE", "ANALYTICS_COST_PER_RESOLUTION",
		"ANALYTICS_REDIS_ADDR", "ANALYTICS_REDIS_DB", "ANALYTICS_REDIS_PASSWORD", "ANALYTICS_REDIS_PREFIX", "ANALYTICS_REDIS_DAILY_TTL",
	} {
		t.Setenv(k, "") // restored at the end of the test
		require.NoError(t, os.Unsetenv(k))
	}
	cfg, err := loadConfig(context.Background(), "")
	require.NoError(t, err)
	assert.Equal(t, "localhost:8090", cfg.HTTP.NetAddr.Endpoint)
	assert.Equal(t, "Asia/Shanghai", cfg.Timezone)
	assert.InDelta(t, 10.0, cfg.CostPerResolution, 0)
	assert.Equal(t, "127.0.0.1:6379", cfg.Redis.Addr)
	assert.Equal(t, 0, cfg.Redis.DB)
	assert.Equal(t, "analytics:", cfg.Redis.KeyPrefix)
	assert.Equal(t, 9600*time.Hour, cfg.Redis.DailyTTL)

	t.Setenv("ANALYTICS_STATS_ENDPOINT", "0.0.0.0:9999")
	t.Setenv("ANALYTICS_COST_PER_RESOLUTION", "7.5")
	t.Setenv("ANALYTICS_REDIS_ADDR", "redis.internal:6380")
	t.Setenv("ANALYTICS_REDIS_DB", "3")
	t.Setenv("ANALYTICS_REDIS_PASSWORD", "pw")
	t.Setenv("ANALYTICS_REDIS_PREFIX", "demo:")
	t.Setenv("ANALYTICS_REDIS_DAILY_TTL", "0")
	cfg, err = loadConfig(context.Background(), "")
	require.NoError(t, err)
	assert.Equal(t, "0.0.0.0:9999", cfg.HTTP.NetAddr.Endpoint)
	assert.InDelta(t, 7.5, cfg.CostPerResolution, 0)
	assert.Equal(t, "redis.internal:6380", cfg.Redis.Addr)
	assert.Equal(t, 3, cfg.Redis.DB)
	assert.Equal(t, "pw", string(cfg.Redis.Password))
	assert.Equal(t, "demo:", cfg.Redis.KeyPrefix)
	assert.Equal(t, time.Duration(0), cfg.Redis.DailyTTL)
}

func TestLoadConfigMissingFile(t *testing.T) {
	_, err := loadConfig(context.Background(), filepath.Join("testdata", "nope.yaml"))
	require.Error(t, err)
}
