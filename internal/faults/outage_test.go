package faults

// The outage scenarios 3, 4, 8 and 16 of issue 12: PostgreSQL unreachable,
// Redis stopped, the queue's file system full, the memory_limiter refusing.

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/otelcol-analytics/otelcol-analytics/internal/loadgen"
)

// metricSum scrapes the collector's own Prometheus telemetry and adds up
// every series of metric name.
func metricSum(ctx context.Context, e *Env, name string) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	url := "http://localhost:" + strconv.Itoa(e.Collector.Telemetry) + "/metrics"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	var sum float64
	found := false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) || (len(line) > len(name) && line[len(name)] != '{' && line[len(name)] != ' ') {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %q: %w", name, line, err)
		}
		sum += v
		found = true
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if !found {
		return 0, fmt.Errorf("the collector's telemetry has no %s", name)
	}
	return sum, nil
}

// peak samples the sending queue's size (otelcol_exporter_queue_size) every
// 250 ms until stop is closed and returns the largest value seen, or -1
// when the telemetry never answered.
func peakQueue(e *Env, stop <-chan struct{}) <-chan float64 {
	out := make(chan float64, 1)
	go func() {
		best := -1.0
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			if v, err := metricSum(context.Background(), e, "otelcol_exporter_queue_size"); err == nil && v > best {
				best = v
			}
			select {
			case <-stop:
				out <- best
				return
			case <-tick.C:
			}
		}
	}()
	return out
}

// answers are the non-acknowledging answers a run's senders got: every
// retried one and the last one of every request never acknowledged, by
// reason (http_429, http_503, transport_error, …).
func answers(res *loadgen.Result) map[string]int {
	out := maps.Clone(res.Retries)
	for r, n := range res.Refused {
		out[r] += n
	}
	return out
}

// total adds up the counts of m.
// byReason is m as "http_429=12 http_503=3" (sorted), or "none".
func byReason(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}

// retryable are the answers a sender must retry (OTLP's throttling and
// unavailability answers, and a connection that fails).
func retryable(reason string) bool {
	switch reason {
	case "http_429", "http_502", "http_503", "http_504", "grpc_RESOURCE_EXHAUSTED", "grpc_UNAVAILABLE", "transport_error", "timeout":
		return true
	}
	return false
}

// pgCount runs a count query on the scenario's schema directly.
func pgCount(t *testing.T, e *Env, sql string) int64 {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), e.DSN)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	var n int64
	if err := conn.QueryRow(t.Context(), sql).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// until is a Source that hands out no request after a deadline, however
// far behind its schedule a paced run is: after an outage the senders do
// not catch up on every request due during it (minutes of the full load
// sent unpaced), only on those until the load's end.
type until struct {
	src      loadgen.Source
	deadline time.Time
}

// Request implements loadgen.Source.
func (u until) Request(k int) (loadgen.Request, bool, error) {
	if time.Now().After(u.deadline) {
		return loadgen.Request{}, false, nil
	}
	return u.src.Request(k)
}

// outageLoad is the load of an outage scenario: lead before the fault,
// outage, tail after it.
func outageLoad(lead, outage, tail time.Duration) load {
	l := defaultLoad()
	l.d = lead + outage + tail
	return l
}

// TestFault03PostgresOutage makes PostgreSQL unreachable (the proxy in
// front of it closed, never the shared server) under load: the persistent
// queue holds the load, the senders get acknowledgements or, when the
// queue is full, retryable refusals; once PostgreSQL is back the queue
// drains and nothing acknowledged is lost.
func TestFault03PostgresOutage(t *testing.T) {
	t.Parallel()
	e := Start(t, Options{PostgresProxy: true})
	lead, outage, tail := 2*time.Second, Pick(8*time.Second, 5*time.Minute), Pick(2*time.Second, 10*time.Second)
	l := outageLoad(lead, outage, tail)
	start := time.Now()
	gen := e.Generator(3)
	done := sendAsync(e, gen, l, until{src: loadgen.Lazy{Gen: gen}, deadline: start.Add(l.d)})
	time.Sleep(time.Until(start.Add(lead)))
	e.PGProxy.Close()
	stop := make(chan struct{})
	peak := peakQueue(e, stop)
	// What PostgreSQL holds once the cut has settled must not grow until it
	// is reachable again: the outage is real.
	time.Sleep(time.Second)
	before := pgCount(t, e, ledgerSQL)
	time.Sleep(time.Until(start.Add(lead + outage)))
	after := pgCount(t, e, ledgerSQL)
	close(stop)
	maxQueue := <-peak
	e.PGProxy.Open()
	res := <-done
	if after != before {
		t.Errorf("PostgreSQL went from %d to %d ids while unreachable", before, after)
	}
	if maxQueue <= 0 {
		t.Errorf("the sending queue peaked at %.0f records during the outage: it held nothing", maxQueue)
	}
	ans := answers(res)
	for r := range ans {
		if !retryable(r) {
			t.Errorf("the senders got %d × %s: not a retryable answer", ans[r], r)
		}
	}
	fig := e.Check(t, CheckOptions{DrainTimeout: 5 * time.Minute})
	t.Logf("TestFault03PostgresOutage: PostgreSQL unreachable %.0fs at %.0f events/s: queue peaked at %.0f records, refusals %s: %s",
		outage.Seconds(), l.rate, maxQueue, byReason(ans), fig)
}

// redisSnapshot is every key of a Redis with its value (DUMP) and time to
// live in ms (0: none).
type redisSnapshot map[string]struct {
	dump string
	pttl int64
}

// stopRedis stops the scenario's redis-server as one with persistence stops
// (SHUTDOWN SAVE): writes paused (the exporter's apply scripts wait, they
// do not run), every key dumped, then the server killed. The test's
// redis-server keeps nothing on disk, so the dump is the disk.
func stopRedis(t *testing.T, e *Env) redisSnapshot {
	t.Helper()
	ctx := t.Context()
	if err := e.Redis.Do(ctx, "CLIENT", "PAUSE", "60000", "WRITE").Err(); err != nil {
		t.Fatalf("CLIENT PAUSE: %v", err)
	}
	snap := redisSnapshot{}
	iter := e.Redis.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		d, err := e.Redis.Dump(ctx, k).Result()
		if err != nil {
			t.Fatalf("DUMP %s: %v", k, err)
		}
		ttl, err := e.Redis.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatalf("PTTL %s: %v", k, err)
		}
		s := snap[k]
		s.dump, s.pttl = d, max(ttl.Milliseconds(), 0)
		snap[k] = s
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("SCAN: %v", err)
	}
	e.RedisServer.Stop()
	return snap
}

// startRedis starts the scenario's redis-server again on its port with the
// keys of snap.
func startRedis(t *testing.T, e *Env, snap redisSnapshot) {
	t.Helper()
	e.RedisServer.Start()
	ctx := t.Context()
	for k, s := range snap {
		if err := e.Redis.RestoreReplace(ctx, k, time.Duration(s.pttl)*time.Millisecond, s.dump).Err(); err != nil {
			t.Fatalf("RESTORE %s: %v", k, err)
		}
	}
}

// TestFault04RedisOutage stops the scenario's own redis-server under load
// and starts it again (with its data, as a Redis with persistence
// restarts) on the same port: PostgreSQL keeps committing and the outbox
// grows meanwhile; once Redis is back the outbox drains and Redis equals
// PostgreSQL exactly, nothing counted twice.
func TestFault04RedisOutage(t *testing.T) {
	t.Parallel()
	e := Start(t, Options{PrivateRedis: true})
	lead, outage, tail := 2*time.Second, Pick(8*time.Second, 5*time.Minute), Pick(2*time.Second, 10*time.Second)
	l := outageLoad(lead, outage, tail)
	start := time.Now()
	done := sendAsync(e, e.Generator(4), l, nil)
	time.Sleep(time.Until(start.Add(lead)))
	snap := stopRedis(t, e)
	time.Sleep(time.Second)
	ledger0, outbox0 := pgCount(t, e, ledgerSQL), pgCount(t, e, outboxSQL)
	time.Sleep(time.Until(start.Add(lead + outage)))
	ledger1, outbox1 := pgCount(t, e, ledgerSQL), pgCount(t, e, outboxSQL)
	startRedis(t, e, snap)
	res := <-done
	if ledger1 <= ledger0 {
		t.Errorf("PostgreSQL held %d ids, then %d: it did not keep committing while Redis was down", ledger0, ledger1)
	}
	if outbox1 <= outbox0 {
		t.Errorf("the outbox held %d batches, then %d: it did not grow while Redis was down", outbox0, outbox1)
	}
	ans := answers(res)
	for r := range ans {
		if !retryable(r) {
			t.Errorf("the senders got %d × %s: not a retryable answer", ans[r], r)
		}
	}
	fig := e.Check(t, CheckOptions{DrainTimeout: 5 * time.Minute})
	t.Logf("TestFault04RedisOutage: Redis stopped %.0fs at %.0f events/s (%d keys kept): PostgreSQL %d → %d ids, outbox %d → %d batches while down, refusals %s: %s",
		outage.Seconds(), l.rate, len(snap), ledger0, ledger1, outbox0, outbox1, byReason(ans), fig)
}

// mountTmpfs mounts a tmpfs of size bytes on a new directory and unmounts
// it when the test ends (after the collector has stopped: register it
// before Start).
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "queue-fs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+strconv.FormatInt(size, 10), "tmpfs", dir).CombinedOutput()
	if err != nil {
		if os.Geteuid() != 0 {
			t.Skipf("mount -t tmpfs needs root (euid %d): %v: %s", os.Geteuid(), err, out)
		}
		t.Fatalf("mount -t tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fsUse is the used share of the file system of dir.
func fsUse(t *testing.T, dir string) float64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return 1 - float64(st.Bavail)/float64(st.Blocks)
}

// TestFault08QueueDiskFull puts the persistent queue on a small file system
// (a tmpfs) and makes PostgreSQL unreachable so that the queue fills it: the
// collector keeps running and answers with retryable refusals (no
// acknowledgement of a request it could not keep); once PostgreSQL is back
// nothing acknowledged is lost.
func TestFault08QueueDiskFull(t *testing.T) {
	t.Parallel()
	// Smaller than what the default queue_size (200,000 records) takes on
	// disk, ~14 MiB compressed at ~70 bytes per record, so that the file
	// system fills before the queue does.
	size := int64(Pick(4, 12)) << 20
	dir := mountTmpfs(t, size)
	e := Start(t, Options{PostgresProxy: true, QueueDir: dir})
	e.PGProxy.Close()
	l := defaultLoad()
	l.rate = Pick(10000.0, 25000.0)
	l.d = Pick(20*time.Second, 60*time.Second)
	start := time.Now()
	done := sendAsync(e, e.Generator(8), l, nil)
	// Full: wait until the file system is full but for the exporter's
	// reserve (1 MiB or 1%) and half a MiB, then keep the load on it for a
	// while.
	fullUse := 1 - float64(max(1<<20, size/100)+512<<10)/float64(size)
	use := 0.0
	for use < fullUse && time.Since(start) < l.d/2 {
		time.Sleep(100 * time.Millisecond)
		use = fsUse(t, dir)
	}
	fullAt := time.Since(start)
	time.Sleep(min(l.d/4, time.Until(start.Add(l.d))))
	peakUse := max(use, fsUse(t, dir))
	exited := e.Collector.Exited()
	e.PGProxy.Open()
	res := <-done
	if peakUse < fullUse {
		t.Errorf("the queue used %.0f%% of its %d MiB file system: it never filled it", 100*peakUse, size>>20)
	}
	if exited {
		t.Fatalf("the collector exited with its queue's file system full:\n%s", e.Collector.LogTail(30))
	}
	ans := answers(res)
	refused := 0
	for r, n := range ans {
		if !retryable(r) {
			t.Errorf("the senders got %d × %s: not a retryable answer", n, r)
		}
		refused += n
	}
	if refused == 0 {
		t.Errorf("no refusal with the queue's file system full: the collector acknowledged everything")
	}
	fig := e.Check(t, CheckOptions{DrainTimeout: 5 * time.Minute})
	t.Logf("TestFault08QueueDiskFull: queue on a %d MiB tmpfs, PostgreSQL unreachable, %.0f events/s: full (%.0f%%) at %.1fs, refusals %s: %s",
		size>>20, l.rate, 100*peakUse, fullAt.Seconds(), byReason(ans), fig)
}

// TestFault16MemoryLimiter runs the collector with a small memory_limiter
// (testdata/memory-limiter.yaml: limit 60 MiB, spike 20 MiB, checked every
// 100 ms) and sends large requests from many senders unpaced: the limiter
// refuses some with a retryable answer, the senders retry, and in the end
// nothing is lost.
func TestFault16MemoryLimiter(t *testing.T) {
	t.Parallel()
	config, err := filepath.Abs(filepath.Join("testdata", "memory-limiter.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	e := Start(t, Options{Config: config, PerRequest: 1000})
	gen := e.Generator(16)
	const senders = 32
	d := Pick(6*time.Second, 30*time.Second)
	res := e.Send(context.Background(), gen, loadgen.Options{
		Senders: senders, Duration: d,
		Timeout: 10 * time.Second, MaxAttempts: 1000, BackoffMax: 500 * time.Millisecond,
	}, loadgen.Lazy{Gen: gen})
	ans := answers(res)
	refused := 0
	for r, n := range ans {
		if !retryable(r) {
			t.Errorf("the senders got %d × %s: not a retryable answer", n, r)
		}
		refused += n
	}
	if refused == 0 {
		t.Errorf("the memory_limiter refused nothing: the fault did not happen")
	}
	limiter := false
	for _, m := range res.Examples {
		limiter = limiter || strings.Contains(m, "high memory usage")
	}
	if refused > 0 && !limiter {
		t.Errorf("no refusal is the memory_limiter's (%q): %v", "data refused due to high memory usage", res.Examples)
	}
	fig := e.Check(t, CheckOptions{DrainTimeout: 5 * time.Minute})
	t.Logf("TestFault16MemoryLimiter: memory_limiter 60 MiB (spike 20), 1000-event requests from %d senders for %.0fs: refusals %s: %s",
		senders, d.Seconds(), byReason(ans), fig)
}
