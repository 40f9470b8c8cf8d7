package dimse

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Defaults for zero Server fields.
const (
	DefaultMaxPDULength    uint32 = 128 << 10
	DefaultMaxAssociations        = 64
	DefaultARTIMTimeout           = 30 * time.Second
	DefaultIdleTimeout            = 5 * time.Minute

	minPDULength uint32 = 4096     // below this a P-DATA-TF carries little more than headers
	maxPDULength uint32 = 16 << 20 // we allocate one PDU of this size per association
)

// serverState is the part of Server that is not configuration.
type serverState struct {
	initOnce  sync.Once
	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*scpConn]struct{}
	shutdown  bool
	hardStop  chan struct{} // closed when Shutdown's context ends (or Close)
	kill      chan struct{} // closed by Close
	stopOnce  sync.Once
	killOnce  sync.Once
	wg        sync.WaitGroup // one per association goroutine
	active    int            // associations counted against MaxAssociations; under mu
	nextID    uint64         // under mu
	idPrefix  string
}

func (s *Server) init() {
	s.st.initOnce.Do(func() {
		s.st.listeners = map[net.Listener]struct{}{}
		s.st.conns = map[*scpConn]struct{}{}
		s.st.hardStop = make(chan struct{})
		s.st.kill = make(chan struct{})
		var b [3]byte
		rand.Read(b[:])
		s.st.idPrefix = hex.EncodeToString(b[:])
	})
}

func (s *Server) maxPDU() uint32 {
	return clampPDU(s.MaxPDULength)
}

func clampPDU(n uint32) uint32 {
	switch {
	case n == 0:
		return DefaultMaxPDULength
	case n < minPDULength:
		return minPDULength
	case n > maxPDULength:
		return maxPDULength
	}
	return n
}

func (s *Server) maxAssociations() int {
	if s.MaxAssociations <= 0 {
		return DefaultMaxAssociations
	}
	return s.MaxAssociations
}

func (s *Server) artimTimeout() time.Duration {
	if s.ARTIMTimeout <= 0 {
		return DefaultARTIMTimeout
	}
	return s.ARTIMTimeout
}

func (s *Server) idleTimeout() time.Duration {
	if s.IdleTimeout <= 0 {
		return DefaultIdleTimeout
	}
	return s.IdleTimeout
}

func (s *Server) logger() *slog.Logger {
	log := s.Logger
	if log == nil {
		log = slog.Default()
	}
	return log.With("component", "dimse")
}

// Serve accepts associations on ln until Shutdown or Close, which make it return
// ErrServerClosed. Each connection is served by its own goroutine, owned by the Server:
// Shutdown and Close wait for them. ln is closed when Serve returns.
func (s *Server) Serve(ln net.Listener) error {
	s.init()
	s.st.mu.Lock()
	if s.st.shutdown {
		s.st.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.st.listeners[ln] = struct{}{}
	s.st.mu.Unlock()
	defer func() {
		s.st.mu.Lock()
		delete(s.st.listeners, ln)
		s.st.mu.Unlock()
		ln.Close()
	}()

	log := s.logger()
	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if s.shuttingDown() {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("accept: %w", err)
			}
			// Out of file descriptors and the like: wait and retry, as net/http does,
			// rather than stop serving the county.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			log.Warn("dimse accept failed; retrying", "err", err, "backoff", backoff)
			select {
			case <-time.After(backoff):
			case <-s.st.hardStop:
				return ErrServerClosed
			}
			continue
		}
		backoff = 0
		s.startConn(conn)
	}
}

// ListenAndServe listens on addr (e.g. ":11112"; "" means ":11112") and serves.
func (s *Server) ListenAndServe(addr string) error {
	if addr == "" {
		addr = ":11112"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("dimse listen %s: %w", addr, err)
	}
	return s.Serve(ln)
}

func (s *Server) shuttingDown() bool {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	return s.st.shutdown
}

func (s *Server) startConn(conn net.Conn) {
	s.st.mu.Lock()
	if s.st.shutdown {
		s.st.mu.Unlock()
		conn.Close()
		return
	}
	// Connections still negotiating count too: bound them so that a flood of idle TCP
	// connects cannot pin a goroutine and a PDU buffer each. Past the limit there is no
	// room even to say A-ASSOCIATE-RJ.
	if len(s.st.conns) >= 2*s.maxAssociations() {
		s.st.mu.Unlock()
		s.logger().Warn("dimse connection refused: too many connections", "remote", conn.RemoteAddr().String())
		conn.Close()
		return
	}
	s.st.nextID++
	c := newSCPConn(s, conn, fmt.Sprintf("%s-%d", s.st.idPrefix, s.st.nextID))
	s.st.conns[c] = struct{}{}
	s.st.wg.Add(1)
	s.st.mu.Unlock()
	go func() {
		defer s.st.wg.Done()
		c.serve()
	}()
}

func (s *Server) forget(c *scpConn) {
	s.st.mu.Lock()
	delete(s.st.conns, c)
	if c.counted {
		s.st.active--
	}
	s.st.mu.Unlock()
}

// admit counts a new association against MaxAssociations (PS3.8 9.3.4: over it we answer
// "transient, local limit exceeded").
func (s *Server) admit() (ok, closing bool) {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	if s.st.shutdown {
		return false, true
	}
	if s.st.active >= s.maxAssociations() {
		return false, false
	}
	s.st.active++
	return true, false
}

// Shutdown stops accepting and lets in-flight associations run until the peer releases
// them (an SCP cannot initiate A-RELEASE, PS3.8 7.2); new association requests already
// connected are rejected as transient. When ctx ends, the remaining associations are aborted
// — but an association whose C-STORE handler is running past the last data fragment (making
// the object durable) is aborted only after the handler returned and its C-STORE-RSP was
// sent, so that an acknowledgement the peer may act on is never lost. Shutdown returns when
// every association goroutine has ended: nil if they all finished by themselves, ctx.Err()
// if some had to be aborted.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.closeListeners()
	done := make(chan struct{})
	go func() {
		s.st.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.st.stopOnce.Do(func() { close(s.st.hardStop) })
		<-done
		return ctx.Err()
	}
}

// Close aborts every association at once (A-ABORT), cancels the contexts of running
// handlers and waits until their goroutines returned. Handlers must honour ctx.
func (s *Server) Close() error {
	s.init()
	s.closeListeners()
	s.st.stopOnce.Do(func() { close(s.st.hardStop) })
	s.st.killOnce.Do(func() { close(s.st.kill) })
	s.st.mu.Lock()
	for c := range s.st.conns {
		c.cancel()
	}
	s.st.mu.Unlock()
	s.st.wg.Wait()
	return nil
}

func (s *Server) closeListeners() {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	s.st.shutdown = true
	for ln := range s.st.listeners {
		ln.Close()
	}
}
