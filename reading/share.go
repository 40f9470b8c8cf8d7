package reading

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"time"
)

// Share links (云胶片): a link that opens one study's report and images without an account,
// printed as a QR code on the report for the patient, or handed to another hospital's doctor
// (检查结果互认) with a longer expiry and the study's DICOM objects. The repository keeps only
// the token's SHA-256 and, for links made since derived tokens, a random nonce: the token is
// DeriveShareToken(secret, nonce), with a server secret kept outside the database, so the
// server can show a link again (the report printed twice shows one link) while a copy of
// the database alone opens none. A stranger who finds the
// printed paper must still pass a verification (the patient's birth date, or the last four
// characters of the ID number); failed attempts are counted per link and lock it.

// ShareKind is who a link is for.
type ShareKind string

const (
	SharePatient ShareKind = "patient" // the report and rendered images, on a phone
	ShareDoctor  ShareKind = "doctor"  // the same, and the study's objects (ZIP with DICOMDIR)
)

// Valid reports whether k is one of the two kinds.
func (k ShareKind) Valid() bool { return k == SharePatient || k == ShareDoctor }

// ShareVerify is what the opener must prove.
type ShareVerify string

const (
	VerifyBirthDate ShareVerify = "birthdate" // the patient's birth date, YYYYMMDD
	VerifyIDLast4   ShareVerify = "idlast4"   // the last four characters of the patient's ID
	VerifyNone      ShareVerify = "none"      // nothing (a doctor's link handed over in person)
)

// Valid reports whether v is one of the verifications.
func (v ShareVerify) Valid() bool {
	return v == VerifyBirthDate || v == VerifyIDLast4 || v == VerifyNone
}

// MaxShareAttempts is how many wrong verifications lock a link.
const MaxShareAttempts = 5

// ShareLink is one link. Its token is not kept: TokenHash is ShareTokenHash(token).
type ShareLink struct {
	ID        int64
	TokenHash string
	// Nonce is what the token is derived from (DeriveShareToken); "" for a link whose
	// token was random and shown once (made before derived tokens).
	Nonce    string
	StudyUID string
	// OnReport marks the study's link printed on its report (made when the report is signed
	// or first printed, reused by every print): at most one unrevoked per study.
	OnReport bool
	SiteID   int64 // the study's site when the link was made (counts per site); 0: county or unknown
	Kind     ShareKind
	Verify   ShareVerify
	// Answer is the expected verification answer, normalised (VerifyAnswer): kept so that a
	// changed Patient ID later does not open the link to someone else.
	Answer      string
	CreatedBy   int64 // the user who made it; 0: pacsd itself (on signing)
	CreatedName string
	CreatedAt   time.Time
	ExpiresAt   time.Time
	RevokedAt   time.Time // zero: not revoked
	Attempts    int       // wrong verifications since the last right one
	Opens       int       // successful verifications
	LastOpenAt  time.Time
}

// Usable reports whether the link opens anything at now: not revoked, not expired, not locked.
func (l ShareLink) Usable(now time.Time) bool {
	return l.RevokedAt.IsZero() && now.Before(l.ExpiresAt) && l.Attempts < MaxShareAttempts
}

// Validate checks a link before it is kept.
func (l *ShareLink) Validate() error {
	switch {
	case len(l.TokenHash) != 64:
		return invalid("tokenHash", ProblemLength, "")
	case l.StudyUID == "":
		return invalid("study", ProblemRequired, "")
	case !l.Kind.Valid():
		return invalid("kind", ProblemValue, string(l.Kind))
	case !l.Verify.Valid():
		return invalid("verify", ProblemValue, string(l.Verify))
	case l.Verify != VerifyNone && l.Answer == "":
		return invalid("verify", ProblemRequired, string(l.Verify))
	case !l.ExpiresAt.After(l.CreatedAt):
		return invalid("expiresAt", ProblemValue, "")
	}
	return nil
}

// NewShareToken returns a new link token: 32 random bytes (256 bits), URL-safe base64.
func NewShareToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// NewShareNonce returns a new link's nonce: 16 random bytes, hex.
func NewShareNonce() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// DeriveShareToken is the token of a link with that nonce: HMAC-SHA256 under the server's
// secret (256 bits, URL-safe base64), so that only the server can make it again. The
// label keeps these MACs apart from any other use of the secret.
func DeriveShareToken(secret []byte, nonce string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("pacsd share link\x00" + nonce))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// ShareTokenHash is what the repository keeps of a token.
func ShareTokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// VerifyAnswer normalises an answer (the expected one when a link is made, the typed one
// when it is opened): digits and letters only, upper case, so "1980-05-01" and "19800501"
// match, and an ID's last four "123x" matches "123X".
func VerifyAnswer(v ShareVerify, s string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		if (r >= '0' && r <= '9') || (r >= 'A' && r <= 'Z') {
			b.WriteRune(r)
		}
	}
	out := b.String()
	if v == VerifyIDLast4 && len(out) > 4 {
		out = out[len(out)-4:]
	}
	return out
}

// CheckAnswer compares a typed answer with the link's in constant time (the length of the
// expected answer is no secret: it is the form's).
func (l ShareLink) CheckAnswer(typed string) bool {
	if l.Verify == VerifyNone {
		return true
	}
	a, b := sha256.Sum256([]byte(VerifyAnswer(l.Verify, typed))), sha256.Sum256([]byte(l.Answer))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// ShareFilter selects links for the administration page.
type ShareFilter struct {
	StudyUID string // "" any
	Query    string // matches the study UID or the creator's name
	Active   bool   // only links that are neither revoked nor expired at Now
	Now      time.Time
	Limit    int // 0: 100
}

// ShareCount is the openings of one site's links.
type ShareCount struct {
	SiteID int64
	Links  int
	Opens  int
}

// Shares keeps the share links.
type Shares interface {
	// CreateShare adds a link; ErrInvalid for one Validate refuses, ErrNotFound for a study
	// the reading room does not know.
	CreateShare(ctx context.Context, l ShareLink) (ShareLink, error)
	// ReportShare is the study's unrevoked link printed on its report (OnReport), whatever
	// its expiry; ErrNotFound. CreateShare refuses a second one (ErrConflict).
	ReportShare(ctx context.Context, studyUID string) (ShareLink, error)
	// ShareByHash finds a link by its token's hash whatever its state; ErrNotFound.
	ShareByHash(ctx context.Context, hash string) (ShareLink, error)
	ShareByID(ctx context.Context, id int64) (ShareLink, error)
	// Shares lists links, newest first.
	Shares(ctx context.Context, f ShareFilter) ([]ShareLink, error)
	// ShareAttempt records one verification: a right one counts an opening (at at) and
	// resets the wrong attempts; a wrong one counts an attempt. It returns the link after,
	// and refuses (ErrConflict) one that was already locked, so that concurrent guesses
	// cannot pass the limit. ErrNotFound.
	ShareAttempt(ctx context.Context, id int64, right bool, at time.Time) (ShareLink, error)
	// RevokeShare revokes a link at at (a revoked one keeps its first time); ExtendShare
	// sets its expiry and unlocks it. ErrNotFound.
	RevokeShare(ctx context.Context, id int64, at time.Time) error
	ExtendShare(ctx context.Context, id int64, expires time.Time) error
	// RenewShare moves a link's expiry to expires when that is later, without unlocking it
	// (a report signed again: its link lasts from the new signature). ErrNotFound.
	RenewShare(ctx context.Context, id int64, expires time.Time) error
	// ShareCounts counts links and openings per site.
	ShareCounts(ctx context.Context) ([]ShareCount, error)
}
