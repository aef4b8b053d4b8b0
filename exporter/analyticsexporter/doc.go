// Package analyticsexporter is the `analytics` exporter: it stores the
// business events normalised by the eventcatalog processor in PostgreSQL
// (raw events, rollups, rejected records) and keeps real-time counters in
// Redis, exactly once. See README.md.
//
// mdatagen is not available at our collector release, so metadata.yaml is
// kept by hand and telemetry.go builds its instruments directly (and there
// is no generate directive: `make generate` must not need a tool we cannot
// install).
package analyticsexporter
