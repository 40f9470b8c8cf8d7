package dimse

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"time"

	"pacsd/dicom"
)

// One association on the SCP side runs three goroutines:
//
//   - serve, the owner: it alone drives the state machine, writes to the connection and
//     sets read deadlines;
//   - readLoop, which reads one PDU at a time into its buffer and hands it to serve, then
//     waits to be told to read the next (the buffer is reused, so the two never overlap);
//   - while an operation runs, its handler: a C-STORE handler reads the data set from a
//     pipe that serve feeds fragment by fragment as the P-DATA-TF PDUs arrive; a C-FIND,
//     C-MOVE or C-GET handler (query.go) hands each message it sends (pending responses,
//     C-GET's C-STORE sub-operations fragment by fragment) to serve as a writeJob.
//
// Because reading is separate from serve, an A-ABORT or a closed connection is noticed
// while a handler is making an object durable, a C-CANCEL-RQ or a sub-operation's
// C-STORE-RSP while a query/retrieve handler runs, and the server's Close and Shutdown
// reach serve through its select loop.

type netEvent struct {
	p   pdu
	err error
}

type readPlan struct {
	// drain: we are in Sta13 and only wait for the peer to close; discard what it sends
	// (PDU framing may already be lost after a malformed PDU).
	drain bool
}

// maxDrain bounds what we read from a peer we have aborted before closing on it.
const maxDrain = 1 << 20

var (
	errHandlerReturned = errors.New("store handler returned before reading the whole data set")
	errShutdown        = errors.New("server shutting down")
	errIdle            = errors.New("idle timeout")
)

type scpConn struct {
	srv    *Server
	a      *assoc
	conn   net.Conn
	id     string
	remote string
	log    *slog.Logger

	// ctx is cancelled when the association is aborted or the server closes; handlers get
	// a child of it.
	ctx    context.Context
	cancel context.CancelFunc

	rx         chan netEvent
	next       chan readPlan
	quit       chan struct{}
	readerDone chan struct{}
	readerBusy bool // released and has not reported back yet

	hardStop <-chan struct{}
	kill     <-chan struct{}

	counted  bool // counted against MaxAssociations
	rq       *associateRQ
	contexts map[byte]acceptedContext
	asm      msgAssembler

	op             *operation
	qop            *queryOp        // the C-FIND/C-MOVE/C-GET whose handler runs (query.go)
	jobs           chan *writeJob  // messages the query handler asks serve to send
	findOut        chan struct{}   // buffered: C-FIND responses are queued (queryOp.out)
	subMsgID       uint16          // Message ID of our last C-STORE sub-operation or N-EVENT-REPORT
	reports        chan *reportJob // N-EVENT-REPORTs an ActionHandler's reporter asks serve to send (naction.go)
	report         *reportWait     // the N-EVENT-REPORT-RQ awaiting its response
	tls            bool
	stash          *netEvent // a PDU that arrived while we owed a response (async window 1)
	abortAfterOp   bool
	releasePending bool
	handlers       sync.WaitGroup

	stored   int
	received int64
	ended    string
}

// operation is the request being served: its data set may still be arriving, its handler
// may still be running.
type operation struct {
	cmd      *command
	ctxID    byte
	pw       *io.PipeWriter // nil when the data set is read and dropped
	result   chan Status    // the handler's answer, buffered; nil for requests we answer ourselves
	status   *Status        // known answer
	dataDone bool           // last data fragment received (or no data set)
	discard  bool           // the handler returned early: drop further fragments
	silent   bool           // C-CANCEL: no response at all
	cancel   context.CancelFunc
	bytes    int64
	// collect: the data set is a C-FIND/C-MOVE/C-GET identifier, gathered in ident (up to
	// Server.MaxIdentifierLength) and handed to the query handler once complete.
	collect bool
	ident   []byte
}

func newSCPConn(s *Server, conn net.Conn, id string) *scpConn {
	ctx, cancel := context.WithCancel(context.Background())
	remote := conn.RemoteAddr().String()
	c := &scpConn{
		srv:        s,
		conn:       conn,
		id:         id,
		remote:     remote,
		log:        s.logger().With("assoc", id, "remote", remote),
		ctx:        ctx,
		cancel:     cancel,
		rx:         make(chan netEvent),
		next:       make(chan readPlan, 1),
		quit:       make(chan struct{}),
		readerDone: make(chan struct{}),
		jobs:       make(chan *writeJob),
		findOut:    make(chan struct{}, 1),
		reports:    make(chan *reportJob),
		hardStop:   s.st.hardStop,
		kill:       s.st.kill,
	}
	c.a = &assoc{
		conn:         conn,
		sta:          sta1,
		log:          c.log,
		artim:        s.artimTimeout(),
		writeTimeout: s.idleTimeout(),
	}
	c.a.providerCheck = c.providerCheck
	_, c.tls = conn.(*tls.Conn)
	return c
}

func (c *scpConn) serve() {
	defer c.finish()
	go c.readLoop()
	if _, err := c.a.fire(evt5, nil, nil); err != nil { // AE-5: Sta2, ARTIM started
		c.log.Error("upper layer", "err", err)
		return
	}
	c.releaseReader()
	for c.a.sta != sta1 {
		if c.kill != nil && c.killed() {
			c.onKill() // Close wins over anything else that is ready at the same time
			continue
		}
		var opDone <-chan Status
		if c.op != nil && c.op.status == nil {
			opDone = c.op.result
		}
		var queryDone <-chan queryResult
		if c.qop != nil {
			queryDone = c.qop.result
		}
		select {
		case ev := <-c.rx:
			c.readerBusy = false
			c.onNet(ev)
		case st := <-opDone:
			c.onHandlerDone(st)
		case r := <-queryDone:
			c.onQueryDone(r)
		case j := <-c.jobs:
			c.runJob(j)
		case <-c.findOut:
			c.flushFind()
		case j := <-c.reportsWhenIdle():
			c.runReport(j)
		case <-c.hardStop:
			c.hardStop = nil
			c.onHardStop()
		case <-c.kill:
			c.onKill()
		}
	}
}

// onKill: Close aborts at once, whatever runs.
func (c *scpConn) onKill() {
	c.kill, c.hardStop = nil, nil
	c.ended = "server closed"
	c.abortNow(ErrServerClosed)
}

// killed reports whether the server was closed.
func (c *scpConn) killed() bool {
	select {
	case <-c.srv.st.kill:
		return true
	default:
		return false
	}
}

func (c *scpConn) finish() {
	c.a.closeTransport()
	close(c.quit)
	<-c.readerDone
	c.failOp(ErrServerClosed)
	c.cancel()
	c.handlers.Wait()
	c.srv.forget(c)
	if c.rq != nil {
		c.log.Info("association ended", "how", c.ended, "stored", c.stored, "bytes", c.received)
	} else {
		c.log.Debug("connection ended", "how", c.ended)
	}
}

func (c *scpConn) readLoop() {
	defer close(c.readerDone)
	rd := &pduReader{r: bufio.NewReaderSize(c.conn, 16<<10), maxPData: c.srv.maxPDU()}
	for {
		var plan readPlan
		select {
		case plan = <-c.next:
		case <-c.quit:
			return
		}
		var ev netEvent
		if plan.drain {
			ev.err = drain(rd.r)
		} else {
			ev.p, ev.err = rd.read()
		}
		select {
		case c.rx <- ev:
		case <-c.quit:
			return
		}
	}
}

// drain discards what a peer we are done with still sends, until it closes (PS3.8 Sta13).
func drain(r io.Reader) error {
	n, err := io.Copy(io.Discard, io.LimitReader(r, maxDrain))
	switch {
	case err != nil:
		return err
	case n == maxDrain:
		return errors.New("peer kept sending after the association ended")
	}
	return io.EOF
}

// readDeadline is when the read now starting must have produced a PDU: the ARTIM timer
// while it runs (PS3.8 9.1.5), none while the peer is waiting for our response (a handler
// making an object durable, or searching, is not the peer being idle), else the idle
// timeout, which also bounds the wait for a C-GET sub-operation's C-STORE-RSP.
func (c *scpConn) readDeadline() time.Time {
	switch {
	case c.a.artimOn:
		return c.a.artimDeadline
	case c.op != nil && c.op.dataDone:
		return time.Time{}
	case c.qop != nil && c.qop.pending == nil:
		return time.Time{}
	}
	return time.Now().Add(c.srv.idleTimeout())
}

// releaseReader lets readLoop read the next PDU, unless one is already being read or
// stashed, or the association is gone.
func (c *scpConn) releaseReader() {
	if c.a.sta == sta1 || c.readerBusy || c.stash != nil {
		return
	}
	c.conn.SetReadDeadline(c.readDeadline())
	c.readerBusy = true
	c.next <- readPlan{drain: c.a.sta == sta13}
}

// refreshDeadline moves the deadline of a read in progress after our own state changed.
func (c *scpConn) refreshDeadline() {
	if c.readerBusy {
		c.conn.SetReadDeadline(c.readDeadline())
	}
}

func (c *scpConn) onNet(ev netEvent) {
	if ev.err == nil && ev.p.pduType() == pduPDataTF && c.op != nil && c.op.dataDone {
		// The peer sent more before our response; we negotiated one outstanding
		// operation (PS3.7 D.3.3.3), so it waits, and so does the reader.
		c.stash = &ev
		return
	}
	evt, cause := c.classify(ev)
	if evt != 0 {
		ind, err := c.a.fire(evt, ev.p, cause)
		if err != nil {
			c.log.Warn("upper layer", "err", err)
			if c.ended == "" {
				c.ended = "transport error"
			}
		}
		c.onIndication(ind, ev.p, cause)
	}
	c.releaseReader()
}

// classify maps what the reader saw to a state machine event (PS3.8 Table 9-10).
func (c *scpConn) classify(ev netEvent) (event, error) {
	if ev.err != nil {
		var ne net.Error
		switch {
		case errors.Is(ev.err, errMalformedPDU):
			c.log.Warn("malformed PDU", "err", ev.err)
			c.ended = "aborted: malformed PDU"
			return evt19, ev.err
		case errors.As(ev.err, &ne) && ne.Timeout():
			if c.a.artimOn {
				if c.ended == "" {
					c.ended = "ARTIM timeout"
				}
				return evt18, nil
			}
			c.log.Info("idle timeout: aborting association", "idle", c.srv.idleTimeout())
			c.ended = "aborted: idle timeout"
			c.abortNow(errIdle)
			return 0, nil
		}
		if c.ended == "" {
			if errors.Is(ev.err, io.EOF) {
				c.ended = "peer closed the connection"
			} else {
				c.ended = "transport error: " + ev.err.Error()
			}
		}
		return evt17, nil
	}
	e, err := pduEvent(ev.p, func(id byte) bool {
		// Before negotiation (contexts nil) no PDV is valid anyway; the state table rejects it.
		_, ok := c.contexts[id]
		return c.contexts == nil || ok
	})
	if err != nil && ev.p.pduType() == pduPDataTF {
		c.log.Warn("invalid P-DATA-TF", "err", err)
		c.ended = "aborted: PDV on unknown presentation context"
	}
	return e, err
}

func (c *scpConn) onIndication(ind indication, p pdu, cause error) {
	switch ind {
	case indAssociate:
		c.onAssociate(c.a.rq)
	case indProviderReject:
		rj := c.a.rj
		c.log.Info("association rejected", "calling_ae", c.a.rq.CallingAETitle, "called_ae", c.a.rq.CalledAETitle,
			"reason", rejectReasonName(rj.Source, rj.Reason))
		c.ended = "rejected"
	case indData:
		c.onPData(p.(*pDataTF))
	case indRelease:
		c.onRelease()
	case indAbort:
		ab := c.a.peerAbort
		c.log.Info("association aborted by peer", "source", ab.Source, "reason", ab.Reason)
		c.ended = "aborted by peer"
		c.failOp(&AbortError{Source: ab.Source, Reason: ab.Reason})
	case indPAbort:
		if c.ended == "" {
			c.ended = "aborted"
		}
		if cause == nil {
			cause = errors.New("connection lost")
		}
		c.failOp(cause)
	case indClosed:
		c.failOp(errors.New("connection closed"))
	}
}

// providerCheck is the service provider's part of AE-6 (PS3.8 9.3.4 reasons with source 2
// and 3).
func (c *scpConn) providerCheck(rq *associateRQ) *associateRJ {
	if rq.ProtocolVersion&1 == 0 { // PS3.8 9.3.2: bit 0 is version 1, the only one
		return &associateRJ{Result: rjResultPermanent, Source: rjSourceACSE, Reason: rjReasonProtocolVersionNotSupp}
	}
	ok, closing := c.srv.admit()
	switch {
	case closing:
		return &associateRJ{Result: rjResultTransient, Source: rjSourcePresentation, Reason: rjReasonTemporaryCongestion}
	case !ok:
		return &associateRJ{Result: rjResultTransient, Source: rjSourcePresentation, Reason: rjReasonLocalLimitExceeded}
	}
	c.counted = true
	return nil
}

func (c *scpConn) onAssociate(rq *associateRQ) {
	c.rq = rq
	c.log = c.log.With("calling_ae", rq.CallingAETitle)
	c.a.log = c.log
	info := AssociationInfo{AssociationID: c.id, CallingAETitle: rq.CallingAETitle, CalledAETitle: rq.CalledAETitle, RemoteAddr: c.remote, TLS: c.tls}
	n := c.safeNegotiate(rq, info)
	if n.rj != nil {
		c.log.Info("association rejected", "called_ae", rq.CalledAETitle, "reason", rejectReasonName(n.rj.Source, n.rj.Reason))
		c.ended = "rejected"
		if _, err := c.a.fire(evt8, n.rj, nil); err != nil {
			c.log.Warn("send A-ASSOCIATE-RJ", "err", err)
		}
		return
	}
	c.contexts = n.contexts
	c.a.peerMax = rq.UserInfo.MaxLength
	if _, err := c.a.fire(evt7, n.ac, nil); err != nil {
		c.log.Warn("send A-ASSOCIATE-AC", "err", err)
		return
	}
	c.log.Info("association accepted", "called_ae", rq.CalledAETitle, "proposed", len(rq.Contexts),
		"accepted", len(n.contexts), "peer_max_pdu", rq.UserInfo.MaxLength, "peer_impl", rq.UserInfo.ImplementationVersionName)
}

// safeNegotiate runs negotiate, whose Accept callback is the embedder's code: a panic there
// rejects this association instead of taking the server down.
func (c *scpConn) safeNegotiate(rq *associateRQ, info AssociationInfo) (n negotiation) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("association acceptance panicked", "panic", r, "stack", string(debug.Stack()))
			n = negotiation{rj: &associateRJ{Result: rjResultTransient, Source: rjSourceUser, Reason: rjReasonNoReason}}
		}
	}()
	return c.srv.negotiate(rq, info)
}

func (c *scpConn) onPData(p *pDataTF) {
	for _, v := range p.PDVs {
		var err error
		if v.Command {
			err = c.onCommandFragment(v)
		} else {
			err = c.onDataFragment(v)
		}
		if err != nil {
			c.protocolAbort(err)
			return
		}
		if c.a.sta != sta6 {
			return
		}
	}
}

func (c *scpConn) onCommandFragment(v pdv) error {
	if c.op != nil {
		return fmt.Errorf("%w: command fragment while message %d is outstanding", errProtocol, c.op.cmd.MessageID)
	}
	cmd, err := c.asm.addCommand(v)
	if err != nil || cmd == nil {
		return err
	}
	return c.onCommand(cmd, c.contexts[v.ContextID])
}

// onCommand dispatches a complete command set (PS3.7 9.3, 10.3).
func (c *scpConn) onCommand(cmd *command, pc acceptedContext) error {
	if cmd.isResponse() {
		if cmd.CommandField == cmdNEventReportRSP {
			return c.onEventReportRSP(cmd, pc)
		}
		return c.onResponse(cmd, pc)
	}
	if c.qop != nil && cmd.CommandField != cmdCCancelRQ {
		// PS3.7 D.3.3.3: we perform one operation at a time, and the peer is waiting for
		// the final response of the running one.
		return fmt.Errorf("%w: %s while message %d is outstanding", errProtocol, commandName(cmd.CommandField), c.qop.cmd.MessageID)
	}
	switch cmd.CommandField {
	case cmdCEchoRQ:
		st := Status{Code: StatusSuccess}
		if pc.AbstractSyntax != dicom.VerificationSOPClass || cmd.AffectedSOPClassUID != dicom.VerificationSOPClass {
			st = Status{Code: StatusSOPClassNotSupported, ErrorComment: "C-ECHO outside the Verification SOP class"}
		}
		return c.answerAfterData(cmd, pc, st)
	case cmdCStoreRQ:
		return c.startStore(cmd, pc)
	case cmdCFindRQ, cmdCMoveRQ, cmdCGetRQ:
		return c.startQueryRQ(cmd, pc)
	case cmdNActionRQ:
		return c.startActionRQ(cmd, pc)
	case cmdCCancelRQ:
		// PS3.7 9.3.2.3, 9.3.3.3, 9.3.4.3: C-CANCEL has no response; it names the request
		// by Message ID Being Responded To. One for a request already answered, or never
		// made, is ignored.
		if q := c.qop; q != nil && cmd.MessageIDBeingRespondedTo == q.cmd.MessageID && !q.cancelled {
			c.log.Info("C-CANCEL-RQ", "command", commandName(q.cmd.CommandField), "message_id", q.cmd.MessageID)
			q.cancelled = true
			q.cancel(ErrCancelled)
		} else {
			c.log.Debug("C-CANCEL-RQ ignored", "message_id", cmd.MessageIDBeingRespondedTo)
		}
		if cmd.HasDataSet {
			c.op = &operation{cmd: cmd, ctxID: pc.ID, status: &Status{}, silent: true}
		}
		return nil
	default:
		c.log.Info("unsupported DIMSE operation", "command", commandName(cmd.CommandField), "sop_class", cmd.AffectedSOPClassUID+cmd.RequestedSOPClassUID)
		return c.answerAfterData(cmd, pc, Status{Code: StatusUnrecognizedOperation, ErrorComment: "operation not supported by pacsd"})
	}
}

// answerAfterData sends st for cmd, after reading and dropping its data set if it has one:
// the response may only follow the complete request.
func (c *scpConn) answerAfterData(cmd *command, pc acceptedContext, st Status) error {
	c.op = &operation{cmd: cmd, ctxID: pc.ID, status: &st, dataDone: !cmd.HasDataSet}
	if c.op.dataDone {
		c.completeOp()
	}
	return nil
}

func (c *scpConn) startStore(cmd *command, pc acceptedContext) error {
	var refuse *Status
	switch {
	case cmd.AffectedSOPClassUID != pc.AbstractSyntax:
		// PS3.7 9.1.1.1: the SOP class is that of the presentation context.
		refuse = &Status{Code: StatusSOPClassNotSupported, ErrorComment: "SOP class differs from the presentation context"}
	case cmd.AffectedSOPInstanceUID == "":
		refuse = &Status{Code: StatusCannotUnderstand, ErrorComment: "no Affected SOP Instance UID"}
	case !cmd.HasDataSet:
		refuse = &Status{Code: StatusCannotUnderstand, ErrorComment: "C-STORE-RQ without a data set"}
	case !pc.PeerSCU:
		// PS3.7 D.3.3.4: the requestor declined the SCU role for this class.
		refuse = &Status{Code: StatusSOPClassNotSupported, ErrorComment: "SCU role not negotiated for the SOP class"}
	}
	if refuse != nil {
		c.log.Warn("C-STORE refused", "sop_instance_uid", cmd.AffectedSOPInstanceUID, "status", refuse.String())
		return c.answerAfterData(cmd, pc, *refuse)
	}
	req := &StoreRequest{
		AssociationID:           c.id,
		CallingAETitle:          c.rq.CallingAETitle,
		CalledAETitle:           c.rq.CalledAETitle,
		RemoteAddr:              c.remote,
		MessageID:               cmd.MessageID,
		Priority:                cmd.Priority,
		SOPClassUID:             cmd.AffectedSOPClassUID,
		SOPInstanceUID:          cmd.AffectedSOPInstanceUID,
		TransferSyntaxUID:       pc.TransferSyntax,
		MoveOriginatorAETitle:   cmd.MoveOriginatorAETitle,
		MoveOriginatorMessageID: cmd.MoveOriginatorMessageID,
	}
	pr, pw := io.Pipe()
	// Handlers get a context of their own: Shutdown does not cancel it (the object must be
	// allowed to become durable), abort and Close do.
	hctx, cancel := context.WithCancel(c.ctx)
	op := &operation{cmd: cmd, ctxID: pc.ID, pw: pw, result: make(chan Status, 1), cancel: cancel}
	c.op = op
	c.handlers.Add(1)
	go func() {
		defer c.handlers.Done()
		st := c.callHandler(hctx, req, pr)
		pr.CloseWithError(errHandlerReturned)
		op.result <- st
	}()
	return nil
}

func (c *scpConn) callHandler(ctx context.Context, req *StoreRequest, data io.Reader) (st Status) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("store handler panicked", "sop_instance_uid", req.SOPInstanceUID, "panic", r, "stack", string(debug.Stack()))
			st = Status{Code: StatusProcessingFailure, ErrorComment: "internal error"}
		}
	}()
	if c.srv.Store == nil {
		return Status{Code: StatusSOPClassNotSupported}
	}
	return c.srv.Store.HandleStore(ctx, req, data)
}

func (c *scpConn) onDataFragment(v pdv) error {
	op := c.op
	switch {
	case op == nil || op.dataDone:
		return fmt.Errorf("%w: data fragment without a command announcing a data set", errProtocol)
	case v.ContextID != op.ctxID:
		return fmt.Errorf("%w: data set on presentation context %d, command on %d", errProtocol, v.ContextID, op.ctxID)
	}
	op.bytes += int64(len(v.Data))
	c.received += int64(len(v.Data))
	if op.collect && !op.discard {
		if len(op.ident)+len(v.Data) > c.srv.maxIdentifierLength() {
			// Refused without being held: the rest is dropped as it arrives.
			c.log.Warn("identifier too long: refused", "command", commandName(op.cmd.CommandField), "limit", c.srv.maxIdentifierLength())
			op.discard, op.ident = true, nil
			op.status = &Status{Code: StatusDataSetMismatch, ErrorComment: "identifier too long"}
		} else {
			op.ident = append(op.ident, v.Data...)
		}
	}
	if op.pw != nil && !op.discard && len(v.Data) > 0 {
		if _, err := op.pw.Write(v.Data); err != nil {
			// The handler returned early; keep reading to the end of the message so the
			// association stays usable, and answer with its status then.
			op.discard = true
		}
	}
	if !v.Last {
		return nil
	}
	op.dataDone = true
	if op.collect && op.status == nil {
		c.op = nil
		c.startCollected(op.cmd, c.contexts[op.ctxID], op.ident)
		return nil
	}
	if op.pw != nil {
		op.pw.Close()
	}
	if op.status == nil && op.result != nil {
		select {
		case st := <-op.result:
			op.status = &st
		default:
		}
	}
	if op.status != nil {
		c.completeOp()
	}
	return nil
}

func (c *scpConn) onHandlerDone(st Status) {
	c.op.status = &st
	if c.op.dataDone {
		c.completeOp()
	}
	// Otherwise the handler returned before the data set ended: the rest is dropped as it
	// arrives and the response goes out after its last fragment.
	c.releaseReader()
}

// completeOp sends the response of the finished operation, then does what waited for it:
// a shutdown abort, a pending release, a stashed request.
func (c *scpConn) completeOp() {
	op := c.op
	c.op = nil
	if op.cancel != nil {
		op.cancel()
	}
	if c.killed() {
		// Close means abort now: no response, even if the handler finished meanwhile.
		c.ended = "server closed"
		c.abortNow(ErrServerClosed)
		return
	}
	if !op.silent {
		if !c.respond(op) {
			return
		}
	}
	c.afterResponse()
}

// afterResponse does what waited for the response of the running operation: a shutdown
// abort, a pending release, a stashed request.
func (c *scpConn) afterResponse() {
	switch {
	case c.abortAfterOp:
		c.ended = "aborted: shutdown"
		c.abortNow(errShutdown)
		return
	case c.releasePending:
		c.releasePending = false
		c.release()
	}
	c.refreshDeadline()
	if c.stash != nil {
		ev := *c.stash
		c.stash = nil
		c.onNet(ev)
	}
}

// respond sends the response to op; false when the association is gone.
func (c *scpConn) respond(op *operation) bool {
	st := *op.status
	rsp := &command{
		CommandField:              op.cmd.CommandField | cmdResponseBit,
		MessageIDBeingRespondedTo: op.cmd.MessageID,
		AffectedSOPClassUID:       op.cmd.AffectedSOPClassUID,
		AffectedSOPInstanceUID:    op.cmd.AffectedSOPInstanceUID,
		Status:                    st.Code,
		ErrorComment:              st.ErrorComment,
	}
	if rsp.AffectedSOPClassUID == "" {
		rsp.AffectedSOPClassUID = op.cmd.RequestedSOPClassUID
	}
	if rsp.AffectedSOPInstanceUID == "" {
		rsp.AffectedSOPInstanceUID = op.cmd.RequestedSOPInstanceUID
	}
	switch op.cmd.CommandField {
	case cmdCMoveRQ, cmdCGetRQ:
		rsp.SubOps = &subOpCounts{} // PS3.7 9.3.3.2, 9.3.4.2: refused before any sub-operation
	case cmdNActionRQ:
		rsp.ActionTypeID = op.cmd.ActionTypeID // PS3.7 10.3.4.2
	}
	if err := c.a.sendBytes(op.ctxID, true, rsp.encode()); err != nil {
		c.log.Warn("send response", "command", commandName(rsp.CommandField), "err", err)
		c.ended = "transport error sending a response"
		return false
	}
	if op.cmd.CommandField == cmdCStoreRQ {
		if st.OK() {
			c.stored++
		}
		// The object's own log line is the store handler's (the archive writes one per
		// object); this is the protocol's record of the response.
		c.log.Debug("C-STORE-RSP sent", "sop_instance_uid", op.cmd.AffectedSOPInstanceUID, "status", st.String(), "bytes", op.bytes)
	}
	return true
}

func (c *scpConn) onRelease() {
	// A requester that releases cannot answer our N-EVENT-REPORT-RQ any more (it sends no
	// P-DATA in Sta7): the report goes on a new association.
	c.failReport(errReleased)
	if q := c.qop; q != nil {
		// The peer released without waiting for the final response. It can no longer send
		// (a P-DATA-TF in Sta8 aborts), so stop the handler and a sub-operation awaiting its
		// C-STORE-RSP; the final response still goes out (AR-7), then A-RELEASE-RP.
		c.log.Warn("A-RELEASE-RQ while a request is outstanding", "command", commandName(q.cmd.CommandField), "message_id", q.cmd.MessageID)
		q.cancel(errReleased)
		q.failPending(errReleased)
		c.releasePending = true
		return
	}
	if c.op != nil {
		if !c.op.dataDone {
			c.protocolAbort(fmt.Errorf("%w: A-RELEASE-RQ in the middle of a data set", errProtocol))
			return
		}
		// PS3.8 Sta8 still allows P-DATA (AR-7): answer the running operation, then release.
		c.releasePending = true
		return
	}
	c.release()
}

func (c *scpConn) release() {
	c.ended = "released"
	if _, err := c.a.fire(evt14, nil, nil); err != nil { // AR-4: A-RELEASE-RP, ARTIM
		c.log.Warn("send A-RELEASE-RP", "err", err)
	}
}

// onHardStop: Shutdown's grace period is over.
func (c *scpConn) onHardStop() {
	if c.op != nil && c.op.dataDone && c.op.result != nil && c.op.status == nil {
		c.log.Info("shutdown: aborting once the running C-STORE is answered")
		c.abortAfterOp = true
		return
	}
	if c.qop != nil && c.op == nil {
		c.log.Info("shutdown: aborting once the running request is answered", "command", commandName(c.qop.cmd.CommandField))
		c.abortAfterOp = true
		return
	}
	c.ended = "aborted: shutdown"
	c.abortNow(errShutdown)
}

// protocolAbort aborts after a DIMSE-level violation (A-ABORT request primitive, Evt15).
func (c *scpConn) protocolAbort(err error) {
	c.log.Warn("aborting association", "err", err)
	c.ended = "aborted: protocol error"
	c.failOp(err)
	if _, ferr := c.a.fire(evt15, &abortPDU{Source: abortSourceUser, Reason: abortReasonNotSpecified}, err); ferr != nil {
		c.log.Debug("send A-ABORT", "err", ferr)
	}
}

// abortNow aborts and closes at once. We do not wait in Sta13 for the peer to close:
// firing Evt18 is the ARTIM timer expiring immediately, which PS3.8 9.1.5 leaves to us.
func (c *scpConn) abortNow(cause error) {
	c.failOp(cause)
	switch c.a.sta {
	case sta1:
		return
	case sta2, sta13:
	default:
		if _, err := c.a.fire(evt15, &abortPDU{Source: abortSourceUser, Reason: abortReasonNotSpecified}, cause); err != nil {
			c.log.Debug("send A-ABORT", "err", err)
		}
	}
	if c.a.sta != sta1 {
		if _, err := c.a.fire(evt18, nil, cause); err != nil {
			c.log.Debug("close", "err", err)
		}
	}
}

// failOp ends the running operation without a response: its handler's context is cancelled
// and its data stream fails. serve waits for the handler in finish.
func (c *scpConn) failOp(cause error) {
	c.stash = nil
	c.failReport(cause)
	if q := c.qop; q != nil {
		c.qop = nil
		q.end(fmt.Errorf("association aborted: %w", cause))
	}
	op := c.op
	if op == nil {
		return
	}
	c.op = nil
	if op.cancel != nil {
		op.cancel()
	}
	if op.pw != nil {
		op.pw.CloseWithError(fmt.Errorf("association aborted: %w", cause))
	}
}
