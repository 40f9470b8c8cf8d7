package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"pacsd/reading"
	"pacsd/store/sqldb"
)

// The worklist (reading.Worklist): sqldb.PageWorklist over reading_studies, whose every
// filter has an index in each order (migration 0003), so that a page walks one and stops
// at the page size; a name or patient ID prefix is looked up in study_names and
// studies_patient_id first.

// worklistSelect is one worklist row: the reading row, its study and its site's name. The
// patient's age is read from the study's kept attributes (only for the rows of a page).
var worklistSelect = `SELECT ` + sqldb.WorklistCols(`COALESCE((st.attrs::json)->'00101010'->'Value'->>0, '')`) + `
	FROM reading_studies rs JOIN studies st ON st.id = rs.study_pk LEFT JOIN sites si ON si.id = rs.site_id `

func (r *Reading) Worklist(ctx context.Context, f reading.WorklistFilter) (reading.WorklistPage, error) {
	return worklistSQL.Page(ctx, r.x.db, readingErr, f)
}

// worklistSQL is this engine's worklist SQL.
var worklistSQL = sqldb.WorklistSQL{D: pgSQL, Select: worklistSelect, NameCond: nameCond, Part: worklistQuery, SeriesOf: seriesOf}

// worklistQuery is the query of one part of a page (after.Urgent says which) from the
// filter's conditions, after the cursor's key when it has one. The urgent unread part's
// condition is its partial index's.
func worklistQuery(where *sqldb.Builder, after sqldb.WorklistCursor, limit int) (string, []any) {
	b := where.Clone()
	cond := sqldb.UrgentUnread(pgSQL)
	if after.Urgent {
		b.Where = append(b.Where, cond)
	} else {
		b.Where = append(b.Where, "NOT ("+cond+")")
	}
	b.AfterKey(after)
	col := sqldb.WorklistOrderColumn[after.Order]
	return worklistSelect + "WHERE " + strings.Join(b.Where, " AND ") + " ORDER BY " + col + " DESC, rs.study_pk DESC LIMIT " +
		b.Arg(limit), b.Args
}

// nameCond is the worklist's search of a name or patient ID prefix q: a prefix of one of
// the name's component groups (张, Zhang^W) or of its pinyin, range searches on
// study_names' primary key (its keys are kept with ASCII letters folded, and "C" ordered,
// so LIKE 'prefix%' is a range), or a prefix of the patient ID (case-sensitive).
func nameCond(b *sqldb.Builder, q string) string {
	// The pinyin keys run syllables together: "zhang wei" is typed as either.
	pin := sqldb.LikePrefix(sqldb.FoldKey(strings.ReplaceAll(q, " ", "")))
	return `rs.study_pk IN (
		SELECT study_pk FROM study_names WHERE attr = ` + b.Arg(sqldb.AttrPatientName) + ` AND kind = ` +
		b.Arg(sqldb.KeyGroup) + ` AND key LIKE ` + b.Arg(sqldb.LikePrefix(sqldb.FoldKey(q))) + `
		UNION SELECT study_pk FROM study_names WHERE attr = ` + b.Arg(sqldb.AttrPatientName) + ` AND kind = ` +
		b.Arg(sqldb.KeyPinyin) + ` AND key LIKE ` + b.Arg(pin) + `
		UNION SELECT id FROM studies WHERE patient_id LIKE ` + b.Arg(sqldb.LikePrefix(q)) + `)`
}

func (r *Reading) Study(ctx context.Context, studyUID string) (reading.WorklistRow, error) {
	row, err := worklistSQL.First(ctx, r.x.db, readingErr, "WHERE rs.study_uid = $1", studyUID)
	if err != nil {
		return reading.WorklistRow{}, err
	}
	if row == nil {
		return reading.WorklistRow{}, fmt.Errorf("study %s: %w", studyUID, reading.ErrNotFound)
	}
	return *row, nil
}

// SetUrgent is one conditional statement: nodes setting it at once each write the flag
// whole, the last one's stays.
func (r *Reading) SetUrgent(ctx context.Context, studyUID string, urgent bool) error {
	v := 0
	if urgent {
		v = 1
	}
	err := r.x.inTx(ctx, func(tx *sql.Tx) error {
		return sqldb.ExecExisting(ctx, tx, reading.ErrNotFound, `UPDATE reading_studies SET urgent = $1 WHERE study_uid = $2`, v, studyUID)
	})
	if err != nil {
		return readingErr("set urgent "+studyUID, err)
	}
	return nil
}

// AssignStudy attributes a study to a site for good and releases it from quarantine. The
// site is locked while it is checked and referred to, so that a DeleteSite on another
// node cannot slip between (it waits, then finds the study assigned and sets it free).
func (r *Reading) AssignStudy(ctx context.Context, studyUID string, siteID int64) error {
	err := r.x.inTx(ctx, func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM sites WHERE id = $1 FOR SHARE`, siteID).Scan(&id)
		if err == sql.ErrNoRows {
			return sqldb.NoSuchSite(siteID)
		}
		if err != nil {
			return err
		}
		return sqldb.ExecExisting(ctx, tx, reading.ErrNotFound, `UPDATE reading_studies SET assigned_site = $1, site_id = $1,
			quarantined = 0 WHERE study_uid = $2`, siteID, studyUID)
	})
	if err != nil {
		return readingErr("assign study "+studyUID, err)
	}
	return nil
}

// worklistRows runs a query of worklistSelect (priors too).
func (r *Reading) worklistRows(ctx context.Context, q string, args ...any) ([]reading.WorklistRow, []int64, error) {
	return worklistSQL.Rows(ctx, r.x.db, readingErr, q, args...)
}

// attachSeries adds the series of a page's studies with one query.
func (r *Reading) attachSeries(ctx context.Context, rows []reading.WorklistRow, pks []int64) error {
	return worklistSQL.AttachSeries(ctx, r.x.db, readingErr, rows, pks)
}

// seriesOf is the query of the series of studies pks (sqldb.WorklistSQL.SeriesOf).
func seriesOf(pks []int64) (string, []any) {
	return `SELECT ` + sqldb.SeriesRefCols + ` FROM series WHERE study_pk = ANY($1) ORDER BY ` + sqldb.SeriesRefOrder, []any{pks}
}

// ---- dashboard ----

// Turnaround computes the dashboard for [from, to): studies received and first signed per
// local day and site (the stored UTC text read as a timestamp and moved by tz), the
// receipt-to-signature times of the period, and the unread backlog.
func (r *Reading) Turnaround(ctx context.Context, from, to time.Time, tz time.Duration) (reading.Turnaround, error) {
	var out reading.Turnaround
	mins := int(tz / time.Minute)
	err := sqldb.TurnaroundCounts(ctx, r.x.db, readingErr, pgSQL, &out, from, to, func(col string) (string, []any) {
		return `SELECT to_char(substr(` + col + `, 1, 19)::timestamp + make_interval(mins => $1), 'YYYY-MM-DD'),
			COALESCE(site_id, 0), count(*) FROM reading_studies
			WHERE ` + col + ` >= $2 AND ` + col + ` < $3 AND ` + col + ` <> '' GROUP BY 1, 2`,
			[]any{mins, sqldb.FormatTime(from), sqldb.FormatTime(to)}
	})
	if err != nil {
		return out, err
	}
	out.OldestUnread, err = worklistSQL.First(ctx, r.x.db, readingErr,
		`WHERE rs.status = 'unread' AND rs.quarantined = 0 ORDER BY rs.received_at, rs.study_pk LIMIT 1`)
	if err != nil {
		return out, err
	}
	return out, nil
}
