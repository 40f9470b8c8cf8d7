package reading

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Sentinel errors; implementations wrap them with the operation.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
	ErrInvalid  = errors.New("invalid")
)

// FieldError is an ErrInvalid or ErrConflict about one field of a record, so that a form
// can say which of its inputs is wrong and why instead of refusing the whole of it.
type FieldError struct {
	Field   string // the record's field: "name", "aeTitles", "username", "role", ...
	Problem string // what is wrong: one of the Problem constants
	Value   string // the offending item of a list field (an AE title), else ""
	Err     error  // ErrInvalid or ErrConflict, possibly wrapping the cause
}

// Problems a FieldError names.
const (
	ProblemRequired = "required" // empty
	ProblemLength   = "length"   // too long (or too short)
	ProblemChars    = "chars"    // a character the field does not allow
	ProblemValue    = "value"    // not one of the allowed values
	ProblemTaken    = "taken"    // another record has it already
	ProblemSite     = "site"     // a site user without a site
)

func (e *FieldError) Error() string {
	if e.Value != "" {
		return fmt.Sprintf("%s %q: %s: %v", e.Field, e.Value, e.Problem, e.Err)
	}
	return fmt.Sprintf("%s: %s: %v", e.Field, e.Problem, e.Err)
}

func (e *FieldError) Unwrap() error { return e.Err }

func invalid(field, problem, value string) error {
	return &FieldError{Field: field, Problem: problem, Value: value, Err: ErrInvalid}
}

// Role is what an account may do.
type Role string

const (
	RoleAdmin       Role = "admin"       // everything, including sites, users and templates
	RoleRadiologist Role = "radiologist" // every study; writes and signs reports
	RoleSite        Role = "site"        // the studies and signed reports of one site, read-only
)

// Valid reports whether r is one of the three roles.
func (r Role) Valid() bool { return r == RoleAdmin || r == RoleRadiologist || r == RoleSite }

// Staff reports whether r reads every site's studies (the county side).
func (r Role) Staff() bool { return r == RoleAdmin || r == RoleRadiologist }

// Peer is one DICOM application entity of the county's AE table: a township modality,
// a county workstation, a retrieve destination. It is the one registry of AE titles:
// a site's AE titles (Site.AETitles) are the titles of the peers that belong to it.
type Peer struct {
	ID          int64
	AETitle     string // PS3.5 6.2: at most 16 characters, no backslash or control characters
	Description string
	Host        string // where it listens (for C-MOVE destinations); "" when it only calls us
	Port        int    // 0 when it only calls us
	SiteID      int64  // the site it belongs to; 0: the county itself
	// Addresses it may call from: IP addresses or CIDR prefixes. Empty: any address.
	Addresses  []string
	RequireTLS bool // it must call over the DICOM TLS listener (and is dialled with TLS)

	// What it may do.
	MayStore    bool // send objects (C-STORE)
	MayQuery    bool // C-FIND
	MayRetrieve bool // C-MOVE and C-GET as the requester
	Destination bool // be the destination of a C-MOVE
}

// SenderSite names the site of a sender as store.Origin.Site does (the overwrite rule):
// "site:<id>" for a township site's peers and users, "county" for the county's own
// (siteID 0). An unregistered AE title is "ae:<AE title>" (its caller says so).
func SenderSite(siteID int64) string {
	if siteID != 0 {
		return "site:" + strconv.FormatInt(siteID, 10)
	}
	return "county"
}

// PeerLookup answers "who is this AE title" from the registry's current state; changes
// made through the repository are seen at once (no restart).
type PeerLookup interface {
	// Peer returns the registered peer with AE title ae (exact match, trailing spaces
	// trimmed), or false.
	Peer(ctx context.Context, ae string) (Peer, bool, error)
}

// Problems of a Peer's fields (besides the general ones).
const (
	ProblemAddress = "address" // not an IP address or CIDR prefix
	ProblemPort    = "port"    // not a TCP port (1-65535), or missing for a destination
)

// validAE checks an AE title (trimmed): PS3.5 6.2, at most 16 characters of the default
// repertoire without backslash or control characters. field names it in the FieldError.
func validAE(field, a string) error {
	if len(a) > 16 {
		return invalid(field, ProblemLength, a)
	}
	if strings.ContainsFunc(a, func(r rune) bool { return r < 0x20 || r > 0x7e || r == '\\' }) {
		return invalid(field, ProblemChars, a)
	}
	return nil
}

// Normalize trims the peer's values and checks them: the AE title as a site's (PS3.5 6.2),
// addresses as IP addresses or CIDR prefixes (kept in canonical form, deduplicated), the
// port in range; a C-MOVE destination needs a host and a port.
func (p *Peer) Normalize() error {
	p.AETitle = strings.TrimSpace(p.AETitle)
	p.Description = strings.TrimSpace(p.Description)
	p.Host = strings.TrimSpace(p.Host)
	if p.AETitle == "" {
		return invalid("aeTitle", ProblemRequired, "")
	}
	if err := validAE("aeTitle", p.AETitle); err != nil {
		return err
	}
	switch {
	case utf8.RuneCountInString(p.Description) > 64:
		return invalid("description", ProblemLength, "")
	case len(p.Host) > 253:
		return invalid("host", ProblemLength, "")
	case strings.ContainsFunc(p.Host, func(r rune) bool { return r <= ' ' || r > 0x7e || r == '/' }):
		return invalid("host", ProblemChars, p.Host)
	case p.Port < 0 || p.Port > 65535:
		return invalid("port", ProblemPort, strconv.Itoa(p.Port))
	case p.SiteID < 0:
		return invalid("siteId", ProblemValue, strconv.FormatInt(p.SiteID, 10))
	case p.Destination && p.Host == "":
		return invalid("host", ProblemRequired, "")
	case p.Destination && p.Port == 0:
		return invalid("port", ProblemPort, "0")
	}
	var addrs []string
	for _, a := range p.Addresses {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		pre, err := parseAddress(a)
		if err != nil {
			return invalid("addresses", ProblemAddress, a)
		}
		if c := pre.String(); !slices.Contains(addrs, c) {
			addrs = append(addrs, c)
		}
	}
	p.Addresses = addrs
	return nil
}

// parseAddress reads an IP address (a prefix of its full length) or a CIDR prefix (its
// address masked), IPv4-mapped IPv6 addresses taken as IPv4.
func parseAddress(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		pre, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if pre.Addr().Is4In6() && pre.Bits() >= 96 {
			return netip.PrefixFrom(pre.Addr().Unmap(), pre.Bits()-96).Masked(), nil
		}
		return pre.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap().WithZone("")
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// CallsFrom reports whether the peer may call from remote, an IP address or "host:port"
// (net.Conn.RemoteAddr().String()): always when it has no Addresses, otherwise when one of
// them contains remote's address. An unparsable remote is not allowed by any address.
func (p Peer) CallsFrom(remote string) bool {
	if len(p.Addresses) == 0 {
		return true
	}
	host := remote
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		host = ap.Addr().String()
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap().WithZone("")
	for _, s := range p.Addresses {
		if pre, err := parseAddress(s); err == nil && pre.Contains(a) {
			return true
		}
	}
	return false
}

// Site is one sender in the registry.
type Site struct {
	ID           int64
	Name         string
	AETitles     []string // calling AE titles of its modalities
	Institutions []string // Institution Name values its objects carry
}

// Normalize trims and deduplicates the site's values and checks them: a name is required,
// AE titles follow PS3.5 6.2 (at most 16 characters, no backslash or control characters).
func (s *Site) Normalize() error {
	s.Name = strings.TrimSpace(s.Name)
	if s.Name == "" {
		return invalid("name", ProblemRequired, "")
	}
	if utf8.RuneCountInString(s.Name) > 64 {
		return invalid("name", ProblemLength, "")
	}
	var aes []string
	for _, a := range s.AETitles {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if err := validAE("aeTitles", a); err != nil {
			return err
		}
		if !slices.Contains(aes, a) {
			aes = append(aes, a)
		}
	}
	var insts []string
	for _, n := range s.Institutions {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if utf8.RuneCountInString(n) > 64 {
			return invalid("institutions", ProblemLength, n)
		}
		if !slices.ContainsFunc(insts, func(m string) bool { return strings.EqualFold(m, n) }) {
			insts = append(insts, n)
		}
	}
	s.AETitles, s.Institutions = aes, insts
	return nil
}

// User is a local account.
type User struct {
	ID           int64
	Username     string
	DisplayName  string
	Role         Role
	SiteID       int64  // the site of a RoleSite user; 0 for the others
	PasswordHash string // bcrypt; never leaves the server
	Disabled     bool
	// MustChangePassword marks a password somebody else chose (an administrator, or the
	// generated one of the first start): until the user sets their own, the reading room
	// lets them do nothing else, and scripts cannot use it.
	MustChangePassword bool
	// MayReview lets a radiologist sign reports in two-level review (审核医师); in single-level
	// review every radiologist signs.
	MayReview bool
	CreatedAt time.Time
}

// Name is how the user is shown (and how a signature reads).
func (u User) Name() string {
	if u.DisplayName != "" {
		return u.DisplayName
	}
	return u.Username
}

// Validate checks the user's fields (not the password, which callers hash first).
func (u *User) Validate() error {
	u.Username = strings.TrimSpace(u.Username)
	u.DisplayName = strings.TrimSpace(u.DisplayName)
	switch {
	case u.Username == "":
		return invalid("username", ProblemRequired, "")
	case len(u.Username) > 64:
		return invalid("username", ProblemLength, "")
	case strings.ContainsFunc(u.Username, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return invalid("username", ProblemChars, "")
	case utf8.RuneCountInString(u.DisplayName) > 64:
		return invalid("displayName", ProblemLength, "")
	case !u.Role.Valid():
		return invalid("role", ProblemValue, string(u.Role))
	case (u.Role == RoleSite) != (u.SiteID != 0):
		// A site user needs a site, the other roles none.
		return invalid("site", ProblemSite, "")
	case u.PasswordHash == "":
		return invalid("password", ProblemRequired, "")
	}
	return nil
}

// Session is a logged-in browser. The token itself is only in the cookie; the repository
// keeps its hash.
type Session struct {
	TokenHash string
	UserID    int64
	CSRF      string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Scope is one thing an API token opens.
type Scope string

const (
	ScopeRead    Scope = "read"    // DICOMweb searches and retrieval (GET and HEAD)
	ScopeStore   Scope = "store"   // STOW-RS (POST /dicomweb/studies)
	ScopeMetrics Scope = "metrics" // the Prometheus metrics, nothing of any patient
	ScopeAdmin   Scope = "admin"   // the administration API (/api/admin/: the DICOM peers)
	ScopeOrders  Scope = "orders"  // the registration API (/api/orders: the HIS books scheduled procedures)
)

// Scopes are the valid scopes, in the order forms list them.
var Scopes = []Scope{ScopeRead, ScopeStore, ScopeMetrics, ScopeAdmin, ScopeOrders}

// Token is a script's credential: named, scoped, expiring, revocable. The token itself is
// shown once, when it is made; the repository keeps only its hash (SHA-256 of a random
// token: nothing to guess, so no slow hash is needed).
type Token struct {
	ID            int64
	Name          string
	Scopes        []Scope
	Hash          string // hex SHA-256 of the token
	CreatedBy     int64  // the administrator who made it
	CreatedByName string
	CreatedAt     time.Time
	ExpiresAt     time.Time // required: a token never lives forever
	LastUsedAt    time.Time // zero: never used
	RevokedAt     time.Time // zero: not revoked
}

// Has reports whether the token carries scope s.
func (t Token) Has(s Scope) bool { return slices.Contains(t.Scopes, s) }

// Live reports whether the token opens anything at now: not revoked, not expired.
func (t Token) Live(now time.Time) bool { return t.RevokedAt.IsZero() && now.Before(t.ExpiresAt) }

// Validate trims and checks a new token's fields.
func (t *Token) Validate() error {
	t.Name = strings.TrimSpace(t.Name)
	var scopes []Scope
	for _, s := range t.Scopes {
		if !slices.Contains(Scopes, s) {
			return invalid("scopes", ProblemValue, string(s))
		}
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	t.Scopes = scopes
	switch {
	case t.Name == "":
		return invalid("name", ProblemRequired, "")
	case utf8.RuneCountInString(t.Name) > 64:
		return invalid("name", ProblemLength, "")
	case strings.ContainsFunc(t.Name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return invalid("name", ProblemChars, "")
	case len(t.Scopes) == 0:
		return invalid("scopes", ProblemRequired, "")
	case t.ExpiresAt.IsZero():
		return invalid("expiresAt", ProblemRequired, "")
	case t.Hash == "":
		return invalid("hash", ProblemRequired, "")
	}
	return nil
}

// Status is a study's report status (see the package comment).
type Status string

const (
	StatusUnread Status = "unread"
	StatusDraft  Status = "draft"
	// StatusPreliminary is a draft submitted for review (待审核, two-level review): a
	// reviewer may still edit it, then signs it.
	StatusPreliminary Status = "preliminary"
	StatusFinal       Status = "final"
	StatusAmended     Status = "amended"
)

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	return s == StatusUnread || s == StatusDraft || s == StatusPreliminary || s == StatusFinal || s == StatusAmended
}

// Open reports whether a report version with status s may still be edited and signed.
func (s Status) Open() bool { return s == StatusDraft || s == StatusPreliminary }

// Signed reports whether a report version with status s is signed.
func (s Status) Signed() bool { return s == StatusFinal || s == StatusAmended }

// Report is one version of a study's report. Status is draft, final or amended.
type Report struct {
	ID           int64
	StudyUID     string
	Version      int
	Status       Status
	Findings     string
	Impression   string
	AuthorID     int64
	AuthorName   string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	SignedBy     int64
	SignedByName string
	SignedAt     time.Time
	AmendReason  string
	SubmittedAt  time.Time // when it was submitted for review (StatusPreliminary and after); zero: never
	// SOPInstanceUID is the DICOM object written into the study for a signed version;
	// "" until it has been stored.
	SOPInstanceUID string
}

// MaxReportText bounds the findings and the impression each (characters).
const MaxReportText = 20000

// Template is a report skeleton for a modality and body part ("" matches any).
type Template struct {
	ID         int64
	Name       string
	Modality   string
	BodyPart   string
	Findings   string
	Impression string
	UpdatedAt  time.Time
}

// Validate trims and checks a template.
func (t *Template) Validate() error {
	t.Name = strings.TrimSpace(t.Name)
	t.Modality = strings.ToUpper(strings.TrimSpace(t.Modality))
	t.BodyPart = strings.ToUpper(strings.TrimSpace(t.BodyPart))
	switch {
	case t.Name == "":
		return invalid("name", ProblemRequired, "")
	case utf8.RuneCountInString(t.Name) > 64:
		return invalid("name", ProblemLength, "")
	case len(t.Modality) > 16:
		return invalid("modality", ProblemLength, "")
	case len(t.BodyPart) > 16:
		return invalid("bodyPart", ProblemLength, "")
	case utf8.RuneCountInString(t.Findings) > MaxReportText:
		return invalid("findings", ProblemLength, "")
	case utf8.RuneCountInString(t.Impression) > MaxReportText:
		return invalid("impression", ProblemLength, "")
	}
	return nil
}

// WorklistOrder is the worklist's sort. Whichever it is, urgent studies waiting for a
// radiologist (unread, or preliminary: awaiting a reviewer) come first (newest first among
// them by the same order), then every other study.
type WorklistOrder string

const (
	OrderReceived WorklistOrder = "received" // newest received first (also "")
	OrderStudy    WorklistOrder = "study"    // newest Study Date and Time first
)

// Valid reports whether o is a known order ("" is OrderReceived).
func (o WorklistOrder) Valid() bool { return o == "" || o == OrderReceived || o == OrderStudy }

// WorklistFilter selects and pages worklist rows in Order.
type WorklistFilter struct {
	SiteID      int64  // only this site's studies; 0 any
	UnknownSite bool   // only studies from unknown senders (SiteID must be 0)
	Modality    string // a modality in the study
	DateFrom    string // Study Date range, YYYYMMDD, inclusive; "" open
	DateTo      string
	Status      Status // "" any
	Query       string // prefix of the patient's name (any group, also without '^') or ID
	UrgentOnly  bool
	Order       WorklistOrder
	// Quarantined studies (from an unknown sender, held for an administrator) are left
	// out unless WithQuarantined; QuarantinedOnly lists only them (and implies it).
	WithQuarantined bool
	QuarantinedOnly bool
	Limit           int    // rows per page; 0 means 50, at most 500
	After           string // Next of the previous page, of the same Order
}

// SeriesRef is one series of a worklist row.
type SeriesRef struct {
	UID          string
	Modality     string
	Number       int
	Description  string
	NumInstances int
}

// WorklistRow is one study as the worklist shows it. Text is UTF-8.
type WorklistRow struct {
	StudyUID     string
	SiteID       int64 // 0: unknown sender
	SiteName     string
	CallingAE    string
	Institution  string
	PatientName  string // PN value, groups '='-joined
	PatientID    string
	PatientSex   string
	BirthDate    string
	PatientAge   string
	Modalities   []string
	BodyPart     string
	StudyDate    string
	StudyTime    string
	Description  string
	Accession    string
	NumInstances int
	Status       Status
	Urgent       bool
	Quarantined  bool // held until an administrator assigns it to a site
	ReceivedAt   time.Time
	FinalAt      time.Time
	Series       []SeriesRef
}

// WorklistPage is one page; Next is "" on the last.
type WorklistPage struct {
	Rows []WorklistRow
	Next string
}

// DayCount is one site's work on one day.
type DayCount struct {
	Day      string // YYYY-MM-DD in the requested time zone
	SiteID   int64  // 0: unknown sender
	Received int
	Reported int // studies whose first report was signed that day
}

// Turnaround is the dashboard's figures for a period.
type Turnaround struct {
	Days []DayCount
	// Receipt-to-first-signature of studies signed in the period.
	Reported     int
	Median, P90  time.Duration
	OldestUnread *WorklistRow // nil when nothing is unread
	UnreadCount  int
}

// Sites is the site registry.
type Sites interface {
	Sites(ctx context.Context) ([]Site, error)
	Site(ctx context.Context, id int64) (Site, error)
	// PutSite creates (ID 0) or replaces a site and resolves every study's site again.
	// An AE title or institution name that belongs to another site (or an AE title of a
	// county peer) is ErrConflict, as is a duplicate name. Its AETitles are its peers': a
	// title not yet registered becomes a store-only peer of the site, a peer of the site
	// whose title is left out is removed, the others keep their settings.
	PutSite(ctx context.Context, s Site) (Site, error)
	// DeleteSite removes a site; its studies become unknown again. ErrConflict while users
	// are bound to it.
	DeleteSite(ctx context.Context, id int64) error
}

// Peers is the county's AE table (one registry with the sites: a site's AETitles are the
// titles of its peers). Every change is seen at once by its PeerLookup, and attributes
// every study again as PutSite does.
type Peers interface {
	PeerLookup
	// Peers lists every peer by AE title.
	Peers(ctx context.Context) ([]Peer, error)
	// PeerByID returns one peer; ErrNotFound.
	PeerByID(ctx context.Context, id int64) (Peer, error)
	// PutPeer creates (ID 0) or replaces a peer. An AE title another peer has is a
	// FieldError "aeTitle" ProblemTaken (ErrConflict); a site that does not exist is a
	// FieldError "siteId" (ErrInvalid).
	PutPeer(ctx context.Context, p Peer) (Peer, error)
	// DeletePeer removes a peer (and so the AE title from its site); ErrNotFound.
	DeletePeer(ctx context.Context, id int64) error
}

// Users keeps the local accounts and their sessions (a session is only as live as its
// user is enabled).
type Users interface {
	CountUsers(ctx context.Context) (int, error)
	Users(ctx context.Context) ([]User, error)
	User(ctx context.Context, id int64) (User, error)
	UserByName(ctx context.Context, username string) (User, error)
	// CreateUser adds an account; ErrConflict for a taken user name.
	CreateUser(ctx context.Context, u User) (User, error)
	// UpdateUser replaces an account's fields (all of them, PasswordHash included).
	UpdateUser(ctx context.Context, u User) error

	CreateSession(ctx context.Context, s Session) error
	// Session returns a live session and its enabled user; ErrNotFound otherwise.
	Session(ctx context.Context, tokenHash string, now time.Time) (Session, User, error)
	DeleteSession(ctx context.Context, tokenHash string) error
	// DeleteUserSessions logs a user out everywhere (disabled, password changed).
	DeleteUserSessions(ctx context.Context, userID int64) error
	DeleteExpiredSessions(ctx context.Context, now time.Time) error
}

// Tokens keeps the API tokens of scripts.
type Tokens interface {
	// CreateToken adds a token; ErrConflict when a token that is not revoked has the name.
	CreateToken(ctx context.Context, t Token) (Token, error)
	// Tokens lists every token, revoked and expired ones too, newest first.
	Tokens(ctx context.Context) ([]Token, error)
	// TokenByHash finds a token by its hash, whatever its state (the caller decides what
	// an expired or revoked one may do); ErrNotFound.
	TokenByHash(ctx context.Context, hash string) (Token, error)
	// RevokeToken revokes a token at at; revoking a revoked one keeps the first time.
	// ErrNotFound.
	RevokeToken(ctx context.Context, id int64, at time.Time) error
	// TouchToken records that the token was used at at (never moving the time back).
	TouchToken(ctx context.Context, id int64, at time.Time) error
}

// Reports keeps the report versions of each study and the templates they start from.
type Reports interface {
	Templates(ctx context.Context) ([]Template, error)
	PutTemplate(ctx context.Context, t Template) (Template, error)
	DeleteTemplate(ctx context.Context, id int64) error

	// Reports lists every version of a study's report, oldest first (none: empty).
	Reports(ctx context.Context, studyUID string) ([]Report, error)
	// SaveDraft writes findings and impression into the study's draft, creating version 1
	// when there is no report. ErrConflict when the latest version is signed (amend first).
	SaveDraft(ctx context.Context, studyUID string, findings, impression string, author User, at time.Time) (Report, error)
	// Sign signs the draft with the given version (final for version 1, amended after);
	// ErrConflict when that version is not the latest draft.
	Sign(ctx context.Context, studyUID string, version int, signer User, at time.Time) (Report, error)
	// Amend starts a new draft version from the latest signed one, with a reason;
	// ErrConflict when there is no signed version or a draft is already open.
	Amend(ctx context.Context, studyUID, reason string, author User, at time.Time) (Report, error)
	// Unexported lists signed versions whose DICOM object is not yet stored, oldest first.
	Unexported(ctx context.Context, limit int) ([]Report, error)
	// SetReportObject records the SOP Instance UID stored for a signed version.
	SetReportObject(ctx context.Context, studyUID string, version int, sopUID string) error
}

// Worklist is the studies as the reading room sees them: rows, urgency and the dashboard.
type Worklist interface {
	Worklist(ctx context.Context, f WorklistFilter) (WorklistPage, error)
	// Study returns one study's worklist row (with all its series); ErrNotFound.
	Study(ctx context.Context, studyUID string) (WorklistRow, error)
	SetUrgent(ctx context.Context, studyUID string, urgent bool) error
	// AssignStudy attributes a study to a site for good (the registry's later changes do
	// not move it) and releases it from quarantine; ErrNotFound, or ErrInvalid for a site
	// that does not exist.
	AssignStudy(ctx context.Context, studyUID string, siteID int64) error
	// Turnaround computes the dashboard for [from, to), days counted at UTC offset tz.
	Turnaround(ctx context.Context, from, to time.Time, tz time.Duration) (Turnaround, error)
}

// Repository keeps all the reading room's records, one aggregate per interface (code
// depends on the ones it uses). Implementations: store/sqlite; all must pass readingtest.Run.
type Repository interface {
	Sites
	Peers
	Users
	Reports
	Worklist
	Tokens
	Orders
	Annotations
	KeyImages
	Priors
	Workflow
	Shares
}
