package qr

import (
	"reflect"
	"testing"

	"pacsd/dicom"
	"pacsd/store"
)

// TestHitDatasetParsesAsDicom: hitDataset's own reading of index records (the attributes
// asked only, common shapes without encoding/json) gives what dicom.ParseJSON gives for
// them, whatever the shape: text, numbers, nulls, person names, escaped and non-ASCII text,
// sequences, binary, odd spacing and member order; attributes not asked are left out; a
// malformed record is an error.
func TestHitDatasetParsesAsDicom(t *testing.T) {
	record := []byte(` { "00080020" : {"vr":"DA","Value":["20260301"]},
		"00080050":{"vr":"SH"},
		"00080061":{"Value":["CT","MR"],"vr":"CS"},
		"00081030":{"vr":"LO","Value":["胸部\"正位\"\\x","line\nnext"]},
		"00081032":{"vr":"SQ","Value":[{"00080100":{"vr":"SH","Value":["X1"]}}]},
		"00100010":{"vr":"PN","Value":[{"Alphabetic":"Zhang^Wei","Ideographic":"张^伟"},null]},
		"00100020":{"vr":"LO","Value":["P1"]},
		"00101010":{"vr":"AS","Value":[null]},
		"00101020":{"vr":"DS","Value":[1.75,-2e3, 0]},
		"00200010":{"vr":"SH","Value":["\u00e9"]},
		"7FE00010":{"vr":"OB","InlineBinary":"AAEC"},
		"00321060":{"vr":"LO","Value":["not asked"]} } `)
	asked := []dicom.Tag{dicom.TagStudyDate, dicom.TagAccessionNumber, dicom.TagModalitiesInStudy, dicom.TagStudyDescription,
		0x00081032, dicom.TagPatientName, dicom.TagPatientID, 0x00101010, 0x00101020, 0x00200010, 0x7FE00010}
	want := map[string]bool{}
	for _, tag := range asked {
		want[tag.Hex()] = true
	}
	full, err := dicom.ParseJSON(record)
	if err != nil {
		t.Fatal(err)
	}
	// Patient level: no derived attributes beyond the patient counts.
	got, err := hitDataset(store.Hit{Study: record}, store.LevelPatient, want)
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range asked {
		k := tag.Hex()
		if k == dicom.TagModalitiesInStudy.Hex() {
			continue // derived, replaced at the study level; at the patient level as recorded
		}
		if !reflect.DeepEqual(got[k], full[k]) {
			t.Errorf("%s: got %#v, dicom.ParseJSON %#v", k, got[k], full[k])
		}
	}
	if _, ok := got["00321060"]; ok {
		t.Error("an attribute not asked was read")
	}
	for _, bad := range []string{`{"00100020":{"vr":"LO","Value":["P1"]}`, `{"00100020" {"vr":"LO"}}`, `[1]`, `{"00100020":{"vr":"LO","Value":["P1]}}`} {
		if _, err := hitDataset(store.Hit{Study: []byte(bad)}, store.LevelStudy, want); err == nil {
			t.Errorf("record %s: no error", bad)
		}
	}
}
