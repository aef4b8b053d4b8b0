package loadgen

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
	"github.com/otelcol-analytics/otelcol-analytics/internal/normalize"
)

func testGenerator(probes bool) *Generator {
	return &Generator{
		IDs:        IDSpace{UnixMilli: time.Now().UnixMilli(), Phase: 3, Salt: 11},
		PerRequest: 200, Month: time.Now().AddDate(0, -1, 0), Probes: probes,
	}
}

// TestGeneratorValidEvents: every generated record is a valid event of the
// default catalog (required attributes, types, values within min/max, time)
// with an id of its own, and the decoded request is what was built.
func TestGeneratorValidEvents(t *testing.T) {
	for _, probes := range []bool{false, true} {
		g := testGenerator(probes)
		norm := normalize.New(nil, normalize.DefaultLimits())
		seen := map[string]bool{}
		names := map[string]int{}
		days := map[string]bool{}
		for _, d := range g.Days() {
			days[d] = true
		}
		for k := range 5 {
			r, err := g.Encode(k)
			require.NoError(t, err)
			assert.Equal(t, k, r.Index)
			assert.Equal(t, uint64(k*g.PerRequest), r.First) //nolint:gosec // small
			assert.Equal(t, g.PerRequest, r.Events)
			req := plogotlp.NewExportRequest()
			require.NoError(t, req.UnmarshalProto(r.Body))
			ld := req.Logs()
			require.Equal(t, g.PerRequest, ld.LogRecordCount())
			first := true
			for i := 0; i < ld.ResourceLogs().Len(); i++ {
				rl := ld.ResourceLogs().At(i)
				svc, _ := rl.Resource().Attributes().Get("service.name")
				lrs := rl.ScopeLogs().At(0).LogRecords()
				for j := 0; j < lrs.Len(); j++ {
					lr := lrs.At(j)
					idv, ok := lr.Attributes().Get(catalog.WireEventID)
					require.True(t, ok)
					id := idv.Str()
					assert.False(t, seen[id], "id %s repeated", id)
					seen[id] = true
					_, seq, err := ParseSeq(id)
					require.NoError(t, err)
					assert.GreaterOrEqual(t, seq, r.First)
					assert.Less(t, seq, r.First+uint64(r.Events)) //nolint:gosec // small
					if seq == r.First {
						assert.Equal(t, r.SampleID, id)
						assert.Equal(t, r.SampleProduct, svc.Str())
						if probes {
							assert.Equal(t, ProbeEvent, lr.EventName())
							a, _ := lr.Attributes().Get("agent_id")
							assert.Equal(t, g.ProbeAgent(k), a.Str())
							assert.Equal(t, r.ProbeAgent, a.Str())
						}
						first = false
					}
					names[lr.EventName()]++
					day := lr.Timestamp().AsTime().In(g.location()).Format(time.DateOnly)
					assert.True(t, days[day], "event day %s in the month", day)
					res := norm.Record(rl.Resource(), rl.ScopeLogs().At(0).Scope(), lr, time.Now())
					require.Equal(t, normalize.Accepted, res.Outcome, "%s %s: %v", lr.EventName(), id, lr.Attributes().AsRaw())
				}
			}
			assert.False(t, first, "the sample is in the request")
		}
		assert.Len(t, seen, 5*g.PerRequest)
		for _, n := range []string{"session.start", "session.message", "agent.session_takeover", "ticket.closed", "session.end", "query.order"} {
			assert.Positive(t, names[n], n)
		}
		assert.Greater(t, names["session.message"], names["session.start"], "messages are the most frequent")
	}
}

func TestGeneratorDeterministic(t *testing.T) {
	g := testGenerator(true)
	a, err := g.Encode(7)
	require.NoError(t, err)
	b, err := g.Encode(7)
	require.NoError(t, err)
	assert.Equal(t, a.Body, b.Body)
	all, err := g.EncodeAll(9)
	require.NoError(t, err)
	require.Len(t, all, 9)
	assert.Equal(t, a, all[7])
	_, err = (&Generator{}).Encode(0)
	assert.Error(t, err)
}

func TestGeneratorSpreadDays(t *testing.T) {
	loc, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)
	month := time.Date(2026, 2, 10, 0, 0, 0, 0, loc)
	for _, tc := range []struct{ spread, days int }{{0, 28}, {1, 1}, {3, 3}, {28, 28}, {40, 28}} {
		g := &Generator{PerRequest: 1000, Month: month, Location: loc, SpreadDays: tc.spread}
		require.Len(t, g.Days(), tc.days, "spread %d", tc.spread)
		assert.Equal(t, "2026-02-01", g.Days()[0])
		seen := map[string]bool{}
		for seq := range uint64(5000) {
			seen[g.eventTime(seq).In(loc).Format(time.DateOnly)] = true
		}
		assert.Len(t, seen, tc.days, "spread %d: every day used, none other", tc.spread)
		for d := range seen {
			assert.Contains(t, g.Days(), d)
		}
	}
}
