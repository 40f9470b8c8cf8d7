package dimse

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
)

// TestFindResponsesCoalescedAndCancelled: a pending C-FIND-RSP whose command and
// identifier fit the peer's maximum PDU length comes as one P-DATA-TF with two PDVs
// (command, then data; PS3.8 9.3.5), one too long for it as separate PDUs of at most that
// length; a C-CANCEL-RQ sent while a handler sends without end (the responses in flight
// read only after it) stops it: its send fails with ErrCancelled, the responses in flight
// come whole, and the final response is 0xFE00.
func TestFindResponsesCoalescedAndCancelled(t *testing.T) {
	const maxPDU = 16384 // basicRQ's
	small := identifier(t, "STUDY")
	big := bytes.Repeat([]byte{0xAB}, 3*maxPDU) // not a data set: the SCP does not look
	var (
		mu      sync.Mutex
		sent    int
		sendErr error
	)
	h := findFunc(func(ctx context.Context, req *QueryRequest, send func(uint16, []byte) error) Status {
		for i := 0; ; i++ {
			id := small
			if i == 1 {
				id = big
			}
			if err := send(StatusPending, id); err != nil {
				mu.Lock()
				sendErr = err
				mu.Unlock()
				return Status{Code: StatusProcessingFailure}
			}
			mu.Lock()
			sent++
			mu.Unlock()
		}
	})
	addr, _, _ := startServer(t, &Server{AETitle: "PACSD", Find: h, FindSOPClasses: []string{studyRootFind}})
	r := dialRaw(t, addr)
	r.send(findRQ().appendTo(nil))
	if _, ok := r.read().(*associateAC); !ok {
		t.Fatal("no A-ASSOCIATE-AC")
	}
	r.sendMessage(5, &command{CommandField: cmdCFindRQ, MessageID: 7, AffectedSOPClassUID: studyRootFind}, small)

	// The first response: one PDU, command and identifier.
	p, ok := r.read().(*pDataTF)
	if !ok || len(p.PDVs) != 2 || !p.PDVs[0].Command || !p.PDVs[0].Last || p.PDVs[1].Command || !p.PDVs[1].Last ||
		p.PDVs[0].ContextID != 5 || p.PDVs[1].ContextID != 5 || !bytes.Equal(p.PDVs[1].Data, small) {
		t.Fatalf("first response: %+v, want one PDU with the command and the identifier", p)
	}
	if cmd, err := decodeCommand(p.PDVs[0].Data); err != nil || cmd.Status != StatusPending || cmd.MessageIDBeingRespondedTo != 7 {
		t.Fatalf("first response's command %+v, %v", cmd, err)
	}
	// The second, longer than a PDU: fragments, none over the maximum.
	var data []byte
	var cmd *command
	for done := false; !done; {
		p, ok := r.read().(*pDataTF)
		if !ok {
			t.Fatal("not a P-DATA-TF")
		}
		size := 0
		for _, v := range p.PDVs {
			size += pdvHeaderLen + len(v.Data)
			if v.Command {
				if cmd, _ = decodeCommand(v.Data); cmd == nil || !v.Last {
					t.Fatal("command of the long response not in one PDV")
				}
				continue
			}
			data = append(data, v.Data...)
			done = v.Last
		}
		if size > maxPDU {
			t.Fatalf("P-DATA-TF of %d bytes, over the peer's %d", size, maxPDU)
		}
	}
	if cmd == nil || cmd.Status != StatusPending || !bytes.Equal(data, big) {
		t.Fatalf("long response %+v, %d bytes, want %d", cmd, len(data), len(big))
	}

	// Cancel, then read what was on its way, up to the final response.
	r.send(pdata(5, true, true, (&command{CommandField: cmdCCancelRQ, MessageIDBeingRespondedTo: 7}).encode()))
	pending := 0
	for {
		cmd, data, _ := r.readMessage()
		if cmd.Status == StatusPending {
			if !bytes.Equal(data, small) {
				t.Fatalf("pending response %d: identifier %x", pending, data)
			}
			pending++
			continue
		}
		if cmd.CommandField != cmdCFindRSP || cmd.Status != StatusCancel || cmd.MessageIDBeingRespondedTo != 7 || data != nil {
			t.Fatalf("final response %+v, want Cancel (0xFE00)", cmd)
		}
		break
	}
	echoWorks(t, addr) // the server goes on
	r.release()
	mu.Lock()
	defer mu.Unlock()
	if !errors.Is(sendErr, ErrCancelled) {
		t.Errorf("handler's send after the cancel: %v, want ErrCancelled", sendErr)
	}
	if sent < pending+2 {
		t.Errorf("%d responses read, more than the %d sent", pending+2, sent)
	}
	t.Logf("%d responses sent, %d read after the cancel", sent, pending)
}
