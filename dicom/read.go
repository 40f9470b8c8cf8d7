package dicom

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"

	sdtag "github.com/suyashkumar/dicom/pkg/tag"
)

// The streaming data element reader behind ReadPart10 and ReadDataset, written from
// PS3.5 Sections 7.1-7.5 (data elements, sequences, items), 8.2 (encapsulated pixel data),
// Annex A (transfer syntaxes) and PS3.10 7.1 (File Meta Information).
//
// Every length read from the stream is checked before anything is allocated from it:
// values above ReadOptions.MaxValueLength are skipped, never loaded; an element that does
// not fit in its enclosing defined-length item or sequence is malformed; a value cut short
// by the end of the stream is malformed.

const (
	defaultMaxValueLength = 64 << 10
	// Structured reports nest a Content Sequence (and a Concept Name Code Sequence in it) per
	// level of their tree: CAD and measurement SRs go past 16. The recursion is bounded by
	// MaxElements and this; 64 levels cost a few kilobytes of stack.
	defaultMaxDepth    = 64
	defaultMaxElements = 100000
	undefinedLength    = 0xFFFFFFFF
	// Values up to this size are read into one exact-size buffer; larger ones (possible
	// only when MaxValueLength is raised) grow with the bytes that actually arrive, so a
	// lying length cannot make the reader allocate what the stream does not hold.
	directReadLimit = 1 << 20
)

func (o ReadOptions) withDefaults() ReadOptions {
	if o.MaxValueLength == 0 {
		o.MaxValueLength = defaultMaxValueLength
	}
	if o.MaxDepth <= 0 {
		o.MaxDepth = defaultMaxDepth
	}
	if o.MaxElements <= 0 {
		o.MaxElements = defaultMaxElements
	}
	return o
}

// VR classes of PS3.5 Table 6.2-1.
var (
	// shortVRs have a 2-byte length in explicit VR syntaxes (PS3.5 7.1.2, Table 7.1-2); every
	// other VR, including ones this code does not know, has 2 reserved bytes and a 4-byte
	// length, which PS3.5 6.2 promises for VRs added in the future.
	shortVRs = map[string]bool{
		"AE": true, "AS": true, "AT": true, "CS": true, "DA": true, "DS": true, "DT": true,
		"FL": true, "FD": true, "IS": true, "LO": true, "LT": true, "PN": true, "SH": true,
		"SL": true, "SS": true, "ST": true, "TM": true, "UI": true, "UL": true, "US": true,
	}
	knownVRs = map[string]bool{
		"AE": true, "AS": true, "AT": true, "CS": true, "DA": true, "DS": true, "DT": true,
		"FL": true, "FD": true, "IS": true, "LO": true, "LT": true, "OB": true, "OD": true,
		"OF": true, "OL": true, "OV": true, "OW": true, "PN": true, "SH": true, "SL": true,
		"SQ": true, "SS": true, "ST": true, "SV": true, "TM": true, "UC": true, "UI": true,
		"UL": true, "UN": true, "UR": true, "US": true, "UT": true, "UV": true,
	}
	textVRs = map[string]bool{
		"AE": true, "AS": true, "CS": true, "DA": true, "DS": true, "DT": true, "IS": true,
		"LO": true, "LT": true, "PN": true, "SH": true, "ST": true, "TM": true, "UC": true,
		"UI": true, "UR": true, "UT": true,
	}
	// numericSize is the size of one value of a binary numeric VR.
	numericSize = map[string]int{
		"US": 2, "SS": 2, "UL": 4, "SL": 4, "FL": 4, "AT": 4, "UV": 8, "SV": 8, "FD": 8,
	}
	// leadingPadVRs may carry leading spaces that are padding, not content (PS3.5 Table
	// 6.2-1: "may be padded with leading and/or trailing spaces"). ST, LT, UT, UC and PN
	// keep leading spaces: only their trailing spaces are insignificant.
	leadingPadVRs = map[string]bool{
		"AE": true, "AS": true, "CS": true, "DA": true, "DS": true, "DT": true, "IS": true,
		"LO": true, "SH": true, "TM": true, "UI": true, "UR": true,
	}
)

// IsTextVR reports whether values of vr are character strings (decoded into
// Element.Strings).
func IsTextVR(vr string) bool { return textVRs[vr] }

// IsNumericVR reports whether values of vr are binary numbers (decoded into Element.Numbers).
func IsNumericVR(vr string) bool { return numericSize[vr] != 0 }

func isVRBytes(b []byte) bool {
	return len(b) >= 2 && b[0] >= 'A' && b[0] <= 'Z' && b[1] >= 'A' && b[1] <= 'Z'
}

func isPixelDataTag(t Tag) bool {
	return t == TagPixelData || t == TagFloatPixelData || t == TagDoubleFloatPixelData
}

// parser reads elements from one stream in one transfer syntax.
type parser struct {
	r        *bufio.Reader
	pos      int64 // bytes consumed from r since the stream (data set or Part-10) began
	opts     ReadOptions
	bo       binary.ByteOrder
	explicit bool

	elements        int
	pixelRep        int   // (0028,0103) of the top-level data set; 0 until read
	pixelDataOffset int64 // offset of the top-level Pixel Data tag, -1 until seen
	charsets        []string
	sawNonMeta      bool // a top-level element of a group other than 0002 was read
}

func newParser(r *bufio.Reader, opts ReadOptions, explicit, bigEndian bool) *parser {
	p := &parser{r: r, opts: opts, explicit: explicit, bo: binary.LittleEndian, pixelDataOffset: -1}
	if bigEndian {
		p.bo = binary.BigEndian
	}
	return p
}

// malformed builds an ErrMalformed error located at a tag and offset.
func malformed(t Tag, off int64, format string, args ...any) error {
	return fmt.Errorf("%w: %s at offset %d: %s", ErrMalformed, t, off, fmt.Sprintf(format, args...))
}

// fail turns a read error into the reader's error: a stream that ends inside an element,
// or a corrupt deflate stream, is malformed data; anything else is an I/O error of r.
func fail(t Tag, off int64, err error) error {
	var corrupt flate.CorruptInputError
	switch {
	case errors.Is(err, ErrMalformed):
		return err
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return malformed(t, off, "stream ends inside the element")
	case errors.As(err, &corrupt), errors.Is(err, zlib.ErrHeader), errors.Is(err, zlib.ErrChecksum), errors.Is(err, zlib.ErrDictionary):
		return malformed(t, off, "bad deflate data: %v", err)
	}
	return fmt.Errorf("read DICOM element %s at offset %d: %w", t, off, err)
}

func (p *parser) read(b []byte) error {
	n, err := io.ReadFull(p.r, b)
	p.pos += int64(n)
	return err
}

func (p *parser) skip(n int64) error {
	for n > 0 {
		chunk := n
		if chunk > 1<<30 {
			chunk = 1 << 30
		}
		m, err := p.r.Discard(int(chunk))
		p.pos += int64(m)
		n -= int64(m)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

func (p *parser) readBytes(n uint32) ([]byte, error) {
	if n <= directReadLimit {
		b := make([]byte, n)
		return b, p.read(b)
	}
	var buf bytes.Buffer
	m, err := io.CopyN(&buf, p.r, int64(n))
	p.pos += m
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return buf.Bytes(), err
}

func (p *parser) tagFrom(b []byte) Tag {
	return Tag(uint32(p.bo.Uint16(b))<<16 | uint32(p.bo.Uint16(b[2:])))
}

func (p *parser) readTag() (Tag, error) {
	var b [4]byte
	if err := p.read(b[:]); err != nil {
		return 0, err
	}
	return p.tagFrom(b[:]), nil
}

func (p *parser) readUint32() (uint32, error) {
	var b [4]byte
	if err := p.read(b[:]); err != nil {
		return 0, err
	}
	return p.bo.Uint32(b[:]), nil
}

// readVRLength reads what follows a tag (PS3.5 7.1.1-7.1.3): VR and length in explicit
// syntaxes, the length alone in implicit ones. Items and delimiters (group FFFE) never
// carry a VR (PS3.5 7.5).
func (p *parser) readVRLength(t Tag, off int64) (string, uint32, error) {
	if t.Group() == 0xFFFE {
		n, err := p.readUint32()
		return "", n, err
	}
	if !p.explicit {
		n, err := p.readUint32()
		return p.implicitVR(t), n, err
	}
	var b [2]byte
	if err := p.read(b[:]); err != nil {
		return "", 0, err
	}
	if !isVRBytes(b[:]) {
		return "", 0, malformed(t, off, "invalid VR bytes %q", b[:])
	}
	vr := string(b[:])
	if shortVRs[vr] {
		if err := p.read(b[:]); err != nil {
			return "", 0, err
		}
		return vr, uint32(p.bo.Uint16(b[:])), nil
	}
	var l [6]byte // 2 reserved bytes, then the 32-bit length (PS3.5 Table 7.1-1)
	if err := p.read(l[:]); err != nil {
		return "", 0, err
	}
	return vr, p.bo.Uint32(l[2:]), nil
}

// pixelRepVRTags are the "US or SS" attributes whose VR in an implicit syntax follows Pixel
// Representation (0028,0103): SS when it is 1 (PS3.5 Annex A.1 and PS3.3 C.7.6.3.1).
// The LUT descriptors, also "US or SS", stay US: their first value is a count that is
// always unsigned, and the renderer interprets the third value itself.
var pixelRepVRTags = map[Tag]bool{
	0x00280104: true, 0x00280105: true, // Smallest/Largest Valid Pixel Value (retired)
	0x00280106: true, 0x00280107: true, // Smallest/Largest Image Pixel Value
	0x00280108: true, 0x00280109: true, // Smallest/Largest Pixel Value in Series
	0x00280110: true, 0x00280111: true, // Smallest/Largest Image Pixel Value in Plane (retired)
	0x00280120: true, 0x00280121: true, // Pixel Padding Value, Pixel Padding Range Limit
	0x00189810: true,                   // Zero Velocity Pixel Value
	0x00221452: true,                   // Mapped Pixel Value
	0x00409211: true, 0x00409216: true, // Real World Value Last/First Value Mapped
	0x00603004: true, 0x00603006: true, // Histogram First/Last Bin Value
}

// implicitVR is the VR of t in an implicit VR syntax, from the data dictionary (PS3.6).
func (p *parser) implicitVR(t Tag) string {
	if t.IsPrivate() {
		switch e := t.Element(); {
		case e == 0:
			return "UL" // group length
		case e >= 0x10 && e <= 0xff:
			return "LO" // Private Creator (PS3.5 7.8.1)
		}
		return "UN"
	}
	info, ok := LookupTag(t)
	if !ok {
		// Repeating groups 50xx (curves, retired) and 60xx (overlays): the dictionary
		// lists only the first group (PS3.6 Section 6, note on "xx").
		if g := t.Group(); g&0xff00 == 0x5000 || g&0xff00 == 0x6000 {
			info, ok = LookupTag(NewTag(g&0xff00, t.Element()))
		}
		if !ok {
			return "UN"
		}
	}
	switch info.VR {
	case "OB":
		// "OB or OW" attributes (Pixel Data, Overlay Data, ...) are OW in implicit VR
		// syntaxes (PS3.5 Annex A.1, 8.1.2).
		if e, err := sdtag.Find(sdtag.Tag{Group: info.Tag.Group(), Element: info.Tag.Element()}); err == nil {
			for _, vr := range e.VRs {
				if vr == "OW" {
					return "OW"
				}
			}
		}
	case "US":
		if p.pixelRep == 1 && pixelRepVRTags[t] {
			return "SS"
		}
	}
	return info.VR
}

// readElements reads the elements of a data set into ds: the top-level data set when top
// is true (it ends at a clean end of stream, or before Pixel Data), else one item, which
// ends at end (a defined-length item) or at its Item Delimitation Item (end < 0).
// limit is the end of the tightest enclosing defined-length container (-1: none); no
// element may reach past it.
func (p *parser) readElements(ds *Dataset, end, limit int64, depth int, dec *Decoder, top bool) error {
	for {
		if end >= 0 {
			if p.pos == end {
				return nil
			}
			if p.pos > end {
				return malformed(0, p.pos, "item content overruns the item length")
			}
		}
		off := p.pos
		var t Tag
		if top {
			// Peek so that a *bufio.Reader given by the caller is left on the Pixel Data tag.
			b, err := p.r.Peek(4)
			if len(b) == 0 && err == io.EOF {
				return nil
			}
			if len(b) < 4 {
				if err == nil || err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return fail(0, off, err)
			}
			t = p.tagFrom(b)
			if isPixelDataTag(t) {
				if p.pixelDataOffset < 0 {
					p.pixelDataOffset = off
				}
				if !p.opts.KeepPixelData {
					return nil
				}
			}
			if _, err := p.r.Discard(4); err != nil {
				return fail(t, off, err)
			}
			p.pos += 4
		} else {
			var err error
			if t, err = p.readTag(); err != nil {
				return fail(t, off, err)
			}
		}
		vr, length, err := p.readVRLength(t, off)
		if err != nil {
			return fail(t, off, err)
		}
		switch t {
		case TagItemDelimitationItem:
			if !top && end < 0 {
				return nil
			}
			return malformed(t, off, "item delimiter outside an undefined-length item")
		case TagSequenceDelimitationItem:
			if top {
				// A stray delimiter after a sequence written with both a length and a
				// delimiter; it carries nothing, so skip it as DCMTK does.
				continue
			}
			return malformed(t, off, "sequence delimiter inside an item")
		case TagItem:
			return malformed(t, off, "item outside a sequence")
		}
		if top && t.Group() == 0x0002 && p.sawNonMeta {
			// PS3.10 7.1: File Meta Information comes first and only there.
			return malformed(t, off, "group 0002 element after the data set began")
		}
		if top && t.Group() != 0x0002 {
			p.sawNonMeta = true
		}
		p.elements++
		if p.elements > p.opts.MaxElements {
			return malformed(t, off, "more than %d elements", p.opts.MaxElements)
		}
		e := &Element{Tag: t, VR: vr, Length: length, Offset: p.pos}
		if err := p.readValue(e, depth, limit, dec); err != nil {
			return err
		}
		ds.Elements = append(ds.Elements, e)
		switch {
		case t == TagSpecificCharacterSet:
			// Later text in this data set (and the items below it) is in this character
			// set; an item's own (0008,0005) applies within that item only.
			dec, _ = NewDecoderWithFallback(e.Strings, p.opts.FallbackCharset)
			if top {
				p.charsets = e.Strings
			}
		case top && t == TagPixelRepresentation && len(e.Numbers) > 0:
			p.pixelRep = int(e.Numbers[0])
		}
	}
}

// readValue reads the value of e, whose header has been read.
func (p *parser) readValue(e *Element, depth int, limit int64, dec *Decoder) error {
	if e.Length == undefinedLength {
		switch {
		case e.VR == "SQ":
			return p.readSequence(e, depth, limit, dec)
		case e.VR == "UN" && p.explicit:
			// PS3.5 6.2.2: a UN value of undefined length is a sequence encoded in
			// Implicit VR Little Endian, whatever the transfer syntax.
			saveBO, saveExplicit := p.bo, p.explicit
			p.bo, p.explicit = binary.LittleEndian, false
			err := p.readSequence(e, depth, limit, dec)
			p.bo, p.explicit = saveBO, saveExplicit
			e.VR = "SQ"
			return err
		case isPixelDataTag(e.Tag) || e.VR == "OB" || e.VR == "OW":
			// Encapsulated pixel data (PS3.5 A.4), e.g. an icon image in a nested item.
			return p.skipFragments(e, limit)
		case !p.explicit:
			// Implicit VR: only sequences have undefined length (PS3.5 7.5.1), whatever
			// the dictionary says about the tag (private tags are UN there).
			e.VR = "SQ"
			return p.readSequence(e, depth, limit, dec)
		}
		return malformed(e.Tag, e.Offset, "undefined length with VR %s", e.VR)
	}
	if limit >= 0 && p.pos+int64(e.Length) > limit {
		return malformed(e.Tag, e.Offset, "value length %d exceeds its enclosing item", e.Length)
	}
	if e.VR == "SQ" {
		return p.readSequence(e, depth, limit, dec)
	}
	if e.Length > p.opts.MaxValueLength {
		if err := p.skip(int64(e.Length)); err != nil {
			return fail(e.Tag, e.Offset, err)
		}
		return nil
	}
	raw, err := p.readBytes(e.Length)
	if err != nil {
		return fail(e.Tag, e.Offset, err)
	}
	p.setValue(e, raw, dec)
	return nil
}

// readSequence reads the items of a sequence (PS3.5 7.5.1, Tables 7.5-1 to 7.5-3).
func (p *parser) readSequence(e *Element, depth int, limit int64, dec *Decoder) error {
	if depth+1 > p.opts.MaxDepth {
		return malformed(e.Tag, e.Offset, "sequences nested deeper than %d", p.opts.MaxDepth)
	}
	end := int64(-1)
	if e.Length != undefinedLength {
		end = p.pos + int64(e.Length)
		limit = end
	}
	for {
		if end >= 0 {
			if p.pos == end {
				return nil
			}
			if p.pos > end {
				return malformed(e.Tag, e.Offset, "items overrun the sequence length %d", e.Length)
			}
		}
		off := p.pos
		t, err := p.readTag()
		if err != nil {
			return fail(e.Tag, off, err)
		}
		n, err := p.readUint32()
		if err != nil {
			return fail(t, off, err)
		}
		switch t {
		case TagSequenceDelimitationItem:
			if end < 0 {
				return nil
			}
			return malformed(t, off, "sequence delimiter in a defined-length sequence %s", e.Tag)
		case TagItem:
		default:
			return malformed(t, off, "expected an item in sequence %s", e.Tag)
		}
		p.elements++
		if p.elements > p.opts.MaxElements {
			return malformed(t, off, "more than %d elements", p.opts.MaxElements)
		}
		itemEnd, itemLimit := int64(-1), limit
		if n != undefinedLength {
			itemEnd = p.pos + int64(n)
			if limit >= 0 && itemEnd > limit {
				return malformed(t, off, "item length %d exceeds sequence %s", n, e.Tag)
			}
			itemLimit = itemEnd
		}
		item := &Dataset{}
		if err := p.readElements(item, itemEnd, itemLimit, depth+1, dec, false); err != nil {
			return err
		}
		e.Items = append(e.Items, item)
	}
}

// skipFragments passes over encapsulated pixel data: an offset table item and fragment
// items of defined length, then a sequence delimiter (PS3.5 A.4, Table A.4-1).
func (p *parser) skipFragments(e *Element, limit int64) error {
	for {
		off := p.pos
		t, err := p.readTag()
		if err != nil {
			return fail(e.Tag, off, err)
		}
		n, err := p.readUint32()
		if err != nil {
			return fail(e.Tag, off, err)
		}
		switch {
		case t == TagSequenceDelimitationItem:
			return nil
		case t != TagItem:
			return malformed(t, off, "expected a fragment item in %s", e.Tag)
		case n == undefinedLength:
			return malformed(t, off, "fragment of undefined length in %s", e.Tag)
		case limit >= 0 && p.pos+int64(n) > limit:
			return malformed(t, off, "fragment length %d exceeds its enclosing item", n)
		}
		if err := p.skip(int64(n)); err != nil {
			return fail(e.Tag, off, err)
		}
	}
}

// setValue decodes a loaded value by VR into Strings, Numbers or Bytes.
func (p *parser) setValue(e *Element, raw []byte, dec *Decoder) {
	if len(raw) == 0 {
		return
	}
	switch {
	case textVRs[e.VR]:
		e.Strings = splitText(dec.Decode(raw, e.VR), e.VR)
	case numericSize[e.VR] != 0:
		e.Numbers = parseNumbers(raw, e.VR, p.bo)
	default:
		e.Bytes = raw
	}
}

// splitText splits a decoded value on '\' (PS3.5 6.4) except for the single-valued LT, ST,
// UT and UR, and trims padding: trailing spaces (and NULs, which some writers pad UI and
// other strings with), and leading spaces where Table 6.2-1 calls them padding.
// An element holding only padding gives [""]: loaded, but empty.
func splitText(s, vr string) []string {
	var parts []string
	if singleValuedText(vr) {
		parts = []string{s}
	} else {
		parts = strings.Split(s, `\`)
	}
	lead := leadingPadVRs[vr]
	for i, v := range parts {
		v = strings.TrimRight(v, " \x00")
		if lead {
			v = strings.TrimLeft(v, " ")
		}
		parts[i] = v
	}
	return parts
}

// parseNumbers decodes binary numbers in the syntax's byte order. A trailing partial value
// (a length that is not a multiple of the VR's size, which PS3.5 forbids) is ignored.
func parseNumbers(raw []byte, vr string, bo binary.ByteOrder) []float64 {
	size := numericSize[vr]
	out := make([]float64, 0, len(raw)/size)
	for i := 0; i+size <= len(raw); i += size {
		b := raw[i : i+size]
		var v float64
		switch vr {
		case "US":
			v = float64(bo.Uint16(b))
		case "SS":
			v = float64(int16(bo.Uint16(b)))
		case "UL":
			v = float64(bo.Uint32(b))
		case "SL":
			v = float64(int32(bo.Uint32(b)))
		case "FL":
			v = float64(math.Float32frombits(bo.Uint32(b)))
		case "FD":
			v = math.Float64frombits(bo.Uint64(b))
		case "UV":
			v = float64(bo.Uint64(b))
		case "SV":
			v = float64(int64(bo.Uint64(b)))
		case "AT":
			// PS3.5 6.2: a pair of 16-bit values, group then element, each in the
			// syntax's byte order.
			v = float64(uint32(bo.Uint16(b))<<16 | uint32(bo.Uint16(b[2:])))
		}
		out = append(out, v)
	}
	return out
}

// readTopLevel reads a whole top-level data set.
func (p *parser) readTopLevel() (*Dataset, error) {
	ds := &Dataset{}
	var dec *Decoder // the default repertoire until (0008,0005) says otherwise
	if p.opts.FallbackCharset != "" {
		dec, _ = NewDecoderWithFallback(nil, p.opts.FallbackCharset)
	}
	if err := p.readElements(ds, -1, -1, 0, dec, true); err != nil {
		return nil, err
	}
	return ds, nil
}

// bufPool recycles read buffers: a header is small, but ingest reads one per object.
// Values are always copied out of the buffer (readBytes), so nothing returned to the
// caller aliases a pooled buffer.
var bufPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 32<<10) }}

// newBufReader wraps r for reading and returns the function that releases the buffer; a
// *bufio.Reader with room to peek a preamble is used as is, so that its position after
// reading is exact.
func newBufReader(r io.Reader) (*bufio.Reader, func()) {
	if br, ok := r.(*bufio.Reader); ok && br.Size() >= 256 {
		return br, func() {}
	}
	br := bufPool.Get().(*bufio.Reader)
	br.Reset(r)
	return br, func() {
		br.Reset(nil)
		bufPool.Put(br)
	}
}

// inflater returns the data set stream of a deflated syntax: raw deflate (RFC 1951) per
// PS3.5 A.5. Some writers wrap it in a zlib header (RFC 1950); that is accepted too.
func inflater(br *bufio.Reader, off int64) (*bufio.Reader, error) {
	b, _ := br.Peek(2)
	var r io.Reader
	if len(b) == 2 && b[0]&0x0f == 8 && b[0]>>4 <= 7 && (uint16(b[0])<<8|uint16(b[1]))%31 == 0 {
		zr, err := zlib.NewReader(br)
		if err != nil {
			return nil, fail(0, off, err)
		}
		r = zr
	} else {
		r = flate.NewReader(br)
	}
	return bufio.NewReaderSize(r, 32<<10), nil
}

// guessSyntax tells Implicit from Explicit VR Little Endian by the bytes after the first
// tag: two upper-case letters naming a VR mean explicit. Used when no meta says.
func guessSyntax(br *bufio.Reader) string {
	b, _ := br.Peek(6)
	if len(b) == 6 && knownVRs[string(b[4:6])] {
		return ExplicitVRLittleEndian
	}
	return ImplicitVRLittleEndian
}

// readMeta reads the File Meta Information (PS3.10 7.1), always Explicit VR Little Endian.
// It reads group 0002 elements by their tags rather than trusting the group length
// (0002,0000), which some writers get wrong: the group ends at the first tag of another
// group. The group length is used only for deflated data sets, whose compressed bytes could
// begin like a group 0002 tag, when it points exactly at an element boundary.
func readMeta(p *parser) (*Dataset, error) {
	meta := &Dataset{}
	groupEnd := int64(-1)
	for {
		off := p.pos
		b, err := p.r.Peek(6)
		if len(b) < 4 {
			if len(b) == 0 && err == io.EOF {
				return meta, nil
			}
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, fail(0, off, err)
		}
		t := Tag(uint32(binary.LittleEndian.Uint16(b))<<16 | uint32(binary.LittleEndian.Uint16(b[2:])))
		if t.Group() != 0x0002 {
			return meta, nil
		}
		if off == groupEnd {
			if ts, ok := LookupTransferSyntax(meta.String(TagTransferSyntaxUID)); ok && ts.Deflated {
				return meta, nil
			}
		}
		// Some writers encode the meta in Implicit VR; read such an element implicitly.
		p.explicit = isVRBytes(b[4:])
		p.pos += 4
		if _, err := p.r.Discard(4); err != nil {
			return nil, fail(t, off, err)
		}
		vr, length, err := p.readVRLength(t, off)
		p.explicit = true
		if err != nil {
			return nil, fail(t, off, err)
		}
		p.elements++
		if p.elements > p.opts.MaxElements {
			return nil, malformed(t, off, "more than %d elements", p.opts.MaxElements)
		}
		e := &Element{Tag: t, VR: vr, Length: length, Offset: p.pos}
		if err := p.readValue(e, 0, -1, nil); err != nil {
			return nil, err
		}
		meta.Elements = append(meta.Elements, e)
		if t == TagFileMetaInformationGroupLength && len(e.Numbers) == 1 {
			groupEnd = p.pos + int64(e.Numbers[0])
		}
	}
}

func readPart10(r io.Reader, opts ReadOptions) (*Header, error) {
	opts = opts.withDefaults()
	br, release := newBufReader(r)
	defer release()
	raw := newParser(br, opts, true, false)
	h := &Header{Meta: &Dataset{}, PixelDataOffset: -1}

	b, err := br.Peek(132)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return nil, fmt.Errorf("read DICOM preamble: %w", err)
	}
	isMetaTag := func(b []byte) bool { return len(b) >= 4 && b[0] == 0x02 && b[1] == 0x00 }
	switch {
	case len(b) >= 132 && string(b[128:132]) == "DICM":
		// PS3.10 7.1: 128-byte preamble and the "DICM" prefix.
		if err := raw.skip(132); err != nil {
			return nil, fail(0, 0, err)
		}
		if h.Meta, err = readMeta(raw); err != nil {
			return nil, err
		}
	case isMetaTag(b):
		// No preamble: the stream starts with the meta itself.
		if h.Meta, err = readMeta(raw); err != nil {
			return nil, err
		}
	case len(b) >= 8 && b[0]%2 == 0 && binary.LittleEndian.Uint16(b) >= 0x0004 && binary.LittleEndian.Uint16(b) != 0xFFFE:
		// A bare data set (no preamble, no meta), as some tools write: guessed below.
	case len(b) == 0:
		return nil, fmt.Errorf("%w: empty stream", ErrMalformed)
	default:
		return nil, fmt.Errorf("%w: not a DICOM stream (no DICM prefix, no File Meta Information, no recognisable data set)", ErrMalformed)
	}
	h.DatasetOffset = raw.pos

	uid := h.Meta.String(TagTransferSyntaxUID)
	ts, known := LookupTransferSyntax(uid)
	if !known {
		// No (0002,0010), or a syntax this table does not list: every syntax but the
		// three native ones and deflate encodes the data set in Explicit VR Little Endian
		// (PS3.5 A.4), but a missing or odd meta deserves a look at the bytes.
		guess := guessSyntax(br)
		ts, _ = LookupTransferSyntax(guess)
		if uid == "" {
			uid = guess
		}
	}
	h.TransferSyntax = uid

	dr := br
	if ts.Deflated {
		if dr, err = inflater(br, raw.pos); err != nil {
			return nil, err
		}
	}
	p := newParser(dr, opts, ts.ExplicitVR, ts.BigEndian)
	ds, err := p.readTopLevel()
	if err != nil {
		return nil, err
	}
	h.Dataset = ds
	h.PixelDataOffset = p.pixelDataOffset
	h.Charsets = p.charsets
	return h, nil
}

func readDataset(r io.Reader, uid string, opts ReadOptions) (*Dataset, error) {
	opts = opts.withDefaults()
	br, release := newBufReader(r)
	defer release()
	ts, ok := LookupTransferSyntax(uid)
	if !ok {
		// "" or a syntax missing from the table (a newer compressed one, say): its data
		// set is Explicit VR Little Endian (PS3.5 A.4) unless the bytes say otherwise.
		ts, _ = LookupTransferSyntax(guessSyntax(br))
	}
	var err error
	if ts.Deflated {
		if br, err = inflater(br, 0); err != nil {
			return nil, err
		}
	}
	return newParser(br, opts, ts.ExplicitVR, ts.BigEndian).readTopLevel()
}
