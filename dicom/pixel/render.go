package pixel

import (
	"fmt"
	"image"
	"image/color"
	"math"

	"github.com/disintegration/imaging"
)

// RenderOptions steers Render.
type RenderOptions struct {
	// Window, when set, replaces the windows and VOI LUTs of the file (a viewer's
	// window/level, or WADO-RS windowing). Width must be > 0.
	Window *Window
	// VOILUTFunction overrides the file's VOI LUT Function for the window: "LINEAR",
	// "LINEAR_EXACT" or "SIGMOID" (PS3.3 C.11.2.1.3); "" keeps the file's.
	VOILUTFunction string
	// Width and Height bound the output: the image is scaled down to fit within them,
	// keeping its aspect ratio, never scaled up. 0 leaves that side unbounded.
	Width, Height int
}

// Render turns a decoded frame into an 8-bit image for display: *image.Gray for
// MONOCHROME1/2, *image.NRGBA for colour.
//
// Greyscale goes through the grayscale pipeline of PS3.4 N.2.1: the Modality LUT (Rescale
// Slope/Intercept or the Modality LUT Sequence), then the VOI LUT (the requested window,
// else the file's first window, else its first VOI LUT Sequence table, else a window over
// the frame's minimum and maximum; 8-bit images with no rescale and no window show their
// full range instead, as the modality displayed them), then the polarity: MONOCHROME1 is
// inverted there, once. The whole chain is evaluated once per possible stored value into a
// lookup table, so re-rendering a cached frame with another window costs one table lookup
// per source pixel.
//
// Colour: RGB as is, YBR_FULL and YBR_PARTIAL converted with the equations of PS3.3
// C.7.6.3.1.2, PALETTE COLOR through its LUTs; samples above 8 bits are scaled down.
//
// When the output is smaller than the frame, greyscale is reduced by area averaging of the
// displayed values (after the lookup, in the same pass); colour by integer-factor block
// averaging, then a Lanczos resample to the exact size.
func Render(f *Frame, info Info, opts RenderOptions) (image.Image, error) {
	if f == nil || f.Len() == 0 || (len(f.Data8) != f.Len() && len(f.Data16) != f.Len()) {
		return nil, fmt.Errorf("render: frame has no samples or a wrong sample count")
	}
	if opts.Window != nil && !(opts.Window.Width > 0) {
		return nil, fmt.Errorf("render: window width %v must be > 0", opts.Window.Width)
	}
	w, h := fitSize(f.Columns, f.Rows, opts.Width, opts.Height)
	switch f.Photometric {
	case Monochrome1, Monochrome2:
		lut, lo, err := greyLUT(f, info, opts)
		if err != nil {
			return nil, err
		}
		return renderGrey(f, lut, lo, w, h), nil
	case RGB, YBRFull, YBRPartial420, YBRICT, YBRRCT, PaletteColor:
		img, err := colourImage(f, info)
		if err != nil {
			return nil, err
		}
		if w == f.Columns && h == f.Rows {
			return img, nil
		}
		return resizeNRGBA(img, w, h), nil
	default:
		return nil, fmt.Errorf("render: %w: photometric interpretation %q", ErrUnsupported, f.Photometric)
	}
}

// fitSize scales cols x rows down to fit within maxW x maxH (0: unbounded), keeping the
// aspect ratio, at least one pixel each way.
func fitSize(cols, rows, maxW, maxH int) (int, int) {
	s := 1.0
	if maxW > 0 && maxW < cols {
		s = float64(maxW) / float64(cols)
	}
	if maxH > 0 && maxH < rows {
		s = math.Min(s, float64(maxH)/float64(rows))
	}
	if s >= 1 {
		return cols, rows
	}
	return max(1, int(math.Round(float64(cols)*s))), max(1, int(math.Round(float64(rows)*s)))
}

// storedRange is the range of values BitsStored bits can hold.
func storedRange(f *Frame) (lo, hi int) {
	if f.Signed {
		return -(1 << (f.BitsStored - 1)), 1<<(f.BitsStored-1) - 1
	}
	return 0, 1<<f.BitsStored - 1
}

// Modality returns the Modality LUT transform of PS3.3 C.11.1 as a function of a stored
// value: the Modality LUT Sequence's table (values below the first mapped one take the
// first entry, values past the end the last), else Rescale Slope and Intercept (a slope
// of 0 read as 1). It is the first step of Render's greyscale pipeline, and what a client
// that windows pixels itself is sent in.
func Modality(info Info) func(int) float64 {
	if l := info.ModalityLUT; l != nil && len(l.Data) > 0 {
		return func(v int) float64 { return float64(l.lookup(v)) }
	}
	slope, icpt := info.RescaleSlope, info.RescaleIntercept
	if slope == 0 {
		slope = 1
	}
	return func(v int) float64 { return float64(v)*slope + icpt }
}

// DefaultWindow is the window Render uses when the request gives none: the file's first
// window, else one spanning the frame's modality values (minimum to maximum). ok is false
// when the display is not a window (colour, a VOI LUT Sequence table, or an 8-bit image
// shown in its full range).
func DefaultWindow(f *Frame, info Info) (w Window, ok bool) {
	if !isMono(f.Photometric) {
		return Window{}, false
	}
	if len(info.Windows) > 0 {
		return info.Windows[0], true
	}
	if len(info.VOILUTs) > 0 || fullRange(f, info) {
		return Window{}, false
	}
	lo, hi := minMaxModality(f, info)
	return Window{Center: (lo + hi) / 2, Width: math.Max(hi-lo, 1), Explanation: "MIN-MAX"}, true
}

// fullRange reports whether an image without a window is shown over its whole stored range:
// 8-bit data with no rescale, which ultrasound and secondary capture send ready to view.
func fullRange(f *Frame, info Info) bool {
	return f.BitsStored <= 8 && info.ModalityLUT == nil && info.RescaleSlope == 1 && info.RescaleIntercept == 0
}

// minMaxModality returns the smallest and largest modality value present in the frame.
func minMaxModality(f *Frame, info Info) (float64, float64) {
	mn, mx := math.MaxInt, math.MinInt
	n := f.Len()
	for i := 0; i < n; i++ {
		v := f.Sample(i)
		mn, mx = min(mn, v), max(mx, v)
	}
	m := Modality(info)
	if info.ModalityLUT == nil {
		a, b := m(mn), m(mx)
		return math.Min(a, b), math.Max(a, b)
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for v := mn; v <= mx; v++ {
		y := m(v)
		lo, hi = math.Min(lo, y), math.Max(hi, y)
	}
	return lo, hi
}

// windowFunc returns the VOI LUT Function of PS3.3 C.11.2.1.2 (LINEAR), C.11.2.1.3.1
// (SIGMOID) and C.11.2.1.3.2 (LINEAR_EXACT), normalised to an output of 0..1.
func windowFunc(w Window, function string) func(float64) float64 {
	c, wd := w.Center, w.Width
	switch function {
	case "LINEAR_EXACT":
		return func(x float64) float64 {
			switch {
			case x <= c-wd/2:
				return 0
			case x > c+wd/2:
				return 1
			}
			return (x-c)/wd + 0.5
		}
	case "SIGMOID":
		return func(x float64) float64 { return 1 / (1 + math.Exp(-4*(x-c)/wd)) }
	}
	if wd < 1 {
		wd = 1 // LINEAR requires Width >= 1
	}
	return func(x float64) float64 {
		switch {
		case x <= c-0.5-(wd-1)/2:
			return 0
		case x > c-0.5+(wd-1)/2:
			return 1
		}
		return (x-(c-0.5))/(wd-1) + 0.5
	}
}

// greyLUT evaluates the greyscale pipeline for every stored value: lut[v-lo] is the 8-bit
// display value of stored value v.
func greyLUT(f *Frame, info Info, opts RenderOptions) ([]uint8, int, error) {
	if f.BitsStored < 1 || f.BitsStored > 16 {
		return nil, 0, fmt.Errorf("render: %w: %d bits stored", ErrUnsupported, f.BitsStored)
	}
	lo, hi := storedRange(f)
	m := Modality(info)
	function := info.VOILUTFunction
	if opts.VOILUTFunction != "" {
		function = opts.VOILUTFunction
	}
	var voi func(float64) float64
	switch {
	case opts.Window != nil:
		voi = windowFunc(*opts.Window, function)
	case len(info.Windows) > 0:
		voi = windowFunc(info.Windows[0], function)
	case len(info.VOILUTs) > 0:
		l := info.VOILUTs[0]
		top := float64(int(1)<<l.Bits - 1)
		voi = func(x float64) float64 { return float64(l.lookup(int(math.Floor(x)))) / top }
	case fullRange(f, info):
		// The stored range itself, in integers so that 8-bit data maps exactly.
		invert := f.Photometric == Monochrome1
		lut := newLUT(f, hi-lo+1)
		for v := 0; v <= hi-lo; v++ {
			y := v * 255 / (hi - lo)
			if invert {
				y = 255 - y
			}
			lut[v] = uint8(y)
		}
		return lut, lo, nil
	default:
		mn, mx := minMaxModality(f, info)
		if mx <= mn {
			voi = func(x float64) float64 { return 0.5 }
			break
		}
		voi = func(x float64) float64 { return math.Min(1, math.Max(0, (x-mn)/(mx-mn))) }
	}
	invert := f.Photometric == Monochrome1
	lut := newLUT(f, hi-lo+1)
	for v := lo; v <= hi; v++ {
		y := voi(m(v))
		if invert {
			y = 1 - y
		}
		// Truncation, not rounding, into the 256 output levels: it is what DCMTK does,
		// so renders match the reference renderer level for level.
		lut[v-lo] = uint8(math.Min(255, math.Max(0, math.Floor(255*y))))
	}
	return lut, lo, nil
}

// newLUT allocates a lookup table of n entries; for unsigned 16-bit samples it has all
// 65536, so that mapRow indexes it by the sample with no bounds check (entries above the
// stored range stay 0: normalize leaves no sample there).
func newLUT(f *Frame, n int) []uint8 {
	if f.Data16 != nil && !f.Signed {
		n = max(n, 1<<16)
	}
	return make([]uint8, n)
}

// renderGrey maps a greyscale frame through lut and reduces it to w x h. The reduction
// averages displayed values (after the lookup) over the area each output pixel covers, in
// the same pass over the samples: that is what a correctly filtered smaller picture shows,
// and it costs one lookup and two multiply-adds per source pixel, which keeps
// window/level on a 3000x3000 frame interactive on one core.
func renderGrey(f *Frame, lut []uint8, lo, w, h int) image.Image {
	cols, rows := f.Columns, f.Rows
	img := image.NewGray(image.Rect(0, 0, w, h))
	if w == cols && h == rows {
		for y := 0; y < rows; y++ {
			mapRow(f, lut, lo, y*cols, img.Pix[y*img.Stride:y*img.Stride+cols])
		}
		return img
	}
	mapped := make([]uint8, cols)
	var lutF [256]float32
	for i := range lutF {
		lutF[i] = float32(i)
	}
	vals := areaResample(cols, rows, w, h, 1, func(y int, buf []float32) {
		mapRow(f, lut, lo, y*cols, mapped)
		for i, v := range mapped {
			buf[i] = lutF[v]
		}
	})
	for i, v := range vals {
		img.Pix[i] = uint8(min(255, max(0, int(v+0.5))))
	}
	return img
}

// mapRow writes the display values of the cols samples starting at sample off.
func mapRow(f *Frame, lut []uint8, lo int, off int, dst []uint8) {
	switch {
	case f.Data16 != nil && f.Signed:
		for x, v := range f.Data16[off : off+len(dst)] {
			dst[x] = lut[int(int16(v))-lo]
		}
	case f.Data16 != nil && lo == 0 && len(lut) == 1<<16:
		t := (*[1 << 16]uint8)(lut)
		src := f.Data16[off : off+len(dst)]
		dst = dst[:len(src)]
		for x, v := range src {
			dst[x] = t[v]
		}
	case f.Data16 != nil:
		for x, v := range f.Data16[off : off+len(dst)] {
			dst[x] = lut[int(v)-lo]
		}
	case f.Signed:
		for x, v := range f.Data8[off : off+len(dst)] {
			dst[x] = lut[int(int8(v))-lo]
		}
	default:
		for x, v := range f.Data8[off : off+len(dst)] {
			dst[x] = lut[int(v)-lo]
		}
	}
}

// colourImage converts a colour or palette frame to 8-bit RGB.
func colourImage(f *Frame, info Info) (*image.NRGBA, error) {
	n := f.Rows * f.Columns
	img := image.NewNRGBA(image.Rect(0, 0, f.Columns, f.Rows))
	if f.Photometric == PaletteColor {
		p := info.Palette
		if p == nil || p.Red == nil || p.Green == nil || p.Blue == nil {
			return nil, fmt.Errorf("render: %w: PALETTE COLOR without palette LUTs", ErrCorrupt)
		}
		// Precompute the palette for every stored value.
		lo, hi := storedRange(f)
		pal := make([]color.NRGBA, hi-lo+1)
		for v := lo; v <= hi; v++ {
			pal[v-lo] = color.NRGBA{to8(p.Red, v), to8(p.Green, v), to8(p.Blue, v), 255}
		}
		for i := 0; i < n; i++ {
			c := pal[f.Sample(i)-lo]
			copy(img.Pix[4*i:], []uint8{c.R, c.G, c.B, 255})
		}
		return img, nil
	}
	if f.SamplesPerPixel != 3 {
		return nil, fmt.Errorf("render: %w: %s with %d samples", ErrCorrupt, f.Photometric, f.SamplesPerPixel)
	}
	shift := max(f.BitsStored-8, 0)
	sample := func(i int) float64 {
		v := f.Sample(i)
		if f.Signed {
			v += 1 << (f.BitsStored - 1)
		}
		return float64(v >> shift)
	}
	for i := 0; i < n; i++ {
		a, b, c := sample(3*i), sample(3*i+1), sample(3*i+2)
		var r, g, bl float64
		switch f.Photometric {
		case YBRFull:
			// PS3.3 C.7.6.3.1.2 YBR_FULL, inverted.
			r = a + 1.402*(c-128)
			g = a - 0.344136*(b-128) - 0.714136*(c-128)
			bl = a + 1.772*(b-128)
		case YBRPartial420:
			// YBR_PARTIAL_422/420: luminance 16-235, chrominance 16-240 (ITU-R BT.601).
			y := 1.164383 * (a - 16)
			r = y + 1.596027*(c-128)
			g = y - 0.391762*(b-128) - 0.812968*(c-128)
			bl = y + 2.017232*(b-128)
		default:
			r, g, bl = a, b, c
		}
		img.Pix[4*i] = clamp8(r)
		img.Pix[4*i+1] = clamp8(g)
		img.Pix[4*i+2] = clamp8(bl)
		img.Pix[4*i+3] = 255
	}
	return img, nil
}

// to8 looks a value up in a palette LUT and scales the entry to 8 bits.
func to8(l *LUT, v int) uint8 {
	e := l.lookup(v)
	if l.Bits <= 8 {
		return uint8(e)
	}
	return uint8(e >> (l.Bits - 8))
}

func clamp8(v float64) uint8 {
	v = math.Round(v)
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// resizeNRGBA reduces a colour image: integer-factor box averaging, then Lanczos.
func resizeNRGBA(img *image.NRGBA, w, h int) image.Image {
	b := img.Bounds()
	k := min(b.Dx()/w, b.Dy()/h)
	if k >= 2 {
		rw, rh := (b.Dx()+k-1)/k, (b.Dy()+k-1)/k
		red := image.NewNRGBA(image.Rect(0, 0, rw, rh))
		for by := 0; by < rh; by++ {
			for bx := 0; bx < rw; bx++ {
				var s [3]uint32
				n := uint32(0)
				for y := by * k; y < min(by*k+k, b.Dy()); y++ {
					for x := bx * k; x < min(bx*k+k, b.Dx()); x++ {
						p := img.Pix[y*img.Stride+4*x:]
						s[0], s[1], s[2] = s[0]+uint32(p[0]), s[1]+uint32(p[1]), s[2]+uint32(p[2])
						n++
					}
				}
				o := red.Pix[by*red.Stride+4*bx:]
				o[0], o[1], o[2], o[3] = uint8((s[0]+n/2)/n), uint8((s[1]+n/2)/n), uint8((s[2]+n/2)/n), 255
			}
		}
		img = red
	}
	if img.Bounds().Dx() == w && img.Bounds().Dy() == h {
		return img
	}
	return imaging.Resize(img, w, h, imaging.Lanczos)
}
