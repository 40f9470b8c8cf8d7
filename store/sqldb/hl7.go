package sqldb

import (
	"math"

	"pacsd/hl7"
)

// The HIS link's records (package hl7): refused messages and the outbox of reports, their
// columns and row decoders for both engines.

// RejectedCols are the columns ScanRejected reads, from hl7_rejected.
const RejectedCols = `id, received_at, remote, message_type, control_id, ack_code, reason, raw`

// ScanRejected decodes a row of RejectedCols.
func ScanRejected(row Scanner) (hl7.Rejected, error) {
	var r hl7.Rejected
	var at string
	err := row.Scan(&r.ID, &at, &r.Remote, &r.MessageType, &r.ControlID, &r.Code, &r.Reason, &r.Raw)
	r.ReceivedAt = ParseTime(at)
	return r, err
}

// RejectedPage is the page the list of refused messages shows: before 0 (or less) is from
// the newest, limit is 100 unless 1 to 1000.
func RejectedPage(before int64, limit int) (int64, int) {
	if before <= 0 {
		before = math.MaxInt64
	}
	return before, OutboundLimit(limit)
}

// OutboundLimit is how many rows a list for the administrator shows: 100 unless limit is 1
// to 1000.
func OutboundLimit(limit int) int {
	if limit <= 0 || limit > 1000 {
		return 100
	}
	return limit
}

// OutboxCols are the columns ScanOutbound reads, from hl7_outbox.
const OutboxCols = `id, dest, study_uid, version, payload, created_at, attempts, next_at, last_error, sent_at`

// ScanOutbound decodes a row of OutboxCols.
func ScanOutbound(row Scanner) (hl7.Outbound, error) {
	var m hl7.Outbound
	var created, next, sent string
	err := row.Scan(&m.ID, &m.Dest, &m.StudyUID, &m.Version, &m.Payload, &created, &m.Attempts, &next, &m.LastError, &sent)
	m.CreatedAt, m.NextAt, m.SentAt = ParseTime(created), ParseTime(next), ParseTime(sent)
	return m, err
}

// ReportRef names one signed report version.
type ReportRef struct {
	StudyUID string
	Version  int
}

// ScanReportRef decodes a row of (study_uid, version).
func ScanReportRef(row Scanner) (ReportRef, error) {
	var r ReportRef
	err := row.Scan(&r.StudyUID, &r.Version)
	return r, err
}
