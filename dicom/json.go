package dicom

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// JSONAttribute is one attribute of the DICOM JSON model (PS3.18 F.2.2).
// Value holds strings, numbers, PN objects (map with Alphabetic/Ideographic/Phonetic keys)
// or nested JSONDataset items, by VR (PS3.18 F.2.3).
//
// As produced by ToJSON: strings are string, numbers are float64 (encoding/json prints
// whole numbers without a fraction, as json.Unmarshal would give them back), PN values are
// map[string]string, items are JSONDataset, and an empty value inside a multi-valued
// attribute is nil (JSON null, PS3.18 F.2.5).
type JSONAttribute struct {
	VR           string `json:"vr"`
	Value        []any  `json:"Value,omitempty"`
	BulkDataURI  string `json:"BulkDataURI,omitempty"`
	InlineBinary string `json:"InlineBinary,omitempty"`
}

// JSONDataset is a DICOM JSON object keyed by eight-hex-digit tags; encoding/json sorts map
// keys, which gives the ascending tag order PS3.18 F.2.1 asks for.
type JSONDataset map[string]JSONAttribute

// JSONOptions steers Dataset.ToJSON.
type JSONOptions struct {
	// Include selects the top-level tags to convert; nil means all.
	Include func(Tag) bool
	// BulkDataURI, when set, is called for binary values (OB/OW/OD/OF/OL/OV/UN) and values
	// that were too long to load; it returns the URI to put in BulkDataURI. When nil, loaded
	// binary values are emitted as InlineBinary (base64) and unloaded ones are omitted.
	// path lists the tags from the top-level data set down to e, e.Tag last (item indexes
	// are not part of it). Returning "" treats the value as if the callback were nil.
	BulkDataURI func(path []Tag, e *Element) string
}

// ToJSON converts the data set to the DICOM JSON model. PN values become objects with
// their non-empty groups; IS/DS become JSON numbers; empty values have no "Value".
//
// The conversion is faithful: Specific Character Set (0008,0005) is kept as read although
// the text is now UTF-8 (PS3.18 F.2.2 note 3); callers building new objects decide what
// to do with it. Group Length (gggg,0000) elements are left out (PS3.18 F.2.2). IS and
// DS values that are not numbers (and FL/FD NaN or infinities, which JSON cannot carry)
// are left out of Value, which keeps the output valid JSON at the cost of shifting later
// values of the same attribute.
func (d *Dataset) ToJSON(opts JSONOptions) JSONDataset {
	return d.toJSON(opts, nil)
}

func (d *Dataset) toJSON(opts JSONOptions, path []Tag) JSONDataset {
	out := JSONDataset{}
	if d == nil {
		return out
	}
	for _, e := range d.Elements {
		if len(path) == 0 && opts.Include != nil && !opts.Include(e.Tag) {
			continue
		}
		if e.Tag.Element() == 0 {
			continue
		}
		p := append(path[:len(path):len(path)], e.Tag)
		if a, ok := elementJSON(e, opts, p); ok {
			out[e.Tag.Hex()] = a
		}
	}
	return out
}

// elementJSON converts one element (PS3.18 F.2.3-F.2.7); ok is false when the element is
// to be left out (an unloaded value with no URI to point at it).
func elementJSON(e *Element, opts JSONOptions, path []Tag) (JSONAttribute, bool) {
	a := JSONAttribute{VR: e.VR}
	if a.VR == "" {
		a.VR = "UN"
	}
	// A value too long to load (any VR but SQ), or encapsulated data that was skipped.
	unloaded := !e.Loaded()
	binary := !textVRs[e.VR] && numericSize[e.VR] == 0 && e.VR != "SQ"
	if unloaded || (binary && e.Bytes != nil) {
		if opts.BulkDataURI != nil {
			if uri := opts.BulkDataURI(path, e); uri != "" {
				a.BulkDataURI = uri
				return a, true
			}
		}
		if unloaded {
			return a, false
		}
		a.InlineBinary = base64.StdEncoding.EncodeToString(e.Bytes)
		return a, true
	}
	if binary {
		return a, true // empty binary value: vr only
	}
	switch {
	case e.VR == "SQ":
		for _, item := range e.Items {
			a.Value = append(a.Value, item.toJSON(opts, path))
		}
	case e.VR == "PN":
		a.Value = stringValues(e.Strings, func(s string) any {
			if m := PersonNameJSON(s); len(m) > 0 {
				return m
			}
			return nil // "==": no group has a name, which is an empty value
		})
	case e.VR == "IS" || e.VR == "DS":
		for _, s := range e.Strings {
			if s == "" {
				a.Value = append(a.Value, nil)
				continue
			}
			f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				continue
			}
			a.Value = append(a.Value, f)
		}
		if allNil(a.Value) {
			a.Value = nil
		}
	case e.VR == "AT":
		for _, n := range e.Numbers {
			a.Value = append(a.Value, Tag(uint32(n)).Hex())
		}
	case numericSize[e.VR] != 0:
		for _, n := range e.Numbers {
			if math.IsNaN(n) || math.IsInf(n, 0) {
				continue
			}
			if e.VR == "FL" {
				// The float64 nearest the shortest decimal that round-trips the float32,
				// so that FL 0.1 is written 0.1, not 0.10000000149011612.
				n, _ = strconv.ParseFloat(strconv.FormatFloat(n, 'g', -1, 32), 64)
			}
			a.Value = append(a.Value, n)
		}
	default:
		a.Value = stringValues(e.Strings, func(s string) any { return s })
	}
	return a, true
}

// stringValues maps string values, empty ones to null (PS3.18 F.2.5); no Value at all when
// every value is empty.
func stringValues(ss []string, f func(string) any) []any {
	var out []any
	for _, s := range ss {
		if s == "" {
			out = append(out, nil)
		} else {
			out = append(out, f(s))
		}
	}
	if allNil(out) {
		return nil
	}
	return out
}

func allNil(v []any) bool {
	for _, x := range v {
		if x != nil {
			return false
		}
	}
	return true
}

// PersonNameJSON is the PS3.18 F.2.2 object for one PN value.
// Only non-empty component groups appear; "" gives an empty object.
func PersonNameJSON(s string) map[string]string {
	p := ParsePersonName(s)
	m := make(map[string]string, 3)
	if p.Alphabetic != "" {
		m["Alphabetic"] = p.Alphabetic
	}
	if p.Ideographic != "" {
		m["Ideographic"] = p.Ideographic
	}
	if p.Phonetic != "" {
		m["Phonetic"] = p.Phonetic
	}
	return m
}

// rawAttr is one DICOM JSON attribute before its values are typed by VR.
type rawAttr struct {
	VR           string            `json:"vr"`
	Value        []json.RawMessage `json:"Value"`
	BulkDataURI  string            `json:"BulkDataURI"`
	InlineBinary string            `json:"InlineBinary"`
}

// ParseJSON reads a DICOM JSON object (PS3.18 F.2) with the Go types ToJSON uses, so
// callers see one shape whether a data set is fresh or read back: PN values as
// map[string]string, sequence items as JSONDataset, numbers as float64, text as string.
func ParseJSON(b []byte) (JSONDataset, error) {
	var raw map[string]rawAttr
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, err
	}
	return typedJSON(raw)
}

func typedJSON(raw map[string]rawAttr) (JSONDataset, error) {
	out := make(JSONDataset, len(raw))
	for tag, a := range raw {
		attr := JSONAttribute{VR: a.VR, BulkDataURI: a.BulkDataURI, InlineBinary: a.InlineBinary}
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
