package stats

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

func loadConfig(t *testing.T, id string) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(id)
	require.NoError(t, err)
	cfg := NewDefaultConfig()
	if err := sub.Unmarshal(cfg); err != nil {
		return nil, err
	}
	return cfg, confmap.Validate(cfg)
}

func TestConfig(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		cfg, err := loadConfig(t, "analytics_stats")
		require.NoError(t, err)
		assert.Equal(t, "localhost:8090", cfg.HTTP.NetAddr.Endpoint)
		assert.Equal(t, "Asia/Shanghai", cfg.Timezone)
		assert.InDelta(t, 10.0, cfg.CostPerResolution, 0)
		assert.Equal(t, int64(1000), cfg.costFen())
		assert.Equal(t, int32(4), cfg.Postgres.MaxConns)
		assert.Equal(t, 5*time.Second, cfg.Postgres.QueryTimeout)
		assert.Empty(t, string(cfg.Auth.Token))
		assert.False(t, cfg.Redis.Enabled(), "no Redis address: live answers from the rollups")
		assert.Equal(t, "analytics:", cfg.Redis.KeyPrefix)
		assert.Equal(t, 9600*time.Hour, cfg.Redis.DailyTTL)
		assert.Equal(t, time.Second, cfg.Redis.Timeout)
	})
	t.Run("custom", func(t *testing.T) {
		cfg, err := loadConfig(t, "analytics_stats/custom")
		require.NoError(t, err)
		assert.Equal(t, "0.0.0.0:9090", cfg.HTTP.NetAddr.Endpoint)
		assert.Equal(t, "postgres://stats_reader:secret@db.internal:5432/analytics?sslmode=require", string(cfg.Postgres.DSN))
		assert.Equal(t, int32(8), cfg.Postgres.MaxConns)
		assert.Equal(t, 2*time.Second, cfg.Postgres.QueryTimeout)
		assert.Equal(t, "Europe/Berlin", cfg.Timezone)
		assert.Equal(t, int64(1250), cfg.costFen())
		assert.Equal(t, "very-secret", string(cfg.Auth.Token))
		// Secrets are opaque when printed.
		assert.Equal(t, "[REDACTED]", cfg.Auth.Token.String())
		assert.True(t, cfg.Redis.Enabled())
		assert.Equal(t, "redis.internal:6380", cfg.Redis.Addr)
		assert.Equal(t, 2, cfg.Redis.DB)
		assert.Equal(t, "stats", cfg.Redis.Username)
		assert.Equal(t, "redis-secret", string(cfg.Redis.Password))
		assert.Equal(t, "[REDACTED]", cfg.Redis.Password.String())
		assert.Equal(t, "prod:", cfg.Redis.KeyPrefix)
		assert.Equal(t, 48*time.Hour, cfg.Redis.DailyTTL)
		assert.Equal(t, 250*time.Millisecond, cfg.Redis.Timeout)
	})
	t.Run("invalid values name their keys", func(t *testing.T) {
		_, err := loadConfig(t, "analytics_stats/bad")
		require.Error(t, err)
		for _, want := range []string{
			"postgres::dsn: must not be empty",
			"postgres::max_conns: must be at least 1, got 0",
			"postgres::query_timeout: must be positive, got 0s",
			`timezone: unknown time zone "Mars/Olympus"`,
			"cost_per_resolution: must be a non-negative number of yuan, got -1",
			"redis::addrs[1]: must not be empty",
			"redis::db: must be 0 with redis::addrs (Redis Cluster has only database 0)",
			`redis::key_prefix: "analytics:" has no hash tag; with redis::addrs the exporter requires one such as "{analytics}:"`,
			"redis::daily_ttl: must not be negative, got -1h0m0s",
			"redis::timeout: must be positive, got 0s",
		} {
			assert.ErrorContains(t, err, want)
		}
	})
	t.Run("typo fails", func(t *testing.T) {
		_, err := loadConfig(t, "analytics_stats/typo")
		require.Error(t, err)
		assert.ErrorContains(t, err, "timezon")
	})
}
