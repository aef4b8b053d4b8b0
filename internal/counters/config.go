package counters

import (
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/collector/config/configopaque"
)

// RedisConfig is where the counters are: the keys of a `redis` section that
// the analytics exporter (which writes them) and the stats service (which
// reads them) share, with one meaning and the same environment variables
// in otelcol-config.yaml. Each component embeds it with
// `mapstructure:",squash"` beside its own keys and sets its own defaults.
type RedisConfig struct {
	// Addr is the host:port of a single Redis server. Ignored when Addrs is
	// set.
	Addr string `mapstructure:"addr"`
	// Addrs are the seed addresses of a Redis Cluster; setting it selects
	// cluster mode.
	Addrs []string `mapstructure:"addrs"`
	// DB is the database number (single server only; default 0).
	DB int `mapstructure:"db"`
	// Username for Redis ACLs (optional).
	Username string `mapstructure:"username"`
	// Password (optional).
	Password configopaque.String `mapstructure:"password"`
	// KeyPrefix starts every key (default DefaultPrefix). In cluster mode
	// it must contain a hash tag such as "{analytics}:" so that one batch's
	// keys share a slot (HasHashTag).
	KeyPrefix string `mapstructure:"key_prefix"`
	// DailyTTL is how long after its business day has ended a daily hash
	// expires, a fixed time that writes do not push back; a day past it is
	// not written any more, and read from the rollups (Layout.DayExpiry,
	// KeepsDay). Default DefaultDailyTTL; 0 = never.
	DailyTTL time.Duration `mapstructure:"daily_ttl"`
	// MonthlyTTL is the expiry of monthly hashes (default 0 = never).
	MonthlyTTL time.Duration `mapstructure:"monthly_ttl"`
}

// Cluster reports whether the section selects a Redis Cluster (Addrs set).
func (c RedisConfig) Cluster() bool { return len(c.Addrs) > 0 }

// Options are the client options of the section, for NewClient: one server
// at Addr, or a Redis Cluster seeded by Addrs. Callers add their timeouts
// and pool settings.
func (c RedisConfig) Options() *redis.UniversalOptions {
	opts := &redis.UniversalOptions{
		Addrs:    []string{c.Addr},
		DB:       c.DB,
		Username: c.Username,
		Password: string(c.Password),
	}
	if c.Cluster() {
		opts.Addrs, opts.IsClusterMode = c.Addrs, true
	}
	return opts
}

// Where names the Redis of the section in messages: Addr, or the Addrs.
func (c RedisConfig) Where() string {
	if c.Cluster() {
		return fmt.Sprint(c.Addrs)
	}
	return c.Addr
}

// Layout is the key layout of the section (its prefix and expiries).
func (c RedisConfig) Layout() Layout {
	return Layout{Prefix: c.KeyPrefix, DailyTTL: c.DailyTTL, MonthlyTTL: c.MonthlyTTL}
}

// Validate checks the shared keys; path starts every key named in a
// message ("redis." in the exporter's messages, "redis::" in the stats
// service's). Whether an address is required is the component's rule.
func (c RedisConfig) Validate(path string) []error {
	var errs []error
	for i, a := range c.Addrs {
		if strings.TrimSpace(a) == "" {
			errs = append(errs, fmt.Errorf("%saddrs[%d]: must not be empty", path, i))
		}
	}
	if c.DB < 0 {
		errs = append(errs, fmt.Errorf("%sdb: must not be negative, got %d", path, c.DB))
	}
	if c.Cluster() && c.DB != 0 {
		errs = append(errs, fmt.Errorf("%sdb: must be 0 with %saddrs (Redis Cluster has only database 0)", path, path))
	}
	switch {
	case c.KeyPrefix == "":
		errs = append(errs, fmt.Errorf("%skey_prefix: must not be empty (the exporter's, default %q)", path, DefaultPrefix))
	case c.Cluster() && !HasHashTag(c.KeyPrefix):
		errs = append(errs, fmt.Errorf("%skey_prefix: %q has no hash tag; with %saddrs the exporter requires one such as \"{analytics}:\" so that a batch's keys share a cluster slot",
			path, c.KeyPrefix, path))
	}
	if c.DailyTTL < 0 {
		errs = append(errs, fmt.Errorf("%sdaily_ttl: must not be negative, got %s", path, c.DailyTTL))
	}
	if c.MonthlyTTL < 0 {
		errs = append(errs, fmt.Errorf("%smonthly_ttl: must not be negative, got %s", path, c.MonthlyTTL))
	}
	return errs
}

// RequireAddr is Validate's companion for a component that must have a
// Redis: an error naming path+"addr" when neither Addr nor Addrs is set.
func (c RedisConfig) RequireAddr(path string) error {
	if c.Cluster() || c.Addr != "" {
		return nil
	}
	return fmt.Errorf("%saddr: must be set (or %saddrs for a cluster)", path, path)
}
