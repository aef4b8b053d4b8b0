package analyticsexporter

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// newRedisClient builds the exporter's Redis client (no I/O): one server
// at redis.addr, or a Redis Cluster client for redis.addrs. It returns the
// client and the address to name in messages.
//
// A cluster client learns which master serves which slot from CLUSTER
// SLOTS, and learns it again on a MOVED reply or once a minute (go-redis'
// ClusterStateReloadInterval). A master that crashed sends no MOVED: until
// that minute is up, every write of its slots would go to the dead address
// and fail, long after its replica has taken over. reloadSlotsHook makes
// the client reload the slot map after every failure that is not a reply
// from Redis, so the next attempt (a retry, the outbox) finds the new
// master.
func newRedisClient(cfg RedisConfig) (redis.UniversalClient, string) {
	opts := &redis.UniversalOptions{
		Addrs:    []string{cfg.Addr},
		DB:       cfg.DB,
		Username: cfg.Username,
		Password: string(cfg.Password),
	}
	if len(cfg.Addrs) == 0 {
		return redis.NewUniversalClient(opts), cfg.Addr
	}
	opts.Addrs = cfg.Addrs
	opts.IsClusterMode = true
	cc := redis.NewClusterClient(opts.Cluster())
	cc.AddHook(reloadSlotsHook{cc})
	return cc, fmt.Sprint(cfg.Addrs)
}

// reloadSlotsHook reloads a cluster client's slot map (asynchronously,
// at most one reload at a time) after a failure that is not a Redis reply
// (a refused connection, a timeout), or a CLUSTERDOWN reply.
type reloadSlotsHook struct{ cc *redis.ClusterClient }

func (reloadSlotsHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h reloadSlotsHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.afterError(ctx, err)
		return err
	}
}

func (h reloadSlotsHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		h.afterError(ctx, err)
		return err
	}
}

func (h reloadSlotsHook) afterError(ctx context.Context, err error) {
	if err == nil || ctx.Err() != nil {
		return
	}
	var reply redis.Error
	if errors.As(err, &reply) && !strings.HasPrefix(err.Error(), "CLUSTERDOWN") {
		return // Redis answered (redis.Nil, NOSCRIPT, a script's error …): the map is right
	}
	h.cc.ReloadState(ctx)
}
