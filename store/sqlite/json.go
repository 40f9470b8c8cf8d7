package sqlite

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"

	"pacsd/dicom"
)

// rawAttr is one DICOM JSON attribute before its values are typed by VR.
type rawAttr struct {
	VR           string            `json:"vr"`
	Value        []json.RawMessage `json:"Value"`
	BulkDataURI  string            `json:"BulkDataURI"`
	InlineBinary string            `json:"InlineBinary"`
}

// decodeJSON reads a stored DICOM JSON object back with the Go types dicom.ToJSON uses, so
// callers see one shape whether a record is fresh or read back: PN values as
// map[string]string, sequence items as dicom.JSONDataset, numbers as float64, text as string.
func decodeJSON(s string) (dicom.JSONDataset, error) {
	var raw map[string]rawAttr
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return nil, err
	}
	return typedJSON(raw)
}

func typedJSON(raw map[string]rawAttr) (dicom.JSONDataset, error) {
	out := make(dicom.JSONDataset, len(raw))
	for tag, a := range raw {
		attr := dicom.JSONAttribute{VR: a.VR, BulkDataURI: a.BulkDataURI, InlineBinary: a.InlineBinary}
		for _, v := range a.Value {
			val, err := typedValue(a.VR, v)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", tag, err)
			}
			attr.Value = append(attr.Value, val)
		}
		out[tag] = attr
	}
	return out, nil
}

func typedValue(vr string, v json.RawMessage) (any, error) {
	if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
		return nil, nil
	}
	switch vr {
	case "PN":
		var m map[string]string
		err := json.Unmarshal(v, &m)
		return m, err
	case "SQ":
		var item map[string]rawAttr
		if err := json.Unmarshal(v, &item); err != nil {
			return nil, err
		}
		return typedJSON(item)
	}
	var x any
	err := json.Unmarshal(v, &x)
	return x, err
}

// foldTransformer strips accents: NFD splits "é" into "e" and a combining mark, which is
// then dropped.
func fold(s string) string {
	t := transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	out, _, err := transform.String(t, s)
	if err != nil {
		out = s
	}
	return strings.ToLower(out)
}

// fuzzyName is the pn_fuzzy column of a person name: its name words (split at component
// delimiters and spaces, per group), accent-folded and lower-cased, plus each group's
// components run together, because a Chinese name is typed as one word: 张伟 (or zhangwei)
// must find Zhang^Wei=张^伟; and the pinyin of a name in characters (pinyinWords), so that
// 张伟 alone is found by zhang or zhangwei. Each word is preceded by '^' and the whole closed
// by '^', e.g. "^zhang^wei^zhangwei^张^伟^张伟^"; a word start is then "^" + prefix.
func fuzzyName(p dicom.PersonName) string {
	var words []string
	for _, g := range []string{p.Alphabetic, p.Ideographic, p.Phonetic} {
		parts := splitWords(fold(g))
		words = append(words, parts...)
		if len(parts) > 1 {
			words = append(words, strings.Join(parts, ""))
		}
	}
	words = append(words, pinyinWords(p)...)
	if len(words) == 0 {
		return ""
	}
	return "^" + strings.Join(words, "^") + "^"
}

func splitWords(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == '^' || r == '=' || r == ' ' || r == ',' })
}
