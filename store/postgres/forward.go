package postgres

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"pacsd/forward"
	"pacsd/store"
	"pacsd/store/sqldb"
)

// Forwarding is the forwarding queue and its configuration on this database
// (forward.Queue; tables of 0006_forward_hl7.sql). It is closed with the index.
//
// Several nodes share the queue. Claim leases each row it returns to one node: it locks
// the due rows with FOR UPDATE SKIP LOCKED, so a node claiming at the same time takes other
// rows, and marks them with the owner, the lease's end (next_at) and a new lease number
// from the sequence leases. A node that dies leaves rows that fall due again when the lease
// ends, and another node claims them. Done records an outcome only while the row still
// carries the lease number this Forwarding's Claim gave it: a node whose lease ended and
// was taken over records nothing over the new owner's work. The numbers are kept in
// memory, so one node should claim and record through one Forwarding (cmd/pacsd hands one
// to its forward.Forwarder); Done for a job this value did not claim records it as SQLite
// does, by the row being pending alone.
type Forwarding struct {
	x *Index

	mu     sync.Mutex
	leases map[int64]jobLease // job ID → the claim not yet recorded
}

// jobLease is one of a Forwarding's claims.
type jobLease struct {
	owner string
	lease int64
}

var _ forward.Queue = (*Forwarding)(nil)

// Forwarding returns a forwarding repository on this database.
func (x *Index) Forwarding() *Forwarding { return &Forwarding{x: x, leases: map[int64]jobLease{}} }

// enqueueForwards queues inst for every destination a rule sends it to, in PutInstance's
// transaction: the forward is as durable as the instance (DESIGN.md section 6). An object
// held in quarantine (unknown sender) is not forwarded. An instance already pending for a
// destination is not queued twice (forward_queue_pending).
func enqueueForwards(ctx context.Context, tx *sql.Tx, inst *store.Instance, modality string) error {
	if inst.Origin.Quarantined {
		return nil
	}
	now := sqldb.FormatTime(time.Now())
	_, err := tx.ExecContext(ctx, `INSERT INTO forward_queue (dest_id, sop_uid, study_uid, next_at, created_at)
		SELECT DISTINCT r.dest_id, $1, $2, $3, $3 FROM forward_rules r
		JOIN forward_destinations d ON d.id = r.dest_id
		WHERE r.enabled AND d.enabled AND r.site IN ('', $4) AND r.calling_ae IN ('', $5)
			AND r.modality IN ('', $6) AND r.sop_class IN ('', $7)
		ON CONFLICT (sop_uid, dest_id) WHERE state = 'pending' DO NOTHING`,
		inst.SOPInstanceUID, inst.StudyInstanceUID, now,
		inst.Origin.Site, inst.Origin.CallingAE, modality, inst.SOPClassUID)
	if err != nil {
		return dbErr("queue forwards", err)
	}
	return nil
}

// fwdErr maps database errors to forward's sentinels (a duplicate name, a rule of a missing
// destination: invalid); nil stays nil.
func fwdErr(op string, err error) error {
	return sqldb.ForwardErr(op, err, func(err error) bool { return strings.HasPrefix(pgCode(err), "23") }, dbErr)
}

// Destinations lists every destination by name, secrets included.
func (f *Forwarding) Destinations(ctx context.Context) ([]forward.Destination, error) {
	return sqldb.QueryAll(ctx, f.x.db, fwdErr, "forward destinations", sqldb.ScanDestination,
		`SELECT `+sqldb.DestinationCols+` FROM forward_destinations ORDER BY name`)
}

// Destination returns one destination, secret included.
func (f *Forwarding) Destination(ctx context.Context, id int64) (forward.Destination, error) {
	d, err := sqldb.ScanDestination(f.x.db.QueryRowContext(ctx,
		`SELECT `+sqldb.DestinationCols+` FROM forward_destinations WHERE id = $1`, id))
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
	now := sqldb.FormatTime(time.Now())
	err := f.x.inTx(ctx, func(tx *sql.Tx) error {
		if d.ID == 0 {
			return tx.QueryRowContext(ctx, `INSERT INTO forward_destinations (name, kind, ae, url, auth, username, secret, enabled, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
				d.Name, d.Kind, d.AETitle, d.URL, d.Auth, d.User, d.Secret, d.Enabled, now).Scan(&d.ID)
		}
		return sqldb.ExecExisting(ctx, tx, fmt.Errorf("destination %d: %w", d.ID, forward.ErrNotFound),
			`UPDATE forward_destinations SET name = $1, kind = $2, ae = $3, url = $4, auth = $5, username = $6,
				secret = CASE WHEN $5 = '' THEN '' WHEN $7 <> '' THEN $7 ELSE secret END, enabled = $8, updated_at = $9
			WHERE id = $10`,
			d.Name, d.Kind, d.AETitle, d.URL, d.Auth, d.User, d.Secret, d.Enabled, now, d.ID)
	})
	return fwdErr("save forward destination "+d.Name, err)
}

// DeleteDestination removes a destination with its rules and queue.
func (f *Forwarding) DeleteDestination(ctx context.Context, id int64) error {
	err := f.x.inTx(ctx, func(tx *sql.Tx) error {
		return sqldb.ExecExisting(ctx, tx, fmt.Errorf("destination %d: %w", id, forward.ErrNotFound),
			`DELETE FROM forward_destinations WHERE id = $1`, id)
	})
	return fwdErr("delete forward destination", err)
}

// Rules lists every rule, by destination then id.
func (f *Forwarding) Rules(ctx context.Context) ([]forward.Rule, error) {
	return sqldb.QueryAll(ctx, f.x.db, fwdErr, "forward rules", sqldb.ScanRule,
		`SELECT `+sqldb.RuleCols+` FROM forward_rules ORDER BY dest_id, id`)
}

// SaveRule inserts r (ID 0, which it sets) or updates it.
func (f *Forwarding) SaveRule(ctx context.Context, r *forward.Rule) error {
	if err := r.Validate(); err != nil {
		return err
	}
	now := sqldb.FormatTime(time.Now())
	err := f.x.inTx(ctx, func(tx *sql.Tx) error {
		if r.ID == 0 {
			return tx.QueryRowContext(ctx, `INSERT INTO forward_rules (dest_id, site, calling_ae, modality, sop_class, enabled, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
				r.DestinationID, r.Site, r.CallingAE, r.Modality, r.SOPClassUID, r.Enabled, now).Scan(&r.ID)
		}
		return sqldb.ExecExisting(ctx, tx, fmt.Errorf("rule %d: %w", r.ID, forward.ErrNotFound),
			`UPDATE forward_rules SET dest_id = $1, site = $2, calling_ae = $3, modality = $4, sop_class = $5,
				enabled = $6, updated_at = $7 WHERE id = $8`,
			r.DestinationID, r.Site, r.CallingAE, r.Modality, r.SOPClassUID, r.Enabled, now, r.ID)
	})
	return fwdErr("save forward rule", err)
}

// DeleteRule removes a rule; what it queued stays queued.
func (f *Forwarding) DeleteRule(ctx context.Context, id int64) error {
	err := f.x.inTx(ctx, func(tx *sql.Tx) error {
		return sqldb.ExecExisting(ctx, tx, fmt.Errorf("rule %d: %w", id, forward.ErrNotFound),
			`DELETE FROM forward_rules WHERE id = $1`, id)
	})
	return fwdErr("delete forward rule", err)
}

// Claim implements forward.Queue: the oldest due job's study, its due jobs in arrival
// order, leased to owner (see Forwarding). Rows another node is claiming at the same moment
// are skipped, not waited for: that node may take part of a study while this one takes the
// rest, but no row goes to both.
func (f *Forwarding) Claim(ctx context.Context, destID int64, owner string, now time.Time, lease time.Duration, limit int) ([]forward.Job, error) {
	var jobs []forward.Job
	var leaseNo int64
	nowS, until := sqldb.FormatTime(now), sqldb.FormatTime(now.Add(lease))
	err := f.x.inTx(ctx, func(tx *sql.Tx) error {
		jobs = nil
		rows, err := tx.QueryContext(ctx, `WITH first AS (
				SELECT study_uid FROM forward_queue WHERE dest_id = $1 AND state = 'pending' AND next_at <= $2
				ORDER BY next_at, id LIMIT 1 FOR UPDATE SKIP LOCKED),
			picked AS (
				SELECT q.id FROM forward_queue q JOIN first ON q.study_uid = first.study_uid
				WHERE q.dest_id = $1 AND q.state = 'pending' AND q.next_at <= $2
				ORDER BY q.id LIMIT $3 FOR UPDATE OF q SKIP LOCKED),
			claim AS MATERIALIZED (SELECT nextval('leases') AS n) -- one number for the claim
			UPDATE forward_queue q SET next_at = $4, owner = $5, attempts = q.attempts + 1, lease = claim.n
			FROM picked, claim WHERE q.id = picked.id
			RETURNING q.id, q.sop_uid, q.study_uid, q.attempts, q.lease`,
			destID, nowS, limit, until, owner)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			j := forward.Job{DestinationID: destID}
			if err := rows.Scan(&j.ID, &j.SOPInstanceUID, &j.StudyUID, &j.Attempts, &leaseNo); err != nil {
				return err
			}
			jobs = append(jobs, j)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fwdErr("claim forwards", err)
	}
	slices.SortFunc(jobs, func(a, b forward.Job) int { return cmp.Compare(a.ID, b.ID) })
	f.mu.Lock()
	for _, j := range jobs {
		f.leases[j.ID] = jobLease{owner: owner, lease: leaseNo}
	}
	f.mu.Unlock()
	return jobs, nil
}

// Release implements forward.Queue: owner's leases end now, whichever Forwarding took them.
func (f *Forwarding) Release(ctx context.Context, owner string, now time.Time) error {
	err := f.x.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE forward_queue SET next_at = $1, owner = '', lease = 0
			WHERE state = 'pending' AND owner = $2`, sqldb.FormatTime(now), owner)
		return err
	})
	if err != nil {
		return fwdErr("release forwards", err)
	}
	f.mu.Lock()
	for id, l := range f.leases {
		if l.owner == owner {
			delete(f.leases, id)
		}
	}
	f.mu.Unlock()
	return nil
}

// Done implements forward.Queue. Only pending rows change (a row sent stays sent), and of
// those only the ones still under this Forwarding's lease (see Forwarding): an outcome
// from a lease another node took over is dropped, and logged.
func (f *Forwarding) Done(ctx context.Context, destID int64, outcomes []forward.Outcome, now, retryAt time.Time, destErr string) error {
	f.mu.Lock()
	held := make([]int64, len(outcomes)) // the lease number, 0 when this value did not claim the job
	for i, o := range outcomes {
		held[i] = f.leases[o.JobID].lease
	}
	f.mu.Unlock()
	var stale []int64
	anyOK := false
	err := f.x.inTx(ctx, func(tx *sql.Tx) error {
		stale = nil
		for i, o := range outcomes {
			anyOK = anyOK || o.OK
			r := sqldb.ForwardOutcome(o, now, retryAt)
			// $6 = 0: a job this value did not claim is recorded while pending, as on SQLite.
			res, err := tx.ExecContext(ctx, `UPDATE forward_queue SET state = $1, done_at = $2, last_error = $3, next_at = $4,
					owner = '', lease = 0
				WHERE id = $5 AND state = 'pending' AND ($6 = 0 OR lease = $6)`,
				r.State, r.DoneAt, r.LastError, r.NextAt, o.JobID, held[i])
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 0 && held[i] != 0 {
				stale = append(stale, o.JobID)
			}
		}
		if q, args := sqldb.DestinationStatus(pgSQL, destID, destErr, anyOK, now); q != "" {
			_, err := tx.ExecContext(ctx, q, args...)
			return err
		}
		return nil
	})
	if err != nil {
		return fwdErr("record forwards", err)
	}
	f.mu.Lock()
	for _, o := range outcomes {
		delete(f.leases, o.JobID)
	}
	f.mu.Unlock()
	if len(stale) > 0 {
		// The send may have happened twice (this node's and the new owner's): the lease was
		// shorter than the work, or this node stalled past it.
		slog.Warn("forward outcomes dropped: their lease was taken over by another claim", "component", "forward-queue",
			"destination", destID, "jobs", stale)
	}
	return nil
}

// Enqueue implements forward.Queue (a manual re-send).
func (f *Forwarding) Enqueue(ctx context.Context, destID int64, studyUID string, now time.Time) (int, error) {
	var n int64
	nowS := sqldb.FormatTime(now)
	err := f.x.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		n, err = sqldb.EnqueueStudy(ctx, tx, `SELECT EXISTS (SELECT 1 FROM forward_destinations WHERE id = $1)`,
			`INSERT INTO forward_queue (dest_id, sop_uid, study_uid, next_at, created_at, manual)
			SELECT $1, i.sop_uid, s.study_uid, $2, $2, true FROM instances i
			JOIN series se ON se.id = i.series_pk JOIN studies s ON s.id = se.study_pk
			WHERE s.study_uid = $3 ORDER BY se.series_number, i.instance_number, i.sop_uid
			ON CONFLICT (sop_uid, dest_id) WHERE state = 'pending' DO NOTHING`, destID, destID, nowS, studyUID)
		return err
	})
	if err != nil {
		return 0, fwdErr("re-send study", err)
	}
	return int(n), nil
}

// Retry implements forward.Queue. Of an instance failed more than once for a destination,
// the newest row is made pending (one pending row per instance and destination).
func (f *Forwarding) Retry(ctx context.Context, destID int64, now time.Time) (int, error) {
	var n int64
	err := f.x.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		n, err = sqldb.ExecCount(ctx, tx, `UPDATE forward_queue SET state = 'pending', attempts = 0, next_at = $1,
				done_at = '', owner = '', lease = 0
			WHERE id IN (SELECT max(f.id) FROM forward_queue f
				WHERE f.dest_id = $2 AND f.state = 'failed' AND NOT EXISTS (SELECT 1 FROM forward_queue p
					WHERE p.dest_id = f.dest_id AND p.sop_uid = f.sop_uid AND p.state = 'pending')
				GROUP BY f.sop_uid)`,
			sqldb.FormatTime(now), destID)
		return err
	})
	if err != nil {
		return 0, fwdErr("retry failed forwards", err)
	}
	return int(n), nil
}

// Statuses implements forward.Queue, secrets cleared.
func (f *Forwarding) Statuses(ctx context.Context) ([]forward.Status, error) {
	return sqldb.QueryAll(ctx, f.x.db, fwdErr, "forward status", sqldb.ScanStatus, sqldb.StatusQuery)
}
