package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"pacsd/reading"
	"pacsd/store/sqldb"
)

// worklistSelect is one worklist row: the reading row, its study and its site's name.
// The patient's age is read from the study's kept attributes (only for the rows of a page).
var worklistSelect = `SELECT ` + sqldb.WorklistCols(`COALESCE(json_extract(st.attrs, '$."00101010".Value[0]'), '')`) + `
	FROM reading_studies rs JOIN studies st ON st.id = rs.study_pk LEFT JOIN sites si ON si.id = rs.site_id `

// sqliteSQL is how the shared fragments of sqldb are written here.
var sqliteSQL = sqldb.Dialect{Ph: func(int) string { return "?" }, True: "1", False: "0"}

// urgentUnread is the worklist's head: urgent studies waiting for a radiologist, nobody has
// started to read them or their report awaits a reviewer (two-level review). They are few,
// and migration 0017 gives them a partial index (0006's, widened), which the planner
// (without statistics) would otherwise pass over for the status index and all the unread
// studies. The condition is the index's own, word for word, so that SQLite may use it.
var (
	urgentUnread     = sqldb.UrgentUnread(sqliteSQL)
	urgentUnreadFrom = "FROM reading_studies rs INDEXED BY reading_studies_urgent_unread "
)

// Worklist answers one page (sqldb.PageWorklist). Every filter but the name is a column of
// reading_studies with an index ordered by receipt, so SQLite walks that index (or
// studies_order for the study order) and stops at the page size; a name or ID prefix is
// looked up through the studies' name and ID indexes first.
func (r *Reading) Worklist(ctx context.Context, f reading.WorklistFilter) (reading.WorklistPage, error) {
	return worklistSQL.Page(ctx, r.x.r, readingErr, f)
}

// worklistSQL is this engine's worklist SQL.
var worklistSQL = sqldb.WorklistSQL{D: sqliteSQL, Select: worklistSelect, NameCond: nameCond, Part: worklistQuery, SeriesOf: seriesOf}

// worklistQuery is the query of one part of a page (after.Urgent says which) from the
// filter's conditions, after the cursor's key when it has one.
func worklistQuery(where *sqldb.Builder, after sqldb.WorklistCursor, limit int) (string, []any) {
	b := where.Clone()
	sel := worklistSelect
	if after.Urgent {
		b.Where = append(b.Where, urgentUnread)
		sel = strings.Replace(sel, "FROM reading_studies rs ", urgentUnreadFrom, 1)
	} else {
		b.Where = append(b.Where, "NOT ("+urgentUnread+")")
	}
	b.AfterKey(after)
	col := sqldb.WorklistOrderColumn[after.Order]
	return sel + "WHERE " + strings.Join(b.Where, " AND ") + " ORDER BY " + col + " DESC, rs.study_pk DESC LIMIT " +
		b.Arg(limit), b.Args
}

// nameCond is the worklist's search of a name or patient ID prefix q. Each arm is a range
// search (the name keys of 0015_name_keys.sql are NOCASE, so is LIKE; IDs are
// case-sensitive, so GLOB): the union is the set of candidate studies. A prefix of a name's
// component group (张, Zhang^W) or of its pinyin.
func nameCond(b *sqldb.Builder, q string) string {
	// The pinyin keys run syllables together: "zhang wei" is typed as either.
	pin := likePrefix(strings.ReplaceAll(q, " ", ""))
	return `rs.study_pk IN (
			SELECT study_pk FROM study_names WHERE attr = ` + b.Arg(attrPatientName) + ` AND kind = ` + b.Arg(keyGroup) +
		` AND key LIKE ` + b.Arg(likePrefix(q)) + ` ESCAPE '\'
			UNION SELECT study_pk FROM study_names WHERE attr = ` + b.Arg(attrPatientName) + ` AND kind = ` +
		b.Arg(keyPinyin) + ` AND key LIKE ` + b.Arg(pin) + ` ESCAPE '\'
			UNION SELECT id FROM studies WHERE patient_id GLOB ` +
		b.Arg(strings.NewReplacer("[", "[[]", "*", "[*]", "?", "[?]").Replace(q)+"*") + `)`
}

func (r *Reading) Study(ctx context.Context, studyUID string) (reading.WorklistRow, error) {
	row, err := worklistSQL.First(ctx, r.x.r, readingErr, "WHERE rs.study_uid = ?", studyUID)
	if err != nil {
		return reading.WorklistRow{}, err
	}
	if row == nil {
		return reading.WorklistRow{}, fmt.Errorf("study %s: %w", studyUID, reading.ErrNotFound)
	}
	return *row, nil
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
			return sqldb.NoSuchSite(siteID)
		}
		return execExisting(tx, reading.ErrNotFound, `UPDATE reading_studies SET assigned_site = ?, site_id = ?,
			quarantined = 0 WHERE study_uid = ?`, siteID, siteID, studyUID)
	})
	if err != nil {
		return readingErr("assign study "+studyUID, err)
	}
	return nil
}

// worklistRows runs a query of worklistSelect (priors too).
func (r *Reading) worklistRows(ctx context.Context, q string, args ...any) ([]reading.WorklistRow, []int64, error) {
	return worklistSQL.Rows(ctx, r.x.r, readingErr, q, args...)
}

// attachSeries adds the series of a page's studies with one query.
func (r *Reading) attachSeries(ctx context.Context, rows []reading.WorklistRow, pks []int64) error {
	return worklistSQL.AttachSeries(ctx, r.x.r, readingErr, rows, pks)
}

// seriesOf is the query of the series of studies pks (sqldb.WorklistSQL.SeriesOf).
func seriesOf(pks []int64) (string, []any) {
	ph := make([]string, len(pks))
	args := make([]any, len(pks))
	for i, pk := range pks {
		ph[i], args[i] = "?", pk
	}
	return `SELECT ` + sqldb.SeriesRefCols + ` FROM series WHERE study_pk IN (` + strings.Join(ph, ",") +
		`) ORDER BY ` + sqldb.SeriesRefOrder, args
}

// likePrefix is sqldb's: a LIKE pattern for values starting with s ('\' escapes).
var likePrefix = sqldb.LikePrefix

// ---- dashboard ----

// dayExpr turns a stored timestamp into a local day: SQLite's date functions read the first
// 19 characters (the stored form has nanoseconds and a zone SQLite would also accept, but
// the plain form is unambiguous).
const dayExpr = `date(substr(%s, 1, 19), ?)`

func (r *Reading) Turnaround(ctx context.Context, from, to time.Time, tz time.Duration) (reading.Turnaround, error) {
	var out reading.Turnaround
	mod := fmt.Sprintf("%+d minutes", int(tz/time.Minute))
	err := sqldb.TurnaroundCounts(ctx, r.x.r, readingErr, sqliteSQL, &out, from, to, func(col string) (string, []any) {
		return `SELECT ` + fmt.Sprintf(dayExpr, col) + `, COALESCE(site_id, 0), count(*) FROM reading_studies
			WHERE ` + col + ` >= ? AND ` + col + ` < ? AND ` + col + ` <> '' GROUP BY 1, 2`,
			[]any{mod, fmtTime(from), fmtTime(to)}
	})
	if err != nil {
		return out, err
	}
	out.OldestUnread, err = worklistSQL.First(ctx, r.x.r, readingErr,
		`WHERE rs.status = 'unread' AND rs.quarantined = 0 ORDER BY rs.received_at, rs.study_pk LIMIT 1`)
	if err != nil {
		return out, err
	}
	return out, nil
}
