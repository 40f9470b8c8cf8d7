package sqlite

import (
	"context"
	"strings"

	"pacsd/reading"
	"pacsd/store/sqldb"
)

// A study's priors (reading.Priors): sqldb.FindPriors with SQLite's two index searches. The
// same patient is found through studies_patient_id, a possible match through the name keys
// (0015_name_keys.sql).

// priorsSame is the same patient: the Patient ID's studies, each read by primary key. The
// unary + keeps the planner (which has no statistics) from walking all of a site's studies
// through reading_studies_site instead: a patient has a few studies, a site thousands.
const priorsSame = `rs.study_pk IN (SELECT id FROM studies WHERE patient_id = ?) AND rs.study_pk <> ? AND +rs.site_id IS ?`

// priorsPossible is a possible match: a study of another site whose name keys include one of
// the patient's normalized names (the placeholder list is filled in), with the same sex and
// birth date.
const priorsPossible = `rs.study_pk IN (SELECT study_pk FROM study_names WHERE attr = ? AND kind IN (?, ?) AND key IN (%s))
	AND rs.study_pk <> ? AND rs.site_id IS NOT ? AND st.patient_sex = ? AND st.patient_birth_date = ?`

func (r *Reading) Priors(ctx context.Context, studyUID string, scope reading.PriorScope) ([]reading.Prior, error) {
	var p sqldb.PriorPatient
	err := r.x.r.QueryRowContext(ctx, `SELECT st.id, rs.site_id, st.patient_id, st.patient_name, st.patient_sex,
		st.patient_birth_date FROM reading_studies rs JOIN studies st ON st.id = rs.study_pk WHERE rs.study_uid = ?`,
		studyUID).Scan(&p.StudyPK, &p.SiteID, &p.PatientID, &p.Name, &p.Sex, &p.BirthDate)
	if err != nil {
		return nil, readingErr("priors "+studyUID, err)
	}
	return sqldb.FindPriors(p, scope, func(match reading.PriorMatch, names []string) ([]reading.WorklistRow, []int64, error) {
		if match == reading.MatchSamePatient {
			q, a := priorsQuery(priorsSame, []any{p.PatientID, p.StudyPK, p.SiteID}, scope)
			return r.worklistRows(ctx, q, a...)
		}
		args := []any{attrPatientName, keyWord, keyPinyin}
		for _, n := range names {
			args = append(args, n)
		}
		where := strings.Replace(priorsPossible, "%s", "?"+strings.Repeat(", ?", len(names)-1), 1)
		q, a := priorsQuery(where, append(args, p.StudyPK, p.SiteID, p.Sex, p.BirthDate), scope)
		return r.worklistRows(ctx, q, a...)
	}, func(rows []reading.WorklistRow, pks []int64) error { return r.attachSeries(ctx, rows, pks) })
}

// priorsQuery is one search of Priors under the scope, its rows in the worklist's shape.
func priorsQuery(where string, args []any, scope reading.PriorScope) (string, []any) {
	if scope.SiteID != 0 {
		where, args = where+" AND +rs.site_id = ?", append(args, scope.SiteID)
	}
	if !scope.WithQuarantined {
		where += " AND rs.quarantined = 0"
	}
	// The few rows found are sorted (+: not by walking an order index of every study).
	return worklistSelect + "WHERE " + where + " ORDER BY +rs.study_at DESC, rs.study_pk DESC LIMIT ?", append(args, reading.MaxPriors)
}
