package analyticsexporter

import (
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewRedisClientSingle(t *testing.T) {
	rdb, addr := newRedisClient(RedisConfig{Addr: "127.0.0.1:1", DB: 3})
	defer func() { require.NoError(t, rdb.Close()) }()
	c, ok := rdb.(*redis.Client)
	require.True(t, ok, "a single server's client is a *redis.Client, got %T", rdb)
	assert.Equal(t, 3, c.Options().DB)
	assert.Equal(t, "127.0.0.1:1", addr)
}
