package faults

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-migrate/migrate/v4/database"
	"github.com/jackc/pgx/v5"

	"github.com/otelcol-analytics/otelcol-analytics/internal/loadgen"
	"github.com/otelcol-analytics/otelcol-analytics/internal/testdb"
)

// Peer is another collector on an Env's stores: the same schema, Redis and
// key prefix and time zone, with a work directory (queue, log) and ports of
// its own, as a second replica of a deployment runs. Its traffic goes to it
// directly (no front proxy) and is recorded in the Env, so that one Check
// covers what every collector was sent.
type Peer struct {
	e *Env
	// WorkDir holds the peer's queue (WorkDir/queue) and collector.log.
	WorkDir string
	// Collector is the running peer.
	Collector *loadgen.Collector
}

// StartPeer starts a collector on e's stores (migrate on start, as every
// collector of the default configuration). It does not fail t itself, so
// that it may run in a goroutine of its own, concurrently with Env.Restart;
// the peer is stopped when the test ends.
func (e *Env) StartPeer(ctx context.Context, t testing.TB) (*Peer, error) {
	dir, err := os.MkdirTemp(e.WorkDir, "peer-")
	if err != nil {
		return nil, err
	}
	c, err := loadgen.StartCollector(ctx, loadgen.CollectorSetup{
		Binary: e.Binary, Config: e.Config, DSN: e.CollectorDSN,
		RedisAddr: e.RedisAddr, RedisDB: e.RedisDB, RedisPrefix: e.Prefix,
		WorkDir: dir, Timezone: e.Opts.Timezone, Env: e.Opts.CollectorEnv,
	})
	if err != nil {
		return nil, fmt.Errorf("faults: start a peer collector: %w (log %s)", err, filepath.Join(dir, "collector.log"))
	}
	p := &Peer{e: e, WorkDir: dir, Collector: c}
	t.Cleanup(func() {
		if !c.Exited() {
			if err := c.Stop(time.Minute); err != nil {
				t.Errorf("faults: peer: %v", err)
			}
		}
		if t.Failed() {
			t.Logf("peer collector log (last lines):\n%s", c.LogTail(30))
		}
	})
	return p, nil
}

// Send runs src (requests of gen's phase) against the peer's OTLP/HTTP (or
// gRPC) listener and records the result in the Env, as Env.Send does.
func (p *Peer) Send(ctx context.Context, gen *loadgen.Generator, o loadgen.Options, src loadgen.Source) *loadgen.Result {
	p.e.t.Helper()
	o.Endpoint = p.Collector.OTLPHTTP
	if o.Transport == loadgen.TransportGRPC {
		o.Endpoint = p.Collector.OTLPGRPC
	}
	res, err := loadgen.Run(ctx, o, src)
	if err != nil && res == nil {
		p.e.t.Fatalf("faults: send to the peer: %v", err)
	}
	p.e.Record(gen, res)
	return res
}

// ResetSchema empties the Env's schema (drops it with everything in it and
// creates it again, empty, under the same name), so that the next
// collectors started migrate it from scratch. The Env's collector must be
// stopped, and nothing sent yet.
func (e *Env) ResetSchema(t testing.TB) {
	t.Helper()
	if e.Collector != nil && !e.Collector.Exited() {
		t.Fatal("faults: ResetSchema while the collector runs")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, testdb.BaseDSN())
	if err != nil {
		t.Fatalf("faults: connect: %v", err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	name := pgx.Identifier{e.Schema}.Sanitize()
	if _, err := conn.Exec(ctx, "DROP SCHEMA "+name+" CASCADE"); err != nil {
		t.Fatalf("faults: drop schema %s: %v", e.Schema, err)
	}
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+name); err != nil {
		t.Fatalf("faults: create schema %s: %v", e.Schema, err)
	}
}

// MigrationGate holds the lock golang-migrate takes around the migrations
// of the Env's schema (a PostgreSQL advisory lock on the database, schema
// and migrations table), so that collectors started meanwhile all wait at
// the start of their migrations until Release: they then migrate at once.
type MigrationGate struct {
	conn *pgx.Conn
	key  string
}

// HoldMigrations takes the migration lock of the Env's schema.
func (e *Env) HoldMigrations(t testing.TB) *MigrationGate {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := pgx.ParseConfig(e.DSN)
	if err != nil {
		t.Fatal(err)
	}
	// The key of migrations.open's driver: database, schema, table.
	key, err := database.GenerateAdvisoryLockId(cfg.Database, e.Schema, "analytics_schema_migrations")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, e.DSN)
	if err != nil {
		t.Fatalf("faults: connect: %v", err)
	}
	g := &MigrationGate{conn: conn, key: key}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1::bigint)`, key); err != nil {
		t.Fatalf("faults: take the migration lock: %v", err)
	}
	return g
}

// Waiting is the number of sessions waiting for the lock.
func (g *MigrationGate) Waiting(ctx context.Context) (int, error) {
	var n int
	err := g.conn.QueryRow(ctx, `SELECT count(*) FROM pg_locks
	WHERE locktype = 'advisory' AND NOT granted AND objsubid = 1
	  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
	  AND (classid::bigint << 32) + objid::bigint = $1::bigint`, g.key).Scan(&n)
	return n, err
}

// Release lets the waiting migrations go.
func (g *MigrationGate) Release(ctx context.Context) error {
	_, err := g.conn.Exec(ctx, `SELECT pg_advisory_unlock($1::bigint)`, g.key)
	return err
}
