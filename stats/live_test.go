package stats

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
	"github.com/otelcol-analytics/otelcol-analytics/internal/testdb"
)

// liveServer serves a handler over the schema at dsn reading the live
// counters from rdb under prefix (rdb nil: Redis not configured), with the
// clock at now. adjust changes the configuration before the handler is made.
func liveServer(t testing.TB, dsn string, rdb redis.UniversalClient, prefix string, now time.Time, adjust func(*Config)) *httptest.Server {
	t.Helper()
	cfg := NewDefaultConfig()
	cfg.Postgres.DSN = configopaque.String(dsn)
	cfg.Postgres.QueryTimeout = 3 * time.Second
	cfg.CostPerResolution = testCost
	if rdb != nil {
		cfg.Redis.Addr = "set by the test"
		cfg.Redis.KeyPrefix = prefix
	}
	if adjust != nil {
		adjust(cfg)
	}
	require.NoError(t, cfg.Validate())
	pool, err := NewPool(context.Background(), cfg.Postgres)
	require.NoError(t, err)
	h, err := NewHandler(cfg, pool, HandlerSettings{Now: func() time.Time { return now }, Redis: rdb})
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		pool.Close()
	})
	return srv
}

func getLive(t *testing.T, srv *httptest.Server, path string) LiveJSON {
	t.Helper()
	var l LiveJSON
	require.NoError(t, json.Unmarshal([]byte(getJSON(t, srv, path)), &l))
	return l
}

// TestLiveFromRedis: once the exporter's writer has counted the fixture in
// PostgreSQL and Redis, live read from Redis shows the numbers worked out
// by hand, and for every day it equals live read from the rollups (the same
// handler without Redis) and the month equals the case study.
//
// November 15 by hand (Asia/Shanghai; ¥1,234.5 per resolution):
//
//	session.start 4, escalations 2 → resolved 2 → "50.0%", cost 2 × 1234.5 = 2469 → "¥2,469"
//	session.message 1: 1500 ms → "1.5秒"
//	takeovers 2: 41 + 30 = 71 / 2 = 35.5 s → "36秒" (half up)
//	releases 2: 540 + 600 = 1140 / 2 = 570 s = 9.5 min → "9.5分钟"
//	ticket.closed 2: 4.25 + 4.25 → 4.25 h → "4.3小时", SLA 1 of 2 → "50.0%"
//	a1: takeover 41 s, release 540 s = 9 min, 1 message, 1 transfer, online 3600 s = 1 h, 1 ticket
//	a2: takeover 30 s, release 600 s = 10 min, 2 messages, online 22140 s = 6.15 h → "6.2小时", 1 ticket
func TestLiveFromRedis(t *testing.T) {
	t.Parallel()
	dsn, _ := testdb.Migrated(t)
	rdb, prefix := loadEventsThroughStore(t, dsn, readFixture(t, "testdata/events.yaml"), shanghai)
	live := liveServer(t, dsn, rdb, prefix, fixedNow, nil)
	rollups := liveServer(t, dsn, nil, "", fixedNow, nil)

	l := getLive(t, live, "/api/analytics/live?date=2025-11-15")
	assert.Equal(t, SourceRedis, l.Source)
	assert.Empty(t, l.Reason)
	assert.Equal(t, "2025-11-15", l.Date)
	assert.Equal(t, "Asia/Shanghai", l.Timezone)
	assert.Equal(t, "2025-12-10T12:00:00+08:00", l.AsOf)
	assert.Equal(t, "2025年11月15日", l.Day.Period)
	assert.Equal(t, CaseAI{TotalCustomersServed: 4, AIResolutionRate: "50.0%", AvgResponseTime: "1.5秒", CostSaved: "¥2,469"}, l.Day.AIChatbot)
	assert.Equal(t, CaseAgent{SessionsHandled: 2, AvgFirstResponse: "36秒", AvgHandleTime: "9.5分钟"}, l.Day.AgentWorkbench)
	assert.Equal(t, CaseTickets{TicketsResolved: 2, AvgResolutionTime: "4.3小时", SLAMetRate: "50.0%"}, l.Day.Tickets)
	assert.Equal(t, int64(2), l.Day.Raw.AIChatbot.Escalations)
	assert.InDelta(t, 2469.0, *l.Day.Raw.AIChatbot.CostSavedYuan, 0)
	assert.InDelta(t, 35.5, *l.Day.Raw.AgentWorkbench.AvgFirstResponseSeconds, 1e-9)
	require.Len(t, l.Day.Agents, 2)
	a1, a2 := l.Day.Agents[0], l.Day.Agents[1]
	assert.Equal(t, "a1", a1.AgentID)
	assert.Equal(t, []any{int64(1), "41秒", "9分钟", int64(1), int64(1), "1小时", int64(1)},
		[]any{a1.SessionsHandled, a1.AvgFirstResponse.Display, a1.AvgHandleTime.Display, a1.Messages, a1.Transfers, a1.OnlineTime.Display, a1.TicketsClosed})
	assert.Equal(t, "a2", a2.AgentID)
	assert.Equal(t, []any{int64(1), "30秒", "10分钟", int64(2), int64(0), "6.2小时", int64(1)},
		[]any{a2.SessionsHandled, a2.AvgFirstResponse.Display, a2.AvgHandleTime.Display, a2.Messages, a2.Transfers, a2.OnlineTime.Display, a2.TicketsClosed})

	// The month so far: the case study's numbers (stats_test.go).
	assert.Equal(t, "2025年11月", l.Month.Period)
	assert.Equal(t, CaseAI{TotalCustomersServed: 12, AIResolutionRate: "58.3%", AvgResponseTime: "1.5秒", CostSaved: "¥8,642"}, l.Month.AIChatbot)
	assert.Equal(t, CaseAgent{SessionsHandled: 3, AvgFirstResponse: "30秒", AvgHandleTime: "9分钟"}, l.Month.AgentWorkbench)
	assert.Equal(t, CaseTickets{TicketsResolved: 4, AvgResolutionTime: "4.3小时", SLAMetRate: "75.0%"}, l.Month.Tickets)
	require.Len(t, l.Month.Agents, 3, "a3 only logged in: a row of no data")
	assert.Equal(t, "暂无数据", l.Month.Agents[2].AvgFirstResponse.Display)
	assert.Nil(t, l.Month.Agents[2].AvgFirstResponse.Value)

	for _, lang := range []string{"zh", "en"} {
		for _, date := range []string{"2025-10-10", "2025-10-31", "2025-11-01", "2025-11-15", "2025-11-20", "2025-11-30", "2025-12-01", "2025-12-09", "2025-12-10"} {
			t.Run(lang+"/"+date, func(t *testing.T) {
				path := "/api/analytics/live?date=" + date + "&lang=" + lang
				fromRedis, fromPG := getLive(t, live, path), getLive(t, rollups, path)
				require.Equal(t, SourceRedis, fromRedis.Source)
				require.Equal(t, SourcePostgres, fromPG.Source)
				assert.Equal(t, "redis is not configured (redis::addr is empty)", fromPG.Reason)
				fromPG.Source, fromPG.Reason = fromRedis.Source, fromRedis.Reason
				assert.Equal(t, fromRedis, fromPG, "Redis and the rollups disagree once the pipeline is drained")

				cs := decodeCase(t, getJSON(t, rollups, "/api/analytics/case-study?month="+date[:7]+"&lang="+lang))
				assert.Equal(t, cs.AIChatbot, fromRedis.Month.AIChatbot)
				assert.Equal(t, cs.AgentWorkbench, fromRedis.Month.AgentWorkbench)
				assert.Equal(t, cs.Tickets, fromRedis.Month.Tickets)
				assert.Equal(t, cs.Raw, fromRedis.Month.Raw)

				var daily DailyJSON
				require.NoError(t, json.Unmarshal([]byte(getJSON(t, rollups, "/api/analytics/daily?from="+date+"&to="+date+"&lang="+lang)), &daily))
				require.Len(t, daily.Days, 1)
				d := daily.Days[0]
				assert.Equal(t, d.TotalCustomersServed, fromRedis.Day.AIChatbot.TotalCustomersServed)
				assert.Equal(t, d.AIResolutionRate.Display, fromRedis.Day.AIChatbot.AIResolutionRate)
				assert.Equal(t, d.CostSaved.Display, fromRedis.Day.AIChatbot.CostSaved)
				assert.Equal(t, d.AvgFirstResponse.Display, fromRedis.Day.AgentWorkbench.AvgFirstResponse)
				assert.Equal(t, d.TicketsResolved, fromRedis.Day.Tickets.TicketsResolved)
				assert.Equal(t, d.SLAMetRate.Display, fromRedis.Day.Tickets.SLAMetRate)
			})
		}
	}

	en := getLive(t, live, "/api/analytics/live?date=2025-11-15&lang=en")
	assert.Equal(t, "15 November 2025", en.Day.Period)
	assert.Equal(t, "9.5 min", en.Day.AgentWorkbench.AvgHandleTime)
	assert.Equal(t, "CNY 2,469", en.Day.AIChatbot.CostSaved)

	// Without date: today in Shanghai, December 10 — nothing that day, one
	// session (Dec 1 00:30) in the month.
	today := getLive(t, live, "/api/analytics/live")
	assert.Equal(t, "2025-12-10", today.Date)
	assert.Equal(t, int64(0), today.Day.AIChatbot.TotalCustomersServed)
	assert.Equal(t, "暂无数据", today.Day.AIChatbot.AIResolutionRate)
	assert.Equal(t, int64(1), today.Month.AIChatbot.TotalCustomersServed)
	assert.Equal(t, "100.0%", today.Month.AIChatbot.AIResolutionRate)
}

// TestLiveDayBoundary: days are cut in the business time zone. At 00:40 on
// November 1 in Shanghai (still October 31 in UTC) today is November 1,
// whose five starts include the one at 2025-10-31T16:30Z; October 31 has
// the start at 15:59:59Z (23:59:59 in Shanghai) only; November 2 is in
// the future.
func TestLiveDayBoundary(t *testing.T) {
	t.Parallel()
	dsn, _ := testdb.Migrated(t)
	rdb, prefix := loadEventsThroughStore(t, dsn, readFixture(t, "testdata/events.yaml"), shanghai)
	now := time.Date(2025, 10, 31, 16, 40, 0, 0, time.UTC)
	srv := liveServer(t, dsn, rdb, prefix, now, nil)

	today := getLive(t, srv, "/api/analytics/live")
	assert.Equal(t, "2025-11-01", today.Date)
	assert.Equal(t, "2025-11-01T00:40:00+08:00", today.AsOf)
	assert.Equal(t, int64(5), today.Day.AIChatbot.TotalCustomersServed)
	assert.Equal(t, int64(12), today.Month.AIChatbot.TotalCustomersServed, "the month's hash: the whole month the fixture wrote")

	oct31 := getLive(t, srv, "/api/analytics/live?date=2025-10-31")
	assert.Equal(t, int64(1), oct31.Day.AIChatbot.TotalCustomersServed)
	assert.Equal(t, int64(2), oct31.Month.AIChatbot.TotalCustomersServed)

	r := get(t, srv, "/api/analytics/live?date=2025-11-02", "")
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.JSONEq(t, `{"error": "invalid date \"2025-11-02\": after today (2025-11-01 in Asia/Shanghai); leave date out for today"}`, r.body)

	// In another business time zone the same instant is another day.
	ny := liveServer(t, dsn, rdb, prefix, now, func(c *Config) { c.Timezone = "America/New_York" })
	assert.Equal(t, "2025-10-31", getLive(t, ny, "/api/analytics/live").Date)
}

// TestLiveDateValidation: a bad date or lang is a 400 that says what is
// expected, before any read.
func TestLiveDateValidation(t *testing.T) {
	t.Parallel()
	// Neither PostgreSQL nor Redis answers: validation comes first.
	srv := liveServer(t, "postgres://postgres@127.0.0.1:1/test?sslmode=disable", nil, "", fixedNow, nil)
	for q, want := range map[string]string{
		"date=2025-13-01":  `invalid date "2025-13-01": not a calendar day`,
		"date=2025-02-30":  `invalid date "2025-02-30": not a calendar day`,
		"date=2025-12":     `invalid date "2025-12": want YYYY-MM-DD, e.g. 2025-12-01`,
		"date=12/10/2025":  `invalid date "12/10/2025": want YYYY-MM-DD, e.g. 2025-12-01`,
		"date=":            `invalid date "": want YYYY-MM-DD, e.g. 2025-12-01`,
		"date=1969-12-31":  `invalid date "1969-12-31": the year must be 1970 or later`,
		"date=2025-12-11":  `invalid date "2025-12-11": after today (2025-12-10 in Asia/Shanghai); leave date out for today`,
		"lang=fr":          `invalid lang "fr": want zh or en`,
		"date=2025-12-1x1": `invalid date "2025-12-1x1": want YYYY-MM-DD, e.g. 2025-12-01`,
	} {
		t.Run(q, func(t *testing.T) {
			r := get(t, srv, "/api/analytics/live?"+q, "")
			require.Equal(t, http.StatusBadRequest, r.status, r.body)
			var body map[string]string
			require.NoError(t, json.Unmarshal([]byte(r.body), &body))
			assert.Equal(t, want, body["error"])
		})
	}
}

// TestLiveFallback: a Redis of the test's own holds the counters; while it
// runs live answers from it, once it is stopped (or hangs, or is past the
// daily TTL) from the rollups with the same numbers and a reason that
// does not say where Redis is. With Redis up and PostgreSQL down live still
// answers, from Redis.
func TestLiveFallback(t *testing.T) {
	t.Parallel()
	dsn, _ := testdb.Migrated(t)
	rs := testdb.StartRedis(t)
	cfg := NewDefaultConfig()
	cfg.Redis.Addr = rs.Addr
	cfg.Redis.KeyPrefix = "live:"
	cfg.Redis.Timeout = 500 * time.Millisecond
	rdb := NewRedisClient(cfg.Redis)
	t.Cleanup(func() {
		assert.NoError(t, rdb.Close())
		waitDialProbeEnd(t)
	})
	storeEvents(t, dsn, rdb, "live:", readFixture(t, "testdata/events.yaml"), shanghai)
	timeout := func(c *Config) { c.Redis.Timeout = 500 * time.Millisecond }
	srv := liveServer(t, dsn, rdb, "live:", fixedNow, timeout)

	up := getLive(t, srv, "/api/analytics/live?date=2025-11-15")
	require.Equal(t, SourceRedis, up.Source)
	assert.Equal(t, int64(4), up.Day.AIChatbot.TotalCustomersServed)

	// PostgreSQL down, Redis up: live needs only Redis.
	noPG := liveServer(t, "postgres://postgres@127.0.0.1:1/test?sslmode=disable", rdb, "live:", fixedNow, timeout)
	assert.Equal(t, up, getLive(t, noPG, "/api/analytics/live?date=2025-11-15"))

	rs.Stop()
	down := get(t, srv, "/api/analytics/live?date=2025-11-15", "")
	require.Equal(t, http.StatusOK, down.status, down.body)
	assert.NotContains(t, down.body, rs.Addr[strings.LastIndex(rs.Addr, ":"):], "the answer must not show Redis' port")
	assert.NotContains(t, down.body, "127.0.0.1")
	var l LiveJSON
	require.NoError(t, json.Unmarshal([]byte(down.body), &l))
	assert.Equal(t, SourcePostgres, l.Source)
	assert.Equal(t, "redis unavailable: cannot connect or lost the connection (see the collector's log)", l.Reason)
	l.Source, l.Reason = up.Source, up.Reason
	assert.Equal(t, up, l)

	// Both down: the rollups' 503.
	r := get(t, noPG, "/api/analytics/live?date=2025-11-15", "")
	assert.Equal(t, http.StatusServiceUnavailable, r.status)
	assert.JSONEq(t, `{"error": "postgres unavailable: cannot connect or lost the connection (see the collector's log)"}`, r.body)

	// Redis back (empty: it keeps nothing on disk): live reads it again
	// without a restart of the service. (go-redis probes a failing address
	// once a second before it dials again.)
	rs.Start()
	require.Eventually(t, func() bool {
		return getLive(t, srv, "/api/analytics/live?date=2025-11-15").Source == SourceRedis
	}, 10*time.Second, 100*time.Millisecond)
	assert.Equal(t, int64(0), getLive(t, srv, "/api/analytics/live?date=2025-11-15").Day.AIChatbot.TotalCustomersServed)

	// A Redis that accepts connections and never answers: the timeout.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	conns := make(chan net.Conn, 16)
	accepted := make(chan struct{})
	t.Cleanup(func() {
		_ = ln.Close()
		<-accepted
		close(conns)
		for c := range conns {
			_ = c.Close()
		}
	})
	go func() {
		defer close(accepted)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			select {
			case conns <- c:
			default:
				_ = c.Close()
			}
		}
	}()
	hung := NewRedisClient(RedisConfig{RedisConfig: counters.RedisConfig{Addr: ln.Addr().String()}, Timeout: 300 * time.Millisecond})
	t.Cleanup(func() { assert.NoError(t, hung.Close()) })
	hs := liveServer(t, dsn, hung, "live:", fixedNow, func(c *Config) { c.Redis.Timeout = 300 * time.Millisecond })
	l = getLive(t, hs, "/api/analytics/live?date=2025-11-15")
	assert.Equal(t, SourcePostgres, l.Source)
	assert.Equal(t, "redis unavailable: no answer within 300ms", l.Reason)
	assert.Equal(t, int64(4), l.Day.AIChatbot.TotalCustomersServed)

	// A day past redis::daily_ttl is not kept in Redis: not even asked.
	ttl := liveServer(t, dsn, hung, "live:", fixedNow, func(c *Config) { c.Redis.DailyTTL = 24 * time.Hour })
	l = getLive(t, ttl, "/api/analytics/live?date=2025-11-15")
	assert.Equal(t, SourcePostgres, l.Source)
	assert.Equal(t, "redis no longer keeps 2025-11-15 (past redis::daily_ttl or redis::monthly_ttl)", l.Reason)
	assert.Equal(t, int64(4), l.Day.AIChatbot.TotalCustomersServed)
}

// waitDialProbeEnd waits for go-redis' dial probe to end: after a few
// failed dials a client's pool probes the address once a second in a
// goroutine of its own until a dial succeeds or the client is closed, and
// goleak (TestMain) would find it still asleep.
func waitDialProbeEnd(t *testing.T) {
	t.Helper()
	buf := make([]byte, 1<<20)
	assert.Eventually(t, func() bool {
		n := runtime.Stack(buf, true)
		return !strings.Contains(string(buf[:n]), "pool.(*ConnPool).tryDial")
	}, 5*time.Second, 50*time.Millisecond, "go-redis' dial probe did not end after the client was closed")
}

// TestLiveRedisRefusesOrHoldsOtherData: an error reply (a day key that is
// not a hash: WRONGTYPE) and a hash with a field that is not the
// exporter's make live answer from the rollups, saying which.
func TestLiveRedisRefusesOrHoldsOtherData(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, _ := testdb.Migrated(t)
	rdb, prefix := loadEventsThroughStore(t, dsn, readFixture(t, "testdata/events.yaml"), shanghai)
	srv := liveServer(t, dsn, rdb, prefix, fixedNow, nil)

	require.NoError(t, rdb.Set(ctx, prefix+"daily:2025-11-20", "7", 0).Err())
	l := getLive(t, srv, "/api/analytics/live?date=2025-11-20")
	assert.Equal(t, SourcePostgres, l.Source)
	assert.Equal(t, "redis unavailable: the read was refused (see the collector's log)", l.Reason)
	require.Len(t, l.Day.Agents, 1, "a3's login, from the rollups")
	assert.Equal(t, "a3", l.Day.Agents[0].AgentID)

	require.NoError(t, rdb.HSet(ctx, prefix+"daily:2025-11-15", "session.start:bogus", "1").Err())
	l = getLive(t, srv, "/api/analytics/live?date=2025-11-15")
	assert.Equal(t, SourcePostgres, l.Source)
	assert.Equal(t, "redis holds counters it cannot read (see the collector's log)", l.Reason)
	assert.Equal(t, int64(4), l.Day.AIChatbot.TotalCustomersServed)
}
