package catalog

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseErrors(t *testing.T) {
	const ok = "    attributes:\n      - {name: id, type: string}\n"
	tests := []struct {
		name string
		yaml string
		want string // exact error
	}{
		{
			name: "no events",
			yaml: "events: []\n",
			want: "catalog defines no events (expected a top-level `events:` list)",
		},
		{
			name: "empty document",
			yaml: "",
			want: "invalid catalog YAML: EOF",
		},
		{
			name: "unknown top-level key",
			yaml: "event:\n  - name: a.b\n",
			want: "invalid catalog YAML: yaml: unmarshal errors:\n  line 1: field event not found in type catalog.file",
		},
		{
			name: "unknown attribute key",
			yaml: "events:\n  - name: a.b\n    product: p\n    attributes:\n      - {name: id, type: string, requried: true}\n", //nolint:misspell // the typo under test
			want: "invalid catalog YAML: yaml: unmarshal errors:\n  line 5: field requried not found in type catalog.Attribute", //nolint:misspell // the typo under test
		},
		{
			name: "bad event name",
			yaml: "events:\n  - name: Session.Start\n    product: p\n" + ok,
			want: `event "Session.Start": name must be lower-case dotted words such as session.start`,
		},
		{
			name: "missing product",
			yaml: "events:\n  - name: a.b\n" + ok,
			want: `event "a.b": product is required`,
		},
		{
			name: "bad attribute name",
			yaml: "events:\n  - name: a.b\n    product: p\n    attributes:\n      - {name: 1x, type: string}\n",
			want: `event "a.b": attribute name "1x" is not a valid identifier`,
		},
		{
			name: "unknown type",
			yaml: "events:\n  - name: a.b\n    product: p\n    attributes:\n      - {name: x, type: float}\n",
			want: `event "a.b": attribute "x": unknown type "float" (want string, int, double or bool)`,
		},
		{
			name: "missing type",
			yaml: "events:\n  - name: a.b\n    product: p\n    attributes:\n      - {name: x}\n",
			want: `event "a.b": attribute "x": unknown type "" (want string, int, double or bool)`,
		},
		{
			name: "values on a non-string",
			yaml: "events:\n  - name: a.b\n    product: p\n    attributes:\n      - {name: x, type: int, values: [\"1\"]}\n",
			want: `event "a.b": attribute "x": values are allowed only for type string`,
		},
		{
			name: "duplicate attribute",
			yaml: "events:\n  - name: a.b\n    product: p\n    attributes:\n      - {name: x, type: int}\n      - {name: x, type: int}\n",
			want: `event "a.b": attribute "x" defined more than once`,
		},
		{
			name: "measure names a missing attribute",
			yaml: "events:\n  - name: a.b\n    product: p\n    measure: dur\n" + ok,
			want: `event "a.b": measure "dur" must name a double or int attribute of the event`,
		},
		{
			name: "measure names a string",
			yaml: "events:\n  - name: a.b\n    product: p\n    measure: id\n" + ok,
			want: `event "a.b": measure "id" must name a double or int attribute of the event`,
		},
		{
			name: "flag names a non-bool",
			yaml: "events:\n  - name: a.b\n    product: p\n    flag: id\n" + ok,
			want: `event "a.b": flag "id" must name a bool attribute of the event`,
		},
		{
			name: "duplicate event",
			yaml: "events:\n  - name: a.b\n    product: p\n" + ok + "  - name: a.b\n    product: q\n" + ok,
			want: `event "a.b": defined more than once`,
		},
		{
			name: "every problem is reported",
			yaml: "events:\n  - name: a.b\n" + ok + "  - name: c.d\n    product: p\n    attributes:\n      - {name: x, type: float}\n",
			want: "event \"a.b\": product is required\nevent \"c.d\": attribute \"x\": unknown type \"float\" (want string, int, double or bool)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml))
			require.Error(t, err)
			assert.Nil(t, c)
			assert.Equal(t, tt.want, err.Error())
		})
	}
}

func TestDefault(t *testing.T) {
	c := Default()
	assert.Equal(t, []string{
		"agent.login", "agent.logout", "agent.session_message", "agent.session_release", "agent.session_takeover",
		"agent.session_transfer", "agent.status_change", "query.order", "query.tracking", "session.end",
		"session.escalate", "session.message", "session.start", "ticket.assigned", "ticket.closed",
		"ticket.created", "ticket.status_changed",
	}, c.Names())

	e, ok := c.Lookup("ticket.closed")
	require.True(t, ok)
	assert.Equal(t, "agent_workbench", e.Product)
	assert.Equal(t, "resolution_duration_hours", e.Measure)
	assert.Equal(t, "sla_met", e.Flag)
	a, ok := e.Attribute("sla_met")
	require.True(t, ok)
	assert.Equal(t, Attribute{Name: "sla_met", Type: TypeBool, Required: true}, *a)
	_, ok = e.Attribute("nope")
	assert.False(t, ok)
	_, ok = c.Lookup("nope")
	assert.False(t, ok)

	end, _ := c.Lookup("session.end")
	rb, _ := end.Attribute("resolved_by")
	assert.Equal(t, []string{"ai", "agent"}, rb.Values)

	parsed, err := Parse(DefaultYAML())
	require.NoError(t, err)
	assert.Equal(t, c.Names(), parsed.Names())
}

func TestExtendAndLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "catalog.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`events:
  - name: session.start
    product: other
  - name: order.paid
    product: shop
`), 0o600))
	file, err := Load(path)
	require.NoError(t, err)
	assert.Equal(t, []string{"order.paid", "session.start"}, file.Names())

	ext := Default().Extend(file)
	assert.Len(t, ext.Names(), 18)
	e, _ := ext.Lookup("session.start")
	assert.Equal(t, "other", e.Product, "the file's definition wins")
	e, _ = ext.Lookup("session.message")
	assert.Equal(t, "ai_chatbot", e.Product, "built-in events are kept")
	assert.Len(t, Default().Names(), 17, "Extend does not change its receiver")

	_, err = Load(filepath.Join(t.TempDir(), "missing.yaml"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "missing.yaml: no such file or directory")

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("events:\n  - name: a.b\n"), 0o600))
	_, err = Load(bad)
	require.EqualError(t, err, "catalog file "+bad+`: event "a.b": product is required`)
}

func TestMicro(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want int64
	}{{1.5, 1_500_000}, {0.0000005, 1}, {-0.0000005, -1}, {1234.567891, 1_234_567_891}, {0, 0}, {MaxMeasure, 1e18}, {-MaxMeasure, -1e18}} {
		got, ok := Micro(tc.in)
		require.True(t, ok)
		assert.Equal(t, tc.want, got, "Micro(%v)", tc.in)
	}
	for _, bad := range []float64{1e300, MaxMeasure * 1.0000001, math.NaN(), math.Inf(1), math.Inf(-1)} {
		_, ok := Micro(bad)
		assert.False(t, ok, "Micro(%v)", bad)
	}
}
