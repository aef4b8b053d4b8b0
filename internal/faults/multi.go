package faults

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

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
