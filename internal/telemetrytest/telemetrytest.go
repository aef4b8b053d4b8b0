// Package telemetrytest checks a component's hand-written telemetry against
// the `telemetry.metrics` of its metadata.yaml, the test mdatagen's
// generated_telemetry_test.go and metadatatest would be if mdatagen
// (go.opentelemetry.io/collector/cmd/mdatagen) were served at our release.
//
// A component's test builds its telemetry on a componenttest.Telemetry (a
// ManualReader), records one value on every instrument and calls
// AssertMetadata: the instruments collected must be exactly the metrics of
// metadata.yaml, each with the name, unit, description and kind mdatagen
// would give it.
package telemetrytest

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.yaml.in/yaml/v3"
)

// Prefix is what mdatagen puts before a metadata.yaml key to name the
// instrument of a collector component.
const Prefix = "otelcol_"

// Instrument is what a metadata.yaml entry fixes about an instrument.
type Instrument struct {
	Name, Unit, Description string
	// Kind is "sum int monotonic", "sum int", "gauge int", "histogram double", …
	Kind string
	// Bounds are a histogram's explicit bucket boundaries (metadata.yaml must
	// give them: the test does not know the SDK's defaults).
	Bounds []float64
}

type metadataFile struct {
	Telemetry struct {
		Metrics map[string]metadataMetric `yaml:"metrics"`
	} `yaml:"telemetry"`
}

type metadataMetric struct {
	Enabled     bool    `yaml:"enabled"`
	Stability   string  `yaml:"stability"`
	Description string  `yaml:"description"`
	Unit        *string `yaml:"unit"`
	Sum         *struct {
		ValueType string `yaml:"value_type"`
		Monotonic bool   `yaml:"monotonic"`
	} `yaml:"sum"`
	Gauge *struct {
		ValueType string `yaml:"value_type"`
	} `yaml:"gauge"`
	Histogram *struct {
		ValueType  string    `yaml:"value_type"`
		Boundaries []float64 `yaml:"bucket_boundaries"`
	} `yaml:"histogram"`
}

// FromMetadata reads the instruments of the metadata.yaml at path, named
// prefix + key. The description is the entry's, followed by its stability as
// mdatagen writes it (" [Alpha]"; nothing for stable).
func FromMetadata(t testing.TB, path, prefix string) []Instrument {
	t.Helper()
	b, err := os.ReadFile(path) //nolint:gosec // the test's own metadata.yaml
	require.NoError(t, err)
	var md metadataFile
	require.NoError(t, yaml.Unmarshal(b, &md))
	require.NotEmpty(t, md.Telemetry.Metrics, "%s: no telemetry.metrics", path)
	var out []Instrument
	for key, m := range md.Telemetry.Metrics {
		require.True(t, m.Enabled, "%s: %s: every metric is enabled", path, key)
		require.NotNil(t, m.Unit, "%s: %s: unit is required", path, key)
		var level component.StabilityLevel
		require.NoError(t, level.UnmarshalText([]byte(m.Stability)), "%s: %s: stability", path, key)
		in := Instrument{Name: prefix + key, Unit: *m.Unit, Description: m.Description + stabilitySuffix(level)}
		switch {
		case m.Sum != nil:
			in.Kind = "sum " + m.Sum.ValueType
			if m.Sum.Monotonic {
				in.Kind += " monotonic"
			}
		case m.Gauge != nil:
			in.Kind = "gauge " + m.Gauge.ValueType
		case m.Histogram != nil:
			require.NotEmpty(t, m.Histogram.Boundaries, "%s: %s: bucket_boundaries", path, key)
			in.Kind, in.Bounds = "histogram "+m.Histogram.ValueType, m.Histogram.Boundaries
		default:
			t.Fatalf("%s: %s: no sum, gauge or histogram", path, key)
		}
		out = append(out, in)
	}
	return sorted(out)
}

// stabilitySuffix is mdatagen's rendering of a metric's stability after its
// description.
func stabilitySuffix(l component.StabilityLevel) string {
	if l == component.StabilityLevelUndefined || l == component.StabilityLevelStable {
		return ""
	}
	return " [" + l.String() + "]"
}

// Collected are the instruments tel's reader holds data for.
func Collected(t testing.TB, tel *componenttest.Telemetry) []Instrument {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, tel.Reader.Collect(context.Background(), &rm))
	var out []Instrument
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			in := Instrument{Name: m.Name, Unit: m.Unit, Description: m.Description}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				in.Kind = sumKind("int", d.IsMonotonic)
			case metricdata.Sum[float64]:
				in.Kind = sumKind("double", d.IsMonotonic)
			case metricdata.Gauge[int64]:
				in.Kind = "gauge int"
			case metricdata.Gauge[float64]:
				in.Kind = "gauge double"
			case metricdata.Histogram[int64]:
				in.Kind, in.Bounds = "histogram int", bounds(d.DataPoints)
			case metricdata.Histogram[float64]:
				in.Kind, in.Bounds = "histogram double", bounds(d.DataPoints)
			default:
				in.Kind = fmt.Sprintf("%T", m.Data)
			}
			out = append(out, in)
		}
	}
	return sorted(out)
}

func sumKind(value string, monotonic bool) string {
	if monotonic {
		return "sum " + value + " monotonic"
	}
	return "sum " + value
}

func bounds[N int64 | float64](dps []metricdata.HistogramDataPoint[N]) []float64 {
	if len(dps) == 0 {
		return nil
	}
	return dps[0].Bounds
}

func sorted(in []Instrument) []Instrument {
	slices.SortFunc(in, func(a, b Instrument) int { return strings.Compare(a.Name, b.Name) })
	return in
}

// New is a componenttest.Telemetry (a ManualReader) shut down at the end of
// the test.
func New(t testing.TB) *componenttest.Telemetry {
	t.Helper()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	return tel
}

// AssertMetadata asserts that the instruments tel collected (one value
// recorded on each) are exactly those of the metadata.yaml at path, named
// prefix + key.
func AssertMetadata(t testing.TB, tel *componenttest.Telemetry, path, prefix string) {
	t.Helper()
	assert.Equal(t, FromMetadata(t, path, prefix), Collected(t, tel))
}
