// Package trackreceiver implements the `track` receiver: a Segment-compatible
// HTTP API (POST /v1/track, /v1/batch) for senders without an OpenTelemetry
// SDK. Each track call becomes an OTel log record shaped exactly like one an
// SDK emits (EventName = event, resource service.name = product, attribute
// event.id = messageId, Timestamp = event time, attributes = properties), so
// the eventcatalog processor treats both alike. A call of a batch refused
// alone is handed on too, as a record marked with the ingest.reject.*
// attributes (refused.go), so that it is stored as rejected. The response is
// written only after the next consumer returned, so a client retry is safe.
//
// mdatagen has no release matching our collector version, so metadata.yaml
// describes the component and telemetry.go builds its counters by hand.
// There is deliberately no `//go:generate mdatagen` line: `make generate`
// (go generate ./...) would fail without the tool.
package trackreceiver // import "github.com/otelcol-analytics/otelcol-analytics/receiver/trackreceiver"
