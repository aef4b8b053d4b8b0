package analyticsexporter

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
	"github.com/otelcol-analytics/otelcol-analytics/internal/store"
	"github.com/otelcol-analytics/otelcol-analytics/migrations"
)

// maintenanceInterval is how often partitions are ensured ahead and old
// ones dropped.
const maintenanceInterval = time.Hour

// opTimeout bounds each background operation.
const opTimeout = time.Minute

type analyticsExporter struct {
	cfg    *Config
	logger *zap.Logger
	tel    *telemetry

	mu     sync.Mutex // guards the fields below against a concurrent Shutdown
	pool   *pgxpool.Pool
	rdb    redis.UniversalClient
	store  *store.Store
	cancel context.CancelFunc
	done   chan struct{}

	// afterCommitHook is passed to the store (tests only).
	afterCommitHook func(batchID string) error
}

func newExporter(cfg *Config, set exporter.Settings) (*analyticsExporter, error) {
	tel, err := newTelemetry(set.TelemetrySettings)
	if err != nil {
		return nil, fmt.Errorf("analytics exporter: telemetry: %w", err)
	}
	return &analyticsExporter{cfg: cfg, logger: set.Logger, tel: tel}, nil
}

func (e *analyticsExporter) loadCatalog() (*catalog.Catalog, error) {
	if e.cfg.Catalog.File == "" {
		return catalog.Default(), nil
	}
	c, err := catalog.Load(e.cfg.Catalog.File)
	if err != nil {
		return nil, err
	}
	if e.cfg.Catalog.Mode == CatalogModeReplace {
		return c, nil
	}
	return catalog.Default().Extend(c), nil
}

func (e *analyticsExporter) start(ctx context.Context, _ component.Host) error {
	loc, err := time.LoadLocation(e.cfg.Timezone)
	if err != nil {
		return fmt.Errorf("analytics exporter: timezone: %w", err)
	}
	cat, err := e.loadCatalog()
	if err != nil {
		return fmt.Errorf("analytics exporter: catalog: %w", err)
	}
	dsn := string(e.cfg.Postgres.DSN)
	pcfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("analytics exporter: postgres.dsn: %w", err)
	}
	where := fmt.Sprintf("%s:%d/%s", pcfg.ConnConfig.Host, pcfg.ConnConfig.Port, pcfg.ConnConfig.Database)
	if e.cfg.Migrate {
		if err := migrations.Up(dsn); err != nil {
			return fmt.Errorf("analytics exporter: migrate PostgreSQL at %s: %w", where, err)
		}
	}
	pcfg.MaxConns = e.cfg.Postgres.MaxConns
	pcfg.MinConns = e.cfg.Postgres.MinConns
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return fmt.Errorf("analytics exporter: PostgreSQL at %s: %w", where, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return fmt.Errorf("analytics exporter: PostgreSQL at %s does not answer: %w", where, err)
	}

	ropts := &redis.UniversalOptions{
		Addrs:    []string{e.cfg.Redis.Addr},
		DB:       e.cfg.Redis.DB,
		Username: e.cfg.Redis.Username,
		Password: string(e.cfg.Redis.Password),
	}
	raddr := e.cfg.Redis.Addr
	if len(e.cfg.Redis.Addrs) > 0 {
		ropts.Addrs = e.cfg.Redis.Addrs
		ropts.IsClusterMode = true
		raddr = fmt.Sprint(e.cfg.Redis.Addrs)
	}
	rdb := redis.NewUniversalClient(ropts)
	if err := rdb.Ping(ctx).Err(); err != nil {
		pool.Close()
		_ = rdb.Close()
		return fmt.Errorf("analytics exporter: Redis at %s does not answer: %w", raddr, err)
	}

	st := store.New(pool, rdb, store.Config{
		Location: loc,
		Layout: counters.Layout{
			Prefix:     e.cfg.Redis.KeyPrefix,
			DailyTTL:   e.cfg.Redis.DailyTTL,
			MonthlyTTL: e.cfg.Redis.MonthlyTTL,
			ClaimTTL:   e.cfg.Redis.ClaimTTL,
		},
		Catalog: cat,
		Logger:  e.logger,
	})
	st.AfterCommitHook = e.afterCommitHook
	if err := e.maintain(ctx, st); err != nil {
		pool.Close()
		_ = rdb.Close()
		return fmt.Errorf("analytics exporter: PostgreSQL at %s: %w", where, err)
	}
	e.applyOutbox(ctx, st)

	bg, cancel := context.WithCancel(context.Background())
	e.mu.Lock()
	e.pool, e.rdb, e.store, e.cancel, e.done = pool, rdb, st, cancel, make(chan struct{})
	done := e.done
	e.mu.Unlock()
	go e.loop(bg, st, done)
	return nil
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

func (e *analyticsExporter) loop(ctx context.Context, st *store.Store, done chan struct{}) {
	defer close(done)
	outbox := time.NewTicker(e.cfg.OutboxInterval)
	defer outbox.Stop()
	maint := time.NewTicker(maintenanceInterval)
	defer maint.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-outbox.C:
			octx, cancel := context.WithTimeout(ctx, opTimeout)
			e.applyOutbox(octx, st)
			cancel()
		case <-maint.C:
			mctx, cancel := context.WithTimeout(ctx, opTimeout)
			if err := e.maintain(mctx, st); err != nil && ctx.Err() == nil {
				e.logger.Warn("partition maintenance failed; retrying in an hour", zap.Error(err))
			}
			cancel()
		}
	}
}

func (e *analyticsExporter) pushLogs(ctx context.Context, ld plog.Logs) error {
	e.mu.Lock()
	st := e.store
	e.mu.Unlock()
	if st == nil {
		return errors.New("analytics exporter: not started")
	}
	began := time.Now()
	res, err := st.Write(ctx, ld)
	e.tel.record(ctx, res, time.Since(began).Seconds(), err)
	if err != nil {
		if perm, ok := errors.AsType[*store.PermanentError](err); ok {
			return consumererror.NewPermanent(perm)
		}
		return fmt.Errorf("analytics exporter: write batch of %d records (retried): %w", ld.LogRecordCount(), err)
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
