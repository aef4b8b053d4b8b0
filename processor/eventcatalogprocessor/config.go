package eventcatalogprocessor

import (
	"errors"
	"fmt"
	"time"

	"github.com/otelcol-analytics/otelcol-analytics/internal/normalize"
)

// Catalog modes.
const (
	// ModeExtend adds the file's events to the built-in catalog; an event
	// defined in both is taken from the file.
	ModeExtend = "extend"
	// ModeReplace uses only the file's events.
	ModeReplace = "replace"
)

// Config is the configuration of the eventcatalog processor.
type Config struct {
	// Catalog selects the event catalog: the built-in one (docs/spec.md §4), or a
	// YAML file that extends or replaces it.
	Catalog CatalogConfig `mapstructure:"catalog"`
	// PassThrough passes ordinary logs (records with no event name) on
	// untouched instead of dropping them. Default false.
	PassThrough bool `mapstructure:"pass_through"`
	// Limits bound what one record may carry; a record over a limit is
	// rejected with reason too_large, too_deep, future_timestamp or
	// past_timestamp.
	Limits LimitsConfig `mapstructure:"limits"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// CatalogConfig names the catalog file and how it combines with the
// built-in catalog.
type CatalogConfig struct {
	// File is the path of a YAML catalog file (the format of
	// internal/catalog/default.yaml). Empty: the built-in catalog only. The
	// file is read and validated when the processor starts.
	File string `mapstructure:"file"`
	// Mode is "extend" (default: the file's events are added to the built-in
	// ones and override those of the same name) or "replace" (only the
	// file's events; requires file).
	Mode string `mapstructure:"mode"`
}

// LimitsConfig bounds one record.
type LimitsConfig struct {
	// MaxAttributes is the most attributes a record may have. Default 64.
	MaxAttributes int `mapstructure:"max_attributes"`
	// MaxValueBytes is the longest string or bytes attribute value (and the
	// summed size of a map or slice value), in bytes. Default 8192.
	MaxValueBytes int `mapstructure:"max_value_bytes"`
	// MaxRecordBytes bounds the whole record: event name, body and every
	// attribute's name and value, in bytes. Default 65536.
	MaxRecordBytes int `mapstructure:"max_record_bytes"`
	// MaxDepth is the deepest nesting of maps and arrays an attribute value
	// or the body may have. Default 16; at most 24, what the persistent
	// queue can read back.
	MaxDepth int `mapstructure:"max_depth"`
	// MaxFutureSkew is how far after the time received an event's time may
	// be. Default 1h.
	MaxFutureSkew time.Duration `mapstructure:"max_future_skew"`
	// MinEventTime is the earliest event time accepted (RFC 3339). Default
	// 2000-01-01T00:00:00Z: anything before it is almost always a unit
	// error (milliseconds sent as nanoseconds). Backfills of real history
	// are accepted.
	MinEventTime time.Time `mapstructure:"min_event_time"`
}

func createDefaultConfig() *Config {
	lim := normalize.DefaultLimits()
	return &Config{
		Catalog: CatalogConfig{Mode: ModeExtend},
		Limits: LimitsConfig{
			MaxAttributes:  lim.MaxAttributes,
			MaxValueBytes:  lim.MaxValueBytes,
			MaxRecordBytes: lim.MaxRecordBytes,
			MaxDepth:       lim.MaxDepth,
			MaxFutureSkew:  lim.MaxFutureSkew,
			MinEventTime:   lim.MinEventTime,
		},
	}
}

// Validate checks the configuration; it does no I/O (the catalog file is
// read at start).
func (cfg *Config) Validate() error {
	var errs []error
	switch cfg.Catalog.Mode {
	case ModeExtend:
	case ModeReplace:
		if cfg.Catalog.File == "" {
			errs = append(errs, errors.New(`catalog.mode: "replace" needs catalog.file`))
		}
	default:
		errs = append(errs, fmt.Errorf(`catalog.mode: must be "extend" or "replace", got %q`, cfg.Catalog.Mode))
	}
	if cfg.Limits.MaxAttributes <= 0 {
		errs = append(errs, fmt.Errorf("limits.max_attributes: must be positive, got %d", cfg.Limits.MaxAttributes))
	}
	if cfg.Limits.MaxValueBytes <= 0 {
		errs = append(errs, fmt.Errorf("limits.max_value_bytes: must be positive, got %d", cfg.Limits.MaxValueBytes))
	}
	if cfg.Limits.MaxRecordBytes <= 0 {
		errs = append(errs, fmt.Errorf("limits.max_record_bytes: must be positive, got %d", cfg.Limits.MaxRecordBytes))
	}
	if cfg.Limits.MaxDepth <= 0 || cfg.Limits.MaxDepth > normalize.QueueMaxDepth {
		errs = append(errs, fmt.Errorf("limits.max_depth: must be 1 to %d (the deepest nesting the persistent queue can read back), got %d",
			normalize.QueueMaxDepth, cfg.Limits.MaxDepth))
	}
	if cfg.Limits.MaxFutureSkew <= 0 {
		errs = append(errs, fmt.Errorf("limits.max_future_skew: must be positive, got %s", cfg.Limits.MaxFutureSkew))
	}
	if cfg.Limits.MinEventTime.IsZero() || cfg.Limits.MinEventTime.Before(time.Unix(0, 1)) {
		errs = append(errs, fmt.Errorf("limits.min_event_time: must be an RFC 3339 time after 1970-01-01T00:00:00Z, got %q",
			cfg.Limits.MinEventTime.Format(time.RFC3339)))
	}
	return errors.Join(errs...)
}

func (cfg *Config) limits() normalize.Limits {
	return normalize.Limits{
		MaxAttributes:  cfg.Limits.MaxAttributes,
		MaxValueBytes:  cfg.Limits.MaxValueBytes,
		MaxRecordBytes: cfg.Limits.MaxRecordBytes,
		MaxDepth:       cfg.Limits.MaxDepth,
		MaxFutureSkew:  cfg.Limits.MaxFutureSkew,
		MinEventTime:   cfg.Limits.MinEventTime,
	}
}
