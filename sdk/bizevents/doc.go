// Package bizevents has typed emitters for the business events of the
// built-in catalog (docs/spec.md §4), generated from internal/catalog/default.yaml by
// cmd/bizeventsgen: one method per event on an Emitter, required attributes
// as typed parameters, optional ones as options (WithCustomerID("c1")), plus
// WithTime, WithEventID and WithAttributes on every event.
//
// Records go through the OpenTelemetry logs API (go.opentelemetry.io/otel/log):
// EventName is the event name, the attribute event.id a UUIDv7, and the trace
// context comes from the ctx given to each method. The product (ai_chatbot,
// agent_workbench) is the service.name of the LoggerProvider's resource, so a
// process needs one LoggerProvider per product: build its resource with
// Resource (or NewLoggerProvider).
//
// events_gen.go is generated; after a change to the catalog run
// `go generate ./sdk/bizevents` (a test fails until you do).
package bizevents

//go:generate go run ../../cmd/bizeventsgen --out events_gen.go
