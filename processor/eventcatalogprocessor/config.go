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
	// Catalog selects the event catalog: the built-in one (SPEC §4), or a
	// YAML file that extends or replaces it.
	Catalog CatalogConfig `mapstructure:"catalog"`
	// PassThrough passes ordinary logs (records with no event name) on
	// untouched instead of dropping them. Default false.
	PassThrough bool `mapstructure:"pass_through"`
	// Limits bound what one record may carry; a record over a limit is
	// rejected with reason too_large or future_timestamp.
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
	// MaxFutureSkew is how far after the time received an event's time may
	// be. Default 1h. Old events are always accepted (backfills).
	MaxFutureSkew time.Duration `mapstructure:"max_future_skew"`
}

func createDefaultConfig() *Config {
	lim := normalize.DefaultLimits()
	return &Config{
		Catalog: CatalogConfig{Mode: ModeExtend},
		Limits: LimitsConfig{
			MaxAttributes: lim.MaxAttributes,
			MaxValueBytes: lim.MaxValueBytes,
			MaxFutureSkew: lim.MaxFutureSkew,
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
	if cfg.Limits.MaxFutureSkew <= 0 {
		errs = append(errs, fmt.Errorf("limits.max_future_skew: must be positive, got %s", cfg.Limits.MaxFutureSkew))
	}
	return errors.Join(errs...)
}

func (cfg *Config) limits() normalize.Limits {
	return normalize.Limits{
		MaxAttributes: cfg.Limits.MaxAttributes,
		MaxValueBytes: cfg.Limits.MaxValueBytes,
		MaxFutureSkew: cfg.Limits.MaxFutureSkew,
	}
}
