package dimse

import (
	"bytes"
	"context"
	"errors"
	"net"
	"reflect"
	"testing"
	"time"

	"pacsd/dicom"
)

const (
	commitClass    = "1.2.840.10008.1.20.1"   // Storage Commitment Push Model SOP Class
	commitInstance = "1.2.840.10008.1.20.1.1" // its well-known instance (PS3.4 J.3.5)
)

func TestNCommandRoundTrip(t *testing.T) {
	tests := []command{
		{CommandField: cmdNActionRQ, MessageID: 9, RequestedSOPClassUID: commitClass, RequestedSOPInstanceUID: commitInstance,
			ActionTypeID: 1, HasDataSet: true},
		{CommandField: cmdNActionRSP, MessageIDBeingRespondedTo: 9, AffectedSOPClassUID: commitClass,
			AffectedSOPInstanceUID: commitInstance, ActionTypeID: 1, Status: StatusSuccess},
		{CommandField: cmdNEventReportRQ, MessageID: 2, AffectedSOPClassUID: commitClass, AffectedSOPInstanceUID: commitInstance,
			EventTypeID: 2, HasDataSet: true},
		{CommandField: cmdNEventReportRSP, MessageIDBeingRespondedTo: 2, AffectedSOPClassUID: commitClass,
			AffectedSOPInstanceUID: commitInstance, EventTypeID: 2, Status: StatusProcessingFailure, ErrorComment: "no"},
	}
	for _, want := range tests {
		t.Run(commandName(want.CommandField), func(t *testing.T) {
			got, err := decodeCommand(want.encode())
			if err != nil {
				t.Fatal(err)
			}
			got.present = nil
			if !reflect.DeepEqual(*got, want) {
				t.Fatalf("got %+v\nwant %+v", *got, want)
			}
		})
	}
	// Priority belongs to the C-services only (PS3.7 10.3.1.1, 10.3.4.1 have none).
	c, _ := decodeCommand(tests[0].encode())
	if c.has(elemPriority) || c.has(elemEventTypeID) || !c.has(elemActionTypeID) {
		t.Errorf("N-ACTION-RQ elements %04X", c.present)
	}
}

type actionCall struct {
	req *ActionRequest
	rep EventReporter
}

func commitRQ() *associateRQ {
	rq := basicRQ()
	rq.Contexts = append(rq.Contexts, presentationContextRQ{ID: 5, AbstractSyntax: commitClass,
		TransferSyntaxes: []string{dicom.ExplicitVRLittleEndian}})
	return rq
}

// TestActionRaw: an N-ACTION-RQ reaches the handler with its Action Information; the
// N-ACTION-RSP names the class, instance and action type; the handler's reporter then
// sends an N-EVENT-REPORT-RQ on the same association and gets the requester's response;
// after the release the reporter says ErrAssociationGone. An N-ACTION on another class's
// context is refused (0x0211) without reaching the handler.
func TestActionRaw(t *testing.T) {
	calls := make(chan actionCall, 2)
	h := ActionHandlerFunc(func(ctx context.Context, req *ActionRequest, rep EventReporter) Status {
		calls <- actionCall{req, rep}
		return Status{Code: StatusSuccess}
	})
	addr, _, _ := startServer(t, &Server{AETitle: "PACSD", Action: h, ActionSOPClasses: []string{commitClass}})
	r := dialRaw(t, addr)
	r.send(commitRQ().appendTo(nil))
	ac, ok := r.read().(*associateAC)
	if !ok || ac.Contexts[2].Result != presentationResultAcceptance {
		t.Fatalf("storage commitment context not accepted: %+v", ac)
	}

	r.sendMessage(1, &command{CommandField: cmdNActionRQ, MessageID: 1, RequestedSOPClassUID: dicom.VerificationSOPClass,
		RequestedSOPInstanceUID: commitInstance, ActionTypeID: 1}, []byte{})
	if cmd, _, _ := r.readMessage(); cmd.CommandField != cmdNActionRSP || cmd.Status != StatusUnrecognizedOperation {
		t.Fatalf("N-ACTION on the Verification context: %+v", cmd)
	}

	info := []byte{0x08, 0x00, 0x95, 0x11, 'U', 'I', 4, 0, '1', '.', '2', 0}
	r.sendMessage(5, &command{CommandField: cmdNActionRQ, MessageID: 2, RequestedSOPClassUID: commitClass,
		RequestedSOPInstanceUID: commitInstance, ActionTypeID: 1}, info)
	cmd, data, id := r.readMessage()
	if cmd.CommandField != cmdNActionRSP || cmd.Status != StatusSuccess || cmd.MessageIDBeingRespondedTo != 2 || id != 5 ||
		cmd.AffectedSOPClassUID != commitClass || cmd.AffectedSOPInstanceUID != commitInstance || cmd.ActionTypeID != 1 || data != nil {
		t.Fatalf("N-ACTION-RSP %+v on %d", cmd, id)
	}
	call := <-calls
	if call.req.CallingAETitle != "RAW" || call.req.SOPClassUID != commitClass || call.req.SOPInstanceUID != commitInstance ||
		call.req.ActionTypeID != 1 || call.req.TransferSyntaxUID != dicom.ExplicitVRLittleEndian || !bytes.Equal(call.req.ActionInformation, info) {
		t.Fatalf("handler got %+v", call.req)
	}

	type result struct {
		st  Status
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := call.rep.EventReport(context.Background(), EventReport{SOPClassUID: commitClass, SOPInstanceUID: commitInstance,
			EventTypeID: 2, Encode: func(ts string) ([]byte, error) {
				if ts != dicom.ExplicitVRLittleEndian {
					return nil, errors.New("wrong syntax " + ts)
				}
				return info, nil
			}})
		done <- result{st, err}
	}()
	cmd, data, id = r.readMessage()
	if cmd.CommandField != cmdNEventReportRQ || id != 5 || cmd.EventTypeID != 2 || cmd.AffectedSOPClassUID != commitClass ||
		cmd.AffectedSOPInstanceUID != commitInstance || !bytes.Equal(data, info) {
		t.Fatalf("N-EVENT-REPORT-RQ %+v on %d", cmd, id)
	}
	r.sendMessage(5, &command{CommandField: cmdNEventReportRSP, MessageIDBeingRespondedTo: cmd.MessageID,
		AffectedSOPClassUID: commitClass, AffectedSOPInstanceUID: commitInstance, EventTypeID: 2, Status: 0x0110}, nil)
	if res := <-done; res.err != nil || res.st.Code != 0x0110 {
		t.Fatalf("EventReport = %v, %v", res.st, res.err)
	}
	// The association still works, and the reporter ends with it.
	r.sendMessage(1, &command{CommandField: cmdCEchoRQ, MessageID: 3, AffectedSOPClassUID: dicom.VerificationSOPClass}, nil)
	if cmd, _, _ := r.readMessage(); cmd.CommandField != cmdCEchoRSP || cmd.Status != StatusSuccess {
		t.Fatalf("echo after the report: %+v", cmd)
	}
	r.release()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := call.rep.EventReport(ctx, EventReport{SOPClassUID: commitClass, SOPInstanceUID: commitInstance, EventTypeID: 1}); !errors.Is(err, ErrAssociationGone) {
		t.Fatalf("EventReport after the release: %v", err)
	}
	if len(calls) != 0 {
		t.Error("the refused N-ACTION reached the handler")
	}
}

// TestActionReleaseWhileReporting: a requester that releases instead of answering the
// N-EVENT-REPORT-RQ fails the report with ErrAssociationGone (it goes on a new
// association), and the release completes.
func TestActionReleaseWhileReporting(t *testing.T) {
	calls := make(chan actionCall, 1)
	h := ActionHandlerFunc(func(ctx context.Context, req *ActionRequest, rep EventReporter) Status {
		calls <- actionCall{req, rep}
		return Status{Code: StatusSuccess}
	})
	addr, _, _ := startServer(t, &Server{AETitle: "PACSD", Action: h, ActionSOPClasses: []string{commitClass}})
	r := dialRaw(t, addr)
	r.send(commitRQ().appendTo(nil))
	if _, ok := r.read().(*associateAC); !ok {
		t.Fatal("no A-ASSOCIATE-AC")
	}
	r.sendMessage(5, &command{CommandField: cmdNActionRQ, MessageID: 1, RequestedSOPClassUID: commitClass,
		RequestedSOPInstanceUID: commitInstance, ActionTypeID: 1}, nil)
	if cmd, _, _ := r.readMessage(); cmd.Status != StatusSuccess {
		t.Fatalf("N-ACTION-RSP %+v", cmd)
	}
	call := <-calls
	done := make(chan error, 1)
	go func() {
		_, err := call.rep.EventReport(context.Background(), EventReport{SOPClassUID: commitClass, SOPInstanceUID: commitInstance, EventTypeID: 1})
		done <- err
	}()
	if cmd, _, _ := r.readMessage(); cmd.CommandField != cmdNEventReportRQ || cmd.EventTypeID != 1 {
		t.Fatalf("got %+v", cmd)
	}
	r.release()
	if err := <-done; !errors.Is(err, ErrAssociationGone) {
		t.Fatalf("EventReport = %v", err)
	}
}

// TestClientEventReport: Client.EventReport on a new association proposes the SCP role
// for the class (SCU-role 0, SCP-role 1; PS3.4 J.3.3) and sends the report with its data
// set in the accepted syntax.
func TestClientEventReport(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		st  Status
		err error
	}
	done := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c, err := Dial(ctx, ln.Addr().String(), ClientConfig{CallingAETitle: "PACSD", CalledAETitle: "REQ",
			Contexts: map[string][]string{commitClass: {dicom.ExplicitVRLittleEndian}}, SCPRoles: []string{commitClass}})
		if err != nil {
			done <- result{err: err}
			return
		}
		st, err := c.EventReport(ctx, EventReport{SOPClassUID: commitClass, SOPInstanceUID: commitInstance, EventTypeID: 1,
			Encode: func(ts string) ([]byte, error) { return []byte(ts[:4]), nil }})
		if err == nil {
			err = c.Release(ctx)
		}
		done <- result{st, err}
	}()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Minute))
	r := &rawAssoc{t: t, conn: conn, rd: &pduReader{r: conn, maxPData: 1 << 20}}
	rq, ok := r.read().(*associateRQ)
	if !ok {
		t.Fatal("no A-ASSOCIATE-RQ")
	}
	if want := []roleSelection{{SOPClassUID: commitClass, SCU: false, SCP: true}}; !reflect.DeepEqual(rq.UserInfo.Roles, want) {
		t.Fatalf("role selection %+v, want %+v", rq.UserInfo.Roles, want)
	}
	ac := &associateAC{ProtocolVersion: 1, CalledAETitle: rq.CalledAETitle, CallingAETitle: rq.CallingAETitle,
		ApplicationContext: applicationContextName, UserInfo: userInfo{MaxLength: 16384, ImplementationClassUID: "1.2.3", Roles: rq.UserInfo.Roles}}
	var commitID byte
	for _, pc := range rq.Contexts {
		ac.Contexts = append(ac.Contexts, presentationContextAC{ID: pc.ID, Result: presentationResultAcceptance, TransferSyntax: pc.TransferSyntaxes[0]})
		if pc.AbstractSyntax == commitClass {
			commitID = pc.ID
		}
	}
	r.send(ac.appendTo(nil))
	cmd, data, id := r.readMessage()
	if cmd.CommandField != cmdNEventReportRQ || id != commitID || cmd.EventTypeID != 1 || cmd.AffectedSOPInstanceUID != commitInstance ||
		string(data) != dicom.ExplicitVRLittleEndian[:4] {
		t.Fatalf("N-EVENT-REPORT-RQ %+v %q on %d", cmd, data, id)
	}
	r.sendMessage(id, &command{CommandField: cmdNEventReportRSP, MessageIDBeingRespondedTo: cmd.MessageID,
		AffectedSOPClassUID: commitClass, AffectedSOPInstanceUID: commitInstance, EventTypeID: 1}, nil)
	if _, ok := r.read().(*releaseRQ); !ok {
		t.Fatal("no A-RELEASE-RQ")
	}
	r.send((&releaseRP{}).appendTo(nil))
	if res := <-done; res.err != nil || res.st.Code != StatusSuccess {
		t.Fatalf("EventReport = %v, %v", res.st, res.err)
	}
}
