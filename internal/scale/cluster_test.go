package scale

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
	"github.com/otelcol-analytics/otelcol-analytics/internal/ctl"
	"github.com/otelcol-analytics/otelcol-analytics/internal/loadgen"
	"github.com/otelcol-analytics/otelcol-analytics/internal/testdb"
)

// The load of the cluster scenarios: clusterEvents events in requests of
// clusterPerRequest, paced at clusterRate events/s; the fault comes
// clusterFaultAfter into the run.
const (
	clusterEvents     = 200_000
	clusterPerRequest = 500
	clusterRate       = 10_000
	clusterFaultAfter = 7 * time.Second
)

// TestScaleClusterFailover: the collector writes to a 3-master/3-replica
// Redis Cluster under load; halfway, the replica of the master that holds
// the prefix's slot takes over (CLUSTER FAILOVER). Afterwards every
// acknowledged event is in PostgreSQL once and Redis equals PostgreSQL
// exactly (analyticsctl verify), and analyticsctl rebuild works against the
// cluster.
func TestScaleClusterFailover(t *testing.T) {
	runClusterScenario(t, "CLUSTER FAILOVER", func(rc *testdb.RedisCluster, master, replica *testdb.ClusterNode) {
		rc.Failover(replica)
	})
}

// TestScaleClusterMasterKilled is TestScaleClusterFailover with the master
// killed (SIGKILL) instead: its replica is promoted after the cluster node
// timeout, and the collector carries on against the new master.
func TestScaleClusterMasterKilled(t *testing.T) {
	runClusterScenario(t, "kill -9 of the master", func(rc *testdb.RedisCluster, master, replica *testdb.ClusterNode) {
		rc.Kill(master)
		rc.WaitMaster(replica, 60*time.Second)
	})
}

func runClusterScenario(t *testing.T, faultName string, fault func(rc *testdb.RedisCluster, master, replica *testdb.ClusterNode)) {
	bin := needScale(t)
	rc := testdb.StartRedisCluster(t)
	rdb := rc.Client()
	dsn, _ := testdb.Schema(t)
	prefix := "{scale" + randomHex() + "}:"
	layout := counters.Layout{Prefix: prefix}
	gen := &loadgen.Generator{IDs: newIDs(), PerRequest: clusterPerRequest, Month: time.Now().AddDate(0, -1, 0)}
	gen.IDs.Phase = 1
	month := gen.Days()[0][:7]

	col := startCollector(t, loadgen.CollectorSetup{
		Binary: bin, Config: "testdata/otelcol-cluster.yaml", DSN: dsn,
		RedisAddr: rc.Addrs[0], RedisPrefix: prefix, WorkDir: t.TempDir(),
		Env: map[string]string{"ANALYTICS_REDIS_ADDRS": "[" + strings.Join(rc.Addrs, ", ") + "]"},
	})

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	master, replica, err := rc.MasterOf(ctx, layout.MonthlyKey(month))
	require.NoError(t, err)
	require.NotNil(t, replica, "the master %s of the prefix's slot has no replica", master.Addr)
	t.Logf("%s; prefix %s on master %s, replica %s; load %s", rc, prefix, master.Addr, replica.Addr, loadgen.LoadAvg())

	reqs, err := gen.EncodeAll(clusterEvents / clusterPerRequest)
	require.NoError(t, err)
	type runOut struct {
		res *loadgen.Result
		err error
	}
	done := make(chan runOut, 1)
	start := time.Now()
	go func() {
		res, err := loadgen.Run(ctx, loadgen.Options{Endpoint: col.OTLPHTTP, Senders: 4, Rate: clusterRate}, loadgen.Encoded(reqs))
		done <- runOut{res, err}
	}()

	time.Sleep(clusterFaultAfter)
	before, err := layout.ReadMonth(ctx, rdb, month)
	require.NoError(t, err)
	require.NotEmpty(t, before, "nothing counted in Redis %s before the fault", clusterFaultAfter)
	faultAt := time.Now()
	fault(rc, master, replica)
	recovered := time.Since(faultAt)
	now, _, err := rc.MasterOf(ctx, layout.MonthlyKey(month))
	require.NoError(t, err)
	require.Equal(t, replica.Addr, now.Addr, "the replica serves the prefix's slot after the %s", faultName)

	out := <-done
	require.NoError(t, out.err)
	res := out.res
	require.Empty(t, res.Refused, "requests refused (%v)", res.Examples)
	require.Equal(t, int64(clusterEvents), res.AckedEvents(), "acknowledged events")
	took := time.Since(start)

	// The test's own client learnt the slots before the fault: a fresh one
	// reads the cluster as it is now (go-redis reloads a cluster client's
	// slot map on MOVED, or every 60 s: a dead master sends no MOVED).
	rdb = rc.Client()
	v := drainAndCheck(ctx, t, dsn, rdb, prefix, sent{gen, res})
	drained, afterLast := time.Since(faultAt), time.Since(res.Last)
	addrs := strings.Join(liveAddrs(rc), ",")
	env := ctlEnv(dsn, addrs, prefix)
	verifyEqual(ctx, t, env, month)
	t.Logf("%s after %.1fs: cluster healthy again after %.2fs; %d events acknowledged in %.1fs, all stored once and counted once (%d in Redis) %.1fs after the fault, %.1fs after the last acknowledgement; %d retries by the sender; collector log: %d lines mention Redis errors; load %s",
		faultName, clusterFaultAfter.Seconds(), recovered.Seconds(), res.AckedEvents(), took.Seconds(), v.RedisEvents, drained.Seconds(), afterLast.Seconds(),
		sumRetries(res), redisErrorLines(col.Log()), loadgen.LoadAvg())

	// analyticsctl rebuild against the cluster: a counter set wrong is
	// found by verify and put right by rebuild.
	day := gen.Days()[3]
	field := "session.start:" + counters.FieldEvents
	require.NoError(t, rdb.HIncrBy(ctx, layout.DailyKey(day), field, 7).Err())
	opts, err := ctl.DefaultOptions(env)
	require.NoError(t, err)
	bad, err := ctl.Verify(ctx, ctl.VerifyOptions{Options: opts, Period: ctl.Period{Months: []string{month}}})
	require.NoError(t, err)
	require.False(t, bad.Equal(), "verify must see the counter set wrong on %s", day)
	var stdout, stderr strings.Builder
	code := ctl.Run(ctx, []string{"rebuild", "--force", "--month", month}, env, &stdout, &stderr)
	require.Equal(t, ctl.ExitOK, code, "analyticsctl rebuild: %s%s", stdout.String(), stderr.String())
	verifyEqual(ctx, t, env, month)
	after := drainAndCheck(ctx, t, dsn, rdb, prefix, sent{gen, res})
	require.Equal(t, v.RedisEvents, after.RedisEvents, "events counted in Redis after the rebuild")
}

func liveAddrs(rc *testdb.RedisCluster) []string {
	var out []string
	for _, n := range rc.Nodes {
		if n.Alive() {
			out = append(out, n.Addr)
		}
	}
	return out
}

func sumRetries(res *loadgen.Result) int {
	n := 0
	for _, c := range res.Retries {
		n += c
	}
	return n
}

// redisErrorLines counts the collector log's lines about Redis at warn or
// error level.
func redisErrorLines(log string) int {
	n := 0
	for _, l := range strings.Split(log, "\n") {
		ll := strings.ToLower(l)
		if strings.Contains(ll, "redis") && (strings.Contains(ll, "error") || strings.Contains(ll, "warn")) {
			n++
		}
	}
	return n
}
