// Package readingtest is the contract every reading.Repository passes: the site
// attribution rules, the peers (one registry with the sites' AE titles), quarantine, accounts and sessions, templates, report versions and statuses, the
// worklist's filters and paging, and the turnaround figures.
package readingtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"pacsd/reading"
)

// Study is what a test puts in the archive's index: one instance of one series.
type Study struct {
	UID         string
	SeriesUID   string // "" derives one from UID
	PatientName string // PN value, groups '='-joined
	PatientID   string
	CallingAE   string
	Institution string
	Modality    string
	BodyPart    string
	StudyDate   string
	StudyTime   string
	ReceivedAt  time.Time
	Quarantined bool // store.Origin.Quarantined: from an unknown sender held for an administrator
	Accession   string
	Description string // Study Description
}

// Env is one fresh repository and a way to index studies beside it.
type Env struct {
	Repo     reading.Repository
	AddStudy func(t testing.TB, s Study)
}

// Run runs the contract against the repositories open makes (a new, empty one per call).
func Run(t *testing.T, open func(t *testing.T) Env) {
	t.Run("Sites", func(t *testing.T) { testSites(t, open(t)) })
	t.Run("Users", func(t *testing.T) { testUsers(t, open(t)) })
	t.Run("Sessions", func(t *testing.T) { testSessions(t, open(t)) })
	t.Run("Tokens", func(t *testing.T) { testTokens(t, open(t)) })
	t.Run("Templates", func(t *testing.T) { testTemplates(t, open(t)) })
	t.Run("Reports", func(t *testing.T) { testReports(t, open(t)) })
	t.Run("Worklist", func(t *testing.T) { testWorklist(t, open(t)) })
	t.Run("Paging", func(t *testing.T) { testPaging(t, open(t)) })
	t.Run("Orders", func(t *testing.T) { testOrders(t, open(t)) })
	t.Run("UrgentFirst", func(t *testing.T) { testUrgentFirst(t, open(t)) })
	t.Run("FieldErrors", func(t *testing.T) { testFieldErrors(t, open(t)) })
	t.Run("Turnaround", func(t *testing.T) { testTurnaround(t, open(t)) })
	t.Run("Peers", func(t *testing.T) { testPeers(t, open(t)) })
	t.Run("PeersOneModel", func(t *testing.T) { testPeersOneModel(t, open(t)) })
	t.Run("Quarantine", func(t *testing.T) { testQuarantine(t, open(t)) })
	t.Run("ScheduledOrders", func(t *testing.T) { testScheduledOrders(t, open(t)) })
	t.Run("OrderTying", func(t *testing.T) { testOrderTying(t, open(t)) })
	t.Run("Annotations", func(t *testing.T) { testAnnotations(t, open(t)) })
	t.Run("KeyImages", func(t *testing.T) { testKeyImages(t, open(t)) })
	t.Run("Priors", func(t *testing.T) { testPriors(t, open(t)) })
	t.Run("Workflow", func(t *testing.T) { testWorkflow(t, open(t)) })
	t.Run("Shares", func(t *testing.T) { testShares(t, open(t)) })
}

var base = time.Date(2026, 3, 2, 1, 0, 0, 0, time.UTC)

// must(f())(t) is f's value, or the end of the test on f's error.
func must[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func siteOf(t *testing.T, r reading.Worklist, uid string) int64 {
	t.Helper()
	return must(r.Study(context.Background(), uid))(t).SiteID
}

func testSites(t *testing.T, e Env) {
	ctx := context.Background()
	r := e.Repo
	// Studies arrive before anybody registered their senders.
	e.AddStudy(t, Study{UID: "1.1", CallingAE: "TOWN_A", Institution: "甲镇卫生院", Modality: "DX", ReceivedAt: base})
	e.AddStudy(t, Study{UID: "1.2", CallingAE: "", Institution: "乙镇卫生院", Modality: "DX", ReceivedAt: base.Add(time.Minute)})
	e.AddStudy(t, Study{UID: "1.3", CallingAE: "STRANGER", Institution: "甲镇卫生院", Modality: "US", ReceivedAt: base.Add(2 * time.Minute)})
	e.AddStudy(t, Study{UID: "1.4", CallingAE: "NOBODY", Institution: "", Modality: "US", ReceivedAt: base.Add(3 * time.Minute)})
	for _, uid := range []string{"1.1", "1.2", "1.3", "1.4"} {
		if id := siteOf(t, r, uid); id != 0 {
			t.Fatalf("study %s attributed to site %d before any site exists", uid, id)
		}
	}
	a := must(r.PutSite(ctx, reading.Site{Name: " 甲镇 ", AETitles: []string{"TOWN_A", " TOWN_A2 ", "TOWN_A"}}))(t)
	if a.ID == 0 || a.Name != "甲镇" || !slices.Equal(a.AETitles, []string{"TOWN_A", "TOWN_A2"}) {
		t.Fatalf("PutSite returned %+v", a)
	}
	b := must(r.PutSite(ctx, reading.Site{Name: "乙镇", Institutions: []string{"乙镇卫生院", "甲镇卫生院"}}))(t)

	// The AE title wins over the institution; the institution decides when the AE is unknown.
	for _, c := range []struct {
		uid  string
		want int64
	}{{"1.1", a.ID}, {"1.2", b.ID}, {"1.3", b.ID}, {"1.4", 0}} {
		if got := siteOf(t, r, c.uid); got != c.want {
			t.Errorf("study %s: site %d, want %d", c.uid, got, c.want)
		}
	}
	// A study arriving now is attributed at once.
	e.AddStudy(t, Study{UID: "1.5", CallingAE: "TOWN_A2", ReceivedAt: base.Add(4 * time.Minute)})
	if got := siteOf(t, r, "1.5"); got != a.ID {
		t.Errorf("new study from TOWN_A2: site %d, want %d", got, a.ID)
	}

	// An AE title or institution belongs to one site only; a name is unique.
	for _, s := range []reading.Site{
		{Name: "丙镇", AETitles: []string{"TOWN_A"}},
		{Name: "丙镇", Institutions: []string{"乙镇卫生院"}},
		{Name: "甲镇"},
	} {
		if _, err := r.PutSite(ctx, s); !errors.Is(err, reading.ErrConflict) {
			t.Errorf("PutSite(%+v): %v, want ErrConflict", s, err)
		}
	}
	for _, s := range []reading.Site{{Name: ""}, {Name: "x", AETitles: []string{"THIS_AE_IS_TOO_LONG"}}, {Name: "x", AETitles: []string{"A\\B"}}} {
		if _, err := r.PutSite(ctx, s); !errors.Is(err, reading.ErrInvalid) {
			t.Errorf("PutSite(%+v): %v, want ErrInvalid", s, err)
		}
	}

	// Moving an AE title from one site to another moves its studies; without it, the
	// institution decides.
	a.AETitles = []string{"TOWN_A2"}
	must(r.PutSite(ctx, a))(t)
	if got := siteOf(t, r, "1.1"); got != b.ID {
		t.Errorf("after TOWN_A left site a, study 1.1 is at site %d, want %d (its institution's)", got, b.ID)
	}
	b.Institutions = []string{"乙镇卫生院"}
	must(r.PutSite(ctx, b))(t)
	if got := siteOf(t, r, "1.1"); got != 0 {
		t.Errorf("with neither AE nor institution registered, study 1.1 is at site %d, want unknown", got)
	}
	b.AETitles = []string{"TOWN_A"}
	must(r.PutSite(ctx, b))(t)
	if got := siteOf(t, r, "1.1"); got != b.ID {
		t.Errorf("after TOWN_A joined site b, study 1.1 is at site %d, want %d", got, b.ID)
	}
	got := must(r.Site(ctx, b.ID))(t)
	if !slices.Equal(got.AETitles, []string{"TOWN_A"}) || !slices.Equal(got.Institutions, []string{"乙镇卫生院"}) {
		t.Errorf("Site(b) = %+v", got)
	}
	if _, err := r.Site(ctx, 9999); !errors.Is(err, reading.ErrNotFound) {
		t.Errorf("Site(9999): %v, want ErrNotFound", err)
	}
	if _, err := r.PutSite(ctx, reading.Site{ID: 9999, Name: "丙镇卫生院"}); !errors.Is(err, reading.ErrNotFound) {
		t.Errorf("PutSite of an unknown ID: %v, want ErrNotFound", err)
	}
	if err := r.DeleteSite(ctx, 9999); !errors.Is(err, reading.ErrNotFound) {
		t.Errorf("DeleteSite(9999): %v, want ErrNotFound", err)
	}

	// A site with users cannot go; without, its studies become unknown.
	u := must(r.CreateUser(ctx, reading.User{Username: "site-b", Role: reading.RoleSite, SiteID: b.ID, PasswordHash: "x"}))(t)
	if err := r.DeleteSite(ctx, b.ID); !errors.Is(err, reading.ErrConflict) {
		t.Errorf("DeleteSite with a user: %v, want ErrConflict", err)
	}
	u.Role, u.SiteID = reading.RoleRadiologist, 0
	if err := r.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := r.DeleteSite(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if got := siteOf(t, r, "1.2"); got != 0 {
		t.Errorf("after deleting site b, study 1.2 is at site %d", got)
	}
	if sites := must(r.Sites(ctx))(t); len(sites) != 1 || sites[0].ID != a.ID {
		t.Errorf("Sites = %+v, want only a", sites)
	}
}

func testUsers(t *testing.T, e Env) {
	ctx := context.Background()
	r := e.Repo
	if n := must(r.CountUsers(ctx))(t); n != 0 {
		t.Fatalf("CountUsers of a new repository = %d", n)
	}
	site := must(r.PutSite(ctx, reading.Site{Name: "甲镇"}))(t)
	for _, c := range []struct {
		name string
		u    reading.User
		want error
	}{
		{"radiologist", reading.User{Username: "li", DisplayName: "李医生", Role: reading.RoleRadiologist, PasswordHash: "h"}, nil},
		{"site user", reading.User{Username: "town", Role: reading.RoleSite, SiteID: site.ID, PasswordHash: "h"}, nil},
		{"taken name, other case", reading.User{Username: "LI", Role: reading.RoleAdmin, PasswordHash: "h"}, reading.ErrConflict},
		{"site user without site", reading.User{Username: "x", Role: reading.RoleSite, PasswordHash: "h"}, reading.ErrInvalid},
		{"radiologist with site", reading.User{Username: "y", Role: reading.RoleRadiologist, SiteID: site.ID, PasswordHash: "h"}, reading.ErrInvalid},
		{"unknown role", reading.User{Username: "z", Role: "root", PasswordHash: "h"}, reading.ErrInvalid},
		{"no password", reading.User{Username: "w", Role: reading.RoleAdmin}, reading.ErrInvalid},
		{"space in name", reading.User{Username: "a b", Role: reading.RoleAdmin, PasswordHash: "h"}, reading.ErrInvalid},
	} {
		_, err := r.CreateUser(ctx, c.u)
		if (c.want == nil) != (err == nil) || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%s: CreateUser: %v, want %v", c.name, err, c.want)
		}
	}
	if n := must(r.CountUsers(ctx))(t); n != 2 {
		t.Errorf("CountUsers = %d, want 2", n)
	}
	li := must(r.UserByName(ctx, "LI"))(t)
	if li.DisplayName != "李医生" || li.Role != reading.RoleRadiologist || li.Name() != "李医生" {
		t.Errorf("UserByName(LI) = %+v", li)
	}
	li.Disabled, li.PasswordHash = true, "h2"
	if err := r.UpdateUser(ctx, li); err != nil {
		t.Fatal(err)
	}
	if got := must(r.User(ctx, li.ID))(t); !got.Disabled || got.PasswordHash != "h2" {
		t.Errorf("after UpdateUser: %+v", got)
	}
	if _, err := r.UserByName(ctx, "nobody"); !errors.Is(err, reading.ErrNotFound) {
		t.Errorf("UserByName(nobody): %v", err)
	}
	ghost := reading.User{ID: 9999, Username: "nobody", Role: reading.RoleRadiologist, PasswordHash: "x"}
	if err := r.UpdateUser(ctx, ghost); !errors.Is(err, reading.ErrNotFound) {
		t.Errorf("UpdateUser of an unknown ID: %v, want ErrNotFound", err)
	}
	if users := must(r.Users(ctx))(t); len(users) != 2 {
		t.Errorf("Users = %d", len(users))
	}

	// The must-change flag is kept by every way in and out, and cleared by UpdateUser.
	if li.MustChangePassword {
		t.Errorf("%s was created without the must-change flag but has it", li.Username)
	}
	tmp := must(r.CreateUser(ctx, reading.User{Username: "wang", Role: reading.RoleRadiologist, PasswordHash: "h",
		MustChangePassword: true}))(t)
	if !tmp.MustChangePassword || !must(r.User(ctx, tmp.ID))(t).MustChangePassword ||
		!must(r.UserByName(ctx, "wang"))(t).MustChangePassword {
		t.Error("the must-change flag of a new user is lost")
	}
	for _, u := range must(r.Users(ctx))(t) {
		if u.MustChangePassword != (u.ID == tmp.ID) {
			t.Errorf("Users: %s has must-change %v", u.Username, u.MustChangePassword)
		}
	}
	tmp.MustChangePassword, tmp.PasswordHash = false, "h3"
	if err := r.UpdateUser(ctx, tmp); err != nil {
		t.Fatal(err)
	}
	if got := must(r.User(ctx, tmp.ID))(t); got.MustChangePassword || got.PasswordHash != "h3" {
		t.Errorf("after clearing the must-change flag: %+v", got)
	}
	tmp.MustChangePassword = true
	if err := r.UpdateUser(ctx, tmp); err != nil {
		t.Fatal(err)
	}
	if !must(r.User(ctx, tmp.ID))(t).MustChangePassword {
		t.Error("UpdateUser did not set the must-change flag")
	}
}

func testSessions(t *testing.T, e Env) {
	ctx := context.Background()
	r := e.Repo
	u := must(r.CreateUser(ctx, reading.User{Username: "li", Role: reading.RoleRadiologist, PasswordHash: "h"}))(t)
	now := base
	live := reading.Session{TokenHash: "aa", UserID: u.ID, CSRF: "c1", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	old := reading.Session{TokenHash: "bb", UserID: u.ID, CSRF: "c2", CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Hour)}
	for _, s := range []reading.Session{live, old} {
		if err := r.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	s, su, err := r.Session(ctx, "aa", now)
	if err != nil || s.CSRF != "c1" || su.ID != u.ID || !s.ExpiresAt.Equal(live.ExpiresAt) {
		t.Fatalf("Session(aa) = %+v %+v %v", s, su, err)
	}
	if _, _, err := r.Session(ctx, "bb", now); !errors.Is(err, reading.ErrNotFound) {
		t.Errorf("expired session: %v, want ErrNotFound", err)
	}
	// A session's user says whether the password must be changed: the middleware decides
	// on it for every request.
	if su.MustChangePassword {
		t.Error("Session: user has the must-change flag it was not given")
	}
	u.MustChangePassword = true
	if err := r.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, su, err := r.Session(ctx, "aa", now); err != nil || !su.MustChangePassword {
		t.Errorf("Session after setting the must-change flag: %+v %v", su, err)
	}
	u.MustChangePassword = false
	if err := r.DeleteExpiredSessions(ctx, now); err != nil {
		t.Fatal(err)
	}
	u.Disabled = true
	if err := r.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Session(ctx, "aa", now); !errors.Is(err, reading.ErrNotFound) {
		t.Errorf("session of a disabled user: %v, want ErrNotFound", err)
	}
	u.Disabled = false
	if err := r.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := r.DeleteUserSessions(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Session(ctx, "aa", now); !errors.Is(err, reading.ErrNotFound) {
		t.Errorf("session after DeleteUserSessions: %v", err)
	}
}

func testTokens(t *testing.T, e Env) {
	ctx := context.Background()
	r := e.Repo
	admin := must(r.CreateUser(ctx, reading.User{Username: "wang", Role: reading.RoleAdmin, PasswordHash: "h"}))(t)
	if ts := must(r.Tokens(ctx))(t); len(ts) != 0 {
		t.Fatalf("Tokens on an empty repository: %+v", ts)
	}
	mk := func(name, hash string, at time.Time, scopes ...reading.Scope) reading.Token {
		return reading.Token{Name: name, Hash: hash, Scopes: scopes, CreatedBy: admin.ID, CreatedByName: "王主任",
			CreatedAt: at, ExpiresAt: at.Add(90 * 24 * time.Hour)}
	}
	a := must(r.CreateToken(ctx, mk(" 质控脚本 ", "h1", base, reading.ScopeRead, reading.ScopeRead, reading.ScopeStore)))(t)
	if a.ID == 0 || a.Name != "质控脚本" || !slices.Equal(a.Scopes, []reading.Scope{reading.ScopeRead, reading.ScopeStore}) {
		t.Fatalf("CreateToken = %+v", a)
	}
	b := must(r.CreateToken(ctx, mk("prometheus", "h2", base.Add(time.Minute), reading.ScopeMetrics)))(t)

	got := must(r.TokenByHash(ctx, "h1"))(t)
	if got.ID != a.ID || got.Name != "质控脚本" || got.CreatedBy != admin.ID || got.CreatedByName != "王主任" ||
		!got.CreatedAt.Equal(base) || !got.ExpiresAt.Equal(a.ExpiresAt) || !got.LastUsedAt.IsZero() ||
		!got.RevokedAt.IsZero() || !got.Has(reading.ScopeStore) || got.Has(reading.ScopeMetrics) || !got.Live(base) {
		t.Errorf("TokenByHash(h1) = %+v", got)
	}
	if _, err := r.TokenByHash(ctx, "nope"); !errors.Is(err, reading.ErrNotFound) {
		t.Errorf("TokenByHash of an unknown hash: %v, want ErrNotFound", err)
	}

	// Refused: a live token's name again (any case), an unknown scope, no scope, no expiry.
	var fe *reading.FieldError
	if _, err := r.CreateToken(ctx, mk("PROMETHEUS", "h3", base, reading.ScopeRead)); !errors.Is(err, reading.ErrConflict) ||
		!errors.As(err, &fe) || fe.Field != "name" {
		t.Errorf("a live token's name again: %v, want a FieldError on name, ErrConflict", err)
	}
	if _, err := r.CreateToken(ctx, mk("x", "h4", base, "root")); !errors.Is(err, reading.ErrInvalid) {
		t.Errorf("unknown scope: %v, want ErrInvalid", err)
	}
	if _, err := r.CreateToken(ctx, mk("x", "h4", base)); !errors.Is(err, reading.ErrInvalid) {
		t.Errorf("no scope: %v, want ErrInvalid", err)
	}
	noExp := mk("x", "h4", base, reading.ScopeRead)
	noExp.ExpiresAt = time.Time{}
	if _, err := r.CreateToken(ctx, noExp); !errors.Is(err, reading.ErrInvalid) {
		t.Errorf("no expiry: %v, want ErrInvalid", err)
	}

	// Last use moves forward only.
	if err := r.TouchToken(ctx, a.ID, base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := r.TouchToken(ctx, a.ID, base.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := must(r.TokenByHash(ctx, "h1"))(t); !got.LastUsedAt.Equal(base.Add(time.Hour)) {
		t.Errorf("last used %v, want %v", got.LastUsedAt, base.Add(time.Hour))
	}

	// Revoked: still found (the caller tells it apart), its first revocation time kept, and
	// its name free again.
	if err := r.RevokeToken(ctx, b.ID, base.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := r.RevokeToken(ctx, b.ID, base.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	got = must(r.TokenByHash(ctx, "h2"))(t)
	if !got.RevokedAt.Equal(base.Add(2*time.Hour)) || got.Live(base.Add(2*time.Hour)) {
		t.Errorf("revoked token: %+v", got)
	}
	if err := r.RevokeToken(ctx, 9999, base); !errors.Is(err, reading.ErrNotFound) {
		t.Errorf("revoking an unknown token: %v, want ErrNotFound", err)
	}
	c := must(r.CreateToken(ctx, mk("prometheus", "h5", base.Add(2*time.Minute), reading.ScopeMetrics)))(t)
	if exp := a.ExpiresAt; a.Live(exp) || !a.Live(exp.Add(-time.Second)) {
		t.Errorf("Live at the expiry %v, a second before %v", a.Live(exp), a.Live(exp.Add(-time.Second)))
	}

	var names []int64
	for _, tk := range must(r.Tokens(ctx))(t) {
		names = append(names, tk.ID)
	}
	if want := []int64{c.ID, b.ID, a.ID}; !slices.Equal(names, want) {
		t.Errorf("Tokens order %v, want newest first %v", names, want)
	}
}

func testTemplates(t *testing.T, e Env) {
	ctx := context.Background()
	r := e.Repo
	tp := must(r.PutTemplate(ctx, reading.Template{Name: "胸部正位", Modality: "dx", BodyPart: "chest",
		Findings: "双肺纹理清晰。", Impression: "心肺未见异常。"}))(t)
	if tp.ID == 0 || tp.Modality != "DX" || tp.BodyPart != "CHEST" {
		t.Fatalf("PutTemplate = %+v", tp)
	}
	tp.Findings = "双肺纹理增多。"
	must(r.PutTemplate(ctx, tp))(t)
	list := must(r.Templates(ctx))(t)
	if len(list) != 1 || list[0].Findings != "双肺纹理增多。" {
		t.Fatalf("Templates = %+v", list)
	}
	if _, err := r.PutTemplate(ctx, reading.Template{Name: ""}); !errors.Is(err, reading.ErrInvalid) {
		t.Errorf("empty name: %v", err)
	}
	if err := r.DeleteTemplate(ctx, tp.ID); err != nil {
		t.Fatal(err)
	}
	if err := r.DeleteTemplate(ctx, tp.ID); !errors.Is(err, reading.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	if _, err := r.PutTemplate(ctx, tp); !errors.Is(err, reading.ErrNotFound) {
		t.Errorf("PutTemplate of a deleted template: %v, want ErrNotFound", err)
	}
}

func status(t *testing.T, r reading.Worklist, uid string) reading.Status {
	t.Helper()
	return must(r.Study(context.Background(), uid))(t).Status
}

func testReports(t *testing.T, e Env) {
	ctx := context.Background()
	r := e.Repo
	e.AddStudy(t, Study{UID: "2.1", PatientName: "张伟", Modality: "DX", ReceivedAt: base})
	doc := must(r.CreateUser(ctx, reading.User{Username: "li", DisplayName: "李医生", Role: reading.RoleRadiologist, PasswordHash: "h"}))(t)
	if st := status(t, r, "2.1"); st != reading.StatusUnread {
		t.Fatalf("new study status %q", st)
	}
	if _, err := r.SaveDraft(ctx, "9.9", "x", "y", doc, base); !errors.Is(err, reading.ErrNotFound) {
		t.Errorf("draft for an unknown study: %v", err)
	}
	if _, err := r.Sign(ctx, "2.1", 1, doc, base); !errors.Is(err, reading.ErrNotFound) {
		t.Errorf("sign without report: %v", err)
	}
	if _, err := r.Amend(ctx, "2.1", "why", doc, base); !errors.Is(err, reading.ErrConflict) {
		t.Errorf("amend without report: %v", err)
	}
	d := must(r.SaveDraft(ctx, "2.1", "", "", doc, base))(t)
	if d.Version != 1 || d.Status != reading.StatusDraft {
		t.Fatalf("first draft = %+v", d)
	}
	if _, err := r.Sign(ctx, "2.1", 1, doc, base); !errors.Is(err, reading.ErrInvalid) {
		t.Errorf("signing an empty report: %v, want ErrInvalid", err)
	}
	d = must(r.SaveDraft(ctx, "2.1", "双肺纹理清晰。", "未见异常。", doc, base.Add(time.Minute)))(t)
	if d.Version != 1 || d.Findings != "双肺纹理清晰。" {
		t.Fatalf("second save = %+v", d)
	}
	if st := status(t, r, "2.1"); st != reading.StatusDraft {
		t.Errorf("status after draft %q", st)
	}
	if _, err := r.Sign(ctx, "2.1", 2, doc, base); !errors.Is(err, reading.ErrConflict) {
		t.Errorf("sign of a version that does not exist: %v", err)
	}
	signedAt := base.Add(30 * time.Minute)
	f := must(r.Sign(ctx, "2.1", 1, doc, signedAt))(t)
	if f.Status != reading.StatusFinal || f.SignedByName != "李医生" || !f.SignedAt.Equal(signedAt) {
		t.Fatalf("signed = %+v", f)
	}
	row := must(r.Study(ctx, "2.1"))(t)
	if row.Status != reading.StatusFinal || !row.FinalAt.Equal(signedAt) {
		t.Errorf("after sign: status %q final at %v", row.Status, row.FinalAt)
	}
	if _, err := r.SaveDraft(ctx, "2.1", "改", "改", doc, base); !errors.Is(err, reading.ErrConflict) {
		t.Errorf("editing a signed report: %v, want ErrConflict", err)
	}
	if _, err := r.Sign(ctx, "2.1", 1, doc, base); !errors.Is(err, reading.ErrConflict) {
		t.Errorf("signing twice: %v, want ErrConflict", err)
	}
	if _, err := r.Amend(ctx, "2.1", "  ", doc, base); !errors.Is(err, reading.ErrInvalid) {
		t.Errorf("amend without reason: %v", err)
	}
	a := must(r.Amend(ctx, "2.1", "补充印象", doc, base.Add(time.Hour)))(t)
	if a.Version != 2 || a.Status != reading.StatusDraft || a.Findings != f.Findings || a.AmendReason != "补充印象" {
		t.Fatalf("amendment = %+v", a)
	}
	// The amendment in progress leaves the signed status (township users still see v1).
	if st := status(t, r, "2.1"); st != reading.StatusFinal {
		t.Errorf("status during amendment %q, want final", st)
	}
	if _, err := r.Amend(ctx, "2.1", "again", doc, base); !errors.Is(err, reading.ErrConflict) {
		t.Errorf("second amendment while one is open: %v", err)
	}
	must(r.SaveDraft(ctx, "2.1", f.Findings, "未见异常。建议复查。", doc, base.Add(time.Hour)))(t)
	must(r.Sign(ctx, "2.1", 2, doc, base.Add(2*time.Hour)))(t)
	row = must(r.Study(ctx, "2.1"))(t)
	if row.Status != reading.StatusAmended || !row.FinalAt.Equal(signedAt) {
		t.Errorf("after amendment: status %q, final at %v (the first signature counts)", row.Status, row.FinalAt)
	}
	versions := must(r.Reports(ctx, "2.1"))(t)
	if len(versions) != 2 || versions[0].Impression != "未见异常。" || versions[0].Status != reading.StatusFinal ||
		versions[1].Impression != "未见异常。建议复查。" || versions[1].Status != reading.StatusAmended {
		t.Fatalf("versions = %+v", versions)
	}

	un := must(r.Unexported(ctx, 10))(t)
	if len(un) != 2 || un[0].Version != 1 || un[1].Version != 2 {
		t.Fatalf("Unexported = %+v", un)
	}
	if err := r.SetReportObject(ctx, "2.1", 1, "2.25.1"); err != nil {
		t.Fatal(err)
	}
	un = must(r.Unexported(ctx, 10))(t)
	if len(un) != 1 || un[0].Version != 2 {
		t.Errorf("Unexported after export of v1 = %+v", un)
	}
	if err := r.SetReportObject(ctx, "2.1", 7, "2.25.2"); !errors.Is(err, reading.ErrNotFound) {
		t.Errorf("SetReportObject of a missing version: %v", err)
	}
	if got := must(r.Reports(ctx, "2.1"))(t)[0].SOPInstanceUID; got != "2.25.1" {
		t.Errorf("v1 object %q", got)
	}
}

func uids(rows []reading.WorklistRow) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r.StudyUID)
	}
	return out
}

func testWorklist(t *testing.T, e Env) {
	ctx := context.Background()
	r := e.Repo
	a := must(r.PutSite(ctx, reading.Site{Name: "甲镇", AETitles: []string{"TOWN_A"}}))(t)
	b := must(r.PutSite(ctx, reading.Site{Name: "乙镇", AETitles: []string{"TOWN_B"}}))(t)
	studies := []Study{
		{UID: "3.1", PatientName: "张伟", PatientID: "P001", CallingAE: "TOWN_A", Modality: "DX", BodyPart: "CHEST", StudyDate: "20260301"},
		{UID: "3.2", PatientName: "Zhang^Wei=张^伟", PatientID: "P002", CallingAE: "TOWN_B", Modality: "US", StudyDate: "20260302"},
		{UID: "3.3", PatientName: "王芳", PatientID: "Q100", CallingAE: "TOWN_A", Modality: "US", StudyDate: "20260303"},
		{UID: "3.4", PatientName: "Li^Na=李^娜", PatientID: "X_1%", CallingAE: "ELSEWHERE", Modality: "DX", StudyDate: "20260304"},
	}
	for i, s := range studies {
		s.ReceivedAt = base.Add(time.Duration(i) * time.Minute)
		e.AddStudy(t, s)
	}
	doc := must(r.CreateUser(ctx, reading.User{Username: "li", Role: reading.RoleRadiologist, PasswordHash: "h"}))(t)
	must(r.SaveDraft(ctx, "3.3", "x", "y", doc, base))(t)
	must(r.SaveDraft(ctx, "3.1", "x", "y", doc, base))(t)
	must(r.Sign(ctx, "3.1", 1, doc, base.Add(time.Hour)))(t)
	if err := r.SetUrgent(ctx, "3.2", true); err != nil {
		t.Fatal(err)
	}
	if err := r.SetUrgent(ctx, "9.9", true); !errors.Is(err, reading.ErrNotFound) {
		t.Errorf("SetUrgent of an unknown study: %v", err)
	}

	for _, c := range []struct {
		name string
		f    reading.WorklistFilter
		want []string
	}{
		// 3.2 is urgent and unread: first, then the others newest received first.
		{"all, urgent unread first, then newest", reading.WorklistFilter{}, []string{"3.2", "3.4", "3.3", "3.1"}},
		{"site a", reading.WorklistFilter{SiteID: a.ID}, []string{"3.3", "3.1"}},
		{"site b", reading.WorklistFilter{SiteID: b.ID}, []string{"3.2"}},
		{"unknown sender", reading.WorklistFilter{UnknownSite: true}, []string{"3.4"}},
		{"modality US", reading.WorklistFilter{Modality: "us"}, []string{"3.2", "3.3"}},
		{"modality DR is DX", reading.WorklistFilter{Modality: "DR"}, []string{"3.4", "3.1"}},
		{"date range", reading.WorklistFilter{DateFrom: "20260302", DateTo: "20260303"}, []string{"3.2", "3.3"}},
		{"unread", reading.WorklistFilter{Status: reading.StatusUnread}, []string{"3.2", "3.4"}},
		{"draft", reading.WorklistFilter{Status: reading.StatusDraft}, []string{"3.3"}},
		{"final", reading.WorklistFilter{Status: reading.StatusFinal}, []string{"3.1"}},
		{"urgent", reading.WorklistFilter{UrgentOnly: true}, []string{"3.2"}},
		{"Chinese surname", reading.WorklistFilter{Query: "张"}, []string{"3.2", "3.1"}},
		{"Chinese full name", reading.WorklistFilter{Query: "王芳"}, []string{"3.3"}},
		// 3.1 is 张伟 in characters only: found through the pinyin of its characters.
		{"pinyin prefix, any case", reading.WorklistFilter{Query: "zha"}, []string{"3.2", "3.1"}},
		{"pinyin of a name in characters", reading.WorklistFilter{Query: "wangf"}, []string{"3.3"}},
		{"pinyin with caret", reading.WorklistFilter{Query: "li^n"}, []string{"3.4"}},
		{"ID prefix", reading.WorklistFilter{Query: "P00"}, []string{"3.2", "3.1"}},
		{"ID is case-sensitive", reading.WorklistFilter{Query: "p00"}, nil},
		{"LIKE metacharacters are literal", reading.WorklistFilter{Query: "X_1%"}, []string{"3.4"}},
		{"underscore is not a wildcard", reading.WorklistFilter{Query: "XA"}, nil},
		{"combined", reading.WorklistFilter{SiteID: a.ID, Modality: "DX", Status: reading.StatusFinal}, []string{"3.1"}},
	} {
		page, err := r.Worklist(ctx, c.f)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got := uids(page.Rows); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	for _, f := range []reading.WorklistFilter{{Status: "lost"}, {DateFrom: "2026-03-01"}, {After: "garbage"},
		{Order: "name"}} {
		if _, err := r.Worklist(ctx, f); !errors.Is(err, reading.ErrInvalid) {
			t.Errorf("Worklist(%+v): %v, want ErrInvalid", f, err)
		}
	}

	row := must(r.Study(ctx, "3.1"))(t)
	if row.SiteName != "甲镇" || row.PatientName != "张伟" || row.PatientID != "P001" || row.BodyPart != "CHEST" ||
		!slices.Equal(row.Modalities, []string{"DX"}) || len(row.Series) != 1 || row.NumInstances != 1 ||
		row.CallingAE != "TOWN_A" || !row.ReceivedAt.Equal(base) {
		t.Errorf("Study(3.1) = %+v", row)
	}
	if !must(r.Study(ctx, "3.2"))(t).Urgent {
		t.Error("3.2 not urgent")
	}
}

func testPaging(t *testing.T, e Env) {
	ctx := context.Background()
	r := e.Repo
	const n = 23
	var want []string
	for i := range n {
		uid := fmt.Sprintf("4.%d", i+1)
		// Two studies share each receipt time: paging must not lose or repeat either.
		e.AddStudy(t, Study{UID: uid, Modality: "DX", ReceivedAt: base.Add(time.Duration(i/2) * time.Second)})
		want = append(want, uid)
	}
	var got []string
	f := reading.WorklistFilter{Limit: 5}
	for pages := 0; ; pages++ {
		if pages > n {
			t.Fatal("paging does not end")
		}
		page := must(r.Worklist(ctx, f))(t)
		if len(page.Rows) > 5 {
			t.Fatalf("page of %d rows", len(page.Rows))
		}
		got = append(got, uids(page.Rows)...)
		if page.Next == "" {
			break
		}
		f.After = page.Next
	}
	slices.Sort(want)
	sorted := slices.Clone(got)
	slices.Sort(sorted)
	if !slices.Equal(sorted, want) || len(got) != n {
		t.Errorf("pages gave %v", got)
	}
	// Newest first across pages.
	for i := 1; i < len(got); i++ {
		a, b := must(r.Study(ctx, got[i-1]))(t), must(r.Study(ctx, got[i]))(t)
		if a.ReceivedAt.Before(b.ReceivedAt) {
			t.Errorf("%s before %s but received earlier", got[i-1], got[i])
		}
	}
}

func testTurnaround(t *testing.T, e Env) {
	ctx := context.Background()
	r := e.Repo
	a := must(r.PutSite(ctx, reading.Site{Name: "甲镇", AETitles: []string{"TOWN_A"}}))(t)
	doc := must(r.CreateUser(ctx, reading.User{Username: "li", Role: reading.RoleRadiologist, PasswordHash: "h"}))(t)
	// Day 1 (UTC+8): three studies from site a, one unknown. 2026-03-02 01:00 UTC is 09:00 in China;
	// 2026-03-01 20:00 UTC is already 2026-03-02 04:00 there.
	recv := []time.Time{base, base.Add(time.Hour), base.Add(-5 * time.Hour), base.Add(2 * time.Hour)}
	aes := []string{"TOWN_A", "TOWN_A", "TOWN_A", "OTHER"}
	for i := range recv {
		e.AddStudy(t, Study{UID: fmt.Sprintf("5.%d", i+1), CallingAE: aes[i], Modality: "DX", ReceivedAt: recv[i]})
	}
	// Reported after 10, 20 and 60 minutes.
	for i, d := range []time.Duration{10 * time.Minute, 20 * time.Minute, time.Hour} {
		uid := fmt.Sprintf("5.%d", i+1)
		must(r.SaveDraft(ctx, uid, "x", "y", doc, recv[i]))(t)
		must(r.Sign(ctx, uid, 1, doc, recv[i].Add(d)))(t)
	}
	tz := 8 * time.Hour
	ta := must(r.Turnaround(ctx, base.Add(-24*time.Hour), base.Add(24*time.Hour), tz))(t)
	if ta.Reported != 3 || ta.Median != 20*time.Minute || ta.P90 != time.Hour {
		t.Errorf("turnaround: %d reported, median %v, p90 %v", ta.Reported, ta.Median, ta.P90)
	}
	want := []reading.DayCount{{Day: "2026-03-02", SiteID: 0, Received: 1}, {Day: "2026-03-02", SiteID: a.ID, Received: 3, Reported: 3}}
	if !slices.Equal(ta.Days, want) {
		t.Errorf("days = %+v, want %+v", ta.Days, want)
	}
	if ta.UnreadCount != 1 || ta.OldestUnread == nil || ta.OldestUnread.StudyUID != "5.4" {
		t.Errorf("unread %d, oldest %+v", ta.UnreadCount, ta.OldestUnread)
	}
	// Days counted in UTC split the early study off.
	ta = must(r.Turnaround(ctx, base.Add(-24*time.Hour), base.Add(24*time.Hour), 0))(t)
	if len(ta.Days) != 3 || ta.Days[0].Day != "2026-03-01" || ta.Days[0].Received != 1 {
		t.Errorf("UTC days = %+v", ta.Days)
	}
}

// allPages reads every page of f, limit rows at a time, and checks each page's size.
func allPages(t *testing.T, r reading.Worklist, f reading.WorklistFilter, limit int) []string {
	t.Helper()
	var got []string
	f.Limit = limit
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("paging does not end")
		}
		page := must(r.Worklist(context.Background(), f))(t)
		if len(page.Rows) > limit || (page.Next != "" && len(page.Rows) != limit) {
			t.Fatalf("page of %d rows (limit %d, next %q)", len(page.Rows), limit, page.Next)
		}
		got = append(got, uids(page.Rows)...)
		if page.Next == "" {
			return got
		}
		f.After = page.Next
	}
}

// testOrders: the worklist in order of receipt and in order of the study's date and time
// (newest first, ties in a stable order), paged at every page size without losing or
// repeating a study; a cursor of one order is refused by the other.
func testOrders(t *testing.T, e Env) {
	ctx := context.Background()
	r := e.Repo
	// Received in the order listed; examined in another order (6.4 and 6.5 at the same
	// time, 6.6 without a time, 6.7 without a date).
	studies := []Study{
		{UID: "6.1", StudyDate: "20260301", StudyTime: "080000"},
		{UID: "6.2", StudyDate: "20260303", StudyTime: "101500"},
		{UID: "6.3", StudyDate: "20260302", StudyTime: "235959"},
		{UID: "6.4", StudyDate: "20260303", StudyTime: "090000"},
		{UID: "6.5", StudyDate: "20260303", StudyTime: "090000"},
		{UID: "6.6", StudyDate: "20260302"},
		{UID: "6.7"},
	}
	for i, s := range studies {
		s.Modality, s.ReceivedAt = "DX", base.Add(time.Duration(i)*time.Minute)
		e.AddStudy(t, s)
	}
	byReceipt := []string{"6.7", "6.6", "6.5", "6.4", "6.3", "6.2", "6.1"}
	byStudy := []string{"6.2", "6.5", "6.4", "6.3", "6.6", "6.1", "6.7"}
	for _, c := range []struct {
		order reading.WorklistOrder
		want  []string
	}{{"", byReceipt}, {reading.OrderReceived, byReceipt}, {reading.OrderStudy, byStudy}} {
		for _, limit := range []int{1, 2, 3, 7, 50} {
			if got := allPages(t, r, reading.WorklistFilter{Order: c.order}, limit); !slices.Equal(got, c.want) {
				t.Errorf("order %q, %d a page: %v, want %v", c.order, limit, got, c.want)
			}
		}
	}
	// A corrected study date moves the study in the study order.
	e.AddStudy(t, Study{UID: "6.1", SeriesUID: "6.1.2", StudyDate: "20260304", StudyTime: "070000", Modality: "DX",
		ReceivedAt: base.Add(time.Hour)})
	if got := allPages(t, r, reading.WorklistFilter{Order: reading.OrderStudy}, 3); got[0] != "6.1" {
		t.Errorf("after 6.1's date changed to the newest: %v", got)
	}
	// Filters keep the order.
	site := must(r.PutSite(ctx, reading.Site{Name: "甲镇", AETitles: []string{"TOWN_A"}}))(t)
	_ = site
	p := must(r.Worklist(ctx, reading.WorklistFilter{Order: reading.OrderStudy, Limit: 2}))(t)
	if p.Next == "" {
		t.Fatal("no second page")
	}
	if _, err := r.Worklist(ctx, reading.WorklistFilter{Order: reading.OrderReceived, After: p.Next}); !errors.Is(err, reading.ErrInvalid) {
		t.Errorf("a study-order cursor in the order of receipt: %v, want ErrInvalid", err)
	}
	doc := must(r.CreateUser(ctx, reading.User{Username: "li", Role: reading.RoleRadiologist, PasswordHash: "h"}))(t)
	must(r.SaveDraft(ctx, "6.3", "x", "y", doc, base))(t)
	must(r.SaveDraft(ctx, "6.5", "x", "y", doc, base))(t)
	if got := allPages(t, r, reading.WorklistFilter{Order: reading.OrderStudy, Status: reading.StatusDraft}, 1); !slices.Equal(got, []string{"6.5", "6.3"}) {
		t.Errorf("drafts in study order: %v", got)
	}
}

// testUrgentFirst: urgent studies still unread come first in either order, then the others;
// an urgent study someone has started (a draft) or signed goes back to its place. Paging
// crosses from the urgent part to the others without losing or repeating a study.
func testUrgentFirst(t *testing.T, e Env) {
	ctx := context.Background()
	r := e.Repo
	for i := range 8 {
		e.AddStudy(t, Study{UID: fmt.Sprintf("7.%d", i+1), Modality: "US", StudyDate: fmt.Sprintf("202603%02d", 10-i),
			ReceivedAt: base.Add(time.Duration(i) * time.Minute)})
	}
	// Receipt: 7.8 newest; study date: 7.1 newest.
	for _, uid := range []string{"7.3", "7.6", "7.5"} {
		if err := r.SetUrgent(ctx, uid, true); err != nil {
			t.Fatal(err)
		}
	}
	doc := must(r.CreateUser(ctx, reading.User{Username: "li", Role: reading.RoleRadiologist, PasswordHash: "h"}))(t)
	must(r.SaveDraft(ctx, "7.5", "x", "y", doc, base))(t) // urgent, but being read
	for _, c := range []struct {
		order reading.WorklistOrder
		want  []string
	}{
		{reading.OrderReceived, []string{"7.6", "7.3", "7.8", "7.7", "7.5", "7.4", "7.2", "7.1"}},
		{reading.OrderStudy, []string{"7.3", "7.6", "7.1", "7.2", "7.4", "7.5", "7.7", "7.8"}},
	} {
		for _, limit := range []int{1, 2, 3, 50} {
			if got := allPages(t, r, reading.WorklistFilter{Order: c.order}, limit); !slices.Equal(got, c.want) {
				t.Errorf("order %s, %d a page: %v, want %v", c.order, limit, got, c.want)
			}
		}
	}
	// Filters apply to both parts.
	if got := allPages(t, r, reading.WorklistFilter{Status: reading.StatusUnread}, 2); !slices.Equal(got, []string{"7.6", "7.3", "7.8", "7.7", "7.4", "7.2", "7.1"}) {
		t.Errorf("unread: %v", got)
	}
	if got := allPages(t, r, reading.WorklistFilter{UrgentOnly: true}, 2); !slices.Equal(got, []string{"7.6", "7.3", "7.5"}) {
		t.Errorf("urgent only: %v", got)
	}
	// Marked urgent later, a study moves to the top; unmarked, it goes back.
	if err := r.SetUrgent(ctx, "7.1", true); err != nil {
		t.Fatal(err)
	}
	if got := uids(must(r.Worklist(ctx, reading.WorklistFilter{Limit: 1}))(t).Rows); !slices.Equal(got, []string{"7.6"}) {
		t.Errorf("first row after marking 7.1: %v", got)
	}
	if got := allPages(t, r, reading.WorklistFilter{}, 3)[:3]; !slices.Equal(got, []string{"7.6", "7.3", "7.1"}) {
		t.Errorf("urgent part after marking 7.1: %v", got)
	}
	for _, uid := range []string{"7.1", "7.3", "7.6"} {
		if err := r.SetUrgent(ctx, uid, false); err != nil {
			t.Fatal(err)
		}
	}
	if got := allPages(t, r, reading.WorklistFilter{}, 50); got[0] != "7.8" || got[len(got)-1] != "7.1" {
		t.Errorf("nothing urgent: %v", got)
	}
}

// testFieldErrors: a refused site, user or template says which field is wrong and why.
func testFieldErrors(t *testing.T, e Env) {
	ctx := context.Background()
	r := e.Repo
	a := must(r.PutSite(ctx, reading.Site{Name: "甲镇", AETitles: []string{"TOWN_A"}, Institutions: []string{"甲镇卫生院"}}))(t)
	must(r.CreateUser(ctx, reading.User{Username: "li", Role: reading.RoleRadiologist, PasswordHash: "h"}))(t)
	check := func(what string, err error, sentinel error, field, problem, value string) {
		t.Helper()
		var fe *reading.FieldError
		if !errors.Is(err, sentinel) || !errors.As(err, &fe) || fe.Field != field || fe.Problem != problem || fe.Value != value {
			t.Errorf("%s: %v, want a %v about %s (%s %q)", what, err, sentinel, field, problem, value)
		}
	}
	_, err := r.PutSite(ctx, reading.Site{Name: "甲镇"})
	check("duplicate site name", err, reading.ErrConflict, "name", reading.ProblemTaken, "")
	_, err = r.PutSite(ctx, reading.Site{Name: "乙镇", AETitles: []string{"TOWN_B", "TOWN_A"}})
	check("AE title of another site", err, reading.ErrConflict, "aeTitles", reading.ProblemTaken, "TOWN_A")
	_, err = r.PutSite(ctx, reading.Site{Name: "乙镇", Institutions: []string{"甲镇卫生院"}})
	check("institution of another site", err, reading.ErrConflict, "institutions", reading.ProblemTaken, "甲镇卫生院")
	_, err = r.PutSite(ctx, reading.Site{Name: "乙镇", AETitles: []string{"TOWN_B_IS_TOO_LONG"}})
	check("long AE title", err, reading.ErrInvalid, "aeTitles", reading.ProblemLength, "TOWN_B_IS_TOO_LONG")
	_, err = r.PutSite(ctx, reading.Site{Name: "乙镇", AETitles: []string{"乙镇"}})
	check("AE title in Chinese", err, reading.ErrInvalid, "aeTitles", reading.ProblemChars, "乙镇")
	_, err = r.PutSite(ctx, reading.Site{Name: " "})
	check("no site name", err, reading.ErrInvalid, "name", reading.ProblemRequired, "")

	_, err = r.CreateUser(ctx, reading.User{Username: "LI", Role: reading.RoleAdmin, PasswordHash: "h"})
	check("taken user name", err, reading.ErrConflict, "username", reading.ProblemTaken, "")
	_, err = r.CreateUser(ctx, reading.User{Username: "wang fang", Role: reading.RoleAdmin, PasswordHash: "h"})
	check("space in user name", err, reading.ErrInvalid, "username", reading.ProblemChars, "")
	_, err = r.CreateUser(ctx, reading.User{Username: "town", Role: reading.RoleSite, PasswordHash: "h"})
	check("site user without site", err, reading.ErrInvalid, "site", reading.ProblemSite, "")
	_, err = r.CreateUser(ctx, reading.User{Username: "x", Role: "root", PasswordHash: "h"})
	check("unknown role", err, reading.ErrInvalid, "role", reading.ProblemValue, "root")
	u := must(r.CreateUser(ctx, reading.User{Username: "town", Role: reading.RoleSite, SiteID: a.ID, PasswordHash: "h"}))(t)
	u.Username = "li"
	check("renamed to a taken name", r.UpdateUser(ctx, u), reading.ErrConflict, "username", reading.ProblemTaken, "")

	_, err = r.PutTemplate(ctx, reading.Template{Name: "胸部", Modality: "DX", BodyPart: "CHEST_AND_ABDOMEN_AND_PELVIS"})
	check("long body part", err, reading.ErrInvalid, "bodyPart", reading.ProblemLength, "")
}
