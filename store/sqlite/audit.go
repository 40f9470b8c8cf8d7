package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"pacsd/audit"
	"pacsd/dicom"
)

// Audit is the audit trail's store (audit.Store) in the index's database (migration
// 0007_audit.sql): an Append is one write of the index's writer, so a Recorder's batch
// shares a transaction (and its fsync) with whatever else is being written.
type Audit struct {
	x *Index

	mu   sync.Mutex
	keys map[string][]string // patient name -> auditNameKeys: a study's events repeat its name
}

var _ audit.Store = (*Audit)(nil)

// Audit returns the audit trail's store on this index. It is closed with the index (close
// the Recorder first).
func (x *Index) Audit() *Audit { return &Audit{x: x, keys: map[string][]string{}} }

// maxAuditNames bounds Audit.keys; past it, the map starts again.
const maxAuditNames = 512

// nameKeys is auditNameKeys through a small cache: working out the keys (the pinyin) was
// about a seventh of the cost of a C-STORE event's rows (31 -> 27 µs of CPU per event).
func (a *Audit) nameKeys(pn string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if k, ok := a.keys[pn]; ok {
		return k
	}
	k := auditNameKeys(pn)
	if len(a.keys) >= maxAuditNames {
		clear(a.keys)
	}
	a.keys[pn] = k
	return k
}

// purgeChunk bounds the events one purge transaction removes, so that a first purge of
// years of events never holds the writer for long.
const purgeChunk = 1000

const auditColumns = `e.id, e.time, e.actor_kind, e.user_id, e.user_name, e.ae_title, e.address, e.action,
	e.patient_id, e.patient_name, e.study_uid, e.object, e.outcome, e.detail, e.count`

func (a *Audit) Append(ctx context.Context, evs []audit.Event) error {
	if len(evs) == 0 {
		return nil
	}
	err := a.x.write(ctx, func(tx *sql.Tx) error {
		ins, err := tx.Prepare(`INSERT INTO audit_events (time, actor_kind, user_id, user_name, ae_title,
			address, action, patient_id, patient_name, study_uid, object, outcome, detail, count)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer ins.Close()
		var name *sql.Stmt
		for _, e := range evs {
			if e.Time.IsZero() {
				e.Time = time.Now()
			}
			e.Normalize()
			res, err := ins.Exec(fmtTime(e.Time), string(e.Actor.Kind), e.Actor.UserID, e.Actor.UserName,
				e.Actor.AETitle, e.Actor.Address, string(e.Action), e.PatientID, e.PatientName, e.StudyUID,
				e.Object, string(e.Outcome), e.Detail, e.Count)
			if err != nil {
				return err
			}
			if e.PatientName == "" {
				continue
			}
			keys := a.nameKeys(e.PatientName)
			if len(keys) == 0 {
				continue
			}
			id, err := res.LastInsertId()
			if err != nil {
				return err
			}
			if name == nil {
				if name, err = tx.Prepare(`INSERT OR IGNORE INTO audit_names (key, event_id) VALUES (?, ?)`); err != nil {
					return err
				}
				defer name.Close()
			}
			for _, k := range keys {
				if _, err := name.Exec(k, id); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return dbErr(fmt.Sprintf("append %d audit events", len(evs)), err)
	}
	return nil
}

// auditNameKeys are the keys a patient-name search matches by prefix: each group with its
// components run together ("ZhangWei", "张伟"), and the pinyin of the characters.
func auditNameKeys(pn string) []string {
	p := normPN(dicom.ParsePersonName(pn))
	var keys []string
	for _, g := range []string{p.Alphabetic, p.Ideographic, p.Phonetic} {
		if k := nameKey(g); k != "" {
			keys = append(keys, k)
		}
	}
	return append(keys, pinyinKeys(p)...)
}

// nameKey is a name, or what somebody typed to find it, without component separators and
// spaces: "Zhang^Wei", "zhang wei" and "ZhangWei" are the same key (case is left to the
// column's NOCASE).
func nameKey(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '^' || r == ' ' || r == '=' {
			return -1
		}
		return r
	}, s)
}

func (a *Audit) Search(ctx context.Context, f audit.Filter) (audit.Page, error) {
	q, args, limit, err := auditQuery(f)
	if err != nil {
		return audit.Page{}, err
	}
	rows, err := a.x.r.QueryContext(ctx, q, args...)
	if err != nil {
		return audit.Page{}, dbErr("search audit events", err)
	}
	defer rows.Close()
	var p audit.Page
	for rows.Next() {
		var e audit.Event
		var at, kind, action, outcome string
		if err := rows.Scan(&e.ID, &at, &kind, &e.Actor.UserID, &e.Actor.UserName, &e.Actor.AETitle,
			&e.Actor.Address, &action, &e.PatientID, &e.PatientName, &e.StudyUID, &e.Object, &outcome,
			&e.Detail, &e.Count); err != nil {
			return audit.Page{}, dbErr("search audit events", err)
		}
		e.Time, e.Actor.Kind, e.Action, e.Outcome = parseTime(at), audit.ActorKind(kind), audit.Action(action), audit.Outcome(outcome)
		p.Events = append(p.Events, e)
	}
	if err := rows.Err(); err != nil {
		return audit.Page{}, dbErr("search audit events", err)
	}
	if len(p.Events) > limit {
		p.Events = p.Events[:limit]
		last := p.Events[limit-1]
		p.Next = fmtTime(last.Time) + "~" + strconv.FormatInt(last.ID, 10)
	}
	return p, nil
}

// auditQuery is a search's SQL (one more row than the page, to know whether there is a
// next one), its arguments and the page size.
func auditQuery(f audit.Filter) (string, []any, int, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, audit.MaxPage)
	var where []string
	var args []any
	for _, c := range []struct {
		col, v  string
		partial bool // its index holds only non-empty values (0016_audit_partial_indexes.sql)
	}{
		{"patient_id", f.PatientID, true}, {"study_uid", f.StudyUID, true}, {"user_name", f.UserName, true},
		{"ae_title", f.AETitle, true}, {"outcome", string(f.Outcome), false},
	} {
		if c.v != "" {
			cond := "e." + c.col + " = ?"
			if c.partial {
				cond += " AND e." + c.col + " <> ''"
			}
			where, args = append(where, cond), append(args, c.v)
		}
	}
	if len(f.Actions) > 0 {
		where = append(where, "e.action IN (?"+strings.Repeat(", ?", len(f.Actions)-1)+")")
		for _, act := range f.Actions {
			args = append(args, string(act))
		}
	}
	if !f.From.IsZero() {
		where, args = append(where, "e.time >= ?"), append(args, fmtTime(f.From))
	}
	if !f.To.IsZero() {
		where, args = append(where, "e.time < ?"), append(args, fmtTime(f.To))
	}
	if f.After != "" {
		at, id, ok := parseAuditCursor(f.After)
		if !ok {
			return "", nil, 0, fmt.Errorf("search audit events: cursor %q: %w", f.After, audit.ErrInvalid)
		}
		where, args = append(where, "(e.time, e.id) < (?, ?)"), append(args, at, id)
	}
	from := "audit_events e"
	if k := nameKey(strings.TrimSpace(f.PatientName)); k != "" {
		if len(k) > 200 {
			return "", nil, 0, fmt.Errorf("search audit events: name too long: %w", audit.ErrInvalid)
		}
		// The names table leads: a name's events are few next to the whole trail, which
		// the planner (without statistics) might otherwise walk in time order.
		from = "(SELECT DISTINCT event_id FROM audit_names WHERE key LIKE ? ESCAPE '\\') n CROSS JOIN audit_events e ON e.id = n.event_id"
		args = append([]any{likePrefix(k)}, args...)
	}
	q := "SELECT " + auditColumns + " FROM " + from
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY e.time DESC, e.id DESC LIMIT ?"
	return q, append(args, limit+1), limit, nil
}

// parseAuditCursor reads a Page.Next: the last event's time and ID.
func parseAuditCursor(s string) (string, int64, bool) {
	at, idText, ok := strings.Cut(s, "~")
	if !ok {
		return "", 0, false
	}
	if _, err := time.Parse(timeFormat, at); err != nil {
		return "", 0, false
	}
	id, err := strconv.ParseInt(idText, 10, 64)
	return at, id, err == nil && id > 0
}

func (a *Audit) Purge(ctx context.Context, before time.Time) (int64, error) {
	if err := audit.CheckPurge(before, time.Now()); err != nil {
		return 0, fmt.Errorf("purge audit events before %s: younger than %v: %w", before.UTC().Format(time.DateOnly), audit.MinRetention, err)
	}
	horizon := fmtTime(before)
	var purge int64
	if err := a.x.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`INSERT INTO audit_retention (horizon, at) VALUES (?, ?)`, horizon, fmtTime(time.Now()))
		if err != nil {
			return err
		}
		purge, err = res.LastInsertId()
		return err
	}); err != nil {
		return 0, dbErr("purge audit events", err)
	}
	var total int64
	for {
		var n int64
		err := a.x.write(ctx, func(tx *sql.Tx) error {
			rows, err := tx.Query(`SELECT id FROM audit_events WHERE time < ? ORDER BY time LIMIT ?`, horizon, purgeChunk)
			if err != nil {
				return err
			}
			var ids []any
			for rows.Next() {
				var id int64
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return err
				}
				ids = append(ids, id)
			}
			rows.Close()
			if err := rows.Err(); err != nil || len(ids) == 0 {
				return err
			}
			in := "(?" + strings.Repeat(", ?", len(ids)-1) + ")"
			// Events first: a name key goes only once its event has gone (the triggers).
			res, err := tx.Exec(`DELETE FROM audit_events WHERE id IN `+in, ids...)
			if err != nil {
				return err
			}
			if n, err = res.RowsAffected(); err != nil {
				return err
			}
			if _, err := tx.Exec(`DELETE FROM audit_names WHERE event_id IN `+in, ids...); err != nil {
				return err
			}
			_, err = tx.Exec(`UPDATE audit_retention SET deleted = deleted + ? WHERE id = ?`, n, purge)
			return err
		})
		if err != nil {
			return total, dbErr("purge audit events", err)
		}
		total += n
		if n < purgeChunk {
			return total, nil
		}
	}
}
