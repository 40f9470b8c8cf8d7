package j2k

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrUnsupported marks valid JPEG 2000 data that OpenJPEG cannot decode.
var ErrUnsupported = errors.New("unsupported JPEG 2000 extension")

// Main header markers (ISO/IEC 15444-1 Annex A, and ISO/IEC 15444-2 Annex A for MCC and
// MCO).
const (
	markerSOC = 0xFF4F
	markerCOD = 0xFF52
	markerSOT = 0xFF90
	markerMCC = 0xFF75
	markerMCO = 0xFF77
)

// checkExtensions refuses codestreams that use the array-based multiple component
// transforms of Part 2 (ISO/IEC 15444-2 Annex J: MCC or MCO marker segments, or a COD
// multiple component transform value above 1). OpenJPEG 2.5 writes such codestreams but
// refuses them when decoding ("Invalid multiple component transformation"); saying so here
// turns what would look like damage into an honest "not supported". It reads only the main
// header, marker by marker, within data.
func checkExtensions(data []byte) error {
	cs := codestream(data)
	if len(cs) < 4 || binary.BigEndian.Uint16(cs) != markerSOC {
		return nil // OpenJPEG will say what is wrong
	}
	for pos := 2; pos+4 <= len(cs); {
		m := binary.BigEndian.Uint16(cs[pos:])
		if m>>8 != 0xFF || m == markerSOT {
			return nil
		}
		n := int(binary.BigEndian.Uint16(cs[pos+2:])) // includes the length field itself
		if n < 2 || pos+2+n > len(cs) {
			return nil
		}
		body := cs[pos+4 : pos+2+n]
		switch {
		case m == markerMCC || m == markerMCO:
			// MCT segments alone only define arrays; MCC and MCO put a transform to use.
			return fmt.Errorf("j2k: %w: a JPEG 2000 Part 2 multiple component transform (marker %04X), which OpenJPEG does not decode", ErrUnsupported, m)
		case m == markerCOD && len(body) >= 5 && body[4] > 1:
			// Scod, progression order, two bytes of layers, then the transform.
			return fmt.Errorf("j2k: %w: a JPEG 2000 Part 2 multiple component transform (COD transform %d), which OpenJPEG does not decode", ErrUnsupported, body[4])
		}
		pos += 2 + n
	}
	return nil
}

// codestream returns the codestream in data: data itself, or the contents of the first
// Contiguous Codestream box of a JP2/JPX file (ISO/IEC 15444-1 Annex I).
func codestream(data []byte) []byte {
	if len(data) < 12 || binary.BigEndian.Uint32(data) != 12 || string(data[4:8]) != "jP  " {
		return data
	}
	for pos := 0; pos+8 <= len(data); {
		size := uint64(binary.BigEndian.Uint32(data[pos:]))
		typ := string(data[pos+4 : pos+8])
		head := uint64(8)
		switch size {
		case 0: // to the end of the file
			size = uint64(len(data) - pos)
		case 1: // 64-bit length follows
			if pos+16 > len(data) {
				return nil
			}
			size, head = binary.BigEndian.Uint64(data[pos+8:]), 16
		}
		if size < head || size > uint64(len(data)-pos) {
			return nil
		}
		if typ == "jp2c" {
			return data[pos+int(head) : pos+int(size)]
		}
		pos += int(size)
	}
	return nil
}
