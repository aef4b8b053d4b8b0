package loadgen

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc (100 on every
// Linux this runs on).
const clockTicks = 100

// CPUTimes are CPU seconds (user + system) used so far, from /proc: by the
// collector processes, by PostgreSQL (every process named postgres, with
// the time of its exited children, so backends that came and went count
// too), by Redis (every redis-server), by this process (the load generator
// and the harness), and by the whole machine (every CPU's busy time in
// /proc/stat). The services are the machine's, so another client of them
// counts too.
type CPUTimes struct {
	At                                  time.Time
	Collector, Postgres, Redis, LoadGen float64
	Machine                             float64
}

// ReadCPUTimes reads the CPU times now. A process that exits while it is
// read is skipped.
func ReadCPUTimes(collectors []int) CPUTimes {
	t := CPUTimes{At: time.Now()}
	for _, pid := range collectors {
		if s, err := procCPU(strconv.Itoa(pid), false); err == nil {
			t.Collector += s
		}
	}
	if s, err := procCPU("self", false); err == nil {
		t.LoadGen = s
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		comm, err := os.ReadFile(filepath.Join(d, "comm")) //nolint:gosec // /proc
		if err != nil {
			continue
		}
		switch strings.TrimSpace(string(comm)) {
		case "postgres":
			if s, err := procCPU(filepath.Base(d), true); err == nil {
				t.Postgres += s
			}
		case "redis-server":
			if s, err := procCPU(filepath.Base(d), false); err == nil {
				t.Redis += s
			}
		}
	}
	t.Machine = machineBusy()
	return t
}

// procCPU is utime + stime of /proc/<pid>/stat (with cutime + cstime, the
// waited-for children's, when children).
func procCPU(pid string, children bool) (float64, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat") //nolint:gosec // a pid's stat in /proc
	if err != nil {
		return 0, err
	}
	return statCPU(b, children)
}

// statCPU reads the CPU seconds of a /proc/<pid>/stat line.
func statCPU(b []byte, children bool) (float64, error) {
	// The fields after the command name, which is in parentheses and may
	// hold spaces: state is field 3, utime 14, stime 15, cutime 16, cstime 17.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("loadgen: %.40q: no command name", b)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return 0, fmt.Errorf("loadgen: %.40q: %d fields after the name", b, len(f))
	}
	n := 2
	if children {
		n = 4
	}
	var ticks float64
	for _, s := range f[11 : 11+n] { // utime is the 12th field after the name
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, err
		}
		ticks += v
	}
	return ticks / clockTicks, nil
}

// machineBusy is the busy time of every CPU, in seconds: the "cpu" line of
// /proc/stat less idle and iowait.
func machineBusy() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	var busy float64
	for i, s := range f[1:] {
		if i >= 8 { // guest time is already in user
			break
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0
		}
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		busy += v
	}
	return busy / clockTicks
}

// CPUShare is where the CPU of a phase went: for each part, the cores it
// used on average (CPU seconds over the phase's wall time) and its CPU time
// per event stored, in microseconds.
type CPUShare struct {
	WallSec float64 `json:"wall_s"`
	Events  int64   `json:"events"`
	Cores   int     `json:"machine_cores"`
	// Cores used on average.
	Collector float64 `json:"collector_cores"`
	Postgres  float64 `json:"postgres_cores"`
	Redis     float64 `json:"redis_cores"`
	LoadGen   float64 `json:"loadgen_cores"`
	Machine   float64 `json:"machine_busy_cores"`
	// CPU per event, µs.
	CollectorPerEvent float64 `json:"collector_us_per_event"`
	PostgresPerEvent  float64 `json:"postgres_us_per_event"`
	RedisPerEvent     float64 `json:"redis_us_per_event"`
	LoadGenPerEvent   float64 `json:"loadgen_us_per_event"`
	MachinePerEvent   float64 `json:"machine_us_per_event"`
}

// Share is the CPU used from t to u, for events events.
func (t CPUTimes) Share(u CPUTimes, events int64, cores int) *CPUShare {
	wall := u.At.Sub(t.At).Seconds()
	if wall <= 0 || events <= 0 {
		return nil
	}
	s := &CPUShare{WallSec: wall, Events: events, Cores: cores}
	for _, p := range []struct {
		cores, perEvent *float64
		d               float64
	}{
		{&s.Collector, &s.CollectorPerEvent, u.Collector - t.Collector},
		{&s.Postgres, &s.PostgresPerEvent, u.Postgres - t.Postgres},
		{&s.Redis, &s.RedisPerEvent, u.Redis - t.Redis},
		{&s.LoadGen, &s.LoadGenPerEvent, u.LoadGen - t.LoadGen},
		{&s.Machine, &s.MachinePerEvent, u.Machine - t.Machine},
	} {
		d := max(p.d, 0) // a backend that exited unwaited-for is gone
		*p.cores = d / wall
		*p.perEvent = d / float64(events) * 1e6
	}
	return s
}

// String is the share for people: cores used, and µs of CPU per event.
func (s *CPUShare) String() string {
	return fmt.Sprintf("collector %.2f cores (%.1f µs/event), PostgreSQL %.2f (%.1f), Redis %.2f (%.1f), load generator %.2f (%.1f); machine busy %.2f of %d (%.1f µs/event)",
		s.Collector, s.CollectorPerEvent, s.Postgres, s.PostgresPerEvent, s.Redis, s.RedisPerEvent,
		s.LoadGen, s.LoadGenPerEvent, s.Machine, s.Cores, s.MachinePerEvent)
}
