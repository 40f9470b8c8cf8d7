package dicom

import (
	"encoding/binary"
	"fmt"
	"io"
)

// The element walker for code that reads a stored object's structure without parsing its
// values (the archive checking that a received tail is whole, pixel data located by seeking):
// one header at a time, by the same VR length rule as the parser (shortVRs, PS3.5 7.1.2).

// UndefinedLength is the length of a sequence, item or encapsulated Pixel Data element
// closed by a delimitation item (PS3.5 7.1.1, 7.5.1).
const UndefinedLength = undefinedLength

// ElementHeader is one data element header as encoded (PS3.5 7.1.1-7.1.3), or an item or
// delimitation item header (PS3.5 7.5), which carries no VR.
type ElementHeader struct {
	Tag Tag
	// VR as encoded in explicit VR syntaxes; in implicit ones the data dictionary's (Pixel
	// Data is OW, PS3.5 A.1); "" for items and delimiters.
	VR     string
	Length uint32 // UndefinedLength for undefined length
	Size   int64  // bytes of the header itself: 8 or 12
}

// ReadElementHeader reads the element header at the start of r in transfer syntax ts. A
// stream that ends before the tag returns io.EOF; one that ends inside the header,
// io.ErrUnexpectedEOF; VR bytes that are not two upper-case letters, an error wrapping
// ErrMalformed.
func ReadElementHeader(r io.Reader, ts TransferSyntax) (ElementHeader, error) {
	var b [12]byte
	var bo binary.ByteOrder = binary.LittleEndian
	if ts.BigEndian {
		bo = binary.BigEndian
	}
	if _, err := io.ReadFull(r, b[:8]); err != nil {
		return ElementHeader{}, err
	}
	h := ElementHeader{Tag: Tag(uint32(bo.Uint16(b[0:]))<<16 | uint32(bo.Uint16(b[2:]))), Size: 8}
	if h.Tag.Group() == 0xFFFE {
		// Items and delimiters never carry a VR (PS3.5 7.5).
		h.Length = bo.Uint32(b[4:])
		return h, nil
	}
	if !ts.ExplicitVR {
		h.VR, h.Length = (&parser{}).implicitVR(h.Tag), bo.Uint32(b[4:])
		return h, nil
	}
	if !isVRBytes(b[4:6]) {
		return h, fmt.Errorf("%w: %s: invalid VR bytes %q", ErrMalformed, h.Tag, b[4:6])
	}
	h.VR = string(b[4:6])
	if shortVRs[h.VR] {
		h.Length = uint32(bo.Uint16(b[6:]))
		return h, nil
	}
	// 2 reserved bytes, then the 32-bit length (PS3.5 Table 7.1-1).
	if _, err := io.ReadFull(r, b[8:12]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return h, err
	}
	h.Length, h.Size = bo.Uint32(b[8:]), 12
	return h, nil
}
