package dimse

import (
	"bytes"
	"context"
	"errors"
	"io"
	"reflect"
	"slices"
	"sync"
	"testing"

	"pacsd/dicom"
)

const ctClass = "1.2.840.10008.5.1.4.1.1.2" // CT Image Storage

// readMessage reads PDUs until one DIMSE message is complete: its command and, when
// announced, its data set.
func (r *rawAssoc) readMessage() (cmd *command, data []byte, ctxID byte) {
	r.t.Helper()
	var cmdBuf []byte
	for {
		x := r.read()
		p, ok := x.(*pDataTF)
		if !ok {
			r.t.Fatalf("got %#v while waiting for a message", x)
		}
		for _, v := range p.PDVs {
			if v.Command {
				cmdBuf = append(cmdBuf, v.Data...)
				if !v.Last {
					continue
				}
				c, err := decodeCommand(cmdBuf)
				if err != nil {
					r.t.Fatal(err)
				}
				cmd, ctxID = c, v.ContextID
				if !c.HasDataSet {
					return cmd, nil, ctxID
				}
				continue
			}
			if cmd == nil {
				r.t.Fatal("data fragment before the command")
			}
			data = append(data, v.Data...)
			if v.Last {
				return cmd, data, ctxID
			}
		}
	}
}

// sendMessage sends a command and, when data is not nil, its data set.
func (r *rawAssoc) sendMessage(id byte, cmd *command, data []byte) {
	r.t.Helper()
	cmd.HasDataSet = data != nil
	r.send(pdata(id, true, true, cmd.encode()))
	if data != nil {
		r.send(pdata(id, false, true, data))
	}
}

func (r *rawAssoc) release() {
	r.t.Helper()
	r.send((&releaseRQ{}).appendTo(nil))
	for {
		switch r.read().(type) {
		case *releaseRP:
			return
		case *pDataTF:
		default:
			r.t.Fatal("no A-RELEASE-RP")
		}
	}
}

// identifier encodes a small query identifier in Implicit VR Little Endian.
func identifier(t testing.TB, level string) []byte {
	var b bytes.Buffer
	enc, _ := dicom.NewEncoder(&b, dicom.ImplicitVRLittleEndian)
	enc.WriteString(tagQueryRetrieveLevel, "CS", level)
	enc.WriteString(dicom.TagStudyInstanceUID, "UI", "")
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// getter is a GetHandler sending its items with StoreVia; items StoreVia did not try
// because of a C-CANCEL-RQ stay remaining.
type getter struct {
	items []StoreItem

	mu    sync.Mutex
	cause error
	done  chan struct{}
}

func (g *getter) HandleGet(ctx context.Context, req *QueryRequest, sub SubStorer, progress Progress) RetrieveResult {
	defer close(g.done)
	res := RetrieveResult{SubOperations: SubOperations{Remaining: len(g.items)}}
	StoreVia(ctx, sub, g.items, func(r StoreResult) {
		if errors.Is(r.Err, ErrCancelled) {
			return
		}
		res.SubOperations.Remaining--
		if r.OK() {
			res.SubOperations.Completed++
		} else {
			res.SubOperations.Failed++
			res.FailedSOPInstanceUIDs = append(res.FailedSOPInstanceUIDs, g.items[r.Index].SOPInstanceUID)
		}
		progress(res.SubOperations)
	})
	g.mu.Lock()
	g.cause = context.Cause(ctx)
	g.mu.Unlock()
	res.Status = Status{Code: StatusSuccess}
	if res.SubOperations.Failed > 0 {
		res.Status = Status{Code: StatusSubOpsWarning}
	}
	return res
}

func bytesItem(class, uid string, data []byte) StoreItem {
	return StoreItem{SOPClassUID: class, SOPInstanceUID: uid, TransferSyntaxUID: dicom.ExplicitVRLittleEndian,
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}
}

// TestGetRaw drives a C-GET by hand: role selection on the wire, C-STORE sub-operations on
// the role-selected context with their own Message IDs, pending responses with the counts,
// the final response with the Failed SOP Instance UID List in the context's transfer
// syntax; and a C-CANCEL-RQ during a sub-operation, which completes that one and ends with
// Cancel and the remaining count.
func TestGetRaw(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 4000) // several PDUs at 16 KiB
	small := []byte("small data set!!")
	failedUID := "2.25.999"
	for _, cancel := range []bool{false, true} {
		name := map[bool]string{false: "complete", true: "cancelled"}[cancel]
		t.Run(name, func(t *testing.T) {
			g := &getter{done: make(chan struct{}), items: []StoreItem{
				bytesItem(scClass, "2.25.1", big),
				bytesItem(scClass, "2.25.2", small),
				bytesItem(ctClass, failedUID, small), // its context is rejected: no sub-operation
			}}
			addr, _, _ := startServer(t, &Server{AETitle: "PACSD", Get: g, GetSOPClasses: []string{studyRootGet}})
			r := dialRaw(t, addr)
			rq := &associateRQ{
				ProtocolVersion: 1, CalledAETitle: "PACSD", CallingAETitle: "RAW", ApplicationContext: applicationContextName,
				Contexts: []presentationContextRQ{
					{ID: 1, AbstractSyntax: studyRootGet, TransferSyntaxes: []string{dicom.ImplicitVRLittleEndian}},
					{ID: 3, AbstractSyntax: scClass, TransferSyntaxes: []string{dicom.ExplicitVRLittleEndian}},
					{ID: 5, AbstractSyntax: ctClass, TransferSyntaxes: []string{dicom.ExplicitVRLittleEndian}},
				},
				UserInfo: userInfo{MaxLength: 16384, ImplementationClassUID: "1.2.3", Roles: []roleSelection{{SOPClassUID: scClass, SCU: false, SCP: true}}},
			}
			r.send(rq.appendTo(nil))
			ac, ok := r.read().(*associateAC)
			if !ok {
				t.Fatal("no A-ASSOCIATE-AC")
			}
			results := map[byte]byte{}
			for _, pc := range ac.Contexts {
				results[pc.ID] = pc.Result
			}
			if !reflect.DeepEqual(results, map[byte]byte{1: 0, 3: 0, 5: presentationResultAbstractSyntax}) {
				t.Fatalf("context results %v", results)
			}
			if !reflect.DeepEqual(ac.UserInfo.Roles, []roleSelection{{SOPClassUID: scClass, SCU: false, SCP: true}}) {
				t.Fatalf("role selection answer %+v", ac.UserInfo.Roles)
			}

			const getID = 7
			r.sendMessage(1, &command{CommandField: cmdCGetRQ, MessageID: getID, AffectedSOPClassUID: studyRootGet}, identifier(t, "STUDY"))
			stored := map[string][]byte{}
			var ids []uint16
			var pending []SubOperations
			for {
				cmd, data, id := r.readMessage()
				if cmd.CommandField == cmdCStoreRQ {
					if id != 3 || cmd.AffectedSOPClassUID != scClass || cmd.MoveOriginatorAETitle != "" || slices.Contains(ids, cmd.MessageID) || cmd.MessageID == 0 {
						t.Fatalf("C-STORE-RQ %+v on context %d", cmd, id)
					}
					ids = append(ids, cmd.MessageID)
					stored[cmd.AffectedSOPInstanceUID] = data
					if cancel {
						r.sendMessage(1, &command{CommandField: cmdCCancelRQ, MessageIDBeingRespondedTo: getID}, nil)
					}
					r.sendMessage(3, &command{CommandField: cmdCStoreRSP, MessageIDBeingRespondedTo: cmd.MessageID,
						AffectedSOPClassUID: scClass, AffectedSOPInstanceUID: cmd.AffectedSOPInstanceUID}, nil)
					continue
				}
				if cmd.CommandField != cmdCGetRSP || cmd.MessageIDBeingRespondedTo != getID || cmd.AffectedSOPClassUID != studyRootGet || id != 1 || cmd.SubOps == nil {
					t.Fatalf("response %+v on context %d", cmd, id)
				}
				if cmd.Status == StatusPending {
					if !cmd.SubOps.HasRemaining || data != nil {
						t.Fatalf("pending response %+v", cmd)
					}
					pending = append(pending, cmd.SubOps.SubOperations)
					continue
				}
				<-g.done
				if cancel {
					if cmd.Status != StatusCancel || *cmd.SubOps != (subOpCounts{SubOperations{Remaining: 2, Completed: 1}, true}) || data != nil {
						t.Fatalf("final response %+v %+v", cmd, cmd.SubOps)
					}
					if len(stored) != 1 || !bytes.Equal(stored["2.25.1"], big) || len(pending) != 0 {
						t.Fatalf("stored %d, %d pending responses", len(stored), len(pending))
					}
					if !errors.Is(g.cause, ErrCancelled) {
						t.Errorf("handler context cause %v", g.cause)
					}
					break
				}
				if cmd.Status != StatusSubOpsWarning || *cmd.SubOps != (subOpCounts{SubOperations{Completed: 2, Failed: 1}, false}) || data == nil {
					t.Fatalf("final response %+v %+v", cmd, cmd.SubOps)
				}
				ds, err := dicom.ReadDataset(bytes.NewReader(data), dicom.ImplicitVRLittleEndian, dicom.ReadOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if got := ds.Strings(tagFailedSOPInstances); !slices.Equal(got, []string{failedUID}) {
					t.Errorf("Failed SOP Instance UID List %q", got)
				}
				if !bytes.Equal(stored["2.25.1"], big) || !bytes.Equal(stored["2.25.2"], small) {
					t.Errorf("stored data sets differ")
				}
				want := []SubOperations{{Remaining: 2, Completed: 1}, {Remaining: 1, Completed: 2}, {Completed: 2, Failed: 1}}
				if !slices.Equal(pending, want) {
					t.Errorf("pending counts %+v", pending)
				}
				break
			}
			r.release()
		})
	}
}

// TestFailedInstancesIdentifier: the list in each kind of transfer syntax, deflated
// included, and bounded to what one UI value can hold.
func TestFailedInstancesIdentifier(t *testing.T) {
	uids := []string{"1.2.3", "2.25.12345678901234567890"}
	for _, ts := range []string{dicom.ImplicitVRLittleEndian, dicom.ExplicitVRLittleEndian, dicom.ExplicitVRBigEndian,
		dicom.DeflatedExplicitVRLittleEndian, dicom.JPEGBaseline8Bit} {
		b, err := failedInstancesIdentifier(ts, uids)
		if err != nil {
			t.Fatalf("%s: %v", ts, err)
		}
		ds, err := dicom.ReadDataset(bytes.NewReader(b), ts, dicom.ReadOptions{})
		if err != nil {
			t.Fatalf("%s: %v", ts, err)
		}
		if got := ds.Strings(tagFailedSOPInstances); !slices.Equal(got, uids) {
			t.Errorf("%s: %q", ts, got)
		}
	}
	many := make([]string, 2000)
	for i := range many {
		many[i] = "2.25.1234567890123456789012345678901234"
	}
	b, err := failedInstancesIdentifier(dicom.ExplicitVRLittleEndian, many)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := dicom.ReadDataset(bytes.NewReader(b), dicom.ExplicitVRLittleEndian, dicom.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(ds.Strings(tagFailedSOPInstances)); n == 0 || n >= len(many) || len(b) > maxUIDListBytes+12 {
		t.Errorf("%d UIDs in %d bytes", n, len(b))
	}
}

// findFunc adapts a function to FindHandler for the tests.
type findFunc func(ctx context.Context, req *QueryRequest, send func(uint16, []byte) error) Status

func (f findFunc) HandleFind(ctx context.Context, req *QueryRequest, send func(uint16, []byte) error) Status {
	return f(ctx, req, send)
}

func findRQ() *associateRQ {
	rq := basicRQ()
	rq.Contexts = append(rq.Contexts, presentationContextRQ{ID: 5, AbstractSyntax: studyRootFind, TransferSyntaxes: []string{dicom.ImplicitVRLittleEndian}})
	return rq
}

// TestFindRaw: the pending response's fields, and a handler panic answered with 0xC000
// after it, the association going on; an identifier over MaxIdentifierLength refused with
// 0xA900 without reaching the handler.
func TestFindRaw(t *testing.T) {
	var calls int
	var mu sync.Mutex
	h := findFunc(func(ctx context.Context, req *QueryRequest, send func(uint16, []byte) error) Status {
		mu.Lock()
		calls++
		mu.Unlock()
		if err := send(StatusPendingOptionalKeys, identifier(t, "STUDY")); err != nil {
			return Status{Code: StatusProcessingFailure}
		}
		if err := send(StatusSuccess, nil); err == nil {
			t.Error("send accepted a final status")
		}
		panic("handler bug")
	})
	addr, _, _ := startServer(t, &Server{AETitle: "PACSD", Find: h, FindSOPClasses: []string{studyRootFind}, MaxIdentifierLength: 1024})
	r := dialRaw(t, addr)
	r.send(findRQ().appendTo(nil))
	if _, ok := r.read().(*associateAC); !ok {
		t.Fatal("no A-ASSOCIATE-AC")
	}

	// Too long, in fragments: refused once the last one arrived.
	r.send(pdata(5, true, true, (&command{CommandField: cmdCFindRQ, MessageID: 1, AffectedSOPClassUID: studyRootFind, HasDataSet: true}).encode()))
	for i := range 4 {
		r.send(pdata(5, false, i == 3, make([]byte, 400)))
	}
	cmd, data, _ := r.readMessage()
	if cmd.CommandField != cmdCFindRSP || cmd.Status != StatusDataSetMismatch || cmd.MessageIDBeingRespondedTo != 1 || data != nil {
		t.Fatalf("response to a long identifier %+v", cmd)
	}

	r.sendMessage(5, &command{CommandField: cmdCFindRQ, MessageID: 2, AffectedSOPClassUID: studyRootFind}, identifier(t, "STUDY"))
	cmd, data, id := r.readMessage()
	if cmd.CommandField != cmdCFindRSP || cmd.Status != StatusPendingOptionalKeys || cmd.MessageIDBeingRespondedTo != 2 ||
		cmd.AffectedSOPClassUID != studyRootFind || id != 5 || !bytes.Equal(data, identifier(t, "STUDY")) {
		t.Fatalf("pending response %+v on %d", cmd, id)
	}
	cmd, data, _ = r.readMessage()
	if cmd.Status != StatusCannotUnderstand || cmd.MessageIDBeingRespondedTo != 2 || data != nil {
		t.Fatalf("final response after a panic %+v", cmd)
	}
	// A C-FIND on a context of another class, and a C-FIND with the wrong class.
	r.sendMessage(1, &command{CommandField: cmdCFindRQ, MessageID: 3, AffectedSOPClassUID: dicom.VerificationSOPClass}, identifier(t, "STUDY"))
	if cmd, _, _ = r.readMessage(); cmd.Status != StatusUnrecognizedOperation {
		t.Fatalf("C-FIND on the Verification context: %+v", cmd)
	}
	r.sendMessage(5, &command{CommandField: cmdCFindRQ, MessageID: 4, AffectedSOPClassUID: patientRootFind}, identifier(t, "STUDY"))
	if cmd, _, _ = r.readMessage(); cmd.Status != StatusSOPClassNotSupported {
		t.Fatalf("C-FIND with another class: %+v", cmd)
	}
	r.release()
	mu.Lock()
	defer mu.Unlock()
	if calls != 1 {
		t.Errorf("handler called %d times", calls)
	}
}

// TestFindAbortAndShutdown: an A-ABORT cancels the running handler's context; Shutdown
// lets a running handler finish and sends its final response before aborting.
func TestFindAbortAndShutdown(t *testing.T) {
	ended := make(chan error, 1)
	proceed := make(chan struct{})
	h := findFunc(func(ctx context.Context, req *QueryRequest, send func(uint16, []byte) error) Status {
		if err := send(StatusPending, identifier(t, "STUDY")); err != nil {
			ended <- err
			return Status{}
		}
		select {
		case <-ctx.Done():
			ended <- context.Cause(ctx)
		case <-proceed:
			ended <- ctx.Err()
		}
		return Status{Code: StatusSuccess}
	})

	t.Run("abort", func(t *testing.T) {
		addr, _, _ := startServer(t, &Server{AETitle: "PACSD", Find: h, FindSOPClasses: []string{studyRootFind}})
		r := dialRaw(t, addr)
		r.send(findRQ().appendTo(nil))
		r.read()
		r.sendMessage(5, &command{CommandField: cmdCFindRQ, MessageID: 1, AffectedSOPClassUID: studyRootFind}, identifier(t, "STUDY"))
		if cmd, _, _ := r.readMessage(); cmd.Status != StatusPending {
			t.Fatalf("%+v", cmd)
		}
		r.send((&abortPDU{}).appendTo(nil))
		var ae *AbortError
		if err := <-ended; !errors.As(err, &ae) || ae.Local {
			t.Fatalf("handler context ended with %v", err)
		}
	})

	t.Run("shutdown", func(t *testing.T) {
		srv := &Server{AETitle: "PACSD", Find: h, FindSOPClasses: []string{studyRootFind}}
		addr, _, _ := startServer(t, srv)
		r := dialRaw(t, addr)
		r.send(findRQ().appendTo(nil))
		r.read()
		r.sendMessage(5, &command{CommandField: cmdCFindRQ, MessageID: 1, AffectedSOPClassUID: studyRootFind}, identifier(t, "STUDY"))
		if cmd, _, _ := r.readMessage(); cmd.Status != StatusPending {
			t.Fatalf("%+v", cmd)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // the grace period is over at once: abort after the running request
		shut := make(chan error, 1)
		go func() { shut <- srv.Shutdown(ctx) }()
		close(proceed)
		if err := <-ended; err != nil {
			t.Errorf("handler context ended: %v", err)
		}
		if cmd, _, _ := r.readMessage(); cmd.Status != StatusSuccess || cmd.CommandField != cmdCFindRSP {
			t.Fatalf("final response %+v", cmd)
		}
		r.expectAbort()
		if err := <-shut; !errors.Is(err, context.Canceled) {
			t.Errorf("Shutdown: %v", err)
		}
	})
}

// TestNegotiateRoles: role selection answers (PS3.7 D.3.3.4) with and without Get.
func TestNegotiateRoles(t *testing.T) {
	rq := &associateRQ{
		ProtocolVersion: 1, CalledAETitle: "PACSD", CallingAETitle: "WS", ApplicationContext: applicationContextName,
		Contexts: []presentationContextRQ{
			{ID: 1, AbstractSyntax: studyRootGet, TransferSyntaxes: []string{dicom.ImplicitVRLittleEndian}},
			{ID: 3, AbstractSyntax: scClass, TransferSyntaxes: []string{dicom.ExplicitVRLittleEndian}},
			{ID: 5, AbstractSyntax: ctClass, TransferSyntaxes: []string{dicom.ExplicitVRLittleEndian}},
			{ID: 7, AbstractSyntax: cr, TransferSyntaxes: []string{dicom.ExplicitVRLittleEndian}},
			{ID: 9, AbstractSyntax: studyRootFind, TransferSyntaxes: []string{dicom.ImplicitVRLittleEndian}},
		},
		UserInfo: userInfo{Roles: []roleSelection{
			{SOPClassUID: scClass, SCU: false, SCP: true}, // C-GET receiver only
			{SOPClassUID: ctClass, SCU: true, SCP: true},  // both ways
			{SOPClassUID: studyRootFind, SCU: true, SCP: true},
			{SOPClassUID: "1.2.3.4", SCU: true, SCP: true}, // not proposed: not answered
		}},
	}
	store := StoreHandlerFunc(nil)
	get := &getter{}
	find := findFunc(nil)
	tests := []struct {
		name     string
		srv      *Server
		roles    []roleSelection
		contexts map[byte]acceptedContext // ID -> roles; absent: rejected
	}{
		{"get and store", &Server{Store: store, Get: get, GetSOPClasses: []string{studyRootGet}, Find: find, FindSOPClasses: []string{studyRootFind}},
			[]roleSelection{{scClass, false, true}, {ctClass, true, true}, {studyRootFind, true, false}},
			map[byte]acceptedContext{1: {PeerSCU: true}, 3: {PeerSCP: true}, 5: {PeerSCU: true, PeerSCP: true}, 7: {PeerSCU: true}, 9: {PeerSCU: true}}},
		{"get only", &Server{Get: get, GetSOPClasses: []string{studyRootGet}},
			[]roleSelection{{scClass, false, true}, {ctClass, false, true}, {studyRootFind, false, false}},
			map[byte]acceptedContext{1: {PeerSCU: true}, 3: {PeerSCP: true}, 5: {PeerSCP: true}}},
		{"store only", &Server{Store: store},
			[]roleSelection{{scClass, false, false}, {ctClass, true, false}, {studyRootFind, false, false}},
			map[byte]acceptedContext{5: {PeerSCU: true}, 7: {PeerSCU: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := tt.srv.negotiate(rq, AssociationInfo{})
			if n.rj != nil {
				t.Fatalf("rejected %+v", n.rj)
			}
			if !reflect.DeepEqual(n.ac.UserInfo.Roles, tt.roles) {
				t.Errorf("roles %+v, want %+v", n.ac.UserInfo.Roles, tt.roles)
			}
			for id, pc := range n.contexts {
				want, ok := tt.contexts[id]
				if !ok || pc.PeerSCU != want.PeerSCU || pc.PeerSCP != want.PeerSCP {
					t.Errorf("context %d accepted %+v, want %+v (present %v)", id, pc, want, ok)
				}
			}
			if len(n.contexts) != len(tt.contexts) {
				t.Errorf("%d contexts accepted, want %d", len(n.contexts), len(tt.contexts))
			}
		})
	}
}

const cr = "1.2.840.10008.5.1.4.1.1.1" // CR Image Storage

// TestRoleSelectionPDU: the sub-item's wire form (PS3.7 D.3.3.4) both ways, in an
// A-ASSOCIATE-AC, and its bounds.
func TestRoleSelectionPDU(t *testing.T) {
	ac := sampleAC()
	ac.UserInfo.Roles = []roleSelection{{SOPClassUID: scClass, SCU: false, SCP: true}, {SOPClassUID: ctClass, SCU: true, SCP: true}}
	b := ac.appendTo(nil)
	want := append([]byte{subRoleSelection, 0, 0, byte(2 + len(scClass) + 2), 0, byte(len(scClass))}, scClass...)
	want = append(want, 0, 1)
	if !bytes.Contains(b, want) {
		t.Fatalf("no role selection sub-item % X in % X", want, b)
	}
	p, err := readOne(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.(*associateAC).UserInfo.Roles; !reflect.DeepEqual(got, ac.UserInfo.Roles) {
		t.Fatalf("roles %+v", got)
	}
	appCtx := item(itemApplicationContext, []byte(applicationContextName))
	for _, bad := range [][]byte{
		{0},                  // shorter than the UID length field
		{0, 9, '1', 0, 1},    // UID length past the item
		{0, 1, '1', 0, 1, 0}, // a byte after the roles
	} {
		if _, err := readOne(rqWithItems(appCtx, item(itemUserInformation, item(subRoleSelection, bad)))); !errors.Is(err, errMalformedPDU) {
			t.Errorf("% X: %v", bad, err)
		}
	}
}

// TestQueryCommandRoundTrip: the command elements of C-FIND/C-MOVE/C-GET and C-CANCEL
// (PS3.7 9.3.2-9.3.4) survive encoding and decoding.
func TestQueryCommandRoundTrip(t *testing.T) {
	for _, want := range []command{
		{CommandField: cmdCMoveRQ, MessageID: 3, Priority: 1, AffectedSOPClassUID: studyRootMove, HasDataSet: true, MoveDestination: "WS2"},
		{CommandField: cmdCGetRSP, MessageIDBeingRespondedTo: 3, AffectedSOPClassUID: studyRootGet, Status: StatusPending,
			SubOps: &subOpCounts{SubOperations{Remaining: 4, Completed: 3, Failed: 2, Warning: 1}, true}},
		{CommandField: cmdCMoveRSP, MessageIDBeingRespondedTo: 3, AffectedSOPClassUID: studyRootMove, Status: StatusSubOpsWarning,
			HasDataSet: true, SubOps: &subOpCounts{SubOperations{Completed: 70000, Failed: 2}, false}},
		{CommandField: cmdCCancelRQ, MessageIDBeingRespondedTo: 9},
	} {
		got, err := decodeCommand(want.encode())
		if err != nil {
			t.Fatal(err)
		}
		got.present = nil
		if want.SubOps != nil {
			want.SubOps.Completed = min(want.SubOps.Completed, 0xFFFF) // US
		}
		if !reflect.DeepEqual(*got, want) {
			t.Errorf("got %+v\nwant %+v", *got, want)
		}
	}
}
