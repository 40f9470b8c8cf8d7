package dicom

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
)

// TestJSONDatasetAccessors reads values in the three shapes a DICOM JSON data set comes in:
// as ToJSON makes it, as ParseJSON reads it back, and as encoding/json decodes it with
// UseNumber (map[string]any, json.Number).
func TestJSONDatasetAccessors(t *testing.T) {
	ds := &Dataset{Elements: []*Element{
		{Tag: TagPatientName, VR: "PN", Strings: []string{"Zhang^Wei=张^伟"}},
		{Tag: TagReferringPhysicianName, VR: "PN", Strings: []string{"=李^医生"}},
		{Tag: TagModalitiesInStudy, VR: "CS", Strings: []string{"DX", "", "US"}},
		{Tag: TagRows, VR: "US", Numbers: []float64{512}},
		{Tag: TagSeriesNumber, VR: "IS", Strings: []string{"3"}},
		{Tag: TagPatientWeight, VR: "DS", Strings: []string{"62.5"}},
		{Tag: TagStudyID, VR: "SH", Strings: []string{"abc"}},
	}}
	fresh := ds.ToJSON(JSONOptions{})
	b, err := json.Marshal(fresh)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := ParseJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]struct {
		VR    string `json:"vr"`
		Value []any  `json:"Value"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		t.Fatal(err)
	}
	loose := JSONDataset{}
	for k, a := range raw {
		loose[k] = JSONAttribute{VR: a.VR, Value: a.Value}
	}
	for name, j := range map[string]JSONDataset{"ToJSON": fresh, "ParseJSON": parsed, "UseNumber": loose} {
		if got := j.String(TagPatientName); got != "Zhang^Wei=张^伟" {
			t.Errorf("%s: String(PatientName) = %q", name, got)
		}
		if got := j.PersonName(TagReferringPhysicianName); got != (PersonName{Ideographic: "李^医生"}) {
			t.Errorf("%s: PersonName(ReferringPhysicianName) = %+v", name, got)
		}
		if got := j.Strings(TagModalitiesInStudy); !slices.Equal(got, []string{"DX", "", "US"}) {
			t.Errorf("%s: Strings(ModalitiesInStudy) = %q", name, got)
		}
		if n, ok := j.Int(TagRows); !ok || n != 512 {
			t.Errorf("%s: Int(Rows) = %d, %v", name, n, ok)
		}
		if n, ok := j.Int(TagSeriesNumber); !ok || n != 3 {
			t.Errorf("%s: Int(SeriesNumber) = %d, %v", name, n, ok)
		}
		if got := j.String(TagPatientWeight); got != "62.5" {
			t.Errorf("%s: String(PatientWeight) = %q", name, got)
		}
		if n, ok := j.Int(TagPatientWeight); ok {
			t.Errorf("%s: Int(PatientWeight) = %d, a fraction is not an integer", name, n)
		}
		if n, ok := j.Int(TagStudyID); ok {
			t.Errorf("%s: Int(StudyID) = %d from text", name, n)
		}
		if j.Strings(TagAccessionNumber) != nil || j.String(TagAccessionNumber) != "" ||
			j.PersonName(TagAccessionNumber) != (PersonName{}) {
			t.Errorf("%s: a missing attribute gives a value", name)
		}
		if _, ok := j.Int(TagAccessionNumber); ok {
			t.Errorf("%s: Int of a missing attribute is ok", name)
		}
	}
	// A PN written as a plain string instead of an object is still read as a name.
	plain := JSONDataset{TagPatientName.Hex(): {VR: "PN", Value: []any{"Li^Na=李^娜"}}}
	if got := plain.PersonName(TagPatientName); got != (PersonName{Alphabetic: "Li^Na", Ideographic: "李^娜"}) {
		t.Errorf("PersonName of a plain string = %+v", got)
	}
}
