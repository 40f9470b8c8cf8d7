package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"pacsd/reading"
	"pacsd/store/sqldb"
)

// Local accounts (reading.Users). User names are unique and looked up ignoring ASCII case,
// as on SQLite (the index users_username on ascii_lower).

func (r *Reading) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := r.x.db.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		return 0, readingErr("count users", err)
	}
	return n, nil
}

func (r *Reading) Users(ctx context.Context) ([]reading.User, error) {
	return queryAll(ctx, r.x.db, "list users", sqldb.ScanUser,
		`SELECT `+sqldb.UserCols+` FROM users ORDER BY ascii_lower(username), id`)
}

func (r *Reading) User(ctx context.Context, id int64) (reading.User, error) {
	u, err := sqldb.ScanUser(r.x.db.QueryRowContext(ctx, `SELECT `+sqldb.UserCols+` FROM users WHERE id = $1`, id))
	if err != nil {
		return reading.User{}, readingErr(fmt.Sprintf("user %d", id), err)
	}
	return u, nil
}

func (r *Reading) UserByName(ctx context.Context, username string) (reading.User, error) {
	u, err := sqldb.ScanUser(r.x.db.QueryRowContext(ctx, `SELECT `+sqldb.UserCols+` FROM users
		WHERE ascii_lower(username) = ascii_lower($1)`, username))
	if err != nil {
		return reading.User{}, readingErr("user by name", err)
	}
	return u, nil
}

func (r *Reading) CreateUser(ctx context.Context, u reading.User) (reading.User, error) {
	if err := u.Validate(); err != nil {
		return reading.User{}, fmt.Errorf("create user: %w", err)
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = time.Now()
	}
	err := r.x.inTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO users (username, display_name, role, site_id, password_hash,
			disabled, must_change_password, may_review, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) RETURNING id`,
			u.Username, u.DisplayName, string(u.Role), sqldb.NullID(u.SiteID), u.PasswordHash, u.Disabled,
			u.MustChangePassword, u.MayReview, sqldb.FormatTime(u.CreatedAt)).Scan(&u.ID)
		return taken("username", "", err)
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
	err := r.x.inTx(ctx, func(tx *sql.Tx) error {
		err := sqldb.ExecExisting(ctx, tx, reading.ErrNotFound, `UPDATE users SET username = $1, display_name = $2,
			role = $3, site_id = $4, password_hash = $5, disabled = $6, must_change_password = $7, may_review = $8
			WHERE id = $9`, u.Username, u.DisplayName, string(u.Role), sqldb.NullID(u.SiteID), u.PasswordHash,
			u.Disabled, u.MustChangePassword, u.MayReview, u.ID)
		return taken("username", "", err)
	})
	if err != nil {
		return readingErr(fmt.Sprintf("update user %d", u.ID), err)
	}
	return nil
}

// exec runs one statement of the reading room's; op names it in errors.
func (r *Reading) exec(ctx context.Context, op, q string, args ...any) error {
	if _, err := r.x.db.ExecContext(ctx, q, args...); err != nil {
		return readingErr(op, err)
	}
	return nil
}
