package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"pacsd/reading"
	"pacsd/store/sqldb"
)

// Share links (reading.Shares), migrations 0021_shares.sql and 0023_share_nonce.sql.

func (r *Reading) CreateShare(ctx context.Context, l reading.ShareLink) (reading.ShareLink, error) {
	l, err := sqldb.NewShare(l)
	if err != nil {
		return reading.ShareLink{}, fmt.Errorf("create share link: %w", err)
	}
	err = r.x.write(ctx, func(tx *sql.Tx) error {
		var site sql.NullInt64
		err := tx.QueryRow(`SELECT site_id FROM reading_studies WHERE study_uid = ?`, l.StudyUID).Scan(&site)
		if err != nil {
			return fmt.Errorf("study %s: %w", l.StudyUID, err)
		}
		l.SiteID = site.Int64
		res, err := tx.Exec(`INSERT INTO share_links (token_hash, study_uid, site_id, kind, verify, answer, created_by,
			created_name, created_at, expires_at, nonce, on_report) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`, l.TokenHash, l.StudyUID,
			l.SiteID, string(l.Kind), string(l.Verify), l.Answer, l.CreatedBy, l.CreatedName, fmtTime(l.CreatedAt),
			fmtTime(l.ExpiresAt), l.Nonce, l.OnReport)
		if err != nil {
			return err
		}
		l.ID, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return reading.ShareLink{}, readingErr("create share link", err)
	}
	return l, nil
}

func (r *Reading) ReportShare(ctx context.Context, studyUID string) (reading.ShareLink, error) {
	l, err := sqldb.ScanShare(r.x.r.QueryRowContext(ctx, `SELECT `+sqldb.ShareCols+` FROM share_links
		WHERE study_uid = ? AND on_report = 1 AND revoked_at = ''`, studyUID))
	if err != nil {
		return reading.ShareLink{}, readingErr("report share link "+studyUID, err)
	}
	return l, nil
}

func (r *Reading) ShareByHash(ctx context.Context, hash string) (reading.ShareLink, error) {
	l, err := sqldb.ScanShare(r.x.r.QueryRowContext(ctx, `SELECT `+sqldb.ShareCols+` FROM share_links WHERE token_hash = ?`, hash))
	if err != nil {
		return reading.ShareLink{}, readingErr("share link by hash", err)
	}
	return l, nil
}

func (r *Reading) ShareByID(ctx context.Context, id int64) (reading.ShareLink, error) {
	l, err := sqldb.ScanShare(r.x.r.QueryRowContext(ctx, `SELECT `+sqldb.ShareCols+` FROM share_links WHERE id = ?`, id))
	if err != nil {
		return reading.ShareLink{}, readingErr(fmt.Sprintf("share link %d", id), err)
	}
	return l, nil
}

func (r *Reading) Shares(ctx context.Context, f reading.ShareFilter) ([]reading.ShareLink, error) {
	where, args := sqldb.ShareWhere(f, func(int) string { return "?" }, func(col string) string { return col })
	q := `SELECT ` + sqldb.ShareCols + ` FROM share_links`
	if where != "" {
		q += ` WHERE ` + where
	}
	q += fmt.Sprintf(` ORDER BY created_at DESC, id DESC LIMIT %d`, sqldb.ShareLimit(f))
	return queryAll(ctx, r.x.r, "list share links", sqldb.ScanShare, q, args...)
}

func (r *Reading) ShareAttempt(ctx context.Context, id int64, right bool, at time.Time) (reading.ShareLink, error) {
	var l reading.ShareLink
	err := r.x.write(ctx, func(tx *sql.Tx) error {
		var err error
		if l, err = sqldb.ScanShare(tx.QueryRow(`SELECT `+sqldb.ShareCols+` FROM share_links WHERE id = ?`, id)); err != nil {
			return err
		}
		if l.Attempts >= reading.MaxShareAttempts {
			return fmt.Errorf("share link %d is locked: %w", id, reading.ErrConflict)
		}
		if right {
			l.Attempts, l.Opens, l.LastOpenAt = 0, l.Opens+1, at
		} else {
			l.Attempts++
		}
		_, err = tx.Exec(`UPDATE share_links SET attempts = ?, opens = ?, last_open_at = ? WHERE id = ?`,
			l.Attempts, l.Opens, fmtTime(l.LastOpenAt), id)
		return err
	})
	if err != nil {
		return reading.ShareLink{}, readingErr(fmt.Sprintf("share link %d attempt", id), err)
	}
	return l, nil
}

func (r *Reading) RevokeShare(ctx context.Context, id int64, at time.Time) error {
	return r.updateShare(ctx, "revoke", id, `UPDATE share_links SET
		revoked_at = CASE WHEN revoked_at = '' THEN ? ELSE revoked_at END WHERE id = ?`, fmtTime(at))
}

func (r *Reading) ExtendShare(ctx context.Context, id int64, expires time.Time) error {
	return r.updateShare(ctx, "extend", id, `UPDATE share_links SET expires_at = ?, attempts = 0 WHERE id = ?`, fmtTime(expires))
}

func (r *Reading) RenewShare(ctx context.Context, id int64, expires time.Time) error {
	return r.updateShare(ctx, "renew", id, `UPDATE share_links SET expires_at = max(expires_at, ?) WHERE id = ?`, fmtTime(expires))
}

// updateShare runs one UPDATE of link id whose last parameter is the id; ErrNotFound when
// there is no such link.
func (r *Reading) updateShare(ctx context.Context, op string, id int64, q string, args ...any) error {
	err := r.x.write(ctx, func(tx *sql.Tx) error {
		return execExisting(tx, reading.ErrNotFound, q, append(args, id)...)
	})
	if err != nil {
		return readingErr(fmt.Sprintf("%s share link %d", op, id), err)
	}
	return nil
}

func (r *Reading) ShareCounts(ctx context.Context) ([]reading.ShareCount, error) {
	return queryAll(ctx, r.x.r, "share link counts", sqldb.ScanShareCount, `SELECT site_id, count(*), COALESCE(sum(opens), 0) FROM share_links GROUP BY site_id ORDER BY site_id`)
}
