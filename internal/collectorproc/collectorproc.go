// Package collectorproc runs the built collector binary as a child process:
// started with a configuration and an environment, ready once its
// health_check extension answers 200, stopped with SIGTERM (killed after a
// grace period) or with kill -9. The demo, the load generator and the
// end-to-end tests start their collectors through it.
package collectorproc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Options say what to start and how to tell it is ready.
type Options struct {
	Binary, Config string
	// Env is the child's whole environment (see Env).
	Env []string
	// Dir is the child's working directory ("": the caller's).
	Dir string
	// LogPath receives the child's stdout and stderr, appended.
	LogPath string
	// Health is the health_check extension's host:port.
	Health string
	// Detach puts the child in a session of its own, so that it outlives
	// the caller (the demo's --keep-running).
	Detach bool
	// Timeout bounds the wait for the health check (0: one minute).
	Timeout time.Duration
}

// Process is a running collector.
type Process struct {
	cmd     *exec.Cmd
	done    chan struct{}
	LogPath string // where its stdout and stderr go
}

// Start starts o.Binary --config o.Config and waits until the health check
// at o.Health answers 200, the process exits, ctx ends or o.Timeout passes;
// in the last three cases the process is stopped and the error carries the
// end of its log.
func Start(ctx context.Context, o Options) (*Process, error) {
	logf, err := os.OpenFile(o.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600) //nolint:gosec // the caller's own work directory
	if err != nil {
		return nil, err
	}
	defer func() { _ = logf.Close() }()                 // the child keeps its own descriptor
	cmd := exec.Command(o.Binary, "--config", o.Config) //nolint:gosec // the binary the caller named
	cmd.Env, cmd.Dir = o.Env, o.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	if o.Detach {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", o.Binary, err)
	}
	p := &Process{cmd: cmd, done: make(chan struct{}), LogPath: o.LogPath}
	go func() { _ = cmd.Wait(); close(p.done) }()

	timeout := o.Timeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		select {
		case <-p.done:
			return nil, fmt.Errorf("the collector exited during start (%s):\n%s", cmd.ProcessState, p.LogTail(40))
		case <-ctx.Done():
			_ = p.Stop(10 * time.Second)
			return nil, ctx.Err()
		default:
		}
		if resp, err := client.Get("http://" + o.Health + "/"); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			_ = p.Stop(10 * time.Second)
			return nil, fmt.Errorf("the collector's health check (%s) did not answer 200 within %s:\n%s", o.Health, timeout, p.LogTail(40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// PID is the process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM and waits up to grace for the collector to drain and
// exit, then kills it; it returns an error if the kill was needed.
func (p *Process) Stop(grace time.Duration) error {
	if p.Exited() {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
		return errors.New("the collector did not stop within " + grace.String() + " and was killed")
	}
}

// Kill9 kills the collector without letting it shut down and waits for it.
func (p *Process) Kill9() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Log is the collector's whole output so far.
func (p *Process) Log() string {
	data, err := os.ReadFile(p.LogPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	return string(data)
}

// LogTail returns the last n lines of the collector's output, the lines of
// stack traces left out.
func (p *Process) LogTail(n int) string {
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(p.Log(), "\n"), "\n") {
		if !stackLine(l) {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func stackLine(l string) bool {
	if l == "" || l[0] == '\t' {
		return l != ""
	}
	for _, p := range []string{"go.", "net/", "github.com/", "google.golang.org/", "runtime."} {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return false
}

// Env is base without any ANALYTICS_* variable (so nothing of the caller's
// own setup leaks in), plus set.
func Env(base []string, set map[string]string) []string {
	out := make([]string, 0, len(base)+len(set))
	for _, kv := range base {
		if !strings.HasPrefix(kv, "ANALYTICS_") {
			out = append(out, kv)
		}
	}
	for k, v := range set {
		out = append(out, k+"="+v)
	}
	return out
}

// FreeAddr returns 127.0.0.1:<a port free now>.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}

// FreePort returns a loopback port free now.
func FreePort() (int, error) {
	addr, err := FreeAddr()
	if err != nil {
		return 0, err
	}
	_, port, _ := net.SplitHostPort(addr)
	var n int
	_, err = fmt.Sscan(port, &n)
	return n, err
}
