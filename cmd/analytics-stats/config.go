package main

import (
	"context"
	_ "embed"
	"fmt"

	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.uber.org/zap"

	"github.com/otelcol-analytics/otelcol-analytics/stats"
)

//go:embed default.yaml
var defaultYAML []byte

// embeddedScheme names the built-in default.yaml as a confmap URI.
const embeddedScheme = "embedded"

type embeddedProvider struct{}

func (embeddedProvider) Retrieve(_ context.Context, uri string, _ confmap.WatcherFunc) (*confmap.Retrieved, error) {
	if uri != embeddedScheme+":default" {
		return nil, fmt.Errorf("unknown embedded config %q", uri)
	}
	return confmap.NewRetrievedFromYAML(defaultYAML)
}

func (embeddedProvider) Scheme() string                 { return embeddedScheme }
func (embeddedProvider) Shutdown(context.Context) error { return nil }

// loadConfig resolves the configuration the way the collector does: the
// YAML file at path (or the built-in default when path is ""), with
// ${env:NAME} and ${env:NAME:-default} expanded from the environment, over
// the defaults of stats.NewDefaultConfig, then validated.
func loadConfig(ctx context.Context, path string) (*stats.Config, error) {
	uri := embeddedScheme + ":default"
	if path != "" {
		uri = "file:" + path
	}
	res, err := confmap.NewResolver(confmap.ResolverSettings{
		URIs: []string{uri},
		ProviderFactories: []confmap.ProviderFactory{
			fileprovider.NewFactory(),
			envprovider.NewFactory(),
			confmap.NewProviderFactory(func(confmap.ProviderSettings) confmap.Provider { return embeddedProvider{} }),
		},
		ProviderSettings: confmap.ProviderSettings{Logger: zap.NewNop()},
		DefaultScheme:    "env",
	})
	if err != nil {
		return nil, err
	}
	defer func() { _ = res.Shutdown(ctx) }()
	conf, err := res.Resolve(ctx)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", uri, err)
	}
	cfg := stats.NewDefaultConfig()
	if err := conf.Unmarshal(cfg); err != nil {
		return nil, fmt.Errorf("config %s: %w", uri, err)
	}
	if err := confmap.Validate(cfg); err != nil {
		return nil, fmt.Errorf("config %s: %w", uri, err)
	}
	return cfg, nil
}
