package bizevents

import (
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
)

// AttributeServiceName is the resource attribute that names the product.
const AttributeServiceName = "service.name"

// Resource returns the SDK's default resource (telemetry.sdk.*, and
// OTEL_RESOURCE_ATTRIBUTES) with service.name set to product and extra
// added. product must be a product of the catalog (ProductAIChatbot,
// ProductAgentWorkbench).
func Resource(product string, extra ...attribute.KeyValue) (*resource.Resource, error) {
	if !knownProduct(product) {
		return nil, fmt.Errorf("bizevents: unknown product %q (the catalog's products are %v)", product, products())
	}
	attrs := append([]attribute.KeyValue{attribute.String(AttributeServiceName, product)}, extra...)
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attrs...))
	if err != nil {
		return nil, fmt.Errorf("bizevents: resource of %s: %w", product, err)
	}
	return res, nil
}

// NewLoggerProvider returns an SDK LoggerProvider for product: its resource
// is Resource(product), its records go to the processors (typically one
// sdklog.NewBatchProcessor around an OTLP exporter). Shut it down before the
// process exits, or the last batch is lost.
func NewLoggerProvider(product string, processors ...sdklog.Processor) (*sdklog.LoggerProvider, error) {
	res, err := Resource(product)
	if err != nil {
		return nil, err
	}
	opts := []sdklog.LoggerProviderOption{sdklog.WithResource(res)}
	for _, p := range processors {
		opts = append(opts, sdklog.WithProcessor(p))
	}
	return sdklog.NewLoggerProvider(opts...), nil
}

func knownProduct(p string) bool {
	for _, q := range productOf {
		if q == p {
			return true
		}
	}
	return false
}

func products() []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range EventNames() {
		if p := productOf[n]; !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}
