package dicom

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
)

func rdStrEl(t Tag, vr string, vals ...string) *Element {
	n := 0
	for _, v := range vals {
		n += len(v) + 1
	}
	return &Element{Tag: t, VR: vr, Strings: vals, Length: uint32(n)}
}

func rdNumEl(t Tag, vr string, vals ...float64) *Element {
	return &Element{Tag: t, VR: vr, Numbers: vals, Length: uint32(len(vals) * numericSize[vr])}
}

func TestToJSON(t *testing.T) {
	bulk := func(path []Tag, e *Element) string {
		var parts []string
		for _, t := range path {
			parts = append(parts, t.Hex())
		}
		return "bulk/" + strings.Join(parts, "/")
	}
	item := &Dataset{Elements: []*Element{rdStrEl(0x00081150, "UI", "1.2.840.10008.5.1.4.1.1.7"), {Tag: 0x00091010, VR: "OB", Bytes: []byte{1, 2}, Length: 2}}}
	tests := []struct {
		name string
		el   *Element
		opts JSONOptions
		want string // the attribute's JSON; "" means left out
	}{
		{"string", rdStrEl(TagModality, "CS", "CT"), JSONOptions{}, `{"vr":"CS","Value":["CT"]}`},
		{"multi-valued with an empty value", rdStrEl(TagImageType, "CS", "ORIGINAL", "", "AXIAL"), JSONOptions{}, `{"vr":"CS","Value":["ORIGINAL",null,"AXIAL"]}`},
		{"zero length", &Element{Tag: TagAccessionNumber, VR: "SH"}, JSONOptions{}, `{"vr":"SH"}`},
		{"padding only", rdStrEl(TagAccessionNumber, "SH", ""), JSONOptions{}, `{"vr":"SH"}`},
		{"PN groups", rdStrEl(TagPatientName, "PN", "Zhang^Wei=张^伟", "", "=李^娜"), JSONOptions{}, `{"vr":"PN","Value":[{"Alphabetic":"Zhang^Wei","Ideographic":"张^伟"},null,{"Ideographic":"李^娜"}]}`},
		{"PN of empty groups only", rdStrEl(TagPatientName, "PN", "==", "Doe"), JSONOptions{}, `{"vr":"PN","Value":[null,{"Alphabetic":"Doe"}]}`},
		{"IS", rdStrEl(TagSeriesNumber, "IS", "7", "-12", "x", ""), JSONOptions{}, `{"vr":"IS","Value":[7,-12,null]}`},
		{"DS", rdStrEl(TagPatientWeight, "DS", "70.5", "3", "1e3", "NaN", "0.1"), JSONOptions{}, `{"vr":"DS","Value":[70.5,3,1000,0.1]}`},
		{"DS unparsable only", rdStrEl(TagPatientWeight, "DS", "abc"), JSONOptions{}, `{"vr":"DS"}`},
		{"US", rdNumEl(TagRows, "US", 512), JSONOptions{}, `{"vr":"US","Value":[512]}`},
		{"UL large", rdNumEl(0x00081160, "UL", 4294967295), JSONOptions{}, `{"vr":"UL","Value":[4294967295]}`},
		{"SS negative", rdNumEl(0x00280106, "SS", -1024), JSONOptions{}, `{"vr":"SS","Value":[-1024]}`},
		{"FL shortest", rdNumEl(0x00189087, "FL", float64(float32(0.1))), JSONOptions{}, `{"vr":"FL","Value":[0.1]}`},
		{"FD", rdNumEl(0x00189087, "FD", 0.1, math.NaN(), 2), JSONOptions{}, `{"vr":"FD","Value":[0.1,2]}`},
		{"AT", rdNumEl(0x00209165, "AT", float64(0x0010ABCD)), JSONOptions{}, `{"vr":"AT","Value":["0010ABCD"]}`},
		{"SQ", &Element{Tag: 0x00081115, VR: "SQ", Items: []*Dataset{item, {}}, Length: undefinedLength}, JSONOptions{},
			`{"vr":"SQ","Value":[{"00081150":{"vr":"UI","Value":["1.2.840.10008.5.1.4.1.1.7"]},"00091010":{"vr":"OB","InlineBinary":"AQI="}},{}]}`},
		{"SQ with bulk data", &Element{Tag: 0x00081115, VR: "SQ", Items: []*Dataset{item}}, JSONOptions{BulkDataURI: bulk},
			`{"vr":"SQ","Value":[{"00081150":{"vr":"UI","Value":["1.2.840.10008.5.1.4.1.1.7"]},"00091010":{"vr":"OB","BulkDataURI":"bulk/00081115/00091010"}}]}`},
		{"empty SQ", &Element{Tag: 0x00081115, VR: "SQ"}, JSONOptions{}, `{"vr":"SQ"}`},
		{"OB inline", &Element{Tag: 0x00091010, VR: "OB", Bytes: []byte("hello"), Length: 6}, JSONOptions{}, `{"vr":"OB","InlineBinary":"aGVsbG8="}`},
		{"UN inline", &Element{Tag: 0x00091010, VR: "UN", Bytes: []byte{0xff}, Length: 1}, JSONOptions{}, `{"vr":"UN","InlineBinary":"/w=="}`},
		{"empty OB", &Element{Tag: 0x00091010, VR: "OB"}, JSONOptions{}, `{"vr":"OB"}`},
		{"unloaded OW, no URI", &Element{Tag: 0x00660023, VR: "OW", Length: 1 << 20}, JSONOptions{}, ""},
		{"unloaded OW with URI", &Element{Tag: 0x00660023, VR: "OW", Length: 1 << 20}, JSONOptions{BulkDataURI: bulk}, `{"vr":"OW","BulkDataURI":"bulk/00660023"}`},
		{"unloaded LT with URI", &Element{Tag: 0x00324000, VR: "LT", Length: 1 << 20}, JSONOptions{BulkDataURI: bulk}, `{"vr":"LT","BulkDataURI":"bulk/00324000"}`},
		{"callback declines", &Element{Tag: 0x00091010, VR: "OB", Bytes: []byte{1}, Length: 2}, JSONOptions{BulkDataURI: func([]Tag, *Element) string { return "" }}, `{"vr":"OB","InlineBinary":"AQ=="}`},
		{"group length left out", rdNumEl(0x00080000, "UL", 10), JSONOptions{}, ""},
		{"excluded", rdStrEl(TagModality, "CS", "CT"), JSONOptions{Include: func(t Tag) bool { return t != TagModality }}, ""},
		{"included", rdStrEl(TagModality, "CS", "CT"), JSONOptions{Include: func(t Tag) bool { return t == TagModality }}, `{"vr":"CS","Value":["CT"]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds := &Dataset{Elements: []*Element{tc.el}}
			got := ds.ToJSON(tc.opts)
			a, ok := got[tc.el.Tag.Hex()]
			if tc.want == "" {
				if ok {
					t.Fatalf("attribute present: %+v", a)
				}
				return
			}
			if !ok {
				t.Fatalf("attribute missing from %v", got)
			}
			b, err := json.Marshal(a)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.want {
				t.Errorf("got  %s\nwant %s", b, tc.want)
			}
		})
	}
}

// TestToJSONRoundTrip checks that the Go types ToJSON produces are the ones encoding/json
// gives back, which store/sqlite relies on (numbers float64, PN map[string]string).
func TestToJSONRoundTrip(t *testing.T) {
	ds := &Dataset{Elements: []*Element{
		rdStrEl(TagSpecificCharacterSet, "CS", "ISO_IR 192"),
		rdNumEl(TagRows, "US", 256),
		rdStrEl(TagPatientName, "PN", "Li^Na=李^娜"),
		rdStrEl(TagSeriesNumber, "IS", "3"),
	}}
	j := ds.ToJSON(JSONOptions{})
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"00080005":{"vr":"CS","Value":["ISO_IR 192"]},"00100010":{"vr":"PN","Value":[{"Alphabetic":"Li^Na","Ideographic":"李^娜"}]},"00200011":{"vr":"IS","Value":[3]},"00280010":{"vr":"US","Value":[256]}}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	if v := j[TagRows.Hex()].Value[0]; reflect.TypeOf(v) != reflect.TypeOf(float64(0)) {
		t.Errorf("US value has type %T, want float64", v)
	}
	if v := j[TagPatientName.Hex()].Value[0]; reflect.TypeOf(v) != reflect.TypeOf(map[string]string{}) {
		t.Errorf("PN value has type %T, want map[string]string", v)
	}
	if got := fmt.Sprint((*Dataset)(nil).ToJSON(JSONOptions{})); got != "map[]" {
		t.Errorf("nil data set: %s", got)
	}
}
