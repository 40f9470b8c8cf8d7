package storetest

import (
	"testing"

	"pacsd/dicom"
	"pacsd/store"
)

// Patient-level searching (store.LevelPatient, PS3.4 C.6.1.1.2), part of RunIndex: patients
// are the studies sharing a Patient ID and Issuer of Patient ID.

// Patient-level derived attributes (PS3.4 C.6.1.1.2, Table C.6-1).
const (
	TagNumberOfPatientRelatedStudies   dicom.Tag = 0x00201200
	TagNumberOfPatientRelatedSeries    dicom.Tag = 0x00201202
	TagNumberOfPatientRelatedInstances dicom.Tag = 0x00201204
)

// PatientFixtures are MatchingFixtures plus an older study of patient P3 whose name is
// written otherwise ("张^伟" where the newer study has "张伟").
func PatientFixtures() []Fixture {
	return append(MatchingFixtures(), Fixture{Study: "1.2.7", Series: "1.2.7.1", SOP: "1.2.7.1.1", SOPClass: ClassDX,
		PatientName: "张^伟", PatientID: "P3", StudyDate: "20200101", StudyTime: "0900", Modality: "DX",
		SeriesNumber: 1, InstanceNumber: 1})
}

// PatientCases are queries against PatientFixtures; Want lists Patient IDs in order (P1
// twice: with Issuer HOSP on 1.2.1 and without an issuer on 1.2.6).
func PatientCases() []MatchingCase {
	patient := func(m ...any) store.Query { return store.Query{Level: store.LevelPatient, Matches: keys(m...)} }
	return []MatchingCase{
		{Name: "patient_universal", Query: patient(), Want: []string{"P1", "P1", "P2", "P3", "P4", "P5"}},
		{Name: "patient_id", Query: patient(dicom.TagPatientID, "P1"), Want: []string{"P1", "P1"}},
		{Name: "patient_id_list", Query: patient(dicom.TagPatientID, `P2\P4`), Want: []string{"P2", "P4"}},
		{Name: "patient_issuer", Query: patient(dicom.TagIssuerOfPatientID, "HOSP"), Want: []string{"P1"}},
		{Name: "patient_name_chinese_prefix", Query: patient(dicom.TagPatientName, "张*"), Want: []string{"P2", "P3"}},
		{Name: "patient_name_older_study", Query: patient(dicom.TagPatientName, "张^伟"), Want: []string{"P2", "P3"}},
		{Name: "patient_name_and_id", Query: patient(dicom.TagPatientName, "zhao*", dicom.TagPatientID, "P1"), Want: []string{"P1"}},
		{Name: "patient_birth_date_range", Query: patient(dicom.TagPatientBirthDate, "19700101-19901231"), Want: []string{"P1"}},
		{Name: "patient_sex", Query: patient(dicom.TagPatientSex, "M"), Want: []string{"P1"}},
		{Name: "patient_limit_offset", Query: store.Query{Level: store.LevelPatient, Limit: 2, Offset: 1}, Want: []string{"P1", "P2"}},
		{Name: "patient_study_key_invalid", Query: patient(dicom.TagStudyDate, "20240101"), Invalid: true},
		{Name: "patient_modalities_invalid", Query: patient(dicom.TagModalitiesInStudy, "CT"), Invalid: true},
		{Name: "patient_scoped_to_study_invalid", Query: store.Query{Level: store.LevelPatient, StudyInstanceUID: "1.2.3"}, Invalid: true},
	}
}

func runPatients(t *testing.T, newIndex func(t *testing.T) store.Index) {
	x := newIndex(t)
	for _, f := range PatientFixtures() {
		put(t, x, f)
	}
	runMatchingCases(t, x, PatientCases())
	t.Run("patient_attributes_and_counts", func(t *testing.T) {
		res := search(t, x, store.Query{Level: store.LevelPatient, Matches: keys(dicom.TagPatientName, "张^伟")})
		if len(res) != 2 {
			t.Fatalf("%d patients, want 2", len(res))
		}
		p3 := res[1]
		// Matched through its older study; its attributes are the newest study's, its numbers
		// count both studies.
		if got := p3.PersonName(dicom.TagPatientName).String(); got != "张伟" {
			t.Errorf("P3 PatientName = %q, want the newest study's 张伟", got)
		}
		for tag, want := range map[dicom.Tag]int{TagNumberOfPatientRelatedStudies: 2,
			TagNumberOfPatientRelatedSeries: 3, TagNumberOfPatientRelatedInstances: 4} {
			if got := intAttr(p3, tag); got != want {
				t.Errorf("P3 %s = %d, want %d", tag, got, want)
			}
		}
		for _, tag := range []dicom.Tag{dicom.TagStudyInstanceUID, dicom.TagStudyDate, dicom.TagModalitiesInStudy} {
			if _, ok := p3[tag.Hex()]; ok {
				t.Errorf("patient-level result carries study attribute %s", tag)
			}
		}
		p1 := search(t, x, store.Query{Level: store.LevelPatient, Matches: keys(dicom.TagIssuerOfPatientID, "HOSP")})
		if len(p1) != 1 || p1[0].PersonName(dicom.TagPatientName).String() != "Zhang^Wei" ||
			intAttr(p1[0], TagNumberOfPatientRelatedStudies) != 1 {
			t.Errorf("P1 of issuer HOSP = %v, want Zhang^Wei with 1 study (1.2.6 has no issuer)", p1)
		}
	})
}
