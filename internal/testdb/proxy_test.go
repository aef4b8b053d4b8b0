package testdb

import (
	"context"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pgProxy starts a Proxy to the test PostgreSQL and returns it with the
// schema's DSN direct and through the proxy.
func pgProxy(t *testing.T) (p *Proxy, direct, proxied string) {
	t.Helper()
	direct, _ = Schema(t)
	cfg, err := pgx.ParseConfig(BaseDSN())
	require.NoError(t, err)
	hostPort := fmt.Sprintf("%s:%d", cfg.Host, cfg.Port)
	p = StartProxy(t, hostPort)
	require.Contains(t, direct, hostPort)
	return p, direct, strings.Replace(direct, hostPort, p.Addr, 1)
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func countRows(t *testing.T, c *pgx.Conn, sql string) int {
	t.Helper()
	var n int
	require.NoError(t, c.QueryRow(context.Background(), sql).Scan(&n))
	return n
}

// insertCommit inserts v in a transaction through c and commits it.
func insertCommit(ctx context.Context, c *pgx.Conn, v int) error {
	tx, err := c.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "INSERT INTO t VALUES ($1)", v); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// TestProxyCommitCut: an armed cut lets the COMMIT through, drops the
// server's answer and closes the connection: the client sees an error, yet
// the row is committed. The next commit goes through.
func TestProxyCommitCut(t *testing.T) {
	t.Parallel()
	p, direct, proxied := pgProxy(t)
	ctx := context.Background()
	d := connect(t, direct)
	_, err := d.Exec(ctx, "CREATE TABLE t (v int PRIMARY KEY)")
	require.NoError(t, err)

	c := connect(t, proxied)
	require.NoError(t, insertCommit(ctx, c, 1), "no cut before Arm")
	assert.Equal(t, 1, p.Commits())
	p.Arm(1)
	err = insertCommit(ctx, c, 2)
	require.Error(t, err, "the commit's answer is dropped")
	assert.True(t, c.IsClosed(), "the connection is closed: %v", err)
	assert.Equal(t, 1, p.Cuts())
	assert.Equal(t, 2, p.Commits())
	assert.Equal(t, 1, countRows(t, d, "SELECT count(*) FROM t WHERE v = 2"), "the server committed the cut transaction")

	c2 := connect(t, proxied)
	require.NoError(t, insertCommit(ctx, c2, 3), "armed for one commit only")
	assert.Equal(t, 1, p.Cuts())
	assert.Equal(t, 3, countRows(t, d, "SELECT count(*) FROM t"))
	// Everything else on a followed connection passes: a COPY, queries
	// with arguments (extended protocol), a rollback.
	n, err := c2.CopyFrom(ctx, pgx.Identifier{"t"}, []string{"v"}, pgx.CopyFromRows([][]any{{10}, {11}, {12}}))
	require.NoError(t, err)
	assert.Equal(t, int64(3), n)
	var sum int
	require.NoError(t, c2.QueryRow(ctx, "SELECT sum(v) FROM t WHERE v > $1", 9).Scan(&sum))
	assert.Equal(t, 33, sum)
	tx, err := c2.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "INSERT INTO t VALUES (20)")
	require.NoError(t, err)
	require.NoError(t, tx.Rollback(ctx))
	assert.Equal(t, 6, countRows(t, d, "SELECT count(*) FROM t"))
	assert.Equal(t, 1, p.Cuts())
}

// TestProxyCutEvery: CutCommits(3) cuts the 3rd, 6th, … commit; every
// transaction is committed, cut or not.
func TestProxyCutEvery(t *testing.T) {
	t.Parallel()
	p, direct, proxied := pgProxy(t)
	ctx := context.Background()
	d := connect(t, direct)
	_, err := d.Exec(ctx, "CREATE TABLE t (v int PRIMARY KEY)")
	require.NoError(t, err)
	p.CutCommits(3)
	var c *pgx.Conn
	failed := 0
	for v := 1; v <= 9; v++ {
		if c == nil || c.IsClosed() {
			c = connect(t, proxied)
		}
		if err := insertCommit(ctx, c, v); err != nil {
			failed++
			assert.Zero(t, v%3, "commit %d failed: %v", v, err)
		}
	}
	assert.Equal(t, 3, failed)
	assert.Equal(t, 3, p.Cuts())
	assert.Equal(t, 9, p.Commits())
	assert.Equal(t, 9, countRows(t, d, "SELECT count(*) FROM t"))
}

// TestProxyLatency: every answer of the server is delayed by the latency,
// on an open connection too; PostgreSQL and Redis alike.
func TestProxyLatency(t *testing.T) {
	t.Parallel()
	p, _, proxied := pgProxy(t)
	ctx := context.Background()
	c := connect(t, proxied)
	roundTrip := func() time.Duration {
		start := time.Now()
		var one int
		require.NoError(t, c.QueryRow(ctx, "SELECT 1").Scan(&one))
		return time.Since(start)
	}
	const lat = 200 * time.Millisecond
	p.SetLatency(lat)
	for range 3 {
		assert.GreaterOrEqual(t, roundTrip(), lat)
	}
	// Queries in flight together each wait the latency once, not in turn.
	start := time.Now()
	b := &pgx.Batch{}
	for i := range 20 {
		b.Queue("SELECT $1::int", i)
	}
	require.NoError(t, c.SendBatch(ctx, b).Close())
	took := time.Since(start)
	assert.GreaterOrEqual(t, took, lat)
	p.SetLatency(0)
	roundTrip() // what was queued has gone
	assert.Less(t, roundTrip(), lat, "no latency once set to 0")
	t.Logf("a batch of 20 queries with %s latency: %s", lat, took)

	r := StartProxy(t, RedisAddr())
	rc := redis.NewClient(&redis.Options{Addr: r.Addr})
	t.Cleanup(func() { _ = rc.Close() })
	require.NoError(t, rc.Ping(ctx).Err())
	r.SetLatency(lat)
	start = time.Now()
	require.NoError(t, rc.Ping(ctx).Err())
	assert.GreaterOrEqual(t, time.Since(start), lat, "Redis is forwarded as bytes, with the latency")
}

// TestProxyCloseKeepsPort: a closed proxy keeps its port (no free-port
// probe gets it), cuts the open connections and refuses new ones; Open
// serves again on the same address.
func TestProxyCloseKeepsPort(t *testing.T) {
	t.Parallel()
	p, _, proxied := pgProxy(t)
	ctx := context.Background()
	c := connect(t, proxied)
	p.Close()
	var one int
	require.Error(t, c.QueryRow(ctx, "SELECT 1").Scan(&one), "open connections are cut")
	// The port stays bound: a bind without SO_REUSEADDR fails (and the
	// kernel gives a bound port to no listen on port 0).
	noReuse := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 0)
		}); err != nil {
			return err
		}
		return serr
	}}
	_, err := noReuse.Listen(ctx, "tcp", p.Addr)
	require.ErrorIs(t, err, syscall.EADDRINUSE, "the port is still the proxy's")
	_, err = net.Dial("tcp", p.Addr)
	require.ErrorIs(t, err, syscall.ECONNREFUSED, "a new connection is refused")
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, err = pgx.Connect(cctx, proxied)
	cancel()
	require.Error(t, err)

	p.Open()
	c2 := connect(t, proxied)
	require.NoError(t, c2.QueryRow(ctx, "SELECT 1").Scan(&one))
	assert.Equal(t, 1, one)
}
