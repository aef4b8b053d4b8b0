// Package e2e runs the real bin/otelcol-analytics binary built by ocb against
// the machine's PostgreSQL and Redis. `make test` builds the binary and sets
// OTELCOL_ANALYTICS_BIN; a plain `go test ./...` without it skips these tests
// and says so.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// collector is a running otelcol-analytics process.
type collector struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

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
// waits until the health_check extension at healthPort says ready.
func startCollector(t *testing.T, config string, healthPort int) *collector {
	t.Helper()
	bin := binary(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(config), 0o600))
	c := &collector{out: &syncBuffer{}, done: make(chan struct{})}
	c.cmd = exec.Command(bin, "--config", path)
	c.cmd.Dir = dir
	c.cmd.Stdout = c.out
	c.cmd.Stderr = c.out
	require.NoError(t, c.cmd.Start())
	go func() { _ = c.cmd.Wait(); close(c.done) }()
	t.Cleanup(func() { c.stop(t) })

	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-c.done:
			t.Fatalf("collector exited during start:\n%s", c.out.String())
		default:
		}
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", healthPort))
		if err == nil {
			require.NoError(t, resp.Body.Close())
			if resp.StatusCode == http.StatusOK {
				return c
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("collector not ready after 60s:\n%s", c.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (c *collector) stop(t *testing.T) {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(os.Interrupt)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
		t.Errorf("collector did not stop within 30s:\n%s", c.out.String())
	}
}

// kill9 kills the collector without letting it shut down.
func (c *collector) kill9() {
	_ = c.cmd.Process.Kill()
	<-c.done
}

// waitOutput waits until the collector's output contains every string.
func (c *collector) waitOutput(t *testing.T, timeout time.Duration, want ...string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out := c.out.String()
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
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/v1/logs", port), strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer func() { assert.NoError(t, resp.Body.Close()) }()
	return resp.StatusCode
}
