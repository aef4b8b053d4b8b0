package simulate

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"

	"github.com/otelcol-analytics/otelcol-analytics/sdk/bizevents"
)

// Event is one simulated business event: what the simulator sends and what
// its expectation counts. Attrs are exactly the record's attributes apart
// from event.id.
type Event struct {
	Name    string
	Product string
	ID      string
	Time    time.Time
	Attrs   []attribute.KeyValue
	// Resend marks the second sending of an event (same ID and content).
	Resend bool
}

func (ev *Event) value(key string) (attribute.Value, bool) {
	for _, kv := range ev.Attrs {
		if string(kv.Key) == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// Str returns the string attribute key ("" if absent).
func (ev *Event) Str(key string) string { v, _ := ev.value(key); return v.AsString() }

// Float returns the double attribute key and whether it is present.
func (ev *Event) Float(key string) (float64, bool) {
	v, ok := ev.value(key)
	return v.AsFloat64(), ok && v.Type() == attribute.FLOAT64
}

// Bool returns the bool attribute key and whether it is present.
func (ev *Event) Bool(key string) (bool, bool) {
	v, ok := ev.value(key)
	return v.AsBool(), ok && v.Type() == attribute.BOOL
}

// Emit sends ev through the typed emitter of its product (e must be the
// Emitter of ev.Product). Every attribute of ev.Attrs goes out through its
// typed parameter or option.
func (ev *Event) Emit(ctx context.Context, e *bizevents.Emitter) error {
	at, id := bizevents.WithTime(ev.Time), bizevents.WithEventID(ev.ID)
	f := func(k string) float64 { v, _ := ev.Float(k); return v }
	b := func(k string) bool { v, _ := ev.Bool(k); return v }
	s := ev.Str
	switch ev.Name {
	case bizevents.EventSessionStart:
		e.SessionStart(ctx, s("session_id"), at, id, bizevents.WithCustomerID(s("customer_id")), bizevents.WithChannel(s("channel")))
	case bizevents.EventSessionMessage:
		e.SessionMessage(ctx, s("session_id"), f("response_time_ms"), at, id)
	case bizevents.EventSessionEscalate:
		e.SessionEscalate(ctx, s("session_id"), at, id, bizevents.WithReason(s("reason")))
	case bizevents.EventSessionEnd:
		e.SessionEnd(ctx, s("session_id"), at, id, bizevents.WithDurationSeconds(f("duration_seconds")), bizevents.WithResolvedBy(s("resolved_by")))
	case bizevents.EventQueryOrder:
		e.QueryOrder(ctx, at, id, bizevents.WithSessionID(s("session_id")), bizevents.WithOrderID(s("order_id")), bizevents.WithSuccess(b("success")))
	case bizevents.EventQueryTracking:
		e.QueryTracking(ctx, at, id, bizevents.WithSessionID(s("session_id")), bizevents.WithTrackingNumber(s("tracking_number")), bizevents.WithSuccess(b("success")))
	case bizevents.EventAgentLogin:
		e.AgentLogin(ctx, s("agent_id"), at, id)
	case bizevents.EventAgentLogout:
		e.AgentLogout(ctx, s("agent_id"), at, id, bizevents.WithOnlineDurationSeconds(f("online_duration_seconds")))
	case bizevents.EventAgentStatusChange:
		e.AgentStatusChange(ctx, s("agent_id"), s("to_status"), at, id, bizevents.WithFromStatus(s("from_status")))
	case bizevents.EventAgentSessionTakeover:
		e.AgentSessionTakeover(ctx, s("agent_id"), s("session_id"), f("wait_duration_seconds"), at, id)
	case bizevents.EventAgentSessionMessage:
		e.AgentSessionMessage(ctx, s("agent_id"), s("session_id"), at, id)
	case bizevents.EventAgentSessionRelease:
		e.AgentSessionRelease(ctx, s("agent_id"), s("session_id"), f("handle_duration_seconds"), at, id)
	case bizevents.EventAgentSessionTransfer:
		e.AgentSessionTransfer(ctx, s("agent_id"), s("to_agent_id"), s("session_id"), at, id)
	case bizevents.EventTicketCreated:
		e.TicketCreated(ctx, s("ticket_id"), at, id, bizevents.WithSource(s("source")), bizevents.WithPriority(s("priority")))
	case bizevents.EventTicketAssigned:
		e.TicketAssigned(ctx, s("ticket_id"), s("agent_id"), at, id)
	case bizevents.EventTicketStatusChanged:
		e.TicketStatusChanged(ctx, s("ticket_id"), s("to_status"), at, id, bizevents.WithFromStatus(s("from_status")))
	case bizevents.EventTicketClosed:
		e.TicketClosed(ctx, s("ticket_id"), f("resolution_duration_hours"), b("sla_met"), at, id, bizevents.WithAgentID(s("agent_id")))
	default:
		return fmt.Errorf("simulate: no emitter for event %q", ev.Name)
	}
	return nil
}

// seededUUIDv7 returns a UUIDv7 whose 48-bit timestamp is t in milliseconds
// and whose 74 random bits come from r, so a seeded run repeats its ids.
func seededUUIDv7(t time.Time, r *rand.Rand) string {
	var u uuid.UUID
	ms := uint64(t.UnixMilli()) //nolint:gosec // simulated times are after 1970
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], ms)
	copy(u[0:6], ts[2:8])
	binary.BigEndian.PutUint64(u[8:16], r.Uint64())
	rb := r.Uint32()
	u[6] = 0x70 | byte(rb>>8)&0x0f //nolint:gosec // truncation intended; version 7
	u[7] = byte(rb)                //nolint:gosec // truncation intended: the low 8 random bits
	u[8] = (u[8] & 0x3f) | 0x80    // RFC 9562 variant
	return u.String()
}
