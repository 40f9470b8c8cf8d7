package main

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// The generator encodes text itself, from the standard, instead of calling the dicom
// package: the files are the oracle for pacsd's decoder and must not be produced by it.

// encodeText returns the bytes of UTF-8 string s in the character set named by the values of
// Specific Character Set (0008,0005), for a value of VR vr.
func encodeText(charsets []string, vr, s string) ([]byte, error) {
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("encode %q: not UTF-8", s)
	}
	first := ""
	if len(charsets) > 0 {
		first = charsets[0]
	}
	if len(charsets) > 1 {
		// PS3.3 C.12.1.1.2: several values mean ISO 2022 code extensions. The only
		// combination the test data uses is ASCII in G0 plus GB2312 (IR 58) in G1.
		if (first == "" || first == "ISO 2022 IR 6") && len(charsets) == 2 && charsets[1] == "ISO 2022 IR 58" {
			return encodeIR58(vr, s)
		}
		return nil, fmt.Errorf("encode %q: unsupported code extension %q", s, strings.Join(charsets, `\`))
	}
	var enc *encoding.Encoder
	switch first {
	case "", "ISO_IR 6":
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x80 {
				return nil, fmt.Errorf("encode %q: not in the default repertoire", s)
			}
		}
		return []byte(s), nil
	case "ISO_IR 192": // PS3.3 C.12.1.1.2, Table C.12-5: UTF-8, no code extensions
		return []byte(s), nil
	case "ISO_IR 100":
		enc = charmap.ISO8859_1.NewEncoder()
	case "GB18030":
		enc = simplifiedchinese.GB18030.NewEncoder()
	case "GBK":
		enc = simplifiedchinese.GBK.NewEncoder()
	default:
		return nil, fmt.Errorf("encode %q: unsupported character set %q", s, first)
	}
	b, err := enc.Bytes([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("encode %q in %s: %w", s, first, err)
	}
	return b, nil
}

// ESC $ ) A designates GB2312 (ISO-IR 58) to G1 (PS3.3 Table C.12-4; PS3.5 Annex K.2).
var escIR58 = []byte{0x1B, 0x24, 0x29, 0x41}

// encodeIR58 writes s with ASCII in G0 and GB2312 in G1, invoked in GR (the EUC-CN bytes:
// GB2312 row/cell + 0x80, which is what the GBK encoder yields for GB2312 characters).
//
// PS3.5 6.1.2.5.3: at each delimiter the initial state returns, so a Chinese run after a
// delimiter designates G1 again. For PN the delimiters are '^' and '=' (and '\' between
// values); for other VRs '\' between values, and for texts CR, LF, FF and TAB. The result
// reproduces PS3.5 Annex K.2: "Zhang^XiaoDong=" ESC$)A D5C5 "^" ESC$)A D0A1 B6AB "=".
// G0 never leaves ASCII here, so no ESC ( B is needed to go back.
func encodeIR58(vr, s string) ([]byte, error) {
	var delims string
	switch vr {
	case "PN":
		delims = `^=\`
	case "LT", "ST", "UT":
		delims = "\r\n\f\t"
	default:
		delims = `\` + "\r\n\f\t"
	}
	gbk := simplifiedchinese.GBK.NewEncoder()
	var out []byte
	designated := false
	for _, r := range s {
		if r < 0x80 {
			if strings.ContainsRune(delims, r) {
				designated = false
			}
			out = append(out, byte(r))
			continue
		}
		b, err := gbk.Bytes([]byte(string(r)))
		if err != nil {
			return nil, fmt.Errorf("encode %q in GB2312: %q: %w", s, r, err)
		}
		if !isGB2312(b) {
			return nil, fmt.Errorf("encode %q in GB2312: %q is not a GB2312 character", s, r)
		}
		if !designated {
			out = append(out, escIR58...)
			designated = true
		}
		out = append(out, b...)
	}
	return out, nil
}

// isGB2312 reports whether GBK bytes b are one GB2312 character in EUC-CN form: both bytes
// in 0xA1-0xFE (rows 1-94, cells 1-94 + 0xA0). GBK extends GB2312 outside that range.
func isGB2312(b []byte) bool {
	return len(b) == 2 && b[0] >= 0xA1 && b[0] <= 0xFE && b[1] >= 0xA1 && b[1] <= 0xFE
}

var errNotASCII = errors.New("not ASCII")

// ascii returns s as bytes, refusing anything outside the default repertoire: used for
// values of VRs that are ASCII by definition (CS, DA, UI, ...).
func ascii(s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return nil, fmt.Errorf("%q: %w", s, errNotASCII)
		}
	}
	return []byte(s), nil
}
