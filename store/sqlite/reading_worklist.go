package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"pacsd/reading"
)

// worklistSelect is one worklist row: the reading row, its study and its site's name.
// The patient's age is read from the study's kept attributes (only for the rows of a page).
const worklistSelect = `SELECT rs.study_pk, rs.study_uid, COALESCE(rs.site_id, 0), COALESCE(si.name, ''),
	rs.calling_ae, st.institution_name, st.patient_name, st.patient_id, st.patient_sex, st.patient_birth_date,
	COALESCE(json_extract(st.attrs, '$."00101010".Value[0]'), ''), st.modalities_in_study, st.study_date,
	st.study_time, st.study_description, st.accession_number, st.num_instances, rs.status, rs.urgent,
	rs.received_at, rs.final_at, rs.quarantined
	FROM reading_studies rs JOIN studies st ON st.id = rs.study_pk LEFT JOIN sites si ON si.id = rs.site_id `

// maxWorklistPage bounds one page.
const maxWorklistPage = 500

// urgentUnread is the worklist's head: urgent studies waiting for a radiologist, nobody has
// started to read them or their report awaits a reviewer (two-level review). They are few,
// and migration 0017 gives them a partial index (0006's, widened), which the planner
// (without statistics) would otherwise pass over for the status index and all the unread
// studies. The condition is the index's own, word for word, so that SQLite may use it.
const (
	urgentUnread     = "rs.urgent = 1 AND rs.status IN ('unread', 'preliminary')"
	urgentUnreadFrom = "FROM reading_studies rs INDEXED BY reading_studies_urgent_unread "
)

// worklistOrders are the sort columns of each reading.WorklistOrder: each filter on
// reading_studies has an index in each order (migrations 0003 and 0006).
var worklistOrders = map[reading.WorklistOrder]string{
	reading.OrderReceived: "rs.received_at",
	reading.OrderStudy:    "rs.study_at",
}

// Worklist answers one page: urgent unread studies first, then the others, each part in
// the filter's order. Every filter but the name is a column of reading_studies with an
// index ordered by receipt, so SQLite walks that index (or studies_order for the study
// order) and stops at the page size; a name or ID prefix is looked up through the studies'
// name and ID indexes first. Paging is by key (the order's columns, then the study's key),
// so page 1000 costs what page 1 does; the cursor says which part and which order it is
// of.
func (r *Reading) Worklist(ctx context.Context, f reading.WorklistFilter) (reading.WorklistPage, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, maxWorklistPage)
	order := f.Order
	if order == "" {
		order = reading.OrderReceived
	}
	if !order.Valid() {
		return reading.WorklistPage{}, fmt.Errorf("worklist: order %q: %w", f.Order, reading.ErrInvalid)
	}
	where, args, err := worklistWhere(f)
	if err != nil {
		return reading.WorklistPage{}, err
	}
	cur := worklistCursor{order: order, urgent: true}
	if f.After != "" {
		var ok bool
		if cur, ok = parseCursor(f.After); !ok || cur.order != order {
			return reading.WorklistPage{}, fmt.Errorf("worklist: cursor: %w", reading.ErrInvalid)
		}
	}
	var page reading.WorklistPage
	var rows []reading.WorklistRow
	var pks []int64
	// The urgent part first; its last page goes on with the start of the others.
	for _, urgent := range []bool{true, false} {
		if urgent && !cur.urgent {
			continue
		}
		want := limit - len(rows)
		after := worklistCursor{order: order, urgent: urgent}
		if cur.urgent == urgent {
			after = cur
		}
		q, a := worklistQuery(where, args, after, want+1)
		got, gotPKs, err := r.worklistRows(ctx, q, a...)
		if err != nil {
			return reading.WorklistPage{}, err
		}
		if len(got) > want {
			rows, pks = append(rows, got[:want]...), append(pks, gotPKs[:want]...)
			if want == 0 {
				// The page ended with the urgent part; the next starts the others.
				page.Next = worklistCursor{order: order}.String()
			} else {
				page.Next = cursorAt(order, urgent, got[want-1], gotPKs[want-1]).String()
			}
			break
		}
		rows, pks = append(rows, got...), append(pks, gotPKs...)
	}
	if err := r.attachSeries(ctx, rows, pks); err != nil {
		return reading.WorklistPage{}, err
	}
	page.Rows = rows
	return page, nil
}

// worklistQuery is the query of one part of a page (after.urgent says which) from the
// filter's conditions, after the cursor's key when it has one.
func worklistQuery(where []string, args []any, after worklistCursor, limit int) (string, []any) {
	w, a := slices.Clone(where), slices.Clone(args)
	sel := worklistSelect
	if after.urgent {
		w = append(w, urgentUnread)
		sel = strings.Replace(sel, "FROM reading_studies rs ", urgentUnreadFrom, 1)
	} else {
		w = append(w, "NOT ("+urgentUnread+")")
	}
	col := worklistOrders[after.order]
	if after.key != nil {
		pk, _ := strconv.ParseInt(after.key[1], 10, 64)
		w, a = append(w, "("+col+", rs.study_pk) < (?, ?)"), append(a, after.key[0], pk)
	}
	return sel + "WHERE " + strings.Join(w, " AND ") + " ORDER BY " + col + " DESC, rs.study_pk DESC LIMIT ?", append(a, limit)
}

// worklistWhere is the filter's conditions.
func worklistWhere(f reading.WorklistFilter) ([]string, []any, error) {
	var where []string
	var args []any
	if f.SiteID != 0 {
		where, args = append(where, "rs.site_id = ?"), append(args, f.SiteID)
	} else if f.UnknownSite {
		where = append(where, "rs.site_id IS NULL")
	}
	switch {
	case f.QuarantinedOnly:
		where = append(where, "rs.quarantined = 1")
	case !f.WithQuarantined:
		where = append(where, "rs.quarantined = 0")
	}
	if f.Status != "" {
		if !f.Status.Valid() {
			return nil, nil, fmt.Errorf("worklist: status %q: %w", f.Status, reading.ErrInvalid)
		}
		where, args = append(where, "rs.status = ?"), append(args, string(f.Status))
	}
	if f.UrgentOnly {
		where = append(where, "rs.urgent = 1")
	}
	if m := strings.ToUpper(strings.TrimSpace(f.Modality)); m != "" {
		// DR is what many digital radiography units send where PS3.3 C.7.3.1.1.1 defines
		// DX: the reading room treats them as one kind of examination.
		mods := []any{m}
		if m == "DX" || m == "DR" {
			mods = []any{"DX", "DR"}
		}
		where, args = append(where, "EXISTS (SELECT 1 FROM series se WHERE se.study_pk = rs.study_pk AND se.modality IN (?"+
			strings.Repeat(", ?", len(mods)-1)+"))"), append(args, mods...)
	}
	for _, d := range []struct {
		v, op string
	}{{f.DateFrom, ">="}, {f.DateTo, "<="}} {
		if d.v == "" {
			continue
		}
		if !isDate(d.v) {
			return nil, nil, fmt.Errorf("worklist: date %q: %w", d.v, reading.ErrInvalid)
		}
		where, args = append(where, "st.study_date "+d.op+" ?"), append(args, d.v)
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		if len(q) > 64 {
			return nil, nil, fmt.Errorf("worklist: query too long: %w", reading.ErrInvalid)
		}
		// Each arm is a range search (the name keys of 0015_name_keys.sql are NOCASE, so
		// is LIKE; IDs are case-sensitive, so GLOB): the union is the set of candidate
		// studies. A prefix of a name's component group (张, Zhang^W) or of its pinyin.
		where = append(where, `rs.study_pk IN (
			SELECT study_pk FROM study_names WHERE attr = ? AND kind = ? AND key LIKE ? ESCAPE '\'
			UNION SELECT study_pk FROM study_names WHERE attr = ? AND kind = ? AND key LIKE ? ESCAPE '\'
			UNION SELECT id FROM studies WHERE patient_id GLOB ?)`)
		// The pinyin keys run syllables together: "zhang wei" is typed as either.
		pin := likePrefix(strings.ReplaceAll(q, " ", ""))
		args = append(args, attrPatientName, keyGroup, likePrefix(q), attrPatientName, keyPinyin, pin,
			strings.NewReplacer("[", "[[]", "*", "[*]", "?", "[?]").Replace(q)+"*")
	}
	return where, args, nil
}

func (r *Reading) Study(ctx context.Context, studyUID string) (reading.WorklistRow, error) {
	rows, pks, err := r.worklistRows(ctx, worklistSelect+"WHERE rs.study_uid = ?", studyUID)
	if err != nil {
		return reading.WorklistRow{}, err
	}
	if len(rows) == 0 {
		return reading.WorklistRow{}, fmt.Errorf("study %s: %w", studyUID, reading.ErrNotFound)
	}
	if err := r.attachSeries(ctx, rows, pks); err != nil {
		return reading.WorklistRow{}, err
	}
	return rows[0], nil
}

func (r *Reading) SetUrgent(ctx context.Context, studyUID string, urgent bool) error {
	err := r.x.write(ctx, func(tx *sql.Tx) error {
		return execExisting(tx, reading.ErrNotFound, `UPDATE reading_studies SET urgent = ? WHERE study_uid = ?`, urgent, studyUID)
	})
	if err != nil {
		return readingErr("set urgent "+studyUID, err)
	}
	return nil
}

// AssignStudy attributes a study to a site for good and releases it from quarantine.
func (r *Reading) AssignStudy(ctx context.Context, studyUID string, siteID int64) error {
	err := r.x.write(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRow(`SELECT count(*) FROM sites WHERE id = ?`, siteID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return &reading.FieldError{Field: "siteId", Problem: reading.ProblemValue, Value: strconv.FormatInt(siteID, 10),
				Err: fmt.Errorf("no such site: %w", reading.ErrInvalid)}
		}
		return execExisting(tx, reading.ErrNotFound, `UPDATE reading_studies SET assigned_site = ?, site_id = ?,
			quarantined = 0 WHERE study_uid = ?`, siteID, siteID, studyUID)
	})
	if err != nil {
		return readingErr("assign study "+studyUID, err)
	}
	return nil
}

func (r *Reading) worklistRows(ctx context.Context, q string, args ...any) ([]reading.WorklistRow, []int64, error) {
	rs, err := r.x.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, nil, readingErr("worklist", err)
	}
	defer rs.Close()
	var out []reading.WorklistRow
	var pks []int64
	for rs.Next() {
		var w reading.WorklistRow
		var pk int64
		var mods, status, recv, final string
		var age any
		if err := rs.Scan(&pk, &w.StudyUID, &w.SiteID, &w.SiteName, &w.CallingAE, &w.Institution, &w.PatientName,
			&w.PatientID, &w.PatientSex, &w.BirthDate, &age, &mods, &w.StudyDate, &w.StudyTime, &w.Description,
			&w.Accession, &w.NumInstances, &status, &w.Urgent, &recv, &final, &w.Quarantined); err != nil {
			return nil, nil, readingErr("worklist", err)
		}
		if age != nil {
			w.PatientAge = fmt.Sprint(age)
		}
		if mods != "" {
			w.Modalities = strings.Split(mods, `\`)
		}
		w.Status = reading.Status(status)
		w.ReceivedAt, w.FinalAt = parseTime(recv), parseTime(final)
		out = append(out, w)
		pks = append(pks, pk)
	}
	if err := rs.Err(); err != nil {
		return nil, nil, readingErr("worklist", err)
	}
	return out, pks, nil
}

// attachSeries adds the series of a page's studies with one query.
func (r *Reading) attachSeries(ctx context.Context, rows []reading.WorklistRow, pks []int64) error {
	if len(rows) == 0 {
		return nil
	}
	at := make(map[int64]int, len(pks))
	ph := make([]string, len(pks))
	args := make([]any, len(pks))
	for i, pk := range pks {
		at[pk], ph[i], args[i] = i, "?", pk
	}
	rs, err := r.x.r.QueryContext(ctx, `SELECT study_pk, series_uid, modality, COALESCE(series_number, 0),
		series_description, body_part, num_instances FROM series WHERE study_pk IN (`+strings.Join(ph, ",")+`)
		ORDER BY study_pk, series_number, series_uid`, args...)
	if err != nil {
		return readingErr("worklist series", err)
	}
	defer rs.Close()
	for rs.Next() {
		var pk int64
		var s reading.SeriesRef
		var body string
		if err := rs.Scan(&pk, &s.UID, &s.Modality, &s.Number, &s.Description, &body, &s.NumInstances); err != nil {
			return readingErr("worklist series", err)
		}
		w := &rows[at[pk]]
		w.Series = append(w.Series, s)
		if w.BodyPart == "" && body != "" {
			w.BodyPart = body
		}
	}
	if err := rs.Err(); err != nil {
		return readingErr("worklist series", err)
	}
	return nil
}

func isDate(s string) bool {
	if len(s) != 8 {
		return false
	}
	_, err := time.Parse("20060102", s)
	return err == nil
}

// likePrefix is a LIKE pattern for values starting with s ('\' escapes).
func likePrefix(s string) string {
	return strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(s) + "%"
}

// worklistCursor is where a worklist page ends: the order, the part (urgent unread or the
// others) and the last row's key in that order; no key is the start of the part. Its text
// is the order's and the part's letters, then the key's fields, '~'-separated and escaped.
type worklistCursor struct {
	order  reading.WorklistOrder
	urgent bool
	key    []string // the order's column (received_at or study_at), study_pk
}

func cursorAt(order reading.WorklistOrder, urgent bool, row reading.WorklistRow, pk int64) worklistCursor {
	c := worklistCursor{order: order, urgent: urgent}
	// study_at is the study's date and time joined, as migration 0006 keeps it.
	c.key = []string{fmtTime(row.ReceivedAt), strconv.FormatInt(pk, 10)}
	if order == reading.OrderStudy {
		c.key[0] = row.StudyDate + row.StudyTime
	}
	return c
}

func (c worklistCursor) String() string {
	b := []byte{'r', 'n'}
	if c.order == reading.OrderStudy {
		b[0] = 's'
	}
	if c.urgent {
		b[1] = 'u'
	}
	s := string(b)
	for _, k := range c.key {
		s += "~" + url.PathEscape(k)
	}
	return s
}

func parseCursor(s string) (worklistCursor, bool) {
	parts := strings.Split(s, "~")
	var c worklistCursor
	if len(parts[0]) != 2 {
		return c, false
	}
	switch parts[0][0] {
	case 'r':
		c.order = reading.OrderReceived
	case 's':
		c.order = reading.OrderStudy
	default:
		return c, false
	}
	switch parts[0][1] {
	case 'u':
		c.urgent = true
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
		c.key = append(c.key, k)
	}
	if len(c.key) != 2 {
		return c, false
	}
	if _, err := time.Parse(timeFormat, c.key[0]); err != nil && c.order == reading.OrderReceived {
		return c, false
	}
	pk, err := strconv.ParseInt(c.key[1], 10, 64)
	return c, err == nil && pk > 0
}

// ---- dashboard ----

// dayExpr turns a stored timestamp into a local day: SQLite's date functions read the first
// 19 characters (the stored form has nanoseconds and a zone SQLite would also accept, but
// the plain form is unambiguous).
const dayExpr = `date(substr(%s, 1, 19), ?)`

func (r *Reading) Turnaround(ctx context.Context, from, to time.Time, tz time.Duration) (reading.Turnaround, error) {
	var out reading.Turnaround
	mod := fmt.Sprintf("%+d minutes", int(tz/time.Minute))
	f, t := fmtTime(from), fmtTime(to)
	days := map[[2]string]*reading.DayCount{}
	get := func(day string, site int64) *reading.DayCount {
		k := [2]string{day, strconv.FormatInt(site, 10)}
		if d, ok := days[k]; ok {
			return d
		}
		d := &reading.DayCount{Day: day, SiteID: site}
		days[k] = d
		return d
	}
	for _, q := range []struct {
		col string
		add func(*reading.DayCount, int)
	}{
		{"received_at", func(d *reading.DayCount, n int) { d.Received += n }},
		{"final_at", func(d *reading.DayCount, n int) { d.Reported += n }},
	} {
		day := fmt.Sprintf(dayExpr, q.col)
		rows, err := r.x.r.QueryContext(ctx, `SELECT `+day+`, COALESCE(site_id, 0), count(*) FROM reading_studies
			WHERE `+q.col+` >= ? AND `+q.col+` < ? AND `+q.col+` <> '' GROUP BY 1, 2`, mod, f, t)
		if err != nil {
			return out, readingErr("turnaround", err)
		}
		for rows.Next() {
			var d string
			var site int64
			var n int
			if err := rows.Scan(&d, &site, &n); err != nil {
				rows.Close()
				return out, readingErr("turnaround", err)
			}
			q.add(get(d, site), n)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return out, readingErr("turnaround", err)
		}
	}
	for _, d := range days {
		out.Days = append(out.Days, *d)
	}
	sort.Slice(out.Days, func(i, j int) bool {
		if out.Days[i].Day != out.Days[j].Day {
			return out.Days[i].Day < out.Days[j].Day
		}
		return out.Days[i].SiteID < out.Days[j].SiteID
	})

	rows, err := r.x.r.QueryContext(ctx, `SELECT received_at, final_at FROM reading_studies
		WHERE final_at >= ? AND final_at < ? AND final_at <> ''`, f, t)
	if err != nil {
		return out, readingErr("turnaround", err)
	}
	var ds []time.Duration
	for rows.Next() {
		var a, b string
		if err := rows.Scan(&a, &b); err != nil {
			rows.Close()
			return out, readingErr("turnaround", err)
		}
		ta, tb := parseTime(a), parseTime(b)
		if !ta.IsZero() && !tb.IsZero() {
			ds = append(ds, max(tb.Sub(ta), 0))
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return out, readingErr("turnaround", err)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	out.Reported = len(ds)
	out.Median, out.P90 = percentile(ds, 50), percentile(ds, 90)

	// Studies held in quarantine are nobody's work until an administrator assigns them.
	if err := r.x.r.QueryRowContext(ctx, `SELECT count(*) FROM reading_studies WHERE status = 'unread' AND quarantined = 0`).
		Scan(&out.UnreadCount); err != nil {
		return out, readingErr("turnaround", err)
	}
	oldest, pks, err := r.worklistRows(ctx, worklistSelect+
		`WHERE rs.status = 'unread' AND rs.quarantined = 0 ORDER BY rs.received_at, rs.study_pk LIMIT 1`)
	if err != nil {
		return out, err
	}
	if len(oldest) == 1 {
		if err := r.attachSeries(ctx, oldest, pks); err != nil {
			return out, err
		}
		out.OldestUnread = &oldest[0]
	}
	return out, nil
}

// percentile is the nearest-rank percentile of sorted durations (0 for none).
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n)
	return sorted[max(rank, 1)-1]
}
