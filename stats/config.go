package stats

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	_ "time/tzdata" // time zones are validated and used the same on every machine

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
)

// DefaultEndpoint is where the stats service listens unless told otherwise:
// the loopback interface only.
const DefaultEndpoint = "localhost:8090"

// Config is the configuration of the stats service, the same keys in the
// collector extension (analytics_stats) and in cmd/analytics-stats.
type Config struct {
	// HTTP is the listening server: endpoint (default localhost:8090),
	// tls, cors, timeouts, as confighttp.ServerConfig takes them.
	HTTP confighttp.ServerConfig `mapstructure:"http"`
	// Postgres is the database the rollups are read from.
	Postgres PostgresConfig `mapstructure:"postgres"`
	// Timezone is the business time zone that cuts days and months; it must
	// be the one the exporter writes with. Default Asia/Shanghai.
	Timezone string `mapstructure:"timezone"`
	// CostPerResolution is the labour cost, in yuan, that one session the AI
	// resolved alone saves (the seed's ¥10). Kept to the fen (0.01).
	CostPerResolution float64 `mapstructure:"cost_per_resolution"`
	// Auth protects every endpoint but /healthz and /assets/.
	Auth AuthConfig `mapstructure:"auth"`
	// Redis is where /api/analytics/live reads today's counters, the
	// exporter's Redis with its keys. Optional: without an address the live
	// endpoint answers from the rollups.
	Redis RedisConfig `mapstructure:"redis"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// PostgresConfig says how to reach PostgreSQL.
type PostgresConfig struct {
	// DSN is a postgres:// URL or key=value string. Give the stats service
	// a read-only role where you can (see README): it only SELECTs.
	DSN configopaque.String `mapstructure:"dsn"`
	// MaxConns caps the connection pool. Default 4.
	MaxConns int32 `mapstructure:"max_conns"`
	// QueryTimeout bounds the database work of one request (connecting
	// included). Default 5s.
	QueryTimeout time.Duration `mapstructure:"query_timeout"`
}

// RedisConfig says how to reach the exporter's Redis: the keys of the
// analytics exporter's redis section that reading needs
// (counters.RedisConfig: the same meaning and environment variables,
// ANALYTICS_REDIS_ADDR, _DB, _PASSWORD, _PREFIX, _DAILY_TTL in
// otelcol-config.yaml; key_prefix, daily_ttl and monthly_ttl must be the
// exporter's), and the time a live read may take. An empty addr (the
// default) with no addrs: Redis is not read and /api/analytics/live answers
// from the rollups.
type RedisConfig struct {
	counters.RedisConfig `mapstructure:",squash"`
	// Timeout bounds one live read from Redis, connecting included; past
	// it the endpoint answers from the rollups. Default 1s.
	Timeout time.Duration `mapstructure:"timeout"`
}

// Enabled reports whether a Redis address is configured.
func (c RedisConfig) Enabled() bool { return c.Addr != "" || c.Cluster() }

func (c RedisConfig) validate() []error {
	errs := c.Validate("redis::")
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("redis::timeout: must be positive, got %s", c.Timeout))
	}
	return errs
}

// AuthConfig is the bearer-token check.
type AuthConfig struct {
	// Token, when set, must be sent as "Authorization: Bearer <token>" on
	// every endpoint but /healthz and /assets/. Empty: no check.
	Token configopaque.String `mapstructure:"token"`
}

// NewDefaultConfig returns the defaults: listen on localhost:8090, a local
// PostgreSQL, Asia/Shanghai, ¥10 per AI resolution, no token, no Redis
// (the exporter's key prefix and daily TTL once an address is set).
func NewDefaultConfig() *Config {
	httpCfg := confighttp.NewDefaultServerConfig()
	httpCfg.NetAddr.Endpoint = DefaultEndpoint
	return &Config{
		HTTP: httpCfg,
		Postgres: PostgresConfig{
			DSN:          counters.DefaultPostgresDSN,
			MaxConns:     4,
			QueryTimeout: 5 * time.Second,
		},
		Timezone:          counters.DefaultTimeZone,
		CostPerResolution: DefaultCostPerResolution,
		Redis: RedisConfig{
			RedisConfig: counters.RedisConfig{KeyPrefix: counters.DefaultPrefix, DailyTTL: counters.DefaultDailyTTL},
			Timeout:     time.Second,
		},
	}
}

// Validate checks the configuration without I/O (time zones come from the
// embedded tzdata).
func (c *Config) Validate() error {
	var errs []error
	if strings.TrimSpace(c.HTTP.NetAddr.Endpoint) == "" {
		errs = append(errs, errors.New("http::endpoint: must not be empty"))
	}
	if strings.TrimSpace(string(c.Postgres.DSN)) == "" {
		errs = append(errs, errors.New("postgres::dsn: must not be empty"))
	}
	if c.Postgres.MaxConns < 1 {
		errs = append(errs, fmt.Errorf("postgres::max_conns: must be at least 1, got %d", c.Postgres.MaxConns))
	}
	if c.Postgres.QueryTimeout <= 0 {
		errs = append(errs, fmt.Errorf("postgres::query_timeout: must be positive, got %s", c.Postgres.QueryTimeout))
	}
	if c.Timezone == "" {
		errs = append(errs, errors.New("timezone: must not be empty (e.g. Asia/Shanghai)"))
	} else if _, err := time.LoadLocation(c.Timezone); err != nil {
		errs = append(errs, fmt.Errorf("timezone: unknown time zone %q", c.Timezone))
	}
	switch {
	case math.IsNaN(c.CostPerResolution) || math.IsInf(c.CostPerResolution, 0) || c.CostPerResolution < 0:
		errs = append(errs, fmt.Errorf("cost_per_resolution: must be a non-negative number of yuan, got %v", c.CostPerResolution))
	case c.CostPerResolution > 1e9:
		errs = append(errs, fmt.Errorf("cost_per_resolution: %v yuan is implausibly large (at most 1e9)", c.CostPerResolution))
	}
	if t := string(c.Auth.Token); t != "" && strings.TrimSpace(t) != t {
		errs = append(errs, errors.New("auth::token: must not start or end with white space"))
	}
	errs = append(errs, c.Redis.validate()...)
	return errors.Join(errs...)
}

// DefaultCostPerResolution is the default cost_per_resolution, in yuan: the
// one place it is written (the simulator, the demo and analytics-stats take
// it from here).
const DefaultCostPerResolution = 10.0

func (c *Config) costFen() int64 { return CostFen(c.CostPerResolution) }
