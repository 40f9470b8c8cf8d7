package jpeg

// zigzag maps the zig-zag index of a coefficient to its natural (row-major) position
// (T.81 Figure A.6).
var zigzag = [64]int{
	0, 1, 8, 16, 9, 2, 3, 10,
	17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34,
	27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36,
	29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46,
	53, 60, 61, 54, 47, 55, 62, 63,
}

// dctScan decodes the blocks of one sequential scan (T.81 F.2) into the component planes.
func (d *decoder) dctScan(sc []scanComp) error {
	for i := range sc {
		sc[i].c.pred = 0
	}
	var blk [64]int32
	center, maxv := 1<<(d.precision-1), 1<<d.precision-1
	pass1 := uint(2)
	if d.precision > 8 {
		pass1 = 1
	}

	// A single-component scan is non-interleaved: its MCU is one block and it covers only
	// the component's own blocks (T.81 A.2.2); otherwise MCUs follow A.2.3.
	perRow, total := d.mcux, d.mcux*d.mcuy
	if len(sc) == 1 {
		c := sc[0].c
		perRow = (c.w + 7) / 8
		total = perRow * ((c.ht + 7) / 8)
	}
	left := d.ri
	for m := 0; m < total; m++ {
		if d.ri > 0 {
			if left == 0 {
				if err := d.restart(); err != nil {
					return err
				}
				for i := range sc {
					sc[i].c.pred = 0
				}
				left = d.ri
			}
			left--
		}
		mx, my := m%perRow, m/perRow
		if mx == 0 && d.br.pad > int(d.br.n)+64 {
			return d.br.overrun()
		}
		if len(sc) == 1 {
			c := sc[0].c
			if err := d.decodeBlock(&sc[0], &blk); err != nil {
				return err
			}
			idct(&blk, c.plane[my*8*c.stride+mx*8:], c.stride, pass1, center, maxv)
			continue
		}
		for i := range sc {
			c := sc[i].c
			for v := 0; v < c.v; v++ {
				for h := 0; h < c.h; h++ {
					if err := d.decodeBlock(&sc[i], &blk); err != nil {
						return err
					}
					x, y := (mx*c.h+h)*8, (my*c.v+v)*8
					idct(&blk, c.plane[y*c.stride+x:], c.stride, pass1, center, maxv)
				}
			}
		}
	}
	return d.br.overrun()
}

// decodeBlock decodes and dequantises one 8x8 block (T.81 F.2.2.1, F.2.2.2).
func (d *decoder) decodeBlock(s *scanComp, blk *[64]int32) error {
	*blk = [64]int32{}
	t, err := d.br.decode(d.dc[s.td])
	if err != nil {
		return err
	}
	if t > 16 {
		return corrupt("DC difference category %d", t)
	}
	s.c.pred += extend(d.br.receive(uint(t)), uint(t))
	q := &d.qt[s.c.tq]
	blk[0] = s.c.pred * q[0]
	ac := d.ac[s.ta]
	for k := 1; k < 64; k++ {
		rs, err := d.br.decode(ac)
		if err != nil {
			return err
		}
		r, sz := int(rs>>4), uint(rs&15)
		if sz == 0 {
			if r != 15 {
				break // EOB
			}
			k += 15 // ZRL
			continue
		}
		k += r
		if k > 63 {
			return corrupt("AC coefficient run past the end of the block")
		}
		z := zigzag[k]
		blk[z] = extend(d.br.receive(sz), sz) * q[z]
	}
	return nil
}

// The inverse DCT is the scaled-integer form of the Loeffler-Ligtenberg-Moschytz
// factorisation (12 multiplications per 8-point pass) with 13-bit constants, done by
// columns and then rows, each pass rounding its output. It is the "ISLOW" method of the
// libjpeg family, which DCMTK's decoders use by default, so lossy frames decode to exactly
// the samples the reference decoder produces instead of merely close ones; T.81 A.3.3
// leaves the IDCT's precision to the implementation (within the tolerances of T.83).
const constBits = 13

// fix is x in constBits fixed point.
func fix(x float64) int { return int(x*(1<<constBits) + 0.5) }

var (
	f0298 = fix(0.298631336)
	f0390 = fix(0.390180644)
	f0541 = fix(0.541196100)
	f0765 = fix(0.765366865)
	f0899 = fix(0.899976223)
	f1175 = fix(1.175875602)
	f1501 = fix(1.501321110)
	f1847 = fix(1.847759065)
	f1961 = fix(1.961570560)
	f2053 = fix(2.053119869)
	f2562 = fix(2.562915447)
	f3072 = fix(3.072711026)
)

// idct1 is one 8-point pass over in[0], in[s], ..., in[7s], writing out[0..7] (stride os)
// descaled by shift bits with rounding.
func idct1(in []int, s int, out []int, os int, shift uint) {
	// Even part: coefficients 0, 2, 4, 6.
	z2, z3 := in[2*s], in[6*s]
	z1 := (z2 + z3) * f0541
	tmp2 := z1 - z3*f1847
	tmp3 := z1 + z2*f0765
	tmp0 := (in[0] + in[4*s]) << constBits
	tmp1 := (in[0] - in[4*s]) << constBits
	tmp10, tmp13 := tmp0+tmp3, tmp0-tmp3
	tmp11, tmp12 := tmp1+tmp2, tmp1-tmp2

	// Odd part: coefficients 7, 5, 3, 1.
	t0, t1, t2, t3 := in[7*s], in[5*s], in[3*s], in[s]
	z1 = t0 + t3
	z2 = t1 + t2
	z3 = t0 + t2
	z4 := t1 + t3
	z5 := (z3 + z4) * f1175
	t0 *= f0298
	t1 *= f2053
	t2 *= f3072
	t3 *= f1501
	z1 *= -f0899
	z2 *= -f2562
	z3 = z3*-f1961 + z5
	z4 = z4*-f0390 + z5
	t0 += z1 + z3
	t1 += z2 + z4
	t2 += z2 + z3
	t3 += z1 + z4

	round := 1 << (shift - 1)
	out[0] = (tmp10 + t3 + round) >> shift
	out[7*os] = (tmp10 - t3 + round) >> shift
	out[os] = (tmp11 + t2 + round) >> shift
	out[6*os] = (tmp11 - t2 + round) >> shift
	out[2*os] = (tmp12 + t1 + round) >> shift
	out[5*os] = (tmp12 - t1 + round) >> shift
	out[3*os] = (tmp13 + t0 + round) >> shift
	out[4*os] = (tmp13 - t0 + round) >> shift
}

// idct computes the inverse DCT of one dequantised block (natural order), adds the level
// shift and clamps, writing 8x8 samples at dst with the given stride. pass1 is the number
// of fraction bits kept between the passes: 2 for 8-bit samples, 1 for 12-bit, so that
// the intermediate values keep their precision without overflow.
func idct(blk *[64]int32, dst []uint16, stride int, pass1 uint, center, maxv int) {
	var in, ws [64]int
	for i, v := range blk {
		in[i] = int(v)
	}
	for c := 0; c < 8; c++ {
		if in[8+c]|in[16+c]|in[24+c]|in[32+c]|in[40+c]|in[48+c]|in[56+c] == 0 {
			// A column with only its DC term: the pass reduces to a shift.
			v := in[c] << pass1
			for r := 0; r < 8; r++ {
				ws[r*8+c] = v
			}
			continue
		}
		idct1(in[c:], 8, ws[c:], 8, constBits-pass1)
	}
	var row [8]int
	for r := 0; r < 8; r++ {
		idct1(ws[r*8:], 1, row[:], 1, constBits+pass1+3)
		o := dst[r*stride : r*stride+8]
		for x, v := range row {
			v += center
			if v < 0 {
				v = 0
			} else if v > maxv {
				v = maxv
			}
			o[x] = uint16(v)
		}
	}
}

// outputDCT upsamples the component planes to full resolution, converts YCbCr to RGB when
// asked, and writes pixel-interleaved samples to the output buffer.
func (d *decoder) outputDCT(convert bool) {
	w, h := d.width, d.height
	nc := len(d.comps)
	full := make([][]uint16, nc) // full-resolution plane per component, stride w
	strides := make([]int, nc)
	for i := range d.comps {
		c := &d.comps[i]
		if c.h == d.hmax && c.v == d.vmax {
			full[i], strides[i] = c.plane, c.stride
			continue
		}
		full[i], strides[i] = upsample(c, d.hmax/c.h, d.vmax/c.v, d.hmax%c.h == 0 && d.vmax%c.v == 0, w, h), w
	}
	out := d.out
	if nc == 1 {
		p, s := full[0], strides[0]
		for y := 0; y < h; y++ {
			row := p[y*s : y*s+w]
			if out.Pix8 != nil {
				o := out.Pix8[y*w : y*w+w]
				for x, v := range row {
					o[x] = uint8(v)
				}
			} else {
				copy(out.Pix16[y*w:y*w+w], row)
			}
		}
		return
	}
	maxv := int32(1)<<d.precision - 1
	half := int32(1) << (d.precision - 1)
	i := 0
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var s [4]int32
			for c := 0; c < nc; c++ {
				s[c] = int32(full[c][y*strides[c]+x])
			}
			if convert {
				// JFIF / PS3.3 C.7.6.3.1.2 YBR_FULL inverse, in 16-bit fixed point with
				// the rounding of the libjpeg family (the reference decoders).
				yy, cb, cr := s[0], s[1]-half, s[2]-half
				s[0] = clampI(yy+int32((crR*int64(cr)+oneHalf)>>16), maxv)
				s[1] = clampI(yy+int32((cbG*int64(cb)+crG*int64(cr)+oneHalf)>>16), maxv)
				s[2] = clampI(yy+int32((cbB*int64(cb)+oneHalf)>>16), maxv)
			}
			for c := 0; c < nc; c++ {
				out.Set(i, uint16(s[c]))
				i++
			}
		}
	}
}

// YCbCr to RGB factors in 16-bit fixed point.
const oneHalf = 1 << 15

var (
	crR = fix16(1.40200)
	cbB = fix16(1.77200)
	cbG = -fix16(0.34414)
	crG = -fix16(0.71414)
)

func fix16(x float64) int64 { return int64(x*65536 + 0.5) }

func clampI(v, maxv int32) int32 {
	if v < 0 {
		return 0
	}
	if v > maxv {
		return maxv
	}
	return v
}

// upsample returns a w x h plane from a subsampled component. Horizontal 2:1 and 2:1 both
// ways use triangle ("fancy") interpolation, which is what libjpeg-based decoders such as
// DCMTK's do by default, so that colours match theirs at edges; other ratios replicate.
// Interpolation reads only the component's real samples (c.w x c.ht), replicating at edges.
func upsample(c *component, fx, fy int, integral bool, w, h int) []uint16 {
	out := make([]uint16, w*h)
	at := func(x, y int) int32 {
		x = min(max(x, 0), c.w-1)
		y = min(max(y, 0), c.ht-1)
		return int32(c.plane[y*c.stride+x])
	}
	switch {
	case integral && fx == 2 && fy == 1:
		for y := 0; y < h; y++ {
			o := out[y*w : y*w+w]
			for x := range o {
				i := x / 2
				if c.w == 1 {
					o[x] = uint16(at(0, y))
					continue
				}
				switch {
				case x == 0:
					o[x] = uint16(at(0, y))
				case x == 2*c.w-1:
					o[x] = uint16(at(c.w-1, y))
				case x%2 == 0:
					o[x] = uint16((3*at(i, y) + at(i-1, y) + 1) >> 2)
				default:
					o[x] = uint16((3*at(i, y) + at(i+1, y) + 2) >> 2)
				}
			}
		}
	case integral && fx == 2 && fy == 2:
		col := make([]int32, c.w)
		for y := 0; y < h; y++ {
			cy := y / 2
			far := cy - 1
			if y%2 == 1 {
				far = cy + 1
			}
			for i := range col {
				col[i] = 3*at(i, cy) + at(i, far)
			}
			o := out[y*w : y*w+w]
			for x := range o {
				i := x / 2
				switch {
				case c.w == 1:
					o[x] = uint16((4*col[0] + 8) >> 4)
				case x == 0:
					o[x] = uint16((4*col[0] + 8) >> 4)
				case x == 2*c.w-1:
					o[x] = uint16((4*col[c.w-1] + 7) >> 4)
				case x%2 == 0:
					o[x] = uint16((3*col[i] + col[i-1] + 8) >> 4)
				case i+1 < c.w:
					o[x] = uint16((3*col[i] + col[i+1] + 7) >> 4)
				default:
					o[x] = uint16((4*col[i] + 7) >> 4)
				}
			}
		}
	default:
		// Replication: output pixel (x, y) takes the sample covering it (T.81 A.1.1).
		for y := 0; y < h; y++ {
			sy := y * c.v / (c.v * fy)
			if !integral {
				sy = y * c.ht / h
			}
			for x := 0; x < w; x++ {
				sx := x / fx
				if !integral {
					sx = x * c.w / w
				}
				out[y*w+x] = uint16(at(sx, sy))
			}
		}
	}
	return out
}
