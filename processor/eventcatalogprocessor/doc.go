// Package eventcatalogprocessor implements the `eventcatalog` processor: it
// checks every business-event log record against the event catalog (docs/spec.md §3–§5)
// and sets the normalised attributes of internal/catalog/attrs.go on it.
// Accepted and rejected events are both passed on (the analytics exporter
// stores rejected ones in the rejected table); ordinary logs are dropped
// unless pass_through is set.
//
// mdatagen has no release matching our collector version, so metadata.yaml
// describes the component and telemetry.go builds its counters by hand.
// There is deliberately no `//go:generate mdatagen` line: `make generate`
// (go generate ./...) would fail without the tool. Add it back, and delete
// telemetry.go, once mdatagen is pinned at our release.
package eventcatalogprocessor // import "github.com/otelcol-analytics/otelcol-analytics/processor/eventcatalogprocessor"
