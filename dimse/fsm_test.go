package dimse

import (
	"bytes"
	"errors"
	"net"
	"slices"
	"testing"
	"time"
)

// TestTransitionTableShape checks properties of PS3.8 Table 9-10 that a transcription slip
// would break.
func TestTransitionTableShape(t *testing.T) {
	pduEvents := []event{evt3, evt4, evt6, evt10, evt12, evt13, evt16, evt17, evt19}
	for _, ev := range pduEvents {
		// Once a transport connection exists (Sta2, Sta3, Sta5..Sta13), every received
		// PDU and the transport closing have a defined action.
		for st := sta2; st < numStates; st++ {
			if st == sta4 {
				continue
			}
			if transitions[ev][st] == actNone {
				t.Errorf("%v in %v undefined", ev, st)
			}
		}
	}
	for ev := evt1; ev < numEvents; ev++ {
		for st := sta1; st < numStates; st++ {
			a := transitions[ev][st]
			if a != actNone && len(nextState[a]) == 0 {
				t.Errorf("%v in %v -> %v has no next state", ev, st, a)
			}
		}
	}
	// Spot checks against the standard's text.
	cells := []struct {
		ev   event
		st   state
		want action
	}{
		{evt5, sta1, ae5}, {evt6, sta2, ae6}, {evt7, sta3, ae7}, {evt8, sta3, ae8},
		{evt10, sta6, dt2}, {evt12, sta6, ar2}, {evt14, sta8, ar4}, {evt17, sta13, ar5},
		{evt18, sta13, aa2}, {evt19, sta13, aa7}, {evt6, sta13, aa7}, {evt12, sta7, ar8},
		{evt13, sta10, ar10}, {evt9, sta8, ar7}, {evt15, sta4, aa2}, {evt16, sta2, aa2},
	}
	for _, c := range cells {
		if got := transitions[c.ev][c.st]; got != c.want {
			t.Errorf("%v in %v: %v, want %v", c.ev, c.st, got, c.want)
		}
	}
	if _, err := lookup(sta1, evt9); err == nil {
		t.Error("P-DATA request in Sta1 accepted")
	}
}

// TestStateMachineSCPRun drives the acceptor side through a whole association over a pipe:
// transitions, PDUs sent and ARTIM handling.
func TestStateMachineSCPRun(t *testing.T) {
	srvConn, peer := net.Pipe()
	defer peer.Close()
	a := &assoc{conn: srvConn, sta: sta1, artim: time.Minute}
	got := make(chan []byte, 8)
	go func() {
		for {
			pr := &pduReader{r: peer, maxPData: 1 << 16}
			p, err := pr.read()
			if err != nil {
				close(got)
				return
			}
			got <- p.appendTo(nil)
		}
	}()
	steps := []struct {
		ev       event
		in       pdu
		wantSta  state
		wantInd  indication
		wantSent pdu
	}{
		{evt5, nil, sta2, indNone, nil},
		{evt6, sampleRQ(), sta3, indAssociate, nil},
		{evt7, sampleAC(), sta6, indNone, sampleAC()},
		{evt10, &pDataTF{PDVs: []pdv{{ContextID: 1, Data: []byte{1}}}}, sta6, indData, nil},
		{evt9, &pDataTF{PDVs: []pdv{{ContextID: 1, Command: true, Last: true, Data: []byte{2}}}}, sta6, indNone,
			&pDataTF{PDVs: []pdv{{ContextID: 1, Command: true, Last: true, Data: []byte{2}}}}},
		{evt12, &releaseRQ{}, sta8, indRelease, nil},
		{evt14, nil, sta13, indNone, &releaseRP{}},
		{evt17, nil, sta1, indClosed, nil},
	}
	for i, s := range steps {
		if s.ev == evt6 && a.artimOn != true {
			t.Fatalf("step %d: ARTIM not running in Sta2", i)
		}
		ind, err := a.fire(s.ev, s.in, nil)
		if err != nil {
			t.Fatalf("step %d %v: %v", i, s.ev, err)
		}
		if a.sta != s.wantSta || ind != s.wantInd {
			t.Fatalf("step %d %v: state %v ind %d, want %v %d", i, s.ev, a.sta, ind, s.wantSta, s.wantInd)
		}
		if s.wantSent != nil {
			b := <-got
			if want := s.wantSent.appendTo(nil); !bytes.Equal(b, want) {
				t.Fatalf("step %d: sent % X, want % X", i, b, want)
			}
		}
	}
	if a.artimOn {
		t.Error("ARTIM still running after AR-5")
	}
	if _, ok := <-got; ok {
		t.Error("unexpected PDU sent")
	}
}

func TestStateMachineProviderReject(t *testing.T) {
	srvConn, peer := net.Pipe()
	defer peer.Close()
	rj := &associateRJ{Result: 2, Source: 3, Reason: 2}
	a := &assoc{conn: srvConn, sta: sta1, artim: time.Minute, providerCheck: func(*associateRQ) *associateRJ { return rj }}
	done := make(chan []byte, 1)
	go func() {
		pr := &pduReader{r: peer, maxPData: 1 << 16}
		p, _ := pr.read()
		if p != nil {
			done <- p.appendTo(nil)
		}
		close(done)
	}()
	a.fire(evt5, nil, nil)
	ind, err := a.fire(evt6, sampleRQ(), nil)
	if err != nil || ind != indProviderReject || a.sta != sta13 || !a.artimOn {
		t.Fatalf("AE-6 reject: ind %d err %v state %v artim %v", ind, err, a.sta, a.artimOn)
	}
	if b := <-done; !bytes.Equal(b, rj.appendTo(nil)) {
		t.Fatalf("sent % X", b)
	}
	// Sta13 ignores P-DATA (AA-6) and answers an unrecognized PDU with A-ABORT (AA-7).
	if _, err := a.fire(evt10, &pDataTF{}, nil); err != nil || a.sta != sta13 {
		t.Fatalf("AA-6: %v %v", err, a.sta)
	}
	if _, err := a.fire(evt18, nil, nil); err != nil || a.sta != sta1 {
		t.Fatalf("ARTIM expiry: %v %v", err, a.sta)
	}
}

func TestStateMachineSendFailure(t *testing.T) {
	c1, c2 := net.Pipe()
	c2.Close()
	a := &assoc{conn: c1, sta: sta6}
	ind, err := a.fire(evt9, &pDataTF{PDVs: []pdv{{ContextID: 1, Data: []byte{1}}}}, nil)
	if err == nil || ind != indPAbort || a.sta != sta1 || !a.closed {
		t.Fatalf("send failure: ind %d err %v state %v", ind, err, a.sta)
	}
	if !errors.Is(err, net.ErrClosed) && !errors.Is(err, errors.Unwrap(err)) {
		t.Logf("err %v", err)
	}
	if !slices.Contains(nextState[dt1], sta6) {
		t.Fatal("table changed")
	}
}
