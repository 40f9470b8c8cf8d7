package jpeg

// Progressive DCT decoding with Huffman coding (T.81 Annex G; the retired DICOM processes
// 6 and 8, spectral selection, and 10 and 12, full progression: PS3.5 A.4.1). A scan
// codes either the DC coefficients of one or more components or one band Ss..Se of AC
// coefficients of one component, each either for the first time (Ah = 0: values shifted
// right by the point transform Al) or as a refinement adding bit Al (Ah = Al + 1). The
// coefficients of every block are kept until the last scan, then dequantised and inverse
// transformed like sequential blocks, so a complete progression decodes to exactly the
// samples of the libjpeg family, whose coefficient arithmetic (16-bit) this follows.

// progressiveScan checks one scan's parameters against T.81 B.2.3 and G.1.1.1 and decodes
// its entropy-coded segment into the components' coefficients.
func (d *decoder) progressiveScan(sc []scanComp, ss, se, ah, al int) error {
	dc := ss == 0
	switch {
	case dc && se != 0:
		return corrupt("progressive scan mixes DC and AC coefficients (Ss 0, Se %d)", se)
	case !dc && (se < ss || se > 63):
		return corrupt("progressive scan of band %d-%d", ss, se)
	case !dc && len(sc) != 1:
		return corrupt("progressive AC scan of %d components (T.81 G.1.1.1.1 allows one)", len(sc))
	case al > 13 || (ah != 0 && al != ah-1):
		// Each refinement adds one bit (T.81 G.1.1.1.2; B.2.3 bounds Al by 13).
		return corrupt("progressive scan with successive approximation %d/%d", ah, al)
	}
	for _, s := range sc {
		c := s.c
		switch {
		case dc && ah == 0 && d.dc[s.td] == nil:
			return corrupt("scan uses undefined Huffman table %d", s.td)
		case !dc && d.ac[s.ta] == nil:
			return corrupt("scan uses undefined Huffman table %d", s.ta)
		}
		if !c.seen {
			// The table in force at a component's first scan is the one its blocks use
			// (T.81 B.2.4.1: a table may be redefined once the scans that use it are done).
			if !d.qtSet[c.tq] {
				return corrupt("component %d uses undefined quantisation table %d", c.id, c.tq)
			}
			c.q = d.qt[c.tq]
		}
		// G.1.1.1.1: a component's AC scans follow its first DC scan; G.1.1.1.2: a
		// refinement continues at the bit where the previous scan of the band stopped.
		if !dc && c.coefBits[0] < 0 {
			return corrupt("AC scan of component %d before its DC scan", c.id)
		}
		for k := ss; k <= se; k++ {
			want := int8(-1)
			if ah > 0 {
				want = int8(ah)
			}
			if c.coefBits[k] != want {
				return corrupt("component %d: scan with Ah %d for coefficient %d last coded with Al %d", c.id, ah, k, c.coefBits[k])
			}
			c.coefBits[k] = int8(al)
		}
	}

	for i := range sc {
		sc[i].c.pred = 0
	}
	d.eobrun = 0
	// As in sequential scans: one component is non-interleaved, over its own blocks
	// (T.81 A.2.2); several follow the MCU grid (A.2.3).
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
				// T.81 G.1.2.2: neither DC prediction nor an EOB run crosses a restart.
				for i := range sc {
					sc[i].c.pred = 0
				}
				d.eobrun = 0
				left = d.ri
			}
			left--
		}
		mx, my := m%perRow, m/perRow
		if mx == 0 && d.br.pad > int(d.br.n)+64 {
			return d.br.overrun()
		}
		if len(sc) == 1 {
			if err := d.progressiveBlock(&sc[0], sc[0].c.block(mx, my), ss, se, ah, al); err != nil {
				return err
			}
			continue
		}
		for i := range sc {
			c := sc[i].c
			for v := 0; v < c.v; v++ {
				for h := 0; h < c.h; h++ {
					if err := d.progressiveBlock(&sc[i], c.block(mx*c.h+h, my*c.v+v), ss, se, ah, al); err != nil {
						return err
					}
				}
			}
		}
	}
	return d.br.overrun()
}

// block returns the 64 coefficients of block (bx, by) of a progressive component.
func (c *component) block(bx, by int) []int16 {
	i := (by*(c.stride/8) + bx) * 64
	return c.coef[i : i+64 : i+64]
}

func (d *decoder) progressiveBlock(s *scanComp, blk []int16, ss, se, ah, al int) error {
	switch {
	case ss == 0 && ah == 0:
		return d.dcFirst(s, blk, al)
	case ss == 0:
		// G.1.2.1: a DC refinement is one raw bit per block.
		if d.br.receive(1) != 0 {
			blk[0] |= int16(1 << al)
		}
		return nil
	case ah == 0:
		return d.acFirst(s, blk, ss, se, al)
	default:
		return d.acRefine(s, blk, ss, se, al)
	}
}

// dcFirst decodes a DC difference as in sequential mode (F.2.2.1) and stores the
// prediction-corrected value shifted left by the point transform (G.1.2.1).
func (d *decoder) dcFirst(s *scanComp, blk []int16, al int) error {
	t, err := d.br.decode(d.dc[s.td])
	if err != nil {
		return err
	}
	if t > 16 {
		return corrupt("DC difference category %d", t)
	}
	s.c.pred += extend(d.br.receive(uint(t)), uint(t))
	blk[0] = int16(s.c.pred << al)
	return nil
}

// acFirst decodes the first scan of an AC band (G.1.2.2): run/size symbols as in
// sequential mode, where a symbol with size 0 and run r < 15 starts a run of 2^r + (r
// appended bits) blocks, this one included, with no more coefficients in the band.
func (d *decoder) acFirst(s *scanComp, blk []int16, ss, se, al int) error {
	if d.eobrun > 0 {
		d.eobrun--
		return nil
	}
	ac := d.ac[s.ta]
	for k := ss; k <= se; k++ {
		rs, err := d.br.decode(ac)
		if err != nil {
			return err
		}
		r, sz := int(rs>>4), uint(rs&15)
		if sz == 0 {
			if r == 15 {
				k += 15 // ZRL: sixteen zero coefficients
				continue
			}
			d.eobrun = 1<<r - 1 + int(d.br.receive(uint(r)))
			return nil
		}
		k += r
		if k > se {
			return corrupt("AC coefficient run past the end of the band")
		}
		blk[zigzag[k]] = int16(extend(d.br.receive(sz), sz) << al)
	}
	return nil
}

// acRefine decodes a refinement scan of an AC band (G.1.2.3). Coefficients already
// non-zero receive one correction bit each, in band order, wherever the decoder passes
// them; a symbol's run counts only coefficients still zero, and its size (always 1) places
// a new coefficient of magnitude 2^Al whose sign is the next bit. Within an EOB run every
// remaining non-zero coefficient still gets its correction bit.
func (d *decoder) acRefine(s *scanComp, blk []int16, ss, se, al int) error {
	p1, m1 := int16(1)<<al, int16(-1)<<al
	k := ss
	if d.eobrun == 0 {
		ac := d.ac[s.ta]
		for ; k <= se; k++ {
			rs, err := d.br.decode(ac)
			if err != nil {
				return err
			}
			r, sz := int(rs>>4), rs&15
			var v int16
			switch {
			case sz == 1:
				v = m1
				if d.br.receive(1) != 0 {
					v = p1
				}
			case sz != 0:
				return corrupt("AC refinement symbol of size %d", sz)
			case r != 15:
				d.eobrun = 1<<r + int(d.br.receive(uint(r)))
			}
			if d.eobrun > 0 {
				break // the rest of this block is the first of the run
			}
			// Skip r zero coefficients (16 for ZRL), correcting the non-zero ones passed.
			for ; k <= se; k++ {
				z := zigzag[k]
				if blk[z] != 0 {
					d.refine(&blk[z], p1, m1)
				} else {
					if r == 0 {
						break
					}
					r--
				}
			}
			if v != 0 {
				if k > se {
					return corrupt("AC refinement run past the end of the band")
				}
				blk[zigzag[k]] = v
			}
		}
	}
	if d.eobrun > 0 {
		for ; k <= se; k++ {
			if z := zigzag[k]; blk[z] != 0 {
				d.refine(&blk[z], p1, m1)
			}
		}
		d.eobrun--
	}
	return nil
}

// refine applies the correction bit of a coefficient already non-zero: when set, and the
// coefficient does not have that bit yet, its magnitude grows by 2^Al (G.1.2.3).
func (d *decoder) refine(c *int16, p1, m1 int16) {
	if d.br.receive(1) == 0 || *c&p1 != 0 {
		return
	}
	if *c >= 0 {
		*c += p1
	} else {
		*c += m1
	}
}

// progressiveIDCT dequantises and inverse transforms every block of a progressive frame
// into its component's plane, once all scans are read. Every component has had its DC scan
// (finish saw it in a scan, and AC scans may not come first); coefficients no scan coded
// stay zero, so a truncated progression still gives its coarser picture. libjpeg would
// also smooth such blocks (its "block smoothing" of incompletely coded low frequencies);
// this decoder does not, which only matters for incomplete progressions.
func (d *decoder) progressiveIDCT() {
	center, maxv := 1<<(d.precision-1), 1<<d.precision-1
	pass1 := uint(2)
	if d.precision > 8 {
		pass1 = 1
	}
	var blk [64]int32
	for i := range d.comps {
		c := &d.comps[i]
		// Only blocks holding the component's own samples are output (T.81 A.1.1); the
		// rest of the MCU grid is padding nobody reads.
		for by := 0; by < (c.ht+7)/8; by++ {
			for bx := 0; bx < (c.w+7)/8; bx++ {
				coef := c.block(bx, by)
				for k, v := range coef {
					blk[k] = int32(v) * c.q[k]
				}
				idct(&blk, c.plane[by*8*c.stride+bx*8:], c.stride, pass1, center, maxv)
			}
		}
	}
}
