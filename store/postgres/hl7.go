package postgres

import (
	"context"
	"database/sql"
	"log/slog"
	"sync"
	"time"

	"pacsd/hl7"
	"pacsd/store/sqldb"
)

// Outbox leases: DueOutbound leases what it returns for outboxLease, and returns at most
// outboxClaim rows, so that the lease outlasts sending them one after another (hl7.Sender
// gives each 30 s by default) and a node that dies holds few reports back for long.
const (
	outboxLease = 5 * time.Minute
	outboxClaim = 5
)

// HL7 keeps what package hl7 needs on this database (0006_forward_hl7.sql): the received
// messages that were refused, and the queue of reports going out to the HIS.
//
// Every node may run a sender, and each report is sent by one of them: DueOutbound leases
// the rows it returns (FOR UPDATE SKIP LOCKED, next_at moved to the lease's end, a new
// lease number from the sequence leases), so another node's DueOutbound does not return
// them while the lease holds; MarkOutbound records the attempt only while the row carries
// the number of this HL7's lease (and never over a sent row), so a node whose lease ended
// and was taken over records nothing over the new owner's attempt. A node that dies leaves
// its rows leased until the lease ends; then another node sends them. A report is sent
// twice only when its sending outlasts its lease.
type HL7 struct {
	x *Index

	mu     sync.Mutex
	leases map[int64]int64 // outbox row → the lease number DueOutbound took, until MarkOutbound
}

var (
	_ hl7.RejectStore = (*HL7)(nil)
	_ hl7.Outbox      = (*HL7)(nil)
)

// ReportRef names one signed report version.
type ReportRef = sqldb.ReportRef

// HL7 returns an HL7 store on this database. A sender lists and marks through one value
// (the leases it took are kept in it).
func (x *Index) HL7() *HL7 { return &HL7{x: x, leases: map[int64]int64{}} }

// KeepRejected records a refused message.
func (h *HL7) KeepRejected(ctx context.Context, r hl7.Rejected) error {
	_, err := h.x.db.ExecContext(ctx, `INSERT INTO hl7_rejected (received_at, remote, message_type, control_id, ack_code, reason, raw)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		sqldb.FormatTime(r.ReceivedAt), r.Remote, r.MessageType, r.ControlID, r.Code, r.Reason, r.Raw)
	if err != nil {
		return dbErr("keep refused hl7 message", err)
	}
	return nil
}

// Rejected lists refused messages, newest first, at most limit (0: 100) before the ID
// before (0: from the newest).
func (h *HL7) Rejected(ctx context.Context, before int64, limit int) ([]hl7.Rejected, error) {
	before, limit = sqldb.RejectedPage(before, limit)
	return sqldb.QueryAll(ctx, h.x.db, dbErr, "refused hl7 messages", sqldb.ScanRejected, `SELECT `+sqldb.RejectedCols+`
		FROM hl7_rejected WHERE id < $1 ORDER BY id DESC LIMIT $2`, before, limit)
}

// EnqueueOutbound implements hl7.Outbox.
func (h *HL7) EnqueueOutbound(ctx context.Context, msgs []hl7.Outbound) error {
	return h.x.inTx(ctx, func(tx *sql.Tx) error {
		for _, m := range msgs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO hl7_outbox (dest, study_uid, version, payload, created_at, next_at)
				VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (dest, study_uid, version) DO NOTHING`,
				m.Dest, m.StudyUID, m.Version, m.Payload, sqldb.FormatTime(m.CreatedAt), sqldb.FormatTime(m.NextAt)); err != nil {
				return dbErr("queue report for "+m.Dest, err)
			}
		}
		return nil
	})
}

// DueOutbound implements hl7.Outbox, leasing what it returns (see HL7): at most limit, and
// at most outboxClaim, rows; NextAt is when each fell due.
func (h *HL7) DueOutbound(ctx context.Context, now time.Time, limit int) ([]hl7.Outbound, error) {
	if limit <= 0 || limit > outboxClaim {
		limit = outboxClaim
	}
	var due []hl7.Outbound
	var leases []int64
	err := h.x.inTx(ctx, func(tx *sql.Tx) error {
		due, leases = nil, nil
		rows, err := tx.QueryContext(ctx, `WITH due AS (
				SELECT id, next_at FROM hl7_outbox WHERE sent_at = '' AND next_at <= $1
				ORDER BY next_at, id LIMIT $2 FOR UPDATE SKIP LOCKED),
			claim AS MATERIALIZED (SELECT nextval('leases') AS n), -- one number for the claim
			leased AS (
				UPDATE hl7_outbox o SET next_at = $3, lease = claim.n FROM due, claim WHERE o.id = due.id
				RETURNING o.id, o.dest, o.study_uid, o.version, o.payload, o.created_at, o.attempts,
					due.next_at, o.last_error, o.sent_at, o.lease)
			SELECT * FROM leased ORDER BY next_at, id`,
			sqldb.FormatTime(now), limit, sqldb.FormatTime(now.Add(outboxLease)))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var lease int64
			m, err := sqldb.ScanOutbound(leaseScanner{rows, &lease})
			if err != nil {
				return err
			}
			due, leases = append(due, m), append(leases, lease)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, dbErr("reports to send", err)
	}
	h.mu.Lock()
	for i, m := range due {
		h.leases[m.ID] = leases[i]
	}
	h.mu.Unlock()
	return due, nil
}

// leaseScanner scans a row of sqldb.OutboxCols followed by the lease number.
type leaseScanner struct {
	rows  *sql.Rows
	lease *int64
}

func (s leaseScanner) Scan(dest ...any) error { return s.rows.Scan(append(dest, s.lease)...) }

// Outbound lists the queue, newest first (sent ones too), for the administrator.
func (h *HL7) Outbound(ctx context.Context, limit int) ([]hl7.Outbound, error) {
	return sqldb.QueryAll(ctx, h.x.db, dbErr, "reports sent", sqldb.ScanOutbound, `SELECT `+sqldb.OutboxCols+`
		FROM hl7_outbox ORDER BY id DESC LIMIT $1`, sqldb.OutboundLimit(limit))
}

// MarkOutbound implements hl7.Outbox. A sent row stays sent; a row this HL7 leased is
// recorded only under that lease (see HL7), and an attempt whose lease was taken over is
// dropped, and logged.
func (h *HL7) MarkOutbound(ctx context.Context, m hl7.Outbound) error {
	h.mu.Lock()
	lease, ok := h.leases[m.ID]
	delete(h.leases, m.ID)
	h.mu.Unlock()
	var n int64
	err := h.x.inTx(ctx, func(tx *sql.Tx) error {
		// $6 = 0: a row this value did not lease is recorded while unsent.
		res, err := tx.ExecContext(ctx, `UPDATE hl7_outbox SET attempts = $1, next_at = $2, last_error = $3, sent_at = $4, lease = 0
			WHERE id = $5 AND sent_at = '' AND ($6 = 0 OR lease = $6)`,
			m.Attempts, sqldb.FormatTime(m.NextAt), m.LastError, sqldb.FormatTime(m.SentAt), m.ID, lease)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return dbErr("record report sending", err)
	}
	if n == 0 && ok {
		slog.Warn("report sending not recorded: its lease was taken over by another node", "component", "hl7-outbox",
			"id", m.ID, "dest", m.Dest, "study_uid", m.StudyUID, "version", m.Version, "sent", !m.SentAt.IsZero())
	}
	return nil
}

// UnqueuedReports lists the report versions signed (final or amended) at or after since that
// have no row in the outbox for dest: what a crash between a signature's commit and its
// queueing left behind (cmd/pacsd queues them at start). Oldest first, at most limit.
func (h *HL7) UnqueuedReports(ctx context.Context, dest string, since time.Time, limit int) ([]ReportRef, error) {
	return queryAll(ctx, h.x.db, "reports not queued for "+dest, sqldb.ScanReportRef, `SELECT r.study_uid, r.version FROM reports r
		WHERE r.status <> 'draft' AND r.signed_at >= $1
			AND NOT EXISTS (SELECT 1 FROM hl7_outbox o WHERE o.dest = $2 AND o.study_uid = r.study_uid AND o.version = r.version)
		ORDER BY r.signed_at LIMIT $3`, sqldb.FormatTime(since), dest, limit)
}
