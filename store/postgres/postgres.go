package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"pacsd/reading"
	"pacsd/store"
	"pacsd/store/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the advisory lock key under which migrations run (any constant that no
// other program on the database uses: "pacsd" in ASCII).
const migrationLock = 0x7061637364

// Index is pacsd's catalogue on one PostgreSQL database: the store.Index, and through
// Reading, Audit, Forwarding and HL7 the other records kept beside it.
type Index struct {
	db    *sql.DB
	url   string
	peers peerCache     // the AE table in memory (peers.go)
	locks instanceLocks // LockInstance's connections (lock.go)
}

// Reading is the reading room's repositories (reading.Repository) on the index's database.
type Reading struct{ x *Index }

// Reading returns the reading room's repositories.
func (x *Index) Reading() *Reading { return &Reading{x} }

// IsURL reports whether s names a PostgreSQL database (postgres:// or postgresql://), as
// the index setting does; anything else is a SQLite file.
func IsURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Open connects to the database at url (postgres://user@host/db?...), bringing its schema
// up to date.
func Open(ctx context.Context, url string) (*Index, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("open index: %w", err)
	}
	// Searches, ingest and the reading room share the pool; PostgreSQL's default
	// max_connections (100) leaves room for several nodes at this size.
	db.SetMaxOpenConns(24)
	db.SetMaxIdleConns(24)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open index: %w: %w", store.ErrUnavailable, err)
	}
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open index: %w", err)
	}
	return &Index{db: db, url: url}, nil
}

// migrate applies the pending migrations in one transaction under an advisory lock: a
// second node starting at once waits, then finds nothing left to do.
func migrate(ctx context.Context, db *sql.DB) error {
	ms, err := sqldb.Migrations(migrations, "migrations")
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version integer PRIMARY KEY, applied_at text NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_version: %w", err)
	}
	var cur int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&cur); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	pending, err := sqldb.Pending(ms, cur)
	if err != nil {
		return err
	}
	for _, m := range pending {
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)`,
			m.Version, sqldb.FormatTime(time.Now())); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	return nil
}

// Close closes the connections.
func (x *Index) Close() error { return errors.Join(x.db.Close(), x.locks.close()) }

// inTx runs fn in a transaction and commits it. A serialization failure or deadlock (two
// nodes writing one study at once) is retried a few times: fn must be safe to run again.
func (x *Index) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	for attempt := 0; ; attempt++ {
		err := x.tryTx(ctx, fn)
		if err == nil || attempt == 4 || !retryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 5 * time.Millisecond):
		}
	}
}

func (x *Index) tryTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := x.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// pgCode is the SQLSTATE of a PostgreSQL error, or "".
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func retryable(err error) bool {
	c := pgCode(err)
	return c == "40001" || c == "40P01" // serialization_failure, deadlock_detected
}

// isUnique reports a unique (or primary key) violation.
func isUnique(err error) bool { return pgCode(err) == "23505" }

// dbErr wraps an index error with op: the store's sentinels pass through, a full disk is
// ErrNoSpace, anything else from the server is ErrUnavailable (the caller may retry).
func dbErr(op string, err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrInvalid),
		errors.Is(err, store.ErrNoSpace), errors.Is(err, store.ErrUnavailable),
		errors.Is(err, store.ErrConflict),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w", op, err)
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	case pgCode(err) == "53100", store.IsNoSpace(err): // disk_full
		return fmt.Errorf("%s: %w: %w", op, store.ErrNoSpace, err)
	}
	return fmt.Errorf("%s: %w: %w", op, store.ErrUnavailable, err)
}

// readingErr is dbErr for the reading room: its sentinels pass through, no row is
// reading.ErrNotFound, a violated constraint is reading.ErrConflict.
func readingErr(op string, err error) error {
	switch {
	case errors.Is(err, reading.ErrNotFound), errors.Is(err, reading.ErrConflict), errors.Is(err, reading.ErrInvalid):
		return fmt.Errorf("%s: %w", op, err)
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%s: %w", op, reading.ErrNotFound)
	case strings.HasPrefix(pgCode(err), "23"): // integrity_constraint_violation
		return fmt.Errorf("%s: %w: %w", op, reading.ErrConflict, err)
	}
	return dbErr(op, err)
}

// taken turns the violation of a field's uniqueness into the reading.FieldError a form
// shows next to that field; other errors pass unchanged.
func taken(field, value string, err error) error {
	if isUnique(err) {
		return &reading.FieldError{Field: field, Problem: reading.ProblemTaken, Value: value,
			Err: fmt.Errorf("%w: %w", reading.ErrConflict, err)}
	}
	return err
}

// queryAll runs a reading-room query and scans every row with scan.
func queryAll[T any](ctx context.Context, db *sql.DB, op string, scan func(sqldb.Scanner) (T, error), q string, args ...any) ([]T, error) {
	return sqldb.QueryAll(ctx, db, readingErr, op, scan, q, args...)
}
