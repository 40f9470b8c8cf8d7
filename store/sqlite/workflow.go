package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"pacsd/reading"
	"pacsd/store/sqldb"
)

// The reading room's workflow (reading.Workflow, migration 0017_workflow.sql): critical
// findings, claims, review submission, phrases and settings.

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
	q, args := sqldb.CriticalQuery(f)
	return queryAll(ctx, r.x.r, "critical findings", sqldb.ScanCritical, q, args...)
}

func (r *Reading) CriticalFinding(ctx context.Context, id int64) (reading.CriticalFinding, error) {
	f, err := sqldb.ScanCritical(r.x.r.QueryRowContext(ctx, sqldb.CriticalSelect+"WHERE cf.id = ?", id))
	if err != nil {
		return reading.CriticalFinding{}, readingErr(fmt.Sprintf("critical finding %d", id), err)
	}
	return f, nil
}

func (r *Reading) AcknowledgeCritical(ctx context.Context, id int64, by reading.User, informed string, at time.Time) (reading.CriticalFinding, error) {
	informed, err := sqldb.Informed(informed)
	if err != nil {
		return reading.CriticalFinding{}, fmt.Errorf("acknowledge critical finding: %w", err)
	}
	err = r.x.write(ctx, func(tx *sql.Tx) error {
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
	rows, err := queryAll(ctx, r.x.r, "critical stats", sqldb.ScanCritical, sqldb.CriticalSelect+
		"WHERE cf.flagged_at >= ? AND cf.flagged_at < ? ORDER BY cf.flagged_at", fmtTime(from), fmtTime(to))
	if err != nil {
		return nil, err
	}
	return sqldb.CriticalStats(rows), nil
}

// ---- claims ----

func (r *Reading) ClaimStudy(ctx context.Context, studyUID string, u reading.User, at time.Time, ttl time.Duration) (reading.Claim, error) {
	out, err := sqldb.NewClaim(studyUID, u, at, ttl)
	if err != nil {
		return reading.Claim{}, fmt.Errorf("claim %s: %w", studyUID, err)
	}
	err = r.x.write(ctx, func(tx *sql.Tx) error {
		cur, err := sqldb.ScanClaim(tx.QueryRow(`SELECT `+sqldb.ClaimCols+` FROM study_claims WHERE study_uid = ?`, studyUID))
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
		cs, err := queryAll(ctx, r.x.r, "claims", sqldb.ScanClaim, `SELECT `+sqldb.ClaimCols+` FROM study_claims WHERE expires_at > ? AND study_uid IN (?`+strings.Repeat(",?", n-1)+`)`, args...)
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

func (r *Reading) Phrases(ctx context.Context, userID int64) ([]reading.Phrase, error) {
	return queryAll(ctx, r.x.r, "phrases", sqldb.ScanPhrase, `SELECT `+sqldb.PhraseCols+` FROM phrases WHERE owner_id IN (0, ?) ORDER BY grp, owner_id, text`, userID)
}

func (r *Reading) Phrase(ctx context.Context, id int64) (reading.Phrase, error) {
	p, err := sqldb.ScanPhrase(r.x.r.QueryRowContext(ctx, `SELECT `+sqldb.PhraseCols+` FROM phrases WHERE id = ?`, id))
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

func (r *Reading) Setting(ctx context.Context, key string) (string, error) {
	if err := sqldb.CheckWorkflowSetting(key); err != nil {
		return "", err
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
	if err := sqldb.CheckWorkflowSetting(key); err != nil {
		return err
	}
	return r.exec(ctx, "put setting "+key, `INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)`, key, value)
}
