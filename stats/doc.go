// Package stats is the read side of otelcol-analytics: the query layer over
// the PostgreSQL rollups, the display rules (zh/en), the case-study story,
// the HTTP handlers and the report page. It runs inside the collector as the
// analytics_stats extension and standalone as cmd/analytics-stats, with the
// same configuration keys (Config).
//
// It reads only the rollups (analytics_daily_rollup,
// analytics_agent_daily_rollup) and the rejected-events table, never
// analytics_events, so a month's report costs the same at 10M or 100M events.
// /api/analytics/live also reads the exporter's Redis hashes of a day and
// its month (falling back to the rollups), with the same formulas.
package stats
