package counters

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-analytics/otelcol-analytics/internal/testdb"
)

func TestNewClientSingleOrCluster(t *testing.T) {
	one := NewClient(&redis.UniversalOptions{Addrs: []string{"127.0.0.1:1"}, DB: 3})
	defer func() { require.NoError(t, one.Close()) }()
	c, ok := one.(*redis.Client)
	require.True(t, ok, "one address: a *redis.Client, got %T", one)
	assert.Equal(t, 3, c.Options().DB)
	for _, o := range []*redis.UniversalOptions{
		{Addrs: []string{"127.0.0.1:1", "127.0.0.1:2"}},
		{Addrs: []string{"127.0.0.1:1"}, IsClusterMode: true},
	} {
		cc := NewClient(o)
		_, ok := cc.(*redis.ClusterClient)
		assert.True(t, ok, "%v: a *redis.ClusterClient, got %T", o.Addrs, cc)
		require.NoError(t, cc.Close())
	}
}

func TestHasHashTag(t *testing.T) {
	for p, want := range map[string]bool{"{analytics}:": true, "x:{t}:": true, "analytics:": false, "{}:": false, "{a": false} {
		assert.Equal(t, want, HasHashTag(p), p)
	}
}

// TestNewClientClusterMasterKilled: after the master of a key's slot
// is killed and its replica has taken over, a cluster client of NewClient
// writes the key again at its next attempts, not only when go-redis
// reloads its slot map on its own (once a minute). A scale test (it starts
// a Redis Cluster): OTELCOL_SCALE=1, `make test-scale`.
func TestNewClientClusterMasterKilled(t *testing.T) {
	if os.Getenv("OTELCOL_SCALE") != "1" {
		t.Skip("scale test: set OTELCOL_SCALE=1 (`make test-scale` runs it)")
	}
	rc := testdb.StartRedisCluster(t)
	rdb := NewClient(&redis.UniversalOptions{Addrs: rc.Addrs, IsClusterMode: true})
	defer func() { require.NoError(t, rdb.Close()) }()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const key = "{redisclient}:k"
	require.NoError(t, rdb.Set(ctx, key, "before", 0).Err())
	master, replica, err := rc.MasterOf(ctx, key)
	require.NoError(t, err)
	require.NotNil(t, replica)
	rc.Kill(master)
	rc.WaitMaster(replica, time.Minute)

	// The cluster is healthy again. One attempt may still go to the dead
	// master (it lets the client reload its map); a few tries later the
	// write must succeed, well before go-redis' own reload a minute after
	// the client loaded the map.
	failed := 0
	for {
		err := rdb.Set(ctx, key, "after", 0).Err()
		if err == nil {
			break
		}
		failed++
		require.Less(t, failed, 10, "the write still fails after %d attempts: %v", failed, err)
		time.Sleep(300 * time.Millisecond)
	}
	nc := rc.NodeClient(replica)
	defer func() { _ = nc.Close() }()
	got, err := nc.Get(ctx, key).Result()
	require.NoError(t, err)
	assert.Equal(t, "after", got, "the new master holds the write")
	t.Logf("write failed %d times after the failover, then succeeded", failed)
}
