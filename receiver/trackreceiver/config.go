package trackreceiver

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/config/confighttp"
)

// Defaults, mirroring Segment's HTTP tracking API limits.
const (
	defaultEndpoint       = "localhost:8091"
	defaultMaxBodyBytes   = 500 * 1024 // Segment: 500 KB per batch request
	defaultMaxBatchEvents = 500
	defaultMaxEventBytes  = 32 * 1024 // Segment: 32 KB per event
	defaultRetryAfter     = time.Second
)

// Config is the configuration of the track receiver. Every key is documented
// in README.md.
type Config struct {
	// ServerConfig is the HTTP server: `endpoint` (default localhost:8091),
	// `tls`, `cors`, `auth` (a collector authenticator extension),
	// `max_request_body_size` (default 512000 bytes, applied to the received
	// and to the decompressed body), `compression_algorithms`,
	// `include_metadata`, `response_headers`, timeouts and middlewares.
	ServerConfig confighttp.ServerConfig `mapstructure:",squash"`

	// WriteKeys maps each accepted Segment write key to the product
	// (service.name) of the events sent with it. A key mapped to "" is
	// accepted without fixing the product. Empty (the default): no write-key
	// authentication at all (an `auth` extension may still apply).
	//
	// Keys are plain strings, not configopaque: a Segment write key is an
	// identifier that web pages ship in their JavaScript, not a secret, and
	// redacting map keys would print every key as the same "[REDACTED]" —
	// which made the collector fail to marshal a config with two keys. Use an
	// `auth` extension where a real secret is needed.
	WriteKeys map[string]string `mapstructure:"write_keys"`

	// MaxBatchEvents is the most calls one /v1/batch request may carry; a
	// larger batch is refused whole with 413. Default 500.
	MaxBatchEvents int `mapstructure:"max_batch_events"`

	// MaxEventBytes is the largest JSON text of one call, in bytes: a larger
	// /v1/track body is refused with 413, a larger call in a batch is
	// refused alone (and handed on as a refused-call record holding its
	// first 4096 bytes). Default 32768 (Segment's 32 KB).
	MaxEventBytes int `mapstructure:"max_event_bytes"`

	// RetryAfter is the delay sent in the Retry-After header (whole seconds,
	// rounded up) of a 503 answered when the pipeline refuses data with a
	// retryable error (back-pressure). Default 1s.
	RetryAfter time.Duration `mapstructure:"retry_after"`

	// prevent unkeyed literal initialization
	_ struct{}
}

func createDefaultConfig() *Config {
	srv := confighttp.NewDefaultServerConfig()
	srv.NetAddr.Endpoint = defaultEndpoint
	srv.MaxRequestBodySize = defaultMaxBodyBytes
	return &Config{
		ServerConfig:   srv,
		MaxBatchEvents: defaultMaxBatchEvents,
		MaxEventBytes:  defaultMaxEventBytes,
		RetryAfter:     defaultRetryAfter,
	}
}

// Validate checks the configuration; it does no I/O.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.ServerConfig.NetAddr.Endpoint == "" {
		errs = append(errs, errors.New("endpoint: must not be empty (e.g. localhost:8091)"))
	}
	if cfg.ServerConfig.MaxRequestBodySize < 0 {
		errs = append(errs, fmt.Errorf("max_request_body_size: must not be negative, got %d", cfg.ServerConfig.MaxRequestBodySize))
	}
	for key := range cfg.WriteKeys {
		if key == "" {
			errs = append(errs, errors.New("write_keys: a write key must not be empty"))
		}
	}
	if cfg.MaxBatchEvents <= 0 {
		errs = append(errs, fmt.Errorf("max_batch_events: must be positive, got %d", cfg.MaxBatchEvents))
	}
	if cfg.MaxEventBytes <= 0 {
		errs = append(errs, fmt.Errorf("max_event_bytes: must be positive, got %d", cfg.MaxEventBytes))
	}
	if cfg.RetryAfter <= 0 {
		errs = append(errs, fmt.Errorf("retry_after: must be positive, got %s", cfg.RetryAfter))
	}
	return errors.Join(errs...)
}
