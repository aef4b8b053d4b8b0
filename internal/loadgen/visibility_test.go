package loadgen

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	assert.Equal(t, 50*time.Millisecond, Percentile(d, 0.5))
	assert.Equal(t, 99*time.Millisecond, Percentile(d, 0.99))
	assert.Equal(t, 100*time.Millisecond, Percentile(d, 1))
	assert.Equal(t, time.Millisecond, Percentile(d, 0))
	assert.Equal(t, 7*time.Millisecond, Percentile(d[6:7], 0.99))
	assert.Zero(t, Percentile(nil, 0.5))
}
