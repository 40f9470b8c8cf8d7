package qr

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"pacsd/audit"
	"pacsd/dicom"
	"pacsd/dimse"
	"pacsd/reading"
	"pacsd/store"
	"pacsd/store/file"
	"pacsd/store/sqlite"
)

// peers is a registry for tests.
type peers map[string]reading.Peer

func (p peers) Peer(_ context.Context, ae string) (reading.Peer, bool, error) {
	peer, ok := p[strings.TrimRight(ae, " ")]
	return peer, ok, nil
}

// events captures audit events.
type events struct {
	mu  sync.Mutex
	evs []audit.Event
}

func (e *events) Record(_ context.Context, ev audit.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.evs = append(e.evs, ev)
}

func (e *events) all() []audit.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.evs)
}

// scopedIndex records the queries asked of the index.
type scopedIndex struct {
	store.IndexReader
	mu      sync.Mutex
	queries []store.Query
}

func (s *scopedIndex) Search(ctx context.Context, q store.Query) ([]store.Hit, error) {
	s.mu.Lock()
	s.queries = append(s.queries, q)
	s.mu.Unlock()
	return s.IndexReader.Search(ctx, q)
}

type testArchive struct {
	*store.Archive
	idx *scopedIndex
}

func (a *testArchive) Index() store.IndexReader { return a.idx }

// stored is one test object put into the archive.
type stored struct {
	name                   string
	study, series, sop, ts string
	patientID              string
	dataset                []byte // the data set bytes as stored (no meta)
	sopClass               string
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newTestArchive stores the named files of testdata/ in a fresh archive (SQLite index,
// folder of objects).
func newTestArchive(t *testing.T, names ...string) (*testArchive, map[string]stored) {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	idx, err := sqlite.Open(ctx, filepath.Join(dir, "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	blobs, err := file.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := store.NewArchive(idx, blobs, store.Config{SpoolDir: filepath.Join(dir, "spool"), MinFreeBytes: -1, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	objs := map[string]stored{}
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join("..", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		inst, err := a.Put(ctx, bytes.NewReader(b), store.PutRequest{Origin: store.Origin{Transport: "dimse", CallingAE: "TEST"}})
		if err != nil {
			t.Fatalf("put %s: %v", name, err)
		}
		objs[name] = stored{
			name: name, study: inst.StudyInstanceUID, series: inst.SeriesInstanceUID, sop: inst.SOPInstanceUID,
			ts: inst.TransferSyntaxUID, sopClass: inst.SOPClassUID, patientID: inst.StudyAttrs.String(dicom.TagPatientID),
			dataset: b[inst.DatasetOffset:],
		}
	}
	return &testArchive{Archive: a, idx: &scopedIndex{IndexReader: a.Index()}}, objs
}

// identifier encodes a retrieve identifier in Explicit VR Little Endian.
func identifier(t *testing.T, level string, keys map[dicom.Tag]string) []byte {
	t.Helper()
	var b bytes.Buffer
	enc, err := dicom.NewEncoder(&b, dicom.ExplicitVRLittleEndian)
	if err != nil {
		t.Fatal(err)
	}
	tags := []dicom.Tag{TagQueryRetrieveLevel}
	for tag := range keys {
		tags = append(tags, tag)
	}
	sort.Slice(tags, func(i, j int) bool { return tags[i] < tags[j] })
	for _, tag := range tags {
		switch tag {
		case TagQueryRetrieveLevel:
			enc.WriteString(tag, "CS", level)
		case dicom.TagPatientID:
			enc.WriteString(tag, "LO", keys[tag])
		default:
			enc.WriteString(tag, "UI", keys[tag])
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func request(t *testing.T, sopClass, calling, level string, keys map[dicom.Tag]string) *dimse.QueryRequest {
	return &dimse.QueryRequest{
		AssociationID: "a1", CallingAETitle: calling, CalledAETitle: "PACSD", RemoteAddr: "127.0.0.1:4242",
		MessageID: 7, SOPClassUID: sopClass, TransferSyntaxUID: dicom.ExplicitVRLittleEndian,
		Identifier: identifier(t, level, keys),
	}
}

// newRetriever is a Retriever over a, with the peers registry reg.
func newRetriever(a Archive, reg peers, ev audit.Auditor, dial func(context.Context, string, dimse.ClientConfig, []dimse.StoreItem, func(dimse.StoreResult)) error) *Retriever {
	var idx store.IndexReader
	if a != nil {
		idx = a.Index()
	}
	s := New(Config{AETitle: "PACSD", Index: idx, Peers: reg, Audit: ev, Logger: quietLogger()})
	return NewRetriever(s, RetrieveConfig{Archive: a, Dial: dial})
}

// keysOf decodes a request as the handlers do.
func keysOf(t *testing.T, r *Retriever, q *dimse.QueryRequest) (retrieveKeys, *dimse.Status) {
	t.Helper()
	req, st, ok := r.s.Begin(context.Background(), q, MayRetrieve)
	if !ok {
		return retrieveKeys{}, &st
	}
	return retrieveKeysOf(req)
}

func TestRetrieveKeys(t *testing.T) {
	r := newRetriever(nil, peers{"X": {AETitle: "X", MayRetrieve: true}}, nil, nil)
	for _, tc := range []struct {
		name     string
		sopClass string
		level    string
		keys     map[dicom.Tag]string
		want     uint16 // 0: accepted
		values   int
	}{
		{"study", StudyRootMove, "STUDY", map[dicom.Tag]string{dicom.TagStudyInstanceUID: "1.2.3"}, 0, 1},
		{"study list", StudyRootGet, "STUDY", map[dicom.Tag]string{dicom.TagStudyInstanceUID: `1.2.3\1.2.4\1.2.3`}, 0, 2},
		{"study missing", StudyRootMove, "STUDY", nil, dimse.StatusDataSetMismatch, 0},
		{"study wildcard", StudyRootMove, "STUDY", map[dicom.Tag]string{dicom.TagStudyInstanceUID: "1.2.*"}, dimse.StatusDataSetMismatch, 0},
		{"patient in study root", StudyRootMove, "PATIENT", map[dicom.Tag]string{dicom.TagPatientID: "P1"}, dimse.StatusDataSetMismatch, 0},
		{"patient", PatientRootMove, "PATIENT", map[dicom.Tag]string{dicom.TagPatientID: "P1"}, 0, 1},
		{"patient wildcard", PatientRootMove, "PATIENT", map[dicom.Tag]string{dicom.TagPatientID: "P*"}, dimse.StatusDataSetMismatch, 0},
		{"study in patient root without patient", PatientRootMove, "STUDY", map[dicom.Tag]string{dicom.TagStudyInstanceUID: "1.2.3"}, dimse.StatusDataSetMismatch, 0},
		{"series", StudyRootMove, "SERIES", map[dicom.Tag]string{dicom.TagStudyInstanceUID: "1.2.3", dicom.TagSeriesInstanceUID: `1.2.3.1\1.2.3.2`}, 0, 2},
		{"series two studies", StudyRootMove, "SERIES", map[dicom.Tag]string{dicom.TagStudyInstanceUID: `1.2.3\1.2.4`, dicom.TagSeriesInstanceUID: "1.2.3.1"}, dimse.StatusDataSetMismatch, 0},
		{"image", PatientRootGet, "IMAGE", map[dicom.Tag]string{dicom.TagPatientID: "P1", dicom.TagStudyInstanceUID: "1.2.3", dicom.TagSeriesInstanceUID: "1.2.3.1", dicom.TagSOPInstanceUID: "1.2.3.1.1"}, 0, 1},
		{"image missing", StudyRootMove, "IMAGE", map[dicom.Tag]string{dicom.TagStudyInstanceUID: "1.2.3", dicom.TagSeriesInstanceUID: "1.2"}, dimse.StatusDataSetMismatch, 0},
		{"no level", StudyRootMove, "", map[dicom.Tag]string{dicom.TagStudyInstanceUID: "1.2.3"}, dimse.StatusDataSetMismatch, 0},
		{"bad uid", StudyRootMove, "STUDY", map[dicom.Tag]string{dicom.TagStudyInstanceUID: "1.2.x"}, dimse.StatusDataSetMismatch, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, st := keysOf(t, r, request(t, tc.sopClass, "X", tc.level, tc.keys))
			switch {
			case tc.want == 0 && st != nil:
				t.Fatalf("refused: %s", st)
			case tc.want != 0 && st == nil:
				t.Fatalf("accepted %+v, want status 0x%04X", k, tc.want)
			case tc.want != 0 && st.Code != tc.want:
				t.Fatalf("status %s, want 0x%04X", st, tc.want)
			case tc.want == 0 && len(k.values) != tc.values:
				t.Fatalf("values %q, want %d", k.values, tc.values)
			}
		})
	}
	garbled := &dimse.QueryRequest{CallingAETitle: "X", SOPClassUID: StudyRootMove, TransferSyntaxUID: dicom.ExplicitVRLittleEndian, Identifier: []byte{8, 0, 0x52, 0, 'C', 'S', 0xff, 0x7f}}
	if _, st := keysOf(t, r, garbled); st == nil || st.Code != dimse.StatusDataSetMismatch {
		t.Fatalf("garbled identifier: %v, want 0xA900", st)
	}
}

func TestResolve(t *testing.T) {
	a, objs := newTestArchive(t, "ts_explicit_le.dcm", "ts_jpeg_baseline.dcm", "dr_mono1.dcm", "us_multiframe.dcm", "charset_gb18030.dcm")
	r := newRetriever(a, peers{"WS": {AETitle: "WS", MayRetrieve: true}, "TOWN": {AETitle: "TOWN", MayRetrieve: true, SiteID: 3}}, nil, nil)
	ctx := context.Background()
	sops := func(insts []*store.Instance) []string {
		var out []string
		for _, i := range insts {
			out = append(out, i.SOPInstanceUID)
		}
		sort.Strings(out)
		return out
	}
	// Every stored object that sel picks.
	where := func(sel func(stored) bool) []string {
		var out []string
		for _, o := range objs {
			if sel(o) {
				out = append(out, o.sop)
			}
		}
		sort.Strings(out)
		return out
	}
	dr, us, jpeg := objs["dr_mono1.dcm"], objs["us_multiframe.dcm"], objs["ts_jpeg_baseline.dcm"]
	T := func(kv ...any) map[dicom.Tag]string {
		m := map[dicom.Tag]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(dicom.Tag)] = kv[i+1].(string)
		}
		return m
	}
	for _, tc := range []struct {
		name     string
		sopClass string
		level    string
		keys     map[dicom.Tag]string
		want     []string
	}{
		{"one study", StudyRootMove, "STUDY", T(dicom.TagStudyInstanceUID, dr.study), where(func(o stored) bool { return o.study == dr.study })},
		{"study list", StudyRootMove, "STUDY", T(dicom.TagStudyInstanceUID, dr.study+`\`+us.study+`\1.2.999`),
			where(func(o stored) bool { return o.study == dr.study || o.study == us.study })},
		{"unknown study", StudyRootMove, "STUDY", T(dicom.TagStudyInstanceUID, "1.2.999"), nil},
		{"study of another patient", PatientRootMove, "STUDY", T(dicom.TagPatientID, "NOBODY", dicom.TagStudyInstanceUID, dr.study), nil},
		{"series", StudyRootMove, "SERIES", T(dicom.TagStudyInstanceUID, us.study, dicom.TagSeriesInstanceUID, us.series), where(func(o stored) bool { return o.series == us.series })},
		{"series of another study", StudyRootMove, "SERIES", T(dicom.TagStudyInstanceUID, dr.study, dicom.TagSeriesInstanceUID, us.series), nil},
		{"images", StudyRootGet, "IMAGE", T(dicom.TagStudyInstanceUID, jpeg.study, dicom.TagSeriesInstanceUID, jpeg.series, dicom.TagSOPInstanceUID, jpeg.sop+`\1.2.999`),
			[]string{jpeg.sop}},
		{"patient", PatientRootMove, "PATIENT", T(dicom.TagPatientID, dr.patientID), where(func(o stored) bool { return o.patientID == dr.patientID })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, st := keysOf(t, r, request(t, tc.sopClass, "WS", tc.level, tc.keys))
			if st != nil {
				t.Fatal(st)
			}
			got, err := r.resolve(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			if g := sops(got); !slices.Equal(g, tc.want) {
				t.Fatalf("resolved %q, want %q", g, tc.want)
			}
		})
	}
	// A township peer's retrieve asks the index within its site, never with quarantined
	// studies: the test objects belong to no site, so it finds nothing.
	a.idx.queries = nil
	k, st := keysOf(t, r, request(t, StudyRootMove, "TOWN", "STUDY", T(dicom.TagStudyInstanceUID, dr.study)))
	if st != nil {
		t.Fatal(st)
	}
	got, err := r.resolve(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.idx.queries) == 0 || len(got) != 0 {
		t.Fatalf("a site peer's retrieve: %d searches, %d instances", len(a.idx.queries), len(got))
	}
	for _, q := range a.idx.queries {
		if q.SiteID != 3 || q.WithQuarantined {
			t.Fatalf("query %+v: want SiteID 3 without quarantined studies", q)
		}
	}
}

// fakeSend answers each item with the status given for it, reading its data set through.
func fakeSend(statuses map[string]dimse.Status, cancelAfter int, cancel context.CancelFunc) func(context.Context, []dimse.StoreItem, func(dimse.StoreResult)) error {
	return func(ctx context.Context, items []dimse.StoreItem, report func(dimse.StoreResult)) error {
		var failed int
		for i, it := range items {
			if ctx.Err() != nil {
				report(dimse.StoreResult{Index: i, Err: ctx.Err()})
				failed++
				continue
			}
			rc, err := it.Open()
			if err != nil {
				report(dimse.StoreResult{Index: i, Err: err})
				failed++
				continue
			}
			io.Copy(io.Discard, rc)
			rc.Close()
			st := statuses[it.SOPInstanceUID]
			report(dimse.StoreResult{Index: i, Status: st})
			if !st.OK() {
				failed++
			}
			if i+1 == cancelAfter {
				cancel()
			}
		}
		if failed > 0 {
			return fmt.Errorf("%d failed", failed)
		}
		return nil
	}
}

func TestSubOpsStatuses(t *testing.T) {
	a, objs := newTestArchive(t, "ts_explicit_le.dcm", "ts_jpeg_baseline.dcm", "dr_mono1.dcm", "sc_mono8.dcm")
	r := newRetriever(a, peers{}, nil, nil)
	ctx := context.Background()
	var insts []*store.Instance
	for _, n := range []string{"ts_explicit_le.dcm", "ts_jpeg_baseline.dcm", "dr_mono1.dcm", "sc_mono8.dcm"} {
		inst, err := a.Index().Instance(ctx, objs[n].sop)
		if err != nil {
			t.Fatal(err)
		}
		insts = append(insts, inst)
	}
	ok := dimse.Status{Code: dimse.StatusSuccess}
	fail := dimse.Status{Code: dimse.StatusOutOfResources}
	warn := dimse.Status{Code: dimse.StatusWarningCoercion}
	jpeg, dr := objs["ts_jpeg_baseline.dcm"].sop, objs["dr_mono1.dcm"].sop
	for _, tc := range []struct {
		name        string
		statuses    map[string]dimse.Status // default: failure (zero Status is success: set explicitly)
		cancelAfter int
		want        dimse.RetrieveResult
		progress    int
	}{
		{"all sent", nil, 0, dimse.RetrieveResult{Status: ok, SubOperations: dimse.SubOperations{Completed: 4}}, 3},
		{"one failed", map[string]dimse.Status{jpeg: fail}, 0,
			dimse.RetrieveResult{Status: dimse.Status{Code: dimse.StatusSubOpsWarning}, SubOperations: dimse.SubOperations{Completed: 3, Failed: 1}, FailedSOPInstanceUIDs: []string{jpeg}}, 3},
		{"one warning", map[string]dimse.Status{dr: warn}, 0,
			dimse.RetrieveResult{Status: dimse.Status{Code: dimse.StatusSubOpsWarning}, SubOperations: dimse.SubOperations{Completed: 3, Warning: 1}}, 3},
		{"none sent", map[string]dimse.Status{insts[0].SOPInstanceUID: fail, jpeg: fail, dr: fail, insts[3].SOPInstanceUID: fail}, 0,
			dimse.RetrieveResult{Status: dimse.Status{Code: dimse.StatusOutOfResourcesSubOps, ErrorComment: "no sub-operation succeeded"}, SubOperations: dimse.SubOperations{Failed: 4},
				FailedSOPInstanceUIDs: []string{insts[0].SOPInstanceUID, jpeg, dr, insts[3].SOPInstanceUID}}, 3},
		{"cancelled after two", nil, 2,
			dimse.RetrieveResult{Status: dimse.Status{Code: dimse.StatusCancel}, SubOperations: dimse.SubOperations{Remaining: 2, Completed: 2}}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			statuses := map[string]dimse.Status{}
			for _, i := range insts {
				statuses[i.SOPInstanceUID] = ok
			}
			for k, v := range tc.statuses {
				statuses[k] = v
			}
			var pending []dimse.SubOperations
			res, perItem, _ := subOps(ctx, r.items(ctx, insts), func(s dimse.SubOperations) error {
				pending = append(pending, s)
				return nil
			}, fakeSend(statuses, tc.cancelAfter, cancel))
			if fmt.Sprint(res) != fmt.Sprint(tc.want) {
				t.Fatalf("result %+v\nwant   %+v", res, tc.want)
			}
			if len(pending) != tc.progress {
				t.Fatalf("%d pending responses %v, want %d", len(pending), pending, tc.progress)
			}
			for i, p := range pending {
				if p.Remaining != len(insts)-1-i || p.Completed+p.Failed+p.Warning != i+1 {
					t.Fatalf("pending response %d: %+v", i, p)
				}
			}
			if tc.cancelAfter > 0 && (perItem[tc.cancelAfter] != nil || perItem[tc.cancelAfter-1] == nil) {
				t.Fatalf("per-item results after cancel: %v", perItem)
			}
		})
	}
	// A requester gone (progress failing) stops the sub-operations.
	var sent int
	res, _, _ := subOps(ctx, r.items(ctx, insts), func(dimse.SubOperations) error { return errors.New("association gone") },
		func(ctx context.Context, items []dimse.StoreItem, report func(dimse.StoreResult)) error {
			for i := range items {
				if ctx.Err() != nil {
					report(dimse.StoreResult{Index: i, Err: ctx.Err()})
					continue
				}
				sent++
				report(dimse.StoreResult{Index: i})
			}
			return nil
		})
	if sent != 1 || res.Status.Code != dimse.StatusCancel || res.SubOperations.Remaining != 3 {
		t.Fatalf("after a failed progress: sent %d, result %+v", sent, res)
	}
}

func TestMoveRefused(t *testing.T) {
	a, objs := newTestArchive(t, "dr_mono1.dcm")
	reg := peers{
		"WS":       {AETitle: "WS", MayRetrieve: true},
		"MODALITY": {AETitle: "MODALITY", MayStore: true},
		"SECURE":   {AETitle: "SECURE", MayRetrieve: true, RequireTLS: true},
		"DEST":     {AETitle: "DEST", Destination: true, Host: "127.0.0.1", Port: 104},
		"NOPORT":   {AETitle: "NOPORT", Destination: true},
		"NODEST":   {AETitle: "NODEST", Host: "127.0.0.1", Port: 104},
	}
	var ev events
	dialled := 0
	r := newRetriever(a, reg, &ev, func(context.Context, string, dimse.ClientConfig, []dimse.StoreItem, func(dimse.StoreResult)) error {
		dialled++
		return nil
	})
	keys := map[dicom.Tag]string{dicom.TagStudyInstanceUID: objs["dr_mono1.dcm"].study}
	noProgress := func(dimse.SubOperations) error { return nil }
	for _, tc := range []struct {
		calling, dest string
		want          uint16
	}{
		{"STRANGER", "DEST", dimse.StatusNotAuthorized},
		{"MODALITY", "DEST", dimse.StatusNotAuthorized},
		{"SECURE", "DEST", dimse.StatusNotAuthorized}, // must call over TLS
		{"WS", "UNKNOWN", dimse.StatusMoveDestUnknown},
		{"WS", "NOPORT", dimse.StatusMoveDestUnknown},
		{"WS", "NODEST", dimse.StatusMoveDestUnknown},
	} {
		req := request(t, StudyRootMove, tc.calling, "STUDY", keys)
		req.MoveDestination = tc.dest
		res := r.HandleMove(context.Background(), req, noProgress)
		if res.Status.Code != tc.want {
			t.Errorf("%s to %s: status %s, want 0x%04X", tc.calling, tc.dest, res.Status, tc.want)
		}
	}
	if dialled != 0 {
		t.Fatalf("dialled %d times for refused moves", dialled)
	}
	// Refused peers are security events (Service.Begin), refused moves retrieve failures.
	evs := ev.all()
	if len(evs) != 6 {
		t.Fatalf("%d audit events, want 6: %+v", len(evs), evs)
	}
	for i, e := range evs {
		want := audit.ActionRetrieve
		if i < 3 {
			want = audit.ActionSecurity
		}
		if e.Action != want || e.Outcome != audit.OutcomeFailure || e.Actor.Address != "127.0.0.1" || e.Actor.AETitle == "" {
			t.Errorf("audit event %d: %+v", i, e)
		}
	}
	// C-GET by a peer without the right: refused before anything is sent.
	res := r.HandleGet(context.Background(), request(t, StudyRootGet, "MODALITY", "STUDY", keys), nil, noProgress)
	if res.Status.Code != dimse.StatusNotAuthorized {
		t.Fatalf("C-GET by a modality: %s", res.Status)
	}
}
