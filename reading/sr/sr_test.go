package sr

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pacsd/dicom"
	"pacsd/internal/peertest"
	"pacsd/store"
	"pacsd/store/file"
	"pacsd/store/sqlite"
	"pacsd/store/storetest"
)

func studyAttrs(t *testing.T) dicom.JSONDataset {
	t.Helper()
	f, err := os.Open("../../testdata/dr_mono2.dcm")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hdr, err := dicom.ReadPart10(f, dicom.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return store.LevelAttrs(hdr.Dataset, store.LevelStudy)
}

func document(t *testing.T) Document {
	return Document{
		SOPInstanceUID: "2.25.1001",
		SeriesUID:      "2.25.1002",
		SeriesNumber:   999,
		InstanceNumber: 2,
		StudyAttrs:     studyAttrs(t),
		Findings:       "双肺纹理清晰，心影不大。",
		Impression:     "胸部正位片未见明显异常。",
		Signer:         "李医生",
		Author:         "王医生",
		Organization:   "县医院影像科",
		SignedAt:       time.Date(2026, 3, 2, 9, 30, 0, 0, time.FixedZone("CST", 8*3600)),
		Evidence:       []Ref{{SeriesUID: "2.25.7", SOPClassUID: "1.2.840.10008.5.1.4.1.1.1.1", SOPInstanceUID: "2.25.8"}},
		Predecessor:    &Ref{SeriesUID: "2.25.1002", SOPClassUID: BasicTextSRStorage, SOPInstanceUID: "2.25.1000"},
	}
}

// TestBuildReadBack reads the document back with pacsd's own reader: identification copied
// from the study, UTF-8 text intact.
func TestBuildReadBack(t *testing.T) {
	d := document(t)
	b, err := Build(d)
	if err != nil {
		t.Fatal(err)
	}
	hdr, err := dicom.ReadPart10(bytes.NewReader(b), dicom.ReadOptions{})
	if err != nil {
		t.Fatalf("pacsd cannot read its own report: %v", err)
	}
	ds := hdr.Dataset
	for _, c := range []struct {
		tag  dicom.Tag
		want string
	}{
		{dicom.TagSOPClassUID, BasicTextSRStorage},
		{dicom.TagStudyInstanceUID, d.StudyAttrs.String(dicom.TagStudyInstanceUID)},
		{dicom.TagPatientName, "张伟"},
		{dicom.TagPatientID, d.StudyAttrs.String(dicom.TagPatientID)},
		{dicom.TagModality, "SR"},
		{dicom.TagSpecificCharacterSet, "ISO_IR 192"},
		// Study-level attributes the document does not itself set are the study's: storing
		// the report must not erase them from the index.
		{dicom.TagPatientAge, d.StudyAttrs.String(dicom.TagPatientAge)},
		{dicom.TagInstitutionName, "城关镇卫生院"},
	} {
		if got := strings.TrimSpace(ds.String(c.tag)); got != c.want {
			t.Errorf("%v = %q, want %q", c.tag, got, c.want)
		}
	}
}

// TestBuildDCMTK has DCMTK's SR reader check the document: dsrdump parses it as a Basic
// Text SR, shows the Chinese text, the verifying observer and the author (TID 1002).
func TestBuildDCMTK(t *testing.T) {
	peertest.Tool(t, "dsrdump")
	peertest.Tool(t, "dcmdump")
	b, err := Build(document(t))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "report.dcm")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("dsrdump", "+U8", "+Pl", p).CombinedOutput()
	if err != nil {
		t.Fatalf("dsrdump: %v\n%s", err, out)
	}
	s := string(out)
	for _, want := range []string{"Basic Text SR", "双肺纹理清晰，心影不大。", "胸部正位片未见明显异常。", "李医生", "Diagnostic Imaging Report", "VERIFIED",
		`<has obs context PNAME:(,,"Person Observer Name")="王医生">`} {
		if !strings.Contains(s, want) {
			t.Errorf("dsrdump output lacks %q:\n%s", want, s)
		}
	}
	dsrdumpClean(t, s)
	checkIOD(t, p, "BasicTextSR")
	out, err = exec.Command("dcmdump", "+U8", p).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "张伟") {
		t.Errorf("dcmdump: %v\n%s", err, out)
	}
}

// TestBuildArchive stores the document through Archive.Put, the path the viewer uses, beside
// its study's image, and finds it by a QIDO-style search of the index.
func TestBuildArchive(t *testing.T) {
	dir := t.TempDir()
	idx, err := sqlite.Open(context.Background(), filepath.Join(dir, "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	blobs, err := file.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := store.NewArchive(idx, blobs, store.Config{SpoolDir: filepath.Join(dir, "spool"), MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	img, err := os.ReadFile("../../testdata/dr_mono2.dcm")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Put(context.Background(), bytes.NewReader(img), store.PutRequest{}); err != nil {
		t.Fatal(err)
	}
	d := document(t)
	b, err := Build(d)
	if err != nil {
		t.Fatal(err)
	}
	in, err := a.Put(context.Background(), bytes.NewReader(b), store.PutRequest{ExpectSOPInstanceUID: d.SOPInstanceUID})
	if err != nil {
		t.Fatalf("archive refused the report: %v", err)
	}
	study := d.StudyAttrs.String(dicom.TagStudyInstanceUID)
	if in.StudyInstanceUID != study {
		t.Fatalf("report filed under study %s, want %s", in.StudyInstanceUID, study)
	}
	res, err := storetest.SearchDatasets(context.Background(), idx, store.Query{Level: store.LevelInstance, StudyInstanceUID: study,
		Matches: []store.Match{{Tag: dicom.TagModality, Value: "SR"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].String(dicom.TagSOPInstanceUID) != d.SOPInstanceUID {
		t.Errorf("search for the study's SR found %d results", len(res))
	}
}

func TestBuildRefusesBadUIDs(t *testing.T) {
	d := document(t)
	d.SOPInstanceUID = "not-a-uid"
	if _, err := Build(d); err == nil {
		t.Error("Build accepted a bad SOP Instance UID")
	}
}
