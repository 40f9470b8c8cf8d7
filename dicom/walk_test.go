package dicom

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
)

// TestReadElementHeader: the walker reads headers by the parser's VR rule (PS3.5 7.1.2):
// the VRs of Table 7.1-2 have a 2-byte length, every other VR (known or future) 2 reserved
// bytes and a 4-byte one; items and delimiters carry no VR; implicit syntaxes take the VR
// from the dictionary.
func TestReadElementHeader(t *testing.T) {
	le, _ := LookupTransferSyntax(ExplicitVRLittleEndian)
	be, _ := LookupTransferSyntax(ExplicitVRBigEndian)
	imp, _ := LookupTransferSyntax(ImplicitVRLittleEndian)
	cases := []struct {
		name string
		ts   TransferSyntax
		in   []byte
		want ElementHeader
	}{
		{"short VR", le, []byte{0x28, 0x00, 0x10, 0x00, 'U', 'S', 2, 0}, ElementHeader{Tag: TagRows, VR: "US", Length: 2, Size: 8}},
		{"long VR", le, []byte{0xE0, 0x7F, 0x10, 0x00, 'O', 'B', 0, 0, 0x10, 0, 0, 0}, ElementHeader{Tag: TagPixelData, VR: "OB", Length: 16, Size: 12}},
		{"undefined length", le, []byte{0xE0, 0x7F, 0x10, 0x00, 'O', 'B', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF}, ElementHeader{Tag: TagPixelData, VR: "OB", Length: UndefinedLength, Size: 12}},
		{"UC is long", le, []byte{0x08, 0x00, 0x19, 0x01, 'U', 'C', 0, 0, 4, 0, 0, 0}, ElementHeader{Tag: 0x00080119, VR: "UC", Length: 4, Size: 12}},
		// PS3.5 6.2: a VR added after this code was written has a 4-byte length.
		{"future VR", le, []byte{0x09, 0x00, 0x10, 0x10, 'Z', 'Z', 0, 0, 6, 0, 0, 0}, ElementHeader{Tag: 0x00091010, VR: "ZZ", Length: 6, Size: 12}},
		{"item", le, []byte{0xFE, 0xFF, 0x00, 0xE0, 8, 0, 0, 0}, ElementHeader{Tag: TagItem, Length: 8, Size: 8}},
		{"delimiter", le, []byte{0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0}, ElementHeader{Tag: TagSequenceDelimitationItem, Size: 8}},
		{"big endian", be, []byte{0x00, 0x28, 0x00, 0x10, 'U', 'S', 0, 2}, ElementHeader{Tag: TagRows, VR: "US", Length: 2, Size: 8}},
		{"big endian long", be, []byte{0x7F, 0xE0, 0x00, 0x10, 'O', 'W', 0, 0, 0, 0, 1, 0}, ElementHeader{Tag: TagPixelData, VR: "OW", Length: 256, Size: 12}},
		{"implicit pixel data", imp, []byte{0xE0, 0x7F, 0x10, 0x00, 0x20, 0, 0, 0}, ElementHeader{Tag: TagPixelData, VR: "OW", Length: 32, Size: 8}},
		{"implicit float pixel data", imp, []byte{0xE0, 0x7F, 0x08, 0x00, 4, 0, 0, 0}, ElementHeader{Tag: TagFloatPixelData, VR: "OF", Length: 4, Size: 8}},
		{"implicit double pixel data", imp, []byte{0xE0, 0x7F, 0x09, 0x00, 8, 0, 0, 0}, ElementHeader{Tag: TagDoubleFloatPixelData, VR: "OD", Length: 8, Size: 8}},
		{"implicit rows", imp, []byte{0x28, 0x00, 0x10, 0x00, 2, 0, 0, 0}, ElementHeader{Tag: TagRows, VR: "US", Length: 2, Size: 8}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := bytes.NewReader(append(tc.in, 0xAA))
			h, err := ReadElementHeader(r, tc.ts)
			if err != nil {
				t.Fatal(err)
			}
			if h != tc.want {
				t.Fatalf("got %+v, want %+v", h, tc.want)
			}
			if r.Len() != 1 {
				t.Fatalf("read %d bytes, want %d", len(tc.in)+1-r.Len(), len(tc.in))
			}
			// The parser reads the same header the same way.
			if tc.ts.UID != ImplicitVRLittleEndian && tc.want.Tag.Group() != 0xFFFE {
				p := newParser(bufio.NewReader(bytes.NewReader(tc.in[4:])), ReadOptions{}.withDefaults(), true, tc.ts.BigEndian)
				vr, n, err := p.readVRLength(tc.want.Tag, 0)
				if err != nil || vr != h.VR || n != h.Length || p.pos+4 != h.Size {
					t.Fatalf("parser: %s %d (%d bytes) %v; walker: %+v", vr, n, p.pos+4, err, h)
				}
			}
		})
	}

	t.Run("ends", func(t *testing.T) {
		if _, err := ReadElementHeader(bytes.NewReader(nil), le); err != io.EOF {
			t.Errorf("empty stream: %v, want io.EOF", err)
		}
		for _, in := range [][]byte{{0x28, 0x00, 0x10}, {0x28, 0x00, 0x10, 0x00, 'U', 'S'}, {0xE0, 0x7F, 0x10, 0x00, 'O', 'B', 0, 0, 0x10}} {
			if _, err := ReadElementHeader(bytes.NewReader(in), le); !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("%d bytes: %v, want io.ErrUnexpectedEOF", len(in), err)
			}
		}
		if _, err := ReadElementHeader(bytes.NewReader([]byte{0x28, 0x00, 0x10, 0x00, 'u', 0x01, 2, 0}), le); !errors.Is(err, ErrMalformed) {
			t.Errorf("bad VR bytes: %v, want ErrMalformed", err)
		}
	})
}

// FuzzReadElementHeader: any bytes give a header, an end of stream or ErrMalformed, never
// more bytes than the header's size.
func FuzzReadElementHeader(f *testing.F) {
	f.Add([]byte{0xE0, 0x7F, 0x10, 0x00, 'O', 'B', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF}, true, false)
	f.Add([]byte{0xFE, 0xFF, 0x00, 0xE0, 8, 0, 0, 0}, true, false)
	f.Add([]byte{0x00, 0x28, 0x00, 0x10, 'U', 'S', 0, 2}, true, true)
	f.Add([]byte{0xE0, 0x7F, 0x10, 0x00, 0x20, 0, 0, 0}, false, false)
	f.Fuzz(func(t *testing.T, b []byte, explicit, bigEndian bool) {
		ts := TransferSyntax{ExplicitVR: explicit, BigEndian: bigEndian}
		r := bytes.NewReader(b)
		h, err := ReadElementHeader(r, ts)
		switch {
		case err == nil:
			if h.Size != 8 && h.Size != 12 || int64(len(b)-r.Len()) != h.Size {
				t.Fatalf("header %+v from %d bytes, %d consumed", h, len(b), len(b)-r.Len())
			}
		case err == io.EOF:
			if len(b) != 0 {
				t.Fatalf("io.EOF after %d bytes", len(b))
			}
		case !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrMalformed):
			t.Fatalf("unexpected error %v", err)
		}
	})
}
