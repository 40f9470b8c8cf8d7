package sqldb

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"pacsd/reading"
)

// The reading room's features (annotations, key images, critical findings, claims, phrases,
// share links): the columns both engines select, the row decoders, and the rules that do
// not depend on the engine. Both schemas keep the same tables and column names; only the
// statements' placeholders and the engines' own clauses differ.

// AnnotationSetCols are the columns ScanAnnotationSet reads, from annotation_sets.
const AnnotationSetCols = `study_uid, version, items, updated_by, updated_by_name, updated_at, sop_uid, series_uid`

// ScanAnnotationSet decodes a row of AnnotationSetCols: the items are kept as JSON.
func ScanAnnotationSet(row Scanner) (reading.AnnotationSet, error) {
	var s reading.AnnotationSet
	var items, at string
	if err := row.Scan(&s.StudyUID, &s.Version, &items, &s.UpdatedBy, &s.UpdatedByName, &at, &s.SOPInstanceUID,
		&s.SeriesUID); err != nil {
		return reading.AnnotationSet{}, err
	}
	if err := json.Unmarshal([]byte(items), &s.Items); err != nil {
		return reading.AnnotationSet{}, fmt.Errorf("stored annotations: %w", err)
	}
	if s.Items == nil {
		s.Items = []reading.Annotation{}
	}
	s.UpdatedAt = ParseTime(at)
	return s, nil
}

// ReadAnnotationSet is the set of studyUID a query of AnnotationSetCols finds: version 0
// and no items when it finds no row (nothing saved yet).
func ReadAnnotationSet(row Scanner, studyUID string) (reading.AnnotationSet, error) {
	s, err := ScanAnnotationSet(row)
	if errors.Is(err, sql.ErrNoRows) {
		return reading.AnnotationSet{StudyUID: studyUID, Items: []reading.Annotation{}}, nil
	}
	return s, err
}

// AnnotationItems checks items for SaveAnnotations and gives their stored JSON (an empty
// set is [], never null).
func AnnotationItems(items []reading.Annotation) ([]reading.Annotation, string, error) {
	if err := reading.CheckAnnotations(items); err != nil {
		return nil, "", err
	}
	if items == nil {
		items = []reading.Annotation{}
	}
	body, err := json.Marshal(items)
	if err != nil {
		return nil, "", err
	}
	return items, string(body), nil
}

// KeySetCols are the columns ScanKeySet reads, from key_image_sets.
const KeySetCols = `study_uid, revision, images, object_uid, series_uid`

// ScanKeySet decodes a row of KeySetCols: the images are kept as JSON.
func ScanKeySet(row Scanner) (reading.KeySet, error) {
	var s reading.KeySet
	var images string
	if err := row.Scan(&s.StudyUID, &s.Revision, &images, &s.ObjectUID, &s.SeriesUID); err != nil {
		return reading.KeySet{}, err
	}
	if err := json.Unmarshal([]byte(images), &s.Images); err != nil {
		return reading.KeySet{}, fmt.Errorf("stored key images: %w", err)
	}
	return s, nil
}

// ReadKeySet is the set of studyUID a query of KeySetCols finds: revision 0 and no images
// when it finds no row (nothing marked yet).
func ReadKeySet(row Scanner, studyUID string) (reading.KeySet, error) {
	s, err := ScanKeySet(row)
	if errors.Is(err, sql.ErrNoRows) {
		s, err = reading.KeySet{StudyUID: studyUID}, nil
	}
	if s.Images == nil {
		s.Images = []reading.KeyImage{}
	}
	return s, err
}

// KeyImagesBody checks s for SetKeyImages, gives it a non-nil list and returns the list's
// stored JSON.
func KeyImagesBody(s *reading.KeySet) (string, error) {
	if err := s.Validate(); err != nil {
		return "", err
	}
	if s.Images == nil {
		s.Images = []reading.KeyImage{}
	}
	body, err := json.Marshal(s.Images)
	if err != nil {
		return "", err
	}
	return string(body), nil
}

// CriticalSelect reads findings with their study's site and patient (a finding outlives
// neither, but the joins are outer so that a study deleted since still lists its findings);
// a WHERE clause follows.
const CriticalSelect = `SELECT cf.id, cf.study_uid, cf.category, cf.text, cf.flagged_by, cf.flagged_by_name,
	cf.flagged_at, COALESCE(cf.ack_by, 0), cf.ack_by_name, cf.ack_at, cf.informed, COALESCE(rs.site_id, 0),
	COALESCE(st.patient_name, ''), COALESCE(st.patient_id, '')
	FROM critical_findings cf LEFT JOIN reading_studies rs ON rs.study_uid = cf.study_uid
	LEFT JOIN studies st ON st.id = rs.study_pk `

// ScanCritical decodes a row of CriticalSelect.
func ScanCritical(row Scanner) (reading.CriticalFinding, error) {
	var f reading.CriticalFinding
	var flagged, ack string
	if err := row.Scan(&f.ID, &f.StudyUID, &f.Category, &f.Text, &f.FlaggedBy, &f.FlaggedByName, &flagged,
		&f.AckBy, &f.AckByName, &ack, &f.Informed, &f.SiteID, &f.PatientName, &f.PatientID); err != nil {
		return reading.CriticalFinding{}, err
	}
	f.FlaggedAt, f.AckAt = ParseTime(flagged), ParseTime(ack)
	return f, nil
}

// CriticalWhere is the WHERE clause of a findings list under f (without the word WHERE,
// "" for all findings) and its arguments; ph gives the placeholder of the nth argument
// (from 1).
func CriticalWhere(f reading.CriticalFilter, ph func(n int) string) (string, []any) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, cond+ph(len(args)))
	}
	if f.SiteID != 0 {
		add("rs.site_id = ", f.SiteID)
	}
	if f.StudyUID != "" {
		add("cf.study_uid = ", f.StudyUID)
	}
	if f.Open {
		where = append(where, "cf.ack_at = ''")
	}
	if !f.Since.IsZero() {
		add("cf.flagged_at >= ", FormatTime(f.Since))
	}
	return strings.Join(where, " AND "), args
}

// CriticalQuery is the query of a findings list under f ('?' placeholders), newest first.
func CriticalQuery(f reading.CriticalFilter) (string, []any) {
	where, args := CriticalWhere(f, func(int) string { return "?" })
	q := CriticalSelect
	if where != "" {
		q += "WHERE " + where
	}
	return q + " ORDER BY cf.flagged_at DESC, cf.id DESC LIMIT " + strconv.Itoa(CriticalLimit(f)), args
}

// CriticalLimit is the number of findings one CriticalFindings call lists: the filter's,
// 100 by default, at most 1000.
func CriticalLimit(f reading.CriticalFilter) int {
	if f.Limit <= 0 {
		return 100
	}
	return min(f.Limit, 1000)
}

// Informed checks and trims the acknowledgement's "whom the site informed", which is
// required.
func Informed(informed string) (string, error) {
	informed = strings.TrimSpace(informed)
	if informed == "" || !utf8.ValidString(informed) || utf8.RuneCountInString(informed) > reading.MaxInformed {
		return "", &reading.FieldError{Field: "informed", Problem: reading.ProblemRequired, Err: reading.ErrInvalid}
	}
	return informed, nil
}

// CriticalStats are each site's figures from the findings flagged in a period, by site.
func CriticalStats(rows []reading.CriticalFinding) []reading.CriticalSiteStats {
	bySite := map[int64]*reading.CriticalSiteStats{}
	waits := map[int64][]time.Duration{}
	var order []int64
	for _, f := range rows {
		s := bySite[f.SiteID]
		if s == nil {
			s = &reading.CriticalSiteStats{SiteID: f.SiteID}
			bySite[f.SiteID] = s
			order = append(order, f.SiteID)
		}
		s.Flagged++
		if !f.Acknowledged() {
			s.Open++
			continue
		}
		s.Acknowledged++
		waits[f.SiteID] = append(waits[f.SiteID], f.AckAt.Sub(f.FlaggedAt))
	}
	slices.Sort(order)
	out := make([]reading.CriticalSiteStats, 0, len(order))
	for _, id := range order {
		s := bySite[id]
		if w := waits[id]; len(w) > 0 {
			slices.Sort(w)
			s.Median, s.Max = median(w), w[len(w)-1]
		}
		out = append(out, *s)
	}
	return out
}

// median of sorted durations (the mean of the middle two for an even count).
func median(w []time.Duration) time.Duration {
	n := len(w)
	if n%2 == 1 {
		return w[n/2]
	}
	return (w[n/2-1] + w[n/2]) / 2
}

// ClaimCols are the columns ScanClaim reads, from study_claims.
const ClaimCols = `study_uid, user_id, user_name, claimed_at, expires_at`

// ScanClaim decodes a row of ClaimCols.
func ScanClaim(row Scanner) (reading.Claim, error) {
	var c reading.Claim
	var claimed, expires string
	if err := row.Scan(&c.StudyUID, &c.UserID, &c.UserName, &claimed, &expires); err != nil {
		return reading.Claim{}, err
	}
	c.ClaimedAt, c.ExpiresAt = ParseTime(claimed), ParseTime(expires)
	return c, nil
}

// NewClaim is the claim ClaimStudy asks for: u's on the study from at for ttl.
func NewClaim(studyUID string, u reading.User, at time.Time, ttl time.Duration) (reading.Claim, error) {
	if ttl <= 0 || u.ID == 0 {
		return reading.Claim{}, fmt.Errorf("a user and a positive time to live: %w", reading.ErrInvalid)
	}
	return reading.Claim{StudyUID: studyUID, UserID: u.ID, UserName: u.Name(), ClaimedAt: at, ExpiresAt: at.Add(ttl)}, nil
}

// PhraseCols are the columns ScanPhrase reads, from phrases.
const PhraseCols = `id, owner_id, grp, text`

// ScanPhrase decodes a row of PhraseCols.
func ScanPhrase(row Scanner) (reading.Phrase, error) {
	var p reading.Phrase
	err := row.Scan(&p.ID, &p.OwnerID, &p.Group, &p.Text)
	return p, err
}

// WorkflowSettings are the keys the reading room's Setting and PutSetting accept: the
// settings table also holds the index's own facts, which the reading room must not touch.
var WorkflowSettings = []string{reading.SettingReview, reading.SettingTemplatesSeeded}

// CheckWorkflowSetting refuses a key that is not one of WorkflowSettings.
func CheckWorkflowSetting(key string) error {
	if !slices.Contains(WorkflowSettings, key) {
		return fmt.Errorf("setting %q: %w", key, reading.ErrInvalid)
	}
	return nil
}

// ShareCols are the columns ScanShare reads, from share_links.
const ShareCols = `id, token_hash, study_uid, site_id, kind, verify, answer, created_by, created_name,
	created_at, expires_at, revoked_at, attempts, opens, last_open_at, nonce, on_report`

// ScanShare decodes a row of ShareCols.
func ScanShare(row Scanner) (reading.ShareLink, error) {
	var l reading.ShareLink
	var created, expires, revoked, opened string
	if err := row.Scan(&l.ID, &l.TokenHash, &l.StudyUID, &l.SiteID, &l.Kind, &l.Verify, &l.Answer, &l.CreatedBy,
		&l.CreatedName, &created, &expires, &revoked, &l.Attempts, &l.Opens, &opened, &l.Nonce, &l.OnReport); err != nil {
		return reading.ShareLink{}, err
	}
	l.CreatedAt, l.ExpiresAt, l.RevokedAt, l.LastOpenAt = ParseTime(created), ParseTime(expires), ParseTime(revoked), ParseTime(opened)
	return l, nil
}

// NewShare readies a link for CreateShare: created now unless said, checked, and with
// nothing of a link's later life (attempts, openings, revocation).
func NewShare(l reading.ShareLink) (reading.ShareLink, error) {
	if l.CreatedAt.IsZero() {
		l.CreatedAt = time.Now()
	}
	if err := l.Validate(); err != nil {
		return reading.ShareLink{}, err
	}
	l.Attempts, l.Opens, l.RevokedAt, l.LastOpenAt = 0, 0, time.Time{}, time.Time{}
	return l, nil
}

// ShareWhere is the WHERE clause of a share link list (without the word WHERE, "" for all
// links) and its arguments; ph gives the placeholder of the nth argument (from 1), since
// the engines write them differently. The search is a substring of the study UID or the
// creator's name, ASCII case ignored (as SQLite's LIKE does), with LIKE's own characters
// escaped by backslash: caseless is the engine's expression of a column with its ASCII
// letters in lower case (SQLite's LIKE needs none).
func ShareWhere(f reading.ShareFilter, ph func(n int) string, caseless func(col string) string) (string, []any) {
	var where []string
	var args []any
	if f.StudyUID != "" {
		args = append(args, f.StudyUID)
		where = append(where, `study_uid = `+ph(len(args)))
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		like := "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(FoldKey(q)) + "%"
		args = append(args, like, like)
		where = append(where, `(`+caseless("study_uid")+` LIKE `+ph(len(args)-1)+` ESCAPE '\' OR `+
			caseless("created_name")+` LIKE `+ph(len(args))+` ESCAPE '\')`)
	}
	if f.Active {
		args = append(args, FormatTime(f.Now))
		where = append(where, `revoked_at = '' AND expires_at > `+ph(len(args)))
	}
	return strings.Join(where, ` AND `), args
}

// ShareLimit is the number of links one Shares call lists: the filter's, 100 by default.
func ShareLimit(f reading.ShareFilter) int {
	if f.Limit <= 0 {
		return 100
	}
	return f.Limit
}

// ScanShareCount decodes a row of site_id, the count of links and the sum of openings.
func ScanShareCount(row Scanner) (reading.ShareCount, error) {
	var c reading.ShareCount
	err := row.Scan(&c.SiteID, &c.Links, &c.Opens)
	return c, err
}
