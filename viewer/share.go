package viewer

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	qrcode "github.com/piglig/go-qr"

	"pacsd/audit"
	"pacsd/dicom"
	"pacsd/dicom/dicomdir"
	"pacsd/ohif"
	"pacsd/reading"
	"pacsd/store"
)

// Share links (云胶片, issue 19; the domain is reading.ShareLink).
//
// Made by hand on the study page's API (POST /api/studies/:study/shares: anyone who may see
// the study makes a patient's link, staff also a doctor's), and the study's report link:
// made when its report is signed (Config.ShareOnSign; signed again after an amendment, its
// expiry counts from the new signature) or else when it is first printed, and reused by
// every print, whose script asks for it (POST /api/studies/:study/shares/report) and prints
// its QR code. A token is never stored: the repository keeps a nonce and the token's
// SHA-256, and the token is re-derived from the nonce under the server's secret
// (Config.ShareSecret, a file outside the database), so that a copy of the database alone
// opens no link. Config.ShareDays negative turns share links off.
//
// The link /s/{token} opens, without an account and after the verification, only what the
// link names: the study's final report (amendments marked) and its images rendered as JPEG,
// addressed by their index in the study's list (/s/{token}/i/{n}) or the key images' list
// (/s/{token}/k/{n}), never by a UID from the URL. A doctor's link also downloads the
// study as a ZIP with a DICOMDIR (/s/{token}/study.zip), the objects byte for byte, streamed.
// A verification grants this browser the link for shareGrantTTL (a cookie scoped to the
// link's path, kept in memory: a restart asks again). Wrong answers count against the link
// (locked after reading.MaxShareAttempts) and against the address (the login limiter's
// rule). Every opening, image and download is in the audit trail (anonymous, the address,
// "share:<id>").

const (
	shareGrantTTL    = 2 * time.Hour
	shareCookie      = "pacsd_share"
	maxShareGrants   = 10000
	defaultShareDays = 30
	doctorShareDays  = 90 // a doctor's link outlives a patient's: the study is read at the other hospital later
	maxShareDays     = 3650
	phoneImageSide   = 1024 // pixels of the phone's renderings: a phone's screen, zoomed twice
)

// shareMessages are this file's catalogue entries (key, Chinese, English), merged into messages.
var shareMessages = [][3]string{
	{"share.title", "电子胶片", "Electronic film"},
	{"share.qr", "扫码查看报告和影像", "Scan to see the report and images"},
	{"share.qr.expires", "有效期至 {date}", "Valid until {date}"},
	{"share.qr.failed", "二维码生成失败", "The QR code could not be made"},
	{"share.verify.birthdate", "请输入患者出生日期（如 19800501）", "Enter the patient's birth date (e.g. 19800501)"},
	{"share.verify.idlast4", "请输入患者编号（身份证号）后四位", "Enter the last four characters of the patient's ID"},
	{"share.verify.submit", "查看", "Open"},
	{"share.verify.wrong", "验证信息不正确，还可尝试 {n} 次", "Wrong answer; {n} attempts left"},
	{"share.verify.limited", "尝试次数过多，请稍后再试", "Too many attempts; try again later"},
	{"share.verify.intro", "为保护患者隐私，请先验证身份。", "To protect the patient's privacy, please verify first."},
	{"share.gone.title", "链接已失效", "This link no longer works"},
	{"share.gone.expired", "此链接已过期。如需查看，请联系检查医院重新获取。", "This link has expired. Ask the hospital for a new one."},
	{"share.gone.revoked", "此链接已被医院撤销。", "The hospital has revoked this link."},
	{"share.gone.locked", "验证失败次数过多，此链接已锁定。请联系检查医院。", "Too many wrong answers: this link is locked. Ask the hospital."},
	{"share.gone.unknown", "链接无效。请检查二维码或联系检查医院。", "This link is not valid. Check the QR code or ask the hospital."},
	{"share.report", "检查报告", "Report"},
	{"share.report.none", "报告尚未签发", "The report is not signed yet"},
	{"share.report.amended", "此报告已修订（第{n}版），以本版为准", "This report was amended (version {n}); this version stands"},
	{"share.key", "关键图像", "Key images"},
	{"share.all", "全部图像", "All images"},
	{"share.brightness", "亮度", "Brightness"},
	{"share.contrast", "对比度", "Contrast"},
	{"share.reset", "还原", "Reset"},
	{"share.zoomhint", "双指缩放图像", "Pinch to zoom"},
	{"share.download", "下载 DICOM（含 DICOMDIR）", "Download DICOM (with DICOMDIR)"},
	{"share.doctor", "医生调阅（检查结果互认）", "For doctors (mutual recognition)"},
	{"share.ohif", "在 OHIF 中打开", "Open in OHIF"},
	{"share.note", "本页面仅供参考，诊断以医院正式报告为准。", "For reference; the hospital's signed report stands."},
	{"share.admin.title", "分享链接", "Share links"},
	{"share.admin.intro", "患者二维码和医生调阅链接。链接本身不保存，只能撤销或延期。", "Patients' QR codes and doctors' links. The links themselves are not kept: revoke or extend them."},
	{"share.admin.search", "检查UID或创建人", "Study UID or creator"},
	{"share.admin.active", "仅有效链接", "Active links only"},
	{"share.admin.find", "查找", "Search"},
	{"share.admin.study", "检查", "Study"},
	{"share.admin.kind", "类型", "Kind"},
	{"share.admin.kind.patient", "患者", "Patient"},
	{"share.admin.kind.doctor", "医生", "Doctor"},
	{"share.admin.created", "创建", "Created"},
	{"share.admin.expires", "到期", "Expires"},
	{"share.admin.opens", "打开次数", "Openings"},
	{"share.admin.state", "状态", "State"},
	{"share.admin.state.live", "有效", "Active"},
	{"share.admin.state.expired", "已过期", "Expired"},
	{"share.admin.state.revoked", "已撤销", "Revoked"},
	{"share.admin.state.locked", "已锁定", "Locked"},
	{"share.admin.revoke", "撤销", "Revoke"},
	{"share.admin.extend", "延期（天）", "Extend (days)"},
	{"share.admin.none", "没有分享链接", "No share links"},
	{"share.admin.persite", "各站点打开次数", "Openings per site"},
	{"share.admin.site", "站点", "Site"},
	{"share.admin.links", "链接数", "Links"},
	{"share.admin.county", "县医院/未知", "County / unknown"},
	{"share.admin.new", "为检查创建链接", "Make a link for a study"},
	{"share.admin.studyuid", "检查UID", "Study Instance UID"},
	{"share.admin.verify", "验证方式", "Verification"},
	{"share.admin.verify.auto", "自动（出生日期，无则编号后四位）", "Automatic (birth date, else the ID's last four)"},
	{"share.admin.verify.none", "不验证（仅医生链接）", "None (doctors' links only)"},
	{"share.admin.days", "有效天数（0：默认）", "Days valid (0: default)"},
	{"share.admin.create", "创建", "Make"},
	{"share.admin.created.title", "链接已创建（只显示这一次）", "Link made (shown only this once)"},
}

// shareState is the share links' memory: the secret tokens are derived under, granted
// browsers and the attempts limiter.
type shareState struct {
	secret []byte
	mu     sync.Mutex
	grants map[string]shareGrant // by hash of the cookie's value
	limit  *loginLimiter
}

type shareGrant struct {
	link    int64
	expires time.Time
}

func newShareState(secret []byte) *shareState {
	return &shareState{secret: secret, grants: map[string]shareGrant{},
		limit: newLoginLimiter(reading.MaxShareAttempts, 15*time.Minute)}
}

// shareSecretSize is the secret's length: HMAC-SHA256's block of randomness, 256 bits.
const shareSecretSize = 32

// initShares readies share links at New: the secret (read, or made at the first start) and,
// with Config.ShareOnSign, the hook that makes the report link at each signature.
func (v *Viewer) initShares() error {
	if v.cfg.Shares == nil || v.cfg.ShareDays < 0 {
		return nil
	}
	secret, err := loadShareSecret(v.cfg.ShareSecret)
	if err != nil {
		return err
	}
	if v.cfg.ShareSecret == "" {
		v.log.Warn("no share secret file: the links made now stop opening at the next start")
	}
	v.shares = newShareState(secret)
	if v.cfg.ShareOnSign {
		next := v.cfg.ReportSigned
		v.cfg.ReportSigned = func(ctx context.Context, r reading.Report) {
			// Made by pacsd itself (CreatedBy 0), named after the signer for the admin's search.
			maker := reading.ShareLink{CreatedName: r.SignedByName}
			if _, err := v.reportShare(ctx, r.StudyUID, r.SignedAt, maker, audit.System(), true); err != nil {
				// The signature stands; the link is made at the first print instead.
				v.log.Warn("share link at signing", "study_uid", r.StudyUID, "err", err)
			}
			if next != nil {
				next(ctx, r)
			}
		}
	}
	return nil
}

// loadShareSecret reads the secret tokens are derived under from path, making it (32 random
// bytes, mode 0600) when it does not exist. A file others may read is refused: with a copy
// of the database it opens every link. path "": a secret for this process only.
func loadShareSecret(path string) ([]byte, error) {
	if path == "" {
		return randomBytes(shareSecretSize)
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if b, err = randomBytes(shareSecretSize); err != nil {
			return nil, err
		}
		return b, writeSecretFile(path, b)
	}
	if err != nil {
		return nil, fmt.Errorf("share secret: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("share secret: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("share secret %s: mode %v, others may read it (chmod 600)", path, fi.Mode().Perm())
	}
	if len(b) != shareSecretSize {
		return nil, fmt.Errorf("share secret %s: %d bytes, want %d", path, len(b), shareSecretSize)
	}
	return b, nil
}

func randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("random bytes: %w", err)
	}
	return b, nil
}

// writeSecretFile creates path (never over an existing file: two starts at once keep the
// first) and makes it durable before a link is derived under it.
func writeSecretFile(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("share secret: %w", err)
	}
	if _, err = f.Write(b); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("share secret %s: %w", path, err)
	}
	return nil
}

// grant remembers that this browser passed link's verification; the cookie's value.
func (s *shareState) grant(link int64, now time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.grants) >= maxShareGrants {
		for k, g := range s.grants {
			if now.After(g.expires) {
				delete(s.grants, k)
			}
		}
		if len(s.grants) >= maxShareGrants { // a flood of verifications: the oldest go first
			clear(s.grants)
		}
	}
	v := randomToken(32)
	s.grants[hashToken(v)] = shareGrant{link: link, expires: now.Add(shareGrantTTL)}
	return v
}

func (s *shareState) granted(cookie string, link int64, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.grants[hashToken(cookie)]
	return ok && g.link == link && now.Before(g.expires)
}

func (v *Viewer) shareRoutes(e *echo.Echo, g guards) {
	if v.cfg.Shares == nil || v.cfg.ShareDays < 0 {
		// The printed report asks for a link whatever the setting: without share links it
		// gets none, and prints no QR code.
		none := func(c echo.Context) error { return c.NoContent(http.StatusNoContent) }
		e.POST("/api/studies/:study/shares", none, g.authed...)
		e.POST("/api/studies/:study/shares/report", none, g.authed...)
		return
	}
	e.POST("/api/studies/:study/shares", v.createShare, g.authed...)
	e.POST("/api/studies/:study/shares/report", v.reportShareAPI, g.authed...)
	e.GET("/s/:token", v.sharePage, g.open...)
	e.POST("/s/:token", v.shareVerify, g.open...)
	e.GET("/s/:token/i/:n", v.shareImage, g.open...)
	e.GET("/s/:token/k/:n", v.shareKeyImage, g.open...)
	e.GET("/s/:token/study.zip", v.shareZip, g.open...)
	e.GET("/s/:token/dicomweb/*", v.shareDICOMweb, g.open...)
	e.GET("/admin/shares", v.sharesAdminPage, g.admin...)
	e.POST("/admin/shares", v.createShareForm, g.admin...)
	e.POST("/admin/shares/:id/revoke", v.revokeShareForm, g.admin...)
	e.POST("/admin/shares/:id/extend", v.extendShareForm, g.admin...)
}

// shareURL is the link's address as a phone reaches it: Config.PublicURL behind a reverse
// proxy, else the address the request came to.
func (v *Viewer) shareURL(c echo.Context, token string) string {
	base := strings.TrimRight(v.cfg.PublicURL, "/")
	if base == "" {
		base = c.Scheme() + "://" + c.Request().Host
	}
	return base + "/s/" + token
}

// shareCreated is the answer to a new link: the only time its token is seen.
type shareCreated struct {
	ID        int64  `json:"id"`
	URL       string `json:"url"`
	QR        string `json:"qr"` // data: URL of a PNG
	Kind      string `json:"kind"`
	Verify    string `json:"verify"`
	ExpiresAt string `json:"expiresAt"` // the county's date
}

// shareRequest is what a new link is asked with (the API's JSON, the admin page's form).
type shareRequest struct {
	Kind   string `json:"kind" form:"kind"`
	Verify string `json:"verify" form:"verify"`
	Days   int    `json:"days" form:"days"`
}

func (v *Viewer) createShare(c echo.Context) error {
	row, err := v.authorizeStudy(c, c.Param("study"))
	if err != nil {
		return err
	}
	var req shareRequest
	if err := readJSON(c, &req); err != nil {
		return err
	}
	out, err := v.makeShare(c, row, req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, out)
}

// makeShare makes a link to row's study as the request's user, and its QR code.
func (v *Viewer) makeShare(c echo.Context, row reading.WorklistRow, req shareRequest) (shareCreated, error) {
	u := currentUser(c)
	kind := reading.ShareKind(req.Kind)
	if kind == "" {
		kind = reading.SharePatient
	}
	if kind == reading.ShareDoctor && !u.Role.Staff() {
		return shareCreated{}, echo.NewHTTPError(http.StatusForbidden, "a doctor's link is made by the county's staff")
	}
	days := req.Days
	switch {
	case days == 0 && kind == reading.ShareDoctor:
		days = doctorShareDays
	case days == 0:
		days = v.shareDays()
	case days < 0 || days > maxShareDays:
		return shareCreated{}, fmt.Errorf("share days %d: %w", days, reading.ErrInvalid)
	}
	l, err := v.newShare(row, kind, reading.ShareVerify(req.Verify), time.Now(), days)
	if err != nil {
		return shareCreated{}, err
	}
	l.CreatedBy, l.CreatedName = u.ID, u.Name()
	if l, err = v.cfg.Shares.CreateShare(c.Request().Context(), l); err != nil {
		return shareCreated{}, err
	}
	v.log.Info("share link made", "study_uid", row.StudyUID, "share_id", l.ID, "kind", l.Kind, "user_id", u.ID)
	v.recordShareMade(c.Request().Context(), row, l, requestActor(c))
	return v.shareAnswer(c, l)
}

// newShare is a link to row's study made at, lasting days, with a new nonce and its
// token's hash. The patient proves the birth date when the archive knows it, else the ID's
// last four; "none" only for a doctor's link, which staff hand over themselves.
func (v *Viewer) newShare(row reading.WorklistRow, kind reading.ShareKind, verify reading.ShareVerify, at time.Time, days int) (reading.ShareLink, error) {
	l := reading.ShareLink{StudyUID: row.StudyUID, Kind: kind, Verify: verify, CreatedAt: at, ExpiresAt: at.AddDate(0, 0, days)}
	if l.Verify == "" || (l.Verify == reading.VerifyNone && l.Kind != reading.ShareDoctor) {
		l.Verify = reading.VerifyBirthDate
		if len(row.BirthDate) != 8 {
			l.Verify = reading.VerifyIDLast4
		}
	}
	switch l.Verify {
	case reading.VerifyBirthDate:
		l.Answer = reading.VerifyAnswer(l.Verify, row.BirthDate)
	case reading.VerifyIDLast4:
		l.Answer = reading.VerifyAnswer(l.Verify, row.PatientID)
	}
	var err error
	if l.Nonce, err = reading.NewShareNonce(); err != nil {
		return l, fmt.Errorf("share nonce: %w", err)
	}
	l.TokenHash = reading.ShareTokenHash(v.shareToken(l))
	return l, nil
}

// shareToken is a link's token, derived again from its nonce; "" for a link made before
// derived tokens (its token was shown once and is nowhere now).
func (v *Viewer) shareToken(l reading.ShareLink) string {
	if l.Nonce == "" {
		return ""
	}
	return reading.DeriveShareToken(v.shares.secret, l.Nonce)
}

func (v *Viewer) recordShareMade(ctx context.Context, row reading.WorklistRow, l reading.ShareLink, who audit.Actor) {
	ev := studyEvent(row, audit.ActionShare)
	ev.Actor, ev.Object = who, shareObject(l.ID)
	what := kindLabel(l.Kind)
	if l.OnReport {
		what = "报告二维码"
	}
	ev.Detail = fmt.Sprintf("创建%s链接，验证方式 %s，有效期至 %s", what, l.Verify, displayTime(l.ExpiresAt, v.loc))
	v.auditor().Record(ctx, ev)
}

// shareAnswer is a link's address and QR code, as the request's client reaches it.
func (v *Viewer) shareAnswer(c echo.Context, l reading.ShareLink) (shareCreated, error) {
	link := v.shareURL(c, v.shareToken(l))
	png, err := qrPNG(link)
	if err != nil {
		return shareCreated{}, err
	}
	return shareCreated{ID: l.ID, URL: link, Kind: string(l.Kind), Verify: string(l.Verify),
		QR: "data:image/png;base64," + base64.StdEncoding.EncodeToString(png), ExpiresAt: l.ExpiresAt.In(v.loc).Format("2006-01-02")}, nil
}

// reportShare is the study's report link (reading.ShareLink.OnReport, always with a nonce),
// made now if it has none (or only a revoked one), lasting at least the
// patient's days from at when renew (a signature) or when it has expired (a print long
// after the signature prints a code that opens). maker's CreatedBy and CreatedName name a
// new link's maker, who is the trail's actor.
func (v *Viewer) reportShare(ctx context.Context, studyUID string, at time.Time, maker reading.ShareLink, who audit.Actor, renew bool) (reading.ShareLink, error) {
	until := at.AddDate(0, 0, v.shareDays())
	for try := 0; ; try++ {
		l, err := v.cfg.Shares.ReportShare(ctx, studyUID)
		switch {
		case err == nil:
			if (renew || !at.Before(l.ExpiresAt)) && l.ExpiresAt.Before(until) {
				if err := v.cfg.Shares.RenewShare(ctx, l.ID, until); err != nil {
					return l, err
				}
				l.ExpiresAt = until
			}
			return l, nil
		case !errors.Is(err, reading.ErrNotFound):
			return l, err
		}
		row, err := v.cfg.Worklist.Study(ctx, studyUID)
		if err != nil {
			return l, err
		}
		if l, err = v.newShare(row, reading.SharePatient, "", at, v.shareDays()); err != nil {
			return l, err
		}
		l.OnReport, l.CreatedBy, l.CreatedName = true, maker.CreatedBy, maker.CreatedName
		l, err = v.cfg.Shares.CreateShare(ctx, l)
		if errors.Is(err, reading.ErrConflict) && try == 0 {
			continue // made meanwhile by a print or a signature: that one stands
		}
		if err != nil {
			return l, err
		}
		v.log.Info("report share link made", "study_uid", studyUID, "share_id", l.ID)
		v.recordShareMade(ctx, row, l, who)
		return l, nil
	}
}

// reportShareAPI is the printed report's QR code: the study's report link, the same for
// every print.
func (v *Viewer) reportShareAPI(c echo.Context) error {
	row, err := v.authorizeStudy(c, c.Param("study"))
	if err != nil {
		return err
	}
	u := currentUser(c)
	maker := reading.ShareLink{CreatedBy: u.ID, CreatedName: u.Name()}
	l, err := v.reportShare(c.Request().Context(), row.StudyUID, time.Now(), maker, requestActor(c), false)
	if err != nil {
		return err
	}
	out, err := v.shareAnswer(c, l)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (v *Viewer) shareDays() int {
	if v.cfg.ShareDays == 0 {
		return defaultShareDays
	}
	return v.cfg.ShareDays
}

func shareObject(id int64) string { return "share:" + strconv.FormatInt(id, 10) }

func kindLabel(k reading.ShareKind) string {
	if k == reading.ShareDoctor {
		return "医生调阅"
	}
	return "患者"
}

// qrPNG draws a link as a QR code: error correction M (a printed code survives a fold or a
// smudge), 8 pixels a module with the four-module quiet zone ISO/IEC 18004 asks for, so
// that printed at 3 cm it is about 0.8 mm a module, well within a phone camera's reach.
func qrPNG(text string) ([]byte, error) {
	q, err := qrcode.EncodeText(text, qrcode.Medium)
	if err != nil {
		return nil, fmt.Errorf("qr code: %w", err)
	}
	b, err := q.ToPNGBytes(qrcode.NewQrCodeImgConfig(8, 4))
	if err != nil {
		return nil, fmt.Errorf("qr code: %w", err)
	}
	return b, nil
}

// shareHeaders: nothing of a share page is cached or names its address to another site
// (the token is in the path), nor is it indexed or framed.
func shareHeaders(c echo.Context) {
	h := c.Response().Header()
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Robots-Tag", "noindex, nofollow")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
}

// shareLink finds the link of the request's token. ok is false when the answer has been
// given (the "link no longer works" page, recorded).
func (v *Viewer) shareLink(c echo.Context) (reading.ShareLink, bool, error) {
	shareHeaders(c)
	token := c.Param("token")
	ip := clientIP(c.Request())
	now := time.Now()
	if !v.shares.limit.allowed("share", ip, now) {
		return reading.ShareLink{}, false, v.shareGone(c, http.StatusTooManyRequests, "share.verify.limited", reading.ShareLink{})
	}
	var l reading.ShareLink
	var err error
	if len(token) >= 22 && len(token) <= 64 {
		l, err = v.cfg.Shares.ShareByHash(c.Request().Context(), reading.ShareTokenHash(token))
	} else {
		err = reading.ErrNotFound
	}
	switch {
	case errors.Is(err, reading.ErrNotFound):
		v.shares.limit.fail("share", ip, now) // a guesser of tokens is throttled like one of answers
		v.record(c, audit.Event{Action: audit.ActionSecurity, Object: "share:?", Outcome: audit.OutcomeFailure, Detail: "未知的分享链接"})
		return l, false, v.shareGone(c, http.StatusNotFound, "share.gone.unknown", l)
	case err != nil:
		return l, false, err
	}
	key := ""
	switch {
	case !l.RevokedAt.IsZero():
		key = "share.gone.revoked"
	case !now.Before(l.ExpiresAt):
		key = "share.gone.expired"
	case l.Attempts >= reading.MaxShareAttempts:
		key = "share.gone.locked"
	}
	if key != "" {
		v.record(c, audit.Event{Action: audit.ActionSecurity, StudyUID: l.StudyUID, Object: shareObject(l.ID),
			Outcome: audit.OutcomeFailure, Detail: "分享链接已失效：" + v.message(key)})
		return l, false, v.shareGone(c, http.StatusGone, key, l)
	}
	return l, true, nil
}

// shareView is the data of the share pages.
type shareView struct {
	Lang         string
	Organization string
	Token        string
	Link         reading.ShareLink
	Message      string // the gone page's, or the form's error
	Row          reading.WorklistRow
	Report       *reading.Report
	Amended      string // the note over an amended report
	Keys         []shareImageRef
	Images       []shareImageRef
	OHIF         string // a doctor's link: the study in OHIF through the link's DICOMweb ("" without OHIF)
}

type shareImageRef struct {
	URL   string
	Label string
}

func (v *Viewer) renderShare(c echo.Context, status int, name string, d shareView) error {
	d.Lang, d.Organization = langOf(c), v.organization()
	var buf bytes.Buffer
	if err := v.pages[d.Lang].ExecuteTemplate(&buf, name, d); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	return c.HTMLBlob(status, buf.Bytes())
}

func (v *Viewer) shareGone(c echo.Context, status int, key string, l reading.ShareLink) error {
	msg, _ := translate(langOf(c), key)
	return v.renderShare(c, status, "share_gone", shareView{Message: msg, Link: l})
}

// grantedLink is the request's link when this browser passed its verification (and, with
// doctor, when it is a doctor's link); ok false with the answer given otherwise.
func (v *Viewer) grantedLink(c echo.Context, doctor bool) (reading.ShareLink, bool, error) {
	l, ok, err := v.shareLink(c)
	if !ok {
		return l, false, err
	}
	if !v.shareGranted(c, l) || (doctor && l.Kind != reading.ShareDoctor) {
		return l, false, errNotFound
	}
	return l, true, nil
}

// shareGranted reports whether this browser passed the link's verification lately.
func (v *Viewer) shareGranted(c echo.Context, l reading.ShareLink) bool {
	if l.Verify == reading.VerifyNone {
		return true
	}
	ck, err := c.Cookie(shareCookie)
	return err == nil && v.shares.granted(ck.Value, l.ID, time.Now())
}

func (v *Viewer) sharePage(c echo.Context) error {
	l, ok, err := v.shareLink(c)
	if !ok {
		return err
	}
	if !v.shareGranted(c, l) {
		return v.renderShare(c, http.StatusOK, "share_verify", shareView{Token: c.Param("token"), Link: l})
	}
	ctx := c.Request().Context()
	row, err := v.cfg.Worklist.Study(ctx, l.StudyUID)
	if err != nil {
		return err
	}
	d := shareView{Token: c.Param("token"), Link: l, Row: row}
	reports, err := v.cfg.Reports.Reports(ctx, l.StudyUID)
	if err != nil {
		return err
	}
	for i := range reports {
		if reports[i].Status.Signed() {
			d.Report = &reports[i] // the latest signed version stands
		}
	}
	if d.Report != nil && d.Report.Status == reading.StatusAmended {
		msg, _ := translate(langOf(c), "share.report.amended")
		d.Amended = strings.ReplaceAll(msg, "{n}", strconv.Itoa(d.Report.Version))
	}
	base := "/s/" + url.PathEscape(d.Token)
	if v.cfg.KeyImages != nil {
		ks, err := v.cfg.KeyImages.KeyImages(ctx, l.StudyUID)
		if err != nil {
			return err
		}
		for i := range ks.Images {
			d.Keys = append(d.Keys, shareImageRef{URL: base + "/k/" + strconv.Itoa(i), Label: strconv.Itoa(i + 1)})
		}
	}
	imgs, err := v.shareImages(ctx, l.StudyUID)
	if err != nil {
		return err
	}
	for i := range imgs {
		d.Images = append(d.Images, shareImageRef{URL: base + "/i/" + strconv.Itoa(i), Label: strconv.Itoa(i + 1)})
	}
	if l.Kind == reading.ShareDoctor && v.cfg.OHIFPath != "" {
		d.OHIF = ohif.ShareViewerURL(v.cfg.OHIFPath, d.Token, l.StudyUID)
	}
	ev := studyEvent(row, audit.ActionReportView)
	ev.Object = shareObject(l.ID)
	ev.Detail = "通过分享链接打开（" + kindLabel(l.Kind) + "）"
	v.record(c, ev)
	return v.renderShare(c, http.StatusOK, "share_page", d)
}

func (v *Viewer) shareVerify(c echo.Context) error {
	l, ok, err := v.shareLink(c)
	if !ok {
		return err
	}
	ip := clientIP(c.Request())
	now := time.Now()
	who := shareObject(l.ID)
	if !v.shares.limit.allowed(who, ip, now) {
		msg, _ := translate(langOf(c), "share.verify.limited")
		return v.renderShare(c, http.StatusTooManyRequests, "share_verify", shareView{Token: c.Param("token"), Link: l, Message: msg})
	}
	right := l.CheckAnswer(c.FormValue("answer"))
	after, err := v.cfg.Shares.ShareAttempt(c.Request().Context(), l.ID, right, now)
	if errors.Is(err, reading.ErrConflict) {
		return v.shareGone(c, http.StatusGone, "share.gone.locked", l)
	}
	if err != nil {
		return err
	}
	if !right {
		v.shares.limit.fail(who, ip, now)
		v.record(c, audit.Event{Action: audit.ActionSecurity, StudyUID: l.StudyUID, Object: who, Outcome: audit.OutcomeFailure,
			Detail: fmt.Sprintf("分享链接验证失败（第 %d 次）", after.Attempts)})
		if after.Attempts >= reading.MaxShareAttempts {
			return v.shareGone(c, http.StatusGone, "share.gone.locked", l)
		}
		msg, _ := translate(langOf(c), "share.verify.wrong")
		msg = strings.ReplaceAll(msg, "{n}", strconv.Itoa(reading.MaxShareAttempts-after.Attempts))
		return v.renderShare(c, http.StatusForbidden, "share_verify", shareView{Token: c.Param("token"), Link: l, Message: msg})
	}
	v.shares.limit.reset(who, ip)
	path := "/s/" + url.PathEscape(c.Param("token"))
	c.SetCookie(&http.Cookie{Name: shareCookie, Value: v.shares.grant(l.ID, now), Path: path, MaxAge: int(shareGrantTTL / time.Second),
		HttpOnly: true, Secure: c.IsTLS() || strings.HasPrefix(v.cfg.PublicURL, "https:"), SameSite: http.SameSiteLaxMode})
	return c.Redirect(http.StatusSeeOther, path)
}

// shareImages is the study's images in the order the phone shows them (series, then
// instance number), the first frame of each: the index n of /s/{token}/i/{n}.
func (v *Viewer) shareImages(ctx context.Context, studyUID string) ([]*store.Instance, error) {
	insts, err := v.cfg.Archive.Index().Instances(ctx, studyUID, "")
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	var out []*store.Instance
	for _, in := range insts {
		if store.HasPixelData(in) {
			out = append(out, in)
		}
	}
	num := func(in *store.Instance) (int64, int64) {
		s, _ := in.SeriesAttrs.Int(dicom.TagSeriesNumber)
		i, _ := in.InstanceAttrs.Int(dicom.TagInstanceNumber)
		return s, i
	}
	slices.SortStableFunc(out, func(a, b *store.Instance) int {
		as, ai := num(a)
		bs, bi := num(b)
		if as != bs {
			return int(as - bs)
		}
		return int(ai - bi)
	})
	return out, nil
}

// shareIndex is the n of the request, or false.
func shareIndex(c echo.Context, count int) (int, bool) {
	n, err := strconv.Atoi(c.Param("n"))
	return n, err == nil && n >= 0 && n < count
}

func (v *Viewer) shareImage(c echo.Context) error {
	l, ok, err := v.grantedLink(c, false)
	if !ok {
		return err
	}
	imgs, err := v.shareImages(c.Request().Context(), l.StudyUID)
	if err != nil {
		return err
	}
	n, ok := shareIndex(c, len(imgs))
	if !ok {
		return errNotFound
	}
	return v.sendShareFrame(c, l, imgs[n], 0)
}

func (v *Viewer) shareKeyImage(c echo.Context) error {
	l, ok, err := v.grantedLink(c, false)
	if !ok {
		return err
	}
	if v.cfg.KeyImages == nil {
		return errNotFound
	}
	ctx := c.Request().Context()
	ks, err := v.cfg.KeyImages.KeyImages(ctx, l.StudyUID)
	if err != nil {
		return err
	}
	n, ok := shareIndex(c, len(ks.Images))
	if !ok {
		return errNotFound
	}
	k := ks.Images[n]
	in, err := v.cfg.Archive.Index().Instance(ctx, k.SOPInstanceUID)
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	return v.sendShareFrame(c, l, in, k.Frame)
}

// sendShareFrame sends one frame of one of the link's study's images as JPEG. The instance
// came from the study's own lists; its study is checked once more all the same.
func (v *Viewer) sendShareFrame(c echo.Context, l reading.ShareLink, in *store.Instance, frame int) error {
	if in.StudyInstanceUID != l.StudyUID {
		return errNotFound
	}
	key := fmt.Sprintf("p/%s/%s/%d", in.SOPInstanceUID, in.SHA256, frame)
	e, ok := v.frames.Get(key)
	if !ok {
		b, err := v.renderJPEG(c.Request().Context(), in.SOPInstanceUID, frame, phoneImageSide)
		if err != nil {
			return pixelError(err)
		}
		e = &frameEntry{body: b, ctype: "image/jpeg"}
		v.frames.Add(key, e, e.size())
	}
	v.record(c, audit.Event{Action: audit.ActionImageView, StudyUID: l.StudyUID, Object: in.SOPInstanceUID,
		Detail: "通过分享链接 " + shareObject(l.ID)})
	shareHeaders(c)
	c.Response().Header().Set("Cache-Control", "private, no-store")
	return c.Blob(http.StatusOK, e.ctype, e.body)
}

// shareZip streams the study as a ZIP: DICOMDIR first (built from the index), then every
// object byte for byte from the archive, one at a time.
func (v *Viewer) shareZip(c echo.Context) error {
	l, ok, err := v.grantedLink(c, true)
	if !ok {
		return err
	}
	ctx := c.Request().Context()
	row, err := v.cfg.Worklist.Study(ctx, l.StudyUID)
	if err != nil {
		return err
	}
	insts, err := v.cfg.Archive.Index().Instances(ctx, l.StudyUID, "")
	if err != nil {
		return err
	}
	objs, paths := studyFileSet(insts)
	var dir bytes.Buffer
	if err := dicomdir.Write(&dir, "PACSD", objs); err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "application/zip")
	h.Set(echo.HeaderContentDisposition, `attachment; filename="study.zip"`)
	c.Response().WriteHeader(http.StatusOK)
	zw := zip.NewWriter(c.Response())
	put := func(name string, r io.Reader) error {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store, Modified: time.Now()})
		if err != nil {
			return err
		}
		_, err = io.Copy(w, r)
		return err
	}
	if err := put("DICOMDIR", &dir); err != nil {
		return fmt.Errorf("share zip: %w", err)
	}
	for i, in := range insts {
		if err := v.zipObject(ctx, put, paths[i], in.SOPInstanceUID); err != nil {
			return fmt.Errorf("share zip %s: %w", in.SOPInstanceUID, err) // the client sees a broken archive
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("share zip: %w", err)
	}
	ev := studyEvent(row, audit.ActionExport)
	ev.Object = shareObject(l.ID)
	ev.Detail = fmt.Sprintf("通过分享链接下载 ZIP（DICOMDIR，%d 个对象）", len(insts))
	v.record(c, ev)
	return nil
}

func (v *Viewer) zipObject(ctx context.Context, put func(string, io.Reader) error, name, sop string) error {
	_, rc, err := v.cfg.Archive.Open(ctx, sop)
	if err != nil {
		return err
	}
	defer rc.Close()
	return put(name, rc)
}

// studyFileSet names a study's objects in the File-set (DICOM/Sxxx/Ixxxxx) and gives the
// DICOMDIR's keys of each, from the index.
func studyFileSet(insts []*store.Instance) ([]dicomdir.Object, []string) {
	objs := make([]dicomdir.Object, len(insts))
	paths := make([]string, len(insts))
	series := map[string]int{}
	for i, in := range insts {
		s, ok := series[in.SeriesInstanceUID]
		if !ok {
			s = len(series) + 1
			series[in.SeriesInstanceUID] = s
		}
		id := []string{"DICOM", fmt.Sprintf("S%03d", s), fmt.Sprintf("I%05d", i+1)}
		sn, _ := in.SeriesAttrs.Int(dicom.TagSeriesNumber)
		inum, _ := in.InstanceAttrs.Int(dicom.TagInstanceNumber)
		st := in.StudyAttrs
		objs[i] = dicomdir.Object{FileID: id, SOPClassUID: in.SOPClassUID, SOPInstanceUID: in.SOPInstanceUID,
			TransferSyntaxUID: in.TransferSyntaxUID, PatientID: st.String(dicom.TagPatientID),
			PatientName: st.String(dicom.TagPatientName), StudyUID: in.StudyInstanceUID,
			StudyDate: st.String(dicom.TagStudyDate), StudyTime: st.String(dicom.TagStudyTime),
			StudyDescription: st.String(dicom.TagStudyDescription), StudyID: st.String(dicom.TagStudyID),
			Accession: st.String(dicom.TagAccessionNumber), SeriesUID: in.SeriesInstanceUID,
			Modality: in.SeriesAttrs.String(dicom.TagModality), SeriesNumber: int(sn), InstanceNumber: int(inum)}
		paths[i] = strings.Join(id, "/")
	}
	return objs, paths
}

// shareRow is one link on the administration page.
type shareRow struct {
	reading.ShareLink
	State string // live, expired, revoked, locked
}

// sharesAdminView is /admin/shares.
type sharesAdminView struct {
	Query   string
	Active  bool
	Rows    []shareRow
	Counts  []shareCountRow
	Created *shareCreated // a link just made on this page: its address and QR code, shown once
}

type shareCountRow struct {
	Site         string
	Links, Opens int
}

func (v *Viewer) sharesAdminPage(c echo.Context) error { return v.sharesAdmin(c, nil) }

// createShareForm makes a link to a study named by its UID (a doctor's link, 互认, or a
// patient's outside the printed report) and shows it once, on the list.
func (v *Viewer) createShareForm(c echo.Context) error {
	row, err := v.authorizeStudy(c, strings.TrimSpace(c.FormValue("study")))
	if err != nil {
		return err
	}
	days, _ := strconv.Atoi(c.FormValue("days"))
	out, err := v.makeShare(c, row, shareRequest{Kind: c.FormValue("kind"), Verify: c.FormValue("verify"), Days: days})
	if err != nil {
		return err
	}
	return v.sharesAdmin(c, &out)
}

func (v *Viewer) sharesAdmin(c echo.Context, created *shareCreated) error {
	ctx := c.Request().Context()
	now := time.Now()
	view := &sharesAdminView{Query: strings.TrimSpace(c.QueryParam("q")), Active: c.QueryParam("active") == "1", Created: created}
	links, err := v.cfg.Shares.Shares(ctx, reading.ShareFilter{Query: view.Query, Active: view.Active, Now: now, Limit: 200})
	if err != nil {
		return err
	}
	for _, l := range links {
		r := shareRow{ShareLink: l, State: "live"}
		switch {
		case !l.RevokedAt.IsZero():
			r.State = "revoked"
		case !now.Before(l.ExpiresAt):
			r.State = "expired"
		case l.Attempts >= reading.MaxShareAttempts:
			r.State = "locked"
		}
		view.Rows = append(view.Rows, r)
	}
	counts, err := v.cfg.Shares.ShareCounts(ctx)
	if err != nil {
		return err
	}
	sites, err := v.cfg.Sites.Sites(ctx)
	if err != nil {
		return err
	}
	for _, n := range counts {
		name, _ := translate(langOf(c), "share.admin.county")
		for _, s := range sites {
			if s.ID == n.SiteID {
				name = s.Name
			}
		}
		view.Counts = append(view.Counts, shareCountRow{Site: name, Links: n.Links, Opens: n.Opens})
	}
	return v.render(c, http.StatusOK, "share_admin", pageData{Active: "shares", Edit: view})
}

func (v *Viewer) shareByParam(c echo.Context) (reading.ShareLink, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return reading.ShareLink{}, errNotFound
	}
	return v.cfg.Shares.ShareByID(c.Request().Context(), id)
}

func (v *Viewer) revokeShareForm(c echo.Context) error {
	l, err := v.shareByParam(c)
	if err != nil {
		return err
	}
	if err := v.cfg.Shares.RevokeShare(c.Request().Context(), l.ID, time.Now()); err != nil {
		return err
	}
	v.record(c, audit.Event{Action: audit.ActionShare, StudyUID: l.StudyUID, Object: shareObject(l.ID), Detail: "撤销分享链接"})
	return c.Redirect(http.StatusSeeOther, "/admin/shares")
}

func (v *Viewer) extendShareForm(c echo.Context) error {
	l, err := v.shareByParam(c)
	if err != nil {
		return err
	}
	days, err := strconv.Atoi(c.FormValue("days"))
	if err != nil || days < 1 || days > maxShareDays {
		return fmt.Errorf("extend share link: days %q: %w", c.FormValue("days"), reading.ErrInvalid)
	}
	until := time.Now().AddDate(0, 0, days)
	if err := v.cfg.Shares.ExtendShare(c.Request().Context(), l.ID, until); err != nil {
		return err
	}
	v.record(c, audit.Event{Action: audit.ActionShare, StudyUID: l.StudyUID, Object: shareObject(l.ID),
		Detail: "分享链接延期至 " + displayTime(until, v.loc)})
	return c.Redirect(http.StatusSeeOther, "/admin/shares")
}

// shareScopeKey marks a request re-entered by shareDICOMweb: the link whose study it may read.
// Only the server sets it (a context value), so no client can claim it.
type shareScopeKey struct{}

// shareDICOMweb is DICOMweb for a doctor's link (OHIF, another hospital's viewer or PACS
// pointed at /s/{token}/dicomweb): QIDO-RS for the link's study (by its UID; a study search
// without one is limited to it) and WADO-RS under /studies/{its UID}, nothing else. The request goes through the server's own /dicomweb
// routes and their guard (RequireStaff), which lets it pass for that study only
// (shareScoped); BulkDataURIs are relative, so they stay under the link.
func (v *Viewer) shareDICOMweb(c echo.Context) error {
	l, ok, err := v.grantedLink(c, true)
	if !ok {
		return err
	}
	r := c.Request()
	rest := "/" + strings.TrimPrefix(r.URL.Path, "/s/"+c.Param("token")+"/dicomweb/")
	q := r.URL.Query()
	if rest == "/studies" && len(q["StudyInstanceUID"]) == 0 && len(q["0020000D"]) == 0 {
		// A search by other keys (OHIF looks for the patient's other studies) finds the
		// link's study alone, if it matches: through the link it is the only one there is.
		q.Set("StudyInstanceUID", l.StudyUID)
	}
	if !shareWebPath(rest, q, l.StudyUID) {
		return errNotFound
	}
	in := r.Clone(context.WithValue(r.Context(), shareScopeKey{}, l))
	in.URL.Path, in.URL.RawPath, in.URL.RawQuery, in.RequestURI = "/dicomweb"+rest, "", q.Encode(), ""
	c.Echo().ServeHTTP(c.Response(), in)
	return nil
}

// shareWebPath reports whether a DICOMweb path (after /dicomweb) and query read only study:
// /studies?StudyInstanceUID={study} or /studies/{study}[/...], no dot segments.
func shareWebPath(p string, q url.Values, study string) bool {
	seg := strings.Split(strings.TrimPrefix(p, "/"), "/")
	if slices.Contains(seg, "..") || slices.Contains(seg, ".") || seg[0] != "studies" {
		return false
	}
	if len(seg) == 1 {
		uids := q["StudyInstanceUID"]
		return len(uids) == 1 && uids[0] == study && q.Get("0020000D") == ""
	}
	return seg[1] == study
}

// shareScoped is RequireStaff's answer to a request shareDICOMweb re-entered: it passes,
// as the link (anonymous, from the client's address), if it is still within the study.
func (v *Viewer) shareScoped(c echo.Context, l reading.ShareLink, next echo.HandlerFunc) error {
	r := c.Request()
	if (r.Method != http.MethodGet && r.Method != http.MethodHead) || !strings.HasPrefix(r.URL.Path, "/dicomweb/") ||
		!shareWebPath(strings.TrimPrefix(r.URL.Path, "/dicomweb"), r.URL.Query(), l.StudyUID) {
		return echo.NewHTTPError(http.StatusNotFound, "not found")
	}
	c.SetRequest(r.WithContext(audit.WithActor(r.Context(), audit.Anonymous(shareObject(l.ID), clientIP(r)))))
	shareHeaders(c)
	return next(c)
}
