package stats

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
		"--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars",
		"--user-data-dir=" + t.TempDir(), "--window-size=1280,2000", "--virtual-time-budget=5000",
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
