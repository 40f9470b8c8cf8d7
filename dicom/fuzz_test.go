package dicom

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// rdSeedFiles returns the first bytes of the shared testdata files: the header is what the
// reader parses, and short inputs let the fuzzer mutate it faster.
func rdSeedFiles(f *testing.F) [][]byte {
	var out [][]byte
	for _, pattern := range []string{"*.dcm", "broken/*.dcm"} {
		paths, _ := filepath.Glob(filepath.Join("..", "testdata", pattern))
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			if len(b) > 8<<10 {
				b = b[:8<<10]
			}
			out = append(out, b)
		}
	}
	return out
}

func FuzzReadPart10(f *testing.F) {
	ex := rdNewEnc(true, false).str(TagSpecificCharacterSet, "CS", "\\ISO 2022 IR 87").
		hdr(NewTag(0x0008, 0x1115), "SQ", undefinedLength).item(undefinedLength).str(NewTag(0x0008, 0x1155), "UI", "1.2").itemEnd().seqEnd().
		hdr(NewTag(0x0029, 0x1001), "UN", undefinedLength).raw(rdNewEnc(false, false).item(8).str(TagPatientID, "", "P").seqEnd().b...).
		str(TagPatientName, "PN", "Yamada^Tarou=\x1b$B;3ED\x1b(B").us(TagRows, 2).
		hdr(TagPixelData, "OB", undefinedLength).item(0).item(2).raw(1, 2).seqEnd().b
	im := rdNewEnc(false, false).str(TagSpecificCharacterSet, "", "GB18030").str(TagPatientName, "", "\xd5\xc5").
		hdr(NewTag(0x0040, 0xa730), "", 20).item(12).str(TagPatientID, "", "P1").b
	be := rdNewEnc(true, true).str(TagPatientID, "LO", "P1").us(TagRows, 512).hdr(TagPixelData, "OW", 2).raw(0, 1).b
	for _, s := range [][]byte{
		rdPart10(ExplicitVRLittleEndian, ex), rdPart10(ImplicitVRLittleEndian, im), rdPart10(ExplicitVRBigEndian, be),
		rdPart10(JPEGBaseline8Bit, ex), ex, im, rdPart10(ExplicitVRLittleEndian, ex)[132:],
	} {
		f.Add(s)
	}
	for _, s := range rdSeedFiles(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ReadPart10(bytes.NewReader(data), ReadOptions{MaxValueLength: 4096, MaxDepth: 6, MaxElements: 5000})
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if h.Dataset == nil || h.Meta == nil {
			t.Fatal("nil data set without an error")
		}
		if off := h.Part10PixelDataOffset(); off >= 0 {
			if off+4 > int64(len(data)) {
				t.Fatalf("PixelDataOffset %d beyond the input (%d bytes)", off, len(data))
			}
			le := []byte{0xe0, 0x7f}
			be := []byte{0x7f, 0xe0}
			if g := data[off : off+2]; !bytes.Equal(g, le) && !bytes.Equal(g, be) {
				t.Fatalf("PixelDataOffset %d points at % X", off, data[off:off+4])
			}
		}
		if _, err := json.Marshal(h.Dataset.ToJSON(JSONOptions{})); err != nil {
			t.Fatalf("ToJSON output does not marshal: %v", err)
		}
	})
}

func FuzzDecodeCharset(f *testing.F) {
	seeds := []struct{ raw, cs, vr string }{
		{"Doe^John", "", "PN"},
		{"\xd5\xc5\xce\xb0", "GB18030", "PN"},
		{"\x81\x5c\x5cB", "GBK", "LO"},
		{"Zhang^Wei=\xe5\xbc\xa0^\xe4\xbc\x9f", "ISO_IR 192", "PN"},
		{"Buc^J\xe9r\xf4me", "ISO_IR 100", "PN"},
		{"Zhang^XiaoDong=\x1b$)A\xd5\xc5^\x1b$)A\xd0\xa1\xb6\xab= ", `\ISO 2022 IR 58`, "PN"},
		{"Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B", `\ISO 2022 IR 87`, "PN"},
		{"\xd4\xcf\xc0\xde^\x1b$B;3ED\x1b(J", `ISO 2022 IR 13\ISO 2022 IR 87`, "PN"},
		{"Hong^Gildong=\x1b$)C\xfb\xf3", `\ISO 2022 IR 149`, "PN"},
		{"\x1b$(D0!\x1b(B", `\ISO 2022 IR 87\ISO 2022 IR 159`, "LT"},
		{"\xe9\x1b-L\xbb\r\n\xe9", `ISO 2022 IR 100\ISO 2022 IR 144`, "LT"},
	}
	for _, s := range seeds {
		f.Add([]byte(s.raw), s.cs, s.vr)
	}
	f.Fuzz(func(t *testing.T, raw []byte, cs, vr string) {
		charsets := strings.Split(cs, `\`)
		d, _ := NewDecoder(charsets)
		s := d.Decode(raw, vr)
		if !utf8.ValidString(s) {
			t.Fatalf("Decode gave invalid UTF-8 %q", s)
		}
		if strings.ContainsRune(s, 0x1b) {
			return // an ESC in the text itself cannot survive a round trip
		}
		enc, err := EncodeText(s, charsets, vr)
		if err != nil {
			return
		}
		if back := d.Decode(enc, vr); back != s {
			t.Fatalf("Decode(EncodeText(%q)) = %q (encoded % X)", s, back, enc)
		}
	})
}
