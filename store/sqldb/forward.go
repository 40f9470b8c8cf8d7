package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"pacsd/forward"
)

// The forwarding queue's configuration and status (package forward): the columns both
// engines select, the row decoders and the error mapping. Claims, leases and upserts are
// the engines' own SQL.

// DestinationCols are the columns ScanDestination reads, from forward_destinations.
const DestinationCols = `id, name, kind, ae, url, auth, username, secret, enabled`

// ScanDestination decodes a row of DestinationCols, secret included.
func ScanDestination(row Scanner) (forward.Destination, error) {
	var d forward.Destination
	err := row.Scan(&d.ID, &d.Name, &d.Kind, &d.AETitle, &d.URL, &d.Auth, &d.User, &d.Secret, &d.Enabled)
	d.HasSecret = d.Secret != ""
	return d, err
}

// RuleCols are the columns ScanRule reads, from forward_rules.
const RuleCols = `id, dest_id, site, calling_ae, modality, sop_class, enabled`

// ScanRule decodes a row of RuleCols.
func ScanRule(row Scanner) (forward.Rule, error) {
	var r forward.Rule
	err := row.Scan(&r.ID, &r.DestinationID, &r.Site, &r.CallingAE, &r.Modality, &r.SOPClassUID, &r.Enabled)
	return r, err
}

// StatusQuery lists every destination with its queue's counts, by name, for ScanStatus: the
// same text on both engines (it has no parameters).
const StatusQuery = `SELECT d.id, d.name, d.kind, d.ae, d.url, d.auth, d.username, d.secret <> '', d.enabled,
	d.failing_since, d.last_error, d.last_success,
	(SELECT count(*) FROM forward_queue q WHERE q.dest_id = d.id AND q.state = 'pending'),
	(SELECT count(*) FROM forward_queue q WHERE q.dest_id = d.id AND q.state = 'sent'),
	(SELECT count(*) FROM forward_queue q WHERE q.dest_id = d.id AND q.state = 'failed')
	FROM forward_destinations d ORDER BY d.name`

// ScanStatus decodes a row of StatusQuery; the secret is not read (HasSecret says whether
// one is set).
func ScanStatus(row Scanner) (forward.Status, error) {
	var s forward.Status
	var failing, success string
	err := row.Scan(&s.ID, &s.Name, &s.Kind, &s.AETitle, &s.URL, &s.Auth, &s.User, &s.HasSecret, &s.Enabled,
		&failing, &s.LastError, &success, &s.Queued, &s.Sent, &s.Failed)
	s.FailingSince, s.LastSuccess = ParseTime(failing), ParseTime(success)
	return s, err
}

// ForwardErr maps an engine's error to forward's sentinels, with op named: nil stays nil,
// the sentinels pass through, no row is forward.ErrNotFound, a violated constraint
// (isConstraint, the engine's test: a duplicate destination name, a rule of a missing
// destination) is forward.ErrInvalid, and anything else is the engine's dbErr.
func ForwardErr(op string, err error, isConstraint func(error) bool, dbErr ErrMapper) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, forward.ErrNotFound), errors.Is(err, forward.ErrInvalid):
		return fmt.Errorf("%s: %w", op, err)
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%s: %w", op, forward.ErrNotFound)
	case isConstraint(err):
		return fmt.Errorf("%s: %w: %w", op, forward.ErrInvalid, err)
	}
	return dbErr(op, err)
}

// ForwardRow is what recording an outcome writes on its queue row, while pending.
type ForwardRow struct {
	State     string // sent (never sent again), failed (given up) or pending (again)
	DoneAt    string // when it left the queue; "" while pending
	LastError string
	NextAt    string // pending: when due again
}

// ForwardOutcome is the row o leaves: OK sent, Permanent failed, anything else pending
// again at its RetryAt, or else at retryAt (forward.Queue.Done).
func ForwardOutcome(o forward.Outcome, now, retryAt time.Time) ForwardRow {
	switch {
	case o.OK:
		return ForwardRow{State: "sent", DoneAt: FormatTime(now), NextAt: FormatTime(now)}
	case o.Permanent:
		return ForwardRow{State: "failed", DoneAt: FormatTime(now), LastError: o.Err, NextAt: FormatTime(now)}
	}
	if !o.RetryAt.IsZero() {
		retryAt = o.RetryAt
	}
	return ForwardRow{State: "pending", LastError: o.Err, NextAt: FormatTime(retryAt)}
}

// DestinationStatus is the statement, with its arguments, that records a destination's
// status after a batch: failing since its first failure while destErr is set, else
// working again once a job went through (anyOK); "" when neither.
func DestinationStatus(d Dialect, destID int64, destErr string, anyOK bool, now time.Time) (string, []any) {
	switch {
	case destErr != "":
		return `UPDATE forward_destinations SET last_error = ` + d.Ph(1) + `,
			failing_since = CASE WHEN failing_since = '' THEN ` + d.Ph(2) + ` ELSE failing_since END
			WHERE id = ` + d.Ph(3), []any{destErr, FormatTime(now), destID}
	case anyOK:
		return `UPDATE forward_destinations SET failing_since = '', last_success = ` + d.Ph(1) + `
			WHERE id = ` + d.Ph(2), []any{FormatTime(now), destID}
	}
	return "", nil
}

// EnqueueStudy is forward.Queue's Enqueue in its write transaction: destination destID must
// exist (exists, the engine's query of whether it does, with destID its one argument), then
// insert queues the study's instances (its arguments args); the number queued.
func EnqueueStudy(ctx context.Context, tx *sql.Tx, exists, insert string, destID int64, args ...any) (int64, error) {
	var ok bool
	if err := tx.QueryRowContext(ctx, exists, destID).Scan(&ok); err != nil {
		return 0, err
	}
	if !ok {
		return 0, fmt.Errorf("destination %d: %w", destID, forward.ErrNotFound)
	}
	return ExecCount(ctx, tx, insert, args...)
}
