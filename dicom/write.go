package dicom

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// FileMeta is the content of the File Meta Information pacsd writes (PS3.10 7.1).
type FileMeta struct {
	SOPClassUID       string
	SOPInstanceUID    string
	TransferSyntaxUID string
	SourceAETitle     string // optional, (0002,0016)
}

// WriteFileMeta writes the 128-byte preamble, "DICM" and the File Meta Information group
// (Explicit VR Little Endian, with its group length) that turns a bare data set received
// over DIMSE into a Part-10 stream. It returns the bytes written.
//
// UIDs may arrive from a peer with their own padding (a trailing NUL or space); that padding
// is dropped and re-applied. A UID that breaks PS3.5 9.1 is refused (CheckUID): a Part-10
// file naming it could not be indexed or sent on. Leading zeros in components are tolerated
// (UIDLeadingZeros), since modalities in the field produce them and refusing the object
// would lose the image.
func WriteFileMeta(w io.Writer, m FileMeta) (int64, error) {
	for _, f := range []struct{ name, uid string }{
		{"Media Storage SOP Class UID", m.SOPClassUID},
		{"Media Storage SOP Instance UID", m.SOPInstanceUID},
		{"Transfer Syntax UID", m.TransferSyntaxUID},
	} {
		if err := CheckUID(TrimUID(f.uid), UIDLeadingZeros); err != nil {
			return 0, fmt.Errorf("file meta: %s: %w", f.name, err)
		}
	}
	ae := strings.TrimSpace(m.SourceAETitle)
	if err := checkAE(ae); err != nil {
		return 0, fmt.Errorf("file meta: Source Application Entity Title: %w", err)
	}

	// The group is built first because (0002,0000) must carry its length (PS3.10 7.1).
	var group bytes.Buffer
	enc := &Encoder{w: &group, ts: TransferSyntax{UID: ExplicitVRLittleEndian, ExplicitVR: true}, meta: true}
	// PS3.10 7.1: version 00 01 (OB, two bytes).
	enc.WriteElement(TagFileMetaInformationVersion, "OB", []byte{0x00, 0x01})
	enc.WriteString(TagMediaStorageSOPClassUID, "UI", TrimUID(m.SOPClassUID))
	enc.WriteString(TagMediaStorageSOPInstanceUID, "UI", TrimUID(m.SOPInstanceUID))
	enc.WriteString(TagTransferSyntaxUID, "UI", TrimUID(m.TransferSyntaxUID))
	enc.WriteString(TagImplementationClassUID, "UI", ImplementationClassUID)
	enc.WriteString(TagImplementationVersionName, "SH", ImplementationVersionName)
	if ae != "" {
		enc.WriteString(TagSourceApplicationEntityTitle, "AE", ae)
	}
	if err := enc.Err(); err != nil {
		return 0, fmt.Errorf("file meta: %w", err)
	}

	var head bytes.Buffer
	head.Write(make([]byte, 128)) // PS3.10 7.1: preamble; zeros when not used by an application profile
	head.WriteString("DICM")
	lenEnc := &Encoder{w: &head, ts: enc.ts, meta: true}
	lenEnc.WriteUint32(TagFileMetaInformationGroupLength, "UL", uint32(group.Len()))
	if err := lenEnc.Err(); err != nil {
		return 0, fmt.Errorf("file meta: %w", err)
	}
	n, err := w.Write(head.Bytes())
	if err != nil {
		return int64(n), fmt.Errorf("file meta: write preamble: %w", err)
	}
	m2, err := w.Write(group.Bytes())
	if err != nil {
		return int64(n + m2), fmt.Errorf("file meta: write group 0002: %w", err)
	}
	return int64(n + m2), nil
}

// checkAE applies the AE rules of PS3.5 6.2 (at most 16 characters, no backslash, no
// control characters) to a trimmed AE title. An empty title is allowed (element omitted).
func checkAE(ae string) error {
	if len(ae) > 16 {
		return fmt.Errorf("AE title %q longer than 16 characters", ae)
	}
	for i := 0; i < len(ae); i++ {
		if c := ae[i]; c < 0x20 || c == '\\' || c > 0x7E {
			return fmt.Errorf("AE title %q has character %q", ae, c)
		}
	}
	return nil
}

// Encoder writes data elements in one transfer syntax (Implicit/Explicit VR LE, Explicit VR
// BE, and Deflated Explicit VR LE, whose data set it deflates itself (PS3.5 A.5: a raw
// deflate stream, finished by Close); encapsulated pixel data: WriteEncapsulatedPixelData).
// Values are given already encoded (text in the target character set, see EncodeText);
// odd lengths are padded as PS3.5 7.1 requires (space for text VRs, NUL for UI and binary).
//
// Binary values are always given in little-endian byte order. For Explicit VR Big Endian
// the encoder swaps them by VR: 2-byte units for US, SS, OW and AT (a tag is two uint16s),
// 4-byte units for UL, SL, FL, OF, OL, 8-byte units for FD, OD, OV, SV, UV. OB, UN and the
// text VRs are byte streams and are never swapped (PS3.5 7.3).
//
// Elements must be written in ascending tag order within each data set or item (PS3.5 7.1);
// the encoder refuses anything else, and File Meta Information elements (group 0002, which
// belong to WriteFileMeta). The first error sticks: later calls do nothing and Err reports it.
type Encoder struct {
	w   io.Writer
	ts  TransferSyntax
	err error

	meta  bool  // writing group 0002 for WriteFileMeta
	last  []Tag // last tag written at each nesting level; [0] is the top-level data set
	wrote []bool
	open  []openKind // sequences and items opened and not yet closed, innermost last
	buf   [12]byte

	deflate *flate.Writer // Deflated Explicit VR LE: the stream Close finishes
}

type openKind uint8

const (
	openSequence openKind = iota + 1
	openItem
)

// NewEncoder returns an encoder for transfer syntax ts. Encapsulated (compressed) syntaxes
// are accepted: their data set is Explicit VR Little Endian and Pixel Data goes through
// WriteEncapsulatedPixelData. For Deflated Explicit VR Little Endian w must already be the
// raw deflate writer (compress/flate; PS3.5 A.5): the encoder writes Explicit VR LE into it.
// Unknown transfer syntaxes are refused, since their encoding cannot be known.
func NewEncoder(w io.Writer, ts string) (*Encoder, error) {
	t, ok := LookupTransferSyntax(TrimUID(ts))
	if !ok {
		return nil, fmt.Errorf("new encoder: unknown transfer syntax %q", ts)
	}
	if t.Deflated {
		fw, err := flate.NewWriter(w, flate.DefaultCompression)
		if err != nil {
			return nil, fmt.Errorf("new encoder: %w", err)
		}
		return &Encoder{w: fw, ts: t, deflate: fw}, nil
	}
	return &Encoder{w: w, ts: t}, nil
}

// Err returns the first error the encoder met, or nil.
func (e *Encoder) Err() error { return e.err }

// encVR is what the encoder needs to know of a VR (PS3.5 Table 6.2-1 and 7.1-1).
type encVR struct {
	long bool  // explicit VR uses the reserved field and a 4-byte length (PS3.5 7.1.2)
	odd  bool  // odd lengths are padded (with pad) rather than refused
	pad  byte  // PS3.5 6.2: space for text VRs, NUL for UI, OB and UN
	swap uint8 // unit size for byte swapping in big endian; 0: none
}

var (
	vrText     = encVR{odd: true, pad: ' '}
	vrLongText = encVR{long: true, odd: true, pad: ' '}
)

var encVRs = map[string]encVR{
	"AE": vrText, "AS": vrText, "CS": vrText, "DA": vrText, "DS": vrText, "DT": vrText, "IS": vrText,
	"LO": vrText, "LT": vrText, "PN": vrText, "SH": vrText, "ST": vrText, "TM": vrText,
	"UC": vrLongText, "UR": vrLongText, "UT": vrLongText,
	"UI": {odd: true, pad: 0x00},
	"OB": {long: true, odd: true, pad: 0x00}, "UN": {long: true, odd: true, pad: 0x00},
	"US": {swap: 2}, "SS": {swap: 2}, "AT": {swap: 2},
	"UL": {swap: 4}, "SL": {swap: 4}, "FL": {swap: 4},
	"FD": {swap: 8},
	"OW": {long: true, swap: 2}, "OF": {long: true, swap: 4}, "OL": {long: true, swap: 4},
	"OD": {long: true, swap: 8}, "OV": {long: true, swap: 8},
	"SV": {long: true, swap: 8}, "UV": {long: true, swap: 8},
	"SQ": {long: true},
}

func (e *Encoder) fail(err error) {
	if e.err == nil {
		e.err = err
	}
}

func (e *Encoder) write(p []byte) {
	if e.err != nil {
		return
	}
	if _, err := e.w.Write(p); err != nil {
		e.err = fmt.Errorf("encoder: write: %w", err)
	}
}

func (e *Encoder) putUint16(b []byte, v uint16) {
	if e.ts.BigEndian {
		binary.BigEndian.PutUint16(b, v)
	} else {
		binary.LittleEndian.PutUint16(b, v)
	}
}

func (e *Encoder) putUint32(b []byte, v uint32) {
	if e.ts.BigEndian {
		binary.BigEndian.PutUint32(b, v)
	} else {
		binary.LittleEndian.PutUint32(b, v)
	}
}

// order checks PS3.5 7.1 ascending tag order at the current nesting level and records tag.
func (e *Encoder) order(tag Tag) bool {
	if e.err != nil {
		return false
	}
	if tag.Group() == 0x0002 && !e.meta {
		e.fail(fmt.Errorf("encoder: %s: File Meta Information belongs to WriteFileMeta (PS3.10 7.1)", tag))
		return false
	}
	if tag.Group() == 0xFFFE {
		e.fail(fmt.Errorf("encoder: %s: item and delimitation tags are written by BeginItem/EndItem/EndSequence", tag))
		return false
	}
	if len(e.open) > 0 && e.open[len(e.open)-1] == openSequence {
		e.fail(fmt.Errorf("encoder: %s: element inside a sequence but outside an item (call BeginItem)", tag))
		return false
	}
	lvl := e.level()
	for len(e.last) <= lvl {
		e.last = append(e.last, 0)
		e.wrote = append(e.wrote, false)
	}
	if e.wrote[lvl] && tag <= e.last[lvl] {
		e.fail(fmt.Errorf("encoder: %s written after %s: tags must ascend (PS3.5 7.1)", tag, e.last[lvl]))
		return false
	}
	e.last[lvl], e.wrote[lvl] = tag, true
	return true
}

// level is the data set nesting level: 0 for the top level, +1 per open item.
func (e *Encoder) level() int {
	n := 0
	for _, k := range e.open {
		if k == openItem {
			n++
		}
	}
	return n
}

// header writes tag, VR (explicit syntaxes) and length in the forms of PS3.5 7.1.1-7.1.3.
func (e *Encoder) header(tag Tag, vr string, long bool, length uint32) {
	b := e.buf[:]
	e.putUint16(b[0:], tag.Group())
	e.putUint16(b[2:], tag.Element())
	if !e.ts.ExplicitVR {
		e.putUint32(b[4:], length) // PS3.5 7.1.3: implicit VR, always a 4-byte length
		e.write(b[:8])
		return
	}
	b[4], b[5] = vr[0], vr[1]
	if long {
		// PS3.5 7.1.2, Table 7.1-1: two reserved zero bytes, then a 4-byte length.
		b[6], b[7] = 0, 0
		e.putUint32(b[8:], length)
		e.write(b[:12])
		return
	}
	e.putUint16(b[6:], uint16(length)) // PS3.5 7.1.2, Table 7.1-2
	e.write(b[:8])
}

// WriteElement writes one element whose value is already encoded (text in the target
// character set; binary little-endian, swapped here for big endian). Odd-length values of
// text VRs are padded with a space, of UI, OB and UN with a NUL; an odd length for any
// other VR, or a length that is not a multiple of the VR's unit size, is an error. SQ is
// refused: use BeginSequence.
func (e *Encoder) WriteElement(tag Tag, vr string, value []byte) {
	info, n, ok := e.begin(tag, vr, uint64(len(value)))
	if !ok {
		return
	}
	if e.ts.BigEndian && info.swap > 0 {
		e.write(swapped(value, int(info.swap)))
	} else {
		e.write(value)
	}
	if n != uint32(len(value)) {
		e.write([]byte{info.pad})
	}
}

// WriteElementFrom writes an element whose value is read from r: exactly length bytes,
// little-endian like WriteElement's, padded and swapped the same way. It lets large values
// (Pixel Data) go from a file or generator to w without being held in memory. A short read
// is an error; the stream written so far is then unusable.
func (e *Encoder) WriteElementFrom(tag Tag, vr string, length uint32, r io.Reader) {
	info, n, ok := e.begin(tag, vr, uint64(length))
	if !ok {
		return
	}
	unit := 1
	if e.ts.BigEndian && info.swap > 0 {
		unit = int(info.swap)
	}
	buf := make([]byte, 64<<10) // a multiple of every unit size
	for left := int64(length); left > 0 && e.err == nil; {
		chunk := buf
		if int64(len(chunk)) > left {
			chunk = chunk[:left]
		}
		if _, err := io.ReadFull(r, chunk); err != nil {
			e.fail(fmt.Errorf("encoder: %s: read value: %w", tag, err))
			return
		}
		if unit > 1 {
			swapInPlace(chunk, unit)
		}
		e.write(chunk)
		left -= int64(len(chunk))
	}
	if n != length {
		e.write([]byte{info.pad})
	}
}

// begin validates an element of the given unpadded value length, checks tag order and
// writes its header. It returns the VR facts and the padded length.
func (e *Encoder) begin(tag Tag, vr string, length uint64) (encVR, uint32, bool) {
	if e.err != nil {
		return encVR{}, 0, false
	}
	info, ok := encVRs[vr]
	if !ok {
		e.fail(fmt.Errorf("encoder: %s: unknown VR %q", tag, vr))
		return info, 0, false
	}
	if vr == "SQ" {
		e.fail(fmt.Errorf("encoder: %s: sequences are written with BeginSequence", tag))
		return info, 0, false
	}
	if tag == TagPixelData && e.ts.Encapsulated && len(e.open) == 0 {
		// PS3.5 A.4: in an encapsulated syntax top-level Pixel Data is always encapsulated.
		e.fail(fmt.Errorf("encoder: native Pixel Data in %s; use WriteEncapsulatedPixelData", e.ts.Name))
		return info, 0, false
	}
	n := length
	if n%2 == 1 {
		if !info.odd {
			e.fail(fmt.Errorf("encoder: %s %s: odd value length %d", tag, vr, n))
			return info, 0, false
		}
		n++
	}
	if info.swap > 0 && length%uint64(info.swap) != 0 {
		e.fail(fmt.Errorf("encoder: %s %s: value length %d is not a multiple of %d", tag, vr, length, info.swap))
		return info, 0, false
	}
	if n > 0xFFFFFFFE { // 0xFFFFFFFF means undefined length (PS3.5 7.1.1)
		e.fail(fmt.Errorf("encoder: %s: value too long (%d bytes)", tag, n))
		return info, 0, false
	}
	if e.ts.ExplicitVR && !info.long && n > 0xFFFF {
		e.fail(fmt.Errorf("encoder: %s %s: value of %d bytes does not fit the 16-bit length of this VR (PS3.5 7.1.2)", tag, vr, n))
		return info, 0, false
	}
	if !e.order(tag) {
		return info, 0, false
	}
	e.header(tag, vr, info.long, uint32(n))
	return info, uint32(n), e.err == nil
}

// swapped returns a copy of v with each unit-byte group reversed.
func swapped(v []byte, unit int) []byte {
	out := make([]byte, len(v))
	copy(out, v)
	swapInPlace(out, unit)
	return out
}

// swapInPlace reverses each unit-byte group of v (little <-> big endian).
func swapInPlace(v []byte, unit int) {
	for i := 0; i+unit <= len(v); i += unit {
		for a, b := i, i+unit-1; a < b; a, b = a+1, b-1 {
			v[a], v[b] = v[b], v[a]
		}
	}
}

// WriteString writes a text value (already in the target character set; several values
// joined with '\' by the caller).
func (e *Encoder) WriteString(tag Tag, vr string, s string) {
	e.WriteElement(tag, vr, []byte(s))
}

// WriteUint16 writes US, SS, OW or AT values (AT as group, element pairs).
func (e *Encoder) WriteUint16(tag Tag, vr string, v ...uint16) {
	b := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(b[2*i:], x)
	}
	e.WriteElement(tag, vr, b)
}

// WriteUint32 writes UL, SL, OL or FL (as IEEE bits) values.
func (e *Encoder) WriteUint32(tag Tag, vr string, v ...uint32) {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], x)
	}
	e.WriteElement(tag, vr, b)
}

// writeUndefinedLength marks sequences and items closed by delimitation items (PS3.5 7.5.1).
const writeUndefinedLength = 0xFFFFFFFF

// BeginSequence opens a sequence of undefined length (PS3.5 7.5.1); write its items with
// BeginItem/EndItem and close it with EndSequence.
func (e *Encoder) BeginSequence(tag Tag) {
	if !e.order(tag) {
		return
	}
	e.header(tag, "SQ", true, writeUndefinedLength)
	e.open = append(e.open, openSequence)
}

// itemHeader writes an item or delimitation tag with its length. These carry no VR in any
// transfer syntax, and follow the syntax's byte order (PS3.5 7.5).
func (e *Encoder) itemHeader(tag Tag, length uint32) {
	b := e.buf[:8]
	e.putUint16(b[0:], tag.Group())
	e.putUint16(b[2:], tag.Element())
	e.putUint32(b[4:], length)
	e.write(b)
}

// BeginItem opens an item of undefined length in the innermost open sequence.
func (e *Encoder) BeginItem() {
	if e.err != nil {
		return
	}
	if len(e.open) == 0 || e.open[len(e.open)-1] != openSequence {
		e.fail(errors.New("encoder: BeginItem outside a sequence"))
		return
	}
	e.itemHeader(TagItem, writeUndefinedLength)
	e.open = append(e.open, openItem)
	lvl := e.level()
	for len(e.last) <= lvl {
		e.last = append(e.last, 0)
		e.wrote = append(e.wrote, false)
	}
	e.wrote[lvl] = false // a new item starts its own tag order
}

// EndItem closes the current item with an Item Delimitation Item (PS3.5 7.5.2).
func (e *Encoder) EndItem() {
	if e.err != nil {
		return
	}
	if len(e.open) == 0 || e.open[len(e.open)-1] != openItem {
		e.fail(errors.New("encoder: EndItem without BeginItem"))
		return
	}
	e.itemHeader(TagItemDelimitationItem, 0)
	e.open = e.open[:len(e.open)-1]
}

// EndSequence closes the current sequence with a Sequence Delimitation Item (PS3.5 7.5.2).
func (e *Encoder) EndSequence() {
	if e.err != nil {
		return
	}
	if len(e.open) == 0 || e.open[len(e.open)-1] != openSequence {
		e.fail(errors.New("encoder: EndSequence without BeginSequence, or with an item still open"))
		return
	}
	e.itemHeader(TagSequenceDelimitationItem, 0)
	e.open = e.open[:len(e.open)-1]
}

// WriteEncapsulatedPixelData writes Pixel Data (7FE0,0010) in the encapsulated format of
// PS3.5 A.4: OB of undefined length, an empty Basic Offset Table item, one fragment per
// frame (odd fragments padded with a trailing NUL, as A.4 requires even item lengths), and
// a Sequence Delimitation Item. Only encapsulated transfer syntaxes allow it.
func (e *Encoder) WriteEncapsulatedPixelData(frames [][]byte) {
	if e.err != nil {
		return
	}
	if !e.ts.Encapsulated {
		e.fail(fmt.Errorf("encoder: encapsulated Pixel Data in %s (%s), which is not an encapsulated transfer syntax", e.ts.Name, e.ts.UID))
		return
	}
	if len(frames) == 0 {
		e.fail(errors.New("encoder: encapsulated Pixel Data without frames"))
		return
	}
	for i, f := range frames {
		if len(f) == 0 {
			e.fail(fmt.Errorf("encoder: encapsulated Pixel Data: frame %d is empty", i))
			return
		}
		if uint64(len(f))+1 > 0xFFFFFFFE {
			e.fail(fmt.Errorf("encoder: encapsulated Pixel Data: frame %d too long (%d bytes)", i, len(f)))
			return
		}
	}
	if e.level() != 0 || len(e.open) != 0 {
		e.fail(errors.New("encoder: encapsulated Pixel Data inside a sequence"))
		return
	}
	if !e.order(TagPixelData) {
		return
	}
	e.header(TagPixelData, "OB", true, writeUndefinedLength)
	e.itemHeader(TagItem, 0) // PS3.5 A.4: the Basic Offset Table item is present, here empty
	for _, f := range frames {
		n := len(f)
		e.itemHeader(TagItem, uint32(n+n%2))
		e.write(f)
		if n%2 == 1 {
			e.write([]byte{0})
		}
	}
	e.itemHeader(TagSequenceDelimitationItem, 0)
}

// Close reports an error if sequences or items are still open (the stream would be
// truncated mid-sequence), else the encoder's sticky error. It does not close w.
func (e *Encoder) Close() error {
	if e.err == nil && len(e.open) > 0 {
		e.err = fmt.Errorf("encoder: %d sequence(s)/item(s) left open", len(e.open))
	}
	if e.deflate != nil {
		if err := e.deflate.Close(); err != nil && e.err == nil {
			e.err = fmt.Errorf("encoder: finish the deflate stream: %w", err)
		}
		e.deflate = nil
	}
	return e.err
}
