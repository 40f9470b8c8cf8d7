package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"pacsd/audit"
	"pacsd/store/sqldb"
)

// Audit is the audit trail's store (audit.Store) on the index's database (migration
// 0005_audit.sql), shared by every node: each Append is one transaction of its own, and the
// trail is closed with the index.
type Audit struct {
	x     *Index
	names *sqldb.AuditNames
}

var _ audit.Store = (*Audit)(nil)

// Audit returns the audit trail's store. Close the Recorder writing to it before the index.
func (x *Index) Audit() *Audit {
	return &Audit{x: x, names: sqldb.NewAuditNames(strings.ToLower)}
}

// auditSearch is PostgreSQL's part of a search's SQL: user names and name keys compare in
// lower case (the indexes of migration 0005 are of the lower-case values).
var auditSearch = sqldb.AuditDialect{
	UserName: "lower(e.user_name) = lower(?) AND e.user_name <> ''",
	Names:    `(SELECT DISTINCT event_id FROM audit_names WHERE key LIKE ?) n JOIN audit_events e ON e.id = n.event_id`,
	Fold:     strings.ToLower,
}

var auditInsert = dollar(sqldb.AuditInsert + " RETURNING id")

func (a *Audit) Append(ctx context.Context, evs []audit.Event) error {
	if len(evs) == 0 {
		return nil
	}
	// inTx may run this again (a serialization failure): the events' copies are normalized
	// each time, the caller's slice is left alone.
	err := a.x.inTx(ctx, func(tx *sql.Tx) error {
		ins, err := tx.PrepareContext(ctx, auditInsert)
		if err != nil {
			return err
		}
		defer ins.Close()
		// The name keys of the whole batch go in one statement, not a round trip each.
		var keys []string
		var ids []int64
		for _, e := range evs {
			var id int64
			if err := ins.QueryRowContext(ctx, sqldb.AuditValues(&e)...).Scan(&id); err != nil {
				return err
			}
			for _, k := range a.names.Keys(e.PatientName) {
				keys, ids = append(keys, k), append(ids, id)
			}
		}
		if len(keys) == 0 {
			return nil
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO audit_names (key, event_id)
			SELECT * FROM unnest($1::text[], $2::bigint[]) ON CONFLICT DO NOTHING`, keys, ids)
		return err
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
	evs, err := sqldb.QueryAll(ctx, a.x.db, dbErr, "search audit events", sqldb.ScanAuditEvent, dollar(q), args...)
	if err != nil {
		return audit.Page{}, err
	}
	return sqldb.AuditPage(evs, limit), nil
}

func (a *Audit) Purge(ctx context.Context, before time.Time) (int64, error) {
	if err := audit.CheckPurge(before, time.Now()); err != nil {
		return 0, fmt.Errorf("purge audit events before %s: younger than %v: %w", before.UTC().Format(time.DateOnly), audit.MinRetention, err)
	}
	horizon := sqldb.FormatTime(before)
	var purge int64
	if err := a.x.db.QueryRowContext(ctx, `INSERT INTO audit_retention (horizon, at) VALUES ($1, $2) RETURNING id`,
		horizon, sqldb.FormatTime(time.Now())).Scan(&purge); err != nil {
		return 0, dbErr("purge audit events", err)
	}
	return sqldb.PurgeChunks(func(fn func(*sql.Tx) error) error { return a.x.inTx(ctx, fn) }, dbErr, func(tx *sql.Tx) (int64, error) {
		// Events first: a name key goes only once its event has gone (the triggers).
		ids, err := sqldb.QueryAll(ctx, tx, nil, "", sqldb.ScanID, `DELETE FROM audit_events WHERE id IN (
			SELECT id FROM audit_events WHERE time < $1 ORDER BY time LIMIT $2) RETURNING id`, horizon, sqldb.AuditPurgeChunk)
		if err != nil || len(ids) == 0 {
			return 0, err
		}
		n := int64(len(ids))
		if _, err := tx.ExecContext(ctx, `DELETE FROM audit_names WHERE event_id = ANY($1)`, ids); err != nil {
			return 0, err
		}
		_, err = tx.ExecContext(ctx, `UPDATE audit_retention SET deleted = deleted + $1 WHERE id = $2`, n, purge)
		return n, err
	})
}
