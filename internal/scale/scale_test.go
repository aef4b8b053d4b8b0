package scale

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
	"github.com/otelcol-analytics/otelcol-analytics/internal/ctl"
	"github.com/otelcol-analytics/otelcol-analytics/internal/loadgen"
)

var scaleFlag = flag.Bool("scale", false, "run the scale tests (Redis Cluster, PostgreSQL hot standby): make test-scale")

// needScale skips the test unless the scale tests were asked for, and
// returns the built collector (OTELCOL_ANALYTICS_BIN).
func needScale(t *testing.T) string {
	t.Helper()
	if !*scaleFlag && os.Getenv("OTELCOL_SCALE") != "1" {
		t.Skip("scale test: set OTELCOL_SCALE=1 or -scale (`make test-scale` runs them on the built collector)")
	}
	bin := os.Getenv("OTELCOL_ANALYTICS_BIN")
	if bin == "" {
		t.Skip("scale test: OTELCOL_ANALYTICS_BIN is not set (`make test-scale` builds bin/otelcol-analytics and sets it)")
	}
	_, err := os.Stat(bin)
	require.NoError(t, err, "OTELCOL_ANALYTICS_BIN")
	return bin
}

// repoConfig is the repository's otelcol-config.yaml.
func repoConfig(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "otelcol-config.yaml"))
	require.NoError(t, err)
	return p
}

// newIDs is an id space no other run uses.
func newIDs() loadgen.IDSpace {
	now := time.Now()
	return loadgen.IDSpace{UnixMilli: now.UnixMilli(), Salt: uint16(now.UnixNano() >> 10)} //nolint:gosec // any 14 bits
}

// startCollector starts the built collector and stops it when the test ends
// (printing its log's tail if the test failed).
func startCollector(t *testing.T, s loadgen.CollectorSetup) *loadgen.Collector {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := loadgen.StartCollector(ctx, s)
	require.NoError(t, err, "start the collector")
	t.Cleanup(func() {
		if !c.Exited() {
			if err := c.Stop(time.Minute); err != nil {
				t.Errorf("stop the collector: %v", err)
			}
		}
		if t.Failed() {
			t.Logf("collector log (last lines):\n%s", c.LogTail(40))
		}
	})
	return c
}

// ctlEnv is the environment analyticsctl would be run with.
func ctlEnv(dsn, redisAddr, prefix string) ctl.Env {
	env := map[string]string{
		"ANALYTICS_POSTGRES_DSN": dsn,
		"ANALYTICS_REDIS_ADDR":   redisAddr,
		"ANALYTICS_REDIS_PREFIX": prefix,
		"ANALYTICS_TIMEZONE":     counters.DefaultTimeZone,
	}
	return func(k string) string { return env[k] }
}

// verifyEqual runs ctl.Verify (what `analyticsctl verify --month m` does)
// and fails the test with the differences if Redis and PostgreSQL differ.
func verifyEqual(ctx context.Context, t *testing.T, env ctl.Env, month string) {
	t.Helper()
	opts, err := ctl.DefaultOptions(env)
	require.NoError(t, err)
	res, err := ctl.Verify(ctx, ctl.VerifyOptions{Options: opts, Period: ctl.Period{Months: []string{month}}})
	require.NoError(t, err, "verify")
	if !res.Equal() {
		for i, d := range res.Differences {
			if i == 10 {
				break
			}
			t.Log(d.String())
		}
	}
	require.True(t, res.Equal(), "analyticsctl verify --month %s: %s", month, res.Summary())
}

// sent is a phase of events sent: its generator and what happened.
type sent struct {
	gen *loadgen.Generator
	res *loadgen.Result
}

// drainAndCheck waits until every acknowledged event of every phase is in
// PostgreSQL and counted in Redis, then checks per request: nothing lost,
// nothing twice, nothing unexpected, Redis = the ledger. Every phase's
// events fall in the first phase's month, with its events per request.
func drainAndCheck(ctx context.Context, t *testing.T, dsn string, rdb redis.UniversalClient, prefix string, phases ...sent) *loadgen.Verification {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer func() { _ = conn.Close(context.Background()) }()
	gen := phases[0].gen
	ch := &loadgen.Checker{Conn: conn, Redis: rdb, Layout: counters.Layout{Prefix: prefix}, Days: gen.Days()}
	var acked int64
	var lp []loadgen.Phase
	for _, p := range phases {
		require.Equal(t, gen.PerRequest, p.gen.PerRequest)
		acked += p.res.AckedEvents()
		lp = append(lp, loadgen.Phase{Name: loadgen.PhaseHex(p.gen.IDs.Phase), Phase: p.gen.IDs.Phase, Result: p.res})
	}
	_, err = ch.WaitDrained(ctx, acked, 200*time.Millisecond, 5*time.Minute)
	require.NoError(t, err, "drain")
	v, err := ch.Verify(ctx, lp, gen.PerRequest)
	require.NoError(t, err)
	require.Empty(t, v.Problems(), "after the drain: %+v", v)
	require.Equal(t, acked, v.Ledger, "every acknowledged event stored once")
	require.Equal(t, v.Ledger, v.RedisEvents, "Redis counts every stored event once")
	return v
}

// randomHex is 8 random hex digits.
func randomHex() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
