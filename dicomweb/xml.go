package dicomweb

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"slices"
	"strconv"
	"strings"

	"pacsd/dicom"
)

// The Native DICOM Model (PS3.19 A.1), the XML representation of PS3.18 8.7.4
// (application/dicom+xml). It is produced from the DICOM JSON model, which pacsd builds
// first for every response: both say the same thing (PS3.18 F.1), and one source keeps
// the two from drifting apart.

const nativeDICOMNamespace = "http://dicom.nema.org/PS3.19/models/NativeDICOM"

// pnComponents names the components of a person name group in order (PS3.19 A.1.5,
// Table A.1.5-2; PS3.5 6.2).
var pnComponents = []string{"FamilyName", "GivenName", "MiddleName", "NamePrefix", "NameSuffix"}

// nativeXML encodes one data set as a Native DICOM Model document.
func nativeXML(ds dicom.JSONDataset) []byte {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString(`<NativeDicomModel xmlns="` + nativeDICOMNamespace + `" xml:space="preserve">`)
	writeXMLDataset(&b, ds)
	b.WriteString("</NativeDicomModel>\n")
	return b.Bytes()
}

func xmlText(b *bytes.Buffer, s string) {
	xml.EscapeText(b, []byte(s)) // a bytes.Buffer does not fail
}

// writeXMLDataset writes the DicomAttribute elements of ds in ascending tag order
// (PS3.19 A.1.5: attributes appear in the order of their tags).
func writeXMLDataset(b *bytes.Buffer, ds dicom.JSONDataset) {
	keys := make([]string, 0, len(ds))
	for k := range ds {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		a := ds[k]
		b.WriteString(`<DicomAttribute tag="`)
		xmlText(b, k)
		b.WriteString(`" vr="`)
		xmlText(b, a.VR)
		b.WriteString(`"`)
		if t, ok := dicom.ParseTag(k); ok {
			if info, known := dicom.LookupTag(t); known && info.Keyword != "" && !t.IsPrivate() {
				b.WriteString(` keyword="` + info.Keyword + `"`)
			}
		}
		b.WriteString(">")
		switch {
		case a.BulkDataURI != "":
			b.WriteString(`<BulkData uri="`)
			xmlText(b, a.BulkDataURI)
			b.WriteString(`"/>`)
		case a.InlineBinary != "":
			b.WriteString("<InlineBinary>")
			xmlText(b, a.InlineBinary)
			b.WriteString("</InlineBinary>")
		default:
			for i, v := range a.Value {
				n := strconv.Itoa(i + 1)
				switch a.VR {
				case "SQ":
					b.WriteString(`<Item number="` + n + `">`)
					writeXMLDataset(b, asJSONDataset(v))
					b.WriteString("</Item>")
				case "PN":
					b.WriteString(`<PersonName number="` + n + `">`)
					writeXMLPersonName(b, v)
					b.WriteString("</PersonName>")
				default:
					b.WriteString(`<Value number="` + n + `">`)
					xmlText(b, xmlValue(v))
					b.WriteString("</Value>")
				}
			}
		}
		b.WriteString("</DicomAttribute>")
	}
}

// xmlValue formats one JSON value (string, number or null) as DICOM text.
func xmlValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case json.Number:
		return x.String()
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// writeXMLPersonName writes the groups of one PN value, each split into its components.
func writeXMLPersonName(b *bytes.Buffer, v any) {
	groups := map[string]string{}
	switch x := v.(type) {
	case map[string]string:
		groups = x
	case map[string]any:
		for k, g := range x {
			if s, ok := g.(string); ok {
				groups[k] = s
			}
		}
	case string:
		p := dicom.ParsePersonName(x)
		groups = map[string]string{"Alphabetic": p.Alphabetic, "Ideographic": p.Ideographic, "Phonetic": p.Phonetic}
	}
	for _, g := range []string{"Alphabetic", "Ideographic", "Phonetic"} {
		s := groups[g]
		if s == "" {
			continue
		}
		b.WriteString("<" + g + ">")
		for i, c := range strings.SplitN(s, "^", len(pnComponents)) {
			if c == "" {
				continue
			}
			b.WriteString("<" + pnComponents[i] + ">")
			xmlText(b, c)
			b.WriteString("</" + pnComponents[i] + ">")
		}
		b.WriteString("</" + g + ">")
	}
}

// asJSONDataset turns a sequence item in any of the shapes the JSON model comes in
// (built by dicom, or decoded from JSON) into a JSONDataset.
func asJSONDataset(v any) dicom.JSONDataset {
	switch x := v.(type) {
	case dicom.JSONDataset:
		return x
	case nil:
		return dicom.JSONDataset{}
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return dicom.JSONDataset{}
	}
	var ds dicom.JSONDataset
	if err := json.Unmarshal(raw, &ds); err != nil {
		return dicom.JSONDataset{}
	}
	return ds
}
