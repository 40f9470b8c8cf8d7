// Package jpeg is a pure-Go decoder for the JPEG processes DICOM uses (ITU-T T.81 /
// ISO 10918-1, as profiled by PS3.5 8.2.1 and A.4.1): baseline sequential DCT (process 1,
// 8-bit), extended sequential DCT (processes 2 and 4, 8 and 12 bits), progressive DCT
// (the retired processes 6 and 8, spectral selection, and 10 and 12, full progression; 8
// and 12 bits) and lossless (process 14, 2-16 bits, all seven predictors, point
// transform), all Huffman coded, interleaved or not, with restart intervals.
//
// It exists because Go's image/jpeg reads only 8-bit DCT images and Debian's libjpeg-turbo
// 2.1 is built 8-bit only; DICOM archives hold 12-bit extended and 16-bit lossless images.
// Hierarchical and arithmetic-coded processes are refused (DICOM retired them, and no
// DICOM encoder in use writes them).
//
// The decoder never allocates from codestream values alone: the caller passes a buffer sized
// from the DICOM header and the frame header must agree with it.
package jpeg

import (
	"encoding/binary"
	"errors"
	"fmt"

	"pacsd/dicom/pixel/internal/raster"
)

// ErrUnsupported marks JPEG processes this decoder does not implement.
var ErrUnsupported = errors.New("unsupported JPEG process")

// ErrCorrupt marks codestreams that break T.81.
var ErrCorrupt = errors.New("corrupt JPEG data")

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// Options steers decoding.
type Options struct {
	// ConvertYCbCr converts a three-component DCT image from YCbCr to RGB (the JFIF
	// equations, which are those of YBR_FULL in PS3.3 C.7.6.3.1.2). The caller decides from
	// the DICOM Photometric Interpretation, not from JFIF/Adobe markers: PS3.5 8.2.1 makes
	// the DICOM attribute authoritative.
	ConvertYCbCr bool
}

// Info describes the decoded codestream.
type Info struct {
	Process   int // SOF marker number: 0 baseline, 1 extended, 2 progressive, 3 lossless
	Precision int // sample precision P
	Predictor int // lossless selection value (1-7); 0 for DCT processes
	Converted bool
}

// Markers (T.81 Table B.1).
const (
	mSOF0 = 0xC0
	mSOF1 = 0xC1
	mSOF2 = 0xC2
	mSOF3 = 0xC3
	mDHT  = 0xC4
	mDAC  = 0xCC
	mRST0 = 0xD0
	mSOI  = 0xD8
	mEOI  = 0xD9
	mSOS  = 0xDA
	mDQT  = 0xDB
	mDNL  = 0xDC
	mDRI  = 0xDD
	mAPP0 = 0xE0
	mCOM  = 0xFE
)

type component struct {
	id     uint8
	h, v   int
	tq     int
	w, ht  int // samples in this component (T.81 A.1.1)
	stride int // plane width in samples (MCU-padded for DCT)
	rows   int
	plane  []uint16
	pred   int32 // DC predictor (DCT)
	pt     int   // point transform of its lossless scan
	seen   bool  // appeared in a scan

	// Progressive frames (T.81 Annex G) keep every block's quantised coefficients, in
	// natural order, 64 per block over the plane's block grid, until the last scan.
	coef []int16
	// coefBits is the point transform Al of the last scan that coded each coefficient
	// (zig-zag index), -1 before any: it checks the order of scans (T.81 G.1.1.1).
	coefBits [64]int8
	// q is the quantisation table latched at the component's first scan.
	q [64]int32
}

type scanComp struct {
	c      *component
	td, ta int
}

type decoder struct {
	src  []byte
	pos  int
	out  *raster.Buffer
	opts Options

	sof        int
	precision  int
	width      int
	height     int
	comps      []component
	hmax, vmax int
	mcux, mcuy int

	qt     [4][64]int32 // natural order
	qtSet  [4]bool
	dc, ac [4]*huffTable
	ri     int // restart interval in MCUs
	eobrun int // progressive AC scans: blocks left in the current end-of-band run

	br bitReader
}

// Decode decodes one JPEG image into out, whose size (from the DICOM header) the frame
// header must match.
func Decode(src []byte, out *raster.Buffer, opts Options) (Info, error) {
	d := &decoder{src: src, out: out, opts: opts, sof: -1}
	info, err := d.decode()
	if err != nil {
		return info, fmt.Errorf("jpeg: %w", err)
	}
	return info, nil
}

func (d *decoder) u16(at int) int { return int(binary.BigEndian.Uint16(d.src[at:])) }

// nextMarker skips to the next marker (T.81 B.1.1.2: markers may be preceded by fill bytes
// 0xFF) and returns its code. Bytes that are not a marker are tolerated only after an
// entropy-coded segment, which the scan decoder already passed.
func (d *decoder) nextMarker() (byte, error) {
	for d.pos+1 < len(d.src) {
		if d.src[d.pos] != 0xFF {
			d.pos++
			continue
		}
		c := d.src[d.pos+1]
		if c == 0xFF {
			d.pos++
			continue
		}
		if c == 0x00 || (c >= mRST0 && c <= mRST0+7) {
			// Stuffed byte or a stray restart marker between segments.
			d.pos += 2
			continue
		}
		d.pos += 2
		return c, nil
	}
	return 0, corrupt("codestream ends before EOI")
}

// segment returns the payload of a marker segment whose length field is at d.pos.
func (d *decoder) segment() ([]byte, error) {
	if d.pos+2 > len(d.src) {
		return nil, corrupt("marker segment cut short")
	}
	n := d.u16(d.pos)
	if n < 2 || d.pos+n > len(d.src) {
		return nil, corrupt("marker segment length %d at offset %d beyond the data", n, d.pos)
	}
	seg := d.src[d.pos+2 : d.pos+n]
	d.pos += n
	return seg, nil
}

func (d *decoder) decode() (Info, error) {
	if len(d.src) < 4 || d.src[0] != 0xFF || d.src[1] != mSOI {
		return Info{}, corrupt("no SOI marker at the start")
	}
	d.pos = 2
	scans := 0
	for {
		m, err := d.nextMarker()
		if err != nil {
			if scans > 0 && d.allSeen() && d.progressionDone() {
				// A missing EOI after complete scans is common enough (truncated padding)
				// and harmless: every sample has been decoded.
				return d.finish()
			}
			return Info{}, err
		}
		switch {
		case m == mEOI:
			if scans == 0 {
				return Info{}, corrupt("EOI before any scan")
			}
			return d.finish()
		case m == mSOF0 || m == mSOF1 || m == mSOF2 || m == mSOF3:
			seg, err := d.segment()
			if err != nil {
				return Info{}, err
			}
			if err := d.parseSOF(m, seg); err != nil {
				return Info{}, err
			}
		case (m >= 0xC5 && m <= 0xC7) || (m >= 0xC9 && m <= 0xCB) || (m >= 0xCD && m <= 0xCF):
			return Info{}, fmt.Errorf("%w: SOF%d (hierarchical or arithmetic coding)", ErrUnsupported, m-mSOF0)
		case m == mDHT:
			seg, err := d.segment()
			if err != nil {
				return Info{}, err
			}
			if err := d.parseDHT(seg); err != nil {
				return Info{}, err
			}
		case m == mDQT:
			seg, err := d.segment()
			if err != nil {
				return Info{}, err
			}
			if err := d.parseDQT(seg); err != nil {
				return Info{}, err
			}
		case m == mDRI:
			seg, err := d.segment()
			if err != nil {
				return Info{}, err
			}
			if len(seg) != 2 {
				return Info{}, corrupt("DRI segment of %d bytes", len(seg))
			}
			d.ri = int(binary.BigEndian.Uint16(seg))
		case m == mSOS:
			seg, err := d.segment()
			if err != nil {
				return Info{}, err
			}
			if err := d.scan(seg); err != nil {
				return Info{}, err
			}
			scans++
		case m == mDAC:
			return Info{}, fmt.Errorf("%w: arithmetic coding", ErrUnsupported)
		case m == mSOI:
			return Info{}, corrupt("second SOI marker")
		default:
			// APPn, COM, DNL, DHP, EXP and reserved markers carry a length; skip them.
			if _, err := d.segment(); err != nil {
				return Info{}, err
			}
		}
	}
}

func (d *decoder) allSeen() bool {
	if d.sof < 0 {
		return false
	}
	for i := range d.comps {
		if !d.comps[i].seen {
			return false
		}
	}
	return true
}

// progressionDone reports whether a progressive frame's scans have coded every coefficient
// of every component to full precision: only then does a codestream cut short before EOI
// hold the whole image rather than a coarser one. Sequential frames are done once every
// component has had its scan.
func (d *decoder) progressionDone() bool {
	if d.sof != 2 {
		return true
	}
	for i := range d.comps {
		for _, al := range d.comps[i].coefBits {
			if al != 0 {
				return false
			}
		}
	}
	return true
}

// parseSOF reads a frame header (T.81 B.2.2) and allocates the component planes, after
// checking the geometry against the DICOM header.
func (d *decoder) parseSOF(m byte, seg []byte) error {
	if d.sof >= 0 {
		return corrupt("more than one frame header")
	}
	if len(seg) < 6 {
		return corrupt("frame header too short")
	}
	d.sof = int(m - mSOF0)
	d.precision = int(seg[0])
	d.height = int(binary.BigEndian.Uint16(seg[1:]))
	d.width = int(binary.BigEndian.Uint16(seg[3:]))
	nc := int(seg[5])
	if len(seg) != 6+3*nc {
		return corrupt("frame header of %d bytes for %d components", len(seg), nc)
	}
	switch d.sof {
	case 0:
		if d.precision != 8 {
			return corrupt("baseline frame with %d-bit precision", d.precision)
		}
	case 1, 2:
		if d.precision != 8 && d.precision != 12 {
			return corrupt("extended or progressive frame with %d-bit precision", d.precision)
		}
	case 3:
		if d.precision < 2 || d.precision > 16 {
			return corrupt("lossless frame with %d-bit precision", d.precision)
		}
	}
	if d.height == 0 {
		// Height given later by a DNL marker (T.81 B.2.5): take the DICOM header's.
		d.height = d.out.Height
	}
	if err := d.out.Check(d.width, d.height, nc, d.precision); err != nil {
		return corrupt("%v", err)
	}
	d.comps = make([]component, nc)
	d.hmax, d.vmax = 1, 1
	for i := range d.comps {
		c := &d.comps[i]
		b := seg[6+3*i:]
		c.id = b[0]
		c.h, c.v = int(b[1]>>4), int(b[1]&15)
		c.tq = int(b[2])
		if c.h < 1 || c.h > 4 || c.v < 1 || c.v > 4 || c.tq > 3 {
			return corrupt("component %d: sampling %dx%d, table %d", c.id, c.h, c.v, c.tq)
		}
		for j := 0; j < i; j++ {
			if d.comps[j].id == c.id {
				return corrupt("component identifier %d used twice", c.id)
			}
		}
		d.hmax = max(d.hmax, c.h)
		d.vmax = max(d.vmax, c.v)
	}
	if d.sof == 3 && (d.hmax != 1 || d.vmax != 1) {
		return fmt.Errorf("%w: subsampled lossless JPEG", ErrUnsupported)
	}
	// T.81 A.1.1: component dimensions; A.2: MCU grid.
	d.mcux = (d.width + 8*d.hmax - 1) / (8 * d.hmax)
	d.mcuy = (d.height + 8*d.vmax - 1) / (8 * d.vmax)
	for i := range d.comps {
		c := &d.comps[i]
		c.w = (d.width*c.h + d.hmax - 1) / d.hmax
		c.ht = (d.height*c.v + d.vmax - 1) / d.vmax
		if d.sof == 3 {
			c.stride, c.rows = c.w, c.ht
		} else {
			c.stride, c.rows = d.mcux*c.h*8, d.mcuy*c.v*8
		}
		if d.sof == 3 && nc == 1 && d.out.Pix16 != nil {
			// One lossless component decodes straight into the caller's buffer (same
			// size and layout); outputLossless then works in place.
			c.plane = d.out.Pix16[:c.stride*c.rows]
			continue
		}
		c.plane = make([]uint16, c.stride*c.rows)
		if d.sof == 2 {
			// As large as the plane (one coefficient per sample), which the DICOM header
			// bounds through the checks above.
			c.coef = make([]int16, c.stride*c.rows)
			for k := range c.coefBits {
				c.coefBits[k] = -1
			}
		}
	}
	return nil
}

// parseDQT reads quantisation tables (T.81 B.2.4.1), stored here in natural order.
func (d *decoder) parseDQT(seg []byte) error {
	for len(seg) > 0 {
		pq, tq := seg[0]>>4, int(seg[0]&15)
		if pq > 1 || tq > 3 {
			return corrupt("DQT precision %d table %d", pq, tq)
		}
		n := 64 * (1 + int(pq))
		if len(seg) < 1+n {
			return corrupt("DQT segment cut short")
		}
		for k := 0; k < 64; k++ {
			var q int32
			if pq == 0 {
				q = int32(seg[1+k])
			} else {
				q = int32(binary.BigEndian.Uint16(seg[1+2*k:]))
			}
			d.qt[tq][zigzag[k]] = q
		}
		d.qtSet[tq] = true
		seg = seg[1+n:]
	}
	return nil
}

// parseDHT reads Huffman tables (T.81 B.2.4.2).
func (d *decoder) parseDHT(seg []byte) error {
	for len(seg) > 0 {
		if len(seg) < 17 {
			return corrupt("DHT segment cut short")
		}
		tc, th := seg[0]>>4, int(seg[0]&15)
		if tc > 1 || th > 3 {
			return corrupt("DHT class %d table %d", tc, th)
		}
		var counts [16]uint8
		copy(counts[:], seg[1:17])
		total := 0
		for _, c := range counts {
			total += int(c)
		}
		if total > 256 || len(seg) < 17+total {
			return corrupt("DHT with %d codes", total)
		}
		t := &huffTable{}
		if err := t.build(counts, seg[17:17+total]); err != nil {
			return err
		}
		if tc == 0 {
			d.dc[th] = t
		} else {
			d.ac[th] = t
		}
		seg = seg[17+total:]
	}
	return nil
}

// scan reads a scan header (T.81 B.2.3) and decodes its entropy-coded data.
func (d *decoder) scan(seg []byte) error {
	if d.sof < 0 {
		return corrupt("scan before the frame header")
	}
	if len(seg) < 1 {
		return corrupt("empty scan header")
	}
	ns := int(seg[0])
	if ns < 1 || ns > 4 || len(seg) != 4+2*ns {
		return corrupt("scan header of %d bytes for %d components", len(seg), ns)
	}
	sc := make([]scanComp, ns)
	blocks := 0
	for i := range sc {
		id := seg[1+2*i]
		var c *component
		for j := range d.comps {
			if d.comps[j].id == id {
				c = &d.comps[j]
			}
		}
		if c == nil {
			return corrupt("scan names unknown component %d", id)
		}
		for j := 0; j < i; j++ {
			if sc[j].c == c {
				return corrupt("scan names component %d twice", id)
			}
		}
		sc[i] = scanComp{c: c, td: int(seg[2+2*i] >> 4), ta: int(seg[2+2*i] & 15)}
		if sc[i].td > 3 || sc[i].ta > 3 {
			return corrupt("scan table selectors %d/%d", sc[i].td, sc[i].ta)
		}
		blocks += c.h * c.v
	}
	if ns > 1 && blocks > 10 {
		return corrupt("MCU of %d blocks (T.81 B.2.3 allows 10)", blocks)
	}
	p := seg[1+2*ns:]
	ss, se, ah, al := int(p[0]), int(p[1]), int(p[2]>>4), int(p[2]&15)
	d.br = bitReader{src: d.src, pos: d.pos}
	var err error
	switch d.sof {
	case 3:
		if ss < 1 || ss > 7 || ah != 0 || al >= d.precision {
			return corrupt("lossless scan with predictor %d, point transform %d", ss, al)
		}
		for _, s := range sc {
			if d.dc[s.td] == nil {
				return corrupt("scan uses undefined Huffman table %d", s.td)
			}
		}
		err = d.losslessScan(sc, ss, al)
	case 2:
		err = d.progressiveScan(sc, ss, se, ah, al)
	default:
		if ss != 0 || se != 63 || ah != 0 || al != 0 {
			return corrupt("sequential scan with spectral selection %d-%d, approximation %d/%d", ss, se, ah, al)
		}
		for _, s := range sc {
			if d.dc[s.td] == nil || d.ac[s.ta] == nil {
				return corrupt("scan uses undefined Huffman tables %d/%d", s.td, s.ta)
			}
			if !d.qtSet[s.c.tq] {
				return corrupt("component %d uses undefined quantisation table %d", s.c.id, s.c.tq)
			}
		}
		err = d.dctScan(sc)
	}
	if err != nil {
		return err
	}
	for _, s := range sc {
		s.c.seen = true
	}
	d.pos = d.br.pos
	return nil
}

// restart handles the end of a restart interval (T.81 E.2.4, F.2.2.4 note): the bits left
// are padding, and the next marker must be RSTn.
func (d *decoder) restart() error {
	if err := d.br.overrun(); err != nil {
		return err
	}
	pos := d.br.markerPos()
	if pos+1 >= len(d.src) || d.src[pos+1] < mRST0 || d.src[pos+1] > mRST0+7 {
		return corrupt("expected a restart marker at offset %d", pos)
	}
	d.br = bitReader{src: d.src, pos: pos + 2}
	return nil
}

// finish checks every component was decoded and writes the output samples.
func (d *decoder) finish() (Info, error) {
	if d.sof < 0 {
		return Info{}, corrupt("no frame header")
	}
	for i := range d.comps {
		if !d.comps[i].seen {
			return Info{}, corrupt("component %d has no scan", d.comps[i].id)
		}
	}
	info := Info{Process: d.sof, Precision: d.precision}
	if d.sof == 3 {
		d.outputLossless()
		return info, nil
	}
	if d.sof == 2 {
		d.progressiveIDCT()
	}
	info.Converted = d.opts.ConvertYCbCr && len(d.comps) == 3
	d.outputDCT(info.Converted)
	return info, nil
}
