package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"pacsd/reading"
	"pacsd/store/sqldb"
)

// API tokens (reading.Tokens). A live token's name is unique ignoring ASCII case
// (api_tokens_live_name).

func (r *Reading) CreateToken(ctx context.Context, t reading.Token) (reading.Token, error) {
	if err := t.Validate(); err != nil {
		return reading.Token{}, fmt.Errorf("create token: %w", err)
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = time.Now()
	}
	err := r.x.inTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO api_tokens (name, scopes, token_hash, created_by, created_by_name,
			created_at, expires_at) VALUES ($1,$2,$3,$4,$5,$6,$7) RETURNING id`, t.Name, sqldb.TokenScopes(t), t.Hash,
			sqldb.NullID(t.CreatedBy), t.CreatedByName, sqldb.FormatTime(t.CreatedAt), sqldb.FormatTime(t.ExpiresAt)).Scan(&t.ID)
		return taken("name", "", err)
	})
	if err != nil {
		return reading.Token{}, readingErr("create token", err)
	}
	return t, nil
}

func (r *Reading) Tokens(ctx context.Context) ([]reading.Token, error) {
	return queryAll(ctx, r.x.db, "list tokens", sqldb.ScanToken,
		`SELECT `+sqldb.TokenCols+` FROM api_tokens ORDER BY created_at DESC, id DESC`)
}

func (r *Reading) TokenByHash(ctx context.Context, hash string) (reading.Token, error) {
	t, err := sqldb.ScanToken(r.x.db.QueryRowContext(ctx, `SELECT `+sqldb.TokenCols+` FROM api_tokens WHERE token_hash = $1`, hash))
	if err != nil {
		return reading.Token{}, readingErr("token by hash", err)
	}
	return t, nil
}

func (r *Reading) RevokeToken(ctx context.Context, id int64, at time.Time) error {
	err := r.x.inTx(ctx, func(tx *sql.Tx) error {
		return sqldb.ExecExisting(ctx, tx, reading.ErrNotFound, `UPDATE api_tokens SET
			revoked_at = CASE WHEN revoked_at = '' THEN $1 ELSE revoked_at END WHERE id = $2`, sqldb.FormatTime(at), id)
	})
	if err != nil {
		return readingErr(fmt.Sprintf("revoke token %d", id), err)
	}
	return nil
}

func (r *Reading) TouchToken(ctx context.Context, id int64, at time.Time) error {
	ts := sqldb.FormatTime(at)
	return r.exec(ctx, fmt.Sprintf("touch token %d", id),
		`UPDATE api_tokens SET last_used_at = $1 WHERE id = $2 AND last_used_at < $1`, ts, id)
}
