package dicom

import (
	"errors"
	"io"
)

// ErrMalformed wraps every error caused by bytes that are not valid DICOM (as opposed to I/O
// errors of the underlying reader). Callers map it to "cannot understand" statuses.
var ErrMalformed = errors.New("malformed DICOM")

// Element is one data element as read from a stream. Values are decoded: text VRs to UTF-8
// strings (Specific Character Set applied, padding trimmed), numeric VRs to numbers.
type Element struct {
	Tag Tag
	VR  string // explicit VR as read, or the dictionary VR for implicit syntaxes ("UN" if unknown)

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
	Offset int64  // offset of the value's first byte in the (inflated) data set stream
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
func (d *Dataset) Int(t Tag) (int64, bool) {
	panic("TODO")
}

// ReadOptions bounds what a reader allocates; zero values mean the defaults.
type ReadOptions struct {
	// MaxValueLength: values longer than this (other than sequences) are skipped, not loaded;
	// Element.Bytes/Strings stay nil and Length/Offset tell where they are. Default 64 KiB.
	MaxValueLength uint32
	// MaxDepth bounds sequence nesting. Default 16.
	MaxDepth int
	// MaxElements bounds elements in the whole header (all nesting levels). Default 100000.
	MaxElements int
	// KeepPixelData: by default reading stops at the first top-level Pixel Data element
	// (7FE0,0010)/(7FE0,0008)/(7FE0,0009) and does not consume it.
	// (Reserved for later issues; ignored when false.)
	KeepPixelData bool
}

// Header is what ReadPart10 returns: the File Meta Information and the data set up to, not
// including, Pixel Data.
type Header struct {
	Meta           *Dataset // group 0002
	TransferSyntax string   // from the meta, (0002,0010)
	Dataset        *Dataset // top-level data set before Pixel Data, text decoded to UTF-8

	// DatasetOffset is the byte offset in the Part-10 stream where the data set starts
	// (just after the File Meta Information). WADO-RS and DIMSE send from here.
	DatasetOffset int64
	// PixelDataOffset is the offset in the data set stream (inflated, for deflated syntaxes)
	// of the Pixel Data element's tag; -1 when the data set has no Pixel Data.
	PixelDataOffset int64
	// Charsets is (0008,0005) as read, for callers that re-encode text.
	Charsets []string
}

// ReadPart10 reads a DICOM Part-10 stream (128-byte preamble, "DICM", File Meta Information,
// data set) and stops before Pixel Data. It never reads more of r than it needs: the caller
// may keep reading r (e.g. to hash or copy the rest). Errors for bad bytes wrap ErrMalformed.
// Streams without a preamble but starting with a group 0002 element are accepted too, as are
// streams with no meta at all when the data set is recognisable (Implicit VR LE guessed).
func ReadPart10(r io.Reader, opts ReadOptions) (*Header, error) {
	panic("TODO")
}

// ReadDataset reads a bare data set (no preamble, no meta; as carried by C-STORE) encoded
// in transfer syntax ts, stopping before Pixel Data. Deflated syntaxes are inflated here.
func ReadDataset(r io.Reader, ts string, opts ReadOptions) (*Dataset, error) {
	panic("TODO")
}
