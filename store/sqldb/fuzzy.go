package sqldb

import (
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"

	"pacsd/dicom"
)

// foldChains are accent strippers, reused: a chain allocates its buffers (kilobytes) when
// made, and ingest folds every name group of every object (FuzzyWords).
var foldChains = sync.Pool{New: func() any {
	return transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
}}

// Fold strips accents and lower-cases: NFD splits "é" into "e" and a combining mark, which
// is then dropped. ASCII text has nothing to decompose, so it is only lower-cased.
func Fold(s string) string {
	ascii := true
	for i := 0; i < len(s) && ascii; i++ {
		ascii = s[i] < utf8.RuneSelf
	}
	if ascii {
		return strings.ToLower(s)
	}
	t := foldChains.Get().(transform.Transformer)
	out, _, err := transform.String(t, s) // resets t first
	foldChains.Put(t)
	if err != nil {
		out = s
	}
	return strings.ToLower(out)
}

// FuzzyWords are the words fuzzy matching compares with (PS3.18 8.3.4.5): a person name's
// words (split at component delimiters and spaces, per group), accent-folded and
// lower-cased, plus each group's components run together, because a Chinese name is typed
// as one word: 张伟 (or zhangwei) must find Zhang^Wei=张^伟; the given names inside a
// one-word Chinese name (GivenNames); and the pinyin of a name in characters
// (pinyinWords), so that 张伟 alone is found by zhang or zhangwei. They are the name's
// KeyWord keys in study_names.
func FuzzyWords(p dicom.PersonName) []string {
	var words []string
	for _, g := range []string{p.Alphabetic, p.Ideographic, p.Phonetic} {
		parts := SplitWords(Fold(g))
		words = append(words, parts...)
		if len(parts) > 1 {
			words = append(words, strings.Join(parts, ""))
		}
		for _, w := range parts {
			words = append(words, GivenNames(w)...)
		}
	}
	return append(words, pinyinWords(p)...)
}

// FuzzyName is the pn_fuzzy column of a person name: its FuzzyWords, each preceded by '^'
// and the whole closed by '^', e.g. "^zhang^wei^zhangwei^张^伟^张伟^". Searches no longer
// read it (the words are keys in study_names); it is kept for a person at the SQL shell.
func FuzzyName(p dicom.PersonName) string {
	words := FuzzyWords(p)
	if len(words) == 0 {
		return ""
	}
	return "^" + strings.Join(words, "^") + "^"
}

// SplitWords splits a name at component and group delimiters, spaces and commas.
func SplitWords(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == '^' || r == '=' || r == ' ' || r == ',' })
}

// GivenNames returns the possible given names inside a Chinese name written as one word
// (张伟, 欧阳娜娜), so that fuzzy 伟 finds 张伟 as it finds 张^伟: what follows a one- or
// two-character surname, for words of two to four Han characters. Without a surname list
// both cuts are kept; a fuzzy search may be a little wide, never blind.
func GivenNames(w string) []string {
	rs := []rune(w)
	if len(rs) < 2 || len(rs) > 4 {
		return nil
	}
	for _, r := range rs {
		if !unicode.Is(unicode.Han, r) {
			return nil
		}
	}
	out := []string{string(rs[1:])}
	if len(rs) >= 3 {
		out = append(out, string(rs[2:]))
	}
	return out
}
