package sqldb

import (
	"fmt"
	"strings"

	"pacsd/dicom"
	"pacsd/store"
)

// Matching (PS3.4 C.2.2.2, PS3.18 8.3.4): which keys are backed by columns, how each kind
// of value is compared, and the parsing of values, which both engines share; each writes
// its own SQL from them.

// Kind says how a key's values are compared.
type Kind int

const (
	KText       Kind = iota // case-sensitive, wildcards
	KUID                    // exact, list
	KDate                   // DA: single value or range
	KTime                   // TM: prefix or range
	KDateTime               // DT: prefix or range
	KPN                     // case-insensitive, any group, fuzzy
	KInt                    // IS and integer VRs: equality
	KNumber                 // DS, FL, FD: numeric equality
	KModalities             // ModalitiesInStudy: any series of the study
)

// ColKey is a key backed by indexed columns, over the aliases s (studies), se (series) and
// i (instances). For KPN, Col is the whole name and Groups are the alphabetic, ideographic
// and phonetic columns.
type ColKey struct {
	Level  store.Level
	Kind   Kind
	Col    string
	Groups [3]string
	Fuzzy  string
}

// ColKeys are the keys backed by columns.
var ColKeys = map[dicom.Tag]ColKey{
	dicom.TagStudyInstanceUID: {store.LevelStudy, KUID, "s.study_uid", [3]string{}, ""},
	dicom.TagStudyDate:        {store.LevelStudy, KDate, "s.study_date", [3]string{}, ""},
	dicom.TagStudyTime:        {store.LevelStudy, KTime, "s.study_time", [3]string{}, ""},
	dicom.TagAccessionNumber:  {store.LevelStudy, KText, "s.accession_number", [3]string{}, ""},
	dicom.TagPatientName:      {store.LevelStudy, KPN, "s.patient_name", [3]string{"s.pn_alpha", "s.pn_ideo", "s.pn_phon"}, "s.pn_fuzzy"},
	dicom.TagPatientID:        {store.LevelStudy, KText, "s.patient_id", [3]string{}, ""},
	dicom.TagPatientBirthDate: {store.LevelStudy, KDate, "s.patient_birth_date", [3]string{}, ""},
	dicom.TagPatientSex:       {store.LevelStudy, KText, "s.patient_sex", [3]string{}, ""},
	dicom.TagReferringPhysicianName: {store.LevelStudy, KPN, "s.referring_physician_name",
		[3]string{"s.rp_alpha", "s.rp_ideo", "s.rp_phon"}, "s.rp_fuzzy"},
	dicom.TagStudyID:                         {store.LevelStudy, KText, "s.study_id", [3]string{}, ""},
	dicom.TagStudyDescription:                {store.LevelStudy, KText, "s.study_description", [3]string{}, ""},
	dicom.TagInstitutionName:                 {store.LevelStudy, KText, "s.institution_name", [3]string{}, ""},
	dicom.TagModalitiesInStudy:               {store.LevelStudy, KModalities, "m.modality", [3]string{}, ""},
	dicom.TagSeriesInstanceUID:               {store.LevelSeries, KUID, "se.series_uid", [3]string{}, ""},
	dicom.TagModality:                        {store.LevelSeries, KText, "se.modality", [3]string{}, ""},
	dicom.TagSeriesNumber:                    {store.LevelSeries, KInt, "se.series_number", [3]string{}, ""},
	dicom.TagSeriesDescription:               {store.LevelSeries, KText, "se.series_description", [3]string{}, ""},
	dicom.TagBodyPartExamined:                {store.LevelSeries, KText, "se.body_part", [3]string{}, ""},
	dicom.TagPerformedProcedureStepStartDate: {store.LevelSeries, KDate, "se.pps_start_date", [3]string{}, ""},
	dicom.TagPerformedProcedureStepStartTime: {store.LevelSeries, KTime, "se.pps_start_time", [3]string{}, ""},
	dicom.TagSOPInstanceUID:                  {store.LevelInstance, KUID, "i.sop_uid", [3]string{}, ""},
	dicom.TagSOPClassUID:                     {store.LevelInstance, KUID, "i.sop_class_uid", [3]string{}, ""},
	dicom.TagInstanceNumber:                  {store.LevelInstance, KInt, "i.instance_number", [3]string{}, ""},
	dicom.TagAvailableTransferSyntaxUID:      {store.LevelInstance, KUID, "i.transfer_syntax", [3]string{}, ""},
}

// IgnoredKeys are identifier attributes that say how to query, not what to match.
var IgnoredKeys = map[dicom.Tag]bool{
	dicom.TagSpecificCharacterSet: true,
	0x00080052:                    true, // QueryRetrieveLevel
}

// MaxListValues bounds a '\'-separated list (SQLite allows 32766 bound parameters).
const MaxListValues = 1000

// LevelAlias is the table alias of each level's rows.
var LevelAlias = map[store.Level]string{store.LevelStudy: "s", store.LevelSeries: "se", store.LevelInstance: "i"}

// Unsupported is the error of a key the index cannot match.
func Unsupported(t dicom.Tag, why string) error {
	return fmt.Errorf("unsupported matching key %s: %s: %w", t, why, store.ErrInvalid)
}

// KeyLevel is the query level of a key the index keeps at level l: the patient attributes
// it keeps with the study belong to the Patient level (PS3.4 C.6.1.1.2).
func KeyLevel(t dicom.Tag, l store.Level) store.Level {
	if l == store.LevelStudy && store.PatientTag(t) {
		return store.LevelPatient
	}
	return l
}

// JSONKey is how a key the index keeps only in a level's DICOM JSON is matched: its level
// and kind, or an error when it cannot be matched at query level level.
func JSONKey(level store.Level, t dicom.Tag) (store.Level, Kind, error) {
	kl, ok := store.LevelOf(t)
	if !ok {
		return 0, 0, Unsupported(t, "not kept in the index")
	}
	if KeyLevel(t, kl) > level {
		return 0, 0, Unsupported(t, "below the query level")
	}
	info, _ := dicom.LookupTag(t)
	switch info.VR {
	case "AE", "AS", "CS", "LO", "LT", "SH", "ST", "UC", "UR", "UT":
		return kl, KText, nil
	case "UI":
		return kl, KUID, nil
	case "DA":
		return kl, KDate, nil
	case "TM":
		return kl, KTime, nil
	case "DT":
		return kl, KDateTime, nil
	case "PN":
		return kl, KPN, nil
	case "IS", "US", "SS", "UL", "SL", "UV", "SV":
		return kl, KInt, nil
	case "DS", "FL", "FD":
		return kl, KNumber, nil
	}
	return 0, 0, Unsupported(t, "VR "+info.VR)
}

// SplitValues splits a '\'-separated list, refusing more than MaxListValues values.
func SplitValues(t dicom.Tag, v string) ([]string, error) {
	vals := strings.Split(v, `\`)
	if len(vals) > MaxListValues {
		return nil, fmt.Errorf("key %s: more than %d values: %w", t, MaxListValues, store.ErrInvalid)
	}
	return vals, nil
}

// UIDValues are the UIDs of a list (PS3.4 C.2.2.2.2: wildcards are not allowed for UI),
// empty ones dropped; none means universal matching.
func UIDValues(t dicom.Tag, vals []string) ([]string, error) {
	var out []string
	for _, u := range vals {
		u = strings.TrimSpace(u)
		if strings.ContainsAny(u, "*?") {
			return nil, fmt.Errorf("key %s: wildcard in a UID: %w", t, store.ErrInvalid)
		}
		if u != "" {
			out = append(out, u)
		}
	}
	return out, nil
}

// Range is a DA, TM or DT matching value (PS3.4 C.2.2.2.5) as bounds on the stored text:
// Eq when it is one date; else the text must be >= Lo (when Lo != "") and < Below (when
// Below != ""), and non-empty when Lo is empty. Values compare as strings, which orders
// DICOM dates and times correctly once the ACR-NEMA separators are dropped. An upper bound
// b becomes "< b~": '~' sorts after every digit and '.', so a partial time "1200" includes
// "120059.999"; a single TM/DT value is the range [v, v], i.e. a prefix.
type Range struct {
	Eq        string
	Lo, Below string
}

// ParseRange reads a DA, TM or DT matching value.
func ParseRange(k Kind, v string) (Range, error) {
	norm := func(s string) (string, error) {
		s = strings.TrimSpace(s)
		switch k {
		case KDate:
			s = strings.ReplaceAll(s, ".", "")
		case KTime:
			s = strings.ReplaceAll(s, ":", "")
		}
		for _, r := range s {
			ok := r >= '0' && r <= '9' || (k != KDate && r == '.') || (k == KDateTime && (r == '+' || r == '-'))
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
			return Range{}, err
		}
		if k == KDate {
			return Range{Eq: s}, nil
		}
		return Range{Lo: s, Below: s + "~"}, nil
	}
	lo, err := norm(lo)
	if err != nil {
		return Range{}, err
	}
	hi, err = norm(hi)
	if err != nil {
		return Range{}, err
	}
	switch {
	case lo == "" && hi == "":
		return Range{}, fmt.Errorf("%q is not a range: %w", v, store.ErrInvalid)
	case hi == "":
		return Range{Lo: lo}, nil
	}
	return Range{Lo: lo, Below: hi + "~"}, nil
}

// LikePattern turns a DICOM wildcard value into a LIKE pattern with '\' as the escape.
func LikePattern(v string) string {
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
