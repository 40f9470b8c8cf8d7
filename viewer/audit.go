package viewer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"pacsd/audit"
	"pacsd/reading"
)

// The reading room's audit trail (DESIGN.md section 4): every look at patient data and every
// security-relevant action is recorded through Config.Audit, and administrators search and
// export the trail at /admin/audit.

// auditor is the configured recorder, or one that records nothing.
func (v *Viewer) auditor() audit.Auditor {
	if v.cfg.Audit == nil {
		return audit.Discard
	}
	return v.cfg.Audit
}

// record stamps ev with the request's actor, unless it has one (the logged-in user, or
// nobody at the client's address), and queues it: it costs the request a channel send.
func (v *Viewer) record(c echo.Context, ev audit.Event) {
	if ev.Actor.Kind == "" {
		ev.Actor = requestActor(c)
	}
	v.auditor().Record(c.Request().Context(), ev)
}

// flushAudit has the recorder write what it holds before the trail is read: its writer
// lingers up to a second to batch events, and a search should show the latest looks too.
func (v *Viewer) flushAudit(ctx context.Context) {
	f, ok := v.cfg.Audit.(interface{ Flush(context.Context) error })
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := f.Flush(ctx); err != nil { // the page goes on, perhaps without the newest events
		v.log.Warn("audit flush before a search", "err", err)
	}
}

// requestActor is who is acting on this request, from where.
func requestActor(c echo.Context) audit.Actor {
	ip := clientIP(c.Request())
	if u := currentUser(c); u.ID != 0 {
		return audit.User(u.ID, u.Username, ip)
	}
	return audit.Anonymous("", ip)
}

// studyEvent is an event about one study of the worklist, naming its patient.
func studyEvent(row reading.WorklistRow, a audit.Action) audit.Event {
	return audit.Event{Action: a, PatientID: row.PatientID, PatientName: row.PatientName, StudyUID: row.StudyUID}
}

// withActor puts the authenticated user in the request's context (audit.WithActor), for the
// handlers mounted behind RequireStaff (DICOMweb, OHIF's requests), which record under it.
func withActor(c echo.Context, u reading.User) {
	r := c.Request()
	ctx := audit.WithActor(r.Context(), audit.User(u.ID, u.Username, clientIP(r)))
	c.SetRequest(r.WithContext(context.WithValue(ctx, askerKey{}, u))) // and for Asker (peers.go)
}

// auditView is the /admin/audit page's data.
type auditView struct {
	Query   url.Values // the form as submitted
	Actions []audit.Action
	Events  []audit.Event
	Next    string // the next page's URL; "" on the last
	First   string // the first page's URL, when this is not it
	CSV     string // the export's URL
	Loc     *time.Location
}

// Time is an event's time in the county's zone, to the second.
func (a *auditView) Time(t time.Time) string { return t.In(a.Loc).Format(time.DateTime) }

// Selected says whether the action is the one the form chose.
func (a *auditView) Selected(act audit.Action) bool { return a.Query.Get("action") == string(act) }

// auditPageSize is how many events one page shows.
const auditPageSize = 50

// auditFilter reads the search form: patient ID (exact), patient name (prefix of a name
// group or its pinyin), user name, AE title, action, outcome and a range of dates in the
// county's zone (both days included).
func (v *Viewer) auditFilter(q url.Values) (audit.Filter, error) {
	f := audit.Filter{
		PatientID:   strings.TrimSpace(q.Get("patient_id")),
		PatientName: strings.TrimSpace(q.Get("patient_name")),
		UserName:    strings.TrimSpace(q.Get("user")),
		AETitle:     strings.TrimSpace(q.Get("ae")),
		Outcome:     audit.Outcome(q.Get("outcome")),
		After:       q.Get("after"),
	}
	if f.Outcome != "" && f.Outcome != audit.OutcomeSuccess && f.Outcome != audit.OutcomeFailure {
		return f, errBadAuditForm
	}
	if a := audit.Action(q.Get("action")); a != "" {
		if !a.Valid() {
			return f, errBadAuditForm
		}
		f.Actions = []audit.Action{a}
	}
	day := func(name string) (time.Time, error) {
		s := strings.TrimSpace(q.Get(name))
		if s == "" {
			return time.Time{}, nil
		}
		t, err := time.ParseInLocation(time.DateOnly, s, v.loc)
		if err != nil {
			return time.Time{}, errBadAuditForm
		}
		return t, nil
	}
	var err error
	if f.From, err = day("from"); err != nil {
		return f, err
	}
	if f.To, err = day("to"); err != nil {
		return f, err
	}
	if !f.To.IsZero() {
		f.To = f.To.AddDate(0, 0, 1) // the "to" day is included
	}
	return f, nil
}

var errBadAuditForm = &httpError{status: http.StatusBadRequest, key: "err.invalid"}

// auditQueryText is the search as recorded in the ActionAuditView event's Object.
func auditQueryText(q url.Values) string {
	q = cloneValues(q)
	q.Del("after")
	return q.Encode()
}

func (v *Viewer) auditPage(c echo.Context) error {
	if v.cfg.AuditLog == nil {
		return errNotFound
	}
	q := c.QueryParams()
	f, err := v.auditFilter(q)
	if err != nil {
		return err
	}
	f.Limit = auditPageSize
	v.flushAudit(c.Request().Context())
	p, err := v.cfg.AuditLog.Search(c.Request().Context(), f)
	if errors.Is(err, audit.ErrInvalid) {
		return errBadAuditForm
	}
	v.record(c, audit.Event{Action: audit.ActionAuditView, Object: auditQueryText(q), Outcome: outcomeOf(err),
		Detail: detailOf(err)})
	if err != nil {
		return err
	}
	av := &auditView{Query: q, Actions: audit.Actions, Events: p.Events, Loc: v.loc}
	base := cloneValues(q)
	base.Del("after")
	av.CSV = "/admin/audit.csv?" + base.Encode()
	if f.After != "" {
		av.First = "/admin/audit?" + base.Encode()
	}
	if p.Next != "" {
		next := cloneValues(base)
		next.Set("after", p.Next)
		av.Next = "/admin/audit?" + next.Encode()
	}
	return v.render(c, http.StatusOK, "audit", pageData{Active: "audit", Audit: av})
}

// auditCSV exports every event the search selects (all pages) for Excel.
func (v *Viewer) auditCSV(c echo.Context) error {
	if v.cfg.AuditLog == nil {
		return errNotFound
	}
	q := c.QueryParams()
	f, err := v.auditFilter(q)
	if err != nil {
		return err
	}
	f.After = "" // an export is the whole search
	v.flushAudit(c.Request().Context())
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="audit-%s.csv"`, time.Now().In(v.loc).Format("20060102-150405")))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	c.Response().WriteHeader(http.StatusOK)
	err = audit.WriteCSV(c.Request().Context(), c.Response(), v.cfg.AuditLog, f, v.loc)
	v.record(c, audit.Event{Action: audit.ActionAuditView, Object: auditQueryText(q), Outcome: outcomeOf(err),
		Detail: "导出 CSV " + detailOf(err)})
	if err != nil {
		// The status is sent: the download ends short, and the log says why.
		v.log.Warn("audit export failed", "err", err)
	}
	return nil
}

func outcomeOf(err error) audit.Outcome {
	if err != nil {
		return audit.OutcomeFailure
	}
	return audit.OutcomeSuccess
}

func detailOf(err error) string {
	if err != nil {
		return err.Error()
	}
	return ""
}

// reportObject names a report version in an event's Object.
func reportObject(r reading.Report) string { return "v" + strconv.Itoa(r.Version) }

// userChangeDetail says in Chinese what an administrator changed of an account (never the
// password itself).
func userChangeDetail(old, u reading.User, pwChanged bool) string {
	var parts []string
	if old.ID == 0 {
		parts = append(parts, "新建")
	}
	if u.Role != old.Role {
		parts = append(parts, "角色："+string(u.Role))
	}
	if u.SiteID != old.SiteID {
		parts = append(parts, "站点："+strconv.FormatInt(u.SiteID, 10))
	}
	if u.DisplayName != old.DisplayName {
		parts = append(parts, "显示名："+u.DisplayName)
	}
	if u.Disabled != old.Disabled {
		if u.Disabled {
			parts = append(parts, "停用")
		} else {
			parts = append(parts, "启用")
		}
	}
	if pwChanged {
		parts = append(parts, "设置密码")
	}
	if len(parts) == 0 {
		return "无变更"
	}
	return strings.Join(parts, "；")
}
