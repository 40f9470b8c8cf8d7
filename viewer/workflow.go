package viewer

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"pacsd/audit"
	"pacsd/reading"
)

// The study page's critical findings (危急值), claims, the phrase library (常用词条) and
// two-level review (报告医师 writes and submits, 审核医师 signs). All of it needs
// Config.Workflow; without one the reading room works as before (single-level, no claims).

// claimTTL is how long a claim lasts without activity: opening the study, each autosave
// and the page's heartbeat while in use renew it; signing, submitting, releasing or
// leaving a study only looked at end it.
const claimTTL = 15 * time.Minute

// criticalCategories are the kinds of critical finding a radiologist picks from (keys of
// "crit.cat.*"): those a township's DR and ultrasound can show, as county hospitals'
// 危急值 lists name them.
var criticalCategories = []string{"pneumothorax", "dissection", "ectopic", "perforation", "pericardial",
	"rupture", "placenta", "fetal", "torsion", "dvt", "fracture", "other"}

// workflowMessages are this file's catalogue entries (key, Chinese, English), merged into messages.
var workflowMessages = [][3]string{
	{"status.preliminary", "待审核", "Awaiting review"},

	{"crit.title", "危急值", "Critical findings"},
	{"crit.flag", "报告危急值", "Flag critical finding"},
	{"crit.category", "类别", "Category"},
	{"crit.text", "所见", "Finding"},
	{"crit.submit", "发布危急值", "Flag"},
	{"crit.confirm", "确认发布危急值？站点将立即收到通知。", "Flag this critical finding? The site is notified at once."},
	{"crit.flagged", "危急值已发布", "Critical finding flagged"},
	{"crit.flaggedby", "发布", "Flagged by"},
	{"crit.open", "未确认", "Not acknowledged"},
	{"crit.acked", "已确认", "Acknowledged"},
	{"crit.ack", "确认收到", "Acknowledge"},
	{"crit.ackby", "确认人", "Acknowledged by"},
	{"crit.informed", "已通知（临床医生/患者）", "Informed (clinician/patient)"},
	{"crit.informed.placeholder", "如：已电话通知接诊医生王医生", "e.g. phoned Dr Wang, the treating clinician"},
	{"crit.informed.required", "请填写已通知的人", "Say whom you informed"},
	{"crit.minutes", "分钟", "min"},
	{"crit.waiting", "已等待", "Waiting"},
	{"crit.banner", "危急值待确认", "Critical findings to acknowledge"},
	{"crit.new", "新的危急值", "New critical finding"},
	{"crit.notify", "开启桌面通知", "Turn on desktop notifications"},
	{"crit.none", "无", "None"},
	{"crit.failed", "操作失败", "Failed"},
	{"crit.patient", "患者", "Patient"},
	{"crit.site", "站点", "Site"},
	{"crit.dash.open", "未确认的危急值", "Unacknowledged critical findings"},
	{"crit.dash.sites", "危急值确认时间（按站点）", "Time to acknowledge critical findings, per site"},
	{"crit.dash.flagged", "发布数", "Flagged"},
	{"crit.dash.acked", "已确认", "Acknowledged"},
	{"crit.dash.openn", "未确认", "Open"},
	{"crit.dash.median", "确认用时中位数", "Median time to acknowledge"},
	{"crit.dash.max", "最长用时", "Longest"},
	{"dash.perday", "每日接收与报告", "Received and reported per day"},
	{"crit.cat.pneumothorax", "气胸（大量/张力性）", "Pneumothorax (large or tension)"},
	{"crit.cat.dissection", "主动脉夹层/动脉瘤破裂", "Aortic dissection or ruptured aneurysm"},
	{"crit.cat.ectopic", "异位妊娠（破裂出血）", "Ectopic pregnancy (ruptured)"},
	{"crit.cat.perforation", "消化道穿孔（膈下游离气体）", "Bowel perforation (free air under the diaphragm)"},
	{"crit.cat.pericardial", "大量心包积液/心包填塞", "Large pericardial effusion or tamponade"},
	{"crit.cat.rupture", "肝脾等实质脏器破裂出血", "Rupture of liver, spleen or another solid organ"},
	{"crit.cat.placenta", "胎盘早剥/前置胎盘出血", "Placental abruption or bleeding placenta praevia"},
	{"crit.cat.fetal", "胎死宫内/胎心异常", "Fetal death or abnormal fetal heart rate"},
	{"crit.cat.torsion", "卵巢或睾丸扭转", "Ovarian or testicular torsion"},
	{"crit.cat.dvt", "急性深静脉血栓", "Acute deep vein thrombosis"},
	{"crit.cat.fracture", "脊柱骨折伴脊髓压迫", "Spinal fracture with cord compression"},
	{"crit.cat.other", "其他", "Other"},

	{"claim.reading", "正在阅片", "is reading"},
	{"claim.held", "该检查正由其他医师阅片，不能保存", "Another radiologist is reading this study; it cannot be saved"},
	{"claim.mine", "您正在阅片（他人不能修改本报告）", "You are reading this study (others cannot change the report)"},
	{"claim.release", "释放阅片", "Release study"},
	{"claim.released", "已释放", "Released"},
	{"claim.take", "开始阅片", "Start reading"},

	{"review.submit", "提交审核", "Submit for review"},
	{"review.submitconfirm", "提交给审核医师？提交后由审核医师修改和签发。", "Submit to a reviewer? The reviewer edits and signs it."},
	{"review.submitted", "已提交审核", "Submitted for review"},
	{"review.notreviewer", "二级审核模式下只有审核医师可以签发报告", "In two-level review only a reviewer may sign"},
	{"review.waiting", "报告待审核，由审核医师修改并签发", "The report awaits review; a reviewer edits and signs it"},
	{"review.title", "报告审核模式", "Report review"},
	{"review.single", "单级审核：报告医师直接签发", "Single-level: the reporting radiologist signs"},
	{"review.two", "二级审核：报告医师提交，审核医师签发", "Two-level: the reporting radiologist submits, a reviewer signs"},
	{"review.reviewers", "审核医师", "Reviewers"},
	{"review.mayreview", "审核医师", "Reviewer"},
	{"review.settings", "审核模式设置", "Review settings"},
	{"review.hint", "在用户页勾选“审核医师”，指定可以签发报告的医师。", "Tick “Reviewer” on the users page for the radiologists who may sign."},

	{"phrase.title", "常用词条", "Phrases"},
	{"phrase.search", "查找词条（Alt+P；↑↓选择，回车插入）", "Find a phrase (Alt+P; ↑↓ to choose, Enter inserts)"},
	{"phrase.insert", "插入到光标处", "Insert at the cursor"},
	{"phrase.add", "添加词条", "Add phrase"},
	{"phrase.group", "分组", "Group"},
	{"phrase.text", "内容", "Text"},
	{"phrase.shared", "共享（所有医师）", "Shared (all radiologists)"},
	{"phrase.mine", "个人", "Mine"},
	{"phrase.delete", "删除", "Delete"},
	{"phrase.deleteconfirm", "删除这条词条？", "Delete this phrase?"},
	{"phrase.save", "保存", "Save"},
	{"phrase.none", "还没有词条", "No phrases yet"},
}

func (v *Viewer) workflowRoutes(e *echo.Echo, g guards) {
	// The worklist's banner asks whatever the configuration: without the workflow the
	// answer is an empty list.
	e.GET("/api/critical", v.listCritical, g.authed...)
	if v.cfg.Workflow == nil {
		return
	}
	// Register runs once at start, before any request: the place for the one-time seeding.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := v.seedTemplates(ctx); err != nil {
		v.log.Warn("default report templates not added", "err", err)
	}
	e.POST("/api/critical/:id/ack", v.ackCritical, g.authed...)
	e.POST("/api/studies/:study/critical", v.flagCritical, g.staff...)
	e.POST("/api/studies/:study/claim", v.claimStudy, g.staff...)
	e.DELETE("/api/studies/:study/claim", v.releaseStudy, g.staff...)
	e.POST("/api/studies/:study/report/submit", v.submitReport, g.staff...)
	e.GET("/api/phrases", v.listPhrases, g.staff...)
	e.POST("/api/phrases", v.putPhrase, g.staff...)
	e.PUT("/api/phrases/:id", v.putPhrase, g.staff...)
	e.DELETE("/api/phrases/:id", v.deletePhrase, g.staff...)
	e.GET("/admin/review", v.reviewPage, g.admin...)
	e.POST("/admin/review", v.setReviewMode, g.admin...)
}

// twoLevel says whether reports are signed in two steps (SettingReview).
func (v *Viewer) twoLevel(ctx context.Context) (bool, error) {
	if v.cfg.Workflow == nil {
		return false, nil
	}
	m, err := v.cfg.Workflow.Setting(ctx, reading.SettingReview)
	return m == reading.ReviewTwo, err
}

// ---- claims ----

// holdStudy claims the study for the request's user, or renews their claim, before a change
// to its report: a study another radiologist holds is refused (409 claim.held).
func (v *Viewer) holdStudy(c echo.Context, studyUID string) error {
	if v.cfg.Workflow == nil {
		return nil
	}
	_, err := v.claim(c, studyUID)
	return err
}

// claim is holdStudy's claim, which it returns; a new claim is announced to the worklists.
func (v *Viewer) claim(c echo.Context, studyUID string) (reading.Claim, error) {
	now := time.Now()
	cl, err := v.cfg.Workflow.ClaimStudy(c.Request().Context(), studyUID, currentUser(c), now, claimTTL)
	var ce *reading.ClaimedError
	if errors.As(err, &ce) {
		return ce.Claim, &httpError{status: http.StatusConflict, key: "claim.held"}
	}
	if err != nil {
		return reading.Claim{}, err
	}
	if cl.ClaimedAt.Equal(now) {
		v.events.publish("studies") // "张医生 正在阅片" appears on the others' worklists
	}
	return cl, nil
}

// releaseClaim ends the user's claim (signed, submitted, released); a failure is only logged:
// the claim lapses by itself.
func (v *Viewer) releaseClaim(c echo.Context, studyUID string) {
	if v.cfg.Workflow == nil {
		return
	}
	if err := v.cfg.Workflow.ReleaseClaim(c.Request().Context(), studyUID, currentUser(c).ID); err != nil {
		v.log.Warn("releasing a claim", "study_uid", studyUID, "err", err)
		return
	}
	v.events.publish("studies")
}

type claimJSON struct {
	UserName  string `json:"userName"`
	Mine      bool   `json:"mine"`
	ExpiresAt string `json:"expiresAt"`
}

func (v *Viewer) toClaimJSON(c echo.Context, cl reading.Claim) *claimJSON {
	return &claimJSON{UserName: cl.UserName, Mine: cl.UserID == currentUser(c).ID,
		ExpiresAt: cl.ExpiresAt.In(v.loc).Format(time.RFC3339)}
}

// claimStudy claims or renews (the editor's heartbeat); a study held by another is a 409
// that names the holder.
func (v *Viewer) claimStudy(c echo.Context) error {
	row, err := v.authorizeStudy(c, c.Param("study"))
	if err != nil {
		return err
	}
	cl, err := v.claim(c, row.StudyUID)
	var he *httpError
	if errors.As(err, &he) {
		msg, _ := translate(langOf(c), he.key)
		return c.JSON(he.status, map[string]any{"error": msg, "code": he.key, "claim": v.toClaimJSON(c, cl)})
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"claim": v.toClaimJSON(c, cl)})
}

func (v *Viewer) releaseStudy(c echo.Context) error {
	row, err := v.authorizeStudy(c, c.Param("study"))
	if err != nil {
		return err
	}
	v.releaseClaim(c, row.StudyUID)
	return c.JSON(http.StatusOK, map[string]any{"claim": nil})
}

// worklistClaims are the live claims of a worklist page's studies (nil without Workflow).
func (v *Viewer) worklistClaims(ctx context.Context, rows []reading.WorklistRow) (map[string]*reading.Claim, error) {
	if v.cfg.Workflow == nil || len(rows) == 0 {
		return nil, nil
	}
	uids := make([]string, len(rows))
	for i, r := range rows {
		uids[i] = r.StudyUID
	}
	cs, err := v.cfg.Workflow.Claims(ctx, uids, time.Now())
	if err != nil {
		return nil, err
	}
	out := make(map[string]*reading.Claim, len(cs))
	for k, cl := range cs {
		out[k] = &cl
	}
	return out, nil
}

// ---- the study page ----

// studyWorkflow is what the study page shows of the workflow.
type studyWorkflow struct {
	On         bool           // Config.Workflow is set
	Claim      *reading.Claim // the live claim, whoever holds it
	ClaimOther bool           // held by somebody else: the editor is read-only
	Critical   []reading.CriticalFinding
	Categories []string
	TwoLevel   bool
	MayReview  bool // the user may sign: always in single-level review, reviewers in two-level
	// Preliminary: the open version was submitted for review; ReadOnly: the user may not
	// change the report now (another holds the study, or it awaits a reviewer).
	Preliminary, ReadOnly bool
	MayAck                bool // the user acknowledges this study's findings (its site's users, administrators)
}

// workflowJSON is studyWorkflow for the scripts (the study page's data island).
type workflowJSON struct {
	On        bool       `json:"on"`
	ReadOnly  bool       `json:"readOnly"`
	Claim     *claimJSON `json:"claim"`
	TwoLevel  bool       `json:"twoLevel"`
	MayReview bool       `json:"mayReview"`
}

// loadWorkflow fills the study page's workflow part. A radiologist opening a study whose
// report is still open claims it (or sees who holds it).
func (v *Viewer) loadWorkflow(c echo.Context, sv *studyView) (*studyWorkflow, error) {
	w := &studyWorkflow{MayReview: true}
	if v.cfg.Workflow == nil {
		return w, nil
	}
	ctx := c.Request().Context()
	u := currentUser(c)
	w.On, w.Categories = true, criticalCategories
	var err error
	if w.TwoLevel, err = v.twoLevel(ctx); err != nil {
		return nil, err
	}
	w.MayReview = !w.TwoLevel || u.MayReview
	w.MayAck = u.Role == reading.RoleAdmin || (u.Role == reading.RoleSite && u.SiteID == sv.Row.SiteID)
	if w.Critical, err = v.cfg.Workflow.CriticalFindings(ctx, reading.CriticalFilter{StudyUID: sv.Row.StudyUID}); err != nil {
		return nil, err
	}
	if !u.Role.Staff() {
		return w, nil
	}
	w.Preliminary = sv.Current != nil && sv.Current.Status == reading.StatusPreliminary
	defer func() { w.ReadOnly = w.ClaimOther || (w.Preliminary && !w.MayReview) }()
	open := sv.Current == nil || sv.Current.Status.Open()
	if u.Role == reading.RoleRadiologist && open && !(w.Preliminary && !w.MayReview) {
		cl, err := v.claim(c, sv.Row.StudyUID)
		var he *httpError
		switch {
		case errors.As(err, &he):
			w.Claim, w.ClaimOther = &cl, true
		case err != nil:
			return nil, err
		default:
			w.Claim = &cl
		}
		return w, nil
	}
	cs, err := v.cfg.Workflow.Claims(ctx, []string{sv.Row.StudyUID}, time.Now())
	if err != nil {
		return nil, err
	}
	if cl, ok := cs[sv.Row.StudyUID]; ok {
		w.Claim, w.ClaimOther = &cl, cl.UserID != u.ID
	}
	return w, nil
}

func (w *studyWorkflow) json(c echo.Context, v *Viewer) *workflowJSON {
	out := &workflowJSON{On: w.On, ReadOnly: w.ReadOnly, TwoLevel: w.TwoLevel, MayReview: w.MayReview}
	if w.Claim != nil {
		out.Claim = v.toClaimJSON(c, *w.Claim)
	}
	return out
}

// ---- critical findings ----

type criticalJSON struct {
	ID        int64  `json:"id"`
	Study     string `json:"study"`
	Category  string `json:"category"`
	Label     string `json:"label"`
	Text      string `json:"text"`
	FlaggedBy string `json:"flaggedBy"`
	FlaggedAt string `json:"flaggedAt"`
	Patient   string `json:"patient"`
	PatientID string `json:"patientId"`
	Site      string `json:"site"`
	// Minutes since it was flagged (open), or that its acknowledgement took.
	Minutes  int    `json:"minutes"`
	AckBy    string `json:"ackBy,omitempty"`
	AckAt    string `json:"ackAt,omitempty"`
	Informed string `json:"informed,omitempty"`
}

// criticalLabel is a category's words ("" and unknown keys as they are).
func criticalLabel(lang, category string) string {
	if s, err := translate(lang, "crit.cat."+category); err == nil {
		return s
	}
	return category
}

// criticalMinutes is how long a finding waited: until its acknowledgement, or until now.
func criticalMinutes(f reading.CriticalFinding, now time.Time) int {
	end := now
	if f.Acknowledged() {
		end = f.AckAt
	}
	return int(end.Sub(f.FlaggedAt) / time.Minute)
}

func (v *Viewer) toCriticalJSON(lang string, f reading.CriticalFinding, sites map[int64]string, now time.Time) criticalJSON {
	out := criticalJSON{ID: f.ID, Study: f.StudyUID, Category: f.Category, Label: criticalLabel(lang, f.Category),
		Text: f.Text, FlaggedBy: f.FlaggedByName, FlaggedAt: f.FlaggedAt.In(v.loc).Format(time.RFC3339),
		Patient: displayName(f.PatientName), PatientID: f.PatientID, Site: sites[f.SiteID],
		Minutes: criticalMinutes(f, now), AckBy: f.AckByName, Informed: f.Informed}
	if f.Acknowledged() {
		out.AckAt = f.AckAt.In(v.loc).Format(time.RFC3339)
	}
	return out
}

func (v *Viewer) siteNames(ctx context.Context) (map[int64]string, error) {
	sites, err := v.cfg.Sites.Sites(ctx)
	if err != nil {
		return nil, err
	}
	names := map[int64]string{}
	for _, s := range sites {
		names[s.ID] = s.Name
	}
	return names, nil
}

// criticalFor lists the findings the user may see: a site user only its own site's, staff
// every site's (open ones only when open).
func (v *Viewer) criticalFor(ctx context.Context, u reading.User, open bool) ([]reading.CriticalFinding, error) {
	if v.cfg.Workflow == nil {
		return nil, nil
	}
	f := reading.CriticalFilter{Open: open, Limit: 50}
	if !u.Role.Staff() {
		if u.SiteID == 0 {
			return nil, nil
		}
		f.SiteID = u.SiteID
	}
	return v.cfg.Workflow.CriticalFindings(ctx, f)
}

// listCritical answers the banners' refresh: ?open=1 the unacknowledged ones.
func (v *Viewer) listCritical(c echo.Context) error {
	ctx := c.Request().Context()
	fs, err := v.criticalFor(ctx, currentUser(c), c.QueryParam("open") == "1")
	if err != nil {
		return err
	}
	names, err := v.siteNames(ctx)
	if err != nil {
		return err
	}
	now, lang := time.Now(), langOf(c)
	out := []criticalJSON{}
	for _, f := range fs {
		out = append(out, v.toCriticalJSON(lang, f, names, now))
	}
	return c.JSON(http.StatusOK, map[string]any{"findings": out})
}

func (v *Viewer) flagCritical(c echo.Context) error {
	row, err := v.authorizeStudy(c, c.Param("study"))
	if err != nil {
		return err
	}
	var req struct {
		Category string `json:"category"`
		Text     string `json:"text"`
	}
	if err := readJSON(c, &req); err != nil {
		return err
	}
	if !slices.Contains(criticalCategories, req.Category) {
		return &httpError{status: http.StatusBadRequest, key: "err.invalid"}
	}
	u := currentUser(c)
	f, err := v.cfg.Workflow.FlagCritical(c.Request().Context(), reading.CriticalFinding{StudyUID: row.StudyUID,
		Category: req.Category, Text: req.Text, FlaggedBy: u.ID, FlaggedByName: u.Name(), FlaggedAt: time.Now()})
	if err != nil {
		return err
	}
	v.log.Info("critical finding flagged", "study_uid", row.StudyUID, "id", f.ID, "category", f.Category, "user_id", u.ID)
	ev := studyEvent(row, audit.ActionCritical)
	ev.Object, ev.Detail = "critical "+strconv.FormatInt(f.ID, 10), criticalLabel("zh", f.Category)+"："+f.Text
	v.record(c, ev)
	v.events.publish("critical")
	names, err := v.siteNames(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v.toCriticalJSON(langOf(c), f, names, time.Now()))
}

// ackCritical records the site's acknowledgement. Only the users of the study's site (and
// administrators) acknowledge; a finding of a study the user may not see is not found.
func (v *Viewer) ackCritical(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return errNotFound
	}
	f, err := v.cfg.Workflow.CriticalFinding(ctx, id)
	if err != nil {
		return err
	}
	row, err := v.authorizeStudy(c, f.StudyUID)
	if err != nil {
		return err
	}
	u := currentUser(c)
	if !(u.Role == reading.RoleAdmin || (u.Role == reading.RoleSite && u.SiteID == row.SiteID)) {
		return &httpError{status: http.StatusForbidden, key: "err.forbidden"}
	}
	var req struct {
		Informed string `json:"informed"`
	}
	if err := readJSON(c, &req); err != nil {
		return err
	}
	if blank(req.Informed) {
		return &httpError{status: http.StatusBadRequest, key: "crit.informed.required"}
	}
	f, err = v.cfg.Workflow.AcknowledgeCritical(ctx, id, u, req.Informed, time.Now())
	if err != nil {
		return err
	}
	v.log.Info("critical finding acknowledged", "study_uid", row.StudyUID, "id", id, "user_id", u.ID)
	ev := studyEvent(row, audit.ActionCriticalAck)
	ev.Object, ev.Detail = "critical "+strconv.FormatInt(id, 10), "已通知："+f.Informed
	v.record(c, ev)
	v.events.publish("critical")
	names, err := v.siteNames(ctx)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v.toCriticalJSON(langOf(c), f, names, time.Now()))
}

// criticalDashboard is the county dashboard's part: open findings aging, and each site's
// time to acknowledgement over the dashboard's days.
type criticalDashboard struct {
	Open  []criticalJSON
	Sites []criticalSiteRow
}

type criticalSiteRow struct {
	Site                 string
	Flagged, Acked, Open int
	Median, Max          time.Duration
	HasAcked             bool // Median and Max mean something
}

func (v *Viewer) loadCriticalDashboard(c echo.Context, from, to time.Time, names map[int64]string) (*criticalDashboard, error) {
	if v.cfg.Workflow == nil {
		return nil, nil
	}
	ctx := c.Request().Context()
	open, err := v.cfg.Workflow.CriticalFindings(ctx, reading.CriticalFilter{Open: true, Limit: 200})
	if err != nil {
		return nil, err
	}
	stats, err := v.cfg.Workflow.CriticalStats(ctx, from, to)
	if err != nil {
		return nil, err
	}
	lang, now := langOf(c), time.Now()
	d := &criticalDashboard{}
	for _, f := range open {
		d.Open = append(d.Open, v.toCriticalJSON(lang, f, names, now))
	}
	unknown, _ := translate(lang, "wl.unknown")
	for _, s := range stats {
		name, ok := names[s.SiteID]
		if !ok {
			name = unknown
		}
		d.Sites = append(d.Sites, criticalSiteRow{Site: name, Flagged: s.Flagged, Acked: s.Acknowledged, Open: s.Open,
			Median: s.Median, Max: s.Max, HasAcked: s.Acknowledged > 0})
	}
	return d, nil
}

// ---- two-level review ----

// mayReviewSign refuses a signature by a radiologist who is not a reviewer in two-level review.
func (v *Viewer) mayReviewSign(c echo.Context) error {
	two, err := v.twoLevel(c.Request().Context())
	if err != nil {
		return err
	}
	if two && !currentUser(c).MayReview {
		return &httpError{status: http.StatusForbidden, key: "review.notreviewer"}
	}
	return nil
}

// submitReport saves the editor's text and submits it for review (待审核); the author's
// claim ends, so that a reviewer may take the study.
func (v *Viewer) submitReport(c echo.Context) error {
	row, version, err := v.saveFinal(c, false)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	u := currentUser(c)
	r, err := v.cfg.Workflow.SubmitReport(ctx, row.StudyUID, version, u, time.Now())
	if err != nil {
		return err
	}
	v.log.Info("report submitted for review", "study_uid", row.StudyUID, "version", r.Version, "user_id", u.ID)
	ev := studyEvent(row, audit.ActionReportSign)
	ev.Object, ev.Detail = reportObject(r), "提交审核（待审核）"
	v.record(c, ev)
	v.releaseClaim(c, row.StudyUID)
	v.events.publish("studies")
	return c.JSON(http.StatusOK, toReportJSON(r, v.loc))
}

type reviewView struct {
	TwoLevel  bool
	Reviewers []reading.User
}

func (v *Viewer) reviewPage(c echo.Context) error {
	ctx := c.Request().Context()
	two, err := v.twoLevel(ctx)
	if err != nil {
		return err
	}
	users, err := v.cfg.Users.Users(ctx)
	if err != nil {
		return err
	}
	rv := reviewView{TwoLevel: two}
	for _, u := range users {
		if u.MayReview && !u.Disabled {
			rv.Reviewers = append(rv.Reviewers, u)
		}
	}
	return v.render(c, http.StatusOK, "review", pageData{Active: "users", Edit: rv, Flash: flash(c)})
}

func (v *Viewer) setReviewMode(c echo.Context) error {
	mode := c.FormValue("mode")
	if mode != reading.ReviewSingle && mode != reading.ReviewTwo {
		return &httpError{status: http.StatusBadRequest, key: "err.invalid"}
	}
	if err := v.cfg.Workflow.PutSetting(c.Request().Context(), reading.SettingReview, mode); err != nil {
		return err
	}
	v.log.Info("review mode set", "by", currentUser(c).ID, "mode", mode)
	detail := "单级审核"
	if mode == reading.ReviewTwo {
		detail = "二级审核"
	}
	v.record(c, audit.Event{Action: audit.ActionUserChange, Object: "报告审核模式", Detail: detail})
	return c.Redirect(http.StatusSeeOther, "/admin/review?saved=1")
}

// ---- phrases ----

type phraseJSON struct {
	ID       int64  `json:"id"`
	Group    string `json:"group"`
	Text     string `json:"text"`
	Shared   bool   `json:"shared"`
	Editable bool   `json:"editable"`
}

// mayEditPhrase: one's own phrases, and the shared ones for administrators.
func mayEditPhrase(u reading.User, p reading.Phrase) bool {
	if p.OwnerID == 0 {
		return u.Role == reading.RoleAdmin
	}
	return p.OwnerID == u.ID
}

func toPhraseJSON(u reading.User, p reading.Phrase) phraseJSON {
	return phraseJSON{ID: p.ID, Group: p.Group, Text: p.Text, Shared: p.OwnerID == 0, Editable: mayEditPhrase(u, p)}
}

func (v *Viewer) listPhrases(c echo.Context) error {
	u := currentUser(c)
	ps, err := v.cfg.Workflow.Phrases(c.Request().Context(), u.ID)
	if err != nil {
		return err
	}
	out := []phraseJSON{}
	for _, p := range ps {
		out = append(out, toPhraseJSON(u, p))
	}
	return c.JSON(http.StatusOK, map[string]any{"phrases": out})
}

// phraseParam is the phrase named by the path, if the user may change it; else not found
// (another's personal phrase) or forbidden (a shared one for a radiologist).
func (v *Viewer) phraseParam(c echo.Context) (reading.Phrase, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return reading.Phrase{}, errNotFound
	}
	p, err := v.cfg.Workflow.Phrase(c.Request().Context(), id)
	if err != nil {
		return reading.Phrase{}, err
	}
	u := currentUser(c)
	switch {
	case p.OwnerID != 0 && p.OwnerID != u.ID:
		return reading.Phrase{}, errNotFound
	case !mayEditPhrase(u, p):
		return reading.Phrase{}, &httpError{status: http.StatusForbidden, key: "err.forbidden"}
	}
	return p, nil
}

func (v *Viewer) putPhrase(c echo.Context) error {
	u := currentUser(c)
	var p reading.Phrase
	if c.Param("id") != "" {
		var err error
		if p, err = v.phraseParam(c); err != nil {
			return err
		}
	}
	var req struct {
		Group  string `json:"group"`
		Text   string `json:"text"`
		Shared bool   `json:"shared"`
	}
	if err := readJSON(c, &req); err != nil {
		return err
	}
	if req.Shared && u.Role != reading.RoleAdmin {
		return &httpError{status: http.StatusForbidden, key: "err.forbidden"}
	}
	p.Group, p.Text, p.OwnerID = req.Group, req.Text, u.ID
	if req.Shared {
		p.OwnerID = 0
	}
	p, err := v.cfg.Workflow.PutPhrase(c.Request().Context(), p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toPhraseJSON(u, p))
}

func (v *Viewer) deletePhrase(c echo.Context) error {
	p, err := v.phraseParam(c)
	if err != nil {
		return err
	}
	if err := v.cfg.Workflow.DeletePhrase(c.Request().Context(), p.ID); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// ---- default templates ----

// workflowTemplates are the ultrasound and spine templates a county department writes
// from, added once to every installation (new or upgraded) beside defaultTemplates: normal
// findings with the measurements left for the radiologist. They are data, edited and
// deleted by administrators, never added again (SettingTemplatesSeeded).
var workflowTemplates = []reading.Template{
	{Name: "脊柱正侧位（正常）", Modality: "DX", BodyPart: "SPINE",
		Findings: "所摄椎体序列连续，生理曲度存在，未见明显侧弯畸形。各椎体形态、大小及骨质密度未见明显异常，" +
			"椎体边缘骨质光整，未见明显骨质增生及骨质破坏。各椎间隙等宽，未见明显狭窄。椎弓根及附件结构完整，" +
			"椎小关节间隙清晰。椎旁软组织影未见明显异常。",
		Impression: "所摄脊柱未见明显异常。"},
	{Name: "甲状腺超声（正常）", Modality: "US", BodyPart: "THYROID",
		Findings: "甲状腺左、右叶及峡部大小、形态正常，包膜光整，实质回声均匀，未见明显占位性病变。" +
			"右叶：上下径  mm，左右径  mm，前后径  mm；左叶：上下径  mm，左右径  mm，前后径  mm；峡部厚  mm。\n" +
			"CDFI：腺体内血流信号未见明显异常。\n双侧颈部未见明显异常肿大淋巴结。",
		Impression: "甲状腺未见明显异常。"},
	{Name: "乳腺超声（正常）", Modality: "US", BodyPart: "BREAST",
		Findings: "双侧乳腺腺体层厚度正常，结构清晰，回声分布均匀，乳腺导管未见扩张，双侧乳腺内未见明显占位性病变。\n" +
			"CDFI：双侧乳腺内未见异常血流信号。\n双侧腋窝未见明显异常肿大淋巴结。",
		Impression: "双侧乳腺未见明显异常（BI-RADS 1类）。"},
	{Name: "妇科超声（正常）", Modality: "US", BodyPart: "PELVIS",
		Findings: "子宫前位，大小约  mm×  mm×  mm，形态规则，轮廓清晰，肌层回声均匀。内膜居中，厚约  mm，回声均匀。" +
			"宫颈大小、形态正常。\n双侧卵巢大小、形态正常，内可见卵泡回声。双侧附件区未见明显包块回声。\n" +
			"盆腔未见明显游离液性暗区。\nCDFI：子宫及双侧卵巢血流信号未见明显异常。",
		Impression: "子宫及双侧附件未见明显异常。"},
	{Name: "产科超声（中晚孕）", Modality: "US", BodyPart: "FETUS",
		Findings: "宫内可见一胎儿，胎位：头位。胎心搏动可见，胎心率  次/分，节律齐。\n" +
			"双顶径  mm，头围  mm，腹围  mm，股骨长  mm。\n" +
			"胎盘位于子宫前壁，成熟度Ⅰ级，胎盘下缘远离宫颈内口。\n羊水最大深度  mm，羊水指数  mm。\n" +
			"脐带：胎儿颈部未见明显脐带压迹。",
		Impression: "宫内妊娠，单活胎，头位，超声孕周约  周  天（请结合临床）。"},
	{Name: "泌尿系超声（正常）", Modality: "US", BodyPart: "KIDNEY",
		Findings: "双肾大小、形态正常，包膜光整，皮髓质分界清晰，集合系统未见分离，其内未见明显强回声团。\n" +
			"双侧输尿管未见扩张。\n膀胱充盈良好，壁光滑，腔内未见明显异常回声。\n" +
			"前列腺（男性）大小、形态正常，内部回声均匀。\nCDFI：双肾血流灌注良好。",
		Impression: "双肾、双侧输尿管、膀胱未见明显异常。"},
	{Name: "颈动脉超声（正常）", Modality: "US", BodyPart: "CAROTID",
		Findings: "双侧颈总动脉、颈内动脉、颈外动脉走行正常，内径正常，管壁光滑，内中膜未见增厚" +
			"（右侧 IMT  mm，左侧 IMT  mm），管腔内未见明显斑块。\n" +
			"CDFI：血流充盈良好，频谱形态正常，流速未见明显异常。\n双侧椎动脉走行正常，血流方向正常。",
		Impression: "双侧颈动脉未见明显异常。"},
	{Name: "下肢深静脉超声（正常）", Modality: "US", BodyPart: "LEG",
		Findings: "双侧股总静脉、股浅静脉、腘静脉及胫后静脉内径正常，管壁光滑，管腔内透声好，探头加压后管腔可完全闭合。\n" +
			"CDFI：血流充盈良好，Valsalva 试验未见明显反流。\n双侧大隐静脉汇入处未见明显扩张。",
		Impression: "双下肢深静脉未见明显血栓形成。"},
}

// seedTemplates adds workflowTemplates once: a template an administrator has since
// edited, renamed or deleted is never touched again, and one whose name is already taken
// is left out.
func (v *Viewer) seedTemplates(ctx context.Context) error {
	done, err := v.cfg.Workflow.Setting(ctx, reading.SettingTemplatesSeeded)
	if err != nil || done != "" {
		return err
	}
	have, err := v.cfg.Reports.Templates(ctx)
	if err != nil {
		return err
	}
	for _, t := range workflowTemplates {
		if slices.ContainsFunc(have, func(h reading.Template) bool { return h.Name == t.Name }) {
			continue
		}
		if _, err := v.cfg.Reports.PutTemplate(ctx, t); err != nil {
			return err
		}
	}
	return v.cfg.Workflow.PutSetting(ctx, reading.SettingTemplatesSeeded, time.Now().UTC().Format(time.RFC3339))
}

// mayEditReport is the check before a draft is saved: the study is claimed for the user
// (or the save refused, naming the holder), and a report submitted for review is edited
// only by a reviewer.
func (v *Viewer) mayEditReport(c echo.Context, studyUID string) error {
	if v.cfg.Workflow == nil {
		return nil
	}
	vs, err := v.cfg.Reports.Reports(c.Request().Context(), studyUID)
	if err != nil {
		return err
	}
	if n := len(vs); n > 0 && vs[n-1].Status == reading.StatusPreliminary {
		if err := v.mayReviewSign(c); err != nil {
			return &httpError{status: http.StatusConflict, key: "review.waiting"}
		}
	}
	return v.holdStudy(c, studyUID)
}
