package postgres

import (
	"context"
	"time"

	"pacsd/reading"
	"pacsd/store/sqldb"
)

// Browser sessions (reading.Users' sessions) are rows of the database, not a node's
// memory, so that a session made on one node is live on every node, and logging out (or
// disabling a user) ends it everywhere.

func (r *Reading) CreateSession(ctx context.Context, s reading.Session) error {
	return r.exec(ctx, "create session", `INSERT INTO sessions (token_hash, user_id, csrf, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5)`, s.TokenHash, s.UserID, s.CSRF, sqldb.FormatTime(s.CreatedAt), sqldb.FormatTime(s.ExpiresAt))
}

func (r *Reading) Session(ctx context.Context, tokenHash string, now time.Time) (reading.Session, reading.User, error) {
	s, u, err := sqldb.ScanSession(r.x.db.QueryRowContext(ctx, `SELECT `+sqldb.SessionUserCols+`
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.token_hash = $1 AND s.expires_at > $2 AND NOT u.disabled`, tokenHash, sqldb.FormatTime(now)))
	if err != nil {
		return reading.Session{}, reading.User{}, readingErr("session", err)
	}
	return s, u, nil
}

func (r *Reading) DeleteSession(ctx context.Context, tokenHash string) error {
	return r.exec(ctx, "delete session", `DELETE FROM sessions WHERE token_hash = $1`, tokenHash)
}

func (r *Reading) DeleteUserSessions(ctx context.Context, userID int64) error {
	return r.exec(ctx, "delete user sessions", `DELETE FROM sessions WHERE user_id = $1`, userID)
}

func (r *Reading) DeleteExpiredSessions(ctx context.Context, now time.Time) error {
	return r.exec(ctx, "delete expired sessions", `DELETE FROM sessions WHERE expires_at <= $1`, sqldb.FormatTime(now))
}
