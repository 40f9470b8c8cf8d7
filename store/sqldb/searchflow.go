package sqldb

import (
	"context"
	"fmt"
	"strings"

	"pacsd/dicom"
	"pacsd/store"
)

// SearchDialect is where the engines' search SQL differs; the flow that turns a query into a
// WHERE clause (SearchWhere) is the same for both. Conditions use '?' placeholders.
type SearchDialect interface {
	// Scope adds the conditions of what the asker may see (store.Query.SiteID,
	// WithQuarantined).
	Scope(w *Where, q store.Query)
	// NameSet is the set of studies a PN value of attribute attr (NameAttr) matches through
	// the name keys (ok); universal when the value matches every study; neither when the
	// value matches empty names too and the columns must answer.
	NameSet(attr int, v string, fuzzy bool) (set string, args []any, universal, ok bool)
	// PNCond matches a PN value on a key's columns.
	PNCond(ck ColKey, v string, fuzzy bool) (string, []any, error)
	// ValuesCond is the condition for a possibly '\'-separated value on a non-PN column
	// (or expression) col: any of the values matches.
	ValuesCond(t dicom.Tag, k Kind, col, v string) (string, []any, error)
	// JSONMatch is the condition of a key kept only in the DICOM JSON of level kl (JSONKey):
	// any of the attribute's values matches.
	JSONMatch(kl store.Level, k Kind, t dicom.Tag, v string) (string, []any, error)
}

// SearchWhere is the WHERE clause of a query in d's SQL: its scope, the UIDs it is limited
// to and its matching keys.
func SearchWhere(q store.Query, d SearchDialect) (Where, error) {
	var w Where
	d.Scope(&w, q)
	if q.StudyInstanceUID != "" {
		w.Add("s.study_uid = ?", q.StudyInstanceUID)
	}
	if q.SeriesInstanceUID != "" {
		if q.Level <= store.LevelStudy {
			return w, fmt.Errorf("study-level search scoped to a series: %w", store.ErrInvalid)
		}
		w.Add("se.series_uid = ?", q.SeriesInstanceUID)
	}
	for _, m := range q.Matches {
		if err := w.match(d, q.Level, m, q.Fuzzy); err != nil {
			return w, err
		}
	}
	return w, nil
}

// match adds the condition of one matching key.
func (w *Where) match(d SearchDialect, level store.Level, m store.Match, fuzzy bool) error {
	v := strings.TrimSpace(m.Value)
	if IgnoredKeys[m.Tag] || v == "" || v == "*" {
		return nil // universal matching, PS3.4 C.2.2.2.3
	}
	ck, ok := ColKeys[m.Tag]
	if !ok {
		kl, k, err := JSONKey(level, m.Tag)
		if err != nil {
			return err
		}
		cond, args, err := d.JSONMatch(kl, k, m.Tag, v)
		if err != nil {
			return err
		}
		w.Add(cond, args...)
		return nil
	}
	if KeyLevel(m.Tag, ck.Level) > level {
		return Unsupported(m.Tag, "below the query level")
	}
	switch ck.Kind {
	case KModalities:
		cond, args, err := d.ValuesCond(m.Tag, KText, "m.modality", v)
		if err != nil {
			return err
		}
		w.Add("EXISTS (SELECT 1 FROM series m WHERE m.study_pk = s.id AND ("+cond+"))", args...)
		return nil
	case KPN:
		set, args, universal, ok := d.NameSet(NameAttr[m.Tag], v, fuzzy)
		if universal {
			return nil
		}
		if ok {
			w.Add("s.id IN ("+set+")", args...)
			if w.Drive == 0 {
				w.Drive, w.DriveSet, w.DriveArgs = len(w.Conds), set, args
			}
			return nil
		}
		// A value that matches empty names too: the columns answer.
		cond, args, err := d.PNCond(ck, v, fuzzy)
		if err != nil {
			return fmt.Errorf("key %s: %w", m.Tag, err)
		}
		w.Add(cond, args...)
		return nil
	}
	cond, args, err := d.ValuesCond(m.Tag, ck.Kind, ck.Col, v)
	if err != nil {
		return err
	}
	w.Add(cond, args...)
	return nil
}

// RangeCond is single value and range matching for DA, TM and DT (ParseRange) on col.
func RangeCond(k Kind, col, v string) (string, []any, error) {
	r, err := ParseRange(k, v)
	switch {
	case err != nil:
		return "", nil, err
	case r.Eq != "":
		return col + " = ?", []any{r.Eq}, nil
	case r.Lo == "":
		return "(" + col + " > '' AND " + col + " < ?)", []any{r.Below}, nil
	case r.Below == "":
		return col + " >= ?", []any{r.Lo}, nil
	}
	return "(" + col + " >= ? AND " + col + " < ?)", []any{r.Lo, r.Below}, nil
}

// RunSearch runs the search build makes of q (the engine's SQL for its level) on db and
// reads its rows: patients (ScanPatients) at the patient level, else hits (ScanHits).
func RunSearch(ctx context.Context, db Queryer, mapErr ErrMapper, q store.Query, build func(store.Query) (string, []any, error)) ([]store.Hit, error) {
	sqlText, args, err := build(q)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	rows, err := db.QueryContext(ctx, sqlText, args...)
	if err != nil {
		return nil, mapErr("search", err)
	}
	defer rows.Close()
	var out []store.Hit
	if q.Level == store.LevelPatient {
		out, err = ScanPatients(rows, q)
	} else {
		out, err = ScanHits(rows, q.Level)
	}
	if err != nil {
		return nil, mapErr("search", err)
	}
	return out, nil
}

// ValueSQL is how an engine writes the conditions ValuesCond combines.
type ValueSQL struct {
	True   string                                             // a condition always true
	AnyUID func(col string, uids []string) (string, []any)    // col is one of two or more UIDs
	One    func(k Kind, col, v string) (string, []any, error) // col matches one value of kind k
}

// ValuesCond is the condition for a possibly '\'-separated value on a non-PN column (or
// expression) col, in e's SQL: any of the values matches; one universal value makes the
// whole list universal.
func ValuesCond(t dicom.Tag, k Kind, col, v string, e ValueSQL) (string, []any, error) {
	vals, err := SplitValues(t, v)
	if err != nil {
		return "", nil, err
	}
	if k == KUID {
		uids, err := UIDValues(t, vals)
		if err != nil {
			return "", nil, err
		}
		switch len(uids) {
		case 0:
			return e.True, nil, nil
		case 1:
			return col + " = ?", []any{uids[0]}, nil
		}
		cond, args := e.AnyUID(col, uids)
		return cond, args, nil
	}
	var conds []string
	var args []any
	for _, one := range vals {
		one = strings.TrimSpace(one)
		if one == "" || one == "*" {
			return e.True, nil, nil
		}
		c, a, err := e.One(k, col, one)
		if err != nil {
			return "", nil, fmt.Errorf("key %s: %w", t, err)
		}
		conds = append(conds, c)
		args = append(args, a...)
	}
	if len(conds) == 1 {
		return conds[0], args, nil
	}
	return "(" + strings.Join(conds, " OR ") + ")", args, nil
}
