package loadgen

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCPUTimesCountThisProcess(t *testing.T) {
	t0 := ReadCPUTimes([]int{os.Getpid()})
	// Burn 200 ms of CPU in this process (however long that takes on a
	// busy machine, within 20 s).
	x := 0
	for start := time.Now(); time.Since(start) < 20*time.Second; {
		for i := range 100_000 {
			x += i
		}
		if now, err := procCPU("self", false); err == nil && now-t0.LoadGen >= 0.2 {
			break
		}
	}
	_ = x
	t1 := ReadCPUTimes([]int{os.Getpid()})
	s := t0.Share(t1, 1000, 2)
	require.NotNil(t, s)
	// This process is both "the collector" and the load generator here.
	assert.GreaterOrEqual(t, t1.LoadGen-t0.LoadGen, 0.2)
	assert.InDelta(t, t1.LoadGen-t0.LoadGen, t1.Collector-t0.Collector, 0.05)
	assert.GreaterOrEqual(t, t1.Machine-t0.Machine, t1.LoadGen-t0.LoadGen-0.05, "the machine's busy time includes this process's")
	assert.InDelta(t, s.LoadGen*s.WallSec, t1.LoadGen-t0.LoadGen, 1e-9)
	assert.InDelta(t, s.LoadGenPerEvent, (t1.LoadGen-t0.LoadGen)/1000*1e6, 1e-6)
	// The machine's PostgreSQL and Redis are found by name (they run on
	// every machine this is tested on).
	assert.Positive(t, t1.Postgres, "CPU time of the postgres processes")
	assert.Positive(t, t1.Redis, "CPU time of redis-server")
	assert.Contains(t, s.String(), "µs/event")
	assert.Nil(t, t0.Share(t0, 10, 2), "no time passed")
}

func TestStatCPU(t *testing.T) {
	// A command name with spaces and parentheses does not shift the fields:
	// utime 250, stime 50, cutime 700, cstime 300 ticks.
	line := []byte("4242 (post gres) (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 700 300 20 0 1 0 123 456 789\n")
	v, err := statCPU(line, false)
	require.NoError(t, err)
	assert.InDelta(t, 3.0, v, 1e-9)
	v, err = statCPU(line, true)
	require.NoError(t, err)
	assert.InDelta(t, 13.0, v, 1e-9)
	_, err = statCPU([]byte("4242 (x) S 1 2"), false)
	require.Error(t, err)
	_, err = statCPU([]byte("no name"), false)
	require.Error(t, err)
	_, err = procCPU("0", false)
	assert.Error(t, err, "no process 0 in /proc")
}
