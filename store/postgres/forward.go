package postgres

import (
	"context"
	"database/sql"
	"time"

	"pacsd/store"
	"pacsd/store/sqldb"
)

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
