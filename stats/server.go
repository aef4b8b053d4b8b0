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
	"github.com/redis/go-redis/v9"
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
	rdb    redis.UniversalClient // nil without redis::addr
	srv    *http.Server
	ln     net.Listener
	done   chan struct{}
	closed bool
}

// NewServer only stores its settings; Start opens the pool and listens.
func NewServer(cfg *Config, set component.TelemetrySettings) *Server {
	return &Server{cfg: cfg, set: set, now: time.Now}
}

// Start builds the pool and, when redis::addr is set, the Redis client.
// Both connect lazily: a PostgreSQL that is down at start makes requests
// answer 503 until it is back, a Redis that is down makes live answer from
// the rollups, instead of failing the collector. It binds the listener (failing fast when the endpoint is taken)
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
	rdb := NewRedisClient(s.cfg.Redis) // no I/O; nil when not configured
	fail := func(err error) error {
		pool.Close()
		if rdb != nil {
			_ = rdb.Close()
		}
		return err
	}
	h, err := NewHandler(s.cfg, pool, HandlerSettings{MeterProvider: s.set.MeterProvider, Now: s.now, Logger: s.set.Logger, Redis: rdb})
	if err != nil {
		return fail(err)
	}
	srv, err := s.cfg.HTTP.ToServer(ctx, extensions, s.set, h)
	if err != nil {
		return fail(fmt.Errorf("stats: http server: %w", err))
	}
	ln, err := s.cfg.HTTP.ToListener(ctx)
	if err != nil {
		return fail(fmt.Errorf("stats: listen on %s: %w", s.cfg.HTTP.NetAddr.Endpoint, err))
	}
	s.pool, s.rdb, s.srv, s.ln, s.done = pool, rdb, srv, ln, make(chan struct{})
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
// allows, and closes the pool and the Redis client. Nil-safe and idempotent.
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
	if s.rdb != nil {
		_ = s.rdb.Close()
	}
	return err
}
