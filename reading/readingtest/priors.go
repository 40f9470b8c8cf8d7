package readingtest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"pacsd/reading"
)

// testPriors: a study's priors are the other studies with its Patient ID at its site,
// newest first, with their series; the same Patient ID at another site is another patient;
// a township sees only its own site's studies and no quarantined one. (Possible matches
// across sites need sex and birth date, which Study does not carry: store/sqlite's
// TestPriorsAcrossSites covers them.)
func testPriors(t *testing.T, e Env) {
	ctx := context.Background()
	r := e.Repo
	a := must(r.PutSite(ctx, reading.Site{Name: "甲镇", AETitles: []string{"TOWN_A"}}))(t)
	b := must(r.PutSite(ctx, reading.Site{Name: "乙镇", AETitles: []string{"TOWN_B"}}))(t)
	at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Minute) }
	for i, s := range []Study{
		{UID: "11.1", PatientID: "P001", PatientName: "张伟", CallingAE: "TOWN_A", StudyDate: "20260302", StudyTime: "090000", Modality: "DX", BodyPart: "CHEST"},
		{UID: "11.2", PatientID: "P001", PatientName: "张伟", CallingAE: "TOWN_A", StudyDate: "20250110", Modality: "US", BodyPart: "ABDOMEN", Description: "腹部超声"},
		{UID: "11.3", PatientID: "P001", PatientName: "张伟", CallingAE: "TOWN_A", StudyDate: "20260101", Modality: "DX", BodyPart: "CHEST"},
		{UID: "11.4", PatientID: "P002", PatientName: "王芳", CallingAE: "TOWN_A", StudyDate: "20260201", Modality: "DX"},
		{UID: "11.5", PatientID: "P001", PatientName: "刘洋", CallingAE: "TOWN_B", StudyDate: "20260201", Modality: "DX"},
		{UID: "11.6", PatientID: "P001", PatientName: "张伟", CallingAE: "TOWN_A", StudyDate: "20260202", Modality: "DX", Quarantined: true},
		{UID: "11.7", PatientID: "", PatientName: "无名", CallingAE: "TOWN_A", StudyDate: "20260202", Modality: "DX"},
		{UID: "11.8", PatientID: "", PatientName: "无名", CallingAE: "TOWN_A", StudyDate: "20260203", Modality: "DX"},
	} {
		s.ReceivedAt = at(i)
		e.AddStudy(t, s)
	}
	uidsOf := func(ps []reading.Prior) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.StudyUID)
		}
		return out
	}
	for _, c := range []struct {
		name  string
		study string
		scope reading.PriorScope
		want  []string
	}{
		{"county: the patient's other studies, newest first", "11.1", reading.PriorScope{}, []string{"11.3", "11.2"}},
		{"administrator: quarantined too", "11.1", reading.PriorScope{WithQuarantined: true}, []string{"11.6", "11.3", "11.2"}},
		{"from an older study", "11.2", reading.PriorScope{}, []string{"11.1", "11.3"}},
		{"its own site", "11.1", reading.PriorScope{SiteID: a.ID}, []string{"11.3", "11.2"}},
		{"the same ID at another site is another patient", "11.5", reading.PriorScope{}, nil},
		{"site b", "11.5", reading.PriorScope{SiteID: b.ID}, nil},
		{"another site's scope sees none of site a's", "11.1", reading.PriorScope{SiteID: b.ID}, nil},
		{"no Patient ID, no priors", "11.7", reading.PriorScope{}, nil},
	} {
		got := must(r.Priors(ctx, c.study, c.scope))(t)
		if !slices.Equal(uidsOf(got), c.want) {
			t.Errorf("%s: %v, want %v", c.name, uidsOf(got), c.want)
		}
		for _, p := range got {
			if p.Match != reading.MatchSamePatient {
				t.Errorf("%s: %s listed as %q", c.name, p.StudyUID, p.Match)
			}
		}
	}
	got := must(r.Priors(ctx, "11.1", reading.PriorScope{}))(t)
	if p := got[1]; p.StudyUID != "11.2" || p.SiteName != "甲镇" || p.Description != "腹部超声" || p.BodyPart != "ABDOMEN" ||
		!slices.Equal(p.Modalities, []string{"US"}) || len(p.Series) != 1 || p.NumInstances != 1 || p.Status != reading.StatusUnread {
		t.Errorf("prior 11.2 = %+v", p)
	}
	if _, err := r.Priors(ctx, "11.404", reading.PriorScope{}); !errors.Is(err, reading.ErrNotFound) {
		t.Errorf("priors of an unknown study: %v, want ErrNotFound", err)
	}
}
