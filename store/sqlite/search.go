package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"pacsd/dicom"
	"pacsd/store"
)

// kind says how a key's values are compared.
type kind int

const (
	kText       kind = iota // case-sensitive, wildcards (GLOB)
	kUID                    // exact, list
	kDate                   // DA: single value or range
	kTime                   // TM: prefix or range
	kDateTime               // DT: prefix or range
	kPN                     // case-insensitive, any group, fuzzy
	kInt                    // IS and integer VRs: equality
	kNumber                 // DS, FL, FD: numeric equality
	kModalities             // ModalitiesInStudy: any series of the study
)

// colKey is a key backed by indexed columns. For kPN, col is the whole name and groups are
// the alphabetic, ideographic and phonetic columns.
type colKey struct {
	level  store.Level
	kind   kind
	col    string
	groups [3]string
	fuzzy  string
}

var colKeys = map[dicom.Tag]colKey{
	dicom.TagStudyInstanceUID: {store.LevelStudy, kUID, "s.study_uid", [3]string{}, ""},
	dicom.TagStudyDate:        {store.LevelStudy, kDate, "s.study_date", [3]string{}, ""},
	dicom.TagStudyTime:        {store.LevelStudy, kTime, "s.study_time", [3]string{}, ""},
	dicom.TagAccessionNumber:  {store.LevelStudy, kText, "s.accession_number", [3]string{}, ""},
	dicom.TagPatientName:      {store.LevelStudy, kPN, "s.patient_name", [3]string{"s.pn_alpha", "s.pn_ideo", "s.pn_phon"}, "s.pn_fuzzy"},
	dicom.TagPatientID:        {store.LevelStudy, kText, "s.patient_id", [3]string{}, ""},
	dicom.TagPatientBirthDate: {store.LevelStudy, kDate, "s.patient_birth_date", [3]string{}, ""},
	dicom.TagPatientSex:       {store.LevelStudy, kText, "s.patient_sex", [3]string{}, ""},
	dicom.TagReferringPhysicianName: {store.LevelStudy, kPN, "s.referring_physician_name",
		[3]string{"s.rp_alpha", "s.rp_ideo", "s.rp_phon"}, "s.rp_fuzzy"},
	dicom.TagStudyID:                         {store.LevelStudy, kText, "s.study_id", [3]string{}, ""},
	dicom.TagStudyDescription:                {store.LevelStudy, kText, "s.study_description", [3]string{}, ""},
	dicom.TagInstitutionName:                 {store.LevelStudy, kText, "s.institution_name", [3]string{}, ""},
	dicom.TagModalitiesInStudy:               {store.LevelStudy, kModalities, "m.modality", [3]string{}, ""},
	dicom.TagSeriesInstanceUID:               {store.LevelSeries, kUID, "se.series_uid", [3]string{}, ""},
	dicom.TagModality:                        {store.LevelSeries, kText, "se.modality", [3]string{}, ""},
	dicom.TagSeriesNumber:                    {store.LevelSeries, kInt, "se.series_number", [3]string{}, ""},
	dicom.TagSeriesDescription:               {store.LevelSeries, kText, "se.series_description", [3]string{}, ""},
	dicom.TagBodyPartExamined:                {store.LevelSeries, kText, "se.body_part", [3]string{}, ""},
	dicom.TagPerformedProcedureStepStartDate: {store.LevelSeries, kDate, "se.pps_start_date", [3]string{}, ""},
	dicom.TagPerformedProcedureStepStartTime: {store.LevelSeries, kTime, "se.pps_start_time", [3]string{}, ""},
	dicom.TagSOPInstanceUID:                  {store.LevelInstance, kUID, "i.sop_uid", [3]string{}, ""},
	dicom.TagSOPClassUID:                     {store.LevelInstance, kUID, "i.sop_class_uid", [3]string{}, ""},
	dicom.TagInstanceNumber:                  {store.LevelInstance, kInt, "i.instance_number", [3]string{}, ""},
	dicom.TagAvailableTransferSyntaxUID:      {store.LevelInstance, kUID, "i.transfer_syntax", [3]string{}, ""},
}

// ignoredKeys are identifier attributes that say how to query, not what to match.
var ignoredKeys = map[dicom.Tag]bool{
	dicom.TagSpecificCharacterSet: true,
	0x00080052:                    true, // QueryRetrieveLevel
}

// maxListValues bounds a '\'-separated list (SQLite allows 32766 bound parameters).
const maxListValues = 1000

var levelAlias = map[store.Level]string{store.LevelStudy: "s", store.LevelSeries: "se", store.LevelInstance: "i"}

// query accumulates a WHERE clause and its arguments.
type query struct {
	where []string
	args  []any
	argAt []int // where[i]'s arguments start at args[argAt[i]]
	// A name condition (nameSet) the study, series and instance searches start from:
	// drive is 1 + its index in where (0: none), driveSet and driveArgs its set of studies.
	drive     int
	driveSet  string
	driveArgs []any
}

func (q *query) add(cond string, args ...any) {
	q.argAt = append(q.argAt, len(q.args))
	q.where = append(q.where, cond)
	q.args = append(q.args, args...)
}

// without returns the conditions and arguments of q but condition i.
func (q *query) without(i int) ([]string, []any) {
	end := len(q.args)
	if i+1 < len(q.argAt) {
		end = q.argAt[i+1]
	}
	where := append(append([]string(nil), q.where[:i]...), q.where[i+1:]...)
	args := append(append([]any(nil), q.args[:q.argAt[i]]...), q.args[end:]...)
	return where, args
}

func unsupported(t dicom.Tag, why string) error {
	return fmt.Errorf("unsupported matching key %s: %s: %w", t, why, store.ErrInvalid)
}

// Search answers q from the index alone (see the package comment for the matching rules).
// Each level's attributes come back as stored, undecoded.
func (x *Index) Search(ctx context.Context, q store.Query) ([]store.Hit, error) {
	if q.Level == store.LevelPatient {
		return x.searchPatients(ctx, q)
	}
	sqlText, args, err := buildSearch(q)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	rows, err := x.stmts.query(ctx, x.r, sqlText, args...)
	if err != nil {
		return nil, dbErr("search", err)
	}
	defer rows.Close()
	out := []store.Hit{}
	var (
		// A study's (and series') JSON repeats on every row below it: share one copy.
		lastStudy, lastSeries []byte
		sa, sea, ia           sql.RawBytes
		mods                  string
		nSeries, nInst, nSe   int64
		h                     store.Hit
	)
	// Only the level's columns (finishSearch): each column is a cost per row in the driver.
	dest := []any{&h.StudyUID, &sa, &mods, &nSeries, &nInst}
	if q.Level >= store.LevelSeries {
		dest = append(dest, &h.SeriesUID, &sea, &nSe)
	}
	if q.Level == store.LevelInstance {
		dest = append(dest, &h.SOPInstanceUID, &ia, &h.TransferSyntaxUID)
	}
	for rows.Next() {
		h = store.Hit{}
		if err := rows.Scan(dest...); err != nil {
			return nil, dbErr("search", err)
		}
		if !bytes.Equal(sa, lastStudy) {
			lastStudy = bytes.Clone(sa)
		}
		h.Study = lastStudy
		if q.Level >= store.LevelSeries {
			if !bytes.Equal(sea, lastSeries) {
				lastSeries = bytes.Clone(sea)
			}
			h.Series = lastSeries
			h.SeriesInstances = int(nSe)
		}
		if q.Level == store.LevelInstance {
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
		return nil, dbErr("search", err)
	}
	return out, nil
}

// buildSearch turns a query into SQL and its arguments.
func buildSearch(q store.Query) (string, []any, error) {
	if q.Level < store.LevelPatient || q.Level > store.LevelInstance {
		return "", nil, fmt.Errorf("unknown level %d: %w", q.Level, store.ErrInvalid)
	}
	if q.Limit < 0 || q.Offset < 0 {
		return "", nil, fmt.Errorf("negative limit or offset: %w", store.ErrInvalid)
	}
	w, err := searchWhere(q)
	if err != nil {
		return "", nil, err
	}
	if q.Level == store.LevelPatient {
		return buildPatientSearch(q, w)
	}
	return finishSearch(q, w)
}

// searchWhere is the WHERE clause of a query: its scope, the UIDs it is limited to and its
// matching keys.
func searchWhere(q store.Query) (query, error) {
	var w query
	w.scope(q)
	if q.StudyInstanceUID != "" {
		w.add("s.study_uid = ?", q.StudyInstanceUID)
	}
	if q.SeriesInstanceUID != "" {
		if q.Level <= store.LevelStudy {
			return w, fmt.Errorf("study-level search scoped to a series: %w", store.ErrInvalid)
		}
		w.add("se.series_uid = ?", q.SeriesInstanceUID)
	}
	for _, m := range q.Matches {
		if err := w.match(q.Level, m, q.Fuzzy); err != nil {
			return w, err
		}
	}
	return w, nil
}

// scope adds the conditions of what the asker may see (store.Query.SiteID, WithQuarantined).
func (w *query) scope(q store.Query) {
	if q.SiteID != 0 {
		// The reading room's assignment of studies to sites; its primary key is the study's.
		w.add("EXISTS (SELECT 1 FROM reading_studies rs WHERE rs.study_pk = s.id AND rs.site_id = ?)", q.SiteID)
	}
	if !q.WithQuarantined {
		// Studies from an unknown sender held in quarantine (0009_peers.sql) are for
		// administrators only. The set is read once from its partial index (usually
		// empty), not looked up in reading_studies for each study: a name search that
		// finds hundreds of studies would read most of that table's pages, which the
		// readers' cache loses whenever the index is written (an audit event, a new
		// object). study_pk is never NULL, so NOT IN means what it says.
		w.add("s.id NOT IN (SELECT rq.study_pk FROM reading_studies rq WHERE rq.quarantined = 1)")
	}
}

// The columns a study and a series search return, in Search's order; an instance search
// adds its own three.
const (
	studyCols  = "s.study_uid, s.attrs, s.modalities_in_study, s.num_series, s.num_instances"
	seriesCols = "se.series_uid, se.attrs, se.num_instances"
)

// finishSearch is the study, series or instance search with its WHERE clause.
func finishSearch(q store.Query, w query) (string, []any, error) {
	var sel, from, order string
	switch q.Level {
	case store.LevelStudy:
		sel = studyCols
		from = "studies s"
		order = "s.study_date DESC, s.study_time DESC, s.study_uid"
	case store.LevelSeries:
		sel = studyCols + ", " + seriesCols
		from = "series se JOIN studies s ON s.id = se.study_pk"
		order = "s.study_date DESC, s.study_time DESC, s.study_uid, se.series_number IS NULL, se.series_number, se.series_uid"
	case store.LevelInstance:
		sel = studyCols + ", " + seriesCols + ", i.sop_uid, i.attrs, i.transfer_syntax"
		from = "instances i JOIN series se ON se.id = i.series_pk JOIN studies s ON s.id = se.study_pk"
		order = "s.study_date DESC, s.study_time DESC, s.study_uid, se.series_number IS NULL, se.series_number, se.series_uid, " +
			"i.instance_number IS NULL, i.instance_number, i.sop_uid"
	}
	where, args := w.where, w.args
	if w.drive > 0 {
		// A name search starts from the studies its keys find (CROSS JOIN keeps SQLite
		// from walking studies_order instead, which it may prefer once it has statistics)
		// and sorts them: its time depends on the matches, not on the archive's size.
		var rest []any
		where, rest = w.without(w.drive - 1)
		args = append(append([]any(nil), w.driveArgs...), rest...)
		studies := "(" + w.driveSet + ") nm CROSS JOIN studies s ON s.id = nm.study_pk"
		switch q.Level {
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
	limit := -1 // SQLite: no limit
	if q.Limit > 0 {
		limit = q.Limit
	}
	sqlText += " ORDER BY " + order + " LIMIT ? OFFSET ?"
	args = append(args, limit, q.Offset)
	return sqlText, args, nil
}

// match adds the condition of one matching key.
func (w *query) match(level store.Level, m store.Match, fuzzy bool) error {
	v := strings.TrimSpace(m.Value)
	if ignoredKeys[m.Tag] || v == "" || v == "*" {
		return nil // universal matching, PS3.4 C.2.2.2.3
	}
	if ck, ok := colKeys[m.Tag]; ok {
		if keyLevel(m.Tag, ck.level) > level {
			return unsupported(m.Tag, "below the query level")
		}
		if ck.kind == kModalities {
			cond, args, err := valuesCond(m.Tag, kText, "m.modality", v)
			if err != nil {
				return err
			}
			w.add("EXISTS (SELECT 1 FROM series m WHERE m.study_pk = s.id AND ("+cond+"))", args...)
			return nil
		}
		if ck.kind == kPN {
			set, args, universal, ok := nameSet(nameAttr[m.Tag], v, fuzzy)
			if universal {
				return nil
			}
			if ok {
				w.add("s.id IN ("+set+")", args...)
				if w.drive == 0 {
					w.drive, w.driveSet, w.driveArgs = len(w.where), set, args
				}
				return nil
			}
			// A value that matches empty names too: the columns answer.
			cond, args, err := pnCond(ck.col, ck.groups, ck.fuzzy, v, fuzzy)
			if err != nil {
				return fmt.Errorf("key %s: %w", m.Tag, err)
			}
			w.add(cond, args...)
			return nil
		}
		cond, args, err := valuesCond(m.Tag, ck.kind, ck.col, v)
		if err != nil {
			return err
		}
		w.add(cond, args...)
		return nil
	}
	return w.jsonMatch(level, m.Tag, v)
}

// keyLevel is the query level of a key the index keeps at level l: the patient attributes
// it keeps with the study belong to the Patient level (PS3.4 C.6.1.1.2).
func keyLevel(t dicom.Tag, l store.Level) store.Level {
	if l == store.LevelStudy && store.PatientTag(t) {
		return store.LevelPatient
	}
	return l
}

// jsonMatch matches a key the index keeps only in the level's DICOM JSON: any of the
// attribute's values (json_each) must match.
func (w *query) jsonMatch(level store.Level, t dicom.Tag, v string) error {
	kl, ok := store.LevelOf(t)
	if !ok {
		return unsupported(t, "not kept in the index")
	}
	if keyLevel(t, kl) > level {
		return unsupported(t, "below the query level")
	}
	info, _ := dicom.LookupTag(t)
	var k kind
	switch info.VR {
	case "AE", "AS", "CS", "LO", "LT", "SH", "ST", "UC", "UR", "UT":
		k = kText
	case "UI":
		k = kUID
	case "DA":
		k = kDate
	case "TM":
		k = kTime
	case "DT":
		k = kDateTime
	case "PN":
		k = kPN
	case "IS", "US", "SS", "UL", "SL", "UV", "SV":
		k = kInt
	case "DS", "FL", "FD":
		k = kNumber
	default:
		return unsupported(t, "VR "+info.VR)
	}
	// The tag's hex digits are safe to splice into the JSON path.
	src := fmt.Sprintf(`json_each(%s.attrs, '$."%s".Value') j`, levelAlias[kl], t.Hex())
	var (
		cond string
		args []any
		err  error
	)
	if k == kPN {
		groups := [3]string{"json_extract(j.value, '$.Alphabetic')", "json_extract(j.value, '$.Ideographic')",
			"json_extract(j.value, '$.Phonetic')"}
		full := `rtrim(coalesce(json_extract(j.value, '$.Alphabetic'), '') || '=' ||
			coalesce(json_extract(j.value, '$.Ideographic'), '') || '=' ||
			coalesce(json_extract(j.value, '$.Phonetic'), ''), '=')`
		// Fuzzy matching needs the folded-words column; without one the key is matched
		// literally (PS3.18 8.3.4.5 lets an origin server do so).
		cond, args, err = pnCondCollate(full, groups, "", v, false, " COLLATE NOCASE")
	} else {
		cond, args, err = valuesCond(t, k, "j.value", v)
	}
	if err != nil {
		return err
	}
	w.add("EXISTS (SELECT 1 FROM "+src+" WHERE "+cond+")", args...)
	return nil
}

// valuesCond is the condition for a possibly '\'-separated value on a non-PN column: any of
// the values matches.
func valuesCond(t dicom.Tag, k kind, col, v string) (string, []any, error) {
	vals := strings.Split(v, `\`)
	if len(vals) > maxListValues {
		return "", nil, fmt.Errorf("key %s: more than %d values: %w", t, maxListValues, store.ErrInvalid)
	}
	if k == kUID {
		// PS3.4 C.2.2.2.2: list of UIDs; wildcards are not allowed for UI.
		var args []any
		for _, u := range vals {
			u = strings.TrimSpace(u)
			if strings.ContainsAny(u, "*?") {
				return "", nil, fmt.Errorf("key %s: wildcard in a UID: %w", t, store.ErrInvalid)
			}
			if u != "" {
				args = append(args, u)
			}
		}
		if len(args) == 0 {
			return "1", nil, nil
		}
		if len(args) == 1 {
			return col + " = ?", args, nil
		}
		return col + " IN (?" + strings.Repeat(",?", len(args)-1) + ")", args, nil
	}
	var conds []string
	var args []any
	for _, one := range vals {
		one = strings.TrimSpace(one)
		if one == "" || one == "*" {
			return "1", nil, nil // one universal value makes the whole list universal
		}
		c, a, err := valueCond(k, col, one)
		if err != nil {
			return "", nil, fmt.Errorf("key %s: %w", t, err)
		}
		conds = append(conds, c)
		args = append(args, a...)
	}
	if len(conds) == 1 {
		return conds[0], args, nil
	}
	return "(" + strings.Join(conds, " OR ") + ")", args, nil
}

func valueCond(k kind, col, v string) (string, []any, error) {
	switch k {
	case kText:
		if strings.ContainsAny(v, "*?") {
			return col + " GLOB ?", []any{globPattern(v)}, nil
		}
		return col + " = ?", []any{v}, nil
	case kInt:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return "", nil, fmt.Errorf("%q is not an integer: %w", v, store.ErrInvalid)
		}
		return col + " = ?", []any{n}, nil
	case kNumber:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return "", nil, fmt.Errorf("%q is not a number: %w", v, store.ErrInvalid)
		}
		return col + " = ?", []any{f}, nil
	case kDate, kTime, kDateTime:
		return rangeCond(k, col, v)
	}
	return "", nil, fmt.Errorf("kind %d: %w", k, store.ErrInvalid)
}

// rangeCond implements single value and range matching for DA, TM and DT (PS3.4 C.2.2.2.5).
// Values compare as strings, which orders DICOM dates and times correctly once the ACR-NEMA
// separators are dropped. An upper bound b becomes "< b~": '~' sorts after every digit and
// '.', so a partial time "1200" includes "120059.999"; a single TM/DT value is the range
// [v, v], i.e. a prefix.
func rangeCond(k kind, col, v string) (string, []any, error) {
	norm := func(s string) (string, error) {
		s = strings.TrimSpace(s)
		switch k {
		case kDate:
			s = strings.ReplaceAll(s, ".", "")
		case kTime:
			s = strings.ReplaceAll(s, ":", "")
		}
		for _, r := range s {
			ok := r >= '0' && r <= '9' || (k != kDate && r == '.') || (k == kDateTime && (r == '+' || r == '-'))
			if !ok {
				return "", fmt.Errorf("%q is not a valid date/time matching value: %w", v, store.ErrInvalid)
			}
		}
		return s, nil
	}
	lo, hi, isRange := strings.Cut(v, "-")
	if !isRange {
		s, err := norm(v)
		if err != nil {
			return "", nil, err
		}
		if k == kDate {
			return col + " = ?", []any{s}, nil
		}
		return "(" + col + " >= ? AND " + col + " < ?)", []any{s, s + "~"}, nil
	}
	lo, err := norm(lo)
	if err != nil {
		return "", nil, err
	}
	hi, err = norm(hi)
	if err != nil {
		return "", nil, err
	}
	switch {
	case lo == "" && hi == "":
		return "", nil, fmt.Errorf("%q is not a range: %w", v, store.ErrInvalid)
	case lo == "":
		return "(" + col + " > '' AND " + col + " < ?)", []any{hi + "~"}, nil
	case hi == "":
		return col + " >= ?", []any{lo}, nil
	}
	return "(" + col + " >= ? AND " + col + " < ?)", []any{lo, hi + "~"}, nil
}

// pnCond matches a PN key on its columns (see the package comment).
func pnCond(full string, groups [3]string, fuzzyCol, v string, fuzzy bool) (string, []any, error) {
	return pnCondCollate(full, groups, fuzzyCol, v, fuzzy, "")
}

// pnCondCollate is pnCond with a collation appended to '=' comparisons, for expressions
// that, unlike the NOCASE columns, do not carry one.
func pnCondCollate(full string, groups [3]string, fuzzyCol, v string, fuzzy bool, collate string) (string, []any, error) {
	var alts []string
	var args []any
	for _, one := range strings.Split(v, `\`) {
		one = strings.TrimSpace(one)
		if one == "" || one == "*" {
			return "1", nil, nil
		}
		if fuzzy && fuzzyCol != "" {
			words := splitWords(fold(one))
			var conds []string
			for _, wd := range words {
				conds = append(conds, fuzzyCol+` LIKE ? ESCAPE '\'`)
				args = append(args, "%^"+likePattern(wd)+"%")
			}
			if len(conds) == 0 {
				return "1", nil, nil
			}
			alts = append(alts, "("+strings.Join(conds, " AND ")+")")
			continue
		}
		if strings.Contains(one, "=") {
			p := dicom.ParsePersonName(one)
			if !strings.ContainsAny(one, "*?") {
				p = normPN(p)
			}
			c, a := pnTerm(full, p.String(), collate)
			alts = append(alts, c)
			args = append(args, a...)
			continue
		}
		if !strings.ContainsAny(one, "*?") {
			one = strings.TrimRight(one, "^ ")
		}
		var conds []string
		for _, g := range groups {
			c, a := pnTerm(g, one, collate)
			conds = append(conds, c)
			args = append(args, a...)
		}
		alts = append(alts, "("+strings.Join(conds, " OR ")+")")
	}
	if len(alts) == 1 {
		return alts[0], args, nil
	}
	return "(" + strings.Join(alts, " OR ") + ")", args, nil
}

// pnTerm compares one PN column or expression with one value, ignoring ASCII case: LIKE
// ignores it by default and the PN columns are COLLATE NOCASE, so both can use an index.
func pnTerm(col, v, collate string) (string, []any) {
	if strings.ContainsAny(v, "*?") {
		return col + ` LIKE ? ESCAPE '\'`, []any{likePattern(v)}
	}
	return col + " = ?" + collate, []any{v}
}

// likePattern turns a DICOM wildcard value into a LIKE pattern with '\' as the escape.
func likePattern(v string) string {
	var b strings.Builder
	for _, r := range v {
		switch r {
		case '*':
			b.WriteByte('%')
		case '?':
			b.WriteByte('_')
		case '%', '_', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// globPattern turns a DICOM wildcard value into a GLOB pattern: '*' and '?' mean the same
// there; '[' is the only other metacharacter and is escaped as a one-character class.
func globPattern(v string) string {
	return strings.ReplaceAll(v, "[", "[[]")
}

// maxCachedStmts bounds the prepared searches kept. A search's SQL text depends only on its
// shape (which keys, how many values, the level), not on the values, so a few dozen shapes
// cover what QIDO-RS, C-FIND and the reading room ask; shapes beyond the bound are
// prepared for each call, as before.
const maxCachedStmts = 256

// stmtCache keeps searches prepared by SQL text: preparing is a large part of a selective
// search's time (the SQL of a name search is long). database/sql prepares a cached
// statement again on each pooled connection that runs it, once.
type stmtCache struct {
	mu     sync.Mutex
	m      map[string]*sql.Stmt
	closed bool
}

// query runs sqlText with args on db through a cached statement.
func (c *stmtCache) query(ctx context.Context, db *sql.DB, sqlText string, args ...any) (*sql.Rows, error) {
	c.mu.Lock()
	st := c.m[sqlText]
	full := c.closed || len(c.m) >= maxCachedStmts
	c.mu.Unlock()
	if st == nil && full {
		return db.QueryContext(ctx, sqlText, args...)
	}
	if st == nil {
		prepared, err := db.PrepareContext(ctx, sqlText)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		switch {
		case c.closed:
			c.mu.Unlock()
			prepared.Close()
			return db.QueryContext(ctx, sqlText, args...)
		case c.m[sqlText] != nil: // prepared meanwhile by another search
			prepared.Close()
		default:
			if c.m == nil {
				c.m = map[string]*sql.Stmt{}
			}
			c.m[sqlText] = prepared
		}
		st = c.m[sqlText]
		c.mu.Unlock()
	}
	// Statements are closed only by close, after which queries fail anyway (the pool is
	// closed with them).
	return st.QueryContext(ctx, args...)
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		st.Close()
	}
	c.m, c.closed = nil, true
}
