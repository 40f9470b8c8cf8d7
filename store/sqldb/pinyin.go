package sqldb

import (
	"unicode"

	"github.com/mozillazg/go-pinyin"

	"pacsd/dicom"
)

// MaxPinyinKeys bounds the readings kept per name: heteronyms multiply (单田芳 has three
// surname readings); only the first two characters' alternatives are expanded, which is
// where surnames are, and the product is capped.
const MaxPinyinKeys = 8

// PinyinKeys is the pinyin of the Han characters of a person name (its alphabetic and
// ideographic groups, since a name sent only in characters lands in the first group): every
// reading of the first two characters, the common reading of the rest, syllables run
// together in lower case. Nil when the name has no Han character.
func PinyinKeys(p dicom.PersonName) []string {
	var han []rune
	for _, g := range []string{p.Ideographic, p.Alphabetic} {
		for _, r := range g {
			if unicode.Is(unicode.Han, r) {
				han = append(han, r)
			}
		}
		if len(han) > 0 {
			break // the ideographic group when there is one, else the alphabetic
		}
	}
	if len(han) == 0 {
		return nil
	}
	keys := []string{""}
	args := pinyin.Args{Style: pinyin.Normal, Heteronym: true}
	for i, r := range han {
		readings := pinyin.SinglePinyin(r, args)
		if len(readings) == 0 {
			continue // not in the dictionary: the characters still match as themselves
		}
		if i >= 2 {
			readings = readings[:1]
		}
		var next []string
		for _, k := range keys {
			for _, rd := range readings {
				if len(next) < MaxPinyinKeys {
					next = append(next, k+rd)
				}
			}
		}
		keys = next
	}
	if keys[0] == "" {
		return nil
	}
	return keys
}

// pinyinWords is PinyinKeys' contribution to FuzzyWords: each character's common reading as a
// word, and the run-together keys, so fuzzy QIDO matches "zhang", "wei" and "zhangwei".
func pinyinWords(p dicom.PersonName) []string {
	keys := PinyinKeys(p)
	if keys == nil {
		return nil
	}
	var words []string
	for _, g := range []string{p.Ideographic, p.Alphabetic} {
		for _, part := range SplitWords(g) {
			var syl []string
			for _, r := range part {
				if unicode.Is(unicode.Han, r) {
					if rd := pinyin.SinglePinyin(r, pinyin.Args{Style: pinyin.Normal}); len(rd) > 0 {
						syl = append(syl, rd[0])
					}
				}
			}
			words = append(words, syl...)
		}
		if len(words) > 0 {
			break
		}
	}
	return append(words, keys...)
}
