// Package rle decodes DICOM RLE Lossless frames (PS3.5 Annex G): a 64-byte header of up to
// 15 segment offsets, then one PackBits-style segment per byte of each sample, most
// significant byte first, each segment one plane of Rows x Columns bytes.
package rle

import (
	"encoding/binary"
	"errors"
	"fmt"

	"pacsd/dicom/pixel/internal/raster"
)

// ErrCorrupt marks RLE data that breaks PS3.5 Annex G.
var ErrCorrupt = errors.New("corrupt RLE data")

func corrupt(format string, args ...any) error {
	return fmt.Errorf("rle: %w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// Decode decodes one frame into out (whose geometry and sample size come from the DICOM
// header).
func Decode(data []byte, out *raster.Buffer) error {
	if len(data) < 64 {
		return corrupt("frame of %d bytes has no RLE header", len(data))
	}
	bytesPer := out.MaxBits() / 8
	want := out.Components * bytesPer
	// PS3.5 G.5: the header's first value is the number of segments.
	nseg := int(binary.LittleEndian.Uint32(data))
	if nseg != want {
		return corrupt("%d segments; the header's %d samples of %d bytes need %d", nseg, out.Components, bytesPer, want)
	}
	var offs [16]int
	for i := 0; i < nseg; i++ {
		offs[i] = int(binary.LittleEndian.Uint32(data[4+4*i:]))
		if offs[i] < 64 || offs[i] > len(data) || (i > 0 && offs[i] < offs[i-1]) {
			return corrupt("segment %d offset %d (frame of %d bytes)", i+1, offs[i], len(data))
		}
	}
	offs[nseg] = len(data)
	plane := out.Width * out.Height
	seg := make([]byte, plane)
	for s := 0; s < nseg; s++ {
		if err := unpack(data[offs[s]:offs[s+1]], seg); err != nil {
			return fmt.Errorf("rle: segment %d: %w", s+1, err)
		}
		// PS3.5 G.2: segments run sample by sample, most significant byte first.
		comp, b := s/bytesPer, s%bytesPer
		if out.Pix8 != nil {
			for p, v := range seg {
				out.Pix8[p*out.Components+comp] = v
			}
			continue
		}
		shift := uint(8 * (bytesPer - 1 - b))
		for p, v := range seg {
			i := p*out.Components + comp
			out.Pix16[i] |= uint16(v) << shift
		}
	}
	return nil
}

// unpack expands one segment (PS3.5 G.3.1) into dst, which it must fill exactly; output
// beyond dst (some encoders pad a row) is ignored.
func unpack(src, dst []byte) error {
	o := 0
	for i := 0; i < len(src) && o < len(dst); {
		n := int(int8(src[i]))
		i++
		switch {
		case n >= 0:
			// Literal run of n+1 bytes.
			k := n + 1
			if i+k > len(src) {
				return corrupt("literal run past the end of the segment")
			}
			o += copy(dst[o:], src[i:i+k])
			i += k
		case n >= -127:
			// The next byte repeated 1-n times.
			if i >= len(src) {
				return corrupt("replicate run past the end of the segment")
			}
			v := src[i]
			i++
			for k := 1 - n; k > 0 && o < len(dst); k-- {
				dst[o] = v
				o++
			}
		}
		// -128: no operation.
	}
	if o < len(dst) {
		return corrupt("segment decodes to %d bytes, the frame needs %d", o, len(dst))
	}
	return nil
}
