// Package connlimit bounds the connections a listener hands out: in all, and per remote
// address. A server whose descriptors run out stops accepting on every port (HTTP and DIMSE
// share the process's limit), so a flood of idle or slow connections to one listener must
// be refused at that listener, before it costs the others anything.
//
// A connection over a bound is accepted and closed at once rather than left in the kernel's
// backlog: a full backlog would make the flood's victims (and everyone else) wait, while a
// prompt close keeps the queue moving and costs one descriptor for an instant.
package connlimit

import (
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Config sets the bounds; a zero or negative bound means no bound of that kind.
type Config struct {
	Max      int // open connections in all
	PerAddr  int // open connections from one remote IP address
	Logger   *slog.Logger
	Listener string // named in log lines ("http", "dicom")
}

// Listener is a net.Listener that refuses connections past its bounds.
type Listener struct {
	net.Listener
	cfg     Config
	log     *slog.Logger
	mu      sync.Mutex
	open    int
	perAddr map[string]int
	refused atomic.Int64
	lastLog atomic.Int64 // unix nanoseconds of the last refusal logged
}

// Wrap bounds ln.
func Wrap(ln net.Listener, cfg Config) *Listener {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Listener{Listener: ln, cfg: cfg, perAddr: map[string]int{},
		log: log.With("component", "connlimit", "listener", cfg.Listener)}
}

// Accept returns the next connection within the bounds; connections past them are closed
// as they arrive and never returned.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := remoteIP(c)
		if why := l.admit(addr); why != "" {
			// Counted before the close, so that whoever sees the connection closed also
			// sees it counted (the metrics, the tests).
			l.noteRefusal(addr, why)
			c.Close()
			continue
		}
		return &conn{Conn: c, l: l, addr: addr}, nil
	}
}

func (l *Listener) admit(addr string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.cfg.Max > 0 && l.open >= l.cfg.Max:
		return "too many connections"
	case l.cfg.PerAddr > 0 && l.perAddr[addr] >= l.cfg.PerAddr:
		return "too many connections from this address"
	}
	l.open++
	l.perAddr[addr]++
	return ""
}

func (l *Listener) release(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.perAddr[addr]--; l.perAddr[addr] <= 0 {
		delete(l.perAddr, addr)
	}
}

// noteRefusal logs at most one line a second: a flood must not become a log flood.
func (l *Listener) noteRefusal(addr, why string) {
	n := l.refused.Add(1)
	now := time.Now().UnixNano()
	last := l.lastLog.Load()
	if now-last >= int64(time.Second) && l.lastLog.CompareAndSwap(last, now) {
		l.log.Warn("connection refused", "addr", addr, "reason", why, "refused_total", n)
	}
}

// Refused is the number of connections refused so far.
func (l *Listener) Refused() int64 { return l.refused.Load() }

// Open is the number of connections handed out and not yet closed.
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

func remoteIP(c net.Conn) string {
	a := c.RemoteAddr()
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// conn gives its slot back once, on the first Close.
type conn struct {
	net.Conn
	l      *Listener
	addr   string
	closed atomic.Bool
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	if c.closed.CompareAndSwap(false, true) {
		c.l.release(c.addr)
	}
	return err
}

// Unwrap gives the underlying connection (crypto/tls and net/http look through wrappers
// only via their own interfaces; this is for callers that need the TCP connection).
func (c *conn) Unwrap() net.Conn { return c.Conn }
