package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCollectorMapsAndRejects is issue 2's acceptance check: the built
// collector accepts an OTLP/HTTP JSON post; a valid session.start comes out of
// the eventcatalog processor mapped, an unknown event marked rejected with its
// reason, and a plain log is dropped.
func TestCollectorMapsAndRejects(t *testing.T) {
	t.Parallel()
	httpPort, healthPort := freePort(t), freePort(t)
	cfg := fmt.Sprintf(`
extensions:
  health_check:
    endpoint: 127.0.0.1:%d
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:%d
processors:
  eventcatalog: {}
exporters:
  debug:
    verbosity: detailed
service:
  extensions: [health_check]
  pipelines:
    logs:
      receivers: [otlp]
      processors: [eventcatalog]
      exporters: [debug]
  telemetry:
    metrics:
      level: none
`, healthPort, httpPort)
	c := startCollector(t, cfg, healthPort)

	body := `{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"ai_chatbot"}}]},
"scopeLogs":[{"logRecords":[
 {"timeUnixNano":"1764520200000000000","eventName":"session.start","attributes":[
   {"key":"session_id","value":{"stringValue":"s-1"}},{"key":"event.id","value":{"stringValue":"e2e-accepted-1"}}]},
 {"timeUnixNano":"1764520200000000000","eventName":"chat.rating","attributes":[
   {"key":"session_id","value":{"stringValue":"s-1"}},{"key":"event.id","value":{"stringValue":"e2e-rejected-1"}}]},
 {"timeUnixNano":"1764520200000000000","body":{"stringValue":"plain-log-line-should-be-dropped"}}
]}]}]}`
	require.Equal(t, http.StatusOK, postLogs(t, httpPort, body))
	c.waitOutput(t, 30*time.Second,
		"analytics.status: Str(accepted)",
		"analytics.status: Str(rejected)",
		"analytics.reject.reason: Str(unknown_event)",
		"analytics.event.id: Str(e2e-rejected-1)",
		"analytics.event.name: Str(chat.rating)",
		"analytics.event.product: Str(ai_chatbot)",
	)
	out := c.output()
	require.NotContains(t, out, "plain-log-line-should-be-dropped")
	// The accepted record is not stamped with what it carries itself (its
	// EventName, service.name, event.id and Timestamp): catalog.Accepted
	// reads them from the record; the rejected one is stamped in full.
	assert.Contains(t, out, "EventName: session.start\nBody: Empty()\nAttributes:\n"+
		"     -> session_id: Str(s-1)\n     -> event.id: Str(e2e-accepted-1)\n"+
		"     -> analytics.status: Str(accepted)\n     -> analytics.event.content_hash: Bytes(")
	assert.NotContains(t, out, "analytics.event.name: Str(session.start)")
}
