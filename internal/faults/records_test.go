package faults

import (
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/otelcol-analytics/otelcol-analytics/internal/loadgen"
)

// mutated is a Source of gen's requests, each changed by edit before it is
// encoded.
type mutated struct {
	gen  *loadgen.Generator
	edit func(k int, ld plog.Logs)
}

// Request implements loadgen.Source.
func (m mutated) Request(k int) (loadgen.Request, bool, error) {
	ld := m.gen.Logs(k)
	m.edit(k, ld)
	body, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	if err != nil {
		return loadgen.Request{}, false, err
	}
	first := uint64(k) * uint64(m.gen.PerRequest) //nolint:gosec // k ≥ 0
	return loadgen.Request{Index: k, First: first, Events: m.gen.PerRequest, Body: body}, true, nil
}

// eachRecord calls f with every record of ld, in order.
func eachRecord(ld plog.Logs, f func(i int, lr plog.LogRecord)) {
	i := 0
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				f(i, lr)
				i++
			}
		}
	}
}

// TestFault11Poison puts one poison record in every 1000-record request:
// an unknown event in even requests, a wrong attribute type in odd ones.
// The poison is rejected with its reason, the other 999 are stored.
func TestFault11Poison(t *testing.T) {
	t.Parallel()
	e := Start(t, Options{PerRequest: 1000})
	gen := e.Generator(11)
	src := mutated{gen: gen, edit: func(k int, ld plog.Logs) {
		done := false
		eachRecord(ld, func(_ int, lr plog.LogRecord) {
			switch {
			case done:
			case k%2 == 0:
				lr.SetEventName("no.such_event")
				done = true
			case lr.EventName() == "session.message":
				lr.Attributes().PutStr("response_time_ms", "fast")
				done = true
			}
		})
	}}
	l := defaultLoad()
	res := <-sendAsync(e, gen, l, src)
	fig := e.Check(t, CheckOptions{Poison: 1, Reasons: []string{"unknown_event", "wrong_type"}})
	t.Logf("TestFault11Poison: %d requests of 1000 records, 1 poison each, at %.0f events/s: %s", len(res.Records), l.rate, fig)
}

// TestFault13DayBoundary sends events within half an hour either side of
// 16:00Z on the last day of the month before the Env's (midnight in
// Asia/Shanghai, the start of the Env's business month), under load: each
// lands on its business day, and the two months' counters match.
func TestFault13DayBoundary(t *testing.T) {
	t.Parallel()
	e := Start(t, Options{})
	gen := e.Generator(13)
	y, m, _ := e.Opts.Month.In(e.Loc).Date()
	boundary := time.Date(y, m, 1, 0, 0, 0, 0, e.Loc)
	if boundary.UTC().Hour() != 16 {
		t.Fatalf("the business day begins at %s, not 16:00Z", boundary.UTC())
	}
	at := func(seq uint64) time.Time {
		switch seq % 1000 {
		case 0:
			return boundary.Add(-time.Nanosecond)
		case 1:
			return boundary
		}
		off := time.Duration(seq*7919%3_600_000)*time.Millisecond - 30*time.Minute //nolint:gosec // below an hour
		return boundary.Add(off)
	}
	src := mutated{gen: gen, edit: func(k int, ld plog.Logs) {
		first := uint64(k) * uint64(gen.PerRequest) //nolint:gosec // k ≥ 0
		eachRecord(ld, func(i int, lr plog.LogRecord) {
			lr.SetTimestamp(pcommon.NewTimestampFromTime(at(first + uint64(i)))) //nolint:gosec // i ≥ 0
		})
	}}
	l := defaultLoad()
	res := <-sendAsync(e, gen, l, src)
	before, after := boundary.Add(-time.Hour).Format(time.DateOnly), boundary.Format(time.DateOnly)
	fig := e.Check(t, CheckOptions{Months: []string{before[:7], after[:7]}})

	want := map[string]int64{}
	for _, r := range res.Records {
		if !r.OK() {
			continue
		}
		for i := range uint64(r.Events) { //nolint:gosec // Events ≥ 0
			want[at(r.First+i).In(e.Loc).Format(time.DateOnly)]++
		}
	}
	got := map[string]int64{}
	for _, d := range []string{before, after} {
		rows, err := e.Layout.ReadDay(t.Context(), e.Redis, d)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r.AgentID == "" {
				got[d] += r.Events
			}
		}
		if got[d] != want[d] {
			t.Errorf("day %s: Redis counts %d events, %d were sent dated that day", d, got[d], want[d])
		}
	}
	t.Logf("TestFault13DayBoundary: %s %d events, %s %d events (±30 min of %s) at %.0f events/s: %s",
		before, got[before], after, got[after], boundary.UTC().Format(time.RFC3339), l.rate, fig)
}
