package demo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
	"github.com/otelcol-analytics/otelcol-analytics/internal/simulate"
	"github.com/otelcol-analytics/otelcol-analytics/internal/simulate/casestudy"
	"github.com/otelcol-analytics/otelcol-analytics/sdk/bizevents"
	"github.com/otelcol-analytics/otelcol-analytics/stats"
)

// Field is one compared value: its JSON path, the expected and the received
// value (JSON text: strings unquoted, numbers as encoding/json writes them,
// null), and whether they are equal.
type Field struct {
	Name string
	Want string
	Got  string
	OK   bool
}

// storyStatusMark starts the story's closing data-status sentence (zh).
const storyStatusMark = "（数据说明："

// Paths of the case study that are not compared as plain leaves.
const (
	pathStory       = "story"
	pathStoryStatus = "story (data status)"
	pathLastWritten = "data.last_written_at"
	// serverOnly is the expected value of data.last_written_at: only the
	// server knows when it wrote.
	serverOnly = "(the server's)"
)

// CompareCaseStudy compares the case study the server returned (its JSON
// body) with the expected one, every leaf of the JSON in the expected
// object's order, plus any field the server sent that is not expected. The
// story is compared in two parts: the narrative, and the closing
// data-status sentence. data.last_written_at is the server's alone (the
// caller builds the expected status with it, see ExpectedCaseStudy); its row
// only checks that it is there.
func CompareCaseStudy(want stats.CaseStudy, gotBody []byte) ([]Field, error) {
	wb, err := json.Marshal(want)
	if err != nil {
		return nil, err
	}
	wl, err := leaves(wb)
	if err != nil {
		return nil, fmt.Errorf("expected case study: %w", err)
	}
	gl, err := leaves(gotBody)
	if err != nil {
		return nil, fmt.Errorf("the server's case study is not a JSON object: %w", err)
	}
	got := make(map[string]string, len(gl))
	for _, l := range gl {
		got[l.path] = l.value
	}
	seen := map[string]bool{}
	var out []Field
	for _, l := range wl {
		seen[l.path] = true
		g, ok := got[l.path]
		if !ok {
			g = "(missing)"
		}
		switch l.path {
		case pathStory:
			wn, ws := splitStory(l.value)
			gn, gs := splitStory(g)
			out = append(out,
				Field{Name: pathStory, Want: wn, Got: gn, OK: ok && wn == gn},
				Field{Name: pathStoryStatus, Want: ws, Got: gs, OK: ok && ws == gs})
		case pathLastWritten:
			out = append(out, Field{Name: l.path, Want: serverOnly, Got: g, OK: ok && g != "null" && g == l.value})
		default:
			out = append(out, Field{Name: l.path, Want: l.value, Got: g, OK: ok && g == l.value})
		}
	}
	for _, l := range gl {
		if !seen[l.path] {
			out = append(out, Field{Name: l.path, Want: "(not expected)", Got: l.value})
		}
	}
	return out, nil
}

// splitStory cuts the story before its data-status sentence.
func splitStory(s string) (narrative, status string) {
	if i := strings.Index(s, storyStatusMark); i >= 0 {
		return s[:i], s[i:]
	}
	return s, ""
}

// ExpectedCaseStudy is the case study the server must return for the
// expected month m (zh), given the time the server says it last wrote
// (data.last_written_at of its answer, RFC 3339; "" or unparsable: none)
// and the current time (which decides whether the month is complete).
func ExpectedCaseStudy(m *simulate.Month, loc *time.Location, costPerResolution float64, lastWrittenAt string, now time.Time) (stats.CaseStudy, error) {
	month, err := stats.ParseMonth(m.Month)
	if err != nil {
		return stats.CaseStudy{}, err
	}
	var written time.Time
	if lastWrittenAt != "" {
		if t, err := time.Parse(time.RFC3339, lastWrittenAt); err == nil {
			written = t
		}
	}
	st := casestudy.Status(month, loc, now, written)
	return casestudy.BuildStatus(m, loc, costPerResolution, stats.LangZH, st), nil
}

// leaf is one scalar of a JSON document with its dotted path.
type leaf struct{ path, value string }

// leaves lists the scalars of a JSON object in document order; array
// elements are path[i].
func leaves(doc []byte) ([]leaf, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var out []leaf
	if err := walk(dec, "", &out); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("trailing data after the JSON value")
	}
	return out, nil
}

func walk(dec *json.Decoder, path string, out *[]leaf) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				key, _ := k.(string)
				p := key
				if path != "" {
					p = path + "." + key
				}
				if err := walk(dec, p, out); err != nil {
					return err
				}
			}
		case '[':
			for i := 0; dec.More(); i++ {
				if err := walk(dec, fmt.Sprintf("%s[%d]", path, i), out); err != nil {
					return err
				}
			}
		}
		_, err := dec.Token() // the closing delimiter
		return err
	case string:
		*out = append(*out, leaf{path, t})
	case json.Number:
		*out = append(*out, leaf{path, t.String()})
	case bool:
		*out = append(*out, leaf{path, strconv.FormatBool(t)})
	case nil:
		*out = append(*out, leaf{path, "null"})
	}
	return nil
}

// Endpoint bodies the checks read (see CheckEndpoints).
type endpointBodies struct {
	Summary stats.SummaryJSON
	Tickets stats.TicketsJSON
	Agents  stats.AgentsJSON
	Daily   stats.DailyJSON
}

// checker collects compared numbers.
type checker struct{ fields []Field }

func (c *checker) int(name string, want, got int64) {
	c.fields = append(c.fields, Field{Name: name, Want: strconv.FormatInt(want, 10), Got: strconv.FormatInt(got, 10), OK: want == got})
}

func (c *checker) float(name string, want *big.Rat, got *float64) {
	w, g := "null", "null"
	if want != nil {
		f, _ := want.Float64()
		w = strconv.FormatFloat(f, 'g', -1, 64)
	}
	if got != nil {
		g = strconv.FormatFloat(*got, 'g', -1, 64)
	}
	c.fields = append(c.fields, Field{Name: name, Want: w, Got: g, OK: w == g})
}

func (c *checker) str(name, want, got string) {
	c.fields = append(c.fields, Field{Name: name, Want: want, Got: got, OK: want == got})
}

func ratOf(n, d int64) *big.Rat {
	if d == 0 {
		return nil
	}
	return big.NewRat(n, d)
}

// checkEndpoints compares the raw numbers of the summary, tickets, agents
// and daily bodies with the expectation of month m: every count, and every
// average and rate as the float64 nearest to the exact value the
// simulator's integer sums give.
func checkEndpoints(b *endpointBodies, m *simulate.Month, costFen int64) []Field {
	r := &m.Raw
	var c checker
	s := b.Summary
	c.int("summary.total_customers_served", r.TotalCustomersServed, s.TotalCustomersServed)
	c.int("summary.escalations", r.SessionsEscalated, s.Escalations)
	c.int("summary.ai_resolved", r.AIResolvedSessions, s.AIResolved)
	c.int("summary.messages", r.Messages, s.Messages)
	c.float("summary.ai_resolution_rate.value", ratOf(r.AIResolvedSessions, r.TotalCustomersServed), s.AIResolutionRate.Value)
	c.float("summary.avg_response_time.value", r.ResponseTimeMs.Mean(), s.AvgResponseTime.Value)
	c.float("summary.cost_saved.value", stats.CostSaved(r.AIResolvedSessions, costFen), s.CostSaved.Value)

	t := b.Tickets
	c.int("tickets.tickets_created", r.TicketsCreated, t.TicketsCreated)
	c.int("tickets.tickets_resolved", r.TicketsResolved, t.TicketsResolved)
	c.int("tickets.sla_met", r.SLAMet, t.SLAMet)
	c.float("tickets.sla_met_rate.value", ratOf(r.SLAMet, r.TicketsResolved), t.SLAMetRate.Value)
	c.float("tickets.avg_resolution_time.value", r.ResolutionDurationHours.Mean(), t.AvgResolutionTime.Value)

	wantIDs := make([]string, 0, len(r.Agents))
	for _, a := range r.Agents {
		wantIDs = append(wantIDs, a.AgentID)
	}
	gotAgents := map[string]stats.AgentJSON{}
	gotIDs := make([]string, 0, len(b.Agents.Agents))
	for _, a := range b.Agents.Agents {
		gotIDs = append(gotIDs, a.AgentID)
		gotAgents[a.AgentID] = a
	}
	c.str("agents[].agent_id", strings.Join(wantIDs, ","), strings.Join(gotIDs, ","))
	for _, a := range r.Agents {
		g := gotAgents[a.AgentID]
		p := "agents[" + a.AgentID + "]."
		c.int(p+"sessions_handled", a.SessionsHandled, g.SessionsHandled)
		c.float(p+"avg_first_response.value", a.WaitDurationSeconds.Mean(), g.AvgFirstResponse.Value)
		// handle_duration_seconds is required: one measure per release.
		c.int(p+"sessions_released", a.HandleDurationSeconds.Count, g.SessionsReleased)
		c.float(p+"avg_handle_time.value", a.HandleDurationSeconds.Mean(), g.AvgHandleTime.Value)
		c.int(p+"messages", a.Messages, g.Messages)
		c.int(p+"transfers", a.Transfers, g.Transfers)
		c.float(p+"online_time.value", a.OnlineDurationSeconds.Total(), g.OnlineTime.Value)
		c.int(p+"tickets_closed", a.TicketsClosed, g.TicketsClosed)
	}

	days := map[string]map[string]counters.Values{}
	for _, row := range m.DailyRows {
		if row.AgentID != "" {
			continue
		}
		if days[row.Date] == nil {
			days[row.Date] = map[string]counters.Values{}
		}
		days[row.Date][row.Event] = row.Values
	}
	for date := range days {
		found := false
		for _, d := range b.Daily.Days {
			found = found || d.Date == date
		}
		if !found {
			c.str("daily["+date+"]", "present", "missing")
		}
	}
	for _, d := range b.Daily.Days {
		ev := days[d.Date]
		p := "daily[" + d.Date + "]."
		c.int(p+"total_customers_served", ev[bizevents.EventSessionStart].Events, d.TotalCustomersServed)
		c.int(p+"escalations", ev[bizevents.EventSessionEscalate].Events, d.Escalations)
		c.int(p+"messages", ev[bizevents.EventSessionMessage].Events, d.Messages)
		c.int(p+"sessions_handled", ev[bizevents.EventAgentSessionTakeover].Events, d.SessionsHandled)
		c.int(p+"sessions_released", ev[bizevents.EventAgentSessionRelease].Events, d.SessionsReleased)
		c.int(p+"agent_messages", ev[bizevents.EventAgentSessionMessage].Events, d.AgentMessages)
		c.int(p+"transfers", ev[bizevents.EventAgentSessionTransfer].Events, d.Transfers)
		c.int(p+"tickets_created", ev[bizevents.EventTicketCreated].Events, d.TicketsCreated)
		c.int(p+"tickets_resolved", ev[bizevents.EventTicketClosed].Events, d.TicketsResolved)
		c.int(p+"sla_met", ev[bizevents.EventTicketClosed].FlagTrue, d.SLAMet)
	}
	return c.fields
}

// Failed returns the fields that differ.
func Failed(fields []Field) []Field {
	var out []Field
	for _, f := range fields {
		if !f.OK {
			out = append(out, f)
		}
	}
	return out
}

// WriteTable prints fields as "field | expected | got | ✓/✗", cells cut
// to maxCell display columns (CJK characters count two).
func WriteTable(w io.Writer, fields []Field, maxCell int) {
	rows := [][4]string{{"field", "expected", "got", "✓/✗"}}
	for _, f := range fields {
		mark := "✓"
		if !f.OK {
			mark = "✗"
		}
		rows = append(rows, [4]string{f.Name, cut(f.Want, maxCell), cut(f.Got, maxCell), mark})
	}
	var widths [3]int
	for _, r := range rows {
		for i := range widths {
			widths[i] = max(widths[i], displayWidth(r[i]))
		}
	}
	line := func(r [4]string) {
		var b strings.Builder
		for i := range widths {
			b.WriteString(r[i])
			b.WriteString(strings.Repeat(" ", widths[i]-displayWidth(r[i])))
			b.WriteString(" | ")
		}
		b.WriteString(r[3])
		printLine(w, b.String())
	}
	line(rows[0])
	printLine(w, strings.Repeat("-", widths[0])+"-+-"+strings.Repeat("-", widths[1])+"-+-"+strings.Repeat("-", widths[2])+"-+----")
	for _, r := range rows[1:] {
		line(r)
	}
}

// cut shortens s to at most n display columns, ending it with "…".
func cut(s string, n int) string {
	if n <= 0 || displayWidth(s) <= n {
		return s
	}
	var b strings.Builder
	w := 0
	for _, r := range s {
		rw := runeWidth(r)
		if w+rw > n-1 {
			break
		}
		b.WriteRune(r)
		w += rw
	}
	return b.String() + "…"
}

func displayWidth(s string) int {
	w := 0
	for _, r := range s {
		w += runeWidth(r)
	}
	return w
}

// runeWidth is the terminal width of r: two for the East Asian wide and
// full-width ranges (CJK, kana, hangul, full-width forms), else one.
func runeWidth(r rune) int {
	switch {
	case r >= 0x1100 && r <= 0x115F,
		r >= 0x2E80 && r <= 0xA4CF,
		r >= 0xAC00 && r <= 0xD7A3,
		r >= 0xF900 && r <= 0xFAFF,
		r >= 0xFE30 && r <= 0xFE4F,
		r >= 0xFF00 && r <= 0xFF60,
		r >= 0xFFE0 && r <= 0xFFE6:
		return 2
	}
	return 1
}

// printf and printLine write to the demo's output; a failed write to a
// terminal or pipe has nowhere better to be reported.
func printf(w io.Writer, format string, a ...any) { _, _ = fmt.Fprintf(w, format, a...) }

func printLine(w io.Writer, a ...any) { _, _ = fmt.Fprintln(w, a...) }
