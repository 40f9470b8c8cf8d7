package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"pacsd/reading"
)

// The reading room's worklist: its filter's conditions, its key paging (urgent unread
// studies first, then the others) and the decoding of its rows, the same on both engines.
// Each engine writes the SELECT (the patient's age is read from the study's attributes,
// which each keeps its own way) and the name search (its own name keys' SQL).

// Dialect is what the shared SQL fragments write differently on each engine.
type Dialect struct {
	Ph          func(n int) string // the placeholder of the nth argument (from 1)
	True, False string             // boolean literals (SQLite's 1 and 0)
}

// Builder gathers a query's conditions and their arguments.
type Builder struct {
	D     Dialect
	Where []string
	Args  []any
}

// Arg adds an argument and returns its placeholder.
func (b *Builder) Arg(v any) string {
	b.Args = append(b.Args, v)
	return b.D.Ph(len(b.Args))
}

// Clone is a copy that can be added to without changing b.
func (b *Builder) Clone() *Builder {
	return &Builder{D: b.D, Where: append([]string(nil), b.Where...), Args: append([]any(nil), b.Args...)}
}

// MaxWorklistPage bounds one page.
const MaxWorklistPage = 500

// UrgentUnread is the condition of the worklist's head: urgent studies waiting for a
// radiologist (nobody has started them, or their report awaits a reviewer). Both engines
// have a partial index with this condition word for word.
func UrgentUnread(d Dialect) string {
	return "rs.urgent = " + d.True + " AND rs.status IN ('unread', 'preliminary')"
}

// WorklistOrderColumn is the sort column of each reading.WorklistOrder: each filter on
// reading_studies has an index in each order.
var WorklistOrderColumn = map[reading.WorklistOrder]string{
	reading.OrderReceived: "rs.received_at",
	reading.OrderStudy:    "rs.study_at",
}

// WorklistWhere is the filter's conditions on reading_studies rs joined with studies st.
// nameCond writes the condition of a name or patient ID prefix q (the engine's name keys).
func WorklistWhere(f reading.WorklistFilter, d Dialect, nameCond func(b *Builder, q string) string) (*Builder, error) {
	b := &Builder{D: d}
	if f.SiteID != 0 {
		b.Where = append(b.Where, "rs.site_id = "+b.Arg(f.SiteID))
	} else if f.UnknownSite {
		b.Where = append(b.Where, "rs.site_id IS NULL")
	}
	switch {
	case f.QuarantinedOnly:
		b.Where = append(b.Where, "rs.quarantined = "+d.True)
	case !f.WithQuarantined:
		b.Where = append(b.Where, "rs.quarantined = "+d.False)
	}
	if f.Status != "" {
		if !f.Status.Valid() {
			return nil, fmt.Errorf("worklist: status %q: %w", f.Status, reading.ErrInvalid)
		}
		b.Where = append(b.Where, "rs.status = "+b.Arg(string(f.Status)))
	}
	if f.UrgentOnly {
		b.Where = append(b.Where, "rs.urgent = "+d.True)
	}
	if m := strings.ToUpper(strings.TrimSpace(f.Modality)); m != "" {
		// DR is what many digital radiography units send where PS3.3 C.7.3.1.1.1 defines
		// DX: the reading room treats them as one kind of examination.
		mods := []string{m}
		if m == "DX" || m == "DR" {
			mods = []string{"DX", "DR"}
		}
		marks := make([]string, len(mods))
		for i, m := range mods {
			marks[i] = b.Arg(m)
		}
		b.Where = append(b.Where, "EXISTS (SELECT 1 FROM series se WHERE se.study_pk = rs.study_pk AND se.modality IN ("+
			strings.Join(marks, ", ")+"))")
	}
	for _, dt := range []struct {
		v, op string
	}{{f.DateFrom, ">="}, {f.DateTo, "<="}} {
		if dt.v == "" {
			continue
		}
		if !IsDate(dt.v) {
			return nil, fmt.Errorf("worklist: date %q: %w", dt.v, reading.ErrInvalid)
		}
		b.Where = append(b.Where, "st.study_date "+dt.op+" "+b.Arg(dt.v))
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		if len(q) > 64 {
			return nil, fmt.Errorf("worklist: query too long: %w", reading.ErrInvalid)
		}
		b.Where = append(b.Where, nameCond(b, q))
	}
	return b, nil
}

// WorklistPart is the rows of one part of a page, in the filter's order: the urgent unread
// studies (after.Urgent) or the others, after after's key when it has one, at most limit,
// with each row's study key.
type WorklistPart func(after WorklistCursor, limit int) ([]reading.WorklistRow, []int64, error)

// PageWorklist answers one page: urgent unread studies first, then the others, each part in
// the filter's order. Paging is by key (the order's column, then the study's key), so page
// 1000 costs what page 1 does; the cursor says which part and which order it is of. It
// returns the rows' study keys beside the page, for their series.
func PageWorklist(f reading.WorklistFilter, part WorklistPart) (reading.WorklistPage, []int64, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, MaxWorklistPage)
	order := f.Order
	if order == "" {
		order = reading.OrderReceived
	}
	if !order.Valid() {
		return reading.WorklistPage{}, nil, fmt.Errorf("worklist: order %q: %w", f.Order, reading.ErrInvalid)
	}
	cur := WorklistCursor{Order: order, Urgent: true}
	if f.After != "" {
		var ok bool
		if cur, ok = ParseCursor(f.After); !ok || cur.Order != order {
			return reading.WorklistPage{}, nil, fmt.Errorf("worklist: cursor: %w", reading.ErrInvalid)
		}
	}
	var page reading.WorklistPage
	var pks []int64
	// The urgent part first; its last page goes on with the start of the others.
	for _, urgent := range []bool{true, false} {
		if urgent && !cur.Urgent {
			continue
		}
		want := limit - len(page.Rows)
		after := WorklistCursor{Order: order, Urgent: urgent}
		if cur.Urgent == urgent {
			after = cur
		}
		got, gotPKs, err := part(after, want+1)
		if err != nil {
			return reading.WorklistPage{}, nil, err
		}
		if len(got) > want {
			page.Rows, pks = append(page.Rows, got[:want]...), append(pks, gotPKs[:want]...)
			if want == 0 {
				// The page ended with the urgent part; the next starts the others.
				page.Next = WorklistCursor{Order: order}.String()
			} else {
				page.Next = CursorAt(order, urgent, got[want-1], gotPKs[want-1]).String()
			}
			break
		}
		page.Rows, pks = append(page.Rows, got...), append(pks, gotPKs...)
	}
	return page, pks, nil
}

// AfterKey adds the condition of the rows after the cursor's key in its order (none when
// the cursor has no key: the start of its part).
func (b *Builder) AfterKey(after WorklistCursor) {
	if after.Key == nil {
		return
	}
	col := WorklistOrderColumn[after.Order]
	pk, _ := strconv.ParseInt(after.Key[1], 10, 64)
	b.Where = append(b.Where, "("+col+", rs.study_pk) < ("+b.Arg(after.Key[0])+", "+b.Arg(pk)+")")
}

// WorklistCursor is where a worklist page ends: the order, the part (urgent unread or the
// others) and the last row's key in that order; no key is the start of the part. Its text
// is the order's and the part's letters, then the key's fields, '~'-separated and escaped.
type WorklistCursor struct {
	Order  reading.WorklistOrder
	Urgent bool
	Key    []string // the order's column (received_at or study_at), study_pk
}

// CursorAt is the cursor after row (whose study key is pk).
func CursorAt(order reading.WorklistOrder, urgent bool, row reading.WorklistRow, pk int64) WorklistCursor {
	c := WorklistCursor{Order: order, Urgent: urgent}
	// study_at is the study's date and time joined, as the schema keeps it.
	c.Key = []string{FormatTime(row.ReceivedAt), strconv.FormatInt(pk, 10)}
	if order == reading.OrderStudy {
		c.Key[0] = row.StudyDate + row.StudyTime
	}
	return c
}

func (c WorklistCursor) String() string {
	b := []byte{'r', 'n'}
	if c.Order == reading.OrderStudy {
		b[0] = 's'
	}
	if c.Urgent {
		b[1] = 'u'
	}
	s := string(b)
	for _, k := range c.Key {
		s += "~" + url.PathEscape(k)
	}
	return s
}

// ParseCursor reads a cursor's text; false when it is not one.
func ParseCursor(s string) (WorklistCursor, bool) {
	parts := strings.Split(s, "~")
	var c WorklistCursor
	if len(parts[0]) != 2 {
		return c, false
	}
	switch parts[0][0] {
	case 'r':
		c.Order = reading.OrderReceived
	case 's':
		c.Order = reading.OrderStudy
	default:
		return c, false
	}
	switch parts[0][1] {
	case 'u':
		c.Urgent = true
	case 'n':
	default:
		return c, false
	}
	if len(parts) == 1 {
		return c, true
	}
	for _, p := range parts[1:] {
		k, err := url.PathUnescape(p)
		if err != nil {
			return c, false
		}
		c.Key = append(c.Key, k)
	}
	if len(c.Key) != 2 {
		return c, false
	}
	if _, err := time.Parse(TimeFormat, c.Key[0]); err != nil && c.Order == reading.OrderReceived {
		return c, false
	}
	pk, err := strconv.ParseInt(c.Key[1], 10, 64)
	return c, err == nil && pk > 0
}

// WorklistCols are the columns ScanWorklistRow reads (after the SELECT, before the FROM):
// reading_studies rs, studies st, sites si; age is the engine's expression of the
// patient's age from the study's kept attributes.
func WorklistCols(age string) string {
	return `rs.study_pk, rs.study_uid, COALESCE(rs.site_id, 0), COALESCE(si.name, ''),
	rs.calling_ae, st.institution_name, st.patient_name, st.patient_id, st.patient_sex, st.patient_birth_date,
	` + age + `, st.modalities_in_study, st.study_date, st.study_time, st.study_description, st.accession_number,
	st.num_instances, rs.status, rs.urgent, rs.received_at, rs.final_at, rs.quarantined`
}

// ScanWorklistRow decodes a row of WorklistCols, and its study key.
func ScanWorklistRow(row Scanner) (reading.WorklistRow, int64, error) {
	var w reading.WorklistRow
	var pk int64
	var mods, status, recv, final string
	var age any
	if err := row.Scan(&pk, &w.StudyUID, &w.SiteID, &w.SiteName, &w.CallingAE, &w.Institution, &w.PatientName,
		&w.PatientID, &w.PatientSex, &w.BirthDate, &age, &mods, &w.StudyDate, &w.StudyTime, &w.Description,
		&w.Accession, &w.NumInstances, &status, &w.Urgent, &recv, &final, &w.Quarantined); err != nil {
		return w, 0, err
	}
	if age != nil {
		if b, ok := age.([]byte); ok {
			age = string(b)
		}
		w.PatientAge = fmt.Sprint(age)
	}
	if mods != "" {
		w.Modalities = strings.Split(mods, `\`)
	}
	w.Status = reading.Status(status)
	w.ReceivedAt, w.FinalAt = ParseTime(recv), ParseTime(final)
	return w, pk, nil
}

// ScanWorklistRows decodes every row of rs (WorklistCols) and closes it: the rows and their
// study keys.
func ScanWorklistRows(rs *sql.Rows) ([]reading.WorklistRow, []int64, error) {
	defer rs.Close()
	var out []reading.WorklistRow
	var pks []int64
	for rs.Next() {
		w, pk, err := ScanWorklistRow(rs)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, w)
		pks = append(pks, pk)
	}
	return out, pks, rs.Err()
}

// SeriesRefCols are the columns of series AttachSeries reads, in its order (SeriesRefOrder).
const (
	SeriesRefCols  = `study_pk, series_uid, modality, COALESCE(series_number, 0), series_description, body_part, num_instances`
	SeriesRefOrder = `study_pk, series_number, series_uid`
)

// AttachSeries adds the series rows rs (SeriesRefCols) to the worklist rows whose study
// keys are pks; a study's body part is its first series' that has one.
func AttachSeries(rs *sql.Rows, rows []reading.WorklistRow, pks []int64) error {
	defer rs.Close()
	at := make(map[int64]int, len(pks))
	for i, pk := range pks {
		at[pk] = i
	}
	for rs.Next() {
		var pk int64
		var s reading.SeriesRef
		var body string
		if err := rs.Scan(&pk, &s.UID, &s.Modality, &s.Number, &s.Description, &body, &s.NumInstances); err != nil {
			return err
		}
		i, ok := at[pk]
		if !ok {
			continue
		}
		w := &rows[i]
		w.Series = append(w.Series, s)
		if w.BodyPart == "" && body != "" {
			w.BodyPart = body
		}
	}
	return rs.Err()
}

// IsDate reports whether s is a real day YYYYMMDD.
func IsDate(s string) bool {
	if len(s) != 8 {
		return false
	}
	_, err := time.Parse("20060102", s)
	return err == nil
}

// LikePrefix is a LIKE pattern for values starting with s ('\' escapes).
func LikePrefix(s string) string {
	return strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(s) + "%"
}

// WorklistSQL is one engine's worklist SQL; its methods are the flow both engines share
// around it. Queries run on db, their errors go through mapErr.
type WorklistSQL struct {
	D Dialect
	// Select is the SELECT of one row (WorklistCols over reading_studies rs, studies st
	// and sites si), a WHERE clause to follow.
	Select string
	// NameCond is the condition of a name or patient ID prefix (WorklistWhere).
	NameCond func(b *Builder, q string) string
	// Part is the query of one part of a page (PageWorklist) after the cursor's key, from
	// the filter's conditions.
	Part func(where *Builder, after WorklistCursor, limit int) (string, []any)
	// SeriesOf is the query of the series of the studies pks: SeriesRefCols in
	// SeriesRefOrder.
	SeriesOf func(pks []int64) (string, []any)
}

// Page answers one page of the worklist: the filter's conditions (WorklistWhere), paged
// (PageWorklist), with the series of the page's studies.
func (w WorklistSQL) Page(ctx context.Context, db Queryer, mapErr ErrMapper, f reading.WorklistFilter) (reading.WorklistPage, error) {
	b, err := WorklistWhere(f, w.D, w.NameCond)
	if err != nil {
		return reading.WorklistPage{}, err
	}
	page, pks, err := PageWorklist(f, func(after WorklistCursor, limit int) ([]reading.WorklistRow, []int64, error) {
		q, a := w.Part(b, after, limit)
		return w.Rows(ctx, db, mapErr, q, a...)
	})
	if err != nil {
		return reading.WorklistPage{}, err
	}
	if err := w.AttachSeries(ctx, db, mapErr, page.Rows, pks); err != nil {
		return reading.WorklistPage{}, err
	}
	return page, nil
}

// First is the first row Select with where (and its arguments) reads, with its series; nil
// when there is none.
func (w WorklistSQL) First(ctx context.Context, db Queryer, mapErr ErrMapper, where string, args ...any) (*reading.WorklistRow, error) {
	rows, pks, err := w.Rows(ctx, db, mapErr, w.Select+where, args...)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	if err := w.AttachSeries(ctx, db, mapErr, rows, pks); err != nil {
		return nil, err
	}
	return &rows[0], nil
}

// Rows runs q, a query of Select, and reads its rows (ScanWorklistRows).
func (w WorklistSQL) Rows(ctx context.Context, db Queryer, mapErr ErrMapper, q string, args ...any) ([]reading.WorklistRow, []int64, error) {
	rs, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, nil, mapErr("worklist", err)
	}
	rows, pks, err := ScanWorklistRows(rs)
	if err != nil {
		return nil, nil, mapErr("worklist", err)
	}
	return rows, pks, nil
}

// AttachSeries adds the series of rows (their studies' primary keys pks) with one query
// (SeriesOf); no rows, no query.
func (w WorklistSQL) AttachSeries(ctx context.Context, db Queryer, mapErr ErrMapper, rows []reading.WorklistRow, pks []int64) error {
	if len(rows) == 0 {
		return nil
	}
	q, args := w.SeriesOf(pks)
	rs, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return mapErr("worklist series", err)
	}
	if err := AttachSeries(rs, rows, pks); err != nil {
		return mapErr("worklist series", err)
	}
	return nil
}
