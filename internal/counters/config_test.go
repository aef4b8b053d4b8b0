package counters

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRedisConfigClient(t *testing.T) {
	t.Run("one server", func(t *testing.T) {
		c := RedisConfig{Addr: "127.0.0.1:1", DB: 3, Username: "u", Password: "p", Addrs: nil}
		assert.False(t, c.Cluster())
		assert.Equal(t, "127.0.0.1:1", c.Where())
		rdb := NewClient(c.Options())
		defer func() { require.NoError(t, rdb.Close()) }()
		cl, ok := rdb.(*redis.Client)
		require.True(t, ok, "a single server's client is a *redis.Client, got %T", rdb)
		assert.Equal(t, 3, cl.Options().DB)
		assert.Equal(t, "u", cl.Options().Username)
		assert.Equal(t, "p", cl.Options().Password)
	})
	t.Run("cluster", func(t *testing.T) {
		c := RedisConfig{Addr: "ignored:1", Addrs: []string{"127.0.0.1:1", "127.0.0.1:2"}, KeyPrefix: "{a}:"}
		assert.True(t, c.Cluster())
		assert.Equal(t, "[127.0.0.1:1 127.0.0.1:2]", c.Where())
		rdb := NewClient(c.Options())
		defer func() { require.NoError(t, rdb.Close()) }()
		cc, ok := rdb.(*redis.ClusterClient)
		require.True(t, ok, "addrs select a cluster client, got %T", rdb)
		assert.Equal(t, []string{"127.0.0.1:1", "127.0.0.1:2"}, cc.Options().Addrs)
	})
}

func TestRedisConfigLayout(t *testing.T) {
	c := RedisConfig{KeyPrefix: "shop:", DailyTTL: 48 * time.Hour, MonthlyTTL: time.Hour}
	assert.Equal(t, Layout{Prefix: "shop:", DailyTTL: 48 * time.Hour, MonthlyTTL: time.Hour}, c.Layout())
}

func TestRedisConfigValidate(t *testing.T) {
	ok := RedisConfig{Addr: "127.0.0.1:6379", KeyPrefix: DefaultPrefix, DailyTTL: DefaultDailyTTL}
	assert.Empty(t, ok.Validate("redis."))
	require.NoError(t, ok.RequireAddr("redis."))
	require.NoError(t, RedisConfig{Addrs: []string{"a:1"}}.RequireAddr("redis."))
	require.EqualError(t, RedisConfig{}.RequireAddr("redis."), "redis.addr: must be set (or redis.addrs for a cluster)")

	bad := RedisConfig{Addrs: []string{"a:1", " "}, DB: 2, KeyPrefix: "analytics:", DailyTTL: -time.Hour, MonthlyTTL: -time.Minute}
	var got []string
	for _, err := range bad.Validate("redis::") {
		got = append(got, err.Error())
	}
	assert.Equal(t, []string{
		"redis::addrs[1]: must not be empty",
		"redis::db: must be 0 with redis::addrs (Redis Cluster has only database 0)",
		`redis::key_prefix: "analytics:" has no hash tag; with redis::addrs the exporter requires one such as "{analytics}:" so that a batch's keys share a cluster slot`,
		"redis::daily_ttl: must not be negative, got -1h0m0s",
		"redis::monthly_ttl: must not be negative, got -1m0s",
	}, got)
	got = nil
	for _, err := range (RedisConfig{Addr: "x:1", DB: -1}).Validate("redis.") {
		got = append(got, err.Error())
	}
	assert.Equal(t, []string{
		"redis.db: must not be negative, got -1",
		`redis.key_prefix: must not be empty (the exporter's, default "analytics:")`,
	}, got)
}
