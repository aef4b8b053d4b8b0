package trackreceiver

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
)

const stability = component.StabilityLevelAlpha

// componentType is the type of the receiver in a collector config.
var componentType = component.MustNewType("track")

// NewFactory returns the factory of the track receiver.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(
		componentType,
		func() component.Config { return createDefaultConfig() },
		receiver.WithLogs(createLogs, stability),
	)
}

func createLogs(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Logs) (receiver.Logs, error) {
	return newReceiver(cfg.(*Config), set, next)
}
