package demo

import (
	"fmt"
	"net"

	"github.com/otelcol-analytics/otelcol-analytics/internal/collectorproc"
)

// Collector is a running bin/otelcol-analytics child process.
type Collector = collectorproc.Process

// Ports are the listeners the demo's collector uses ("host:port" each).
type Ports struct {
	OTLPGRPC, OTLPHTTP, Health, Pprof, Stats string
	// Track is for the track receiver's ANALYTICS_TRACK_ENDPOINT, should
	// the configuration have one.
	Track     string
	Telemetry int
}

// canListen reports whether addr is free to listen on.
func canListen(addr string) bool {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// choosePorts returns free loopback ports for every listener but the stats
// service, which gets stats when that is free (the report URL users know),
// and a free port otherwise (note says so).
func choosePorts(stats string) (p Ports, note string, err error) {
	for _, dst := range []*string{&p.OTLPGRPC, &p.OTLPHTTP, &p.Health, &p.Pprof, &p.Track} {
		if *dst, err = collectorproc.FreeAddr(); err != nil {
			return p, "", err
		}
	}
	if p.Telemetry, err = collectorproc.FreePort(); err != nil {
		return p, "", err
	}
	p.Stats = stats
	if stats == "" || !canListen(stats) {
		if p.Stats, err = collectorproc.FreeAddr(); err != nil {
			return p, "", err
		}
		if stats != "" {
			note = fmt.Sprintf("%s is taken (another collector?): the demo's stats service listens on %s instead", stats, p.Stats)
		}
	}
	return p, note, nil
}
