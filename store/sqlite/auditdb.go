package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

//go:embed audit_migrations/*.sql
var auditMigrations embed.FS

// AuditFile is the audit trail's database in the data directory, beside the index's file.
const AuditFile = "audit.db"

// AuditPath is where the trail of the index at indexPath is kept: AuditFile in the index's
// directory (the data directory: <data-dir>/audit.db beside <data-dir>/index.db).
func AuditPath(indexPath string) string { return filepath.Join(filepath.Dir(indexPath), AuditFile) }

// AuditDB is the audit trail in its own SQLite database (audit_migrations), with its own
// writer and readers. It used to live in the index's file, where every commit of a batch
// of events invalidated the page cache of every index reader: each QIDO-RS search or C-FIND
// that recorded an event made the next searches read the index cold (1-1.7 ms more for a
// 472-study name search). In a file of its own, the index's readers keep their cache.
type AuditDB struct {
	*Audit
	// db is audit.db's connections and writer goroutine: the index's machinery (group
	// commit, savepoint per write) on another file, without the index's schema.
	db *Index
}

// OpenAudit opens (creating and migrating when needed) the audit trail's database at path.
// Close it after the Recorder writing to it.
func OpenAudit(ctx context.Context, path string) (*AuditDB, error) {
	// The index's settings (Open, openFile): WAL, FULL synchronous, one writer connection
	// that begins immediate transactions. The readers serve only the audit pages: a few,
	// with SQLite's default page cache.
	db, err := openFile(ctx, "audit trail", path, "_busy_timeout=10000&_journal_mode=WAL&_stmt_cache_size=32", "", 4,
		func(ctx context.Context, w *sql.DB) error {
			return migrateFS(ctx, w, auditMigrations, "audit_migrations")
		})
	if err != nil {
		return nil, err
	}
	return &AuditDB{Audit: newAudit(db), db: db}, nil
}

// Close stops the writer (queued writes are committed first) and closes the database.
func (a *AuditDB) Close() error { return a.db.Close() }

// OpenAudit opens the audit trail beside the index (AuditPath of its file) and imports, the
// first time, the trail an older pacsd kept in the index's own tables (ImportIndex).
func (x *Index) OpenAudit(ctx context.Context) (*AuditDB, error) {
	path, err := x.Path(ctx)
	if err != nil {
		return nil, fmt.Errorf("open audit trail: %w", err)
	}
	a, err := OpenAudit(ctx, AuditPath(path))
	if err != nil {
		return nil, err
	}
	if _, err := a.ImportIndex(ctx, path); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// Path is the index's file, as SQLite names it (absolute).
func (x *Index) Path(ctx context.Context) (string, error) {
	var seq int
	var name, file string
	if err := x.r.QueryRowContext(ctx, `SELECT seq, name, file FROM pragma_database_list WHERE name = 'main'`).Scan(&seq, &name, &file); err != nil {
		return "", fmt.Errorf("index file: %w", err)
	}
	if file == "" {
		return "", errors.New("index file: the index is not a file")
	}
	return file, nil
}

// ImportIndex copies the audit tables of the index at indexPath (where pacsd kept the trail
// before audit.db: events, name keys, retention horizons, IDs kept) into this database, and
// says how many events it copied. The copy and the record that it was made are one
// transaction: an interrupted import leaves nothing and runs again at the next start; a
// finished one is not repeated (0, nil).
//
// The index's tables are left as they are: they are the only copy of that history until
// audit.db is backed up and replicated with the index, and a lost audit.db is imported from
// them again. Nothing writes them any more but the retention purge (Index.Audit().Purge).
func (a *AuditDB) ImportIndex(ctx context.Context, indexPath string) (int64, error) {
	op := "import the audit trail from " + indexPath
	source := filepath.Base(indexPath)
	var done int64
	err := a.db.r.QueryRowContext(ctx, `SELECT events FROM audit_imports WHERE source = ?`, source).Scan(&done)
	if err == nil {
		return 0, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, dbErr(op, err)
	}
	// ATTACH would create a missing file: an index that is not there is an error, not an
	// empty trail.
	if _, err := os.Stat(indexPath); err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	// The writer's own connection (the pool's only one), taken from the writer goroutine
	// for the time of the copy: ATTACH is per connection and not allowed in a transaction.
	conn, err := a.db.w.Conn(ctx)
	if err != nil {
		return 0, dbErr(op, err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `ATTACH DATABASE ? AS old`, indexPath); err != nil {
		return 0, dbErr(op, err)
	}
	defer conn.ExecContext(context.Background(), `DETACH DATABASE old`)
	var n int64
	err = func() error {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		var tables int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM old.sqlite_master
			WHERE type = 'table' AND name IN ('audit_events', 'audit_names', 'audit_retention')`).Scan(&tables); err != nil {
			return err
		}
		if tables == 3 {
			res, err := tx.ExecContext(ctx, `INSERT INTO main.audit_events (id, time, actor_kind, user_id, user_name, ae_title,
				address, action, patient_id, patient_name, study_uid, object, outcome, detail, count)
				SELECT id, time, actor_kind, user_id, user_name, ae_title, address, action, patient_id, patient_name,
				study_uid, object, outcome, detail, count FROM old.audit_events ORDER BY id`)
			if err != nil {
				return err
			}
			if n, err = res.RowsAffected(); err != nil {
				return err
			}
			for _, q := range []string{
				`INSERT INTO main.audit_names (key, event_id) SELECT key, event_id FROM old.audit_names`,
				`INSERT INTO main.audit_retention (id, horizon, at, deleted)
					SELECT id, horizon, at, deleted FROM old.audit_retention ORDER BY id`,
				// AUTOINCREMENT never reuses an ID, not even one purged before the copy.
				`INSERT OR REPLACE INTO main.sqlite_sequence (name, seq)
					SELECT name, seq FROM old.sqlite_sequence WHERE name = 'audit_events'
					AND seq > COALESCE((SELECT seq FROM main.sqlite_sequence WHERE name = 'audit_events'), 0)`,
			} {
				if _, err := tx.ExecContext(ctx, q); err != nil {
					return err
				}
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_imports (source, events, at) VALUES (?, ?, ?)`,
			source, n, fmtTime(time.Now())); err != nil {
			return err
		}
		return tx.Commit()
	}()
	if err != nil {
		return 0, dbErr(op, err)
	}
	return n, nil
}
