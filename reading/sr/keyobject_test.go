package sr

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pacsd/dicom"
	"pacsd/internal/peertest"
	"pacsd/reading"
)

func keyObject(t *testing.T) KeyObject {
	at := time.Date(2026, 3, 2, 9, 40, 0, 0, time.FixedZone("CST", 8*3600))
	return KeyObject{
		SOPInstanceUID:    "2.25.2001",
		SeriesUID:         "2.25.2002",
		SeriesNumber:      998,
		InstanceNumber:    3,
		SeriesDescription: "关键图像",
		StudyAttrs:        studyAttrs(t),
		Description:       "右下肺结节",
		Observer:          "李医生",
		Saved:             at,
		Images: []reading.KeyImage{
			{SeriesUID: "2.25.7", SOPClassUID: "1.2.840.10008.5.1.4.1.1.1.1", SOPInstanceUID: "2.25.8", Frames: 1},
			{SeriesUID: "2.25.9", SOPClassUID: "1.2.840.10008.5.1.4.1.1.3.1", SOPInstanceUID: "2.25.10", Frame: 14, Frames: 40},
			{SeriesUID: "2.25.9", SOPClassUID: "1.2.840.10008.5.1.4.1.1.3.1", SOPInstanceUID: "2.25.10", Frame: 0, Frames: 40},
		},
	}
}

// TestKeyObjectContent reads the document back: a KO of the study titled Of Interest
// following TID 2010, one IMAGE per key image (frames 1-based, named only in the cine loop),
// each instance once in the evidence.
func TestKeyObjectContent(t *testing.T) {
	k := keyObject(t)
	ds := readBack(t, k)
	want := map[dicom.Tag]string{
		dicom.TagSOPClassUID:       KeyObjectSelectionStorage,
		dicom.TagModality:          "KO",
		dicom.TagStudyInstanceUID:  k.StudyAttrs.String(dicom.TagStudyInstanceUID),
		dicom.TagPatientName:       "张伟",
		dicom.TagSeriesDescription: "关键图像",
		dicom.TagInstanceNumber:    "3",
		tagContentDate:             "20260302",
		tagValueType:               "CONTAINER",
	}
	for tag, v := range want {
		if got := strings.TrimSpace(ds.String(tag)); got != v {
			t.Errorf("%v = %q, want %q", tag, got, v)
		}
	}
	title, tmpl := items(ds, tagConceptNameCodeSequence), items(ds, tagContentTemplate)
	if len(title) != 1 || title[0].String(tagCodeValue) != "113000" || title[0].String(tagCodingSchemeDesignator) != "DCM" {
		t.Errorf("title %v, want (113000, DCM)", title)
	}
	if len(tmpl) != 1 || tmpl[0].String(tagTemplateIdentifier) != "2010" || tmpl[0].String(tagMappingResource) != "DCMR" {
		t.Errorf("content template %v, want DCMR 2010", tmpl)
	}
	var images, frames []string
	for _, it := range items(ds, tagContentSequence) {
		if it.String(tagValueType) != "IMAGE" {
			continue
		}
		ref := items(it, tagReferencedSOPSequence)
		if len(ref) != 1 || it.String(tagRelationshipType) != "CONTAINS" {
			t.Fatalf("IMAGE item %v", it)
		}
		images = append(images, ref[0].String(tagReferencedSOPInstanceUID))
		frames = append(frames, ref[0].String(tagReferencedFrameNumber))
	}
	if strings.Join(images, ",") != "2.25.8,2.25.10,2.25.10" || strings.Join(frames, ",") != ",15,1" {
		t.Errorf("IMAGE items %v, frames %q", images, frames)
	}
	var evidence []string
	for _, st := range items(ds, tagCurrentRequestedEvidence) {
		for _, se := range items(st, tagReferencedSeriesSequence) {
			for _, in := range items(se, tagReferencedSOPSequence) {
				evidence = append(evidence, in.String(tagReferencedSOPInstanceUID))
			}
		}
	}
	if strings.Join(evidence, ",") != "2.25.8,2.25.10" {
		t.Errorf("evidence %v", evidence)
	}
	if _, err := BuildKeyObject(KeyObject{SOPInstanceUID: "2.25.1", SeriesUID: "2.25.2", StudyAttrs: k.StudyAttrs}); err == nil {
		t.Error("a key object document without images was built (TID 2010 needs one)")
	}
}

// TestKeyObjectDCMTK has DCMTK's SR reader check the document against the Key Object
// Selection IOD's constraints: dsrdump reads it as such, with the title, the observer and
// the Chinese description, and finds nothing wrong. dicom3tools'
// dciodvfy checks it against the IOD's modules too (it only warns of names in characters
// alone, which it calls a retired form: that is how Chinese names are sent).
func TestKeyObjectDCMTK(t *testing.T) {
	peertest.Tool(t, "dsrdump")
	b, err := BuildKeyObject(keyObject(t))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "kos.dcm")
	s := runTool(t, p, b, "dsrdump", "+U8", "+Pl", "+Pt", "-v")
	for _, want := range []string{"Key Object Selection Document", "Of Interest", "李医生", "右下肺结节", "TID 2010 (DCMR)"} {
		if !strings.Contains(s, want) {
			t.Errorf("dsrdump output lacks %q:\n%s", want, s)
		}
	}
	// DCMTK cannot check template constraints; the IOD's it does.
	dsrdumpClean(t, s, "template constraints not yet supported")
	checkIOD(t, p, "KeyObjectSelectionDocument")
}

// readBack builds k's document and reads it with pacsd's own reader.
func readBack(t *testing.T, k KeyObject) *dicom.Dataset {
	t.Helper()
	b, err := BuildKeyObject(k)
	if err != nil {
		t.Fatal(err)
	}
	hdr, err := dicom.ReadPart10(bytes.NewReader(b), dicom.ReadOptions{})
	if err != nil {
		t.Fatalf("pacsd cannot read its own key object document: %v", err)
	}
	return hdr.Dataset
}

// items are the items of sequence t of d (none when it is absent).
func items(d *dicom.Dataset, t dicom.Tag) []*dicom.Dataset {
	if e := d.Get(t); e != nil {
		return e.Items
	}
	return nil
}
