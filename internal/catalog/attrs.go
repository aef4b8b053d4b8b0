package catalog

// The normalised form. The eventcatalog processor sets these attributes on
// every business-event log record it passes on; the analytics exporter (and
// any other downstream component) reads them instead of re-parsing the
// record. The record's own attributes stay as they were, except that an int
// sent for a double attribute is widened to a double in place. An accepted
// record is not stamped with the name, product, id or time it carries
// itself, unchanged: read those four with Accepted.
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
	// AttrMeasureMicro is, on an accepted record of an event with a catalog
	// measure that carries it, the measure in integer millionths (an int;
	// Micro). AttrFlag is, on an accepted record of an event with a catalog
	// flag that carries it, the flag's value (a bool). They are what the
	// rollups and Redis counters add: the eventcatalog processor is the only
	// component that reads the catalog.
	AttrMeasureMicro = "analytics.event.measure_micro"
	AttrFlag         = "analytics.event.flag"
	// AttrRejectReason is a machine-readable Reason, set on rejected records.
	AttrRejectReason = "analytics.reject.reason"
	// AttrRejectField names the offending field or attribute ("" if none).
	AttrRejectField = "analytics.reject.field"
	// AttrRejectMessage is a sentence a person can act on.
	AttrRejectMessage = "analytics.reject.message"
	// AttrContentHash is, on an accepted record, the 16-byte (bytes value)
	// hash of what the event says: product, name, event time and every
	// attribute except event.id and analytics.* (the canonical encoding of
	// normalize.DeriveEventID). For a record without event.id it is the
	// derived id's bytes (the event time used: Timestamp, else
	// ObservedTimestamp, else the time received); with event.id the time is
	// the record's Timestamp only (0 if unset), so a resend of a time-less
	// record is an exact resend. Two records with one event id and different
	// hashes are a duplicate_conflict.
	AttrContentHash = "analytics.event.content_hash"
	// AttrRejectKey is, on a rejected record, the 16-byte (bytes value) hash
	// that identifies the refusal: the reason and the record's content
	// (product, name, Timestamp — never ObservedTimestamp or the time
	// received —, body and every attribute, event.id included). A resent
	// refused record has the same key and is stored once.
	AttrRejectKey = "analytics.reject.key"
	// AttrRawSize, AttrRawSHA256 and AttrRawTruncated are set on a record
	// the processor cut because it was too deep or too large to carry: its
	// attributes and body are replaced by a body holding the first bytes of
	// the record's OTLP/JSON (a string), AttrRawSize is the size of the
	// whole OTLP/JSON in bytes (an int), AttrRawSHA256 its sha256 (64 hex
	// digits) and AttrRawTruncated true.
	AttrRawSize      = "analytics.raw.size"
	AttrRawSHA256    = "analytics.raw.sha256"
	AttrRawTruncated = "analytics.raw.truncated"

	// AttrPrefix is the prefix of every attribute above; attributes with it
	// are bookkeeping, not event properties.
	AttrPrefix = "analytics."

	// WireEventName and WireEventID are the attributes a sender may set.
	WireEventName = "event.name"
	WireEventID   = "event.id"

	// WireRejectReason, WireRejectField and WireRejectMessage mark a record
	// that a receiver refused but acknowledged (a bad call inside a track
	// batch): the eventcatalog processor rejects such a record with the
	// reason, field and message given, event name or not, and removes the
	// three attributes. The record's body then holds what was received (the
	// call's JSON). A sender may set them too; all it can do with them is
	// have its own record rejected.
	WireRejectReason  = "ingest.reject.reason"
	WireRejectField   = "ingest.reject.field"
	WireRejectMessage = "ingest.reject.message"
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
	ReasonUnknownEvent      Reason = "unknown_event"
	ReasonMissingAttribute  Reason = "missing_attribute"
	ReasonWrongType         Reason = "wrong_type"
	ReasonInvalidValue      Reason = "invalid_value" // a string outside the attribute's values
	ReasonWrongProduct      Reason = "wrong_product"
	ReasonMissingProduct    Reason = "missing_product" // no service.name
	ReasonTooLarge          Reason = "too_large"       // value size or attribute count over the limit
	ReasonInvalidEventID    Reason = "invalid_event_id"
	ReasonInvalidUTF8       Reason = "invalid_utf8"
	ReasonNulByte           Reason = "nul_byte"
	ReasonFutureTimestamp   Reason = "future_timestamp"
	ReasonPastTimestamp     Reason = "past_timestamp"     // before the horizon (default 2000-01-01), e.g. milliseconds sent as nanoseconds
	ReasonTooDeep           Reason = "too_deep"           // a value nested deeper than the limit
	ReasonDuplicateConflict Reason = "duplicate_conflict" // an event id already stored with different content; the stored event wins
	// ReasonRefusedByReceiver is used for a receiver's refusal mark
	// (WireRejectReason) whose reason is not a lower-case token.
	ReasonRefusedByReceiver Reason = "refused_by_receiver"
	// ReasonNotNormalised is set by the exporter on a record that did not
	// pass through the eventcatalog processor.
	ReasonNotNormalised Reason = "not_normalised"
	// ReasonStorageRefused is set by the exporter on a record PostgreSQL
	// refused (the database's message is kept).
	ReasonStorageRefused Reason = "storage_refused"
	// ReasonBeyondRetention is set by the exporter on an accepted record of
	// a business month whose raw events retention dropped
	// (analytics_retired_months): that month's rollups are final, so the
	// record is neither stored nor counted.
	ReasonBeyondRetention Reason = "beyond_retention"
)

// Common ids the exporter stores as their own columns.
const (
	KeySessionID  = "session_id"
	KeyAgentID    = "agent_id"
	KeyTicketID   = "ticket_id"
	KeyCustomerID = "customer_id"
)
