package store

import (
	"fmt"
	"strconv"
	"strings"

	"pacsd/dicom"
)

// The value syntax of matching keys (PS3.4 C.2.2.2), checked once for every transport:
// QIDO-RS (dicomweb) and C-FIND (qr) call ParseMatch before a key reaches Index.Search, so
// a value the index would misread is refused with a message saying what to send, and both
// answer the same query the same way.

// MatchError is a matching value that PS3.4 C.2.2.2 does not allow for its attribute. Msg
// tells the asker what to send instead; it quotes at most a short prefix of the value. It
// wraps ErrInvalid.
type MatchError struct {
	Tag dicom.Tag
	Msg string
	// Syntax: the value's form is wrong for the VR (not a date, a UID, a number), as
	// opposed to a key that cannot be matched at all. A transport may add a hint (QIDO-RS:
	// '+' in a query string is a space).
	Syntax bool
}

func (e *MatchError) Error() string { return e.Msg }
func (e *MatchError) Unwrap() error { return ErrInvalid }

// wildcardVRs may carry '*' and '?' (PS3.4 C.2.2.2.4).
var wildcardVRs = map[string]bool{
	"AE": true, "CS": true, "LO": true, "LT": true, "PN": true, "SH": true,
	"ST": true, "UC": true, "UR": true, "UT": true,
}

// WildcardVR reports whether values of vr may use '*' and '?' (PS3.4 C.2.2.2.4).
func WildcardVR(vr string) bool { return wildcardVRs[vr] }

// ParseMatch checks the matching value v of attribute tag against what PS3.4 C.2.2.2
// allows for its VR and returns the Match Index.Search expects. An empty value is
// universal matching (C.2.2.2.3): the attribute is only returned. UI values are a
// '\'-separated list of UIDs (C.2.2.2.2); DA, TM and DT a single value or a range
// (C.2.2.2.5); wildcards only for the VRs of C.2.2.2.4. Private and unknown attributes,
// sequences and binary VRs are refused. Errors are *MatchError.
func ParseMatch(tag dicom.Tag, v string) (Match, error) {
	info, known := dicom.LookupTag(tag)
	if tag.IsPrivate() || !known {
		return Match{}, &MatchError{Tag: tag, Msg: fmt.Sprintf("matching on %s is not supported: private or unknown attribute", tag)}
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] == 0x7f {
			return Match{}, &MatchError{Tag: tag, Msg: fmt.Sprintf("value of %s contains a control character", info.Keyword)}
		}
	}
	if v == "" {
		return Match{Tag: tag}, nil
	}
	if strings.ContainsAny(v, "*?") && !wildcardVRs[info.VR] {
		return Match{}, &MatchError{Tag: tag, Msg: fmt.Sprintf("%s (VR %s) does not allow wildcards '*' or '?' (PS3.4 C.2.2.2.4)", info.Keyword, info.VR)}
	}
	bad := func(what string) error {
		return &MatchError{Tag: tag, Syntax: true,
			Msg: fmt.Sprintf("value of %s (VR %s) %q is not %s", info.Keyword, info.VR, shortValue(v), what)}
	}
	switch info.VR {
	case "UI":
		for u := range strings.SplitSeq(v, `\`) {
			if !dicom.ValidUID(u, dicom.UIDLeadingZeros) {
				return Match{}, bad("a UID or a list of UIDs")
			}
		}
	case "DA":
		if !validRange(v, validDate) {
			return Match{}, bad("a date YYYYMMDD or a range of dates (PS3.4 C.2.2.2.5)")
		}
	case "TM":
		if !validRange(v, validTime) {
			return Match{}, bad("a time HHMMSS.FFFFFF or a range of times (PS3.4 C.2.2.2.5)")
		}
	case "DT":
		if !validDateTimeRange(v) {
			return Match{}, bad("a date-time YYYYMMDDHHMMSS.FFFFFF&ZZXX or a range of them (PS3.4 C.2.2.2.5)")
		}
	case "IS", "US", "UL", "SS", "SL", "UV", "SV":
		if _, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err != nil {
			return Match{}, bad("an integer")
		}
	case "DS", "FL", "FD":
		if _, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err != nil {
			return Match{}, bad("a number")
		}
	case "SQ", "OB", "OW", "OF", "OD", "OL", "OV", "UN", "AT":
		return Match{}, &MatchError{Tag: tag, Msg: fmt.Sprintf("matching on %s (VR %s) is not supported", info.Keyword, info.VR)}
	}
	return Match{Tag: tag, Value: v}, nil
}

// shortValue trims a value quoted in an error message, on a rune boundary.
func shortValue(s string) string {
	const max = 64
	for i := range s {
		if i >= max {
			return s[:i] + "..."
		}
	}
	return s
}

// validRange accepts "a", "a-", "-b" and "a-b" with each side valid (PS3.4 C.2.2.2.5).
func validRange(v string, valid func(string) bool) bool {
	a, b, isRange := strings.Cut(v, "-")
	if !isRange {
		return valid(v)
	}
	if a == "" && b == "" {
		return false
	}
	return (a == "" || valid(a)) && (b == "" || valid(b))
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validDate checks YYYYMMDD (PS3.5 Table 6.2-1, DA).
func validDate(s string) bool {
	if len(s) != 8 || !allDigits(s) {
		return false
	}
	m, _ := strconv.Atoi(s[4:6])
	d, _ := strconv.Atoi(s[6:8])
	return m >= 1 && m <= 12 && d >= 1 && d <= 31
}

// validTime checks HH[MM[SS[.F{1,6}]]] (PS3.5 Table 6.2-1, TM).
func validTime(s string) bool {
	whole, frac, hasFrac := strings.Cut(s, ".")
	if hasFrac && (len(whole) != 6 || frac == "" || len(frac) > 6 || !allDigits(frac)) {
		return false
	}
	if (len(whole) != 2 && len(whole) != 4 && len(whole) != 6) || !allDigits(whole) {
		return false
	}
	limits := []int{23, 59, 60}
	for i := 0; i < len(whole); i += 2 {
		n, _ := strconv.Atoi(whole[i : i+2])
		if n > limits[i/2] {
			return false
		}
	}
	return true
}

// validDateTime checks YYYY[MM[DD[HH[MM[SS[.F{1,6}]]]]]][&ZZXX] (PS3.5 Table 6.2-1, DT).
func validDateTime(s string) bool {
	if i := strings.LastIndexAny(s, "+-"); i >= 0 {
		off := s[i+1:]
		if len(off) != 4 || !allDigits(off) {
			return false
		}
		s = s[:i]
	}
	whole, frac, hasFrac := strings.Cut(s, ".")
	if hasFrac && (len(whole) != 14 || frac == "" || len(frac) > 6 || !allDigits(frac)) {
		return false
	}
	switch len(whole) {
	case 4, 6, 8, 10, 12, 14:
	default:
		return false
	}
	if !allDigits(whole) {
		return false
	}
	if len(whole) >= 8 && !validDate(whole[:8]) {
		return false
	}
	if len(whole) > 8 && !validTime(whole[8:]) {
		return false
	}
	return true
}

// validDateTimeRange is validRange for DT, whose UTC offset may itself contain '-': every
// '-' is tried as the range separator.
func validDateTimeRange(v string) bool {
	if validDateTime(v) {
		return true
	}
	for i := 0; i < len(v); i++ {
		if v[i] != '-' {
			continue
		}
		a, b := v[:i], v[i+1:]
		if (a != "" || b != "") && (a == "" || validDateTime(a)) && (b == "" || validDateTime(b)) {
			return true
		}
	}
	return false
}

// patientTags are the attributes of the Patient level of the Patient Root information model
// (PS3.4 C.6.1.1.2, Table C.6-1) that the index keeps; it keeps them with each study.
var patientTags = map[dicom.Tag]bool{
	dicom.TagPatientName: true, dicom.TagPatientID: true, dicom.TagIssuerOfPatientID: true,
	0x00100022:                true, // TypeOfPatientID
	0x00100024:                true, // IssuerOfPatientIDQualifiersSequence
	dicom.TagPatientBirthDate: true, dicom.TagPatientBirthTime: true, dicom.TagPatientSex: true,
	dicom.TagOtherPatientIDs: true,
	0x00101001:               true, // OtherPatientNames
	0x00101002:               true, // OtherPatientIDsSequence
	0x00102160:               true, // EthnicGroup
	0x00104000:               true, // PatientComments
}

// PatientTag reports whether t is an attribute of the Patient level (PS3.4 C.6.1.1.2) that
// the index keeps (with the study: LevelOf says LevelStudy for it).
func PatientTag(t dicom.Tag) bool { return patientTags[t] }
