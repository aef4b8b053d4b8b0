package testdb

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Proxy forwards a loopback port to a target address (PostgreSQL or
// Redis): tests point a client at it and break the link in the ways a
// network or a server does.
//
//   - Close cuts every connection and refuses new ones (connection
//     refused), as if the server went away; Open accepts them again, on the
//     same address. The port is not given up meanwhile: Close shuts the
//     listening socket down (it stops listening but stays bound, so no test
//     that asks for a free port is given it) and Open listens anew at once.
//   - SetLatency delays every byte the server sends by a duration, as a
//     slow server or link does.
//   - CutCommits and Arm cut PostgreSQL commits: the COMMIT reaches the
//     server, which commits, but its answer is dropped and both sides of
//     the connection are closed, so the client cannot know the outcome.
//
// The proxy recognises a PostgreSQL connection by its startup message (the
// client speaks first; anything else, Redis included, is forwarded as
// bytes) and then follows the client's messages (a type byte and an int32
// length) and the server's, to find a COMMIT and its answer.
type Proxy struct {
	t      testing.TB
	target string
	// Addr is the proxy's loopback address, stable across Close and Open.
	Addr string

	latency  atomic.Int64 // time.Duration added to server → client bytes
	cutEvery atomic.Int64 // cut every cutEvery-th commit (0: none)
	armed    atomic.Int64 // cut the next armed commits
	commits  atomic.Int64 // commits seen (simple-query COMMIT)
	cuts     atomic.Int64 // commits whose answer was dropped after the server sent it

	mu     sync.Mutex
	ln     net.Listener
	closed bool
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup // the connections' goroutines
	accept sync.WaitGroup // the accept loops
}

// StartProxy starts a Proxy to target; it is shut down when the test ends.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := listenPinned()
	if err != nil {
		t.Fatalf("testdb: proxy: %v", err)
	}
	p := &Proxy{t: t, target: target, Addr: ln.Addr().String(), ln: ln, conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	t.Cleanup(p.shutdown)
	return p
}

// Open accepts connections again after Close, on the same address. The
// port is free for an instant only (between closing the shut-down socket
// and listening again); a listen refused meanwhile is tried again for 5 s.
func (p *Proxy) Open() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		return
	}
	_ = p.ln.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err := net.Listen("tcp", p.Addr)
		if err == nil {
			p.ln, p.closed = ln, false
			p.serve(ln)
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("testdb: proxy %s cannot listen again: %v", p.Addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Close cuts every open connection and refuses new ones until Open. When
// it returns, no connection is left.
func (p *Proxy) Close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		if !stopListening(p.ln) {
			_ = p.ln.Close() // the port is given up; Open listens on it again
		}
	}
	p.cutAll()
	p.mu.Unlock()
	p.wg.Wait()
}

// listenPinned listens on a free loopback port bound by number, so that
// the port stays the socket's when stopListening shuts it down (a socket
// bound to port 0 gives its port up then). The port is found by a first
// listener on port 0; both set SO_REUSEPORT so that the second can join it
// before the first is closed.
func listenPinned() (net.Listener, error) {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soReusePort, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	ctx := context.Background()
	probe, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return net.Listen("tcp", "127.0.0.1:0")
	}
	defer func() { _ = probe.Close() }()
	ln, err := lc.Listen(ctx, "tcp", probe.Addr().String())
	if err != nil {
		return net.Listen("tcp", "127.0.0.1:0")
	}
	return ln, nil
}

// soReusePort is SO_REUSEPORT on Linux.
const soReusePort = 0xf

// stopListening shuts the listening socket ln down: it refuses
// connections from then on but keeps its port.
func stopListening(ln net.Listener) bool {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return false
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return false
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.Shutdown(int(fd), syscall.SHUT_RD) }); err != nil {
		return false
	}
	return serr == nil
}

func (p *Proxy) cutAll() {
	for c := range p.conns {
		_ = c.Close()
	}
	p.conns = map[net.Conn]struct{}{}
}

// shutdown stops listening and cuts everything (the test's end).
func (p *Proxy) shutdown() {
	p.mu.Lock()
	p.closed = true
	_ = p.ln.Close()
	p.cutAll()
	p.mu.Unlock()
	p.accept.Wait()
	p.wg.Wait()
}

// SetLatency makes every server → client byte arrive d later than the
// server sent it (0: none), on the open connections and the new ones.
// Bytes are not held up by each other: the link keeps its bandwidth.
func (p *Proxy) SetLatency(d time.Duration) { p.latency.Store(int64(d)) }

// CutCommits cuts every n-th PostgreSQL commit from now on, counting the
// commits the proxy has seen (0: none; see Arm for what a cut is).
func (p *Proxy) CutCommits(n int) { p.cutEvery.Store(int64(n)) }

// Arm cuts the next k PostgreSQL commits: each is forwarded to the
// server, whose answer is dropped once it has arrived whole (the server has
// committed), and then both sides of that connection are closed. A commit is
// a simple query COMMIT (what pgx's Tx.Commit sends: "commit").
func (p *Proxy) Arm(k int) { p.armed.Add(int64(k)) }

// Commits is the number of PostgreSQL commits the proxy has forwarded.
func (p *Proxy) Commits() int { return int(p.commits.Load()) }

// Cuts is the number of commits whose answer the proxy dropped after the
// server had sent it whole.
func (p *Proxy) Cuts() int { return int(p.cuts.Load()) }

// serve runs the accept loop of ln until ln is shut down or closed.
func (p *Proxy) serve(ln net.Listener) {
	p.accept.Add(1)
	go func() {
		defer p.accept.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				p.mu.Lock()
				gone := p.closed || p.ln != ln
				p.mu.Unlock()
				if gone || errors.Is(err, net.ErrClosed) {
					return
				}
				time.Sleep(10 * time.Millisecond) // EMFILE and the like
				continue
			}
			if !p.track(c, true) {
				_ = c.Close()
				continue
			}
			go p.handle(c)
		}
	}()
}

// track adds c to the open connections unless the proxy is closed, and
// with handler counts the goroutine that will handle it.
func (p *Proxy) track(c net.Conn, handler bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	if handler {
		p.wg.Add(1)
	}
	return true
}

func (p *Proxy) forget(cs ...net.Conn) {
	p.mu.Lock()
	for _, c := range cs {
		delete(p.conns, c)
		_ = c.Close()
	}
	p.mu.Unlock()
}

// PostgreSQL startup codes (the int32 after the length of an untyped
// first message).
const (
	pgProtocol3 = 3 << 16
	pgSSL       = 80877103
	pgGSSENC    = 80877104
)

// handle forwards one accepted connection.
func (p *Proxy) handle(c net.Conn) {
	defer p.wg.Done()
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		p.forget(c)
		return
	}
	if !p.track(up, false) {
		p.forget(c, up)
		return
	}
	l := &link{p: p, c: c, up: up, queue: make(chan chunk, 256), flushed: make(chan struct{})}
	defer p.forget(c, up)
	br := bufio.NewReaderSize(c, 32<<10)
	pg, err := l.startup(br)
	if err != nil {
		return
	}
	go l.write()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		l.fromServer(pg)
	}()
	l.fromClient(br, pg)
	wg.Wait()
}

// link is one proxied connection: c the client's side, up the server's.
type link struct {
	p     *Proxy
	c, up net.Conn
	// syncs counts the client's messages the server answers with one
	// ReadyForQuery each (the startup, Query, Sync, FunctionCall); cutAt is
	// the number of the commit to cut (0: none).
	syncs int64
	cutAt atomic.Int64
	// queue carries server bytes to write; pending counts those not
	// written yet.
	queue   chan chunk
	pending atomic.Int64
	flushed chan struct{}
	once    sync.Once
}

type chunk struct {
	due time.Time
	b   []byte
}

// startup forwards a PostgreSQL connection's untyped first messages
// (SSLRequest, GSSENCRequest: the server answers one byte; the startup
// message) and reports whether the connection speaks the protocol 3 the
// proxy follows. Anything else is forwarded as bytes (pg false).
func (l *link) startup(br *bufio.Reader) (pg bool, err error) {
	_ = l.c.SetReadDeadline(time.Now().Add(time.Second))
	first, err := br.Peek(1)
	_ = l.c.SetReadDeadline(time.Time{})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return false, nil // the server speaks first: not PostgreSQL
	}
	if err != nil || first[0] != 0 {
		return false, err
	}
	for {
		hdr, err := br.Peek(8)
		if err != nil {
			return false, err
		}
		n := binary.BigEndian.Uint32(hdr[:4])
		code := binary.BigEndian.Uint32(hdr[4:])
		if n < 8 || n > 10000 {
			return false, nil
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(br, msg); err != nil {
			return false, err
		}
		if _, err := l.up.Write(msg); err != nil {
			return false, err
		}
		switch {
		case code == pgSSL || code == pgGSSENC:
			var answer [1]byte
			if _, err := io.ReadFull(l.up, answer[:]); err != nil {
				return false, err
			}
			if _, err := l.c.Write(answer[:]); err != nil {
				return false, err
			}
			if answer[0] != 'N' {
				return false, nil // encrypted from here on
			}
		case code&0xffff0000 == pgProtocol3:
			l.syncs = 1 // the startup ends with a ReadyForQuery
			return true, nil
		default:
			return false, nil // CancelRequest and the like
		}
	}
}

// fromClient forwards the client's bytes; on a PostgreSQL connection it
// follows the messages, counts the syncs and marks a commit to cut before
// the commit's last byte reaches the server.
func (l *link) fromClient(br *bufio.Reader, pg bool) {
	defer func() { _ = l.up.Close() }()
	if !pg {
		_, _ = io.Copy(l.up, br)
		return
	}
	var s msgScanner
	s.collect = func(typ byte, n int) bool { return typ == 'Q' && n <= 64 }
	buf := make([]byte, 32<<10)
	for {
		n, err := br.Read(buf)
		if n > 0 {
			s.scan(buf[:n], func(typ byte, body []byte, _ int) {
				switch typ {
				case 'Q', 'S', 'F':
					l.syncs++
				}
				if typ == 'Q' && isCommit(body) && l.p.cutThisCommit() {
					l.cutAt.Store(l.syncs)
				}
			})
			if _, werr := l.up.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// cutThisCommit counts a commit and says whether to cut it.
func (p *Proxy) cutThisCommit() bool {
	n := p.commits.Add(1)
	for {
		a := p.armed.Load()
		if a <= 0 {
			break
		}
		if p.armed.CompareAndSwap(a, a-1) {
			return true
		}
	}
	e := p.cutEvery.Load()
	return e > 0 && n%e == 0
}

// isCommit reports whether a simple query's text (NUL-terminated) commits.
func isCommit(body []byte) bool {
	q := strings.TrimSpace(strings.TrimRight(string(body), "\x00"))
	q = strings.TrimSpace(strings.TrimSuffix(q, ";"))
	switch strings.ToLower(strings.Join(strings.Fields(q), " ")) {
	case "commit", "end", "commit work", "commit transaction", "end work", "end transaction":
		return true
	}
	return false
}

// fromServer forwards the server's bytes through the latency queue; on a
// PostgreSQL connection it counts the ReadyForQuery messages, and when the
// one answering a cut commit has arrived, drops the commit's answer and
// closes both sides.
func (l *link) fromServer(pg bool) {
	defer l.finish()
	var s msgScanner
	var zs int64
	dropping := false
	buf := make([]byte, 32<<10)
	for {
		n, err := l.up.Read(buf)
		if n > 0 {
			b := buf[:n]
			forward, cut := n, false
			if pg {
				at := l.cutAt.Load()
				if at > 0 && zs >= at-1 {
					dropping, forward = true, 0
				}
				s.scan(b, func(typ byte, _ []byte, end int) {
					if typ != 'Z' {
						return
					}
					zs++
					switch {
					case at > 0 && zs == at-1 && !dropping:
						dropping, forward = true, end
					case at > 0 && zs == at:
						cut = true
					}
				})
			}
			if forward > 0 {
				if !l.send(b[:forward]) {
					return
				}
			}
			if cut {
				l.p.cuts.Add(1)
				_ = l.up.Close()
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// send writes b to the client now, or queues it to be written after the
// latency (in order: straight only when nothing is queued).
func (l *link) send(b []byte) bool {
	d := time.Duration(l.p.latency.Load())
	if d <= 0 && l.pending.Load() == 0 {
		_, err := l.c.Write(b)
		return err == nil
	}
	l.pending.Add(1)
	l.queue <- chunk{due: time.Now().Add(d), b: append([]byte(nil), b...)}
	return true
}

// write writes the queued chunks when they are due.
func (l *link) write() {
	defer close(l.flushed)
	failed := false
	for ch := range l.queue {
		if !failed {
			time.Sleep(time.Until(ch.due))
			if _, err := l.c.Write(ch.b); err != nil {
				failed = true
				_ = l.up.Close()
			}
		}
		l.pending.Add(-1)
	}
}

// finish lets the queued bytes reach the client, then closes it.
func (l *link) finish() {
	l.once.Do(func() {
		close(l.queue)
		<-l.flushed
		_ = l.c.Close()
		_ = l.up.Close()
	})
}

// msgScanner follows PostgreSQL messages (type byte, int32 length that
// counts itself, body) across the chunks of a stream.
type msgScanner struct {
	hdr  [5]byte
	hn   int // header bytes seen of the current message
	left int // body bytes left of the current message
	body []byte
	keep bool
	// collect says whether to keep the body of a message of type typ and
	// body length n (nil: never).
	collect func(typ byte, n int) bool
}

// scan advances over b and calls done at the end of each message with its
// type, its body if kept, and the offset in b just after it.
func (s *msgScanner) scan(b []byte, done func(typ byte, body []byte, end int)) {
	i := 0
	for i < len(b) {
		if s.hn < 5 {
			k := copy(s.hdr[s.hn:], b[i:])
			s.hn += k
			i += k
			if s.hn < 5 {
				return
			}
			s.left = max(int(binary.BigEndian.Uint32(s.hdr[1:]))-4, 0)
			s.keep = s.collect != nil && s.collect(s.hdr[0], s.left)
			s.body = s.body[:0]
		}
		k := min(s.left, len(b)-i)
		if s.keep {
			s.body = append(s.body, b[i:i+k]...)
		}
		s.left -= k
		i += k
		if s.left == 0 {
			s.hn = 0
			done(s.hdr[0], s.body, i)
		}
	}
}
