package viewer

import (
	"context"
	"encoding/csv"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/labstack/echo/v4"

	"pacsd/audit"
	"pacsd/reading"
)

// newAuditRoom is a study room whose viewer records into the index's audit store.
func newAuditRoom(t *testing.T) *studyRoom {
	t.Helper()
	rec := &lateRecorder{t: t}
	r := newStudyRoom(t, func(c *Config) {
		c.Audit = rec
		c.AuditLog = rec
	})
	rec.set(r.idx.Audit())
	return r
}

// lateRecorder appends each event at once to the real store, so that a test reads what a
// request recorded as soon as it has been answered (the batching Recorder has its own
// tests). The viewer is made before the test holds the index: events until then wait.
type lateRecorder struct {
	t       testing.TB
	mu      sync.Mutex
	st      audit.Store
	pending []audit.Event
}

func (l *lateRecorder) set(st audit.Store) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.st = st
	if err := st.Append(context.Background(), l.pending); err != nil {
		l.t.Errorf("append audit events: %v", err)
	}
}

func (l *lateRecorder) Record(ctx context.Context, ev audit.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.st == nil {
		l.pending = append(l.pending, ev)
		return
	}
	if err := l.st.Append(context.WithoutCancel(ctx), []audit.Event{ev}); err != nil {
		l.t.Errorf("append audit event: %v", err)
	}
}

func (l *lateRecorder) Search(ctx context.Context, f audit.Filter) (audit.Page, error) {
	return l.st.Search(ctx, f)
}

func events(t *testing.T, s audit.Searcher, f audit.Filter) []audit.Event {
	t.Helper()
	f.Limit = audit.MaxPage
	p, err := s.Search(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return p.Events
}

// one finds the single event of action by user on study, failing unless there is exactly one.
func one(t *testing.T, evs []audit.Event, action audit.Action, user, study string) audit.Event {
	t.Helper()
	var found []audit.Event
	for _, e := range evs {
		if e.Action == action && e.Actor.UserName == user && e.StudyUID == study {
			found = append(found, e)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d %s events of %s on %s, want 1; all: %+v", len(found), action, user, study, evs)
	}
	return found[0]
}

// TestAuditReadingRoom: each look at a study (page, images, report, print), signing and
// amending, login, logout, a failed login and the administrators' changes are recorded
// with the user, the address and the patient.
func TestAuditReadingRoom(t *testing.T) {
	r := newAuditRoom(t)
	st := r.idx.Audit()
	r.sign(r.dr, 1, "双肺纹理清晰。", "未见异常。")
	r.town.page("/studies/" + r.dr) // the page carries the study's images: one image.view
	if resp, body := r.town.get("/api/studies/"+r.dr+"/report", "application/json"); resp.StatusCode != http.StatusOK {
		t.Fatalf("report: %d %s", resp.StatusCode, body)
	}
	r.town.page("/studies/" + r.dr + "/print")
	r.amend(r.dr, "补充左肺结节")

	evs := events(t, st, audit.Filter{})
	for _, c := range []struct {
		action audit.Action
		user   string
	}{
		{audit.ActionStudyView, "town-a"}, {audit.ActionImageView, "town-a"}, {audit.ActionReportView, "town-a"},
		{audit.ActionReportPrint, "town-a"}, {audit.ActionReportSign, "doc"}, {audit.ActionReportAmend, "doc"},
	} {
		e := one(t, evs, c.action, c.user, r.dr)
		if e.Actor.Kind != audit.ActorUser || e.Actor.UserID == 0 || e.Actor.Address != "127.0.0.1" ||
			e.PatientName == "" || e.PatientID == "" || e.Outcome != audit.OutcomeSuccess {
			t.Errorf("%s: %+v", c.action, e)
		}
	}
	if e := one(t, evs, audit.ActionReportSign, "doc", r.dr); e.Object != "v1" {
		t.Errorf("sign names %q, want v1", e.Object)
	}

	// Logins, one of them failed (anonymous, with the name typed), and a logout.
	if len(events(t, st, audit.Filter{UserName: "doc", Actions: []audit.Action{audit.ActionLogin}})) != 1 {
		t.Error("the radiologist's login is not recorded")
	}
	bad := r.anon().postForm("/login", url.Values{"username": {"doc"}, "password": {"wrong-password"}})
	if bad.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", bad.StatusCode)
	}
	failed := events(t, st, audit.Filter{Actions: []audit.Action{audit.ActionLogin}, Outcome: audit.OutcomeFailure})
	if len(failed) != 1 || failed[0].Actor.Kind != audit.ActorAnonymous || failed[0].Actor.UserName != "doc" ||
		failed[0].Actor.Address != "127.0.0.1" {
		t.Errorf("failed login: %+v", failed)
	}
	if resp := r.town.postForm("/logout", url.Values{}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if len(events(t, st, audit.Filter{UserName: "town-a", Actions: []audit.Action{audit.ActionLogout}})) != 1 {
		t.Error("the logout is not recorded")
	}

	// The administrator creates a user and a site.
	adm := r.admin()
	if resp := adm.postForm("/admin/users", url.Values{"username": {"nurse"}, "display_name": {"护士"},
		"role": {"radiologist"}, "password": {"password-nurse"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create user: %d", resp.StatusCode)
	}
	if resp := adm.postForm("/admin/sites", url.Values{"name": {"乙镇卫生院"}, "aes": {"TOWN_B"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save site: %d", resp.StatusCode)
	}
	changes := events(t, st, audit.Filter{UserName: "admin", Actions: []audit.Action{audit.ActionUserChange, audit.ActionSiteChange}})
	var objects []string
	for _, e := range changes {
		objects = append(objects, string(e.Action)+":"+e.Object)
	}
	got := strings.Join(objects, ",")
	for _, want := range []string{"user.change:nurse", "site.change:乙镇卫生院", "user.change:admin"} {
		if !strings.Contains(got, want) {
			t.Errorf("administrator's changes %q lack %q", got, want)
		}
	}
}

// TestAuditRefusedStudy: a site user asking for another site's study is refused (404) and
// the attempt is recorded as a security event.
func TestAuditRefusedStudy(t *testing.T) {
	r := newAuditRoom(t)
	site, err := r.idx.Reading().PutSite(context.Background(), reading.Site{Name: "乙镇卫生院", AETitles: []string{"TOWN_B"}})
	if err != nil {
		t.Fatal(err)
	}
	r.user("town-b", reading.RoleSite, site.ID)
	b := r.login("town-b", "password-town-b")
	if resp, _ := b.get("/studies/"+r.dr, "text/html"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("another site's study: %d", resp.StatusCode)
	}
	evs := events(t, r.idx.Audit(), audit.Filter{UserName: "town-b", Actions: []audit.Action{audit.ActionSecurity}})
	if len(evs) != 1 || evs[0].StudyUID != r.dr || evs[0].Outcome != audit.OutcomeFailure {
		t.Errorf("refused study: %+v", evs)
	}
}

// TestAuditPage: the administrators' page finds events by patient name (and its pinyin),
// user and action, exports them as CSV, and both are recorded; others may not see it.
func TestAuditPage(t *testing.T) {
	r := newAuditRoom(t)
	r.town.page("/studies/" + r.dr)
	r.doc.page("/studies/" + r.us)
	adm := r.admin()
	page := adm.page("/admin/audit?patient_name=zhangw&action=study.view")
	if !strings.Contains(page, "town-a") || strings.Contains(page, `<span class="user">doc</span>`) {
		t.Errorf("search by pinyin finds the wrong events:\n%s", page)
	}
	if n := strings.Count(page, `class="event"`); n != 1 {
		t.Errorf("%d events shown, want 1", n)
	}
	resp, body := adm.get("/admin/audit.csv?user=doc", "")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("export: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(body, "\uFEFF"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var views int
	for _, row := range rows[1:] {
		if row[6] != "doc" {
			t.Errorf("export of doc's events has %q's", row[6])
		}
		if row[1] == audit.ActionStudyView.Label() && row[11] == r.us {
			views++
		}
	}
	if views != 1 {
		t.Errorf("export: %d views of the ultrasound, want 1: %v", views, rows)
	}
	if evs := events(t, r.idx.Audit(), audit.Filter{UserName: "admin", Actions: []audit.Action{audit.ActionAuditView}}); len(evs) != 2 {
		t.Errorf("%d audit views recorded, want 2 (the search and the export)", len(evs))
	}
	// A row that stands for repeated looks (audit.Event.Count) says how many.
	if err := r.idx.Audit().Append(context.Background(), []audit.Event{{Actor: audit.User(0, "doc", "10.0.0.5"),
		Action: audit.ActionQuery, Object: "/studies?PatientID=P9", Count: 3}}); err != nil {
		t.Fatal(err)
	}
	if page := adm.page("/admin/audit?user=doc&action=query"); !strings.Contains(page, `<span class="count">×3</span>`) {
		t.Errorf("a folded row does not show its count:\n%s", page)
	}
	if resp, _ := r.doc.get("/admin/audit", "text/html"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a radiologist opens the audit page: %d", resp.StatusCode)
	}
}

// TestRequireStaffActor: handlers behind RequireStaff (DICOMweb) find the authenticated
// user in the request's context, with the client's address.
func TestRequireStaffActor(t *testing.T) {
	en := newEnv(t)
	en.user("doc", reading.RoleRadiologist, 0)
	e := echo.New()
	var got audit.Actor
	var ok bool
	e.GET("/probe", func(c echo.Context) error {
		got, ok = audit.ActorFrom(c.Request().Context())
		return c.NoContent(http.StatusNoContent)
	}, en.viewer.RequireStaff())
	req := httptest.NewRequest(http.MethodGet, "/probe", nil)
	req.RemoteAddr = "10.0.0.7:5555"
	req.SetBasicAuth("doc", "password-doc")
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	if rec.Code != http.StatusNoContent || !ok || got.Kind != audit.ActorUser || got.UserName != "doc" ||
		got.UserID == 0 || got.Address != "10.0.0.7" {
		t.Errorf("status %d, actor %+v (%v)", rec.Code, got, ok)
	}
}
