package sqldb

import (
	"context"
	"database/sql"
)

// Scanner is a row: *sql.Row and *sql.Rows.
type Scanner = interface{ Scan(...any) error }

// ErrMapper turns a driver's error into the caller's (ErrNotFound, ErrConflict, ...), with
// the operation op named.
type ErrMapper func(op string, err error) error

// QueryAll runs a query and scans every row with scan; op names it in errors, which mapErr
// turns into the caller's.
func QueryAll[T any](ctx context.Context, db *sql.DB, mapErr ErrMapper, op string, scan func(Scanner) (T, error), q string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, mapErr(op, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, mapErr(op, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(op, err)
	}
	return out, nil
}

// ExecExisting runs a statement that must change a row (UPDATE or DELETE by key): when it
// changes no row, the row is missing (or not in the state the statement requires) and the
// error is missing. Other errors are the statement's, raw.
func ExecExisting(ctx context.Context, tx *sql.Tx, missing error, q string, args ...any) error {
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return missing
	}
	return nil
}
