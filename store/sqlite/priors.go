package sqlite

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"pacsd/dicom"
	"pacsd/reading"
)

// A study's priors (reading.Priors): two index searches from the study's patient. The same
// patient is the same Patient ID at the same site (studies_patient_id); a possible match at
// another site is found by the patient's normalized names among the name keys
// (0015_name_keys.sql: the fuzzy words hold each spelling's components run together, the
// pinyin keys the reading of the characters), then kept when sex and birth date agree and
// one of its own normalized names is one of the patient's.

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
	var pk int64
	var site *int64
	var pid, name, sex, birth string
	err := r.x.r.QueryRowContext(ctx, `SELECT st.id, rs.site_id, st.patient_id, st.patient_name, st.patient_sex,
		st.patient_birth_date FROM reading_studies rs JOIN studies st ON st.id = rs.study_pk WHERE rs.study_uid = ?`,
		studyUID).Scan(&pk, &site, &pid, &name, &sex, &birth)
	if err != nil {
		return nil, readingErr("priors "+studyUID, err)
	}
	type found struct {
		p  reading.Prior
		pk int64
	}
	var out []found
	add := func(match reading.PriorMatch, where string, args ...any) error {
		q, a := priorsQuery(where, args, scope)
		rows, pks, err := r.worklistRows(ctx, q, a...)
		if err != nil {
			return err
		}
		for i, w := range rows {
			if match == reading.MatchPossible && !sameName(name, w.PatientName) {
				continue // a key shared by chance (a single word of a longer name)
			}
			out = append(out, found{reading.Prior{WorklistRow: w, Match: match}, pks[i]})
		}
		return nil
	}
	if strings.TrimSpace(pid) != "" {
		if err := add(reading.MatchSamePatient, priorsSame, pid, pk, site); err != nil {
			return nil, err
		}
	}
	// A township user sees nothing of another site, not even that it may have the patient.
	names := normalizedNames(name)
	if scope.SiteID == 0 && len(names) > 0 && strings.TrimSpace(sex) != "" && strings.TrimSpace(birth) != "" {
		args := []any{attrPatientName, keyWord, keyPinyin}
		for _, n := range names {
			args = append(args, n)
		}
		where := strings.Replace(priorsPossible, "%s", "?"+strings.Repeat(", ?", len(names)-1), 1)
		if err := add(reading.MatchPossible, where, append(args, pk, site, sex, birth)...); err != nil {
			return nil, err
		}
	}
	// Newest first by the examination's date and time, then by receipt; the same patient's
	// before a possible match at equal times (stable: they were found first).
	slices.SortStableFunc(out, func(x, y found) int {
		return cmp.Or(cmp.Compare(y.p.StudyDate+y.p.StudyTime, x.p.StudyDate+x.p.StudyTime),
			y.p.ReceivedAt.Compare(x.p.ReceivedAt))
	})
	out = out[:min(len(out), reading.MaxPriors)]
	rows, pks := make([]reading.WorklistRow, len(out)), make([]int64, len(out))
	for i, f := range out {
		rows[i], pks[i] = f.p.WorklistRow, f.pk
	}
	if err := r.attachSeries(ctx, rows, pks); err != nil {
		return nil, err
	}
	priors := make([]reading.Prior, len(out))
	for i, f := range out {
		priors[i] = reading.Prior{WorklistRow: rows[i], Match: f.p.Match}
	}
	return priors, nil
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

// normalizedNames are the spellings under which a Patient's Name is compared across sites:
// each component group's components run together, accent-folded and in lower case
// (Zhang^Wei -> zhangwei, 张^伟 -> 张伟), and the pinyin of its characters (张伟 -> zhangwei).
// Every one of them is also a name key of the study (a fuzzy word or a pinyin key).
func normalizedNames(pn string) []string {
	p := normPN(dicom.ParsePersonName(pn))
	var out []string
	for _, g := range []string{p.Alphabetic, p.Ideographic, p.Phonetic} {
		if w := strings.Join(splitWords(fold(g)), ""); w != "" && !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	for _, k := range pinyinKeys(p) {
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

// sameName reports whether two Patient's Name values share a normalized name.
func sameName(a, b string) bool {
	nb := normalizedNames(b)
	return slices.ContainsFunc(normalizedNames(a), func(n string) bool { return slices.Contains(nb, n) })
}
