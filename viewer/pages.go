package viewer

import (
	"encoding/json"
	"errors"
	htmltemplate "html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"pacsd/audit"
	"pacsd/dicom"
	"pacsd/forward"
	"pacsd/reading"
)

// authorizeStudy is the one place that decides whether the request's user may see a study:
// staff see every study, a site user only its own site's. A study the user may not see is
// answered exactly like one that does not exist (404), so its existence does not leak.
// Every handler under /studies/{study} and /api/studies/{study} starts here.
func (v *Viewer) authorizeStudy(c echo.Context, studyUID string) (reading.WorklistRow, error) {
	u := currentUser(c)
	if !dicom.ValidUID(studyUID, dicom.UIDLeadingZeros) {
		return reading.WorklistRow{}, errNotFound
	}
	row, err := v.cfg.Worklist.Study(c.Request().Context(), studyUID)
	if errors.Is(err, reading.ErrNotFound) {
		return reading.WorklistRow{}, errNotFound
	}
	if err != nil {
		return reading.WorklistRow{}, err
	}
	if !mayRead(u, row) {
		v.log.Info("study refused to a site user", "user_id", u.ID, "study_uid", studyUID)
		v.record(c, audit.Event{Action: audit.ActionSecurity, StudyUID: studyUID, Object: c.Request().URL.Path,
			Outcome: audit.OutcomeFailure, Detail: "站点用户访问其他站点的检查"})
		return reading.WorklistRow{}, errNotFound
	}
	return row, nil
}

// mayRead is the rule itself.
func mayRead(u reading.User, row reading.WorklistRow) bool {
	if row.Quarantined && u.Role != reading.RoleAdmin {
		return false // from an unknown sender, held for an administrator
	}
	switch u.Role {
	case reading.RoleAdmin, reading.RoleRadiologist:
		return true
	case reading.RoleSite:
		return u.SiteID != 0 && row.SiteID == u.SiteID
	}
	return false
}

// scopeFilter forces a site user's worklist to its own site, whatever the query says.
// Only administrators see studies held in quarantine.
func scopeFilter(u reading.User, f *reading.WorklistFilter) {
	if u.Role == reading.RoleSite {
		f.SiteID, f.UnknownSite = u.SiteID, false
	}
	f.WithQuarantined = u.Role == reading.RoleAdmin
	f.QuarantinedOnly = f.QuarantinedOnly && f.WithQuarantined
}

type worklistView struct {
	Filter    reading.WorklistFilter
	SiteParam string // "", "unknown" or the site ID
	Rows      []reading.WorklistRow
	Next      string // URL of the next page, "" on the last
	First     string // URL of the first page when not on it
	Sites     []reading.Site
	Statuses  []reading.Status
	Modality  []string
	// Sort holds the URLs that sort by each order (first page, same filter): "received", "study".
	Sort map[string]string
	// Claims are the live claims of the page's studies (workflow.go); Critical the
	// unacknowledged critical findings the user sees (the banner), CriticalOpen their studies.
	Claims       map[string]*reading.Claim
	Critical     []reading.CriticalFinding
	CriticalOpen map[string]bool
}

// Ordered says whether the page is in order o ("received" or "study").
func (w *worklistView) Ordered(o string) bool {
	return w.Filter.Order == reading.WorklistOrder(o) || (o == string(reading.OrderReceived) && w.Filter.Order == "")
}

func (v *Viewer) worklistFilter(c echo.Context) (reading.WorklistFilter, string) {
	q := c.QueryParams()
	f := reading.WorklistFilter{
		Modality:   strings.TrimSpace(q.Get("modality")),
		DateFrom:   strings.ReplaceAll(q.Get("from"), "-", ""),
		DateTo:     strings.ReplaceAll(q.Get("to"), "-", ""),
		Status:     reading.Status(q.Get("status")),
		Query:      strings.TrimSpace(q.Get("q")),
		UrgentOnly: q.Get("urgent") == "1",
		After:      q.Get("after"),
		Order:      reading.WorklistOrder(q.Get("sort")),
		Limit:      50,
	}
	site := q.Get("site")
	switch {
	case site == "unknown":
		f.UnknownSite = true
	case site == "quarantined":
		f.QuarantinedOnly = true
	case site != "":
		f.SiteID, _ = strconv.ParseInt(site, 10, 64)
	}
	if f.Order != reading.OrderStudy {
		f.Order = reading.OrderReceived
	}
	scopeFilter(currentUser(c), &f)
	return f, site
}

func (v *Viewer) worklist(c echo.Context) (*worklistView, error) {
	ctx := c.Request().Context()
	f, site := v.worklistFilter(c)
	page, err := v.cfg.Worklist.Worklist(ctx, f)
	if err != nil {
		return nil, err
	}
	wv := &worklistView{Filter: f, SiteParam: site, Rows: page.Rows,
		Statuses: []reading.Status{reading.StatusUnread, reading.StatusDraft, reading.StatusPreliminary, reading.StatusFinal,
			reading.StatusAmended},
		// DX stands for DR too (the repository matches both).
		Modality: []string{"DX", "CR", "US", "CT", "MR", "MG", "XA", "RF", "OT"}}
	if currentUser(c).Role.Staff() {
		if wv.Sites, err = v.cfg.Sites.Sites(ctx); err != nil {
			return nil, err
		}
	}
	if wv.Claims, err = v.worklistClaims(ctx, page.Rows); err != nil {
		return nil, err
	}
	if wv.Critical, err = v.criticalFor(ctx, currentUser(c), true); err != nil {
		return nil, err
	}
	wv.CriticalOpen = map[string]bool{}
	for _, f := range wv.Critical {
		wv.CriticalOpen[f.StudyUID] = true
	}
	q := c.QueryParams()
	if page.Next != "" {
		n := cloneValues(q)
		n.Set("after", page.Next)
		wv.Next = "/?" + n.Encode()
	}
	if f.After != "" {
		n := cloneValues(q)
		n.Del("after")
		wv.First = "/?" + n.Encode()
	}
	wv.Sort = map[string]string{}
	for _, o := range []reading.WorklistOrder{reading.OrderReceived, reading.OrderStudy} {
		n := cloneValues(q)
		n.Del("after")
		n.Set("sort", string(o))
		wv.Sort[string(o)] = "/?" + n.Encode()
	}
	return wv, nil
}

func cloneValues(q url.Values) url.Values {
	out := url.Values{}
	for k, vs := range q {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func (v *Viewer) worklistPage(c echo.Context) error {
	wv, err := v.worklist(c)
	if err != nil {
		return err
	}
	return v.render(c, http.StatusOK, "worklist", pageData{Active: "worklist", Worklist: wv})
}

// worklistRows answers the live worklist's refresh: the table body for the same filter.
func (v *Viewer) worklistRows(c echo.Context) error {
	wv, err := v.worklist(c)
	if err != nil {
		return err
	}
	return v.render(c, http.StatusOK, "worklist-rows", pageData{Worklist: wv})
}

type studyView struct {
	Row       reading.WorklistRow
	Reports   []reading.Report
	Current   *reading.Report // the latest version (a draft is shown only to staff)
	Signed    *reading.Report // the latest signed version
	Templates []reading.Template
	OHIF      string
	// Suggested is the template offered first (suggestTemplate); 0 none.
	Suggested int64
	// Organization heads the printed report; "" the catalogue's default.
	Organization string
	// Sites a study held in quarantine may be assigned to (administrators; peers.go).
	Sites []reading.Site
	// Destinations an administrator may forward the study to (forward.go), secrets cleared.
	Destinations []forward.Status
	// Workflow is the critical findings, the claim and the review mode (workflow.go; the
	// study page only).
	Workflow *studyWorkflow
}

// NoWindowPresets says whether the radiograph window presets mean nothing for any of the
// study's images (ultrasound only); the script decides again per image shown.
func (s *studyView) NoWindowPresets() bool {
	n := 0
	for _, se := range s.Row.Series {
		if hasImages(se) {
			if se.Modality != "US" {
				return false
			}
			n++
		}
	}
	return n > 0
}

// Editable says whether the report is open for writing: none yet, or a draft.
func (s *studyView) Editable() bool {
	return s.Current == nil || s.Current.Status.Open()
}

// Amending says whether an amendment is open (a draft over a signed version): staff see it
// as such, while the study's status, and the township, stay with the signed version.
func (s *studyView) Amending() bool {
	return s.Current != nil && s.Current.Status.Open() && s.Signed != nil
}

// studyData is the study page's data island for the scripts.
type studyData struct {
	Study     string             `json:"study"`
	CanEdit   bool               `json:"canEdit"`
	Report    *reportJSON        `json:"report,omitempty"`
	Templates []reading.Template `json:"templates"`
	Messages  json.RawMessage    `json:"messages"`
	Workflow  *workflowJSON      `json:"workflow,omitempty"` // workflow.go
	Images    *studyImagesJSON   `json:"images,omitempty"`   // what GET .../images answers
}

func (v *Viewer) loadStudy(c echo.Context) (*studyView, error) {
	row, err := v.authorizeStudy(c, c.Param("study"))
	if err != nil {
		return nil, err
	}
	ctx := c.Request().Context()
	sv := &studyView{Row: row, Organization: v.cfg.Organization}
	reports, err := v.cfg.Reports.Reports(ctx, row.StudyUID)
	if err != nil {
		return nil, err
	}
	u := currentUser(c)
	if row.Quarantined && u.Role == reading.RoleAdmin {
		if sv.Sites, err = v.cfg.Sites.Sites(ctx); err != nil {
			return nil, err
		}
	}
	if u.Role == reading.RoleAdmin && v.cfg.Forward != nil {
		if sv.Destinations, err = v.cfg.Forward.Statuses(ctx); err != nil {
			return nil, err
		}
	}
	for i := range reports {
		r := &reports[i]
		if r.Status.Signed() {
			sv.Signed = r
		}
		if u.Role.Staff() || r.Status.Signed() {
			sv.Reports = append(sv.Reports, *r)
		}
	}
	if u.Role.Staff() {
		if len(reports) > 0 {
			sv.Current = &reports[len(reports)-1]
		}
		if sv.Templates, err = v.cfg.Reports.Templates(ctx); err != nil {
			return nil, err
		}
		sv.Suggested = suggestTemplate(row, sv.Templates)
		if v.cfg.OHIFPath != "" {
			sv.OHIF = strings.TrimRight(v.cfg.OHIFPath, "/") + "/viewer?StudyInstanceUIDs=" + url.QueryEscape(row.StudyUID)
		}
	} else {
		sv.Current = sv.Signed
	}
	return sv, nil
}

func (v *Viewer) studyPage(c echo.Context) error {
	sv, err := v.loadStudy(c)
	if err != nil {
		return err
	}
	u := currentUser(c)
	lang := langOf(c)
	data := studyData{Study: sv.Row.StudyUID, CanEdit: u.Role.Staff(),
		Templates: sv.Templates, Messages: json.RawMessage(jsMessages(lang))}
	if data.Templates == nil {
		data.Templates = []reading.Template{}
	}
	if sv.Current != nil {
		data.Report = toReportJSON(*sv.Current, v.loc)
	}
	if data.Images, err = v.imagesOf(c, sv.Row); err != nil {
		return err
	}
	if sv.Workflow, err = v.loadWorkflow(c, sv); err != nil {
		return err
	}
	data.Workflow = sv.Workflow.json(c, v)
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	v.record(c, studyEvent(sv.Row, audit.ActionStudyView))
	// json.Marshal escapes '<', '>' and '&', so the island cannot close its script element.
	d := pageData{Active: "worklist", Study: sv, JSON: htmltemplate.JS(b)}
	if c.QueryParam("forwarded") == "1" {
		d.Flash = "forward.queued"
	}
	return v.render(c, http.StatusOK, "study", d)
}

func (v *Viewer) printPage(c echo.Context) error {
	sv, err := v.loadStudy(c)
	if err != nil {
		return err
	}
	if sv.Signed == nil {
		return errNotFound
	}
	ev := studyEvent(sv.Row, audit.ActionReportPrint)
	ev.Object = reportObject(*sv.Signed)
	v.record(c, ev)
	return v.render(c, http.StatusOK, "print", pageData{Study: sv})
}

func (v *Viewer) setUrgent(c echo.Context) error {
	row, err := v.authorizeStudy(c, c.Param("study"))
	if err != nil {
		return err
	}
	urgent := c.FormValue("urgent") == "1"
	if err := v.cfg.Worklist.SetUrgent(c.Request().Context(), row.StudyUID, urgent); err != nil {
		return err
	}
	v.events.publish("studies")
	if wantsPage(c) || c.Request().Header.Get(csrfHeader) == "" {
		return c.Redirect(http.StatusSeeOther, "/studies/"+row.StudyUID)
	}
	return c.JSON(http.StatusOK, map[string]bool{"urgent": urgent})
}

// ---- dashboard ----

type dashboardView struct {
	Days       int
	Sites      map[int64]string
	Rows       []dashRow
	Turnaround reading.Turnaround
	Critical   *criticalDashboard // workflow.go; nil without Config.Workflow
}

type dashRow struct {
	Day      string
	Site     string
	Received int
	Reported int
}

func (v *Viewer) dashboardPage(c echo.Context) error {
	ctx := c.Request().Context()
	days, _ := strconv.Atoi(c.QueryParam("days"))
	if days <= 0 || days > 366 {
		days = 14
	}
	now := time.Now().In(v.loc)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, v.loc)
	from, to := today.AddDate(0, 0, 1-days), today.AddDate(0, 0, 1)
	_, off := now.Zone()
	ta, err := v.cfg.Worklist.Turnaround(ctx, from, to, time.Duration(off)*time.Second)
	if err != nil {
		return err
	}
	sites, err := v.cfg.Sites.Sites(ctx)
	if err != nil {
		return err
	}
	names := map[int64]string{}
	for _, s := range sites {
		names[s.ID] = s.Name
	}
	unknown, _ := translate(langOf(c), "wl.unknown")
	dv := &dashboardView{Days: days, Sites: names, Turnaround: ta}
	if dv.Critical, err = v.loadCriticalDashboard(c, from, to, names); err != nil {
		return err
	}
	for i := len(ta.Days) - 1; i >= 0; i-- { // newest day first
		d := ta.Days[i]
		name, ok := names[d.SiteID]
		if !ok {
			name = unknown
		}
		dv.Rows = append(dv.Rows, dashRow{Day: d.Day, Site: name, Received: d.Received, Reported: d.Reported})
	}
	return v.render(c, http.StatusOK, "dashboard", pageData{Active: "dashboard", Dashboard: dv})
}

// ---- administration ----

func (v *Viewer) sitesPage(c echo.Context) error {
	sites, err := v.cfg.Sites.Sites(c.Request().Context())
	if err != nil {
		return err
	}
	d := pageData{Active: "sites", Sites: sites, Flash: flash(c)}
	if id, _ := strconv.ParseInt(c.QueryParam("edit"), 10, 64); id != 0 {
		for _, s := range sites {
			if s.ID == id {
				d.Edit = s
			}
		}
	}
	return v.render(c, http.StatusOK, "sites", d)
}

func splitLines(s string) []string {
	var out []string
	for _, l := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' }) {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func flash(c echo.Context) string {
	if c.QueryParam("saved") == "1" {
		return "admin.saved"
	}
	return ""
}

// adminError shows an admin form's refusal (invalid input, conflict) on the page itself,
// naming the field and keeping what was typed (record, and the form's values; forms.go),
// with a 4xx status; other errors go to the error page.
func (v *Viewer) adminError(c echo.Context, form string, err error, record any, reload func(echo.Context, int) error) error {
	status, ok := refuse(c, form, err, record)
	if !ok {
		return err
	}
	return reload(c, status)
}

func (v *Viewer) saveSite(c echo.Context) error {
	id, _ := strconv.ParseInt(c.FormValue("id"), 10, 64)
	s := reading.Site{ID: id, Name: c.FormValue("name"), AETitles: splitLines(c.FormValue("aes")),
		Institutions: splitLines(c.FormValue("institutions"))}
	if _, err := v.cfg.Sites.PutSite(c.Request().Context(), s); err != nil {
		return v.adminError(c, "site-form", err, s, v.sitesPageStatus)
	}
	v.log.Info("site saved", "by", currentUser(c).ID, "site", s.Name)
	detail := "修改"
	if id == 0 {
		detail = "新建"
	}
	v.record(c, audit.Event{Action: audit.ActionSiteChange, Object: s.Name,
		Detail: detail + "；AE：" + strings.Join(s.AETitles, ",") + "；机构：" + strings.Join(s.Institutions, ",")})
	v.events.publish("studies")
	return c.Redirect(http.StatusSeeOther, "/admin/sites?saved=1")
}

func (v *Viewer) sitesPageStatus(c echo.Context, status int) error {
	sites, err := v.cfg.Sites.Sites(c.Request().Context())
	if err != nil {
		return err
	}
	d := pageData{Active: "sites", Sites: sites, Form: formOf(c)}
	if d.Form != nil && d.Form.Record != nil {
		d.Edit = d.Form.Record // the site as typed
	}
	return v.render(c, status, "sites", d)
}

func (v *Viewer) deleteSite(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return errNotFound
	}
	if err := v.cfg.Sites.DeleteSite(c.Request().Context(), id); err != nil {
		if errors.Is(err, reading.ErrConflict) {
			refuseWith(c, "sites", "", "form.site.inuse", nil)
			return v.sitesPageStatus(c, http.StatusConflict)
		}
		return err
	}
	v.record(c, audit.Event{Action: audit.ActionSiteChange, Object: "site " + strconv.FormatInt(id, 10), Detail: "删除"})
	return c.Redirect(http.StatusSeeOther, "/admin/sites?saved=1")
}

func (v *Viewer) usersPage(c echo.Context) error {
	return v.usersPageStatus(c, http.StatusOK)
}

func (v *Viewer) usersPageStatus(c echo.Context, status int) error {
	ctx := c.Request().Context()
	users, err := v.cfg.Users.Users(ctx)
	if err != nil {
		return err
	}
	sites, err := v.cfg.Sites.Sites(ctx)
	if err != nil {
		return err
	}
	d := pageData{Active: "users", Users: users, Sites: sites, Flash: flash(c), Form: formOf(c)}
	if d.Form != nil {
		// The user as typed: the new-user form's, or in place of the row that was edited.
		if u, ok := d.Form.Record.(reading.User); ok {
			if u.ID == 0 {
				d.Edit = u
			}
			for i := range d.Users {
				if d.Users[i].ID == u.ID {
					d.Users[i].DisplayName, d.Users[i].Role, d.Users[i].SiteID, d.Users[i].Disabled =
						u.DisplayName, u.Role, u.SiteID, u.Disabled
				}
			}
		}
	}
	return v.render(c, status, "users", d)
}

func (v *Viewer) userFromForm(c echo.Context, u reading.User) reading.User {
	u.DisplayName = c.FormValue("display_name")
	u.Role = reading.Role(c.FormValue("role"))
	u.MayReview = u.Role != reading.RoleSite && c.FormValue("may_review") == "1" // 审核医师
	u.SiteID = 0
	if u.Role == reading.RoleSite {
		u.SiteID, _ = strconv.ParseInt(c.FormValue("site"), 10, 64)
	}
	return u
}

// mustChangeFromForm reads the admin forms' "user must change it at next login" box, which
// is ticked by default: a password an administrator chose is known to two people, and has
// been written down or said aloud to hand it over.
func mustChangeFromForm(c echo.Context) bool { return c.FormValue("must_change") == "1" }

func (v *Viewer) createUser(c echo.Context) error {
	u := v.userFromForm(c, reading.User{Username: c.FormValue("username")})
	h, err := hashPassword(c.FormValue("password"))
	if err == nil {
		u.PasswordHash, u.MustChangePassword = h, mustChangeFromForm(c)
		_, err = v.cfg.Users.CreateUser(c.Request().Context(), u)
	} else {
		err = passwordError(err)
	}
	if err != nil {
		u.PasswordHash = ""
		return v.adminError(c, "user-form", err, u, v.usersPageStatus)
	}
	v.log.Info("user created", "by", currentUser(c).ID, "role", u.Role)
	v.record(c, audit.Event{Action: audit.ActionUserChange, Object: u.Username, Detail: userChangeDetail(reading.User{}, u, true)})
	return c.Redirect(http.StatusSeeOther, "/admin/users?saved=1")
}

func (v *Viewer) updateUser(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return errNotFound
	}
	old, err := v.cfg.Users.User(ctx, id)
	if err != nil {
		return err
	}
	u := v.userFromForm(c, old)
	u.Disabled = c.FormValue("disabled") == "1"
	me := currentUser(c)
	form := "user-" + strconv.FormatInt(u.ID, 10)
	pwChanged := false
	if pw := c.FormValue("password"); pw != "" {
		h, err := hashPassword(pw)
		if err != nil {
			return v.adminError(c, form, passwordError(err), u, v.usersPageStatus)
		}
		// An administrator resetting their own password here chose it themselves: nobody
		// else knows it, so there is nothing to make them change.
		u.PasswordHash, pwChanged = h, true
		u.MustChangePassword = mustChangeFromForm(c) && u.ID != me.ID
	}
	if u.ID == me.ID && (u.Disabled || u.Role != reading.RoleAdmin) {
		// An administrator cannot lock themselves out (and possibly everybody).
		input := "role"
		if u.Disabled {
			input = "disabled"
		}
		refuseWith(c, form, input, "form.self", u)
		return v.usersPageStatus(c, http.StatusConflict)
	}
	if err := v.cfg.Users.UpdateUser(ctx, u); err != nil {
		return v.adminError(c, form, err, u, v.usersPageStatus)
	}
	// A changed role, site, password or a disabled account takes effect now, not at the
	// end of the sessions already open.
	if (pwChanged || u.Disabled || u.Role != old.Role || u.SiteID != old.SiteID) && u.ID != me.ID {
		if err := v.cfg.Users.DeleteUserSessions(ctx, u.ID); err != nil {
			return err
		}
	}
	v.log.Info("user updated", "by", me.ID, "user_id", u.ID)
	v.record(c, audit.Event{Action: audit.ActionUserChange, Object: u.Username, Detail: userChangeDetail(old, u, pwChanged)})
	return c.Redirect(http.StatusSeeOther, "/admin/users?saved=1")
}

func (v *Viewer) templatesPage(c echo.Context) error {
	return v.templatesPageStatus(c, http.StatusOK)
}

func (v *Viewer) templatesPageStatus(c echo.Context, status int) error {
	ts, err := v.cfg.Reports.Templates(c.Request().Context())
	if err != nil {
		return err
	}
	d := pageData{Active: "templates", Templates: ts, Flash: flash(c), Form: formOf(c)}
	if id, _ := strconv.ParseInt(c.QueryParam("edit"), 10, 64); id != 0 {
		for _, t := range ts {
			if t.ID == id {
				d.Edit = t
			}
		}
	}
	if d.Form != nil && d.Form.Record != nil {
		d.Edit = d.Form.Record // the template as typed
	}
	return v.render(c, status, "templates", d)
}

func (v *Viewer) saveTemplate(c echo.Context) error {
	id, _ := strconv.ParseInt(c.FormValue("id"), 10, 64)
	t := reading.Template{ID: id, Name: c.FormValue("name"), Modality: c.FormValue("modality"),
		BodyPart: c.FormValue("body_part"), Findings: c.FormValue("findings"), Impression: c.FormValue("impression")}
	if _, err := v.cfg.Reports.PutTemplate(c.Request().Context(), t); err != nil {
		return v.adminError(c, "template-form", err, t, v.templatesPageStatus)
	}
	return c.Redirect(http.StatusSeeOther, "/admin/templates?saved=1")
}

func (v *Viewer) deleteTemplate(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return errNotFound
	}
	if err := v.cfg.Reports.DeleteTemplate(c.Request().Context(), id); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/admin/templates?saved=1")
}
