package dicomweb

import (
	"strconv"
	"strings"

	"pacsd/dicom"
)

// Matching values of QIDO-RS queries, checked against PS3.4 C.2.2.2 before they reach the
// index: a value the index would misread is refused with a message saying what to send.

// wildcardVRs may carry '*' and '?' (PS3.4 C.2.2.2.4).
var wildcardVRs = map[string]bool{
	"AE": true, "CS": true, "LO": true, "LT": true, "PN": true, "SH": true,
	"ST": true, "UC": true, "UR": true, "UT": true,
}

// matchValue checks a matching value against what PS3.4 C.2.2.2 allows for the
// attribute's VR and returns it in the form store.Match expects. An empty value is
// universal matching (PS3.4 C.2.2.2.3): the attribute is only returned.
func matchValue(tag dicom.Tag, v string) (string, error) {
	info, known := dicom.LookupTag(tag)
	if tag.IsPrivate() || !known {
		return "", badRequest("matching on %s is not supported: private or unknown attribute", tag)
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] == 0x7f {
			return "", badRequest("value of %s contains a control character", info.Keyword)
		}
	}
	if v == "" {
		return "", nil
	}
	if strings.ContainsAny(v, "*?") && !wildcardVRs[info.VR] {
		return "", badRequest("%s (VR %s) does not allow wildcards '*' or '?' (PS3.4 C.2.2.2.4)", info.Keyword, info.VR)
	}
	bad := func(what string) error {
		hint := ""
		if strings.Contains(v, " ") {
			hint = "; note that '+' in a query string means a space, send a literal '+' as %2B"
		}
		return badRequest("value of %s (VR %s) %q is not %s%s", info.Keyword, info.VR, short(v), what, hint)
	}
	switch info.VR {
	case "UI":
		// PS3.4 C.2.2.2.2 list of UID matching; PS3.18 8.3.4.1 lets the list be separated
		// by commas as well as by the DICOM backslash.
		uids := strings.Split(strings.ReplaceAll(v, ",", `\`), `\`)
		for _, u := range uids {
			if !dicom.ValidUID(u, dicom.UIDLeadingZeros) {
				return "", bad("a UID or a list of UIDs")
			}
		}
		return strings.Join(uids, `\`), nil
	case "DA":
		if !validRange(v, validDate) {
			return "", bad("a date YYYYMMDD or a range of dates (PS3.4 C.2.2.2.5)")
		}
	case "TM":
		if !validRange(v, validTime) {
			return "", bad("a time HHMMSS.FFFFFF or a range of times (PS3.4 C.2.2.2.5)")
		}
	case "DT":
		if !validDateTimeRange(v) {
			return "", bad("a date-time YYYYMMDDHHMMSS.FFFFFF&ZZXX or a range of them (PS3.4 C.2.2.2.5)")
		}
	case "IS", "US", "UL", "SS", "SL", "UV", "SV":
		if _, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err != nil {
			return "", bad("an integer")
		}
	case "DS", "FL", "FD":
		if _, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err != nil {
			return "", bad("a number")
		}
	case "SQ", "OB", "OW", "OF", "OD", "OL", "OV", "UN", "AT":
		return "", badRequest("matching on %s (VR %s) is not supported", info.Keyword, info.VR)
	}
	return v, nil
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
