package simulate

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/otelcol-analytics/otelcol-analytics/stats"
)

// RunOptions control the sending.
type RunOptions struct {
	// Rate is the maximum number of events per second; 0 = unlimited.
	Rate float64
	// Progress receives a line every ProgressInterval ("simulate: 12,345
	// events sent (830/s)") and the final summary; nil = silent.
	Progress io.Writer
	// ProgressInterval defaults to one second.
	ProgressInterval time.Duration
	// CostPerResolution is the cost of a session an agent would have
	// handled (docs/spec.md §8 cost_saved), in yuan; nil: the stats
	// service's default (stats.DefaultCostPerResolution). 0 is a cost.
	CostPerResolution *float64
}

// Result is the outcome of a run.
type Result struct {
	Expectation *Expectation
	Sent        int64 // records the collector acknowledged
	Failed      int64 // records the exporters gave up on
	Elapsed     time.Duration
}

// Run generates every day of g, sends the events through p and shuts p
// down (flushing it). The expectation counts exactly the generated stream;
// the error is non-nil if any event was not delivered.
func Run(ctx context.Context, g *Generator, p *Pipeline, o RunOptions) (*Result, error) {
	if o.ProgressInterval <= 0 {
		o.ProgressInterval = time.Second
	}
	cost := stats.DefaultCostPerResolution
	if o.CostPerResolution != nil {
		cost = *o.CostPerResolution
	}
	cfg := g.Config()
	x := NewExpector(cfg.Location, cost)
	start := time.Now()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	if o.Progress != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(o.ProgressInterval)
			defer t.Stop()
			var last int64
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					ok, failed := p.Acknowledged()
					rate := float64(ok-last) / o.ProgressInterval.Seconds()
					last = ok
					line := fmt.Sprintf("simulate: %s events sent (%s/s)", Thousands(ok), Thousands(int64(rate)))
					if failed > 0 {
						line += fmt.Sprintf(", %s failed", Thousands(failed))
					}
					_, _ = fmt.Fprintln(o.Progress, line) // progress only: a failed write must not stop the run
				}
			}
		}()
	}

	var n int64
	var sendErr error
days:
	for _, d := range g.Days() {
		evs := g.Day(d)
		for i := range evs {
			if o.Rate > 0 {
				due := start.Add(time.Duration(float64(n) / o.Rate * float64(time.Second)))
				if wait := time.Until(due); wait > time.Millisecond {
					select {
					case <-ctx.Done():
						sendErr = ctx.Err()
						break days
					case <-time.After(wait):
					}
				}
			}
			if err := p.emit(ctx, &evs[i]); err != nil {
				sendErr = err
				break days
			}
			x.Add(&evs[i])
			n++
		}
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Minute)
	defer cancel()
	shutErr := p.Shutdown(shutCtx)
	close(stop)
	wg.Wait()

	ok, failed := p.Acknowledged()
	res := &Result{Expectation: x.Expectation(), Sent: ok, Failed: failed, Elapsed: time.Since(start)}
	exp := res.Expectation
	exp.Seed, exp.Scale, exp.Agents, exp.ResendFraction = cfg.Seed, cfg.Scale, cfg.Agents, cfg.ResendFraction
	exp.From = cfg.From.Format("2006-01-02")
	exp.To = cfg.To.Add(-time.Nanosecond).In(cfg.Location).Format("2006-01-02")
	if len(exp.Months) == 1 {
		exp.Month, exp.Raw = exp.Months[0].Month, &exp.Months[0].Raw
	}
	if o.Progress != nil {
		secs := res.Elapsed.Seconds()
		// Progress only, like the lines above.
		_, _ = fmt.Fprintf(o.Progress, "simulate: done: %s events sent (%s unique, %s resent) in %s (%s/s); %s failed\n",
			Thousands(ok), Thousands(exp.UniqueEvents), Thousands(exp.Resent),
			res.Elapsed.Round(100*time.Millisecond), Thousands(int64(float64(ok)/max(secs, 0.001))), Thousands(failed))
	}
	if sendErr != nil {
		return res, fmt.Errorf("simulate: sending stopped after %d events: %w", n, sendErr)
	}
	if shutErr != nil {
		return res, fmt.Errorf("simulate: %w", shutErr)
	}
	return res, nil
}

// Thousands formats n with commas: 12345 → "12,345".
func Thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
