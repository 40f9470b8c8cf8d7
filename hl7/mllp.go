package hl7

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// MLLP framing (HL7 v2.5 Implementation Guide C.4, the Minimal Lower Layer Protocol):
// <VT> message <FS><CR>.
const (
	startBlock = 0x0B
	endBlock   = 0x1C
	carriageRt = 0x0D
)

// ErrTooLarge is a frame over the size bound; the connection cannot be read further.
var ErrTooLarge = errors.New("hl7: MLLP message too large")

// ErrFraming is bytes that are not an MLLP frame.
var ErrFraming = errors.New("hl7: MLLP framing error")

// ReadFrame reads one MLLP frame's content, at most max bytes. White space between frames
// is skipped; anything else before a start block is ErrFraming. io.EOF before a frame
// begins is io.EOF; within a frame, io.ErrUnexpectedEOF. On ErrTooLarge the bytes read so far
// (max of them) are returned, so that the message can be kept for an administrator.
func ReadFrame(r *bufio.Reader, max int) ([]byte, error) {
	for {
		c, err := r.ReadByte()
		if err != nil {
			return nil, err
		}
		if c == startBlock {
			break
		}
		if c != '\r' && c != '\n' && c != ' ' && c != '\t' {
			return nil, fmt.Errorf("%w: byte 0x%02x before the start block", ErrFraming, c)
		}
	}
	var buf []byte
	for {
		chunk, err := r.ReadSlice(endBlock)
		if len(buf)+len(chunk) > max+1 {
			buf = append(buf, chunk[:max-len(buf)]...)
			return buf, fmt.Errorf("%w: over %d bytes", ErrTooLarge, max)
		}
		buf = append(buf, chunk...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		break
	}
	buf = buf[:len(buf)-1] // the end block
	c, err := r.ReadByte()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if c != carriageRt {
		return nil, fmt.Errorf("%w: 0x%02x after the end block, not CR", ErrFraming, c)
	}
	return buf, nil
}

// WriteFrame writes msg as one MLLP frame.
func WriteFrame(w io.Writer, msg []byte) error {
	b := make([]byte, 0, len(msg)+3)
	b = append(b, startBlock)
	b = append(b, msg...)
	b = append(b, endBlock, carriageRt)
	_, err := w.Write(b)
	return err
}

// Handler answers one received message (raw bytes as framed) with the bytes of its
// acknowledgement; nil sends nothing. remote is the peer's address.
type Handler interface {
	ServeHL7(ctx context.Context, remote string, raw []byte) []byte
	// Oversize is told of a frame over the bound (its first bytes), and answers with the
	// acknowledgement to send before the connection is closed.
	Oversize(ctx context.Context, remote string, head []byte) []byte
}

// Server is an MLLP listener; the zero values of its bounds are sensible defaults.
type Server struct {
	Handler     Handler
	MaxMessage  int           // bytes; 0: DefaultMaxMessage
	IdleTimeout time.Duration // between messages; 0: 5 minutes (HIS keep connections open)
	ReadTimeout time.Duration // for one message once it began; 0: 30 s
	// WriteTimeout bounds writing an acknowledgement; 0: 30 s.
	WriteTimeout time.Duration
	Logger       *slog.Logger

	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
	closed bool
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("hl7: server closed")

func (s *Server) init() {
	if s.ctx == nil {
		s.ctx, s.cancel = context.WithCancel(context.Background())
		s.conns = map[net.Conn]bool{}
	}
}

func (s *Server) log() *slog.Logger {
	if s.Logger == nil {
		return slog.Default().With("component", "hl7")
	}
	return s.Logger
}

// Serve accepts connections on ln (wrap it in connlimit for a connection cap) until
// Shutdown or Close.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	s.init()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.ln = ln
	s.mu.Unlock()
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("hl7: accept: %w", err)
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return ErrServerClosed
		}
		s.conns[c] = true
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func (s *Server) serveConn(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	log := s.log().With("remote", c.RemoteAddr().String())
	defer func() {
		if p := recover(); p != nil {
			log.Error("hl7 connection panicked", "panic", p)
		}
	}()
	max := s.MaxMessage
	if max <= 0 {
		max = DefaultMaxMessage
	}
	idle := orDefault(s.IdleTimeout, 5*time.Minute)
	readT := orDefault(s.ReadTimeout, 30*time.Second)
	writeT := orDefault(s.WriteTimeout, 30*time.Second)
	br := bufio.NewReaderSize(c, 16<<10)
	remote := c.RemoteAddr().String()
	for {
		if err := c.SetReadDeadline(time.Now().Add(idle)); err != nil {
			return
		}
		if _, err := br.Peek(1); err != nil {
			return // idle timeout, peer closed, or shutdown
		}
		if err := c.SetReadDeadline(time.Now().Add(readT)); err != nil {
			return
		}
		raw, err := ReadFrame(br, max)
		var ack []byte
		switch {
		case errors.Is(err, ErrTooLarge):
			log.Warn("hl7 message over the size bound", "max_bytes", max)
			ack = s.Handler.Oversize(s.ctx, remote, raw)
		case err != nil:
			if !errors.Is(err, io.EOF) {
				log.Warn("hl7 connection ended", "err", err)
			}
			return
		default:
			ack = s.Handler.ServeHL7(s.ctx, remote, raw)
		}
		if ack != nil {
			if err := c.SetWriteDeadline(time.Now().Add(writeT)); err != nil {
				return
			}
			if err := WriteFrame(c, ack); err != nil {
				log.Warn("hl7 acknowledgement not sent", "err", err)
				return
			}
		}
		if err != nil { // too large: the rest of the stream cannot be framed
			return
		}
		s.mu.Lock()
		closing := s.closed
		s.mu.Unlock()
		if closing {
			return
		}
	}
}

// Shutdown stops accepting, lets each connection finish the message it is handling and
// closes it, waiting until all are done or ctx ends (then it closes them).
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.init()
	s.closed = true
	if s.ln != nil {
		s.ln.Close()
	}
	// Wake connections waiting between messages; one mid-message finishes its reply.
	for c := range s.conns {
		c.SetReadDeadline(time.Now())
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
		s.Close()
		<-done
		return ctx.Err()
	}
}

// Close closes the listener and every connection at once.
func (s *Server) Close() error {
	s.mu.Lock()
	s.init()
	s.closed = true
	if s.ln != nil {
		s.ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return nil
}

// Client sends messages to one MLLP peer, a connection per message (an HIS interface
// engine accepts that, and a failed connection never poisons the next message).
type Client struct {
	Addr       string
	Timeout    time.Duration // dial, send and wait for the ACK; 0: 30 s
	MaxMessage int           // bound on the ACK; 0: DefaultMaxMessage
}

// Send sends msg and returns the raw acknowledgement.
func (c *Client) Send(ctx context.Context, msg []byte) ([]byte, error) {
	t := orDefault(c.Timeout, 30*time.Second)
	ctx, cancel := context.WithTimeout(ctx, t)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", c.Addr)
	if err != nil {
		return nil, fmt.Errorf("hl7: dial %s: %w", c.Addr, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	dl, _ := ctx.Deadline()
	conn.SetDeadline(dl)
	if err := WriteFrame(conn, msg); err != nil {
		return nil, fmt.Errorf("hl7: send to %s: %w", c.Addr, err)
	}
	max := c.MaxMessage
	if max <= 0 {
		max = DefaultMaxMessage
	}
	ack, err := ReadFrame(bufio.NewReader(conn), max)
	if err != nil {
		return nil, fmt.Errorf("hl7: acknowledgement from %s: %w", c.Addr, err)
	}
	return ack, nil
}
