package dicom

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// Specific Character Set (0008,0005) handling, PS3.5 6.1 and Annex K / PS3.3 C.12.1.1.2.
// Decoding uses golang.org/x/text encodings, not hand-written tables.
//
// Accepted spellings. Defined terms are matched after upper-casing and removing spaces,
// '_' and '-', so "ISO_IR 100", "ISO-IR 100", "iso_ir_100" and "ISO_IR 100 " are one term.
// "ISO_IR n" and "ISO 2022 IR n" name the same repertoire; only the number of values and the
// escape sequences in the bytes decide whether ISO 2022 code extension is used, because
// real devices mix the two spellings. A few non-DICOM names seen in the field are aliases:
// "UTF8"/"UTF-8" = ISO_IR 192, "GB2312" = GB18030 (EUC-CN is a subset), "LATIN1" and
// "ISO8859-1" = ISO_IR 100. Anything else is unknown and reported by NewDecoder.

// csKind says how a repertoire is coded.
type csKind uint8

const (
	csASCII    csKind = iota // ISO-IR 6, G0
	csSingle                 // ISO 8859 family and TIS 620: ASCII in G0, a 96-set in G1
	csKatakana               // JIS X 0201 (ISO-IR 13): katakana in G1, romaji in G0
	csJIS0208                // ISO-IR 87, 94x94 set in G0
	csJIS0212                // ISO-IR 159, 94x94 set in G0
	csKSX1001                // ISO-IR 149, 94x94 set in G1
	csGB2312                 // ISO-IR 58, 94x94 set in G1
	csUTF8                   // ISO_IR 192, no code extension
	csGB18030                // GB18030, no code extension
	csGBK                    // GBK, no code extension
)

// charset is one repertoire of PS3.3 Tables C.12-2 to C.12-5.
type charset struct {
	term string // canonical defined term without code extensions
	kind csKind
	cm   *charmap.Charmap // csSingle
	// esc designates the set (PS3.3 Tables C.12-3 and C.12-4); g0 says into which of G0/G1.
	esc string
	g0  bool
}

var (
	csetASCII    = &charset{term: "ISO_IR 6", kind: csASCII, esc: "\x1b(B", g0: true}
	csetKatakana = &charset{term: "ISO_IR 13", kind: csKatakana, esc: "\x1b)I"}
	// csetRomaji is the G0 half of ISO_IR 13 (JIS X 0201 romaji, ISO-IR 14). It differs from
	// ASCII only at 05/12 (yen sign) and 07/14 (overline); DICOM uses 05/12 as the value
	// delimiter whatever G0 holds, so it is decoded as ASCII.
	csetRomaji  = &charset{term: "ISO_IR 13", kind: csASCII, esc: "\x1b(J", g0: true}
	csetJIS0208 = &charset{term: "ISO 2022 IR 87", kind: csJIS0208, esc: "\x1b$B", g0: true}
	csetJIS0212 = &charset{term: "ISO 2022 IR 159", kind: csJIS0212, esc: "\x1b$(D", g0: true}
	csetKSX1001 = &charset{term: "ISO 2022 IR 149", kind: csKSX1001, esc: "\x1b$)C"}
	csetGB2312  = &charset{term: "ISO 2022 IR 58", kind: csGB2312, esc: "\x1b$)A"}
	csetUTF8    = &charset{term: "ISO_IR 192", kind: csUTF8}
	csetGB18030 = &charset{term: "GB18030", kind: csGB18030}
	csetGBK     = &charset{term: "GBK", kind: csGBK}
)

func single(term string, cm *charmap.Charmap, final byte) *charset {
	return &charset{term: term, kind: csSingle, cm: cm, esc: "\x1b-" + string(final)}
}

// charsetsByKey maps a normalised term (see normTerm) to its repertoire.
var charsetsByKey = func() map[string]*charset {
	m := map[string]*charset{}
	add := func(c *charset, keys ...string) {
		for _, k := range keys {
			m[normTerm(k)] = c
		}
	}
	add(csetASCII, "ISO_IR 6", "ISO 2022 IR 6")
	// PS3.3 Table C.12-2 (without code extensions) and C.12-3 (with); the final byte is
	// the ISO 2022 registration's F of ESC 02/13 F.
	for _, s := range []struct {
		ir    string
		cm    *charmap.Charmap
		final byte
	}{
		{"100", charmap.ISO8859_1, 'A'},
		{"101", charmap.ISO8859_2, 'B'},
		{"109", charmap.ISO8859_3, 'C'},
		{"110", charmap.ISO8859_4, 'D'},
		{"144", charmap.ISO8859_5, 'L'},
		{"127", charmap.ISO8859_6, 'G'},
		{"126", charmap.ISO8859_7, 'F'},
		{"138", charmap.ISO8859_8, 'H'},
		{"148", charmap.ISO8859_9, 'M'},
		{"203", charmap.ISO8859_15, 'b'},
		// TIS 620-2533 (ISO-IR 166): Windows-874 agrees with it on every TIS 620 code.
		{"166", charmap.Windows874, 'T'},
	} {
		add(single("ISO_IR "+s.ir, s.cm, s.final), "ISO_IR "+s.ir, "ISO 2022 IR "+s.ir)
	}
	add(csetKatakana, "ISO_IR 13", "ISO 2022 IR 13")
	add(csetJIS0208, "ISO 2022 IR 87", "ISO_IR 87")
	add(csetJIS0212, "ISO 2022 IR 159", "ISO_IR 159")
	add(csetKSX1001, "ISO 2022 IR 149", "ISO_IR 149")
	add(csetGB2312, "ISO 2022 IR 58", "ISO_IR 58")
	add(csetUTF8, "ISO_IR 192", "UTF8", "UTF-8", "ISO 2022 IR 192")
	add(csetGB18030, "GB18030", "GB2312")
	add(csetGBK, "GBK")
	m[normTerm("LATIN1")] = m[normTerm("ISO_IR 100")]
	m[normTerm("ISO8859-1")] = m[normTerm("ISO_IR 100")]
	return m
}()

// normTerm upper-cases a defined term and drops spaces, '_' and '-'.
func normTerm(s string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		if r == ' ' || r == '_' || r == '-' || r == 0 {
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// lookupCharset resolves one value of (0008,0005); "" is the default repertoire.
func lookupCharset(term string) (*charset, bool) {
	k := normTerm(term)
	if k == "" {
		return csetASCII, true
	}
	c, ok := charsetsByKey[k]
	return c, ok
}

type decodeMode uint8

const (
	modeSingle  decodeMode = iota // one 8-bit set (or the default), ISO 2022 Level 1
	modeISO2022                   // code extensions, PS3.5 6.1.2.5.1 c
	modeUTF8
	modeGB18030
	modeGBK
)

// Decoder turns text values encoded under a Specific Character Set into UTF-8.
// It understands single-byte sets (ISO_IR 6/100/101/109/110/144/127/126/138/148/13/166),
// ISO_IR 192 (UTF-8), GB18030, GBK, and ISO 2022 code extensions (ISO 2022 IR 6, IR 100,
// IR 58, IR 87, IR 159, IR 149, ...) with escape sequences switching G0/G1 mid-value, and
// multi-valued charsets. PN values reset to the default at each component-group '='
// and '^' delimiter as PS3.5 6.1.2.5.3 requires.
//
// A Decoder never fails: bytes that are invalid in their character set decode to U+FFFD.
// A nil *Decoder decodes as the default repertoire.
type Decoder struct {
	charsets []string

	mode     decodeMode
	g0, g1   *charset // initial designations (PS3.5 6.1.2.5.1); g1 may be nil
	fallback *charset // nil: UTF-8 when valid, else ISO 8859-1
}

// NewDecoder builds a decoder for the values of (0008,0005). An empty list means the
// default repertoire (ISO_IR 6); unknown terms fall back to a lenient decoder (UTF-8 if the
// bytes are valid UTF-8, else ISO-8859-1) and are reported in the error, which callers may
// log and ignore. The returned decoder is usable even when err != nil.
func NewDecoder(charsets []string) (*Decoder, error) {
	return NewDecoderWithFallback(charsets, "")
}

// NewDecoderWithFallback is NewDecoder with a site-chosen repertoire for bytes the
// declared one cannot explain: non-ASCII bytes under the default repertoire (no or empty
// (0008,0005), which devices that speak GB18030 often send), unknown terms, and G1 bytes
// before any G1 designation. Bytes that are valid UTF-8 are always read as UTF-8; the
// fallback explains the rest ("" means ISO 8859-1). A fallback must be
// a term without code extensions (e.g. "GB18030", "ISO_IR 100").
func NewDecoderWithFallback(charsets []string, fallback string) (*Decoder, error) {
	d := &Decoder{charsets: charsets, g0: csetASCII}
	var errs []error
	if fallback != "" {
		c, ok := lookupCharset(fallback)
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("unknown fallback character set %q", fallback))
		case c.kind == csASCII || c.kind == csJIS0208 || c.kind == csJIS0212 || c.kind == csKSX1001 || c.kind == csGB2312:
			errs = append(errs, fmt.Errorf("fallback character set %q needs code extensions", fallback))
		default:
			d.fallback = c
		}
	}
	sets := make([]*charset, len(charsets))
	for i, t := range charsets {
		c, ok := lookupCharset(t)
		if !ok {
			errs = append(errs, fmt.Errorf("unknown specific character set term %q", t))
			continue
		}
		sets[i] = c
	}
	first := csetASCII
	if len(sets) > 0 {
		first = sets[0] // nil when unknown: G0 ASCII, no G1, the fallback explains the rest
	}
	multi := len(charsets) > 1
	switch {
	case first != nil && first.kind == csUTF8:
		d.mode = modeUTF8
	case first != nil && first.kind == csGB18030:
		d.mode = modeGB18030
	case first != nil && first.kind == csGBK:
		d.mode = modeGBK
	default:
		d.mode = modeSingle
		if multi {
			d.mode = modeISO2022
		}
		if first != nil {
			d.designate(first)
		}
	}
	if multi && d.mode != modeSingle && d.mode != modeISO2022 {
		// PS3.3 C.12.1.1.2: ISO_IR 192, GB18030 and GBK are single-valued; decode with
		// the first value anyway.
		errs = append(errs, fmt.Errorf("specific character set %q: %s cannot be combined with other terms", strings.Join(charsets, `\`), first.term))
	}
	return d, errors.Join(errs...)
}

// designate sets the initial designation of value 1 (PS3.5 6.1.2.5.1 b and c): an 8-bit
// set goes into G0 (ASCII) and G1; a multi-byte set as value 1 is not allowed by the
// standard, but a single "ISO 2022 IR 149" or "ISO 2022 IR 58" is common enough to honour.
func (d *Decoder) designate(c *charset) {
	switch c.kind {
	case csKatakana:
		d.g0, d.g1 = csetRomaji, csetKatakana
	case csSingle, csKSX1001, csGB2312:
		d.g0, d.g1 = csetASCII, c
	case csJIS0208, csJIS0212:
		d.mode = modeISO2022
		d.g0, d.g1 = csetASCII, nil
	default:
		d.g0, d.g1 = csetASCII, nil
	}
	if c.kind == csKSX1001 || c.kind == csGB2312 {
		d.mode = modeISO2022
	}
}

// Charsets returns the (0008,0005) values the decoder was built from.
func (d *Decoder) Charsets() []string {
	if d == nil {
		return nil
	}
	return d.charsets
}

// textVR reports the VRs whose values are free text where '\' is an ordinary character
// (PS3.5 6.2: LT, ST, UT, UR are single-valued).
func singleValuedText(vr string) bool {
	return vr == "LT" || vr == "ST" || vr == "UT" || vr == "UR"
}

// Decode converts one raw value (all its '\'-separated values at once) of the given VR to
// UTF-8. Only SH, LO, ST, LT, UT, UC, PN (and, leniently, other text VRs) are affected by
// the character set; the rest are ASCII by definition. Decoding the whole value before
// splitting matters: in GBK and JIS X 0208 the byte 05/12 ('\') can be half of a character.
func (d *Decoder) Decode(raw []byte, vr string) string {
	if isPlainASCII(raw) {
		return string(raw)
	}
	if d == nil || d.g0 == nil {
		d = defaultDecoder
	}
	switch d.mode {
	case modeUTF8:
		return strings.ToValidUTF8(string(raw), "\uFFFD")
	case modeGB18030:
		return decodeWith(simplifiedchinese.GB18030, raw)
	case modeGBK:
		return decodeWith(simplifiedchinese.GBK, raw)
	case modeSingle:
		if bytes.IndexByte(raw, esc) < 0 {
			return d.decodeSingle(raw, vr)
		}
		// Escape sequences under a single-valued term: the sender used code extensions
		// without saying so (PS3.5 6.1.2.5.1 b forbids it); decode them anyway.
	}
	return d.decode2022(raw, vr)
}

var defaultDecoder = &Decoder{g0: csetASCII}

const esc = 0x1b

func isPlainASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 || c == esc {
			return false
		}
	}
	return true
}

// decodeWith runs an x/text decoder; they substitute U+FFFD for invalid input rather than
// fail, but an error is still turned into a lossy result instead of being returned.
func decodeWith(e encoding.Encoding, raw []byte) string {
	out, err := e.NewDecoder().Bytes(raw)
	if err != nil {
		return strings.ToValidUTF8(string(raw), "\uFFFD")
	}
	return string(out)
}

func (d *Decoder) decodeSingle(raw []byte, vr string) string {
	switch {
	case d.g1 == nil:
		return d.decodeFallback(raw)
	case d.g1.kind == csSingle:
		var b strings.Builder
		b.Grow(len(raw) + len(raw)/2)
		for _, c := range raw {
			if c < 0x80 {
				b.WriteByte(c)
			} else {
				b.WriteRune(d.g1.cm.DecodeByte(c))
			}
		}
		return b.String()
	default:
		return d.decode2022(raw, vr)
	}
}

// decodeFallback explains bytes the declared repertoire cannot.
// Valid UTF-8 wins even over a site fallback: undeclared UTF-8 is common from newer devices,
// and GB18030 or Latin-1 text of any length is almost never valid UTF-8 by accident.
func (d *Decoder) decodeFallback(raw []byte) string {
	if utf8.Valid(raw) {
		return string(raw)
	}
	if d.fallback != nil {
		return (&Decoder{mode: modeForFallback(d.fallback), g0: csetASCII, g1: g1ForFallback(d.fallback)}).Decode(raw, "")
	}
	return decodeWith(charmap.ISO8859_1, raw)
}

func modeForFallback(c *charset) decodeMode {
	switch c.kind {
	case csUTF8:
		return modeUTF8
	case csGB18030:
		return modeGB18030
	case csGBK:
		return modeGBK
	}
	return modeSingle
}

func g1ForFallback(c *charset) *charset {
	if c.kind == csSingle || c.kind == csKatakana {
		return c
	}
	return nil
}

// decode2022 interprets ISO 2022 escape sequences (PS3.5 6.1.2.5, PS3.3 Tables C.12-3 and
// C.12-4) on top of the initial designation, resetting to it where PS3.5 6.1.2.5.3 says
// value 1 is active again: at each value delimiter '\', at '^' and '=' in PN, and at
// control characters (CR, LF, FF, TAB).
func (d *Decoder) decode2022(raw []byte, vr string) string {
	var out strings.Builder
	out.Grow(len(raw) * 2)
	g0, g1 := d.g0, d.g1
	pn := vr == "PN"
	delim := !singleValuedText(vr)
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == esc:
			set, n := parseEscape(raw[i:])
			if set == nil {
				out.WriteRune(utf8.RuneError)
				i++
				continue
			}
			if set.g0 {
				g0 = set
			} else {
				g1 = set
			}
			i += n
		case c < 0x20 || c == 0x7f:
			// C0 controls are outside G0/G1 (ISO 2022 6.2); they end any switched state.
			g0, g1 = d.g0, d.g1
			out.WriteByte(c)
			i++
		case c < 0x80 && (g0.kind == csJIS0208 || g0.kind == csJIS0212):
			j := i
			for j < len(raw) && raw[j] > 0x20 && raw[j] < 0x7f {
				j++
			}
			if j == i { // a space in a 94x94 set context is still a space
				out.WriteByte(c)
				i++
				continue
			}
			out.WriteString(decodeJIS(raw[i:j], g0.kind == csJIS0212))
			i = j
		case c < 0x80:
			if (c == '\\' && delim) || (pn && (c == '^' || c == '=')) {
				g0, g1 = d.g0, d.g1
			}
			out.WriteByte(c)
			i++
		default: // GR: G1
			j := i
			for j < len(raw) && raw[j] >= 0x80 {
				j++
			}
			out.WriteString(d.decodeG1(g1, raw[i:j]))
			i = j
		}
	}
	return out.String()
}

// decodeG1 decodes a run of bytes with the high bit set under the G1 set g1.
func (d *Decoder) decodeG1(g1 *charset, run []byte) string {
	if g1 == nil {
		return d.decodeFallback(run)
	}
	switch g1.kind {
	case csSingle:
		var b strings.Builder
		for _, c := range run {
			b.WriteRune(g1.cm.DecodeByte(c))
		}
		return b.String()
	case csKatakana:
		var b strings.Builder
		for _, c := range run {
			// JIS X 0201 katakana 0xA1..0xDF are U+FF61..U+FF9F in order.
			if c >= 0xa1 && c <= 0xdf {
				b.WriteRune(rune(0xff61 + int(c) - 0xa1))
			} else {
				b.WriteRune(utf8.RuneError)
			}
		}
		return b.String()
	case csKSX1001:
		// ISO-IR 149 in GR is EUC-KR.
		return decodeWith(korean.EUCKR, run)
	case csGB2312:
		// ISO-IR 58 in GR is EUC-CN, a subset of GBK.
		return decodeWith(simplifiedchinese.GBK, run)
	}
	return d.decodeFallback(run)
}

// decodeJIS decodes G0 bytes of JIS X 0208 (or 0212) by moving them to GR, which makes
// them EUC-JP (0212 characters take the SS3 prefix 0x8F).
func decodeJIS(run []byte, x0212 bool) string {
	buf := make([]byte, 0, len(run)+len(run)/2+1)
	for i := 0; i < len(run); i += 2 {
		if i+1 >= len(run) {
			buf = append(buf, 0xff) // half a character: invalid in EUC-JP, decodes as U+FFFD
			break
		}
		if x0212 {
			buf = append(buf, 0x8f)
		}
		buf = append(buf, run[i]|0x80, run[i+1]|0x80)
	}
	return decodeWith(japanese.EUCJP, buf)
}

// escapes lists the designations of PS3.3 Tables C.12-3 and C.12-4.
var escapes = func() map[string]*charset {
	m := map[string]*charset{
		csetASCII.esc:    csetASCII,
		csetRomaji.esc:   csetRomaji,
		csetKatakana.esc: csetKatakana,
		csetJIS0208.esc:  csetJIS0208,
		"\x1b$@":         csetJIS0208, // JIS C 6226-1978, the older name of JIS X 0208
		csetJIS0212.esc:  csetJIS0212,
		csetKSX1001.esc:  csetKSX1001,
		csetGB2312.esc:   csetGB2312,
	}
	for _, c := range charsetsByKey {
		if c.kind == csSingle {
			m[c.esc] = c
		}
	}
	return m
}()

// parseEscape recognises the escape sequence at the start of b; ISO 2022 escape sequences
// are ESC, intermediate bytes 02/00-02/15, then one final byte 03/00-07/14.
func parseEscape(b []byte) (*charset, int) {
	n := 1
	for n < len(b) && b[n] >= 0x20 && b[n] <= 0x2f {
		n++
	}
	if n == 1 || n >= len(b) || b[n] < 0x30 || b[n] > 0x7e {
		return nil, 0
	}
	n++
	c, ok := escapes[string(b[:n])]
	if !ok {
		return nil, 0
	}
	return c, n
}

// EncodeText converts UTF-8 text to the bytes of the given character set (used when writing
// Part-10 objects). For ISO 2022 sets it emits the escape sequences PS3.5 6.1.2.5 requires.
// s holds all values of the element, '\'-separated. Characters the character set cannot
// represent are an error; nothing is silently replaced. Padding is the writer's job.
//
// With code extensions (more than one value in charsets) each character is taken from the
// first listed set that has it, value 1 first. Following PS3.5 Annex H, I and K: a set is
// designated by its escape sequence before the first character that needs it, G0 is
// returned to value 1's set (ESC ( B, or ESC ( J under ISO 2022 IR 13) before each
// delimiter and at the end of the value, and G1 reverts silently at delimiters, so a G1
// set is designated again in each component that uses it (Example K.2-1).
func EncodeText(s string, charsets []string, vr string) ([]byte, error) {
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("encode %s text: not valid UTF-8", vr)
	}
	if isPlainASCII([]byte(s)) {
		return []byte(s), nil
	}
	sets := make([]*charset, len(charsets))
	for i, t := range charsets {
		c, ok := lookupCharset(t)
		if !ok {
			return nil, fmt.Errorf("encode %s text: unknown Specific Character Set term %q", vr, t)
		}
		sets[i] = c
	}
	first := csetASCII
	if len(sets) > 0 {
		first = sets[0]
	}
	if len(sets) <= 1 {
		switch first.kind {
		case csUTF8:
			return []byte(s), nil
		case csGB18030:
			return encodeWith(simplifiedchinese.GB18030, s, first.term, vr)
		case csGBK:
			return encodeWith(simplifiedchinese.GBK, s, first.term, vr)
		case csSingle:
			out := make([]byte, 0, len(s))
			for _, r := range s {
				b, ok := first.cm.EncodeRune(r)
				if !ok || (r >= 0x80 && b < 0x80) {
					return nil, unrepresentable(r, charsets, vr)
				}
				out = append(out, b)
			}
			return out, nil
		case csASCII:
			for _, r := range s {
				if r >= 0x80 {
					return nil, unrepresentable(r, charsets, vr)
				}
			}
			return []byte(s), nil
		}
		// A lone multi-byte ISO 2022 term or ISO_IR 13: encode with extensions below.
	} else if first.kind == csUTF8 || first.kind == csGB18030 || first.kind == csGBK {
		return nil, fmt.Errorf("encode %s text: %s cannot be combined with other terms", vr, first.term)
	}
	return encode2022(s, sets, charsets, vr)
}

func unrepresentable(r rune, charsets []string, vr string) error {
	return fmt.Errorf("encode %s text: character %q is not in Specific Character Set %q", vr, r, strings.Join(charsets, `\`))
}

func encodeWith(e encoding.Encoding, s, term, vr string) ([]byte, error) {
	out, err := e.NewEncoder().Bytes([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("encode %s text as %s: %w", vr, term, err)
	}
	return out, nil
}

func encode2022(s string, sets []*charset, charsets []string, vr string) ([]byte, error) {
	init0, init1 := csetASCII, (*charset)(nil)
	if len(sets) > 0 {
		d := &Decoder{}
		d.designate(sets[0])
		init0, init1 = d.g0, d.g1
	}
	g0, g1 := init0, init1
	pn := vr == "PN"
	delim := !singleValuedText(vr)
	var out []byte
	resetG0 := func() {
		if g0 != init0 {
			out = append(out, init0.esc...)
		}
		g0, g1 = init0, init1
	}
	eucJP := japanese.EUCJP.NewEncoder()
	for _, r := range s {
		if r < 0x80 {
			if r < 0x20 || r == 0x7f || (r == '\\' && delim) || (pn && (r == '^' || r == '=')) {
				resetG0()
			} else if g0.kind != csASCII {
				out = append(out, init0.esc...)
				g0 = init0
			}
			out = append(out, byte(r))
			continue
		}
		done := false
		for _, c := range sets {
			enc, ok := encodeRuneIn(c, r, eucJP)
			if !ok {
				continue
			}
			if c.g0 {
				if g0 != c {
					out = append(out, c.esc...)
					g0 = c
				}
			} else if g1 != c {
				out = append(out, c.esc...)
				g1 = c
			}
			out = append(out, enc...)
			done = true
			break
		}
		if !done {
			return nil, unrepresentable(r, charsets, vr)
		}
	}
	if g0 != init0 {
		out = append(out, init0.esc...)
	}
	return out, nil
}

// encodeRuneIn returns the bytes of r in set c as they appear in G0 (7-bit) or G1 (8-bit).
func encodeRuneIn(c *charset, r rune, eucJP *encoding.Encoder) ([]byte, bool) {
	switch c.kind {
	case csSingle:
		b, ok := c.cm.EncodeRune(r)
		if ok && b >= 0x80 {
			return []byte{b}, true
		}
	case csKatakana:
		if r >= 0xff61 && r <= 0xff9f {
			return []byte{byte(r - 0xff61 + 0xa1)}, true
		}
	case csJIS0208, csJIS0212:
		eucJP.Reset()
		b, err := eucJP.Bytes([]byte(string(r)))
		if err != nil {
			return nil, false
		}
		if c.kind == csJIS0208 && len(b) == 2 && b[0] >= 0xa1 && b[1] >= 0xa1 {
			return []byte{b[0] & 0x7f, b[1] & 0x7f}, true
		}
		if c.kind == csJIS0212 && len(b) == 3 && b[0] == 0x8f {
			return []byte{b[1] & 0x7f, b[2] & 0x7f}, true
		}
	case csKSX1001:
		b, err := korean.EUCKR.NewEncoder().Bytes([]byte(string(r)))
		if err == nil && len(b) == 2 && b[0] >= 0xa1 && b[1] >= 0xa1 {
			return b, true
		}
	case csGB2312:
		// GBK is a superset of EUC-CN; only codes with both bytes in A1..FE are GB2312.
		b, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(string(r)))
		if err == nil && len(b) == 2 && b[0] >= 0xa1 && b[0] <= 0xfe && b[1] >= 0xa1 && b[1] <= 0xfe {
			return b, true
		}
	}
	return nil, false
}
