package bizeventsgen

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestGenerateGolden(t *testing.T) {
	c, err := catalog.Load(filepath.Join("testdata", "small.yaml"))
	require.NoError(t, err)
	got, err := Generate(c, Options{Package: "shopevents", Source: "testdata/small.yaml", Scope: "example.com/shop/shopevents"})
	require.NoError(t, err)
	golden := filepath.Join("testdata", "small_gen.go.golden")
	if *update {
		require.NoError(t, os.WriteFile(golden, got, 0o600))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err, "run `go test ./internal/bizeventsgen -update` to create the golden file")
	assert.Equal(t, string(want), string(got), "generated code changed; if intended, run `go test ./internal/bizeventsgen -update` and review the diff")

	// The parts the golden file must contain, spelled out so a careless
	// -update that breaks them is caught here too.
	src := string(got)
	for _, want := range []string{
		Header + "\n",
		"package shopevents\n",
		`const ScopeName = "example.com/shop/shopevents"`,
		// Required attributes are typed parameters, in catalog order; the
		// keyword "type" gets a suffix.
		"func (e *Emitter) ShopOrderPlaced(ctx context.Context, orderID string, amount float64, items int64, gift bool, typeArg string, opts ...ShopOrderPlacedOption) string {",
		`attribute.Float64("amount", amount),`,
		`attribute.Int64("items", items),`,
		`attribute.Bool("gift", gift),`,
		`attribute.String("type", typeArg),`,
		// A shared optional attribute: one option accepted by both events.
		"func WithNote(v string) NoteOption",
		"func (NoteOption) isShopOrderCancelled() {}",
		"func (NoteOption) isShopOrderPlaced()    {}",
		// priority is int in one event and string in the other: one option each.
		"func WithShopOrderPlacedPriority(v int64) ShopOrderPlacedPriorityOption",
		"func WithShopOrderCancelledPriority(v string) ShopOrderCancelledPriorityOption",
		// An event with no required attribute.
		"func (e *Emitter) WarehouseShipped(ctx context.Context, opts ...WarehouseShippedOption) string {",
		`TypeRetail = "retail"`,
		`PriorityHigh = "high"`,
		`ProductWebShop = "web_shop"`,
		"EventShopOrderPlaced: ProductWebShop,",
		"r.SetEventName(name)",
		"r.AddAttributes(attribute.String(AttributeEventID, id))",
	} {
		assertContains(t, src, want)
	}
}

func TestGenerateDefaultCatalogCompilesShape(t *testing.T) {
	got, err := Generate(catalog.Default(), Options{})
	require.NoError(t, err)
	src := string(got)
	assert.True(t, strings.HasPrefix(src, Header+"\n// Source: the built-in catalog.\n\npackage bizevents\n"), src[:120])
	for _, want := range []string{
		"func (e *Emitter) SessionStart(ctx context.Context, sessionID string, opts ...SessionStartOption) string {",
		"func (e *Emitter) SessionMessage(ctx context.Context, sessionID string, responseTimeMs float64, opts ...SessionMessageOption) string {",
		"func (e *Emitter) TicketClosed(ctx context.Context, ticketID string, resolutionDurationHours float64, slaMet bool, opts ...TicketClosedOption) string {",
		"func (e *Emitter) AgentSessionTransfer(ctx context.Context, agentID string, toAgentID string, sessionID string, opts ...AgentSessionTransferOption) string {",
		"func WithCustomerID(v string) CustomerIDOption",
		"func WithAgentID(v string) AgentIDOption", // optional in ticket.closed only
		"func WithSuccess(v bool) SuccessOption",
		"func WithOnlineDurationSeconds(v float64) OnlineDurationSecondsOption",
		`ResolvedByAI = "ai"`,
		`ProductAIChatbot = "ai_chatbot"`,
	} {
		assertContains(t, src, want)
	}
	// 17 events, one method each.
	assert.Equal(t, 17, strings.Count(src, "\nfunc (e *Emitter) ")-1, "17 event methods plus emit")
}

func TestGenerateCollisions(t *testing.T) {
	tests := []struct {
		name, yaml, wantErr string
	}{
		{
			name: "two event names with the same Go name",
			yaml: `events:
  - {name: a.b_c, product: p}
  - {name: a_b.c, product: p}`,
			wantErr: "identifier ABCOption",
		},
		{
			name: "required attributes with the same parameter name",
			yaml: `events:
  - name: a.b
    product: p
    attributes:
      - {name: x_id, type: string, required: true}
      - {name: x.id, type: string, required: true}`,
			wantErr: "two required attributes map to the parameter xID",
		},
		{
			name: "optional attribute named like a common option",
			yaml: `events:
  - name: a.b
    product: p
    attributes:
      - {name: time, type: string}`,
			wantErr: "", // gets the event-specific WithABTime instead
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := catalog.Parse([]byte(tt.yaml))
			require.NoError(t, err)
			src, err := Generate(c, Options{})
			if tt.wantErr == "" {
				require.NoError(t, err)
				assert.Contains(t, string(src), "func WithABTime(v string) ABTimeOption")
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

// assertContains reports whether src contains want, ignoring the runs of
// spaces gofmt uses to align, and prints only the missing line.
func assertContains(t *testing.T, src, want string) {
	t.Helper()
	squash := regexp.MustCompile(` +`)
	if !strings.Contains(squash.ReplaceAllString(src, " "), squash.ReplaceAllString(want, " ")) {
		t.Errorf("generated code lacks %q", want)
	}
}

func TestNames(t *testing.T) {
	tests := []struct{ in, exported, param string }{
		{"session_id", "SessionID", "sessionID"},
		{"agent.session_takeover", "AgentSessionTakeover", "agentSessionTakeover"},
		{"response_time_ms", "ResponseTimeMs", "responseTimeMs"},
		{"sla_met", "SLAMet", "slaMet"},
		{"ai_chatbot", "AIChatbot", "aiChatbot"},
		{"type", "Type", "typeArg"},
		{"ctx", "Ctx", "ctxArg"},
		{"2fa", "X2fa", "x2fa"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			assert.Equal(t, tt.exported, exported(tt.in))
			assert.Equal(t, tt.param, paramName(tt.in))
		})
	}
}
