package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/otelcol-analytics/otelcol-analytics/internal/simulate"
)

// monitor prints the progress: events sent (acknowledged by the
// collector), events written (rows of analytics_events), outbox rows.
type monitor struct {
	pool          *pgxpool.Pool
	pipe          *simulate.Pipeline
	total, unique int64
	out           io.Writer
	start         time.Time
	lastSent      int64
	lastAt        time.Time
}

type counts struct{ written, outbox, rejected int64 }

func (m *monitor) counts(ctx context.Context) (counts, error) {
	var c counts
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := m.pool.QueryRow(qctx, `SELECT (SELECT count(*) FROM analytics_events),
		(SELECT count(*) FROM analytics_redis_outbox), (SELECT count(*) FROM analytics_rejected_events)`).
		Scan(&c.written, &c.outbox, &c.rejected)
	return c, err
}

func (m *monitor) line(c counts, cerr error) {
	sent, failed := m.pipe.Acknowledged()
	now := time.Now()
	rate := ""
	if !m.lastAt.IsZero() && sent > m.lastSent {
		rate = fmt.Sprintf(" (%s/s)", simulate.Thousands(int64(float64(sent-m.lastSent)/now.Sub(m.lastAt).Seconds())))
	}
	m.lastSent, m.lastAt = sent, now
	var b strings.Builder
	printf(&b, "    %5.1fs  sent %s/%s%s", now.Sub(m.start).Seconds(), simulate.Thousands(sent), simulate.Thousands(m.total), rate)
	if failed > 0 {
		printf(&b, ", %s failed", simulate.Thousands(failed))
	}
	if cerr != nil {
		printf(&b, " · written ? (%v)", cerr)
	} else {
		printf(&b, " · written %s/%s · outbox %d", simulate.Thousands(c.written), simulate.Thousands(m.unique), c.outbox)
		if c.rejected > 0 {
			printf(&b, " · rejected %d", c.rejected)
		}
	}
	printLine(m.out, b.String())
}

// every prints a progress line every interval until the returned stop.
func (m *monitor) every(ctx context.Context, interval time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				c, err := m.counts(ctx)
				m.line(c, err)
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// drain waits until every unique event is in PostgreSQL (or rejected) and
// the outbox is empty, printing progress every second.
func (m *monitor) drain(ctx context.Context, col *Collector, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		c, err := m.counts(ctx)
		if err == nil && c.outbox == 0 && c.written+c.rejected >= m.unique {
			m.line(c, err)
			printf(m.out, "demo:     drained: %s events written, %d rejected, outbox empty\n", simulate.Thousands(c.written), c.rejected)
			return nil
		}
		if col.Exited() {
			return errors.New("the collector exited while draining")
		}
		if time.Now().After(deadline) {
			m.line(c, err)
			return fmt.Errorf("the pipeline did not drain within %s: %s of %s events written, %d outbox rows pending, %d rejected (see the collector's log)",
				timeout, simulate.Thousands(c.written), simulate.Thousands(m.unique), c.outbox, c.rejected)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			m.line(c, err)
		}
	}
}
