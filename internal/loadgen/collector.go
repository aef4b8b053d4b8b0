package loadgen

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/otelcol-analytics/otelcol-analytics/internal/collectorproc"
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
	// QueueDir, when set, is the persistent queue's directory instead of
	// WorkDir/queue (a small file system of its own, for instance).
	QueueDir string
	// Env are further variables of the collector's environment (GOMEMLIMIT,
	// say); they override the ANALYTICS_* ones set here.
	Env map[string]string
}

// Collector is a running collector with its listeners.
type Collector struct {
	*collectorproc.Process
	// Listeners, host:port each.
	OTLPHTTP, OTLPGRPC, Pprof, Health, Stats, Track string
	Telemetry                                       int
}

// StartCollector starts s.Binary --config s.Config on free loopback ports
// and waits until its health check answers.
//
// The ports are free when picked, but another process may bind one before
// the collector does (tests run in parallel); a start that fails with
// "address already in use" is tried again on other ports, up to 3 times.
func StartCollector(ctx context.Context, s CollectorSetup) (*Collector, error) {
	for attempt := 1; ; attempt++ {
		c, err := startCollector(ctx, s)
		if err == nil || attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			return c, err
		}
	}
}

func startCollector(ctx context.Context, s CollectorSetup) (*Collector, error) {
	c := &Collector{}
	var err error
	for _, dst := range []*string{&c.OTLPHTTP, &c.OTLPGRPC, &c.Pprof, &c.Health, &c.Stats, &c.Track} {
		if *dst, err = collectorproc.FreeAddr(); err != nil {
			return nil, err
		}
	}
	if c.Telemetry, err = collectorproc.FreePort(); err != nil {
		return nil, err
	}
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
	if s.QueueDir != "" {
		set["ANALYTICS_QUEUE_DIR"] = s.QueueDir
	}
	for k, v := range s.Env {
		set[k] = v
	}
	c.Process, err = collectorproc.Start(ctx, collectorproc.Options{
		Binary: s.Binary, Config: s.Config, Env: collectorproc.Env(os.Environ(), set),
		LogPath: filepath.Join(s.WorkDir, "collector.log"), Health: c.Health, Timeout: 2 * time.Minute,
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Memory is the collector's resident memory from /proc/<pid>/status.
// RSS counts the pages of the persistent queue's memory-mapped bbolt file
// (RssFile: page cache the kernel can reclaim) besides the process's own
// memory (RssAnon: heap, stacks).
type Memory struct {
	PeakRSS int64 `json:"peak_rss_bytes"` // VmHWM
	RSS     int64 `json:"rss_bytes"`      // VmRSS
	Anon    int64 `json:"rss_anon_bytes"` // RssAnon
	File    int64 `json:"rss_file_bytes"` // RssFile
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
		case "RssAnon:":
			m.Anon = kb << 10
		case "RssFile:":
			m.File = kb << 10
		}
	}
	if m.PeakRSS == 0 {
		return m, fmt.Errorf("loadgen: no VmHWM in /proc/%d/status", pid)
	}
	return m, sc.Err()
}

// AnonSampler keeps the peak of a process's RssAnon, read every interval
// (the kernel keeps no high-water mark of it).
type AnonSampler struct {
	mu   sync.Mutex
	peak int64
	stop chan struct{}
	done chan struct{}
}

// SampleAnon starts sampling pid's RssAnon every interval until Stop.
func SampleAnon(pid int, every time.Duration) *AnonSampler {
	s := &AnonSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if m, err := ReadMemory(pid); err == nil {
				s.mu.Lock()
				s.peak = max(s.peak, m.Anon)
				s.mu.Unlock()
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// TakePeak returns the peak RssAnon since the last call and starts anew.
func (s *AnonSampler) TakePeak() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.peak
	s.peak = 0
	return p
}

// Stop ends the sampling.
func (s *AnonSampler) Stop() {
	close(s.stop)
	<-s.done
}

// timeline samples a process's VmRSS and RssAnon every interval.
type timeline struct {
	start time.Time
	mu    sync.Mutex
	out   []MemSample
	done  chan struct{}
	ended chan struct{}
}

func sampleTimeline(pid int, every time.Duration) *timeline {
	tl := &timeline{start: time.Now(), done: make(chan struct{}), ended: make(chan struct{})}
	go func() {
		defer close(tl.ended)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if m, err := ReadMemory(pid); err == nil {
				tl.mu.Lock()
				tl.out = append(tl.out, MemSample{AtSec: time.Since(tl.start).Seconds(), RSS: m.RSS, Anon: m.Anon})
				tl.mu.Unlock()
			}
			select {
			case <-tl.done:
				return
			case <-t.C:
			}
		}
	}()
	return tl
}

// stop ends the sampling and returns the samples.
func (tl *timeline) stop() []MemSample {
	close(tl.done)
	<-tl.ended
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return tl.out
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
