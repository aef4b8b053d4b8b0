// Command monthdump gives the Python tracker's tests the simulated month of
// cmd/demo: it writes the month's events (internal/simulate, the demo's
// generator) as JSON lines, and compares a case study the stats service
// returned with the one the demo expects for the same events
// (internal/demo: ExpectedCaseStudy, CompareCaseStudy).
//
//	monthdump -month 2025-12 -scale 20 -events month.jsonl
//	monthdump -month 2025-12 -scale 20 -compare case-study.json
//
// The same flags give the same events and ids, so the second call rebuilds
// the expectation of the events the first one wrote.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/otelcol-analytics/otelcol-analytics/internal/demo"
	"github.com/otelcol-analytics/otelcol-analytics/internal/simulate"
	"github.com/otelcol-analytics/otelcol-analytics/stats"
)

// line is one event as the Python test replays it.
type line struct {
	Event      string         `json:"event"`
	Product    string         `json:"product"`
	MessageID  string         `json:"message_id"`
	Timestamp  string         `json:"timestamp"`
	Properties map[string]any `json:"properties"`
	Resend     bool           `json:"resend,omitempty"`
}

// summary is what -events prints on standard output.
type summary struct {
	Month        string           `json:"month"`
	Events       int64            `json:"events"`
	UniqueEvents int64            `json:"unique_events"`
	EventsByName map[string]int64 `json:"events_by_name"`
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "monthdump:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("monthdump", flag.ContinueOnError)
	month := fs.String("month", "2025-12", "business month YYYY-MM")
	scale := fs.Int("scale", 20, "chatbot sessions on an average weekday (simulate --scale)")
	seed := fs.Uint64("seed", 1, "random seed")
	resend := fs.Float64("resend", 0.05, "fraction of events sent twice with the same id")
	cost := fs.Float64("cost-per-resolution", 10, "¥ per AI-resolved session, as configured in the stats service")
	events := fs.String("events", "", "write the events as JSON lines to this file")
	compare := fs.String("compare", "", "compare this case-study JSON body with the expected one")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if (*events == "") == (*compare == "") {
		return errors.New("give exactly one of -events and -compare")
	}
	loc := simulate.DefaultLocation()
	from, to, err := simulate.MonthRange(*month, loc)
	if err != nil {
		return err
	}
	gen, err := simulate.NewGenerator(simulate.Config{From: from, To: to, Location: loc, Seed: *seed, Scale: *scale, ResendFraction: *resend})
	if err != nil {
		return err
	}
	x := simulate.NewExpector(loc, *cost)
	var out *bufio.Writer
	if *events != "" {
		f, err := os.Create(*events) //nolint:gosec // the path the test gave
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }()
		out = bufio.NewWriter(f)
	}
	enc := json.NewEncoder(out)
	for _, d := range gen.Days() {
		evs := gen.Day(d)
		for i := range evs {
			ev := &evs[i]
			x.Add(ev)
			if out == nil {
				continue
			}
			props := make(map[string]any, len(ev.Attrs))
			for _, kv := range ev.Attrs {
				props[string(kv.Key)] = kv.Value.AsInterface()
			}
			l := line{Event: ev.Name, Product: ev.Product, MessageID: ev.ID, Timestamp: ev.Time.UTC().Format(time.RFC3339Nano), Properties: props, Resend: ev.Resend}
			if err := enc.Encode(l); err != nil {
				return err
			}
		}
	}
	exp := x.Expectation()
	if len(exp.Months) != 1 || exp.Months[0].Month != *month {
		return fmt.Errorf("the simulation of %s produced %d months of events", *month, len(exp.Months))
	}
	if out != nil {
		if err := out.Flush(); err != nil {
			return err
		}
		return json.NewEncoder(stdout).Encode(summary{Month: *month, Events: exp.EventsSent, UniqueEvents: exp.UniqueEvents, EventsByName: exp.EventsByName})
	}
	body, err := os.ReadFile(*compare) //nolint:gosec // the path the test gave
	if err != nil {
		return err
	}
	var got stats.CaseStudy
	if err := json.Unmarshal(body, &got); err != nil {
		return fmt.Errorf("%s: %w", *compare, err)
	}
	written := ""
	if got.Data.LastWrittenAt != nil {
		written = *got.Data.LastWrittenAt
	}
	want, err := demo.ExpectedCaseStudy(&exp.Months[0], loc, *cost, written, time.Now())
	if err != nil {
		return err
	}
	fields, err := demo.CompareCaseStudy(want, body)
	if err != nil {
		return err
	}
	failed := demo.Failed(fields)
	if len(failed) > 0 {
		demo.WriteTable(stdout, failed, 60)
		return fmt.Errorf("%d of %d case-study fields differ from the demo's expectation", len(failed), len(fields))
	}
	_, err = fmt.Fprintf(stdout, "monthdump: all %d case-study fields equal the demo's expectation (%d unique events)\n", len(fields), exp.UniqueEvents)
	return err
}
