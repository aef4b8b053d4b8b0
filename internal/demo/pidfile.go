package demo

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// The pid file of `demo --keep-running` records the pid of the collector
// left running and its work directory: a later run refuses to start while
// that process lives (it would drop the schema under it), and removes the
// work directory once it has stopped.

// runningDemo returns the pid recorded in pidFile if that process is
// still an otelcol-analytics collector, else 0 (and removes the stale file
// and the work directory it names).
func runningDemo(pidFile string) int {
	if pidFile == "" {
		return 0
	}
	data, err := os.ReadFile(pidFile) //nolint:gosec // the demo's own pid file
	if err != nil {
		return 0
	}
	pidText, workDir, _ := strings.Cut(string(data), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(pidText))
	if err == nil && pid > 0 && syscall.Kill(pid, 0) == nil {
		// The pid may have been reused: on Linux, check what runs there.
		cmdline, rerr := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if rerr != nil || bytes.Contains(cmdline, []byte("otelcol-analytics")) {
			return pid
		}
	}
	if workDir = strings.TrimSpace(workDir); strings.Contains(filepath.Base(workDir), "otelcol-analytics-demo-") {
		_ = os.RemoveAll(workDir) //nolint:gosec // a work directory this demo created (checked by name)
	}
	_ = os.Remove(pidFile)
	return 0
}

// recordPID writes pidFile for the collector pid left running with its
// work directory workDir, which a later run removes once the collector is
// gone.
func recordPID(pidFile string, pid int, workDir string) error {
	rec := strconv.Itoa(pid) + "\n" + workDir + "\n"
	return os.WriteFile(pidFile, []byte(rec), 0o600)
}
