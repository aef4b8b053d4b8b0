package counters

import (
	"context"
	"errors"
	"regexp"
	"strings"

	"github.com/redis/go-redis/v9"
)

// NewClient builds a client of the counters' Redis from opts (no I/O): a
// Redis Cluster client when opts.IsClusterMode is set or opts names more
// than one address, else a single-server client. The exporter, the stats
// service and analyticsctl all build theirs here.
//
// A cluster client learns which master serves which slot from CLUSTER
// SLOTS, and learns it again on a MOVED reply or once a minute (go-redis'
// ClusterStateReloadInterval). A master that crashed sends no MOVED: until
// that minute is up, every command of its slots would go to the dead
// address and fail, long after its replica has taken over. reloadSlotsHook
// makes the client reload the slot map after every failure that is not a
// reply from Redis, so the next attempt (a retry, the outbox, the next
// live read) finds the new master.
func NewClient(opts *redis.UniversalOptions) redis.UniversalClient {
	if !opts.IsClusterMode && len(opts.Addrs) <= 1 {
		return redis.NewUniversalClient(opts)
	}
	o := *opts
	o.IsClusterMode = true
	cc := redis.NewClusterClient(o.Cluster())
	cc.AddHook(reloadSlotsHook{cc})
	return cc
}

// hashTagRE matches a Redis Cluster hash tag.
var hashTagRE = regexp.MustCompile(`\{[^{}]+\}`)

// HasHashTag reports whether prefix holds a Redis Cluster hash tag ("{…}"),
// which a key prefix needs in cluster mode: every key of one prefix then
// lives in one slot, so one batch's script touches one node.
func HasHashTag(prefix string) bool { return hashTagRE.MatchString(prefix) }

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
