package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"pacsd/reading"
)

// Share links (reading.Shares), migrations 0021_shares.sql and 0023_share_nonce.sql.

const shareCols = `id, token_hash, study_uid, site_id, kind, verify, answer, created_by, created_name,
	created_at, expires_at, revoked_at, attempts, opens, last_open_at, nonce, on_report`

func scanShare(row interface{ Scan(...any) error }) (reading.ShareLink, error) {
	var l reading.ShareLink
	var created, expires, revoked, opened string
	if err := row.Scan(&l.ID, &l.TokenHash, &l.StudyUID, &l.SiteID, &l.Kind, &l.Verify, &l.Answer, &l.CreatedBy,
		&l.CreatedName, &created, &expires, &revoked, &l.Attempts, &l.Opens, &opened, &l.Nonce, &l.OnReport); err != nil {
		return reading.ShareLink{}, err
	}
	l.CreatedAt, l.ExpiresAt, l.RevokedAt, l.LastOpenAt = parseTime(created), parseTime(expires), parseTime(revoked), parseTime(opened)
	return l, nil
}

func (r *Reading) CreateShare(ctx context.Context, l reading.ShareLink) (reading.ShareLink, error) {
	if l.CreatedAt.IsZero() {
		l.CreatedAt = time.Now()
	}
	if err := l.Validate(); err != nil {
		return reading.ShareLink{}, fmt.Errorf("create share link: %w", err)
	}
	l.Attempts, l.Opens, l.RevokedAt, l.LastOpenAt = 0, 0, time.Time{}, time.Time{}
	err := r.x.write(ctx, func(tx *sql.Tx) error {
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
	l, err := scanShare(r.x.r.QueryRowContext(ctx, `SELECT `+shareCols+` FROM share_links
		WHERE study_uid = ? AND on_report = 1 AND revoked_at = ''`, studyUID))
	if err != nil {
		return reading.ShareLink{}, readingErr("report share link "+studyUID, err)
	}
	return l, nil
}

func (r *Reading) ShareByHash(ctx context.Context, hash string) (reading.ShareLink, error) {
	l, err := scanShare(r.x.r.QueryRowContext(ctx, `SELECT `+shareCols+` FROM share_links WHERE token_hash = ?`, hash))
	if err != nil {
		return reading.ShareLink{}, readingErr("share link by hash", err)
	}
	return l, nil
}

func (r *Reading) ShareByID(ctx context.Context, id int64) (reading.ShareLink, error) {
	l, err := scanShare(r.x.r.QueryRowContext(ctx, `SELECT `+shareCols+` FROM share_links WHERE id = ?`, id))
	if err != nil {
		return reading.ShareLink{}, readingErr(fmt.Sprintf("share link %d", id), err)
	}
	return l, nil
}

func (r *Reading) Shares(ctx context.Context, f reading.ShareFilter) ([]reading.ShareLink, error) {
	var where []string
	var args []any
	if f.StudyUID != "" {
		where, args = append(where, `study_uid = ?`), append(args, f.StudyUID)
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		where = append(where, `(study_uid LIKE ? ESCAPE '\' OR created_name LIKE ? ESCAPE '\')`)
		like := "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(q) + "%"
		args = append(args, like, like)
	}
	if f.Active {
		where, args = append(where, `revoked_at = '' AND expires_at > ?`), append(args, fmtTime(f.Now))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	q := `SELECT ` + shareCols + ` FROM share_links`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += fmt.Sprintf(` ORDER BY created_at DESC, id DESC LIMIT %d`, limit)
	return queryAll(ctx, r.x.r, "list share links", scanShare, q, args...)
}

func (r *Reading) ShareAttempt(ctx context.Context, id int64, right bool, at time.Time) (reading.ShareLink, error) {
	var l reading.ShareLink
	err := r.x.write(ctx, func(tx *sql.Tx) error {
		var err error
		if l, err = scanShare(tx.QueryRow(`SELECT `+shareCols+` FROM share_links WHERE id = ?`, id)); err != nil {
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
	return queryAll(ctx, r.x.r, "share link counts", func(row interface{ Scan(...any) error }) (reading.ShareCount, error) {
		var c reading.ShareCount
		err := row.Scan(&c.SiteID, &c.Links, &c.Opens)
		return c, err
	}, `SELECT site_id, count(*), COALESCE(sum(opens), 0) FROM share_links GROUP BY site_id ORDER BY site_id`)
}
