package bizevents_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/otelcol-analytics/otelcol-analytics/internal/bizeventsgen"
	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
	"github.com/otelcol-analytics/otelcol-analytics/sdk/bizevents"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestGeneratedFileIsUpToDate fails when the catalog changed and
// events_gen.go was not regenerated.
func TestGeneratedFileIsUpToDate(t *testing.T) {
	want, err := bizeventsgen.Generate(catalog.Default(), bizeventsgen.Options{Package: "bizevents"})
	require.NoError(t, err)
	got, err := os.ReadFile("events_gen.go")
	require.NoError(t, err)
	if string(got) != string(want) {
		t.Fatal("sdk/bizevents/events_gen.go is stale: the catalog or the generator changed; run `go generate ./sdk/bizevents` and commit the result")
	}
}

// TestEveryCatalogEventHasAMethod checks the generated API against the
// catalog itself (names and products).
func TestEveryCatalogEventHasAMethod(t *testing.T) {
	c := catalog.Default()
	assert.Equal(t, c.Names(), bizevents.EventNames())
	for _, n := range c.Names() {
		ev, _ := c.Lookup(n)
		p, ok := bizevents.ProductOf(n)
		assert.True(t, ok, n)
		assert.Equal(t, ev.Product, p, n)
	}
	_, ok := bizevents.ProductOf("no.such_event")
	assert.False(t, ok)
}

// recorder is an in-memory sdklog.Exporter.
type recorder struct {
	mu      sync.Mutex
	records []sdklog.Record
}

func (r *recorder) Export(_ context.Context, recs []sdklog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range recs {
		r.records = append(r.records, rec.Clone())
	}
	return nil
}
func (*recorder) Shutdown(context.Context) error   { return nil }
func (*recorder) ForceFlush(context.Context) error { return nil }

func (r *recorder) all() []sdklog.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sdklog.Record(nil), r.records...)
}

func newProvider(t *testing.T, product string) (*sdklog.LoggerProvider, *recorder) {
	t.Helper()
	rec := &recorder{}
	lp, err := bizevents.NewLoggerProvider(product, sdklog.NewSimpleProcessor(rec))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, lp.Shutdown(context.Background())) })
	return lp, rec
}

func attrs(r sdklog.Record) map[string]attribute.Value {
	out := map[string]attribute.Value{}
	r.WalkAttributes(func(kv attribute.KeyValue) bool {
		out[string(kv.Key)] = kv.Value
		return true
	})
	return out
}

func TestEmitterRecords(t *testing.T) {
	lpChat, recChat := newProvider(t, bizevents.ProductAIChatbot)
	lpDesk, recDesk := newProvider(t, bizevents.ProductAgentWorkbench)
	chat := bizevents.NewEmitter(lpChat)
	desk := bizevents.NewEmitter(lpDesk)

	traceID := trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	spanID := trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: traceID, SpanID: spanID, TraceFlags: trace.FlagsSampled,
	}))

	before := time.Now()
	startID := chat.SessionStart(ctx, "s-1", bizevents.WithCustomerID("c1"), bizevents.WithChannel("web"))
	msgID := chat.SessionMessage(context.Background(), "s-1", 1234.5)
	at := time.Date(2025, 12, 3, 10, 4, 5, 600, time.UTC)
	closedID := desk.TicketClosed(ctx, "t-9", 3.25, true,
		bizevents.WithAgentID("agent-7"), bizevents.WithTime(at), bizevents.WithEventID("resend-me"),
		bizevents.WithAttributes(attribute.Int64("reopen_count", 2)))
	orderID := chat.QueryOrder(ctx, bizevents.WithSessionID("s-1"), bizevents.WithSuccess(false))
	after := time.Now()

	chatRecs, deskRecs := recChat.all(), recDesk.all()
	require.Len(t, chatRecs, 3)
	require.Len(t, deskRecs, 1)

	// session.start: name, UUIDv7 id, typed attributes, trace context, product.
	start := chatRecs[0]
	assert.Equal(t, "session.start", start.EventName())
	a := attrs(start)
	assert.Equal(t, startID, a["event.id"].AsString())
	id, err := uuid.Parse(startID)
	require.NoError(t, err)
	assert.Equal(t, uuid.Version(7), id.Version())
	assert.Equal(t, uuid.RFC4122, id.Variant())
	sec, nsec := id.Time().UnixTime()
	idTime := time.Unix(sec, nsec)
	assert.False(t, idTime.Before(before.Truncate(time.Millisecond)), "UUIDv7 time %v before %v", idTime, before)
	assert.False(t, idTime.After(after), "UUIDv7 time %v after %v", idTime, after)
	assert.Equal(t, map[string]attribute.Value{
		"event.id":    attribute.StringValue(startID),
		"session_id":  attribute.StringValue("s-1"),
		"customer_id": attribute.StringValue("c1"),
		"channel":     attribute.StringValue("web"),
	}, a)
	assert.Equal(t, traceID, start.TraceID())
	assert.Equal(t, spanID, start.SpanID())
	assert.Equal(t, trace.FlagsSampled, start.TraceFlags())
	assert.False(t, start.Timestamp().Before(before))
	assert.False(t, start.Timestamp().After(after))
	svc, ok := start.Resource().Set().Value("service.name")
	require.True(t, ok)
	assert.Equal(t, "ai_chatbot", svc.AsString())
	assert.Equal(t, bizevents.ScopeName, start.InstrumentationScope().Name)

	// session.message: the double is a Float64, and no trace context.
	msg := chatRecs[1]
	assert.Equal(t, "session.message", msg.EventName())
	ma := attrs(msg)
	assert.Equal(t, attribute.FLOAT64, ma["response_time_ms"].Type())
	assert.InDelta(t, 1234.5, ma["response_time_ms"].AsFloat64(), 0)
	assert.Equal(t, msgID, ma["event.id"].AsString())
	assert.False(t, msg.TraceID().IsValid())
	assert.NotEqual(t, startID, msgID)

	// ticket.closed: WithTime, WithEventID, WithAttributes, bool and double.
	closed := deskRecs[0]
	assert.Equal(t, "resend-me", closedID)
	assert.Equal(t, "ticket.closed", closed.EventName())
	assert.True(t, at.Equal(closed.Timestamp()), "timestamp %v", closed.Timestamp())
	assert.Equal(t, map[string]attribute.Value{
		"event.id":                  attribute.StringValue("resend-me"),
		"ticket_id":                 attribute.StringValue("t-9"),
		"resolution_duration_hours": attribute.Float64Value(3.25),
		"sla_met":                   attribute.BoolValue(true),
		"agent_id":                  attribute.StringValue("agent-7"),
		"reopen_count":              attribute.Int64Value(2),
	}, attrs(closed))
	svc, _ = closed.Resource().Set().Value("service.name")
	assert.Equal(t, "agent_workbench", svc.AsString())
	assert.Equal(t, traceID, closed.TraceID())

	// query.order: no required attribute, all options.
	order := chatRecs[2]
	assert.Equal(t, map[string]attribute.Value{
		"event.id":   attribute.StringValue(orderID),
		"session_id": attribute.StringValue("s-1"),
		"success":    attribute.BoolValue(false),
	}, attrs(order))
}

func TestEmitterOptions(t *testing.T) {
	lp, rec := newProvider(t, bizevents.ProductAgentWorkbench)
	n := 0
	fixed := time.Date(2025, 12, 1, 1, 0, 0, 0, time.UTC)
	e := bizevents.NewEmitter(lp,
		bizevents.WithIDGenerator(func() string { n++; return "id-" + string(rune('0'+n)) }),
		bizevents.WithClock(func() time.Time { return fixed }))
	assert.Equal(t, "id-1", e.AgentLogin(context.Background(), "a1"))
	assert.Equal(t, "id-2", e.AgentLogout(context.Background(), "a1", bizevents.WithOnlineDurationSeconds(28800)))
	recs := rec.all()
	require.Len(t, recs, 2)
	assert.True(t, fixed.Equal(recs[1].Timestamp()))
	assert.Equal(t, attribute.Float64Value(28800), attrs(recs[1])["online_duration_seconds"])
}

func TestResource(t *testing.T) {
	res, err := bizevents.Resource(bizevents.ProductAIChatbot, attribute.String("deployment.environment.name", "test"))
	require.NoError(t, err)
	v, _ := res.Set().Value("service.name")
	assert.Equal(t, "ai_chatbot", v.AsString())
	v, _ = res.Set().Value("deployment.environment.name")
	assert.Equal(t, "test", v.AsString())
	_, ok := res.Set().Value("telemetry.sdk.language")
	assert.True(t, ok, "the SDK's default attributes are kept")

	_, err = bizevents.Resource("aichatbot")
	require.ErrorContains(t, err, `unknown product "aichatbot"`)
	_, err = bizevents.NewLoggerProvider("")
	require.Error(t, err)
}
