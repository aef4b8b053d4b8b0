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

// AuthConfig is the bearer-token check.
type AuthConfig struct {
	// Token, when set, must be sent as "Authorization: Bearer <token>" on
	// every endpoint but /healthz and /assets/. Empty: no check.
	Token configopaque.String `mapstructure:"token"`
}

// NewDefaultConfig returns the defaults: listen on localhost:8090, a local
// PostgreSQL, Asia/Shanghai, ¥10 per AI resolution, no token.
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
	return errors.Join(errs...)
}

// DefaultCostPerResolution is the default cost_per_resolution, in yuan: the
// one place it is written (the simulator, the demo and analytics-stats take
// it from here).
const DefaultCostPerResolution = 10.0

func (c *Config) costFen() int64 { return CostFen(c.CostPerResolution) }
