package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"pacsd/hl7"
	"pacsd/store/sqldb"
)

// HL7 keeps what package hl7 needs in the index (migration 0014): the received messages
// that were refused, and the queue of reports going out to the HIS.
type HL7 struct{ x *Index }

var (
	_ hl7.RejectStore = (*HL7)(nil)
	_ hl7.Outbox      = (*HL7)(nil)
)

// HL7 returns the HL7 store on this index. It is closed with the index.
func (x *Index) HL7() *HL7 { return &HL7{x: x} }

// KeepRejected records a refused message.
func (h *HL7) KeepRejected(ctx context.Context, r hl7.Rejected) error {
	return h.x.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO hl7_rejected (received_at, remote, message_type, control_id, ack_code, reason, raw)
			VALUES (?,?,?,?,?,?,?)`, fmtTime(r.ReceivedAt), r.Remote, r.MessageType, r.ControlID, r.Code, r.Reason, r.Raw)
		if err != nil {
			return fmt.Errorf("keep refused hl7 message: %w", err)
		}
		return nil
	})
}

// Rejected lists refused messages, newest first, at most limit (0: 100) before the ID
// before (0: from the newest).
func (h *HL7) Rejected(ctx context.Context, before int64, limit int) ([]hl7.Rejected, error) {
	before, limit = sqldb.RejectedPage(before, limit)
	return queryAll(ctx, h.x.r, "refused hl7 messages", sqldb.ScanRejected, `SELECT `+sqldb.RejectedCols+`
		FROM hl7_rejected WHERE id < ? ORDER BY id DESC LIMIT ?`, before, limit)
}

// EnqueueOutbound implements hl7.Outbox.
func (h *HL7) EnqueueOutbound(ctx context.Context, msgs []hl7.Outbound) error {
	return h.x.write(ctx, func(tx *sql.Tx) error {
		for _, m := range msgs {
			if _, err := tx.Exec(`INSERT INTO hl7_outbox (dest, study_uid, version, payload, created_at, next_at)
				VALUES (?,?,?,?,?,?) ON CONFLICT (dest, study_uid, version) DO NOTHING`,
				m.Dest, m.StudyUID, m.Version, m.Payload, fmtTime(m.CreatedAt), fmtTime(m.NextAt)); err != nil {
				return fmt.Errorf("queue report for %s: %w", m.Dest, err)
			}
		}
		return nil
	})
}

// DueOutbound implements hl7.Outbox.
func (h *HL7) DueOutbound(ctx context.Context, now time.Time, limit int) ([]hl7.Outbound, error) {
	return queryAll(ctx, h.x.r, "reports to send", sqldb.ScanOutbound, `SELECT `+sqldb.OutboxCols+` FROM hl7_outbox
		WHERE sent_at = '' AND next_at <= ? ORDER BY next_at, id LIMIT ?`, fmtTime(now), limit)
}

// Outbound lists the queue, newest first (sent ones too), for the administrator.
func (h *HL7) Outbound(ctx context.Context, limit int) ([]hl7.Outbound, error) {
	return queryAll(ctx, h.x.r, "reports sent", sqldb.ScanOutbound, `SELECT `+sqldb.OutboxCols+` FROM hl7_outbox
		ORDER BY id DESC LIMIT ?`, sqldb.OutboundLimit(limit))
}

// MarkOutbound implements hl7.Outbox.
func (h *HL7) MarkOutbound(ctx context.Context, m hl7.Outbound) error {
	return h.x.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`UPDATE hl7_outbox SET attempts = ?, next_at = ?, last_error = ?, sent_at = ? WHERE id = ?`,
			m.Attempts, fmtTime(m.NextAt), m.LastError, fmtTime(m.SentAt), m.ID)
		if err != nil {
			return fmt.Errorf("record report sending: %w", err)
		}
		return nil
	})
}

// ReportRef names one signed report version (sqldb's, shared with PostgreSQL).
type ReportRef = sqldb.ReportRef

// UnqueuedReports lists the report versions signed (final or amended) at or after since that
// have no row in the outbox for dest: what a crash between a signature's commit and its
// queueing left behind (cmd/pacsd queues them at start). Oldest first, at most limit.
func (h *HL7) UnqueuedReports(ctx context.Context, dest string, since time.Time, limit int) ([]ReportRef, error) {
	return queryAll(ctx, h.x.r, "reports not queued for "+dest, sqldb.ScanReportRef, `SELECT r.study_uid, r.version FROM reports r
		WHERE r.status <> 'draft' AND r.signed_at >= ?
			AND NOT EXISTS (SELECT 1 FROM hl7_outbox o WHERE o.dest = ? AND o.study_uid = r.study_uid AND o.version = r.version)
		ORDER BY r.signed_at LIMIT ?`, fmtTime(since), dest, limit)
}
