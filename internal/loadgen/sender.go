package loadgen

import (
	"context"
	"errors"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Options says how to send.
type Options struct {
	// Transport is TransportHTTP (default) or TransportGRPC.
	Transport string
	// Endpoint is the receiver's host:port (OTLP/HTTP or OTLP gRPC).
	Endpoint string
	// Endpoints, if set, replaces Endpoint: sender i sends to
	// Endpoints[i % len(Endpoints)] (several collectors, no balancer).
	Endpoints []string
	// Senders is the number of concurrent senders (default 1). Each has a
	// connection of its own.
	Senders int
	// Rate paces the run at this many events per second: request k is not
	// sent before start + First(k)/Rate. 0: as fast as the senders go.
	Rate float64
	// Duration stops the run: no request is begun (paced: scheduled) after
	// start + Duration. 0: until the source runs out.
	Duration time.Duration
	// Timeout bounds each attempt (default 30s).
	Timeout time.Duration
	// MaxAttempts is how often a request is tried before it counts as
	// refused (default 60).
	MaxAttempts int
	// RetryAfterCap caps a server's Retry-After (default 5s).
	RetryAfterCap time.Duration
	// BackoffMin and BackoffMax bound the exponential back-off used when a
	// retryable answer gives no Retry-After (defaults 25ms and 1s).
	BackoffMin, BackoffMax time.Duration
	// OnSend, if set, is called once per request, just before its first
	// attempt, from the sender's goroutine.
	OnSend func(r *Request, at time.Time)
}

func (o *Options) defaults() {
	if o.Senders <= 0 {
		o.Senders = 1
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 60
	}
	if o.RetryAfterCap <= 0 {
		o.RetryAfterCap = 5 * time.Second
	}
	if o.BackoffMin <= 0 {
		o.BackoffMin = 25 * time.Millisecond
	}
	if o.BackoffMax < o.BackoffMin {
		o.BackoffMax = max(time.Second, o.BackoffMin)
	}
}

// Source hands out the requests of a run by number.
type Source interface {
	// Request returns request k, or ok false when there is none.
	Request(k int) (r Request, ok bool, err error)
}

// Encoded is a Source of requests encoded before the run.
type Encoded []Request

// Request implements Source.
func (e Encoded) Request(k int) (Request, bool, error) {
	if k < 0 || k >= len(e) {
		return Request{}, false, nil
	}
	return e[k], true, nil
}

// Lazy is a Source that encodes each request when it is due (for runs
// bounded by Duration only; costs the sender's CPU during the run).
type Lazy struct {
	Gen *Generator
	// Count bounds the requests (0: no bound).
	Count int
}

// Request implements Source.
func (l Lazy) Request(k int) (Request, bool, error) {
	if l.Count > 0 && k >= l.Count {
		return Request{}, false, nil
	}
	r, err := l.Gen.Encode(k)
	return r, err == nil, err
}

// Record is what happened to one request.
type Record struct {
	Index  int    `json:"index"`
	First  uint64 `json:"first"`
	Events int    `json:"events"`
	// Scheduled is when a paced run meant to send it (zero unpaced).
	Scheduled time.Time `json:"scheduled,omitzero"`
	// Sent is the first attempt's start, Answered the last attempt's end.
	Sent     time.Time `json:"sent"`
	Answered time.Time `json:"answered"`
	// Acked is when it was acknowledged (zero: never).
	Acked    time.Time `json:"acked,omitzero"`
	Attempts int       `json:"attempts"`
	// Status is the last answer ("HTTP 200", "gRPC UNAVAILABLE", …).
	Status string `json:"status"`
	// Reason is why it was not acknowledged ("" when it was).
	Reason string `json:"reason,omitempty"`
	// Rejected is the partial-success count of the acknowledgement.
	Rejected      int64  `json:"rejected,omitempty"`
	SampleID      string `json:"sample_id"`
	SampleProduct string `json:"sample_product"`
	ProbeAgent    string `json:"probe_agent,omitempty"`
}

// OK reports whether the request was acknowledged.
func (r *Record) OK() bool { return !r.Acked.IsZero() }

// Result is a run: every request's record and the retries by reason.
type Result struct {
	Transport string  `json:"transport"`
	Senders   int     `json:"senders"`
	Rate      float64 `json:"rate,omitempty"`
	// Start is when the run began (the pacing's zero); First the first
	// attempt; Last the last answer.
	Start   time.Time `json:"start"`
	First   time.Time `json:"first"`
	Last    time.Time `json:"last"`
	Records []Record  `json:"-"`
	// Retries counts the retryable answers that were retried, by reason;
	// Refused the requests never acknowledged, by their last reason.
	// Examples holds a message of each reason.
	Retries  map[string]int    `json:"retries"`
	Refused  map[string]int    `json:"refused"`
	Examples map[string]string `json:"examples,omitempty"`
}

// AckedEvents is the number of events in acknowledged requests.
func (r *Result) AckedEvents() int64 {
	var n int64
	for i := range r.Records {
		if r.Records[i].OK() {
			n += int64(r.Records[i].Events)
		}
	}
	return n
}

// AckedRequests is the number of acknowledged requests.
func (r *Result) AckedRequests() int {
	n := 0
	for i := range r.Records {
		if r.Records[i].OK() {
			n++
		}
	}
	return n
}

// SentEvents is the number of events in every request attempted.
func (r *Result) SentEvents() int64 {
	var n int64
	for i := range r.Records {
		n += int64(r.Records[i].Events)
	}
	return n
}

// Range is the sequence numbers First … First+Events-1 of one request.
type Range struct {
	First  uint64 `json:"first"`
	Events int    `json:"events"`
}

// Acknowledged returns the sequence numbers of the acknowledged events, as
// one range per acknowledged request, in order: what a zero-loss check
// compares with what was stored.
func (r *Result) Acknowledged() []Range {
	var out []Range
	for i := range r.Records {
		if r.Records[i].OK() {
			out = append(out, Range{First: r.Records[i].First, Events: r.Records[i].Events})
		}
	}
	return out
}

// IsAcknowledged reports whether event seq was in an acknowledged request.
func (r *Result) IsAcknowledged(seq uint64) bool {
	i := sort.Search(len(r.Records), func(i int) bool {
		return r.Records[i].First+uint64(r.Records[i].Events) > seq //nolint:gosec // Events ≥ 0
	})
	return i < len(r.Records) && r.Records[i].First <= seq && r.Records[i].OK()
}

// Run sends src's requests with o and records each. It returns when every
// begun request has been answered (or given up), or ctx ends; the error
// is ctx's or the source's.
func Run(ctx context.Context, o Options, src Source) (*Result, error) {
	o.defaults()
	trs := make([]transport, o.Senders)
	for i := range trs {
		endpoint := o.Endpoint
		if len(o.Endpoints) > 0 {
			endpoint = o.Endpoints[i%len(o.Endpoints)]
		}
		tr, err := newTransport(o.Transport, endpoint, 1)
		if err != nil {
			for _, t := range trs[:i] {
				_ = t.close()
			}
			return nil, err
		}
		trs[i] = tr
	}
	defer func() {
		for _, t := range trs {
			_ = t.close()
		}
	}()
	kind := o.Transport
	if kind == "" {
		kind = TransportHTTP
	}
	res := &Result{
		Transport: kind, Senders: o.Senders, Rate: o.Rate,
		Retries: map[string]int{}, Refused: map[string]int{}, Examples: map[string]string{},
	}
	var (
		mu      sync.Mutex
		takeMu  sync.Mutex
		next    atomic.Int64
		srcErr  error
		records = map[int]Record{}
	)
	res.Start = time.Now()
	deadline := time.Time{}
	if o.Duration > 0 {
		deadline = res.Start.Add(o.Duration)
	}
	var wg sync.WaitGroup
	for _, tr := range trs {
		wg.Go(func() {
			for ctx.Err() == nil {
				// Unpaced, the deadline is checked and the index taken under
				// one lock: a sender that stops never leaves a gap behind an
				// index another sender already sends.
				takeMu.Lock()
				if o.Rate <= 0 && !deadline.IsZero() && !time.Now().Before(deadline) {
					takeMu.Unlock()
					return
				}
				k := int(next.Add(1) - 1)
				takeMu.Unlock()
				r, ok, err := src.Request(k)
				if err != nil {
					mu.Lock()
					srcErr = errors.Join(srcErr, err)
					mu.Unlock()
					return
				}
				if !ok {
					return
				}
				var sched time.Time
				if o.Rate > 0 {
					sched = res.Start.Add(time.Duration(float64(r.First) / o.Rate * float64(time.Second)))
					if !deadline.IsZero() && !sched.Before(deadline) {
						return
					}
					if !sleepUntil(ctx, sched) {
						return
					}
				}
				rec, retries := sendOne(ctx, &o, tr, &r, sched)
				mu.Lock()
				records[k] = rec
				for _, a := range retries {
					res.Retries[a.reason]++
					if _, seen := res.Examples[a.reason]; !seen && a.message != "" {
						res.Examples[a.reason] = a.message
					}
				}
				if !rec.OK() {
					res.Refused[rec.Reason]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.Records = make([]Record, 0, len(records))
	for _, rec := range records {
		res.Records = append(res.Records, rec)
	}
	sort.Slice(res.Records, func(i, j int) bool { return res.Records[i].Index < res.Records[j].Index })
	for i := range res.Records {
		rec := &res.Records[i]
		if res.First.IsZero() || rec.Sent.Before(res.First) {
			res.First = rec.Sent
		}
		if rec.Answered.After(res.Last) {
			res.Last = rec.Answered
		}
	}
	if srcErr != nil {
		return res, srcErr
	}
	return res, ctx.Err()
}

// sendOne sends r until it is acknowledged, refused for good, tried
// MaxAttempts times or ctx ends. It returns its record and the retryable
// answers that were retried.
func sendOne(ctx context.Context, o *Options, tr transport, r *Request, sched time.Time) (Record, []answer) {
	rec := Record{
		Index: r.Index, First: r.First, Events: r.Events, Scheduled: sched,
		SampleID: r.SampleID, SampleProduct: r.SampleProduct, ProbeAgent: r.ProbeAgent,
	}
	var retried []answer
	backoff := o.BackoffMin
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, o.Timeout)
		at := time.Now()
		if attempt == 1 {
			rec.Sent = at
			if o.OnSend != nil {
				o.OnSend(r, at)
			}
		}
		a := tr.send(actx, r.Body)
		cancel()
		rec.Answered = time.Now()
		rec.Attempts = attempt
		rec.Status = a.status
		if a.ok {
			rec.Acked = rec.Answered
			rec.Rejected = a.rejected
			return rec, retried
		}
		if ctx.Err() != nil {
			rec.Reason, rec.Status = "canceled", "canceled"
			return rec, retried
		}
		if !a.retryable || attempt >= o.MaxAttempts {
			rec.Reason = a.reason
			return rec, retried
		}
		retried = append(retried, a)
		wait := backoff
		if a.retryAfter >= 0 {
			wait = max(min(a.retryAfter, o.RetryAfterCap), o.BackoffMin)
		} else {
			backoff = min(backoff*2, o.BackoffMax)
		}
		if !sleepUntil(ctx, time.Now().Add(wait)) {
			rec.Reason, rec.Status = "canceled", "canceled"
			return rec, retried
		}
	}
}

// sleepUntil sleeps until t; false if ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
