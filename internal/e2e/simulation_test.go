package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-analytics/otelcol-analytics/internal/demo"
	"github.com/otelcol-analytics/otelcol-analytics/internal/testdb"
	"github.com/otelcol-analytics/otelcol-analytics/stats"
)

// TestSimulatedMonthMatchesExpectation is issue 5's end-to-end check, on the
// same code path as `make demo` (internal/demo.Run): the built collector with
// the default otelcol-config.yaml (its ANALYTICS_* variables pointing at a
// schema and a Redis prefix of this test's own) receives a small simulated
// month over OTLP/HTTP — a few thousand events, a tenth of them sent twice
// with the same id — and the stats service's case study equals the
// simulator's own expectation in every field, the summary/tickets/agents/
// daily endpoints in every raw number, and Redis equals PostgreSQL.
func TestSimulatedMonthMatchesExpectation(t *testing.T) {
	t.Parallel()
	bin := binary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dsn, schema := testdb.Migrated(t)
	_, prefix := testdb.RedisPrefix(t)
	config, err := filepath.Abs("../../otelcol-config.yaml")
	require.NoError(t, err)

	o := demo.DefaultOptions()
	o.Binary, o.Config = bin, config
	o.Month, o.Scale, o.Seed, o.ResendFraction = "2025-11", 10, 7, 0.1
	o.PostgresDSN, o.Schema, o.ResetSchema = testdb.BaseDSN(), schema, false
	o.RedisAddr, o.RedisPrefix, o.ResetRedis = testdb.RedisAddr(), prefix, false
	o.DailyTTL = 0       // November 2025 must not expire from Redis
	o.StatsEndpoint = "" // a free port
	o.PIDFile = ""       // no bookkeeping of a kept collector
	o.DrainTimeout = 3 * time.Minute
	var out bytes.Buffer
	o.Out = &out
	res, err := demo.Run(ctx, o)
	require.NoError(t, err, "demo output:\n%s", out.String())
	t.Log(out.String())

	exp := res.Expectation
	require.NotNil(t, exp)
	assert.Greater(t, exp.UniqueEvents, int64(2000), "a few thousand events")
	assert.Greater(t, exp.Resent, int64(100), "resends of the same ids")
	assert.Equal(t, exp.EventsSent, exp.UniqueEvents+exp.Resent)

	// Every field of the case study, every raw number of the endpoints.
	require.Len(t, res.CaseStudyFields, 34, "the seed's 11 fields, the story in 2 parts, 16 raw numbers, 5 data fields")
	for _, f := range res.CaseStudyFields {
		assert.True(t, f.OK, "case study %s: expected %q, got %q", f.Name, f.Want, f.Got)
	}
	// summary 7 + tickets 5 + agent ids 1 + 8 per agent + 10 per day.
	require.Len(t, exp.Months, 1)
	raw := exp.Months[0].Raw
	assert.Len(t, res.EndpointFields, 7+5+1+8*len(raw.Agents)+10*30)
	for _, f := range res.EndpointFields {
		assert.True(t, f.OK, "%s: expected %s, got %s", f.Name, f.Want, f.Got)
	}
	assert.Equal(t, 0, res.VerifyCode, res.VerifyOutput)
	assert.Contains(t, res.VerifyOutput, "0 differences")
	assert.True(t, res.OK())
	assert.Nil(t, res.Collector, "stopped at the end")

	// The same numbers read directly, without the comparison code.
	var cs stats.CaseStudy
	require.NoError(t, json.Unmarshal(res.CaseStudy, &cs))
	assert.Equal(t, "2025年11月", cs.Period)
	assert.Equal(t, raw.TotalCustomersServed, cs.AIChatbot.TotalCustomersServed)
	assert.Equal(t, raw.SessionsHandled, cs.AgentWorkbench.SessionsHandled)
	assert.Equal(t, raw.TicketsResolved, cs.Tickets.TicketsResolved)
	assert.Equal(t, raw.SLAMet, cs.Raw.Tickets.SLAMet)
	assert.True(t, cs.Data.Complete)
	assert.Zero(t, cs.Data.RejectedEvents)

	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer func() { _ = conn.Close(ctx) }()
	assert.Equal(t, int(exp.UniqueEvents), queryInt(t, conn, `SELECT count(*) FROM analytics_events`))
	assert.Equal(t, 0, queryInt(t, conn, `SELECT count(*) FROM analytics_rejected_events`))
	rdb, _ := testdb.RedisPrefix(t)
	n, err := rdb.HGet(ctx, prefix+"monthly:2025-11", "session.start:events").Int64()
	require.NoError(t, err)
	assert.Equal(t, raw.TotalCustomersServed, n)
}
