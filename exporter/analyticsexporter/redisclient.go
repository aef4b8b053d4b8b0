package analyticsexporter

import (
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
)

// newRedisClient builds the exporter's Redis client (no I/O,
// counters.NewClient): one server at redis.addr, or a Redis Cluster client
// for redis.addrs. It returns the client and the address to name in
// messages.
func newRedisClient(cfg RedisConfig) (redis.UniversalClient, string) {
	opts := &redis.UniversalOptions{
		Addrs:    []string{cfg.Addr},
		DB:       cfg.DB,
		Username: cfg.Username,
		Password: string(cfg.Password),
	}
	if len(cfg.Addrs) == 0 {
		return counters.NewClient(opts), cfg.Addr
	}
	opts.Addrs, opts.IsClusterMode = cfg.Addrs, true
	return counters.NewClient(opts), fmt.Sprint(cfg.Addrs)
}
