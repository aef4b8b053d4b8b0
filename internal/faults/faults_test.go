package faults

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/otelcol-analytics/otelcol-analytics/internal/loadgen"
)

// load is the traffic of a scenario: rate events/s for d, from senders.
type load struct {
	rate    float64
	d       time.Duration
	senders int
}

// defaultLoad is 25k events/s (full) or 5k events/s for a few seconds
// (short).
func defaultLoad() load {
	return load{rate: Pick(5000.0, 25000.0), d: Pick(4*time.Second, 30*time.Second), senders: 8}
}

// sendAsync starts sending gen's lazily encoded requests at l and returns a
// channel that yields the result when the run ends.
func sendAsync(e *Env, gen *loadgen.Generator, l load, src loadgen.Source) <-chan *loadgen.Result {
	if src == nil {
		src = loadgen.Lazy{Gen: gen}
	}
	done := make(chan *loadgen.Result, 1)
	go func() {
		done <- e.Send(context.Background(), gen, loadgen.Options{
			Rate: l.rate, Duration: l.d, Senders: l.senders,
			Timeout: 10 * time.Second, MaxAttempts: 1000, BackoffMax: 500 * time.Millisecond,
		}, src)
	}()
	return done
}

// TestFault01Kill9 kills the collector with SIGKILL at random moments
// under load and restarts it on the same queue directory each time.
func TestFault01Kill9(t *testing.T) {
	t.Parallel()
	e := Start(t, Options{})
	kills := Pick(2, 10)
	l := defaultLoad()
	l.d = Pick(6*time.Second, 60*time.Second)
	done := sendAsync(e, e.Generator(1), l, nil)
	slot := l.d / time.Duration(kills)
	start := time.Now()
	for i := range kills {
		at := start.Add(time.Duration(i)*slot + time.Duration(rand.Int64N(int64(slot/2)))) //nolint:gosec // a random moment
		time.Sleep(time.Until(at))
		e.Kill9()
		e.Restart()
	}
	<-done
	fig := e.Check(t, CheckOptions{})
	t.Logf("TestFault01Kill9: %d kills -9 at %.0f events/s: %s", kills, l.rate, fig)
}

// TestFault02SIGTERM stops the collector with SIGTERM under load: it exits
// within the shutdown timeout and, restarted, loses nothing acknowledged.
func TestFault02SIGTERM(t *testing.T) {
	t.Parallel()
	e := Start(t, Options{})
	l := defaultLoad()
	done := sendAsync(e, e.Generator(2), l, nil)
	time.Sleep(l.d / 2)
	const grace = 30 * time.Second
	took, err := e.Stop(grace)
	if err != nil {
		t.Errorf("SIGTERM under load: %v", err)
	}
	e.Restart()
	<-done
	fig := e.Check(t, CheckOptions{})
	t.Logf("TestFault02SIGTERM: exited %.1fs after SIGTERM (limit %s): %s", took.Seconds(), grace, fig)
}

// TestFault09Replay sends the same traffic three times: every event counts
// once.
func TestFault09Replay(t *testing.T) {
	t.Parallel()
	e := Start(t, Options{})
	gen := e.Generator(9)
	n := Pick(100, 1000) // requests of 100 events
	reqs, err := gen.EncodeAll(n)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		e.Send(context.Background(), gen, loadgen.Options{Senders: 4, MaxAttempts: 1000}, loadgen.Encoded(reqs))
	}
	fig := e.Check(t, CheckOptions{})
	if fig.Sent != 3*fig.Distinct {
		t.Errorf("sent %d events, want 3 × %d", fig.Sent, fig.Distinct)
	}
	t.Logf("TestFault09Replay: %d requests ×3: %s", n, fig)
}

// TestFault05RedisFlush flushes the scenario's own Redis (a redis-server of
// its own: FLUSHDB of its only DB, never the shared Redis) under load, then
// rebuilds Redis from PostgreSQL with analyticsctl rebuild.
func TestFault05RedisFlush(t *testing.T) {
	t.Parallel()
	e := Start(t, Options{PrivateRedis: true})
	l := defaultLoad()
	l.d = Pick(8*time.Second, 30*time.Second)
	start := time.Now()
	done := sendAsync(e, e.Generator(5), l, nil)
	// Flush once Redis counts a good part of the load, well before its end.
	var held int64
	for held < int64(l.rate*l.d.Seconds()/4) && time.Since(start) < l.d*3/4 {
		time.Sleep(50 * time.Millisecond)
		n, err := e.redisEvents(t.Context(), []string{e.month()})
		if err != nil {
			t.Fatal(err)
		}
		held = n
	}
	flushedAt := time.Since(start)
	if err := e.Redis.FlushDB(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	if held == 0 {
		t.Fatalf("Redis counted nothing within %s of load: the flush would test nothing", flushedAt)
	}
	<-done
	e.WaitStored(t, e.Counts().Acked, 3*time.Minute)
	rebuildStart := time.Now()
	out, err := e.Rebuild(t.Context(), e.month())
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	took := time.Since(rebuildStart)
	fig := e.Check(t, CheckOptions{})
	t.Logf("TestFault05RedisFlush: FLUSHDB at %.1fs of %.0fs at %.0f events/s (Redis held %d events), rebuild %.1fs: %s",
		flushedAt.Seconds(), l.d.Seconds(), l.rate, held, took.Seconds(), fig)
}
