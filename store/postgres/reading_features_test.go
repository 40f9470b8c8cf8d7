package postgres_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"pacsd/dicom"
	"pacsd/reading"
	"pacsd/reading/readingtest"
	"pacsd/store/postgres"
	"pacsd/store/storetest"
)

// The reading room's features where several nodes share one database: each decision two
// nodes may take at once (a claim, a save over a version, an acknowledgement) has exactly
// one winner. The contract (readingtest) covers one node.

// race runs f(i) for i in [0, n) at once, alternating the nodes, and returns the errors.
func race(n int, f func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = f(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// winners counts the nil errors; every other must match lost.
func winners(t *testing.T, what string, errs []error, lost func(error) bool) int {
	t.Helper()
	n := 0
	for i, err := range errs {
		switch {
		case err == nil:
			n++
		case !lost(err):
			t.Errorf("%s %d: %v", what, i, err)
		}
	}
	return n
}

func addStudy(t *testing.T, x *postgres.Index, s readingtest.Study) {
	t.Helper()
	if _, err := x.PutInstance(context.Background(), storetest.ReadingInstance(s)); err != nil {
		t.Fatal(err)
	}
}

func TestClaimRace(t *testing.T) {
	ctx := context.Background()
	xs := nodes(t, 2)
	base := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	addStudy(t, xs[0], readingtest.Study{UID: "30.1", PatientID: "P30", Modality: "DX", ReceivedAt: base})
	var users []reading.User
	for _, name := range []string{"zhang", "li", "wang", "zhao", "liu", "chen"} {
		u, err := xs[0].Reading().CreateUser(ctx, reading.User{Username: name, DisplayName: name, Role: reading.RoleRadiologist, PasswordHash: "h"})
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, u)
	}
	ttl := 15 * time.Minute
	// A free study, then one whose claim has lapsed: each time one radiologist gets it and
	// every other is told who did.
	for round, at := range []time.Time{base, base.Add(20 * time.Minute)} {
		claims := make([]reading.Claim, len(users))
		errs := race(len(users), func(i int) error {
			c, err := xs[i%2].Reading().ClaimStudy(ctx, "30.1", users[i], at, ttl)
			claims[i] = c
			return err
		})
		if n := winners(t, "claim", errs, func(err error) bool {
			var ce *reading.ClaimedError
			return errors.As(err, &ce) && errors.Is(err, reading.ErrConflict)
		}); n != 1 {
			t.Fatalf("round %d: %d claims won, want 1 (%v)", round, n, errs)
		}
		won := slices.IndexFunc(errs, func(err error) bool { return err == nil })
		for i, err := range errs {
			var ce *reading.ClaimedError
			if errors.As(err, &ce) && ce.Claim.UserID != users[won].ID {
				t.Errorf("round %d: claimant %d told the holder is %d, not %d", round, i, ce.Claim.UserID, users[won].ID)
			}
		}
		live, err := xs[1].Reading().Claims(ctx, []string{"30.1", "30.404"}, at)
		if err != nil {
			t.Fatal(err)
		}
		if c := live["30.1"]; len(live) != 1 || c.UserID != users[won].ID || !c.ClaimedAt.Equal(at) || !c.ExpiresAt.Equal(at.Add(ttl)) {
			t.Errorf("round %d: live claims %+v, want %+v", round, live, claims[won])
		}
	}
}

// TestSaveRace: of saves from one version at once, on either node, one is kept and the
// others are conflicts, for annotations and key images alike; the next save starts from
// the winner's version.
func TestSaveRace(t *testing.T) {
	ctx := context.Background()
	xs := nodes(t, 2)
	base := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	addStudy(t, xs[0], readingtest.Study{UID: "31.1", PatientID: "P31", Modality: "DX", ReceivedAt: base})
	doc := reading.User{ID: 7, Username: "wang", DisplayName: "王医生"}
	const n = 8
	conflict := func(err error) bool { return errors.Is(err, reading.ErrConflict) }
	for version := 0; version < 3; version++ {
		errs := race(n, func(i int) error {
			note := reading.Annotation{ID: "2.25." + string(rune('1'+i)), Kind: reading.AnnotText, SeriesUID: "31.1.1",
				SOPInstanceUID: "31.1.1.1", SOPClassUID: "1.2.840.10008.5.1.4.1.1.1.1",
				Points: []reading.Point{{X: 1, Y: 2}}, Text: "结节"}
			_, err := xs[i%2].Reading().SaveAnnotations(ctx, "31.1", version, []reading.Annotation{note}, doc, base)
			return err
		})
		if w := winners(t, "save annotations", errs, conflict); w != 1 {
			t.Fatalf("from version %d: %d saves kept, want 1 (%v)", version, w, errs)
		}
		s, err := xs[1].Reading().Annotations(ctx, "31.1")
		if err != nil {
			t.Fatal(err)
		}
		won := slices.IndexFunc(errs, func(err error) bool { return err == nil })
		if s.Version != version+1 || len(s.Items) != 1 || s.Items[0].ID != "2.25."+string(rune('1'+won)) {
			t.Errorf("after the race from version %d: %+v (winner %d)", version, s, won)
		}

		errs = race(n, func(i int) error {
			k := reading.KeyImage{SeriesUID: "31.1.1", SOPInstanceUID: "31.1.1.1", SOPClassUID: "1.2.840.10008.5.1.4.1.1.1.1",
				Frame: i, Frames: n}
			_, err := xs[i%2].Reading().SetKeyImages(ctx, reading.KeySet{StudyUID: "31.1", Images: []reading.KeyImage{k}}, version)
			return err
		})
		if w := winners(t, "set key images", errs, conflict); w != 1 {
			t.Fatalf("key images from revision %d: %d kept, want 1 (%v)", version, w, errs)
		}
		ks, err := xs[0].Reading().KeyImages(ctx, "31.1")
		if err != nil {
			t.Fatal(err)
		}
		won = slices.IndexFunc(errs, func(err error) bool { return err == nil })
		if ks.Revision != version+1 || len(ks.Images) != 1 || ks.Images[0].Frame != won {
			t.Errorf("key images after the race from revision %d: %+v (winner %d)", version, ks, won)
		}
	}
}

// TestAcknowledgeRace: a finding acknowledged from several places at once keeps the first
// acknowledgement; the others are conflicts.
func TestAcknowledgeRace(t *testing.T) {
	ctx := context.Background()
	xs := nodes(t, 2)
	base := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	addStudy(t, xs[0], readingtest.Study{UID: "32.1", PatientID: "P32", Modality: "DX", ReceivedAt: base})
	f, err := xs[0].Reading().FlagCritical(ctx, reading.CriticalFinding{StudyUID: "32.1", Category: "pneumothorax",
		Text: "左侧气胸", FlaggedBy: 1, FlaggedByName: "张医生", FlaggedAt: base})
	if err != nil {
		t.Fatal(err)
	}
	nurses := []string{"甲", "乙", "丙", "丁", "戊", "己"}
	errs := race(len(nurses), func(i int) error {
		_, err := xs[i%2].Reading().AcknowledgeCritical(ctx, f.ID, reading.User{ID: int64(10 + i), DisplayName: nurses[i]},
			"已通知"+nurses[i], base.Add(time.Duration(i+1)*time.Minute))
		return err
	})
	if w := winners(t, "acknowledge", errs, func(err error) bool { return errors.Is(err, reading.ErrConflict) }); w != 1 {
		t.Fatalf("%d acknowledgements kept, want 1 (%v)", w, errs)
	}
	won := slices.IndexFunc(errs, func(err error) bool { return err == nil })
	got, err := xs[1].Reading().CriticalFinding(ctx, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.AckBy != int64(10+won) || got.Informed != "已通知"+nurses[won] || !got.AckAt.Equal(base.Add(time.Duration(won+1)*time.Minute)) {
		t.Errorf("acknowledged %+v, want nurse %d's", got, won)
	}
}

// TestPriorsAcrossSites is store/sqlite's, on PostgreSQL: a study of another site whose
// patient has the same name in any spelling (characters, pinyin, components run together),
// sex and birth date is a possible match, never the same patient; a different sex, birth
// date or name, or a name that only shares a word, is not; a township's scope lists none of
// another site's. (readingtest's Study carries neither sex nor birth date.)
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
		in := storetest.ReadingInstance(readingtest.Study{UID: s.uid, CallingAE: s.ae, PatientID: s.id, PatientName: s.name,
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
	same, possible := reading.MatchSamePatient, reading.MatchPossible
	for _, c := range []struct {
		name  string
		study string
		scope reading.PriorScope
		want  []entry
	}{
		{"county", "12.1", reading.PriorScope{}, []entry{{"12.9", possible}, {"12.3", possible}, {"12.4", possible}, {"12.2", same}}},
		{"township a: its own only", "12.1", reading.PriorScope{SiteID: a.ID}, []entry{{"12.2", same}}},
		{"from the other side", "12.3", reading.PriorScope{}, []entry{{"12.1", possible}, {"12.9", possible}, {"12.2", possible}}},
		{"nothing alike", "12.8", reading.PriorScope{}, nil},
	} {
		ps, err := r.Priors(ctx, c.study, c.scope)
		if err != nil {
			t.Fatal(err)
		}
		var got []entry
		for _, p := range ps {
			got = append(got, entry{p.StudyUID, p.Match})
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// TestShareSearchCase: the share list's search ignores ASCII case in the creator's name and
// the study UID, as SQLite's LIKE does, and takes LIKE's own characters literally.
func TestShareSearchCase(t *testing.T) {
	ctx := context.Background()
	x := openIndex(t)
	r := x.Reading()
	base := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	addStudy(t, x, readingtest.Study{UID: "33.1", PatientID: "P33", Modality: "DX", ReceivedAt: base})
	for i, name := range []string{"Dr WANG", "Li_Na", "LiXNa"} {
		if _, err := r.CreateShare(ctx, reading.ShareLink{TokenHash: reading.ShareTokenHash(name), StudyUID: "33.1",
			Kind: reading.ShareDoctor, Verify: reading.VerifyBirthDate, Answer: "19800501", CreatedName: name,
			CreatedAt: base.Add(time.Duration(i) * time.Minute), ExpiresAt: base.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	for q, want := range map[string][]string{"wang": {"Dr WANG"}, "dr w": {"Dr WANG"}, "li_na": {"Li_Na"}, "33.1": {"LiXNa", "Li_Na", "Dr WANG"}} {
		ls, err := r.Shares(ctx, reading.ShareFilter{Query: q})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, l := range ls {
			got = append(got, l.CreatedName)
		}
		if !slices.Equal(got, want) {
			t.Errorf("search %q: %v, want %v", q, got, want)
		}
	}
}
