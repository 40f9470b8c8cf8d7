package qr

import (
	"reflect"
	"testing"

	"pacsd/dicom"
	"pacsd/store"
)

// TestStoredAttributesReadAsDicom: the C-FIND responses' own reading of index records
// (the attributes asked only, common shapes without encoding/json) gives what
// dicom.ParseJSON gives for them, whatever the shape: text, numbers, nulls, person names,
// escaped and non-ASCII text, sequences, binary, odd spacing and member order; the text
// read without parsing (appendAttrText) is what respWriter.attr writes for the parsed
// attribute; attributes not asked are left out; a malformed record is an error.
func TestStoredAttributesReadAsDicom(t *testing.T) {
	record := []byte(` { "00080020" : {"vr":"DA","Value":["20260301"]},
		"00080050":{"vr":"SH"},
		"00080061":{"Value":["CT","MR"],"vr":"CS"},
		"00080090":{"vr":"PN","Value":[]},
		"00081030":{"vr":"LO","Value":["胸部\"正位\"\\x","line\nnext"]},
		"00081032":{"vr":"SQ","Value":[{"00080100":{"vr":"SH","Value":["X1"]}}]},
		"00100010":{"vr":"PN","Value":[{"Alphabetic":"Zhang^Wei","Ideographic":"张^伟"},null, {"Phonetic":"x"}, {}]},
		"00100020":{"vr":"LO","Value":["P1", "P2"]},
		"00101010":{"vr":"AS","Value":[null]},
		"00101020":{"vr":"DS","Value":[1.75,-2e3, 0]},
		"00102160":{"vr":"SH","Value":[ "汉族" ] },
		"00200010":{"vr":"SH","Value":["\u00e9"]},
		"7FE00010":{"vr":"OB","InlineBinary":"AAEC"},
		"00321060":{"vr":"LO","Value":["not asked"]} } `)
	asked := []dicom.Tag{dicom.TagStudyDate, dicom.TagAccessionNumber, dicom.TagModalitiesInStudy, dicom.TagReferringPhysicianName,
		dicom.TagStudyDescription, 0x00081032, dicom.TagPatientName, dicom.TagPatientID, 0x00101010, 0x00101020, 0x00102160,
		0x00200010, 0x7FE00010}
	full, err := dicom.ParseJSON(record)
	if err != nil {
		t.Fatal(err)
	}
	p := &findPlan{}
	for _, tag := range asked {
		p.keys = append(p.keys, returnKey{tag: tag})
	}
	p.prepareSlots()
	if err := p.readHit(&store.Hit{Study: record}); err != nil {
		t.Fatal(err)
	}
	fast := 0
	for _, tag := range asked {
		k := tag.Hex()
		raw := p.raw[p.slots[k]]
		got, err := parseStored(k, raw)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if !reflect.DeepEqual(got, full[k]) {
			t.Errorf("%s: got %#v, dicom.ParseJSON %#v", k, got, full[k])
		}
		text, vr, ok := appendAttrText([]byte("x"), raw)
		if !ok {
			if string(text) != "x" || vr != "" {
				t.Errorf("%s: not read, but %q, %q", k, text, vr)
			}
			continue
		}
		fast++
		if want := "x" + attrText(full[k]); string(text) != want || vr != full[k].VR {
			t.Errorf("%s: text %q (%s), want %q (%s)", k, text, vr, want, full[k].VR)
		}
	}
	if fast != 8 {
		t.Errorf("%d attributes read without parsing, want 8 (DA, SH, PN, PN, LO, AS, DS, SH)", fast)
	}
	if id, name, err := p.patient(); err != nil || id != "P1" || name != "Zhang^Wei=张^伟" {
		t.Errorf("patient %q %q %v", id, name, err)
	}
	if raw := p.raw[p.slots[dicom.TagModalitiesInStudy.Hex()]]; raw == nil {
		t.Error("a stored attribute asked was not found")
	}
	if _, ok := p.slots["00321060"]; ok {
		t.Error("an attribute not asked has a slot")
	}
	for _, bad := range []string{`{"00100020":{"vr":"LO","Value":["P1"]}`, `{"00100020" {"vr":"LO"}}`, `[1]`, `{"00100020":{"vr":"LO","Value":["P1]}}`} {
		if err := p.readHit(&store.Hit{Study: []byte(bad)}); err == nil {
			t.Errorf("record %s: no error", bad)
		}
	}
}
