package stats

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
)

// Every event the metrics read is in the default catalog, and the measure
// and flag they read of it are the ones the catalog names, so the store
// keeps exactly those for the formulas.
func TestMetricsReadTheCatalog(t *testing.T) {
	cat := catalog.Default()
	seen := map[string]bool{}
	for _, r := range catalogReads {
		require.False(t, seen[r.Event], "%s listed twice", r.Event)
		seen[r.Event] = true
		ev, ok := cat.Lookup(r.Event)
		if !assert.True(t, ok, "%s is not in the default catalog", r.Event) {
			continue
		}
		if r.Measure != "" {
			assert.Equal(t, r.Measure, ev.Measure, "%s: the measure the metrics read", r.Event)
		}
		if r.Flag != "" {
			assert.Equal(t, r.Flag, ev.Flag, "%s: the flag the metrics count", r.Event)
		}
	}
	assert.Len(t, catalogReads, 10)
}
