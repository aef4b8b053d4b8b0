package stats

import (
	"context"
	"flag"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-analytics/otelcol-analytics/internal/testdb"
)

var updateScreenshot = flag.Bool("update-screenshot", false, "copy the report screenshot to docs/report.png")

// chromiumPath finds Debian's chromium. Under CI (CI=true; .ci/run installs
// it) a missing browser fails the test; elsewhere it skips, saying so.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed: .ci/run installs it (scripts/ensure-services.sh --chromium)")
	}
	t.Skip("chromium is not installed (apt-get install -y chromium); skipping the headless-browser test")
	return ""
}

func runChromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	return runChromiumFor(t, bin, 5*time.Second, args...)
}

// runChromiumFor runs chromium with a virtual-time budget: timers of the
// page run as if that much time had passed (network requests take the time
// they take), then the DOM is dumped or the screenshot taken.
func runChromiumFor(t *testing.T, bin string, budget time.Duration, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
		"--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars",
		"--user-data-dir=" + t.TempDir(), "--window-size=1280,2000",
		"--virtual-time-budget=" + strconv.FormatInt(budget.Milliseconds(), 10),
	}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stderr limitedBuffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "chromium: %s", stderr.String())
	return out
}

// limitedBuffer keeps the first 64 KiB written to it.
type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := 64<<10 - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return string(l.b) }

// TestReportInChromium opens the report page in headless Chromium: the
// numbers are in the rendered DOM, the three ECharts charts drew their
// canvases, no script error was recorded, and a screenshot is written.
func TestReportInChromium(t *testing.T) {
	t.Parallel()
	bin := chromiumPath(t)
	srv := fixtureServer(t, "")
	url := srv.URL + "/report?month=2025-11"

	dom := string(runChromium(t, bin, "--dump-dom", url))
	require.Contains(t, dom, `data-rendered="true"`, "the charts were not all drawn; DOM:\n%s", truncate(dom, 4000))
	m := regexp.MustCompile(`data-charts="(\d+)"`).FindStringSubmatch(dom)
	require.NotNil(t, m)
	n, _ := strconv.Atoi(m[1])
	assert.GreaterOrEqual(t, n, 3, "canvas elements inside .chart")
	assert.Regexp(t, `<div id="js-errors"></div>`, dom, "script errors were recorded")
	for _, want := range []string{
		"2025年11月", novemberStoryZH,
		`<span class="value">12</span>`, `<span class="value">58.3%</span>`, `<span class="value">1.5秒</span>`,
		`<span class="value">¥8,642</span>`, `<span class="value">30秒</span>`, `<span class="value">9分钟</span>`,
		`<span class="value">4.3小时</span>`, `<span class="value">75.0%</span>`,
	} {
		assert.Contains(t, dom, want)
	}

	shot := filepath.Join(t.TempDir(), "report.png")
	runChromium(t, bin, "--screenshot="+shot, url)
	png, err := os.ReadFile(shot)
	require.NoError(t, err)
	require.Greater(t, len(png), 20_000, "the screenshot is suspiciously small")
	assert.Equal(t, "\x89PNG", string(png[:4]))
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))
	if *updateScreenshot {
		require.NoError(t, os.WriteFile(filepath.Join("..", "docs", "report.png"), png, 0o644))
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// TestReportLivePanelInChromium: the current month's report, opened once
// in headless Chromium through a proxy that adds the bearer token (as one
// in front of the service would), shows today's panel from Redis; events
// the exporter's writer counts after the panel's first refresh appear in
// it without a reload of the page.
//
// Today (December 10 in Shanghai): 2 session.start, 1 escalation → 50.0%,
// no ticket → "暂无数据". Then 3 more starts and a ticket closed in 2 h
// within SLA: 5 starts, 1 escalation → 4/5 = "80.0%", 1 ticket, "2小时",
// "100.0%".
func TestReportLivePanelInChromium(t *testing.T) {
	t.Parallel()
	bin := chromiumPath(t)
	dsn, _ := testdb.Migrated(t)
	rdb, prefix := testdb.RedisPrefix(t)
	at := func(hm string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", "2025-12-10 "+hm, shanghai)
		require.NoError(t, err)
		return v
	}
	ev := func(id, name, product, hm string, attrs map[string]any) fixtureEvent {
		return fixtureEvent{ID: id, Name: name, Product: product, Time: at(hm), Attrs: attrs}
	}
	storeEvents(t, dsn, rdb, prefix, []fixtureEvent{
		ev("l-start-1", "session.start", "ai_chatbot", "09:00", map[string]any{"session_id": "l1"}),
		ev("l-start-2", "session.start", "ai_chatbot", "09:05", map[string]any{"session_id": "l2"}),
		ev("l-esc-1", "session.escalate", "ai_chatbot", "09:06", map[string]any{"session_id": "l2"}),
	}, shanghai)
	later := []fixtureEvent{
		ev("l-start-3", "session.start", "ai_chatbot", "11:00", map[string]any{"session_id": "l3"}),
		ev("l-start-4", "session.start", "ai_chatbot", "11:01", map[string]any{"session_id": "l4"}),
		ev("l-start-5", "session.start", "ai_chatbot", "11:02", map[string]any{"session_id": "l5"}),
		ev("l-close-1", "ticket.closed", "agent_workbench", "11:30", map[string]any{"ticket_id": "lt1", "agent_id": "a1", "resolution_duration_hours": 2, "sla_met": true}),
	}
	laterLogs := eventLogs(t, later)
	st := newStore(t, dsn, rdb, prefix, shanghai)

	const token = "live-t0ken"
	svc := liveServer(t, dsn, rdb, prefix, fixedNow, func(c *Config) { c.Auth.Token = token })
	target, err := url.Parse(svc.URL)
	require.NoError(t, err)
	var reports, polls atomic.Int32
	wrote := make(chan error, 1)
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/report":
			reports.Add(1)
		case "/api/analytics/live":
			// The events come in after the panel's first refresh.
			if polls.Add(1) == 2 {
				wrote <- writeAll(r.Context(), st, laterLogs, len(later))
			}
		}
		r.Header.Set("Authorization", "Bearer "+token)
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)

	// Without the proxy the endpoint wants the token.
	assert.Equal(t, http.StatusUnauthorized, get(t, svc, "/api/analytics/live", "").status)
	// As served: today's panel with the first numbers.
	first := get(t, svc, "/report?month=2025-12", token)
	require.Equal(t, http.StatusOK, first.status)
	for _, want := range []string{
		`data-live="day.period">2025年12月10日<`,
		`data-live="day.ai_chatbot.total_customers_served">2<`,
		`data-live="day.ai_chatbot.ai_resolution_rate">50.0%<`,
		`data-live="day.tickets.tickets_resolved">0<`,
		`data-live="day.tickets.sla_met_rate">暂无数据<`,
		`data-source="redis">Redis 实时计数<`,
	} {
		assert.Contains(t, first.body, want)
	}
	assert.NotContains(t, first.body, "innerHTML", "the panel is written with textContent only")

	dom := string(runChromiumFor(t, bin, 30*time.Second, "--dump-dom", front.URL+"/report?month=2025-12"))
	select {
	case err := <-wrote:
		require.NoError(t, err, "writing the later events")
	default:
		t.Fatalf("the panel refreshed %d time(s): the later events were never written; DOM:\n%s", polls.Load(), truncate(dom, 4000))
	}
	assert.Equal(t, int32(1), reports.Load(), "the page was loaded once: the numbers changed without a reload")
	assert.Regexp(t, `<div id="js-errors"></div>`, dom, "script errors were recorded")
	assert.Contains(t, dom, `<span id="live-error"></span>`, "a refresh failed")
	m := regexp.MustCompile(`data-updates="(\d+)"`).FindStringSubmatch(dom)
	require.NotNil(t, m, "no live panel in the DOM")
	n, _ := strconv.Atoi(m[1])
	assert.GreaterOrEqual(t, n, 2, "refreshes the page applied")
	for _, want := range []string{
		`data-live="day.ai_chatbot.total_customers_served">5<`,
		`data-live="day.ai_chatbot.ai_resolution_rate">80.0%<`,
		`data-live="day.tickets.tickets_resolved">1<`,
		`data-live="day.tickets.avg_resolution_time">2小时<`,
		`data-live="day.tickets.sla_met_rate">100.0%<`,
		`data-source="redis">Redis 实时计数<`,
	} {
		assert.Contains(t, dom, want)
	}
	// The month's headline cards are the rollups as the page was served.
	assert.Contains(t, dom, `<div class="card" data-metric="total_customers_served"><span class="label">服务客户</span><span class="value">2</span>`)
}
