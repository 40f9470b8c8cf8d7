package postgres

import (
	"context"

	"pacsd/reading"
	"pacsd/store/sqldb"
)

// A study's priors (reading.Priors): sqldb.FindPriors with PostgreSQL's two index searches.
// The same patient's studies are found through studies_patient_id, a possible match's
// through the primary key of study_names (whose keys are kept folded, sqldb.FoldKey); each
// study is then read by its primary key. Each search gathers its studies' keys into an
// array first (ARRAY(subquery) is an InitPlan, run once before the rest): the planner
// cannot turn it around into a walk of reading_studies filtered by the condition, which
// its statistics may make look cheaper on a small table and which grows with the archive.
// TestPriorsPlan reads the plans on a loaded, analysed database.

// priorsSame is the same patient: the Patient ID's studies at the study's site (an unknown
// sender's studies are one site of their own).
const priorsSame = `rs.study_pk = ANY (ARRAY(SELECT id FROM studies WHERE patient_id = ?)) AND rs.study_pk <> ?
	AND rs.site_id IS NOT DISTINCT FROM ?`

// priorsPossible is a possible match: a study of another site with one of the patient's
// normalized names among its name keys, and the same sex and birth date.
const priorsPossible = `rs.study_pk = ANY (ARRAY(SELECT study_pk FROM study_names WHERE attr = ? AND kind IN (?, ?)
	AND key = ANY (?))) AND rs.study_pk <> ? AND rs.site_id IS DISTINCT FROM ? AND st.patient_sex = ?
	AND st.patient_birth_date = ?`

func (r *Reading) Priors(ctx context.Context, studyUID string, scope reading.PriorScope) ([]reading.Prior, error) {
	var p sqldb.PriorPatient
	err := r.x.db.QueryRowContext(ctx, `SELECT st.id, rs.site_id, st.patient_id, st.patient_name, st.patient_sex,
		st.patient_birth_date FROM reading_studies rs JOIN studies st ON st.id = rs.study_pk WHERE rs.study_uid = $1`,
		studyUID).Scan(&p.StudyPK, &p.SiteID, &p.PatientID, &p.Name, &p.Sex, &p.BirthDate)
	if err != nil {
		return nil, readingErr("priors "+studyUID, err)
	}
	return sqldb.FindPriors(p, scope, func(match reading.PriorMatch, names []string) ([]reading.WorklistRow, []int64, error) {
		if match == reading.MatchSamePatient {
			q, a := priorsQuery(priorsSame, []any{p.PatientID, p.StudyPK, p.SiteID}, scope)
			return r.worklistRows(ctx, q, a...)
		}
		keys := make([]string, len(names))
		for i, n := range names {
			keys[i] = sqldb.FoldKey(n)
		}
		q, a := priorsQuery(priorsPossible, []any{sqldb.AttrPatientName, sqldb.KeyWord, sqldb.KeyPinyin, keys,
			p.StudyPK, p.SiteID, p.Sex, p.BirthDate}, scope)
		return r.worklistRows(ctx, q, a...)
	}, func(rows []reading.WorklistRow, pks []int64) error { return r.attachSeries(ctx, rows, pks) })
}

// priorsQuery is one search of Priors under the scope, its rows in the worklist's shape.
func priorsQuery(where string, args []any, scope reading.PriorScope) (string, []any) {
	if scope.SiteID != 0 {
		where, args = where+" AND rs.site_id = ?", append(args, scope.SiteID)
	}
	if !scope.WithQuarantined {
		where += " AND rs.quarantined = 0"
	}
	return dollar(worklistSelect + "WHERE " + where + " ORDER BY rs.study_at DESC, rs.study_pk DESC LIMIT ?"),
		append(args, reading.MaxPriors)
}
