package postgres

import (
	"context"
	"database/sql"
	"errors"
)

// Setting returns the value of key, "" when it was never set.
func (x *Index) Setting(ctx context.Context, key string) (string, error) {
	var v string
	err := x.db.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = $1`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", dbErr("read setting "+key, err)
	}
	return v, nil
}

// SetSetting sets key to value.
func (x *Index) SetSetting(ctx context.Context, key, value string) error {
	_, err := x.db.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	if err != nil {
		return dbErr("set setting "+key, err)
	}
	return nil
}
