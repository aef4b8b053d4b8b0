// Package testdb gives each test its own PostgreSQL schema and its own Redis
// key prefix (or its own redis-server) on the machine's real services, and
// cleans them up afterwards. No fakes: the tests that use it talk to the
// real PostgreSQL and Redis.
//
// ANALYTICS_TEST_POSTGRES_DSN (default postgres://postgres@127.0.0.1:5432/test?sslmode=disable)
// and ANALYTICS_TEST_REDIS_ADDR (default 127.0.0.1:6379) point it elsewhere.
package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/otelcol-analytics/otelcol-analytics/migrations"
)

// BaseDSN is the DSN of the shared test database.
func BaseDSN() string {
	if v := os.Getenv("ANALYTICS_TEST_POSTGRES_DSN"); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// RedisAddr is the address of the shared test Redis.
func RedisAddr() string {
	if v := os.Getenv("ANALYTICS_TEST_REDIS_ADDR"); v != "" {
		return v
	}
	return "127.0.0.1:6379"
}

func randomName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// Schema creates a fresh, empty schema and returns a DSN whose search_path
// is that schema, and the schema's name. The schema is dropped when the test
// ends.
func Schema(tb testing.TB) (dsn, schema string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	schema = randomName("t_")
	conn, err := pgx.Connect(ctx, BaseDSN())
	if err != nil {
		tb.Fatalf("testdb: PostgreSQL at %s does not answer (start it, see README): %v", BaseDSN(), err)
	}
	defer func() {
		if err := conn.Close(ctx); err != nil {
			tb.Errorf("testdb: close: %v", err)
		}
	}()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		tb.Fatalf("testdb: create schema: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, BaseDSN())
		if err != nil {
			tb.Errorf("testdb: cleanup connect: %v", err)
			return
		}
		defer func() {
			if err := c.Close(ctx); err != nil {
				tb.Errorf("testdb: cleanup close: %v", err)
			}
		}()
		if _, err := c.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			tb.Errorf("testdb: drop schema %s: %v", schema, err)
		}
	})
	return WithSearchPath(BaseDSN(), schema), schema
}

// Migrated is Schema with every migration applied.
func Migrated(tb testing.TB) (dsn, schema string) {
	tb.Helper()
	dsn, schema = Schema(tb)
	if err := migrations.Up(dsn); err != nil {
		tb.Fatalf("testdb: migrate: %v", err)
	}
	return dsn, schema
}

// WithSearchPath returns dsn with its search_path set to schema.
func WithSearchPath(dsn, schema string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err == nil {
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return dsn + " search_path=" + schema
}

// RedisPrefix returns a client of the shared Redis and a key prefix of the
// test's own ("test:<random>:"). Every key under the prefix is deleted when
// the test ends.
func RedisPrefix(tb testing.TB) (*redis.Client, string) {
	tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: RedisAddr()})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		tb.Fatalf("testdb: Redis at %s does not answer (start it, see README): %v", RedisAddr(), err)
	}
	prefix := randomName("test:") + ":"
	tb.Cleanup(func() {
		DeletePrefix(tb, c, prefix)
		if err := c.Close(); err != nil {
			tb.Errorf("testdb: close Redis client: %v", err)
		}
	})
	return c, prefix
}

// DeletePrefix deletes every key that starts with prefix.
func DeletePrefix(tb testing.TB, c redis.UniversalClient, prefix string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		tb.Errorf("testdb: scan %s*: %v", prefix, err)
		return
	}
	for len(keys) > 0 {
		n := min(len(keys), 500)
		if err := c.Del(ctx, keys[:n]...).Err(); err != nil {
			tb.Errorf("testdb: delete keys: %v", err)
			return
		}
		keys = keys[n:]
	}
}

// RedisServer is a redis-server process of the test's own, for tests that
// stop Redis or flush it whole without touching the shared one.
type RedisServer struct {
	Addr string
	port int
	cmd  *exec.Cmd
	tb   testing.TB
}

// StartRedis starts a private redis-server on a free loopback port. It is
// stopped when the test ends.
func StartRedis(tb testing.TB) *RedisServer {
	tb.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		tb.Fatalf("testdb: redis-server is not installed (apt-get install redis-server): %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("testdb: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	s := &RedisServer{Addr: "127.0.0.1:" + strconv.Itoa(port), port: port, tb: tb}
	s.Start()
	tb.Cleanup(s.Stop)
	return s
}

// Start (re)starts the server on its port and waits until it answers.
func (s *RedisServer) Start() {
	s.tb.Helper()
	if s.cmd != nil {
		return
	}
	cmd := exec.Command("redis-server", "--bind", "127.0.0.1", "--port", strconv.Itoa(s.port),
		"--save", "", "--appendonly", "no", "--dir", s.tb.TempDir())
	if err := cmd.Start(); err != nil {
		s.tb.Fatalf("testdb: start redis-server: %v", err)
	}
	s.cmd = cmd
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer func() {
		if err := c.Close(); err != nil {
			s.tb.Errorf("testdb: close Redis client: %v", err)
		}
	}()
	if err := waitPing(c, 10*time.Second); err != nil {
		s.tb.Fatalf("testdb: redis-server on %s did not answer: %v", s.Addr, err)
	}
}

// waitPing waits until c answers PING (each try bounded by a second) or
// timeout passes; it returns the last error.
func waitPing(c redis.UniversalClient, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the server (its data is gone: it keeps nothing on disk).
func (s *RedisServer) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// String implements fmt.Stringer.
func (s *RedisServer) String() string { return fmt.Sprintf("redis-server %s", s.Addr) }
