// Package forward sends stored studies on to other archives: to a DICOM peer by C-STORE
// (PS3.4 B, pacsd as SCU) or to a DICOMweb server by STOW-RS (PS3.18 10.5). Rules
// (by sending site, calling AE title, modality, SOP class) choose destinations at ingest;
// the index keeps one queue row per (instance, destination), written in the same
// transaction as the instance, so a crash after the acknowledgement cannot lose a
// forward. The Forwarder works the queue: one loop per destination, oldest first, a
// study per batch, retries with back-off, and a row once sent is never sent again (a
// manual re-send adds new rows).
//
// This package holds the domain types, the Queue the index implements (store/sqlite) and
// the Forwarder; the transports are in forward/send. It is not the C-MOVE SCP (qr).
package forward

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Sentinel errors of the queue's repository.
var (
	ErrNotFound = errors.New("not found")
	ErrInvalid  = errors.New("invalid")
)

// Kinds of destination.
const (
	KindDICOM = "dicom" // C-STORE to a registered peer (reading.Peer with Destination)
	KindSTOW  = "stow"  // STOW-RS POST {URL}/studies
)

// Authentication schemes of a STOW-RS destination.
const (
	AuthNone   = ""
	AuthBasic  = "basic"  // RFC 7617
	AuthBearer = "bearer" // RFC 6750
)

// Destination is where forwarded objects go.
type Destination struct {
	ID      int64  `json:"id"`
	Name    string `json:"name"`
	Kind    string `json:"kind"`              // KindDICOM or KindSTOW
	AETitle string `json:"aeTitle,omitempty"` // KindDICOM: the registered peer's AE title
	URL     string `json:"url,omitempty"`     // KindSTOW: the DICOMweb base URL (…/dicom-web)
	Auth    string `json:"auth,omitempty"`    // KindSTOW: AuthNone, AuthBasic, AuthBearer
	User    string `json:"user,omitempty"`    // AuthBasic
	// Secret is the password (AuthBasic) or token (AuthBearer). The repository keeps it;
	// lists for display clear it (HasSecret says whether one is set), and an update with
	// an empty Secret keeps the stored one.
	Secret    string `json:"secret,omitempty"`
	HasSecret bool   `json:"hasSecret"`
	Enabled   bool   `json:"enabled"`
}

// Validate checks a destination before it is stored.
func (d *Destination) Validate() error {
	d.Name = strings.TrimSpace(d.Name)
	if d.Name == "" {
		return fmt.Errorf("destination: name required: %w", ErrInvalid)
	}
	switch d.Kind {
	case KindDICOM:
		d.AETitle = strings.TrimSpace(d.AETitle)
		if d.AETitle == "" || len(d.AETitle) > 16 {
			return fmt.Errorf("destination %q: AE title required (at most 16 characters): %w", d.Name, ErrInvalid)
		}
		d.URL, d.Auth, d.User, d.Secret = "", AuthNone, "", ""
	case KindSTOW:
		u, err := url.Parse(d.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("destination %q: URL must be http(s)://host/...: %w", d.Name, ErrInvalid)
		}
		d.URL = strings.TrimRight(d.URL, "/")
		d.AETitle = ""
		switch d.Auth {
		case AuthNone:
			d.User, d.Secret = "", ""
		case AuthBasic:
			if d.User == "" || strings.Contains(d.User, ":") {
				return fmt.Errorf("destination %q: basic authentication needs a user name without ':': %w", d.Name, ErrInvalid)
			}
		case AuthBearer:
			d.User = ""
		default:
			return fmt.Errorf("destination %q: authentication %q: %w", d.Name, d.Auth, ErrInvalid)
		}
	default:
		return fmt.Errorf("destination %q: kind %q (dicom or stow): %w", d.Name, d.Kind, ErrInvalid)
	}
	return nil
}

// Rule sends what matches it to a destination. An empty criterion matches anything; an
// object matching several rules of one destination is queued once.
type Rule struct {
	ID            int64  `json:"id"`
	DestinationID int64  `json:"destinationId"`
	Site          string `json:"site,omitempty"`      // store.Origin.Site: "site:<id>", "county", "ae:<title>"
	CallingAE     string `json:"callingAE,omitempty"` // the sender's AE title (DIMSE)
	Modality      string `json:"modality,omitempty"`  // (0008,0060) of the series
	SOPClassUID   string `json:"sopClassUID,omitempty"`
	Enabled       bool   `json:"enabled"`
}

// Validate checks a rule before it is stored.
func (r *Rule) Validate() error {
	r.Site, r.CallingAE = strings.TrimSpace(r.Site), strings.TrimSpace(r.CallingAE)
	r.Modality, r.SOPClassUID = strings.ToUpper(strings.TrimSpace(r.Modality)), strings.TrimSpace(r.SOPClassUID)
	if r.DestinationID == 0 {
		return fmt.Errorf("rule: destination required: %w", ErrInvalid)
	}
	return nil
}

// Job is one queued (instance, destination) pair.
type Job struct {
	ID             int64
	DestinationID  int64
	SOPInstanceUID string
	StudyUID       string
	Attempts       int // including the one now claimed
}

// Status is a destination's state for the admin page and /metrics.
type Status struct {
	Destination
	Queued       int64     `json:"queued"`       // pending rows
	Failed       int64     `json:"failed"`       // rows given up (refused by the peer too often, or gone)
	Sent         int64     `json:"sent"`         // rows sent (kept as history)
	FailingSince time.Time `json:"failingSince"` // zero while the last attempt succeeded
	LastError    string    `json:"lastError,omitempty"`
	LastSuccess  time.Time `json:"lastSuccess"`
}

// Outcome of one job.
type Outcome struct {
	JobID int64
	OK    bool
	// Permanent: the object cannot be sent (gone from the archive): no retry.
	Permanent bool
	Err       string
	// RetryAt, when set, is when a failed job is due again (else Done's retryAt).
	RetryAt time.Time
}

// Queue is the index's forwarding queue and configuration (store/sqlite implements it).
type Queue interface {
	Destinations(ctx context.Context) ([]Destination, error) // secrets included
	Destination(ctx context.Context, id int64) (Destination, error)
	SaveDestination(ctx context.Context, d *Destination) error // insert (ID 0) or update
	DeleteDestination(ctx context.Context, id int64) error
	Rules(ctx context.Context) ([]Rule, error)
	SaveRule(ctx context.Context, r *Rule) error
	DeleteRule(ctx context.Context, id int64) error

	// Claim takes up to limit due pending jobs of a destination, all of one study (the
	// oldest due), and leases them to owner until now+lease: another node, or this one's
	// next pass, does not take them meanwhile. Attempts is incremented.
	Claim(ctx context.Context, destID int64, owner string, now time.Time, lease time.Duration, limit int) ([]Job, error)
	// Release makes the jobs leased by owner due at once (at start: a restart after a
	// crash does not wait for its own leases to expire).
	Release(ctx context.Context, owner string, now time.Time) error
	// Done records outcomes: OK rows become sent (never sent again), Permanent ones failed,
	// the others pending again at retryAt; the destination's status follows (destErr, when
	// not empty, marks it failing since the first failure).
	Done(ctx context.Context, destID int64, outcomes []Outcome, now, retryAt time.Time, destErr string) error
	// Enqueue queues every instance of a study for a destination (a manual re-send): new
	// rows, whatever was sent before; an instance already pending is not queued twice.
	Enqueue(ctx context.Context, destID int64, studyUID string, now time.Time) (int, error)
	// Retry makes the rows a destination gave up on (failed) pending again, due at now,
	// their attempts counted afresh (a manual re-send from the admin page); a row whose
	// instance is pending already stays failed.
	Retry(ctx context.Context, destID int64, now time.Time) (int, error)
	// Statuses counts the queue per destination.
	Statuses(ctx context.Context) ([]Status, error)
}
