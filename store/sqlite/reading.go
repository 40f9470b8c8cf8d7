package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mattn/go-sqlite3"

	"pacsd/reading"
	"pacsd/store/sqldb"
)

// Reading is the reading room's repository (reading.Repository) on the index's database:
// same file, same writer, so the worklist joins the studies table directly (migration
// 0003_reading.sql).
type Reading struct{ x *Index }

var _ reading.Repository = (*Reading)(nil)

// Reading returns the reading room's repository on this index. It is closed with the index.
func (x *Index) Reading() *Reading { return &Reading{x: x} }

// readingErr maps the errors of the reading room's reads and writes to reading's
// sentinels: unique and foreign-key violations are conflicts; store's sentinels
// (unavailable, no space) pass through dbErr.
func readingErr(op string, err error) error {
	var se sqlite3.Error
	switch {
	case errors.Is(err, reading.ErrNotFound), errors.Is(err, reading.ErrConflict), errors.Is(err, reading.ErrInvalid):
		return fmt.Errorf("%s: %w", op, err)
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%s: %w", op, reading.ErrNotFound)
	case errors.As(err, &se) && se.Code == sqlite3.ErrConstraint:
		return fmt.Errorf("%s: %w: %w", op, reading.ErrConflict, err)
	}
	return dbErr(op, err)
}

// taken turns the violation of a field's uniqueness into the reading.FieldError a form
// shows next to that field; other errors pass unchanged.
func taken(field, value string, err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) && (se.ExtendedCode == sqlite3.ErrConstraintUnique || se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey) {
		return &reading.FieldError{Field: field, Problem: reading.ProblemTaken, Value: value,
			Err: fmt.Errorf("%w: %w", reading.ErrConflict, err)}
	}
	return err
}

// fmtTime is sqldb's, the text form both engines keep times in.
var fmtTime = sqldb.FormatTime

// queryAll runs a query and scans every row with scan; op names it in errors.
func queryAll[T any](ctx context.Context, db *sql.DB, op string, scan func(sqldb.Scanner) (T, error), q string, args ...any) ([]T, error) {
	return sqldb.QueryAll(ctx, db, readingErr, op, scan, q, args...)
}

// ---- sites ----

func (r *Reading) Sites(ctx context.Context) ([]reading.Site, error) {
	sites, err := sqldb.LoadSites(ctx, r.x.r)
	if err != nil {
		return nil, readingErr("list sites", err)
	}
	return sites, nil
}

func (r *Reading) Site(ctx context.Context, id int64) (reading.Site, error) {
	sites, err := r.Sites(ctx)
	if err != nil {
		return reading.Site{}, err
	}
	return sqldb.SiteByID(sites, id)
}

// resolveSites attributes every study again from the registry: an administrator's
// assignment first, then the site of the peer that sent it, then the site of its
// institution. It runs in the writer's transaction of the registry change, so the worklist
// never sees a half-updated registry.
const resolveSites = `UPDATE reading_studies SET site_id = (SELECT COALESCE(reading_studies.assigned_site,
	(SELECT a.site_id FROM peers a WHERE a.ae = reading_studies.calling_ae AND reading_studies.calling_ae <> ''),
	(SELECT i.site_id FROM site_institutions i JOIN studies st ON st.id = reading_studies.study_pk
		WHERE i.name = st.institution_name AND st.institution_name <> '')))`

func (r *Reading) PutSite(ctx context.Context, s reading.Site) (reading.Site, error) {
	if err := s.Normalize(); err != nil {
		return reading.Site{}, fmt.Errorf("put site: %w", err)
	}
	now := fmtTime(time.Now())
	err := r.x.write(ctx, func(tx *sql.Tx) error {
		if s.ID == 0 {
			res, err := tx.Exec(`INSERT INTO sites (name, updated_at) VALUES (?, ?)`, s.Name, now)
			if err != nil {
				return taken("name", "", err)
			}
			if s.ID, err = res.LastInsertId(); err != nil {
				return err
			}
		} else {
			if err := execExisting(tx, reading.ErrNotFound, `UPDATE sites SET name = ?, updated_at = ? WHERE id = ?`,
				s.Name, now, s.ID); err != nil {
				return taken("name", "", err)
			}
			if _, err := tx.Exec(`DELETE FROM site_institutions WHERE site_id = ?`, s.ID); err != nil {
				return err
			}
		}
		if err := sqldb.PutSitePeers(ctx, tx, sqliteSQL, s.ID, s.AETitles, now, taken); err != nil {
			return err
		}
		for _, n := range s.Institutions {
			if _, err := tx.Exec(`INSERT INTO site_institutions (name, site_id) VALUES (?, ?)`, n, s.ID); err != nil {
				return fmt.Errorf("institution %s: %w", n, taken("institutions", n, err))
			}
		}
		_, err := tx.Exec(resolveSites)
		return err
	})
	r.x.peers.changed()
	if err != nil {
		return reading.Site{}, readingErr("put site "+s.Name, err)
	}
	return s, nil
}

func (r *Reading) DeleteSite(ctx context.Context, id int64) error {
	err := r.x.write(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRow(`SELECT count(*) FROM users WHERE site_id = ?`, id).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%d users belong to it: %w", n, reading.ErrConflict)
		}
		if err := execExisting(tx, reading.ErrNotFound, `DELETE FROM sites WHERE id = ?`, id); err != nil {
			return err
		}
		_, err := tx.Exec(resolveSites)
		return err
	})
	r.x.peers.changed() // its peers went with it
	if err != nil {
		return readingErr(fmt.Sprintf("delete site %d", id), err)
	}
	return nil
}

// ---- users and sessions ----

func (r *Reading) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := r.x.r.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		return 0, readingErr("count users", err)
	}
	return n, nil
}

func (r *Reading) Users(ctx context.Context) ([]reading.User, error) {
	return queryAll(ctx, r.x.r, "list users", sqldb.ScanUser, `SELECT `+sqldb.UserCols+` FROM users ORDER BY username`)
}

func (r *Reading) User(ctx context.Context, id int64) (reading.User, error) {
	u, err := sqldb.ScanUser(r.x.r.QueryRowContext(ctx, `SELECT `+sqldb.UserCols+` FROM users WHERE id = ?`, id))
	if err != nil {
		return reading.User{}, readingErr(fmt.Sprintf("user %d", id), err)
	}
	return u, nil
}

func (r *Reading) UserByName(ctx context.Context, username string) (reading.User, error) {
	u, err := sqldb.ScanUser(r.x.r.QueryRowContext(ctx, `SELECT `+sqldb.UserCols+` FROM users WHERE username = ?`, username))
	if err != nil {
		return reading.User{}, readingErr("user by name", err)
	}
	return u, nil
}

// nullSite is sqldb's NullID.
var nullSite = sqldb.NullID

func (r *Reading) CreateUser(ctx context.Context, u reading.User) (reading.User, error) {
	if err := u.Validate(); err != nil {
		return reading.User{}, fmt.Errorf("create user: %w", err)
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = time.Now()
	}
	err := r.x.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`INSERT INTO users (username, display_name, role, site_id, password_hash, disabled,
			must_change_password, may_review, created_at) VALUES (?,?,?,?,?,?,?,?,?)`, u.Username, u.DisplayName,
			string(u.Role), nullSite(u.SiteID), u.PasswordHash, u.Disabled, u.MustChangePassword, u.MayReview,
			fmtTime(u.CreatedAt))
		if err != nil {
			return taken("username", "", err)
		}
		u.ID, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return reading.User{}, readingErr("create user", err)
	}
	return u, nil
}

func (r *Reading) UpdateUser(ctx context.Context, u reading.User) error {
	if err := u.Validate(); err != nil {
		return fmt.Errorf("update user: %w", err)
	}
	err := r.x.write(ctx, func(tx *sql.Tx) error {
		err := execExisting(tx, reading.ErrNotFound, `UPDATE users SET username = ?, display_name = ?, role = ?,
			site_id = ?, password_hash = ?, disabled = ?, must_change_password = ?, may_review = ? WHERE id = ?`,
			u.Username, u.DisplayName, string(u.Role), nullSite(u.SiteID), u.PasswordHash, u.Disabled,
			u.MustChangePassword, u.MayReview, u.ID)
		return taken("username", "", err)
	})
	if err != nil {
		return readingErr(fmt.Sprintf("update user %d", u.ID), err)
	}
	return nil
}

func (r *Reading) CreateSession(ctx context.Context, s reading.Session) error {
	err := r.x.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO sessions (token_hash, user_id, csrf, created_at, expires_at) VALUES (?,?,?,?,?)`,
			s.TokenHash, s.UserID, s.CSRF, fmtTime(s.CreatedAt), fmtTime(s.ExpiresAt))
		return err
	})
	if err != nil {
		return readingErr("create session", err)
	}
	return nil
}

func (r *Reading) Session(ctx context.Context, tokenHash string, now time.Time) (reading.Session, reading.User, error) {
	s, u, err := sqldb.ScanSession(r.x.r.QueryRowContext(ctx, `SELECT `+sqldb.SessionUserCols+`
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.token_hash = ? AND s.expires_at > ? AND u.disabled = 0`, tokenHash, fmtTime(now)))
	if err != nil {
		return reading.Session{}, reading.User{}, readingErr("session", err)
	}
	return s, u, nil
}

func (r *Reading) exec(ctx context.Context, op, q string, args ...any) error {
	err := r.x.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(q, args...)
		return err
	})
	if err != nil {
		return readingErr(op, err)
	}
	return nil
}

func (r *Reading) DeleteSession(ctx context.Context, tokenHash string) error {
	return r.exec(ctx, "delete session", `DELETE FROM sessions WHERE token_hash = ?`, tokenHash)
}

func (r *Reading) DeleteUserSessions(ctx context.Context, userID int64) error {
	return r.exec(ctx, "delete user sessions", `DELETE FROM sessions WHERE user_id = ?`, userID)
}

func (r *Reading) DeleteExpiredSessions(ctx context.Context, now time.Time) error {
	return r.exec(ctx, "delete expired sessions", `DELETE FROM sessions WHERE expires_at <= ?`, fmtTime(now))
}

// ---- templates ----

func (r *Reading) Templates(ctx context.Context) ([]reading.Template, error) {
	return queryAll(ctx, r.x.r, "list templates", sqldb.ScanTemplate, `SELECT `+sqldb.TemplateCols+`
		FROM report_templates ORDER BY modality, body_part, name`)
}

func (r *Reading) PutTemplate(ctx context.Context, t reading.Template) (reading.Template, error) {
	if err := t.Validate(); err != nil {
		return reading.Template{}, fmt.Errorf("put template: %w", err)
	}
	t.UpdatedAt = time.Now().UTC()
	err := r.x.write(ctx, func(tx *sql.Tx) error {
		if t.ID == 0 {
			res, err := tx.Exec(`INSERT INTO report_templates (name, modality, body_part, findings, impression, updated_at)
				VALUES (?,?,?,?,?,?)`, t.Name, t.Modality, t.BodyPart, t.Findings, t.Impression, fmtTime(t.UpdatedAt))
			if err != nil {
				return err
			}
			t.ID, err = res.LastInsertId()
			return err
		}
		return execExisting(tx, reading.ErrNotFound, `UPDATE report_templates SET name=?, modality=?, body_part=?,
			findings=?, impression=?, updated_at=? WHERE id=?`, t.Name, t.Modality, t.BodyPart, t.Findings,
			t.Impression, fmtTime(t.UpdatedAt), t.ID)
	})
	if err != nil {
		return reading.Template{}, readingErr("put template", err)
	}
	return t, nil
}

func (r *Reading) DeleteTemplate(ctx context.Context, id int64) error {
	err := r.x.write(ctx, func(tx *sql.Tx) error {
		return execExisting(tx, reading.ErrNotFound, `DELETE FROM report_templates WHERE id = ?`, id)
	})
	if err != nil {
		return readingErr(fmt.Sprintf("delete template %d", id), err)
	}
	return nil
}
