package faults

// The abuse scenarios 17–26 of issue 12, against every listening port of
// the built collector: OTLP gRPC and HTTP, track, stats, health_check,
// pprof and the collector's own Prometheus telemetry.

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/klauspost/compress/zstd"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
	"github.com/otelcol-analytics/otelcol-analytics/internal/loadgen"
	"github.com/otelcol-analytics/otelcol-analytics/internal/normalize"
)

// abuseFull is the full variant: Full() or FAULTS_FULL=1.
func abuseFull() bool { return Full() || os.Getenv("FAULTS_FULL") == "1" }

// statsPaths are the stats service's endpoints (GET only).
var statsPaths = []string{
	"/api/analytics/case-study", "/api/analytics/summary", "/api/analytics/agents",
	"/api/analytics/tickets", "/api/analytics/daily", "/report", "/healthz", "/assets/echarts.min.js",
}

// reply is an HTTP answer as the abuse checks read it.
type reply struct {
	status int
	header http.Header
	body   string
}

var client = &http.Client{Timeout: 30 * time.Second}

// send makes one request; hdr are extra headers.
func send(t *testing.T, method, url string, body []byte, hdr map[string]string) reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// leakRE matches what an error body must never show: a DSN, a PostgreSQL or
// Redis host:port, a Go stack or a panic.
var leakRE = regexp.MustCompile(`postgres(ql)?://|search_path|sslmode|\b(127\.0\.0\.1|localhost|\[::1\]):\d+|:5432\b|:6379\b|goroutine \d+|\.go:\d+|panic:|runtime\.`)

// noLeak fails the test if an error answer (status ≥ 400) shows a DSN, a
// host:port or a stack; extra are strings of the run (schema, proxy) that
// must not appear either.
func noLeak(t *testing.T, where string, r reply, extra ...string) {
	t.Helper()
	if r.status < 400 {
		return
	}
	if m := leakRE.FindString(r.body); m != "" {
		t.Errorf("%s: the %d answer leaks %q: %.300s", where, r.status, m, r.body)
	}
	for _, s := range extra {
		if s != "" && strings.Contains(r.body, s) {
			t.Errorf("%s: the %d answer leaks %q: %.300s", where, r.status, s, r.body)
		}
	}
}

// eventLogs is an OTLP logs request of one business event per map of
// attributes (event.name and service.name taken from the keys "event.name"
// and "service.name").
func eventLogs(at time.Time, events ...map[string]any) plog.Logs {
	ld := plog.NewLogs()
	for _, ev := range events {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", ev["service.name"].(string))
		r := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		r.SetEventName(ev["event.name"].(string))
		r.SetTimestamp(pcommon.NewTimestampFromTime(at))
		for k, v := range ev {
			if k == "event.name" || k == "service.name" {
				continue
			}
			switch v := v.(type) {
			case string:
				r.Attributes().PutStr(k, v)
			case float64:
				r.Attributes().PutDouble(k, v)
			case bool:
				r.Attributes().PutBool(k, v)
			}
		}
	}
	return ld
}

// sessionStart is a valid OTLP/JSON request of one session.start.
func sessionStart(t *testing.T, id string) []byte {
	t.Helper()
	b, err := (&plog.JSONMarshaler{}).MarshalLogs(eventLogs(time.Now().Add(-time.Hour), map[string]any{
		"service.name": "ai_chatbot", "event.name": "session.start", "event.id": id, "session_id": "s-" + id,
	}))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// trackCall is a valid Segment track call of the chatbot.
func trackCall(id string) []byte {
	return fmt.Appendf(nil, `{"event":"session.start","messageId":%q,"userId":"u-1","timestamp":%q,"properties":{"session_id":"s-%s"},"context":{"service":{"name":"ai_chatbot"}}}`,
		id, time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), id)
}

// served checks that every port of c still answers a normal request.
func served(t *testing.T, c *loadgen.Collector, tag string) {
	t.Helper()
	hdr := map[string]string{"Content-Type": "application/json"}
	if r := send(t, http.MethodPost, "http://"+c.OTLPHTTP+"/v1/logs", sessionStart(t, tag+"-otlp"), hdr); r.status != http.StatusOK {
		t.Errorf("%s: OTLP/HTTP answered %d: %.200s", tag, r.status, r.body)
	}
	if r := send(t, http.MethodPost, "http://"+c.Track+"/v1/track", trackCall(tag+"-track"), hdr); r.status != http.StatusOK {
		t.Errorf("%s: track answered %d: %.200s", tag, r.status, r.body)
	}
	if r := send(t, http.MethodGet, "http://"+c.Stats+"/healthz", nil, nil); r.status != http.StatusOK {
		t.Errorf("%s: stats /healthz answered %d: %.200s", tag, r.status, r.body)
	}
	if r := send(t, http.MethodGet, "http://"+c.Health+"/", nil, nil); r.status != http.StatusOK {
		t.Errorf("%s: health_check answered %d", tag, r.status)
	}
	if err := exportGRPC(c.OTLPGRPC, ""); err != nil {
		t.Errorf("%s: OTLP gRPC: %v", tag, err)
	}
}

// exportGRPC sends one session.start over OTLP gRPC, with a bearer token
// when token is set.
func exportGRPC(addr, token string) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	}
	id := fmt.Sprintf("grpc-%d", time.Now().UnixNano())
	_, err = plogotlp.NewGRPCClient(conn).Export(ctx, plogotlp.NewExportRequestFromLogs(eventLogs(time.Now().Add(-time.Hour), map[string]any{
		"service.name": "ai_chatbot", "event.name": "session.start", "event.id": id, "session_id": "s-" + id,
	})))
	return err
}

// withConfig restarts e's collector on a copy of the default configuration
// changed by edits (old → new, each old line must be there).
func withConfig(t *testing.T, e *Env, edits ...string) {
	t.Helper()
	raw, err := os.ReadFile(e.Config)
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(raw)
	for i := 0; i+1 < len(edits); i += 2 {
		if !strings.Contains(cfg, edits[i]) {
			t.Fatalf("otelcol-config.yaml has no %q any more", edits[i])
		}
		cfg = strings.Replace(cfg, edits[i], edits[i+1], 1)
	}
	path := filepath.Join(t.TempDir(), "otelcol-config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Stop(time.Minute); err != nil {
		t.Fatal(err)
	}
	e.Config = path
	e.Restart()
}

// TestAbuse17WrongToken: the stats bearer token, the track write keys and
// OTLP behind the bearertokenauth extension refuse a missing or wrong
// secret (401 / Unauthenticated) and take the right one; /healthz and the
// assets stay open.
func TestAbuse17WrongToken(t *testing.T) {
	t.Parallel()
	e := Start(t, Options{})
	const statsToken, otlpToken, writeKey = "st-0123456789abcdef", "ot-fedcba9876543210", "wk_chat_123"
	withConfig(t, e,
		"token: ${env:ANALYTICS_STATS_TOKEN:-}", "token: "+statsToken,
		"# write_keys: ${env:ANALYTICS_TRACK_WRITE_KEYS}", "write_keys: {"+writeKey+": ai_chatbot}",
		"extensions:\n", "extensions:\n  bearertokenauth:\n    token: "+otlpToken+"\n",
		"endpoint: ${env:ANALYTICS_OTLP_GRPC_ENDPOINT:-localhost:4317}", "endpoint: ${env:ANALYTICS_OTLP_GRPC_ENDPOINT:-localhost:4317}\n        auth:\n          authenticator: bearertokenauth",
		"endpoint: ${env:ANALYTICS_OTLP_HTTP_ENDPOINT:-localhost:4318}", "endpoint: ${env:ANALYTICS_OTLP_HTTP_ENDPOINT:-localhost:4318}\n        auth:\n          authenticator: bearertokenauth",
		"extensions: [health_check,", "extensions: [bearertokenauth, health_check,",
	)
	c := e.Collector
	secrets := []string{statsToken, otlpToken, writeKey}

	bearer := func(tok string) map[string]string {
		h := map[string]string{"Content-Type": "application/json"}
		if tok != "" {
			h["Authorization"] = "Bearer " + tok
		}
		return h
	}
	// Stats: every endpoint but /healthz and /assets/.
	for _, p := range statsPaths {
		open := p == "/healthz" || strings.HasPrefix(p, "/assets/")
		for _, tok := range []string{"", "wrong", statsToken + "x"} {
			r := send(t, http.MethodGet, "http://"+c.Stats+p, nil, bearer(tok))
			noLeak(t, "stats "+p, r, secrets...)
			if open {
				if r.status != http.StatusOK {
					t.Errorf("stats %s with token %q: %d, want 200 (documented open)", p, tok, r.status)
				}
				continue
			}
			if r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("stats %s with token %q: %d (WWW-Authenticate %q), want 401", p, tok, r.status, r.header.Get("WWW-Authenticate"))
			}
		}
		if r := send(t, http.MethodGet, "http://"+c.Stats+p, nil, bearer(statsToken)); r.status != http.StatusOK {
			t.Errorf("stats %s with the token: %d, want 200: %.200s", p, r.status, r.body)
		}
	}
	// Track: a write key (Basic user name or body writeKey).
	for name, hdr := range map[string]map[string]string{
		"none":        {"Content-Type": "application/json"},
		"wrong basic": {"Content-Type": "application/json", "Authorization": basic("wk_wrong")},
		"bearer":      bearer(writeKey),
	} {
		r := send(t, http.MethodPost, "http://"+c.Track+"/v1/track", trackCall("t17-"+name), hdr)
		noLeak(t, "track "+name, r, secrets...)
		if r.status != http.StatusUnauthorized {
			t.Errorf("track with write key %s: %d, want 401: %.200s", name, r.status, r.body)
		}
	}
	r := send(t, http.MethodPost, "http://"+c.Track+"/v1/track", trackCall("t17-ok"), map[string]string{"Content-Type": "application/json", "Authorization": basic(writeKey)})
	if r.status != http.StatusOK {
		t.Errorf("track with the write key: %d: %.200s", r.status, r.body)
	}
	// OTLP/HTTP and gRPC behind bearertokenauth.
	for _, tok := range []string{"", "wrong"} {
		r := send(t, http.MethodPost, "http://"+c.OTLPHTTP+"/v1/logs", sessionStart(t, "t17-h"), bearer(tok))
		noLeak(t, "OTLP/HTTP", r, secrets...)
		if r.status != http.StatusUnauthorized {
			t.Errorf("OTLP/HTTP with token %q: %d, want 401: %.200s", tok, r.status, r.body)
		}
		err := exportGRPC(c.OTLPGRPC, tok)
		if status.Code(err) != codes.Unauthenticated {
			t.Errorf("OTLP gRPC with token %q: %v, want Unauthenticated", tok, err)
		} else if m := leakRE.FindString(err.Error()); m != "" || strings.Contains(err.Error(), otlpToken) {
			t.Errorf("OTLP gRPC error leaks: %v", err)
		}
	}
	if r := send(t, http.MethodPost, "http://"+c.OTLPHTTP+"/v1/logs", sessionStart(t, "t17-ok"), bearer(otlpToken)); r.status != http.StatusOK {
		t.Errorf("OTLP/HTTP with the token: %d: %.200s", r.status, r.body)
	}
	if err := exportGRPC(c.OTLPGRPC, otlpToken); err != nil {
		t.Errorf("OTLP gRPC with the token: %v", err)
	}
	t.Logf("stats: %d endpoints × 3 wrong tokens → 401 (/healthz, /assets/ open); track: 3 wrong keys → 401; OTLP HTTP+gRPC: 2 wrong tokens → 401/Unauthenticated; the right secret → 200 everywhere", len(statsPaths))
}

func basic(user string) string {
	req, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
	req.SetBasicAuth(user, "")
	return req.Header.Get("Authorization")
}

var (
	bombOnce           sync.Once
	gzipBomb, zstdBomb []byte
	bombSize           int64
)

// bombs are bombSize bytes of zeros compressed with gzip and with zstd.
func bombs(t *testing.T) (gz, zs []byte) {
	t.Helper()
	bombOnce.Do(func() {
		bombSize = 1 << 30
		zeros := make([]byte, 1<<20)
		var gb bytes.Buffer
		gw := gzip.NewWriter(&gb)
		var zb bytes.Buffer
		zw, err := zstd.NewWriter(&zb, zstd.WithEncoderLevel(zstd.SpeedFastest))
		if err != nil {
			panic(err)
		}
		for i := int64(0); i < bombSize>>20; i++ {
			_, _ = gw.Write(zeros)
			_, _ = zw.Write(zeros)
		}
		_ = gw.Close()
		_ = zw.Close()
		gzipBomb, zstdBomb = gb.Bytes(), zb.Bytes()
	})
	return gzipBomb, zstdBomb
}

// TestAbuse18Bombs: bodies over the limits, and 1 GiB of zeros gzip- and
// zstd-compressed, on OTLP/HTTP and track are refused with a 4xx; the
// collector's RSS stays bounded and it serves a normal request after.
func TestAbuse18Bombs(t *testing.T) {
	t.Parallel()
	e := Start(t, Options{})
	c := e.Collector
	start := time.Now()
	gz, zs := bombs(t)
	t.Logf("bombs: %d MiB of zeros → gzip %d KiB, zstd %d KiB (built in %s)", bombSize>>20, len(gz)>>10, len(zs)>>10, time.Since(start).Round(time.Millisecond))
	before, err := loadgen.ReadMemory(c.PID())
	if err != nil {
		t.Fatal(err)
	}
	if err := loadgen.ResetPeak(c.PID()); err != nil {
		t.Logf("reset VmHWM: %v (the peak is since start)", err)
	}
	plain := bytes.Repeat([]byte{'0'}, 21<<20) // over OTLP's 20 MiB and track's 500 KB
	type bomb struct {
		name, encoding string
		body           []byte
	}
	cases := []bomb{{"plain 21 MiB", "", plain}, {"gzip 1 GiB", "gzip", gz}, {"zstd 1 GiB", "zstd", zs}}
	for _, port := range []struct{ name, url string }{
		{"OTLP/HTTP json", "http://" + c.OTLPHTTP + "/v1/logs"},
		{"track batch", "http://" + c.Track + "/v1/batch"},
		{"track call", "http://" + c.Track + "/v1/track"},
	} {
		for _, b := range cases {
			hdr := map[string]string{"Content-Type": "application/json"}
			if b.encoding != "" {
				hdr["Content-Encoding"] = b.encoding
			}
			t0 := time.Now()
			r := send(t, http.MethodPost, port.url, b.body, hdr)
			noLeak(t, port.name+" "+b.name, r)
			if r.status != http.StatusRequestEntityTooLarge && r.status != http.StatusBadRequest {
				t.Errorf("%s, %s: %d, want 413 or 400: %.200s", port.name, b.name, r.status, r.body)
			}
			t.Logf("%s, %s: %d in %s: %.120s", port.name, b.name, r.status, time.Since(t0).Round(time.Millisecond), strings.TrimSpace(r.body))
		}
	}
	// The protobuf content type of OTLP/HTTP too.
	r := send(t, http.MethodPost, "http://"+c.OTLPHTTP+"/v1/logs", gz, map[string]string{"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"})
	if r.status != http.StatusRequestEntityTooLarge && r.status != http.StatusBadRequest {
		t.Errorf("OTLP/HTTP protobuf gzip bomb: %d, want 413 or 400", r.status)
	}
	after, err := loadgen.ReadMemory(c.PID())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("RSS before %d MiB, after %d MiB, peak during the bombs %d MiB (anon %d → %d MiB)",
		before.RSS>>20, after.RSS>>20, after.PeakRSS>>20, before.Anon>>20, after.Anon>>20)
	if after.PeakRSS > before.RSS+256<<20 {
		t.Errorf("RSS peaked at %d MiB from %d MiB: a bomb was inflated", after.PeakRSS>>20, before.RSS>>20)
	}
	if c.Exited() {
		t.Fatal("the collector exited")
	}
	served(t, c, "t18")
}

// trickle opens a connection to addr and sends an HTTP request's headers
// one byte every 100 ms until the server closes it or limit passes; it
// returns how long the server kept the connection.
func trickle(addr string, limit time.Duration) (time.Duration, bool) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, true
	}
	defer func() { _ = conn.Close() }()
	start := time.Now()
	closed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, conn)
		close(closed)
	}()
	head := []byte("POST / HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-closed:
			return time.Since(start), true
		case <-tick.C:
		}
		b := byte('a')
		if i < len(head) {
			b = head[i]
		}
		if _, err := conn.Write([]byte{b}); err != nil {
			return time.Since(start), true
		}
		if time.Since(start) > limit {
			return time.Since(start), false
		}
	}
}

// httpPorts are c's HTTP listeners by name.
func httpPorts(c *loadgen.Collector) map[string]string {
	return map[string]string{
		"otlp_http": c.OTLPHTTP, "track": c.Track, "stats": c.Stats, "health_check": c.Health,
		"pprof": c.Pprof, "telemetry": "localhost:" + strconv.Itoa(c.Telemetry),
	}
}

// TestAbuse19Slowloris: headers trickled one byte per 100 ms on every HTTP
// port. The confighttp servers (OTLP/HTTP, track, stats, health_check)
// close the connection at their read_header_timeout (the short variant sets
// 2s on each; the full one keeps the default configuration's 1m: confighttp's
// default, and otelcol-config.yaml's for OTLP/HTTP, whose stock receiver
// sets none) while other clients are served. pprof and the telemetry endpoint are the stock servers'; what
// they do is logged.
func TestAbuse19Slowloris(t *testing.T) {
	t.Parallel()
	e := Start(t, Options{})
	timeout := time.Minute
	if !abuseFull() {
		timeout = 2 * time.Second
		set := "\n        read_header_timeout: 2s"
		withConfig(t, e,
			"read_header_timeout: 1m", "read_header_timeout: 2s", // OTLP/HTTP's, set in otelcol-config.yaml (the stock receiver has none)
			"endpoint: ${env:ANALYTICS_TRACK_ENDPOINT:-localhost:8091}", "endpoint: ${env:ANALYTICS_TRACK_ENDPOINT:-localhost:8091}"+strings.Replace(set, "        ", "    ", 1),
			"endpoint: ${env:ANALYTICS_STATS_ENDPOINT:-localhost:8090}", "endpoint: ${env:ANALYTICS_STATS_ENDPOINT:-localhost:8090}"+strings.Replace(set, "        ", "      ", 1),
			"endpoint: ${env:ANALYTICS_HEALTH_ENDPOINT:-localhost:13133}", "endpoint: ${env:ANALYTICS_HEALTH_ENDPOINT:-localhost:13133}"+strings.Replace(set, "        ", "    ", 1),
		)
	}
	c := e.Collector
	stock := map[string]bool{"pprof": true, "telemetry": true}
	limit := timeout + 5*time.Second
	type result struct {
		held   time.Duration
		closed bool
	}
	var mu sync.Mutex
	results := map[string]result{}
	var wg sync.WaitGroup
	for name, addr := range httpPorts(c) {
		for range 3 {
			wg.Go(func() {
				held, closed := trickle(addr, limit)
				mu.Lock()
				defer mu.Unlock()
				if old, ok := results[name]; !ok || held > old.held {
					results[name] = result{held, closed}
				}
			})
		}
	}
	// Others are served while the slow clients hold their connections.
	time.Sleep(time.Second)
	served(t, c, "t19")
	wg.Wait()
	for name, r := range results {
		switch {
		case stock[name] && !r.closed:
			t.Logf("%s: DEFECT (stock server, no read-header timeout, no setting): a trickling client is still connected after %s", name, r.held.Round(time.Millisecond))
		case stock[name]:
			t.Logf("%s: closed the trickling connection after %s", name, r.held.Round(time.Millisecond))
		case !r.closed || r.held > limit:
			t.Errorf("%s: a trickling client is still connected after %s (read_header_timeout %s)", name, r.held.Round(time.Millisecond), timeout)
		default:
			t.Logf("%s: closed the trickling connection after %s (read_header_timeout %s)", name, r.held.Round(time.Millisecond), timeout)
		}
	}
	if c.Exited() {
		t.Fatal("the collector exited")
	}
}

// TestAbuse20IdleConnections: 2,000 (full: 10,000) idle TCP connections
// spread over OTLP gRPC/HTTP, track and stats; every port still serves.
func TestAbuse20IdleConnections(t *testing.T) {
	t.Parallel()
	n := 2000
	if abuseFull() {
		n = 10000
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	// This process holds one end, the collector (which inherits the limit)
	// the other; the other tests run alongside.
	if need := uint64(n) + 2000; lim.Cur < need {
		lim.Cur = min(lim.Max, need)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur < need {
			t.Skipf("ulimit -n is %d, %d idle connections need %d: %v", lim.Cur, n, need, err)
		}
	}
	e := Start(t, Options{})
	c := e.Collector
	ports := []string{c.OTLPGRPC, c.OTLPHTTP, c.Track, c.Stats}
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, cn := range conns {
			_ = cn.Close()
		}
	}()
	start := time.Now()
	for i := range n {
		cn, err := net.DialTimeout("tcp", ports[i%len(ports)], 5*time.Second)
		if err != nil {
			t.Fatalf("idle connection %d: %v", i, err)
		}
		conns = append(conns, cn)
	}
	opened := time.Since(start)
	t0 := time.Now()
	served(t, c, "t20")
	// Still open (the server did not shed them)?
	open := 0
	for _, cn := range conns {
		_ = cn.SetReadDeadline(time.Now().Add(time.Millisecond))
		// A server's greeting (gRPC's SETTINGS) or nothing yet: still open.
		if _, err := cn.Read(make([]byte, 64)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			open++
		}
	}
	m, _ := loadgen.ReadMemory(c.PID())
	t.Logf("%d idle connections over 4 ports opened in %s; every port served in %s; %d still open; collector RSS %d MiB",
		n, opened.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond), open, m.RSS>>20)
}

// Metacharacters for every stored field.
const (
	metaSQL  = `'; DROP TABLE analytics_events; --`
	metaHTML = `<script>alert(1)</script>`
	metaQ    = `"\'` + "`${x}"
	metaUni  = "ünï 中文 😀 \u202e"
)

// TestAbuse21Metacharacters: SQL and HTML/JS metacharacters in ids,
// agent_id, ticket_id and attributes (OTLP and track) are stored verbatim,
// escaped on /report and in every JSON answer, and every stats answer says
// X-Content-Type-Options: nosniff.
func TestAbuse21Metacharacters(t *testing.T) {
	t.Parallel()
	e := Start(t, Options{})
	c := e.Collector
	month := e.Opts.Month.In(e.Loc)
	at := time.Date(month.Year(), month.Month(), 10, 4, 0, 0, 0, time.UTC)
	agents := []string{metaSQL, metaHTML, metaQ, metaUni}
	var events []map[string]any
	for i, a := range agents {
		events = append(events,
			map[string]any{
				"service.name": "agent_workbench", "event.name": "agent.session_takeover", "event.id": a + "#take",
				"agent_id": a, "session_id": agents[(i+1)%4], "wait_duration_seconds": float64(30 + i),
			},
			map[string]any{
				"service.name": "agent_workbench", "event.name": "ticket.closed", "event.id": a + "#closed",
				"agent_id": a, "ticket_id": agents[(i+2)%4], "resolution_duration_hours": float64(2), "sla_met": true,
			},
			map[string]any{
				"service.name": "agent_workbench", "event.name": "ticket.created", "event.id": a + "#created",
				"ticket_id": a, "source": agents[(i+3)%4], "priority": a,
			},
		)
	}
	body, err := (&plog.JSONMarshaler{}).MarshalLogs(eventLogs(at, events...))
	if err != nil {
		t.Fatal(err)
	}
	if r := send(t, http.MethodPost, "http://"+c.OTLPHTTP+"/v1/logs", body, map[string]string{"Content-Type": "application/json"}); r.status != http.StatusOK {
		t.Fatalf("OTLP: %d: %s", r.status, r.body)
	}
	// Track: the id, user and properties; and an unknown event name
	// (stored as rejected, name verbatim).
	for i, a := range agents {
		call := map[string]any{
			"event": "ticket.created", "messageId": a + "#track", "userId": a, "timestamp": at.Format(time.RFC3339),
			"properties": map[string]any{"ticket_id": a + "#t", "source": a}, "context": map[string]any{"service": map[string]any{"name": "agent_workbench"}},
		}
		if i == 1 {
			call["event"] = metaHTML
		}
		b, _ := json.Marshal(call)
		r := send(t, http.MethodPost, "http://"+c.Track+"/v1/track", b, map[string]string{"Content-Type": "application/json"})
		if r.status != http.StatusOK {
			t.Fatalf("track %q: %d: %s", a, r.status, r.body)
		}
	}
	// A refused track call echoing the metacharacters: JSON, escaped.
	bad := fmt.Appendf(nil, `{"event":%q,"messageId":%q,"properties":{"ticket_id":{"x":1}}}`, metaHTML, metaSQL)
	r := send(t, http.MethodPost, "http://"+c.Track+"/v1/track", bad, map[string]string{"Content-Type": "application/json"})
	checkJSON(t, "track refusal", r)
	if strings.Contains(r.body, metaHTML) {
		t.Errorf("the track answer shows %q unescaped: %.200s", metaHTML, r.body)
	}
	wantRejected := 1 // the unknown event name; the bad call too if it was taken (stored as rejected)
	if r.status < 300 {
		wantRejected++
	}

	conn, err := pgx.Connect(context.Background(), e.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	want := len(events) + len(agents) - 1
	deadline := time.Now().Add(30 * time.Second)
	var stored, rejected int
	for {
		_ = conn.QueryRow(context.Background(), `SELECT count(*) FROM analytics_events`).Scan(&stored)
		_ = conn.QueryRow(context.Background(), `SELECT count(*) FROM analytics_rejected_events`).Scan(&rejected)
		if stored >= want && rejected >= wantRejected || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if stored != want || rejected != wantRejected {
		t.Fatalf("stored %d events (want %d) and %d rejected (want %d; the refusal was %d)", stored, want, rejected, wantRejected, r.status)
	}
	for _, a := range agents {
		var agent, ticket, session, source, priority *string
		err := conn.QueryRow(context.Background(), `SELECT agent_id, NULL, session_id, NULL, NULL FROM analytics_events WHERE event_id = $1`, a+"#take").Scan(&agent, &ticket, &session, &source, &priority)
		if err != nil || agent == nil || *agent != a {
			t.Errorf("takeover %q: agent_id %v, %v", a, deref(agent), err)
		}
		err = conn.QueryRow(context.Background(), `SELECT ticket_id, attributes->>'source', attributes->>'priority' FROM analytics_events WHERE event_id = $1`, a+"#created").Scan(&ticket, &source, &priority)
		if err != nil || deref(ticket) != a || deref(priority) != a || source == nil {
			t.Errorf("created %q: ticket_id %q priority %q, %v", a, deref(ticket), deref(priority), err)
		}
		if a == metaHTML {
			continue // its track call was the rejected one
		}
		err = conn.QueryRow(context.Background(), `SELECT ticket_id, customer_id, attributes->>'source' FROM analytics_events WHERE event_id = $1`, a+"#track").Scan(&ticket, &agent, &source)
		if err != nil || deref(ticket) != a+"#t" || deref(source) != a {
			t.Errorf("track %q: ticket_id %q customer %q source %q, %v", a, deref(ticket), deref(agent), deref(source), err)
		}
	}
	var rejName string
	if err := conn.QueryRow(context.Background(), `SELECT coalesce(event_name, '') FROM analytics_rejected_events WHERE reason = 'unknown_event'`).Scan(&rejName); err != nil || rejName != metaHTML {
		t.Errorf("rejected event_name %q, want %q verbatim (%v)", rejName, metaHTML, err)
	}
	// analytics_events is still there (no statement was built from a value).
	var tables int
	_ = conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename LIKE 'analytics_%'`, e.Schema).Scan(&tables)

	// Every JSON answer decodes to the values verbatim; the page escapes them.
	m := month.Format("2006-01")
	agentsAns := send(t, http.MethodGet, "http://"+c.Stats+"/api/analytics/agents?month="+m+"&lang=en", nil, nil)
	checkJSON(t, "agents", agentsAns)
	for _, a := range agents {
		if !containsString(agentsAns.body, a) {
			t.Errorf("agents answer lacks agent %q verbatim: %.300s", a, agentsAns.body)
		}
	}
	for _, p := range []string{
		"/api/analytics/case-study?month=" + m, "/api/analytics/summary?month=" + m, "/api/analytics/tickets?month=" + m,
		"/api/analytics/daily?from=" + m + "-01&to=" + m + "-28", "/healthz", "/api/analytics/nope?x=" + metaHTML, "/api/analytics/summary?month=" + metaHTML,
	} {
		checkJSON(t, p, send(t, http.MethodGet, "http://"+c.Stats+p, nil, nil))
	}
	page := send(t, http.MethodGet, "http://"+c.Stats+"/report?month="+m+"&lang=en", nil, nil)
	if page.status != http.StatusOK {
		t.Fatalf("/report: %d", page.status)
	}
	if strings.Contains(page.body, metaHTML) {
		i := strings.Index(page.body, metaHTML)
		t.Errorf("/report shows %q unescaped: …%s…", metaHTML, page.body[max(0, i-120):min(len(page.body), i+60)])
	}
	escaped := 0
	for _, form := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", `\u003cscript\u003ealert(1)\u003c/script\u003e`, `\x3cscript\x3ealert(1)\x3c/script\x3e`} {
		escaped += strings.Count(page.body, form)
	}
	if escaped == 0 {
		t.Errorf("/report does not show agent %q in any escaped form", metaHTML)
	}
	nosniff(t, "/report", page)
	nosniff(t, "/assets/echarts.min.js", send(t, http.MethodGet, "http://"+c.Stats+"/assets/echarts.min.js", nil, nil))
	t.Logf("%d events (%d OTLP, %d track) with %d metacharacter strings stored verbatim, %d rejected (the unknown name verbatim), %d analytics tables intact; JSON answers decode verbatim; /report shows the script agent escaped %d times; nosniff on every stats answer",
		stored, len(events), len(agents)-1, len(agents), rejected, tables, escaped)
}

func deref(s *string) string {
	if s == nil {
		return "<NULL>"
	}
	return *s
}

// containsString reports whether the JSON text doc holds the string s as a
// value or key anywhere.
func containsString(doc, s string) bool {
	var v any
	if json.Unmarshal([]byte(doc), &v) != nil {
		return false
	}
	var walk func(any) bool
	walk = func(v any) bool {
		switch v := v.(type) {
		case string:
			return v == s
		case []any:
			for _, x := range v {
				if walk(x) {
					return true
				}
			}
		case map[string]any:
			for k, x := range v {
				if k == s || walk(x) {
					return true
				}
			}
		}
		return false
	}
	return walk(v)
}

// checkJSON asserts r is JSON (content type and body), with nosniff when it
// comes from the stats service, and no leak when it is an error.
func checkJSON(t *testing.T, where string, r reply) {
	t.Helper()
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q", where, ct)
	}
	if !json.Valid([]byte(r.body)) {
		t.Errorf("%s: not JSON: %.200s", where, r.body)
	}
	if !strings.HasPrefix(where, "track") {
		nosniff(t, where, r)
	}
	noLeak(t, where, r)
}

func nosniff(t *testing.T, where string, r reply) {
	t.Helper()
	if got := r.header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("%s (%d): X-Content-Type-Options %q, want nosniff", where, r.status, got)
	}
}

// rawRequest writes req to addr while reading the answer, so that a server
// that answers before reading the whole request is heard.
func rawRequest(addr string, req []byte) (int, string, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	go func() { _, _ = conn.Write(req) }()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), nil
}

// TestAbuse22HugeQueryAndHeader: a 2 MB query string and a 2 MB header on
// every HTTP port: a 4xx, and the collector keeps serving.
func TestAbuse22HugeQueryAndHeader(t *testing.T) {
	t.Parallel()
	e := Start(t, Options{})
	c := e.Collector
	big := strings.Repeat("a", 2<<20)
	for name, addr := range httpPorts(c) {
		for kind, req := range map[string]string{
			"query":  "GET /?q=" + big + " HTTP/1.1\r\nHost: localhost\r\n\r\n",
			"header": "GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: " + big + "\r\n\r\n",
		} {
			code, body, err := rawRequest(addr, []byte(req))
			switch {
			case err != nil:
				t.Logf("%s, 2 MB %s: connection closed without an answer (%v)", name, kind, err)
			case code < 400 || code >= 500:
				t.Errorf("%s, 2 MB %s: %d, want a 4xx: %.200s", name, kind, code, body)
			default:
				noLeak(t, name+" "+kind, reply{status: code, body: body})
				t.Logf("%s, 2 MB %s: %d %.60s", name, kind, code, strings.TrimSpace(body))
			}
		}
	}
	if c.Exited() {
		t.Fatal("the collector exited")
	}
	served(t, c, "t22")
}

// TestAbuse23Methods: every method but GET (and HEAD) on every stats
// endpoint is 405 with Allow.
func TestAbuse23Methods(t *testing.T) {
	t.Parallel()
	e := Start(t, Options{})
	c := e.Collector
	n := 0
	for _, p := range statsPaths {
		for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions, "TRACE", "PROPFIND"} {
			r := send(t, m, "http://"+c.Stats+p, []byte(`{}`), nil)
			n++
			noLeak(t, m+" "+p, r)
			nosniff(t, m+" "+p, r)
			if r.status != http.StatusMethodNotAllowed || !strings.Contains(r.header.Get("Allow"), "GET") {
				t.Errorf("%s %s: %d (Allow %q), want 405 with Allow: GET: %.200s", m, p, r.status, r.header.Get("Allow"), r.body)
			}
		}
		if r := send(t, http.MethodHead, "http://"+c.Stats+p, nil, nil); r.status >= 500 {
			t.Errorf("HEAD %s: %d", p, r.status)
		}
	}
	t.Logf("%d requests of 7 methods on %d stats endpoints: 405 with Allow", n, len(statsPaths))
}

// TestAbuse24NoLeakWithPostgresCut: with PostgreSQL cut, every stats
// endpoint answers 503 without a DSN, a host:port or a stack; so do the
// errors of a bad parameter and an unknown path.
func TestAbuse24NoLeakWithPostgresCut(t *testing.T) {
	t.Parallel()
	e := Start(t, Options{PostgresProxy: true})
	c := e.Collector
	extra := []string{e.PGProxy.Addr, e.Schema, e.CollectorDSN, pgHostPort(t), e.Prefix}
	m := e.Opts.Month.In(e.Loc).Format("2006-01")
	urls := []string{
		"/api/analytics/case-study?month=" + m, "/api/analytics/summary?month=" + m, "/api/analytics/agents?month=" + m,
		"/api/analytics/tickets?month=" + m, "/api/analytics/daily", "/report?month=" + m, "/healthz",
	}
	bad := []string{"/api/analytics/summary?month=2025-13", "/api/analytics/daily?from=x", "/nope", "/report?lang=xx"}
	for _, u := range bad {
		r := send(t, http.MethodGet, "http://"+c.Stats+u, nil, nil)
		noLeak(t, u, r, extra...)
		if r.status < 400 || r.status >= 500 {
			t.Errorf("%s: %d, want a 4xx", u, r.status)
		}
	}
	e.PGProxy.Close()
	defer e.PGProxy.Open()
	for _, u := range urls {
		r := send(t, http.MethodGet, "http://"+c.Stats+u, nil, nil)
		noLeak(t, u, r, extra...)
		if r.status != http.StatusServiceUnavailable {
			t.Errorf("%s with PostgreSQL cut: %d, want 503: %.200s", u, r.status, r.body)
		}
		t.Logf("%s with PostgreSQL cut: %d %.150s", u, r.status, strings.TrimSpace(r.body))
	}
	// The receivers still acknowledge (the persistent queue), without a leak.
	for name, u := range map[string]string{"otlp": "http://" + c.OTLPHTTP + "/v1/logs", "track": "http://" + c.Track + "/v1/track"} {
		body := sessionStart(t, "t24")
		if name == "track" {
			body = trackCall("t24")
		}
		r := send(t, http.MethodPost, u, body, map[string]string{"Content-Type": "application/json"})
		noLeak(t, name, r, extra...)
		t.Logf("%s with PostgreSQL cut: %d", name, r.status)
	}
}

// FuzzOTLPJSON feeds OTLP/JSON to plog.JSONUnmarshaler and every record it
// yields to the eventcatalog processor's normalisation: no panic, and every
// record is accepted, rejected with a reason, or an ordinary log (no event
// name).
func FuzzOTLPJSON(f *testing.F) {
	f.Add([]byte(`{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"ai_chatbot"}}]},"scopeLogs":[{"logRecords":[{"eventName":"session.start","timeUnixNano":"1764518400000000000","attributes":[{"key":"session_id","value":{"stringValue":"s-1"}},{"key":"event.id","value":{"stringValue":"e-1"}}]}]}]}]}`))
	f.Add([]byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"plain"}}]}]}]}`))
	norm := normalize.New(catalog.Default(), normalize.DefaultLimits())
	now := time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(data)
		if err != nil {
			return
		}
		for i := range ld.ResourceLogs().Len() {
			rl := ld.ResourceLogs().At(i)
			for j := range rl.ScopeLogs().Len() {
				sl := rl.ScopeLogs().At(j)
				for k := range sl.LogRecords().Len() {
					lr := sl.LogRecords().At(k)
					r := norm.Record(rl.Resource(), sl.Scope(), lr, now)
					switch r.Outcome {
					case normalize.Accepted:
					case normalize.Rejected:
						if r.Reason == "" {
							t.Fatalf("record %d/%d/%d rejected without a reason", i, j, k)
						}
						if v, ok := lr.Attributes().Get(catalog.AttrRejectReason); !ok || v.Str() != string(r.Reason) {
							t.Fatalf("record %d/%d/%d rejected (%s) without its reason attribute", i, j, k, r.Reason)
						}
					case normalize.NotAnEvent:
					default:
						t.Fatalf("record %d/%d/%d: outcome %v", i, j, k, r.Outcome)
					}
				}
			}
		}
	})
}

// TestAbuse26LocalhostDefaults: every endpoint default of
// otelcol-config.yaml (the ${env:X:-default} values and literal hosts) is
// on the loopback interface.
func TestAbuse26LocalhostDefaults(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "otelcol-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	envRE := regexp.MustCompile(`^\$\{env:([A-Z0-9_]+)(?::-(.*))?\}$`)
	var found []string
	var walk func(path string, n *yaml.Node)
	walk = func(path string, n *yaml.Node) {
		switch n.Kind {
		case yaml.DocumentNode, yaml.SequenceNode:
			for _, c := range n.Content {
				walk(path, c)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i].Value, n.Content[i+1]
				p := path + "." + k
				if (k == "endpoint" || k == "host") && v.Kind == yaml.ScalarNode {
					val := v.Value
					if m := envRE.FindStringSubmatch(val); m != nil {
						if m[2] == "" {
							t.Errorf("%s: %s has no default", p, val)
						}
						val = m[2]
					}
					host := val
					if h, _, err := net.SplitHostPort(val); err == nil {
						host = h
					}
					found = append(found, fmt.Sprintf("%s=%s", strings.TrimPrefix(p, "."), val))
					if host != "localhost" && host != "127.0.0.1" && host != "::1" {
						t.Errorf("%s defaults to %q: not the loopback interface", p, val)
					}
				}
				walk(p, v)
			}
		}
	}
	walk("", &doc)
	if len(found) < 7 {
		t.Errorf("found only %d endpoints (want OTLP gRPC and HTTP, track, stats, health_check, pprof, telemetry): %v", len(found), found)
	}
	t.Logf("%d listening defaults, all on loopback: %s", len(found), strings.Join(found, ", "))
}
