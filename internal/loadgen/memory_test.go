package loadgen

import (
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ReadMemory and SampleAnon read this very process: 64 MiB allocated and
// touched show in RssAnon and in the sampler's peak.
func TestAnonSampler(t *testing.T) {
	pid := os.Getpid()
	before, err := ReadMemory(pid)
	require.NoError(t, err)
	assert.Positive(t, before.Anon)
	assert.GreaterOrEqual(t, before.RSS, before.Anon)

	s := SampleAnon(pid, 10*time.Millisecond)
	defer s.Stop()
	buf := make([]byte, 64<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	time.Sleep(100 * time.Millisecond)
	peak := s.TakePeak()
	runtime.KeepAlive(buf)
	assert.GreaterOrEqual(t, peak, before.Anon+60<<20, "peak %d MiB, before %d MiB", peak>>20, before.Anon>>20)
	time.Sleep(30 * time.Millisecond)
	assert.Positive(t, s.TakePeak(), "sampling goes on after TakePeak")
}
