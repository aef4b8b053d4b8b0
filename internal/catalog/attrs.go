package catalog

// The normalised form. The eventcatalog processor sets these attributes on
// every business-event log record it passes on; the analytics exporter (and
// any other downstream component) reads them instead of re-parsing the
// record. The record's own attributes stay as they were, except that an int
// sent for a double attribute is widened to a double in place.
const (
	// AttrStatus is StatusAccepted or StatusRejected.
	AttrStatus = "analytics.status"
	// AttrEventName is the resolved event name (EventName, else event.name).
	AttrEventName = "analytics.event.name"
	// AttrProduct is the product (resource attribute service.name).
	AttrProduct = "analytics.event.product"
	// AttrEventID is event.id, else the deterministic id derived from the
	// record's product, name, timestamp and attributes.
	AttrEventID = "analytics.event.id"
	// AttrEventTime is the event time in Unix nanoseconds (an int): the
	// record's Timestamp, else ObservedTimestamp, else the time received.
	AttrEventTime = "analytics.event.time_unix_nano"
	// AttrRejectReason is a machine-readable Reason, set on rejected records.
	AttrRejectReason = "analytics.reject.reason"
	// AttrRejectField names the offending field or attribute ("" if none).
	AttrRejectField = "analytics.reject.field"
	// AttrRejectMessage is a sentence a person can act on.
	AttrRejectMessage = "analytics.reject.message"

	// AttrPrefix is the prefix of every attribute above; attributes with it
	// are bookkeeping, not event properties.
	AttrPrefix = "analytics."

	// WireEventName and WireEventID are the attributes a sender may set.
	WireEventName = "event.name"
	WireEventID   = "event.id"
)

// Status values of AttrStatus.
const (
	StatusAccepted = "accepted"
	StatusRejected = "rejected"
)

// Reason is the machine-readable reason a record was rejected.
type Reason string

// The rejection reasons.
const (
	ReasonUnknownEvent     Reason = "unknown_event"
	ReasonMissingAttribute Reason = "missing_attribute"
	ReasonWrongType        Reason = "wrong_type"
	ReasonInvalidValue     Reason = "invalid_value" // a string outside the attribute's values
	ReasonWrongProduct     Reason = "wrong_product"
	ReasonMissingProduct   Reason = "missing_product" // no service.name
	ReasonTooLarge         Reason = "too_large"       // value size or attribute count over the limit
	ReasonInvalidEventID   Reason = "invalid_event_id"
	ReasonInvalidUTF8      Reason = "invalid_utf8"
	ReasonNulByte          Reason = "nul_byte"
	ReasonFutureTimestamp  Reason = "future_timestamp"
	// ReasonNotNormalised is set by the exporter on a record that did not
	// pass through the eventcatalog processor.
	ReasonNotNormalised Reason = "not_normalised"
	// ReasonStorageRefused is set by the exporter on a record PostgreSQL
	// refused (the database's message is kept).
	ReasonStorageRefused Reason = "storage_refused"
)

// Common ids the exporter stores as their own columns.
const (
	KeySessionID  = "session_id"
	KeyAgentID    = "agent_id"
	KeyTicketID   = "ticket_id"
	KeyCustomerID = "customer_id"
)
