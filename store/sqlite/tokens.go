package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"pacsd/reading"
)

// API tokens (reading.Tokens), migration 0008_api_tokens.sql.

const tokenCols = `id, name, scopes, token_hash, COALESCE(created_by, 0), created_by_name, created_at,
	expires_at, last_used_at, revoked_at`

func scanToken(row interface{ Scan(...any) error }) (reading.Token, error) {
	var t reading.Token
	var scopes, created, expires, used, revoked string
	if err := row.Scan(&t.ID, &t.Name, &scopes, &t.Hash, &t.CreatedBy, &t.CreatedByName, &created, &expires,
		&used, &revoked); err != nil {
		return reading.Token{}, err
	}
	for _, s := range strings.Split(scopes, ",") {
		if s != "" {
			t.Scopes = append(t.Scopes, reading.Scope(s))
		}
	}
	t.CreatedAt, t.ExpiresAt = parseTime(created), parseTime(expires)
	t.LastUsedAt, t.RevokedAt = parseTime(used), parseTime(revoked)
	return t, nil
}

func (r *Reading) CreateToken(ctx context.Context, t reading.Token) (reading.Token, error) {
	if err := t.Validate(); err != nil {
		return reading.Token{}, fmt.Errorf("create token: %w", err)
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = time.Now()
	}
	scopes := make([]string, len(t.Scopes))
	for i, s := range t.Scopes {
		scopes[i] = string(s)
	}
	err := r.x.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`INSERT INTO api_tokens (name, scopes, token_hash, created_by, created_by_name, created_at,
			expires_at) VALUES (?,?,?,?,?,?,?)`, t.Name, strings.Join(scopes, ","), t.Hash, nullSite(t.CreatedBy),
			t.CreatedByName, fmtTime(t.CreatedAt), fmtTime(t.ExpiresAt))
		if err != nil {
			return taken("name", "", err)
		}
		t.ID, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return reading.Token{}, readingErr("create token", err)
	}
	return t, nil
}

func (r *Reading) Tokens(ctx context.Context) ([]reading.Token, error) {
	return queryAll(ctx, r.x.r, "list tokens", scanToken, `SELECT `+tokenCols+` FROM api_tokens ORDER BY created_at DESC, id DESC`)
}

func (r *Reading) TokenByHash(ctx context.Context, hash string) (reading.Token, error) {
	t, err := scanToken(r.x.r.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE token_hash = ?`, hash))
	if err != nil {
		return reading.Token{}, readingErr("token by hash", err)
	}
	return t, nil
}

func (r *Reading) RevokeToken(ctx context.Context, id int64, at time.Time) error {
	err := r.x.write(ctx, func(tx *sql.Tx) error {
		return execExisting(tx, reading.ErrNotFound, `UPDATE api_tokens SET
			revoked_at = CASE WHEN revoked_at = '' THEN ? ELSE revoked_at END WHERE id = ?`, fmtTime(at), id)
	})
	if err != nil {
		return readingErr(fmt.Sprintf("revoke token %d", id), err)
	}
	return nil
}

func (r *Reading) TouchToken(ctx context.Context, id int64, at time.Time) error {
	ts := fmtTime(at)
	return r.exec(ctx, fmt.Sprintf("touch token %d", id),
		`UPDATE api_tokens SET last_used_at = ? WHERE id = ? AND last_used_at < ?`, ts, id, ts)
}
