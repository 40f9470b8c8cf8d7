package dimse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
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

// testRetriever is a MoveHandler and GetHandler sending its files (and extra items) with
// StoreVia: to the destination it dials for C-MOVE (dests: AE title -> address), through
// the association's SubStorer for C-GET. It reports progress after every item.
type testRetriever struct {
	t     testing.TB
	files []testFile
	extra []StoreItem
	// uncompressed: SOP instance UID -> the Explicit VR Little Endian data set offered as
	// StoreItem.Uncompressed.
	uncompressed map[string][]byte
	dests        map[string]string

	mu       sync.Mutex
	reqs     []QueryRequest
	results  []StoreResult
	progress []SubOperations
	dialErr  error
	done     chan struct{}
}

func (r *testRetriever) items() []StoreItem {
	var items []StoreItem
	for _, f := range r.files {
		it := StoreItem{SOPClassUID: f.sopClass, SOPInstanceUID: f.sopInstance, TransferSyntaxUID: f.ts,
			Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(f.dataset)), nil }}
		if u, ok := r.uncompressed[f.sopInstance]; ok {
			it.Uncompressed = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(u)), nil }
		}
		items = append(items, it)
	}
	return append(items, r.extra...)
}

func (r *testRetriever) send(ctx context.Context, req *QueryRequest, s SubStorer, progress Progress) RetrieveResult {
	r.mu.Lock()
	r.reqs = append(r.reqs, *req)
	r.mu.Unlock()
	items := r.items()
	res := RetrieveResult{SubOperations: SubOperations{Remaining: len(items)}}
	StoreVia(ctx, s, items, func(sr StoreResult) {
		r.mu.Lock()
		r.results = append(r.results, sr)
		r.mu.Unlock()
		so := &res.SubOperations
		so.Remaining--
		switch {
		case !sr.OK():
			so.Failed++
			res.FailedSOPInstanceUIDs = append(res.FailedSOPInstanceUIDs, items[sr.Index].SOPInstanceUID)
		case sr.Status.Category() == CategoryWarning:
			so.Warning++
		default:
			so.Completed++
		}
		if err := progress(*so); err == nil {
			r.mu.Lock()
			r.progress = append(r.progress, *so)
			r.mu.Unlock()
		}
	})
	res.Status = Status{Code: StatusSuccess}
	if res.SubOperations.Failed+res.SubOperations.Warning > 0 {
		res.Status = Status{Code: StatusSubOpsWarning} // PS3.4 C.4.2.1.5: some sub-operations failed
	}
	return res
}

func (r *testRetriever) HandleMove(ctx context.Context, req *QueryRequest, progress Progress) RetrieveResult {
	defer close(r.done)
	addr, ok := r.dests[req.MoveDestination]
	if !ok {
		return RetrieveResult{Status: Status{Code: StatusMoveDestUnknown}}
	}
	contexts := map[string][]string{}
	for _, it := range r.items() {
		contexts[it.SOPClassUID] = append(contexts[it.SOPClassUID], it.TransferSyntaxUID)
		if it.Uncompressed != nil {
			contexts[it.SOPClassUID] = append(contexts[it.SOPClassUID], dicom.ExplicitVRLittleEndian)
		}
	}
	c, err := Dial(ctx, addr, ClientConfig{CallingAETitle: req.CalledAETitle, CalledAETitle: req.MoveDestination, Contexts: contexts,
		MoveOriginator: MoveOriginator{AETitle: req.CallingAETitle, MessageID: req.MessageID}})
	if err != nil {
		r.mu.Lock()
		r.dialErr = err
		r.mu.Unlock()
		return RetrieveResult{Status: Status{Code: StatusOutOfResourcesSubOps}}
	}
	res := r.send(ctx, req, c, progress)
	c.Release(ctx)
	return res
}

func (r *testRetriever) HandleGet(ctx context.Context, req *QueryRequest, sub SubStorer, progress Progress) RetrieveResult {
	defer close(r.done)
	return r.send(ctx, req, sub, progress)
}

// receivedDataset finds the one file of dir whose name holds sopInstance and returns its
// data set and transfer syntax.
func receivedDataset(t *testing.T, dir, sopInstance string) ([]byte, string) {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(dir, "*"+sopInstance+"*"))
	if len(matches) != 1 {
		entries, _ := os.ReadDir(dir)
		t.Fatalf("%s: %v in %v", sopInstance, matches, entries)
	}
	b, err := os.ReadFile(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	off, ts := part10DatasetOffset(t, b)
	return b[off:], ts
}

// TestMoveSCU: movescu asks for a C-MOVE; the handler dials the destination (storescp, or
// an SCP of ours that sees the Move Originator), sends with StoreVia and reports progress;
// movescu sees pending responses and the final one, the objects arrive byte for byte.
func TestMoveSCU(t *testing.T) {
	requireTools(t, "movescu")
	dir := t.TempDir()
	files := []testFile{
		makeFile(t, dir, dicom.ExplicitVRLittleEndian, 64, 64, 1),
		makeFile(t, dir, dicom.JPEGLosslessSV1, 64, 64, 1),
	}
	dcmtkDir := t.TempDir()
	dcmtkAddr := startStorescp(t, dcmtkDir, "+xa")
	rec := &recorder{dir: t.TempDir()}
	ownAddr, _, _ := startServer(t, &Server{AETitle: "OWNSCP", Store: rec})
	dests := map[string]string{"DCMTKSCP": dcmtkAddr, "OWNSCP": ownAddr}

	for _, dest := range []string{"DCMTKSCP", "OWNSCP"} {
		t.Run(dest, func(t *testing.T) {
			h := &testRetriever{t: t, files: files, dests: dests, done: make(chan struct{})}
			_, host, port := startServer(t, &Server{AETitle: "PACSD", Move: h, MoveSOPClasses: []string{patientRootMove, studyRootMove}})
			out := mustRun(t, "movescu", "-v", "-S", "-aet", "MOVESCU", "-aec", "PACSD", "-aem", dest,
				"-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID=1.2.3", host, port)
			<-h.done
			if h.dialErr != nil {
				t.Fatalf("dial %s: %v", dest, h.dialErr)
			}
			if !strings.Contains(out, "Received Final Move Response (Success)") || strings.Count(out, "(Pending)") != len(files) {
				t.Fatalf("movescu output:\n%s", out)
			}
			if req := h.reqs[0]; req.MoveDestination != dest || req.SOPClassUID != studyRootMove || req.CallingAETitle != "MOVESCU" {
				t.Errorf("request %+v", req)
			}
			for _, f := range files {
				var got []byte
				var ts string
				if dest == "DCMTKSCP" {
					got, ts = receivedDataset(t, dcmtkDir, f.sopInstance)
				} else {
					got, ts = rec.received(t, f.sopInstance), f.ts
				}
				if ts != f.ts || !bytes.Equal(got, f.dataset) {
					t.Errorf("%s: received %d bytes in %s, sent %d in %s", f.sopInstance, len(got), ts, len(f.dataset), f.ts)
				}
			}
			if dest == "OWNSCP" {
				reqs := rec.requests()
				if len(reqs) != len(files) {
					t.Fatalf("%d stores", len(reqs))
				}
				for _, r := range reqs {
					if r.MoveOriginatorAETitle != "MOVESCU" || r.MoveOriginatorMessageID != h.reqs[0].MessageID || r.CallingAETitle != "PACSD" {
						t.Errorf("store %s: move originator %q/%d, calling %q", r.SOPInstanceUID, r.MoveOriginatorAETitle, r.MoveOriginatorMessageID, r.CallingAETitle)
					}
				}
			}
		})
	}

	t.Run("unknown destination", func(t *testing.T) {
		h := &testRetriever{t: t, files: files, dests: dests, done: make(chan struct{})}
		_, host, port := startServer(t, &Server{AETitle: "PACSD", Move: h, MoveSOPClasses: []string{studyRootMove}})
		out, _ := run(t, "movescu", "-v", "-S", "-aec", "PACSD", "-aem", "NOWHERE", "-k", "QueryRetrieveLevel=STUDY", host, port)
		<-h.done
		if !strings.Contains(out, "Received Final Move Response (Refused: MoveDestinationUnknown)") {
			t.Fatalf("movescu output:\n%s", out)
		}
	})
}

// TestGetSCU: getscu asks for a C-GET and receives the objects on the same association as
// the Storage SCP (role selection); an object of a SOP class getscu did not propose is a
// failed sub-operation, and the final response is a warning counting it. (getscu of DCMTK
// 3.6.7 does not read the identifier of a final C-GET-RSP, so the Failed SOP Instance UID
// List is checked by TestGetRaw; getscu then finds that data set where it expects
// A-RELEASE-RP and gives up on the release, which the short ARTIM timeout ends.)
func TestGetSCU(t *testing.T) {
	requireTools(t, "getscu")
	dir := t.TempDir()
	files := []testFile{
		makeFile(t, dir, dicom.ExplicitVRLittleEndian, 64, 64, 1),
		makeFile(t, dir, dicom.ExplicitVRLittleEndian, 32, 32, 2),
	}
	missing := newUID(t)
	h := &testRetriever{t: t, files: files, done: make(chan struct{}), extra: []StoreItem{{
		SOPClassUID: "1.2.840.10008.5.1.4.1.1.999.77", SOPInstanceUID: missing, TransferSyntaxUID: dicom.ExplicitVRLittleEndian,
		Open: func() (io.ReadCloser, error) { return nil, errors.New("must not be opened") },
	}}}
	_, host, port := startServer(t, &Server{AETitle: "PACSD", Get: h, GetSOPClasses: []string{patientRootGet, studyRootGet},
		MaxPDULength: 4096, ARTIMTimeout: 3 * time.Second})
	out := t.TempDir()
	log := mustRun(t, "getscu", "-v", "-S", "-aet", "GETSCU", "-aec", "PACSD", "-od", out, "+B", "-pdu", "4096",
		"-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID=1.2.3", host, port)
	<-h.done
	for _, f := range files {
		got, ts := receivedDataset(t, out, f.sopInstance)
		if ts != f.ts || !bytes.Equal(got, f.dataset) {
			t.Errorf("%s: received %d bytes in %s, sent %d in %s", f.sopInstance, len(got), ts, len(f.dataset), f.ts)
		}
	}
	if len(h.results) != 3 || !errors.Is(h.results[2].Err, ErrNoContext) || !h.results[0].OK() || !h.results[1].OK() {
		t.Fatalf("results %+v", h.results)
	}
	if len(h.progress) != 3 || h.progress[2] != (SubOperations{Completed: 2, Failed: 1}) {
		t.Errorf("progress %+v", h.progress)
	}
	if req := h.reqs[0]; req.SOPClassUID != studyRootGet || req.CallingAETitle != "GETSCU" || req.TransferSyntaxUID == "" {
		t.Errorf("request %+v", req)
	}
	if !strings.Contains(log, "SubOperationsCompleteOneOrMoreFailures") || !regexp.MustCompile(`Number of Failed Suboperations\s*: 1`).MatchString(log) ||
		!regexp.MustCompile(`Number of Completed Suboperations\s*: 2`).MatchString(log) {
		t.Fatalf("getscu output lacks the warning or the counts:\n%s", log)
	}
}

// TestGetSCUUncompressedFallback: getscu proposes uncompressed syntaxes only (its
// default), so a JPEG Lossless object goes out in Explicit VR Little Endian through
// StoreItem.Uncompressed; when it prefers JPEG Lossless (+xs) the object goes as stored.
func TestGetSCUUncompressedFallback(t *testing.T) {
	requireTools(t, "getscu")
	f := makeFile(t, t.TempDir(), dicom.JPEGLosslessSV1, 64, 64, 1)
	ele, err := os.ReadFile(strings.TrimSuffix(f.path, ".dcm") + ".ele.dcm") // makeFile's source, same UIDs
	if err != nil {
		t.Fatal(err)
	}
	off, _ := part10DatasetOffset(t, ele)
	explicit := ele[off:]
	for _, tc := range []struct {
		name, prefer, wantTS string
		want                 []byte
		uncompressed         bool
	}{
		{"uncompressed proposed", "+x=", dicom.ExplicitVRLittleEndian, explicit, true},
		{"jpeg lossless preferred", "+xs", dicom.JPEGLosslessSV1, f.dataset, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &testRetriever{t: t, files: []testFile{f}, uncompressed: map[string][]byte{f.sopInstance: explicit}, done: make(chan struct{})}
			_, host, port := startServer(t, &Server{AETitle: "PACSD", Get: h, GetSOPClasses: []string{studyRootGet}})
			out := t.TempDir()
			mustRun(t, "getscu", "-S", tc.prefer, "-aec", "PACSD", "-od", out, "+B", "-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID=1.2.3", host, port)
			<-h.done
			if len(h.results) != 1 || !h.results[0].OK() || h.results[0].Uncompressed != tc.uncompressed {
				t.Fatalf("results %+v", h.results)
			}
			got, ts := receivedDataset(t, out, f.sopInstance)
			if ts != tc.wantTS || !bytes.Equal(got, tc.want) {
				t.Errorf("received %d bytes in %s, want %d in %s", len(got), ts, len(tc.want), tc.wantTS)
			}
		})
	}
}
