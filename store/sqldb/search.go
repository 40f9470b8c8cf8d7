package sqldb

import (
	"bytes"
	"database/sql"
	"strings"

	"pacsd/store"
)

// Where accumulates the conditions of a search's WHERE clause and their arguments ('?'
// placeholders), as both engines build them.
type Where struct {
	Conds []string
	Args  []any
	argAt []int // Conds[i]'s arguments start at Args[argAt[i]]
	// A name condition the study, series and instance searches start from: Drive is 1 +
	// its index in Conds (0: none), DriveSet and DriveArgs its set of studies.
	Drive     int
	DriveSet  string
	DriveArgs []any
}

// Add appends a condition and its arguments.
func (w *Where) Add(cond string, args ...any) {
	w.argAt = append(w.argAt, len(w.Args))
	w.Conds = append(w.Conds, cond)
	w.Args = append(w.Args, args...)
}

// Without returns the conditions and arguments of w but condition i.
func (w *Where) Without(i int) ([]string, []any) {
	end := len(w.Args)
	if i+1 < len(w.argAt) {
		end = w.argAt[i+1]
	}
	conds := append(append([]string(nil), w.Conds[:i]...), w.Conds[i+1:]...)
	args := append(append([]any(nil), w.Args[:w.argAt[i]]...), w.Args[end:]...)
	return conds, args
}

// The columns a study and a series search return, in ScanHits' order; an instance search
// adds InstanceCols.
const (
	StudyCols    = "s.study_uid, s.attrs, s.modalities_in_study, s.num_series, s.num_instances"
	SeriesCols   = "se.series_uid, se.attrs, se.num_instances"
	InstanceCols = "i.sop_uid, i.attrs, i.transfer_syntax"
)

// ScanHits reads the rows of a study, series or instance search (the columns of its level:
// StudyCols, then SeriesCols, then InstanceCols). Errors are the driver's, unwrapped.
func ScanHits(rows *sql.Rows, level store.Level) ([]store.Hit, error) {
	out := []store.Hit{}
	var (
		// A study's (and series') JSON repeats on every row below it: share one copy.
		lastStudy, lastSeries []byte
		sa, sea, ia           sql.RawBytes
		mods                  string
		nSeries, nInst, nSe   int64
		h                     store.Hit
	)
	// Only the level's columns: each column is a cost per row in the driver.
	dest := []any{&h.StudyUID, &sa, &mods, &nSeries, &nInst}
	if level >= store.LevelSeries {
		dest = append(dest, &h.SeriesUID, &sea, &nSe)
	}
	if level == store.LevelInstance {
		dest = append(dest, &h.SOPInstanceUID, &ia, &h.TransferSyntaxUID)
	}
	for rows.Next() {
		h = store.Hit{}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		if !bytes.Equal(sa, lastStudy) {
			lastStudy = bytes.Clone(sa)
		}
		h.Study = lastStudy
		if level >= store.LevelSeries {
			if !bytes.Equal(sea, lastSeries) {
				lastSeries = bytes.Clone(sea)
			}
			h.Series = lastSeries
			h.SeriesInstances = int(nSe)
		}
		if level == store.LevelInstance {
			h.Instance = bytes.Clone(ia)
		}
		for m := range strings.SplitSeq(mods, `\`) {
			if m != "" {
				h.ModalitiesInStudy = append(h.ModalitiesInStudy, m)
			}
		}
		h.StudySeries, h.StudyInstances = int(nSeries), int(nInst)
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// ScanPatients forms the patients of a patient-level search (store.LevelPatient) from its
// rows: each study in scope of the patients with a matching study, as (Patient ID, Issuer of
// Patient ID, study UID, attributes, series, instances, matched), grouped by Patient ID
// with the newest study first within a patient. A patient is the studies sharing an ID and
// issuer (each study without an ID is one of its own); it is listed when one of its
// studies matched, with its newest study's attributes and the sums of all. Each patient is
// complete when the ID changes, so reading stops once q.Offset+q.Limit are.
func ScanPatients(rows *sql.Rows, q store.Query) ([]store.Hit, error) {
	type patient struct {
		hit     store.Hit
		matched bool
	}
	out := []store.Hit{}
	skip := q.Offset
	full := func() bool { return q.Limit > 0 && len(out) >= q.Limit }
	var (
		curID   string
		started bool
		group   []*patient          // patients of the current Patient ID, in order of first row
		byKey   map[string]*patient // issuer (or study UID when there is no ID) -> patient
	)
	flush := func() {
		for _, p := range group {
			if !p.matched || full() {
				continue
			}
			if skip > 0 {
				skip--
				continue
			}
			out = append(out, p.hit)
		}
		group, byKey = group[:0], map[string]*patient{}
	}
	byKey = map[string]*patient{}
	for rows.Next() {
		var (
			id, issuer, uid string
			attrs           []byte
			nSeries, nInst  int
			m               bool
		)
		if err := rows.Scan(&id, &issuer, &uid, &attrs, &nSeries, &nInst, &m); err != nil {
			return nil, err
		}
		if !started || id != curID {
			flush()
			if full() {
				break
			}
			curID, started = id, true
		}
		key := "i" + issuer
		if id == "" {
			key = "u" + uid
		}
		p := byKey[key]
		if p == nil {
			// The newest study comes first: it speaks for the patient.
			p = &patient{hit: store.Hit{Study: attrs}}
			byKey[key] = p
			group = append(group, p)
		}
		p.matched = p.matched || m
		p.hit.PatientStudies++
		p.hit.StudySeries += nSeries
		p.hit.StudyInstances += nInst
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if !full() {
		flush()
	}
	return out, nil
}

// Select is the study, series or instance search (by level) with w's conditions, up to its
// ORDER BY (newest study first; series and instance numbers, absent ones last); the engine
// adds its LIMIT. A name condition (Drive) becomes the set of studies the search starts
// from, joined to the studies by join (the engine's way to keep that order: SQLite's CROSS
// JOIN): its time then depends on the matches, not on the archive's size.
func (w *Where) Select(level store.Level, join string) (string, []any) {
	var sel, from, order string
	switch level {
	case store.LevelStudy:
		sel = StudyCols
		from = "studies s"
		order = "s.study_date DESC, s.study_time DESC, s.study_uid"
	case store.LevelSeries:
		sel = StudyCols + ", " + SeriesCols
		from = "series se JOIN studies s ON s.id = se.study_pk"
		order = "s.study_date DESC, s.study_time DESC, s.study_uid, se.series_number IS NULL, se.series_number, se.series_uid"
	case store.LevelInstance:
		sel = StudyCols + ", " + SeriesCols + ", " + InstanceCols
		from = "instances i JOIN series se ON se.id = i.series_pk JOIN studies s ON s.id = se.study_pk"
		order = "s.study_date DESC, s.study_time DESC, s.study_uid, se.series_number IS NULL, se.series_number, se.series_uid, " +
			"i.instance_number IS NULL, i.instance_number, i.sop_uid"
	}
	where, args := w.Conds, w.Args
	if w.Drive > 0 {
		var rest []any
		where, rest = w.Without(w.Drive - 1)
		args = append(append([]any(nil), w.DriveArgs...), rest...)
		studies := "(" + w.DriveSet + ") nm " + join + " studies s ON s.id = nm.study_pk"
		switch level {
		case store.LevelStudy:
			from = studies
		case store.LevelSeries:
			from = studies + " JOIN series se ON se.study_pk = s.id"
		case store.LevelInstance:
			from = studies + " JOIN series se ON se.study_pk = s.id JOIN instances i ON i.series_pk = se.id"
		}
	}
	sqlText := "SELECT " + sel + " FROM " + from
	if len(where) > 0 {
		sqlText += " WHERE " + strings.Join(where, " AND ")
	}
	return sqlText + " ORDER BY " + order, args
}
