package dimse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"pacsd/dicom"
)

// Query/retrieve information models (PS3.4 C.6).
const (
	patientRootFind = "1.2.840.10008.5.1.4.1.2.1.1"
	patientRootMove = "1.2.840.10008.5.1.4.1.2.1.2"
	patientRootGet  = "1.2.840.10008.5.1.4.1.2.1.3"
	studyRootFind   = "1.2.840.10008.5.1.4.1.2.2.1"
	studyRootMove   = "1.2.840.10008.5.1.4.1.2.2.2"
	studyRootGet    = "1.2.840.10008.5.1.4.1.2.2.3"
)

var (
	tagQueryRetrieveLevel = dicom.NewTag(0x0008, 0x0052)
	tagFailedSOPInstances = dicom.NewTag(0x0008, 0x0058)
)

// findMatch encodes one C-FIND match identifier in ts.
func findMatch(t testing.TB, ts, level, patientID, studyUID string) []byte {
	t.Helper()
	var b bytes.Buffer
	enc, err := dicom.NewEncoder(&b, ts)
	if err != nil {
		t.Fatal(err)
	}
	enc.WriteString(tagQueryRetrieveLevel, "CS", level)
	enc.WriteString(dicom.TagPatientName, "PN", "Test^"+patientID)
	enc.WriteString(dicom.TagPatientID, "LO", patientID)
	if studyUID != "" {
		enc.WriteString(dicom.TagStudyInstanceUID, "UI", studyUID)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// testFinder is a FindHandler answering every request with n matches built from the
// request's Patient ID key; with waitCancel it sends one match and then waits for its
// context to end, and records what send said afterwards.
type testFinder struct {
	t          testing.TB
	n          int
	waitCancel bool

	mu        sync.Mutex
	reqs      []QueryRequest
	keys      []*dicom.Dataset
	cause     error // context.Cause when the handler's context ended
	sendAfter error // send's error after the context ended
	done      chan struct{}
}

func (f *testFinder) HandleFind(ctx context.Context, req *QueryRequest, send func(uint16, []byte) error) Status {
	defer close(f.done)
	ds, err := dicom.ReadDataset(bytes.NewReader(req.Identifier), req.TransferSyntaxUID, dicom.ReadOptions{})
	if err != nil {
		return Status{Code: StatusDataSetMismatch, ErrorComment: err.Error()}
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, *req)
	f.keys = append(f.keys, ds)
	f.mu.Unlock()
	level, pid := ds.String(tagQueryRetrieveLevel), ds.String(dicom.TagPatientID)
	for i := range f.n {
		if err := send(StatusPending, findMatch(f.t, req.TransferSyntaxUID, level, fmt.Sprintf("%s-%d", pid, i), fmt.Sprintf("2.25.%d", 1000+i))); err != nil {
			return Status{Code: StatusProcessingFailure}
		}
		if f.waitCancel {
			select {
			case <-ctx.Done():
			case <-time.After(time.Minute): // a bound, not a synchronisation: the test fails then
				return Status{Code: StatusSuccess}
			}
			f.mu.Lock()
			f.cause = context.Cause(ctx)
			f.sendAfter = send(StatusPending, findMatch(f.t, req.TransferSyntaxUID, level, "late", ""))
			f.mu.Unlock()
			return Status{Code: StatusSuccess}
		}
	}
	return Status{Code: StatusSuccess}
}

// findResponses reads the identifiers findscu extracted (-X: rsp0001.dcm, ...).
func findResponses(t *testing.T, dir string) []*dicom.Dataset {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, "rsp*.dcm"))
	sort.Strings(names)
	var out []*dicom.Dataset
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		off, ts := part10DatasetOffset(t, b)
		ds, err := dicom.ReadDataset(bytes.NewReader(b[off:]), ts, dicom.ReadOptions{})
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		out = append(out, ds)
	}
	return out
}

// TestFindSCU: findscu with the patient and the study root models, keys in the identifier,
// several pending responses and the final one, in the transfer syntax findscu proposed.
func TestFindSCU(t *testing.T) {
	requireTools(t, "findscu")
	for _, tc := range []struct {
		name, model, class, level, propose, ts string
	}{
		{"patient root implicit", "-P", patientRootFind, "PATIENT", "-xi", dicom.ImplicitVRLittleEndian},
		{"study root explicit", "-S", studyRootFind, "STUDY", "-xe", dicom.ExplicitVRLittleEndian},
		{"study root big endian", "-S", studyRootFind, "STUDY", "-xb", dicom.ExplicitVRBigEndian},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &testFinder{t: t, n: 3, done: make(chan struct{})}
			_, host, port := startServer(t, &Server{AETitle: "PACSD", Find: f, FindSOPClasses: []string{patientRootFind, studyRootFind}})
			dir := t.TempDir()
			out := mustRun(t, "findscu", "-v", tc.model, tc.propose, "-aet", "WS1", "-aec", "PACSD", "-X", "-od", dir,
				"-k", "QueryRetrieveLevel="+tc.level, "-k", "PatientID=P42", "-k", "PatientName", host, port)
			if n := strings.Count(out, "Received Find Response"); n != 3 || !strings.Contains(out, "Received Final Find Response (Success)") {
				t.Fatalf("%d pending responses:\n%s", n, out)
			}
			<-f.done
			if len(f.reqs) != 1 {
				t.Fatalf("%d requests", len(f.reqs))
			}
			req, keys := f.reqs[0], f.keys[0]
			if req.SOPClassUID != tc.class || req.TransferSyntaxUID != tc.ts || req.CallingAETitle != "WS1" || req.CalledAETitle != "PACSD" ||
				req.MessageID == 0 || req.TLS || req.AssociationID == "" {
				t.Errorf("request %+v", req)
			}
			if keys.String(tagQueryRetrieveLevel) != tc.level || keys.String(dicom.TagPatientID) != "P42" || keys.Get(dicom.TagPatientName) == nil {
				t.Errorf("identifier keys: level %q, patient ID %q", keys.String(tagQueryRetrieveLevel), keys.String(dicom.TagPatientID))
			}
			rsps := findResponses(t, dir)
			if len(rsps) != 3 {
				t.Fatalf("%d identifiers extracted", len(rsps))
			}
			for i, ds := range rsps {
				if got, want := ds.String(dicom.TagPatientID), fmt.Sprintf("P42-%d", i); got != want {
					t.Errorf("response %d: patient ID %q, want %q", i, got, want)
				}
				if ds.String(tagQueryRetrieveLevel) != tc.level {
					t.Errorf("response %d: level %q", i, ds.String(tagQueryRetrieveLevel))
				}
			}
		})
	}
}

// TestFindSCUCancel: findscu --cancel 1 sends C-CANCEL-RQ after the first response; the
// handler's context ends with ErrCancelled, send fails, and the final response is Cancel.
func TestFindSCUCancel(t *testing.T) {
	requireTools(t, "findscu")
	f := &testFinder{t: t, n: 5, waitCancel: true, done: make(chan struct{})}
	addr, host, port := startServer(t, &Server{AETitle: "PACSD", Find: f, FindSOPClasses: []string{studyRootFind}})
	out := mustRun(t, "findscu", "-v", "-S", "--cancel", "1", "-aec", "PACSD", "-k", "QueryRetrieveLevel=STUDY", "-k", "PatientID=P1", host, port)
	<-f.done
	if !errors.Is(f.cause, ErrCancelled) {
		t.Errorf("handler context cause %v", f.cause)
	}
	if !errors.Is(f.sendAfter, ErrCancelled) {
		t.Errorf("send after cancel: %v", f.sendAfter)
	}
	if !strings.Contains(out, "Received Final Find Response (Cancel") {
		t.Fatalf("no Cancel final response:\n%s", out)
	}
	if n := strings.Count(out, "(Pending)"); n != 1 {
		t.Errorf("%d pending responses, want the one before the C-CANCEL-RQ:\n%s", n, out)
	}
	echoWorks(t, addr) // the server goes on
}
