package analyticsexporter

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
)

func loadConfig(t *testing.T, file, id string) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", file))
	require.NoError(t, err)
	sub, err := cm.Sub(component.MustNewIDWithName(typeStr, id).String())
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	if err := sub.Unmarshal(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

func TestDefaultConfig(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, componenttest.CheckConfigStruct(cfg))
	assert.Equal(t, 30*time.Second, cfg.TimeoutConfig.Timeout)
	require.True(t, cfg.QueueConfig.HasValue())
	q := cfg.QueueConfig.Get()
	assert.Equal(t, exporterhelper.RequestSizerTypeItems, q.Sizer)
	require.True(t, q.Batch.HasValue())
	assert.Equal(t, int64(5000), q.Batch.Get().MinSize)
	assert.Equal(t, int64(5000), q.Batch.Get().MaxSize)
	assert.Equal(t, time.Second, q.Batch.Get().FlushTimeout)
	assert.True(t, cfg.RetryConfig.Enabled)
	assert.Equal(t, time.Duration(0), cfg.RetryConfig.MaxElapsedTime)
	assert.Equal(t, "analytics:", cfg.Redis.KeyPrefix)
	assert.Equal(t, 9600*time.Hour, cfg.Redis.DailyTTL)
	assert.Equal(t, "Asia/Shanghai", cfg.Timezone)
	assert.False(t, cfg.Migrate)
	// The only thing a default config lacks is the DSN.
	assert.EqualError(t, confmap.Validate(cfg), "postgres.dsn: must be set")
}

func TestLoadConfig(t *testing.T) {
	t.Run("minimal", func(t *testing.T) {
		cfg, err := loadConfig(t, "config.yaml", "")
		require.NoError(t, err)
		require.NoError(t, confmap.Validate(cfg))
		want := createDefaultConfig().(*Config)
		want.Postgres.DSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
		assert.Equal(t, want, cfg)
	})
	t.Run("full", func(t *testing.T) {
		cfg, err := loadConfig(t, "config.yaml", "full")
		require.NoError(t, err)
		require.NoError(t, confmap.Validate(cfg))
		assert.Equal(t, PostgresConfig{DSN: "postgres://analytics:secret@db.internal:5432/analytics", MaxConns: 16, MinConns: 2}, cfg.Postgres)
		assert.Equal(t, RedisConfig{
			RedisConfig: counters.RedisConfig{
				Addr: "redis.internal:6380", DB: 3, Username: "analytics", Password: "redis-secret",
				KeyPrefix: "shop:", DailyTTL: 2400 * time.Hour, MonthlyTTL: 17520 * time.Hour,
			},
			ClaimTTL: 72 * time.Hour,
		}, cfg.Redis)
		assert.Equal(t, "Europe/Berlin", cfg.Timezone)
		assert.True(t, cfg.Migrate)
		assert.Equal(t, PartitionsConfig{CreateAheadMonths: 3, RetentionMonths: 24}, cfg.Partitions)
		assert.Equal(t, 10*time.Second, cfg.OutboxInterval)
		assert.Nil(t, cfg.Catalog)
		assert.Equal(t, 10*time.Second, cfg.TimeoutConfig.Timeout)
		assert.Equal(t, 2*time.Second, cfg.RetryConfig.InitialInterval)
		assert.Equal(t, time.Minute, cfg.RetryConfig.MaxInterval)
		q := cfg.QueueConfig.Get()
		assert.Equal(t, int64(500000), q.QueueSize)
		assert.Equal(t, 2, q.NumConsumers)
		require.NotNil(t, q.StorageID)
		assert.Equal(t, "file_storage", q.StorageID.String())
		assert.Equal(t, int64(2000), q.Batch.Get().MinSize)
		assert.Equal(t, int64(10000), q.Batch.Get().MaxSize)
		assert.Equal(t, 500*time.Millisecond, q.Batch.Get().FlushTimeout)
		// Secrets never print.
		assert.NotContains(t, cfg.Redis.Password.String(), "secret")
	})
	t.Run("cluster", func(t *testing.T) {
		cfg, err := loadConfig(t, "config.yaml", "cluster")
		require.NoError(t, err)
		require.NoError(t, confmap.Validate(cfg))
		assert.Equal(t, []string{"10.0.0.1:7000", "10.0.0.2:7000"}, cfg.Redis.Addrs)
	})
	t.Run("typo", func(t *testing.T) {
		cm, err := confmaptest.LoadConf(filepath.Join("testdata", "typo.yaml"))
		require.NoError(t, err)
		sub, err := cm.Sub(typeStr)
		require.NoError(t, err)
		err = sub.Unmarshal(createDefaultConfig())
		require.Error(t, err)
		assert.Contains(t, err.Error(), "adr")
	})
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want []string
	}{
		{"cluster_no_hash_tag", []string{
			"redis.db: must be 0 with redis.addrs",
			`redis.key_prefix: "analytics:" has no hash tag`,
		}},
		{"invalid", []string{
			"postgres.dsn: must be set",
			"postgres.max_conns: must be at least 1, got 0",
			"postgres.min_conns: must be between 0 and postgres.max_conns (0), got 1",
			"redis.addr: must be set",
			"redis.key_prefix: must not be empty",
			"redis.daily_ttl: must not be negative, got -1h0m0s",
			"redis.claim_ttl: must be at least 1s, got 0s",
			`timezone: "Mars/Olympus_Mons" is not a known time zone`,
			"partitions.create_ahead_months: must not be negative, got -1",
			"partitions.retention_months: must not be negative, got -2",
			"outbox_interval: must be positive, got 0s",
			"catalog: the analytics exporter no longer reads the event catalog; set it once on the eventcatalog processor (processors: eventcatalog: catalog:), which stamps each event's measure and flag, and remove this section",
		}},
	} {
		t.Run(tc.id, func(t *testing.T) {
			cfg, err := loadConfig(t, "config.yaml", tc.id)
			require.NoError(t, err)
			err = cfg.Validate()
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.Len(t, splitLines(err.Error()), len(tc.want), err.Error())
		})
	}
	t.Run("batches sized in bytes are refused", func(t *testing.T) {
		cfg := createDefaultConfig().(*Config)
		cfg.Postgres.DSN = "postgres://x"
		cfg.QueueConfig.Get().Batch.Get().Sizer = exporterhelper.RequestSizerTypeBytes
		assert.EqualError(t, cfg.Validate(), "sending_queue::batch::sizer: must be items (the exporter batches records), got bytes")
	})
	t.Run("queue disabled is valid", func(t *testing.T) {
		cfg := createDefaultConfig().(*Config)
		cfg.Postgres.DSN = "postgres://x"
		cfg.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
		assert.NoError(t, confmap.Validate(cfg))
	})
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
