package store

import (
	"sync"
	"sync/atomic"
	"time"
	_ "time/tzdata" // the business time zone must resolve on any host

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
)

// Config configures a Store.
type Config struct {
	// Location is the business time zone days and months are cut in.
	// Default: Asia/Shanghai.
	Location *time.Location
	// Layout names the Redis keys and TTLs. An empty Prefix becomes
	// "analytics:"; the TTLs are taken as they are (0 = no expiry).
	Layout counters.Layout
	// Logger receives one warning per Redis outage and similar rare events
	// (never one line per record). Default: no logging.
	Logger *zap.Logger
}

// Store writes batches. It is safe for concurrent use.
type Store struct {
	pool   *pgxpool.Pool
	rdb    redis.UniversalClient
	loc    *time.Location
	layout counters.Layout
	logger *zap.Logger

	// AfterCommitHook, if set, is called after a batch's PostgreSQL commit
	// and before its Redis update. Returning an error makes Write return it
	// right there, as if the process had crashed at that point (tests).
	AfterCommitHook func(batchID string) error

	months     sync.Map // business month (year*12 + month - 1) → monthState: partition ensured, or month retired
	redisDown  atomic.Bool
	probeFirst atomic.Int32 // batches left that look their ids up before copying
	outbox     outboxState  // outbox rows left in place (outbox.go)
	// purgeBlocks is the ledger pages of one purge call (0: purgeBlocks;
	// tests make it small).
	purgeBlocks int32
}

// New returns a Store writing through pool and rdb. It does no I/O.
func New(pool *pgxpool.Pool, rdb redis.UniversalClient, cfg Config) *Store {
	s := &Store{pool: pool, rdb: rdb, loc: cfg.Location, layout: cfg.Layout, logger: cfg.Logger}
	if s.loc == nil {
		loc, err := time.LoadLocation(counters.DefaultTimeZone)
		if err != nil { // cannot happen: time/tzdata is embedded
			panic(err)
		}
		s.loc = loc
	}
	if s.layout.Prefix == "" {
		s.layout.Prefix = counters.DefaultPrefix
	}
	if s.logger == nil {
		s.logger = zap.NewNop()
	}
	return s
}

// Layout returns the Redis layout in use (with defaults applied).
func (s *Store) Layout() counters.Layout { return s.layout }

// Location returns the business time zone.
func (s *Store) Location() *time.Location { return s.loc }
