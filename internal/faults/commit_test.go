package faults

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestFault06CommitCut cuts the connection to PostgreSQL between COMMIT and
// its answer, under load: the server commits, the exporter sees an error
// and retries the batch, and the ledger makes the retry store and count
// nothing twice.
func TestFault06CommitCut(t *testing.T) {
	t.Parallel()
	e := Start(t, Options{PostgresProxy: true})
	l := defaultLoad()
	l.d = Pick(6*time.Second, 30*time.Second)
	start := time.Now()
	done := sendAsync(e, e.Generator(6), l, nil)
	// Cut every 3rd commit for a quarter of the load, then the next 3 in a
	// row, while the load goes on.
	time.Sleep(l.d / 4)
	e.PGProxy.CutCommits(3)
	time.Sleep(l.d / 4)
	e.PGProxy.CutCommits(0)
	every := e.PGProxy.Cuts()
	e.PGProxy.Arm(3)
	for e.PGProxy.Cuts() < every+3 && time.Since(start) < l.d {
		time.Sleep(20 * time.Millisecond)
	}
	res := <-done
	cuts, commits := e.PGProxy.Cuts(), e.PGProxy.Commits()
	if every == 0 || cuts < every+3 {
		t.Fatalf("%d commits cut of every 3rd, %d of the 3 in a row (of %d commits): the scenario did not run", every, cuts-every, commits)
	}
	fig := e.Check(t, CheckOptions{})
	t.Logf("TestFault06CommitCut: %d of %d commits cut after the server committed (%d of every 3rd, then 3 in a row), at %.0f events/s (sender retries %v): %s",
		cuts, commits, every, l.rate, res.Retries, fig)
}

// TestFault07CrashAfterCommit stalls the scenario's own Redis (SIGSTOP:
// every Redis call of the collector hangs) under load until PostgreSQL
// holds events and the outbox holds batches committed but not applied,
// kills the collector with SIGKILL, lets Redis go on (SIGCONT) and restarts
// the collector: the outbox is applied exactly once (I4: Redis equals
// PostgreSQL).
func TestFault07CrashAfterCommit(t *testing.T) {
	t.Parallel()
	e := Start(t, Options{PrivateRedis: true})
	pid := redisPID(t, e)
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) }) // before StartRedis's cleanup kills it
	rounds := Pick(1, 3)
	l := defaultLoad()
	l.d = Pick(8*time.Second, 45*time.Second)
	done := sendAsync(e, e.Generator(7), l, nil)
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, e.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	slot := l.d / time.Duration(rounds)
	var outboxAtKill []int64
	start := time.Now()
	for i := range rounds {
		time.Sleep(time.Until(start.Add(time.Duration(i)*slot + slot/4)))
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		stalled := time.Now()
		base := count(ctx, t, conn, ledgerSQL)
		var ob int64
		for {
			time.Sleep(100 * time.Millisecond)
			ob = count(ctx, t, conn, outboxSQL)
			if ob >= 2 && count(ctx, t, conn, ledgerSQL) > base {
				break
			}
			if time.Since(stalled) > time.Minute {
				t.Fatalf("round %d: Redis stalled for %s: outbox %d, ledger %d (from %d)", i+1, time.Since(stalled), ob, count(ctx, t, conn, ledgerSQL), base)
			}
		}
		e.Kill9()
		outboxAtKill = append(outboxAtKill, count(ctx, t, conn, outboxSQL))
		if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		e.Restart()
	}
	res := <-done
	fig := e.Check(t, CheckOptions{})
	t.Logf("TestFault07CrashAfterCommit: %d × (Redis stalled, kill -9 with outbox rows %v, restart) at %.0f events/s (retries %v): %s",
		rounds, outboxAtKill, l.rate, res.Retries, fig)
}

// TestFault15SlowPostgres adds 200 ms to every answer of PostgreSQL under
// load: the pipeline backs up, senders may be refused (retryable), nothing
// is lost.
func TestFault15SlowPostgres(t *testing.T) {
	t.Parallel()
	e := Start(t, Options{PostgresProxy: true})
	const latency = 200 * time.Millisecond
	e.PGProxy.SetLatency(latency)
	l := defaultLoad()
	start := time.Now()
	res := <-sendAsync(e, e.Generator(15), l, nil)
	sent := time.Since(start)
	acked := res.AckedEvents()
	fig := e.Check(t, CheckOptions{DrainTimeout: 5 * time.Minute})
	total := sent + fig.Drain
	// The retryable refusals of back-pressure (OTLP/HTTP 429 and 503).
	refusals := res.Retries["http_429"] + res.Retries["http_503"]
	if len(res.Refused) > 0 {
		t.Errorf("requests never acknowledged, by their last answer: %v (examples %v)", res.Refused, res.Examples)
	}
	t.Logf("TestFault15SlowPostgres: +%s on every PostgreSQL answer at %.0f events/s offered: acknowledged %.0f events/s over %.1fs, "+
		"stored %.0f events/s until drained (%.1fs), %d retryable refusals (retries %v): %s",
		latency, l.rate, float64(acked)/sent.Seconds(), sent.Seconds(), float64(fig.Stored)/total.Seconds(), total.Seconds(),
		refusals, res.Retries, fig)
}

// redisPID is the process id of the Env's private redis-server.
func redisPID(t *testing.T, e *Env) int {
	t.Helper()
	info, err := e.Redis.Info(t.Context(), "server").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			pid, err := strconv.Atoi(v)
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
	}
	t.Fatal(fmt.Errorf("no process_id in INFO server of %s", e.RedisServer))
	return 0
}

func count(ctx context.Context, t *testing.T, conn *pgx.Conn, sql string) int64 {
	t.Helper()
	var n int64
	if err := conn.QueryRow(ctx, sql).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
