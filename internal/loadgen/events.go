package loadgen

import (
	"errors"
	"runtime"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
)

// The products and the probe event, as the default catalog names them.
const (
	ProductChatbot   = "ai_chatbot"
	ProductWorkbench = "agent_workbench"
	// ProbeEvent is the event a request's probe is (see Generator.Probes).
	ProbeEvent = "agent.session_takeover"
)

// mix is the share of each event in every 20 consecutive events: a chat
// service's day, messages first.
var mix = [20]string{
	"session.message", "session.start", "session.message", "agent.session_takeover",
	"session.message", "ticket.closed", "session.end", "session.message",
	"query.order", "session.message", "session.start", "agent.session_takeover",
	"session.message", "session.end", "ticket.closed", "session.message",
	"session.start", "query.order", "session.message", "session.end",
}

// Generator builds the requests of one phase: request k holds events
// k·PerRequest … (k+1)·PerRequest-1 of the phase, each a valid event of the
// default catalog with a unique event.id (IDs), dated in Month. The same k
// always gives the same request.
type Generator struct {
	// IDs makes the events' ids.
	IDs IDSpace
	// PerRequest is the number of events in a request (R).
	PerRequest int
	// Month is any time in the business month the events fall in; they are
	// spread over its days (in Location).
	Month time.Time
	// SpreadDays, when positive, spreads the events over the first
	// SpreadDays days of the month only (1: every event on one day, as
	// live traffic is); 0 or more than the month has: the whole month.
	SpreadDays int
	// Location is the business time zone (default Asia/Shanghai).
	Location *time.Location
	// Probes makes the first event of every request an
	// agent.session_takeover by an agent of its own (ProbeAgent), dated
	// ProbeDay, so that its arrival in the Redis per-agent counters can be
	// seen. Without it the first event is whatever the mix says.
	Probes bool
	// ProbeTag is part of the probe agents' ids (default the phase).
	ProbeTag string
}

// Request is one pre-encoded OTLP logs request.
type Request struct {
	// Index is k, the request's number in its phase.
	Index int
	// First is the sequence number of its first event; it holds Events
	// events First … First+Events-1.
	First  uint64
	Events int
	// Body is the ExportLogsServiceRequest in protobuf, for OTLP/HTTP and
	// OTLP gRPC alike.
	Body []byte
	// SampleID and SampleProduct are the first event's id and product: the
	// event whose arrival in PostgreSQL measures the request's latency.
	SampleID, SampleProduct string
	// ProbeAgent is the first event's agent when the generator makes probes.
	ProbeAgent string
}

func (g *Generator) location() *time.Location {
	if g.Location != nil {
		return g.Location
	}
	loc, err := time.LoadLocation(counters.DefaultTimeZone)
	if err != nil {
		return time.FixedZone("CST", 8*3600)
	}
	return loc
}

// monthStart is the first instant of the business month.
func (g *Generator) monthStart() time.Time {
	loc := g.location()
	y, m, _ := g.Month.In(loc).Date()
	return time.Date(y, m, 1, 0, 0, 0, 0, loc)
}

// Days are the business days the events fall on, as YYYY-MM-DD.
func (g *Generator) Days() []string {
	start := g.monthStart()
	end := g.spreadEnd()
	var out []string
	for d := start; d.Before(end); d = d.AddDate(0, 0, 1) {
		out = append(out, d.Format(time.DateOnly))
	}
	return out
}

// spreadEnd is the end of the days the events are spread over.
func (g *Generator) spreadEnd() time.Time {
	start := g.monthStart()
	end := start.AddDate(0, 1, 0)
	if g.SpreadDays > 0 && start.AddDate(0, 0, g.SpreadDays).Before(end) {
		end = start.AddDate(0, 0, g.SpreadDays)
	}
	return end
}

// ProbeDay is the business day of every probe event.
func (g *Generator) ProbeDay() string { return g.monthStart().Format(time.DateOnly) }

// ProbeAgent is the agent id of request k's probe event.
func (g *Generator) ProbeAgent(k int) string {
	tag := g.ProbeTag
	if tag == "" {
		tag = PhaseHex(g.IDs.Phase)
	}
	return "probe-" + tag + "-" + strconv.Itoa(k)
}

// eventTime spreads the events over the month (or SpreadDays): a
// multiplicative hash of the sequence number picks the second.
func (g *Generator) eventTime(seq uint64) time.Time {
	start := g.monthStart()
	secs := uint64(g.spreadEnd().Sub(start) / time.Second) //nolint:gosec // a month of seconds at most
	off := time.Duration((seq * 2654435761) % secs)        //nolint:gosec // below a month of seconds
	return start.Add(off * time.Second)
}

// Logs builds request k as plog.Logs, one resource per product.
func (g *Generator) Logs(k int) plog.Logs {
	ld := plog.NewLogs()
	bot := ld.ResourceLogs().AppendEmpty()
	bot.Resource().Attributes().PutStr("service.name", ProductChatbot)
	bot.Resource().Attributes().PutStr("host.name", "chat-1")
	botSL := bot.ScopeLogs().AppendEmpty()
	botSL.Scope().SetName("loadgen")
	botRecs := botSL.LogRecords()
	wb := ld.ResourceLogs().AppendEmpty()
	wb.Resource().Attributes().PutStr("service.name", ProductWorkbench)
	wb.Resource().Attributes().PutStr("host.name", "desk-1")
	wbSL := wb.ScopeLogs().AppendEmpty()
	wbSL.Scope().SetName("loadgen")
	wbRecs := wbSL.LogRecords()

	first := uint64(k) * uint64(g.PerRequest) //nolint:gosec // k ≥ 0
	for i := range g.PerRequest {
		seq := first + uint64(i) //nolint:gosec // i ≥ 0
		name := mix[seq%uint64(len(mix))]
		ts := g.eventTime(seq)
		if i == 0 && g.Probes {
			name = ProbeEvent
			ts = g.monthStart().Add(12 * time.Hour)
		}
		var lr plog.LogRecord
		if catalogProduct(name) == ProductChatbot {
			lr = botRecs.AppendEmpty()
		} else {
			lr = wbRecs.AppendEmpty()
		}
		lr.SetEventName(name)
		lr.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		a := lr.Attributes()
		a.PutStr(catalog.WireEventID, g.IDs.ID(seq))
		n := int(seq % 1_000_003) //nolint:gosec // below 2^31
		session := "sess-" + strconv.FormatUint(seq/9, 10)
		agent := "agent-" + strconv.Itoa(n%50)
		if i == 0 && g.Probes {
			agent = g.ProbeAgent(k)
		}
		switch name {
		case "session.start":
			a.PutStr("session_id", session)
			a.PutStr("customer_id", "cust-"+strconv.Itoa(n%9973))
			a.PutStr("channel", [...]string{"web", "app", "wechat"}[n%3])
		case "session.message":
			a.PutStr("session_id", session)
			a.PutDouble("response_time_ms", float64(200+n%2800)+0.25) // 0.2–3 s
		case "session.end":
			a.PutStr("session_id", session)
			a.PutDouble("duration_seconds", float64(30+n%1800))
			a.PutStr("resolved_by", [...]string{"ai", "ai", "ai", "agent"}[n%4])
		case "query.order":
			a.PutStr("session_id", session)
			a.PutStr("order_id", "ord-"+strconv.Itoa(n))
			a.PutBool("success", n%10 != 0)
		case "agent.session_takeover":
			a.PutStr("agent_id", agent)
			a.PutStr("session_id", session)
			a.PutDouble("wait_duration_seconds", float64(n%300)+0.5) // ≤ 5 min
		case "ticket.closed":
			a.PutStr("ticket_id", "tkt-"+strconv.FormatUint(seq, 10))
			a.PutStr("agent_id", agent)
			a.PutDouble("resolution_duration_hours", float64(n%96)/2) // ≤ 2 days
			a.PutBool("sla_met", n%7 != 0)
		}
		var tid pcommon.TraceID
		tid[0], tid[1], tid[15] = byte(seq>>16), byte(seq>>8), byte(seq) //nolint:gosec // the low bytes
		lr.SetTraceID(tid)
	}
	return ld
}

// catalogProduct is the product of an event of the mix.
func catalogProduct(name string) string {
	switch name {
	case "agent.session_takeover", "ticket.closed":
		return ProductWorkbench
	}
	return ProductChatbot
}

// Encode builds and encodes request k.
func (g *Generator) Encode(k int) (Request, error) {
	if g.PerRequest <= 0 {
		return Request{}, errors.New("loadgen: PerRequest must be positive")
	}
	first := uint64(k) * uint64(g.PerRequest) //nolint:gosec // k ≥ 0
	if first+uint64(g.PerRequest) > MaxSeq {
		return Request{}, errors.New("loadgen: sequence number beyond 2^48")
	}
	body, err := plogotlp.NewExportRequestFromLogs(g.Logs(k)).MarshalProto()
	if err != nil {
		return Request{}, err
	}
	r := Request{
		Index: k, First: first, Events: g.PerRequest, Body: body,
		SampleID: g.IDs.ID(first), SampleProduct: catalogProduct(mix[first%uint64(len(mix))]),
	}
	if g.Probes {
		r.SampleProduct, r.ProbeAgent = ProductWorkbench, g.ProbeAgent(k)
	}
	return r, nil
}

// EncodeAll encodes requests 0 … n-1 on every CPU.
func (g *Generator) EncodeAll(n int) ([]Request, error) {
	out := make([]Request, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Go(func() {
			for k := w; k < n; k += workers {
				r, err := g.Encode(k)
				if err != nil {
					mu.Lock()
					first = errors.Join(first, err)
					mu.Unlock()
					return
				}
				out[k] = r
			}
		})
	}
	wg.Wait()
	return out, first
}
