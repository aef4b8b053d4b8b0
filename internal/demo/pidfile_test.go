package demo

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPIDFile: a recorded collector that still runs is reported; once it
// has gone, the pid file and the work directory it names are removed (a
// directory not named like the demo's is left alone).
func TestPIDFile(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "demo.pid")
	assert.Zero(t, runningDemo(""), "no pid file configured")
	assert.Zero(t, runningDemo(pidFile), "no pid file")

	// A live process whose command line names otelcol-analytics.
	live := exec.Command("sh", "-c", "sleep 30", "otelcol-analytics")
	require.NoError(t, live.Start())
	t.Cleanup(func() { _ = live.Process.Kill(); _ = live.Wait() })
	work := filepath.Join(dir, "otelcol-analytics-demo-1")
	require.NoError(t, os.Mkdir(work, 0o700))
	require.NoError(t, recordPID(pidFile, live.Process.Pid, work))
	assert.Equal(t, live.Process.Pid, runningDemo(pidFile))
	assert.FileExists(t, pidFile)
	assert.DirExists(t, work)

	// The same record once the process has gone.
	require.NoError(t, live.Process.Kill())
	_ = live.Wait()
	assert.Zero(t, runningDemo(pidFile))
	assert.NoFileExists(t, pidFile)
	assert.NoDirExists(t, work)

	// A stale record naming some other directory.
	other := filepath.Join(dir, "keep")
	require.NoError(t, os.Mkdir(other, 0o700))
	require.NoError(t, recordPID(pidFile, live.Process.Pid, other))
	assert.Zero(t, runningDemo(pidFile))
	assert.NoFileExists(t, pidFile)
	assert.DirExists(t, other)
}
