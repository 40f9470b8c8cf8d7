package storetest

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"pacsd/dicom"
	"pacsd/store"
)

// Fixture describes a test instance by the attributes the suites care about; Instance turns
// it into a store.Instance with DICOM JSON level attributes, as store.Archive would build.
// Empty strings and zero numbers mean "attribute absent".
type Fixture struct {
	Study, Series, SOP, SOPClass string

	PatientName, PatientID, IssuerOfPatientID, BirthDate, Sex  string
	StudyDate, StudyTime, Accession, StudyDescription, StudyID string
	Referring, Institution                                     string

	Modality, SeriesDescription, BodyPart, StationName string
	SeriesNumber                                       int

	InstanceNumber int
	ImageType      []string

	Content string // stands for the object's bytes: SHA256, Size and BlobKey derive from it
}

// Instance builds the record.
func (f Fixture) Instance() *store.Instance {
	str := func(ds dicom.JSONDataset, t dicom.Tag, vr string, vals ...string) {
		var v []any
		for _, s := range vals {
			if s != "" {
				v = append(v, s)
			}
		}
		if len(v) > 0 {
			ds[t.Hex()] = dicom.JSONAttribute{VR: vr, Value: v}
		}
	}
	pn := func(ds dicom.JSONDataset, t dicom.Tag, s string) {
		if s == "" {
			return
		}
		g := strings.SplitN(s, "=", 3)
		m := map[string]string{}
		for i, k := range []string{"Alphabetic", "Ideographic", "Phonetic"} {
			if i < len(g) && g[i] != "" {
				m[k] = g[i]
			}
		}
		ds[t.Hex()] = dicom.JSONAttribute{VR: "PN", Value: []any{m}}
	}
	num := func(ds dicom.JSONDataset, t dicom.Tag, n int) {
		if n != 0 {
			ds[t.Hex()] = dicom.JSONAttribute{VR: "IS", Value: []any{float64(n)}}
		}
	}
	charset := dicom.JSONAttribute{VR: "CS", Value: []any{"ISO_IR 192"}}
	st := dicom.JSONDataset{dicom.TagSpecificCharacterSet.Hex(): charset}
	str(st, dicom.TagStudyInstanceUID, "UI", f.Study)
	pn(st, dicom.TagPatientName, f.PatientName)
	str(st, dicom.TagPatientID, "LO", f.PatientID)
	str(st, dicom.TagIssuerOfPatientID, "LO", f.IssuerOfPatientID)
	str(st, dicom.TagPatientBirthDate, "DA", f.BirthDate)
	str(st, dicom.TagPatientSex, "CS", f.Sex)
	str(st, dicom.TagStudyDate, "DA", f.StudyDate)
	str(st, dicom.TagStudyTime, "TM", f.StudyTime)
	str(st, dicom.TagAccessionNumber, "SH", f.Accession)
	str(st, dicom.TagStudyDescription, "LO", f.StudyDescription)
	str(st, dicom.TagStudyID, "SH", f.StudyID)
	pn(st, dicom.TagReferringPhysicianName, f.Referring)
	str(st, dicom.TagInstitutionName, "LO", f.Institution)

	se := dicom.JSONDataset{dicom.TagSpecificCharacterSet.Hex(): charset}
	str(se, dicom.TagSeriesInstanceUID, "UI", f.Series)
	str(se, dicom.TagModality, "CS", f.Modality)
	str(se, dicom.TagSeriesDescription, "LO", f.SeriesDescription)
	str(se, dicom.TagBodyPartExamined, "CS", f.BodyPart)
	str(se, dicom.TagStationName, "SH", f.StationName)
	num(se, dicom.TagSeriesNumber, f.SeriesNumber)

	in := dicom.JSONDataset{dicom.TagSpecificCharacterSet.Hex(): charset}
	str(in, dicom.TagSOPClassUID, "UI", f.SOPClass)
	str(in, dicom.TagSOPInstanceUID, "UI", f.SOP)
	num(in, dicom.TagInstanceNumber, f.InstanceNumber)
	str(in, dicom.TagImageType, "CS", f.ImageType...)

	content := f.Content
	if content == "" {
		content = "object " + f.SOP
	}
	sum := sha256.Sum256([]byte(content))
	sha := hex.EncodeToString(sum[:])
	return &store.Instance{
		StudyInstanceUID:  f.Study,
		SeriesInstanceUID: f.Series,
		SOPInstanceUID:    f.SOP,
		SOPClassUID:       f.SOPClass,
		TransferSyntaxUID: dicom.ExplicitVRLittleEndian,
		BlobKey:           store.BlobKey(f.Study, f.Series, f.SOP, sha),
		Size:              int64(len(content)),
		SHA256:            sha,
		DatasetOffset:     132,
		Origin:            store.Origin{Transport: "dimse", CallingAE: "MODALITY1", CalledAE: "PACSD", RemoteAddr: "127.0.0.1:11112", Site: "site:1"},
		ReceivedAt:        time.Date(2024, 3, 1, 8, 0, 0, 123456789, time.UTC),
		StudyAttrs:        st,
		SeriesAttrs:       se,
		InstanceAttrs:     in,
	}
}

// Well-known SOP classes used by the fixtures.
const (
	ClassCR = "1.2.840.10008.5.1.4.1.1.1"
	ClassDX = "1.2.840.10008.5.1.4.1.1.1.1"
	ClassUS = "1.2.840.10008.5.1.4.1.1.6.1"
	ClassSR = "1.2.840.10008.5.1.4.1.1.88.22"
	ClassCT = "1.2.840.10008.5.1.4.1.1.2"
	ClassMR = "1.2.840.10008.5.1.4.1.1.4"
)

// MatchingFixtures is the small archive the matching cases run against: six studies
// covering the PN spellings of a Chinese county hub (romanised, ideographic, both, a
// single-group ideographic name), accents, padding, dates and times.
func MatchingFixtures() []Fixture {
	return []Fixture{
		{Study: "1.2.1", Series: "1.2.1.1", SOP: "1.2.1.1.1", SOPClass: ClassCR, PatientName: "Zhang^Wei",
			PatientID: "P1", IssuerOfPatientID: "HOSP", BirthDate: "19800101", Sex: "M", StudyDate: "20240115",
			StudyTime: "083000", Accession: "A100", StudyDescription: "CHEST PA", StudyID: "1",
			Referring: "Li^Na", Institution: "Township A", Modality: "CR", SeriesNumber: 1, InstanceNumber: 1,
			StationName: "CR1", ImageType: []string{"ORIGINAL", "PRIMARY"}},
		{Study: "1.2.2", Series: "1.2.2.1", SOP: "1.2.2.1.1", SOPClass: ClassDX, PatientName: "ZHANG^WEI=张^伟=",
			PatientID: "P2", StudyDate: "20240301", StudyTime: "120030", Accession: "A200",
			StudyDescription: "Chest lateral", Institution: "Township B", Modality: "DX", SeriesNumber: 1,
			InstanceNumber: 1, StationName: "DX1", ImageType: []string{"DERIVED", "PRIMARY"}},
		{Study: "1.2.3", Series: "1.2.3.1", SOP: "1.2.3.1.1", SOPClass: ClassUS, PatientName: "张伟",
			PatientID: "P3", StudyDate: "20231231", StudyTime: "235959", StudyDescription: "ABDOMEN",
			Modality: "US", SeriesNumber: 2, InstanceNumber: 1, StationName: "US1"},
		{Study: "1.2.3", Series: "1.2.3.1", SOP: "1.2.3.1.2", SOPClass: ClassUS, PatientName: "张伟",
			PatientID: "P3", StudyDate: "20231231", StudyTime: "235959", StudyDescription: "ABDOMEN",
			Modality: "US", SeriesNumber: 2, InstanceNumber: 2, StationName: "US1"},
		{Study: "1.2.3", Series: "1.2.3.2", SOP: "1.2.3.2.1", SOPClass: ClassSR, PatientName: "张伟",
			PatientID: "P3", StudyDate: "20231231", StudyTime: "235959", StudyDescription: "ABDOMEN",
			Modality: "SR", SeriesNumber: 1, InstanceNumber: 1},
		{Study: "1.2.4", Series: "1.2.4.1", SOP: "1.2.4.1.1", SOPClass: ClassCT, PatientName: "Wang^Fang=王^芳",
			PatientID: "P4", StudyDate: "20240301", StudyTime: "0800", Accession: "A1_00",
			StudyDescription: "Head [trauma]", Referring: "LI^NA", Modality: "CT", SeriesNumber: 3,
			InstanceNumber: 1},
		{Study: "1.2.5", Series: "1.2.5.1", SOP: "1.2.5.1.1", SOPClass: ClassMR, PatientName: "José^García",
			PatientID: "P5", StudyDescription: "KNEE", Modality: "MR", SeriesNumber: 1, InstanceNumber: 1},
		{Study: "1.2.6", Series: "1.2.6.1", SOP: "1.2.6.1.1", SOPClass: ClassCR, PatientName: "Zhao^Lei^^",
			PatientID: "P1", StudyDate: "20240115", StudyTime: "15:00:00", Accession: "A600",
			StudyDescription: "CHEST AP", Modality: "CR", SeriesNumber: 1, InstanceNumber: 1},
	}
}

// MatchingCase is one query against MatchingFixtures and the UIDs of the level searched it
// must return, in order (nil when it must fail with store.ErrInvalid).
type MatchingCase struct {
	Name    string
	Query   store.Query
	Want    []string
	Invalid bool
}

func keys(pairs ...any) []store.Match {
	var out []store.Match
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, store.Match{Tag: pairs[i].(dicom.Tag), Value: pairs[i+1].(string)})
	}
	return out
}

// MatchingCases covers each matching rule of PS3.4 C.2.2.2 the index implements.
func MatchingCases() []MatchingCase {
	study := func(m ...any) store.Query { return store.Query{Level: store.LevelStudy, Matches: keys(m...)} }
	fuzzy := func(m ...any) store.Query {
		q := study(m...)
		q.Fuzzy = true
		return q
	}
	all := []string{"1.2.2", "1.2.4", "1.2.6", "1.2.1", "1.2.3", "1.2.5"}
	return []MatchingCase{
		{Name: "universal", Query: study(), Want: all},
		{Name: "universal_empty_value", Query: study(dicom.TagPatientID, ""), Want: all},
		{Name: "universal_star", Query: study(dicom.TagPatientName, "*"), Want: all},
		{Name: "single_value", Query: study(dicom.TagPatientID, "P1"), Want: []string{"1.2.6", "1.2.1"}},
		{Name: "single_value_case_sensitive", Query: study(dicom.TagPatientID, "p1"), Want: nil},
		{Name: "single_value_two_keys", Query: study(dicom.TagPatientID, "P1", dicom.TagStudyDescription, "CHEST PA"),
			Want: []string{"1.2.1"}},
		{Name: "wildcard_star", Query: study(dicom.TagStudyDescription, "CHEST*"), Want: []string{"1.2.6", "1.2.1"}},
		{Name: "wildcard_case_sensitive", Query: study(dicom.TagStudyDescription, "chest*"), Want: nil},
		{Name: "wildcard_question", Query: study(dicom.TagAccessionNumber, "A?00"),
			Want: []string{"1.2.2", "1.2.6", "1.2.1"}},
		{Name: "wildcard_literal_underscore", Query: study(dicom.TagAccessionNumber, "A1_*"), Want: []string{"1.2.4"}},
		{Name: "wildcard_literal_bracket", Query: study(dicom.TagStudyDescription, "*[trauma]"), Want: []string{"1.2.4"}},
		{Name: "uid_single", Query: study(dicom.TagStudyInstanceUID, "1.2.3"), Want: []string{"1.2.3"}},
		{Name: "uid_list", Query: study(dicom.TagStudyInstanceUID, `1.2.1\1.2.3\9.9`), Want: []string{"1.2.1", "1.2.3"}},
		{Name: "uid_wildcard_invalid", Query: study(dicom.TagStudyInstanceUID, "1.2.*"), Invalid: true},
		{Name: "date_single", Query: study(dicom.TagStudyDate, "20240115"), Want: []string{"1.2.6", "1.2.1"}},
		{Name: "date_range", Query: study(dicom.TagStudyDate, "20240101-20241231"),
			Want: []string{"1.2.2", "1.2.4", "1.2.6", "1.2.1"}},
		{Name: "date_range_open_start", Query: study(dicom.TagStudyDate, "-20240115"),
			Want: []string{"1.2.6", "1.2.1", "1.2.3"}},
		{Name: "date_range_open_end", Query: study(dicom.TagStudyDate, "20240301-"), Want: []string{"1.2.2", "1.2.4"}},
		{Name: "date_wildcard_invalid", Query: study(dicom.TagStudyDate, "2024*"), Invalid: true},
		{Name: "time_range_partial", Query: study(dicom.TagStudyTime, "0800-1159"), Want: []string{"1.2.4", "1.2.1"}},
		{Name: "time_range_upper_inclusive", Query: study(dicom.TagStudyTime, "0800-1200"),
			Want: []string{"1.2.2", "1.2.4", "1.2.1"}},
		{Name: "time_colons", Query: study(dicom.TagStudyTime, "1400-"), Want: []string{"1.2.6", "1.2.3"}},
		{Name: "time_single_prefix", Query: study(dicom.TagStudyTime, "0830"), Want: []string{"1.2.1"}},
		{Name: "pn_case_insensitive_prefix", Query: study(dicom.TagPatientName, "zhang*"), Want: []string{"1.2.2", "1.2.1"}},
		{Name: "pn_exact_any_case", Query: study(dicom.TagPatientName, "zhang^wei"), Want: []string{"1.2.2", "1.2.1"}},
		{Name: "pn_chinese_prefix", Query: study(dicom.TagPatientName, "张*"), Want: []string{"1.2.2", "1.2.3"}},
		{Name: "pn_ideographic_group", Query: study(dicom.TagPatientName, "王^芳"), Want: []string{"1.2.4"}},
		{Name: "pn_single_group_ideographic", Query: study(dicom.TagPatientName, "张伟"), Want: []string{"1.2.3"}},
		{Name: "pn_whole_value", Query: study(dicom.TagPatientName, "Zhang^Wei=张^伟"), Want: []string{"1.2.2"}},
		{Name: "pn_whole_value_wildcard", Query: study(dicom.TagPatientName, "*=张*"), Want: []string{"1.2.2"}},
		{Name: "pn_trailing_components", Query: study(dicom.TagPatientName, "ZHAO^LEI"), Want: []string{"1.2.6"}},
		{Name: "pn_question_mark", Query: study(dicom.TagPatientName, "W?ng*"), Want: []string{"1.2.4"}},
		{Name: "pn_no_partial_without_wildcard", Query: study(dicom.TagPatientName, "Zhang"), Want: nil},
		{Name: "pn_referring", Query: study(dicom.TagReferringPhysicianName, "li^na"), Want: []string{"1.2.4", "1.2.1"}},
		// 1.2.3 is 张伟 in characters only: found through its pinyin.
		{Name: "fuzzy_component_start", Query: fuzzy(dicom.TagPatientName, "wei"), Want: []string{"1.2.2", "1.2.1", "1.2.3"}},
		{Name: "fuzzy_accents", Query: fuzzy(dicom.TagPatientName, "jose garc"), Want: []string{"1.2.5"}},
		// 伟 is the given name of 张^伟 and, after the surname, of 张伟 written as one word.
		{Name: "fuzzy_ideographic", Query: fuzzy(dicom.TagPatientName, "伟"), Want: []string{"1.2.2", "1.2.3"}},
		// A Chinese name is typed as one word, whether the modality split it or not.
		{Name: "fuzzy_ideographic_whole_name", Query: fuzzy(dicom.TagPatientName, "张伟"), Want: []string{"1.2.2", "1.2.3"}},
		{Name: "fuzzy_pinyin_run_together", Query: fuzzy(dicom.TagPatientName, "zhangwei"), Want: []string{"1.2.2", "1.2.1", "1.2.3"}},
		{Name: "fuzzy_pinyin_of_characters", Query: fuzzy(dicom.TagPatientName, "zhang"), Want: []string{"1.2.2", "1.2.1", "1.2.3"}},
		{Name: "modalities_in_study", Query: study(dicom.TagModalitiesInStudy, "SR"), Want: []string{"1.2.3"}},
		{Name: "modalities_in_study_list", Query: study(dicom.TagModalitiesInStudy, `CT\MR`), Want: []string{"1.2.4", "1.2.5"}},
		{Name: "json_key_study", Query: study(dicom.TagIssuerOfPatientID, "HOSP"), Want: []string{"1.2.1"}},
		{Name: "json_key_wildcard", Query: study(dicom.TagIssuerOfPatientID, "H*"), Want: []string{"1.2.1"}},
		{Name: "key_below_level_invalid", Query: study(dicom.TagModality, "CT"), Invalid: true},
		{Name: "key_not_kept_invalid", Query: study(dicom.TagPixelData, "x"), Invalid: true},
		{Name: "key_sequence_invalid", Query: study(dicom.TagRequestAttributesSequence, "x"), Invalid: true},
		{Name: "limit_offset", Query: store.Query{Level: store.LevelStudy, Limit: 2, Offset: 1}, Want: []string{"1.2.4", "1.2.6"}},
		{Name: "series_in_study", Query: store.Query{Level: store.LevelSeries, StudyInstanceUID: "1.2.3"},
			Want: []string{"1.2.3.2", "1.2.3.1"}},
		{Name: "series_modality", Query: store.Query{Level: store.LevelSeries, Matches: keys(dicom.TagModality, "CR")},
			Want: []string{"1.2.6.1", "1.2.1.1"}},
		{Name: "series_study_key", Query: store.Query{Level: store.LevelSeries, Matches: keys(dicom.TagPatientName, "张*", dicom.TagSeriesNumber, "2")},
			Want: []string{"1.2.3.1"}},
		{Name: "series_json_key", Query: store.Query{Level: store.LevelSeries, Matches: keys(dicom.TagStationName, "US1")},
			Want: []string{"1.2.3.1"}},
		{Name: "instances_in_series", Query: store.Query{Level: store.LevelInstance, StudyInstanceUID: "1.2.3", SeriesInstanceUID: "1.2.3.1"},
			Want: []string{"1.2.3.1.1", "1.2.3.1.2"}},
		{Name: "instance_number", Query: store.Query{Level: store.LevelInstance, StudyInstanceUID: "1.2.3", Matches: keys(dicom.TagInstanceNumber, "2")},
			Want: []string{"1.2.3.1.2"}},
		{Name: "instance_sop_class", Query: store.Query{Level: store.LevelInstance, Matches: keys(dicom.TagSOPClassUID, ClassDX)},
			Want: []string{"1.2.2.1.1"}},
		{Name: "instance_json_multivalue", Query: store.Query{Level: store.LevelInstance, Matches: keys(dicom.TagImageType, "DERIVED")},
			Want: []string{"1.2.2.1.1"}},
	}
}
