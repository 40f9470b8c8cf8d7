package dimse

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync/atomic"
	"time"
)

// indication is what an action of the state machine reports to the service user (the
// DIMSE layer above it), PS3.8 Table 9-1 "primitives".
type indication uint8

const (
	indNone             indication = iota
	indAssociate                   // AE-6: A-ASSOCIATE indication; a.rq is the request
	indProviderReject              // AE-6: the service provider rejected the request; a.rj was sent
	indAccepted                    // AE-3: A-ASSOCIATE confirmation (accept); a.ac
	indRejected                    // AE-4: A-ASSOCIATE confirmation (reject); a.rj
	indData                        // DT-2, AR-6: P-DATA indication
	indRelease                     // AR-2: A-RELEASE indication
	indReleaseCollision            // AR-8
	indReleaseConfirm              // AR-3, AR-10
	indAbort                       // AA-3: A-ABORT / A-P-ABORT indication from the peer; a.peerAbort
	indPAbort                      // AA-4, AA-8: the provider gave up (transport lost, protocol error)
	indClosed                      // AA-2, AA-5, AR-5: transport closed, association gone
)

// assoc is one association's upper layer: the state machine, the connection and the PDU
// writer. It is not safe for concurrent use: the server drives it from one goroutine per
// association, the client under its operation mutex.
type assoc struct {
	conn      net.Conn
	sta       state
	requestor bool // we sent the A-ASSOCIATE-RQ (decides AR-8)
	log       *slog.Logger

	artim         time.Duration // PS3.8 9.1.5
	artimOn       bool
	artimDeadline time.Time

	writeTimeout time.Duration
	// interrupted is set (before the connection deadline is forced into the past) when the
	// caller's context ends; checked after every deadline we set so that the two orders of
	// "we extend the deadline" and "the context ends" both stop the I/O.
	interrupted atomic.Bool

	// peerMax is the maximum P-DATA-TF length the peer announced (0: no limit), PS3.8 D.1.
	peerMax uint32

	rq        *associateRQ
	ac        *associateAC
	rj        *associateRJ
	peerAbort *abortPDU

	// providerCheck is the service provider's part of AE-6 (protocol version, resources):
	// a non-nil answer is sent as A-ASSOCIATE-RJ without bothering the service user.
	providerCheck func(*associateRQ) *associateRJ

	wbuf   []byte // encoded control PDUs
	sbuf   []byte // P-DATA-TF being built
	closed bool
}

// fire feeds one event to the state machine: it looks the action up in Table 9-10, performs
// it and moves to the next state. in is the PDU received (Evt3..Evt19) or to send (local
// primitives); cause explains Evt19 (malformed PDU) or a local abort. An event the table
// leaves undefined for the current state is an error and changes nothing.
func (a *assoc) fire(ev event, in pdu, cause error) (indication, error) {
	act, err := lookup(a.sta, ev)
	if err != nil {
		return indNone, err
	}
	from := a.sta
	next, ind, err := a.perform(act, in, cause)
	if err != nil {
		// A failed send means the transport is gone: there is no association left to
		// protect, so we behave as on Evt17 (transport closed).
		a.stopARTIM()
		a.closeTransport()
		a.sta = sta1
		return indPAbort, fmt.Errorf("%v in %v: %w", act, from, err)
	}
	if !slices.Contains(nextState[act], next) {
		// A bug, not bad input: perform and the table disagree.
		a.closeTransport()
		a.sta = sta1
		return indPAbort, fmt.Errorf("state machine: %v led to %v", act, next)
	}
	a.sta = next
	if act != dt1 && act != dt2 && act != ar6 && act != ar7 && a.log != nil {
		a.log.Debug("upper layer", "event", ev.String(), "action", act.String(), "from", from.String(), "to", next.String())
	}
	return ind, nil
}

// perform carries out one action's side effects (PS3.8 Tables 9-6 to 9-9) and returns the
// state it leads to.
func (a *assoc) perform(act action, in pdu, cause error) (state, indication, error) {
	switch act {
	case ae1:
		// The caller opens the transport connection right after this returns (Dial).
		return sta4, indNone, nil
	case ae2:
		rq, ok := in.(*associateRQ)
		if !ok {
			return 0, indNone, errors.New("AE-2 without A-ASSOCIATE-RQ")
		}
		a.rq = rq
		return sta5, indNone, a.send(rq)
	case ae3:
		a.ac, _ = in.(*associateAC)
		return sta6, indAccepted, nil
	case ae4:
		a.rj, _ = in.(*associateRJ)
		a.closeTransport()
		return sta1, indRejected, nil
	case ae5:
		a.startARTIM()
		return sta2, indNone, nil
	case ae6:
		a.stopARTIM()
		a.rq, _ = in.(*associateRQ)
		if a.providerCheck != nil {
			if rj := a.providerCheck(a.rq); rj != nil {
				a.rj = rj
				a.startARTIM()
				return sta13, indProviderReject, a.send(rj)
			}
		}
		return sta3, indAssociate, nil
	case ae7:
		ac, ok := in.(*associateAC)
		if !ok {
			return 0, indNone, errors.New("AE-7 without A-ASSOCIATE-AC")
		}
		a.ac = ac
		return sta6, indNone, a.send(ac)
	case ae8:
		rj, ok := in.(*associateRJ)
		if !ok {
			return 0, indNone, errors.New("AE-8 without A-ASSOCIATE-RJ")
		}
		a.rj = rj
		a.startARTIM()
		return sta13, indNone, a.send(rj)
	case dt1:
		return sta6, indNone, a.send(in)
	case dt2:
		return sta6, indData, nil
	case ar1:
		return sta7, indNone, a.send(&releaseRQ{})
	case ar2:
		return sta8, indRelease, nil
	case ar3:
		a.closeTransport()
		return sta1, indReleaseConfirm, nil
	case ar4:
		a.startARTIM()
		return sta13, indNone, a.send(&releaseRP{})
	case ar5:
		a.stopARTIM()
		a.closeTransport()
		return sta1, indClosed, nil
	case ar6:
		return sta7, indData, nil
	case ar7:
		return sta8, indNone, a.send(in)
	case ar8:
		if a.requestor {
			return sta9, indReleaseCollision, nil
		}
		return sta10, indReleaseCollision, nil
	case ar9:
		return sta11, indNone, a.send(&releaseRP{})
	case ar10:
		return sta12, indReleaseConfirm, nil
	case aa1:
		ab, ok := in.(*abortPDU)
		if !ok {
			ab = &abortPDU{Source: abortSourceUser, Reason: abortReasonNotSpecified}
		}
		a.startARTIM()
		return sta13, indNone, a.sendAbort(ab)
	case aa2:
		a.stopARTIM()
		a.closeTransport()
		return sta1, indClosed, nil
	case aa3:
		a.peerAbort, _ = in.(*abortPDU)
		a.closeTransport()
		return sta1, indAbort, nil
	case aa4:
		a.closeTransport()
		return sta1, indPAbort, nil
	case aa5:
		a.stopARTIM()
		a.closeTransport()
		return sta1, indClosed, nil
	case aa6:
		return sta13, indNone, nil
	case aa7:
		return sta13, indNone, a.sendAbort(&abortPDU{Source: abortSourceProvider, Reason: abortReasonFor(cause)})
	case aa8:
		a.startARTIM()
		return sta13, indPAbort, a.sendAbort(&abortPDU{Source: abortSourceProvider, Reason: abortReasonFor(cause)})
	}
	return 0, indNone, fmt.Errorf("no action %v", act)
}

func (a *assoc) startARTIM() {
	a.artimOn = true
	a.artimDeadline = time.Now().Add(a.artim)
}

func (a *assoc) stopARTIM() { a.artimOn = false }

func (a *assoc) closeTransport() {
	if !a.closed && a.conn != nil {
		a.closed = true
		a.conn.Close()
	}
}

// sendAbort sends A-ABORT with a short deadline of its own: it is the last thing we say and
// must not hang on a peer that stopped reading.
func (a *assoc) sendAbort(ab *abortPDU) error {
	if a.closed {
		return nil
	}
	a.wbuf = ab.appendTo(a.wbuf[:0])
	a.conn.SetWriteDeadline(time.Now().Add(abortWriteTimeout))
	if _, err := a.conn.Write(a.wbuf); err != nil {
		return fmt.Errorf("write A-ABORT: %w", err)
	}
	return nil
}

const abortWriteTimeout = 2 * time.Second

// send writes one PDU.
func (a *assoc) send(p pdu) error {
	if a.closed {
		return net.ErrClosed
	}
	b, ok := p.(rawPDU)
	if !ok {
		a.wbuf = p.appendTo(a.wbuf[:0])
		b = a.wbuf
	}
	if a.writeTimeout > 0 {
		a.conn.SetWriteDeadline(time.Now().Add(a.writeTimeout))
	}
	if a.interrupted.Load() {
		return errInterrupted
	}
	if _, err := a.conn.Write(b); err != nil {
		return fmt.Errorf("write %s: %w", pduName(p.pduType()), err)
	}
	return nil
}

var errInterrupted = errors.New("operation interrupted")

// fragmentSize is how many data bytes we put in one PDV: the peer's maximum PDU length
// (PS3.8 D.1; 0 means unlimited) less the PDV header, and never more than maxSendFragment
// so that a peer announcing "unlimited" still gets bounded PDUs.
func (a *assoc) fragmentSize() int {
	limit := a.peerMax
	if limit == 0 || limit > maxSendFragment {
		limit = maxSendFragment
	}
	// A peer announcing a maximum smaller than a PDV header cannot receive anything; sending
	// one-byte fragments is the closest we can get without stalling.
	return max(int(limit)-pdvHeaderLen, 1)
}

// pdataBuffer returns a buffer for one P-DATA-TF PDU with a single PDV of up to n data bytes,
// the data to be placed at offset pduHeaderLen+pdvHeaderLen.
func (a *assoc) pdataBuffer(n int) []byte {
	need := pduHeaderLen + pdvHeaderLen + n
	if cap(a.sbuf) < need {
		a.sbuf = make([]byte, need)
	}
	return a.sbuf[:need]
}

// sendPDV frames buf (from pdataBuffer, data filled in) as a P-DATA-TF with one PDV and
// sends it (PS3.8 9.3.5, Annex E).
func (a *assoc) sendPDV(buf []byte, id byte, command, last bool) error {
	n := len(buf) - pduHeaderLen - pdvHeaderLen
	buf[0], buf[1] = pduPDataTF, 0
	binary.BigEndian.PutUint32(buf[2:], uint32(pdvHeaderLen+n))
	binary.BigEndian.PutUint32(buf[6:], uint32(n+2))
	buf[10], buf[11] = id, controlHeader(command, last)
	_, err := a.fire(evt9, rawPDU(buf), nil)
	return err
}

// sendBytes sends b (a command set, or a small data set) as PDVs on context id, fragmented
// to the peer's maximum.
func (a *assoc) sendBytes(id byte, command bool, b []byte) error {
	frag := a.fragmentSize()
	for first := true; first || len(b) > 0; first = false {
		n := min(len(b), frag)
		buf := a.pdataBuffer(n)
		copy(buf[pduHeaderLen+pdvHeaderLen:], b[:n])
		b = b[n:]
		if err := a.sendPDV(buf, id, command, len(b) == 0); err != nil {
			return err
		}
	}
	return nil
}

// appendMessage appends to dst the P-DATA-TF PDUs of one message on context id: its
// command set and, unless data is nil, its data set, frag (fragmentSize) bytes a PDV at
// most. When both fit in one PDU of the peer's maximum they share it, two PDVs (PS3.8
// 9.3.5 allows several PDVs a PDU; PS3.7 6.3.1 keeps command and data in separate PDVs):
// one PDU and one write where a message used to take two.
func appendMessage(dst []byte, id byte, frag int, cmd, data []byte) []byte {
	if data != nil && 2*pdvHeaderLen+len(cmd)+len(data) <= frag+pdvHeaderLen {
		dst = appendPDUHeader(dst, 2*pdvHeaderLen+len(cmd)+len(data))
		dst = appendPDV(dst, id, true, true, cmd)
		return appendPDV(dst, id, false, true, data)
	}
	dst = appendFragments(dst, id, frag, true, cmd)
	if data != nil {
		dst = appendFragments(dst, id, frag, false, data)
	}
	return dst
}

// appendFragments appends b as PDUs of one PDV each, as sendBytes sends it.
func appendFragments(dst []byte, id byte, frag int, command bool, b []byte) []byte {
	for first := true; first || len(b) > 0; first = false {
		n := min(len(b), frag)
		dst = appendPDUHeader(dst, pdvHeaderLen+n)
		dst = appendPDV(dst, id, command, n == len(b), b[:n])
		b = b[n:]
	}
	return dst
}

func appendPDUHeader(dst []byte, length int) []byte {
	dst = append(dst, pduPDataTF, 0)
	return binary.BigEndian.AppendUint32(dst, uint32(length))
}

func appendPDV(dst []byte, id byte, command, last bool, b []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(b)+2))
	dst = append(dst, id, controlHeader(command, last))
	return append(dst, b...)
}

// sendStream sends everything r yields as data PDVs on context id, one fragment in memory at
// a time (see streamPDVs).
func (a *assoc) sendStream(id byte, r io.Reader, stop func() error) (sent int64, readErr, sendErr error) {
	return streamPDVs(r, a.fragmentSize(), a.pdataBuffer, func(buf []byte, last bool) error {
		return a.sendPDV(buf, id, false, last)
	}, stop)
}

// streamPDVs reads r into P-DATA-TF buffers (buffer(n) gives one for n data bytes, as
// pdataBuffer does) of frag data bytes and hands each to send (which frames it with sendPDV),
// one fragment in memory at a time: the C-STORE path of both the Client and C-GET's
// sub-operations. The last fragment is only known once r reports EOF, so one byte is read
// ahead. readErr reports a failure of r (the message cannot be completed: the caller must
// abort) apart from a send error.
func streamPDVs(r io.Reader, frag int, buffer func(n int) []byte, send func(buf []byte, last bool) error, stop func() error) (sent int64, readErr, sendErr error) {
	var carry [1]byte
	haveCarry := false
	for {
		if err := stop(); err != nil {
			return sent, nil, err
		}
		buf := buffer(frag)
		data := buf[pduHeaderLen+pdvHeaderLen:]
		off := 0
		if haveCarry {
			data[0] = carry[0]
			off = 1
		}
		n, err := io.ReadFull(r, data[off:])
		n += off
		last := false
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			last = true
		case err != nil:
			return sent, fmt.Errorf("read data set: %w", err), nil
		default:
			m, perr := io.ReadFull(r, carry[:])
			switch {
			case m == 1:
				haveCarry = true
			case perr == io.EOF:
				last, haveCarry = true, false
			default:
				return sent, fmt.Errorf("read data set: %w", perr), nil
			}
		}
		if err := send(buf[:pduHeaderLen+pdvHeaderLen+n], last); err != nil {
			return sent, nil, err
		}
		sent += int64(n)
		if last {
			return sent, nil, nil
		}
	}
}
