package stats

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.uber.org/zap"

	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
)

// maxDailyDays bounds /api/analytics/daily: at most one leap year of days.
const maxDailyDays = 366

// HandlerSettings are what NewHandler needs beyond the configuration.
type HandlerSettings struct {
	// MeterProvider receives the service's own metrics; nil is a no-op.
	MeterProvider metric.MeterProvider
	// Now is the clock (default time.Now); tests fix it.
	Now func() time.Time
	// Logger receives the details of backend errors, which the answers do
	// not show (no host, port or user); nil is a no-op.
	Logger *zap.Logger
	// Redis is the client of the configuration's redis section
	// (NewRedisClient) that /api/analytics/live reads; nil: Redis is not
	// configured and live answers from the rollups. The caller closes it.
	Redis redis.UniversalClient
}

type handler struct {
	q       *Queries
	loc     *time.Location
	costFen int64
	token   []byte
	timeout time.Duration
	now     func() time.Time
	tel     *telemetry
	log     *zap.Logger

	rdb          redis.UniversalClient // nil: not configured
	layout       counters.Layout
	redisTimeout time.Duration
}

// NewHandler returns the stats service's HTTP handler reading through pool:
//
//	GET /healthz
//	GET /api/analytics/case-study?month=YYYY-MM&lang=zh|en
//	GET /api/analytics/summary?month=&lang=
//	GET /api/analytics/agents?month=&lang=
//	GET /api/analytics/tickets?month=&lang=
//	GET /api/analytics/daily?from=YYYY-MM-DD&to=YYYY-MM-DD&lang=
//	GET /api/analytics/live?date=YYYY-MM-DD&lang=
//	GET /report?month=&lang=
//	GET /assets/echarts.min.js
func NewHandler(cfg *Config, pool *pgxpool.Pool, set HandlerSettings) (http.Handler, error) {
	loc, err := time.LoadLocation(cfg.Timezone)
	if err != nil {
		return nil, fmt.Errorf("timezone: %w", err)
	}
	if set.Now == nil {
		set.Now = time.Now
	}
	if set.MeterProvider == nil {
		set.MeterProvider = noop.NewMeterProvider()
	}
	if set.Logger == nil {
		set.Logger = zap.NewNop()
	}
	tel, err := newTelemetry(set.MeterProvider)
	if err != nil {
		return nil, err
	}
	h := &handler{
		q:       NewQueries(pool),
		loc:     loc,
		costFen: cfg.costFen(),
		token:   []byte(string(cfg.Auth.Token)),
		timeout: cfg.Postgres.QueryTimeout,
		now:     set.Now,
		tel:     tel,
		log:     set.Logger,

		rdb:          set.Redis,
		layout:       cfg.Redis.Layout(),
		redisTimeout: cfg.Redis.Timeout,
	}
	h.layout.Now = set.Now
	if h.timeout <= 0 {
		h.timeout = 5 * time.Second
	}
	if h.redisTimeout <= 0 {
		h.redisTimeout = time.Second
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", h.healthz)
	mux.HandleFunc("GET /api/analytics/case-study", monthView(h, view.caseStudy))
	mux.HandleFunc("GET /api/analytics/summary", monthView(h, view.summary))
	mux.HandleFunc("GET /api/analytics/agents", h.agents)
	mux.HandleFunc("GET /api/analytics/tickets", monthView(h, view.tickets))
	mux.HandleFunc("GET /api/analytics/daily", h.daily)
	mux.HandleFunc("GET /api/analytics/live", h.live)
	mux.HandleFunc("GET /report", h.report)
	mux.Handle("GET /assets/", assetHandler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if getPath(r.URL.Path) {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s: GET only", r.Method, r.URL.Path))
			return
		}
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	return h.instrument(nosniff(h.authenticate(mux))), nil
}

// getPaths are the endpoints (GET only); another method on them is a 405.
var getPaths = map[string]bool{
	"/healthz": true, "/api/analytics/case-study": true, "/api/analytics/summary": true, "/api/analytics/agents": true,
	"/api/analytics/tickets": true, "/api/analytics/daily": true, "/api/analytics/live": true, "/report": true,
}

func getPath(p string) bool { return getPaths[p] || strings.HasPrefix(p, "/assets/") }

// nosniff tells browsers to trust every answer's Content-Type.
func nosniff(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}

// authenticate requires the bearer token, when one is configured, on every
// path but /healthz and the static assets (a chart library, no data).
func (h *handler) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(h.token) == 0 || r.URL.Path == "/healthz" || strings.HasPrefix(r.URL.Path, "/assets/") {
			next.ServeHTTP(w, r)
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), h.token) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="analytics-stats"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token (send Authorization: Bearer <token>)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// writeJSON writes v as UTF-8 JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// writeError writes {"error": msg}.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// writeBackendError answers a failed read: 503 naming the backend when
// PostgreSQL is down or refused, nothing when the client went away.
func (h *handler) writeBackendError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client is gone; nobody reads the answer
	}
	// The details (host, port, user of a failed connection) go to the log,
	// not to the caller.
	h.log.Warn("stats: read failed", zap.String("path", r.URL.Path), zap.Error(err))
	var be *BackendError
	if errors.As(err, &be) {
		var pe *pgconn.PgError
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			writeError(w, http.StatusServiceUnavailable, be.Backend+" unavailable: no answer within "+h.timeout.String())
		case errors.As(err, &pe):
			writeError(w, http.StatusServiceUnavailable, be.Backend+" unavailable: the query was refused (SQLSTATE "+pe.Code+")")
		default:
			writeError(w, http.StatusServiceUnavailable, be.Backend+" unavailable: cannot connect or lost the connection (see the collector's log)")
		}
		return
	}
	writeError(w, http.StatusInternalServerError, "internal error (see the collector's log)")
}

// params are the validated query parameters shared by the month endpoints.
type params struct {
	month Month
	lang  Lang
}

func (h *handler) monthParams(w http.ResponseWriter, r *http.Request) (params, bool) {
	q := r.URL.Query()
	var p params
	var err error
	if p.lang, err = ParseLang(q.Get("lang")); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return p, false
	}
	if !q.Has("month") {
		p.month = MonthOf(h.now(), h.loc)
		return p, true
	}
	if p.month, err = ParseMonth(q.Get("month")); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return p, false
	}
	return p, true
}

func (h *handler) view(l Lang) view { return view{lang: l, loc: h.loc, costFen: h.costFen} }

// loadMonth reads a month's totals and computes its metrics and status.
func (h *handler) loadMonth(ctx context.Context, m Month) (Metrics, DataStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	data, err := h.q.Month(ctx, m, h.loc)
	if err != nil {
		return Metrics{}, DataStatus{}, err
	}
	st := DataStatus{
		Month:       m,
		Complete:    !h.now().Before(m.End(h.loc)),
		Rejected:    data.Rejected,
		LastWritten: data.LastWritten,
		Replica:     data.Replica,
	}
	return ComputeMetrics(data.Totals, h.costFen), st, nil
}

func (h *handler) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), min(h.timeout, 2*time.Second))
	defer cancel()
	if err := h.q.Ping(ctx); err != nil {
		h.writeBackendError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "postgres": "ok"})
}

// monthView serves GET ?month=&lang= with the JSON view of the month's
// metrics that build makes: the case study, the summary, the tickets.
func monthView[T any](h *handler, build func(view, Metrics, DataStatus) T) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, ok := h.monthParams(w, r)
		if !ok {
			return
		}
		m, st, err := h.loadMonth(r.Context(), p.month)
		if err != nil {
			h.writeBackendError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, build(h.view(p.lang), m, st))
	}
}

func (h *handler) agents(w http.ResponseWriter, r *http.Request) {
	p, ok := h.monthParams(w, r)
	if !ok {
		return
	}
	rows, st, err := h.loadAgents(r.Context(), p.month)
	if err != nil {
		h.writeBackendError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, h.view(p.lang).agents(rows, st))
}

func (h *handler) loadAgents(ctx context.Context, m Month) ([]AgentRow, DataStatus, error) {
	_, st, err := h.loadMonth(ctx, m)
	if err != nil {
		return nil, st, err
	}
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	at, err := h.q.Agents(ctx, m)
	if err != nil {
		return nil, st, err
	}
	return ComputeAgents(at), st, nil
}

// dayMetrics are the metrics of each day of [from, to], zero-filled.
type dayMetrics struct {
	date    time.Time
	metrics Metrics
}

func (h *handler) loadDays(ctx context.Context, from, to time.Time) ([]dayMetrics, Replica, error) {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	rows, rep, err := h.q.Daily(ctx, from, to)
	if err != nil {
		return nil, rep, err
	}
	byDay := map[string]Totals{}
	for _, r := range rows {
		k := r.Date.Format(time.DateOnly)
		if byDay[k] == nil {
			byDay[k] = Totals{}
		}
		byDay[k][r.Event] = r.Values
	}
	var out []dayMetrics
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		out = append(out, dayMetrics{date: d, metrics: ComputeMetrics(byDay[d.Format(time.DateOnly)], h.costFen)})
	}
	return out, rep, nil
}

func (h *handler) daily(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	lang, err := ParseLang(q.Get("lang"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var from, to time.Time
	switch {
	case !q.Has("from") && !q.Has("to"):
		// The current month up to today.
		today := h.now().In(h.loc)
		from = MonthOf(today, h.loc).FirstDay()
		to = time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, time.UTC)
	case q.Has("from") != q.Has("to"):
		writeError(w, http.StatusBadRequest, "from and to go together: give both (YYYY-MM-DD) or neither (the current month)")
		return
	default:
		if from, err = ParseDate("from", q.Get("from")); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		if to, err = ParseDate("to", q.Get("to")); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	if to.Before(from) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid range: to (%s) is before from (%s)",
			to.Format(time.DateOnly), from.Format(time.DateOnly)))
		return
	}
	if days := int(to.Sub(from).Hours()/24) + 1; days > maxDailyDays {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid range: %d days, at most %d", days, maxDailyDays))
		return
	}
	days, rep, err := h.loadDays(r.Context(), from, to)
	if err != nil {
		h.writeBackendError(w, r, err)
		return
	}
	v := h.view(lang)
	out := DailyJSON{
		From:     from.Format(time.DateOnly),
		To:       to.Format(time.DateOnly),
		Timezone: h.loc.String(),
		Days:     make([]DayJSON, 0, len(days)),
		Standby:  v.standby(rep),
	}
	for _, d := range days {
		out.Days = append(out.Days, v.day(d.date, d.metrics))
	}
	writeJSON(w, http.StatusOK, out)
}
