package dicom

import (
	"encoding/json"
	"strconv"
	"strings"
)

// The accessors below read values out of a DICOM JSON data set (PS3.18 F.2) the way the
// Dataset accessors read a parsed header: by tag, first value or all of them. They accept
// the shapes ToJSON produces, the shapes ParseJSON gives back, and what encoding/json makes
// of a DICOM JSON object decoded into []any (json.Number, map[string]any).

// Strings returns the values of t as strings: text as is, numbers formatted, PN values as
// the '='-joined groups (PersonName.String). An empty value inside a multi-valued attribute
// is ""; a missing attribute or one without Value gives nil.
func (ds JSONDataset) Strings(t Tag) []string {
	a, ok := ds[t.Hex()]
	if !ok {
		return nil
	}
	var out []string
	for _, v := range a.Value {
		switch v := v.(type) {
		case string:
			out = append(out, v)
		case float64:
			out = append(out, strconv.FormatFloat(v, 'f', -1, 64))
		case int:
			out = append(out, strconv.Itoa(v))
		case int64:
			out = append(out, strconv.FormatInt(v, 10))
		case uint16:
			out = append(out, strconv.FormatUint(uint64(v), 10))
		case uint32:
			out = append(out, strconv.FormatUint(uint64(v), 10))
		case json.Number:
			out = append(out, v.String())
		case map[string]string, map[string]any:
			out = append(out, jsonPersonName(v).String())
		case nil:
			out = append(out, "")
		}
	}
	return out
}

// String returns the first value of t as a string (see Strings), or "".
func (ds JSONDataset) String(t Tag) string {
	if s := ds.Strings(t); len(s) > 0 {
		return s[0]
	}
	return ""
}

// Int returns the first value of t as an integer: IS, US, UL... or a numeric string; a
// whole DS value ("512.0") counts. ok is false when there is no such value.
func (ds JSONDataset) Int(t Tag) (n int64, ok bool) {
	s := strings.TrimSpace(ds.String(t))
	if s == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f == float64(int64(f)) {
		return int64(f), true
	}
	return 0, false
}

// PersonName returns the component groups of the first PN value of t (PS3.18 F.2.2), or
// the zero PersonName. A PN given as a plain string instead of an object is split at '='.
func (ds JSONDataset) PersonName(t Tag) PersonName {
	a, ok := ds[t.Hex()]
	if !ok || len(a.Value) == 0 {
		return PersonName{}
	}
	switch v := a.Value[0].(type) {
	case map[string]string, map[string]any:
		return jsonPersonName(v)
	case string:
		return ParsePersonName(v)
	}
	return PersonName{}
}

// jsonPersonName reads a PS3.18 F.2.2 PN object, typed (map[string]string, as ToJSON and
// ParseJSON give it) or as encoding/json decodes it into any.
func jsonPersonName(v any) PersonName {
	get := func(k string) string {
		switch m := v.(type) {
		case map[string]string:
			return m[k]
		case map[string]any:
			s, _ := m[k].(string)
			return s
		}
		return ""
	}
	return PersonName{Alphabetic: get("Alphabetic"), Ideographic: get("Ideographic"), Phonetic: get("Phonetic")}
}
