package dicom

import (
	"strings"
	"unicode"
)

// PersonName is a PN value split into its component groups (PS3.5 6.2.1): alphabetic
// (romanised, e.g. "Zhang^Wei"), ideographic (e.g. "张^伟"), phonetic. Components stay
// '^'-separated inside each group.
type PersonName struct {
	Alphabetic  string
	Ideographic string
	Phonetic    string
}

// ParsePersonName splits a decoded (UTF-8) PN value at '=' into its groups. PS3.5 6.2.1.1
// allows three groups; an '=' beyond the third is kept inside the phonetic group rather than
// dropped, so that nothing of a malformed name is lost.
func ParsePersonName(s string) PersonName {
	g := strings.SplitN(s, "=", 3)
	var p PersonName
	p.Alphabetic = g[0]
	if len(g) > 1 {
		p.Ideographic = g[1]
	}
	if len(g) > 2 {
		p.Phonetic = g[2]
	}
	return p
}

// String is the PN value of p's groups (PS3.5 6.2.1): '='-joined, trailing empty groups
// dropped. Trailing '=' are all dropped, so a malformed value with a fourth, empty group
// ("a=b=c=") comes back as three ("a=b=c"): the index keys names by this form.
func (p PersonName) String() string {
	return strings.TrimRight(p.Alphabetic+"="+p.Ideographic+"="+p.Phonetic, "=")
}

// Display is the name as a Chinese reader expects it: the ideographic group when there is
// one, its components run together (张^伟 reads 张伟); else the alphabetic group with its
// components spaced (Zhang^Wei reads Zhang Wei), or run together when they are characters.
func (p PersonName) Display() string {
	if strings.TrimSpace(p.Ideographic) != "" {
		return strings.ReplaceAll(strings.TrimRight(p.Ideographic, "^"), "^", "")
	}
	sep := " "
	if strings.ContainsFunc(p.Alphabetic, func(r rune) bool { return unicode.Is(unicode.Han, r) }) {
		sep = ""
	}
	return strings.TrimSpace(strings.Join(strings.FieldsFunc(p.Alphabetic, func(r rune) bool { return r == '^' }), sep))
}
