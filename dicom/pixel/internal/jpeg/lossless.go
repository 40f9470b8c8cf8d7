package jpeg

// Lossless (process 14) decoding: T.81 Annex H. Samples are predicted from their
// reconstructed neighbours Ra (left), Rb (above) and Rc (above-left) and the Huffman-coded
// difference added modulo 2^16 (H.2.1).

// losslessScan decodes one lossless scan into the planes of its components.
func (d *decoder) losslessScan(sc []scanComp, predictor, pt int) error {
	w, h := d.width, d.height
	initial := int32(1) << (d.precision - pt - 1) // H.1.2.1: prediction at the start
	if len(sc) == 1 && d.ri == 0 {
		if err := d.losslessSingle(sc[0].c, d.dc[sc[0].td], predictor, initial); err != nil {
			return err
		}
		sc[0].c.pt = pt
		return d.br.overrun()
	}
	left := d.ri
	// After the start of the scan and after each restart, the rest of that line is
	// predicted from Ra only and its first sample from the initial value (H.1.2.1).
	resetRow, resetCol := 0, 0
	for y := 0; y < h; y++ {
		if d.br.pad > int(d.br.n)+64 {
			return d.br.overrun()
		}
		for x := 0; x < w; x++ {
			if d.ri > 0 {
				if left == 0 {
					if err := d.restart(); err != nil {
						return err
					}
					resetRow, resetCol = y, x
					left = d.ri
				}
				left--
			}
			for i := range sc {
				c := sc[i].c
				p := c.plane
				at := y*w + x
				var pred int32
				switch {
				case y == resetRow && x == resetCol:
					pred = initial
				case y == resetRow:
					pred = int32(p[at-1])
				case x == 0:
					pred = int32(p[at-w])
				default:
					pred = predict(predictor, int32(p[at-1]), int32(p[at-w]), int32(p[at-w-1]))
				}
				t, err := d.br.decode(d.dc[sc[i].td])
				if err != nil {
					return err
				}
				var diff int32
				switch {
				case t == 0:
				case t == 16:
					// H.1.2.2: category 16 carries no extra bits; the difference is 32768.
					diff = 32768
				case t > 16:
					return corrupt("lossless difference category %d", t)
				default:
					diff = extend(d.br.receive(uint(t)), uint(t))
				}
				p[at] = uint16(pred + diff)
			}
		}
	}
	for i := range sc {
		sc[i].c.pt = pt
	}
	return d.br.overrun()
}

// losslessSingle is losslessScan for the common case (one component, no restart
// intervals: what DR systems send), with the Huffman lookup inlined and the bit buffer in
// locals. It computes the same predictions as the general loop.
func (d *decoder) losslessSingle(c *component, t *huffTable, predictor int, initial int32) error {
	w, h := d.width, d.height
	p := c.plane
	br := &d.br
	acc, n := br.acc, br.n
	lookup := &t.lookup
	var prev []uint16
	for y := 0; y < h; y++ {
		if br.pad > int(n)+64 {
			br.acc, br.n = acc, n
			return br.overrun()
		}
		row := p[y*w : (y+1)*w]
		// The first line predicts from Ra only, the first sample of later lines from Rb
		// (H.1.2.1); selection value 1 is Ra everywhere.
		sv := predictor
		if y == 0 {
			sv = 1
		}
		for x := 0; x < w; x++ {
			var pred int32
			switch {
			case x == 0 && y == 0:
				pred = initial
			case x == 0:
				pred = int32(prev[0])
			case sv == 1:
				pred = int32(row[x-1])
			default:
				pred = predict(sv, int32(row[x-1]), int32(prev[x]), int32(prev[x-1]))
			}
			if n < 32 {
				br.acc, br.n = acc, n
				br.fill()
				acc, n = br.acc, br.n
			}
			var s uint
			if e := lookup[acc>>(64-lookBits)]; e != 0 {
				l := uint(e >> 8)
				acc <<= l
				n -= l
				s = uint(e & 0xFF)
			} else {
				br.acc, br.n = acc, n
				v, err := br.decode(t)
				if err != nil {
					return err
				}
				acc, n = br.acc, br.n
				s = uint(v)
			}
			var diff int32
			switch {
			case s == 0:
			case s < 16:
				diff = int32(acc >> (64 - s))
				acc <<= s
				n -= s
				if diff < 1<<(s-1) {
					diff += -1<<s + 1
				}
			case s == 16:
				diff = 32768 // H.1.2.2
			default:
				return corrupt("lossless difference category %d", s)
			}
			row[x] = uint16(pred + diff)
		}
		prev = row
	}
	br.acc, br.n = acc, n
	return nil
}

// predict applies a lossless predictor (T.81 Table H.1).
func predict(sv int, ra, rb, rc int32) int32 {
	switch sv {
	case 1:
		return ra
	case 2:
		return rb
	case 3:
		return rc
	case 4:
		return ra + rb - rc
	case 5:
		return ra + (rb-rc)>>1
	case 6:
		return rb + (ra-rc)>>1
	}
	return (ra + rb) >> 1
}

// outputLossless applies the point transform (H.1.2.3: samples were coded shifted right by
// Pt) and interleaves the component planes into the output buffer.
func (d *decoder) outputLossless() {
	nc := len(d.comps)
	n := d.width * d.height
	out := d.out
	// Reconstructed values are taken modulo 2^P, which is what a P-bit sample can hold.
	mask := uint16(1<<d.precision - 1)
	for c := 0; c < nc; c++ {
		p := d.comps[c].plane
		pt := d.comps[c].pt
		if out.Pix16 != nil {
			o := out.Pix16
			if nc == 1 && pt == 0 && d.precision == 16 && &o[0] == &p[0] {
				continue // decoded in place, nothing to shift or mask
			}
			for i := 0; i < n; i++ {
				o[i*nc+c] = (p[i] << pt) & mask
			}
		} else {
			o := out.Pix8
			for i := 0; i < n; i++ {
				o[i*nc+c] = uint8((p[i] << pt) & mask)
			}
		}
	}
}
