package eventcatalogprocessor

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.uber.org/zap"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
	"github.com/otelcol-analytics/otelcol-analytics/internal/normalize"
)

type eventCatalogProcessor struct {
	cfg    *Config
	logger *zap.Logger
	tel    *telemetry
	now    func() time.Time

	// norm is set by start, once the catalog is loaded.
	norm atomic.Pointer[normalize.Normalizer]
}

func newProcessor(cfg *Config, logger *zap.Logger, tel *telemetry) *eventCatalogProcessor {
	return &eventCatalogProcessor{cfg: cfg, logger: logger, tel: tel, now: time.Now}
}

// start loads and validates the catalog: a bad catalog file fails the
// collector's start with the file's name and every problem in it.
func (p *eventCatalogProcessor) start(context.Context, component.Host) error {
	cat, err := loadCatalog(p.cfg.Catalog)
	if err != nil {
		return err
	}
	p.norm.Store(normalize.New(cat, p.cfg.limits()))
	fields := []zap.Field{zap.Int("events", len(cat.Names()))}
	if p.cfg.Catalog.File != "" {
		fields = append(fields, zap.String("file", p.cfg.Catalog.File), zap.String("mode", p.cfg.Catalog.Mode))
	}
	p.logger.Info("Event catalog loaded", fields...)
	return nil
}

func (p *eventCatalogProcessor) shutdown(context.Context) error { return nil }

// loadCatalog builds the catalog the config names.
func loadCatalog(cc CatalogConfig) (*catalog.Catalog, error) {
	if cc.File == "" {
		return catalog.Default(), nil
	}
	file, err := catalog.Load(cc.File)
	if err != nil {
		return nil, err
	}
	if cc.Mode == ModeReplace {
		return file, nil
	}
	return catalog.Default().Extend(file), nil
}

var errNotStarted = errors.New("eventcatalog processor used before start")

func (p *eventCatalogProcessor) processLogs(ctx context.Context, ld plog.Logs) (plog.Logs, error) {
	n := p.norm.Load()
	if n == nil {
		return ld, errNotStarted
	}
	now := p.now()
	var counts batchCounts
	passThrough := p.cfg.PassThrough

	ld.ResourceLogs().RemoveIf(func(rl plog.ResourceLogs) bool {
		res := rl.Resource()
		rl.ScopeLogs().RemoveIf(func(sl plog.ScopeLogs) bool {
			scope := sl.Scope()
			sl.LogRecords().RemoveIf(func(lr plog.LogRecord) bool {
				r := n.Record(res, scope, lr, now)
				if r.Outcome != normalize.NotAnEvent && r.Time != normalize.TimeFromTimestamp {
					counts.untimed(r.Time, r.DerivedID)
				}
				switch r.Outcome {
				case normalize.Accepted:
					counts.accepted++
				case normalize.Rejected:
					counts.reject(r.Reason)
				default:
					if passThrough {
						counts.passedThrough++
						return false
					}
					counts.ignored++
					return true
				}
				return false
			})
			return sl.LogRecords().Len() == 0
		})
		return rl.ScopeLogs().Len() == 0
	})
	p.tel.record(ctx, &counts)

	if ld.ResourceLogs().Len() == 0 {
		return ld, processorhelper.ErrSkipProcessingData
	}
	return ld, nil
}
