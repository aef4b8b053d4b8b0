package faults

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Front is a TCP proxy on a stable loopback port in front of the
// collector's listener: the senders keep its address while the collector
// behind it is killed and restarted on other ports. With no target (the
// collector down) it closes what it accepts, as a dead port refuses.
type Front struct {
	// Addr is the proxy's loopback address.
	Addr string

	ln     net.Listener
	mu     sync.Mutex
	target string
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

// StartFront starts a Front with no target; it is closed when the test ends.
func StartFront(t testing.TB) *Front {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("faults: front proxy: %v", err)
	}
	f := &Front{Addr: ln.Addr().String(), ln: ln, conns: map[net.Conn]struct{}{}}
	f.wg.Add(1)
	go f.serve()
	t.Cleanup(f.close)
	return f
}

// SetTarget points new connections at target and cuts the open ones
// ("" refuses new connections).
func (f *Front) SetTarget(target string) {
	f.mu.Lock()
	f.target = target
	for c := range f.conns {
		_ = c.Close()
	}
	f.conns = map[net.Conn]struct{}{}
	f.mu.Unlock()
}

func (f *Front) serve() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		target := f.target
		f.mu.Unlock()
		if target == "" {
			_ = c.Close()
			continue
		}
		up, err := net.Dial("tcp", target)
		if err != nil {
			_ = c.Close()
			continue
		}
		f.mu.Lock()
		f.conns[c], f.conns[up] = struct{}{}, struct{}{}
		f.mu.Unlock()
		f.wg.Add(2)
		go f.pipe(up, c)
		go f.pipe(c, up)
	}
}

func (f *Front) pipe(dst, src net.Conn) {
	defer f.wg.Done()
	_, _ = io.Copy(dst, src)
	_ = dst.Close()
	_ = src.Close()
	f.mu.Lock()
	delete(f.conns, dst)
	delete(f.conns, src)
	f.mu.Unlock()
}

func (f *Front) close() {
	_ = f.ln.Close()
	f.SetTarget("")
	f.wg.Wait()
}
