package pixel

import (
	"math/rand/v2"
	"testing"
)

// TestMaskUint16s: the four-samples-a-word masking equals the per-sample rule, at every
// alignment of the slice, with a tail, and for every shift a High Bit can give.
func TestMaskUint16s(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	buf := make([]uint16, 64)
	for _, bs := range []int{1, 8, 10, 12, 14, 15, 16} {
		for sh := 0; sh+bs <= 16; sh++ {
			mask := uint16(1<<bs - 1)
			for start := 0; start < 4; start++ {
				for n := 0; n <= 21; n++ {
					for i := range buf {
						buf[i] = uint16(rng.Uint32())
					}
					want := make([]uint16, len(buf))
					copy(want, buf)
					for i := start; i < start+n; i++ {
						want[i] = want[i] >> sh & mask
					}
					maskUint16s(buf[start:start+n], uint(sh), mask)
					for i := range buf {
						if buf[i] != want[i] {
							t.Fatalf("bits %d, shift %d, start %d, n %d: sample %d = %#04x, want %#04x", bs, sh, start, n, i, buf[i], want[i])
						}
					}
				}
			}
		}
	}
}

// TestNormalizeUnsigned16: stored bits isolated from overlay bits above and below them.
func TestNormalizeUnsigned16(t *testing.T) {
	// 12 bits stored, High Bit 13: two overlay bits below and two above.
	f := &Frame{Rows: 1, Columns: 3, SamplesPerPixel: 1, BitsStored: 12, Data16: []uint16{0xFFFF, 0x3FFC | 1, 0x8004}}
	normalize(f, 2)
	want := []uint16{0x0FFF, 0x0FFF, 0x0001}
	for i, v := range f.Data16 {
		if v != want[i] {
			t.Errorf("sample %d = %#04x, want %#04x", i, v, want[i])
		}
	}
}
