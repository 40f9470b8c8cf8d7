package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"pacsd/reading"
	"pacsd/store/sqldb"
)

// The reading room's workflow (reading.Workflow, migration 0004_reading_features.sql):
// critical findings, claims, review submission, phrases and settings. Where two nodes may
// act on one row at once (a claim, an acknowledgement) the decision is one statement's
// condition, which PostgreSQL re-checks on the row it waited for, so that one of them wins.

func (r *Reading) FlagCritical(ctx context.Context, f reading.CriticalFinding) (reading.CriticalFinding, error) {
	if err := f.Validate(); err != nil {
		return reading.CriticalFinding{}, fmt.Errorf("flag critical finding: %w", err)
	}
	// Inserted from the study's reading row: no row, no finding.
	err := r.x.db.QueryRowContext(ctx, `INSERT INTO critical_findings (study_uid, category, text, flagged_by,
		flagged_by_name, flagged_at) SELECT study_uid, $2, $3, $4, $5, $6 FROM reading_studies WHERE study_uid = $1
		RETURNING id`, f.StudyUID, f.Category, f.Text, f.FlaggedBy, f.FlaggedByName, sqldb.FormatTime(f.FlaggedAt)).Scan(&f.ID)
	if errors.Is(err, sql.ErrNoRows) {
		err = fmt.Errorf("study %s: %w", f.StudyUID, reading.ErrNotFound)
	}
	if err != nil {
		return reading.CriticalFinding{}, readingErr("flag critical finding", err)
	}
	return r.CriticalFinding(ctx, f.ID)
}

func (r *Reading) CriticalFindings(ctx context.Context, f reading.CriticalFilter) ([]reading.CriticalFinding, error) {
	q, args := sqldb.CriticalQuery(f)
	return queryAll(ctx, r.x.db, "critical findings", sqldb.ScanCritical, dollar(q), args...)
}

func (r *Reading) CriticalFinding(ctx context.Context, id int64) (reading.CriticalFinding, error) {
	f, err := sqldb.ScanCritical(r.x.db.QueryRowContext(ctx, sqldb.CriticalSelect+"WHERE cf.id = $1", id))
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
	// Only an open finding: of two acknowledging at once, the first stands.
	res, err := r.x.db.ExecContext(ctx, `UPDATE critical_findings SET ack_by = $1, ack_by_name = $2, ack_at = $3,
		informed = $4 WHERE id = $5 AND ack_at = ''`, by.ID, by.Name(), sqldb.FormatTime(at), informed, id)
	var n int64
	if err == nil {
		n, err = res.RowsAffected()
	}
	if err == nil && n == 0 {
		var ack string
		if err = r.x.db.QueryRowContext(ctx, `SELECT ack_at FROM critical_findings WHERE id = $1`, id).Scan(&ack); err == nil {
			err = fmt.Errorf("acknowledged already: %w", reading.ErrConflict)
		}
	}
	if err != nil {
		return reading.CriticalFinding{}, readingErr(fmt.Sprintf("acknowledge critical finding %d", id), err)
	}
	return r.CriticalFinding(ctx, id)
}

func (r *Reading) CriticalStats(ctx context.Context, from, to time.Time) ([]reading.CriticalSiteStats, error) {
	rows, err := queryAll(ctx, r.x.db, "critical stats", sqldb.ScanCritical, sqldb.CriticalSelect+
		"WHERE cf.flagged_at >= $1 AND cf.flagged_at < $2 ORDER BY cf.flagged_at",
		sqldb.FormatTime(from), sqldb.FormatTime(to))
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
	now := sqldb.FormatTime(at)
	for attempt := 0; ; attempt++ {
		// One statement decides: no claim, the caller's own (renewed, keeping its start) or
		// an expired one (taken over) is written; a live claim of somebody else is left and
		// nothing returned. Two nodes claiming at once meet on the primary key: the second
		// waits for the first and re-checks the condition on the row the first wrote.
		var claimed string
		err := r.x.db.QueryRowContext(ctx, `INSERT INTO study_claims AS c (study_uid, user_id, user_name, claimed_at,
			expires_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (study_uid) DO UPDATE SET user_id = excluded.user_id, user_name = excluded.user_name,
				claimed_at = CASE WHEN c.user_id = excluded.user_id AND c.expires_at > $4 THEN c.claimed_at
					ELSE excluded.claimed_at END,
				expires_at = excluded.expires_at
			WHERE c.user_id = excluded.user_id OR c.expires_at <= $4
			RETURNING claimed_at`, studyUID, u.ID, out.UserName, now, sqldb.FormatTime(out.ExpiresAt)).Scan(&claimed)
		if err == nil {
			out.ClaimedAt = sqldb.ParseTime(claimed)
			return out, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return reading.Claim{}, readingErr("claim "+studyUID, err)
		}
		cur, err := sqldb.ScanClaim(r.x.db.QueryRowContext(ctx, `SELECT `+sqldb.ClaimCols+` FROM study_claims
			WHERE study_uid = $1`, studyUID))
		switch {
		case err == nil && cur.ExpiresAt.After(at):
			return reading.Claim{}, &reading.ClaimedError{Claim: cur} // its holder is what the caller shows
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return reading.Claim{}, readingErr("claim "+studyUID, err)
		case attempt == 2:
			return reading.Claim{}, fmt.Errorf("claim %s: the claim keeps changing: %w", studyUID, reading.ErrConflict)
		}
		// Released or replaced between the two statements: decide again.
	}
}

func (r *Reading) ReleaseClaim(ctx context.Context, studyUID string, userID int64) error {
	if _, err := r.x.db.ExecContext(ctx, `DELETE FROM study_claims WHERE study_uid = $1 AND user_id = $2`,
		studyUID, userID); err != nil {
		return readingErr("release claim "+studyUID, err)
	}
	return nil
}

func (r *Reading) Claims(ctx context.Context, studyUIDs []string, at time.Time) (map[string]reading.Claim, error) {
	out := map[string]reading.Claim{}
	if len(studyUIDs) == 0 {
		return out, nil
	}
	cs, err := queryAll(ctx, r.x.db, "claims", sqldb.ScanClaim, `SELECT `+sqldb.ClaimCols+` FROM study_claims
		WHERE study_uid = ANY ($1) AND expires_at > $2`, studyUIDs, sqldb.FormatTime(at))
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		out[c.StudyUID] = c
	}
	return out, nil
}

// ---- review ----

func (r *Reading) SubmitReport(ctx context.Context, studyUID string, version int, author reading.User, at time.Time) (reading.Report, error) {
	var out reading.Report
	err := r.x.inTx(ctx, func(tx *sql.Tx) error {
		// Only a draft not yet submitted: a second submission is a conflict. openVersion
		// locks the study's reading row, so two nodes submitting at once take turns.
		cur, err := openVersion(ctx, tx, studyUID, version, func(s reading.Status) bool { return s == reading.StatusDraft })
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE reports SET submitted_at = $1, author_id = $2, author_name = $3,
			updated_at = $1 WHERE id = $4`, sqldb.FormatTime(at), author.ID, author.Name(), cur.ID); err != nil {
			return err
		}
		out = cur
		out.Status, out.SubmittedAt, out.AuthorID, out.AuthorName, out.UpdatedAt =
			reading.StatusPreliminary, at, author.ID, author.Name(), at
		return refreshStatus(ctx, tx, studyUID)
	})
	if err != nil {
		return reading.Report{}, readingErr("submit "+studyUID, err)
	}
	return out, nil
}

// ---- phrases ----

func (r *Reading) Phrases(ctx context.Context, userID int64) ([]reading.Phrase, error) {
	return queryAll(ctx, r.x.db, "phrases", sqldb.ScanPhrase, `SELECT `+sqldb.PhraseCols+` FROM phrases
		WHERE owner_id IN (0, $1) ORDER BY grp, owner_id, text`, userID)
}

func (r *Reading) Phrase(ctx context.Context, id int64) (reading.Phrase, error) {
	p, err := sqldb.ScanPhrase(r.x.db.QueryRowContext(ctx, `SELECT `+sqldb.PhraseCols+` FROM phrases WHERE id = $1`, id))
	if err != nil {
		return reading.Phrase{}, readingErr(fmt.Sprintf("phrase %d", id), err)
	}
	return p, nil
}

func (r *Reading) PutPhrase(ctx context.Context, p reading.Phrase) (reading.Phrase, error) {
	if err := p.Validate(); err != nil {
		return reading.Phrase{}, fmt.Errorf("put phrase: %w", err)
	}
	var err error
	if p.ID == 0 {
		err = r.x.db.QueryRowContext(ctx, `INSERT INTO phrases (owner_id, grp, text) VALUES ($1, $2, $3) RETURNING id`,
			p.OwnerID, p.Group, p.Text).Scan(&p.ID)
	} else {
		err = r.x.inTx(ctx, func(tx *sql.Tx) error {
			return sqldb.ExecExisting(ctx, tx, reading.ErrNotFound, `UPDATE phrases SET owner_id = $1, grp = $2, text = $3
				WHERE id = $4`, p.OwnerID, p.Group, p.Text, p.ID)
		})
	}
	if err != nil {
		return reading.Phrase{}, readingErr("put phrase", err)
	}
	return p, nil
}

func (r *Reading) DeletePhrase(ctx context.Context, id int64) error {
	err := r.x.inTx(ctx, func(tx *sql.Tx) error {
		return sqldb.ExecExisting(ctx, tx, reading.ErrNotFound, `DELETE FROM phrases WHERE id = $1`, id)
	})
	if err != nil {
		return readingErr(fmt.Sprintf("delete phrase %d", id), err)
	}
	return nil
}

// ---- settings ----

// Setting and PutSetting are the index's settings, limited to the reading room's keys.
func (r *Reading) Setting(ctx context.Context, key string) (string, error) {
	if err := sqldb.CheckWorkflowSetting(key); err != nil {
		return "", err
	}
	return r.x.Setting(ctx, key)
}

func (r *Reading) PutSetting(ctx context.Context, key, value string) error {
	if err := sqldb.CheckWorkflowSetting(key); err != nil {
		return err
	}
	return r.x.SetSetting(ctx, key, value)
}
