package dicom

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
	"unicode/utf8"
)

// rdHex turns "5A 68 1B" into bytes; test vectors are written the way the standard
// prints them.
func rdHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// Byte vectors from the standard. PS3.5 K.2 (Example K.2-1) including its trailing pad.
const (
	annexK2 = "5A 68 61 6E 67 5E 58 69 61 6F 44 6F 6E 67 3D 1B 24 29 41 D5 C5 5E 1B 24 29 41 D0 A1 B6 AB 3D 20"
	// PS3.5 H.3.1 (Example H.3-1): \ISO 2022 IR 87, Yamada^Tarou=山田^太郎=やまだ^たろう.
	annexH31 = "59 61 6D 61 64 61 5E 54 61 72 6F 75 3D " +
		"1B 24 42 3B 33 45 44 1B 28 42 5E 1B 24 42 42 40 4F 3A 1B 28 42 3D " +
		"1B 24 42 24 64 24 5E 24 40 1B 28 42 5E 1B 24 42 24 3F 24 6D 24 26 1B 28 42"
	// PS3.5 H.3.2 (Example H.3-2): ISO 2022 IR 13\ISO 2022 IR 87, ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう.
	annexH32 = "D4 CF C0 DE 5E C0 DB B3 3D 1B 24 42 3B 33 45 44 1B 28 4A 5E 1B 24 42 42 40 4F 3A 1B 28 4A 3D " +
		"1B 24 42 24 64 24 5E 24 40 1B 28 4A 5E 1B 24 42 24 3F 24 6D 24 26 1B 28 4A"
	// PS3.5 I.2 (Example I.2-1): \ISO 2022 IR 149, Hong^Gildong=洪^吉洞=홍^길동.
	annexI2 = "48 6F 6E 67 5E 47 69 6C 64 6F 6E 67 3D 1B 24 29 43 FB F3 5E 1B 24 29 43 D1 CE D4 D7 3D " +
		"1B 24 29 43 C8 AB 5E 1B 24 29 43 B1 E6 B5 BF"
	// PS3.5 J.3 (Example J.3-1): GB18030, Wang^XiaoDong=王^小东=.
	annexJ3 = "57 61 6E 67 5E 58 69 61 6F 44 6F 6E 67 3D CD F5 5E D0 A1 B6 AB 3D"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name     string
		charsets []string
		vr       string
		raw      string // hex
		want     string
	}{
		{"default ASCII", nil, "PN", "44 6F 65 5E 4A 6F 68 6E", "Doe^John"},
		{"ISO_IR 6", []string{"ISO_IR 6"}, "LO", "41 42", "AB"},
		{"GB18030 张伟", []string{"GB18030"}, "PN", "D5 C5 CE B0", "张伟"},
		{"GBK 张伟", []string{"GBK"}, "PN", "D5 C5 CE B0", "张伟"},
		{"GB18030 PS3.5 J.3", []string{"GB18030"}, "PN", annexJ3, "Wang^XiaoDong=王^小东="},
		{"GB18030 four-byte", []string{"GB18030"}, "PN", "CD F5 82 30 B7 31", "王㛃"},
		{"GBK trail byte 5C is not a delimiter", []string{"GBK"}, "LO", "81 5C 5C 41", "乗\\A"},
		{"UTF-8", []string{"ISO_IR 192"}, "PN", hex.EncodeToString([]byte("Zhang^Wei=张^伟")), "Zhang^Wei=张^伟"},
		{"ISO 2022 IR 58 PS3.5 K.2", []string{"", "ISO 2022 IR 58"}, "PN", annexK2, "Zhang^XiaoDong=张^小东= "},
		{"ISO 2022 IR 87 PS3.5 H.3.1", []string{"", "ISO 2022 IR 87"}, "PN", annexH31, "Yamada^Tarou=山田^太郎=やまだ^たろう"},
		{"ISO 2022 IR 13 + 87 PS3.5 H.3.2", []string{"ISO 2022 IR 13", "ISO 2022 IR 87"}, "PN", annexH32, "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう"},
		{"ISO 2022 IR 149 PS3.5 I.2", []string{"", "ISO 2022 IR 149"}, "PN", annexI2, "Hong^Gildong=洪^吉洞=홍^길동"},
		{"JIS X 0208 byte 5C inside a character", []string{"", "ISO 2022 IR 87"}, "LO", "1B 24 42 24 5C 1B 28 42 5C 41", "ぼ\\A"},
		{"JIS X 0212 (IR 159)", []string{"", "ISO 2022 IR 87", "ISO 2022 IR 159"}, "LO", "1B 24 28 44 30 21 1B 28 42", "丂"},
		{"ISO_IR 13 katakana", []string{"ISO_IR 13"}, "PN", "D4 CF C0 DE", "ﾔﾏﾀﾞ"},
		{"Latin-1 Buc^Jérôme", []string{"ISO_IR 100"}, "PN", "42 75 63 5E 4A E9 72 F4 6D 65", "Buc^Jérôme"},
		{"Latin-2", []string{"ISO_IR 101"}, "PN", "44 76 6F F8 E1 6B 5E 41 6E 74 6F 6E ED 6E", "Dvořák^Antonín"},
		{"Greek", []string{"ISO_IR 126"}, "PN", "C4 E9 EF ED F5 F3 E9 EF F2", "Διονυσιος"},
		{"Cyrillic", []string{"ISO_IR 144"}, "PN", "BB EE DA 63 65 DC D1 79 70 D3", "Люкceмбypг"},
		{"Hebrew", []string{"ISO_IR 138"}, "PN", "F9 F8 E5 EF 5E E3 E1 E5 F8 E4", "שרון^דבורה"},
		{"Arabic", []string{"ISO_IR 127"}, "PN", "E2 C8 C7 E6 EA 5E E4 E6 D2 C7 D1", "قباني^لنزار"},
		{"Latin-5", []string{"ISO_IR 148"}, "PN", "C7 65 6C 69 6B 5E 41 F0 61 6F F0 6C 75", "Çelik^Ağaoğlu"},
		{"Latin-9", []string{"ISO_IR 203"}, "LO", "BC 75 76 72 65 A4", "Œuvre€"},
		{"Thai", []string{"ISO_IR 166"}, "LO", "BB C3 D0 E0 B7 C8 E4 B7 C2", "ประเทศไทย"},
		{"ISO 2022 IR 100 with escape", []string{"ISO 2022 IR 6", "ISO 2022 IR 100"}, "LO", "41 1B 2D 41 E9", "Aé"},
		{"ISO 2022 IR 100 as value 1 designates G1", []string{"ISO 2022 IR 100", "ISO 2022 IR 144"}, "LO", "E9 1B 2D 4C BB", "éЛ"},
		// PS3.5 6.1.2.5.3: value 1 is active again after '\', so the second value's G1 byte
		// is Latin-1 although Cyrillic was designated in the first.
		{"reset at value delimiter", []string{"ISO 2022 IR 100", "ISO 2022 IR 144"}, "LO", "1B 2D 4C BB 5C E9", "Л\\é"},
		{"reset at CR LF in text", []string{"ISO 2022 IR 100", "ISO 2022 IR 144"}, "LT", "1B 2D 4C BB 0D 0A E9", "Л\r\né"},
		{"no reset at '^' outside PN", []string{"ISO 2022 IR 100", "ISO 2022 IR 144"}, "LO", "1B 2D 4C BB 5E BB", "Л^Л"},
		{"reset at '^' in PN", []string{"ISO 2022 IR 100", "ISO 2022 IR 144"}, "PN", "1B 2D 4C BB 5E BB", "Л^»"},
		// Lenient spellings.
		{"alias ISO-IR 192", []string{"ISO-IR 192"}, "LO", "E5 BC A0", "张"},
		{"alias ISO_IR_192", []string{"ISO_IR_192"}, "LO", "E5 BC A0", "张"},
		{"alias lower case, padded", []string{"iso_ir 100 "}, "LO", "E9", "é"},
		{"alias GB2312", []string{"GB2312"}, "LO", "D5 C5", "张"},
		{"alias UTF-8", []string{"UTF-8"}, "LO", "E5 BC A0", "张"},
		{"ISO_IR spelling of a 2022 set", []string{"", "ISO_IR 58"}, "PN", "1B 24 29 41 D5 C5", "张"},
		{"lone ISO 2022 IR 149 (no escapes)", []string{"ISO 2022 IR 149"}, "PN", "FB F3", "洪"},
		{"lone ISO 2022 IR 58 (no escapes)", []string{"ISO 2022 IR 58"}, "PN", "D5 C5", "张"},
		// Undeclared non-ASCII: valid UTF-8 is taken as UTF-8, else Latin-1.
		{"undeclared UTF-8", nil, "LO", "E5 BC A0", "张"},
		{"undeclared Latin-1", nil, "LO", "4A E9 72 F4 6D 65", "Jérôme"},
		{"unknown term", []string{"KLINGON"}, "LO", "E9", "é"},
		{"escapes under single-valued term", []string{"ISO_IR 100"}, "LO", "E9 1B 2D 4C BB", "éЛ"},
		// Bad bytes never fail.
		{"invalid UTF-8", []string{"ISO_IR 192"}, "LO", "41 FF 42", "A\uFFFDB"},
		{"GB18030 truncated", []string{"GB18030"}, "LO", "41 D5", "A\uFFFD"},
		{"JIS odd byte", []string{"", "ISO 2022 IR 87"}, "LO", "1B 24 42 3B", "\uFFFD"},
		{"unknown escape", []string{"", "ISO 2022 IR 87"}, "LO", "1B 25 47 41", "\uFFFD%GA"},
		{"escape at end", []string{"", "ISO 2022 IR 87"}, "LO", "41 1B", "A\uFFFD"},
		{"G1 byte before designation", []string{"", "ISO 2022 IR 87"}, "LO", "E9", "é"},
		{"katakana out of range", []string{"ISO_IR 13"}, "LO", "A0", "\uFFFD"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, _ := NewDecoder(tc.charsets)
			got := d.Decode(rdHex(t, tc.raw), tc.vr)
			if got != tc.want {
				t.Errorf("Decode = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNewDecoderErrors(t *testing.T) {
	tests := []struct {
		charsets []string
		wantErr  bool
	}{
		{nil, false},
		{[]string{""}, false},
		{[]string{"ISO_IR 100"}, false},
		{[]string{"", "ISO 2022 IR 87", "ISO 2022 IR 159"}, false},
		{[]string{"ISO_IR 192 "}, false},
		{[]string{"KLINGON"}, true},
		{[]string{"", "ISO 2022 IR 999"}, true},
		{[]string{"ISO_IR 192", "GB18030"}, true}, // not combinable (PS3.3 C.12.1.1.2)
	}
	for _, tc := range tests {
		d, err := NewDecoder(tc.charsets)
		if (err != nil) != tc.wantErr {
			t.Errorf("NewDecoder(%q) err = %v, want error %v", tc.charsets, err, tc.wantErr)
		}
		if d == nil {
			t.Fatalf("NewDecoder(%q) returned a nil decoder", tc.charsets)
		}
		if got := d.Decode([]byte("Doe^John"), "PN"); got != "Doe^John" {
			t.Errorf("NewDecoder(%q).Decode(ASCII) = %q", tc.charsets, got)
		}
	}
	if _, err := NewDecoderWithFallback(nil, "NOPE"); err == nil {
		t.Error("unknown fallback accepted")
	}
	if _, err := NewDecoderWithFallback(nil, "ISO 2022 IR 87"); err == nil {
		t.Error("fallback needing code extensions accepted")
	}
}

func TestDecoderFallback(t *testing.T) {
	gb := rdHex(t, "D5 C5 CE B0")
	tests := []struct {
		name     string
		charsets []string
		fallback string
		want     string
	}{
		{"undeclared, site says GB18030", nil, "GB18030", "张伟"},
		{"empty value 1, site says GB18030", []string{""}, "GB18030", "张伟"},
		{"unknown term, site says GBK", []string{"CHINESE"}, "GBK", "张伟"},
		{"declared Latin-1 wins over the fallback", []string{"ISO_IR 100"}, "GB18030", "ÕÅÎ°"},
		{"no fallback: not UTF-8, so Latin-1", nil, "", "ÕÅÎ°"},
		{"fallback Latin-1", nil, "ISO_IR 100", "ÕÅÎ°"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, _ := NewDecoderWithFallback(tc.charsets, tc.fallback)
			if got := d.Decode(gb, "PN"); got != tc.want {
				t.Errorf("Decode = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNilDecoder(t *testing.T) {
	var d *Decoder
	if got := d.Decode([]byte("A\xe9"), "LO"); got != "Aé" {
		t.Errorf("nil decoder: %q", got)
	}
	if got := (&Decoder{}).Decode([]byte("A\xe9"), "LO"); got != "Aé" {
		t.Errorf("zero decoder: %q", got)
	}
}

func TestEncodeText(t *testing.T) {
	tests := []struct {
		name     string
		s        string
		charsets []string
		vr       string
		want     string // hex
	}{
		{"ASCII under any set", "Doe^John", []string{"GB18030"}, "PN", "44 6F 65 5E 4A 6F 68 6E"},
		{"GB18030 张伟", "张伟", []string{"GB18030"}, "PN", "D5 C5 CE B0"},
		{"GB18030 PS3.5 J.3", "Wang^XiaoDong=王^小东=", []string{"GB18030"}, "PN", annexJ3},
		{"GB18030 four-byte", "㛃", []string{"GB18030"}, "PN", "82 30 B7 31"},
		{"GBK", "张伟", []string{"GBK"}, "PN", "D5 C5 CE B0"},
		{"UTF-8", "张伟", []string{"ISO_IR 192"}, "PN", "E5 BC A0 E4 BC 9F"},
		{"Latin-1", "Buc^Jérôme", []string{"ISO_IR 100"}, "PN", "42 75 63 5E 4A E9 72 F4 6D 65"},
		{"Cyrillic", "Люкceмбypг", []string{"ISO_IR 144"}, "PN", "BB EE DA 63 65 DC D1 79 70 D3"},
		// The standard's own examples, without the writer's trailing pad.
		{"PS3.5 K.2", "Zhang^XiaoDong=张^小东=", []string{"", "ISO 2022 IR 58"}, "PN", strings.TrimSuffix(annexK2, " 20")},
		{"PS3.5 H.3.1", "Yamada^Tarou=山田^太郎=やまだ^たろう", []string{"", "ISO 2022 IR 87"}, "PN", annexH31},
		{"PS3.5 H.3.2", "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう", []string{"ISO 2022 IR 13", "ISO 2022 IR 87"}, "PN", annexH32},
		{"PS3.5 I.2", "Hong^Gildong=洪^吉洞=홍^길동", []string{"", "ISO 2022 IR 149"}, "PN", annexI2},
		{"IR 58 multi-valued LO", "张\\伟", []string{"ISO 2022 IR 6", "ISO 2022 IR 58"}, "LO", "1B 24 29 41 D5 C5 5C 1B 24 29 41 CE B0"},
		{"IR 58 LT keeps G1 across backslash", "张\\伟", []string{"ISO 2022 IR 6", "ISO 2022 IR 58"}, "LT", "1B 24 29 41 D5 C5 5C CE B0"},
		{"IR 87 returns G0 before CR", "山\r\n", []string{"", "ISO 2022 IR 87"}, "LT", "1B 24 42 3B 33 1B 28 42 0D 0A"},
		{"IR 159", "丂", []string{"", "ISO 2022 IR 87", "ISO 2022 IR 159"}, "LO", "1B 24 28 44 30 21 1B 28 42"},
		{"IR 100 with extensions", "éЛ", []string{"ISO 2022 IR 100", "ISO 2022 IR 144"}, "LO", "E9 1B 2D 4C BB"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := EncodeText(tc.s, tc.charsets, tc.vr)
			if err != nil {
				t.Fatalf("EncodeText: %v", err)
			}
			if want := rdHex(t, tc.want); !bytes.Equal(got, want) {
				t.Errorf("EncodeText = % X\n                 want % X", got, want)
			}
			// And back again.
			d, _ := NewDecoder(tc.charsets)
			if back := d.Decode(got, tc.vr); back != tc.s {
				t.Errorf("Decode(EncodeText) = %q, want %q", back, tc.s)
			}
		})
	}
}

func TestEncodeTextErrors(t *testing.T) {
	tests := []struct {
		name     string
		s        string
		charsets []string
	}{
		{"non-ASCII under default", "Jérôme", nil},
		{"Chinese in Latin-1", "张", []string{"ISO_IR 100"}},
		{"Korean in IR 58", "홍", []string{"", "ISO 2022 IR 58"}},
		{"GBK cannot hold U+36C3", "㛃", []string{"GBK"}},
		{"unknown term", "é", []string{"KLINGON"}},
		{"UTF-8 combined", "é", []string{"ISO_IR 192", "ISO 2022 IR 100"}},
		{"invalid UTF-8 input", "\xff", []string{"ISO_IR 192"}},
	}
	for _, tc := range tests {
		if got, err := EncodeText(tc.s, tc.charsets, "LO"); err == nil {
			t.Errorf("%s: EncodeText = % X, want an error", tc.name, got)
		}
	}
}

// TestDecodeAlwaysValidUTF8 feeds every byte pair and some escape-laden strings to every
// kind of decoder: the output is valid UTF-8 whatever the input.
func TestDecodeAlwaysValidUTF8(t *testing.T) {
	sets := [][]string{nil, {"ISO_IR 192"}, {"GB18030"}, {"GBK"}, {"ISO_IR 100"}, {"ISO_IR 13"},
		{"", "ISO 2022 IR 87", "ISO 2022 IR 159"}, {"", "ISO 2022 IR 149"}, {"", "ISO 2022 IR 58"},
		{"ISO 2022 IR 13", "ISO 2022 IR 87"}, {"ISO 2022 IR 100", "ISO 2022 IR 166"}}
	for _, cs := range sets {
		d, _ := NewDecoder(cs)
		for a := 0; a < 256; a++ {
			for _, b := range []byte{0x00, 0x1b, 0x24, 0x28, 0x5c, 0x7f, 0x80, 0xa1, 0xfe, 0xff} {
				for _, vr := range []string{"PN", "LT"} {
					raw := []byte{byte(a), b, 0x1b, '$', byte(a)}
					if got := d.Decode(raw, vr); !utf8.ValidString(got) {
						t.Fatalf("%q: Decode(% X) = %q is not valid UTF-8", cs, raw, got)
					}
				}
			}
		}
	}
}

func BenchmarkDecodeISO2022(b *testing.B) {
	d, _ := NewDecoder([]string{"", "ISO 2022 IR 87"})
	raw, _ := hex.DecodeString(strings.ReplaceAll(annexH31, " ", ""))
	b.ReportAllocs()
	for b.Loop() {
		d.Decode(raw, "PN")
	}
}
