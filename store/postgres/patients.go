package postgres

import (
	"fmt"
	"strings"

	"pacsd/store"
)

// Patient-level search (store.LevelPatient, PS3.4 C.6.1.1.2), as store/sqlite's
// patients.go: a patient is the studies that share a Patient ID and Issuer of Patient ID; a
// study without a Patient ID is a patient of its own. A patient matches when one of its
// studies in scope matches every key; its attributes are those of its newest study in
// scope, and its numbers of related studies, series and instances count all its studies in
// scope.

// issuerExpr is a study's Issuer of Patient ID (0010,0021), kept in its DICOM JSON only.
const issuerExpr = `coalesce((s.attrs::jsonb) #>> '{00100021,Value,0}', '')`

// buildPatientSearch is the SQL ('?' placeholders) of a patient-level query whose WHERE
// clause (scope and keys) is w: every study in scope of each patient that has a matching
// study, by Patient ID (studies_patient_id), newest study first within a patient; the last
// column says whether the study matched.
func buildPatientSearch(q store.Query, w query) (string, []any, error) {
	if q.StudyInstanceUID != "" || q.SeriesInstanceUID != "" {
		return "", nil, fmt.Errorf("patient-level search scoped to a study or series: %w", store.ErrInvalid)
	}
	sq := q
	sq.Matches = nil
	scope, err := searchWhere(sq)
	if err != nil {
		return "", nil, err
	}
	matched, margs := "true", []any(nil)
	where := append([]string(nil), scope.Conds...)
	args := []any(nil)
	var cond string
	var condArgs []any
	if len(w.Conds) > len(scope.Conds) {
		cond, condArgs = strings.Join(w.Conds, " AND "), w.Args
		matched, margs = "("+cond+")", w.Args
	} else if len(scope.Conds) > 0 {
		cond, condArgs = strings.Join(scope.Conds, " AND "), scope.Args
	}
	args = append(args, margs...)
	args = append(args, scope.Args...)
	if cond != "" || q.Limit > 0 {
		// The patients with a matching study (the inner s shadows the outer one); with a
		// limit, only the first Offset+Limit Patient IDs of them, which hold at least that
		// many patients: PostgreSQL then reads them through studies_patient_id in order
		// instead of sorting every study (the rows are read to the end of a query here, not
		// stopped early as SQLite's are).
		sub := "SELECT s.patient_id FROM studies s"
		if cond != "" {
			sub += " WHERE " + cond
		}
		if q.Limit > 0 {
			// As an array, so that the few IDs are looked up in the index one by one
			// rather than joined with every study.
			where = append(where, "s.patient_id = ANY (ARRAY(SELECT DISTINCT patient_id FROM ("+sub+") p ORDER BY patient_id LIMIT ?))")
		} else {
			where = append(where, "s.patient_id IN ("+sub+")")
		}
		args = append(args, condArgs...)
		if q.Limit > 0 {
			args = append(args, q.Offset+q.Limit)
		}
	}
	sqlText := "SELECT s.patient_id, " + issuerExpr + ", s.study_uid, s.attrs, s.num_series, s.num_instances, " +
		matched + " FROM studies s"
	if len(where) > 0 {
		sqlText += " WHERE " + strings.Join(where, " AND ")
	}
	sqlText += " ORDER BY s.patient_id, s.study_date DESC, s.study_time DESC, s.study_uid"
	return sqlText, args, nil
}
