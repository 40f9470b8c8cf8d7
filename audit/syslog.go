package audit

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// SyslogConfig says where and how Syslog forwards events.
type SyslogConfig struct {
	Network string // "tcp" (RFC 6587 octet counting) or "udp" (RFC 5426, one message per datagram)
	Address string // the collector, host:port
	Source  Source // AuditSourceID defaults to the host name
	AppName string // RFC 5424 APP-NAME; default "pacsd"
	// Queue bounds the events waiting to be sent (default 4096); more are dropped and counted.
	Queue int
	// Timeout bounds a connection attempt and each write (default 5s).
	Timeout time.Duration
	Logger  *slog.Logger
}

// SyslogStats are the forwarder's counters (exposed on /metrics).
type SyslogStats struct {
	Sent      uint64 // messages written to the collector
	Dropped   uint64 // events dropped: the queue was full, or left in it at Close
	Failures  uint64 // failed connection attempts and writes
	Queued    int
	Connected bool
	DownSince time.Time // first failure of the current run of failures; zero when connected
}

// Syslog is a Sink that forwards events to an audit record repository: RFC 5424 messages
// (facility authpriv, severity notice, MSGID "IHE+RFC-3881") whose body is the DICOM audit
// message (ATNAMessage). Send only queues; Run connects, writes, and reconnects with backoff
// until Close, so a collector that is down or slow never holds up the recorded paths: the
// queue fills, and then events are dropped from the collector's copy (counted and logged
// once per outage); the store has them all.
type Syslog struct {
	cfg  SyslogConfig
	log  *slog.Logger
	q    chan Event
	quit chan struct{}
	done chan struct{}
	stop context.CancelFunc
	ctx  context.Context
	once sync.Once

	started                 atomic.Bool
	sent, dropped, failures atomic.Uint64
	connected               atomic.Bool
	downSince               atomic.Int64 // unix nanoseconds; 0 when up
	dropLogged              atomic.Bool
}

var _ Sink = (*Syslog)(nil)

// NewSyslog checks cfg and returns a forwarder; call Run in a goroutine and Close at
// shutdown, after the Recorder's Close.
func NewSyslog(cfg SyslogConfig) (*Syslog, error) {
	if cfg.Network != "tcp" && cfg.Network != "udp" {
		return nil, fmt.Errorf("audit syslog: network %q: want tcp or udp", cfg.Network)
	}
	if _, _, err := net.SplitHostPort(cfg.Address); err != nil {
		return nil, fmt.Errorf("audit syslog: address %q: %w", cfg.Address, err)
	}
	if cfg.Source.ID == "" {
		h, err := os.Hostname()
		if err != nil {
			h = "pacsd"
		}
		cfg.Source.ID = h
	}
	if cfg.AppName == "" {
		cfg.AppName = "pacsd"
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 4096
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	ctx, stop := context.WithCancel(context.Background())
	return &Syslog{cfg: cfg, log: log.With("component", "audit-syslog", "collector", cfg.Address),
		q: make(chan Event, cfg.Queue), quit: make(chan struct{}), done: make(chan struct{}),
		ctx: ctx, stop: stop}, nil
}

// Send queues ev, or drops it (counted) when the queue is full. It never blocks.
func (s *Syslog) Send(ev Event) {
	select {
	case s.q <- ev:
	default:
		s.dropped.Add(1)
		if !s.dropLogged.Swap(true) {
			s.log.Warn("audit forwarding queue full, dropping events for the collector")
		}
	}
}

// Stats returns the counters.
func (s *Syslog) Stats() SyslogStats {
	st := SyslogStats{Sent: s.sent.Load(), Dropped: s.dropped.Load(), Failures: s.failures.Load(),
		Queued: len(s.q), Connected: s.connected.Load()}
	if d := s.downSince.Load(); d != 0 {
		st.DownSince = time.Unix(0, d)
	}
	return st
}

// backoff is the wait before reconnecting after n failures in a row: 1s doubling to 30s.
func backoff(n int) time.Duration {
	return min(time.Second<<min(n, 5), 30*time.Second)
}

// Run sends queued events until Close, (re)connecting as needed; it returns ErrClosed.
func (s *Syslog) Run() error {
	if s.started.Swap(true) {
		return ErrClosed
	}
	defer close(s.done)
	var conn net.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
		s.connected.Store(false)
	}()
	var pending []byte // a framed message not yet written
	fails := 0
	for {
		if pending == nil {
			select {
			case ev := <-s.q:
				if pending = s.message(ev); pending == nil {
					continue
				}
			case <-s.quit:
				conn = s.flush(conn, nil)
				return ErrClosed
			}
		}
		if conn == nil {
			c, err := s.dial()
			if err != nil {
				s.failed(err, &fails)
				select {
				case <-time.After(backoff(fails)):
				case <-s.quit:
					conn = s.flush(nil, pending)
					return ErrClosed
				}
				continue
			}
			conn = c
		}
		conn.SetWriteDeadline(time.Now().Add(s.cfg.Timeout))
		if _, err := conn.Write(pending); err != nil {
			conn.Close()
			conn = nil
			s.failed(err, &fails)
			// The message is written again on the next connection: a collector may see it
			// twice (it was partly written), never miss it because of a reconnect.
			continue
		}
		pending = nil
		s.sent.Add(1)
		if fails > 0 {
			s.log.Info("audit collector reachable again", "failures", fails)
		}
		fails = 0
		s.connected.Store(true)
		s.downSince.Store(0)
		s.dropLogged.Store(false)
	}
}

func (s *Syslog) dial() (net.Conn, error) {
	return (&net.Dialer{Timeout: s.cfg.Timeout}).DialContext(s.ctx, s.cfg.Network, s.cfg.Address)
}

func (s *Syslog) failed(err error, fails *int) {
	*fails++
	s.failures.Add(1)
	s.connected.Store(false)
	s.downSince.CompareAndSwap(0, time.Now().UnixNano())
	if *fails == 1 {
		s.log.Warn("audit collector unreachable, retrying", "err", err)
	}
}

// flush is Run's last act: it sends pending and what is queued, connecting once if it has
// to, all within one timeout; what it cannot send is counted as dropped. It returns the
// connection to close.
func (s *Syslog) flush(conn net.Conn, pending []byte) net.Conn {
	deadline := time.Now().Add(s.cfg.Timeout)
	send := func(msg []byte) {
		if conn == nil && !time.Now().After(deadline) {
			if c, err := s.dial(); err == nil {
				conn = c
			}
		}
		if conn != nil {
			conn.SetWriteDeadline(deadline)
			if _, err := conn.Write(msg); err == nil {
				s.sent.Add(1)
				return
			}
			conn.Close()
			conn = nil
			deadline = time.Now() // one failure ends the flush: the rest is dropped
		}
		s.dropped.Add(1)
	}
	if pending != nil {
		send(pending)
	}
	for {
		select {
		case ev := <-s.q:
			if msg := s.message(ev); msg != nil {
				send(msg)
			}
		default:
			if n := s.dropped.Load(); n > 0 {
				s.log.Warn("audit forwarding stopped with events dropped", "sent", s.sent.Load(), "dropped", n)
			}
			return conn
		}
	}
}

// Close stops Run after it has sent what is queued, within the timeout (a collector that is
// down or stalled gets no more; the rest is counted as dropped). Safe to call more than
// once, and without Run.
func (s *Syslog) Close() error {
	s.once.Do(func() { close(s.quit) })
	if !s.started.Swap(true) {
		s.flush(nil, nil) // Run never started (and now never will)
		close(s.done)
	}
	select {
	case <-s.done:
	case <-time.After(2 * s.cfg.Timeout):
		s.stop() // a connection attempt still under way
		<-s.done
	}
	s.stop()
	return nil
}

// syslogPRI is facility 10 (security/authorization, "authpriv") and severity 5 (notice),
// as IHE ITI TF-2 3.20.7.3 asks of audit messages; RFC 5424 6.2.1: PRI = facility*8 + severity.
const syslogPRI = 10*8 + 5

// message is ev as one RFC 5424 message, framed for the transport:
//
//	<85>1 TIMESTAMP HOSTNAME APP-NAME PROCID IHE+RFC-3881 - BOM XML
//
// (RFC 5424 6: no structured data; MSG is UTF-8, so it starts with the BOM, 6.4). Over TCP
// the message is preceded by its length in octets and a space (RFC 6587 3.4.1).
func (s *Syslog) message(ev Event) []byte {
	body, err := ATNAMessage(ev, s.cfg.Source)
	if err != nil {
		s.dropped.Add(1)
		s.log.Error("audit message not built", "err", err, "action", ev.Action)
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "<%d>1 %s %s %s %d IHE+RFC-3881 - \uFEFF", syslogPRI,
		ev.Time.UTC().Format("2006-01-02T15:04:05.000000Z07:00"),
		headerField(s.cfg.Source.ID, 255), headerField(s.cfg.AppName, 48), os.Getpid())
	b.Write(body)
	msg := b.String()
	if s.cfg.Network == "tcp" {
		msg = strconv.Itoa(len(msg)) + " " + msg
	}
	return []byte(msg)
}

// headerField is v as an RFC 5424 header field: printable US-ASCII without spaces, at most
// n characters, "-" when empty (6.2).
func headerField(v string, n int) string {
	v = strings.Map(func(r rune) rune {
		if r <= ' ' || r > '~' {
			return '_'
		}
		return r
	}, v)
	if len(v) > n {
		v = v[:n]
	}
	if v == "" {
		return "-"
	}
	return v
}
