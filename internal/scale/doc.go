// Package scale holds the scale-out tests of issue 13 (tests only): the
// built collector writing to a Redis Cluster of the test's own through a
// master failover and a master crash, and the standalone analytics-stats
// reading a PostgreSQL hot standby of the test's own. They start six
// redis-servers, two PostgreSQL clusters and the collector, so they are
// skipped unless OTELCOL_SCALE=1 or -scale is given: `make test-scale`
// runs them (with OTELCOL_ANALYTICS_BIN set to the built collector).
package scale
