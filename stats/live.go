package stats

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
)

// The sources of /api/analytics/live.
const (
	SourceRedis    = "redis"
	SourcePostgres = "postgres"
)

// NewRedisClient returns the client of cfg (a cluster client when Addrs is
// set), or nil when no address is configured. It does no I/O: a Redis that
// is down makes live answer from the rollups until it is back.
func NewRedisClient(cfg RedisConfig) redis.UniversalClient {
	if !cfg.Enabled() {
		return nil
	}
	opts := cfg.Options()
	// A live read that fails falls back to the rollups: one retry for a
	// pooled connection Redis closed, one dial (a refused connection is
	// reported at once, not after go-redis' five dials 100ms apart).
	opts.MaxRetries = 1
	opts.DialerRetries = 1
	opts.DialTimeout = cfg.Timeout
	opts.ReadTimeout = cfg.Timeout
	opts.PoolSize = 4
	return counters.NewClient(opts)
}

// LiveJSON is the body of /api/analytics/live: a business day and its
// month so far, from the Redis counters the exporter keeps (source
// "redis"), or from the rollups (source "postgres", with the reason).
type LiveJSON struct {
	Source string `json:"source"`
	// Reason says why the answer is not from Redis; absent when it is.
	Reason   string `json:"reason,omitempty"`
	Date     string `json:"date"`
	Timezone string `json:"timezone"`
	// AsOf is when the counters were read, RFC 3339 in the business time
	// zone.
	AsOf  string     `json:"as_of"`
	Day   LivePeriod `json:"day"`
	Month LivePeriod `json:"month"`
	// Standby is set when the rollups were read from a hot standby (source
	// "postgres" only), as in the month endpoints' data.standby.
	Standby *StandbyJSON `json:"standby,omitempty"`
}

// LivePeriod is one period of /api/analytics/live: the case study's
// objects, raw numbers and the per-agent rows.
type LivePeriod struct {
	Period         string      `json:"period"`
	AIChatbot      CaseAI      `json:"ai_chatbot"`
	AgentWorkbench CaseAgent   `json:"agent_workbench"`
	Tickets        CaseTickets `json:"tickets"`
	Raw            CaseRaw     `json:"raw"`
	Agents         []AgentJSON `json:"agents"`
}

// liveData is what live is computed from: the all-agents and per-agent
// totals of the day and of its month.
type liveData struct {
	source, reason    string
	day, month        Totals
	dayAgents, agents AgentTotals
	// replica: how far the standby the rollups were read from has
	// replayed; zero from Redis or a primary.
	replica Replica
}

// live serves GET /api/analytics/live?date=YYYY-MM-DD&lang=.
func (h *handler) live(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	lang, err := ParseLang(q.Get("lang"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	now, today := h.today()
	date := today
	if q.Has("date") {
		if date, err = ParseDate("date", q.Get("date")); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		if date.After(today) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid date %s: after today (%s in %s); leave date out for today",
				quoteInput(q.Get("date")), today.Format(time.DateOnly), h.loc))
			return
		}
	}
	d, err := h.loadLive(r.Context(), date)
	if err != nil {
		h.writeBackendError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, h.view(lang).live(date, now, d))
}

// today returns now in the business time zone and its day as a date
// (midnight UTC, as ParseDate returns days).
func (h *handler) today() (now, today time.Time) {
	now = h.now().In(h.loc)
	return now, time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
}

// loadLive reads the day and its month from Redis, or from the rollups when
// Redis is not configured, does not keep the day any more, or fails.
func (h *handler) loadLive(ctx context.Context, date time.Time) (liveData, error) {
	ds := date.Format(counters.DateLayout)
	var reason string
	switch {
	case h.rdb == nil:
		reason = "redis is not configured (redis::addr is empty)"
	case !h.layout.KeepsDay(ds) || !h.layout.KeepsMonth(counters.MonthOf(ds)):
		reason = "redis no longer keeps " + ds + " (past redis::daily_ttl or redis::monthly_ttl)"
	default:
		d, err := h.readRedis(ctx, ds)
		if err == nil {
			return d, nil
		}
		if ctx.Err() != nil {
			return liveData{}, ctx.Err() // the client is gone
		}
		h.log.Warn("stats: live read from Redis failed, answering from PostgreSQL", zap.Error(err))
		reason = redisReason(err, h.redisTimeout)
	}
	d, err := h.readPostgres(ctx, date)
	d.reason = reason
	return d, err
}

// redisReason says why a Redis read failed without the details (address,
// user) the log has.
func redisReason(err error, timeout time.Duration) string {
	var (
		re redis.Error
		ne net.Error
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "redis unavailable: no answer within " + timeout.String()
	case errors.As(err, &re):
		return "redis unavailable: the read was refused (see the collector's log)"
	case errors.Is(err, counters.ErrUnreadable):
		return "redis holds counters it cannot read (see the collector's log)"
	default:
		return "redis unavailable: cannot connect or lost the connection (see the collector's log)"
	}
}

func (h *handler) readRedis(ctx context.Context, date string) (liveData, error) {
	ctx, cancel := context.WithTimeout(ctx, h.redisTimeout)
	defer cancel()
	day, month, err := h.layout.ReadDayAndMonth(ctx, h.rdb, date)
	if err != nil {
		return liveData{}, err
	}
	d := liveData{source: SourceRedis}
	d.day, d.dayAgents = splitRows(day)
	d.month, d.agents = splitRows(month)
	return d, nil
}

// readPostgres reads the day and its month from the rollups, all within
// postgres::query_timeout.
func (h *handler) readPostgres(ctx context.Context, date time.Time) (liveData, error) {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	d := liveData{source: SourcePostgres, day: Totals{}}
	m := MonthOf(date, time.UTC)
	data, err := h.q.Month(ctx, m, h.loc)
	if err != nil {
		return d, err
	}
	d.month, d.replica = data.Totals, data.Replica
	rows, _, err := h.q.Daily(ctx, date, date)
	if err != nil {
		return d, err
	}
	for _, r := range rows {
		d.day[r.Event] = r.Values
	}
	if d.dayAgents, err = h.q.AgentsBetween(ctx, date, date.AddDate(0, 0, 1)); err != nil {
		return d, err
	}
	if d.agents, err = h.q.Agents(ctx, m); err != nil {
		return d, err
	}
	return d, nil
}

// splitRows turns counter rows into all-agents and per-agent totals.
func splitRows(rows []counters.Row) (Totals, AgentTotals) {
	all, agents := Totals{}, AgentTotals{}
	for _, r := range rows {
		if r.AgentID == "" {
			all[r.Event] = r.Values
			continue
		}
		if agents[r.AgentID] == nil {
			agents[r.AgentID] = Totals{}
		}
		agents[r.AgentID][r.Event] = r.Values
	}
	return all, agents
}

func (v view) live(date, now time.Time, d liveData) LiveJSON {
	m := MonthOf(date, time.UTC)
	return LiveJSON{
		Source:   d.source,
		Reason:   d.reason,
		Date:     date.Format(time.DateOnly),
		Timezone: v.loc.String(),
		AsOf:     now.In(v.loc).Format(time.RFC3339),
		Day:      v.livePeriod(FormatDay(date, v.lang), d.day, d.dayAgents),
		Month:    v.livePeriod(FormatPeriod(m, v.lang), d.month, d.agents),
		Standby:  v.standby(d.replica),
	}
}

func (v view) livePeriod(period string, t Totals, at AgentTotals) LivePeriod {
	n := v.caseNumbers(ComputeMetrics(t, v.costFen))
	return LivePeriod{
		Period:         period,
		AIChatbot:      n.AIChatbot,
		AgentWorkbench: n.AgentWorkbench,
		Tickets:        n.Tickets,
		Raw:            n.Raw,
		Agents:         v.agentRows(ComputeAgents(at)),
	}
}
