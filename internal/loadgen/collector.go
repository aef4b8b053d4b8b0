package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
)

// CollectorSetup is where a collector of a run of its own stores and
// listens: the default configuration, every ANALYTICS_* variable set.
type CollectorSetup struct {
	Binary, Config string
	// DSN is the exporter's and the stats service's PostgreSQL (with the
	// run's search_path).
	DSN string
	// RedisAddr, RedisDB and RedisPrefix are the exporter's Redis.
	RedisAddr   string
	RedisDB     int
	RedisPrefix string
	// WorkDir holds the persistent queue (WorkDir/queue) and the log
	// (WorkDir/collector.log).
	WorkDir string
	// Timezone is the business time zone (default Asia/Shanghai).
	Timezone string
}

// Collector is a running collector with its listeners.
type Collector struct {
	cmd     *exec.Cmd
	done    chan struct{}
	logPath string
	// Listeners, host:port each.
	OTLPHTTP, OTLPGRPC, Pprof, Health, Stats, Track string
	Telemetry                                       int
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

// StartCollector starts s.Binary --config s.Config on free loopback ports
// and waits until its health check answers.
func StartCollector(ctx context.Context, s CollectorSetup) (*Collector, error) {
	c := &Collector{}
	for _, dst := range []*string{&c.OTLPHTTP, &c.OTLPGRPC, &c.Pprof, &c.Health, &c.Stats, &c.Track} {
		var err error
		if *dst, err = freeAddr(); err != nil {
			return nil, err
		}
	}
	tel, err := freeAddr()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(tel)
	c.Telemetry, _ = strconv.Atoi(port)
	tz := s.Timezone
	if tz == "" {
		tz = counters.DefaultTimeZone
	}
	set := map[string]string{
		"ANALYTICS_POSTGRES_DSN":       s.DSN,
		"ANALYTICS_STATS_POSTGRES_DSN": s.DSN,
		"ANALYTICS_REDIS_ADDR":         s.RedisAddr,
		"ANALYTICS_REDIS_DB":           strconv.Itoa(s.RedisDB),
		"ANALYTICS_REDIS_PASSWORD":     "",
		"ANALYTICS_REDIS_PREFIX":       s.RedisPrefix,
		"ANALYTICS_TIMEZONE":           tz,
		"ANALYTICS_CATALOG_FILE":       "",
		"ANALYTICS_OTLP_GRPC_ENDPOINT": c.OTLPGRPC,
		"ANALYTICS_OTLP_HTTP_ENDPOINT": c.OTLPHTTP,
		"ANALYTICS_TRACK_ENDPOINT":     c.Track,
		"ANALYTICS_STATS_ENDPOINT":     c.Stats,
		"ANALYTICS_STATS_TOKEN":        "",
		"ANALYTICS_QUEUE_DIR":          filepath.Join(s.WorkDir, "queue"),
		"ANALYTICS_HEALTH_ENDPOINT":    c.Health,
		"ANALYTICS_PPROF_ENDPOINT":     c.Pprof,
		"ANALYTICS_TELEMETRY_PORT":     strconv.Itoa(c.Telemetry),
	}
	env := make([]string, 0, len(os.Environ())+len(set))
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ANALYTICS_") { // nothing of the caller's own setup
			env = append(env, kv)
		}
	}
	for k, v := range set {
		env = append(env, k+"="+v)
	}
	c.logPath = filepath.Join(s.WorkDir, "collector.log")
	if err := c.start(ctx, s.Binary, s.Config, env, 2*time.Minute); err != nil {
		return nil, err
	}
	return c, nil
}

// start runs the binary, its output to the log, and waits until the health
// check answers 200 (or the process exits, or timeout).
func (c *Collector) start(ctx context.Context, bin, config string, env []string, timeout time.Duration) error {
	logf, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600) //nolint:gosec // the run's own work dir
	if err != nil {
		return err
	}
	defer func() { _ = logf.Close() }()           // the child has its own descriptor
	c.cmd = exec.Command(bin, "--config", config) //nolint:gosec // the binary the user named
	c.cmd.Env = env
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	if err := c.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	c.done = make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(c.done) }()
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		select {
		case <-c.done:
			return fmt.Errorf("the collector exited during start (%s):\n%s", c.cmd.ProcessState, c.LogTail(40))
		case <-ctx.Done():
			_ = c.Stop(10 * time.Second)
			return ctx.Err()
		default:
		}
		if resp, err := client.Get("http://" + c.Health + "/"); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			_ = c.Stop(10 * time.Second)
			return fmt.Errorf("the collector's health check (%s) did not answer 200 within %s:\n%s", c.Health, timeout, c.LogTail(40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// PID is the collector's process id.
func (c *Collector) PID() int { return c.cmd.Process.Pid }

// Stop sends SIGTERM and waits up to grace for the collector to drain and
// exit, then kills it; it returns an error if the kill was needed.
func (c *Collector) Stop(grace time.Duration) error {
	select {
	case <-c.done:
		return nil
	default:
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

// LogTail returns the last n log lines of the collector's output (stack
// traces left out).
func (c *Collector) LogTail(n int) string {
	data, err := os.ReadFile(c.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	var lines [][]byte
	for _, l := range bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n")) {
		if len(l) > 0 && l[0] != '\t' && !bytes.HasPrefix(l, []byte("go.")) && !bytes.HasPrefix(l, []byte("net/")) &&
			!bytes.HasPrefix(l, []byte("github.com/")) && !bytes.HasPrefix(l, []byte("google.golang.org/")) &&
			!bytes.HasPrefix(l, []byte("runtime.")) {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// Memory is the collector's resident memory from /proc/<pid>/status.
type Memory struct {
	PeakRSS int64 `json:"peak_rss_bytes"` // VmHWM
	RSS     int64 `json:"rss_bytes"`      // VmRSS
}

// ReadMemory reads VmHWM and VmRSS of process pid.
func ReadMemory(pid int) (Memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, err
	}
	defer func() { _ = f.Close() }()
	var m Memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || fields[2] != "kB" {
			continue
		}
		kb, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			continue
		}
		switch fields[0] {
		case "VmHWM:":
			m.PeakRSS = kb << 10
		case "VmRSS:":
			m.RSS = kb << 10
		}
	}
	if m.PeakRSS == 0 {
		return m, fmt.Errorf("loadgen: no VmHWM in /proc/%d/status", pid)
	}
	return m, sc.Err()
}

// ResetPeak resets the process's VmHWM to its current RSS (writing 5 to
// /proc/<pid>/clear_refs), so that the next ReadMemory tells the peak of
// what came after.
func ResetPeak(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// CPUProfile fetches a CPU profile of seconds from the collector's pprof
// extension into path.
func (c *Collector) CPUProfile(ctx context.Context, seconds int, path string) error {
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", c.Pprof, seconds)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: time.Duration(seconds+30) * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("loadgen: pprof answered %s: %s", resp.Status, body)
	}
	f, err := os.Create(path) //nolint:gosec // the path the user gave
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// LoadAvg is the content of /proc/loadavg.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return strings.TrimSpace(string(b))
}
