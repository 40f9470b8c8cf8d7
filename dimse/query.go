package dimse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"strings"
	"sync"

	"pacsd/dicom"
)

// Query/retrieve on the SCP side (PS3.4 Annex C, PS3.7 9.1.2-9.1.4, 9.3.2-9.3.4).
//
// The identifier of a C-FIND/C-MOVE/C-GET-RQ is gathered (bounded) like a small data set;
// once it is complete the handler runs in its own goroutine (owned by the connection, like
// a C-STORE handler) and serve goes back to reading, so that a C-CANCEL-RQ, the
// C-STORE-RSPs of C-GET sub-operations, an A-ABORT or a lost connection are seen while the
// handler works. Everything the handler sends (pending responses, sub-operation C-STOREs)
// goes through serve as writeJobs, since serve alone writes to the connection; messages are
// never interleaved (queryOp.sendMu). The final response is serve's, once the handler
// returned.

// ErrCancelled is the cause of a query/retrieve handler's context (context.Cause) and
// wrapped by the errors of send and Progress once the peer sent a C-CANCEL-RQ for the
// request (PS3.7 9.3.2.3).
var ErrCancelled = errors.New("dimse: request cancelled by the peer (C-CANCEL-RQ)")

var (
	errOperationOver = errors.New("dimse: the request is over (answered, or the association is gone)")
	errReleased      = errors.New("dimse: the peer released the association")
)

// DefaultMaxIdentifierLength bounds a C-FIND/C-MOVE/C-GET identifier when
// Server.MaxIdentifierLength is zero.
const DefaultMaxIdentifierLength = 64 << 10

func (s *Server) maxIdentifierLength() int {
	if s.MaxIdentifierLength <= 0 {
		return DefaultMaxIdentifierLength
	}
	return s.MaxIdentifierLength
}

// queryOp is a C-FIND, C-MOVE or C-GET whose handler is running.
type queryOp struct {
	cmd    *command
	pc     acceptedContext
	ctx    context.Context // the handler's
	cancel context.CancelCauseFunc
	result chan queryResult // the handler's answer, buffered
	gone   chan struct{}    // closed by end: the connection no longer takes its messages

	// Owned by serve.
	cancelled bool     // C-CANCEL-RQ received
	pending   *subWait // the C-STORE sub-operation awaiting its C-STORE-RSP
	ended     bool

	// C-FIND's pending responses, encoded as P-DATA-TF PDUs by the handler and written by
	// serve (flushFind) as one write for all those queued while the previous write ran.
	outMu  sync.Mutex
	out    []byte        // whole messages not yet taken by serve, under outMu
	spare  []byte        // the buffer serve wrote last, reused for out
	taken  chan struct{} // buffered: serve took out (room for the handler again)
	outErr error         // the last write's failure, under outMu

	// Owned by the handler's goroutines.
	sendMu sync.Mutex // one message at a time, whole
	frag   []byte     // the P-DATA-TF buffer of sub-operations, under sendMu
	mu     sync.Mutex
	counts SubOperations // the last ones reported by Progress, under mu
}

type queryResult struct {
	status   Status          // C-FIND
	retrieve *RetrieveResult // C-MOVE, C-GET
}

// writeJob is one message, or one fragment of a sub-operation's data set (cont), that a
// handler asks serve to send. serve runs run and answers on done.
type writeJob struct {
	q    *queryOp
	cont bool // continues a message already begun: sent even after a C-CANCEL-RQ
	run  func() error
	done chan error // buffered
}

// subWait is a C-STORE sub-operation waiting for the peer's C-STORE-RSP.
type subWait struct {
	id   uint16
	done chan subResult // buffered
}

type subResult struct {
	rsp *command
	err error
}

// end makes q over for the connection (serve only): its handler's context is cancelled,
// its messages refused, a sub-operation awaiting its response fails.
func (q *queryOp) end(cause error) {
	if q.ended {
		return
	}
	q.ended = true
	q.cancel(cause)
	q.failPending(cause)
	close(q.gone)
}

// failPending fails the sub-operation awaiting its C-STORE-RSP (serve only).
func (q *queryOp) failPending(cause error) {
	if w := q.pending; w != nil {
		q.pending = nil
		w.done <- subResult{err: cause}
	}
}

// servedBy tells whether a query/retrieve command is served for abstract syntax uid.
func (s *Server) servedBy(field uint16, uid string) bool {
	switch field {
	case cmdCFindRQ:
		return s.Find != nil && slices.Contains(s.FindSOPClasses, uid)
	case cmdCMoveRQ:
		return s.Move != nil && slices.Contains(s.MoveSOPClasses, uid)
	case cmdCGetRQ:
		return s.Get != nil && slices.Contains(s.GetSOPClasses, uid)
	}
	return false
}

// startQueryRQ begins a C-FIND/C-MOVE/C-GET-RQ: its identifier is gathered next, unless
// the request is refused (the identifier is then read and dropped before the answer).
func (c *scpConn) startQueryRQ(cmd *command, pc acceptedContext) error {
	var refuse *Status
	switch {
	case !c.srv.servedBy(cmd.CommandField, pc.AbstractSyntax):
		// PS3.7 C.5.4: not an operation of the context's SOP class, or not one we serve.
		refuse = &Status{Code: StatusUnrecognizedOperation, ErrorComment: "operation not supported by pacsd"}
	case !pc.PeerSCU:
		// PS3.7 D.3.3.4: the requestor declined the SCU role for this class.
		refuse = &Status{Code: StatusSOPClassNotSupported, ErrorComment: "SCU role not negotiated for the SOP class"}
	case cmd.AffectedSOPClassUID != pc.AbstractSyntax:
		// PS3.7 9.1.2.1.2: the SOP class is that of the presentation context.
		refuse = &Status{Code: StatusSOPClassNotSupported, ErrorComment: "SOP class differs from the presentation context"}
	case !cmd.HasDataSet:
		refuse = &Status{Code: StatusCannotUnderstand, ErrorComment: "request without an identifier"}
	case cmd.CommandField == cmdCMoveRQ && cmd.MoveDestination == "":
		refuse = &Status{Code: StatusMoveDestUnknown, ErrorComment: "no Move Destination"}
	}
	if refuse != nil {
		c.log.Warn("request refused", "command", commandName(cmd.CommandField), "sop_class", cmd.AffectedSOPClassUID, "status", refuse.String())
		return c.answerAfterData(cmd, pc, *refuse)
	}
	c.op = &operation{cmd: cmd, ctxID: pc.ID, collect: true}
	return nil
}

// startQuery runs the handler of a request whose identifier is complete.
func (c *scpConn) startQuery(cmd *command, pc acceptedContext, ident []byte) {
	req := &QueryRequest{
		AssociationID:     c.id,
		CallingAETitle:    c.rq.CallingAETitle,
		CalledAETitle:     c.rq.CalledAETitle,
		RemoteAddr:        c.remote,
		TLS:               c.tls,
		MessageID:         cmd.MessageID,
		Priority:          cmd.Priority,
		SOPClassUID:       cmd.AffectedSOPClassUID,
		TransferSyntaxUID: pc.TransferSyntax,
		Identifier:        ident,
		MoveDestination:   cmd.MoveDestination,
	}
	// Like a C-STORE handler's, the context ends on abort and Close, not on Shutdown;
	// also on C-CANCEL-RQ (cause ErrCancelled).
	hctx, cancel := context.WithCancelCause(c.ctx)
	q := &queryOp{cmd: cmd, pc: pc, ctx: hctx, cancel: cancel, result: make(chan queryResult, 1), gone: make(chan struct{}),
		taken: make(chan struct{}, 1)}
	c.qop = q
	c.log.Debug("request", "command", commandName(cmd.CommandField), "message_id", cmd.MessageID, "sop_class", cmd.AffectedSOPClassUID,
		"identifier_bytes", len(ident), "move_destination", cmd.MoveDestination)
	c.handlers.Add(1)
	go func() {
		defer c.handlers.Done()
		q.result <- c.runQuery(q, req)
	}()
	c.refreshDeadline()
}

// runQuery calls the handler; a panic becomes a failure (0xC000, unable to process).
func (c *scpConn) runQuery(q *queryOp, req *QueryRequest) (r queryResult) {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("query/retrieve handler panicked", "command", commandName(q.cmd.CommandField), "panic", p, "stack", string(debug.Stack()))
			st := Status{Code: StatusCannotUnderstand, ErrorComment: "internal error"}
			r = queryResult{status: st}
			if q.cmd.CommandField != cmdCFindRQ {
				q.mu.Lock()
				r.retrieve = &RetrieveResult{Status: st, SubOperations: q.counts}
				q.mu.Unlock()
			}
		}
	}()
	switch q.cmd.CommandField {
	case cmdCFindRQ:
		return queryResult{status: c.srv.Find.HandleFind(q.ctx, req, func(status uint16, identifier []byte) error {
			return c.sendFindPending(q, status, identifier)
		})}
	case cmdCMoveRQ:
		rr := c.srv.Move.HandleMove(q.ctx, req, func(so SubOperations) error { return c.sendProgress(q, so) })
		return queryResult{retrieve: &rr}
	default:
		rr := c.srv.Get.HandleGet(q.ctx, req, subStorer{c: c, q: q}, func(so SubOperations) error { return c.sendProgress(q, so) })
		return queryResult{retrieve: &rr}
	}
}

// queryResponse is the response skeleton to q's request (PS3.7 9.3.2.2, 9.3.3.2, 9.3.4.2).
func queryResponse(q *queryOp, status uint16) *command {
	return &command{
		CommandField:              q.cmd.CommandField | cmdResponseBit,
		MessageIDBeingRespondedTo: q.cmd.MessageID,
		AffectedSOPClassUID:       q.cmd.AffectedSOPClassUID,
		Status:                    status,
	}
}

// sendFindPending is FindHandler's send: a pending C-FIND-RSP with one match's identifier
// (PS3.4 C.4.1.3.1).
func (c *scpConn) sendFindPending(q *queryOp, status uint16, identifier []byte) error {
	if status != StatusPending && status != StatusPendingOptionalKeys {
		return fmt.Errorf("dimse: C-FIND send with status 0x%04X, not pending", status)
	}
	rsp := queryResponse(q, status)
	rsp.HasDataSet = true
	cmd := rsp.encode()
	frag := c.a.fragmentSize() // set once associated, before the handler started
	for {
		q.outMu.Lock()
		err := q.outErr
		if err == nil && q.ctx.Err() != nil {
			err = context.Cause(q.ctx)
		}
		if err != nil {
			q.outMu.Unlock()
			return fmt.Errorf("dimse: C-FIND-RSP not sent: %w", err)
		}
		// Bounded: a peer that reads slowly holds the handler here, not our memory. A
		// message bigger than the bound goes alone.
		if was := len(q.out); was == 0 || was+len(cmd)+len(identifier)+4*pduHeaderLen <= maxFindOutbox {
			q.out = appendMessage(q.out, q.pc.ID, frag, cmd, identifier)
			q.outMu.Unlock()
			if was == 0 {
				// Serve writes it at once; what the handler adds meanwhile goes out in
				// serve's next write.
				select {
				case c.findOut <- struct{}{}:
				default:
				}
			}
			return nil
		}
		q.outMu.Unlock()
		select {
		case <-q.taken:
		case <-q.gone:
		}
	}
}

// maxFindOutbox bounds the C-FIND responses the handler may queue ahead of serve's writes.
const maxFindOutbox = 64 << 10

// flushFind writes the C-FIND pending responses the handler queued, in one write (serve
// only). After a C-CANCEL-RQ they are dropped: the peer asked for no more.
func (c *scpConn) flushFind() {
	q := c.qop
	if q == nil || q.cmd.CommandField != cmdCFindRQ {
		return
	}
	q.outMu.Lock()
	b := q.out
	q.out, q.spare = q.spare[:0], nil
	q.outMu.Unlock()
	var err error
	if len(b) > 0 && !q.cancelled {
		if _, err = c.a.fire(evt9, rawPDU(b), nil); err != nil && c.a.sta == sta1 {
			c.log.Warn("send", "command", commandName(q.cmd.CommandField), "err", err)
			if c.ended == "" {
				c.ended = "transport error sending a response"
			}
			c.failOp(err)
		}
		c.refreshDeadline()
	}
	q.outMu.Lock()
	q.spare = b[:0]
	if err != nil {
		q.outErr = err
	}
	q.outMu.Unlock()
	select {
	case q.taken <- struct{}{}:
	default:
	}
}

// sendProgress is C-MOVE/C-GET's Progress: a pending response with the four counts.
func (c *scpConn) sendProgress(q *queryOp, so SubOperations) error {
	q.mu.Lock()
	q.counts = so
	q.mu.Unlock()
	rsp := queryResponse(q, StatusPending)
	rsp.SubOps = &subOpCounts{SubOperations: so, HasRemaining: true}
	return c.sendMessage(q, rsp, nil)
}

// sendMessage has serve send one response (with data when data is not nil).
func (c *scpConn) sendMessage(q *queryOp, rsp *command, data []byte) error {
	q.sendMu.Lock()
	defer q.sendMu.Unlock()
	if q.ctx.Err() != nil {
		return fmt.Errorf("dimse: %s not sent: %w", commandName(rsp.CommandField), context.Cause(q.ctx))
	}
	err := c.post(q, false, func() error {
		if err := c.a.sendBytes(q.pc.ID, true, rsp.encode()); err != nil {
			return err
		}
		if data != nil {
			return c.a.sendBytes(q.pc.ID, false, data)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("dimse: %s not sent: %w", commandName(rsp.CommandField), err)
	}
	return nil
}

// post hands run to serve and waits for its outcome.
func (c *scpConn) post(q *queryOp, cont bool, run func() error) error {
	j := &writeJob{q: q, cont: cont, run: run, done: make(chan error, 1)}
	select {
	case c.jobs <- j:
		return <-j.done
	case <-q.gone:
		if q.ctx.Err() != nil {
			return context.Cause(q.ctx)
		}
		return errOperationOver
	}
}

// runJob sends what a handler asked for, if its request still runs (serve only).
func (c *scpConn) runJob(j *writeJob) {
	q := j.q
	var err error
	switch {
	case q != c.qop:
		err = errOperationOver
		if q.ctx.Err() != nil {
			err = context.Cause(q.ctx)
		}
	case !j.cont && q.cancelled:
		err = ErrCancelled
	default:
		if err = j.run(); err != nil && c.a.sta == sta1 {
			// The write failed: the transport is gone (assoc.fire closed it).
			c.log.Warn("send", "command", commandName(q.cmd.CommandField), "err", err)
			if c.ended == "" {
				c.ended = "transport error sending a response"
			}
			c.failOp(err)
		}
	}
	j.done <- err
	c.refreshDeadline()
}

// onResponse routes a response from the peer: only a C-STORE-RSP to the C-GET
// sub-operation we are waiting for is expected.
func (c *scpConn) onResponse(cmd *command, pc acceptedContext) error {
	q := c.qop
	if cmd.CommandField != cmdCStoreRSP || q == nil || q.pending == nil || cmd.MessageIDBeingRespondedTo != q.pending.id {
		return fmt.Errorf("%w: unexpected %s to message %d", errProtocol, commandName(cmd.CommandField), cmd.MessageIDBeingRespondedTo)
	}
	w := q.pending
	q.pending = nil
	w.done <- subResult{rsp: cmd}
	if cmd.HasDataSet {
		// Not allowed for a C-STORE-RSP; read and drop it rather than lose the framing.
		c.op = &operation{cmd: cmd, ctxID: pc.ID, status: &Status{}, silent: true}
	}
	return nil
}

// onQueryDone sends the final response of the request whose handler returned.
func (c *scpConn) onQueryDone(r queryResult) {
	c.flushFind() // the pending responses before the final one
	q := c.qop
	if q == nil {
		return // the write failed: the association is gone
	}
	c.qop = nil
	q.end(errOperationOver)
	if c.killed() {
		c.ended = "server closed"
		c.abortNow(ErrServerClosed)
		return
	}
	st := r.status
	rsp := queryResponse(q, 0)
	var data []byte
	if rr := r.retrieve; rr != nil {
		st = rr.Status
		rsp.SubOps = &subOpCounts{SubOperations: rr.SubOperations}
		if q.cancelled {
			// PS3.4 C.4.2.3.1, C.4.3.3.1: Cancel with the counts, Remaining included.
			rsp.SubOps.HasRemaining = true
		}
		if len(rr.FailedSOPInstanceUIDs) > 0 {
			var err error
			if data, err = failedInstancesIdentifier(q.pc.TransferSyntax, rr.FailedSOPInstanceUIDs); err != nil {
				c.log.Error("encode Failed SOP Instance UID List", "err", err)
				data = nil
			}
		}
	}
	switch {
	case q.cancelled:
		st = Status{Code: StatusCancel}
	case st.Category() == CategoryPending:
		c.log.Error("handler returned a pending status as final", "command", commandName(q.cmd.CommandField), "status", st.String())
		st = Status{Code: StatusCannotUnderstand, ErrorComment: "internal error"}
	}
	rsp.Status, rsp.ErrorComment, rsp.HasDataSet = st.Code, st.ErrorComment, data != nil
	err := c.a.sendBytes(q.pc.ID, true, rsp.encode())
	if err == nil && data != nil {
		err = c.a.sendBytes(q.pc.ID, false, data)
	}
	if err != nil {
		c.log.Warn("send response", "command", commandName(rsp.CommandField), "err", err)
		c.ended = "transport error sending a response"
		return
	}
	attrs := []any{"command", commandName(q.cmd.CommandField), "message_id", q.cmd.MessageID, "sop_class", q.cmd.AffectedSOPClassUID, "status", st.String()}
	if so := rsp.SubOps; so != nil {
		attrs = append(attrs, "completed", so.Completed, "failed", so.Failed, "warning", so.Warning)
	}
	if q.cmd.CommandField == cmdCMoveRQ {
		attrs = append(attrs, "move_destination", q.cmd.MoveDestination)
	}
	c.log.Info("request answered", attrs...)
	c.afterResponse()
}

// maxUIDListBytes bounds the Failed SOP Instance UID List: a UI value's length is a 16-bit
// field in explicit VR (PS3.5 7.1.2), so a longer list cannot be encoded there.
const maxUIDListBytes = 0xFFFE

// failedInstancesIdentifier encodes the identifier of a final C-MOVE/C-GET response: Failed
// SOP Instance UID List (0008,0058) in transfer syntax ts (PS3.4 C.4.2.3.1). A list too long
// for one value is cut at the last UID that fits.
func failedInstancesIdentifier(ts string, uids []string) ([]byte, error) {
	var value strings.Builder
	for _, u := range uids {
		if value.Len()+len(u)+1 > maxUIDListBytes {
			break
		}
		if value.Len() > 0 {
			value.WriteByte('\\')
		}
		value.WriteString(u)
	}
	var buf bytes.Buffer
	enc, err := dicom.NewEncoder(&buf, ts) // deflates itself for Deflated Explicit VR LE
	if err != nil {
		return nil, err
	}
	enc.WriteString(dicom.NewTag(0x0008, 0x0058), "UI", value.String())
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// subStorer is the SubStorer of a C-GET: C-STORE sub-operations on the C-GET's own
// association, on the presentation contexts where the requester took the SCP role.
type subStorer struct {
	c *scpConn
	q *queryOp
}

// subContext finds the accepted context (lowest ID) for sending sopClass in ts to the peer.
// contexts is not changed once the association is established, so handlers may read it.
func (c *scpConn) subContext(sopClass, ts string) (acceptedContext, bool) {
	var best acceptedContext
	found := false
	for _, pc := range c.contexts {
		if pc.PeerSCP && pc.AbstractSyntax == sopClass && pc.TransferSyntax == ts && ts != "" && (!found || pc.ID < best.ID) {
			best, found = pc, true
		}
	}
	return best, found
}

func (s subStorer) CanStore(sopClass, ts string) bool {
	_, ok := s.c.subContext(sopClass, ts)
	return ok
}

// Store sends one C-STORE-RQ sub-operation (PS3.4 C.4.3.3) and waits for its C-STORE-RSP.
// Once its command is sent the sub-operation is carried to the end (a data set cannot be
// cut short in DIMSE): a C-CANCEL-RQ, or ctx ending, stops only the next one.
func (s subStorer) Store(ctx context.Context, sopClass, sopInstance, ts string, data io.Reader) (Status, error) {
	c, q := s.c, s.q
	pc, ok := c.subContext(sopClass, ts)
	if !ok {
		return Status{}, fmt.Errorf("C-STORE %s: %w for %s in %q", sopInstance, ErrNoContext, sopClass, ts)
	}
	if err := dicom.CheckUID(sopInstance, dicom.UIDLeadingZeros); err != nil {
		return Status{}, fmt.Errorf("C-STORE: %w for SOP instance UID %q: %w", ErrNoContext, sopInstance, err)
	}
	q.sendMu.Lock()
	defer q.sendMu.Unlock()
	for _, x := range []context.Context{ctx, q.ctx} {
		if x.Err() != nil {
			return Status{}, fmt.Errorf("C-STORE %s: %w", sopInstance, context.Cause(x))
		}
	}
	w := &subWait{done: make(chan subResult, 1)}
	rq := storeRQ(sopClass, sopInstance, MoveOriginator{})
	err := c.post(q, false, func() error {
		c.subMsgID++
		if c.subMsgID == 0 {
			c.subMsgID = 1
		}
		rq.MessageID, w.id = c.subMsgID, c.subMsgID
		q.pending = w
		return c.a.sendBytes(pc.ID, true, rq.encode())
	})
	if err != nil {
		return Status{}, fmt.Errorf("C-STORE %s: %w", sopInstance, err)
	}
	frag := c.a.fragmentSize()
	if need := pduHeaderLen + pdvHeaderLen + frag; cap(q.frag) < need {
		q.frag = make([]byte, need)
	}
	_, readErr, sendErr := streamPDVs(data, frag,
		func(n int) []byte { return q.frag[:pduHeaderLen+pdvHeaderLen+n] },
		func(buf []byte, last bool) error {
			return c.post(q, true, func() error { return c.a.sendPDV(buf, pc.ID, false, last) })
		},
		func() error { return nil })
	if readErr != nil {
		// The message cannot be completed: the association must go (PS3.7 6.3.1).
		c.post(q, true, func() error {
			c.ended = "aborted: C-GET sub-operation data unreadable"
			c.abortNow(readErr)
			return nil
		})
		return Status{}, fmt.Errorf("C-STORE %s: %w", sopInstance, readErr)
	}
	if sendErr != nil {
		return Status{}, fmt.Errorf("C-STORE %s: %w", sopInstance, sendErr)
	}
	r := <-w.done // serve answers: the response, or the association's end
	if r.err != nil {
		return Status{}, fmt.Errorf("C-STORE %s: %w", sopInstance, r.err)
	}
	return Status{Code: r.rsp.Status, ErrorComment: r.rsp.ErrorComment}, nil
}
