package pixel

import "math"

// Area-average downscaling: each output pixel is the mean of the source area it covers,
// source pixels on a boundary counted by the fraction inside. It is the right filter for
// reduction (no aliasing, no ringing), runs in one pass over the source rows with at most
// two output pixels touched per source pixel, and works on any channel count.

// areaWeights says, for each source index, the first output index it falls in and the
// fraction of it that does (the rest goes to the next output index).
type areaWeights struct {
	out  []int32
	frac []float32
}

func newAreaWeights(src, dst int) areaWeights {
	w := areaWeights{out: make([]int32, src), frac: make([]float32, src)}
	scale := float64(dst) / float64(src) // output pixels per source pixel, <= 1
	for i := 0; i < src; i++ {
		a, b := float64(i)*scale, float64(i+1)*scale
		o := int(math.Floor(a))
		if o >= dst {
			o = dst - 1
		}
		w.out[i] = int32(o)
		if b <= float64(o+1) || o+1 >= dst {
			w.frac[i] = 1
		} else {
			w.frac[i] = float32((float64(o+1) - a) / (b - a))
		}
	}
	return w
}

// areaResample reduces a srcW x srcH image of ch channels to dstW x dstH (each no larger
// than the source). row(y, buf) fills buf with the ch*srcW values of source row y. The
// result holds ch*dstW*dstH values, row by row.
func areaResample(srcW, srcH, dstW, dstH, ch int, row func(y int, buf []float32)) []float32 {
	hw, vw := newAreaWeights(srcW, dstW), newAreaWeights(srcH, dstH)
	src := make([]float32, ch*srcW)
	hrow := make([]float32, ch*dstW)
	out := make([]float32, ch*dstW*dstH)
	for y := 0; y < srcH; y++ {
		row(y, src)
		clear(hrow)
		if ch == 1 {
			// The common greyscale case, without the channel loop.
			for x, v := range src {
				o, f := hw.out[x], hw.frac[x]
				hrow[o] += v * f
				if f < 1 {
					hrow[o+1] += v * (1 - f)
				}
			}
		}
		for x := 0; x < srcW && ch > 1; x++ {
			o, f := int(hw.out[x]), hw.frac[x]
			for c := 0; c < ch; c++ {
				v := src[x*ch+c]
				hrow[o*ch+c] += v * f
				if f < 1 {
					hrow[(o+1)*ch+c] += v * (1 - f)
				}
			}
		}
		o, f := int(vw.out[y]), vw.frac[y]
		acc := out[o*ch*dstW : (o+1)*ch*dstW]
		for i, v := range hrow {
			acc[i] += v * f
		}
		if f < 1 {
			acc = out[(o+1)*ch*dstW : (o+2)*ch*dstW]
			for i, v := range hrow {
				acc[i] += v * (1 - f)
			}
		}
	}
	// Each output collected srcW/dstW x srcH/dstH source pixels' worth of weight.
	norm := float32(float64(dstW) * float64(dstH) / (float64(srcW) * float64(srcH)))
	for i := range out {
		out[i] *= norm
	}
	return out
}

// Downscale returns a copy of f reduced to fit within maxW x maxH (0: unbounded), keeping
// the aspect ratio, by area averaging of the stored samples; f itself when it already fits.
// The result renders with the same Info. A viewer that keeps the screen-sized frame
// re-renders it for each window step in a millisecond or two; averaging stored values
// before the VOI transform differs from averaging displayed values only where a block
// straddles the window's edges.
func Downscale(f *Frame, maxW, maxH int) *Frame {
	w, h := fitSize(f.Columns, f.Rows, maxW, maxH)
	if w == f.Columns && h == f.Rows {
		return f
	}
	ch := f.SamplesPerPixel
	if k := f.Columns / w; ch == 1 && f.Data16 != nil && !f.Signed && k > 1 && f.Columns == k*w && f.Rows == k*h {
		return boxReduce16(f, k)
	}
	vals := areaResample(f.Columns, f.Rows, w, h, ch, func(y int, buf []float32) {
		off := y * f.Columns * ch
		switch {
		case f.Data16 != nil && f.Signed:
			for i, v := range f.Data16[off : off+len(buf)] {
				buf[i] = float32(int16(v))
			}
		case f.Data16 != nil:
			for i, v := range f.Data16[off : off+len(buf)] {
				buf[i] = float32(v)
			}
		default:
			for i := range buf {
				buf[i] = float32(f.Sample(off + i))
			}
		}
	})
	out := &Frame{Rows: h, Columns: w, SamplesPerPixel: ch, Photometric: f.Photometric, BitsStored: f.BitsStored, Signed: f.Signed}
	lo, hi := storedRange(f)
	if f.Data16 != nil {
		out.Data16 = make([]uint16, len(vals))
		for i, v := range vals {
			out.Data16[i] = uint16(min(max(int(math.Round(float64(v))), lo), hi))
		}
	} else {
		out.Data8 = make([]uint8, len(vals))
		for i, v := range vals {
			out.Data8[i] = uint8(min(max(int(math.Round(float64(v))), lo), hi))
		}
	}
	return out
}

// boxReduce16 is Downscale's area average when the reduction is by a whole factor k both
// ways on unsigned 16-bit greyscale (a 3000x3000 DR to 1000x1000, the viewer's quick first
// look): each output pixel is the rounded mean of a k x k block, summed in integers, in a
// fraction of the general path's time.
func boxReduce16(f *Frame, k int) *Frame {
	w, h := f.Columns/k, f.Rows/k
	out := &Frame{Rows: h, Columns: w, SamplesPerPixel: 1, Photometric: f.Photometric, BitsStored: f.BitsStored,
		Data16: make([]uint16, w*h)}
	lo, hi := storedRange(f)
	acc := make([]uint32, w)
	n := uint32(k * k)
	for y := 0; y < h; y++ {
		clear(acc)
		for r := 0; r < k; r++ {
			src := f.Data16[(y*k+r)*f.Columns : (y*k+r+1)*f.Columns]
			for x := range acc {
				var s uint32
				for _, v := range src[x*k : x*k+k] {
					s += uint32(v)
				}
				acc[x] += s
			}
		}
		dst := out.Data16[y*w : (y+1)*w]
		for x, s := range acc {
			dst[x] = uint16(min(max(int((s+n/2)/n), lo), hi))
		}
	}
	return out
}
