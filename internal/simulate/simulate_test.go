package simulate

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/otel/attribute"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.uber.org/goleak"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
	"github.com/otelcol-analytics/otelcol-analytics/sdk/bizevents"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var shanghai = DefaultLocation()

func at(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04:05", s, shanghai)
	if err != nil {
		panic(err)
	}
	return t
}

func ev(name, id, when string, kv ...attribute.KeyValue) Event {
	p, _ := bizevents.ProductOf(name)
	return Event{Name: name, Product: p, ID: id, Time: at(when), Attrs: kv}
}

var (
	s  = attribute.String
	f  = attribute.Float64
	bl = attribute.Bool
)

// TestExpectationByHand feeds a fixed script to the Expector and checks
// every number against a count done by hand.
func TestExpectationByHand(t *testing.T) {
	script := []Event{
		// Three sessions on Dec 1 (Shanghai); s2 is escalated.
		ev("session.start", "e1", "2025-12-01 09:00:00", s("session_id", "s1")),
		ev("session.message", "e2", "2025-12-01 09:00:10", s("session_id", "s1"), f("response_time_ms", 1000.5)),
		ev("session.message", "e3", "2025-12-01 09:00:20", s("session_id", "s1"), f("response_time_ms", 2000.25)),
		ev("session.start", "e4", "2025-12-01 10:00:00", s("session_id", "s2")),
		ev("session.message", "e5", "2025-12-01 10:00:05", s("session_id", "s2"), f("response_time_ms", 0.0000005)), // rounds to 1 micro
		ev("session.escalate", "e6", "2025-12-01 10:00:09", s("session_id", "s2")),
		ev("agent.session_takeover", "e7", "2025-12-01 10:00:39", s("agent_id", "a1"), s("session_id", "s2"), f("wait_duration_seconds", 30)),
		ev("agent.session_message", "e8", "2025-12-01 10:01:00", s("agent_id", "a1"), s("session_id", "s2")),
		ev("agent.session_transfer", "e9", "2025-12-01 10:02:00", s("agent_id", "a1"), s("to_agent_id", "a2"), s("session_id", "s2")),
		ev("agent.session_message", "e10", "2025-12-01 10:03:00", s("agent_id", "a2"), s("session_id", "s2")),
		ev("agent.session_release", "e11", "2025-12-01 10:05:00", s("agent_id", "a2"), s("session_id", "s2"), f("handle_duration_seconds", 180)),
		ev("session.start", "e12", "2025-12-01 23:59:59", s("session_id", "s3")),
		// 2025-11-30 16:30 UTC is Dec 1 00:30 in Shanghai: counted in December.
		{Name: "session.start", Product: "ai_chatbot", ID: "e13", Time: time.Date(2025, 11, 30, 16, 30, 0, 0, time.UTC), Attrs: []attribute.KeyValue{s("session_id", "s4")}},
		// Nov 30 23:00 Shanghai: November, not December.
		ev("session.start", "e14", "2025-11-30 23:00:00", s("session_id", "s0")),
		// Tickets: one met its SLA, one did not; one without agent.
		ev("ticket.closed", "e15", "2025-12-02 11:00:00", s("ticket_id", "t1"), f("resolution_duration_hours", 1.5), bl("sla_met", true), s("agent_id", "a1")),
		ev("ticket.closed", "e16", "2025-12-02 12:00:00", s("ticket_id", "t2"), f("resolution_duration_hours", 10.25), bl("sla_met", false), s("agent_id", "a2")),
		ev("ticket.closed", "e17", "2025-12-03 12:00:00", s("ticket_id", "t3"), f("resolution_duration_hours", 2), bl("sla_met", true)),
		ev("agent.logout", "e18", "2025-12-01 18:00:00", s("agent_id", "a1"), f("online_duration_seconds", 32400)),
		ev("ticket.created", "e19", "2025-12-02 09:00:00", s("ticket_id", "t1")),
	}
	// Resends of e2 and e15 (same id, same content) count once.
	resent := []Event{script[1], script[14]}
	x := NewExpector(shanghai, 10)
	for i := range script {
		x.Add(&script[i])
	}
	for i := range resent {
		resent[i].Resend = true
		x.Add(&resent[i])
	}
	exp := x.Expectation()

	assert.Equal(t, int64(21), exp.EventsSent)
	assert.Equal(t, int64(19), exp.UniqueEvents)
	assert.Equal(t, int64(2), exp.Resent)
	require.Len(t, exp.Months, 2)
	assert.Equal(t, "2025-11", exp.Months[0].Month)
	assert.Equal(t, int64(1), exp.Months[0].Raw.TotalCustomersServed)

	r := exp.Months[1].Raw
	// session.start in December: e1, e4, e12, e13 = 4; escalations: e6 = 1.
	assert.Equal(t, int64(4), r.TotalCustomersServed)
	assert.Equal(t, int64(1), r.SessionsEscalated)
	assert.Equal(t, int64(3), r.AIResolvedSessions)
	require.NotNil(t, r.AIResolutionRate)
	assert.InDelta(t, 0.75, *r.AIResolutionRate, 0)
	assert.InDelta(t, 30.0, r.CostSaved, 0) // 3 × ¥10
	// Response times: 1000.5 + 2000.25 + 0.0000005 ms = 1000500000 + 2000250000 + 1 micro.
	assert.Equal(t, Avg{Count: 3, SumMicro: counters.SumOf(3000750001), Avg: r.ResponseTimeMs.Avg}, r.ResponseTimeMs)
	assert.InDelta(t, 3000.750001/3, *r.ResponseTimeMs.Avg, 1e-9)
	assert.Equal(t, int64(3), r.Messages, "e2, e3, e5 (the resend of e2 counts once)")
	// Agent workbench: one takeover (30 s), one release (180 s).
	assert.Equal(t, int64(1), r.SessionsHandled)
	assert.Equal(t, counters.SumOf(30_000_000), r.WaitDurationSeconds.SumMicro)
	assert.Equal(t, int64(1), r.HandleDurationSeconds.Count)
	assert.Equal(t, int64(1), r.SessionsReleased)
	assert.Equal(t, counters.SumOf(180_000_000), r.HandleDurationSeconds.SumMicro)
	// Tickets: 3 closed, 2 with sla_met; 1.5 + 10.25 + 2 = 13.75 h.
	assert.Equal(t, int64(3), r.TicketsResolved)
	assert.Equal(t, int64(1), r.TicketsCreated)
	assert.Equal(t, int64(2), r.SLAMet)
	assert.InDelta(t, 2.0/3.0, *r.SLAMetRate, 1e-15)
	assert.Equal(t, counters.SumOf(13_750_000), r.ResolutionDurationHours.SumMicro)
	assert.Equal(t, int64(3), r.ResolutionDurationHours.Count)

	// Per agent. a1: takeover (30 s), 1 message, 1 transfer, 1 logout
	// (32400 s), ticket t1. a2: 1 message, release (180 s), ticket t2.
	require.Len(t, r.Agents, 2)
	a1, a2 := r.Agents[0], r.Agents[1]
	assert.Equal(t, "a1", a1.AgentID)
	assert.Equal(t, int64(1), a1.SessionsHandled)
	assert.Equal(t, counters.SumOf(30_000_000), a1.WaitDurationSeconds.SumMicro)
	assert.Equal(t, int64(1), a1.Messages)
	assert.Equal(t, int64(1), a1.Transfers)
	assert.Equal(t, counters.SumOf(32_400_000_000), a1.OnlineDurationSeconds.SumMicro)
	assert.Equal(t, int64(1), a1.TicketsClosed)
	assert.Equal(t, int64(0), a1.HandleDurationSeconds.Count)
	assert.Nil(t, a1.HandleDurationSeconds.Avg)
	assert.Equal(t, "a2", a2.AgentID)
	assert.Equal(t, int64(0), a2.SessionsHandled)
	assert.Equal(t, int64(1), a2.Messages)
	assert.Equal(t, int64(0), a2.Transfers)
	assert.Equal(t, counters.SumOf(180_000_000), a2.HandleDurationSeconds.SumMicro)
	assert.Equal(t, int64(1), a2.TicketsClosed)

	// Counter rows as Redis/the rollups keep them: ticket.closed of Dec 2 for
	// all agents = 2 events, 11.75 h, 1 flag; per agent a1 = 1 event, 1.5 h.
	daily := map[counters.Cell]counters.Values{}
	for _, row := range exp.Months[1].DailyRows {
		daily[row.Cell] = row.Values
	}
	assert.Equal(t, counters.Values{Events: 2, MeasureCount: 2, MeasureSumMicro: counters.SumOf(11_750_000), FlagTrue: 1},
		daily[counters.Cell{Date: "2025-12-02", Event: "ticket.closed"}])
	assert.Equal(t, counters.Values{Events: 1, MeasureCount: 1, MeasureSumMicro: counters.SumOf(1_500_000), FlagTrue: 1},
		daily[counters.Cell{Date: "2025-12-02", AgentID: "a1", Event: "ticket.closed"}])
	assert.Equal(t, counters.Values{Events: 4},
		daily[counters.Cell{Date: "2025-12-01", Event: "session.start"}], "e1, e4, e12 and e13")
	monthly := map[counters.Cell]counters.Values{}
	for _, row := range exp.Months[1].Rows {
		monthly[row.Cell] = row.Values
	}
	assert.Equal(t, counters.Values{Events: 3, MeasureCount: 3, MeasureSumMicro: counters.SumOf(13_750_000), FlagTrue: 2},
		monthly[counters.Cell{Date: "2025-12", Event: "ticket.closed"}])
}

// TestEmptyMonthHasNoNaN: a month with no sessions or tickets gives nulls.
func TestEmptyMonthHasNoNaN(t *testing.T) {
	x := NewExpector(shanghai, 10)
	e := ev("agent.login", "x", "2025-12-01 09:00:00", s("agent_id", "a1"))
	x.Add(&e)
	r := x.Expectation().Months[0].Raw
	assert.Nil(t, r.AIResolutionRate)
	assert.Nil(t, r.SLAMetRate)
	assert.Nil(t, r.ResponseTimeMs.Avg)
	assert.Zero(t, r.CostSaved)
}

// TestCatalogMeasuresAreSpecAttributes holds the catalog to what rawOf
// assumes.
func TestCatalogMeasuresAreSpecAttributes(t *testing.T) {
	c := catalog.Default()
	for name, want := range map[string][2]string{
		"session.message":        {"response_time_ms", ""},
		"agent.session_takeover": {"wait_duration_seconds", ""},
		"agent.session_release":  {"handle_duration_seconds", ""},
		"agent.logout":           {"online_duration_seconds", ""},
		"ticket.closed":          {"resolution_duration_hours", "sla_met"},
	} {
		e, ok := c.Lookup(name)
		require.True(t, ok, name)
		assert.Equal(t, want[0], e.Measure, name)
		assert.Equal(t, want[1], e.Flag, name)
	}
}

func smallConfig(seed uint64, resend float64) Config {
	from, to, err := DayRange("2025-12-05", "2025-12-06", shanghai) // a Friday and a Saturday
	if err != nil {
		panic(err)
	}
	return Config{From: from, To: to, Location: shanghai, Seed: seed, Scale: 40, ResendFraction: resend}
}

func TestSeedRepeatability(t *testing.T) {
	ids := func(seed uint64) []string {
		g, err := NewGenerator(smallConfig(seed, 0.1))
		require.NoError(t, err)
		var out []string
		for _, d := range g.Days() {
			for _, e := range g.Day(d) {
				out = append(out, e.ID+" "+e.Name+" "+e.Time.String())
			}
		}
		return out
	}
	a, b, c := ids(7), ids(7), ids(8)
	require.NotEmpty(t, a)
	assert.Equal(t, a, b, "same seed, same events and ids")
	assert.NotEqual(t, a[0], c[0], "another seed, other ids")

	// A day's events do not depend on the range around it.
	g, err := NewGenerator(smallConfig(7, 0.1))
	require.NoError(t, err)
	day2 := g.Day(g.Days()[1])
	cfg := smallConfig(7, 0.1)
	cfg.From = g.Days()[1]
	g2, err := NewGenerator(cfg)
	require.NoError(t, err)
	assert.Equal(t, day2, g2.Day(g2.Days()[0]))
}

func TestGeneratedStreamShape(t *testing.T) {
	g, err := NewGenerator(smallConfig(3, 0.2))
	require.NoError(t, err)
	cfg := g.Config()
	first := map[string]Event{}
	var resends int
	for _, d := range g.Days() {
		for _, e := range g.Day(d) {
			id, err := uuid.Parse(e.ID)
			require.NoError(t, err)
			assert.Equal(t, uuid.Version(7), id.Version())
			sec, nsec := id.Time().UnixTime()
			assert.Equal(t, e.Time.UnixMilli(), time.Unix(sec, nsec).UnixMilli(), "the id's time is the event's")
			assert.False(t, e.Time.Before(cfg.From) || !e.Time.Before(cfg.To), "%s at %v outside the range", e.Name, e.Time)
			p, ok := bizevents.ProductOf(e.Name)
			require.True(t, ok, e.Name)
			assert.Equal(t, p, e.Product)
			if orig, seen := first[e.ID]; seen {
				resends++
				assert.True(t, e.Resend)
				orig.Resend = true
				assert.Equal(t, orig, e, "a resend is the same event")
				continue
			}
			assert.False(t, e.Resend)
			first[e.ID] = e
		}
	}
	assert.Positive(t, resends)
	// About 20 % resent (binomial; ±5 points is far outside 4 sigma here).
	frac := float64(resends) / float64(len(first))
	assert.InDelta(t, 0.2, frac, 0.05, "resend fraction %.3f of %d", frac, len(first))
}

// recorder is an in-memory sdklog.Exporter.
type recorder struct {
	mu   sync.Mutex
	recs []sdklog.Record
}

func (r *recorder) Export(_ context.Context, recs []sdklog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range recs {
		r.recs = append(r.recs, x.Clone())
	}
	return nil
}
func (*recorder) Shutdown(context.Context) error   { return nil }
func (*recorder) ForceFlush(context.Context) error { return nil }

// TestRunRecountsRecords sends a seeded two-day run through the real SDK
// pipeline (BatchProcessor included) into memory, then recounts the
// recorded records independently of the Expector and compares.
func TestRunRecountsRecords(t *testing.T) {
	chat, desk := &recorder{}, &recorder{}
	p, err := NewPipeline(map[string]sdklog.Exporter{bizevents.ProductAIChatbot: chat, bizevents.ProductAgentWorkbench: desk})
	require.NoError(t, err)
	g, err := NewGenerator(smallConfig(11, 0.05))
	require.NoError(t, err)
	var progress strings.Builder
	res, err := Run(context.Background(), g, p, RunOptions{Progress: &progress})
	require.NoError(t, err)
	exp := res.Expectation

	all := append(append([]sdklog.Record(nil), chat.recs...), desk.recs...)
	assert.Equal(t, exp.EventsSent, int64(len(all)))
	assert.Equal(t, exp.EventsSent, res.Sent)
	assert.Zero(t, res.Failed)
	assert.Contains(t, progress.String(), "simulate: done: "+Thousands(exp.EventsSent)+" events sent")

	type rec struct {
		name  string
		attrs map[string]attribute.Value
		ts    time.Time
	}
	byID := map[string]rec{}
	dups := 0
	for _, r := range all {
		attrs := map[string]attribute.Value{}
		r.WalkAttributes(func(kv attribute.KeyValue) bool { attrs[string(kv.Key)] = kv.Value; return true })
		id := attrs["event.id"].AsString()
		require.NotEmpty(t, id)
		svc, _ := r.Resource().Set().Value("service.name")
		want, _ := bizevents.ProductOf(r.EventName())
		require.Equal(t, want, svc.AsString(), "%s sent by the wrong product", r.EventName())
		got := rec{r.EventName(), attrs, r.Timestamp()}
		if prev, ok := byID[id]; ok {
			dups++
			assert.Equal(t, prev, got, "a resend carries the same id and content")
			continue
		}
		byID[id] = got
	}
	assert.Equal(t, exp.Resent, int64(dups))
	assert.Positive(t, dups)
	assert.Equal(t, exp.UniqueEvents, int64(len(byID)))

	// Recount docs/spec.md §8 over the distinct records.
	var starts, escal, takeovers, closed, slaMet int64
	var respSum, waitSum, resSum int64
	perAgentMsgs := map[string]int64{}
	for _, r := range byID {
		micro := func(k string) int64 {
			v, ok := r.attrs[k]
			require.True(t, ok, "%s lacks %s", r.name, k)
			require.Equal(t, attribute.FLOAT64, v.Type(), "%s.%s is a double", r.name, k)
			m, _ := catalog.Micro(v.AsFloat64())
			return m
		}
		switch r.name {
		case "session.start":
			starts++
		case "session.escalate":
			escal++
		case "session.message":
			respSum += micro("response_time_ms")
		case "agent.session_takeover":
			takeovers++
			waitSum += micro("wait_duration_seconds")
		case "agent.session_message":
			perAgentMsgs[r.attrs["agent_id"].AsString()]++
		case "ticket.closed":
			closed++
			resSum += micro("resolution_duration_hours")
			if r.attrs["sla_met"].AsBool() {
				slaMet++
			}
		}
	}
	require.Len(t, exp.Months, 1)
	raw := exp.Months[0].Raw
	assert.Equal(t, starts, raw.TotalCustomersServed)
	assert.Equal(t, escal, raw.SessionsEscalated)
	assert.Equal(t, counters.SumOf(respSum), raw.ResponseTimeMs.SumMicro)
	assert.Equal(t, takeovers, raw.SessionsHandled)
	assert.Equal(t, counters.SumOf(waitSum), raw.WaitDurationSeconds.SumMicro)
	assert.Equal(t, closed, raw.TicketsResolved)
	assert.Equal(t, slaMet, raw.SLAMet)
	assert.Equal(t, counters.SumOf(resSum), raw.ResolutionDurationHours.SumMicro)
	for _, a := range raw.Agents {
		assert.Equal(t, perAgentMsgs[a.AgentID], a.Messages, a.AgentID)
	}
	// The run is big enough to exercise every path.
	assert.Greater(t, starts, int64(50))
	assert.Positive(t, escal)
	assert.Positive(t, takeovers)
	assert.Positive(t, closed)
	assert.Positive(t, exp.EventsByName["agent.session_transfer"]+exp.EventsByName["agent.session_release"])
}

// TestRunOverOTLPHTTP sends a small run through the real otlploghttp
// exporter to an in-test OTLP endpoint that decodes the protobuf requests.
func TestRunOverOTLPHTTP(t *testing.T) {
	var mu sync.Mutex
	counts := map[string]int{}                   // records by service.name
	ids := map[string]int{}                      // records by event.id
	uniqueBy := map[string]map[string]struct{}{} // distinct ids by service.name
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/logs" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "unexpected "+r.URL.Path+" "+r.Header.Get("Content-Type"), http.StatusBadRequest)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req := plogotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		rls := req.Logs().ResourceLogs()
		for i := range rls.Len() {
			svc, _ := rls.At(i).Resource().Attributes().Get("service.name")
			sls := rls.At(i).ScopeLogs()
			for j := range sls.Len() {
				lrs := sls.At(j).LogRecords()
				for k := range lrs.Len() {
					lr := lrs.At(k)
					counts[svc.Str()]++
					id, _ := lr.Attributes().Get("event.id")
					ids[id.Str()]++
					if uniqueBy[svc.Str()] == nil {
						uniqueBy[svc.Str()] = map[string]struct{}{}
					}
					uniqueBy[svc.Str()][id.Str()] = struct{}{}
					if lr.EventName() == "" || lr.Timestamp() == 0 {
						counts["malformed"]++
					}
				}
			}
		}
		mu.Unlock()
		resp, _ := plogotlp.NewExportResponse().MarshalProto()
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(resp)
	}))
	defer srv.Close()

	p, err := NewOTLPPipeline(context.Background(), OTLPConfig{Endpoint: srv.URL})
	require.NoError(t, err)
	cfg := smallConfig(5, 0.1)
	cfg.To = cfg.From.AddDate(0, 0, 1)
	g, err := NewGenerator(cfg)
	require.NoError(t, err)
	res, err := Run(context.Background(), g, p, RunOptions{})
	require.NoError(t, err)
	exp := res.Expectation

	mu.Lock()
	defer mu.Unlock()
	assert.Zero(t, counts["malformed"])
	assert.Equal(t, exp.EventsSent, int64(counts["ai_chatbot"]+counts["agent_workbench"]))
	var chat int64
	for name, n := range exp.EventsByName {
		if p, _ := bizevents.ProductOf(name); p == "ai_chatbot" {
			chat += n
		}
	}
	dupIDs := 0
	for _, n := range ids {
		if n > 1 {
			dupIDs += n - 1
		}
	}
	assert.Equal(t, exp.UniqueEvents, int64(len(ids)))
	assert.Equal(t, exp.Resent, int64(dupIDs))
	assert.Positive(t, dupIDs)
	// Each product's distinct ids are exactly its unique events.
	assert.Equal(t, chat, int64(len(uniqueBy["ai_chatbot"])))
	assert.Equal(t, exp.UniqueEvents-chat, int64(len(uniqueBy["agent_workbench"])))
}

func TestRunReportsUndelivered(t *testing.T) {
	var hits sync.Map
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Store(r.URL.Path, true)
		http.Error(w, "nope", http.StatusBadRequest) // permanent: not retried
	}))
	defer srv.Close()
	// The host:port form (plain HTTP, default path), as --endpoint localhost:4318.
	p, err := NewOTLPPipeline(context.Background(), OTLPConfig{Endpoint: strings.TrimPrefix(srv.URL, "http://")})
	require.NoError(t, err)
	cfg := smallConfig(5, 0)
	cfg.Scale = 3
	cfg.To = cfg.From.AddDate(0, 0, 1)
	g, err := NewGenerator(cfg)
	require.NoError(t, err)
	res, err := Run(context.Background(), g, p, RunOptions{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "events were not delivered")
	assert.Equal(t, res.Expectation.EventsSent, res.Failed)
	assert.Zero(t, res.Sent)
	_, ok := hits.Load("/v1/logs")
	assert.True(t, ok, "the exporter posted to /v1/logs")
}

func TestRangesAndValidation(t *testing.T) {
	from, to, err := MonthRange("2025-12", shanghai)
	require.NoError(t, err)
	assert.Equal(t, "2025-12-01T00:00:00+08:00", from.Format(time.RFC3339))
	assert.Equal(t, "2026-01-01T00:00:00+08:00", to.Format(time.RFC3339))
	_, _, err = MonthRange("2025-13", shanghai)
	require.Error(t, err)
	from, to, err = DayRange("2025-12-05", "2025-12-05", shanghai)
	require.NoError(t, err)
	assert.Equal(t, 24*time.Hour, to.Sub(from))

	for _, c := range []Config{
		{From: to, To: from},
		{From: from, To: to, ResendFraction: 1.5},
		{From: from, To: to, Scale: -1},
	} {
		_, err := NewGenerator(c)
		require.Error(t, err)
	}
	g, err := NewGenerator(Config{From: from, To: to})
	require.NoError(t, err)
	assert.Equal(t, 200, g.Config().Scale)
	assert.Equal(t, 10, g.Config().Agents)
}

func TestFutureEventsAreDropped(t *testing.T) {
	cfg := smallConfig(1, 0)
	cfg.Now = cfg.From.Add(12 * time.Hour)
	g, err := NewGenerator(cfg)
	require.NoError(t, err)
	var n int
	for _, d := range g.Days() {
		for _, e := range g.Day(d) {
			n++
			assert.True(t, e.Time.Before(cfg.Now), "%s at %v", e.Name, e.Time)
		}
	}
	assert.Positive(t, n)
}

func TestThousands(t *testing.T) {
	for in, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 12345: "12,345", 1234567: "1,234,567", -1234: "-1,234"} {
		assert.Equal(t, want, Thousands(in))
	}
}
