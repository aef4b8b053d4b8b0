package stats

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/collector/component"
)

// Server is the stats service: the pool, the handler and the HTTP server.
// The collector extension and cmd/analytics-stats both run one.
type Server struct {
	cfg *Config
	set component.TelemetrySettings
	now func() time.Time

	mu     sync.Mutex
	pool   *pgxpool.Pool
	srv    *http.Server
	ln     net.Listener
	done   chan struct{}
	closed bool
}

// NewServer only stores its settings; Start opens the pool and listens.
func NewServer(cfg *Config, set component.TelemetrySettings) *Server {
	return &Server{cfg: cfg, set: set, now: time.Now}
}

// Start builds the pool (it connects lazily: a PostgreSQL that is down at
// start makes requests answer 503 until it is back, instead of failing the
// collector), binds the listener (failing fast when the endpoint is taken)
// and serves in the background. extensions is host.GetExtensions() inside
// the collector (for confighttp auth/middlewares), nil standalone.
func (s *Server) Start(ctx context.Context, extensions map[component.ID]component.Component) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return errors.New("stats: already started")
	}
	pool, err := NewPool(ctx, s.cfg.Postgres)
	if err != nil {
		return err
	}
	h, err := NewHandler(s.cfg, pool, HandlerSettings{MeterProvider: s.set.MeterProvider, Now: s.now, Logger: s.set.Logger})
	if err != nil {
		pool.Close()
		return err
	}
	srv, err := s.cfg.HTTP.ToServer(ctx, extensions, s.set, h)
	if err != nil {
		pool.Close()
		return fmt.Errorf("stats: http server: %w", err)
	}
	ln, err := s.cfg.HTTP.ToListener(ctx)
	if err != nil {
		pool.Close()
		return fmt.Errorf("stats: listen on %s: %w", s.cfg.HTTP.NetAddr.Endpoint, err)
	}
	s.pool, s.srv, s.ln, s.done = pool, srv, ln, make(chan struct{})
	go func() {
		defer close(s.done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			if s.set.Logger != nil {
				s.set.Logger.Error("stats: HTTP server stopped: " + err.Error())
			}
		}
	}()
	return nil
}

// Addr is the address the server listens on ("" before Start), useful with
// an endpoint of port 0.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Shutdown stops the server, waiting for requests in flight as long as ctx
// allows, and closes the pool. Nil-safe and idempotent.
func (s *Server) Shutdown(ctx context.Context) error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.srv == nil {
		s.closed = true
		return nil
	}
	s.closed = true
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
	}
	select {
	case <-s.done:
	case <-ctx.Done():
	}
	s.pool.Close()
	return err
}
