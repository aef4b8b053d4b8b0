package simulate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/otelcol-analytics/otelcol-analytics/sdk/bizevents"
)

// QueueSize is the BatchProcessor queue of each product. The runner keeps
// fewer than half of it in flight, so the processor never drops a record
// (the OTel SDK drops records when its queue is full).
const QueueSize = 8192

// Pipeline is one OTel SDK LoggerProvider (resource service.name = the
// product), BatchProcessor and exporter per product, and the typed Emitter
// on top of each.
type Pipeline struct {
	pipes map[string]*pipe
}

type pipe struct {
	lp      *sdklog.LoggerProvider
	emitter *bizevents.Emitter
	exp     *countingExporter
	emitted int64 // only touched by the sending goroutine
}

// countingExporter counts the records its exporter acknowledged or failed,
// which is how the runner applies backpressure and reports progress.
type countingExporter struct {
	next       sdklog.Exporter
	ok, failed atomic.Int64
	lastErr    atomic.Pointer[error]
	progress   chan struct{}
}

func (c *countingExporter) Export(ctx context.Context, recs []sdklog.Record) error {
	err := c.next.Export(ctx, recs)
	if err != nil {
		c.failed.Add(int64(len(recs)))
		c.lastErr.Store(&err)
	} else {
		c.ok.Add(int64(len(recs)))
	}
	select {
	case c.progress <- struct{}{}:
	default:
	}
	return err
}

func (c *countingExporter) Shutdown(ctx context.Context) error   { return c.next.Shutdown(ctx) }
func (c *countingExporter) ForceFlush(ctx context.Context) error { return c.next.ForceFlush(ctx) }

// NewPipeline builds a Pipeline over one exporter per product (the keys
// are products: bizevents.ProductAIChatbot, bizevents.ProductAgentWorkbench).
// Tests pass in-memory exporters; NewOTLPPipeline passes OTLP ones.
func NewPipeline(exporters map[string]sdklog.Exporter) (*Pipeline, error) {
	p := &Pipeline{pipes: map[string]*pipe{}}
	for product, exp := range exporters {
		ce := &countingExporter{next: exp, progress: make(chan struct{}, 1)}
		lp, err := bizevents.NewLoggerProvider(product, sdklog.NewBatchProcessor(ce,
			sdklog.WithMaxQueueSize(QueueSize),
			sdklog.WithExportMaxBatchSize(1024),
			sdklog.WithExportInterval(200*time.Millisecond)))
		if err != nil {
			return nil, err
		}
		p.pipes[product] = &pipe{lp: lp, emitter: bizevents.NewEmitter(lp), exp: ce}
	}
	return p, nil
}

// OTLPConfig says where the OTLP exporters send.
type OTLPConfig struct {
	// Endpoint is host:port (default localhost:4318 for http, :4317 for
	// grpc) or a URL (http://host:4318, https://…); a URL without a path
	// gets /v1/logs for http.
	Endpoint string
	// Protocol is "http" (OTLP/HTTP protobuf, default) or "grpc".
	Protocol string
	// Insecure: plain HTTP / gRPC without TLS (default for a host:port).
	Insecure bool
	// Headers are sent with every export (e.g. an Authorization bearer
	// token for the collector's bearertokenauth).
	Headers map[string]string
}

// NewOTLPPipeline builds a Pipeline exporting over OTLP, one exporter (and
// connection) per product.
func NewOTLPPipeline(ctx context.Context, cfg OTLPConfig) (*Pipeline, error) {
	exps := map[string]sdklog.Exporter{}
	for _, product := range []string{bizevents.ProductAIChatbot, bizevents.ProductAgentWorkbench} {
		exp, err := newOTLPExporter(ctx, cfg)
		if err != nil {
			for _, e := range exps {
				_ = e.Shutdown(ctx)
			}
			return nil, err
		}
		exps[product] = exp
	}
	return NewPipeline(exps)
}

func newOTLPExporter(ctx context.Context, cfg OTLPConfig) (sdklog.Exporter, error) {
	isURL := strings.Contains(cfg.Endpoint, "://")
	switch cfg.Protocol {
	case "", "http":
		opts := []otlploghttp.Option{otlploghttp.WithRetry(otlploghttp.RetryConfig{
			Enabled: true, InitialInterval: 500 * time.Millisecond, MaxInterval: 5 * time.Second, MaxElapsedTime: 2 * time.Minute,
		})}
		switch {
		case isURL:
			u := cfg.Endpoint
			if rest := u[strings.Index(u, "://")+3:]; !strings.Contains(strings.TrimSuffix(rest, "/"), "/") {
				// A bare base URL: the OTLP/HTTP logs path, as the OTEL_EXPORTER_OTLP_ENDPOINT convention has it.
				u = strings.TrimSuffix(u, "/") + "/v1/logs"
			}
			opts = append(opts, otlploghttp.WithEndpointURL(u))
		case cfg.Endpoint != "":
			opts = append(opts, otlploghttp.WithEndpoint(cfg.Endpoint))
		}
		if cfg.Insecure || !isURL {
			opts = append(opts, otlploghttp.WithInsecure())
		}
		if len(cfg.Headers) > 0 {
			opts = append(opts, otlploghttp.WithHeaders(cfg.Headers))
		}
		return otlploghttp.New(ctx, opts...)
	case "grpc":
		opts := []otlploggrpc.Option{otlploggrpc.WithRetry(otlploggrpc.RetryConfig{
			Enabled: true, InitialInterval: 500 * time.Millisecond, MaxInterval: 5 * time.Second, MaxElapsedTime: 2 * time.Minute,
		})}
		switch {
		case isURL:
			opts = append(opts, otlploggrpc.WithEndpointURL(cfg.Endpoint))
		case cfg.Endpoint != "":
			opts = append(opts, otlploggrpc.WithEndpoint(cfg.Endpoint))
		}
		if cfg.Insecure || !isURL {
			opts = append(opts, otlploggrpc.WithInsecure())
		}
		if len(cfg.Headers) > 0 {
			opts = append(opts, otlploggrpc.WithHeaders(cfg.Headers))
		}
		return otlploggrpc.New(ctx, opts...)
	default:
		return nil, fmt.Errorf("unknown protocol %q (want http or grpc)", cfg.Protocol)
	}
}

// Acknowledged returns the records the exporters delivered and those they
// gave up on, over all products.
func (p *Pipeline) Acknowledged() (ok, failed int64) {
	for _, pp := range p.pipes {
		ok += pp.exp.ok.Load()
		failed += pp.exp.failed.Load()
	}
	return ok, failed
}

// emit sends ev, first waiting until its product's queue has room.
func (p *Pipeline) emit(ctx context.Context, ev *Event) error {
	pp := p.pipes[ev.Product]
	if pp == nil {
		return fmt.Errorf("simulate: no pipeline for product %q", ev.Product)
	}
	for pp.emitted-(pp.exp.ok.Load()+pp.exp.failed.Load()) >= QueueSize/2 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-pp.exp.progress:
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err := ev.Emit(ctx, pp.emitter); err != nil {
		return err
	}
	pp.emitted++
	return nil
}

// Shutdown flushes every product's queue and closes the exporters. It
// returns an error naming the records that were not delivered.
func (p *Pipeline) Shutdown(ctx context.Context) error {
	var errs []error
	for _, pp := range p.pipes {
		if err := pp.lp.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if _, failed := p.Acknowledged(); failed > 0 {
		var last error
		for _, pp := range p.pipes {
			if e := pp.exp.lastErr.Load(); e != nil {
				last = *e
			}
		}
		errs = append(errs, fmt.Errorf("%d events were not delivered (last error: %w)", failed, last))
	}
	return errors.Join(errs...)
}
