package viewer

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"pacsd/audit"
	"pacsd/reading"
	"pacsd/store"
	"pacsd/store/sqlite"
)

// workflowRoom is a reading room with the workflow on: sites 甲镇 (study A, 张伟, AE TOWN_A)
// and 乙镇 (study B, 王芳, AE TOWN_B), radiologists doc and doc2, reviewer chief, and a user
// of each site.
type workflowRoom struct {
	*env
	a, b   *store.Instance
	sa, sb reading.Site
}

// allRepos wires every repository of the reading room as cmd/pacsd does: the workflow, the
// measurements, key images, priors and share links.
func allRepos(c *Config) {
	rd := c.Reports.(*sqlite.Reading)
	c.Annotations, c.KeyImages, c.Priors, c.Workflow, c.Shares = rd, rd, rd, rd, rd
}

func newWorkflowRoom(t *testing.T) *workflowRoom {
	rec := &lateRecorder{t: t} // audit_test.go: the events in the index's store at once
	en := newEnvWith(t, func(c *Config) { allRepos(c); c.Audit = rec })
	rec.set(en.idx.Audit())
	ctx := context.Background()
	r := en.idx.Reading()
	w := &workflowRoom{env: en}
	var err error
	if w.sa, err = r.PutSite(ctx, reading.Site{Name: "甲镇", AETitles: []string{"TOWN_A"}}); err != nil {
		t.Fatal(err)
	}
	if w.sb, err = r.PutSite(ctx, reading.Site{Name: "乙镇", AETitles: []string{"TOWN_B"}}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct {
		name string
		role reading.Role
		site int64
	}{{"doc", reading.RoleRadiologist, 0}, {"doc2", reading.RoleRadiologist, 0}, {"chief", reading.RoleRadiologist, 0},
		{"town-a", reading.RoleSite, w.sa.ID}, {"town-b", reading.RoleSite, w.sb.ID}} {
		en.user(u.name, u.role, u.site)
	}
	chief, err := r.UserByName(ctx, "chief")
	if err != nil {
		t.Fatal(err)
	}
	chief.MayReview = true
	if err := r.UpdateUser(ctx, chief); err != nil {
		t.Fatal(err)
	}
	w.a, w.b = en.put("dr_mono2.dcm", "TOWN_A"), en.put("charset_gb18030.dcm", "TOWN_B")
	return w
}

func (w *workflowRoom) as(name string) *client { return w.login(name, "password-"+name) }

// call sends a JSON request and decodes the answer into out (nil: not decoded).
func call(t *testing.T, c *client, method, path, body string, want int, out any) {
	t.Helper()
	resp, b := c.sendJSON(method, path, body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, b, want)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(b), out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

// TestCriticalFindings: a radiologist flags; each site sees and acknowledges only its own
// studies' findings, naming whom it informed, once; the banner and the dashboard show them.
func TestCriticalFindings(t *testing.T) {
	w := newWorkflowRoom(t)
	doc, ta, tb := w.as("doc"), w.as("town-a"), w.as("town-b")
	var fa, fb criticalJSON
	call(t, doc, "POST", "/api/studies/"+w.a.StudyInstanceUID+"/critical", `{"category":"pneumothorax","text":"右侧张力性气胸"}`, 200, &fa)
	call(t, doc, "POST", "/api/studies/"+w.b.StudyInstanceUID+"/critical", `{"category":"ectopic","text":"右附件区包块伴盆腔积液"}`, 200, &fb)
	if fa.Label != "气胸（大量/张力性）" || fa.Site != "甲镇" || fa.FlaggedBy != "doc" {
		t.Errorf("flagged = %+v", fa)
	}
	call(t, doc, "POST", "/api/studies/"+w.a.StudyInstanceUID+"/critical", `{"category":"made-up","text":"x"}`, 400, nil)
	call(t, ta, "POST", "/api/studies/"+w.a.StudyInstanceUID+"/critical", `{"category":"other","text":"x"}`, 403, nil)

	var list struct{ Findings []criticalJSON }
	call(t, ta, "GET", "/api/critical?open=1", "", 200, &list)
	if len(list.Findings) != 1 || list.Findings[0].ID != fa.ID {
		t.Fatalf("site A's open findings = %+v", list.Findings)
	}
	// The county's worklist marks both studies; the live refresh says the same.
	if _, wl := doc.get("/api/worklist", "text/html"); strings.Count(wl, `class="flag crit-flag"`) != 2 {
		t.Error("the worklist does not mark the studies with open critical findings")
	}
	_, page := ta.get("/", "text/html")
	if !strings.Contains(page, `id="critical-banner"`) || !strings.Contains(page, "右侧张力性气胸") || strings.Contains(page, "右附件区包块") {
		t.Error("site A's worklist banner does not show exactly its own finding")
	}
	// Another site's finding is not found; a radiologist does not acknowledge for a site.
	call(t, tb, "POST", fmt.Sprintf("/api/critical/%d/ack", fa.ID), `{"informed":"x"}`, 404, nil)
	call(t, doc, "POST", fmt.Sprintf("/api/critical/%d/ack", fa.ID), `{"informed":"x"}`, 403, nil)
	call(t, ta, "POST", fmt.Sprintf("/api/critical/%d/ack", fa.ID), `{"informed":"  "}`, 400, nil)
	var ack criticalJSON
	call(t, ta, "POST", fmt.Sprintf("/api/critical/%d/ack", fa.ID), `{"informed":"已电话通知急诊科李医生"}`, 200, &ack)
	if ack.AckBy != "town-a" || ack.AckAt == "" || ack.Informed != "已电话通知急诊科李医生" {
		t.Errorf("acknowledged = %+v", ack)
	}
	call(t, ta, "POST", fmt.Sprintf("/api/critical/%d/ack", fa.ID), `{"informed":"again"}`, 409, nil)
	// Both are in the audit trail, with what was found and whom the site informed.
	evs := events(t, w.idx.Audit(), audit.Filter{Actions: []audit.Action{audit.ActionCritical, audit.ActionCriticalAck}})
	if e := one(t, evs, audit.ActionCritical, "doc", w.a.StudyInstanceUID); !strings.Contains(e.Detail, "右侧张力性气胸") {
		t.Errorf("flag audited as %+v", e)
	}
	if e := one(t, evs, audit.ActionCriticalAck, "town-a", w.a.StudyInstanceUID); !strings.Contains(e.Detail, "急诊科李医生") {
		t.Errorf("acknowledgement audited as %+v", e)
	}
	if _, wl := doc.get("/api/worklist", "text/html"); strings.Count(wl, `class="flag crit-flag"`) != 1 {
		t.Error("an acknowledged finding still marks its study on the worklist")
	}
	call(t, ta, "GET", "/api/critical?open=1", "", 200, &list)
	if len(list.Findings) != 0 {
		t.Errorf("site A's open findings after acknowledgement = %+v", list.Findings)
	}
	// The study page records who acknowledged and whom they informed.
	_, page = doc.get("/studies/"+w.a.StudyInstanceUID, "text/html")
	if !strings.Contains(page, "已电话通知急诊科李医生") || !strings.Contains(page, "crit acked") {
		t.Error("the study page does not show the acknowledgement")
	}
	// The dashboard: B's finding still open, and each site's time to acknowledgement.
	_, dash := doc.get("/dashboard", "text/html")
	open := between(dash, `id="critical-open"`, "</table>")
	sites := between(dash, `id="critical-sites"`, "</table>")
	if !strings.Contains(open, "王芳") || strings.Contains(open, "张伟") {
		t.Errorf("open findings on the dashboard: %s", open)
	}
	if !strings.Contains(sites, "甲镇") || !strings.Contains(sites, "乙镇") || !strings.Contains(sites, "crit-median") {
		t.Errorf("per-site figures on the dashboard: %s", sites)
	}
}

// between is the part of s from the first from to the next to after it ("" without from).
func between(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return ""
	}
	s = s[i:]
	if j := strings.Index(s, to); j >= 0 {
		return s[:j]
	}
	return s
}

// TestTwoLevelReview: with two-level review set, a radiologist without the reviewer flag
// submits instead of signing and cannot edit after; the reviewer edits and signs, and the
// printed report names both.
func TestTwoLevelReview(t *testing.T) {
	w := newWorkflowRoom(t)
	admin, doc, chief := w.admin(), w.as("doc"), w.as("chief")
	s := "/api/studies/" + w.a.StudyInstanceUID
	if resp := admin.postForm("/admin/review", url.Values{"mode": {"two"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("setting two-level review: %d", resp.StatusCode)
	}
	if _, page := admin.get("/admin/review", "text/html"); !strings.Contains(page, `value="two" checked`) || !strings.Contains(page, "chief") {
		t.Error("the review page does not show the mode and the reviewer")
	}
	body := `{"version":1,"findings":"腰椎生理曲度变直。","impression":"腰椎退行性变。"}`
	call(t, doc, "PUT", s+"/report", `{"findings":"腰椎生理曲度变直。","impression":"腰椎退行性变。"}`, 200, nil)
	call(t, doc, "POST", s+"/report/sign", body, 403, nil)
	var r reportJSON
	call(t, doc, "POST", s+"/report/submit", body, 200, &r)
	if r.Status != "preliminary" || r.SubmittedAt == "" {
		t.Fatalf("submitted = %+v", r)
	}
	call(t, doc, "PUT", s+"/report", `{"findings":"改","impression":"改"}`, 409, nil)
	// The worklist says 待审核.
	if _, page := chief.get("/", "text/html"); !strings.Contains(page, "待审核") {
		t.Error("the worklist does not show the report awaiting review")
	}
	call(t, chief, "PUT", s+"/report", `{"findings":"腰椎生理曲度变直，L4/5椎间隙变窄。","impression":"腰椎退行性变。"}`, 200, nil)
	call(t, chief, "POST", s+"/report/sign", `{"version":1,"findings":"腰椎生理曲度变直，L4/5椎间隙变窄。","impression":"腰椎退行性变。"}`, 200, &r)
	if r.Status != "final" || r.AuthorName != "doc" || r.SignedByName != "chief" {
		t.Fatalf("signed = %+v", r)
	}
	_, page := chief.get("/studies/"+w.a.StudyInstanceUID+"/print", "text/html")
	if !strings.Contains(page, "报告医师: doc") || !strings.Contains(page, "审核医师: chief") {
		t.Errorf("the printed report does not name author and signer")
	}
	// The reviewer flag is set on the users page.
	u, err := w.idx.Reading().UserByName(context.Background(), "doc2")
	if err != nil {
		t.Fatal(err)
	}
	if resp := admin.postForm(fmt.Sprintf("/admin/users/%d", u.ID), url.Values{"display_name": {"doc2"},
		"role": {"radiologist"}, "may_review": {"1"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("users form: %d", resp.StatusCode)
	}
	if u, _ = w.idx.Reading().UserByName(context.Background(), "doc2"); !u.MayReview {
		t.Error("the users page did not set the reviewer flag")
	}
}

// TestClaims: opening a study claims it; another radiologist sees who reads it (study page
// and worklist) and cannot save over it until it is released.
func TestClaims(t *testing.T) {
	w := newWorkflowRoom(t)
	doc, doc2 := w.as("doc"), w.as("doc2")
	study := "/studies/" + w.a.StudyInstanceUID
	if resp, _ := doc.get(study, "text/html"); resp.StatusCode != 200 {
		t.Fatalf("study page: %d", resp.StatusCode)
	}
	_, page := doc2.get(study, "text/html")
	if !strings.Contains(page, `class="claim other"`) || !strings.Contains(between(page, `id="claim-banner"`, "</p>"), "doc") {
		t.Error("the second radiologist's study page does not say who reads the study")
	}
	if _, wl := doc2.get("/", "text/html"); !strings.Contains(wl, `<span class="claim"`) {
		t.Error("the worklist does not show the claim")
	}
	resp, body := doc2.sendJSON("PUT", "/api/studies/"+w.a.StudyInstanceUID+"/report", `{"findings":"x","impression":"y"}`)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "claim.held") {
		t.Fatalf("saving over another's claim: %d %s", resp.StatusCode, body)
	}
	var held struct {
		Claim claimJSON `json:"claim"`
	}
	call(t, doc2, "POST", "/api/studies/"+w.a.StudyInstanceUID+"/claim", "", 409, &held)
	if held.Claim.UserName != "doc" || held.Claim.Mine {
		t.Errorf("claim refused with %+v", held.Claim)
	}
	call(t, doc, "DELETE", "/api/studies/"+w.a.StudyInstanceUID+"/claim", "", 200, nil)
	call(t, doc2, "PUT", "/api/studies/"+w.a.StudyInstanceUID+"/report", `{"findings":"x","impression":"y"}`, 200, nil)
	// Signing releases the claim.
	call(t, doc2, "POST", "/api/studies/"+w.a.StudyInstanceUID+"/report/sign", `{"version":1,"findings":"x","impression":"y"}`, 200, nil)
	claims, err := w.idx.Reading().Claims(context.Background(), []string{w.a.StudyInstanceUID}, time.Now())
	if err != nil || len(claims) != 0 {
		t.Errorf("claims after signing: %v %v", claims, err)
	}
}

// TestUrgentFirst: an urgent study heads a radiologist's worklist, whatever arrived later.
func TestUrgentFirst(t *testing.T) {
	w := newWorkflowRoom(t)
	doc := w.as("doc")
	_, before := doc.get("/", "text/html")
	if strings.Index(before, w.b.StudyInstanceUID) > strings.Index(before, w.a.StudyInstanceUID) {
		t.Fatal("setup: study B (newer) should come first before anything is urgent")
	}
	resp := doc.postForm("/api/studies/"+w.a.StudyInstanceUID+"/urgent", url.Values{"urgent": {"1"}})
	if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusOK {
		t.Fatalf("urgent form: %d", resp.StatusCode)
	}
	_, after := doc.get("/", "text/html")
	if strings.Index(after, w.a.StudyInstanceUID) > strings.Index(after, w.b.StudyInstanceUID) {
		t.Error("the urgent study does not come first")
	}
}

// TestPhrases: personal phrases are their owner's; shared ones are kept by administrators.
func TestPhrases(t *testing.T) {
	w := newWorkflowRoom(t)
	admin, doc, doc2 := w.admin(), w.as("doc"), w.as("doc2")
	var own, shared phraseJSON
	call(t, doc, "POST", "/api/phrases", `{"group":"胸部","text":"双肺纹理增多、模糊。"}`, 200, &own)
	call(t, doc, "POST", "/api/phrases", `{"group":"胸部","text":"x","shared":true}`, 403, nil)
	call(t, admin, "POST", "/api/phrases", `{"group":"超声","text":"肝脏大小形态正常。","shared":true}`, 200, &shared)
	var list struct{ Phrases []phraseJSON }
	call(t, doc2, "GET", "/api/phrases", "", 200, &list)
	if len(list.Phrases) != 1 || list.Phrases[0].ID != shared.ID || list.Phrases[0].Editable {
		t.Errorf("doc2's phrases = %+v", list.Phrases)
	}
	call(t, doc2, "DELETE", fmt.Sprintf("/api/phrases/%d", own.ID), "", 404, nil)
	call(t, doc, "DELETE", fmt.Sprintf("/api/phrases/%d", shared.ID), "", 403, nil)
	call(t, doc, "PUT", fmt.Sprintf("/api/phrases/%d", own.ID), `{"group":"胸部","text":"双肺纹理增多。"}`, 200, nil)
	call(t, doc, "DELETE", fmt.Sprintf("/api/phrases/%d", own.ID), "", 204, nil)
	call(t, w.as("town-a"), "GET", "/api/phrases", "", 403, nil)
}

// TestTemplatesSeededOnce: the default ultrasound and spine templates are added once; one
// an administrator deleted does not come back.
func TestTemplatesSeededOnce(t *testing.T) {
	w := newWorkflowRoom(t)
	ctx := context.Background()
	r := w.idx.Reading()
	ts, err := r.Templates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var thyroid int64
	for _, tp := range ts {
		if tp.Name == "甲状腺超声（正常）" {
			thyroid = tp.ID
		}
	}
	if thyroid == 0 || len(ts) != len(defaultTemplates)+len(workflowTemplates) {
		t.Fatalf("templates after the first start: %d, thyroid %d", len(ts), thyroid)
	}
	if err := r.DeleteTemplate(ctx, thyroid); err != nil {
		t.Fatal(err)
	}
	if err := w.viewer.seedTemplates(ctx); err != nil {
		t.Fatal(err)
	}
	if ts2, _ := r.Templates(ctx); len(ts2) != len(ts)-1 {
		t.Errorf("a deleted default template came back: %d templates", len(ts2))
	}
}
