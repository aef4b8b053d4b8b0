// Package e2e runs the real bin/otelcol-analytics binary built by ocb against
// the machine's PostgreSQL and Redis. `make test` builds the binary and sets
// OTELCOL_ANALYTICS_BIN; a plain `go test ./...` without it skips these tests
// and says so.
package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-analytics/otelcol-analytics/internal/collectorproc"
)

// collector is a running otelcol-analytics process.
type collector struct{ *collectorproc.Process }

// output is everything the collector wrote so far.
func (c *collector) output() string { return c.Log() }

func binary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("OTELCOL_ANALYTICS_BIN")
	if bin == "" {
		t.Skip("OTELCOL_ANALYTICS_BIN is not set: run `make test`, which builds bin/otelcol-analytics with ocb and runs these tests")
	}
	_, err := os.Stat(bin)
	require.NoError(t, err, "OTELCOL_ANALYTICS_BIN=%s does not exist", bin)
	return bin
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer func() { assert.NoError(t, l.Close()) }()
	return l.Addr().(*net.TCPAddr).Port
}

// startCollector writes config to a temp dir, starts the binary with it and
// waits until the health_check extension at healthPort says ready; the test
// stops it (SIGTERM, 30 s) when it ends.
func startCollector(t *testing.T, config string, healthPort int) *collector {
	t.Helper()
	return startCollectorEnv(t, config, healthPort, os.Environ())
}

// startCollectorEnv is startCollector with env as the child's whole
// environment: a parallel test gives the collector its variables this way,
// since t.Setenv cannot be used in one.
func startCollectorEnv(t *testing.T, config string, healthPort int, env []string) *collector {
	t.Helper()
	bin := binary(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(config), 0o600))
	p, err := collectorproc.Start(context.Background(), collectorproc.Options{
		Binary: bin, Config: path, Env: env, Dir: dir,
		LogPath: filepath.Join(dir, "collector.log"), Health: fmt.Sprintf("127.0.0.1:%d", healthPort),
	})
	require.NoError(t, err)
	c := &collector{p}
	t.Cleanup(func() { c.stop(t) })
	return c
}

// stop sends SIGTERM and waits 30 s for a clean exit (then kills it and
// fails the test).
func (c *collector) stop(t *testing.T) {
	if err := c.Stop(30 * time.Second); err != nil {
		t.Errorf("%v:\n%s", err, c.output())
	}
}

// waitOutput waits until the collector's output contains every string.
func (c *collector) waitOutput(t *testing.T, timeout time.Duration, want ...string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out := c.output()
		missing := ""
		for _, w := range want {
			if !strings.Contains(out, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("collector output lacks %q after %s:\n%s", missing, timeout, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// postLogs posts an OTLP/HTTP JSON logs request and returns the status code.
func postLogs(t *testing.T, port int, body string) int {
	t.Helper()
	code, _, _ := postLogsFull(t, port, body)
	return code
}
