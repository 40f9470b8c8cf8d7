package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"pacsd/audit"
	"pacsd/store/sqldb"
)

// Audit is the audit trail's store (audit.Store) on one SQLite database's writer and
// readers: audit.db's (OpenAudit, the trail pacsd keeps), or the index's own, where pacsd
// kept it before audit.db (Index.Audit). The tables, the triggers that make them
// append-only and the search's SQL are the same in both.
type Audit struct {
	x     *Index // the database's writer and read pool
	names *sqldb.AuditNames
}

var _ audit.Store = (*Audit)(nil)

// newAudit is the trail on x's database. Name keys are kept as they are: the names table's
// key column is NOCASE.
func newAudit(x *Index) *Audit { return &Audit{x: x, names: sqldb.NewAuditNames(nil)} }

// Audit returns the audit trail's store in the index's own tables (migration 0007_audit.sql),
// where pacsd kept it before audit.db and where older data directories still hold it. Every
// commit to the index's file costs the index's readers their page cache, so a trail there
// slows every search that records an event: pacsd records into audit.db (Index.OpenAudit,
// which imports these tables once) and only purges these.
func (x *Index) Audit() *Audit { return newAudit(x) }

// auditSearch is SQLite's part of a search's SQL. The names table leads a name search: a
// name's events are few next to the whole trail, which the planner (without statistics)
// might otherwise walk in time order; CROSS JOIN keeps that order. user_name is a NOCASE
// column.
var auditSearch = sqldb.AuditDialect{
	UserName: "e.user_name = ? AND e.user_name <> ''",
	Names:    `(SELECT DISTINCT event_id FROM audit_names WHERE key LIKE ? ESCAPE '\') n CROSS JOIN audit_events e ON e.id = n.event_id`,
}

func (a *Audit) Append(ctx context.Context, evs []audit.Event) error {
	if len(evs) == 0 {
		return nil
	}
	err := a.x.write(ctx, func(tx *sql.Tx) error {
		ins, err := tx.Prepare(sqldb.AuditInsert)
		if err != nil {
			return err
		}
		defer ins.Close()
		var name *sql.Stmt
		for _, e := range evs {
			res, err := ins.Exec(sqldb.AuditValues(&e)...)
			if err != nil {
				return err
			}
			keys := a.names.Keys(e.PatientName)
			if len(keys) == 0 {
				continue
			}
			id, err := res.LastInsertId()
			if err != nil {
				return err
			}
			if name == nil {
				if name, err = tx.Prepare(`INSERT OR IGNORE INTO audit_names (key, event_id) VALUES (?, ?)`); err != nil {
					return err
				}
				defer name.Close()
			}
			for _, k := range keys {
				if _, err := name.Exec(k, id); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return dbErr(fmt.Sprintf("append %d audit events", len(evs)), err)
	}
	return nil
}

func (a *Audit) Search(ctx context.Context, f audit.Filter) (audit.Page, error) {
	q, args, limit, err := sqldb.AuditQuery(f, auditSearch)
	if err != nil {
		return audit.Page{}, err
	}
	evs, err := sqldb.QueryAll(ctx, a.x.r, dbErr, "search audit events", sqldb.ScanAuditEvent, q, args...)
	if err != nil {
		return audit.Page{}, err
	}
	return sqldb.AuditPage(evs, limit), nil
}

func (a *Audit) Purge(ctx context.Context, before time.Time) (int64, error) {
	if err := audit.CheckPurge(before, time.Now()); err != nil {
		return 0, fmt.Errorf("purge audit events before %s: younger than %v: %w", before.UTC().Format(time.DateOnly), audit.MinRetention, err)
	}
	horizon := fmtTime(before)
	var purge int64
	if err := a.x.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`INSERT INTO audit_retention (horizon, at) VALUES (?, ?)`, horizon, fmtTime(time.Now()))
		if err != nil {
			return err
		}
		purge, err = res.LastInsertId()
		return err
	}); err != nil {
		return 0, dbErr("purge audit events", err)
	}
	// The chunks run without the caller's context, as the rest of the writer's transactions
	// (write).
	bg := context.Background()
	return sqldb.PurgeChunks(func(fn func(*sql.Tx) error) error { return a.x.write(ctx, fn) }, dbErr, func(tx *sql.Tx) (int64, error) {
		found, err := sqldb.QueryAll(bg, tx, nil, "", sqldb.ScanID,
			`SELECT id FROM audit_events WHERE time < ? ORDER BY time LIMIT ?`, horizon, sqldb.AuditPurgeChunk)
		if err != nil || len(found) == 0 {
			return 0, err
		}
		ids := make([]any, len(found))
		for i, id := range found {
			ids[i] = id
		}
		in := "(?" + strings.Repeat(", ?", len(ids)-1) + ")"
		// Events first: a name key goes only once its event has gone (the triggers).
		n, err := sqldb.ExecCount(bg, tx, `DELETE FROM audit_events WHERE id IN `+in, ids...)
		if err != nil {
			return 0, err
		}
		if _, err := tx.Exec(`DELETE FROM audit_names WHERE event_id IN `+in, ids...); err != nil {
			return 0, err
		}
		_, err = tx.Exec(`UPDATE audit_retention SET deleted = deleted + ? WHERE id = ?`, n, purge)
		return n, err
	})
}
