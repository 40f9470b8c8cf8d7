package sqlite_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"pacsd/dicom"
	"pacsd/reading"
	"pacsd/reading/readingtest"
)

// TestPriorsAcrossSites: a study of another site whose patient has the same name in any
// spelling (characters, pinyin, components run together), sex and birth date is listed as
// a possible match, never as the same patient; a different sex, birth date or name, or a
// name that only shares a word, is not; a township's scope lists none of another site's.
func TestPriorsAcrossSites(t *testing.T) {
	ctx := context.Background()
	x := openIndex(t)
	r := x.Reading()
	a, err := r.PutSite(ctx, reading.Site{Name: "甲镇", AETitles: []string{"TOWN_A"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.PutSite(ctx, reading.Site{Name: "乙镇", AETitles: []string{"TOWN_B"}}); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 3, 2, 1, 0, 0, 0, time.UTC)
	for i, s := range []struct {
		uid, ae, id, name, sex, birth, date string
	}{
		{"12.1", "TOWN_A", "A001", "张伟", "M", "19790312", "20260302"},
		{"12.2", "TOWN_A", "A001", "张伟", "M", "19790312", "20250101"},        // the same patient
		{"12.3", "TOWN_B", "B777", "Zhang^Wei", "M", "19790312", "20260110"}, // possibly: pinyin
		{"12.4", "TOWN_B", "B778", "ZHANG WEI=张伟", "M", "19790312", "20251201"},
		{"12.5", "TOWN_B", "B779", "张伟", "F", "19790312", "20260111"},            // another sex
		{"12.6", "TOWN_B", "B780", "张伟", "M", "19800312", "20260112"},            // another birth date
		{"12.7", "TOWN_B", "B781", "Zhang^Weiming", "M", "19790312", "20260113"}, // another name
		{"12.8", "TOWN_B", "A001", "李强", "M", "19790312", "20260114"},            // the same ID, another patient
		{"12.9", "", "X1", "张伟", "M", "19790312", "20260115"},                    // an unknown sender
	} {
		in := readingInstance(readingtest.Study{UID: s.uid, CallingAE: s.ae, PatientID: s.id, PatientName: s.name,
			StudyDate: s.date, Modality: "DX", ReceivedAt: base.Add(time.Duration(i) * time.Minute)})
		in.StudyAttrs[dicom.TagPatientSex.Hex()] = dicom.JSONAttribute{VR: "CS", Value: []any{s.sex}}
		in.StudyAttrs[dicom.TagPatientBirthDate.Hex()] = dicom.JSONAttribute{VR: "DA", Value: []any{s.birth}}
		if _, err := x.PutInstance(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	type entry struct {
		uid   string
		match reading.PriorMatch
	}
	list := func(study string, scope reading.PriorScope) []entry {
		t.Helper()
		ps, err := r.Priors(ctx, study, scope)
		if err != nil {
			t.Fatal(err)
		}
		var out []entry
		for _, p := range ps {
			out = append(out, entry{p.StudyUID, p.Match})
		}
		return out
	}
	same, possible := reading.MatchSamePatient, reading.MatchPossible
	for _, c := range []struct {
		name  string
		study string
		scope reading.PriorScope
		want  []entry
	}{
		{"county", "12.1", reading.PriorScope{}, []entry{{"12.9", possible}, {"12.3", possible}, {"12.4", possible}, {"12.2", same}}},
		{"township a: its own only", "12.1", reading.PriorScope{SiteID: a.ID}, []entry{{"12.2", same}}},
		// 12.4 is of 12.3's own site under another ID: not the same patient, and not across sites.
		{"from the other side", "12.3", reading.PriorScope{}, []entry{{"12.1", possible}, {"12.9", possible}, {"12.2", possible}}},
		{"nothing alike", "12.8", reading.PriorScope{}, nil},
	} {
		if got := list(c.study, c.scope); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
