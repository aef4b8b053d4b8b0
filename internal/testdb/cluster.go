package testdb

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// ClusterNode is one redis-server of a RedisCluster.
type ClusterNode struct {
	Addr string
	ID   string // the cluster node id (CLUSTER MYID)
	port int
	cmd  *exec.Cmd
}

// Alive reports whether the node's process runs (it was not killed).
func (n *ClusterNode) Alive() bool { return n.cmd != nil }

// RedisCluster is a Redis Cluster of the test's own: three masters with a
// replica each, on free loopback ports, from the machine's redis-server.
// Nothing is kept on disk but the nodes' cluster config files in a temp
// dir; every node is killed when the test ends.
type RedisCluster struct {
	// Addrs are the seed addresses of every node (what a client is given).
	Addrs []string
	Nodes []*ClusterNode
	tb    testing.TB
	dir   string
}

// ClusterNodeTimeout is the nodes' cluster-node-timeout: a master that does
// not answer this long is failed over to its replica.
const ClusterNodeTimeout = 2 * time.Second

// StartRedisCluster starts six redis-servers in cluster mode, joins them
// with `redis-cli --cluster create --cluster-replicas 1` and waits until
// every node says cluster_state:ok and every replica is in sync. A missing
// redis-server or redis-cli skips the test, naming it.
func StartRedisCluster(tb testing.TB) *RedisCluster {
	tb.Helper()
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			tb.Skipf("testdb: %s is not installed (apt-get install redis-server): %v", bin, err)
		}
	}
	rc := &RedisCluster{tb: tb, dir: tb.TempDir()}
	tb.Cleanup(rc.stopAll)
	for range 6 {
		port := freePort(tb)
		n := &ClusterNode{Addr: "127.0.0.1:" + strconv.Itoa(port), port: port}
		rc.start(n)
		rc.Nodes = append(rc.Nodes, n)
		rc.Addrs = append(rc.Addrs, n.Addr)
	}
	for _, n := range rc.Nodes {
		rc.waitPing(n)
	}
	args := append([]string{"--cluster", "create"}, rc.Addrs...)
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	out, err := exec.Command("redis-cli", args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("testdb: redis-cli --cluster create: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, n := range rc.Nodes {
		c := rc.NodeClient(n)
		id, err := c.Do(ctx, "CLUSTER", "MYID").Text()
		_ = c.Close()
		if err != nil {
			tb.Fatalf("testdb: CLUSTER MYID on %s: %v", n.Addr, err)
		}
		n.ID = id
	}
	rc.WaitHealthy(30 * time.Second)
	return rc
}

// freePort returns a loopback port that was free an instant ago.
func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("testdb: %v", err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

func (rc *RedisCluster) start(n *ClusterNode) {
	rc.tb.Helper()
	cmd := exec.Command("redis-server", "--bind", "127.0.0.1", "--port", strconv.Itoa(n.port),
		"--cluster-enabled", "yes",
		"--cluster-config-file", filepath.Join(rc.dir, "nodes-"+strconv.Itoa(n.port)+".conf"),
		"--cluster-node-timeout", strconv.Itoa(int(ClusterNodeTimeout/time.Millisecond)),
		"--save", "", "--appendonly", "no", "--dir", rc.dir)
	if err := cmd.Start(); err != nil {
		rc.tb.Fatalf("testdb: start redis-server on %s: %v", n.Addr, err)
	}
	n.cmd = cmd
}

func (rc *RedisCluster) waitPing(n *ClusterNode) {
	rc.tb.Helper()
	c := rc.NodeClient(n)
	defer func() { _ = c.Close() }()
	if err := waitPing(c, 10*time.Second); err != nil {
		rc.tb.Fatalf("testdb: cluster node %s did not answer: %v", n.Addr, err)
	}
}

// Client is a cluster client of the cluster (closed when the test ends).
func (rc *RedisCluster) Client() *redis.ClusterClient {
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: rc.Addrs})
	rc.tb.Cleanup(func() { _ = c.Close() })
	return c
}

// NodeClient is a plain client of one node (the caller closes it).
func (rc *RedisCluster) NodeClient(n *ClusterNode) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: n.Addr, MaxRetries: -1})
}

// ClusterRole is a node's place in the cluster as CLUSTER NODES tells it.
type ClusterRole struct {
	Node     *ClusterNode
	Master   bool
	MasterID string // a replica's master
	Failed   bool   // flagged fail (or pfail) by the node asked
}

// Topology reads CLUSTER NODES from the first live node and returns the
// role of every node.
func (rc *RedisCluster) Topology(ctx context.Context) (map[string]ClusterRole, error) {
	for _, n := range rc.Nodes {
		if !n.Alive() {
			continue
		}
		c := rc.NodeClient(n)
		txt, err := c.ClusterNodes(ctx).Result()
		_ = c.Close()
		if err != nil {
			continue
		}
		byID := map[string]*ClusterNode{}
		for _, m := range rc.Nodes {
			byID[m.ID] = m
		}
		out := map[string]ClusterRole{}
		for _, line := range strings.Split(strings.TrimSpace(txt), "\n") {
			f := strings.Fields(line)
			if len(f) < 8 {
				continue
			}
			node := byID[f[0]]
			if node == nil {
				continue
			}
			flags := f[2]
			out[f[0]] = ClusterRole{
				Node:     node,
				Master:   strings.Contains(flags, "master"),
				MasterID: strings.Trim(f[3], "-"),
				Failed:   strings.Contains(flags, "fail"),
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("testdb: no cluster node answers CLUSTER NODES")
}

// MasterOf returns the node that serves key's slot now (CLUSTER SLOTS),
// and its replica (CLUSTER NODES; nil if it has none alive).
func (rc *RedisCluster) MasterOf(ctx context.Context, key string) (master, replica *ClusterNode, err error) {
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: rc.liveAddrs()})
	slot, err := c.ClusterKeySlot(ctx, key).Result()
	_ = c.Close()
	if err != nil {
		return nil, nil, err
	}
	for _, n := range rc.Nodes {
		if !n.Alive() || master != nil {
			continue
		}
		nc := rc.NodeClient(n)
		slots, err := nc.ClusterSlots(ctx).Result() //nolint:staticcheck // CLUSTER SLOTS still answers on Redis 7 (and on 6, which has no CLUSTER SHARDS)
		_ = nc.Close()
		if err != nil {
			continue
		}
		for _, s := range slots {
			if int64(s.Start) > slot || int64(s.End) < slot || len(s.Nodes) == 0 {
				continue
			}
			for _, m := range rc.Nodes {
				if m.ID == s.Nodes[0].ID {
					master = m
				}
			}
			if master == nil {
				return nil, nil, fmt.Errorf("testdb: slot %d served by unknown node %s", slot, s.Nodes[0].ID)
			}
		}
	}
	if master == nil {
		return nil, nil, fmt.Errorf("testdb: no node tells who serves slot %d", slot)
	}
	roles, err := rc.Topology(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, r := range roles {
		if !r.Master && r.MasterID == master.ID && !r.Failed && r.Node.Alive() {
			replica = r.Node
		}
	}
	return master, replica, nil
}

// Failover runs CLUSTER FAILOVER on replica (a coordinated, lossless
// switch: the master stops taking writes until the replica has caught up)
// and waits until replica is a master and the cluster is healthy.
func (rc *RedisCluster) Failover(replica *ClusterNode) {
	rc.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := rc.NodeClient(replica)
	defer func() { _ = c.Close() }()
	if err := c.Do(ctx, "CLUSTER", "FAILOVER").Err(); err != nil {
		rc.tb.Fatalf("testdb: CLUSTER FAILOVER on %s: %v", replica.Addr, err)
	}
	rc.waitMaster(replica, 30*time.Second)
	rc.WaitHealthy(30 * time.Second)
}

// Kill kills node with SIGKILL (no shutdown, nothing saved). If it was a
// master, its replica takes over after ClusterNodeTimeout; WaitMaster
// waits for that.
func (rc *RedisCluster) Kill(n *ClusterNode) {
	rc.tb.Helper()
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Kill()
	_ = n.cmd.Wait()
	n.cmd = nil
}

// WaitMaster waits until n is a master in its own view and the cluster is
// healthy (after Kill of n's master).
func (rc *RedisCluster) WaitMaster(n *ClusterNode, timeout time.Duration) {
	rc.tb.Helper()
	rc.waitMaster(n, timeout)
	rc.WaitHealthy(timeout)
}

func (rc *RedisCluster) waitMaster(n *ClusterNode, timeout time.Duration) {
	rc.tb.Helper()
	c := rc.NodeClient(n)
	defer func() { _ = c.Close() }()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		info, err := c.Info(ctx, "replication").Result()
		cancel()
		if err == nil && strings.Contains(info, "role:master") {
			return
		}
		if time.Now().After(deadline) {
			rc.tb.Fatalf("testdb: %s did not become a master within %s (%v):\n%s", n.Addr, timeout, err, info)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitHealthy waits until every live node reports cluster_state:ok with
// all 16384 slots served, every live node agrees on the masters, and every
// live replica's link to its master is up.
func (rc *RedisCluster) WaitHealthy(timeout time.Duration) {
	rc.tb.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		ok, why := rc.healthy()
		if ok {
			return
		}
		last = why
		if time.Now().After(deadline) {
			rc.tb.Fatalf("testdb: Redis Cluster not healthy within %s: %s", timeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (rc *RedisCluster) healthy() (bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var views []string
	for _, n := range rc.Nodes {
		if !n.Alive() {
			continue
		}
		c := rc.NodeClient(n)
		info, err := c.ClusterInfo(ctx).Result()
		if err != nil {
			_ = c.Close()
			return false, fmt.Sprintf("%s: CLUSTER INFO: %v", n.Addr, err)
		}
		if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_slots_ok:16384") {
			_ = c.Close()
			return false, fmt.Sprintf("%s: %s", n.Addr, oneLine(info))
		}
		repl, err := c.Info(ctx, "replication").Result()
		if err == nil && strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up") {
			_ = c.Close()
			return false, fmt.Sprintf("%s: replica link down: %s", n.Addr, oneLine(repl))
		}
		nodes, err := c.ClusterNodes(ctx).Result()
		_ = c.Close()
		if err != nil {
			return false, fmt.Sprintf("%s: CLUSTER NODES: %v", n.Addr, err)
		}
		views = append(views, mastersOf(nodes))
	}
	for _, v := range views[1:] {
		if v != views[0] {
			return false, fmt.Sprintf("nodes disagree on the masters: %q vs %q", views[0], v)
		}
	}
	return true, ""
}

// mastersOf lists the ids of the healthy masters serving slots in a
// CLUSTER NODES answer, sorted.
func mastersOf(nodes string) string {
	var ids []string
	for _, line := range strings.Split(strings.TrimSpace(nodes), "\n") {
		f := strings.Fields(line)
		if len(f) >= 9 && strings.Contains(f[2], "master") && !strings.Contains(f[2], "fail") {
			ids = append(ids, f[0])
		}
	}
	slices.Sort(ids)
	return strings.Join(ids, ",")
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\r", "")), " ")
}

func (rc *RedisCluster) liveAddrs() []string {
	var out []string
	for _, n := range rc.Nodes {
		if n.Alive() {
			out = append(out, n.Addr)
		}
	}
	return out
}

func (rc *RedisCluster) stopAll() {
	for _, n := range rc.Nodes {
		rc.Kill(n)
	}
}

// String implements fmt.Stringer.
func (rc *RedisCluster) String() string {
	return "Redis Cluster " + strings.Join(rc.Addrs, ",")
}
