package dimse

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sort"
	"sync"
	"time"

	"pacsd/dicom"
)

// Client defaults.
const (
	DefaultCallingAETitle  = "PACSD-SCU"
	DefaultCalledAETitle   = "ANY-SCP"
	DefaultClientTimeout   = 30 * time.Second
	DefaultResponseTimeout = 5 * time.Minute
)

// PresentationContext is one proposed presentation context and the peer's answer.
type PresentationContext struct {
	ID             byte
	AbstractSyntax string
	TransferSyntax string // the accepted one; for a rejected context, the first proposed
	Result         byte   // PS3.8 9.3.3.2: 0 acceptance, 1 user rejection, 2 no reason, 3 abstract syntax / 4 transfer syntaxes not supported
}

// Accepted reports whether the peer accepted the context.
func (p PresentationContext) Accepted() bool { return p.Result == presentationResultAcceptance }

// Client is one SCU association. Operations (Echo, Store, Release) run one at a time: a
// Client serialises concurrent calls, and each waits for its response before returning,
// so a Client never has more than one outstanding request (the default asynchronous
// operations window of PS3.7 D.3.3.3). Use one Client per goroutine for parallel transfers.
// Abort may be called from any goroutine and interrupts a running operation.
//
// After an error other than ErrNoContext the association has been aborted and every
// further call returns ErrClosed.
type Client struct {
	mu       sync.Mutex
	a        *assoc
	rd       *pduReader
	cfg      ClientConfig
	contexts []PresentationContext
	accepted map[byte]PresentationContext
	asm      msgAssembler
	msgID    uint16
	err      error // set when the association is gone
}

func (cfg *ClientConfig) defaults() {
	if cfg.CallingAETitle == "" {
		cfg.CallingAETitle = DefaultCallingAETitle
	}
	if cfg.CalledAETitle == "" {
		cfg.CalledAETitle = DefaultCalledAETitle
	}
	cfg.MaxPDULength = clampPDU(cfg.MaxPDULength)
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultClientTimeout
	}
	if cfg.ResponseTimeout <= 0 {
		cfg.ResponseTimeout = DefaultResponseTimeout
	}
}

// proposeContexts lays out the presentation contexts of an A-ASSOCIATE-RQ: Verification
// first (ID 1, Explicit and Implicit VR Little Endian), then the abstract syntaxes of
// contexts in UID order, each with one presentation context per transfer syntax, in the
// order given (IDs 3, 5, 7, ...). One transfer syntax per context, because the acceptor
// picks a single transfer syntax per context (PS3.8 9.3.3.2) and we send data sets as they
// are encoded, without conversion: every (SOP class, transfer syntax) pair we may send
// needs its own accepted context. PS3.8 9.3.2.2 allows 128 contexts (odd IDs 1..255).
func proposeContexts(contexts map[string][]string) ([]presentationContextRQ, error) {
	out := []presentationContextRQ{{
		ID:               1,
		AbstractSyntax:   dicom.VerificationSOPClass,
		TransferSyntaxes: []string{dicom.ExplicitVRLittleEndian, dicom.ImplicitVRLittleEndian},
	}}
	abstracts := make([]string, 0, len(contexts))
	for as := range contexts {
		if as != dicom.VerificationSOPClass {
			abstracts = append(abstracts, as)
		}
	}
	sort.Strings(abstracts)
	for _, as := range abstracts {
		if err := dicom.CheckUID(as, dicom.UIDLeadingZeros); err != nil {
			return nil, fmt.Errorf("abstract syntax %q: %w", as, err)
		}
		var seen []string
		for _, ts := range contexts[as] {
			if slices.Contains(seen, ts) {
				continue
			}
			seen = append(seen, ts)
			if err := dicom.CheckUID(ts, dicom.UIDLeadingZeros); err != nil {
				return nil, fmt.Errorf("transfer syntax %q: %w", ts, err)
			}
			if len(out) == maxPresentationContexts {
				return nil, fmt.Errorf("more than %d presentation contexts needed (use SplitContexts)", maxPresentationContexts)
			}
			out = append(out, presentationContextRQ{ID: byte(2*len(out) + 1), AbstractSyntax: as, TransferSyntaxes: []string{ts}})
		}
	}
	return out, nil
}

// validAETitle checks PS3.5 6.2 AE: at most 16 characters of the default repertoire, no
// backslash or control characters, not all spaces.
func validAETitle(s string) error {
	if len(s) > aeTitleLen {
		return fmt.Errorf("AE title %q longer than %d characters", s, aeTitleLen)
	}
	blank := true
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7E || s[i] == '\\' {
			return fmt.Errorf("AE title %q has a forbidden character", s)
		}
		if s[i] != ' ' {
			blank = false
		}
	}
	if blank {
		return errors.New("empty AE title")
	}
	return nil
}

// Dial connects to addr, proposes the contexts of cfg (see proposeContexts: Verification as
// ID 1, then one context per (abstract syntax, transfer syntax) pair, abstract syntaxes in
// UID order) and returns the established association. A refusal is a *RejectError.
// Whether each context was accepted is in Contexts; Store and Echo pick the right one.
func Dial(ctx context.Context, addr string, cfg ClientConfig) (*Client, error) {
	cfg.defaults()
	for _, ae := range []string{cfg.CallingAETitle, cfg.CalledAETitle} {
		if err := validAETitle(ae); err != nil {
			return nil, fmt.Errorf("dimse dial: %w", err)
		}
	}
	if mo := cfg.MoveOriginator.AETitle; mo != "" {
		if err := validAETitle(mo); err != nil {
			return nil, fmt.Errorf("dimse dial: move originator: %w", err)
		}
	}
	pcs, err := proposeContexts(cfg.Contexts)
	if err != nil {
		return nil, fmt.Errorf("dimse dial: %w", err)
	}
	rq := &associateRQ{
		ProtocolVersion:    1,
		CalledAETitle:      cfg.CalledAETitle,
		CallingAETitle:     cfg.CallingAETitle,
		ApplicationContext: applicationContextName,
		Contexts:           pcs,
		UserInfo: userInfo{
			MaxLength:                 cfg.MaxPDULength,
			ImplementationClassUID:    dicom.ImplementationClassUID,
			ImplementationVersionName: dicom.ImplementationVersionName,
		},
	}
	for _, uid := range cfg.SCPRoles {
		if _, ok := cfg.Contexts[uid]; ok {
			rq.UserInfo.Roles = append(rq.UserInfo.Roles, roleSelection{SOPClassUID: uid, SCP: true}) // PS3.7 D.3.3.4
		}
	}

	dctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	a := &assoc{sta: sta1, requestor: true, artim: cfg.Timeout, writeTimeout: cfg.ResponseTimeout}
	if _, err := a.fire(evt1, nil, nil); err != nil { // AE-1
		return nil, err
	}
	var d net.Dialer
	conn, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dimse dial %s: %w", addr, err)
	}
	if cfg.TLS != nil {
		tc := cfg.TLS.Clone()
		if tc.ServerName == "" {
			if host, _, err := net.SplitHostPort(addr); err == nil {
				tc.ServerName = host
			}
		}
		tconn := tls.Client(conn, tc)
		if err := tconn.HandshakeContext(dctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("dimse dial %s: tls: %w", addr, err)
		}
		conn = tconn
	}
	a.conn = conn
	c := &Client{
		a:   a,
		rd:  &pduReader{r: bufio.NewReaderSize(conn, 16<<10), maxPData: cfg.MaxPDULength},
		cfg: cfg,
	}
	err = c.run(dctx, func() error {
		if _, err := a.fire(evt2, rq, nil); err != nil { // AE-2: send A-ASSOCIATE-RQ
			return err
		}
		ind, _, err := c.receive(cfg.Timeout)
		if err != nil {
			return err
		}
		switch ind {
		case indAccepted:
			return c.accept(pcs, a.ac)
		case indRejected:
			return &RejectError{Result: a.rj.Result, Source: a.rj.Source, Reason: a.rj.Reason}
		}
		return c.unexpected(ind)
	})
	if err != nil {
		return nil, fmt.Errorf("dimse dial %s: %w", addr, err)
	}
	return c, nil
}

// accept records the peer's answer to each proposed context. A context the peer did not
// answer, or answered with a transfer syntax we did not propose, counts as rejected.
func (c *Client) accept(proposed []presentationContextRQ, ac *associateAC) error {
	c.a.peerMax = ac.UserInfo.MaxLength
	c.accepted = map[byte]PresentationContext{}
	for _, p := range proposed {
		pc := PresentationContext{ID: p.ID, AbstractSyntax: p.AbstractSyntax, TransferSyntax: p.TransferSyntaxes[0], Result: presentationResultNoReason}
		for _, r := range ac.Contexts {
			if r.ID != p.ID {
				continue
			}
			pc.Result = r.Result
			if r.Result == presentationResultAcceptance {
				if !slices.Contains(p.TransferSyntaxes, r.TransferSyntax) {
					pc.Result = presentationResultNoReason
					break
				}
				pc.TransferSyntax = r.TransferSyntax
				c.accepted[p.ID] = pc
			}
		}
		c.contexts = append(c.contexts, pc)
	}
	return nil
}

// Contexts returns every proposed presentation context with the peer's answer.
func (c *Client) Contexts() []PresentationContext {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.contexts)
}

// CanStore reports whether a data set of sopClass encoded in ts can be sent as it is.
func (c *Client) CanStore(sopClass, ts string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.find(sopClass, ts)
	return ok && ts != ""
}

func (c *Client) find(abstract, ts string) (PresentationContext, bool) {
	for _, pc := range c.contexts {
		if pc.Accepted() && pc.AbstractSyntax == abstract && (ts == "" || pc.TransferSyntax == ts) {
			return pc, true
		}
	}
	return PresentationContext{}, false
}

// run executes one operation with the connection bound to ctx: when ctx ends, pending
// reads and writes fail at once. Any error but ErrNoContext leaves the association
// unusable, so it is aborted.
func (c *Client) run(ctx context.Context, op func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.a.interrupted.Store(false)
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(fired)
		c.a.interrupted.Store(true)
		c.a.conn.SetDeadline(time.Unix(1, 0))
	})
	err := op()
	if !stop() {
		<-fired // the deadline is in the past: the association cannot be trusted any more
		if err == nil {
			err = ctx.Err()
		}
	}
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrNoContext) {
		return err
	}
	if ctx.Err() != nil && (errors.Is(err, errInterrupted) || isTimeout(err)) {
		err = fmt.Errorf("%w (%w)", ctx.Err(), err)
	}
	c.abortLocked(err)
	return err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// abortLocked ends the association after a failure: A-ABORT if there is an association to
// abort, then close without waiting for the peer (ARTIM expiring at once).
func (c *Client) abortLocked(cause error) {
	if c.err == nil {
		c.err = fmt.Errorf("%w: %w", ErrClosed, cause)
	}
	switch c.a.sta {
	case sta1:
		return
	case sta4:
		c.a.fire(evt15, nil, cause) // AA-2
		return
	case sta13:
	default:
		c.a.fire(evt15, &abortPDU{Source: abortSourceUser, Reason: abortReasonNotSpecified}, cause) // AA-1
	}
	if c.a.sta == sta13 {
		c.a.fire(evt18, nil, cause) // AA-2
	}
}

// receive reads PDUs, feeding them to the state machine, until one yields an indication.
func (c *Client) receive(timeout time.Duration) (indication, pdu, error) {
	for {
		c.a.conn.SetReadDeadline(time.Now().Add(timeout))
		if c.a.interrupted.Load() {
			return indNone, nil, errInterrupted
		}
		p, err := c.rd.read()
		var evt event
		var cause error
		switch {
		case err == nil:
			evt, cause = c.eventFor(p)
		case errors.Is(err, errMalformedPDU):
			evt, cause = evt19, err
		case isTimeout(err):
			return indNone, nil, fmt.Errorf("waiting for the peer: %w", err)
		default:
			evt, cause = evt17, err
		}
		ind, ferr := c.a.fire(evt, p, cause)
		if ferr != nil {
			return indNone, nil, ferr
		}
		switch ind {
		case indNone:
			if c.a.sta == sta1 {
				return indNone, nil, ErrClosed
			}
			continue
		case indAbort:
			ab := c.a.peerAbort
			return ind, nil, &AbortError{Source: ab.Source, Reason: ab.Reason}
		case indPAbort, indClosed:
			if cause == nil {
				cause = io.ErrUnexpectedEOF
			}
			return ind, nil, &AbortError{Local: true, Err: cause}
		}
		return ind, p, nil
	}
}

func (c *Client) eventFor(p pdu) (event, error) {
	return pduEvent(p, func(id byte) bool { _, ok := c.accepted[id]; return ok })
}

func (c *Client) unexpected(ind indication) error {
	return fmt.Errorf("%w: unexpected indication %d in %v", errProtocol, ind, c.a.sta)
}

// do runs an operation on an established association.
func (c *Client) do(ctx context.Context, op func() error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	return c.run(ctx, op)
}

func (c *Client) nextMessageID() uint16 {
	c.msgID++
	if c.msgID == 0 {
		c.msgID = 1
	}
	return c.msgID
}

// awaitResponse reads until the response to message id arrives (PS3.7 9.3).
func (c *Client) awaitResponse(id uint16, field uint16) (*command, error) {
	skipping := false // inside a data set that follows a response we do not want
	for {
		ind, p, err := c.receive(c.cfg.ResponseTimeout)
		if err != nil {
			return nil, err
		}
		if ind != indData {
			return nil, c.unexpected(ind)
		}
		var rsp *command
		for _, v := range p.(*pDataTF).PDVs {
			if !v.Command {
				if !skipping {
					return nil, fmt.Errorf("%w: data fragment without a command", errProtocol)
				}
				if v.Last {
					skipping = false
				}
				continue
			}
			cmd, err := c.asm.addCommand(v)
			if err != nil {
				return nil, err
			}
			if cmd == nil {
				continue
			}
			if !cmd.isResponse() || cmd.MessageIDBeingRespondedTo != id || cmd.CommandField != field {
				return nil, fmt.Errorf("%w: expected %s to message %d, got %s to %d", errProtocol,
					commandName(field), id, commandName(cmd.CommandField), cmd.MessageIDBeingRespondedTo)
			}
			rsp = cmd
			skipping = cmd.HasDataSet
		}
		if rsp != nil && !skipping {
			return rsp, nil
		}
	}
}

// Echo sends C-ECHO-RQ (PS3.7 9.3.5) and returns the response status.
func (c *Client) Echo(ctx context.Context) (Status, error) {
	var st Status
	err := c.do(ctx, func() error {
		pc, ok := c.find(dicom.VerificationSOPClass, "")
		if !ok {
			return ErrNoContext
		}
		id := c.nextMessageID()
		rq := &command{CommandField: cmdCEchoRQ, MessageID: id, AffectedSOPClassUID: dicom.VerificationSOPClass}
		if err := c.a.sendBytes(pc.ID, true, rq.encode()); err != nil {
			return err
		}
		rsp, err := c.awaitResponse(id, cmdCEchoRSP)
		if err != nil {
			return err
		}
		st = Status{Code: rsp.Status, ErrorComment: rsp.ErrorComment}
		return nil
	})
	if err != nil {
		return Status{}, fmt.Errorf("C-ECHO: %w", err)
	}
	return st, nil
}

// Store sends one data set (bare, no meta) of the given SOP class/instance encoded in
// transfer syntax ts, streaming it in P-DATA fragments of the peer's maximum PDU length,
// and returns the C-STORE-RSP status (PS3.7 9.3.1). An accepted presentation context for
// (sopClass, ts) must exist; else ErrNoContext and the association stays usable. A read
// error from data aborts the association: a data set cannot be cut short in DIMSE.
func (c *Client) Store(ctx context.Context, sopClass, sopInstance, ts string, data io.Reader) (Status, error) {
	var st Status
	err := c.do(ctx, func() error {
		pc, ok := c.find(sopClass, ts)
		if !ok || ts == "" {
			return fmt.Errorf("%w for %s in %q", ErrNoContext, sopClass, ts)
		}
		if err := dicom.CheckUID(sopInstance, dicom.UIDLeadingZeros); err != nil {
			return fmt.Errorf("%w for SOP instance UID %q: %w", ErrNoContext, sopInstance, err)
		}
		id := c.nextMessageID()
		rq := storeRQ(sopClass, sopInstance, c.cfg.MoveOriginator)
		rq.MessageID = id
		if err := c.a.sendBytes(pc.ID, true, rq.encode()); err != nil {
			return err
		}
		_, readErr, sendErr := c.a.sendStream(pc.ID, data, func() error {
			if c.a.interrupted.Load() {
				return errInterrupted
			}
			return nil
		})
		if readErr != nil {
			return readErr
		}
		if sendErr != nil {
			return sendErr
		}
		rsp, err := c.awaitResponse(id, cmdCStoreRSP)
		if err != nil {
			return err
		}
		st = Status{Code: rsp.Status, ErrorComment: rsp.ErrorComment}
		return nil
	})
	if err != nil {
		return Status{}, fmt.Errorf("C-STORE %s: %w", sopInstance, err)
	}
	return st, nil
}

// maxFindResponse bounds one C-FIND-RSP identifier as Find reassembles it.
const maxFindResponse = 1 << 20

// Find sends a C-FIND-RQ (PS3.7 9.1.2) of sopClass with identifier, a data set encoded in
// the transfer syntax of the accepted presentation context for sopClass (ErrNoContext when
// there is none; Contexts says which), and calls fn with each pending response's status
// (0xFF00 or 0xFF01) and identifier as received, bounded by maxFindResponse. It returns the
// final response's status. When fn fails, Find sends a C-CANCEL-RQ (PS3.7 9.3.2.3), reads
// and drops the responses that follow until the final one, and returns fn's error with it.
func (c *Client) Find(ctx context.Context, sopClass string, identifier []byte, fn func(status uint16, identifier []byte) error) (Status, error) {
	c.mu.Lock()
	pc, ok := c.find(sopClass, "") // contexts do not change once associated
	c.mu.Unlock()
	if !ok {
		return Status{}, fmt.Errorf("C-FIND: %w for %s", ErrNoContext, sopClass)
	}
	var (
		st    Status
		fnErr error
	)
	err := c.do(ctx, func() error {
		id := c.nextMessageID()
		rq := &command{CommandField: cmdCFindRQ, MessageID: id, Priority: priorityMedium,
			AffectedSOPClassUID: sopClass, HasDataSet: true}
		if err := c.a.sendBytes(pc.ID, true, rq.encode()); err != nil {
			return err
		}
		if err := c.a.sendBytes(pc.ID, false, identifier); err != nil {
			return err
		}
		deliver := func(status uint16, data []byte) error {
			if fnErr != nil {
				return nil // cancelled: what is still in flight is dropped
			}
			if fnErr = fn(status, data); fnErr != nil {
				cancel := &command{CommandField: cmdCCancelRQ, MessageIDBeingRespondedTo: id}
				return c.a.sendBytes(pc.ID, true, cancel.encode())
			}
			return nil
		}
		var (
			pending *command // a pending response whose identifier is being received
			final   *command // the final response, perhaps followed by a data set to drop
			data    []byte
		)
		for {
			ind, p, err := c.receive(c.cfg.ResponseTimeout)
			if err != nil {
				return err
			}
			if ind != indData {
				return c.unexpected(ind)
			}
			for _, v := range p.(*pDataTF).PDVs {
				if !v.Command {
					if pending == nil && final == nil {
						return fmt.Errorf("%w: data fragment without a command", errProtocol)
					}
					if pending != nil {
						if len(data)+len(v.Data) > maxFindResponse {
							return fmt.Errorf("%w: C-FIND-RSP identifier over %d bytes", errProtocol, maxFindResponse)
						}
						data = append(data, v.Data...)
					}
					if !v.Last {
						continue
					}
					if pending != nil {
						if err := deliver(pending.Status, data); err != nil {
							return err
						}
						pending, data = nil, nil
						continue
					}
					st = Status{Code: final.Status, ErrorComment: final.ErrorComment}
					return nil
				}
				if pending != nil || final != nil {
					return fmt.Errorf("%w: command before the data set of the previous response", errProtocol)
				}
				cmd, err := c.asm.addCommand(v)
				if err != nil {
					return err
				}
				if cmd == nil {
					continue
				}
				if !cmd.isResponse() || cmd.MessageIDBeingRespondedTo != id || cmd.CommandField != cmdCFindRSP {
					return fmt.Errorf("%w: expected C-FIND-RSP to message %d, got %s to %d", errProtocol,
						id, commandName(cmd.CommandField), cmd.MessageIDBeingRespondedTo)
				}
				switch {
				case (Status{Code: cmd.Status}).Category() == CategoryPending && cmd.HasDataSet:
					pending = cmd
				case (Status{Code: cmd.Status}).Category() == CategoryPending:
					if err := deliver(cmd.Status, nil); err != nil {
						return err
					}
				case cmd.HasDataSet:
					final = cmd // a failure may name offending elements; not kept
				default:
					st = Status{Code: cmd.Status, ErrorComment: cmd.ErrorComment}
					return nil
				}
			}
		}
	})
	if err != nil {
		return Status{}, fmt.Errorf("C-FIND: %w", err)
	}
	if fnErr != nil {
		return st, fmt.Errorf("C-FIND: %w", fnErr)
	}
	return st, nil
}

// storeRQ is the command of a C-STORE-RQ (PS3.7 9.3.1.1), Message ID to be set. A Move
// Originator is named in the sub-operations of a C-MOVE (PS3.4 C.4.2.3).
func storeRQ(sopClass, sopInstance string, mo MoveOriginator) *command {
	rq := &command{
		CommandField:           cmdCStoreRQ,
		Priority:               priorityMedium,
		AffectedSOPClassUID:    sopClass,
		AffectedSOPInstanceUID: sopInstance,
		HasDataSet:             true,
	}
	if mo.AETitle != "" {
		rq.MoveOriginatorAETitle, rq.MoveOriginatorMessageID = mo.AETitle, mo.MessageID
	}
	return rq
}

var _ SubStorer = (*Client)(nil)

// Release performs A-RELEASE (PS3.8 7.2) and closes the connection.
func (c *Client) Release(ctx context.Context) error {
	err := c.do(ctx, func() error {
		if _, err := c.a.fire(evt11, nil, nil); err != nil { // AR-1
			return err
		}
		for {
			ind, _, err := c.receive(c.cfg.Timeout)
			if err != nil {
				return err
			}
			switch ind {
			case indReleaseConfirm: // AR-3 closed the connection
				return nil
			case indData:
				// AR-6: P-DATA the peer sent before it saw our release; nothing waits for it.
			case indReleaseCollision: // AR-8 -> Sta9, as requestor we answer first (AR-9)
				if _, err := c.a.fire(evt14, nil, nil); err != nil {
					return err
				}
			default:
				return c.unexpected(ind)
			}
		}
	})
	c.mu.Lock()
	if c.err == nil {
		c.err = ErrClosed
	}
	c.mu.Unlock()
	if err != nil {
		return fmt.Errorf("A-RELEASE: %w", err)
	}
	return nil
}

// Abort sends A-ABORT and closes the connection. It may be called from any goroutine; a
// running operation fails.
func (c *Client) Abort() error {
	c.a.interrupted.Store(true)
	c.a.conn.SetDeadline(time.Unix(1, 0))
	c.mu.Lock()
	defer c.mu.Unlock()
	c.abortLocked(errors.New("aborted by caller"))
	return nil
}
