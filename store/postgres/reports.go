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

// Report templates and report versions (reading.Reports). Every change of a study's report
// first locks the study's reading row (lockReading), so that two nodes writing one
// report take turns: of two radiologists signing one draft at once, the second finds it
// signed and gets ErrConflict; of two first drafts, the second edits the first's.

func (r *Reading) Templates(ctx context.Context) ([]reading.Template, error) {
	return queryAll(ctx, r.x.db, "list templates", sqldb.ScanTemplate, `SELECT `+sqldb.TemplateCols+`
		FROM report_templates ORDER BY modality, body_part, name, id`)
}

func (r *Reading) PutTemplate(ctx context.Context, t reading.Template) (reading.Template, error) {
	if err := t.Validate(); err != nil {
		return reading.Template{}, fmt.Errorf("put template: %w", err)
	}
	t.UpdatedAt = time.Now().UTC()
	err := r.x.inTx(ctx, func(tx *sql.Tx) error {
		if t.ID == 0 {
			return tx.QueryRowContext(ctx, `INSERT INTO report_templates (name, modality, body_part, findings,
				impression, updated_at) VALUES ($1,$2,$3,$4,$5,$6) RETURNING id`, t.Name, t.Modality, t.BodyPart,
				t.Findings, t.Impression, sqldb.FormatTime(t.UpdatedAt)).Scan(&t.ID)
		}
		return sqldb.ExecExisting(ctx, tx, reading.ErrNotFound, `UPDATE report_templates SET name = $1, modality = $2,
			body_part = $3, findings = $4, impression = $5, updated_at = $6 WHERE id = $7`, t.Name, t.Modality,
			t.BodyPart, t.Findings, t.Impression, sqldb.FormatTime(t.UpdatedAt), t.ID)
	})
	if err != nil {
		return reading.Template{}, readingErr("put template", err)
	}
	return t, nil
}

func (r *Reading) DeleteTemplate(ctx context.Context, id int64) error {
	err := r.x.inTx(ctx, func(tx *sql.Tx) error {
		return sqldb.ExecExisting(ctx, tx, reading.ErrNotFound, `DELETE FROM report_templates WHERE id = $1`, id)
	})
	if err != nil {
		return readingErr(fmt.Sprintf("delete template %d", id), err)
	}
	return nil
}

func (r *Reading) Reports(ctx context.Context, studyUID string) ([]reading.Report, error) {
	return queryAll(ctx, r.x.db, "reports", sqldb.ScanReport,
		`SELECT `+sqldb.ReportCols+` FROM reports WHERE study_uid = $1 ORDER BY version`, studyUID)
}

// lockReading locks the study's reading row until tx ends: every write of the study's
// report versions (and of its status) holds it. ErrNotFound when the reading room does not
// know the study.
func lockReading(ctx context.Context, tx *sql.Tx, studyUID string) error {
	var pk int64
	err := tx.QueryRowContext(ctx, `SELECT study_pk FROM reading_studies WHERE study_uid = $1 FOR UPDATE`, studyUID).Scan(&pk)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("study %s: %w", studyUID, reading.ErrNotFound)
	}
	return err
}

// latest returns the study's newest report version (sql.ErrNoRows when none), inside tx.
func latest(ctx context.Context, tx *sql.Tx, studyUID string) (reading.Report, error) {
	return sqldb.ScanReport(tx.QueryRowContext(ctx, `SELECT `+sqldb.ReportCols+` FROM reports WHERE study_uid = $1
		ORDER BY version DESC LIMIT 1`, studyUID))
}

// refreshStatus recomputes the study's worklist status and first signature after a report
// change (reading_status and reading_final_at, migration 0003, which the index's trigger
// uses too).
func refreshStatus(ctx context.Context, tx *sql.Tx, studyUID string) error {
	_, err := tx.ExecContext(ctx, `UPDATE reading_studies SET status = reading_status($1), final_at = reading_final_at($1)
		WHERE study_uid = $1`, studyUID)
	return err
}

// openVersion locks the study's reading row and returns its latest version when it is the
// given one, in a state open says may go on (signed, submitted), and not empty:
// ErrNotFound without a report, ErrConflict for another version or state, ErrInvalid when
// empty.
func openVersion(ctx context.Context, tx *sql.Tx, studyUID string, version int, open func(reading.Status) bool) (reading.Report, error) {
	if err := lockReading(ctx, tx, studyUID); err != nil {
		return reading.Report{}, err
	}
	cur, err := latest(ctx, tx, studyUID)
	if errors.Is(err, sql.ErrNoRows) {
		return cur, fmt.Errorf("no report: %w", reading.ErrNotFound)
	}
	if err != nil {
		return cur, err
	}
	return cur, sqldb.OpenVersion(cur, version, open)
}

func (r *Reading) SaveDraft(ctx context.Context, studyUID, findings, impression string, author reading.User, at time.Time) (reading.Report, error) {
	if err := sqldb.CheckText(findings, impression); err != nil {
		return reading.Report{}, fmt.Errorf("save draft: %w", err)
	}
	var out reading.Report
	err := r.x.inTx(ctx, func(tx *sql.Tx) error {
		if err := lockReading(ctx, tx, studyUID); err != nil {
			return err
		}
		cur, err := latest(ctx, tx, studyUID)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			out = reading.Report{StudyUID: studyUID, Version: 1, Status: reading.StatusDraft, Findings: findings,
				Impression: impression, AuthorID: author.ID, AuthorName: author.Name(), CreatedAt: at, UpdatedAt: at}
			if err := tx.QueryRowContext(ctx, `INSERT INTO reports (study_uid, version, status, findings, impression,
				author_id, author_name, created_at, updated_at) VALUES ($1, 1, 'draft', $2, $3, $4, $5, $6, $6) RETURNING id`,
				studyUID, findings, impression, author.ID, author.Name(), sqldb.FormatTime(at)).Scan(&out.ID); err != nil {
				return err
			}
		case err != nil:
			return err
		case !cur.Status.Open():
			return fmt.Errorf("version %d is signed; amend it: %w", cur.Version, reading.ErrConflict)
		case cur.Status == reading.StatusPreliminary:
			// A reviewer's edits before signing: the report stays its author's.
			if _, err := tx.ExecContext(ctx, `UPDATE reports SET findings = $1, impression = $2, updated_at = $3 WHERE id = $4`,
				findings, impression, sqldb.FormatTime(at), cur.ID); err != nil {
				return err
			}
			out = cur
			out.Findings, out.Impression, out.UpdatedAt = findings, impression, at
		default:
			if _, err := tx.ExecContext(ctx, `UPDATE reports SET findings = $1, impression = $2, author_id = $3,
				author_name = $4, updated_at = $5 WHERE id = $6`, findings, impression, author.ID, author.Name(),
				sqldb.FormatTime(at), cur.ID); err != nil {
				return err
			}
			out = cur
			out.Findings, out.Impression, out.AuthorID, out.AuthorName, out.UpdatedAt =
				findings, impression, author.ID, author.Name(), at
		}
		return refreshStatus(ctx, tx, studyUID)
	})
	if err != nil {
		return reading.Report{}, readingErr("save draft "+studyUID, err)
	}
	return out, nil
}

func (r *Reading) Sign(ctx context.Context, studyUID string, version int, signer reading.User, at time.Time) (reading.Report, error) {
	var out reading.Report
	err := r.x.inTx(ctx, func(tx *sql.Tx) error {
		cur, err := openVersion(ctx, tx, studyUID, version, reading.Status.Open)
		if err != nil {
			return err
		}
		status := sqldb.SignedStatus(version)
		if _, err := tx.ExecContext(ctx, `UPDATE reports SET status = $1, signed_by = $2, signed_by_name = $3,
			signed_at = $4, updated_at = $4 WHERE id = $5`, string(status), signer.ID, signer.Name(),
			sqldb.FormatTime(at), cur.ID); err != nil {
			return err
		}
		out = cur
		out.Status, out.SignedBy, out.SignedByName, out.SignedAt, out.UpdatedAt = status, signer.ID, signer.Name(), at, at
		return refreshStatus(ctx, tx, studyUID)
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
	err = r.x.inTx(ctx, func(tx *sql.Tx) error {
		if err := lockReading(ctx, tx, studyUID); err != nil {
			if errors.Is(err, reading.ErrNotFound) {
				return fmt.Errorf("no report: %w", reading.ErrConflict)
			}
			return err
		}
		cur, err := latest(ctx, tx, studyUID)
		if out, err = sqldb.Amendment(cur, err, studyUID, reason, author, at); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO reports (study_uid, version, status, findings, impression,
			author_id, author_name, created_at, updated_at, amend_reason) VALUES ($1, $2, 'draft', $3, $4, $5, $6, $7, $7, $8)
			RETURNING id`, studyUID, out.Version, out.Findings, out.Impression, author.ID, author.Name(),
			sqldb.FormatTime(at), reason).Scan(&out.ID); err != nil {
			return err
		}
		return refreshStatus(ctx, tx, studyUID)
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
	return queryAll(ctx, r.x.db, "unexported reports", sqldb.ScanReport, `SELECT `+sqldb.ReportCols+` FROM reports
		WHERE status <> 'draft' AND sop_uid = '' ORDER BY signed_at LIMIT $1`, limit)
}

func (r *Reading) SetReportObject(ctx context.Context, studyUID string, version int, sopUID string) error {
	err := r.x.inTx(ctx, func(tx *sql.Tx) error {
		return sqldb.ExecExisting(ctx, tx, reading.ErrNotFound, `UPDATE reports SET sop_uid = $1
			WHERE study_uid = $2 AND version = $3 AND status <> 'draft'`, sopUID, studyUID, version)
	})
	if err != nil {
		return readingErr("set report object "+studyUID, err)
	}
	return nil
}
