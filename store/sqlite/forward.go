package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mattn/go-sqlite3"

	"pacsd/forward"
	"pacsd/store"
	"pacsd/store/sqldb"
)

// Forwarding is the forwarding queue and its configuration on this index (forward.Queue;
// tables of 0012_forward.sql). It is closed with the index.
type Forwarding struct{ x *Index }

var _ forward.Queue = (*Forwarding)(nil)

// Forwarding returns the forwarding repository on this index.
func (x *Index) Forwarding() *Forwarding { return &Forwarding{x: x} }

// enqueueForwards queues inst for every destination a rule sends it to, in PutInstance's
// transaction: the forward is as durable as the instance (DESIGN.md section 6). An object
// held in quarantine (unknown sender) is not forwarded. An instance already pending for a
// destination is not queued twice (forward_queue_pending).
func enqueueForwards(tx *sql.Tx, inst *store.Instance, modality string) error {
	if inst.Origin.Quarantined {
		return nil
	}
	now := time.Now().UTC().Format(timeFormat)
	_, err := tx.Exec(`INSERT OR IGNORE INTO forward_queue (dest_id, sop_uid, study_uid, next_at, created_at)
		SELECT DISTINCT r.dest_id, ?, ?, ?, ? FROM forward_rules r
		JOIN forward_destinations d ON d.id = r.dest_id
		WHERE r.enabled = 1 AND d.enabled = 1 AND r.site IN ('', ?) AND r.calling_ae IN ('', ?)
			AND r.modality IN ('', ?) AND r.sop_class IN ('', ?)`,
		inst.SOPInstanceUID, inst.StudyInstanceUID, now, now,
		inst.Origin.Site, inst.Origin.CallingAE, modality, inst.SOPClassUID)
	if err != nil {
		return dbErr("queue forwards", err)
	}
	return nil
}

func fwdTime(t time.Time) string { return t.UTC().Format(timeFormat) }

// fwdErr maps database errors to forward's sentinels (a duplicate name is invalid); nil
// stays nil.
func fwdErr(op string, err error) error {
	return sqldb.ForwardErr(op, err, func(err error) bool {
		var se sqlite3.Error
		return errors.As(err, &se) && se.Code == sqlite3.ErrConstraint
	}, dbErr)
}

// Destinations lists every destination by name, secrets included.
func (f *Forwarding) Destinations(ctx context.Context) ([]forward.Destination, error) {
	return sqldb.QueryAll(ctx, f.x.r, fwdErr, "forward destinations", sqldb.ScanDestination,
		`SELECT `+sqldb.DestinationCols+` FROM forward_destinations ORDER BY name`)
}

// Destination returns one destination, secret included.
func (f *Forwarding) Destination(ctx context.Context, id int64) (forward.Destination, error) {
	d, err := sqldb.ScanDestination(f.x.r.QueryRowContext(ctx, `SELECT `+sqldb.DestinationCols+` FROM forward_destinations WHERE id = ?`, id))
	if err != nil {
		return d, fwdErr(fmt.Sprintf("forward destination %d", id), err)
	}
	return d, nil
}

// SaveDestination inserts d (ID 0, which it sets) or updates it; an empty Secret keeps the
// stored one unless the authentication scheme no longer uses one.
func (f *Forwarding) SaveDestination(ctx context.Context, d *forward.Destination) error {
	if err := d.Validate(); err != nil {
		return err
	}
	now := fwdTime(time.Now())
	err := f.x.write(ctx, func(tx *sql.Tx) error {
		if d.ID == 0 {
			return tx.QueryRow(`INSERT INTO forward_destinations (name, kind, ae, url, auth, username, secret, enabled, updated_at)
				VALUES (?,?,?,?,?,?,?,?,?) RETURNING id`, d.Name, d.Kind, d.AETitle, d.URL, d.Auth, d.User, d.Secret, d.Enabled, now).Scan(&d.ID)
		}
		return execExisting(tx, fmt.Errorf("destination %d: %w", d.ID, forward.ErrNotFound),
			`UPDATE forward_destinations SET name=?, kind=?, ae=?, url=?, auth=?, username=?,
				secret = CASE WHEN ? = '' THEN '' WHEN ? <> '' THEN ? ELSE secret END, enabled=?, updated_at=? WHERE id=?`,
			d.Name, d.Kind, d.AETitle, d.URL, d.Auth, d.User, d.Auth, d.Secret, d.Secret, d.Enabled, now, d.ID)
	})
	if err != nil {
		return fwdErr("save forward destination "+d.Name, err)
	}
	return nil
}

// DeleteDestination removes a destination with its rules and queue.
func (f *Forwarding) DeleteDestination(ctx context.Context, id int64) error {
	err := f.x.write(ctx, func(tx *sql.Tx) error {
		return execExisting(tx, fmt.Errorf("destination %d: %w", id, forward.ErrNotFound), "DELETE FROM forward_destinations WHERE id = ?", id)
	})
	return fwdErr("delete forward destination", err)
}

// Rules lists every rule, by destination then id.
func (f *Forwarding) Rules(ctx context.Context) ([]forward.Rule, error) {
	return sqldb.QueryAll(ctx, f.x.r, fwdErr, "forward rules", sqldb.ScanRule,
		`SELECT `+sqldb.RuleCols+` FROM forward_rules ORDER BY dest_id, id`)
}

// SaveRule inserts r (ID 0, which it sets) or updates it.
func (f *Forwarding) SaveRule(ctx context.Context, r *forward.Rule) error {
	if err := r.Validate(); err != nil {
		return err
	}
	now := fwdTime(time.Now())
	err := f.x.write(ctx, func(tx *sql.Tx) error {
		if r.ID == 0 {
			return tx.QueryRow(`INSERT INTO forward_rules (dest_id, site, calling_ae, modality, sop_class, enabled, updated_at)
				VALUES (?,?,?,?,?,?,?) RETURNING id`, r.DestinationID, r.Site, r.CallingAE, r.Modality, r.SOPClassUID, r.Enabled, now).Scan(&r.ID)
		}
		return execExisting(tx, fmt.Errorf("rule %d: %w", r.ID, forward.ErrNotFound),
			`UPDATE forward_rules SET dest_id=?, site=?, calling_ae=?, modality=?, sop_class=?, enabled=?, updated_at=? WHERE id=?`,
			r.DestinationID, r.Site, r.CallingAE, r.Modality, r.SOPClassUID, r.Enabled, now, r.ID)
	})
	return fwdErr("save forward rule", err)
}

// DeleteRule removes a rule; what it queued stays queued.
func (f *Forwarding) DeleteRule(ctx context.Context, id int64) error {
	err := f.x.write(ctx, func(tx *sql.Tx) error {
		return execExisting(tx, fmt.Errorf("rule %d: %w", id, forward.ErrNotFound), "DELETE FROM forward_rules WHERE id = ?", id)
	})
	return fwdErr("delete forward rule", err)
}

// Claim implements forward.Queue: the oldest due job's study, its due jobs in arrival order.
func (f *Forwarding) Claim(ctx context.Context, destID int64, owner string, now time.Time, lease time.Duration, limit int) ([]forward.Job, error) {
	var jobs []forward.Job
	nowS, until := fwdTime(now), fwdTime(now.Add(lease))
	err := f.x.write(ctx, func(tx *sql.Tx) error {
		jobs = nil
		var study string
		err := tx.QueryRow(`SELECT study_uid FROM forward_queue WHERE dest_id = ? AND state = 'pending' AND next_at <= ?
			ORDER BY next_at, id LIMIT 1`, destID, nowS).Scan(&study)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		rows, err := tx.Query(`SELECT id, sop_uid, attempts FROM forward_queue WHERE dest_id = ? AND study_uid = ?
			AND state = 'pending' AND next_at <= ? ORDER BY id LIMIT ?`, destID, study, nowS, limit)
		if err != nil {
			return err
		}
		for rows.Next() {
			j := forward.Job{DestinationID: destID, StudyUID: study}
			if err := rows.Scan(&j.ID, &j.SOPInstanceUID, &j.Attempts); err != nil {
				rows.Close()
				return err
			}
			j.Attempts++
			jobs = append(jobs, j)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, j := range jobs {
			if _, err := tx.Exec(`UPDATE forward_queue SET next_at = ?, owner = ?, attempts = attempts + 1 WHERE id = ?`,
				until, owner, j.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fwdErr("claim forwards", err)
	}
	return jobs, nil
}

// Release implements forward.Queue.
func (f *Forwarding) Release(ctx context.Context, owner string, now time.Time) error {
	err := f.x.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`UPDATE forward_queue SET next_at = ?, owner = '' WHERE state = 'pending' AND owner = ?`, fwdTime(now), owner)
		return err
	})
	return fwdErr("release forwards", err)
}

// Done implements forward.Queue. Only pending rows change: a row sent stays sent.
func (f *Forwarding) Done(ctx context.Context, destID int64, outcomes []forward.Outcome, now, retryAt time.Time, destErr string) error {
	anyOK := false
	err := f.x.write(ctx, func(tx *sql.Tx) error {
		for _, o := range outcomes {
			anyOK = anyOK || o.OK
			r := sqldb.ForwardOutcome(o, now, retryAt)
			if _, err := tx.Exec(`UPDATE forward_queue SET state = ?, done_at = ?, last_error = ?, next_at = ?, owner = ''
				WHERE id = ? AND state = 'pending'`, r.State, r.DoneAt, r.LastError, r.NextAt, o.JobID); err != nil {
				return err
			}
		}
		if q, args := sqldb.DestinationStatus(sqliteSQL, destID, destErr, anyOK, now); q != "" {
			_, err := tx.Exec(q, args...)
			return err
		}
		return nil
	})
	return fwdErr("record forwards", err)
}

// Enqueue implements forward.Queue (a manual re-send).
func (f *Forwarding) Enqueue(ctx context.Context, destID int64, studyUID string, now time.Time) (int, error) {
	var n int64
	nowS := fwdTime(now)
	err := f.x.write(ctx, func(tx *sql.Tx) error {
		// Without the caller's context, as the rest of the writer's transaction (write).
		var err error
		n, err = sqldb.EnqueueStudy(context.Background(), tx, "SELECT EXISTS (SELECT 1 FROM forward_destinations WHERE id = ?)",
			`INSERT OR IGNORE INTO forward_queue (dest_id, sop_uid, study_uid, next_at, created_at, manual)
			SELECT ?, i.sop_uid, s.study_uid, ?, ?, 1 FROM instances i
			JOIN series se ON se.id = i.series_pk JOIN studies s ON s.id = se.study_pk
			WHERE s.study_uid = ? ORDER BY se.series_number, i.instance_number, i.sop_uid`, destID, destID, nowS, nowS, studyUID)
		return err
	})
	if err != nil {
		return 0, fwdErr("re-send study", err)
	}
	return int(n), nil
}

// Retry implements forward.Queue.
func (f *Forwarding) Retry(ctx context.Context, destID int64, now time.Time) (int, error) {
	var n int64
	err := f.x.write(ctx, func(tx *sql.Tx) error {
		// Of an instance that failed in several sends, the newest row: one pending row per
		// instance and destination (forward_queue_pending).
		var err error
		n, err = sqldb.ExecCount(context.Background(), tx, `UPDATE forward_queue SET state = 'pending', attempts = 0, next_at = ?, done_at = '', owner = ''
			WHERE id IN (SELECT max(f.id) FROM forward_queue f
				WHERE f.dest_id = ? AND f.state = 'failed' AND NOT EXISTS (SELECT 1 FROM forward_queue p
					WHERE p.dest_id = f.dest_id AND p.sop_uid = f.sop_uid AND p.state = 'pending')
				GROUP BY f.sop_uid)`,
			fwdTime(now), destID)
		return err
	})
	if err != nil {
		return 0, fwdErr("retry failed forwards", err)
	}
	return int(n), nil
}

// Statuses implements forward.Queue, secrets cleared.
func (f *Forwarding) Statuses(ctx context.Context) ([]forward.Status, error) {
	return sqldb.QueryAll(ctx, f.x.r, fwdErr, "forward status", sqldb.ScanStatus, sqldb.StatusQuery)
}
