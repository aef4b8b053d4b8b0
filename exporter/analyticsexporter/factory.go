package analyticsexporter

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exporterhelper/xexporterhelper"
	"go.opentelemetry.io/collector/pdata/plog"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
	"github.com/otelcol-analytics/otelcol-analytics/internal/normalize"
	"github.com/otelcol-analytics/otelcol-analytics/internal/store"
)

// The component's type and stability (see metadata.yaml).
const (
	typeStr   = "analytics"
	stability = component.StabilityLevelDevelopment
)

// Type is the component type of the analytics exporter.
var Type = component.MustNewType(typeStr)

// Defaults of the helper sections.
const (
	defaultBatchSize    = 5000
	defaultFlushTimeout = time.Second
	defaultQueueSize    = 200_000 // records
	defaultConsumers    = 4
	defaultTimeout      = 30 * time.Second
)

// NewFactory returns the factory of the analytics exporter.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(Type, createDefaultConfig,
		exporter.WithLogs(createLogs, stability))
}

func createDefaultConfig() component.Config {
	queue := exporterhelper.NewDefaultQueueConfig()
	queue.Sizer = exporterhelper.RequestSizerTypeItems
	queue.QueueSize = defaultQueueSize
	queue.NumConsumers = defaultConsumers
	batch := exporterhelper.NewDefaultBatchConfig()
	batch.Sizer = exporterhelper.RequestSizerTypeItems
	batch.MinSize = defaultBatchSize
	batch.MaxSize = defaultBatchSize
	batch.FlushTimeout = defaultFlushTimeout
	queue.Batch = configoptional.Some(batch)

	retry := configretry.NewDefaultBackOffConfig()
	retry.InitialInterval = time.Second
	retry.MaxInterval = 30 * time.Second
	retry.MaxElapsedTime = 0 // never drop a batch because the database was down

	return &Config{
		TimeoutConfig: exporterhelper.TimeoutConfig{Timeout: defaultTimeout},
		QueueConfig:   configoptional.Some(queue),
		RetryConfig:   retry,
		Postgres:      PostgresConfig{MaxConns: 8, MinConns: 1},
		Redis: RedisConfig{
			RedisConfig: counters.RedisConfig{
				Addr:      counters.DefaultRedisAddr,
				KeyPrefix: counters.DefaultPrefix,
				DailyTTL:  counters.DefaultDailyTTL,
			},
			ClaimTTL: counters.DefaultClaimTTL,
		},
		Timezone:       counters.DefaultTimeZone,
		Partitions:     PartitionsConfig{CreateAheadMonths: 2},
		OutboxInterval: 5 * time.Second,
	}
}

func createLogs(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Logs, error) {
	return createLogsWith(ctx, set, cfg, nil)
}

// createLogsWith is createLogs with a hook to adjust the exporter before it
// is wired (tests set the store's after-commit hook through it).
func createLogsWith(ctx context.Context, set exporter.Settings, cfg component.Config, adjust func(*analyticsExporter)) (exporter.Logs, error) {
	c := cfg.(*Config)
	exp, err := newExporter(c, set)
	if err != nil {
		return nil, err
	}
	if adjust != nil {
		adjust(exp)
	}
	convert := func(_ context.Context, ld plog.Logs) (xexporterhelper.Request, error) {
		return &batchRequest{b: store.Convert(exp.loc, ld)}, nil
	}
	helper, err := xexporterhelper.NewLogsRequest(ctx, set, convert, exp.pushBatch,
		exporterhelper.WithStart(exp.start),
		exporterhelper.WithShutdown(exp.shutdown),
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		exporterhelper.WithTimeout(c.TimeoutConfig),
		exporterhelper.WithRetry(c.RetryConfig),
		xexporterhelper.WithQueueBatch(c.QueueConfig, queueBatchSettings(exp.loc, set.Logger)),
	)
	if err != nil {
		return nil, err
	}
	g := &queueGuard{Logs: helper, tel: exp.tel, disk: &queueDisk{logger: set.Logger}}
	if c.QueueConfig.HasValue() {
		g.disk.storageID = c.QueueConfig.Get().StorageID
	}
	return g, nil
}

// queueGuard is the exporter as the pipeline sees it: it hands every
// request to the exporterhelper (conversion to rows, sending queue,
// batching, retry) after normalize.GuardQueue has cut whatever could not be
// read back (nesting deeper than normalize.QueueMaxDepth, which pdata's
// protobuf decoder refuses): the queued batch keeps the resource and scope,
// and an unusual record, as protobuf, read back when a record is rejected at
// write time, so neither the queue nor a write ever fails on it: such a
// record is stored in the rejected table as too_deep instead. It also keeps
// the persistent queue's file system from filling (queueDisk).
type queueGuard struct {
	exporter.Logs
	tel  *telemetry
	disk *queueDisk
}

// Start starts the exporterhelper with the queue's storage guarded.
func (g *queueGuard) Start(ctx context.Context, host component.Host) error {
	return g.Logs.Start(ctx, g.disk.host(host))
}

func (g *queueGuard) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	if g.disk.full(0) {
		g.disk.refused.Add(1)
		return backPressure(errQueueDiskFull)
	}
	ld, n := normalize.GuardQueue(ld)
	if n > 0 {
		g.tel.recordsGuarded.Add(ctx, int64(n))
	}
	return backPressure(g.Logs.ConsumeLogs(ctx, ld))
}

// queueFullRetryDelay is the delay a client is asked to wait when the
// sending queue is full.
const queueFullRetryDelay = time.Second

// backPressure turns a full sending queue into OTLP's throttling answer: a
// gRPC RESOURCE_EXHAUSTED status with RetryInfo, which the OTLP receiver
// sends as HTTP 429 with Retry-After: 1 (and gRPC clients retry after the
// delay). Nothing of the request was accepted, so the client's retry loses
// and doubles nothing. The refusal is counted by the stock
// otelcol_exporter_enqueue_failed_log_records. Other errors pass as they
// are.
func backPressure(err error) error {
	if !errors.Is(err, exporterhelper.ErrQueueIsFull) {
		return err
	}
	msg := "the analytics exporter's sending queue is full (sending_queue::queue_size): retry after the delay; " +
		"nothing of this request was accepted"
	if errors.Is(err, errQueueDiskFull) {
		msg = "the file system of the analytics exporter's persistent queue is full: retry after the delay; " +
			"nothing of this request was accepted"
	}
	st, derr := status.New(codes.ResourceExhausted, msg).
		WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(queueFullRetryDelay)})
	if derr != nil { // cannot happen: RetryInfo always marshals
		return err
	}
	return st.Err()
}
