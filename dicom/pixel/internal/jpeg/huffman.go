package jpeg

// Huffman decoding (T.81 Annex C and F.2.2.3) over a bit reader that removes byte
// stuffing (T.81 B.1.1.5) and stops at markers.

const lookBits = 9

type huffTable struct {
	// lookup maps the next lookBits bits to length<<8 | value for codes up to lookBits long;
	// 0 means a longer code.
	lookup  [1 << lookBits]uint16
	maxcode [18]int32 // largest code of each length, -1 when none (F.2.2.3)
	mincode [17]int32
	valptr  [17]int32
	vals    [256]uint8
}

// build derives the decoding tables from BITS and HUFFVAL (T.81 C.2, F.2.2.3).
func (t *huffTable) build(counts [16]uint8, vals []uint8) error {
	copy(t.vals[:], vals)
	code, k := int32(0), int32(0)
	for l := 1; l <= 16; l++ {
		n := int32(counts[l-1])
		t.valptr[l], t.mincode[l] = k, code
		if code+n > 1<<l {
			return corrupt("Huffman table has more codes of length %d than fit", l)
		}
		for i := int32(0); i < n; i++ {
			if l <= lookBits {
				shift := lookBits - l
				base := code << shift
				for j := int32(0); j < 1<<shift; j++ {
					t.lookup[base+j] = uint16(l)<<8 | uint16(vals[k])
				}
			}
			code++
			k++
		}
		if n > 0 {
			t.maxcode[l] = code - 1
		} else {
			t.maxcode[l] = -1
		}
		code <<= 1
	}
	t.maxcode[17] = 1 << 30 // sentinel, never reached by a valid code
	return nil
}

// bitReader reads entropy-coded bits MSB first. At a marker or the end of the data it feeds
// zero bits, and counts them so that a decoder that used any of them can report the
// codestream as truncated: a valid encoder pads the last byte with 1-bits, so a correct
// decoder never needs bits past the data.
type bitReader struct {
	src    []byte
	pos    int
	acc    uint64
	n      uint // valid bits in acc (real + padding)
	pad    int  // zero bits appended after a marker or the end
	marker bool
}

func (b *bitReader) fill() {
	for b.n <= 56 {
		var c byte
		if !b.marker {
			switch {
			case b.pos >= len(b.src):
				b.marker = true
			case b.src[b.pos] != 0xFF:
				c = b.src[b.pos]
				b.pos++
			case b.pos+1 < len(b.src) && b.src[b.pos+1] == 0x00:
				c = 0xFF
				b.pos += 2
			default:
				// A marker (or fill bytes before one): the segment ends here.
				b.marker = true
			}
		}
		if b.marker {
			b.pad += 8
		}
		b.acc |= uint64(c) << (56 - b.n)
		b.n += 8
	}
}

// overrun reports an error if the decoder consumed padding bits.
func (b *bitReader) overrun() error {
	if b.pad > int(b.n) {
		return corrupt("entropy-coded data ends early (truncated or corrupt codestream)")
	}
	return nil
}

// markerPos returns the offset of the marker that ends the segment, skipping entropy-coded
// bytes the reader has not yet consumed and fill bytes.
func (b *bitReader) markerPos() int {
	p := b.pos
	for p < len(b.src) {
		if b.src[p] == 0xFF && p+1 < len(b.src) {
			nx := b.src[p+1]
			if nx == 0x00 {
				p += 2
				continue
			}
			if nx == 0xFF {
				p++
				continue
			}
			return p
		}
		p++
	}
	return len(b.src)
}

func (b *bitReader) decode(t *huffTable) (uint8, error) {
	if b.n < 16 {
		b.fill()
	}
	if e := t.lookup[b.acc>>(64-lookBits)]; e != 0 {
		l := uint(e >> 8)
		b.acc <<= l
		b.n -= l
		return uint8(e), nil
	}
	for l := lookBits + 1; l <= 16; l++ {
		code := int32(b.acc >> (64 - uint(l)))
		if code <= t.maxcode[l] {
			b.acc <<= uint(l)
			b.n -= uint(l)
			i := t.valptr[l] + code - t.mincode[l]
			if i < 0 || i > 255 {
				return 0, corrupt("bad Huffman code")
			}
			return t.vals[i], nil
		}
	}
	return 0, corrupt("bad Huffman code")
}

// receive reads s bits (s <= 16) as an unsigned number.
func (b *bitReader) receive(s uint) int32 {
	if s == 0 {
		return 0
	}
	if b.n < s {
		b.fill()
	}
	v := int32(b.acc >> (64 - s))
	b.acc <<= s
	b.n -= s
	return v
}

// extend turns s received bits into a signed difference (T.81 F.2.2.1, Figure F.12).
func extend(v int32, s uint) int32 {
	if s == 0 {
		return 0
	}
	if v < 1<<(s-1) {
		v += -1<<s + 1
	}
	return v
}
