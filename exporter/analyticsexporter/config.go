package analyticsexporter

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
)

// Config is the configuration of the analytics exporter. Every key is
// documented in README.md.
type Config struct {
	// TimeoutConfig is `timeout`: how long one attempt to write a batch may
	// take (default 30s).
	TimeoutConfig exporterhelper.TimeoutConfig `mapstructure:",squash"`
	// QueueConfig is `sending_queue`: the exporter helper's queue and
	// batching (default: on, in memory, batches of 5000 records or 1s).
	// Set `storage` to a file_storage extension to survive kill -9.
	QueueConfig configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`
	// RetryConfig is `retry_on_failure` (default: on, 1s..30s, never gives
	// up: PostgreSQL being down must not lose data).
	RetryConfig configretry.BackOffConfig `mapstructure:"retry_on_failure"`

	// Postgres is the PostgreSQL connection.
	Postgres PostgresConfig `mapstructure:"postgres"`
	// Redis is the Redis connection and key layout.
	Redis RedisConfig `mapstructure:"redis"`
	// Timezone is the business time zone days and months are cut in (IANA
	// name, default Asia/Shanghai).
	Timezone string `mapstructure:"timezone"`
	// Migrate applies the schema migrations at start (default false).
	Migrate bool `mapstructure:"migrate"`
	// Partitions configures the monthly partitions of analytics_events.
	Partitions PartitionsConfig `mapstructure:"partitions"`
	// OutboxInterval is how often outbox rows left by a crash or a Redis
	// outage are applied to Redis (default 5s).
	OutboxInterval time.Duration `mapstructure:"outbox_interval"`
	// Catalog is no longer read: the eventcatalog processor is the only
	// reader of the catalog and stamps each event's measure and flag
	// (catalog.AttrMeasureMicro, catalog.AttrFlag). A config that still
	// sets it fails validation with a message saying so.
	Catalog map[string]any `mapstructure:"catalog"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// PostgresConfig is the `postgres` section.
type PostgresConfig struct {
	// DSN is a postgres:// URL or a key=value DSN as pgx accepts it
	// (required). A search_path in it selects the schema.
	DSN configopaque.String `mapstructure:"dsn"`
	// MaxConns is the pool's maximum number of connections (default 8).
	MaxConns int32 `mapstructure:"max_conns"`
	// MinConns is the number of connections kept open (default 1).
	MinConns int32 `mapstructure:"min_conns"`
}

// RedisConfig is the `redis` section: where the counters are
// (counters.RedisConfig, shared with the stats service) and the claims'
// sweep.
type RedisConfig struct {
	counters.RedisConfig `mapstructure:",squash"`
	// ClaimTTL is the minimum age of a leftover claim (one whose outbox row
	// is gone) before the hourly sweep deletes it (default 168h). Claims
	// have no TTL: an applied batch's claim is deleted right after its
	// outbox row, and this age only keeps the sweep off claims in use.
	ClaimTTL time.Duration `mapstructure:"claim_ttl"`
}

// layout is the key layout the store writes.
func (c RedisConfig) layout() counters.Layout {
	l := c.Layout()
	l.ClaimTTL = c.ClaimTTL
	return l
}

// PartitionsConfig is the `partitions` section.
type PartitionsConfig struct {
	// CreateAheadMonths is how many months after the current one get their
	// partition in advance (default 2). Other months are created on demand.
	CreateAheadMonths int `mapstructure:"create_ahead_months"`
	// RetentionMonths, when positive, drops the raw-event partitions of
	// months more than this many months before the current business month
	// (checked hourly). Rollups are kept. 0 (default) keeps everything.
	RetentionMonths int `mapstructure:"retention_months"`
}

// Validate checks the configuration without I/O (the time zone is resolved
// from the embedded tz database when the host has none). The helper
// sections (timeout, sending_queue, retry_on_failure) validate themselves.
func (c *Config) Validate() error {
	var errs []error
	if c.Postgres.DSN == "" {
		errs = append(errs, errors.New("postgres.dsn: must be set"))
	}
	if c.Postgres.MaxConns < 1 {
		errs = append(errs, fmt.Errorf("postgres.max_conns: must be at least 1, got %d", c.Postgres.MaxConns))
	}
	if c.Postgres.MinConns < 0 || c.Postgres.MinConns > c.Postgres.MaxConns {
		errs = append(errs, fmt.Errorf("postgres.min_conns: must be between 0 and postgres.max_conns (%d), got %d", c.Postgres.MaxConns, c.Postgres.MinConns))
	}
	if err := c.Redis.RequireAddr("redis."); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, c.Redis.Validate("redis.")...)
	if c.Redis.ClaimTTL < time.Second {
		errs = append(errs, fmt.Errorf("redis.claim_ttl: must be at least 1s, got %s", c.Redis.ClaimTTL))
	}
	if c.Timezone == "" {
		errs = append(errs, errors.New("timezone: must be set (an IANA name such as Asia/Shanghai)"))
	} else if _, err := time.LoadLocation(c.Timezone); err != nil {
		errs = append(errs, fmt.Errorf("timezone: %q is not a known time zone: %w", c.Timezone, err))
	}
	if c.Partitions.CreateAheadMonths < 0 {
		errs = append(errs, fmt.Errorf("partitions.create_ahead_months: must not be negative, got %d", c.Partitions.CreateAheadMonths))
	}
	if c.Partitions.RetentionMonths < 0 {
		errs = append(errs, fmt.Errorf("partitions.retention_months: must not be negative, got %d", c.Partitions.RetentionMonths))
	}
	if c.OutboxInterval <= 0 {
		errs = append(errs, fmt.Errorf("outbox_interval: must be positive, got %s", c.OutboxInterval))
	}
	if c.QueueConfig.HasValue() {
		if q := c.QueueConfig.Get(); q.Batch.HasValue() && q.Batch.Get().Sizer != exporterhelper.RequestSizerTypeItems {
			errs = append(errs, fmt.Errorf("sending_queue::batch::sizer: must be items (the exporter batches records), got %s", q.Batch.Get().Sizer.String()))
		}
	}
	if c.Catalog != nil {
		errs = append(errs, errors.New("catalog: the analytics exporter no longer reads the event catalog; "+
			"set it once on the eventcatalog processor (processors: eventcatalog: catalog:), which stamps each event's measure and flag, "+
			"and remove this section"))
	}
	return errors.Join(errs...)
}
