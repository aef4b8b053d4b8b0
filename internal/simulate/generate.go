// Package simulate generates a realistic, repeatable stream of the two
// products' business events (the AI chatbot's sessions, the agent
// workbench's agents, sessions and tickets), sends it through the typed
// emitters of sdk/bizevents and the OTel SDK's OTLP log exporter, and
// computes on its own what the stats service must report for it (docs/spec.md §8).
// cmd/simulate is its command line.
package simulate

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
	"github.com/otelcol-analytics/otelcol-analytics/sdk/bizevents"
)

// Config describes the traffic to generate.
type Config struct {
	// From and To bound the simulated business days: [From, To), both
	// midnights in Location (see DayRange and MonthRange).
	From, To time.Time
	// Location is the business time zone (default Asia/Shanghai).
	Location *time.Location
	// Seed makes the run repeatable: the same seed, range and scale give the
	// same events with the same ids.
	Seed uint64
	// Scale is the number of chatbot sessions of an average weekday
	// (weekends have fewer). Default 200.
	Scale int
	// Agents is the number of human agents (default Scale/20, at least 3).
	Agents int
	// ResendFraction of the events is sent a second time with the same id
	// (a client retry); the expectation counts them once.
	ResendFraction float64
	// Now drops events later than it (they would be in the future). Zero:
	// time.Now at the start of the run.
	Now time.Time
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.From.IsZero() || c.To.IsZero() || !c.From.Before(c.To) {
		errs = append(errs, errors.New("the date range is empty: --from must be before --to"))
	}
	if c.Scale < 0 {
		errs = append(errs, errors.New("--scale must be ≥ 0"))
	}
	if c.Agents < 0 {
		errs = append(errs, errors.New("--agents must be ≥ 0"))
	}
	if c.ResendFraction < 0 || c.ResendFraction > 1 || math.IsNaN(c.ResendFraction) {
		errs = append(errs, errors.New("--resend-fraction must be between 0 and 1"))
	}
	return errors.Join(errs...)
}

func (c *Config) withDefaults() Config {
	out := *c
	if out.Location == nil {
		out.Location = DefaultLocation()
	}
	if out.Scale == 0 {
		out.Scale = 200
	}
	if out.Agents == 0 {
		out.Agents = max(3, out.Scale/20)
	}
	if out.Now.IsZero() {
		out.Now = time.Now()
	}
	return out
}

// DefaultLocation is Asia/Shanghai (UTC if the zone database lacks it;
// cmd/simulate embeds time/tzdata).
func DefaultLocation() *time.Location {
	loc, err := time.LoadLocation(counters.DefaultTimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// MonthRange returns the first midnight of month ("2025-12") in loc and the
// first midnight of the next month.
func MonthRange(month string, loc *time.Location) (from, to time.Time, err error) {
	m, err := time.ParseInLocation("2006-01", month, loc)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("bad month %q (want YYYY-MM)", month)
	}
	return m, m.AddDate(0, 1, 0), nil
}

// DayRange returns midnight of from and the midnight after to (both
// "YYYY-MM-DD", to inclusive) in loc.
func DayRange(from, to string, loc *time.Location) (time.Time, time.Time, error) {
	f, err := time.ParseInLocation("2006-01-02", from, loc)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("bad --from %q (want YYYY-MM-DD)", from)
	}
	t, err := time.ParseInLocation("2006-01-02", to, loc)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("bad --to %q (want YYYY-MM-DD)", to)
	}
	return f, t.AddDate(0, 0, 1), nil
}

// Generator produces the events of each day. Each day has its own random
// stream derived from the seed and the date, so a day's events do not
// depend on the range around it.
type Generator struct {
	cfg    Config
	agents []string
}

// NewGenerator validates cfg and returns a Generator.
func NewGenerator(cfg Config) (*Generator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := cfg.withDefaults()
	g := &Generator{cfg: c}
	for i := 1; i <= c.Agents; i++ {
		g.agents = append(g.agents, fmt.Sprintf("agent-%02d", i))
	}
	return g, nil
}

// Config returns the configuration with defaults applied.
func (g *Generator) Config() Config { return g.cfg }

// Days returns the midnights of the simulated days.
func (g *Generator) Days() []time.Time {
	var days []time.Time
	for d := g.cfg.From; d.Before(g.cfg.To); d = addDay(d, g.cfg.Location) {
		days = append(days, d)
	}
	return days
}

func addDay(d time.Time, loc *time.Location) time.Time {
	y, m, dd := d.In(loc).Date()
	return time.Date(y, m, dd+1, 0, 0, 0, 0, loc)
}

// hourWeights is the chatbot's diurnal pattern (share of sessions starting
// in each hour of the business day): quiet at night, peaks late morning,
// afternoon and evening. Hour 23 is 0 so every session ends the day it began.
var hourWeights = [24]float64{3, 2, 1, 1, 1, 2, 4, 8, 14, 22, 26, 25, 18, 20, 23, 23, 21, 18, 15, 16, 18, 15, 9, 0}

// ticketHourWeights: tickets come in office hours mostly.
var ticketHourWeights = [24]float64{1, 0, 0, 0, 0, 0, 1, 3, 8, 14, 16, 15, 10, 13, 15, 14, 12, 9, 6, 5, 4, 3, 2, 1}

type day struct {
	g       *Generator
	r       *rand.Rand
	ids     *rand.Rand
	date    time.Time
	tag     string
	events  []Event
	shifts  []shift
	tickets int
}

type shift struct {
	agent                 string
	login, logout         time.Time
	breakFrom, breakUntil time.Time
}

func (s shift) availableAt(t time.Time, until time.Time) bool {
	return !t.Before(s.login) && until.Before(s.logout) && (until.Before(s.breakFrom) || !t.Before(s.breakUntil))
}

// Day returns the events of the business day starting at midnight d, in
// the order they are to be sent (by time; resends later in the stream).
func (g *Generator) Day(d time.Time) []Event {
	dayNum := uint64(d.Unix()/86400) + 1 //nolint:gosec // dates after 1970
	dy := &day{
		g:    g,
		r:    rand.New(rand.NewPCG(g.cfg.Seed, dayNum)),                    //nolint:gosec // seeded on purpose: a run repeats from its seed
		ids:  rand.New(rand.NewPCG(g.cfg.Seed^0x9e3779b97f4a7c15, dayNum)), //nolint:gosec // seeded on purpose, as above
		date: d,
		tag:  d.Format("20060102"),
	}
	dy.agentShifts()
	factor := 1.0
	switch d.Weekday() {
	case time.Saturday:
		factor = 0.7
	case time.Sunday:
		factor = 0.6
	}
	n := int(math.Round(float64(g.cfg.Scale) * factor * (0.9 + 0.2*dy.r.Float64())))
	for i := range n {
		dy.session(i + 1)
	}
	nt := int(math.Round(float64(g.cfg.Scale) * 0.05 * factor * (0.8 + 0.4*dy.r.Float64())))
	for range nt {
		dy.ticket(dy.at(ticketHourWeights), "", "")
	}
	// Drop what lies beyond the range or in the future, then order by time.
	limit := g.cfg.To
	if g.cfg.Now.Before(limit) {
		limit = g.cfg.Now
	}
	evs := dy.events[:0]
	for _, ev := range dy.events {
		if ev.Time.Before(limit) {
			evs = append(evs, ev)
		}
	}
	slices.SortStableFunc(evs, func(a, b Event) int { return a.Time.Compare(b.Time) })
	for i := range evs {
		evs[i].ID = seededUUIDv7(evs[i].Time, dy.ids)
	}
	return dy.resends(evs)
}

// resends inserts a copy of a ResendFraction of the events 1–500 positions
// after the original (a client retrying after a lost acknowledgement).
func (dy *day) resends(evs []Event) []Event {
	f := dy.g.cfg.ResendFraction
	if f == 0 {
		return evs
	}
	rr := rand.New(rand.NewPCG(dy.g.cfg.Seed^0x5bd1e995, uint64(dy.date.Unix()/86400)+1)) //nolint:gosec // dates after 1970
	type pending struct {
		at int
		ev Event
	}
	var queue []pending
	out := make([]Event, 0, len(evs)+int(float64(len(evs))*f)+1)
	for i, ev := range evs {
		out = append(out, ev)
		if rr.Float64() < f {
			dup := ev
			dup.Resend = true
			queue = append(queue, pending{at: i + 1 + rr.IntN(500), ev: dup})
		}
		for j := 0; j < len(queue); {
			if queue[j].at <= i {
				out = append(out, queue[j].ev)
				queue = append(queue[:j], queue[j+1:]...)
				continue
			}
			j++
		}
	}
	for _, p := range queue {
		out = append(out, p.ev)
	}
	return out
}

func (dy *day) add(name string, t time.Time, kv ...attribute.KeyValue) {
	p, _ := bizevents.ProductOf(name)
	dy.events = append(dy.events, Event{Name: name, Product: p, Time: t, Attrs: kv})
}

// at returns a random time of the day following the hourly weights.
func (dy *day) at(w [24]float64) time.Time {
	total := 0.0
	for _, x := range w {
		total += x
	}
	x := dy.r.Float64() * total
	h := 0
	for ; h < 23; h++ {
		if x < w[h] {
			break
		}
		x -= w[h]
	}
	return dy.date.Add(time.Duration(h)*time.Hour + time.Duration(dy.r.Int64N(int64(time.Hour))))
}

// lognormal returns a value with the given median and spread, clamped.
func (dy *day) lognormal(median, sigma, lo, hi float64) float64 {
	v := median * math.Exp(sigma*dy.r.NormFloat64())
	return math.Min(hi, math.Max(lo, v))
}

func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}

func seconds(d time.Duration) float64 { return round(d.Seconds(), 1) }

func (dy *day) minutes(lo, hi float64) time.Duration {
	return time.Duration((lo + dy.r.Float64()*(hi-lo)) * float64(time.Minute))
}

func (dy *day) secs(lo, hi float64) time.Duration {
	return time.Duration((lo + dy.r.Float64()*(hi-lo)) * float64(time.Second))
}

// agentShifts: on weekdays every agent works, at weekends half of them
// (alternating); the day shift logs in ~09:00 and out ~18:00, the late shift
// ~14:00 to ~23:00, each with a break three hours in.
func (dy *day) agentShifts() {
	weekend := dy.date.Weekday() == time.Saturday || dy.date.Weekday() == time.Sunday
	for i, a := range dy.g.agents {
		if weekend && (i/2+dy.date.YearDay())%2 == 1 {
			continue
		}
		// Even agents work the day shift, odd ones the late shift.
		begin := 8*time.Hour + 45*time.Minute
		if i%2 == 1 {
			begin = 13*time.Hour + 45*time.Minute
		}
		login := dy.date.Add(begin + dy.minutes(0, 30)).Truncate(time.Second)
		brk := login.Add(3*time.Hour + dy.minutes(0, 40)).Truncate(time.Second)
		back := brk.Add(dy.minutes(40, 60)).Truncate(time.Second)
		logout := login.Add(9*time.Hour + dy.minutes(0, 30)).Truncate(time.Second)
		s := shift{agent: a, login: login, logout: logout, breakFrom: brk, breakUntil: back}
		dy.shifts = append(dy.shifts, s)
		agent := attribute.String("agent_id", a)
		dy.add(bizevents.EventAgentLogin, login, agent)
		dy.add(bizevents.EventAgentStatusChange, login.Add(time.Second), agent,
			attribute.String("from_status", "offline"), attribute.String("to_status", "online"))
		dy.add(bizevents.EventAgentStatusChange, brk, agent,
			attribute.String("from_status", "online"), attribute.String("to_status", "break"))
		dy.add(bizevents.EventAgentStatusChange, back, agent,
			attribute.String("from_status", "break"), attribute.String("to_status", "online"))
		dy.add(bizevents.EventAgentStatusChange, logout.Add(-time.Second), agent,
			attribute.String("from_status", "online"), attribute.String("to_status", "offline"))
		dy.add(bizevents.EventAgentLogout, logout, agent,
			attribute.Float64("online_duration_seconds", logout.Sub(login).Seconds()))
	}
}

// available returns the agents on duty from t until t+d.
func (dy *day) available(t time.Time, d time.Duration, except string) []string {
	var out []string
	for _, s := range dy.shifts {
		if s.agent != except && s.availableAt(t, t.Add(d)) {
			out = append(out, s.agent)
		}
	}
	return out
}

var (
	channels        = []string{"web", "web", "web", "web", "web", "app", "app", "app", "wechat", "wechat"}
	escalateReasons = []string{"complex_issue", "customer_request", "refund", "complaint", "payment_problem"}
	ticketSources   = []string{"email", "email", "phone", "web", "web", "web"}
)

func (dy *day) pick(xs []string) string { return xs[dy.r.IntN(len(xs))] }

// session simulates one chatbot session: start, messages with the AI's
// response times, order and tracking look-ups, and in some cases an
// escalation to a human agent (takeover, messages, maybe a transfer,
// release) or, when no agent is on duty, a ticket.
func (dy *day) session(n int) {
	id := fmt.Sprintf("s-%s-%05d", dy.tag, n)
	sid := attribute.String("session_id", id)
	start := dy.at(hourWeights)
	t := start
	dy.add(bizevents.EventSessionStart, t, sid,
		attribute.String("customer_id", fmt.Sprintf("c-%05d", dy.r.IntN(40000))),
		attribute.String("channel", dy.pick(channels)))
	msgs := 1 + dy.r.IntN(6)
	if dy.r.Float64() < 0.3 {
		msgs += dy.r.IntN(4)
	}
	for i := range msgs {
		t = t.Add(dy.secs(5, 60))
		dy.add(bizevents.EventSessionMessage, t, sid,
			attribute.Float64("response_time_ms", round(dy.lognormal(1200, 0.45, 180, 9000), 1)))
		if i == 0 && dy.r.Float64() < 0.25 {
			t = t.Add(dy.secs(1, 5))
			dy.add(bizevents.EventQueryOrder, t, sid,
				attribute.String("order_id", fmt.Sprintf("o-%07d", dy.r.IntN(10_000_000))),
				attribute.Bool("success", dy.r.Float64() < 0.95))
		}
		if i == 1 && dy.r.Float64() < 0.18 {
			t = t.Add(dy.secs(1, 5))
			dy.add(bizevents.EventQueryTracking, t, sid,
				attribute.String("tracking_number", fmt.Sprintf("SF%010d", dy.r.Int64N(10_000_000_000))),
				attribute.Bool("success", dy.r.Float64() < 0.9))
		}
	}
	resolvedBy := bizevents.ResolvedByAI
	if dy.r.Float64() < 0.14 {
		resolvedBy = bizevents.ResolvedByAgent
		t = t.Add(dy.secs(2, 20))
		dy.add(bizevents.EventSessionEscalate, t, sid, attribute.String("reason", dy.pick(escalateReasons)))
		t = dy.handover(id, t)
	}
	t = t.Add(dy.secs(5, 90))
	dy.add(bizevents.EventSessionEnd, t, sid,
		attribute.Float64("duration_seconds", seconds(t.Sub(start))),
		attribute.String("resolved_by", resolvedBy))
}

// handover is the human part of an escalated session, from the escalation
// at t; it returns the time the agent released the session.
func (dy *day) handover(sessionID string, t time.Time) time.Time {
	sid := attribute.String("session_id", sessionID)
	wait := time.Duration(round(dy.lognormal(25, 0.6, 3, 600), 1) * float64(time.Second))
	agents := dy.available(t, wait+50*time.Minute, "")
	if len(agents) == 0 {
		// Nobody on duty: the chat becomes a ticket.
		dy.ticket(t.Add(dy.secs(1, 3)), "chat", "normal")
		return t
	}
	agent := agents[dy.r.IntN(len(agents))]
	t = t.Add(wait)
	dy.add(bizevents.EventAgentSessionTakeover, t, attribute.String("agent_id", agent), sid,
		attribute.Float64("wait_duration_seconds", seconds(wait)))
	from := t
	for range 2 + dy.r.IntN(7) {
		t = t.Add(dy.secs(15, 100))
		dy.add(bizevents.EventAgentSessionMessage, t, attribute.String("agent_id", agent), sid)
	}
	if dy.r.Float64() < 0.1 {
		if others := dy.available(t, 30*time.Minute, agent); len(others) > 0 {
			to := others[dy.r.IntN(len(others))]
			t = t.Add(dy.secs(5, 30))
			dy.add(bizevents.EventAgentSessionTransfer, t, attribute.String("agent_id", agent),
				attribute.String("to_agent_id", to), sid)
			agent, from = to, t
			for range 1 + dy.r.IntN(4) {
				t = t.Add(dy.secs(15, 100))
				dy.add(bizevents.EventAgentSessionMessage, t, attribute.String("agent_id", agent), sid)
			}
		}
	}
	t = t.Add(dy.secs(10, 60))
	dy.add(bizevents.EventAgentSessionRelease, t, attribute.String("agent_id", agent), sid,
		attribute.Float64("handle_duration_seconds", seconds(t.Sub(from))))
	return t
}

// slaHours is the resolution target of each ticket priority.
var slaHours = map[string]float64{"urgent": 2, "high": 4, "normal": 8, "low": 24}

// ticket simulates a ticket created at t: created, assigned, in progress,
// resolved and closed (the later steps only if they fall in the range).
func (dy *day) ticket(t time.Time, source, priority string) {
	dy.tickets++
	id := fmt.Sprintf("t-%s-%04d", dy.tag, dy.tickets)
	tid := attribute.String("ticket_id", id)
	if source == "" {
		source = dy.pick(ticketSources)
	}
	if priority == "" {
		switch x := dy.r.Float64(); {
		case x < 0.08:
			priority = "urgent"
		case x < 0.30:
			priority = "high"
		case x < 0.80:
			priority = "normal"
		default:
			priority = "low"
		}
	}
	dy.add(bizevents.EventTicketCreated, t, tid, attribute.String("source", source), attribute.String("priority", priority))
	// Assigned to an agent on duty, or (out of hours) to the first agent of
	// the next shift.
	agents := dy.available(t, time.Minute, "")
	assignAt := t.Add(dy.minutes(2, 40))
	if len(agents) == 0 {
		agents = dy.g.agents
		assignAt = dy.date.Add(9*time.Hour + dy.minutes(0, 60))
		if !assignAt.After(t) {
			assignAt = addDay(dy.date, dy.g.cfg.Location).Add(9*time.Hour + dy.minutes(0, 60))
		}
	}
	agent := agents[dy.r.IntN(len(agents))]
	aid := attribute.String("agent_id", agent)
	dy.add(bizevents.EventTicketAssigned, assignAt, tid, aid)
	working := assignAt.Add(dy.minutes(1, 20))
	dy.add(bizevents.EventTicketStatusChanged, working, tid,
		attribute.String("from_status", "open"), attribute.String("to_status", "in_progress"))
	sla := slaHours[priority]
	minHours := working.Sub(t).Hours() + 0.05
	hours := round(math.Max(minHours, dy.lognormal(sla*0.3, 0.5, 0.1, sla*6)), 2)
	closed := t.Add(time.Duration(hours * float64(time.Hour)))
	dy.add(bizevents.EventTicketStatusChanged, closed.Add(-time.Minute), tid,
		attribute.String("from_status", "in_progress"), attribute.String("to_status", "resolved"))
	dy.add(bizevents.EventTicketClosed, closed, tid,
		attribute.Float64("resolution_duration_hours", hours),
		attribute.Bool("sla_met", hours <= sla), aid)
}
