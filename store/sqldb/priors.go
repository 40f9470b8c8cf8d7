package sqldb

import (
	"cmp"
	"slices"
	"strings"

	"pacsd/dicom"
	"pacsd/reading"
)

// A study's priors (reading.Priors): two index searches from the study's patient, which
// each engine writes in its SQL. The same patient is the same Patient ID at the same site;
// a possible match at another site is found by the patient's normalized names among the
// name keys (the fuzzy words hold each spelling's components run together, the pinyin keys
// the reading of the characters), then kept when sex and birth date agree and one of its
// own normalized names is one of the patient's. What follows is the engines' one copy of
// when each search runs, which rows it keeps and in which order.

// PriorPatient is the study whose priors are asked for: its key and site, and its patient.
type PriorPatient struct {
	StudyPK   int64
	SiteID    *int64 // nil: an unknown sender
	PatientID string
	Name      string // Patient's Name as the studies table holds it
	Sex       string
	BirthDate string
}

// PriorSearch is one engine search of FindPriors: match says which (for MatchPossible,
// names are the normalized names to look up among the name keys); it returns the rows found
// in the worklist's shape with their studies' keys, under the caller's scope, newest first,
// at most reading.MaxPriors.
type PriorSearch func(match reading.PriorMatch, names []string) ([]reading.WorklistRow, []int64, error)

// FindPriors runs the searches a patient calls for and returns the priors: newest first by
// the examination's date and time, then by receipt, the same patient's before a possible
// match at equal times; at most reading.MaxPriors; with their series, which attach (the
// engine's) adds to the rows of the studies pks.
func FindPriors(p PriorPatient, scope reading.PriorScope, search PriorSearch,
	attach func(rows []reading.WorklistRow, pks []int64) error) ([]reading.Prior, error) {
	type found struct {
		p  reading.Prior
		pk int64
	}
	var out []found
	add := func(match reading.PriorMatch, names []string) error {
		rows, pks, err := search(match, names)
		if err != nil {
			return err
		}
		for i, w := range rows {
			if match == reading.MatchPossible && !SameName(p.Name, w.PatientName) {
				continue // a key shared by chance (a single word of a longer name)
			}
			out = append(out, found{reading.Prior{WorklistRow: w, Match: match}, pks[i]})
		}
		return nil
	}
	if strings.TrimSpace(p.PatientID) != "" {
		if err := add(reading.MatchSamePatient, nil); err != nil {
			return nil, err
		}
	}
	// A township user sees nothing of another site, not even that it may have the patient.
	names := NormalizedNames(p.Name)
	if scope.SiteID == 0 && len(names) > 0 && strings.TrimSpace(p.Sex) != "" && strings.TrimSpace(p.BirthDate) != "" {
		if err := add(reading.MatchPossible, names); err != nil {
			return nil, err
		}
	}
	// Stable: at equal times the same patient's were found first.
	slices.SortStableFunc(out, func(x, y found) int {
		return cmp.Or(cmp.Compare(y.p.StudyDate+y.p.StudyTime, x.p.StudyDate+x.p.StudyTime),
			y.p.ReceivedAt.Compare(x.p.ReceivedAt))
	})
	out = out[:min(len(out), reading.MaxPriors)]
	rows, pks := make([]reading.WorklistRow, len(out)), make([]int64, len(out))
	for i, f := range out {
		rows[i], pks[i] = f.p.WorklistRow, f.pk
	}
	if err := attach(rows, pks); err != nil {
		return nil, err
	}
	priors := make([]reading.Prior, len(out))
	for i, f := range out {
		priors[i] = reading.Prior{WorklistRow: rows[i], Match: f.p.Match}
	}
	return priors, nil
}

// NormalizedNames are the spellings under which a Patient's Name is compared across sites:
// each component group's components run together, accent-folded and in lower case
// (Zhang^Wei -> zhangwei, 张^伟 -> 张伟), and the pinyin of its characters (张伟 -> zhangwei).
// Every one of them is also a name key of the study (a fuzzy word or a pinyin key).
func NormalizedNames(pn string) []string {
	p := NormPN(dicom.ParsePersonName(pn))
	var out []string
	for _, g := range []string{p.Alphabetic, p.Ideographic, p.Phonetic} {
		if w := strings.Join(SplitWords(Fold(g)), ""); w != "" && !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	for _, k := range PinyinKeys(p) {
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

// SameName reports whether two Patient's Name values share a normalized name.
func SameName(a, b string) bool {
	nb := NormalizedNames(b)
	return slices.ContainsFunc(NormalizedNames(a), func(n string) bool { return slices.Contains(nb, n) })
}
