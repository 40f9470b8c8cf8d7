package dicom

import (
	"reflect"
	"testing"
)

func TestPersonName(t *testing.T) {
	tests := []struct {
		in   string
		want PersonName
		out  string // String(); "" means same as in
	}{
		{"", PersonName{}, ""},
		{"Doe^John", PersonName{Alphabetic: "Doe^John"}, ""},
		{"Zhang^Wei=张^伟", PersonName{Alphabetic: "Zhang^Wei", Ideographic: "张^伟"}, ""},
		{"Yamada^Tarou=山田^太郎=やまだ^たろう", PersonName{"Yamada^Tarou", "山田^太郎", "やまだ^たろう"}, ""},
		{"=张^伟", PersonName{Ideographic: "张^伟"}, ""},
		{"==やまだ", PersonName{Phonetic: "やまだ"}, ""},
		{"Zhang^XiaoDong=张^小东=", PersonName{Alphabetic: "Zhang^XiaoDong", Ideographic: "张^小东"}, "Zhang^XiaoDong=张^小东"},
		{"Doe^John==", PersonName{Alphabetic: "Doe^John"}, "Doe^John"},
		{"a=b=c=d", PersonName{"a", "b", "c=d"}, ""},
		{"a=b=c=", PersonName{"a", "b", "c="}, "a=b=c"}, // an empty fourth group is dropped
	}
	for _, tc := range tests {
		got := ParsePersonName(tc.in)
		if got != tc.want {
			t.Errorf("ParsePersonName(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
		out := tc.out
		if out == "" {
			out = tc.in
		}
		if s := got.String(); s != out {
			t.Errorf("ParsePersonName(%q).String() = %q, want %q", tc.in, s, out)
		}
	}
}

func TestPersonNameJSON(t *testing.T) {
	tests := []struct {
		in   string
		want map[string]string
	}{
		{"", map[string]string{}},
		{"Doe^John", map[string]string{"Alphabetic": "Doe^John"}},
		{"=张^伟", map[string]string{"Ideographic": "张^伟"}},
		{"Hong^Gildong=洪^吉洞=홍^길동", map[string]string{"Alphabetic": "Hong^Gildong", "Ideographic": "洪^吉洞", "Phonetic": "홍^길동"}},
		{"Zhang^XiaoDong=张^小东=", map[string]string{"Alphabetic": "Zhang^XiaoDong", "Ideographic": "张^小东"}},
	}
	for _, tc := range tests {
		if got := PersonNameJSON(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("PersonNameJSON(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
