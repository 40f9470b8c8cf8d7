// Package raster holds the sample buffer every codec of dicom/pixel decodes into, so that
// the caller (which knows the DICOM header) allocates it and no codestream can make a
// decoder allocate more than the header promised.
package raster

import "fmt"

// Buffer is one decoded frame: samples pixel-interleaved (R G B R G B ...), row by row.
// Exactly one of Pix8 and Pix16 is set, by the frame's Bits Allocated: Pix8 for 8,
// Pix16 for 16. Signed samples are kept as their two's complement bit patterns.
type Buffer struct {
	Width, Height, Components int
	Pix8                      []uint8
	Pix16                     []uint16
}

// New allocates a buffer for width x height pixels of components samples each, 8-bit when
// bits <= 8, else 16-bit. The caller has bounded the size.
func New(width, height, components, bits int) *Buffer {
	b := &Buffer{Width: width, Height: height, Components: components}
	n := width * height * components
	if bits <= 8 {
		b.Pix8 = make([]uint8, n)
	} else {
		b.Pix16 = make([]uint16, n)
	}
	return b
}

// Len is the number of samples.
func (b *Buffer) Len() int { return b.Width * b.Height * b.Components }

// MaxBits is the widest sample the buffer holds.
func (b *Buffer) MaxBits() int {
	if b.Pix16 != nil {
		return 16
	}
	return 8
}

// Check reports whether a codestream's geometry matches the buffer: a codestream that
// disagrees with the DICOM header is refused rather than trusted.
func (b *Buffer) Check(width, height, components, precision int) error {
	if width != b.Width || height != b.Height || components != b.Components {
		return fmt.Errorf("codestream is %dx%d with %d component(s), the DICOM header says %dx%d with %d",
			width, height, components, b.Width, b.Height, b.Components)
	}
	if precision < 1 || precision > b.MaxBits() {
		return fmt.Errorf("codestream precision %d bits does not fit the %d-bit samples the DICOM header allocates", precision, b.MaxBits())
	}
	return nil
}

// Set stores sample i. Values wider than the buffer are truncated; callers clamp first.
func (b *Buffer) Set(i int, v uint16) {
	if b.Pix16 != nil {
		b.Pix16[i] = v
	} else {
		b.Pix8[i] = uint8(v)
	}
}
