package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"pacsd/reading"
	"pacsd/store/sqldb"
)

// API tokens (reading.Tokens), migration 0008_api_tokens.sql.

func (r *Reading) CreateToken(ctx context.Context, t reading.Token) (reading.Token, error) {
	if err := t.Validate(); err != nil {
		return reading.Token{}, fmt.Errorf("create token: %w", err)
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = time.Now()
	}
	err := r.x.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`INSERT INTO api_tokens (name, scopes, token_hash, created_by, created_by_name, created_at,
			expires_at) VALUES (?,?,?,?,?,?,?)`, t.Name, sqldb.TokenScopes(t), t.Hash, nullSite(t.CreatedBy),
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
	return queryAll(ctx, r.x.r, "list tokens", sqldb.ScanToken, `SELECT `+sqldb.TokenCols+` FROM api_tokens ORDER BY created_at DESC, id DESC`)
}

func (r *Reading) TokenByHash(ctx context.Context, hash string) (reading.Token, error) {
	t, err := sqldb.ScanToken(r.x.r.QueryRowContext(ctx, `SELECT `+sqldb.TokenCols+` FROM api_tokens WHERE token_hash = ?`, hash))
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
