package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is what Bench measured. Times are in milliseconds, sizes in
// bytes.
type Report struct {
	Started    time.Time `json:"started"`
	LoadStart  string    `json:"loadavg_start"`
	LoadEnd    string    `json:"loadavg_end"`
	Binary     string    `json:"binary"`
	Config     string    `json:"config"`
	Transport  string    `json:"transport"`
	Senders    int       `json:"senders"`
	Collectors int       `json:"collectors"`
	PerRequest int       `json:"events_per_request"`
	Schema     string    `json:"schema"`
	// RedisPrefix and PID say where the run stored and which process ran.
	RedisPrefix string `json:"redis_prefix"`
	PID         int    `json:"pid"`

	// (a) sustained, and the raw COPY baseline.
	Sustained      SustainedReport `json:"sustained"`
	RawCopy        *RawCopyResult  `json:"raw_copy,omitempty"`
	RawCopyBatches *RawCopyResult  `json:"raw_copy_batches,omitempty"`
	// RatioRawCopy is Sustained.EventsPerSec / RawCopy.EventsPerSec (and
	// to the batched COPY).
	RatioRawCopy        float64 `json:"ratio_to_raw_copy,omitempty"`
	RatioRawCopyBatches float64 `json:"ratio_to_raw_copy_batches,omitempty"`
	// (b) latency at fixed rates.
	Rates []RateReport `json:"rates"`
	// (c) memory over a long paced run (BenchOptions.Soak), if any.
	Soak *SoakReport `json:"soak,omitempty"`
	// (c) peak RSS of the collector over the whole run (VmHWM), and the
	// peak of its anonymous memory (RssAnon, sampled every 100 ms: RSS
	// less the persistent queue's memory-mapped file).
	PeakRSS  int64 `json:"peak_rss_bytes"`
	PeakAnon int64 `json:"peak_anon_bytes"`
	// (d) requests retried and refused, by phase and reason.
	Retried []ReasonCount `json:"retried"`
	Refused []ReasonCount `json:"refused"`
	// (e) zero loss, zero duplicates.
	Verification *Verification `json:"verification"`

	Profile    string `json:"cpu_profile,omitempty"`
	ProfileTop string `json:"-"`
	// OK: the run completed and every check holds; Problems says what did
	// not.
	OK       bool     `json:"ok"`
	Problems []string `json:"problems,omitempty"`
}

// SustainedReport is phase (a).
type SustainedReport struct {
	Events   int64 `json:"events"`
	Requests int   `json:"requests"`
	// ElapsedSec runs from the first send until every acknowledged event is
	// committed in PostgreSQL and counted in Redis; EventsPerSec is Events
	// over it.
	ElapsedSec   float64 `json:"elapsed_s"`
	EventsPerSec float64 `json:"events_per_sec"`
	// AckedPerSec is the senders' view: events acknowledged from the first
	// send to the last answer (the persistent queue takes them before they
	// are stored).
	AckedPerSec float64 `json:"acked_events_per_sec"`
	AckP50      float64 `json:"ack_p50_ms"`
	AckP99      float64 `json:"ack_p99_ms"`
	Attempts    int     `json:"attempts"`
	PeakRSS     int64   `json:"peak_rss_bytes"`
	PeakAnon    int64   `json:"peak_anon_bytes"`
	// CPU is where the machine's CPU went from the first send until
	// everything was stored and counted.
	CPU *CPUShare `json:"cpu,omitempty"`
}

// RateReport is one fixed rate of phase (b).
type RateReport struct {
	Target   float64 `json:"target_events_per_sec"`
	Achieved float64 `json:"achieved_events_per_sec"`
	Requests int     `json:"requests"`
	Events   int64   `json:"events"`
	// Send to visible in PostgreSQL (ledger) and Redis (probe counters), of
	// each request's first event.
	PGP50        float64 `json:"pg_p50_ms"`
	PGP99        float64 `json:"pg_p99_ms"`
	PGMax        float64 `json:"pg_max_ms"`
	RedisP50     float64 `json:"redis_p50_ms"`
	RedisP99     float64 `json:"redis_p99_ms"`
	RedisMax     float64 `json:"redis_max_ms"`
	Samples      int     `json:"samples"`
	MissingPG    int     `json:"missing_pg"`
	MissingRedis int     `json:"missing_redis"`
	Polls        int     `json:"polls"`
	// Send to acknowledgement; MaxLag is how late the latest request was
	// sent against its schedule (the senders could not keep the pace).
	AckP50   float64 `json:"ack_p50_ms"`
	AckP99   float64 `json:"ack_p99_ms"`
	MaxLag   float64 `json:"max_send_lag_ms"`
	PeakRSS  int64   `json:"peak_rss_bytes"`
	PeakAnon int64   `json:"peak_anon_bytes"`
	// CPU is where the machine's CPU went from the first send until every
	// sample was visible and everything stored and counted.
	CPU *CPUShare `json:"cpu,omitempty"`
}

// SoakReport is the memory phase: a rate held for a duration, the
// collector's RSS and RssAnon every 10 s.
type SoakReport struct {
	Target      float64 `json:"target_events_per_sec"`
	DurationSec float64 `json:"duration_s"`
	Achieved    float64 `json:"achieved_events_per_sec"`
	Events      int64   `json:"events"`
	Acked       int64   `json:"acked_events"`
	PeakRSS     int64   `json:"peak_rss_bytes"`
	PeakAnon    int64   `json:"peak_anon_bytes"`
	// The peaks after the first minute: "no growth after the first
	// minute" compares them with the first minute's.
	PeakRSSAfterMinute  int64       `json:"peak_rss_after_first_minute_bytes"`
	PeakAnonAfterMinute int64       `json:"peak_anon_after_first_minute_bytes"`
	PeakRSSFirstMinute  int64       `json:"peak_rss_first_minute_bytes"`
	PeakAnonFirstMinute int64       `json:"peak_anon_first_minute_bytes"`
	Timeline            []MemSample `json:"timeline"`
}

// MemSample is the collector's memory at a moment of the soak.
type MemSample struct {
	AtSec float64 `json:"at_s"`
	RSS   int64   `json:"rss_bytes"`
	Anon  int64   `json:"anon_bytes"`
}

func soakReport(rate float64, d time.Duration, res *Result, tl []MemSample) *SoakReport {
	r := &SoakReport{Target: rate, DurationSec: d.Seconds(), Events: res.SentEvents(), Acked: res.AckedEvents(), Timeline: tl}
	var last time.Time
	for i := range res.Records {
		last = maxTime(last, res.Records[i].Sent)
	}
	if !last.IsZero() {
		r.Achieved = float64(r.Acked) / last.Sub(res.Start).Seconds()
	}
	for _, m := range tl {
		r.PeakRSS, r.PeakAnon = max(r.PeakRSS, m.RSS), max(r.PeakAnon, m.Anon)
		if m.AtSec <= 60 {
			r.PeakRSSFirstMinute, r.PeakAnonFirstMinute = max(r.PeakRSSFirstMinute, m.RSS), max(r.PeakAnonFirstMinute, m.Anon)
		} else {
			r.PeakRSSAfterMinute, r.PeakAnonAfterMinute = max(r.PeakRSSAfterMinute, m.RSS), max(r.PeakAnonAfterMinute, m.Anon)
		}
	}
	return r
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// ReasonCount is how many requests of a phase got an answer for a reason.
type ReasonCount struct {
	Phase   string `json:"phase"`
	Reason  string `json:"reason"`
	Count   int    `json:"count"`
	Example string `json:"example,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// ackLatencies are the send-to-acknowledgement times, sorted.
func ackLatencies(res *Result) []time.Duration {
	var out []time.Duration
	for i := range res.Records {
		if r := &res.Records[i]; r.OK() {
			out = append(out, r.Acked.Sub(r.Sent))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func sustainedReport(res *Result, drained time.Time) SustainedReport {
	s := SustainedReport{Events: res.AckedEvents(), Requests: len(res.Records)}
	for i := range res.Records {
		s.Attempts += res.Records[i].Attempts
	}
	if el := drained.Sub(res.First); el > 0 {
		s.ElapsedSec = el.Seconds()
		s.EventsPerSec = float64(s.Events) / el.Seconds()
	}
	if el := res.Last.Sub(res.First); el > 0 {
		s.AckedPerSec = float64(s.Events) / el.Seconds()
	}
	acks := ackLatencies(res)
	s.AckP50, s.AckP99 = ms(Percentile(acks, 0.5)), ms(Percentile(acks, 0.99))
	return s
}

func rateReport(rate float64, res *Result, vis *Visibility) RateReport {
	r := RateReport{Target: rate, Requests: len(res.Records), Events: res.SentEvents()}
	var lastSent time.Time
	for i := range res.Records {
		rec := &res.Records[i]
		if rec.Sent.After(lastSent) {
			lastSent = rec.Sent
		}
		if !rec.Scheduled.IsZero() {
			r.MaxLag = max(r.MaxLag, ms(rec.Sent.Sub(rec.Scheduled)))
		}
	}
	if len(res.Records) > 0 {
		interval := time.Duration(float64(res.Records[0].Events) / rate * float64(time.Second))
		r.Achieved = float64(r.Events) / (lastSent.Sub(res.Start) + interval).Seconds()
	}
	pg, rd, mpg, mrd := vis.Latencies()
	r.Samples, r.MissingPG, r.MissingRedis, r.Polls = len(pg)+mpg, mpg, mrd, vis.Polls()
	r.PGP50, r.PGP99 = ms(Percentile(pg, 0.5)), ms(Percentile(pg, 0.99))
	r.RedisP50, r.RedisP99 = ms(Percentile(rd, 0.5)), ms(Percentile(rd, 0.99))
	if len(pg) > 0 {
		r.PGMax = ms(pg[len(pg)-1])
	}
	if len(rd) > 0 {
		r.RedisMax = ms(rd[len(rd)-1])
	}
	acks := ackLatencies(res)
	r.AckP50, r.AckP99 = ms(Percentile(acks, 0.5)), ms(Percentile(acks, 0.99))
	return r
}

// addCounts adds a phase's retries and refusals by reason.
func (r *Report) addCounts(phase string, res *Result) {
	for reason, n := range res.Retries {
		r.Retried = append(r.Retried, ReasonCount{Phase: phase, Reason: reason, Count: n, Example: res.Examples[reason]})
	}
	for reason, n := range res.Refused {
		r.Refused = append(r.Refused, ReasonCount{Phase: phase, Reason: reason, Count: n, Example: res.Examples[reason]})
	}
}

// finish computes the ratios and the verdict.
func (r *Report) finish() {
	if r.Retried == nil {
		r.Retried = []ReasonCount{}
	}
	if r.Refused == nil {
		r.Refused = []ReasonCount{}
	}
	if r.Rates == nil {
		r.Rates = []RateReport{}
	}
	if r.RawCopy != nil && r.RawCopy.EventsPerSec > 0 {
		r.RatioRawCopy = r.Sustained.EventsPerSec / r.RawCopy.EventsPerSec
	}
	if r.RawCopyBatches != nil && r.RawCopyBatches.EventsPerSec > 0 {
		r.RatioRawCopyBatches = r.Sustained.EventsPerSec / r.RawCopyBatches.EventsPerSec
	}
	for _, l := range []*[]ReasonCount{&r.Retried, &r.Refused} {
		sort.Slice(*l, func(i, j int) bool {
			a, b := (*l)[i], (*l)[j]
			if a.Phase != b.Phase {
				return a.Phase < b.Phase
			}
			return a.Reason < b.Reason
		})
	}
	if r.Verification == nil {
		r.Problems = append(r.Problems, "the run did not reach the final check")
	} else {
		r.Problems = append(r.Problems, r.Verification.Problems()...)
	}
	for _, rc := range r.Refused {
		r.Problems = append(r.Problems, fmt.Sprintf("%s: %d requests refused for good (%s)", rc.Phase, rc.Count, rc.Reason))
	}
	for _, rr := range r.Rates {
		if rr.MissingPG > 0 || rr.MissingRedis > 0 {
			r.Problems = append(r.Problems, fmt.Sprintf("rate %.0f: %d samples never seen in PostgreSQL, %d in Redis", rr.Target, rr.MissingPG, rr.MissingRedis))
		}
	}
	r.OK = len(r.Problems) == 0
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// WriteTable writes the report for people.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(format string, a ...any) { _, _ = fmt.Fprintf(tw, format+"\n", a...) }
	p("bench-e2e\t%s, %d senders, %d events/request, %d collector(s) %s --config %s", r.Transport, r.Senders, r.PerRequest, r.Collectors, r.Binary, r.Config)
	p("load average\tstart %s | end %s", r.LoadStart, r.LoadEnd)
	p("")
	p("(a) sustained\t%d events in %d requests (%d attempts)", r.Sustained.Events, r.Sustained.Requests, r.Sustained.Attempts)
	p("  stored and counted\t%.0f events/s (%.2f s from first send until all in PostgreSQL and Redis)", r.Sustained.EventsPerSec, r.Sustained.ElapsedSec)
	p("  acknowledged\t%.0f events/s; ack p50 %.0f ms, p99 %.0f ms", r.Sustained.AckedPerSec, r.Sustained.AckP50, r.Sustained.AckP99)
	if r.RawCopy != nil {
		p("  raw COPY\t%.0f events/s (%d rows, one COPY) → ratio %.0f %%", r.RawCopy.EventsPerSec, r.RawCopy.Events, 100*r.RatioRawCopy)
		if c := r.RawCopy.CPU; c != nil {
			p("  CPU of raw COPY\t%s", c)
		}
	}
	if r.RawCopyBatches != nil {
		p("  raw COPY batches of %d\t%.0f events/s → ratio %.0f %%", r.RawCopyBatches.Batch, r.RawCopyBatches.EventsPerSec, 100*r.RatioRawCopyBatches)
	}
	p("  peak RSS\t%s (anonymous %s)", mib(r.Sustained.PeakRSS), mib(r.Sustained.PeakAnon))
	if c := r.Sustained.CPU; c != nil {
		p("  CPU\t%s", c)
	}
	p("")
	p("(b) rate (events/s)\tachieved\tPG p50\tPG p99\tPG max\tRedis p50\tRedis p99\tRedis max\tack p50\tack p99\tsamples\tpeak RSS\tpeak anon")
	for _, rr := range r.Rates {
		p("  %.0f\t%.0f\t%.0f ms\t%.0f ms\t%.0f ms\t%.0f ms\t%.0f ms\t%.0f ms\t%.0f ms\t%.0f ms\t%d\t%s\t%s",
			rr.Target, rr.Achieved, rr.PGP50, rr.PGP99, rr.PGMax, rr.RedisP50, rr.RedisP99, rr.RedisMax, rr.AckP50, rr.AckP99, rr.Samples, mib(rr.PeakRSS), mib(rr.PeakAnon))
	}
	for _, rr := range r.Rates {
		if rr.CPU != nil {
			p("  CPU at %.0f\t%s", rr.Target, rr.CPU)
		}
	}
	p("")
	p("(c) peak RSS\t%s (VmHWM, whole run); anonymous %s (RssAnon, sampled: RSS without the queue's mapped file)", mib(r.PeakRSS), mib(r.PeakAnon))
	if sk := r.Soak; sk != nil {
		p("    soak\t%.0f events/s target for %.0f s: achieved %.0f, %d events acknowledged; RSS peak %s (first minute %s, after %s), anonymous %s (%s, after %s)",
			sk.Target, sk.DurationSec, sk.Achieved, sk.Acked, mib(sk.PeakRSS), mib(sk.PeakRSSFirstMinute), mib(sk.PeakRSSAfterMinute),
			mib(sk.PeakAnon), mib(sk.PeakAnonFirstMinute), mib(sk.PeakAnonAfterMinute))
	}
	p("(d) retried\t%s", reasons(r.Retried))
	p("    refused\t%s", reasons(r.Refused))
	if v := r.Verification; v != nil {
		p("(e) acknowledged\t%d events; stored %d, distinct %d, ledger %d, Redis %d, rejected %d, outbox %d",
			v.Acked, v.Stored, v.Distinct, v.Ledger, v.RedisEvents, v.Rejected, v.Outbox)
		p("    lost\t%d; duplicates %d; stored but not acknowledged %d; unexpected %d", v.Lost, v.Duplicates, v.StoredUnacked, v.Unexpected)
	}
	if r.Profile != "" {
		p("cpu profile\t%s", r.Profile)
	}
	if r.OK {
		p("verdict\tOK: zero loss, zero duplicates, Redis = PostgreSQL")
	} else {
		p("verdict\tNOT OK: %s", strings.Join(r.Problems, "; "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.ProfileTop != "" {
		_, err := fmt.Fprintf(w, "\ngo tool pprof -top %s %s\n%s\n", r.Binary, r.Profile, r.ProfileTop)
		return err
	}
	return nil
}

func reasons(l []ReasonCount) string {
	if len(l) == 0 {
		return "none"
	}
	parts := make([]string, len(l))
	for i, rc := range l {
		parts[i] = fmt.Sprintf("%s %s ×%d", rc.Phase, rc.Reason, rc.Count)
		if rc.Example != "" {
			parts[i] += fmt.Sprintf(" (%q)", cut(rc.Example, 80))
		}
	}
	return strings.Join(parts, "; ")
}

// WriteJSON writes the report as one line of JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
