package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"pacsd/reading"
	"pacsd/store/sqldb"
)

// Share links (reading.Shares, migration 0004_reading_features.sql). A verification attempt
// is one conditional UPDATE, so that wrong guesses sent at once from many places, to any
// node, never count past the lock.

func (r *Reading) CreateShare(ctx context.Context, l reading.ShareLink) (reading.ShareLink, error) {
	l, err := sqldb.NewShare(l)
	if err != nil {
		return reading.ShareLink{}, fmt.Errorf("create share link: %w", err)
	}
	// Inserted from the study's reading row, which gives the link its site.
	err = r.x.db.QueryRowContext(ctx, `INSERT INTO share_links (token_hash, study_uid, site_id, kind, verify, answer,
		created_by, created_name, created_at, expires_at, nonce, on_report)
		SELECT $1, study_uid, COALESCE(site_id, 0), $3, $4, $5, $6, $7, $8, $9, $10, $11 FROM reading_studies
		WHERE study_uid = $2 RETURNING id, site_id`, l.TokenHash, l.StudyUID, string(l.Kind), string(l.Verify), l.Answer,
		l.CreatedBy, l.CreatedName, sqldb.FormatTime(l.CreatedAt), sqldb.FormatTime(l.ExpiresAt), l.Nonce, l.OnReport,
	).Scan(&l.ID, &l.SiteID)
	if errors.Is(err, sql.ErrNoRows) {
		err = fmt.Errorf("study %s: %w", l.StudyUID, reading.ErrNotFound)
	}
	if err != nil {
		return reading.ShareLink{}, readingErr("create share link", err)
	}
	return l, nil
}

func (r *Reading) ReportShare(ctx context.Context, studyUID string) (reading.ShareLink, error) {
	return r.shareWhere(ctx, "report share link "+studyUID, `study_uid = $1 AND on_report AND revoked_at = ''`, studyUID)
}

func (r *Reading) ShareByHash(ctx context.Context, hash string) (reading.ShareLink, error) {
	return r.shareWhere(ctx, "share link by hash", `token_hash = $1`, hash)
}

func (r *Reading) ShareByID(ctx context.Context, id int64) (reading.ShareLink, error) {
	return r.shareWhere(ctx, fmt.Sprintf("share link %d", id), `id = $1`, id)
}

// shareWhere reads the one link the condition finds; ErrNotFound.
func (r *Reading) shareWhere(ctx context.Context, op, where string, arg any) (reading.ShareLink, error) {
	l, err := sqldb.ScanShare(r.x.db.QueryRowContext(ctx, `SELECT `+sqldb.ShareCols+` FROM share_links WHERE `+where, arg))
	if err != nil {
		return reading.ShareLink{}, readingErr(op, err)
	}
	return l, nil
}

func (r *Reading) Shares(ctx context.Context, f reading.ShareFilter) ([]reading.ShareLink, error) {
	where, args := sqldb.ShareWhere(f, func(int) string { return "?" },
		func(col string) string { return "ascii_lower(" + col + ")" })
	q := `SELECT ` + sqldb.ShareCols + ` FROM share_links`
	if where != "" {
		q += ` WHERE ` + where
	}
	q += ` ORDER BY created_at DESC, id DESC LIMIT ` + strconv.Itoa(sqldb.ShareLimit(f))
	return queryAll(ctx, r.x.db, "list share links", sqldb.ScanShare, dollar(q), args...)
}

func (r *Reading) ShareAttempt(ctx context.Context, id int64, right bool, at time.Time) (reading.ShareLink, error) {
	op := fmt.Sprintf("share link %d attempt", id)
	// A right answer counts an opening and forgives the wrong ones; a wrong one counts; a
	// locked link (attempts at the limit) is left as it is.
	l, err := sqldb.ScanShare(r.x.db.QueryRowContext(ctx, `UPDATE share_links SET
		attempts = CASE WHEN $2 THEN 0 ELSE attempts + 1 END,
		opens = CASE WHEN $2 THEN opens + 1 ELSE opens END,
		last_open_at = CASE WHEN $2 THEN $3 ELSE last_open_at END
		WHERE id = $1 AND attempts < $4 RETURNING `+sqldb.ShareCols, id, right, sqldb.FormatTime(at), reading.MaxShareAttempts))
	if errors.Is(err, sql.ErrNoRows) {
		if _, err := r.ShareByID(ctx, id); err != nil {
			return reading.ShareLink{}, fmt.Errorf("%s: %w", op, err)
		}
		return reading.ShareLink{}, fmt.Errorf("%s: the link is locked: %w", op, reading.ErrConflict)
	}
	if err != nil {
		return reading.ShareLink{}, readingErr(op, err)
	}
	return l, nil
}

func (r *Reading) RevokeShare(ctx context.Context, id int64, at time.Time) error {
	return r.updateShare(ctx, "revoke", id, `UPDATE share_links SET
		revoked_at = CASE WHEN revoked_at = '' THEN $1 ELSE revoked_at END WHERE id = $2`, sqldb.FormatTime(at))
}

func (r *Reading) ExtendShare(ctx context.Context, id int64, expires time.Time) error {
	return r.updateShare(ctx, "extend", id, `UPDATE share_links SET expires_at = $1, attempts = 0 WHERE id = $2`,
		sqldb.FormatTime(expires))
}

func (r *Reading) RenewShare(ctx context.Context, id int64, expires time.Time) error {
	return r.updateShare(ctx, "renew", id, `UPDATE share_links SET expires_at = GREATEST(expires_at, $1) WHERE id = $2`,
		sqldb.FormatTime(expires))
}

// updateShare runs one UPDATE of link id whose parameters are arg, then the id;
// ErrNotFound when there is no such link.
func (r *Reading) updateShare(ctx context.Context, op string, id int64, q string, arg any) error {
	err := r.x.inTx(ctx, func(tx *sql.Tx) error {
		return sqldb.ExecExisting(ctx, tx, reading.ErrNotFound, q, arg, id)
	})
	if err != nil {
		return readingErr(fmt.Sprintf("%s share link %d", op, id), err)
	}
	return nil
}

func (r *Reading) ShareCounts(ctx context.Context) ([]reading.ShareCount, error) {
	return queryAll(ctx, r.x.db, "share link counts", sqldb.ScanShareCount,
		`SELECT site_id, count(*), COALESCE(sum(opens), 0) FROM share_links GROUP BY site_id ORDER BY site_id`)
}
