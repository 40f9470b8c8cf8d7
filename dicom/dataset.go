package dicom

import (
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
)

// ErrMalformed wraps every error caused by bytes that are not valid DICOM (as opposed to I/O
// errors of the underlying reader). Callers map it to "cannot understand" statuses.
var ErrMalformed = errors.New("malformed DICOM")

// Element is one data element as read from a stream. Values are decoded: text VRs to UTF-8
// strings (Specific Character Set applied, padding trimmed), numeric VRs to numbers.
type Element struct {
	Tag Tag
	// VR is the explicit VR as read, or the dictionary VR for implicit syntaxes ("UN" if
	// unknown; "OW" for "OB or OW" and "SS" for "US or SS" pixel values with signed Pixel
	// Representation, per PS3.5 A.1). A UN element of undefined length is a sequence in
	// Implicit VR LE (PS3.5 6.2.2): it is read as one and reported as "SQ".
	VR string

	// Exactly one of the following is set, by VR:
	//   AE AS CS DA DS DT IS LO LT PN SH ST TM UC UI UR UT: Strings (split on '\' except LT ST UT UR)
	//   US SS UL SL UV SV FL FD AT:                         Numbers (AT as uint32 tag values)
	//   OB OW OD OF OL OV UN and oversized values:          Bytes (nil when Length > ReadOptions.MaxValueLength)
	//   SQ:                                                  Items
	Strings []string
	Numbers []float64
	Bytes   []byte
	Items   []*Dataset

	Length uint32 // value length as encoded; 0xFFFFFFFF for undefined length
	// Offset of the value's first byte in the (inflated) data set stream, counted from the
	// first byte of the data set. For File Meta Information elements it counts from the
	// first byte of the Part-10 stream. For a sequence it is the offset of its first item.
	Offset int64
}

// Loaded reports whether the value was read: false for values longer than
// ReadOptions.MaxValueLength and for encapsulated pixel data, which are skipped. A loaded
// value of non-zero length always has a non-nil Strings, Numbers, Bytes or (SQ) Items;
// a string value of only padding is [""].
func (e *Element) Loaded() bool {
	return e.Length == 0 || e.VR == "SQ" || e.Strings != nil || e.Numbers != nil || e.Bytes != nil
}

// Dataset is an ordered list of elements (ascending tag order, as encoded).
type Dataset struct {
	Elements []*Element
}

// Get returns the element with tag t, or nil.
func (d *Dataset) Get(t Tag) *Element {
	if d == nil {
		return nil
	}
	for _, e := range d.Elements {
		if e.Tag == t {
			return e
		}
	}
	return nil
}

// String returns the first string value of t, or "".
func (d *Dataset) String(t Tag) string {
	if e := d.Get(t); e != nil && len(e.Strings) > 0 {
		return e.Strings[0]
	}
	return ""
}

// Strings returns all string values of t.
func (d *Dataset) Strings(t Tag) []string {
	if e := d.Get(t); e != nil {
		return e.Strings
	}
	return nil
}

// Int returns the first numeric value of t (numeric VRs, or IS/DS parsed), and whether it had one.
// A value that is not a whole number in int64 range (DS "2.5", FD 1e300) reports false.
func (d *Dataset) Int(t Tag) (int64, bool) {
	f, ok := d.Float(t)
	if !ok || f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
		return 0, false
	}
	if e := d.Get(t); e != nil && len(e.Numbers) == 0 && len(e.Strings) > 0 {
		// IS beyond 2^53 loses precision as float64; parse it exactly when it is an integer.
		if v, err := strconv.ParseInt(strings.TrimSpace(e.Strings[0]), 10, 64); err == nil {
			return v, true
		}
	}
	return int64(f), true
}

// Float returns the first numeric value of t (numeric VRs, or IS/DS parsed), and whether it
// had one. NaN and infinities count as no value.
func (d *Dataset) Float(t Tag) (float64, bool) {
	e := d.Get(t)
	if e == nil {
		return 0, false
	}
	var f float64
	switch {
	case len(e.Numbers) > 0:
		f = e.Numbers[0]
	case len(e.Strings) > 0 && (e.VR == "IS" || e.VR == "DS"):
		v, err := strconv.ParseFloat(strings.TrimSpace(e.Strings[0]), 64)
		if err != nil {
			return 0, false
		}
		f = v
	default:
		return 0, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// ReadOptions bounds what a reader allocates; zero values mean the defaults.
type ReadOptions struct {
	// MaxValueLength: values longer than this (other than sequences) are skipped, not loaded;
	// Element.Bytes/Strings stay nil and Length/Offset tell where they are. Default 64 KiB.
	MaxValueLength uint32
	// MaxDepth bounds sequence nesting. Default 64.
	MaxDepth int
	// MaxElements bounds elements in the whole header (all nesting levels). Default 100000.
	MaxElements int
	// KeepPixelData: by default reading stops at the first top-level Pixel Data element
	// (7FE0,0010)/(7FE0,0008)/(7FE0,0009) and does not consume it.
	// When true, reading continues through top-level Pixel Data (loaded or skipped like any
	// binary value by MaxValueLength; encapsulated fragments are skipped) and the
	// elements after it; PixelDataOffset is still reported.
	KeepPixelData bool
	// FallbackCharset names the character set used for text bytes the declared one cannot
	// explain: non-ASCII bytes with no (or an empty) Specific Character Set, unknown
	// (0008,0005) terms, G1 bytes before any designation. Sites whose modalities send
	// GB18030 without declaring it set "GB18030". Empty: UTF-8 when the bytes are valid
	// UTF-8, else ISO 8859-1. See NewDecoderWithFallback.
	FallbackCharset string
}

// Header is what ReadPart10 returns: the File Meta Information and the data set up to, not
// including, Pixel Data.
type Header struct {
	Meta           *Dataset // group 0002
	TransferSyntax string   // from the meta, (0002,0010)
	Dataset        *Dataset // top-level data set before Pixel Data, text decoded to UTF-8

	// DatasetOffset is the byte offset in the Part-10 stream where the data set starts
	// (just after the File Meta Information). WADO-RS and DIMSE send from here. It counts
	// raw bytes, also for deflated syntaxes. 0 for a stream without meta.
	DatasetOffset int64
	// PixelDataOffset is the offset in the data set stream (inflated, for deflated syntaxes)
	// of the Pixel Data element's tag; -1 when the data set has no Pixel Data.
	// Like Element.Offset it counts from the first byte of the data set, so for a
	// non-deflated syntax the tag is at DatasetOffset+PixelDataOffset in the Part-10 stream
	// (see Part10PixelDataOffset).
	PixelDataOffset int64
	// Charsets is (0008,0005) as read, for callers that re-encode text.
	Charsets []string
}

// ReadPart10 reads a DICOM Part-10 stream (128-byte preamble, "DICM", File Meta Information,
// data set) and stops before Pixel Data. Errors for bad bytes wrap ErrMalformed.
// Streams without a preamble but starting with a group 0002 element are accepted too, as are
// streams with no meta at all when the data set is recognisable (its first tag is an even
// group from 0004): Implicit or Explicit VR Little Endian is then guessed from the bytes
// and TransferSyntax set to the guess. A missing (0002,0010) is guessed the same way.
//
// Consumption: ReadPart10 buffers, so it may consume r beyond the point where it stops.
// Callers that need the rest of the object read it from their own copy (the spooled file,
// an io.TeeReader) at DatasetOffset/PixelDataOffset, which are exact. If r is a
// *bufio.Reader (of at least 256 bytes), it is read directly and, for a syntax that is
// not deflated, left positioned exactly on the Pixel Data tag (or at the end of the data
// set when there is none), so the caller may keep reading from it.
//
// Leniency, all for devices seen in the field: a wrong File Meta Information group
// length is ignored (group 0002 is read by its tags), meta elements written in Implicit VR
// are read as such, stray sequence delimiters at the top level are skipped, odd value
// lengths and partial trailing numbers are tolerated.
func ReadPart10(r io.Reader, opts ReadOptions) (*Header, error) {
	return readPart10(r, opts)
}

// ReadDataset reads a bare data set (no preamble, no meta; as carried by C-STORE) encoded
// in transfer syntax ts, stopping before Pixel Data. Deflated syntaxes are inflated here.
// An empty or unknown ts is guessed (Implicit or Explicit VR Little Endian) from the bytes.
// Like ReadPart10 it may read r beyond where it stops, unless r is a *bufio.Reader.
func ReadDataset(r io.Reader, ts string, opts ReadOptions) (*Dataset, error) {
	return readDataset(r, ts, opts)
}

// Part10PixelDataOffset is the offset of the Pixel Data tag in the Part-10 stream, or -1 when
// there is no Pixel Data or the data set is deflated (no raw offset exists then).
func (h *Header) Part10PixelDataOffset() int64 {
	if h == nil || h.PixelDataOffset < 0 {
		return -1
	}
	if ts, ok := LookupTransferSyntax(h.TransferSyntax); ok && ts.Deflated {
		return -1
	}
	return h.DatasetOffset + h.PixelDataOffset
}
