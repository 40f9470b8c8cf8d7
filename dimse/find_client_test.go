package dimse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"pacsd/dicom"
)

// clientFindMatch encodes the i-th match of a test C-FIND: a Patient ID and a long Study
// Description, so that identifiers span several PDUs at a small maximum PDU length.
func clientFindMatch(t testing.TB, i int) []byte {
	var b bytes.Buffer
	enc, _ := dicom.NewEncoder(&b, dicom.ImplicitVRLittleEndian)
	enc.WriteString(tagQueryRetrieveLevel, "CS", "STUDY")
	enc.WriteString(dicom.TagStudyDescription, "LO", fmt.Sprintf("study %d", i))
	enc.WriteString(dicom.TagPatientID, "LO", fmt.Sprintf("P%05d", i))
	enc.WriteString(dicom.NewTag(0x0032, 0x4000), "LT", strings.Repeat("x", 9000+i)) // Study Comments
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestClientFind: Client.Find against the package's own C-FIND SCP: the identifier arrives
// as sent, every pending response's status and identifier reach fn in order (identifiers
// longer than the peer's PDUs), the final status is returned, and the association serves
// the next request; a failing fn cancels (C-CANCEL-RQ), the SCP stops, and Find returns
// fn's error with the Cancel status; a class not negotiated is ErrNoContext.
func TestClientFind(t *testing.T) {
	const n = 40
	var (
		mu       sync.Mutex
		received [][]byte
		sendErr  = make(chan error, 4)
	)
	h := findFunc(func(ctx context.Context, req *QueryRequest, send func(uint16, []byte) error) Status {
		mu.Lock()
		received = append(received, req.Identifier)
		mu.Unlock()
		cancelled := bytes.Equal(req.Identifier, identifier(t, "PATIENT"))
		for i := range n {
			if cancelled && i == 3 {
				// The requester cancels after the third: wait for its C-CANCEL-RQ.
				select {
				case <-ctx.Done():
				case <-time.After(time.Minute):
					return Status{Code: 0xC000}
				}
			}
			status := StatusPending
			if i%2 == 1 {
				status = StatusPendingOptionalKeys
			}
			if err := send(status, clientFindMatch(t, i)); err != nil {
				sendErr <- err
				return Status{Code: StatusCancel}
			}
		}
		return Status{Code: StatusSuccess}
	})
	addr, _, _ := startServer(t, &Server{AETitle: "PACSD", Find: h, FindSOPClasses: []string{studyRootFind}, MaxPDULength: 4096})
	ctx := context.Background()
	c, err := Dial(ctx, addr, ClientConfig{CalledAETitle: "PACSD", MaxPDULength: 4096,
		Contexts: map[string][]string{studyRootFind: {dicom.ImplicitVRLittleEndian}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release(ctx)
	q := identifier(t, "STUDY")

	for round := range 2 { // the association serves a second query
		var got [][]byte
		var statuses []uint16
		st, err := c.Find(ctx, studyRootFind, q, func(status uint16, id []byte) error {
			statuses = append(statuses, status)
			got = append(got, id)
			return nil
		})
		if err != nil || st.Code != StatusSuccess {
			t.Fatalf("round %d: Find = %v, %v", round, st, err)
		}
		if len(got) != n {
			t.Fatalf("round %d: %d matches, want %d", round, len(got), n)
		}
		for i := range got {
			want := StatusPending
			if i%2 == 1 {
				want = StatusPendingOptionalKeys
			}
			if !bytes.Equal(got[i], clientFindMatch(t, i)) || statuses[i] != want {
				t.Fatalf("round %d: match %d: status %#04x, %d bytes; want %#04x, %d bytes", round, i, statuses[i], len(got[i]), want, len(clientFindMatch(t, i)))
			}
		}
	}
	mu.Lock()
	if len(received) != 2 {
		t.Errorf("the SCP received %d requests, want 2", len(received))
	}
	for _, r := range received {
		if !bytes.Equal(r, q) {
			t.Errorf("the SCP received identifier %x, sent %x", r, q)
		}
	}
	mu.Unlock()

	stop := errors.New("enough")
	seen := 0
	st, err := c.Find(ctx, studyRootFind, identifier(t, "PATIENT"), func(uint16, []byte) error {
		seen++
		if seen == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || st.Code != StatusCancel {
		t.Fatalf("cancelled Find = %v, %v; want Cancel and fn's error", st, err)
	}
	if seen != 3 {
		t.Errorf("fn called %d times after it failed at 3", seen)
	}
	if err := <-sendErr; err == nil {
		t.Error("the SCP's send did not fail after C-CANCEL-RQ")
	}
	if st, err := c.Echo(ctx); err != nil || !st.OK() {
		t.Fatalf("Echo after a cancelled Find = %v, %v", st, err)
	}

	if _, err := c.Find(ctx, "1.2.840.10008.5.1.4.1.2.1.1", q, nil); !errors.Is(err, ErrNoContext) {
		t.Fatalf("Find of a class not negotiated = %v, want ErrNoContext", err)
	}
}
