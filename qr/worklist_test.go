package qr_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"pacsd/audit"
	"pacsd/dicom"
	"pacsd/dimse"
	"pacsd/qr"
	"pacsd/reading"
	"pacsd/store/sqlite"
)

// mwlFixture: two sites, a modality at each (DR_A, US_B), a county workstation; orders
// made through the repository as the registration page makes them.
type mwlFixture struct {
	handler dimse.FindHandler
	repo    *sqlite.Reading
	audit   *recorder
	peers   peers
}

func newMWLFixture(t testing.TB) *mwlFixture {
	t.Helper()
	ctx := context.Background()
	x, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	repo := x.Reading()
	a, err := repo.PutSite(ctx, reading.Site{Name: "甲镇", AETitles: []string{"DR_A"}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := repo.PutSite(ctx, reading.Site{Name: "乙镇", AETitles: []string{"US_B"}})
	if err != nil {
		t.Fatal(err)
	}
	ps := peers{
		"DR_A":    {AETitle: "DR_A", SiteID: a.ID, MayQuery: true},
		"US_B":    {AETitle: "US_B", SiteID: b.ID, MayQuery: true},
		countyAE:  {AETitle: countyAE, MayQuery: true},
		"NOQUERY": {AETitle: "NOQUERY", MayStore: true},
	}
	rec := &recorder{}
	svc := qr.New(qr.Config{AETitle: "PACSD", Index: x, Audit: rec, Peers: ps})
	h := qr.FindHandlers{qr.StudyRootFind: svc, qr.ModalityWorklistFind: svc.Worklist(repo)}
	return &mwlFixture{handler: h, repo: repo, audit: rec, peers: ps}
}

func (f *mwlFixture) order(t testing.TB, acc, name, station, modality, date, tm string) reading.Order {
	t.Helper()
	o, err := f.repo.CreateOrder(context.Background(), reading.Order{PatientID: "ID" + acc, PatientName: name,
		PatientSex: "F", BirthDate: "19700101", AccessionNumber: acc, RequestedProcedure: "胸部正位",
		Modality: modality, StationAE: station, ScheduledDate: date, ScheduledTime: tm})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// mwlIdentifier encodes a worklist identifier: the top-level keys and one Scheduled
// Procedure Step item.
func mwlIdentifier(t testing.TB, charsets []string, top []key, sps []key) []byte {
	t.Helper()
	return encodeKeys(t, explicitLE, charsets,
		append(slices.Clone(top), key{tag: qr.TagScheduledProcedureStepSequence, vr: "SQ", items: [][]key{sps}}))
}

func (f *mwlFixture) find(t *testing.T, ae string, ident []byte) result {
	t.Helper()
	req := &dimse.QueryRequest{CallingAETitle: ae, CalledAETitle: "PACSD", RemoteAddr: "127.0.0.1:40000",
		MessageID: 1, SOPClassUID: qr.ModalityWorklistFind, TransferSyntaxUID: explicitLE, Identifier: ident}
	var res result
	res.status = f.handler.HandleFind(context.Background(), req, func(status uint16, id []byte) error {
		res.pending = append(res.pending, status)
		res.raw = append(res.raw, bytes.Clone(id))
		ds, err := dicom.ReadDataset(bytes.NewReader(id), explicitLE, dicom.ReadOptions{})
		if err != nil {
			t.Fatalf("response identifier unreadable: %v", err)
		}
		res.responses = append(res.responses, ds)
		return nil
	})
	return res
}

// spsKeys are the step keys every query asks, plus the given ones.
func spsKeys(extra ...key) []key {
	keys := []key{{tag: qr.TagScheduledStationAETitle, vr: "AE"}, {tag: dicom.TagModality, vr: "CS"},
		{tag: qr.TagScheduledProcedureStepStartDate, vr: "DA"}, {tag: qr.TagScheduledProcedureStepStartTime, vr: "TM"}}
	for _, e := range extra {
		keys = slices.DeleteFunc(keys, func(k key) bool { return k.tag == e.tag })
	}
	return append(keys, extra...)
}

func topKeys(extra ...key) []key {
	keys := []key{{tag: dicom.TagAccessionNumber, vr: "SH"}, {tag: dicom.TagPatientName, vr: "PN"},
		{tag: dicom.TagPatientID, vr: "LO"}, {tag: dicom.TagStudyInstanceUID, vr: "UI"}}
	for _, e := range extra {
		keys = slices.DeleteFunc(keys, func(k key) bool { return k.tag == e.tag })
	}
	return append(keys, extra...)
}

func TestWorklistMatching(t *testing.T) {
	f := newMWLFixture(t)
	f.order(t, "A1", "张三", "DR_A", "DX", "20260302", "0830")
	f.order(t, "A2", "李四", "DR_A", "DX", "20260302", "1400")
	f.order(t, "A3", "Wang^Wu", "DR_A", "DX", "20260303", "0900")
	f.order(t, "B1", "张伟", "US_B", "US", "20260302", "1000")
	cancelled := f.order(t, "B2", "赵六", "US_B", "US", "20260302", "1100")
	if err := f.repo.SetOrderStatus(context.Background(), cancelled.ID, reading.OrderCancelled); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		ae       string
		charsets []string
		top, sps []key
		want     []string // accession numbers, in scheduled order
	}{
		{"county sees every open order", countyAE, nil, nil, nil, []string{"A1", "B1", "A2", "A3"}},
		{"a site's AE sees its site's", "US_B", nil, nil, nil, []string{"B1"}},
		{"station AE", countyAE, nil, nil, []key{{tag: qr.TagScheduledStationAETitle, vr: "AE", value: "DR_A"}}, []string{"A1", "A2", "A3"}},
		{"station AE wildcard", countyAE, nil, nil, []key{{tag: qr.TagScheduledStationAETitle, vr: "AE", value: "US*"}}, []string{"B1"}},
		{"modality", countyAE, nil, nil, []key{{tag: dicom.TagModality, vr: "CS", value: "US"}}, []string{"B1"}},
		{"date", countyAE, nil, nil, []key{{tag: qr.TagScheduledProcedureStepStartDate, vr: "DA", value: "20260303"}}, []string{"A3"}},
		{"date range", countyAE, nil, nil, []key{{tag: qr.TagScheduledProcedureStepStartDate, vr: "DA", value: "20260301-20260302"}}, []string{"A1", "B1", "A2"}},
		{"open date range", countyAE, nil, nil, []key{{tag: qr.TagScheduledProcedureStepStartDate, vr: "DA", value: "20260303-"}}, []string{"A3"}},
		{"time range", countyAE, nil, nil, []key{{tag: qr.TagScheduledProcedureStepStartTime, vr: "TM", value: "0800-1000"}}, []string{"A1", "B1", "A3"}},
		{"date and time combined", countyAE, nil, nil, []key{
			{tag: qr.TagScheduledProcedureStepStartDate, vr: "DA", value: "20260302-20260303"},
			{tag: qr.TagScheduledProcedureStepStartTime, vr: "TM", value: "1000-0900"}}, []string{"B1", "A2", "A3"}},
		{"Chinese name GB18030", countyAE, gb18030, []key{{tag: dicom.TagPatientName, vr: "PN", value: "张三"}}, nil, []string{"A1"}},
		{"Chinese name prefix UTF-8", countyAE, utf8CS, []key{{tag: dicom.TagPatientName, vr: "PN", value: "张*"}}, nil, []string{"A1", "B1"}},
		{"Chinese name ISO 2022 IR 58", countyAE, ir58, []key{{tag: dicom.TagPatientName, vr: "PN", value: "李^四"}}, nil, []string{"A2"}},
		{"pinyin any case", countyAE, nil, []key{{tag: dicom.TagPatientName, vr: "PN", value: "zhang*"}}, nil, []string{"A1", "B1"}},
		{"whole name", countyAE, utf8CS, []key{{tag: dicom.TagPatientName, vr: "PN", value: "Zhang^San=张^三"}}, nil, []string{"A1"}},
		{"patient id", countyAE, nil, []key{{tag: dicom.TagPatientID, vr: "LO", value: "IDA2"}}, nil, []string{"A2"}},
		{"accession wildcard", countyAE, nil, []key{{tag: dicom.TagAccessionNumber, vr: "SH", value: "A?"}}, nil, []string{"A1", "A2", "A3"}},
		{"site AE asking for another site's station", "US_B", nil, nil, []key{{tag: qr.TagScheduledStationAETitle, vr: "AE", value: "DR_A"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := f.find(t, tc.ae, mwlIdentifier(t, tc.charsets, topKeys(tc.top...), spsKeys(tc.sps...)))
			if res.status.Code != dimse.StatusSuccess {
				t.Fatalf("status %#04x %q", res.status.Code, res.status.ErrorComment)
			}
			if got := values(res.responses, dicom.TagAccessionNumber); !slices.Equal(got, tc.want) {
				t.Fatalf("matches %v, want %v", got, tc.want)
			}
			for _, st := range res.pending {
				if st != dimse.StatusPending {
					t.Fatalf("pending status %#04x, want 0xFF00", st)
				}
			}
		})
	}
}

func TestWorklistResponse(t *testing.T) {
	f := newMWLFixture(t)
	o := f.order(t, "A1", "张三", "DR_A", "DX", "20260302", "0830")
	for _, tc := range []struct {
		asked, want []string
	}{
		{gb18030, gb18030},
		{utf8CS, utf8CS},
		{nil, utf8CS}, // a Chinese name needs more than the default repertoire
	} {
		t.Run(fmt.Sprint(tc.asked), func(t *testing.T) {
			res := f.find(t, "DR_A", mwlIdentifier(t, tc.asked,
				topKeys(key{tag: dicom.TagPatientBirthDate, vr: "DA"}, key{tag: dicom.TagPatientSex, vr: "CS"},
					key{tag: qr.TagRequestedProcedureDescription, vr: "LO"}, key{tag: dicom.TagRequestedProcedureID, vr: "SH"}),
				spsKeys(key{tag: qr.TagScheduledProcedureStepStatus, vr: "CS"})))
			if res.status.Code != dimse.StatusSuccess || len(res.responses) != 1 {
				t.Fatalf("status %#04x, %d responses", res.status.Code, len(res.responses))
			}
			ds := res.responses[0]
			if got := ds.Strings(dicom.TagSpecificCharacterSet); !slices.Equal(got, tc.want) {
				t.Fatalf("Specific Character Set %v, want %v", got, tc.want)
			}
			for tag, want := range map[dicom.Tag]string{
				dicom.TagPatientName: "Zhang^San=张^三", dicom.TagPatientID: "IDA1", dicom.TagPatientBirthDate: "19700101",
				dicom.TagPatientSex: "F", dicom.TagStudyInstanceUID: o.StudyUID, qr.TagRequestedProcedureDescription: "胸部正位",
				dicom.TagRequestedProcedureID: "A1",
			} {
				if got := ds.String(tag); got != want {
					t.Errorf("%s = %q, want %q", tag, got, want)
				}
			}
			sq := ds.Get(qr.TagScheduledProcedureStepSequence)
			if sq == nil || len(sq.Items) != 1 {
				t.Fatalf("Scheduled Procedure Step Sequence %v, want one item", sq)
			}
			item := sq.Items[0]
			for tag, want := range map[dicom.Tag]string{
				qr.TagScheduledStationAETitle: "DR_A", dicom.TagModality: "DX", qr.TagScheduledProcedureStepStartDate: "20260302",
				qr.TagScheduledProcedureStepStartTime: "083000", qr.TagScheduledProcedureStepStatus: "SCHEDULED",
			} {
				if got := item.String(tag); got != want {
					t.Errorf("step %s = %q, want %q", tag, got, want)
				}
			}
			// Only the keys asked (and the character set).
			want := []dicom.Tag{dicom.TagSpecificCharacterSet, dicom.TagAccessionNumber, dicom.TagPatientName, dicom.TagPatientID,
				dicom.TagPatientBirthDate, dicom.TagPatientSex, dicom.TagStudyInstanceUID, qr.TagRequestedProcedureDescription,
				qr.TagScheduledProcedureStepSequence, dicom.TagRequestedProcedureID}
			if got := tagsOf(ds); !slices.Equal(got, want) {
				t.Errorf("response keys %v, want %v", got, want)
			}
		})
	}
	// One audit event per query, naming the patient.
	last := f.audit.events[len(f.audit.events)-1]
	if last.Action != audit.ActionQuery || last.PatientID != "IDA1" || !strings.HasPrefix(last.Object, "MWL C-FIND") ||
		last.Outcome != audit.OutcomeSuccess || last.Actor.AETitle != "DR_A" {
		t.Fatalf("audit event %+v", last)
	}
}

func TestWorklistRefusals(t *testing.T) {
	f := newMWLFixture(t)
	f.order(t, "A1", "张三", "DR_A", "DX", "20260302", "0830")
	for _, tc := range []struct {
		name string
		ae   string
		top  []key
		sps  []key
		want uint16
	}{
		{"not a registered AE", "STRANGER", nil, nil, dimse.StatusNotAuthorized},
		{"may not query", "NOQUERY", nil, nil, dimse.StatusNotAuthorized},
		{"bad date", countyAE, nil, []key{{tag: qr.TagScheduledProcedureStepStartDate, vr: "DA", value: "2026-03-02"}}, dimse.StatusDataSetMismatch},
		{"wildcard on a date", countyAE, nil, []key{{tag: qr.TagScheduledProcedureStepStartDate, vr: "DA", value: "2026*"}}, dimse.StatusDataSetMismatch},
		{"bad UID", countyAE, []key{{tag: dicom.TagStudyInstanceUID, vr: "UI", value: "1..2"}}, nil, dimse.StatusDataSetMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := f.find(t, tc.ae, mwlIdentifier(t, nil, topKeys(tc.top...), spsKeys(tc.sps...)))
			if res.status.Code != tc.want || len(res.responses) != 0 {
				t.Fatalf("status %#04x with %d responses, want %#04x", res.status.Code, len(res.responses), tc.want)
			}
		})
	}
	// Two step items: sequence matching allows one (PS3.4 C.2.2.2.6).
	ident := mwlIdentifierItems(t, [][]key{spsKeys(), spsKeys()})
	if res := f.find(t, countyAE, ident); res.status.Code != dimse.StatusDataSetMismatch {
		t.Fatalf("two step items: status %#04x, want 0xA900", res.status.Code)
	}
	// A key the worklist does not match, with a value: answered, 0xFF01.
	res := f.find(t, countyAE, mwlIdentifier(t, utf8CS, topKeys(key{tag: dicom.TagReferringPhysicianName, vr: "PN", value: "李*"}), spsKeys()))
	if res.status.Code != dimse.StatusSuccess || len(res.pending) != 1 || res.pending[0] != dimse.StatusPendingOptionalKeys {
		t.Fatalf("unsupported optional key: status %#04x, pending %#v", res.status.Code, res.pending)
	}
	// The dispatcher refuses a SOP class nobody handles.
	req := &dimse.QueryRequest{CallingAETitle: countyAE, SOPClassUID: qr.PatientRootFind, TransferSyntaxUID: explicitLE}
	if st := f.handler.HandleFind(context.Background(), req, nil); st.Code != dimse.StatusSOPClassNotSupported {
		t.Fatalf("unhandled SOP class: %#04x", st.Code)
	}
	if got := f.handler.(qr.FindHandlers).SOPClasses(); !slices.Equal(got, []string{qr.StudyRootFind, qr.ModalityWorklistFind}) {
		t.Fatalf("SOPClasses() = %v", got)
	}
}

func mwlIdentifierItems(t *testing.T, items [][]key) []byte {
	var b bytes.Buffer
	enc, err := dicom.NewEncoder(&b, explicitLE)
	if err != nil {
		t.Fatal(err)
	}
	writeKeys(t, enc, nil, []key{{tag: dicom.TagPatientName, vr: "PN"}, {tag: qr.TagScheduledProcedureStepSequence, vr: "SQ", items: items}})
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
