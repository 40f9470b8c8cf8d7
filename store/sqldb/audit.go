package sqldb

import (
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"pacsd/audit"
	"pacsd/dicom"
)

// The audit trail (audit.Store) as both engines keep it: tables audit_events (one row per
// event, times as TimeFormat text), audit_names (the patient-name search keys of each event)
// and audit_retention (every purge's horizon), append-only by triggers. What follows is
// everything about them that does not depend on the engine: the row an event is, the
// search's SQL and its cursor, the name keys.

// AuditColumns are an event's columns in the order ScanAuditEvent reads them, e the events
// table.
const AuditColumns = `e.id, e.time, e.actor_kind, e.user_id, e.user_name, e.ae_title, e.address, e.action,
	e.patient_id, e.patient_name, e.study_uid, e.object, e.outcome, e.detail, e.count`

// AuditInsert inserts one event: its arguments are AuditValues' ("?" placeholders, which
// store/postgres numbers).
const AuditInsert = `INSERT INTO audit_events (time, actor_kind, user_id, user_name, ae_title,
	address, action, patient_id, patient_name, study_uid, object, outcome, detail, count)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// AuditValues is e as AuditInsert's arguments, after giving it a time (now when it has none)
// and normalizing it: stores keep what Normalize makes of an event.
func AuditValues(e *audit.Event) []any {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Normalize()
	return []any{FormatTime(e.Time), string(e.Actor.Kind), e.Actor.UserID, e.Actor.UserName,
		e.Actor.AETitle, e.Actor.Address, string(e.Action), e.PatientID, e.PatientName, e.StudyUID,
		e.Object, string(e.Outcome), e.Detail, e.Count}
}

// ScanAuditEvent reads a row of AuditColumns.
func ScanAuditEvent(sc Scanner) (audit.Event, error) {
	var e audit.Event
	var at, kind, action, outcome string
	if err := sc.Scan(&e.ID, &at, &kind, &e.Actor.UserID, &e.Actor.UserName, &e.Actor.AETitle,
		&e.Actor.Address, &action, &e.PatientID, &e.PatientName, &e.StudyUID, &e.Object, &outcome,
		&e.Detail, &e.Count); err != nil {
		return audit.Event{}, err
	}
	e.Time, e.Actor.Kind, e.Action, e.Outcome = ParseTime(at), audit.ActorKind(kind), audit.Action(action), audit.Outcome(outcome)
	return e, nil
}

// AuditPage is the page of a search that read evs (up to limit+1 rows, AuditQuery's): the
// first limit, and the cursor of the next page when there was one more.
func AuditPage(evs []audit.Event, limit int) audit.Page {
	p := audit.Page{Events: evs}
	if len(evs) > limit {
		p.Events = evs[:limit]
		last := p.Events[limit-1]
		p.Next = FormatTime(last.Time) + "~" + strconv.FormatInt(last.ID, 10)
	}
	return p
}

// ParseAuditCursor reads a Page.Next: the last event's time (as stored) and ID.
func ParseAuditCursor(s string) (string, int64, bool) {
	at, idText, ok := strings.Cut(s, "~")
	if !ok {
		return "", 0, false
	}
	if _, err := time.Parse(TimeFormat, at); err != nil {
		return "", 0, false
	}
	id, err := strconv.ParseInt(idText, 10, 64)
	return at, id, err == nil && id > 0
}

// AuditDialect is what differs between the engines in a search's SQL.
type AuditDialect struct {
	// UserName is the condition on e.user_name with one argument: exact, case ignored.
	UserName string
	// Names is the FROM clause of a name search: the events (as e) whose names table key
	// starts with its one argument (a LIKE pattern, '\' escaping).
	Names string
	// Fold is the case rule of the stored name keys (AuditNames'), applied to the key
	// searched for; nil leaves it as typed (SQLite's NOCASE column).
	Fold func(string) string
}

// AuditQuery is a search's SQL with "?" placeholders (one more row than the page, to know
// whether there is a next one), its arguments and the page size. Every filter has an
// index that ends with (time, id), so that a page walks one index newest first and stops at
// the page size; the partial ones hold only non-empty values, hence the conditions that
// the column is not empty beside its match.
func AuditQuery(f audit.Filter, d AuditDialect) (string, []any, int, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, audit.MaxPage)
	var where []string
	var args []any
	for _, c := range []struct {
		cond, v string
	}{
		{"e.patient_id = ? AND e.patient_id <> ''", f.PatientID}, {"e.study_uid = ? AND e.study_uid <> ''", f.StudyUID},
		{d.UserName, f.UserName}, {"e.ae_title = ? AND e.ae_title <> ''", f.AETitle}, {"e.outcome = ?", string(f.Outcome)},
	} {
		if c.v != "" {
			where, args = append(where, c.cond), append(args, c.v)
		}
	}
	if len(f.Actions) > 0 {
		where = append(where, "e.action IN (?"+strings.Repeat(", ?", len(f.Actions)-1)+")")
		for _, act := range f.Actions {
			args = append(args, string(act))
		}
	}
	if !f.From.IsZero() {
		where, args = append(where, "e.time >= ?"), append(args, FormatTime(f.From))
	}
	if !f.To.IsZero() {
		where, args = append(where, "e.time < ?"), append(args, FormatTime(f.To))
	}
	if f.After != "" {
		at, id, ok := ParseAuditCursor(f.After)
		if !ok {
			return "", nil, 0, fmt.Errorf("search audit events: cursor %q: %w", f.After, audit.ErrInvalid)
		}
		where, args = append(where, "(e.time, e.id) < (?, ?)"), append(args, at, id)
	}
	from := "audit_events e"
	if k := NameKey(strings.TrimSpace(f.PatientName)); k != "" {
		if len(k) > 200 {
			return "", nil, 0, fmt.Errorf("search audit events: name too long: %w", audit.ErrInvalid)
		}
		if d.Fold != nil {
			k = d.Fold(k)
		}
		from = d.Names
		args = append([]any{LikePrefix(k)}, args...)
	}
	q := "SELECT " + AuditColumns + " FROM " + from
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY e.time DESC, e.id DESC LIMIT ?"
	return q, append(args, limit+1), limit, nil
}

// NameKey is a name, or what somebody typed to find it, without component separators and
// spaces: "Zhang^Wei", "zhang wei" and "ZhangWei" are the same key (case is the engine's:
// SQLite's NOCASE column, lower case in PostgreSQL).
func NameKey(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '^' || r == ' ' || r == '=' {
			return -1
		}
		return r
	}, s)
}

// AuditNameKeys are the keys a patient-name search matches by prefix: each group of the
// name pn with its components run together ("ZhangWei", "张伟"), and the pinyin of its
// characters.
func AuditNameKeys(pn string) []string {
	p := NormPN(dicom.ParsePersonName(pn))
	var keys []string
	for _, g := range []string{p.Alphabetic, p.Ideographic, p.Phonetic} {
		if k := NameKey(g); k != "" {
			keys = append(keys, k)
		}
	}
	return append(keys, PinyinKeys(p)...)
}

// maxAuditNames bounds AuditNames' cache; past it, the cache starts again.
const maxAuditNames = 512

// AuditNames is AuditNameKeys through a small cache: a study's events repeat its name, and
// working out the keys (the pinyin) was about a seventh of the cost of a C-STORE event's
// rows (31 -> 27 µs of CPU per event). fold is the engine's case rule for the keys it
// stores (nil: as they are).
type AuditNames struct {
	fold func(string) string

	mu   sync.Mutex
	keys map[string][]string
}

// NewAuditNames is an empty cache.
func NewAuditNames(fold func(string) string) *AuditNames {
	return &AuditNames{fold: fold, keys: map[string][]string{}}
}

// Keys are pn's keys; none for "".
func (n *AuditNames) Keys(pn string) []string {
	if pn == "" {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if k, ok := n.keys[pn]; ok {
		return k
	}
	k := AuditNameKeys(pn)
	if n.fold != nil {
		for i := range k {
			k[i] = n.fold(k[i])
		}
	}
	if len(n.keys) >= maxAuditNames {
		clear(n.keys)
	}
	n.keys[pn] = k
	return k
}

// AuditPurgeChunk bounds the events one purge transaction removes, so that a first purge of
// years of events never holds a writer (or row locks) for long.
const AuditPurgeChunk = 1000

// PurgeChunks runs chunk, which removes up to AuditPurgeChunk events and says how many, in
// a write transaction of its own each time (inTx), until a chunk removes fewer: the
// retention purge both engines run, each with its own SQL in chunk. The events removed in
// all, also when a chunk fails.
func PurgeChunks(inTx func(fn func(tx *sql.Tx) error) error, mapErr ErrMapper, chunk func(tx *sql.Tx) (int64, error)) (int64, error) {
	var total int64
	for {
		var n int64
		err := inTx(func(tx *sql.Tx) error {
			var err error
			n, err = chunk(tx)
			return err
		})
		if err != nil {
			return total, mapErr("purge audit events", err)
		}
		total += n
		if n < AuditPurgeChunk {
			return total, nil
		}
	}
}

// ScanID reads a row of one integer.
func ScanID(r Scanner) (int64, error) {
	var id int64
	err := r.Scan(&id)
	return id, err
}
