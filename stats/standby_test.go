package stats

import (
	"bytes"
	"context"
	"encoding/json"
	stdhtml "html"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/otelcol-analytics/otelcol-analytics/internal/testdb"
)

// What the pages say when the numbers come from a hot standby (Replica):
// the rendering, given a Replica value. That the queries fill Replica from
// a real standby is internal/scale's TestScaleStatsOnStandby.

var (
	standbyWritten  = time.Date(2025, 12, 10, 3, 59, 0, 0, time.UTC)  // 11:59:00 in Shanghai
	standbyReplayed = time.Date(2025, 12, 10, 3, 59, 58, 0, time.UTC) // 11:59:58 in Shanghai
)

func TestStoryStandby(t *testing.T) {
	december := Month{Year: 2025, Month: 12}
	for _, tc := range []struct {
		name     string
		complete bool
		rep      Replica
		zh, en   string
	}{
		{
			"primary", false,
			Replica{},
			"2025年12月尚未结束，数据截至目前；被拒绝未计入的事件 2 条；数据最后写入于 2025-12-10 11:59:00（Asia/Shanghai）。）",
			"December 2025 has not ended yet; the data is as of now; 2 rejected events were not counted; last written 2025-12-10 11:59:00 (Asia/Shanghai).)",
		},
		{
			"standby caught up", false,
			Replica{Standby: true, ReplayedAt: standbyReplayed},
			"2025年12月尚未结束，数据截至目前；被拒绝未计入的事件 2 条；数据最后写入于 2025-12-10 11:59:00（Asia/Shanghai）；读自备库，已回放至 2025-12-10 11:59:58。）",
			"December 2025 has not ended yet; the data is as of now; 2 rejected events were not counted; last written 2025-12-10 11:59:00 (Asia/Shanghai); " +
				"read from a standby replayed up to 2025-12-10 11:59:58.)",
		},
		{
			"standby behind", false,
			Replica{Standby: true, ReplayedAt: standbyReplayed, Behind: true},
			"2025年12月尚未结束；被拒绝未计入的事件 2 条；数据最后写入于 2025-12-10 11:59:00（Asia/Shanghai）；读自备库，已回放至 2025-12-10 11:59:58，尚有已接收未回放的写入，主库数据更新。）",
			"December 2025 has not ended yet; 2 rejected events were not counted; last written 2025-12-10 11:59:00 (Asia/Shanghai); " +
				"read from a standby replayed up to 2025-12-10 11:59:58, which holds writes not replayed yet: the primary has newer numbers.)",
		},
		{
			"standby behind, month ended", true,
			Replica{Standby: true, ReplayedAt: standbyReplayed, Behind: true},
			"2025年12月已结束；被拒绝未计入的事件 2 条；数据最后写入于 2025-12-10 11:59:00（Asia/Shanghai）；读自备库，已回放至 2025-12-10 11:59:58，尚有已接收未回放的写入，主库数据更新。）",
			"December 2025 has ended; 2 rejected events were not counted; last written 2025-12-10 11:59:00 (Asia/Shanghai); " +
				"read from a standby replayed up to 2025-12-10 11:59:58, which holds writes not replayed yet: the primary has newer numbers.)",
		},
		{
			"standby caught up, month ended", true,
			Replica{Standby: true, ReplayedAt: standbyReplayed},
			"2025年12月已结束，数据完整；被拒绝未计入的事件 2 条；数据最后写入于 2025-12-10 11:59:00（Asia/Shanghai）；读自备库，已回放至 2025-12-10 11:59:58。）",
			"December 2025 has ended and its data is complete; 2 rejected events were not counted; last written 2025-12-10 11:59:00 (Asia/Shanghai); " +
				"read from a standby replayed up to 2025-12-10 11:59:58.)",
		},
		{
			"standby restarted, nothing replayed since", false,
			Replica{Standby: true, Behind: true},
			"2025年12月尚未结束；被拒绝未计入的事件 2 条；数据最后写入于 2025-12-10 11:59:00（Asia/Shanghai）；读自备库，启动以来尚未回放事务，尚有已接收未回放的写入，主库数据更新。）",
			"December 2025 has not ended yet; 2 rejected events were not counted; last written 2025-12-10 11:59:00 (Asia/Shanghai); " +
				"read from a standby that has replayed no transaction since it started, which holds writes not replayed yet: the primary has newer numbers.)",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := DataStatus{Month: december, Complete: tc.complete, Rejected: 2, LastWritten: standbyWritten, Replica: tc.rep}
			assert.Equal(t, "本月暂无业务数据。（数据说明："+tc.zh, Story(Metrics{}, st, shanghai, LangZH))
			assert.Equal(t, "No business data this month. (About the data: "+tc.en, Story(Metrics{}, st, shanghai, LangEN))
		})
	}
}

// data.standby: absent on a primary; replayed_up_to in the business time
// zone, null when nothing was replayed since the standby started.
func TestStandbyJSON(t *testing.T) {
	v := view{lang: LangEN, loc: shanghai, costFen: 1000}
	st := DataStatus{Month: Month{Year: 2025, Month: 12}, Rejected: 1, LastWritten: standbyWritten}
	const base = `"month": "2025-12", "timezone": "Asia/Shanghai", "complete": false, "rejected_events": 1, "last_written_at": "2025-12-10T11:59:00+08:00"`
	for _, tc := range []struct {
		name string
		rep  Replica
		want string
	}{
		{"primary", Replica{}, `{` + base + `}`},
		// A zero Replica with only ReplayedAt set is still a primary.
		{"primary, stray time", Replica{ReplayedAt: standbyReplayed}, `{` + base + `}`},
		{"caught up", Replica{Standby: true, ReplayedAt: standbyReplayed}, `{` + base + `, "standby": {"replayed_up_to": "2025-12-10T11:59:58+08:00", "behind": false}}`},
		{"behind", Replica{Standby: true, ReplayedAt: standbyReplayed, Behind: true}, `{` + base + `, "standby": {"replayed_up_to": "2025-12-10T11:59:58+08:00", "behind": true}}`},
		{"nothing replayed", Replica{Standby: true, Behind: true}, `{` + base + `, "standby": {"replayed_up_to": null, "behind": true}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st.Replica = tc.rep
			b, err := json.Marshal(v.status(st))
			require.NoError(t, err)
			assert.JSONEq(t, tc.want, string(b))
			// The case study carries the same object and the story.
			cs := v.caseStudy(Metrics{}, st)
			b, err = json.Marshal(cs.Data)
			require.NoError(t, err)
			assert.JSONEq(t, tc.want, string(b))
			assert.Equal(t, tc.rep.Behind, strings.Contains(cs.Story, "the primary has newer numbers"), cs.Story)
		})
	}
}

// renderReport executes the report template as the handler does for a
// month with status st.
func renderReport(t *testing.T, l Lang, st DataStatus, live *LiveJSON) string {
	t.Helper()
	v := view{lang: l, loc: shanghai, costFen: 1000}
	page := reportPage{Lang: l, L: pageLabels[l], Period: FormatPeriod(st.Month, l), Month: st.Month.String(), CS: v.caseStudy(Metrics{}, st)}
	page.setStatus(st, shanghai)
	if live != nil {
		page.Live, page.LivePollMS = live, livePoll.Milliseconds()
	}
	var buf bytes.Buffer
	require.NoError(t, reportTemplate.Execute(&buf, page))
	return buf.String()
}

var statusBlockRE = regexp.MustCompile(`(?s)<div class="status" id="data-status">(.*?)</div>\s*</div>`)

// statusLines is the report's "about the data" block, one string per line,
// tags removed.
func statusLines(t *testing.T, html string) []string {
	t.Helper()
	m := statusBlockRE.FindStringSubmatch(html + "</div>")
	require.NotNil(t, m, "no data-status block")
	var out []string
	for _, line := range strings.Split(m[1], "\n") {
		if s := strings.TrimSpace(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(line, "")); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func TestReportStandbyLine(t *testing.T) {
	december := Month{Year: 2025, Month: 12}
	status := func(complete bool, rep Replica) DataStatus {
		return DataStatus{Month: december, Complete: complete, Rejected: 2, LastWritten: standbyWritten, Replica: rep}
	}
	for _, tc := range []struct {
		name     string
		lang     Lang
		complete bool
		rep      Replica
		want     []string
	}{
		{"primary", LangEN, false, Replica{}, []string{
			"The month has not ended; the data is as of now", "Rejected events not counted: 2",
			"Last written: 2025-12-10 11:59:00", "Business time zone: Asia/Shanghai",
		}},
		{"caught up", LangEN, true, Replica{Standby: true, ReplayedAt: standbyReplayed}, []string{
			"The month has ended; the data is complete", "Rejected events not counted: 2", "Last written: 2025-12-10 11:59:00",
			"Read from a standby replayed up to 2025-12-10 11:59:58", "Business time zone: Asia/Shanghai",
		}},
		{"behind", LangEN, false, Replica{Standby: true, ReplayedAt: standbyReplayed, Behind: true}, []string{
			"The month has not ended", "Rejected events not counted: 2", "Last written: 2025-12-10 11:59:00",
			"Read from a standby replayed up to 2025-12-10 11:59:58; it holds writes not replayed yet: the primary has newer numbers",
			"Business time zone: Asia/Shanghai",
		}},
		{"behind, month ended", LangZH, true, Replica{Standby: true, ReplayedAt: standbyReplayed, Behind: true}, []string{
			"本月已结束", "被拒绝未计入的事件: 2", "数据最后写入: 2025-12-10 11:59:00",
			"读自备库，已回放至 2025-12-10 11:59:58; 尚有已接收未回放的写入，主库数据更新", "业务时区: Asia/Shanghai",
		}},
		{"nothing replayed since start", LangEN, false, Replica{Standby: true}, []string{
			"The month has not ended; the data is as of now", "Rejected events not counted: 2", "Last written: 2025-12-10 11:59:00",
			"Read from a standby that has replayed no transaction since it started", "Business time zone: Asia/Shanghai",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			html := renderReport(t, tc.lang, status(tc.complete, tc.rep), nil)
			assert.Equal(t, tc.want, statusLines(t, html))
			assert.Equal(t, tc.rep.Standby, strings.Contains(html, `<div id="standby">`))
		})
	}

	// On a primary the block is byte for byte what it was before standbys
	// were told apart: internal/scale compares the pages of a primary and
	// of a standby with only the standby line and the story clause removed.
	html := renderReport(t, LangEN, status(false, Replica{}), nil)
	assert.Contains(t, html, "<div>Last written: 2025-12-10 11:59:00</div>\n    <div>Business time zone: Asia/Shanghai</div>")
	withLine := renderReport(t, LangEN, status(false, Replica{Standby: true, ReplayedAt: standbyReplayed}), nil)
	assert.Contains(t, withLine, "<div>Last written: 2025-12-10 11:59:00</div>\n    "+
		`<div id="standby">Read from a standby replayed up to 2025-12-10 11:59:58</div>`+"\n    <div>Business time zone: Asia/Shanghai</div>")
}

var liveStandbyRE = regexp.MustCompile(`<span id="live-standby">([^<]*)</span>`)

// The live endpoint answering from the rollups of a standby says so, in
// its JSON and in the report's today panel as served.
func TestLiveStandby(t *testing.T) {
	day := time.Date(2025, 12, 10, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		d         liveData
		wantJSON  string // the "standby" member, "" for none
		wantPanel string
	}{
		{"redis", liveData{source: SourceRedis}, "", ""},
		{"postgres primary", liveData{source: SourcePostgres, reason: "redis is not configured (redis::addr is empty)"}, "", ""},
		{
			"postgres standby behind",
			liveData{source: SourcePostgres, replica: Replica{Standby: true, ReplayedAt: standbyReplayed, Behind: true}},
			`{"replayed_up_to": "2025-12-10T11:59:58+08:00", "behind": true}`,
			"; Read from a standby replayed up to 2025-12-10T11:59:58+08:00; it holds writes not replayed yet: the primary has newer numbers",
		},
		{
			"postgres standby, nothing replayed",
			liveData{source: SourcePostgres, replica: Replica{Standby: true}},
			`{"replayed_up_to": null, "behind": false}`,
			"; Read from a standby that has replayed no transaction since it started",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := view{lang: LangEN, loc: shanghai, costFen: 1000}
			l := v.live(day, fixedNow, tc.d)
			b, err := json.Marshal(l)
			require.NoError(t, err)
			var body map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(b, &body))
			if tc.wantJSON == "" {
				assert.NotContains(t, body, "standby")
			} else {
				require.Contains(t, body, "standby")
				assert.JSONEq(t, tc.wantJSON, string(body["standby"]))
			}
			html := renderReport(t, LangEN, DataStatus{Month: Month{Year: 2025, Month: 12}}, &l)
			m := liveStandbyRE.FindStringSubmatch(html)
			require.NotNil(t, m, "no live-standby span")
			assert.Equal(t, tc.wantPanel, stdhtml.UnescapeString(m[1]))
		})
	}
}

// Read from the shared PostgreSQL (a primary), Month says so: no replica
// status, and none in the bodies (the byte-for-byte bodies of the other
// tests hold no "standby" either).
func TestMonthOnPrimary(t *testing.T) {
	t.Parallel()
	dsn, _ := testdb.Migrated(t)
	cfg := NewDefaultConfig()
	cfg.Postgres.DSN = configopaque.String(dsn)
	pool, err := NewPool(context.Background(), cfg.Postgres)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	data, err := NewQueries(pool).Month(context.Background(), Month{Year: 2025, Month: 12}, shanghai)
	require.NoError(t, err)
	assert.Equal(t, Replica{}, data.Replica)
	_, rep, err := NewQueries(pool).Daily(context.Background(), time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	assert.Equal(t, Replica{}, rep)

	srv := newTestServer(t, dsn, "")
	for _, p := range []string{"/api/analytics/case-study?month=2025-12", "/api/analytics/live?lang=en", "/api/analytics/daily?from=2025-12-01&to=2025-12-10"} {
		r := get(t, srv, p, "")
		require.Equal(t, http.StatusOK, r.status, r.body)
		assert.NotContains(t, r.body, "standby", p)
	}
	assert.NotContains(t, get(t, srv, "/report?month=2025-12", "").body, `id="standby"`)
}

// The today panel's script writes the standby status of each refresh: the
// page is served from a primary's live answer (no status), the refreshes
// answer as a standby behind its primary would.
func TestReportLiveStandbyInChromium(t *testing.T) {
	t.Parallel()
	bin := chromiumPath(t)
	v := view{lang: LangEN, loc: shanghai, costFen: 1000}
	day := time.Date(2025, 12, 10, 0, 0, 0, 0, time.UTC)
	first := v.live(day, fixedNow, liveData{source: SourcePostgres})
	page := renderReport(t, LangEN, DataStatus{Month: Month{Year: 2025, Month: 12}}, &first)
	require.Equal(t, []string{""}, liveStandbyRE.FindStringSubmatch(page)[1:], "served from a primary: no standby status")
	refresh := v.live(day, fixedNow, liveData{
		source: SourcePostgres, reason: "redis unavailable: cannot connect or lost the connection (see the collector's log)",
		replica: Replica{Standby: true, ReplayedAt: standbyReplayed, Behind: true},
	})
	mux := http.NewServeMux()
	mux.Handle("/assets/", assetHandler())
	mux.HandleFunc("/report", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(page))
	})
	mux.HandleFunc("/api/analytics/live", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, refresh) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	dom := string(runChromiumFor(t, bin, 15*time.Second, "--dump-dom", srv.URL+"/report"))
	assert.Contains(t, dom, `<div id="js-errors"></div>`, "script errors were recorded")
	assert.Contains(t, dom, `<span id="live-error"></span>`, "a refresh failed")
	assert.NotContains(t, dom, `data-updates="0"`, "the panel never refreshed")
	m := liveStandbyRE.FindStringSubmatch(dom)
	require.NotNil(t, m, "no live-standby span in the DOM")
	assert.Equal(t, "; Read from a standby replayed up to 2025-12-10T11:59:58+08:00; it holds writes not replayed yet: the primary has newer numbers", stdhtml.UnescapeString(m[1]))
}
