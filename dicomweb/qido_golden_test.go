package dicomweb

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"pacsd/dicom"
	"pacsd/store"
)

// TestQIDOMatchingGolden runs one query per matching rule of PS3.4 C.2.2.2 / PS3.18 8.3.4
// over the committed corpus plus two generated studies ("ZHANG^WEI=张^伟=" in ISO 2022
// IR 58 with an empty trailing group, and the pinyin "Zhāng^Wěi" with tone marks), checks
// which patients each finds, and compares the whole JSON answer with a golden file
// (testdata/golden/match_*.json; go test -run TestQIDOMatchingGolden -update rewrites them).
func TestQIDOMatchingGolden(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	upper, err := dicom.EncodeText("ZHANG^WEI=张^伟=", []string{"", "ISO 2022 IR 58"}, "PN")
	if err != nil {
		t.Fatal(err)
	}
	gen := []genObject{
		genObject{sopClass: "1.2.840.10008.5.1.4.1.1.7", sop: "1.2.826.0.1.3680043.10.6.1.3", study: "1.2.826.0.1.3680043.10.6.1.1", series: "1.2.826.0.1.3680043.10.6.1.2"}.
			with(dicom.TagSpecificCharacterSet, "CS", `\ISO 2022 IR 58`).with(dicom.TagPatientName, "PN", string(upper)).
			with(dicom.TagPatientID, "LO", "GEN-IR58-UPPER").with(dicom.TagStudyDate, "DA", "20240320").with(dicom.TagModality, "CS", "OT"),
		genObject{sopClass: "1.2.840.10008.5.1.4.1.1.7", sop: "1.2.826.0.1.3680043.10.6.2.3", study: "1.2.826.0.1.3680043.10.6.2.1", series: "1.2.826.0.1.3680043.10.6.2.2"}.
			with(dicom.TagSpecificCharacterSet, "CS", "ISO_IR 192").with(dicom.TagPatientName, "PN", "Zhāng^Wěi").
			with(dicom.TagPatientID, "LO", "GEN-PINYIN ").with(dicom.TagStudyDate, "DA", "20240321").with(dicom.TagModality, "CS", "OT"),
	}
	for _, g := range gen {
		if _, err := f.archive.Put(ctx, bytes.NewReader(g.bytes(t)), store.PutRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	gb, ir58 := f.expected["dr_mono2.dcm"], f.expected["charset_ir58.dcm"]
	cg1, cg7 := "CG20240315001", "CG20240316007"

	tests := []struct {
		name  string
		query string
		want  []string // Patient IDs found (the order is the golden file's business)
	}{
		{"single_value", "/studies?PatientID=" + cg1, []string{cg1}},
		{"wildcard_star", "/studies?PatientID=CS-*", []string{"CS-GB18030", "CS-GB18030-4", "CS-GBK", "CS-IR58", "CS-IR58-K2", "CS-LATIN1", "CS-UTF8"}},
		{"wildcard_question", "/studies?PatientID=CS-GB1803%3F", []string{"CS-GB18030"}},
		{"wildcard_accession", "/studies?AccessionNumber=A2024031%3F00%3F", []string{cg7, cg1}},
		{"date_range", "/studies?StudyDate=20240315-20240316", []string{cg7, cg1}},
		{"date_open_end", "/studies?StudyDate=-20240311", []string{"KL-88231"}},
		{"date_open_start", "/studies?StudyDate=20240320-", []string{"GEN-PINYIN", "GEN-IR58-UPPER"}},
		{"time_range", "/studies?StudyTime=0900-1030", []string{cg7, cg1}},
		{"uid_list", "/studies?StudyInstanceUID=" + gb.StudyInstanceUID + "," + ir58.StudyInstanceUID, []string{"CS-IR58", cg1}},
		{"modalities_in_study", "/studies?ModalitiesInStudy=SR", []string{cg1}},
		{"chinese_prefix", "/studies?PatientName=%E5%BC%A0*", []string{"GEN-IR58-UPPER", "CS-IR58", "CS-IR58-K2", "CS-UTF8", cg1}},
		{"chinese_prefix_gb18030", "/studies?PatientName=%E7%8E%8B*", []string{"CS-GB18030", "CS-GB18030-4"}},
		{"ideographic_group", "/studies?PatientName=%E5%BC%A0%5E%E4%BC%9F", []string{"GEN-IR58-UPPER", "CS-IR58", "CS-UTF8"}},
		{"whole_name_any_case", "/studies?PatientName=zhang%5Ewei%3D%E5%BC%A0%5E%E4%BC%9F", []string{"GEN-IR58-UPPER", "CS-IR58", "CS-UTF8"}},
		{"alphabetic_prefix_any_case", "/studies?PatientName=zhang*", []string{"GEN-IR58-UPPER", "CS-IR58", "CS-IR58-K2", "CS-UTF8"}},
		{"referring_physician", "/studies?ReferringPhysicianName=%E7%8E%8B*", []string{cg7}},
		// cg1 is 张伟 in characters only (GB18030): its pinyin is indexed, so pinyin finds it.
		{"fuzzy_pinyin_accents", "/studies?PatientName=zhang&fuzzymatching=true", []string{"GEN-PINYIN", "GEN-IR58-UPPER", "CS-IR58", "CS-IR58-K2", "CS-UTF8", cg1}},
		{"fuzzy_given_name", "/studies?PatientName=WEI&fuzzymatching=true", []string{"GEN-PINYIN", "GEN-IR58-UPPER", "CS-IR58", "CS-UTF8", cg1}},
		{"fuzzy_two_words", "/studies?PatientName=zhang+wei&fuzzymatching=true", []string{"GEN-PINYIN", "GEN-IR58-UPPER", "CS-IR58", "CS-UTF8", cg1}},
		{"fuzzy_ideographic_family", "/studies?PatientName=%E5%BC%A0&fuzzymatching=true", []string{"GEN-IR58-UPPER", "CS-IR58", "CS-IR58-K2", "CS-UTF8", cg1}},
		// cg1's 张伟 is one word: its given name is found after the surname.
		{"fuzzy_ideographic_given", "/studies?PatientName=%E4%BC%9F&fuzzymatching=true", []string{"GEN-IR58-UPPER", "CS-IR58", "CS-UTF8", cg1}},
		{"fuzzy_latin_accents", "/studies?PatientName=muller&fuzzymatching=true", []string{"KL-88231"}},
		{"includefield", "/studies?PatientID=" + cg7 + "&includefield=StudyDescription,00080080", []string{cg7}},
		{"study_id", "/studies?StudyID=1001", []string{cg1}},
		{"series_modality", "/series?Modality=US", []string{cg7}},
		{"instance_number", "/studies/" + gb.StudyInstanceUID + "/series/" + f.expected["sr_basic_text.dcm"].SeriesInstanceUID + "/instances?InstanceNumber=1", nil},
		{"series_number_in_study", "/studies/" + gb.StudyInstanceUID + "/series?SeriesNumber=3", nil},
		{"instances_by_class", "/studies/" + gb.StudyInstanceUID + "/instances?SOPClassUID=1.2.840.10008.5.1.4.1.1.104.1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, r := f.qido(t, tt.query)
			var ids []string
			for _, ds := range res {
				ids = append(ids, ds.String(dicom.TagPatientID))
			}
			slices.Sort(ids)
			want := slices.Clone(tt.want)
			slices.Sort(want)
			if tt.want != nil && !slices.Equal(ids, want) {
				t.Errorf("found patients %v, want %v", ids, want)
			}
			if tt.want == nil && len(res) != 1 {
				t.Errorf("%d results, want 1", len(res))
			}
			compareGolden(t, "match_"+tt.name, r.body)
		})
	}

	// Matching inside sequences (RequestAttributesSequence.ScheduledProcedureStepID, a
	// series key of PS3.18 Table 10.6.1-5) is not answered by the index: refused, not
	// silently widened.
	r := get(t, http.MethodGet, f.url+"/dicomweb/series?RequestAttributesSequence.ScheduledProcedureStepID=SPS1", nil)
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "inside sequences") {
		t.Errorf("sequence key: %d %s", r.status, r.body)
	}
}

// compareGolden compares indented JSON with testdata/golden/<name>.json (rewritten with
// -update).
func compareGolden(t *testing.T, name string, body []byte) {
	t.Helper()
	var got bytes.Buffer
	if err := json.Indent(&got, body, "", "  "); err != nil {
		t.Fatal(err)
	}
	got.WriteByte('\n')
	path := filepath.Join("testdata", "golden", name+".json")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("differs from %s (run with -update if the change is intended)\ngot:\n%s", path, got.Bytes())
	}
}
