package reading

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Critical findings (危急值): a radiologist flags a finding that cannot wait for the report
// to be read (a pneumothorax, an ectopic pregnancy); the site that sent the study must
// acknowledge it, saying whom it informed. The flag and its acknowledgement are records of
// their own, never edited afterwards.

// CriticalFinding is one flagged finding of a study.
type CriticalFinding struct {
	ID            int64
	StudyUID      string
	Category      string // a key of the viewer's category list ("pneumothorax", "other", ...)
	Text          string // what was found, in the radiologist's words
	FlaggedBy     int64
	FlaggedByName string
	FlaggedAt     time.Time
	// Set once, by the acknowledgement; zero until then.
	AckBy     int64
	AckByName string
	AckAt     time.Time
	Informed  string // whom the site informed (clinician, patient), free text

	// The study as the lists show it (read with the finding, not stored with it).
	SiteID      int64 // the study's site now; 0 unknown sender
	PatientName string
	PatientID   string
}

// Acknowledged reports whether the finding has been acknowledged.
func (f CriticalFinding) Acknowledged() bool { return !f.AckAt.IsZero() }

// Bounds of a finding's and an acknowledgement's text (characters).
const (
	MaxCriticalText = 1000
	MaxInformed     = 200
)

// Validate trims and checks a new finding.
func (f *CriticalFinding) Validate() error {
	f.Category = strings.TrimSpace(f.Category)
	f.Text = strings.TrimSpace(f.Text)
	switch {
	case f.Category == "":
		return invalid("category", ProblemRequired, "")
	case len(f.Category) > 32 || strings.ContainsFunc(f.Category, func(r rune) bool { return r <= ' ' || r > 0x7e }):
		return invalid("category", ProblemValue, f.Category)
	case f.Text == "":
		return invalid("text", ProblemRequired, "")
	case !utf8.ValidString(f.Text) || utf8.RuneCountInString(f.Text) > MaxCriticalText:
		return invalid("text", ProblemLength, "")
	case f.StudyUID == "":
		return invalid("study", ProblemRequired, "")
	}
	return nil
}

// CriticalFilter selects findings, newest flagged first.
type CriticalFilter struct {
	SiteID   int64  // only studies of this site; 0 any
	StudyUID string // only this study; "" any
	Open     bool   // only those not yet acknowledged
	Since    time.Time
	Limit    int // 0 means 100, at most 1000
}

// CriticalSiteStats are one site's figures: how fast its acknowledgements came, and how
// many are still waiting.
type CriticalSiteStats struct {
	SiteID       int64
	Flagged      int
	Acknowledged int
	Open         int
	Median, Max  time.Duration // flag to acknowledgement, of the acknowledged ones
}

// Claim is a radiologist's hold on a study while reading it, so that two do not report
// the same study. It lapses at ExpiresAt unless renewed (each save renews it).
type Claim struct {
	StudyUID  string
	UserID    int64
	UserName  string
	ClaimedAt time.Time
	ExpiresAt time.Time
}

// ClaimedError is the ErrConflict of a study another user holds: it names the holder.
type ClaimedError struct{ Claim Claim }

func (e *ClaimedError) Error() string {
	return fmt.Sprintf("study %s is claimed by %s until %s: %v", e.Claim.StudyUID, e.Claim.UserName,
		e.Claim.ExpiresAt.UTC().Format(time.RFC3339), ErrConflict)
}

func (e *ClaimedError) Unwrap() error { return ErrConflict }

// Phrase is one entry of the phrase library (常用词条): shared by all (OwnerID 0, kept by
// administrators) or one radiologist's own.
type Phrase struct {
	ID      int64
	OwnerID int64  // 0: shared
	Group   string // a heading the list groups by ("胸部", "超声", ...)
	Text    string
}

// Validate trims and checks a phrase.
func (p *Phrase) Validate() error {
	p.Group = strings.TrimSpace(p.Group)
	p.Text = strings.TrimSpace(p.Text)
	switch {
	case p.Group == "":
		return invalid("group", ProblemRequired, "")
	case utf8.RuneCountInString(p.Group) > 32:
		return invalid("group", ProblemLength, "")
	case p.Text == "":
		return invalid("text", ProblemRequired, "")
	case !utf8.ValidString(p.Text) || utf8.RuneCountInString(p.Text) > 2000:
		return invalid("text", ProblemLength, "")
	}
	return nil
}

// Settings of the reading room kept in the repository (Workflow.Setting).
const (
	// SettingReview is the review mode: "" or "single" (a radiologist signs), "two" (a
	// report is submitted as preliminary and a reviewer signs it).
	SettingReview = "review.mode"
	// SettingTemplatesSeeded records that the default templates were added once, so that
	// templates an administrator deleted do not come back.
	SettingTemplatesSeeded = "templates.seeded"
)

// Review modes (SettingReview).
const (
	ReviewSingle = "single"
	ReviewTwo    = "two"
)

// Workflow keeps critical findings, claims on studies, the phrase library and the reading
// room's settings (the review mode). Times are given by the caller, so tests drive a clock.
type Workflow interface {
	// FlagCritical records a critical finding (ID, flag time and flagger from f);
	// ErrNotFound for an unknown study.
	FlagCritical(ctx context.Context, f CriticalFinding) (CriticalFinding, error)
	// CriticalFindings lists findings, newest first, with their study's site and patient.
	CriticalFindings(ctx context.Context, f CriticalFilter) ([]CriticalFinding, error)
	// CriticalFinding returns one; ErrNotFound.
	CriticalFinding(ctx context.Context, id int64) (CriticalFinding, error)
	// AcknowledgeCritical records who acknowledged a finding, when, and whom they informed
	// (required). ErrConflict when it was acknowledged already (the first stands).
	AcknowledgeCritical(ctx context.Context, id int64, by User, informed string, at time.Time) (CriticalFinding, error)
	// CriticalStats gives each site's figures for findings flagged in [from, to).
	CriticalStats(ctx context.Context, from, to time.Time) ([]CriticalSiteStats, error)

	// ClaimStudy claims the study for u until at+ttl, or renews u's claim. A live claim of
	// somebody else is a *ClaimedError; an expired one is taken over.
	ClaimStudy(ctx context.Context, studyUID string, u User, at time.Time, ttl time.Duration) (Claim, error)
	// ReleaseClaim ends u's claim on the study (none: nothing happens).
	ReleaseClaim(ctx context.Context, studyUID string, userID int64) error
	// Claims returns the live claims at at of the given studies, by study.
	Claims(ctx context.Context, studyUIDs []string, at time.Time) (map[string]Claim, error)

	// SubmitReport marks the open draft with the given version as preliminary (待审核),
	// to be signed by a reviewer; ErrConflict when it is not the open draft, or already
	// submitted. Its author stays the author when a reviewer edits it before signing.
	SubmitReport(ctx context.Context, studyUID string, version int, author User, at time.Time) (Report, error)

	// Phrases lists the shared phrases and the user's own, by group then text.
	Phrases(ctx context.Context, userID int64) ([]Phrase, error)
	// PutPhrase creates (ID 0) or replaces a phrase; ErrNotFound.
	PutPhrase(ctx context.Context, p Phrase) (Phrase, error)
	// Phrase returns one; ErrNotFound.
	Phrase(ctx context.Context, id int64) (Phrase, error)
	DeletePhrase(ctx context.Context, id int64) error

	// Setting returns a setting's value ("" when unset); PutSetting sets it.
	Setting(ctx context.Context, key string) (string, error)
	PutSetting(ctx context.Context, key, value string) error
}
