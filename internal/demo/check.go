package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/otelcol-analytics/otelcol-analytics/internal/simulate"
	"github.com/otelcol-analytics/otelcol-analytics/stats"
)

// get fetches base+path and returns the body of a 200 answer.
func get(ctx context.Context, base, path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, bytes.TrimSpace(body))
	}
	return body, nil
}

func getJSON(ctx context.Context, base, path string, v any) error {
	body, err := get(ctx, base, path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}

// checkStats is step 5: it fetches the case study and the per-part
// endpoints of month m and compares them with the expectation, printing the
// case study, its story and the table.
func (r *run) checkStats(ctx context.Context, m *simulate.Month) error {
	base := "http://" + r.ports.Stats
	r.res.ReportURL = base + "/report?month=" + r.month
	if h, p, ok := strings.Cut(r.ports.Stats, ":"); ok && (h == "127.0.0.1" || h == "localhost") {
		r.res.ReportURL = "http://localhost:" + p + "/report?month=" + r.month
	}
	if err := r.checkCaseStudy(ctx, base, m); err != nil {
		return err
	}
	return r.checkOtherEndpoints(ctx, base, m)
}

// checkCaseStudy fetches, prints and compares the case study.
func (r *run) checkCaseStudy(ctx context.Context, base string, m *simulate.Month) error {
	out := r.out
	q := "?month=" + url.QueryEscape(m.Month)
	printf(out, "demo: 5/6 GET %s/api/analytics/case-study%s\n", base, q)
	body, err := get(ctx, base, "/api/analytics/case-study"+q)
	if err != nil {
		return err
	}
	r.res.CaseStudy = body
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, body, "    ", "  "); err != nil {
		return fmt.Errorf("the case study is not JSON: %w", err)
	}
	printf(out, "    %s\n", pretty.String())
	var got stats.CaseStudy
	if err := json.Unmarshal(body, &got); err != nil {
		return fmt.Errorf("the case study: %w", err)
	}
	printStory(out, got.Story)
	written := ""
	if got.Data.LastWrittenAt != nil {
		written = *got.Data.LastWrittenAt
	}
	want, err := ExpectedCaseStudy(m, r.loc, r.o.CostPerResolution, written, time.Now())
	if err != nil {
		return err
	}
	if r.res.CaseStudyFields, err = CompareCaseStudy(want, body); err != nil {
		return err
	}
	printLine(out, "\n  the case study against the simulator's own expectation:")
	WriteTable(indent{out}, r.res.CaseStudyFields, 34)
	for _, f := range Failed(r.res.CaseStudyFields) {
		if displayWidth(f.Want) > 34 || displayWidth(f.Got) > 34 {
			printf(out, "  ✗ %s\n      expected: %s\n      got:      %s\n", f.Name, f.Want, f.Got)
		}
	}
	return nil
}

// printStory prints the case study's story a sentence a line, then its
// data status.
func printStory(out io.Writer, story string) {
	printLine(out, "\n  story:")
	narrative, status := splitStory(story)
	for _, s := range strings.SplitAfter(narrative, "。") {
		if s = strings.TrimSpace(s); s != "" {
			printLine(out, "    "+s)
		}
	}
	if status != "" {
		printLine(out, "    "+status)
	}
}

// checkOtherEndpoints fetches summary, tickets, agents and daily and
// compares their raw numbers with the expectation.
func (r *run) checkOtherEndpoints(ctx context.Context, base string, m *simulate.Month) error {
	var b endpointBodies
	q := "?month=" + url.QueryEscape(m.Month)
	first := m.Month + "-01"
	mo, _ := stats.ParseMonth(m.Month)
	last := fmt.Sprintf("%s-%02d", m.Month, mo.Days())
	for _, e := range []struct {
		path string
		v    any
	}{
		{"/api/analytics/summary" + q, &b.Summary},
		{"/api/analytics/tickets" + q, &b.Tickets},
		{"/api/analytics/agents" + q, &b.Agents},
		{"/api/analytics/daily?from=" + first + "&to=" + last, &b.Daily},
	} {
		if err := getJSON(ctx, base, e.path, e.v); err != nil {
			return err
		}
	}
	r.res.EndpointFields = checkEndpoints(&b, m, stats.CostFen(r.o.CostPerResolution))
	bad := Failed(r.res.EndpointFields)
	printf(r.out, "\n  summary, tickets, agents (%d) and daily (%d days): %d raw numbers against the expectation, %d differ\n",
		len(b.Agents.Agents), len(b.Daily.Days), len(r.res.EndpointFields), len(bad))
	if len(bad) > 0 {
		WriteTable(indent{r.out}, bad, 34)
	}
	return nil
}

// indent prefixes every line written through it with two spaces.
type indent struct{ w io.Writer }

func (i indent) Write(p []byte) (int, error) {
	lines := strings.SplitAfter(string(p), "\n")
	var b strings.Builder
	for _, l := range lines {
		if l != "" {
			b.WriteString("  " + l)
		}
	}
	if _, err := io.WriteString(i.w, b.String()); err != nil {
		return 0, err
	}
	return len(p), nil
}
