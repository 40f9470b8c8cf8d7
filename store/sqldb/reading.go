package sqldb

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mozillazg/go-pinyin"

	"pacsd/dicom"
	"pacsd/reading"
)

// The reading room's registry, accounts, tokens, reports and orders: the columns both
// engines select and the decoders of their rows. Flags are read into bool, which both
// drivers convert (SQLite's 0/1 integers; on PostgreSQL boolean columns, and smallint 0/1
// for reading_studies' urgent and quarantined, which the shared conditions compare with 1).

// NullID is an optional reference: 0 is NULL (the county's own peer, a user of no site).
func NullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// NoSuchSite is the FieldError "siteId" of a reference to a site that does not exist.
func NoSuchSite(id int64) error {
	return &reading.FieldError{Field: "siteId", Problem: reading.ProblemValue, Value: fmt.Sprint(id),
		Err: fmt.Errorf("no such site: %w", reading.ErrInvalid)}
}

// ---- sites and peers ----

// Querier runs a query: *sql.DB and *sql.Tx.
type Querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

// LoadSites lists the sites by name (case-insensitively), each with its peers' AE titles and
// its institution names. Errors are the driver's: the caller maps them.
func LoadSites(ctx context.Context, db Querier) ([]reading.Site, error) {
	var out []reading.Site
	idx := map[int64]int{}
	err := eachRow(ctx, db, `SELECT id, name FROM sites ORDER BY lower(name), id`, func(rows *sql.Rows) error {
		var s reading.Site
		if err := rows.Scan(&s.ID, &s.Name); err != nil {
			return err
		}
		idx[s.ID] = len(out)
		out = append(out, s)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, q := range []struct {
		sql string
		add func(*reading.Site, string)
	}{
		{`SELECT site_id, ae FROM peers WHERE site_id IS NOT NULL ORDER BY ae`, func(s *reading.Site, v string) { s.AETitles = append(s.AETitles, v) }},
		{`SELECT site_id, name FROM site_institutions ORDER BY name`, func(s *reading.Site, v string) { s.Institutions = append(s.Institutions, v) }},
	} {
		err := eachRow(ctx, db, q.sql, func(rows *sql.Rows) error {
			var id int64
			var v string
			if err := rows.Scan(&id, &v); err != nil {
				return err
			}
			if i, ok := idx[id]; ok {
				q.add(&out[i], v)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// SiteByID is the site with id among sites; ErrNotFound.
func SiteByID(sites []reading.Site, id int64) (reading.Site, error) {
	for _, s := range sites {
		if s.ID == id {
			return s, nil
		}
	}
	return reading.Site{}, fmt.Errorf("site %d: %w", id, reading.ErrNotFound)
}

// eachRow runs q and calls fn on each row.
func eachRow(ctx context.Context, db Querier, q string, fn func(*sql.Rows) error, args ...any) error {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// PeerCols are the columns ScanPeer reads.
const PeerCols = `id, ae, description, host, port, COALESCE(site_id, 0), require_tls, may_store, may_query,
	may_retrieve, destination`

// ScanPeer decodes a row of PeerCols (without its addresses).
func ScanPeer(row Scanner) (reading.Peer, error) {
	var p reading.Peer
	err := row.Scan(&p.ID, &p.AETitle, &p.Description, &p.Host, &p.Port, &p.SiteID, &p.RequireTLS,
		&p.MayStore, &p.MayQuery, &p.MayRetrieve, &p.Destination)
	return p, err
}

// LoadPeers runs q, a query of PeerCols, and attaches each peer's addresses. tx should be
// one read transaction, so that the peers and their addresses are of the same moment.
func LoadPeers(ctx context.Context, tx Querier, q string, args ...any) ([]reading.Peer, error) {
	var out []reading.Peer
	idx := map[int64]int{}
	err := eachRow(ctx, tx, q, func(rows *sql.Rows) error {
		p, err := ScanPeer(rows)
		if err != nil {
			return err
		}
		idx[p.ID] = len(out)
		out = append(out, p)
		return nil
	}, args...)
	if err != nil || len(out) == 0 {
		return out, err
	}
	err = eachRow(ctx, tx, `SELECT peer_id, address FROM peer_addresses ORDER BY peer_id, address`, func(rows *sql.Rows) error {
		var id int64
		var a string
		if err := rows.Scan(&id, &a); err != nil {
			return err
		}
		if i, ok := idx[id]; ok {
			out[i].Addresses = append(out[i].Addresses, a)
		}
		return nil
	})
	return out, err
}

// PeerTable is the AE table in memory, by AE title: what a PeerLookup answers from, so
// that the lookup of each association needs no query.
type PeerTable map[string]reading.Peer

// NewPeerTable indexes peers by AE title.
func NewPeerTable(peers []reading.Peer) PeerTable {
	t := make(PeerTable, len(peers))
	for _, p := range peers {
		t[p.AETitle] = p
	}
	return t
}

// Lookup is reading.PeerLookup's answer: the peer with AE title ae (trailing spaces
// trimmed), a copy the caller may change.
func (t PeerTable) Lookup(ae string) (reading.Peer, bool) {
	p, ok := t[strings.TrimSpace(ae)]
	p.Addresses = slices.Clone(p.Addresses)
	return p, ok
}

// PutSitePeers makes the peers of site siteID the AE titles aes, in the transaction of the
// site's change: a title not registered becomes a store-only peer of the site, the site's
// peers whose title is left out are removed, the others keep their settings. A title
// another site or the county has is a FieldError "aeTitles" ProblemTaken (taken turns the
// engine's unique violation into it).
func PutSitePeers(ctx context.Context, tx *sql.Tx, d Dialect, siteID int64, aes []string, now string,
	taken func(field, value string, err error) error) error {
	have := map[string]int64{}
	err := eachRow(ctx, tx, `SELECT id, ae FROM peers WHERE site_id = `+d.Ph(1), func(rows *sql.Rows) error {
		var id int64
		var ae string
		if err := rows.Scan(&id, &ae); err != nil {
			return err
		}
		have[ae] = id
		return nil
	}, siteID)
	if err != nil {
		return err
	}
	for ae, id := range have {
		if !slices.Contains(aes, ae) {
			if _, err := tx.ExecContext(ctx, `DELETE FROM peers WHERE id = `+d.Ph(1), id); err != nil {
				return err
			}
		}
	}
	for _, ae := range aes {
		if _, ok := have[ae]; ok {
			continue
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO peers (ae, site_id, may_store, updated_at) VALUES (`+
			d.Ph(1)+`, `+d.Ph(2)+`, `+d.Ph(3)+`, `+d.Ph(4)+`)`, ae, siteID, true, now); err != nil {
			return fmt.Errorf("AE title %s: %w", ae, taken("aeTitles", ae, err))
		}
	}
	return nil
}

// ---- users and sessions ----

// UserCols are the columns ScanUser reads.
const UserCols = `id, username, display_name, role, COALESCE(site_id, 0), password_hash, disabled,
	must_change_password, may_review, created_at`

// ScanUser decodes a row of UserCols.
func ScanUser(row Scanner) (reading.User, error) {
	var u reading.User
	var role, created string
	if err := row.Scan(&u.ID, &u.Username, &u.DisplayName, &role, &u.SiteID, &u.PasswordHash, &u.Disabled,
		&u.MustChangePassword, &u.MayReview, &created); err != nil {
		return reading.User{}, err
	}
	u.Role = reading.Role(role)
	u.CreatedAt = ParseTime(created)
	return u, nil
}

// SessionUserCols are the columns ScanSession reads: a session (alias s) and its user
// (alias u).
const SessionUserCols = `s.token_hash, s.user_id, s.csrf, s.created_at, s.expires_at,
	u.id, u.username, u.display_name, u.role, COALESCE(u.site_id, 0), u.password_hash, u.disabled,
	u.must_change_password, u.may_review, u.created_at`

// ScanSession decodes a row of SessionUserCols.
func ScanSession(row Scanner) (reading.Session, reading.User, error) {
	var s reading.Session
	var u reading.User
	var created, expires, role, ucreated string
	err := row.Scan(&s.TokenHash, &s.UserID, &s.CSRF, &created, &expires,
		&u.ID, &u.Username, &u.DisplayName, &role, &u.SiteID, &u.PasswordHash, &u.Disabled, &u.MustChangePassword,
		&u.MayReview, &ucreated)
	if err != nil {
		return reading.Session{}, reading.User{}, err
	}
	s.CreatedAt, s.ExpiresAt = ParseTime(created), ParseTime(expires)
	u.Role, u.CreatedAt = reading.Role(role), ParseTime(ucreated)
	return s, u, nil
}

// ---- tokens ----

// TokenCols are the columns ScanToken reads.
const TokenCols = `id, name, scopes, token_hash, COALESCE(created_by, 0), created_by_name, created_at,
	expires_at, last_used_at, revoked_at`

// ScanToken decodes a row of TokenCols.
func ScanToken(row Scanner) (reading.Token, error) {
	var t reading.Token
	var scopes, created, expires, used, revoked string
	if err := row.Scan(&t.ID, &t.Name, &scopes, &t.Hash, &t.CreatedBy, &t.CreatedByName, &created, &expires,
		&used, &revoked); err != nil {
		return reading.Token{}, err
	}
	for _, s := range strings.Split(scopes, ",") {
		if s != "" {
			t.Scopes = append(t.Scopes, reading.Scope(s))
		}
	}
	t.CreatedAt, t.ExpiresAt = ParseTime(created), ParseTime(expires)
	t.LastUsedAt, t.RevokedAt = ParseTime(used), ParseTime(revoked)
	return t, nil
}

// TokenScopes is the scopes column of a token: comma-separated.
func TokenScopes(t reading.Token) string {
	s := make([]string, len(t.Scopes))
	for i, v := range t.Scopes {
		s[i] = string(v)
	}
	return strings.Join(s, ",")
}

// ---- templates and reports ----

// TemplateCols are the columns ScanTemplate reads.
const TemplateCols = `id, name, modality, body_part, findings, impression, updated_at`

// ScanTemplate decodes a row of TemplateCols.
func ScanTemplate(row Scanner) (reading.Template, error) {
	var t reading.Template
	var upd string
	err := row.Scan(&t.ID, &t.Name, &t.Modality, &t.BodyPart, &t.Findings, &t.Impression, &upd)
	t.UpdatedAt = ParseTime(upd)
	return t, err
}

// ReportCols are the columns ScanReport reads.
const ReportCols = `id, study_uid, version, status, findings, impression, author_id, author_name, created_at,
	updated_at, COALESCE(signed_by, 0), signed_by_name, signed_at, amend_reason, sop_uid, submitted_at`

// ScanReport decodes a row of ReportCols. A draft submitted for review is kept as a draft
// with a submission time (SQLite's migration 0017) and read as preliminary.
func ScanReport(row Scanner) (reading.Report, error) {
	var rp reading.Report
	var status, created, updated, signed, submitted string
	err := row.Scan(&rp.ID, &rp.StudyUID, &rp.Version, &status, &rp.Findings, &rp.Impression, &rp.AuthorID,
		&rp.AuthorName, &created, &updated, &rp.SignedBy, &rp.SignedByName, &signed, &rp.AmendReason, &rp.SOPInstanceUID,
		&submitted)
	if err != nil {
		return reading.Report{}, err
	}
	rp.Status = reading.Status(status)
	rp.CreatedAt, rp.UpdatedAt, rp.SignedAt, rp.SubmittedAt = ParseTime(created), ParseTime(updated), ParseTime(signed), ParseTime(submitted)
	if rp.Status == reading.StatusDraft && !rp.SubmittedAt.IsZero() {
		rp.Status = reading.StatusPreliminary
	}
	return rp, nil
}

// CheckText checks a report's findings and impression: valid UTF-8 of at most
// reading.MaxReportText characters each.
func CheckText(findings, impression string) error {
	for _, s := range []string{findings, impression} {
		if !utf8.ValidString(s) || utf8.RuneCountInString(s) > reading.MaxReportText {
			return fmt.Errorf("report text must be valid UTF-8 of at most %d characters: %w", reading.MaxReportText, reading.ErrInvalid)
		}
	}
	return nil
}

// Amendment is the draft that amends cur, the latest report of studyUID as read in the
// amending transaction (err: the read's error, sql.ErrNoRows when there is no report): a
// conflict unless cur is signed.
func Amendment(cur reading.Report, err error, studyUID, reason string, author reading.User, at time.Time) (reading.Report, error) {
	if errors.Is(err, sql.ErrNoRows) {
		return reading.Report{}, fmt.Errorf("no report: %w", reading.ErrConflict)
	}
	if err != nil {
		return reading.Report{}, err
	}
	if !cur.Status.Signed() {
		return reading.Report{}, fmt.Errorf("version %d is still a draft: %w", cur.Version, reading.ErrConflict)
	}
	return reading.Report{StudyUID: studyUID, Version: cur.Version + 1, Status: reading.StatusDraft,
		Findings: cur.Findings, Impression: cur.Impression, AuthorID: author.ID, AuthorName: author.Name(),
		CreatedAt: at, UpdatedAt: at, AmendReason: reason}, nil
}

// AmendReason trims and checks the reason of an amendment: required, at most 1000
// characters.
func AmendReason(reason string) (string, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" || utf8.RuneCountInString(reason) > 1000 || !utf8.ValidString(reason) {
		return "", fmt.Errorf("amend: a reason of at most 1000 characters is required: %w", reading.ErrInvalid)
	}
	return reason, nil
}

// OpenVersion checks that cur, a study's latest report version, is the given version, in
// a state open says may go on, and not empty: ErrConflict for another version or state,
// ErrInvalid when empty.
func OpenVersion(cur reading.Report, version int, open func(reading.Status) bool) error {
	if cur.Version != version || !open(cur.Status) {
		return fmt.Errorf("version %d (%s) is not an open draft: %w", version, cur.Status, reading.ErrConflict)
	}
	if strings.TrimSpace(cur.Findings) == "" && strings.TrimSpace(cur.Impression) == "" {
		return fmt.Errorf("an empty report cannot be signed or submitted: %w", reading.ErrInvalid)
	}
	return nil
}

// SignedStatus is the status a signature gives a version: final for the first, amended
// after.
func SignedStatus(version int) reading.Status {
	if version > 1 {
		return reading.StatusAmended
	}
	return reading.StatusFinal
}

// ---- orders ----

// OrderCols are the columns ScanOrder reads.
const OrderCols = `id, site_id, patient_id, patient_name, patient_sex, birth_date, accession,
	requested_procedure_id, requested_procedure, procedure_code, modality, station_ae,
	scheduled_date, scheduled_time, performing_physician, study_uid, status, image_study_uid,
	created_by, created_at, updated_at`

// ScanOrder decodes a row of OrderCols.
func ScanOrder(s Scanner) (reading.Order, error) {
	var o reading.Order
	var status, created, updated string
	err := s.Scan(&o.ID, &o.SiteID, &o.PatientID, &o.PatientName, &o.PatientSex, &o.BirthDate,
		&o.AccessionNumber, &o.RequestedProcedureID, &o.RequestedProcedure, &o.ProcedureCode, &o.Modality,
		&o.StationAE, &o.ScheduledDate, &o.ScheduledTime, &o.PerformingPhysician, &o.StudyUID, &status,
		&o.ImageStudyUID, &o.CreatedBy, &created, &updated)
	o.Status, o.CreatedAt, o.UpdatedAt = reading.OrderStatus(status), ParseTime(created), ParseTime(updated)
	return o, err
}

// OrderRegistry is what CheckOrder looks an order's station and site up in.
type OrderRegistry interface {
	reading.PeerLookup
	Site(ctx context.Context, id int64) (reading.Site, error)
}

// CheckOrder normalizes o, fills the pinyin of a Chinese name and checks its station AE
// against the peers registry (and o's site against the peer's).
func CheckOrder(ctx context.Context, r OrderRegistry, o *reading.Order) error {
	if err := o.Normalize(); err != nil {
		return err
	}
	o.PatientName = WithPinyin(o.PatientName)
	p, ok, err := r.Peer(ctx, o.StationAE)
	if err != nil {
		return err
	}
	switch {
	case !ok:
		return &reading.FieldError{Field: "stationAE", Problem: reading.ProblemUnknown, Value: o.StationAE,
			Err: fmt.Errorf("no peer has this AE title: %w", reading.ErrInvalid)}
	case o.SiteID == 0:
		o.SiteID = p.SiteID
	case p.SiteID != 0 && p.SiteID != o.SiteID:
		return &reading.FieldError{Field: "stationAE", Problem: reading.ProblemSite, Value: o.StationAE,
			Err: fmt.Errorf("the AE belongs to another site: %w", reading.ErrInvalid)}
	}
	if o.SiteID != 0 {
		if _, err := r.Site(ctx, o.SiteID); err != nil {
			return NoSuchSite(o.SiteID)
		}
	}
	return nil
}

// OrderReader is an OrderRegistry that reads orders too (UpdatingOrder).
type OrderReader interface {
	OrderRegistry
	Order(ctx context.Context, id int64) (reading.Order, error)
}

// NewOrder readies o for CreateOrder's insert, as both engines do before it: a scheduled
// order, checked (CheckOrder), with a Study Instance UID (a new one when none is given)
// and its creation time.
func NewOrder(ctx context.Context, r OrderRegistry, o *reading.Order) error {
	o.ID, o.Status, o.ImageStudyUID = 0, reading.OrderScheduled, ""
	if err := CheckOrder(ctx, r, o); err != nil {
		return fmt.Errorf("create order: %w", err)
	}
	if o.StudyUID == "" {
		o.StudyUID = dicom.NewUID()
	}
	now := time.Now().UTC()
	o.CreatedAt, o.UpdatedAt = now, now
	return nil
}

// UpdatingOrder readies o for UpdateOrder's write, as both engines do before it: what an
// update cannot change is the stored order's (which it returns), the rest is checked
// (CheckOrder), and the update time set.
func UpdatingOrder(ctx context.Context, r OrderReader, o *reading.Order) (old reading.Order, err error) {
	old, err = r.Order(ctx, o.ID)
	if err != nil {
		return old, fmt.Errorf("update order: %w", err)
	}
	o.Status, o.StudyUID, o.ImageStudyUID, o.CreatedBy, o.CreatedAt = old.Status, old.StudyUID, old.ImageStudyUID, old.CreatedBy, old.CreatedAt
	if err := CheckOrder(ctx, r, o); err != nil {
		return old, fmt.Errorf("update order: %w", err)
	}
	o.UpdatedAt = time.Now().UTC()
	return old, nil
}

// OrdersQuery is the query of an order list in d's placeholders.
func OrdersQuery(f reading.OrderFilter, d Dialect) (string, []any) {
	where, args := OrderWhere(f, d.Ph)
	q := `SELECT ` + OrderCols + ` FROM orders`
	if where != "" {
		q += " WHERE " + where
	}
	q += " ORDER BY scheduled_date, scheduled_time, id"
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	return q, args
}

// CheckOrderStatus checks the status SetOrderStatus may set: any but done (which only the
// arrival of images sets).
func CheckOrderStatus(s reading.OrderStatus) error {
	if !s.Valid() || s == reading.OrderDone {
		return fmt.Errorf("set order status: %w", &reading.FieldError{Field: "status", Problem: reading.ProblemValue,
			Value: string(s), Err: reading.ErrInvalid})
	}
	return nil
}

// OrderWhere is the WHERE clause of an order list (without the word WHERE, "" for all)
// and its arguments; ph gives the placeholder of the nth argument (from 1).
func OrderWhere(f reading.OrderFilter, ph func(n int) string) (string, []any) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, cond+ph(len(args)))
	}
	if f.SiteID > 0 {
		add("site_id = ", f.SiteID)
	}
	if f.StationAE != "" {
		add("station_ae = ", f.StationAE)
	}
	if f.Modality != "" {
		add("modality = ", f.Modality)
	}
	if f.PatientID != "" {
		add("patient_id = ", f.PatientID)
	}
	if f.Accession != "" {
		add("accession = ", f.Accession)
	}
	if f.DateFrom != "" {
		add("scheduled_date >= ", f.DateFrom)
	}
	if f.DateTo != "" {
		add("scheduled_date <= ", f.DateTo)
	}
	if len(f.Statuses) > 0 {
		marks := make([]string, len(f.Statuses))
		for i, s := range f.Statuses {
			args = append(args, string(s))
			marks[i] = ph(len(args))
		}
		where = append(where, "status IN ("+strings.Join(marks, ", ")+")")
	}
	return strings.Join(where, " AND "), args
}

// WithPinyin fills the alphabetic group of a PN whose ideographic group is Chinese and
// whose alphabetic group is empty: "=张^三" becomes "Zhang^San=张^三" (each component's
// characters in their common reading, capitalised, run together), so that consoles without
// Chinese fonts show a readable name.
func WithPinyin(pn string) string {
	alpha, rest, ok := strings.Cut(pn, "=")
	if !ok || alpha != "" {
		return pn
	}
	ideo, _, _ := strings.Cut(rest, "=")
	comps := strings.Split(ideo, "^")
	for i, c := range comps {
		var b strings.Builder
		for _, r := range c {
			if !unicode.Is(unicode.Han, r) {
				b.WriteRune(r)
				continue
			}
			rd := pinyin.SinglePinyin(r, pinyin.Args{Style: pinyin.Normal})
			if len(rd) == 0 {
				continue
			}
			if b.Len() == 0 {
				b.WriteString(strings.ToUpper(rd[0][:1]) + rd[0][1:])
			} else {
				b.WriteString(rd[0])
			}
		}
		comps[i] = b.String()
	}
	return strings.Join(comps, "^") + pn
}

// ---- the dashboard ----

// Days counts each site's work by day for the dashboard.
type Days map[[2]string]*reading.DayCount

// Add counts received and reported studies of site on day.
func (d Days) Add(day string, site int64, received, reported int) {
	k := [2]string{day, fmt.Sprint(site)}
	c, ok := d[k]
	if !ok {
		c = &reading.DayCount{Day: day, SiteID: site}
		d[k] = c
	}
	c.Received += received
	c.Reported += reported
}

// List is the counts by day, then site.
func (d Days) List() []reading.DayCount {
	var out []reading.DayCount
	for _, c := range d {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b reading.DayCount) int {
		return cmp.Or(cmp.Compare(a.Day, b.Day), cmp.Compare(a.SiteID, b.SiteID))
	})
	return out
}

// Turnarounds fills the period's receipt-to-first-signature figures from the (received,
// first signed) times of the studies signed in it.
func Turnarounds(out *reading.Turnaround, pairs [][2]string) {
	var ds []time.Duration
	for _, p := range pairs {
		ta, tb := ParseTime(p[0]), ParseTime(p[1])
		if !ta.IsZero() && !tb.IsZero() {
			ds = append(ds, max(tb.Sub(ta), 0))
		}
	}
	slices.Sort(ds)
	out.Reported = len(ds)
	out.Median, out.P90 = Percentile(ds, 50), Percentile(ds, 90)
}

// TurnaroundCounts fills out's counts of received and first signed studies per local day
// and site, the receipt-to-signature times (Turnarounds) and the unread backlog for
// [from, to): the flow and queries of both engines but for the local day, which dayCounts
// writes: the engine's query (with its arguments) of (day, site ID or 0, count) rows of the
// studies whose col (received_at or final_at) falls in the period.
func TurnaroundCounts(ctx context.Context, db Queryer, mapErr ErrMapper, d Dialect, out *reading.Turnaround,
	from, to time.Time, dayCounts func(col string) (string, []any)) error {
	type dayRow struct {
		day  string
		site int64
		n    int
	}
	scanDay := func(r Scanner) (dayRow, error) {
		var v dayRow
		err := r.Scan(&v.day, &v.site, &v.n)
		return v, err
	}
	days := Days{}
	for _, q := range []struct {
		col                string
		received, reported int
	}{{"received_at", 1, 0}, {"final_at", 0, 1}} {
		sqlText, args := dayCounts(q.col)
		err := EachRow(ctx, db, mapErr, "turnaround", sqlText, args, scanDay, func(v dayRow) error {
			days.Add(v.day, v.site, v.n*q.received, v.n*q.reported)
			return nil
		})
		if err != nil {
			return err
		}
	}
	out.Days = days.List()

	pairs, err := QueryAll(ctx, db, mapErr, "turnaround", func(s Scanner) ([2]string, error) {
		var p [2]string
		err := s.Scan(&p[0], &p[1])
		return p, err
	}, `SELECT received_at, final_at FROM reading_studies WHERE final_at >= `+d.Ph(1)+` AND final_at < `+d.Ph(2)+
		` AND final_at <> ''`, FormatTime(from), FormatTime(to))
	if err != nil {
		return err
	}
	Turnarounds(out, pairs)

	// Studies held in quarantine are nobody's work until an administrator assigns them.
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM reading_studies WHERE status = 'unread' AND quarantined = 0`).
		Scan(&out.UnreadCount); err != nil {
		return mapErr("turnaround", err)
	}
	return nil
}

// Percentile is the nearest-rank percentile of sorted durations (0 for none).
func Percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n)
	return sorted[max(rank, 1)-1]
}
