package analyticsexporter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper/xexporterhelper"
	"go.uber.org/zap"

	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
	"github.com/otelcol-analytics/otelcol-analytics/internal/store"
	"github.com/otelcol-analytics/otelcol-analytics/migrations"
)

// maintenanceInterval is how often partitions are ensured ahead and old
// ones dropped.
const maintenanceInterval = time.Hour

// opTimeout bounds each background operation.
const opTimeout = time.Minute

// probeTimeout bounds one attempt to reach PostgreSQL or Redis (at start and
// while catching up), so an address that drops packets does not hold Start.
const probeTimeout = 10 * time.Second

type analyticsExporter struct {
	cfg    *Config
	logger *zap.Logger
	tel    *telemetry
	// loc is the business time zone, for the conversion of requests before
	// the queue (start loads it again and fails on a bad one).
	loc *time.Location

	mu     sync.Mutex // guards the fields below against a concurrent Shutdown
	pool   *pgxpool.Pool
	rdb    redis.UniversalClient
	store  *store.Store
	cancel context.CancelFunc
	done   chan struct{}

	// Where the stores are, for messages (set by start).
	pgAddr, redisAddr string

	// PostgreSQL is ready once it answered and the migrations (migrate) and
	// partitions ran; until then pushLogs and the loop try to get it there.
	pgMu      sync.Mutex // serialises those attempts
	pgReady   atomic.Bool
	pgDown    bool   // guarded by pgMu: start found PostgreSQL unreachable or not ready
	pgLastErr string // guarded by pgMu: the last catch-up problem logged
	// redisSeen is set once Redis answered (and its eviction policy was checked).
	redisSeen atomic.Bool

	// checkEviction checks Redis' maxmemory-policy when Redis first answers
	// (counters.CheckEvictionPolicy): an error fails Start (or is logged, if
	// Redis answers only later), a warning is logged.
	checkEviction func(ctx context.Context, rdb redis.UniversalClient) (warning string, err error)
	// sweepClaims runs with the hourly maintenance ((*store.Store).SweepClaims).
	sweepClaims func(st *store.Store, ctx context.Context) (int, error)
	// maintEvery is maintenanceInterval (tests shorten it).
	maintEvery time.Duration

	// afterCommitHook is passed to the store (tests only).
	afterCommitHook func(batchID string) error
}

func newExporter(cfg *Config, set exporter.Settings) (*analyticsExporter, error) {
	tel, err := newTelemetry(set.TelemetrySettings)
	if err != nil {
		return nil, fmt.Errorf("analytics exporter: telemetry: %w", err)
	}
	loc, err := time.LoadLocation(cfg.Timezone)
	if err != nil {
		loc = time.UTC // Validate and start refuse it
	}
	return &analyticsExporter{
		cfg: cfg, logger: set.Logger, tel: tel, loc: loc,
		maintEvery:    maintenanceInterval,
		checkEviction: counters.CheckEvictionPolicy,
		sweepClaims:   (*store.Store).SweepClaims,
	}, nil
}

// start checks the configuration and opens the clients. It fails fast on
// what an operator must fix: the time zone, the syntax of
// postgres.dsn, a PostgreSQL that refuses the credentials or has no such
// database, a schema that is missing or cannot be migrated, Redis refusing
// the credentials or redis.db, and Redis' eviction policy. A store that
// cannot be reached is an outage, not a configuration error: the exporter
// starts with a warning. Without PostgreSQL, batches wait in the queue and
// are retried until it answers; pushLogs and the loop then run the
// migrations and create the partitions first. Without Redis, the counts wait
// in the PostgreSQL outbox, applied by the loop when Redis answers.
func (e *analyticsExporter) start(ctx context.Context, _ component.Host) error {
	loc, err := time.LoadLocation(e.cfg.Timezone)
	if err != nil {
		return fmt.Errorf("analytics exporter: timezone: %w", err)
	}
	pcfg, err := pgxpool.ParseConfig(string(e.cfg.Postgres.DSN))
	if err != nil {
		return fmt.Errorf("analytics exporter: postgres.dsn: %w", err)
	}
	e.pgAddr = fmt.Sprintf("%s:%d/%s", pcfg.ConnConfig.Host, pcfg.ConnConfig.Port, pcfg.ConnConfig.Database)
	pcfg.MaxConns = e.cfg.Postgres.MaxConns
	pcfg.MinConns = e.cfg.Postgres.MinConns
	pool, err := pgxpool.NewWithConfig(ctx, pcfg) // no I/O
	if err != nil {
		return fmt.Errorf("analytics exporter: postgres: %w", err)
	}

	rdb := counters.NewClient(e.cfg.Redis.Options()) // no I/O
	e.redisAddr = e.cfg.Redis.Where()

	st := store.New(pool, rdb, store.Config{
		Location: loc,
		Layout:   e.cfg.Redis.layout(),
		Logger:   e.logger,
	})
	st.AfterCommitHook = e.afterCommitHook
	fail := func(err error) error {
		pool.Close()
		_ = rdb.Close()
		return fmt.Errorf("analytics exporter: %w", err)
	}

	e.pgReady.Store(false)
	e.redisSeen.Store(false)
	if err := e.preparePostgres(ctx, pool, st); err != nil {
		var out *outageError
		if !errors.As(err, &out) {
			return fail(err)
		}
		e.logger.Warn("PostgreSQL does not answer; starting anyway: batches wait in the sending queue (persistent with "+
			"sending_queue.storage) and are retried until it answers, then the migrations (migrate) and partitions run first",
			zap.String("postgres", e.pgAddr), zap.Error(out.err))
	}
	if err := e.contactRedis(ctx, rdb); err != nil {
		var out *outageError
		if !errors.As(err, &out) {
			return fail(err)
		}
		e.logger.Warn("Redis does not answer; starting anyway: counts wait in the PostgreSQL outbox and are applied when it answers",
			zap.String("redis", e.redisAddr), zap.Error(out.err))
	}
	if e.pgReady.Load() && e.redisSeen.Load() {
		e.applyOutbox(ctx, st) // otherwise the loop does, once both answer
	}

	bg, cancel := context.WithCancel(context.Background())
	e.mu.Lock()
	e.pool, e.rdb, e.store, e.cancel, e.done = pool, rdb, st, cancel, make(chan struct{})
	done := e.done
	e.mu.Unlock()
	go e.loop(bg, pool, rdb, st, done)
	return nil
}

// outageError is a store that cannot be reached (refused, timed out, gone,
// starting up, too many connections): start goes on and the exporter catches
// up when it answers.
type outageError struct{ err error }

func (e *outageError) Error() string { return e.err.Error() }
func (e *outageError) Unwrap() error { return e.err }

// pgUnreachable reports whether err means PostgreSQL is not there (yet)
// rather than that it refuses this configuration. Every error that is not a
// PostgreSQL error reply (network, timeout, DNS, TLS) is, and so are the
// SQLSTATE classes 08 (connection), 40 (rollback), 53 (resources: too many
// connections), 55 (lock not available), 57 (shutdown, starting up,
// canceled) and 58 (I/O). The others are the operator's to fix: 28
// (credentials), 3D (no such database), 42 (schema missing, privileges).
func pgUnreachable(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || len(pgErr.Code) < 2 {
		return true
	}
	switch pgErr.Code[:2] {
	case "08", "40", "53", "55", "57", "58":
		return true
	}
	return false
}

// preparePostgres makes PostgreSQL ready, once: it pings it, applies the
// migrations (migrate) and creates the partitions. An outageError means
// PostgreSQL cannot be reached; any other error is a configuration or schema
// problem, with the key to look at.
func (e *analyticsExporter) preparePostgres(ctx context.Context, pool *pgxpool.Pool, st *store.Store) error {
	if e.pgReady.Load() {
		return nil
	}
	e.pgMu.Lock()
	defer e.pgMu.Unlock()
	if e.pgReady.Load() {
		return nil
	}
	err := e.preparePostgresLocked(ctx, pool, st)
	if err != nil {
		e.pgDown = true
		return err
	}
	e.pgReady.Store(true)
	if e.pgDown {
		e.logger.Info("PostgreSQL answers; schema and partitions are ready, queued batches are written now",
			zap.String("postgres", e.pgAddr))
	}
	e.pgDown, e.pgLastErr = false, ""
	return nil
}

func (e *analyticsExporter) preparePostgresLocked(ctx context.Context, pool *pgxpool.Pool, st *store.Store) error {
	ping := func() error {
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		defer cancel()
		return pool.Ping(pctx)
	}
	if err := ping(); err != nil {
		if pgUnreachable(err) {
			return &outageError{fmt.Errorf("PostgreSQL at %s does not answer: %w", e.pgAddr, err)}
		}
		return fmt.Errorf("postgres.dsn: PostgreSQL at %s refuses the connection: %w", e.pgAddr, err)
	}
	if e.cfg.Migrate {
		if err := migrations.Up(string(e.cfg.Postgres.DSN)); err != nil {
			// golang-migrate does not wrap the driver's error: ask
			// PostgreSQL whether it went away meanwhile.
			if perr := ping(); perr != nil && pgUnreachable(perr) {
				return &outageError{fmt.Errorf("PostgreSQL at %s went away while migrating: %w", e.pgAddr, err)}
			}
			return fmt.Errorf("migrate: migrate PostgreSQL at %s: %w", e.pgAddr, err)
		}
	}
	if err := e.maintain(ctx, st); err != nil {
		if pgUnreachable(err) {
			return &outageError{fmt.Errorf("PostgreSQL at %s: %w", e.pgAddr, err)}
		}
		return fmt.Errorf("PostgreSQL at %s: %w (is the schema migrated? set migrate: true or run analyticsctl migrate)", e.pgAddr, err)
	}
	return nil
}

// redisUnreachable reports whether err means Redis is not there (yet)
// rather than that it refuses this configuration (credentials, ACL
// permissions, database number).
func redisUnreachable(err error) bool {
	return !redis.IsAuthError(err) && !redis.IsPermissionError(err) && !strings.Contains(err.Error(), "DB index")
}

// contactRedis pings Redis and, when it answers for the first time, checks
// its eviction policy. An outageError means Redis cannot be reached.
func (e *analyticsExporter) contactRedis(ctx context.Context, rdb redis.UniversalClient) error {
	if e.redisSeen.Load() {
		return nil
	}
	ping := func() error {
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		defer cancel()
		return rdb.Ping(pctx).Err()
	}
	if err := ping(); err != nil {
		if redisUnreachable(err) {
			return &outageError{fmt.Errorf("no answer from Redis at %s: %w", e.redisAddr, err)}
		}
		return fmt.Errorf("redis.username, redis.password, redis.db: Redis at %s refuses the connection: %w", e.redisAddr, err)
	}
	if e.checkEviction != nil {
		cctx, cancel := context.WithTimeout(ctx, probeTimeout)
		warning, err := e.checkEviction(cctx, rdb)
		cancel()
		if err != nil {
			// The check returns an error reaching Redis as it is: ask
			// Redis whether it went away meanwhile.
			if perr := ping(); perr != nil && redisUnreachable(perr) {
				return &outageError{fmt.Errorf("no answer from Redis at %s: %w", e.redisAddr, perr)}
			}
			return fmt.Errorf("eviction policy of Redis at %s: %w", e.redisAddr, err)
		}
		if warning != "" {
			e.logger.Warn(warning, zap.String("redis", e.redisAddr))
		}
	}
	e.redisSeen.Store(true)
	return nil
}

// catchUp runs on every outbox tick: it makes PostgreSQL ready if start
// could not, checks Redis on its first answer, and applies the outbox.
func (e *analyticsExporter) catchUp(ctx context.Context, pool *pgxpool.Pool, rdb redis.UniversalClient, st *store.Store) {
	if err := e.preparePostgres(ctx, pool, st); err != nil {
		e.noteNotReady(err)
		return
	}
	if !e.redisSeen.Load() {
		if err := e.contactRedis(ctx, rdb); err != nil {
			var out *outageError
			if !errors.As(err, &out) {
				// Start would have failed; now the events are safe in
				// PostgreSQL and the counts are applied all the same.
				e.logger.Error("Redis answers but is not configured as it should be; fix it, then run analyticsctl rebuild if counters were lost",
					zap.Error(err))
				e.redisSeen.Store(true)
			}
		}
	}
	e.applyOutbox(ctx, st)
}

// noteNotReady logs why PostgreSQL is not ready after start, once per
// distinct problem. An outage was logged by start already.
func (e *analyticsExporter) noteNotReady(err error) {
	var out *outageError
	if errors.As(err, &out) {
		return
	}
	e.pgMu.Lock()
	defer e.pgMu.Unlock()
	if msg := err.Error(); msg != e.pgLastErr {
		e.pgLastErr = msg
		e.logger.Warn("PostgreSQL answers but is not ready; batches stay queued and are retried", zap.Error(err))
	}
}

// maintain creates the partitions of this month and the next
// create_ahead_months, and enforces the retention.
func (e *analyticsExporter) maintain(ctx context.Context, st *store.Store) error {
	now := time.Now()
	if err := st.EnsurePartitions(ctx, now, now.In(st.Location()).AddDate(0, e.cfg.Partitions.CreateAheadMonths, 0)); err != nil {
		return err
	}
	if r := e.cfg.Partitions.RetentionMonths; r > 0 {
		y, m, _ := now.In(st.Location()).Date()
		cutoff := time.Date(y, m-time.Month(r), 1, 12, 0, 0, 0, st.Location())
		dropped, err := st.DropPartitionsBefore(ctx, cutoff)
		if err != nil {
			return err
		}
		if len(dropped) > 0 {
			e.logger.Info("dropped raw-event partitions past partitions.retention_months", zap.Strings("partitions", dropped))
		}
	}
	return nil
}

// applyOutbox applies pending outbox rows and refreshes the backlog gauge.
func (e *analyticsExporter) applyOutbox(ctx context.Context, st *store.Store) {
	if n, err := st.ApplyPendingOutbox(ctx); err != nil {
		// The store logs once per Redis outage; this is the periodic echo.
		e.logger.Debug("outbox not fully applied", zap.Int("applied", n), zap.Error(err))
	} else if n > 0 {
		e.logger.Info("applied pending outbox rows to Redis", zap.Int("batches", n))
	}
	if n, err := st.PendingOutbox(ctx); err == nil {
		e.tel.backlog.Store(n)
	}
}

func (e *analyticsExporter) loop(ctx context.Context, pool *pgxpool.Pool, rdb redis.UniversalClient, st *store.Store, done chan struct{}) {
	defer close(done)
	outbox := time.NewTicker(e.cfg.OutboxInterval)
	defer outbox.Stop()
	maint := time.NewTicker(e.maintEvery)
	defer maint.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-outbox.C:
			octx, cancel := context.WithTimeout(ctx, opTimeout)
			e.catchUp(octx, pool, rdb, st)
			cancel()
		case <-maint.C:
			if !e.pgReady.Load() {
				continue // catchUp does it once PostgreSQL answers
			}
			mctx, cancel := context.WithTimeout(ctx, opTimeout)
			if err := e.maintain(mctx, st); err != nil && ctx.Err() == nil {
				e.logger.Warn("partition maintenance failed; retrying in an hour", zap.Error(err))
			}
			e.sweep(mctx, st)
			cancel()
		}
	}
}

// sweep runs the claim sweep of the hourly maintenance.
func (e *analyticsExporter) sweep(ctx context.Context, st *store.Store) {
	if e.sweepClaims == nil || !e.redisSeen.Load() {
		return // nothing to sweep with, or Redis has not answered yet
	}
	n, err := e.sweepClaims(st, ctx)
	if err != nil {
		if ctx.Err() == nil {
			e.logger.Warn("claim sweep failed; retrying in an hour", zap.Int("swept", n), zap.Error(err))
		}
		return
	}
	if n > 0 {
		e.logger.Info("swept claims", zap.Int("claims", n))
	}
}

// pushBatch writes one batch of the sending queue.
func (e *analyticsExporter) pushBatch(ctx context.Context, req xexporterhelper.Request) error {
	b := req.(*batchRequest).b
	e.mu.Lock()
	pool, st := e.pool, e.store
	e.mu.Unlock()
	if st == nil {
		return errors.New("analytics exporter: not started")
	}
	began := time.Now()
	if err := e.preparePostgres(ctx, pool, st); err != nil {
		// Not a permanent error: the helper retries (by default forever)
		// and the queue keeps the batch meanwhile.
		e.tel.record(ctx, store.Result{}, time.Since(began).Seconds(), err)
		e.noteNotReady(err)
		return fmt.Errorf("analytics exporter: batch of %d records waits for PostgreSQL (retried): %w", b.Len(), err)
	}
	res, err := st.WriteBatch(ctx, b)
	e.tel.record(ctx, res, time.Since(began).Seconds(), err)
	if err != nil {
		if perm, ok := errors.AsType[*store.PermanentError](err); ok {
			return consumererror.NewPermanent(perm)
		}
		return fmt.Errorf("analytics exporter: write batch of %d records (retried): %w", b.Len(), err)
	}
	return nil
}

// shutdown stops the background loop and closes the clients. It is safe to
// call without start and more than once.
func (e *analyticsExporter) shutdown(ctx context.Context) error {
	e.mu.Lock()
	cancel, done, pool, rdb := e.cancel, e.done, e.pool, e.rdb
	e.cancel, e.done, e.pool, e.rdb, e.store = nil, nil, nil, nil, nil
	e.mu.Unlock()
	if cancel != nil {
		cancel()
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if pool != nil {
		pool.Close()
	}
	var err error
	if rdb != nil {
		err = rdb.Close()
	}
	e.tel.shutdown()
	return err
}
