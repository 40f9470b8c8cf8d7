package sqlite

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

// decodeJSON reads stored attributes back (dicom.ParseJSON).
func decodeJSON(s string) (dicom.JSONDataset, error) { return dicom.ParseJSON([]byte(s)) }

// foldChains are accent strippers, reused: a chain allocates its buffers (kilobytes) when
// made, and ingest folds every name group of every object (fuzzyWords).
var foldChains = sync.Pool{New: func() any {
	return transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
}}

// fold strips accents and lower-cases: NFD splits "é" into "e" and a combining mark, which
// is then dropped. ASCII text has nothing to decompose, so it is only lower-cased.
func fold(s string) string {
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

// fuzzyWords are the words fuzzy matching compares with (PS3.18 8.3.4.5): a person name's
// words (split at component delimiters and spaces, per group), accent-folded and
// lower-cased, plus each group's components run together, because a Chinese name is typed
// as one word: 张伟 (or zhangwei) must find Zhang^Wei=张^伟; the given names inside a
// one-word Chinese name (givenNames); and the pinyin of a name in characters
// (pinyinWords), so that 张伟 alone is found by zhang or zhangwei. They are the name's
// kind-2 keys in study_names (0015_name_keys.sql).
func fuzzyWords(p dicom.PersonName) []string {
	var words []string
	for _, g := range []string{p.Alphabetic, p.Ideographic, p.Phonetic} {
		parts := splitWords(fold(g))
		words = append(words, parts...)
		if len(parts) > 1 {
			words = append(words, strings.Join(parts, ""))
		}
		for _, w := range parts {
			words = append(words, givenNames(w)...)
		}
	}
	return append(words, pinyinWords(p)...)
}

// fuzzyName is the pn_fuzzy column of a person name: its fuzzyWords, each preceded by '^'
// and the whole closed by '^', e.g. "^zhang^wei^zhangwei^张^伟^张伟^". Search no longer
// reads it (the words are keys in study_names); it is kept for the sqlite3 shell.
func fuzzyName(p dicom.PersonName) string {
	words := fuzzyWords(p)
	if len(words) == 0 {
		return ""
	}
	return "^" + strings.Join(words, "^") + "^"
}

func splitWords(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == '^' || r == '=' || r == ' ' || r == ',' })
}

// givenNames returns the possible given names inside a Chinese name written as one word
// (张伟, 欧阳娜娜), so that fuzzy 伟 finds 张伟 as it finds 张^伟: what follows a one- or
// two-character surname, for words of two to four Han characters. Without a surname list
// both cuts are kept; a fuzzy search may be a little wide, never blind.
func givenNames(w string) []string {
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
