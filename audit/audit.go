package audit

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ErrInvalid is a filter, cursor or retention request a store refuses; implementations wrap
// it with the operation.
var ErrInvalid = errors.New("invalid")

// ActorKind says who acted.
type ActorKind string

const (
	ActorUser      ActorKind = "user"      // a logged-in account (UserID, UserName)
	ActorAE        ActorKind = "ae"        // a DICOM application entity (AETitle)
	ActorAnonymous ActorKind = "anonymous" // nobody identified: a share link, a failed login
	ActorSystem    ActorKind = "system"    // pacsd itself (retention, background work)
)

// Label is the kind in Chinese.
func (k ActorKind) Label() string {
	switch k {
	case ActorUser:
		return "用户"
	case ActorAE:
		return "设备"
	case ActorAnonymous:
		return "匿名"
	case ActorSystem:
		return "系统"
	}
	return string(k)
}

// Actor is who acted, and from where.
type Actor struct {
	Kind     ActorKind
	UserID   int64  // ActorUser: the account's ID
	UserName string // ActorUser: the login name; a failed login: the name typed
	AETitle  string // ActorAE: the calling AE title
	Address  string // the remote IP address (no port); "" for ActorSystem
}

// User is a logged-in account acting from addr.
func User(id int64, username, addr string) Actor {
	return Actor{Kind: ActorUser, UserID: id, UserName: username, Address: addr}
}

// AE is a DICOM peer acting from addr.
func AE(aeTitle, addr string) Actor { return Actor{Kind: ActorAE, AETitle: aeTitle, Address: addr} }

// Anonymous is an unidentified client at addr; username is what it typed at a login, if any.
func Anonymous(username, addr string) Actor {
	return Actor{Kind: ActorAnonymous, UserName: username, Address: addr}
}

// System is pacsd itself.
func System() Actor { return Actor{Kind: ActorSystem} }

// Action is what was done. The set is closed: each action has a Chinese label and a DICOM
// audit message (syslog.go); a new one is added here with both.
type Action string

// The actions, and the paths expected to record them.
const (
	ActionStudyView   Action = "study.view"   // a study page or its DICOM JSON (reading room, QIDO-RS/WADO-RS metadata of one study)
	ActionImageView   Action = "image.view"   // an image: rendered, frames, WADO-URI, OHIF (one event per series or study opened, not per frame)
	ActionReportView  Action = "report.view"  // a report read
	ActionReportPrint Action = "report.print" // a report printed
	ActionReportSign  Action = "report.sign"  // a report version signed
	ActionReportAmend Action = "report.amend" // an amendment started on a signed report
	ActionQuery       Action = "query"        // a search (worklist, QIDO-RS, C-FIND); Object is the query
	ActionRetrieve    Action = "retrieve"     // instances sent out (WADO-RS study/series, C-MOVE, C-GET)
	ActionStore       Action = "store"        // instances received (C-STORE: once per association and study; STOW-RS: per request and study)
	ActionLogin       Action = "login"        // a login; OutcomeFailure is a failed login
	ActionLogout      Action = "logout"       // a logout
	ActionUserChange  Action = "user.change"  // an account created, changed, disabled, its password set
	ActionSiteChange  Action = "site.change"  // a site created, changed, deleted
	ActionShare       Action = "share"        // a share link made (or revoked: Detail says)
	ActionExport      Action = "export"       // studies exported (download, media)
	ActionDelete      Action = "delete"       // a study, series or instance deleted
	ActionRestore     Action = "restore"      // an instance's kept version made current again by an administrator
	ActionAuditView   Action = "audit.view"   // the audit trail searched or exported
	ActionSecurity    Action = "security"     // a security alert: access refused, login throttled
	ActionKeyImage    Action = "key.image"    // a study's key images changed (a new Key Object Selection document stored); Object names the image
	ActionMeasure     Action = "measure"      // a study's measurements and annotations saved (stored as an SR); Detail says how many
	ActionCritical    Action = "critical"     // a finding flagged as critical (危急值); Detail is what
	ActionCriticalAck Action = "critical.ack" // a critical finding acknowledged; Detail is whom the site informed
)

// Actions lists every action, in the order an admin page offers them.
var Actions = []Action{
	ActionStudyView, ActionImageView, ActionReportView, ActionReportPrint, ActionReportSign,
	ActionReportAmend, ActionQuery, ActionRetrieve, ActionStore, ActionLogin, ActionLogout, ActionUserChange,
	ActionSiteChange, ActionShare, ActionExport, ActionDelete, ActionRestore, ActionAuditView, ActionSecurity,
	ActionKeyImage,
	ActionMeasure,
	ActionCritical, ActionCriticalAck,
}

var actionLabels = map[Action]string{
	ActionStudyView:   "查看检查",
	ActionImageView:   "查看图像",
	ActionReportView:  "查看报告",
	ActionReportPrint: "打印报告",
	ActionReportSign:  "签发报告",
	ActionReportAmend: "修订报告",
	ActionQuery:       "查询",
	ActionRetrieve:    "调取影像",
	ActionStore:       "接收影像",
	ActionLogin:       "登录",
	ActionLogout:      "退出登录",
	ActionUserChange:  "用户变更",
	ActionSiteChange:  "站点变更",
	ActionShare:       "分享链接",
	ActionExport:      "导出",
	ActionDelete:      "删除",
	ActionRestore:     "恢复历史版本",
	ActionAuditView:   "查看审计日志",
	ActionSecurity:    "安全警报",
	ActionKeyImage:    "标记关键图像",
	ActionMeasure:     "保存测量",
	ActionCritical:    "发布危急值",
	ActionCriticalAck: "确认危急值",
}

// Valid reports whether a is one of the actions.
func (a Action) Valid() bool { _, ok := actionLabels[a]; return ok }

// Label is the action in Chinese; an unknown action shows as itself.
func (a Action) Label() string {
	if l, ok := actionLabels[a]; ok {
		return l
	}
	return string(a)
}

// Outcome is whether the action succeeded.
type Outcome string

const (
	OutcomeSuccess Outcome = "success"
	OutcomeFailure Outcome = "failure" // Detail says why
)

// Label is the outcome in Chinese.
func (o Outcome) Label() string {
	switch o {
	case OutcomeSuccess:
		return "成功"
	case OutcomeFailure:
		return "失败"
	}
	return string(o)
}

// Event is one audit record. Text is UTF-8.
type Event struct {
	ID          int64     // assigned by the store; 0 before
	Time        time.Time // when, UTC; Recorder.Record sets the current time when zero
	Actor       Actor
	Action      Action
	PatientID   string // "" when the action concerns no patient
	PatientName string // PN value, groups '='-joined ("Zhang^Wei=张^伟")
	StudyUID    string
	// Object is what was acted on, besides the patient and study: a SOP Instance UID
	// (image), "v2" (a report version), the query (query), a site's or user's name, a
	// share link's ID. Its meaning follows from Action.
	Object  string
	Outcome Outcome // "" is OutcomeSuccess
	Detail  string  // a failure's reason, or what changed
	// Count is how many identical looks the event stands for (Normalize makes 0 one): the
	// Recorder folds exact repeats, equal in every field but Time and arriving within
	// Config.FoldWindow of the first, into one event at the first one's time. Anything that
	// differs, one character of a query or the address, is an event of its own.
	Count int
}

// Field bounds (characters): enough for every DICOM value they carry (PN is 3×64, UI 64),
// short enough that one event is one small row and one syslog datagram.
const (
	maxShort  = 64
	maxName   = 200
	maxObject = 256
	maxDetail = 1024
)

// Normalize makes an event storable: UTC time, success by default, valid UTF-8 without
// control characters (XML 1.0 cannot carry them; newlines in Detail become spaces) and
// bounded fields. It is idempotent; Recorder and stores both call it.
func (e *Event) Normalize() {
	e.Time = e.Time.UTC()
	if e.Outcome == "" {
		e.Outcome = OutcomeSuccess
	}
	e.Count = max(e.Count, 1)
	for _, f := range []struct {
		s *string
		n int
	}{
		{(*string)(&e.Actor.Kind), maxShort}, {&e.Actor.UserName, maxShort}, {&e.Actor.AETitle, maxShort},
		{&e.Actor.Address, maxShort}, {(*string)(&e.Action), maxShort}, {&e.PatientID, maxShort},
		{&e.PatientName, maxName}, {&e.StudyUID, maxShort}, {&e.Object, maxObject},
		{(*string)(&e.Outcome), maxShort}, {&e.Detail, maxDetail},
	} {
		*f.s = clean(*f.s, f.n)
	}
}

// clean is s as valid UTF-8, control characters as spaces, trimmed, at most n characters.
func clean(s string, n int) string {
	ok := utf8.ValidString(s)
	if ok {
		for _, r := range s {
			if unicode.IsControl(r) {
				ok = false
				break
			}
		}
	}
	if !ok {
		s = strings.Map(func(r rune) rune {
			if unicode.IsControl(r) {
				return ' '
			}
			return r
		}, strings.ToValidUTF8(s, "\uFFFD"))
	}
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > n {
		s = string([]rune(s)[:n])
	}
	return s
}

// Filter selects events; every set field must match. Results are newest first.
type Filter struct {
	PatientID string // exact
	// PatientName is a prefix of any group of the name, components run together and case
	// ignored ("张", "张伟", "zhang wei", "Zhang^Wei"), or of its pinyin ("zhangw").
	PatientName string
	StudyUID    string    // exact
	UserName    string    // exact, case ignored: an account's actions and the failed logins typed as it
	AETitle     string    // exact
	Actions     []Action  // any of these; none: all
	Outcome     Outcome   // "" any
	From, To    time.Time // From <= Time < To; zero: open
	Limit       int       // events per page; 0 means 100, at most MaxPage
	After       string    // Page.Next of the previous page with the same filter
}

// MaxPage bounds Filter.Limit.
const MaxPage = 1000

// Page is one page of a search; Next is "" on the last.
type Page struct {
	Events []Event
	Next   string
}

// MinRetention is how long events are kept at least: 网络安全法 §21 asks for six months of
// logs; Purge refuses to remove anything younger.
const MinRetention = 183 * 24 * time.Hour

// CheckPurge is the retention rule stores apply: before must be at least MinRetention
// before now.
func CheckPurge(before, now time.Time) error {
	if before.After(now.Add(-MinRetention)) {
		return ErrInvalid
	}
	return nil
}

// Searcher answers searches (a Store, or anything that reads one).
type Searcher interface {
	Search(ctx context.Context, f Filter) (Page, error)
}

// Store keeps events. Implementations: store/sqlite; all pass audittest.Run.
type Store interface {
	Searcher
	// Append stores the events atomically: all of them or, with an error, none.
	Append(ctx context.Context, evs []Event) error
	// Purge removes the events older than before (retention) and says how many; ErrInvalid
	// when before is not at least MinRetention ago (CheckPurge). Nothing else ever removes
	// or changes an event.
	Purge(ctx context.Context, before time.Time) (int64, error)
}
