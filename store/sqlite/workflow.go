package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"pacsd/reading"
)

// The reading room's workflow (reading.Workflow, migration 0017_workflow.sql): critical
// findings, claims, review submission, phrases and settings.

const criticalSelect = `SELECT cf.id, cf.study_uid, cf.category, cf.text, cf.flagged_by, cf.flagged_by_name,
	cf.flagged_at, COALESCE(cf.ack_by, 0), cf.ack_by_name, cf.ack_at, cf.informed, COALESCE(rs.site_id, 0),
	COALESCE(st.patient_name, ''), COALESCE(st.patient_id, '')
	FROM critical_findings cf LEFT JOIN reading_studies rs ON rs.study_uid = cf.study_uid
	LEFT JOIN studies st ON st.id = rs.study_pk `

func scanCritical(row interface{ Scan(...any) error }) (reading.CriticalFinding, error) {
	var f reading.CriticalFinding
	var flagged, ack string
	if err := row.Scan(&f.ID, &f.StudyUID, &f.Category, &f.Text, &f.FlaggedBy, &f.FlaggedByName, &flagged,
		&f.AckBy, &f.AckByName, &ack, &f.Informed, &f.SiteID, &f.PatientName, &f.PatientID); err != nil {
		return reading.CriticalFinding{}, err
	}
	f.FlaggedAt, f.AckAt = parseTime(flagged), parseTime(ack)
	return f, nil
}

func (r *Reading) FlagCritical(ctx context.Context, f reading.CriticalFinding) (reading.CriticalFinding, error) {
	if err := f.Validate(); err != nil {
		return reading.CriticalFinding{}, fmt.Errorf("flag critical finding: %w", err)
	}
	err := r.x.write(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRow(`SELECT count(*) FROM reading_studies WHERE study_uid = ?`, f.StudyUID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("study %s: %w", f.StudyUID, reading.ErrNotFound)
		}
		res, err := tx.Exec(`INSERT INTO critical_findings (study_uid, category, text, flagged_by, flagged_by_name,
			flagged_at) VALUES (?,?,?,?,?,?)`, f.StudyUID, f.Category, f.Text, f.FlaggedBy, f.FlaggedByName, fmtTime(f.FlaggedAt))
		if err != nil {
			return err
		}
		f.ID, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return reading.CriticalFinding{}, readingErr("flag critical finding", err)
	}
	return r.CriticalFinding(ctx, f.ID)
}

func (r *Reading) CriticalFindings(ctx context.Context, f reading.CriticalFilter) ([]reading.CriticalFinding, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	var where []string
	var args []any
	if f.SiteID != 0 {
		where, args = append(where, "rs.site_id = ?"), append(args, f.SiteID)
	}
	if f.StudyUID != "" {
		where, args = append(where, "cf.study_uid = ?"), append(args, f.StudyUID)
	}
	if f.Open {
		where = append(where, "cf.ack_at = ''")
	}
	if !f.Since.IsZero() {
		where, args = append(where, "cf.flagged_at >= ?"), append(args, fmtTime(f.Since))
	}
	q := criticalSelect
	if len(where) > 0 {
		q += "WHERE " + strings.Join(where, " AND ")
	}
	return queryAll(ctx, r.x.r, "critical findings", scanCritical, q+" ORDER BY cf.flagged_at DESC, cf.id DESC LIMIT ?",
		append(args, limit)...)
}

func (r *Reading) CriticalFinding(ctx context.Context, id int64) (reading.CriticalFinding, error) {
	f, err := scanCritical(r.x.r.QueryRowContext(ctx, criticalSelect+"WHERE cf.id = ?", id))
	if err != nil {
		return reading.CriticalFinding{}, readingErr(fmt.Sprintf("critical finding %d", id), err)
	}
	return f, nil
}

func (r *Reading) AcknowledgeCritical(ctx context.Context, id int64, by reading.User, informed string, at time.Time) (reading.CriticalFinding, error) {
	informed = strings.TrimSpace(informed)
	if informed == "" || !utf8.ValidString(informed) || utf8.RuneCountInString(informed) > reading.MaxInformed {
		return reading.CriticalFinding{}, fmt.Errorf("acknowledge critical finding: %w",
			&reading.FieldError{Field: "informed", Problem: reading.ProblemRequired, Err: reading.ErrInvalid})
	}
	err := r.x.write(ctx, func(tx *sql.Tx) error {
		var ack string
		if err := tx.QueryRow(`SELECT ack_at FROM critical_findings WHERE id = ?`, id).Scan(&ack); err != nil {
			return err
		}
		if ack != "" {
			return fmt.Errorf("acknowledged already: %w", reading.ErrConflict)
		}
		_, err := tx.Exec(`UPDATE critical_findings SET ack_by = ?, ack_by_name = ?, ack_at = ?, informed = ? WHERE id = ?`,
			by.ID, by.Name(), fmtTime(at), informed, id)
		return err
	})
	if err != nil {
		return reading.CriticalFinding{}, readingErr(fmt.Sprintf("acknowledge critical finding %d", id), err)
	}
	return r.CriticalFinding(ctx, id)
}

func (r *Reading) CriticalStats(ctx context.Context, from, to time.Time) ([]reading.CriticalSiteStats, error) {
	rows, err := queryAll(ctx, r.x.r, "critical stats", scanCritical, criticalSelect+
		"WHERE cf.flagged_at >= ? AND cf.flagged_at < ? ORDER BY cf.flagged_at", fmtTime(from), fmtTime(to))
	if err != nil {
		return nil, err
	}
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
	return out, nil
}

// median of sorted durations (the mean of the middle two for an even count).
func median(w []time.Duration) time.Duration {
	n := len(w)
	if n%2 == 1 {
		return w[n/2]
	}
	return (w[n/2-1] + w[n/2]) / 2
}

// ---- claims ----

func scanClaim(row interface{ Scan(...any) error }) (reading.Claim, error) {
	var c reading.Claim
	var claimed, expires string
	if err := row.Scan(&c.StudyUID, &c.UserID, &c.UserName, &claimed, &expires); err != nil {
		return reading.Claim{}, err
	}
	c.ClaimedAt, c.ExpiresAt = parseTime(claimed), parseTime(expires)
	return c, nil
}

func (r *Reading) ClaimStudy(ctx context.Context, studyUID string, u reading.User, at time.Time, ttl time.Duration) (reading.Claim, error) {
	if ttl <= 0 || u.ID == 0 {
		return reading.Claim{}, fmt.Errorf("claim %s: a user and a positive time to live: %w", studyUID, reading.ErrInvalid)
	}
	out := reading.Claim{StudyUID: studyUID, UserID: u.ID, UserName: u.Name(), ClaimedAt: at, ExpiresAt: at.Add(ttl)}
	err := r.x.write(ctx, func(tx *sql.Tx) error {
		cur, err := scanClaim(tx.QueryRow(`SELECT study_uid, user_id, user_name, claimed_at, expires_at
			FROM study_claims WHERE study_uid = ?`, studyUID))
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		case cur.UserID == u.ID && cur.ExpiresAt.After(at):
			out.ClaimedAt = cur.ClaimedAt // a renewal keeps the claim's start
		case cur.ExpiresAt.After(at):
			return &reading.ClaimedError{Claim: cur}
		}
		_, err = tx.Exec(`INSERT OR REPLACE INTO study_claims (study_uid, user_id, user_name, claimed_at, expires_at)
			VALUES (?,?,?,?,?)`, studyUID, u.ID, out.UserName, fmtTime(out.ClaimedAt), fmtTime(out.ExpiresAt))
		return err
	})
	if err != nil {
		var ce *reading.ClaimedError
		if errors.As(err, &ce) {
			return reading.Claim{}, err // its holder is what the caller shows
		}
		return reading.Claim{}, readingErr("claim "+studyUID, err)
	}
	return out, nil
}

func (r *Reading) ReleaseClaim(ctx context.Context, studyUID string, userID int64) error {
	return r.exec(ctx, "release claim "+studyUID, `DELETE FROM study_claims WHERE study_uid = ? AND user_id = ?`, studyUID, userID)
}

func (r *Reading) Claims(ctx context.Context, studyUIDs []string, at time.Time) (map[string]reading.Claim, error) {
	out := map[string]reading.Claim{}
	for len(studyUIDs) > 0 {
		n := min(len(studyUIDs), 500) // SQLite's bound on variables, with room to spare
		args := []any{fmtTime(at)}
		for _, u := range studyUIDs[:n] {
			args = append(args, u)
		}
		cs, err := queryAll(ctx, r.x.r, "claims", scanClaim, `SELECT study_uid, user_id, user_name, claimed_at, expires_at
			FROM study_claims WHERE expires_at > ? AND study_uid IN (?`+strings.Repeat(",?", n-1)+`)`, args...)
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			out[c.StudyUID] = c
		}
		studyUIDs = studyUIDs[n:]
	}
	return out, nil
}

// ---- review ----

func (r *Reading) SubmitReport(ctx context.Context, studyUID string, version int, author reading.User, at time.Time) (reading.Report, error) {
	var out reading.Report
	err := r.x.write(ctx, func(tx *sql.Tx) error {
		// Only a draft not yet submitted: a second submission is a conflict.
		cur, err := openVersion(tx, studyUID, version, func(s reading.Status) bool { return s == reading.StatusDraft })
		if err != nil {
			return err
		}
		if _, err := tx.Exec(`UPDATE reports SET submitted_at = ?, author_id = ?, author_name = ?, updated_at = ?
			WHERE id = ?`, fmtTime(at), author.ID, author.Name(), fmtTime(at), cur.ID); err != nil {
			return err
		}
		out = cur
		out.Status, out.SubmittedAt, out.AuthorID, out.AuthorName, out.UpdatedAt =
			reading.StatusPreliminary, at, author.ID, author.Name(), at
		return refreshStatus(tx, studyUID)
	})
	if err != nil {
		return reading.Report{}, readingErr("submit "+studyUID, err)
	}
	return out, nil
}

// ---- phrases ----

func scanPhrase(row interface{ Scan(...any) error }) (reading.Phrase, error) {
	var p reading.Phrase
	err := row.Scan(&p.ID, &p.OwnerID, &p.Group, &p.Text)
	return p, err
}

func (r *Reading) Phrases(ctx context.Context, userID int64) ([]reading.Phrase, error) {
	return queryAll(ctx, r.x.r, "phrases", scanPhrase, `SELECT id, owner_id, grp, text FROM phrases
		WHERE owner_id IN (0, ?) ORDER BY grp, owner_id, text`, userID)
}

func (r *Reading) Phrase(ctx context.Context, id int64) (reading.Phrase, error) {
	p, err := scanPhrase(r.x.r.QueryRowContext(ctx, `SELECT id, owner_id, grp, text FROM phrases WHERE id = ?`, id))
	if err != nil {
		return reading.Phrase{}, readingErr(fmt.Sprintf("phrase %d", id), err)
	}
	return p, nil
}

func (r *Reading) PutPhrase(ctx context.Context, p reading.Phrase) (reading.Phrase, error) {
	if err := p.Validate(); err != nil {
		return reading.Phrase{}, fmt.Errorf("put phrase: %w", err)
	}
	err := r.x.write(ctx, func(tx *sql.Tx) error {
		if p.ID == 0 {
			res, err := tx.Exec(`INSERT INTO phrases (owner_id, grp, text) VALUES (?,?,?)`, p.OwnerID, p.Group, p.Text)
			if err != nil {
				return err
			}
			p.ID, err = res.LastInsertId()
			return err
		}
		return execExisting(tx, reading.ErrNotFound, `UPDATE phrases SET owner_id = ?, grp = ?, text = ? WHERE id = ?`,
			p.OwnerID, p.Group, p.Text, p.ID)
	})
	if err != nil {
		return reading.Phrase{}, readingErr("put phrase", err)
	}
	return p, nil
}

func (r *Reading) DeletePhrase(ctx context.Context, id int64) error {
	err := r.x.write(ctx, func(tx *sql.Tx) error {
		return execExisting(tx, reading.ErrNotFound, `DELETE FROM phrases WHERE id = ?`, id)
	})
	if err != nil {
		return readingErr(fmt.Sprintf("delete phrase %d", id), err)
	}
	return nil
}

// ---- settings ----

// workflowSettings are the keys Setting and PutSetting accept: the settings table also
// holds the index's own facts, which the reading room must not touch.
var workflowSettings = []string{reading.SettingReview, reading.SettingTemplatesSeeded}

func (r *Reading) Setting(ctx context.Context, key string) (string, error) {
	if !slices.Contains(workflowSettings, key) {
		return "", fmt.Errorf("setting %q: %w", key, reading.ErrInvalid)
	}
	var v string
	err := r.x.r.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", readingErr("setting "+key, err)
	}
	return v, nil
}

func (r *Reading) PutSetting(ctx context.Context, key, value string) error {
	if !slices.Contains(workflowSettings, key) {
		return fmt.Errorf("setting %q: %w", key, reading.ErrInvalid)
	}
	return r.exec(ctx, "put setting "+key, `INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)`, key, value)
}
