package qr_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"pacsd/audit"
	"pacsd/dicom"
	"pacsd/dimse"
	"pacsd/qr"
	"pacsd/reading"
	"pacsd/store"
	"pacsd/store/sqlite"
	"pacsd/store/storetest"
)

// peers is a fixed registry.
type peers map[string]reading.Peer

func (p peers) Peer(_ context.Context, ae string) (reading.Peer, bool, error) {
	x, ok := p[ae]
	return x, ok, nil
}

// recorder keeps audit events.
type recorder struct{ events []audit.Event }

func (r *recorder) Record(_ context.Context, ev audit.Event) { r.events = append(r.events, ev) }

// key is one identifier element: a text value as UTF-8 (encoded in the identifier's
// character set), or a sequence (items) when vr is "SQ".
type key struct {
	tag   dicom.Tag
	vr    string
	value string
	items [][]key
}

// identifier encodes keys in ts with Specific Character Set charsets (none when nil).
func identifier(t *testing.T, ts string, charsets []string, level string, keys ...key) []byte {
	t.Helper()
	return encodeKeys(t, ts, charsets, append([]key{{tag: qr.TagQueryRetrieveLevel, vr: "CS", value: level}}, keys...))
}

// encodeKeys encodes keys in ts, with Specific Character Set charsets added unless nil.
func encodeKeys(t testing.TB, ts string, charsets []string, all []key) []byte {
	t.Helper()
	if charsets != nil {
		all = append(all, key{tag: dicom.TagSpecificCharacterSet, vr: "CS", value: strings.Join(charsets, `\`)})
	}
	var b bytes.Buffer
	enc, err := dicom.NewEncoder(&b, ts)
	if err != nil {
		t.Fatal(err)
	}
	writeKeys(t, enc, charsets, all)
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func writeKeys(t testing.TB, enc *dicom.Encoder, charsets []string, keys []key) {
	t.Helper()
	sort.Slice(keys, func(i, j int) bool { return keys[i].tag < keys[j].tag })
	for _, k := range keys {
		if k.vr == "SQ" {
			enc.BeginSequence(k.tag)
			for _, it := range k.items {
				enc.BeginItem()
				writeKeys(t, enc, charsets, it)
				enc.EndItem()
			}
			enc.EndSequence()
			continue
		}
		v, err := dicom.EncodeText(k.value, charsets, k.vr)
		if err != nil {
			t.Fatal(err)
		}
		enc.WriteElement(k.tag, k.vr, v)
	}
}

type fixture struct {
	svc   *qr.Service
	audit *recorder
}

const (
	countyAE = "COUNTY_WS"
	siteAE   = "TOWNSHIP_A"
	storeAE  = "MODALITY_X" // may store, not query
)

func newFixture(t *testing.T, maxResults int) *fixture {
	t.Helper()
	ctx := context.Background()
	x, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	site, err := x.Reading().PutSite(ctx, reading.Site{Name: "A", Institutions: []string{"Township A"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range storetest.PatientFixtures() {
		if _, err := x.PutInstance(ctx, f.Instance()); err != nil {
			t.Fatal(err)
		}
	}
	rec := &recorder{}
	svc := qr.New(qr.Config{AETitle: "PACSD", Index: x, Audit: rec, MaxResults: maxResults,
		Peers: peers{
			countyAE: {AETitle: countyAE, MayQuery: true},
			siteAE:   {AETitle: siteAE, SiteID: site.ID, MayQuery: true},
			storeAE:  {AETitle: storeAE, MayStore: true},
			"LOCKED": {AETitle: "LOCKED", MayQuery: true, Addresses: []string{"10.0.0.0/8"}},
		}})
	return &fixture{svc: svc, audit: rec}
}

type result struct {
	status    dimse.Status
	pending   []uint16
	responses []*dicom.Dataset
	raw       [][]byte
}

func (f *fixture) find(t *testing.T, ae, sopClass, ts string, ident []byte) result {
	t.Helper()
	req := &dimse.QueryRequest{CallingAETitle: ae, CalledAETitle: "PACSD", RemoteAddr: "127.0.0.1:40000",
		MessageID: 1, SOPClassUID: sopClass, TransferSyntaxUID: ts, Identifier: ident}
	var res result
	res.status = f.svc.HandleFind(context.Background(), req, func(status uint16, id []byte) error {
		res.pending = append(res.pending, status)
		res.raw = append(res.raw, bytes.Clone(id))
		ds, err := dicom.ReadDataset(bytes.NewReader(id), ts, dicom.ReadOptions{})
		if err != nil {
			t.Fatalf("response identifier unreadable: %v", err)
		}
		res.responses = append(res.responses, ds)
		return nil
	})
	return res
}

func values(res []*dicom.Dataset, tag dicom.Tag) []string {
	var out []string
	for _, ds := range res {
		out = append(out, ds.String(tag))
	}
	return out
}

func tagsOf(ds *dicom.Dataset) []dicom.Tag {
	var out []dicom.Tag
	for _, e := range ds.Elements {
		out = append(out, e.Tag)
	}
	return out
}

var (
	explicitLE = dicom.ExplicitVRLittleEndian
	implicitLE = dicom.ImplicitVRLittleEndian
	utf8CS     = []string{"ISO_IR 192"}
	gb18030    = []string{"GB18030"}
	ir58       = []string{"", "ISO 2022 IR 58"}
)

func TestFindStudyRootStudyLevel(t *testing.T) {
	f := newFixture(t, 0)
	for _, tc := range []struct {
		name     string
		ts       string
		charsets []string
		keys     []key
		want     []string // Study Instance UIDs in order
	}{
		{"universal", explicitLE, nil, nil, []string{"1.2.2", "1.2.4", "1.2.6", "1.2.1", "1.2.3", "1.2.7", "1.2.5"}},
		{"patient id", explicitLE, nil, []key{{tag: dicom.TagPatientID, vr: "LO", value: "P1"}}, []string{"1.2.6", "1.2.1"}},
		{"name prefix UTF-8", explicitLE, utf8CS, []key{{tag: dicom.TagPatientName, vr: "PN", value: "张*"}}, []string{"1.2.2", "1.2.3", "1.2.7"}},
		{"name prefix GB18030", explicitLE, gb18030, []key{{tag: dicom.TagPatientName, vr: "PN", value: "张*"}}, []string{"1.2.2", "1.2.3", "1.2.7"}},
		{"name prefix ISO 2022 IR 58", explicitLE, ir58, []key{{tag: dicom.TagPatientName, vr: "PN", value: "张*"}}, []string{"1.2.2", "1.2.3", "1.2.7"}},
		{"name implicit VR", implicitLE, utf8CS, []key{{tag: dicom.TagPatientName, vr: "PN", value: "王^芳"}}, []string{"1.2.4"}},
		{"romanised name any case", explicitLE, nil, []key{{tag: dicom.TagPatientName, vr: "PN", value: "zhang*"}}, []string{"1.2.2", "1.2.1"}},
		{"date range", explicitLE, nil, []key{{tag: dicom.TagStudyDate, vr: "DA", value: "20240101-20240301"}}, []string{"1.2.2", "1.2.4", "1.2.6", "1.2.1"}},
		{"date open range", explicitLE, nil, []key{{tag: dicom.TagStudyDate, vr: "DA", value: "-20231231"}}, []string{"1.2.3", "1.2.7"}},
		{"uid list", explicitLE, nil, []key{{tag: dicom.TagStudyInstanceUID, vr: "UI", value: `1.2.1\1.2.5\9.9`}}, []string{"1.2.1", "1.2.5"}},
		{"modalities in study", explicitLE, nil, []key{{tag: dicom.TagModalitiesInStudy, vr: "CS", value: "SR"}}, []string{"1.2.3"}},
		{"accession wildcard", explicitLE, nil, []key{{tag: dicom.TagAccessionNumber, vr: "SH", value: "A?00"}}, []string{"1.2.2", "1.2.6", "1.2.1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys := append([]key{{tag: dicom.TagStudyInstanceUID, vr: "UI"}, {tag: dicom.TagPatientName, vr: "PN"},
				{tag: dicom.TagNumberOfStudyRelatedInstances, vr: "IS"}}, tc.keys...)
			keys = dedupe(keys)
			res := f.find(t, countyAE, qr.StudyRootFind, tc.ts, identifier(t, tc.ts, tc.charsets, "STUDY", keys...))
			if res.status.Code != dimse.StatusSuccess {
				t.Fatalf("status %#04x %q", res.status.Code, res.status.ErrorComment)
			}
			if got := values(res.responses, dicom.TagStudyInstanceUID); !slices.Equal(got, tc.want) {
				t.Fatalf("studies %q, want %q", got, tc.want)
			}
			for _, ds := range res.responses {
				if ds.String(qr.TagRetrieveAETitle) != "PACSD" || ds.String(dicom.TagInstanceAvailability) != "ONLINE" ||
					ds.String(qr.TagQueryRetrieveLevel) != "STUDY" {
					t.Fatalf("response %v lacks Retrieve AE Title, Instance Availability or the level", tagsOf(ds))
				}
				// Exactly the keys asked, plus ours.
				want := []dicom.Tag{qr.TagQueryRetrieveLevel, qr.TagRetrieveAETitle, dicom.TagInstanceAvailability}
				for _, k := range keys {
					want = append(want, k.tag)
				}
				got := tagsOf(ds)
				got = slices.DeleteFunc(got, func(t dicom.Tag) bool { return t == dicom.TagSpecificCharacterSet })
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Fatalf("response keys %v, want %v", got, want)
				}
			}
		})
	}
}

func dedupe(keys []key) []key {
	seen := map[dicom.Tag]bool{}
	var out []key
	for i := len(keys) - 1; i >= 0; i-- {
		if !seen[keys[i].tag] {
			seen[keys[i].tag] = true
			out = append(out, keys[i])
		}
	}
	return out
}

// TestFindCharsets: the Chinese names come back readable in the request's character set,
// or in ISO_IR 192 when the request named none (or one that cannot carry them).
func TestFindCharsets(t *testing.T) {
	f := newFixture(t, 0)
	for _, tc := range []struct {
		name        string
		charsets    []string
		wantCharset string
	}{
		{"UTF-8", utf8CS, "ISO_IR 192"},
		{"GB18030", gb18030, "GB18030"},
		{"ISO 2022 IR 58", ir58, `\ISO 2022 IR 58`},
		{"none", nil, "ISO_IR 192"},
		{"Latin-1", []string{"ISO_IR 100"}, "ISO_IR 192"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ident := identifier(t, explicitLE, tc.charsets, "STUDY", key{tag: dicom.TagPatientName, vr: "PN"},
				key{tag: dicom.TagStudyInstanceUID, vr: "UI", value: "1.2.2"})
			res := f.find(t, countyAE, qr.StudyRootFind, explicitLE, ident)
			if res.status.Code != 0 || len(res.responses) != 1 {
				t.Fatalf("status %#04x, %d responses", res.status.Code, len(res.responses))
			}
			ds := res.responses[0]
			if got := strings.Join(ds.Strings(dicom.TagSpecificCharacterSet), `\`); got != tc.wantCharset {
				t.Errorf("(0008,0005) = %q, want %q", got, tc.wantCharset)
			}
			if got := ds.String(dicom.TagPatientName); got != "ZHANG^WEI=张^伟" {
				t.Errorf("PatientName = %q, want ZHANG^WEI=张^伟", got)
			}
			if tc.wantCharset == "GB18030" {
				gb, _ := dicom.EncodeText("张^伟", gb18030, "PN")
				if !bytes.Contains(res.raw[0], gb) {
					t.Errorf("response not encoded in GB18030: % x", res.raw[0])
				}
			}
		})
	}
}

func TestFindLevels(t *testing.T) {
	f := newFixture(t, 0)
	for _, tc := range []struct {
		name     string
		sopClass string
		level    string
		keys     []key
		want     []string
		tag      dicom.Tag // the tag whose values want lists
		status   uint16
	}{
		{"study root series", qr.StudyRootFind, "SERIES", []key{{tag: dicom.TagStudyInstanceUID, vr: "UI", value: "1.2.3"},
			{tag: dicom.TagSeriesInstanceUID, vr: "UI"}, {tag: dicom.TagModality, vr: "CS"}}, []string{"1.2.3.2", "1.2.3.1"}, dicom.TagSeriesInstanceUID, 0},
		{"study root series by modality", qr.StudyRootFind, "SERIES", []key{{tag: dicom.TagStudyInstanceUID, vr: "UI", value: "1.2.3"},
			{tag: dicom.TagModality, vr: "CS", value: "US"}, {tag: dicom.TagSeriesInstanceUID, vr: "UI"}}, []string{"1.2.3.1"}, dicom.TagSeriesInstanceUID, 0},
		{"study root series without study", qr.StudyRootFind, "SERIES", []key{{tag: dicom.TagModality, vr: "CS", value: "US"}}, nil, 0, dimse.StatusDataSetMismatch},
		{"study root series with a study list", qr.StudyRootFind, "SERIES", []key{{tag: dicom.TagStudyInstanceUID, vr: "UI", value: `1.2.3\1.2.1`}}, nil, 0, dimse.StatusDataSetMismatch},
		{"study root image", qr.StudyRootFind, "IMAGE", []key{{tag: dicom.TagStudyInstanceUID, vr: "UI", value: "1.2.3"},
			{tag: dicom.TagSeriesInstanceUID, vr: "UI", value: "1.2.3.1"}, {tag: dicom.TagSOPInstanceUID, vr: "UI"}}, []string{"1.2.3.1.1", "1.2.3.1.2"}, dicom.TagSOPInstanceUID, 0},
		{"study root image without series", qr.StudyRootFind, "IMAGE", []key{{tag: dicom.TagStudyInstanceUID, vr: "UI", value: "1.2.3"}}, nil, 0, dimse.StatusDataSetMismatch},
		{"study root has no patient level", qr.StudyRootFind, "PATIENT", nil, nil, 0, dimse.StatusDataSetMismatch},
		{"unknown level", qr.StudyRootFind, "FRAME", nil, nil, 0, dimse.StatusDataSetMismatch},
		{"patient root patient", qr.PatientRootFind, "PATIENT", []key{{tag: dicom.TagPatientName, vr: "PN", value: "张*"},
			{tag: dicom.TagPatientID, vr: "LO"}}, []string{"P2", "P3"}, dicom.TagPatientID, 0},
		{"patient root patient by id", qr.PatientRootFind, "PATIENT", []key{{tag: dicom.TagPatientID, vr: "LO", value: "P4"}}, []string{"P4"}, dicom.TagPatientID, 0},
		{"patient root study", qr.PatientRootFind, "STUDY", []key{{tag: dicom.TagPatientID, vr: "LO", value: "P3"},
			{tag: dicom.TagStudyInstanceUID, vr: "UI"}}, []string{"1.2.3", "1.2.7"}, dicom.TagStudyInstanceUID, 0},
		{"patient root study without patient id", qr.PatientRootFind, "STUDY", []key{{tag: dicom.TagStudyInstanceUID, vr: "UI"}}, nil, 0, dimse.StatusDataSetMismatch},
		{"patient root series", qr.PatientRootFind, "SERIES", []key{{tag: dicom.TagPatientID, vr: "LO", value: "P3"},
			{tag: dicom.TagStudyInstanceUID, vr: "UI", value: "1.2.3"}, {tag: dicom.TagSeriesInstanceUID, vr: "UI"}}, []string{"1.2.3.2", "1.2.3.1"}, dicom.TagSeriesInstanceUID, 0},
		{"patient root series of another patient", qr.PatientRootFind, "SERIES", []key{{tag: dicom.TagPatientID, vr: "LO", value: "P1"},
			{tag: dicom.TagStudyInstanceUID, vr: "UI", value: "1.2.3"}, {tag: dicom.TagSeriesInstanceUID, vr: "UI"}}, nil, dicom.TagSeriesInstanceUID, 0},
		{"patient root image", qr.PatientRootFind, "IMAGE", []key{{tag: dicom.TagPatientID, vr: "LO", value: "P3"},
			{tag: dicom.TagStudyInstanceUID, vr: "UI", value: "1.2.3"}, {tag: dicom.TagSeriesInstanceUID, vr: "UI", value: "1.2.3.1"},
			{tag: dicom.TagInstanceNumber, vr: "IS", value: "2"}, {tag: dicom.TagSOPInstanceUID, vr: "UI"}}, []string{"1.2.3.1.2"}, dicom.TagSOPInstanceUID, 0},
		{"relational key refused", qr.StudyRootFind, "STUDY", []key{{tag: dicom.TagModality, vr: "CS", value: "CT"}}, nil, 0, dimse.StatusDataSetMismatch},
		{"bad date refused", qr.StudyRootFind, "STUDY", []key{{tag: dicom.TagStudyDate, vr: "DA", value: "2024-13-01"}}, nil, 0, dimse.StatusDataSetMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := f.find(t, countyAE, tc.sopClass, explicitLE, identifier(t, explicitLE, utf8CS, tc.level, tc.keys...))
			if res.status.Code != tc.status {
				t.Fatalf("status %#04x %q, want %#04x", res.status.Code, res.status.ErrorComment, tc.status)
			}
			if tc.status != 0 {
				if len(res.responses) != 0 || res.status.ErrorComment == "" {
					t.Fatalf("refused with %d responses and comment %q", len(res.responses), res.status.ErrorComment)
				}
				return
			}
			if got := values(res.responses, tc.tag); !slices.Equal(got, tc.want) {
				t.Fatalf("%s = %q, want %q", tc.tag, got, tc.want)
			}
		})
	}
}

// TestFindPatientCounts: the patient level answers its derived keys.
func TestFindPatientCounts(t *testing.T) {
	f := newFixture(t, 0)
	res := f.find(t, countyAE, qr.PatientRootFind, explicitLE, identifier(t, explicitLE, utf8CS, "PATIENT",
		key{tag: dicom.TagPatientID, vr: "LO", value: "P3"}, key{tag: dicom.TagPatientName, vr: "PN"},
		key{tag: 0x00201200, vr: "IS"}, key{tag: 0x00201202, vr: "IS"}, key{tag: 0x00201204, vr: "IS"}))
	if res.status.Code != 0 || len(res.responses) != 1 {
		t.Fatalf("status %#04x, %d responses", res.status.Code, len(res.responses))
	}
	ds := res.responses[0]
	for tag, want := range map[dicom.Tag]int64{0x00201200: 2, 0x00201202: 3, 0x00201204: 4} {
		if n, ok := ds.Int(tag); !ok || n != want {
			t.Errorf("%s = %d, %v; want %d", tag, n, ok, want)
		}
	}
	if ds.String(dicom.TagPatientName) != "张伟" {
		t.Errorf("PatientName %q", ds.String(dicom.TagPatientName))
	}
	if ds.Get(dicom.TagInstanceAvailability) != nil {
		t.Errorf("Instance Availability at the patient level")
	}
}

func TestFindScope(t *testing.T) {
	f := newFixture(t, 0)
	ident := identifier(t, explicitLE, nil, "STUDY", key{tag: dicom.TagStudyInstanceUID, vr: "UI"})
	if got := values(f.find(t, siteAE, qr.StudyRootFind, explicitLE, ident).responses, dicom.TagStudyInstanceUID); !slices.Equal(got, []string{"1.2.1"}) {
		t.Errorf("site A's AE sees %q, want only its study 1.2.1", got)
	}
	if got := f.find(t, countyAE, qr.StudyRootFind, explicitLE, ident).responses; len(got) != 7 {
		t.Errorf("the county's AE sees %d studies, want 7", len(got))
	}
	pat := identifier(t, explicitLE, nil, "PATIENT", key{tag: dicom.TagPatientID, vr: "LO"})
	if got := values(f.find(t, siteAE, qr.PatientRootFind, explicitLE, pat).responses, dicom.TagPatientID); !slices.Equal(got, []string{"P1"}) {
		t.Errorf("site A's AE sees patients %q, want P1", got)
	}
	for _, ae := range []string{"STRANGER", storeAE, "LOCKED"} {
		res := f.find(t, ae, qr.StudyRootFind, explicitLE, ident)
		if res.status.Code != dimse.StatusNotAuthorized || len(res.responses) != 0 {
			t.Errorf("%s: status %#04x with %d responses, want 0x0124 and none", ae, res.status.Code, len(res.responses))
		}
	}
	last := f.audit.events[len(f.audit.events)-1]
	if last.Action != audit.ActionSecurity || last.Actor.AETitle != "LOCKED" || last.Outcome != audit.OutcomeFailure {
		t.Errorf("refusal audit event %+v", last)
	}
}

func TestFindAudit(t *testing.T) {
	f := newFixture(t, 0)
	f.find(t, countyAE, qr.StudyRootFind, explicitLE, identifier(t, explicitLE, utf8CS, "STUDY",
		key{tag: dicom.TagPatientName, vr: "PN", value: "张*"}, key{tag: dicom.TagStudyInstanceUID, vr: "UI"}))
	if len(f.audit.events) != 1 {
		t.Fatalf("%d audit events, want 1", len(f.audit.events))
	}
	ev := f.audit.events[0]
	if ev.Action != audit.ActionQuery || ev.Actor.AETitle != countyAE || ev.Actor.Address != "127.0.0.1" ||
		!strings.Contains(ev.Object, "C-FIND STUDY") || !strings.Contains(ev.Object, "PatientName=张*") ||
		!strings.Contains(ev.Detail, "P2") || !strings.Contains(ev.Detail, "P3") {
		t.Errorf("audit event %+v", ev)
	}
}

func TestFindMaxResultsAndCancel(t *testing.T) {
	f := newFixture(t, 3)
	ident := identifier(t, explicitLE, nil, "STUDY", key{tag: dicom.TagStudyInstanceUID, vr: "UI"})
	res := f.find(t, countyAE, qr.StudyRootFind, explicitLE, ident)
	if res.status.Code != 0 || len(res.responses) != 3 {
		t.Fatalf("status %#04x, %d responses; want success and the first 3", res.status.Code, len(res.responses))
	}
	// C-CANCEL: send fails after the first response; nothing more is sent.
	req := &dimse.QueryRequest{CallingAETitle: countyAE, RemoteAddr: "127.0.0.1:1", SOPClassUID: qr.StudyRootFind,
		TransferSyntaxUID: explicitLE, Identifier: ident}
	calls := 0
	cancelled := errors.New("cancelled")
	f.svc.HandleFind(context.Background(), req, func(uint16, []byte) error {
		calls++
		return cancelled
	})
	if calls != 1 {
		t.Fatalf("send called %d times after a cancel, want 1", calls)
	}
	if ev := f.audit.events[len(f.audit.events)-1]; ev.Outcome != audit.OutcomeFailure || !strings.Contains(ev.Detail, "cancelled") {
		t.Errorf("cancelled query's audit event %+v", ev)
	}
}

// TestFindOptionalKeys: keys the index cannot match are answered empty with 0xFF01; sequence
// keys asked universally are answered with what the index keeps.
func TestFindOptionalKeys(t *testing.T) {
	f := newFixture(t, 0)
	res := f.find(t, countyAE, qr.StudyRootFind, explicitLE, identifier(t, explicitLE, nil, "STUDY",
		key{tag: dicom.TagStudyInstanceUID, vr: "UI", value: "1.2.1"},
		key{tag: 0x00101060, vr: "PN", value: "Li*"}, // PatientMotherBirthName: not kept
	))
	if res.status.Code != 0 || len(res.responses) != 1 || res.pending[0] != dimse.StatusPendingOptionalKeys {
		t.Fatalf("status %#04x, %d responses, pending %#04x; want one 0xFF01", res.status.Code, len(res.responses), res.pending)
	}
	if e := res.responses[0].Get(0x00101060); e == nil || e.Length != 0 {
		t.Errorf("unsupported key not answered empty: %+v", e)
	}
	res = f.find(t, countyAE, qr.StudyRootFind, explicitLE, identifier(t, explicitLE, nil, "STUDY",
		key{tag: dicom.TagStudyInstanceUID, vr: "UI", value: "1.2.1"},
		key{tag: 0x00081032, vr: "SQ"}, // ProcedureCodeSequence, universal
	))
	if res.status.Code != 0 || len(res.responses) != 1 || res.pending[0] != dimse.StatusPending {
		t.Fatalf("universal sequence: status %#04x, %d responses, pending %#04x", res.status.Code, len(res.responses), res.pending)
	}
	if e := res.responses[0].Get(0x00081032); e == nil || e.VR != "SQ" {
		t.Errorf("sequence key not answered: %+v", e)
	}
	_ = store.LevelStudy
}
