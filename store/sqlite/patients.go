package sqlite

import (
	"fmt"
	"strings"

	"pacsd/store"
)

// Patient-level search (store.LevelPatient, PS3.4 C.6.1.1.2). The index keeps patients with
// their studies, so a patient is the studies that share a Patient ID and Issuer of Patient
// ID; a study without a Patient ID is a patient of its own (nothing says two such studies
// are one person). A patient matches when one of its studies in scope matches every key;
// its attributes are those of its newest study in scope, and its numbers of related
// studies, series and instances count all its studies in scope.

// issuerExpr is a study's Issuer of Patient ID (0010,0021), kept in its DICOM JSON only.
const issuerExpr = `coalesce(json_extract(s.attrs, '$."00100021".Value[0]'), '')`

// buildPatientSearch is the SQL of a patient-level query whose WHERE clause (scope and keys)
// is w: every study in scope of each patient that has a matching study, by Patient ID (the
// studies_patient_id index), newest study first within a patient; the last column says
// whether the study matched. Patients are formed, paged and counted by sqldb.ScanPatients.
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
	matched, margs := "1", []any(nil)
	var where []string
	var args []any
	where = append(where, scope.Conds...)
	if len(w.Conds) > len(scope.Conds) {
		cond := strings.Join(w.Conds, " AND ")
		matched, margs = "("+cond+")", w.Args
		// The inner s shadows the outer one: the patients with a matching study.
		where = append(where, "s.patient_id IN (SELECT s.patient_id FROM studies s WHERE "+cond+")")
	}
	args = append(args, margs...)
	args = append(args, scope.Args...)
	if matched != "1" {
		args = append(args, w.Args...)
	}
	sqlText := "SELECT s.patient_id, " + issuerExpr + ", s.study_uid, s.attrs, s.num_series, s.num_instances, " +
		matched + " FROM studies s"
	if len(where) > 0 {
		sqlText += " WHERE " + strings.Join(where, " AND ")
	}
	sqlText += " ORDER BY s.patient_id, s.study_date DESC, s.study_time DESC, s.study_uid"
	return sqlText, args, nil
}
