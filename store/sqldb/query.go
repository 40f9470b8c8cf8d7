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

// Queryer runs a query: *sql.DB, *sql.Tx and *sql.Conn.
type Queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// EachRow runs q and calls fn with every row scan makes of it, while the rows are read. An
// error from fn ends the loop and comes back as it is; the query's and scan's errors go
// through mapErr with op named, or come back raw when mapErr is nil (inside a transaction,
// whose caller maps them). Each engine keeps its own SQL text; this is the loop around it.
func EachRow[T any](ctx context.Context, db Queryer, mapErr ErrMapper, op, q string, args []any, scan func(Scanner) (T, error), fn func(T) error) error {
	if mapErr == nil {
		mapErr = func(_ string, err error) error { return err }
	}
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return mapErr(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return mapErr(op, err)
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return mapErr(op, err)
	}
	return nil
}

// QueryAll runs a query and scans every row with scan (EachRow); op names it in errors,
// which mapErr turns into the caller's. No row is a nil slice.
func QueryAll[T any](ctx context.Context, db Queryer, mapErr ErrMapper, op string, scan func(Scanner) (T, error), q string, args ...any) ([]T, error) {
	var out []T
	err := EachRow(ctx, db, mapErr, op, q, args, scan, func(v T) error {
		out = append(out, v)
		return nil
	})
	if err != nil {
		return nil, err
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

// ExecCount runs a statement and says how many rows it changed.
func ExecCount(ctx context.Context, tx *sql.Tx, q string, args ...any) (int64, error) {
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
