// Package analyticsstatsextension runs the otelcol-analytics stats service
// (package stats: case-study JSON, per-part endpoints, the report page)
// inside the collector as the analytics_stats extension.
//
// mdatagen is not available at our collector release: metadata.yaml
// describes the component by hand and the telemetry is built in package
// stats with the OTel metric API.
package analyticsstatsextension // import "github.com/otelcol-analytics/otelcol-analytics/extension/analyticsstatsextension"
