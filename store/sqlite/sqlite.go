package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-sqlite3"

	"pacsd/store"
	"pacsd/store/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// maxBatch bounds how many waiting writes share one transaction: enough to absorb 64
// associations, small enough that one batch never holds the write lock for long.
const maxBatch = 128

// Index is a store.Index on one SQLite file.
type Index struct {
	w *sql.DB // the one write connection, used only by the writer goroutine
	r *sql.DB // read pool

	reqs    chan *writeReq
	quit    chan struct{}
	stopped chan struct{}
	close   sync.Once

	peers peerCache // the AE table as PeerLookup answers it (peers.go)
	stmts stmtCache // prepared searches (search.go)
}

var _ store.Index = (*Index)(nil)

type writeReq struct {
	ctx context.Context
	fn  func(tx *sql.Tx) error
	res chan error
}

var errClosed = fmt.Errorf("index closed: %w", store.ErrUnavailable)

// Open opens (creating and migrating when needed) the index at path.
func Open(ctx context.Context, path string) (*Index, error) {
	// busy_timeout only matters for a second process (e.g. the sqlite3 shell) holding a
	// lock: inside pacsd the writer goroutine is the only writer. _stmt_cache_size keeps each
	// connection's prepared statements: without it every Exec and Query is compiled again,
	// which was a quarter of the server's CPU per small object ingested (issue 15).
	// A 32 MiB page cache per reader (SQLite's default is 2 MiB) keeps the studies a
	// search reads in the connection: a 10,000-study name search reads ~1 MB of rows.
	return openFile(ctx, "index", path, "_busy_timeout=10000&_foreign_keys=on&_journal_mode=WAL&_stmt_cache_size=64",
		"&_cache_size=-32768", 8, func(ctx context.Context, w *sql.DB) error {
			if err := migrateFS(ctx, w, migrations, "migrations"); err != nil {
				return err
			}
			return backfillNames(ctx, w)
		})
}

// openFile opens a SQLite file with the index's machinery, the index's and audit.db's
// alike: one writer connection (common parameters, FULL synchronous, transactions that
// begin immediate; its pragmas checked) that prepare readies (migrations), then a pool of
// readers read-only connections (common and readerParams), and the writer goroutine. what
// names the database in errors.
func openFile(ctx context.Context, what, path, common, readerParams string, readers int,
	prepare func(ctx context.Context, w *sql.DB) error) (*Index, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("open %s %q: path must be non-empty without '?' or '#'", what, path)
	}
	w, err := sql.Open("sqlite3", path+"?"+common+"&_synchronous=FULL&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open %s %s: %w", what, path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := checkPragmas(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s %s: %w", what, path, err)
	}
	if err := prepare(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s %s: %w", what, path, err)
	}
	r, err := sql.Open("sqlite3", path+"?"+common+"&_query_only=true"+readerParams)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s %s: %w", what, path, err)
	}
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)
	idx := &Index{
		w:       w,
		r:       r,
		reqs:    make(chan *writeReq),
		quit:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	go idx.writer()
	return idx, nil
}

// checkPragmas makes sure the durability settings took: a silent fallback from WAL (e.g. on
// a filesystem without shared memory) would change what "committed" means.
func checkPragmas(ctx context.Context, db *sql.DB) error {
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("read journal_mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal_mode is %q, want wal", mode)
	}
	var syncMode int
	if err := db.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&syncMode); err != nil {
		return fmt.Errorf("read synchronous: %w", err)
	}
	if syncMode != 2 { // FULL
		return fmt.Errorf("synchronous is %d, want 2 (FULL)", syncMode)
	}
	return nil
}

// migrateFS applies the migrations in dir of fsys (sqldb.Migrations) newer than the
// database, each in one transaction, recording them in its schema_version table.
func migrateFS(ctx context.Context, db *sql.DB, fsys fs.FS, dir string) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_version: %w", err)
	}
	var cur int
	if err := db.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_version").Scan(&cur); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	ms, err := sqldb.Migrations(fsys, dir)
	if err != nil {
		return err
	}
	pending, err := sqldb.Pending(ms, cur)
	if err != nil {
		return err
	}
	for _, m := range pending {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
			m.Version, time.Now().UTC().Format(time.RFC3339)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %s: commit: %w", m.Name, err)
		}
	}
	return nil
}

// Close stops the writer (writes already queued are committed first) and closes the database.
func (x *Index) Close() error {
	var err error
	x.close.Do(func() {
		close(x.quit)
		<-x.stopped
		// Lets SQLite refresh the planner statistics it finds stale; cheap, and best effort.
		x.w.Exec("PRAGMA optimize")
		x.stmts.close()
		err = errors.Join(x.r.Close(), x.w.Close())
	})
	return err
}

// write runs fn in the writer's transaction and returns once that transaction has committed
// (or failed). Once handed over, a write is waited for even if ctx ends meanwhile: the caller
// must not mistake a committed write for a failed one (it would delete a blob the index
// references). A write whose ctx has ended before the writer reaches it is skipped.
func (x *Index) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	req := &writeReq{ctx: ctx, fn: fn, res: make(chan error, 1)}
	select {
	case x.reqs <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-x.quit:
		return errClosed
	}
	return <-req.res
}

// execExisting runs, in a write, a statement about a row that must be there (an UPDATE or
// DELETE by key): when it changes no row, the row is missing (or not in the state the
// statement requires) and the error is missing. Other errors are the statement's, raw.
func execExisting(tx *sql.Tx, missing error, q string, args ...any) error {
	return sqldb.ExecExisting(context.Background(), tx, missing, q, args...)
}

func (x *Index) writer() {
	defer close(x.stopped)
	for {
		var batch []*writeReq
		select {
		case r := <-x.reqs:
			batch = append(batch, r)
		case <-x.quit:
			return
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case r := <-x.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		x.runBatch(batch)
	}
}

// runBatch applies the writes of a batch in one transaction, each inside a savepoint.
// Statements run under context.Background(): cancelling one caller's context would interrupt
// the connection and roll back everybody's writes (sqlite3_interrupt aborts the transaction).
func (x *Index) runBatch(batch []*writeReq) {
	res := make([]error, len(batch))
	fail := func(err error) {
		for i, r := range batch {
			if res[i] == nil {
				res[i] = err
			}
			r.res <- res[i]
		}
	}
	ctx := context.Background()
	tx, err := x.w.BeginTx(ctx, nil)
	if err != nil {
		fail(dbErr("begin", err))
		return
	}
	applied := 0
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			res[i] = err
			continue
		}
		if _, err := tx.ExecContext(ctx, "SAVEPOINT w"); err != nil {
			tx.Rollback()
			fail(dbErr("savepoint", err))
			return
		}
		if err := r.fn(tx); err != nil {
			res[i] = err
			if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO w"); rerr != nil {
				// SQLite rolled back the whole transaction itself (disk full, I/O error):
				// nobody's write survives.
				tx.Rollback()
				fail(err)
				return
			}
		} else {
			applied++
		}
		if _, err := tx.ExecContext(ctx, "RELEASE w"); err != nil {
			tx.Rollback()
			fail(dbErr("release savepoint", err))
			return
		}
	}
	if applied == 0 {
		tx.Rollback()
	} else if err := tx.Commit(); err != nil {
		fail(dbErr("commit", err))
		return
	}
	for i, r := range batch {
		r.res <- res[i]
	}
}

// dbErr wraps a database error with op and the store sentinel transports translate:
// ErrNoSpace for a full disk (SQLITE_FULL, ENOSPC), ErrUnavailable otherwise. Errors that
// already carry a store sentinel or a context error pass through with op added.
func dbErr(op string, err error) error {
	var se sqlite3.Error
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrInvalid),
		errors.Is(err, store.ErrNoSpace), errors.Is(err, store.ErrUnavailable),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w", op, err)
	case errors.As(err, &se) && se.Code == sqlite3.ErrFull, store.IsNoSpace(err):
		return fmt.Errorf("%s: %w: %w", op, store.ErrNoSpace, err)
	}
	return fmt.Errorf("%s: %w: %w", op, store.ErrUnavailable, err)
}
