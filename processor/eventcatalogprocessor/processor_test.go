package eventcatalogprocessor

import (
	"context"
	"encoding/hex"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
)

var (
	now = time.Date(2025, 12, 15, 8, 0, 0, 0, time.UTC)
	ts  = pcommon.NewTimestampFromTime(now.Add(-time.Minute))
)

// input is one record of a test batch.
type input struct {
	product string // service.name of its resource
	name    string // EventName; "" for a plain log
	attrs   map[string]any
}

// batch builds a plog.Logs with one resource per distinct product, in order.
func batch(t *testing.T, in ...input) plog.Logs {
	t.Helper()
	ld := plog.NewLogs()
	scopes := map[string]plog.ScopeLogs{}
	for _, r := range in {
		sl, ok := scopes[r.product]
		if !ok {
			rl := ld.ResourceLogs().AppendEmpty()
			rl.Resource().Attributes().PutStr("service.name", r.product)
			sl = rl.ScopeLogs().AppendEmpty()
			sl.Scope().SetName("analytics-sdk")
			scopes[r.product] = sl
		}
		lr := sl.LogRecords().AppendEmpty()
		lr.SetEventName(r.name)
		lr.SetTimestamp(ts)
		lr.Body().SetStr("body of " + r.name)
		require.NoError(t, lr.Attributes().FromRaw(r.attrs))
	}
	return ld
}

// result is what a record looks like after the processor.
type result struct {
	product string
	name    string // analytics.event.name, or the EventName of a plain log
	status  string // analytics.status; "" for a plain log
	reason  string
	field   string
}

func results(ld plog.Logs) []result {
	var out []result
	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		rl := ld.ResourceLogs().At(i)
		product, _ := rl.Resource().Attributes().Get("service.name")
		for j := 0; j < rl.ScopeLogs().Len(); j++ {
			lrs := rl.ScopeLogs().At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				a := lrs.At(k).Attributes()
				get := func(key string) string {
					if v, ok := a.Get(key); ok {
						return v.AsString()
					}
					return ""
				}
				r := result{
					product: product.Str(), name: get(catalog.AttrEventName), status: get(catalog.AttrStatus),
					reason: get(catalog.AttrRejectReason), field: get(catalog.AttrRejectField),
				}
				if r.status == catalog.StatusAccepted {
					r.name = catalog.Accepted(rl.Resource(), lrs.At(k)).Name
				}
				if r.status == "" {
					r.name = lrs.At(k).Body().Str()
				}
				out = append(out, r)
			}
		}
	}
	return out
}

type harness struct {
	proc processor.Logs
	sink *consumertest.LogsSink
	tel  *componenttest.Telemetry
}

func newHarness(t *testing.T, cfg *Config) *harness {
	t.Helper()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := processortest.NewNopSettings(componentType)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	sink := new(consumertest.LogsSink)
	proc, err := NewFactory().CreateLogs(context.Background(), set, cfg, sink)
	require.NoError(t, err)
	assert.True(t, proc.Capabilities().MutatesData)
	return &harness{proc: proc, sink: sink, tel: tel}
}

func (h *harness) start(t *testing.T) {
	t.Helper()
	require.NoError(t, h.proc.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, h.proc.Shutdown(context.Background())) })
}

// counters returns the processor's counters: metric name (and reason) → value.
func (h *harness) counters(t *testing.T) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, name := range []string{metricAccepted, metricRejected, metricIgnored, metricPassedThrough, metricUntimed} {
		m, err := h.tel.GetMetric(name)
		if err != nil {
			continue // never recorded
		}
		sum, ok := m.Data.(metricdata.Sum[int64])
		require.True(t, ok, name)
		assert.True(t, sum.IsMonotonic, name)
		for _, dp := range sum.DataPoints {
			key := name
			if r, ok := dp.Attributes.Value(attrReason); ok {
				key += "{" + r.AsString() + "}"
			}
			if src, ok := dp.Attributes.Value(attrTimeSource); ok {
				d, _ := dp.Attributes.Value(attrDerivedID)
				key += "{" + src.AsString() + "," + d.String() + "}"
			}
			out[key] += dp.Value
		}
	}
	return out
}

var (
	startOK   = input{"ai_chatbot", "session.start", map[string]any{"session_id": "s-1"}}
	unknown   = input{"ai_chatbot", "session.restart", map[string]any{"session_id": "s-1"}}
	plain     = input{"ai_chatbot", "", map[string]any{"http.status": int64(200)}}
	takeover  = input{"agent_workbench", "agent.session_takeover", map[string]any{"agent_id": "a-1", "session_id": "s-1", "wait_duration_seconds": int64(30)}}
	wrongProd = input{"agent_workbench", "session.start", map[string]any{"session_id": "s-2"}}
	orderPaid = input{"shop", "order.paid", map[string]any{"order_id": "o-1", "items": int64(2)}}
)

func TestProcessLogs(t *testing.T) {
	tests := []struct {
		name     string
		cfg      func(*Config)
		in       []input
		want     []result // nil: nothing reaches the next consumer
		counters map[string]int64
	}{
		{
			name: "accepted, rejected and a plain log (dropped)",
			in:   []input{startOK, unknown, plain, takeover, wrongProd},
			want: []result{
				{product: "ai_chatbot", name: "session.start", status: "accepted"},
				{product: "ai_chatbot", name: "session.restart", status: "rejected", reason: "unknown_event", field: "event.name"},
				{product: "agent_workbench", name: "agent.session_takeover", status: "accepted"},
				{product: "agent_workbench", name: "session.start", status: "rejected", reason: "wrong_product", field: "service.name"},
			},
			counters: map[string]int64{
				metricAccepted: 2, metricRejected + "{unknown_event}": 1, metricRejected + "{wrong_product}": 1, metricIgnored: 1,
			},
		},
		{
			name:     "only plain logs: nothing is passed on",
			in:       []input{plain, plain, {"other", "", map[string]any{"x": "y"}}},
			want:     nil,
			counters: map[string]int64{metricIgnored: 3},
		},
		{
			name: "pass_through keeps plain logs",
			cfg:  func(c *Config) { c.PassThrough = true },
			in:   []input{plain, startOK},
			want: []result{
				{product: "ai_chatbot", name: "body of ", status: ""},
				{product: "ai_chatbot", name: "session.start", status: "accepted"},
			},
			counters: map[string]int64{metricAccepted: 1, metricPassedThrough: 1},
		},
		{
			name: "a resource left with no records is removed",
			in:   []input{plain, takeover},
			want: []result{
				{product: "agent_workbench", name: "agent.session_takeover", status: "accepted"},
			},
			counters: map[string]int64{metricAccepted: 1, metricIgnored: 1},
		},
		{
			name: "custom catalog, extend: file events added, built-in ones kept, overridden ones changed",
			cfg: func(c *Config) {
				c.Catalog = CatalogConfig{File: filepath.Join("testdata", "catalog_extend.yaml"), Mode: ModeExtend}
			},
			in: []input{
				orderPaid, takeover, startOK,
				{"ai_chatbot", "session.start", map[string]any{"session_id": "s-1", "channel": "web"}},
			},
			want: []result{
				{product: "shop", name: "order.paid", status: "accepted"},
				{product: "agent_workbench", name: "agent.session_takeover", status: "accepted"},
				{product: "ai_chatbot", name: "session.start", status: "rejected", reason: "missing_attribute", field: "channel"},
				{product: "ai_chatbot", name: "session.start", status: "accepted"},
			},
			counters: map[string]int64{metricAccepted: 3, metricRejected + "{missing_attribute}": 1},
		},
		{
			name: "custom catalog, replace: only the file's events",
			cfg: func(c *Config) {
				c.Catalog = CatalogConfig{File: filepath.Join("testdata", "catalog_replace.yaml"), Mode: ModeReplace}
			},
			in: []input{orderPaid, startOK},
			want: []result{
				{product: "shop", name: "order.paid", status: "accepted"},
				{product: "ai_chatbot", name: "session.start", status: "rejected", reason: "unknown_event", field: "event.name"},
			},
			counters: map[string]int64{metricAccepted: 1, metricRejected + "{unknown_event}": 1},
		},
		{
			name: "limits from the config",
			cfg:  func(c *Config) { c.Limits.MaxValueBytes = 4 },
			in:   []input{startOK, {"ai_chatbot", "session.start", map[string]any{"session_id": "s-123"}}},
			want: []result{
				{product: "ai_chatbot", name: "session.start", status: "accepted"},
				{product: "ai_chatbot", name: "session.start", status: "rejected", reason: "too_large", field: "session_id"},
			},
			counters: map[string]int64{metricAccepted: 1, metricRejected + "{too_large}": 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig()
			if tt.cfg != nil {
				tt.cfg(cfg)
			}
			require.NoError(t, cfg.Validate())
			h := newHarness(t, cfg)
			h.start(t)

			require.NoError(t, h.proc.ConsumeLogs(context.Background(), batch(t, tt.in...)))
			if tt.want == nil {
				assert.Empty(t, h.sink.AllLogs())
			} else {
				require.Len(t, h.sink.AllLogs(), 1)
				assert.Equal(t, tt.want, results(h.sink.AllLogs()[0]))
			}
			assert.Equal(t, tt.counters, h.counters(t))
		})
	}
}

func TestProcessLogsRecordContent(t *testing.T) {
	h := newHarness(t, createDefaultConfig())
	h.start(t)
	ld := batch(t, takeover, unknown)
	plainLd := batch(t, input{"ai_chatbot", "", map[string]any{"m": "x", catalog.AttrStatus: "accepted"}})
	require.NoError(t, h.proc.ConsumeLogs(context.Background(), ld))
	require.NoError(t, h.proc.ConsumeLogs(context.Background(), plainLd))
	require.Len(t, h.sink.AllLogs(), 1)
	out := h.sink.AllLogs()[0]

	accLR := out.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	acc := accLR.Attributes().AsRaw()
	id := acc[catalog.AttrEventID]
	assert.Len(t, id, 32)
	// What the record carries itself (EventName, service.name, Timestamp) is
	// not stamped; the derived id is.
	assert.Equal(t, map[string]any{
		"agent_id": "a-1", "session_id": "s-1", "wait_duration_seconds": 30.0, // widened
		catalog.AttrStatus: "accepted", catalog.AttrEventID: id,
		catalog.AttrContentHash:  mustDecodeHex(t, id.(string)), // id-less: the derived id's bytes
		catalog.AttrMeasureMicro: int64(30_000_000),             // the catalog measure, in millionths
	}, acc)
	assert.Equal(t, catalog.Stamped{Name: "agent.session_takeover", Product: "agent_workbench", ID: id.(string), TimeUnixNano: int64(ts)},
		catalog.Accepted(out.ResourceLogs().At(0).Resource(), accLR))
	assert.Equal(t, "analytics-sdk", out.ResourceLogs().At(0).ScopeLogs().At(0).Scope().Name(), "scope kept")

	rej := out.ResourceLogs().At(1).ScopeLogs().At(0).LogRecords().At(0)
	raw := rej.Attributes().AsRaw()
	assert.Equal(t, "rejected", raw[catalog.AttrStatus])
	assert.Equal(t, "unknown_event", raw[catalog.AttrRejectReason])
	assert.Equal(t, `event "session.restart" is not in the event catalog; add it to the catalog file or fix the event name`,
		raw[catalog.AttrRejectMessage])
	assert.Equal(t, "body of session.restart", rej.Body().Str(), "body kept")
	assert.Equal(t, int64(ts), raw[catalog.AttrEventTime])
	assert.Len(t, raw[catalog.AttrEventID], 32)
	assert.Len(t, raw[catalog.AttrRejectKey], 16)
}

func mustDecodeHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

func TestStartBadCatalog(t *testing.T) {
	tests := []struct {
		file string
		want []string // substrings of the start error
	}{
		{
			file: "catalog_bad_type.yaml",
			want: []string{"catalog file testdata/catalog_bad_type.yaml", `event "order.paid": attribute "amount": unknown type "float" (want string, int, double or bool)`},
		},
		{
			file: "catalog_duplicate.yaml",
			want: []string{"catalog file testdata/catalog_duplicate.yaml", `event "order.paid": defined more than once`},
		},
		{
			file: "catalog_unknown_key.yaml",
			want: []string{"catalog file testdata/catalog_unknown_key.yaml", "field requried not found"}, //nolint:misspell // the typo under test
		},
		{
			file: "missing.yaml",
			want: []string{"testdata/missing.yaml", "no such file or directory"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			cfg := createDefaultConfig()
			cfg.Catalog.File = "testdata/" + tt.file
			h := newHarness(t, cfg)
			err := h.proc.Start(context.Background(), componenttest.NewNopHost())
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
			require.NoError(t, h.proc.Shutdown(context.Background()))
		})
	}
}

func TestConsumeBeforeStart(t *testing.T) {
	h := newHarness(t, createDefaultConfig())
	err := h.proc.ConsumeLogs(context.Background(), batch(t, startOK))
	require.ErrorIs(t, err, errNotStarted)
	assert.Empty(t, h.sink.AllLogs())
	require.NoError(t, h.proc.Shutdown(context.Background()))
}

func TestFutureTimestampUsesProcessorClock(t *testing.T) {
	p := newProcessor(createDefaultConfig(), componenttest.NewNopTelemetrySettings().Logger, mustTelemetry(t))
	p.now = func() time.Time { return now }
	require.NoError(t, p.start(context.Background(), componenttest.NewNopHost()))
	ld := batch(t, startOK, startOK)
	lrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	lrs.At(1).SetTimestamp(pcommon.NewTimestampFromTime(now.Add(61 * time.Minute)))
	lrs.At(0).SetTimestamp(pcommon.NewTimestampFromTime(now.Add(59 * time.Minute)))
	out, err := p.processLogs(context.Background(), ld)
	require.NoError(t, err)
	assert.Equal(t, []result{
		{product: "ai_chatbot", name: "session.start", status: "accepted"},
		{product: "ai_chatbot", name: "session.start", status: "rejected", reason: "future_timestamp", field: "timestamp"},
	}, results(out))
}

func mustTelemetry(t *testing.T) *telemetry {
	tel, err := newTelemetry(componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	return tel
}

func TestPassThroughContent(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.PassThrough = true
	h := newHarness(t, cfg)
	h.start(t)
	in := batch(t, input{"ai_chatbot", "", map[string]any{"http.status": int64(200), catalog.AttrStatus: "accepted"}})
	lr := in.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	lr.SetSeverityText("INFO")
	lr.SetObservedTimestamp(ts + 5)
	want := plog.NewLogs()
	in.CopyTo(want)
	want.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes().Remove(catalog.AttrStatus)

	require.NoError(t, h.proc.ConsumeLogs(context.Background(), in))
	require.Len(t, h.sink.AllLogs(), 1)
	// Untouched but for the forged analytics.* attribute, which is removed.
	assert.Equal(t, want, h.sink.AllLogs()[0])
	assert.Equal(t, map[string]int64{metricPassedThrough: 1}, h.counters(t))
}

func TestProcessLogsCountsUntimedRecords(t *testing.T) {
	h := newHarness(t, createDefaultConfig())
	h.start(t)
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "ai_chatbot")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	add := func(observed bool, id string) {
		lr := lrs.AppendEmpty()
		lr.SetEventName("session.start")
		lr.Attributes().PutStr("session_id", "s-"+strconv.Itoa(lrs.Len()))
		if observed {
			lr.SetObservedTimestamp(ts)
		}
		if id != "" {
			lr.Attributes().PutStr("event.id", id)
		}
	}
	add(true, "")               // observed, derived
	add(true, "e-1")            // observed, own id
	add(false, "")              // receipt, derived: cannot be recognised when resent
	add(false, "")              // again
	add(false, "e-2")           // receipt, own id
	withTS := lrs.AppendEmpty() // has a Timestamp: not counted
	withTS.SetEventName("session.start")
	withTS.Attributes().PutStr("session_id", "s-9")
	withTS.SetTimestamp(ts)
	require.NoError(t, h.proc.ConsumeLogs(context.Background(), ld))
	assert.Equal(t, map[string]int64{
		metricAccepted: 6,
		metricUntimed + "{observed_timestamp,true}":  1,
		metricUntimed + "{observed_timestamp,false}": 1,
		metricUntimed + "{receipt,true}":             2,
		metricUntimed + "{receipt,false}":            1,
	}, h.counters(t))
}
