package viewer

import (
	"errors"
	"fmt"
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

// Forwarding's administration (package forward): destinations, the rules that choose them
// at ingest, each destination's state, and manual re-sends. The page (/admin/forward) and
// the scripts' API (/api/admin/forward/...) share the handlers' rules below; secrets
// (a STOW-RS password or token) are written, never shown back.

// forwardView is the /admin/forward page's data.
type forwardView struct {
	Statuses []forward.Status // secrets cleared
	Rules    []forward.Rule
	Peers    []reading.Peer // registered retrieve destinations a DICOM destination may name
	Sites    []reading.Site
	Edit     forward.Destination // the destination being edited (ID 0: a new one)
	EditRule forward.Rule
}

// forwardStatus is a destination's state as the page and the API show it: instants in the
// county's time zone, "" when none.
type forwardStatus struct {
	forward.Destination
	Queued       int64  `json:"queued"`
	Failed       int64  `json:"failed"`
	Sent         int64  `json:"sent"`
	FailingSince string `json:"failingSince"`
	LastError    string `json:"lastError"`
	LastSuccess  string `json:"lastSuccess"`
}

// DestName names a rule's destination on the page.
func (fv *forwardView) DestName(id int64) string {
	for _, s := range fv.Statuses {
		if s.ID == id {
			return s.Name
		}
	}
	return strconv.FormatInt(id, 10)
}

// SiteLabel shows a rule's site criterion: a site's name, the county, or the raw value.
func (fv *forwardView) SiteLabel(site string) string {
	for _, s := range fv.Sites {
		if site == reading.SenderSite(s.ID) {
			return s.Name
		}
	}
	return site
}

// SiteValue is the rule criterion of a site (reading.SenderSite, store.Origin.Site).
func (fv *forwardView) SiteValue(id int64) string { return reading.SenderSite(id) }

func (v *Viewer) forwardStatuses(c echo.Context) ([]forward.Status, error) {
	st, err := v.cfg.Forward.Statuses(c.Request().Context())
	if err != nil {
		return nil, err
	}
	for i := range st {
		st[i].Secret = ""
	}
	return st, nil
}

// forwardStatusJSON is the statuses as the API answers them.
func (v *Viewer) forwardStatusJSON(st []forward.Status) []forwardStatus {
	iso := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.In(v.loc).Format(time.RFC3339)
	}
	out := []forwardStatus{}
	for _, s := range st {
		out = append(out, forwardStatus{Destination: s.Destination, Queued: s.Queued, Failed: s.Failed, Sent: s.Sent,
			FailingSince: iso(s.FailingSince), LastError: s.LastError, LastSuccess: iso(s.LastSuccess)})
	}
	return out
}

func (v *Viewer) forwardPage(c echo.Context) error { return v.forwardPageStatus(c, http.StatusOK) }

func (v *Viewer) forwardPageStatus(c echo.Context, status int) error {
	ctx := c.Request().Context()
	fv := &forwardView{Edit: forward.Destination{Kind: forward.KindDICOM, Enabled: true}, EditRule: forward.Rule{Enabled: true}}
	var err error
	if fv.Statuses, err = v.forwardStatuses(c); err != nil {
		return err
	}
	if fv.Rules, err = v.cfg.Forward.Rules(ctx); err != nil {
		return err
	}
	if fv.Sites, err = v.cfg.Sites.Sites(ctx); err != nil {
		return err
	}
	if v.cfg.Peers != nil {
		peers, err := v.cfg.Peers.Peers(ctx)
		if err != nil {
			return err
		}
		for _, p := range peers {
			if p.Destination {
				fv.Peers = append(fv.Peers, p)
			}
		}
	}
	if id, _ := strconv.ParseInt(c.QueryParam("edit"), 10, 64); id != 0 {
		for _, s := range fv.Statuses {
			if s.ID == id {
				fv.Edit = s.Destination
			}
		}
	}
	if id, _ := strconv.ParseInt(c.QueryParam("rule"), 10, 64); id != 0 {
		for _, r := range fv.Rules {
			if r.ID == id {
				fv.EditRule = r
			}
		}
	}
	d := pageData{Active: "forward", Forward: fv, Form: formOf(c)}
	switch {
	case c.QueryParam("saved") == "1":
		d.Flash = "admin.saved"
	case c.QueryParam("retried") == "1":
		d.Flash = "forward.retried"
	}
	if d.Form != nil {
		switch r := d.Form.Record.(type) { // the record as typed, secret left out
		case forward.Destination:
			r.Secret = ""
			fv.Edit = r
		case forward.Rule:
			fv.EditRule = r
		}
	}
	return v.render(c, status, "forward", d)
}

// refuseForward shows a refused forwarding form again, marking the input the field names
// (the inputs are named after the fields: "forward.url" -> "url").
func (v *Viewer) refuseForward(c echo.Context, form string, err error, record any) error {
	status, ok := refuse(c, form, err, record)
	if !ok {
		return err
	}
	var fe *reading.FieldError
	if fs := formOf(c); fs != nil && errors.As(err, &fe) {
		fs.Input = strings.TrimPrefix(fe.Field, "forward.")
		fs.Values.Del("secret")
	}
	return v.forwardPageStatus(c, status)
}

// destinationForm is the destination the page's form posted; keepEnabled is false (the
// form has the check box).
func destinationForm(c echo.Context) forward.Destination {
	id, _ := strconv.ParseInt(c.FormValue("id"), 10, 64)
	return forward.Destination{ID: id, Name: c.FormValue("name"), Kind: c.FormValue("kind"), AETitle: c.FormValue("ae"),
		URL: strings.TrimSpace(c.FormValue("url")), Auth: c.FormValue("auth"), User: c.FormValue("user"),
		Secret: c.FormValue("secret"), Enabled: c.FormValue("enabled") == "1"}
}

func (v *Viewer) saveDestinationForm(c echo.Context) error {
	d := destinationForm(c)
	if _, err := v.saveDestination(c, d); err != nil {
		return v.refuseForward(c, "dest-form", err, d)
	}
	return c.Redirect(http.StatusSeeOther, "/admin/forward?saved=1")
}

func (v *Viewer) deleteDestinationForm(c echo.Context) error {
	if err := v.deleteDestination(c); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/admin/forward?saved=1")
}

func ruleForm(c echo.Context) forward.Rule {
	id, _ := strconv.ParseInt(c.FormValue("id"), 10, 64)
	dest, _ := strconv.ParseInt(c.FormValue("destination"), 10, 64)
	return forward.Rule{ID: id, DestinationID: dest, Site: c.FormValue("site"), CallingAE: c.FormValue("callingAE"),
		Modality: c.FormValue("modality"), SOPClassUID: c.FormValue("sopClass"), Enabled: c.FormValue("enabled") == "1"}
}

func (v *Viewer) saveRuleForm(c echo.Context) error {
	r := ruleForm(c)
	if _, err := v.saveRule(c, r); err != nil {
		return v.refuseForward(c, "rule-form", err, r)
	}
	return c.Redirect(http.StatusSeeOther, "/admin/forward?saved=1")
}

func (v *Viewer) deleteRuleForm(c echo.Context) error {
	if err := v.deleteRule(c); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/admin/forward?saved=1")
}

func (v *Viewer) retryForm(c echo.Context) error {
	if _, err := v.retryFailed(c); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/admin/forward?retried=1")
}

// forwardStudyForm is the study page's "转发" (administrators).
func (v *Viewer) forwardStudyForm(c echo.Context) error {
	row, err := v.authorizeStudy(c, c.Param("study"))
	if err != nil {
		return err
	}
	dest, _ := strconv.ParseInt(c.FormValue("destination"), 10, 64)
	if _, err := v.forwardStudy(c, row, dest); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/studies/"+row.StudyUID+"?forwarded=1")
}

// ---- the rules shared by the page and the API ----

func fieldErr(field, problem, value string) error {
	return &reading.FieldError{Field: "forward." + field, Problem: problem, Value: value, Err: reading.ErrInvalid}
}

// forwardErr maps the queue's sentinels to the viewer's: not found is 404; invalid is
// the field the store refused (a name another destination has).
func forwardErr(err error, d *forward.Destination) error {
	switch {
	case errors.Is(err, forward.ErrNotFound):
		return errNotFound
	case errors.Is(err, forward.ErrInvalid) && d != nil:
		return &reading.FieldError{Field: "forward.name", Problem: reading.ProblemTaken, Value: d.Name, Err: reading.ErrConflict}
	case errors.Is(err, forward.ErrInvalid):
		return fmt.Errorf("%w: %w", reading.ErrInvalid, err)
	}
	return err
}

// checkDestination names the field at fault in d, the way the page and the API show it
// (forward.Destination.Validate, which the store runs too, only says why). A DICOM
// destination is a registered peer marked as a retrieve destination (its host and port are
// the peer's); a secret is needed once for an authenticated STOW-RS server and kept after.
func (v *Viewer) checkDestination(c echo.Context, d forward.Destination, old forward.Destination) error {
	name := strings.TrimSpace(d.Name)
	switch {
	case name == "":
		return fieldErr("name", reading.ProblemRequired, "")
	case len([]rune(name)) > 64:
		return fieldErr("name", reading.ProblemLength, "")
	}
	switch d.Kind {
	case forward.KindDICOM:
		ae := strings.TrimSpace(d.AETitle)
		if ae == "" {
			return fieldErr("aeTitle", reading.ProblemRequired, "")
		}
		if v.cfg.Peers != nil {
			p, ok, err := v.cfg.Peers.Peer(c.Request().Context(), ae)
			if err != nil {
				return err
			}
			if !ok || !p.Destination {
				return fieldErr("aeTitle", reading.ProblemValue, ae)
			}
		}
	case forward.KindSTOW:
		u, err := url.Parse(d.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fieldErr("url", reading.ProblemValue, d.URL)
		}
		switch d.Auth {
		case forward.AuthNone:
			return nil
		case forward.AuthBasic:
			if d.User == "" {
				return fieldErr("user", reading.ProblemRequired, "")
			}
			if strings.Contains(d.User, ":") {
				return fieldErr("user", reading.ProblemChars, d.User)
			}
		case forward.AuthBearer:
		default:
			return fieldErr("auth", reading.ProblemValue, d.Auth)
		}
		if d.Secret == "" && !(old.HasSecret && old.Auth != forward.AuthNone) {
			return fieldErr("secret", reading.ProblemRequired, "")
		}
	default:
		return fieldErr("kind", reading.ProblemValue, d.Kind)
	}
	return nil
}

// saveDestination creates or updates d (an empty secret keeps the stored one), logged and
// audited; the answer has no secret.
func (v *Viewer) saveDestination(c echo.Context, d forward.Destination) (forward.Destination, error) {
	ctx := c.Request().Context()
	var old forward.Destination
	if d.ID != 0 {
		var err error
		if old, err = v.cfg.Forward.Destination(ctx, d.ID); err != nil {
			return d, forwardErr(err, nil)
		}
	}
	if err := v.checkDestination(c, d, old); err != nil {
		return d, err
	}
	secretChanged := d.Secret != ""
	if err := v.cfg.Forward.SaveDestination(ctx, &d); err != nil {
		return d, forwardErr(err, &d)
	}
	v.log.Info("forward destination saved", "by", currentUser(c).ID, "destination", d.Name, "kind", d.Kind)
	v.recordAdmin(c, audit.Event{Action: audit.ActionSiteChange, Object: "转发目的地 " + d.Name,
		Detail: destinationChangeDetail(old, d, secretChanged)})
	saved, err := v.cfg.Forward.Destination(ctx, d.ID)
	if err != nil {
		return d, forwardErr(err, nil)
	}
	saved.Secret = ""
	return saved, nil
}

// destinationChangeDetail says in Chinese what a destination is now; never the secret.
func destinationChangeDetail(old, d forward.Destination, secretChanged bool) string {
	describe := func(d forward.Destination) string {
		s := "类型：" + d.Kind
		if d.Kind == forward.KindDICOM {
			s += "；AE：" + d.AETitle
		} else {
			s += "；地址：" + d.URL + "；认证：" + d.Auth
			if d.User != "" {
				s += "；用户：" + d.User
			}
		}
		if !d.Enabled {
			s += "；已停用"
		}
		return s
	}
	out := "修改；" + describe(d)
	if old.ID == 0 {
		out = "新建；" + describe(d)
	}
	if secretChanged {
		out += "；凭据已更新"
	}
	return out
}

func (v *Viewer) deleteDestination(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return errNotFound
	}
	ctx := c.Request().Context()
	old, err := v.cfg.Forward.Destination(ctx, id)
	if err != nil {
		return forwardErr(err, nil)
	}
	if err := v.cfg.Forward.DeleteDestination(ctx, id); err != nil {
		return forwardErr(err, nil)
	}
	v.log.Info("forward destination deleted", "by", currentUser(c).ID, "destination", old.Name)
	v.recordAdmin(c, audit.Event{Action: audit.ActionSiteChange, Object: "转发目的地 " + old.Name, Detail: "删除（连同其规则和队列）"})
	return nil
}

// saveRule creates or updates a rule, logged and audited.
func (v *Viewer) saveRule(c echo.Context, r forward.Rule) (forward.Rule, error) {
	ctx := c.Request().Context()
	d, err := v.cfg.Forward.Destination(ctx, r.DestinationID)
	if errors.Is(err, forward.ErrNotFound) {
		return r, fieldErr("destination", reading.ProblemRequired, "")
	}
	if err != nil {
		return r, err
	}
	if sop := strings.TrimSpace(r.SOPClassUID); sop != "" && !dicom.ValidUID(sop, dicom.UIDLeadingZeros) {
		return r, fieldErr("sopClass", reading.ProblemValue, sop)
	}
	if m := strings.TrimSpace(r.Modality); len(m) > 16 {
		return r, fieldErr("modality", reading.ProblemValue, m)
	}
	if ae := strings.TrimSpace(r.CallingAE); len(ae) > 16 {
		return r, fieldErr("callingAE", reading.ProblemValue, ae)
	}
	isNew := r.ID == 0
	if err := v.cfg.Forward.SaveRule(ctx, &r); err != nil {
		return r, forwardErr(err, nil)
	}
	detail := "修改"
	if isNew {
		detail = "新建"
	}
	detail += fmt.Sprintf("；站点：%s；发送 AE：%s；设备类型：%s；SOP 类：%s；启用：%t", r.Site, r.CallingAE, r.Modality, r.SOPClassUID, r.Enabled)
	v.log.Info("forward rule saved", "by", currentUser(c).ID, "rule", r.ID, "destination", d.Name)
	v.recordAdmin(c, audit.Event{Action: audit.ActionSiteChange, Object: fmt.Sprintf("转发规则 %d → %s", r.ID, d.Name), Detail: detail})
	return r, nil
}

func (v *Viewer) deleteRule(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return errNotFound
	}
	if err := v.cfg.Forward.DeleteRule(c.Request().Context(), id); err != nil {
		return forwardErr(err, nil)
	}
	v.log.Info("forward rule deleted", "by", currentUser(c).ID, "rule", id)
	v.recordAdmin(c, audit.Event{Action: audit.ActionSiteChange, Object: fmt.Sprintf("转发规则 %d", id), Detail: "删除"})
	return nil
}

// retryFailed queues again what a destination gave up on (forward.Queue.Retry).
func (v *Viewer) retryFailed(c echo.Context) (int, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return 0, errNotFound
	}
	ctx := c.Request().Context()
	d, err := v.cfg.Forward.Destination(ctx, id)
	if err != nil {
		return 0, forwardErr(err, nil)
	}
	n, err := v.cfg.Forward.Retry(ctx, id, time.Now())
	if err != nil {
		return 0, forwardErr(err, nil)
	}
	v.kickForward()
	v.log.Info("forward failures queued again", "by", currentUser(c).ID, "destination", d.Name, "objects", n)
	v.recordAdmin(c, audit.Event{Action: audit.ActionExport, Object: "转发 → " + d.Name, Detail: fmt.Sprintf("重发失败的 %d 个对象", n)})
	return n, nil
}

// forwardStudy queues every object of a study for a destination (a manual re-send: new
// queue rows, whatever was sent before), audited as an export of the study.
func (v *Viewer) forwardStudy(c echo.Context, row reading.WorklistRow, destID int64) (int, error) {
	ctx := c.Request().Context()
	d, err := v.cfg.Forward.Destination(ctx, destID)
	if errors.Is(err, forward.ErrNotFound) {
		return 0, fieldErr("destination", reading.ProblemRequired, "")
	}
	if err != nil {
		return 0, err
	}
	n, err := v.cfg.Forward.Enqueue(ctx, destID, row.StudyUID, time.Now())
	if err != nil {
		return 0, forwardErr(err, nil)
	}
	v.kickForward()
	v.log.Info("study queued for forwarding", "by", currentUser(c).ID, "study_uid", row.StudyUID, "destination", d.Name, "objects", n)
	ev := studyEvent(row, audit.ActionExport)
	ev.Object, ev.Detail = "转发 → "+d.Name, fmt.Sprintf("手动转发，%d 个对象入队", n)
	v.recordAdmin(c, ev)
	return n, nil
}

func (v *Viewer) kickForward() {
	if v.cfg.ForwardKick != nil {
		v.cfg.ForwardKick()
	}
}

// ---- the JSON API: /api/admin/forward/... and /api/admin/studies/{study}/forward ----

// destinationInput is a destination as the API takes it: "enabled" left out is true for
// a new destination and unchanged for an existing one.
type destinationInput struct {
	forward.Destination
	Enabled *bool `json:"enabled"`
}

type ruleInput struct {
	forward.Rule
	Enabled *bool `json:"enabled"`
}

// apiID is the path's {id} for PUT (0 for POST, which creates).
func apiID(c echo.Context) (int64, int, error) {
	if c.Request().Method != http.MethodPut {
		return 0, http.StatusCreated, nil
	}
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return 0, 0, errNotFound
	}
	return id, http.StatusOK, nil
}

func (v *Viewer) apiDestinations(c echo.Context) error {
	st, err := v.forwardStatuses(c)
	if err != nil {
		return err
	}
	out := []forward.Destination{}
	for _, s := range st {
		out = append(out, s.Destination)
	}
	return c.JSON(http.StatusOK, out)
}

func (v *Viewer) apiPutDestination(c echo.Context) error {
	var in destinationInput
	if err := readJSON(c, &in); err != nil {
		return v.apiError(c, err)
	}
	id, status, err := apiID(c)
	if err != nil {
		return err
	}
	d := in.Destination
	d.ID, d.Enabled = id, true
	if id != 0 {
		old, err := v.cfg.Forward.Destination(c.Request().Context(), id)
		if err != nil {
			return forwardErr(err, nil)
		}
		d.Enabled = old.Enabled
	}
	if in.Enabled != nil {
		d.Enabled = *in.Enabled
	}
	saved, err := v.saveDestination(c, d)
	if err != nil {
		return v.apiError(c, err)
	}
	return c.JSON(status, saved)
}

func (v *Viewer) apiDeleteDestination(c echo.Context) error {
	if err := v.deleteDestination(c); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (v *Viewer) apiRules(c echo.Context) error {
	rules, err := v.cfg.Forward.Rules(c.Request().Context())
	if err != nil {
		return err
	}
	if rules == nil {
		rules = []forward.Rule{}
	}
	return c.JSON(http.StatusOK, rules)
}

func (v *Viewer) apiPutRule(c echo.Context) error {
	var in ruleInput
	if err := readJSON(c, &in); err != nil {
		return v.apiError(c, err)
	}
	id, status, err := apiID(c)
	if err != nil {
		return err
	}
	r := in.Rule
	r.ID, r.Enabled = id, true
	if id != 0 {
		rules, err := v.cfg.Forward.Rules(c.Request().Context())
		if err != nil {
			return err
		}
		found := false
		for _, o := range rules {
			if o.ID == id {
				r.Enabled, found = o.Enabled, true
			}
		}
		if !found {
			return errNotFound
		}
	}
	if in.Enabled != nil {
		r.Enabled = *in.Enabled
	}
	saved, err := v.saveRule(c, r)
	if err != nil {
		return v.apiError(c, err)
	}
	return c.JSON(status, saved)
}

func (v *Viewer) apiDeleteRule(c echo.Context) error {
	if err := v.deleteRule(c); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (v *Viewer) apiForwardStatus(c echo.Context) error {
	st, err := v.forwardStatuses(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v.forwardStatusJSON(st))
}

func (v *Viewer) apiRetry(c echo.Context) error {
	n, err := v.retryFailed(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]int{"queued": n})
}

// apiForwardStudy is POST /api/admin/studies/{study}/forward {"destinationId": n}.
func (v *Viewer) apiForwardStudy(c echo.Context) error {
	var in struct {
		DestinationID int64 `json:"destinationId"`
	}
	if err := readJSON(c, &in); err != nil {
		return v.apiError(c, err)
	}
	uid := c.Param("study")
	if !dicom.ValidUID(uid, dicom.UIDLeadingZeros) {
		return errNotFound
	}
	row, err := v.cfg.Worklist.Study(c.Request().Context(), uid)
	if err != nil {
		return err // reading.ErrNotFound: 404
	}
	n, err := v.forwardStudy(c, row, in.DestinationID)
	if err != nil {
		return v.apiError(c, err)
	}
	return c.JSON(http.StatusAccepted, map[string]any{"studyUID": row.StudyUID, "destinationId": in.DestinationID, "queued": n})
}
