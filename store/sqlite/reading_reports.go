package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"pacsd/reading"
	"pacsd/store/sqldb"
)

func (r *Reading) Reports(ctx context.Context, studyUID string) ([]reading.Report, error) {
	return queryAll(ctx, r.x.r, "reports", sqldb.ScanReport,
		`SELECT `+sqldb.ReportCols+` FROM reports WHERE study_uid = ? ORDER BY version`, studyUID)
}

// latest returns the study's newest report version (ErrNotFound when none), inside tx.
func latest(tx *sql.Tx, studyUID string) (reading.Report, error) {
	return sqldb.ScanReport(tx.QueryRow(`SELECT `+sqldb.ReportCols+` FROM reports WHERE study_uid = ?
		ORDER BY version DESC LIMIT 1`, studyUID))
}

// refreshStatus recomputes the study's worklist status after a report change (package
// comment of reading: a draft over a signed version leaves the signed status; a first
// version submitted for review is preliminary).
func refreshStatus(tx *sql.Tx, studyUID string) error {
	_, err := tx.Exec(`UPDATE reading_studies SET
		status = COALESCE((SELECT status FROM reports WHERE study_uid = ?1 AND status <> 'draft' ORDER BY version DESC LIMIT 1),
			(SELECT CASE WHEN submitted_at <> '' THEN 'preliminary' ELSE 'draft' END FROM reports WHERE study_uid = ?1
				ORDER BY version DESC LIMIT 1), 'unread'),
		final_at = COALESCE((SELECT signed_at FROM reports WHERE study_uid = ?1 AND version = 1 AND status <> 'draft'), '')
		WHERE study_uid = ?1`, studyUID)
	return err
}

func (r *Reading) SaveDraft(ctx context.Context, studyUID, findings, impression string, author reading.User, at time.Time) (reading.Report, error) {
	if err := sqldb.CheckText(findings, impression); err != nil {
		return reading.Report{}, fmt.Errorf("save draft: %w", err)
	}
	var out reading.Report
	err := r.x.write(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRow(`SELECT count(*) FROM reading_studies WHERE study_uid = ?`, studyUID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("study %s: %w", studyUID, reading.ErrNotFound)
		}
		cur, err := latest(tx, studyUID)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			out = reading.Report{StudyUID: studyUID, Version: 1, Status: reading.StatusDraft, Findings: findings,
				Impression: impression, AuthorID: author.ID, AuthorName: author.Name(), CreatedAt: at, UpdatedAt: at}
			res, err := tx.Exec(`INSERT INTO reports (study_uid, version, status, findings, impression, author_id,
				author_name, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)`, studyUID, 1, "draft", findings,
				impression, author.ID, author.Name(), fmtTime(at), fmtTime(at))
			if err != nil {
				return err
			}
			if out.ID, err = res.LastInsertId(); err != nil {
				return err
			}
		case err != nil:
			return err
		case !cur.Status.Open():
			return fmt.Errorf("version %d is signed; amend it: %w", cur.Version, reading.ErrConflict)
		case cur.Status == reading.StatusPreliminary:
			// A reviewer's edits before signing: the report stays its author's.
			if _, err := tx.Exec(`UPDATE reports SET findings = ?, impression = ?, updated_at = ? WHERE id = ?`,
				findings, impression, fmtTime(at), cur.ID); err != nil {
				return err
			}
			out = cur
			out.Findings, out.Impression, out.UpdatedAt = findings, impression, at
		default:
			if _, err := tx.Exec(`UPDATE reports SET findings = ?, impression = ?, author_id = ?, author_name = ?,
				updated_at = ? WHERE id = ?`, findings, impression, author.ID, author.Name(), fmtTime(at), cur.ID); err != nil {
				return err
			}
			out = cur
			out.Findings, out.Impression, out.AuthorID, out.AuthorName, out.UpdatedAt =
				findings, impression, author.ID, author.Name(), at
		}
		return refreshStatus(tx, studyUID)
	})
	if err != nil {
		return reading.Report{}, readingErr("save draft "+studyUID, err)
	}
	return out, nil
}

// openVersion is the study's latest version when it is the given one, in a state open
// says may go on (signed, submitted), and not empty: ErrNotFound without a report,
// ErrConflict for another version or state, ErrInvalid when empty.
func openVersion(tx *sql.Tx, studyUID string, version int, open func(reading.Status) bool) (reading.Report, error) {
	cur, err := latest(tx, studyUID)
	if errors.Is(err, sql.ErrNoRows) {
		return cur, fmt.Errorf("no report: %w", reading.ErrNotFound)
	}
	if err != nil {
		return cur, err
	}
	return cur, sqldb.OpenVersion(cur, version, open)
}

func (r *Reading) Sign(ctx context.Context, studyUID string, version int, signer reading.User, at time.Time) (reading.Report, error) {
	var out reading.Report
	err := r.x.write(ctx, func(tx *sql.Tx) error {
		cur, err := openVersion(tx, studyUID, version, reading.Status.Open)
		if err != nil {
			return err
		}
		status := sqldb.SignedStatus(version)
		if _, err := tx.Exec(`UPDATE reports SET status = ?, signed_by = ?, signed_by_name = ?, signed_at = ?,
			updated_at = ? WHERE id = ?`, string(status), signer.ID, signer.Name(), fmtTime(at), fmtTime(at), cur.ID); err != nil {
			return err
		}
		out = cur
		out.Status, out.SignedBy, out.SignedByName, out.SignedAt, out.UpdatedAt = status, signer.ID, signer.Name(), at, at
		return refreshStatus(tx, studyUID)
	})
	if err != nil {
		return reading.Report{}, readingErr("sign "+studyUID, err)
	}
	return out, nil
}

func (r *Reading) Amend(ctx context.Context, studyUID, reason string, author reading.User, at time.Time) (reading.Report, error) {
	reason, err := sqldb.AmendReason(reason)
	if err != nil {
		return reading.Report{}, err
	}
	var out reading.Report
	err = r.x.write(ctx, func(tx *sql.Tx) error {
		cur, err := latest(tx, studyUID)
		if out, err = sqldb.Amendment(cur, err, studyUID, reason, author, at); err != nil {
			return err
		}
		res, err := tx.Exec(`INSERT INTO reports (study_uid, version, status, findings, impression, author_id,
			author_name, created_at, updated_at, amend_reason) VALUES (?,?,?,?,?,?,?,?,?,?)`, studyUID, out.Version,
			"draft", out.Findings, out.Impression, author.ID, author.Name(), fmtTime(at), fmtTime(at), reason)
		if err != nil {
			return err
		}
		if out.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		return refreshStatus(tx, studyUID)
	})
	if err != nil {
		return reading.Report{}, readingErr("amend "+studyUID, err)
	}
	return out, nil
}

func (r *Reading) Unexported(ctx context.Context, limit int) ([]reading.Report, error) {
	if limit <= 0 {
		limit = 100
	}
	return queryAll(ctx, r.x.r, "unexported reports", sqldb.ScanReport, `SELECT `+sqldb.ReportCols+` FROM reports
		WHERE status <> 'draft' AND sop_uid = '' ORDER BY signed_at LIMIT ?`, limit)
}

func (r *Reading) SetReportObject(ctx context.Context, studyUID string, version int, sopUID string) error {
	err := r.x.write(ctx, func(tx *sql.Tx) error {
		return execExisting(tx, reading.ErrNotFound,
			`UPDATE reports SET sop_uid = ? WHERE study_uid = ? AND version = ? AND status <> 'draft'`, sopUID, studyUID, version)
	})
	if err != nil {
		return readingErr("set report object "+studyUID, err)
	}
	return nil
}
