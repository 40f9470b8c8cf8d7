package pixel

import (
	"math"
	"testing"
)

// TestDownscaleWholeFactor: reduced by a whole factor both ways, an unsigned 16-bit frame's
// pixels are the rounded means of their blocks (boxReduce16), as the area average says.
func TestDownscaleWholeFactor(t *testing.T) {
	const k, w, h = 3, 7, 5
	f := &Frame{Columns: k * w, Rows: k * h, SamplesPerPixel: 1, BitsStored: 12, Photometric: "MONOCHROME2",
		Data16: make([]uint16, k*w*k*h)}
	for i := range f.Data16 {
		f.Data16[i] = uint16((i*2654435761)>>7) & 0xfff
	}
	got := Downscale(f, w, h)
	if got.Columns != w || got.Rows != h {
		t.Fatalf("size %dx%d, want %dx%d", got.Columns, got.Rows, w, h)
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			sum := 0
			for r := 0; r < k; r++ {
				for c := 0; c < k; c++ {
					sum += int(f.Data16[(y*k+r)*f.Columns+x*k+c])
				}
			}
			if want := uint16(math.Round(float64(sum) / (k * k))); got.Data16[y*w+x] != want {
				t.Errorf("(%d,%d) = %d, want %d", x, y, got.Data16[y*w+x], want)
			}
		}
	}
	// The general area average agrees to within rounding.
	g := areaResample(f.Columns, f.Rows, w, h, 1, func(y int, buf []float32) {
		for i, v := range f.Data16[y*f.Columns : (y+1)*f.Columns] {
			buf[i] = float32(v)
		}
	})
	for i, v := range g {
		if d := math.Abs(float64(v) - float64(got.Data16[i])); d > 0.5001 {
			t.Errorf("pixel %d: area average %.3f, block mean %d", i, v, got.Data16[i])
		}
	}
}
