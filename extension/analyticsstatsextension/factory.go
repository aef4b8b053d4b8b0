package analyticsstatsextension

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"

	"github.com/otelcol-analytics/otelcol-analytics/stats"
)

// The component's type and stability (see metadata.yaml).
var (
	componentType = component.MustNewType("analytics_stats")
)

const stability = component.StabilityLevelAlpha

// NewFactory returns the factory of the analytics_stats extension. Its
// configuration is stats.Config (the same keys as cmd/analytics-stats).
func NewFactory() extension.Factory {
	return extension.NewFactory(componentType, createDefaultConfig, create, stability)
}

func createDefaultConfig() component.Config { return stats.NewDefaultConfig() }

func create(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return &statsExtension{server: stats.NewServer(cfg.(*stats.Config), set.TelemetrySettings)}, nil
}
