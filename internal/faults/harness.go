// Package faults is the fault suite of issue 12: named scenarios that run
// the built collector (OTELCOL_ANALYTICS_BIN, default otelcol-config.yaml,
// persistent queue on) against the machine's PostgreSQL and Redis under
// load, inject a fault, let the pipeline drain and check the invariants
// I1–I5 (Env.Check; docs/guarantees.md defines them).
//
// Each scenario gets an Env of its own: a fresh schema migrated by the
// collector, its own Redis key prefix (or a redis-server of its own),
// free ports and its own queue directory, all removed when the test ends.
// The traffic goes through a front proxy whose address stays the same
// across restarts (Env.Front), so that senders retry into the restarted
// collector.
//
// `make test` runs the short variants; `make faults` the full ones
// (-faults.full, or OTELCOL_FAULTS_FULL=1).
package faults

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
	"github.com/otelcol-analytics/otelcol-analytics/internal/loadgen"
	"github.com/otelcol-analytics/otelcol-analytics/internal/testdb"
)

var fullFlag = flag.Bool("faults.full", false, "run the full variants of the fault scenarios (make faults)")

// Full reports whether the full variants run (-faults.full or
// OTELCOL_FAULTS_FULL=1); else the short ones of `make test`.
func Full() bool { return *fullFlag || os.Getenv("OTELCOL_FAULTS_FULL") == "1" }

// Pick is short in `make test`, full in `make faults`.
func Pick[T any](short, full T) T {
	if Full() {
		return full
	}
	return short
}

// Binary is OTELCOL_ANALYTICS_BIN; the test is skipped when it is not set.
func Binary(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("OTELCOL_ANALYTICS_BIN")
	if bin == "" {
		t.Skip("OTELCOL_ANALYTICS_BIN is not set: run `make test` or `make faults`, which build bin/otelcol-analytics and run these scenarios")
	}
	if _, err := os.Stat(bin); err != nil { //nolint:gosec // the binary the test runner named
		t.Fatalf("OTELCOL_ANALYTICS_BIN=%s: %v", bin, err)
	}
	return bin
}

// Options say what a scenario's Env differs in.
type Options struct {
	// Timezone is the business time zone (default Asia/Shanghai).
	Timezone string
	// PrivateRedis gives the Env a redis-server of its own (for FLUSHDB or
	// stopping Redis) instead of a key prefix on the shared one.
	PrivateRedis bool
	// PostgresProxy makes the collector reach PostgreSQL through a
	// testdb.Proxy (Env.PGProxy) that the scenario can cut.
	PostgresProxy bool
	// Month is any time in the business month of the generated events
	// (default: last month).
	Month time.Time
	// PerRequest is the events per request of Env.Generator (default 100).
	PerRequest int
	// Config is the collector's configuration file (default: the
	// repository's otelcol-config.yaml, or OTELCOL_ANALYTICS_CONFIG).
	Config string
	// QueueDir is the persistent queue's directory (default WorkDir/queue).
	QueueDir string
	// CollectorEnv are further variables of the collector's environment.
	CollectorEnv map[string]string
}

// Env is one scenario's collector with its own stores.
type Env struct {
	t    testing.TB
	Opts Options
	// Binary and Config are what Start and Restart run.
	Binary, Config string
	// DSN is the scenario's schema, direct (the checks use it);
	// CollectorDSN is what the collector is given (through PGProxy if any).
	DSN, CollectorDSN, Schema string
	// Redis is a client of the scenario's Redis (RedisAddr, DB RedisDB);
	// every key of the scenario starts with Prefix.
	Redis     *redis.Client
	RedisAddr string
	RedisDB   int
	Prefix    string
	Layout    counters.Layout
	// RedisServer is the private redis-server (Options.PrivateRedis), else nil.
	RedisServer *testdb.RedisServer
	// PGProxy is the proxy to PostgreSQL (Options.PostgresProxy), else nil.
	PGProxy *testdb.Proxy
	// WorkDir holds the queue (WorkDir/queue) and collector.log; it is the
	// same across restarts.
	WorkDir string
	// Collector is the running collector (replaced by Restart).
	Collector *loadgen.Collector
	// Front is the OTLP/HTTP and OTLP gRPC front proxies: stable addresses
	// that follow the collector across restarts.
	FrontHTTP, FrontGRPC *Front
	// IDs is the scenario's id space; Generator sets its phase.
	IDs loadgen.IDSpace
	// Loc is the business time zone.
	Loc *time.Location

	mu     sync.Mutex
	phases map[uint16]*phaseLog
	starts int
}

// phaseLog is every request of one phase ever sent, merged over replays.
type phaseLog struct {
	name       string
	perRequest int
	records    map[int]loadgen.Record // by request index; acked if any send was
	sentEvents int64                  // every send counted, replays included
}

// Start makes the scenario's stores and starts the collector on them.
func Start(t testing.TB, o Options) *Env {
	t.Helper()
	bin := Binary(t)
	if o.Timezone == "" {
		o.Timezone = counters.DefaultTimeZone
	}
	if o.Month.IsZero() {
		o.Month = time.Now().AddDate(0, -1, 0)
	}
	if o.PerRequest <= 0 {
		o.PerRequest = 100
	}
	loc, err := time.LoadLocation(o.Timezone)
	if err != nil {
		t.Fatalf("faults: time zone %q: %v", o.Timezone, err)
	}
	config := o.Config
	if config == "" {
		config = os.Getenv("OTELCOL_ANALYTICS_CONFIG")
	}
	if config == "" {
		config, err = filepath.Abs(filepath.Join("..", "..", "otelcol-config.yaml"))
		if err != nil {
			t.Fatal(err)
		}
	}
	e := &Env{t: t, Opts: o, Binary: bin, Config: config, Loc: loc, WorkDir: t.TempDir(), phases: map[uint16]*phaseLog{}}
	e.DSN, e.Schema = testdb.Schema(t)
	e.CollectorDSN = e.DSN
	if o.PostgresProxy {
		e.PGProxy = testdb.StartProxy(t, pgHostPort(t))
		e.CollectorDSN = strings.Replace(e.DSN, pgHostPort(t), e.PGProxy.Addr, 1)
	}
	if o.PrivateRedis {
		e.RedisServer = testdb.StartRedis(t)
		e.RedisAddr = e.RedisServer.Addr
		e.Redis = redis.NewClient(&redis.Options{Addr: e.RedisAddr})
		e.Prefix = "faults:"
		t.Cleanup(func() { _ = e.Redis.Close() })
	} else {
		e.Redis, e.Prefix = testdb.RedisPrefix(t)
		e.RedisAddr = testdb.RedisAddr()
	}
	e.Layout = counters.Layout{Prefix: e.Prefix}
	now := time.Now()
	e.IDs = loadgen.IDSpace{UnixMilli: now.UnixMilli(), Salt: uint16(now.UnixNano() >> 10)} //nolint:gosec // any 14 bits
	e.FrontHTTP = StartFront(t)
	e.FrontGRPC = StartFront(t)
	e.Restart()
	t.Cleanup(func() {
		if e.Collector != nil && !e.Collector.Exited() {
			if err := e.Collector.Stop(time.Minute); err != nil {
				t.Errorf("faults: %v", err)
			}
		}
		if t.Failed() && e.Collector != nil {
			t.Logf("collector log (last lines):\n%s", e.Collector.LogTail(30))
		}
	})
	return e
}

// pgHostPort is the host:port of the test PostgreSQL.
func pgHostPort(t testing.TB) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(testdb.BaseDSN())
	if err != nil {
		t.Fatalf("faults: %v", err)
	}
	return fmt.Sprintf("%s:%d", cfg.Host, cfg.Port)
}

// Restart starts the collector (again) on the Env's stores and queue
// directory, and points the front proxies at it. The previous collector
// must have exited (Kill9 or Stop).
func (e *Env) Restart() {
	e.t.Helper()
	if e.Collector != nil && !e.Collector.Exited() {
		e.t.Fatal("faults: Restart while the collector runs")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := loadgen.StartCollector(ctx, loadgen.CollectorSetup{
		Binary: e.Binary, Config: e.Config, DSN: e.CollectorDSN,
		RedisAddr: e.RedisAddr, RedisDB: e.RedisDB, RedisPrefix: e.Prefix,
		WorkDir: e.WorkDir, Timezone: e.Opts.Timezone,
		QueueDir: e.Opts.QueueDir, Env: e.Opts.CollectorEnv,
	})
	if err != nil {
		e.t.Fatalf("faults: start the collector (start %d): %v", e.starts+1, err)
	}
	e.starts++
	e.Collector = c
	e.FrontHTTP.SetTarget(c.OTLPHTTP)
	e.FrontGRPC.SetTarget(c.OTLPGRPC)
}

// Starts is the number of times the collector was started.
func (e *Env) Starts() int { return e.starts }

// Kill9 kills the collector without letting it shut down.
func (e *Env) Kill9() {
	e.FrontHTTP.SetTarget("")
	e.FrontGRPC.SetTarget("")
	e.Collector.Kill9()
}

// Stop sends SIGTERM and waits up to grace; it returns how long the
// collector took to exit and an error if it had to be killed.
func (e *Env) Stop(grace time.Duration) (time.Duration, error) {
	start := time.Now()
	err := e.Collector.Stop(grace)
	e.FrontHTTP.SetTarget("")
	e.FrontGRPC.SetTarget("")
	return time.Since(start), err
}

// Generator returns a generator of phase in the Env's id space, month and
// time zone.
func (e *Env) Generator(phase uint16) *loadgen.Generator {
	ids := e.IDs
	ids.Phase = phase
	return &loadgen.Generator{IDs: ids, PerRequest: e.Opts.PerRequest, Month: e.Opts.Month, Location: e.Loc}
}

// Send runs src (requests of gen's phase) against the front proxy (OTLP/HTTP
// unless o.Transport says gRPC; o.Endpoint is set) and records what
// happened for Check. Sending a phase again (a replay) merges: a request
// counts as acknowledged if any send of it was.
func (e *Env) Send(ctx context.Context, gen *loadgen.Generator, o loadgen.Options, src loadgen.Source) *loadgen.Result {
	e.t.Helper()
	o.Endpoint = e.FrontHTTP.Addr
	if o.Transport == loadgen.TransportGRPC {
		o.Endpoint = e.FrontGRPC.Addr
	}
	res, err := loadgen.Run(ctx, o, src)
	if err != nil && res == nil {
		e.t.Fatalf("faults: send: %v", err)
	}
	e.Record(gen, res)
	return res
}

// Record adds a result of gen's requests to what Check compares with.
func (e *Env) Record(gen *loadgen.Generator, res *loadgen.Result) {
	e.mu.Lock()
	defer e.mu.Unlock()
	pl := e.phases[gen.IDs.Phase]
	if pl == nil {
		pl = &phaseLog{name: loadgen.PhaseHex(gen.IDs.Phase), perRequest: gen.PerRequest, records: map[int]loadgen.Record{}}
		e.phases[gen.IDs.Phase] = pl
	}
	if pl.perRequest != gen.PerRequest {
		e.t.Fatalf("faults: phase %s sent with %d and %d events per request", pl.name, pl.perRequest, gen.PerRequest)
	}
	for _, r := range res.Records {
		pl.sentEvents += int64(r.Events)
		if old, ok := pl.records[r.Index]; ok && old.OK() {
			continue
		}
		pl.records[r.Index] = r
	}
}

// Counts are the sender's side of what was recorded.
type Counts struct {
	// Sent counts every event sent (replays included); Distinct the
	// distinct events; Acked the distinct events of acknowledged requests.
	Sent, Distinct, Acked int64
	// Requests and AckedRequests are distinct requests.
	Requests, AckedRequests int
}

// Counts adds up what was recorded.
func (e *Env) Counts() Counts {
	e.mu.Lock()
	defer e.mu.Unlock()
	var c Counts
	for _, pl := range e.phases {
		c.Sent += pl.sentEvents
		for _, r := range pl.records {
			c.Requests++
			c.Distinct += int64(r.Events)
			if r.OK() {
				c.AckedRequests++
				c.Acked += int64(r.Events)
			}
		}
	}
	return c
}

// months are the business months of the recorded phases' generators plus
// the Env's month, sorted.
func (e *Env) month() string { return e.Opts.Month.In(e.Loc).Format("2006-01") }

// Days are the business days of the Env's month.
func (e *Env) Days() []string { return e.Generator(0).Days() }

// sortedPhases returns the phases by id.
func (e *Env) sortedPhases() []uint16 {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]uint16, 0, len(e.phases))
	for p := range e.phases {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// WaitStored waits until PostgreSQL holds at least want event ids and the
// outbox is empty, steady for two polls: the pipeline has drained into
// PostgreSQL, whatever Redis holds (for scenarios that break Redis).
func (e *Env) WaitStored(t testing.TB, want int64, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout+time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, e.DSN)
	if err != nil {
		t.Fatalf("faults: connect: %v", err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	deadline := time.Now().Add(timeout)
	var last [2]int64
	for stable := 0; stable < 2; time.Sleep(250 * time.Millisecond) {
		var now [2]int64
		if err := conn.QueryRow(ctx, ledgerSQL).Scan(&now[0]); err != nil {
			t.Fatalf("faults: %v", err)
		}
		if err := conn.QueryRow(ctx, outboxSQL).Scan(&now[1]); err != nil {
			t.Fatalf("faults: %v", err)
		}
		if now[0] >= want && now[1] == 0 && now == last {
			stable++
		} else {
			stable = 0
		}
		last = now
		if time.Now().After(deadline) {
			t.Fatalf("faults: PostgreSQL holds %d of %d ids, outbox %d, after %s", now[0], want, now[1], timeout)
		}
	}
}
