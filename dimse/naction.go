package dimse

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
)

// The DIMSE-N services pacsd performs (PS3.7 10): N-ACTION as SCP, and N-EVENT-REPORT as
// the invoker, for the Storage Commitment Push Model (PS3.4 J.3). The SCP of an N-ACTION
// answers it at once (its handler returns the N-ACTION-RSP status) and reports the outcome
// later in an N-EVENT-REPORT-RQ: on the same association while the requester keeps it
// open (serve sends it when no other operation runs, and routes the N-EVENT-REPORT-RSP
// back), else on a new association (Client.EventReport).

// ErrAssociationGone is returned by an association's EventReporter once the association
// is released, aborted or closed: the report must go on a new association.
var ErrAssociationGone = errors.New("dimse: the association is over")

// ActionRequest is an N-ACTION-RQ (PS3.7 10.1.4) and the association it came on.
type ActionRequest struct {
	AssociationID  string
	CallingAETitle string
	CalledAETitle  string
	RemoteAddr     string
	TLS            bool
	MessageID      uint16
	SOPClassUID    string // Requested SOP Class UID (that of the presentation context)
	SOPInstanceUID string // Requested SOP Instance UID
	ActionTypeID   uint16
	// TransferSyntaxUID is that of the presentation context, in which ActionInformation
	// is encoded, and so must be every N-EVENT-REPORT sent back on the association.
	TransferSyntaxUID string
	// ActionInformation is the data set as received (bounded by
	// Server.MaxIdentifierLength); nil when the request had none.
	ActionInformation []byte
}

// ActionHandler performs N-ACTION requests (every SOP class in Server.ActionSOPClasses).
// HandleAction runs in its own goroutine; its status goes into the N-ACTION-RSP (no Action
// Reply), sent once it returns, so it should return quickly and do long work afterwards.
// reports sends N-EVENT-REPORT-RQs to the requester on this association, on the N-ACTION's
// presentation context; it stays usable after HandleAction returned, until the association
// ends (then ErrAssociationGone). ctx ends with the association. A panic becomes 0x0110.
type ActionHandler interface {
	HandleAction(ctx context.Context, req *ActionRequest, reports EventReporter) Status
}

// ActionHandlerFunc adapts a function to ActionHandler.
type ActionHandlerFunc func(ctx context.Context, req *ActionRequest, reports EventReporter) Status

func (f ActionHandlerFunc) HandleAction(ctx context.Context, req *ActionRequest, reports EventReporter) Status {
	return f(ctx, req, reports)
}

// EventReport is an N-EVENT-REPORT-RQ to send (PS3.7 10.1.1).
type EventReport struct {
	SOPClassUID    string // Affected SOP Class UID
	SOPInstanceUID string // Affected SOP Instance UID
	EventTypeID    uint16
	// Encode returns the Event Information data set in transfer syntax ts (that of the
	// presentation context the report goes on); nil Encode: no data set.
	Encode func(ts string) ([]byte, error)
}

// EventReporter sends an N-EVENT-REPORT-RQ and waits for its N-EVENT-REPORT-RSP. The
// reporter of an association (ActionHandler) and *Client are EventReporters.
type EventReporter interface {
	EventReport(ctx context.Context, ev EventReport) (Status, error)
}

// reportJob is an N-EVENT-REPORT-RQ a reporter hands to serve.
type reportJob struct {
	ctxID byte
	cmd   *command
	data  []byte
	done  chan reportResult // buffered
}

// reportWait is the N-EVENT-REPORT-RQ awaiting its response (owned by serve).
type reportWait struct {
	id   uint16
	done chan reportResult
}

type reportResult struct {
	st  Status
	err error
}

// startActionRQ begins an N-ACTION-RQ: its Action Information is gathered next (like an
// identifier), unless the request is refused.
func (c *scpConn) startActionRQ(cmd *command, pc acceptedContext) error {
	var refuse *Status
	switch {
	case c.srv.Action == nil || !slices.Contains(c.srv.ActionSOPClasses, pc.AbstractSyntax):
		refuse = &Status{Code: StatusUnrecognizedOperation, ErrorComment: "operation not supported by pacsd"}
	case !pc.PeerSCU:
		refuse = &Status{Code: StatusSOPClassNotSupported, ErrorComment: "SCU role not negotiated for the SOP class"}
	case cmd.RequestedSOPClassUID != pc.AbstractSyntax:
		// PS3.7 10.1.4.1.2: the SOP class is that of the presentation context.
		refuse = &Status{Code: StatusSOPClassNotSupported, ErrorComment: "SOP class differs from the presentation context"}
	case cmd.RequestedSOPInstanceUID == "":
		refuse = &Status{Code: StatusCannotUnderstand, ErrorComment: "no Requested SOP Instance UID"}
	}
	if refuse != nil {
		c.log.Warn("N-ACTION refused", "sop_class", cmd.RequestedSOPClassUID, "status", refuse.String())
		return c.answerAfterData(cmd, pc, *refuse)
	}
	if !cmd.HasDataSet {
		c.startAction(cmd, pc, nil)
		return nil
	}
	c.op = &operation{cmd: cmd, ctxID: pc.ID, collect: true}
	return nil
}

// startCollected runs the handler of a request whose data set (identifier, Action
// Information) is complete.
func (c *scpConn) startCollected(cmd *command, pc acceptedContext, data []byte) {
	if cmd.CommandField == cmdNActionRQ {
		c.startAction(cmd, pc, data)
		return
	}
	c.startQuery(cmd, pc, data)
}

// startAction runs the ActionHandler; serve answers with its status (onHandlerDone).
func (c *scpConn) startAction(cmd *command, pc acceptedContext, data []byte) {
	req := &ActionRequest{
		AssociationID:     c.id,
		CallingAETitle:    c.rq.CallingAETitle,
		CalledAETitle:     c.rq.CalledAETitle,
		RemoteAddr:        c.remote,
		TLS:               c.tls,
		MessageID:         cmd.MessageID,
		SOPClassUID:       cmd.RequestedSOPClassUID,
		SOPInstanceUID:    cmd.RequestedSOPInstanceUID,
		ActionTypeID:      cmd.ActionTypeID,
		TransferSyntaxUID: pc.TransferSyntax,
		ActionInformation: data,
	}
	hctx, cancel := context.WithCancel(c.ctx)
	op := &operation{cmd: cmd, ctxID: pc.ID, result: make(chan Status, 1), cancel: cancel, dataDone: true}
	c.op = op
	rep := assocReporter{c: c, ctxID: pc.ID, ts: pc.TransferSyntax}
	c.handlers.Add(1)
	go func() {
		defer c.handlers.Done()
		op.result <- c.callAction(hctx, req, rep)
	}()
	c.refreshDeadline()
}

func (c *scpConn) callAction(ctx context.Context, req *ActionRequest, rep EventReporter) (st Status) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("action handler panicked", "sop_class", req.SOPClassUID, "panic", r, "stack", string(debug.Stack()))
			st = Status{Code: StatusProcessingFailure, ErrorComment: "internal error"}
		}
	}()
	return c.srv.Action.HandleAction(ctx, req, rep)
}

// assocReporter is the EventReporter of one association: reports go on the presentation
// context ctxID through serve.
type assocReporter struct {
	c     *scpConn
	ctxID byte
	ts    string
}

func (r assocReporter) EventReport(ctx context.Context, ev EventReport) (Status, error) {
	rq := &command{CommandField: cmdNEventReportRQ, AffectedSOPClassUID: ev.SOPClassUID,
		AffectedSOPInstanceUID: ev.SOPInstanceUID, EventTypeID: ev.EventTypeID}
	var data []byte
	if ev.Encode != nil {
		var err error
		if data, err = ev.Encode(r.ts); err != nil {
			return Status{}, fmt.Errorf("N-EVENT-REPORT: event information: %w", err)
		}
		rq.HasDataSet = true
	}
	j := &reportJob{ctxID: r.ctxID, cmd: rq, data: data, done: make(chan reportResult, 1)}
	select {
	case r.c.reports <- j:
	case <-r.c.quit:
		return Status{}, fmt.Errorf("N-EVENT-REPORT: %w", ErrAssociationGone)
	case <-ctx.Done():
		return Status{}, fmt.Errorf("N-EVENT-REPORT: %w", ctx.Err())
	}
	select {
	case res := <-j.done:
		if res.err != nil {
			return Status{}, fmt.Errorf("N-EVENT-REPORT: %w", res.err)
		}
		return res.st, nil
	case <-ctx.Done():
		// serve still owns the wait; it is failed when the association ends.
		return Status{}, fmt.Errorf("N-EVENT-REPORT: %w", ctx.Err())
	}
}

// reportsWhenIdle is serve's channel of reports to take, or nil while the association is
// busy: a report goes out only between operations (we perform one at a time, PS3.7
// D.3.3.3). Once the association is ending (released, aborted) reports are taken to be
// refused at once rather than wait for the connection to close.
func (c *scpConn) reportsWhenIdle() chan *reportJob {
	switch {
	case c.contexts == nil: // not associated yet: no reporter exists
		return nil
	case c.ending():
		return c.reports
	case c.op != nil || c.qop != nil || c.report != nil || c.stash != nil:
		return nil
	}
	return c.reports
}

func (c *scpConn) ending() bool { return c.a.sta != sta6 || c.releasePending }

// runReport sends an N-EVENT-REPORT-RQ (serve only) and waits for its response.
func (c *scpConn) runReport(j *reportJob) {
	if c.ending() {
		j.done <- reportResult{err: ErrAssociationGone}
		return
	}
	c.subMsgID++
	if c.subMsgID == 0 {
		c.subMsgID = 1
	}
	j.cmd.MessageID = c.subMsgID
	err := c.a.sendBytes(j.ctxID, true, j.cmd.encode())
	if err == nil && j.cmd.HasDataSet {
		err = c.a.sendBytes(j.ctxID, false, j.data)
	}
	if err != nil {
		c.log.Warn("send N-EVENT-REPORT-RQ", "err", err)
		if c.ended == "" {
			c.ended = "transport error sending a request"
		}
		j.done <- reportResult{err: fmt.Errorf("%w: %w", ErrAssociationGone, err)}
		if c.a.sta == sta1 {
			c.failOp(err)
		}
		return
	}
	c.log.Debug("N-EVENT-REPORT-RQ sent", "message_id", j.cmd.MessageID, "event_type", j.cmd.EventTypeID)
	c.report = &reportWait{id: j.cmd.MessageID, done: j.done}
	c.refreshDeadline()
}

// onEventReportRSP routes the response to our N-EVENT-REPORT-RQ.
func (c *scpConn) onEventReportRSP(cmd *command, pc acceptedContext) error {
	w := c.report
	if w == nil || cmd.MessageIDBeingRespondedTo != w.id {
		return fmt.Errorf("%w: unexpected %s to message %d", errProtocol, commandName(cmd.CommandField), cmd.MessageIDBeingRespondedTo)
	}
	c.report = nil
	w.done <- reportResult{st: Status{Code: cmd.Status, ErrorComment: cmd.ErrorComment}}
	if cmd.HasDataSet {
		// An Event Reply we do not use: read and drop it.
		c.op = &operation{cmd: cmd, ctxID: pc.ID, status: &Status{}, silent: true}
	}
	return nil
}

// failReport fails the report awaiting its response: the association is ending.
func (c *scpConn) failReport(cause error) {
	if w := c.report; w != nil {
		c.report = nil
		w.done <- reportResult{err: fmt.Errorf("%w: %w", ErrAssociationGone, cause)}
	}
}

var _ EventReporter = (*Client)(nil)

// EventReport sends an N-EVENT-REPORT-RQ (PS3.7 10.3.1) on an accepted presentation
// context of ev.SOPClassUID (ErrNoContext when there is none) and returns the
// N-EVENT-REPORT-RSP status.
func (c *Client) EventReport(ctx context.Context, ev EventReport) (Status, error) {
	c.mu.Lock()
	pc, ok := c.find(ev.SOPClassUID, "") // contexts do not change once associated
	c.mu.Unlock()
	if !ok {
		return Status{}, fmt.Errorf("N-EVENT-REPORT: %w for %s", ErrNoContext, ev.SOPClassUID)
	}
	var data []byte
	if ev.Encode != nil {
		var err error
		if data, err = ev.Encode(pc.TransferSyntax); err != nil {
			return Status{}, fmt.Errorf("N-EVENT-REPORT: event information: %w", err)
		}
	}
	var st Status
	err := c.do(ctx, func() error {
		id := c.nextMessageID()
		rq := &command{CommandField: cmdNEventReportRQ, MessageID: id, AffectedSOPClassUID: ev.SOPClassUID,
			AffectedSOPInstanceUID: ev.SOPInstanceUID, EventTypeID: ev.EventTypeID, HasDataSet: ev.Encode != nil}
		if err := c.a.sendBytes(pc.ID, true, rq.encode()); err != nil {
			return err
		}
		if rq.HasDataSet {
			if err := c.a.sendBytes(pc.ID, false, data); err != nil {
				return err
			}
		}
		rsp, err := c.awaitResponse(id, cmdNEventReportRSP)
		if err != nil {
			return err
		}
		st = Status{Code: rsp.Status, ErrorComment: rsp.ErrorComment}
		return nil
	})
	if err != nil {
		return Status{}, fmt.Errorf("N-EVENT-REPORT: %w", err)
	}
	return st, nil
}
