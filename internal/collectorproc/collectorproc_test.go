package collectorproc

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The test binary is its own child: with FAKE_COLLECTOR_HEALTH set it acts
// as a collector that serves a health check, logs, and exits 0 on SIGTERM
// (or, with FAKE_COLLECTOR_MODE=exit, exits at once with a message).
func TestMain(m *testing.M) {
	if addr := os.Getenv("FAKE_COLLECTOR_HEALTH"); addr != "" {
		fakeCollector(addr)
		return
	}
	os.Exit(m.Run())
}

func fakeCollector(addr string) {
	fmt.Println("starting with", os.Args[1:], "ANALYTICS_X="+os.Getenv("ANALYTICS_X"))
	if os.Getenv("FAKE_COLLECTOR_MODE") == "exit" {
		fmt.Println("Error: invalid configuration")
		os.Exit(1)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	go func() { _ = http.ListenAndServe(addr, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})) }() //nolint:gosec // a test child
	<-sig
	fmt.Println("\tgo.opentelemetry.io/collector/otelcol.(*Collector).Run")
	fmt.Println("shutdown complete")
	os.Exit(0)
}

func start(t *testing.T, mode string) (*Process, error) {
	t.Helper()
	health, err := FreeAddr()
	require.NoError(t, err)
	env := Env(append(os.Environ(), "ANALYTICS_X=caller's"), map[string]string{
		"FAKE_COLLECTOR_HEALTH": health, "FAKE_COLLECTOR_MODE": mode, "ANALYTICS_X": "set",
	})
	return Start(context.Background(), Options{
		Binary: os.Args[0], Config: "c.yaml", Env: env,
		LogPath: filepath.Join(t.TempDir(), "collector.log"), Health: health, Timeout: 20 * time.Second,
	})
}

func TestStartStop(t *testing.T) {
	p, err := start(t, "")
	require.NoError(t, err)
	assert.False(t, p.Exited())
	assert.Positive(t, p.PID())
	require.NoError(t, p.Stop(10*time.Second))
	assert.True(t, p.Exited())
	// The caller's ANALYTICS_X is gone, the set one is there; the stack
	// line is in the log and not in its tail.
	assert.Contains(t, p.Log(), "starting with [--config c.yaml] ANALYTICS_X=set\n")
	assert.Contains(t, p.Log(), "\tgo.opentelemetry.io/collector/otelcol")
	assert.Equal(t, "starting with [--config c.yaml] ANALYTICS_X=set\nshutdown complete", p.LogTail(5))
	assert.Equal(t, "shutdown complete", p.LogTail(1))
	require.NoError(t, p.Stop(time.Second), "stopping an exited process is a no-op")
}

func TestKill9(t *testing.T) {
	p, err := start(t, "")
	require.NoError(t, err)
	p.Kill9()
	assert.True(t, p.Exited())
	assert.NotContains(t, p.Log(), "shutdown complete")
}

func TestStartExits(t *testing.T) {
	_, err := start(t, "exit")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the collector exited during start (exit status 1)")
	assert.True(t, strings.HasSuffix(err.Error(), "Error: invalid configuration"), err.Error())
}

func TestFreePort(t *testing.T) {
	p, err := FreePort()
	require.NoError(t, err)
	assert.Positive(t, p)
}
