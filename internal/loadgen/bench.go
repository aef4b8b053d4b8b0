package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
	"github.com/otelcol-analytics/otelcol-analytics/internal/testdb"
)

// BenchOptions configures Bench: the built collector with the default
// configuration in places of its own, then the phases.
type BenchOptions struct {
	// Binary and Config: bin/otelcol-analytics and otelcol-config.yaml.
	Binary, Config string
	// PostgresDSN is the database the run's schemas are made in (default
	// internal/testdb's: database test); RedisAddr, RedisDB the Redis.
	PostgresDSN string
	RedisAddr   string
	RedisDB     int
	// Collectors is the number of collector processes sharing the run's
	// schema and Redis prefix (default 1), each with a queue directory of
	// its own; sender i sends to collector i % Collectors (Senders is
	// raised to Collectors if below). The memory figures and the CPU
	// profile are the first collector's.
	Collectors int
	// Transport (http or grpc), Senders and PerRequest (events per
	// request) of every phase.
	Transport  string
	Senders    int
	PerRequest int
	// Events is the size of the sustained phase (default 1,000,000).
	Events int
	// RawEvents is the number of rows of the raw COPY baseline (default
	// Events; negative: no baseline). RawBatch also times one COPY per
	// RawBatch rows (0: not).
	RawEvents int
	RawBatch  int
	// Rates are the fixed rates of the latency phases, in events/s, each
	// run for RateDuration (default 10s).
	Rates        []float64
	RateDuration time.Duration
	// PollInterval is how often the visibility of the samples is polled
	// (default 20 ms); DrainInterval how often the sustained phase checks
	// that everything is stored (default 50 ms); DrainTimeout bounds each
	// wait for the collector to store everything (default 10 min).
	PollInterval, DrainInterval, DrainTimeout time.Duration
	// CPUProfile, if set, is where a CPU profile of ProfileSeconds (default
	// 30) taken from the collector's pprof extension at the start of the
	// sustained phase is written. The latency phases wait for it to end.
	CPUProfile     string
	ProfileSeconds int
	// Soak, if positive, adds a memory phase: SoakRate (default 100,000)
	// events/s for Soak, the requests encoded as they are sent (not held in
	// memory), the collector's RSS sampled every 10 s.
	Soak     time.Duration
	SoakRate float64
	// Month is a time in the business month of the events (default: the
	// previous month); SpreadDays, if positive, puts them on its first
	// SpreadDays days only (Generator.SpreadDays; default the whole month).
	Month      time.Time
	SpreadDays int
	// Out gets progress lines (default io.Discard).
	Out io.Writer

	pids []int // of the collectors, once started
}

func (o *BenchOptions) defaults() {
	if o.PostgresDSN == "" {
		o.PostgresDSN = testdb.BaseDSN()
	}
	if o.RedisAddr == "" {
		o.RedisAddr = testdb.RedisAddr()
	}
	if o.Transport == "" {
		o.Transport = TransportHTTP
	}
	if o.Collectors <= 0 {
		o.Collectors = 1
	}
	if o.Senders <= 0 {
		o.Senders = 4
	}
	o.Senders = max(o.Senders, o.Collectors)
	if o.PerRequest <= 0 {
		o.PerRequest = 1000
	}
	if o.Events <= 0 {
		o.Events = 1_000_000
	}
	if o.RawEvents == 0 {
		o.RawEvents = o.Events
	}
	if o.RateDuration <= 0 {
		o.RateDuration = 10 * time.Second
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 20 * time.Millisecond
	}
	if o.DrainInterval <= 0 {
		o.DrainInterval = 50 * time.Millisecond
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 10 * time.Minute
	}
	if o.ProfileSeconds <= 0 {
		o.ProfileSeconds = 30
	}
	if o.Month.IsZero() {
		o.Month = time.Now().AddDate(0, -1, 0)
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.SoakRate <= 0 {
		o.SoakRate = 100_000
	}
}

// Phase numbers of a run's ids (IDSpace.Phase).
const (
	phaseSustained = 1
	phaseRaw       = 0x0ff
	phaseRateFirst = 0x010
	phaseSoak      = 0x0f0
)

// Bench runs the end-to-end benchmark and cleans up after itself (schemas
// dropped, Redis keys deleted, collector stopped, temp dir removed). The
// report is returned even when a check failed (see Report.OK); the error
// says what stopped the run.
func Bench(ctx context.Context, o BenchOptions) (rep *Report, err error) {
	o.defaults()
	rep = &Report{
		Transport: o.Transport, Senders: o.Senders, PerRequest: o.PerRequest, Collectors: o.Collectors,
		Binary: o.Binary, Config: o.Config, LoadStart: LoadAvg(), Started: time.Now().UTC(),
	}
	logf := func(format string, a ...any) {
		_, _ = fmt.Fprintf(o.Out, "bench-e2e [%6.1fs] "+format+"\n", append([]any{time.Since(rep.Started).Seconds()}, a...)...)
	}
	logf("load average at start: %s", rep.LoadStart)
	defer func() {
		rep.LoadEnd = LoadAvg()
		logf("load average at end: %s", rep.LoadEnd)
		rep.finish()
	}()

	run := randomHex(4)
	work, err := os.MkdirTemp("", "bench-e2e-")
	if err != nil {
		return rep, err
	}
	defer func() {
		if e := os.RemoveAll(work); e != nil {
			err = errors.Join(err, e)
		}
	}()

	// Places of the run's own.
	schema := "bench_" + run
	dsn, err := createSchema(ctx, o.PostgresDSN, schema)
	if err != nil {
		return rep, err
	}
	rep.Schema = schema
	defer func() {
		if e := dropSchema(o.PostgresDSN, schema); e != nil {
			err = errors.Join(err, fmt.Errorf("drop schema %s: %w", schema, e))
		}
	}()
	prefix := "bench:" + run + ":"
	rep.RedisPrefix = prefix
	rdb := redis.NewClient(&redis.Options{Addr: o.RedisAddr, DB: o.RedisDB})
	defer func() { _ = rdb.Close() }()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return rep, fmt.Errorf("redis at %s does not answer: %w", o.RedisAddr, err)
	}
	defer func() {
		if _, e := deletePrefix(rdb, prefix); e != nil {
			err = errors.Join(err, fmt.Errorf("delete Redis keys %s*: %w", prefix, e))
		}
	}()
	logf("schema %s, Redis db %d prefix %s, work dir %s", schema, o.RedisDB, prefix, work)

	ids := IDSpace{UnixMilli: time.Now().UnixMilli(), Salt: uint16(time.Now().UnixNano())} //nolint:gosec // any 14 bits
	gen := func(phase uint16, probes bool) *Generator {
		sp := ids
		sp.Phase = phase
		return &Generator{IDs: sp, PerRequest: o.PerRequest, Month: o.Month, SpreadDays: o.SpreadDays, Probes: probes}
	}

	// The sustained phase's requests, encoded before anything is timed.
	sustained := gen(phaseSustained, false)
	nReq := max(o.Events/o.PerRequest, 1)
	logf("encoding %d requests of %d events (%s, month %s, days %d)", nReq, o.PerRequest, o.Transport, o.Month.Format("2006-01"), len(sustained.Days()))
	reqs, err := sustained.EncodeAll(nReq)
	if err != nil {
		return rep, err
	}

	// The collectors, one after the other (each migrates the schema at its
	// start; the later ones find it done).
	cols := make([]*Collector, 0, o.Collectors)
	defer func() {
		for i, c := range cols {
			if e := c.Stop(time.Minute); e != nil {
				err = errors.Join(err, e)
			}
			if err != nil {
				logf("collector %d log (last lines):\n%s", i+1, c.LogTail(15))
			}
		}
	}()
	var endpoints []string
	for i := range o.Collectors {
		dir := filepath.Join(work, fmt.Sprintf("c%d", i+1))
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return rep, err
		}
		c, err := StartCollector(ctx, CollectorSetup{
			Binary: o.Binary, Config: o.Config, DSN: dsn,
			RedisAddr: o.RedisAddr, RedisDB: o.RedisDB, RedisPrefix: prefix, WorkDir: dir,
		})
		if err != nil {
			return rep, err
		}
		cols = append(cols, c)
		if o.Transport == TransportGRPC {
			endpoints = append(endpoints, c.OTLPGRPC)
		} else {
			endpoints = append(endpoints, c.OTLPHTTP)
		}
		logf("collector %d pid %d: OTLP/HTTP %s, gRPC %s, pprof %s", i+1, c.PID(), c.OTLPHTTP, c.OTLPGRPC, c.Pprof)
	}
	col := cols[0]
	rep.PID = col.PID()
	anon := SampleAnon(col.PID(), 100*time.Millisecond)
	defer anon.Stop()

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return rep, err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	layout := counters.Layout{Prefix: prefix}
	check := &Checker{Conn: conn, Redis: rdb, Layout: layout, Days: sustained.Days()}
	var phases []Phase
	var acked int64

	// (a) Sustained: as fast as the senders go, until every event is
	// committed in PostgreSQL and applied in Redis.
	var profDone chan error
	if o.CPUProfile != "" {
		profDone = make(chan error, 1)
		go func() { profDone <- col.CPUProfile(ctx, o.ProfileSeconds, o.CPUProfile) }()
		time.Sleep(100 * time.Millisecond) // let the profile begin before the first send
	}
	logf("sustained: %d events, %d senders", nReq*o.PerRequest, o.Senders)
	for _, c := range cols {
		o.pids = append(o.pids, c.PID())
	}
	pids := o.pids
	cpu0 := ReadCPUTimes(pids)
	res, err := Run(ctx, Options{Transport: o.Transport, Endpoints: endpoints, Senders: o.Senders}, Encoded(reqs))
	if err != nil {
		return rep, err
	}
	reqs = nil //nolint:ineffassign,wastedassign // let the encoded requests go
	phases = append(phases, Phase{Name: "sustained", Phase: phaseSustained, Result: res})
	rep.addCounts("sustained", res)
	acked += res.AckedEvents()
	drained, err := check.WaitDrained(ctx, acked, o.DrainInterval, o.DrainTimeout)
	if err != nil {
		return rep, err
	}
	rep.Sustained = sustainedReport(res, drained)
	rep.Sustained.CPU = cpu0.Share(ReadCPUTimes(pids), rep.Sustained.Events, runtime.NumCPU())
	if m, e := ReadMemory(col.PID()); e == nil {
		rep.Sustained.PeakRSS = m.PeakRSS
		rep.PeakRSS = max(rep.PeakRSS, m.PeakRSS)
	}
	rep.Sustained.PeakAnon = anon.TakePeak()
	rep.PeakAnon = rep.Sustained.PeakAnon
	logf("sustained: %.0f events/s (%d events acknowledged, stored and counted in %.2fs)",
		rep.Sustained.EventsPerSec, rep.Sustained.Events, rep.Sustained.ElapsedSec)

	// The raw COPY baseline, while the collector idles.
	if o.RawEvents > 0 {
		if err := rawBaseline(ctx, &o, rep, gen(phaseRaw, false), logf); err != nil {
			return rep, err
		}
	}
	if profDone != nil {
		logf("waiting for the %ds CPU profile to end", o.ProfileSeconds)
		if e := <-profDone; e != nil {
			rep.Problems = append(rep.Problems, "CPU profile: "+e.Error())
		} else {
			rep.Profile = o.CPUProfile
			rep.ProfileTop = ProfileTop(o.Binary, o.CPUProfile, 25)
		}
	}

	// (b) Latency at fixed rates.
	for i, rate := range o.Rates {
		g := gen(phaseRateFirst+uint16(i), true) //nolint:gosec // a handful of rates
		n := max(int(rate*o.RateDuration.Seconds())/o.PerRequest, 1)
		reqs, err := g.EncodeAll(n)
		if err != nil {
			return rep, err
		}
		anon.TakePeak()
		if e := ResetPeak(col.PID()); e != nil {
			rep.Problems = append(rep.Problems, "peak RSS not reset per phase: "+e.Error())
		}
		vis := NewVisibility(conn, rdb, layout.AgentDailyKey(g.ProbeDay()), o.PollInterval)
		pollCtx, stopPoll := context.WithCancel(ctx)
		pollDone := make(chan error, 1)
		go func() { pollDone <- vis.Run(pollCtx) }()
		cpu0 := ReadCPUTimes(pids)
		logf("rate %.0f events/s for %s: %d requests", rate, o.RateDuration, n)
		res, err := Run(ctx, Options{
			Transport: o.Transport, Endpoints: endpoints, Senders: o.Senders, Rate: rate,
			Duration: o.RateDuration + time.Second, OnSend: vis.Add,
		}, Encoded(reqs))
		stopPoll()
		pollErr := <-pollDone
		if err != nil {
			return rep, err
		}
		if pollErr != nil {
			return rep, fmt.Errorf("visibility poll: %w", pollErr)
		}
		name := fmt.Sprintf("rate_%.0f", rate)
		phases = append(phases, Phase{Name: name, Phase: g.IDs.Phase, Result: res})
		rep.addCounts(name, res)
		acked += res.AckedEvents()
		if err := vis.Wait(ctx, o.DrainTimeout); err != nil {
			return rep, fmt.Errorf("samples of rate %.0f not all visible: %w", rate, err)
		}
		if _, err := check.WaitDrained(ctx, acked, o.DrainInterval, o.DrainTimeout); err != nil {
			return rep, err
		}
		rr := rateReport(rate, res, vis)
		rr.CPU = cpu0.Share(ReadCPUTimes(pids), res.AckedEvents(), runtime.NumCPU())
		if m, e := ReadMemory(col.PID()); e == nil {
			rr.PeakRSS = m.PeakRSS
			rep.PeakRSS = max(rep.PeakRSS, m.PeakRSS)
		}
		rr.PeakAnon = anon.TakePeak()
		rep.PeakAnon = max(rep.PeakAnon, rr.PeakAnon)
		rep.Rates = append(rep.Rates, rr)
		logf("rate %.0f: achieved %.0f events/s, PostgreSQL p50 %.0f ms p99 %.0f ms, Redis p50 %.0f ms p99 %.0f ms",
			rate, rr.Achieved, rr.PGP50, rr.PGP99, rr.RedisP50, rr.RedisP99)
	}

	// (c) Memory over a long paced run.
	if o.Soak > 0 {
		g := gen(phaseSoak, false)
		n := max(int(o.SoakRate*o.Soak.Seconds())/o.PerRequest, 1)
		anon.TakePeak()
		if e := ResetPeak(col.PID()); e != nil {
			rep.Problems = append(rep.Problems, "peak RSS not reset for the soak: "+e.Error())
		}
		logf("soak %.0f events/s for %s: %d requests, encoded as sent", o.SoakRate, o.Soak, n)
		mem := sampleTimeline(col.PID(), 10*time.Second)
		res, err := Run(ctx, Options{
			Transport: o.Transport, Endpoints: endpoints, Senders: o.Senders, Rate: o.SoakRate, Duration: o.Soak + time.Second,
		}, Lazy{Gen: g, Count: n})
		timeline := mem.stop()
		if err != nil {
			return rep, err
		}
		phases = append(phases, Phase{Name: "soak", Phase: g.IDs.Phase, Result: res})
		rep.addCounts("soak", res)
		acked += res.AckedEvents()
		if _, err := check.WaitDrained(ctx, acked, o.DrainInterval, o.DrainTimeout); err != nil {
			return rep, err
		}
		rep.Soak = soakReport(o.SoakRate, o.Soak, res, timeline)
		// The whole soak's peaks: VmHWM (reset at its start) and RssAnon
		// sampled every 100 ms, beside the 10 s timeline.
		if m, e := ReadMemory(col.PID()); e == nil {
			rep.Soak.PeakRSS = max(rep.Soak.PeakRSS, m.PeakRSS)
		}
		rep.Soak.PeakAnon = max(rep.Soak.PeakAnon, anon.TakePeak())
		rep.PeakRSS = max(rep.PeakRSS, rep.Soak.PeakRSS)
		rep.PeakAnon = max(rep.PeakAnon, rep.Soak.PeakAnon)
		logf("soak: achieved %.0f events/s, peak RSS %s (anonymous %s), after the first minute %s (%s)",
			rep.Soak.Achieved, mib(rep.Soak.PeakRSS), mib(rep.Soak.PeakAnon), mib(rep.Soak.PeakRSSAfterMinute), mib(rep.Soak.PeakAnonAfterMinute))
	}

	// (e) Zero loss, zero duplicates.
	logf("verifying every acknowledged event")
	defer logf("stopping the collector, dropping the schema, deleting the Redis keys")
	v, err := check.Verify(ctx, phases, o.PerRequest)
	if err != nil {
		return rep, err
	}
	rep.Verification = v
	if m, e := ReadMemory(col.PID()); e == nil {
		rep.PeakRSS = max(rep.PeakRSS, m.PeakRSS)
	}
	return rep, nil
}

// rawBaseline times the raw COPY of RawEvents rows (and per RawBatch rows)
// into fresh schemas, dropped right after.
func rawBaseline(ctx context.Context, o *BenchOptions, rep *Report, g *Generator, logf func(string, ...any)) error {
	n := max(o.RawEvents/o.PerRequest, 1)
	rows, err := RawRows(g, n)
	if err != nil {
		return err
	}
	months := []time.Time{g.monthStart()}
	runs := []int{0}
	if o.RawBatch > 0 {
		runs = append(runs, o.RawBatch)
	}
	for _, batch := range runs {
		schema := "bench_raw_" + randomHex(4)
		dsn, err := createSchema(ctx, o.PostgresDSN, schema)
		if err != nil {
			return err
		}
		cpu0 := ReadCPUTimes(o.pids)
		res, err := RawCopy(ctx, dsn, months, rows, batch)
		res.CPU = cpu0.Share(ReadCPUTimes(o.pids), int64(res.Events), runtime.NumCPU())
		if e := dropSchema(o.PostgresDSN, schema); e != nil {
			err = errors.Join(err, e)
		}
		if err != nil {
			return err
		}
		if batch == 0 {
			rep.RawCopy = &res
		} else {
			rep.RawCopyBatches = &res
		}
		logf("raw COPY of %d rows (batch %d): %.0f events/s", res.Events, batch, res.EventsPerSec)
	}
	return nil
}

// ProfileTop is `go tool pprof -top` of the profile (the first nodes
// lines), or why it could not be made.
func ProfileTop(binary, profile string, nodes int) string {
	goTool := "go"
	if root := os.Getenv("GOROOT"); root != "" {
		goTool = filepath.Join(root, "bin", "go")
	}
	out, err := exec.Command(goTool, "tool", "pprof", "-top", fmt.Sprintf("-nodecount=%d", nodes), binary, profile).CombinedOutput() //nolint:gosec // our own tool and files
	if err != nil {
		return "go tool pprof failed: " + err.Error() + "\n" + string(out)
	}
	return strings.TrimSpace(string(out))
}
