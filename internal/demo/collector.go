package demo

import (
	"bytes"
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

// Collector is a running bin/otelcol-analytics child process.
type Collector struct {
	cmd     *exec.Cmd
	done    chan struct{}
	LogPath string // where its stdout and stderr go
}

// Ports are the listeners the demo's collector uses ("host:port" each).
type Ports struct {
	OTLPGRPC, OTLPHTTP, Health, Pprof, Stats string
	// Track is for the track receiver's ANALYTICS_TRACK_ENDPOINT, should
	// the configuration have one.
	Track     string
	Telemetry int
}

// freeAddr returns 127.0.0.1:<a free port>.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}

// canListen reports whether addr is free to listen on.
func canListen(addr string) bool {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// choosePorts returns free loopback ports for every listener but the stats
// service, which gets stats when that is free (the report URL users know),
// and a free port otherwise (note says so).
func choosePorts(stats string) (p Ports, note string, err error) {
	for _, dst := range []*string{&p.OTLPGRPC, &p.OTLPHTTP, &p.Health, &p.Pprof, &p.Track} {
		if *dst, err = freeAddr(); err != nil {
			return p, "", err
		}
	}
	tel, err := freeAddr()
	if err != nil {
		return p, "", err
	}
	_, port, _ := net.SplitHostPort(tel)
	fmt.Sscan(port, &p.Telemetry) //nolint:errcheck // a port number from the kernel
	p.Stats = stats
	if stats == "" || !canListen(stats) {
		if p.Stats, err = freeAddr(); err != nil {
			return p, "", err
		}
		if stats != "" {
			note = fmt.Sprintf("%s is taken (another collector?): the demo's stats service listens on %s instead", stats, p.Stats)
		}
	}
	return p, note, nil
}

// collectorEnv is base without any ANALYTICS_* variable (so nothing of the
// user's own setup leaks in), plus set.
func collectorEnv(base []string, set map[string]string) []string {
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

// StartCollector starts bin --config config with env, its output appended
// to logPath, and waits until the health_check extension at health answers
// 200 (or the process exits, or timeout). detach puts it in a session of
// its own so that it survives the demo (--keep-running).
func StartCollector(ctx context.Context, bin, config string, env []string, logPath, health string, detach bool, timeout time.Duration) (*Collector, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600) //nolint:gosec // the demo's own work directory
	if err != nil {
		return nil, err
	}
	defer func() { _ = logf.Close() }() // the child keeps its own descriptor
	cmd := exec.Command(bin, "--config", config)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	if detach {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	c := &Collector{cmd: cmd, done: make(chan struct{}), LogPath: logPath}
	go func() { _ = cmd.Wait(); close(c.done) }()

	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		select {
		case <-c.done:
			return nil, fmt.Errorf("the collector exited during start (%s):\n%s", cmd.ProcessState, c.LogTail(40))
		case <-ctx.Done():
			_ = c.Stop(10 * time.Second)
			return nil, ctx.Err()
		default:
		}
		resp, err := client.Get("http://" + health + "/")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return c, nil
			}
		}
		if time.Now().After(deadline) {
			_ = c.Stop(10 * time.Second)
			return nil, fmt.Errorf("the collector's health check (%s) did not answer 200 within %s:\n%s", health, timeout, c.LogTail(40))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// PID is the process id.
func (c *Collector) PID() int { return c.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (c *Collector) Exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM and waits up to grace for the collector to drain and
// exit, then kills it. It returns an error if the kill was needed.
func (c *Collector) Stop(grace time.Duration) error {
	if c.Exited() {
		return nil
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
		return nil
	case <-time.After(grace):
		_ = c.cmd.Process.Kill()
		<-c.done
		return errors.New("the collector did not stop within " + grace.String() + " and was killed")
	}
}

// LogTail returns the last n lines of the collector's output.
func (c *Collector) LogTail(n int) string {
	data, err := os.ReadFile(c.LogPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
