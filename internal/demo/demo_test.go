package demo

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.uber.org/goleak"

	"github.com/otelcol-analytics/otelcol-analytics/internal/collectorproc"
	"github.com/otelcol-analytics/otelcol-analytics/internal/simulate"
	"github.com/otelcol-analytics/otelcol-analytics/sdk/bizevents"
	"github.com/otelcol-analytics/otelcol-analytics/stats"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var loc = simulate.DefaultLocation()

// month is a small expected December 2025: 2 sessions on Dec 1 (one
// escalated, taken over by a1 after 30 s and released after 120 s), one
// ticket created and closed by a1 within its SLA in 2.5 h, and a1's logout.
func month(t *testing.T) *simulate.Month {
	t.Helper()
	at := time.Date(2025, 12, 1, 10, 0, 0, 0, loc)
	s, f, b := attribute.String, attribute.Float64, attribute.Bool
	ev := func(name, id string, kv ...attribute.KeyValue) simulate.Event {
		p, _ := bizevents.ProductOf(name)
		return simulate.Event{Name: name, Product: p, ID: id, Time: at, Attrs: kv}
	}
	evs := []simulate.Event{
		ev("session.start", "1", s("session_id", "s1")),
		ev("session.start", "2", s("session_id", "s2")),
		ev("session.message", "3", s("session_id", "s1"), f("response_time_ms", 900)),
		ev("session.escalate", "4", s("session_id", "s2")),
		ev("agent.session_takeover", "5", s("agent_id", "a1"), s("session_id", "s2"), f("wait_duration_seconds", 30)),
		ev("agent.session_release", "6", s("agent_id", "a1"), s("session_id", "s2"), f("handle_duration_seconds", 120)),
		ev("ticket.created", "7", s("ticket_id", "t1")),
		ev("ticket.closed", "8", s("ticket_id", "t1"), s("agent_id", "a1"), f("resolution_duration_hours", 2.5), b("sla_met", true)),
		ev("agent.logout", "9", s("agent_id", "a1"), f("online_duration_seconds", 3600)),
	}
	x := simulate.NewExpector(loc, 10)
	for i := range evs {
		x.Add(&evs[i])
	}
	exp := x.Expectation()
	require.Len(t, exp.Months, 1)
	return &exp.Months[0]
}

func TestCompareCaseStudy(t *testing.T) {
	m := month(t)
	now := time.Date(2026, 1, 10, 0, 0, 0, 0, loc)
	const written = "2026-01-02T03:04:05+08:00"
	want, err := ExpectedCaseStudy(m, loc, 10, written, now)
	require.NoError(t, err)
	assert.Equal(t, "50.0%", want.AIChatbot.AIResolutionRate)
	assert.Equal(t, "0.9秒", want.AIChatbot.AvgResponseTime)
	assert.Equal(t, "¥10", want.AIChatbot.CostSaved)
	assert.Equal(t, "2分钟", want.AgentWorkbench.AvgHandleTime)
	assert.Contains(t, want.Story, "数据最后写入于 2026-01-02 03:04:05（Asia/Shanghai）")

	body := func(mut func(*stats.CaseStudy)) []byte {
		cs := want
		mut(&cs)
		data, err := json.Marshal(cs)
		require.NoError(t, err)
		return data
	}
	bad := func(fields []Field) map[string][2]string {
		out := map[string][2]string{}
		for _, f := range Failed(fields) {
			out[f.Name] = [2]string{f.Want, f.Got}
		}
		return out
	}

	t.Run("equal", func(t *testing.T) {
		fields, err := CompareCaseStudy(want, body(func(*stats.CaseStudy) {}))
		require.NoError(t, err)
		assert.Len(t, fields, 34)
		assert.Empty(t, Failed(fields))
		assert.Equal(t, Field{Name: "period", Want: "2025年12月", Got: "2025年12月", OK: true}, fields[0])
		last := fields[len(fields)-1]
		assert.Equal(t, Field{Name: "data.last_written_at", Want: "(the server's)", Got: written, OK: true}, last)
	})
	t.Run("a display string, a raw number, the narrative", func(t *testing.T) {
		fields, err := CompareCaseStudy(want, body(func(cs *stats.CaseStudy) {
			cs.Tickets.SLAMetRate = "99.0%"
			cs.Raw.AIChatbot.Messages = 2
			cs.Story = strings.Replace(cs.Story, "2 位客户", "3 位客户", 1)
		}))
		require.NoError(t, err)
		assert.Equal(t, map[string][2]string{
			"tickets.sla_met_rate":    {"100.0%", "99.0%"},
			"raw.ai_chatbot.messages": {"1", "2"},
			"story":                   {wantNarrative(want), strings.Replace(wantNarrative(want), "2 位客户", "3 位客户", 1)},
		}, bad(fields))
	})
	t.Run("the data status", func(t *testing.T) {
		fields, err := CompareCaseStudy(want, body(func(cs *stats.CaseStudy) {
			cs.Data.RejectedEvents = 3
			cs.Story = strings.Replace(cs.Story, "被拒绝未计入的事件 0 条", "被拒绝未计入的事件 3 条", 1)
		}))
		require.NoError(t, err)
		got := bad(fields)
		assert.Len(t, got, 2)
		assert.Equal(t, [2]string{"0", "3"}, got["data.rejected_events"])
		assert.Contains(t, got["story (data status)"][1], "被拒绝未计入的事件 3 条")
	})
	t.Run("no last write", func(t *testing.T) {
		fields, err := CompareCaseStudy(want, body(func(cs *stats.CaseStudy) { cs.Data.LastWrittenAt = nil }))
		require.NoError(t, err)
		assert.Contains(t, bad(fields), "data.last_written_at")
	})
	t.Run("a missing and an unexpected field", func(t *testing.T) {
		var doc map[string]any
		require.NoError(t, json.Unmarshal(body(func(*stats.CaseStudy) {}), &doc))
		delete(doc, "period")
		doc["extra"] = []any{1.5, "x"}
		data, err := json.Marshal(doc)
		require.NoError(t, err)
		fields, err := CompareCaseStudy(want, data)
		require.NoError(t, err)
		assert.Equal(t, map[string][2]string{
			"period":   {"2025年12月", "(missing)"},
			"extra[0]": {"(not expected)", "1.5"},
			"extra[1]": {"(not expected)", "x"},
		}, bad(fields))
	})
	t.Run("not JSON", func(t *testing.T) {
		_, err := CompareCaseStudy(want, []byte(`{"period": `))
		require.Error(t, err)
	})
}

func wantNarrative(cs stats.CaseStudy) string {
	n, _ := splitStory(cs.Story)
	return n
}

func ptr(f float64) *float64 { return &f }

func TestCheckEndpoints(t *testing.T) {
	m := month(t)
	b := &endpointBodies{
		Summary: stats.SummaryJSON{
			TotalCustomersServed: 2, Escalations: 1, AIResolved: 1, Messages: 1,
			AIResolutionRate: stats.Metric{Value: ptr(0.5)},
			AvgResponseTime:  stats.Metric{Value: ptr(900)},
			CostSaved:        stats.Metric{Value: ptr(10)},
		},
		Tickets: stats.TicketsJSON{
			TicketsCreated: 1, TicketsResolved: 1, SLAMet: 1,
			SLAMetRate: stats.Metric{Value: ptr(1)}, AvgResolutionTime: stats.Metric{Value: ptr(2.5)},
		},
		Agents: stats.AgentsJSON{Agents: []stats.AgentJSON{{
			AgentID: "a1", SessionsHandled: 1, AvgFirstResponse: stats.Metric{Value: ptr(30)},
			SessionsReleased: 1, AvgHandleTime: stats.Metric{Value: ptr(120)},
			OnlineTime: stats.Metric{Value: ptr(3600)}, TicketsClosed: 1,
		}}},
		Daily: stats.DailyJSON{Days: []stats.DayJSON{
			{
				Date: "2025-12-01", TotalCustomersServed: 2, Escalations: 1, Messages: 1, SessionsHandled: 1,
				SessionsReleased: 1, TicketsCreated: 1, TicketsResolved: 1, SLAMet: 1,
			},
			{Date: "2025-12-02"},
		}},
	}
	fields := checkEndpoints(b, m, 1000)
	assert.Len(t, fields, 7+5+1+8+2*10)
	assert.Empty(t, Failed(fields))

	b.Summary.AvgResponseTime.Value = ptr(900.0000001)
	b.Agents.Agents[0].Transfers = 1
	b.Daily.Days[1].TicketsCreated = 4
	b.Tickets.SLAMetRate.Value = nil
	var names []string
	for _, f := range Failed(checkEndpoints(b, m, 1000)) {
		names = append(names, f.Name+" "+f.Want+"≠"+f.Got)
	}
	assert.Equal(t, []string{
		"summary.avg_response_time.value 900≠900.0000001",
		"tickets.sla_met_rate.value 1≠null",
		"agents[a1].transfers 0≠1",
		"daily[2025-12-02].tickets_created 0≠4",
	}, names)

	// A day of the expectation the server does not list.
	b.Daily.Days = b.Daily.Days[1:]
	assert.Contains(t, Failed(checkEndpoints(b, m, 1000)), Field{Name: "daily[2025-12-01]", Want: "present", Got: "missing"})
}

func TestWriteTable(t *testing.T) {
	var buf bytes.Buffer
	WriteTable(&buf, []Field{
		{Name: "period", Want: "2025年12月", Got: "2025年12月", OK: true},
		{Name: "raw.x", Want: "1", Got: "2"},
		{Name: "story", Want: "本月 AI 客服共服务 5,420 位客户", Got: "本月 AI 客服共服务 5,420 位客户", OK: true},
	}, 16)
	assert.Equal(t, ""+
		"field  | expected        | got             | ✓/✗\n"+
		"-------+-----------------+-----------------+----\n"+
		"period | 2025年12月      | 2025年12月      | ✓\n"+
		"raw.x  | 1               | 2               | ✗\n"+
		"story  | 本月 AI 客服共… | 本月 AI 客服共… | ✓\n", buf.String(), "15 columns: 本月 AI 客服共 is 14, … one")
}

func TestParseFlags(t *testing.T) {
	o, err := ParseFlags(nil, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, 200, o.Scale)
	assert.InDelta(t, 0.05, o.ResendFraction, 0)
	assert.Equal(t, "demo", o.Schema)
	assert.Equal(t, "demo:", o.RedisPrefix)
	assert.Equal(t, "localhost:8090", o.StatsEndpoint)
	assert.InDelta(t, 10.0, o.CostPerResolution, 0)
	assert.False(t, o.KeepRunning)
	assert.Equal(t, 9600*time.Hour, o.DailyTTL, "the collector's default")

	o, err = ParseFlags([]string{"--month", "2025-12", "--scale", "50", "--seed", "9", "--resend-fraction", "0.2", "--keep-running", "--daily-ttl", "0"}, io.Discard)
	require.NoError(t, err)
	assert.Zero(t, o.DailyTTL)
	assert.Equal(t, "2025-12", o.Month)
	assert.Equal(t, 50, o.Scale)
	assert.Equal(t, uint64(9), o.Seed)
	assert.InDelta(t, 0.2, o.ResendFraction, 0)
	assert.True(t, o.KeepRunning)

	_, err = ParseFlags([]string{"--scael", "5"}, io.Discard)
	require.Error(t, err)
	_, err = ParseFlags([]string{"-h"}, io.Discard)
	require.ErrorIs(t, err, flag.ErrHelp)
	_, err = ParseFlags([]string{"extra"}, io.Discard)
	require.Error(t, err)
}

func TestValidateRefusesTheUsersData(t *testing.T) {
	for name, mut := range map[string]func(*Options){
		"public schema":      func(o *Options) { o.Schema = "public" },
		"empty schema":       func(o *Options) { o.Schema = "" },
		"the default prefix": func(o *Options) { o.RedisPrefix = "analytics:" },
		"scale":              func(o *Options) { o.Scale = 0 },
		"resend fraction":    func(o *Options) { o.ResendFraction = 1.5 },
		"daily ttl":          func(o *Options) { o.DailyTTL = -time.Hour },
	} {
		t.Run(name, func(t *testing.T) {
			o := DefaultOptions()
			mut(&o)
			require.Error(t, o.validate())
		})
	}
	o := DefaultOptions()
	require.NoError(t, o.validate())
}

func TestCollectorEnv(t *testing.T) {
	env := collectorproc.Env([]string{"PATH=/bin", "ANALYTICS_CATALOG_FILE=/x.yaml", "HOME=/root", "ANALYTICS_REDIS_PREFIX=mine:"},
		map[string]string{"ANALYTICS_REDIS_PREFIX": "demo:"})
	assert.ElementsMatch(t, []string{"PATH=/bin", "HOME=/root", "ANALYTICS_REDIS_PREFIX=demo:"}, env)
}

func TestWithSearchPath(t *testing.T) {
	assert.Equal(t, "postgres://postgres@127.0.0.1:5432/analytics?search_path=demo&sslmode=disable",
		withSearchPath("postgres://postgres@127.0.0.1:5432/analytics?sslmode=disable", "demo"))
	assert.Equal(t, "host=/tmp dbname=analytics search_path=demo", withSearchPath("host=/tmp dbname=analytics", "demo"))
}
