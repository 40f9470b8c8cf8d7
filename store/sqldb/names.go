package sqldb

import (
	"strings"

	"pacsd/dicom"
)

// Name keys: every form in which a study's Patient's Name and Referring Physician's Name
// can be matched is a row of study_names (attr, kind, key, study_pk), so that a name search
// is a range search on that table's primary key whatever the archive's size, and the
// studies it finds are then read by their primary key. Both engines keep the same keys.

// Attributes with name keys.
const (
	AttrPatientName = 1
	AttrReferring   = 2
)

// Kinds of name keys.
const (
	KeyWhole  = 0 // the whole name, groups '='-joined, as the patient_name column holds it
	KeyGroup  = 1 // one component group (Alphabetic, Ideographic or Phonetic)
	KeyWord   = 2 // one fuzzy word (FuzzyWords)
	KeyPinyin = 3 // the pinyin of the name's characters, run together (PinyinKeys)
)

// FuzzyVersion names how FuzzyWords computes the fuzzy words (the pn_fuzzy and rp_fuzzy
// columns and the KeyWord keys). 2: given names inside one-word Chinese names.
const FuzzyVersion = "2"

// NameKeysVersion names how NameKeys computes the keys, with FuzzyVersion; keys written
// under another are recomputed (SQLite's backfill at Open).
const NameKeysVersion = "1"

// NameAttr is the name-keys attribute of a PN key backed by columns.
var NameAttr = map[dicom.Tag]int{dicom.TagPatientName: AttrPatientName, dicom.TagReferringPhysicianName: AttrReferring}

// StudyNameKey is one row of study_names but its study.
type StudyNameKey struct {
	Attr, Kind int
	Key        string
}

// NameKeys are the keys of a person name as PNColumns normalizes it.
func NameKeys(attr int, p dicom.PersonName) []StudyNameKey {
	p = NormPN(p)
	var out []StudyNameKey
	add := func(kind int, keys ...string) {
		for _, k := range keys {
			if k != "" {
				out = append(out, StudyNameKey{attr, kind, k})
			}
		}
	}
	add(KeyWhole, p.String())
	add(KeyGroup, p.Alphabetic, p.Ideographic, p.Phonetic)
	add(KeyWord, FuzzyWords(p)...)
	add(KeyPinyin, PinyinKeys(p)...)
	return out
}

// NameLookup is one look-up of name keys: the keys of Kind equal to Key, or, when Like,
// matching the LIKE pattern Key ('\' escapes; ASCII case ignored, as SQLite's LIKE and
// NOCASE do).
type NameLookup struct {
	Kind int
	Key  string
	Like bool
}

// NameLookups is how a PN matching value v finds its studies through name keys (PS3.4
// C.2.2.2, the PN rules of store/sqlite's package comment): a study matches when, for some
// element of alts, every look-up of the element finds it ('\'-separated values are
// alternatives; the words of a fuzzy value must all match). universal: v constrains
// nothing. ok false: a value could match an empty name, which has no key; the caller then
// matches the name columns.
func NameLookups(v string, fuzzy bool) (alts [][]NameLookup, universal, ok bool) {
	for _, one := range strings.Split(v, `\`) {
		one = strings.TrimSpace(one)
		if one == "" || one == "*" {
			return nil, true, true
		}
		if fuzzy {
			words := SplitWords(Fold(one))
			if len(words) == 0 {
				return nil, true, true
			}
			// Each word must match the start of some word of the name.
			var w []NameLookup
			for _, wd := range words {
				w = append(w, NameLookup{KeyWord, LikePattern(wd) + "%", true})
			}
			alts = append(alts, w)
			continue
		}
		kind := KeyGroup
		if strings.Contains(one, "=") {
			p := dicom.ParsePersonName(one)
			if !strings.ContainsAny(one, "*?") {
				p = NormPN(p)
			}
			one, kind = p.String(), KeyWhole
		} else if !strings.ContainsAny(one, "*?") {
			one = strings.TrimRight(one, "^ ")
		}
		if strings.Trim(one, "*") == "" {
			return nil, false, false // "" or "**": matches an empty name too
		}
		if strings.ContainsAny(one, "*?") {
			alts = append(alts, []NameLookup{{kind, LikePattern(one), true}})
		} else {
			alts = append(alts, []NameLookup{{kind, one, false}})
		}
	}
	return alts, false, true
}

// FoldKey lower-cases the ASCII letters of a name key, and nothing else: SQLite's NOCASE
// keys compare so; PostgreSQL keeps its keys folded (and looks them up folded), whatever
// its locale would make of other letters.
func FoldKey(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
