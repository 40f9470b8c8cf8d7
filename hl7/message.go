// Package hl7 speaks HL7 version 2 (2.3-2.5) with the hospital information system: it parses
// and encodes messages (segments, fields, repetitions, components, escape sequences, the
// MSH-18 character set), frames them over MLLP (a listener with timeouts, a connection cap
// and a size bound, and a client), maps incoming orders (ORM^O01, OMI^O23) onto Order and
// answers them with an ACK, and builds the ORU^R01 that carries a signed report out.
//
// It is not the order model (the reading room keeps orders, through OrderSink), nor the
// persistent queue (Outbox, kept in the index): it knows no SQL and no HTTP routes.
//
// HL7 v2.5 chapter 2 (control) gives the message structure, 2.7 the escape sequences,
// 2.14.9.18 the character sets (HL7 table 0211).
package hl7

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// Bounds on what is read from the wire, checked before anything is allocated for it.
const (
	// DefaultMaxMessage bounds one message (bytes between the MLLP start and end blocks).
	DefaultMaxMessage = 1 << 20
	// MaxSegments bounds the segments of one message.
	MaxSegments = 5000
)

// ErrMalformed is a message that is not HL7 v2 (no MSH, bad delimiters, too many segments,
// a character set that cannot be decoded). Its text says why.
var ErrMalformed = errors.New("hl7: malformed message")

// Charset is how a message's bytes encode its text (HL7 table 0211 names, MSH-18).
type Charset string

const (
	UTF8    Charset = "UNICODE UTF-8"
	GB18030 Charset = "GB 18030-2000"
)

// ParseCharset reads a configured or MSH-18 character set name; "" is ok=false.
// GB 2312 and GBK are read as GB 18030, which contains both.
func ParseCharset(s string) (Charset, bool) {
	switch strings.ToUpper(strings.NewReplacer(" ", "", "-", "", "_", "").Replace(s)) {
	case "UNICODEUTF8", "UTF8":
		return UTF8, true
	case "GB18030", "GB180302000", "GB18030:2000", "GB2312", "GBK", "CHINESE":
		return GB18030, true
	case "ASCII", "8859/1", "ISO88591", "ISOIR100":
		return "8859/1", true
	}
	return "", false
}

func decodeText(b []byte, cs Charset) (string, error) {
	switch cs {
	case UTF8:
		if !utf8.Valid(b) {
			return "", fmt.Errorf("%w: text is not valid UTF-8", ErrMalformed)
		}
		return string(b), nil
	case GB18030:
		out, err := simplifiedchinese.GB18030.NewDecoder().Bytes(b)
		if err != nil {
			return "", fmt.Errorf("%w: text is not valid GB 18030: %v", ErrMalformed, err)
		}
		return string(out), nil
	case "8859/1":
		out, err := charmap.ISO8859_1.NewDecoder().Bytes(b)
		return string(out), err
	}
	return "", fmt.Errorf("%w: unsupported character set %q", ErrMalformed, cs)
}

func encodeText(s string, cs Charset) ([]byte, error) {
	switch cs {
	case UTF8, "":
		return []byte(s), nil
	case GB18030:
		b, err := simplifiedchinese.GB18030.NewEncoder().Bytes([]byte(s))
		if err != nil {
			return nil, fmt.Errorf("hl7: encode GB 18030: %w", err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("hl7: cannot encode character set %q", cs)
}

// Delims are a message's delimiters (MSH-1 and MSH-2).
type Delims struct {
	Field, Component, Repetition, Escape, Sub byte
}

// DefaultDelims are |^~\& (HL7 v2.5 2.5.4).
var DefaultDelims = Delims{'|', '^', '~', '\\', '&'}

// Message is a parsed message; text is UTF-8 and still escaped inside fields (the accessors
// unescape).
type Message struct {
	Delims   Delims
	Charset  Charset
	Segments []Segment
}

// Segment is one segment: Fields[0] is its name. For MSH, Fields[1] is MSH-1 (the field
// separator) and Fields[2] MSH-2, so that Fields[n] is always field n.
type Segment struct {
	Fields []string
	d      *Delims
}

// Name is the segment ID.
func (s Segment) Name() string {
	if len(s.Fields) == 0 {
		return ""
	}
	return s.Fields[0]
}

// Raw is field n as sent (escaped; "" when absent).
func (s Segment) Raw(n int) string {
	if s.d == nil || n <= 0 || n >= len(s.Fields) {
		return ""
	}
	return s.Fields[n]
}

// Get returns field n, repetition rep, component comp, subcomponent sub, unescaped. All are
// 1-based; repetition 1 is the first.
func (s Segment) Get(n, rep, comp, sub int) string {
	f := s.Raw(n)
	if f == "" || (s.Name() == "MSH" && n <= 2) {
		return f
	}
	return s.d.unescape(pick(pick(pick(f, s.d.Repetition, rep), s.d.Component, comp), s.d.Sub, sub))
}

// Value is component comp of the first repetition of field n (whole subcomponents joined).
func (s Segment) Value(n, comp int) string {
	f := s.Raw(n)
	if f == "" {
		return ""
	}
	return s.d.unescape(pick(pick(f, s.d.Repetition, 1), s.d.Component, comp))
}

// Reps is the number of repetitions of field n.
func (s Segment) Reps(n int) int {
	f := s.Raw(n)
	if f == "" {
		return 0
	}
	return strings.Count(f, string(s.d.Repetition)) + 1
}

// Rep returns repetition rep (1-based) of field n as its components, unescaped.
func (s Segment) Rep(n, rep int) []string {
	r := pick(s.Raw(n), s.d.Repetition, rep)
	if r == "" {
		return nil
	}
	parts := strings.Split(r, string(s.d.Component))
	for i, p := range parts {
		parts[i] = s.d.unescape(p)
	}
	return parts
}

// pick is part i (1-based) of s split by sep, without allocating the other parts.
func pick(s string, sep byte, i int) string {
	for ; i > 1; i-- {
		j := strings.IndexByte(s, sep)
		if j < 0 {
			return ""
		}
		s = s[j+1:]
	}
	if j := strings.IndexByte(s, sep); j >= 0 {
		return s[:j]
	}
	return s
}

// Seg returns the first segment named name, or an empty one.
func (m *Message) Seg(name string) Segment {
	for _, s := range m.Segments {
		if s.Name() == name {
			return s
		}
	}
	return Segment{d: &m.Delims}
}

// Has reports whether the message has a segment named name.
func (m *Message) Has(name string) bool { return m.Seg(name).Name() != "" }

// MSH is the header segment (always the first).
func (m *Message) MSH() Segment { return m.Segments[0] }

// Type is MSH-9 as "ORM^O01" (message code and trigger event).
func (m *Message) Type() string {
	h := m.MSH()
	return h.Value(9, 1) + "^" + h.Value(9, 2)
}

// ControlID is MSH-10.
func (m *Message) ControlID() string { return m.MSH().Value(10, 1) }

// Peek reads what can be read of a message's header without decoding it (for the record of
// a message that cannot be parsed): the type and the control ID, "" when absent.
func Peek(raw []byte) (typ, control string) {
	if len(raw) < 8 || !bytes.HasPrefix(raw, []byte("MSH")) {
		return "", ""
	}
	fs := raw[3]
	end := bytes.IndexAny(raw, "\r\n")
	if end < 0 {
		end = len(raw)
	}
	f := bytes.Split(raw[:end], []byte{fs})
	// f[0] = MSH, f[1] = MSH-2, f[n-1] = MSH-n.
	if len(f) > 8 {
		typ = strings.ReplaceAll(string(f[8]), string(raw[4]), "^")
	}
	if len(f) > 9 {
		control = string(f[9])
	}
	return clip(typ, 32), clip(control, 64)
}

func clip(s string, n int) string {
	if len(s) > n || !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s[:min(n, len(s))], "")
	}
	return s
}

// Parse parses one message (the bytes between the MLLP blocks). Its character set is MSH-18
// when given (HL7 table 0211), otherwise def. Segments end in CR (LF and CR LF are accepted
// too, as some systems send them). The result is bounded by len(raw).
func Parse(raw []byte, def Charset) (*Message, error) {
	if len(raw) > DefaultMaxMessage*16 {
		return nil, fmt.Errorf("%w: %d bytes", ErrMalformed, len(raw))
	}
	if len(raw) < 8 || !bytes.HasPrefix(raw, []byte("MSH")) {
		return nil, fmt.Errorf("%w: does not begin with an MSH segment", ErrMalformed)
	}
	d := Delims{Field: raw[3]}
	enc := raw[4:]
	if i := bytes.IndexByte(enc, d.Field); i >= 0 {
		enc = enc[:i]
	}
	if len(enc) < 4 || len(enc) > 5 {
		return nil, fmt.Errorf("%w: MSH-2 must hold 4 encoding characters, not %q", ErrMalformed, clip(string(enc), 8))
	}
	d.Component, d.Repetition, d.Escape, d.Sub = enc[0], enc[1], enc[2], enc[3]
	seen := map[byte]bool{}
	for _, c := range []byte{d.Field, d.Component, d.Repetition, d.Escape, d.Sub} {
		if seen[c] || c == '\r' || c == '\n' || c < 0x20 || c >= 0x7f || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') {
			return nil, fmt.Errorf("%w: bad delimiters %q", ErrMalformed, clip(string(raw[3:8]), 8))
		}
		seen[c] = true
	}
	// MSH-18 is ASCII whatever the rest: read it from the raw header first.
	cs := def
	hdr := raw
	if i := bytes.IndexAny(raw, "\r\n"); i >= 0 {
		hdr = raw[:i]
	}
	hf := bytes.Split(hdr, []byte{d.Field})
	if len(hf) > 17 {
		name := string(bytes.SplitN(bytes.SplitN(hf[17], []byte{d.Repetition}, 2)[0], []byte{d.Component}, 2)[0])
		if strings.TrimSpace(name) != "" {
			c, ok := ParseCharset(name)
			if !ok {
				return nil, fmt.Errorf("%w: unsupported character set %q (MSH-18)", ErrMalformed, clip(name, 32))
			}
			cs = c
		}
	}
	if cs == "" {
		cs = UTF8
	}
	text, err := decodeText(raw, cs)
	if err != nil {
		return nil, err
	}
	text = strings.ReplaceAll(text, "\r\n", "\r")
	text = strings.ReplaceAll(text, "\n", "\r")
	lines := strings.Split(strings.TrimRight(text, "\r"), "\r")
	if len(lines) > MaxSegments {
		return nil, fmt.Errorf("%w: more than %d segments", ErrMalformed, MaxSegments)
	}
	m := &Message{Delims: d, Charset: cs, Segments: make([]Segment, 0, len(lines))}
	for i, line := range lines {
		if line == "" {
			continue
		}
		fields := strings.Split(line, string(d.Field))
		name := fields[0]
		if len(name) != 3 || !isSegName(name) {
			return nil, fmt.Errorf("%w: segment %d has no valid segment ID (%q)", ErrMalformed, i+1, clip(name, 8))
		}
		if i == 0 {
			// MSH-1 is the separator itself: shift so that Fields[n] is MSH-n.
			fields = append([]string{"MSH", string(d.Field)}, fields[1:]...)
		}
		m.Segments = append(m.Segments, Segment{Fields: fields, d: &m.Delims})
	}
	return m, nil
}

func isSegName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// unescape replaces the escape sequences of HL7 v2.5 2.7: \F\ \S\ \T\ \R\ \E\ (the
// delimiters), \Xhh..\ (bytes, read as UTF-8 when valid), \.br\ (a line break in FT);
// formatting and highlighting sequences (\H\ \N\ \.sp\ ...) are dropped.
func (d *Delims) unescape(s string) string {
	if strings.IndexByte(s, d.Escape) < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != d.Escape {
			b.WriteByte(c)
			continue
		}
		j := strings.IndexByte(s[i+1:], d.Escape)
		if j < 0 { // a lone escape character: keep it
			b.WriteString(s[i:])
			break
		}
		seq := s[i+1 : i+1+j]
		i += j + 1
		switch {
		case seq == "F":
			b.WriteByte(d.Field)
		case seq == "S":
			b.WriteByte(d.Component)
		case seq == "T":
			b.WriteByte(d.Sub)
		case seq == "R":
			b.WriteByte(d.Repetition)
		case seq == "E":
			b.WriteByte(d.Escape)
		case seq == ".br":
			b.WriteByte('\n')
		case len(seq) > 1 && seq[0] == 'X' && len(seq)%2 == 1:
			for k := 1; k+1 < len(seq); k += 2 {
				if v, err := strconv.ParseUint(seq[k:k+2], 16, 8); err == nil && (v >= 0x20 || v == '\t') {
					b.WriteByte(byte(v))
				}
			}
		}
	}
	return strings.ToValidUTF8(b.String(), "\uFFFD")
}

// escape writes s as field text: the delimiters as escape sequences, line breaks as \.br\
// (HL7 v2.5 2.7.1, 2.7.6), other control characters dropped.
func (d *Delims) escape(s string) string {
	var b strings.Builder
	e := string(d.Escape)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case d.Field:
			b.WriteString(e + "F" + e)
		case d.Component:
			b.WriteString(e + "S" + e)
		case d.Sub:
			b.WriteString(e + "T" + e)
		case d.Repetition:
			b.WriteString(e + "R" + e)
		case d.Escape:
			b.WriteString(e + "E" + e)
		case '\n':
			b.WriteString(e + ".br" + e)
		case '\r':
			if i+1 < len(s) && s[i+1] == '\n' {
				continue
			}
			b.WriteString(e + ".br" + e)
		default:
			if c < 0x20 && c != '\t' {
				continue
			}
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Escape escapes s with the default delimiters.
func Escape(s string) string { return DefaultDelims.escape(s) }

// C is a field of components, each escaped when written.
type C []string

// R is a field of repetitions, each a C.
type R []C

// Builder writes a message with the default delimiters. Field values are string (one
// escaped value), C (components) or R (repetitions of components); nil or "" is empty.
type Builder struct {
	segs []string
}

// Add appends a segment. For "MSH" the first value is MSH-3 (MSH-1 and MSH-2 are written).
func (b *Builder) Add(name string, fields ...any) {
	d := &DefaultDelims
	var s strings.Builder
	s.WriteString(name)
	if name == "MSH" {
		s.WriteString("|^~\\&")
	}
	n := len(fields)
	for n > 0 && isEmpty(fields[n-1]) {
		n--
	}
	for _, f := range fields[:n] {
		s.WriteByte(d.Field)
		switch v := f.(type) {
		case string:
			s.WriteString(d.escape(v))
		case C:
			s.WriteString(joinC(d, v))
		case R:
			for i, c := range v {
				if i > 0 {
					s.WriteByte(d.Repetition)
				}
				s.WriteString(joinC(d, c))
			}
		case nil:
		default:
			panic(fmt.Sprintf("hl7: field of type %T", f))
		}
	}
	b.segs = append(b.segs, s.String())
}

func isEmpty(f any) bool {
	switch v := f.(type) {
	case nil:
		return true
	case string:
		return v == ""
	case C:
		return len(v) == 0
	case R:
		return len(v) == 0
	}
	return false
}

func joinC(d *Delims, c C) string {
	n := len(c)
	for n > 0 && c[n-1] == "" {
		n--
	}
	parts := make([]string, n)
	for i, p := range c[:n] {
		parts[i] = d.escape(p)
	}
	return strings.Join(parts, string(d.Component))
}

// String is the message as UTF-8 text, segments ended by CR.
func (b *Builder) String() string { return strings.Join(b.segs, "\r") + "\r" }

// Encode is the message in the character set cs (which MSH-18 should name).
func (b *Builder) Encode(cs Charset) ([]byte, error) { return encodeText(b.String(), cs) }

// EncodeText encodes a built message's text (Builder.String) in cs.
func EncodeText(s string, cs Charset) ([]byte, error) { return encodeText(s, cs) }

// DecodeText decodes a message's bytes in cs.
func DecodeText(b []byte, cs Charset) (string, error) { return decodeText(b, cs) }
