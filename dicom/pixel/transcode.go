package pixel

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"math"
	"strings"

	"pacsd/dicom"
)

// TranscodeExplicitLE writes the Part-10 object in r (size bytes, hdr as read by
// dicom.ReadPart10) to w in Explicit VR Little Endian with native pixel data: for WADO-RS
// transfer syntax negotiation and for peers that accept only uncompressed data.
//
// It streams: the data set elements are copied value by value from r (text keeps its bytes
// and character set; big-endian binary values are swapped), then frames are decoded and
// written one at a time, so at most one frame is in memory. Native pixel data is copied
// (swapped or inflated as needed) without decoding. For encapsulated pixel data the frames
// are decoded, Photometric Interpretation becomes what the decoder produced (YBR_FULL_422
// JPEG becomes RGB), Planar Configuration 0, Lossy Image Compression is set to "01" when
// the source syntax is lossy and the attribute is absent, and the Extended Offset Table is
// dropped. Group lengths and trailing padding (FFFC,FFFC) are dropped, since their values
// would no longer hold; every other attribute is kept. The File Meta Information is
// pacsd's, with the transfer syntax changed.
//
// Each frame is decoded within the package's default budget (Budget.TranscodeExplicitLE
// uses another), holding its memory until it is written.
//
// On error the output is incomplete and must be discarded.
func TranscodeExplicitLE(ctx context.Context, w io.Writer, r io.ReaderAt, size int64, hdr *dicom.Header) error {
	return defaultBudget.TranscodeExplicitLE(ctx, w, r, size, hdr)
}

// TranscodeJPEGBaseline writes the object in r to w in JPEG Baseline (Process 1,
// 1.2.840.10008.1.2.4.50): for peers that ask for it, and to shrink 8-bit images (ultrasound,
// secondary capture) for slow township links. Only images with 8 bits stored, unsigned,
// MONOCHROME1/2, RGB or YBR_FULL(_422) qualify; others get ErrUnsupported. quality is 1-100
// (0: 90).
//
// Like TranscodeExplicitLE it streams frame by frame and keeps every attribute but these:
// colour becomes YBR_FULL_422 (the codestream holds YCbCr with subsampled chrominance,
// PS3.5 8.2.1), Planar Configuration 0, Lossy Image Compression "01", and "ISO_10918_1"
// and the compression ratio of the first frame are appended to Lossy Image Compression
// Method and Ratio (PS3.3 C.7.6.1.1.5). The SOP Instance UID is kept: this is another
// representation of the same instance for transfer, not a new derived image.
func TranscodeJPEGBaseline(ctx context.Context, w io.Writer, r io.ReaderAt, size int64, hdr *dicom.Header, quality int) error {
	return defaultBudget.TranscodeJPEGBaseline(ctx, w, r, size, hdr, quality)
}

// transcode writes Explicit VR Little Endian (jpegQuality 0) or JPEG baseline, decoding
// within budget.
func transcode(ctx context.Context, w io.Writer, r io.ReaderAt, size int64, hdr *dicom.Header, jpegQuality int, budget *Budget) error {
	if hdr == nil || hdr.Dataset == nil {
		return errors.New("no header")
	}
	ts, ok := dicom.LookupTransferSyntax(hdr.TransferSyntax)
	if !ok {
		return fmt.Errorf("%w: transfer syntax %q", ErrUnsupported, hdr.TransferSyntax)
	}
	im, err := budget.Open(r, size, hdr)
	if err != nil && !errors.Is(err, ErrNoPixelData) {
		return err
	}
	ds := datasetReader(r, size, hdr, ts)

	// The decoded photometric interpretation must be known before the header is written,
	// so the first frame of encapsulated data is decoded now and written later.
	t := &transcoder{ctx: ctx, src: &seqReader{ra: ds}, bigEndian: ts.BigEndian, override: map[dicom.Tag]override{}}
	defer t.releaseHeld()
	target := dicom.ExplicitVRLittleEndian
	var first *Frame
	var firstJPEG []byte
	if jpegQuality > 0 {
		target = dicom.JPEGBaseline8Bit
		if im == nil {
			return ErrNoPixelData
		}
		if first, firstJPEG, err = t.jpegFrame(im, 0, jpegQuality); err != nil {
			return err
		}
		if first.SamplesPerPixel == 3 {
			t.override[tagPhotometricInterpretation] = override{vr: "CS", value: []byte(YBRFull422)}
			t.override[tagPlanarConfiguration] = override{vr: "US", value: []byte{0, 0}}
		}
		ratio := float64(im.info.frameSamples()) / float64(len(firstJPEG))
		t.override[tagLossyImageCompression] = override{vr: "CS", value: []byte("01")}
		t.override[tagLossyImageCompressionRatio] = override{vr: "DS", value: appendValue(hdr.Dataset, tagLossyImageCompressionRatio, fmt.Sprintf("%.2f", ratio))}
		t.override[tagLossyImageCompressionMethod] = override{vr: "CS", value: appendValue(hdr.Dataset, tagLossyImageCompressionMethod, "ISO_10918_1")}
		t.drop = map[dicom.Tag]bool{tagExtendedOffsetTable: true, tagExtendedOffsetTableLength: true, 0x7FE00003: true}
	} else if im != nil && ts.Encapsulated {
		if first, err = t.decode(im, 0); err != nil {
			return err
		}
		t.override[tagPhotometricInterpretation] = override{vr: "CS", value: []byte(first.Photometric)}
		if first.SamplesPerPixel == 3 {
			t.override[tagPlanarConfiguration] = override{vr: "US", value: []byte{0, 0}}
		}
		if ts.Lossy {
			t.override[tagLossyImageCompression] = override{vr: "CS", value: []byte("01"), onlyIfAbsent: true}
		}
		t.drop = map[dicom.Tag]bool{tagExtendedOffsetTable: true, tagExtendedOffsetTableLength: true, 0x7FE00003: true}
	}

	meta := dicom.FileMeta{
		SOPClassUID:       firstNonEmpty(hdr.Meta.String(dicom.TagMediaStorageSOPClassUID), hdr.Dataset.String(dicom.TagSOPClassUID)),
		SOPInstanceUID:    firstNonEmpty(hdr.Meta.String(dicom.TagMediaStorageSOPInstanceUID), hdr.Dataset.String(dicom.TagSOPInstanceUID)),
		TransferSyntaxUID: target,
		SourceAETitle:     hdr.Meta.String(dicom.TagSourceApplicationEntityTitle),
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	if _, err := dicom.WriteFileMeta(bw, meta); err != nil {
		return err
	}
	enc, err := dicom.NewEncoder(bw, target)
	if err != nil {
		return err
	}
	t.enc = enc
	if err := t.dataset(hdr.Dataset, 0, true); err != nil {
		return err
	}
	if im != nil {
		if jpegQuality > 0 {
			err = t.jpegPixelData(bw, im, firstJPEG, jpegQuality)
		} else {
			err = t.pixelData(im, first)
		}
		if err != nil {
			return err
		}
		if err := t.trailing(im, ts); err != nil {
			return err
		}
	}
	if err := enc.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

// appendValue returns the values of t in ds with v added (PS3.3 C.7.6.1.1.5: one value per
// lossy compression step, in order).
func appendValue(ds *dicom.Dataset, t dicom.Tag, v string) []byte {
	var vals []string
	for _, s := range ds.Strings(t) {
		if s != "" {
			vals = append(vals, s)
		}
	}
	return []byte(strings.Join(append(vals, v), `\`))
}

// jpegFrame decodes frame i and compresses it as JPEG baseline.
func (t *transcoder) jpegFrame(im *Image, i, quality int) (*Frame, []byte, error) {
	in := im.info
	if in.BitsAllocated != 8 || in.BitsStored != 8 || in.Signed {
		return nil, nil, fmt.Errorf("%w: JPEG baseline holds unsigned 8-bit samples; this image has %d bits stored of %d (signed %v)",
			ErrUnsupported, in.BitsStored, in.BitsAllocated, in.Signed)
	}
	// Held while it is compressed: the frame, its colour image and the JPEG written.
	extra := int64(in.frameSamples())
	if in.SamplesPerPixel == 3 {
		extra += 4 * int64(in.Rows) * int64(in.Columns)
	}
	f, release, err := im.frameHeld(t.ctx, i, extra)
	if err != nil {
		return nil, nil, err
	}
	defer release()
	var img image.Image
	switch f.Photometric {
	case Monochrome1, Monochrome2:
		img = &image.Gray{Pix: f.Data8, Stride: f.Columns, Rect: image.Rect(0, 0, f.Columns, f.Rows)}
	case RGB, YBRFull, YBRPartial420:
		if img, err = colourImage(f, in); err != nil {
			return nil, nil, err
		}
	default:
		return nil, nil, fmt.Errorf("%w: JPEG baseline of %s", ErrUnsupported, f.Photometric)
	}
	var b bytes.Buffer
	if err := EncodeJPEG(&b, img, quality); err != nil {
		return nil, nil, fmt.Errorf("frame %d: encode JPEG: %w", i, err)
	}
	return f, b.Bytes(), nil
}

// jpegPixelData writes encapsulated Pixel Data (PS3.5 A.4: an empty Basic Offset Table,
// one fragment per frame), compressing frame after frame. The encoder's
// WriteEncapsulatedPixelData wants every frame at once; here only one is in memory.
func (t *transcoder) jpegPixelData(w io.Writer, im *Image, first []byte, quality int) error {
	if err := t.enc.Err(); err != nil {
		return err
	}
	item := func(tag uint32, n int) []byte {
		var h [8]byte
		binary.LittleEndian.PutUint16(h[0:], uint16(tag>>16))
		binary.LittleEndian.PutUint16(h[2:], uint16(tag))
		binary.LittleEndian.PutUint32(h[4:], uint32(n))
		return h[:]
	}
	// (7FE0,0010) OB, undefined length (PS3.5 7.1.2), then the empty offset table item.
	head := []byte{0xE0, 0x7F, 0x10, 0x00, 'O', 'B', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF}
	head = append(head, item(tagItem, 0)...)
	if _, err := w.Write(head); err != nil {
		return err
	}
	for i := 0; i < im.info.NumberOfFrames; i++ {
		frag := first
		if i > 0 {
			var err error
			if _, frag, err = t.jpegFrame(im, i, quality); err != nil {
				return fmt.Errorf("frame %d: %w", i, err)
			}
		}
		if len(frag)%2 == 1 {
			frag = append(frag, 0) // items have even length (PS3.5 A.4)
		}
		if _, err := w.Write(item(tagItem, len(frag))); err != nil {
			return err
		}
		if _, err := w.Write(frag); err != nil {
			return err
		}
	}
	_, err := w.Write(item(tagSequenceDelimitation, 0))
	return err
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

type override struct {
	vr           string
	value        []byte
	onlyIfAbsent bool
}

type transcoder struct {
	ctx context.Context
	// held gives back the budget of the frame being written, packBytes more: the buffer
	// 16-bit frames are packed into.
	held      func()
	packBytes int64
	enc       *dicom.Encoder
	src       *seqReader
	bigEndian bool
	override  map[dicom.Tag]override
	drop      map[dicom.Tag]bool
}

// decode decodes frame i for writing, first giving back the memory of the frame written
// before it (which nothing references any more).
func (t *transcoder) decode(im *Image, i int) (*Frame, error) {
	t.releaseHeld()
	if im.info.BitsAllocated == 16 {
		t.packBytes = int64(im.info.frameSamples()) * 2
	}
	f, release, err := im.frameHeld(t.ctx, i, t.packBytes)
	if err != nil {
		return nil, err
	}
	t.held = release
	return f, nil
}

func (t *transcoder) releaseHeld() {
	if t.held != nil {
		t.held()
		t.held = nil
	}
}

// dataset copies the elements of ds; base is added to their offsets (non-zero for the
// elements after Pixel Data, which were read from there).
func (t *transcoder) dataset(ds *dicom.Dataset, base int64, top bool) error {
	pending := map[dicom.Tag]override{}
	if top {
		for tag, o := range t.override {
			pending[tag] = o
		}
	}
	flush := func(before dicom.Tag) {
		// Overridden attributes absent from the source go in at their place in tag order.
		for {
			var next dicom.Tag
			found := false
			for tag := range pending {
				if tag < before && (!found || tag < next) {
					next, found = tag, true
				}
			}
			if !found {
				return
			}
			o := pending[next]
			delete(pending, next)
			t.enc.WriteElement(next, o.vr, o.value)
		}
	}
	for _, e := range ds.Elements {
		if err := t.ctx.Err(); err != nil {
			return err
		}
		if e.Tag.Element() == 0 || (top && t.drop[e.Tag]) || e.Tag == 0xFFFCFFFC {
			continue // group lengths, the extended offset table, trailing padding
		}
		if top {
			flush(e.Tag)
			if o, ok := pending[e.Tag]; ok {
				delete(pending, e.Tag)
				if !o.onlyIfAbsent {
					t.enc.WriteElement(e.Tag, o.vr, o.value)
					continue
				}
			}
		}
		if hasEncapsulated(e) {
			// An icon image compressed like its parent (PS3.5 A.4 allows it) cannot be
			// carried into a native syntax; the icon is dropped rather than the transcode.
			slog.Debug("transcode: dropping element with encapsulated pixel data", "tag", e.Tag.String())
			continue
		}
		if err := t.element(e, base); err != nil {
			return err
		}
	}
	if top {
		flush(dicom.TagPixelData)
	}
	return t.enc.Err()
}

func hasEncapsulated(e *dicom.Element) bool {
	if e.VR != "SQ" {
		return e.Length == 0xFFFFFFFF
	}
	for _, item := range e.Items {
		for _, c := range item.Elements {
			if hasEncapsulated(c) {
				return true
			}
		}
	}
	return false
}

// swapUnit is the byte-swapping unit of binary VRs (PS3.5 7.3).
var swapUnit = map[string]int{
	"US": 2, "SS": 2, "OW": 2, "AT": 2,
	"UL": 4, "SL": 4, "FL": 4, "OF": 4, "OL": 4,
	"FD": 8, "OD": 8, "OV": 8, "SV": 8, "UV": 8,
}

func (t *transcoder) element(e *dicom.Element, base int64) error {
	if e.VR == "SQ" {
		t.enc.BeginSequence(e.Tag)
		for _, item := range e.Items {
			t.enc.BeginItem()
			if err := t.dataset(item, base, false); err != nil {
				return err
			}
			t.enc.EndItem()
		}
		t.enc.EndSequence()
		return t.enc.Err()
	}
	var r io.Reader = t.src.at(base+e.Offset, int64(e.Length))
	if unit := swapUnit[e.VR]; t.bigEndian && unit > 1 {
		r = &swapReader{r: r, unit: unit}
	}
	t.enc.WriteElementFrom(e.Tag, explicitVR(e), e.Length, r)
	if err := t.enc.Err(); err != nil {
		return fmt.Errorf("element %s: %w", e.Tag, err)
	}
	return nil
}

// shortVRs have a 16-bit length in explicit VR syntaxes (PS3.5 Table 7.1-2).
var shortVRs = map[string]bool{
	"AE": true, "AS": true, "AT": true, "CS": true, "DA": true, "DS": true, "DT": true,
	"FL": true, "FD": true, "IS": true, "LO": true, "LT": true, "PN": true, "SH": true,
	"SL": true, "SS": true, "ST": true, "TM": true, "UI": true, "UL": true, "US": true,
}

// oddOK are the VRs whose odd lengths the encoder pads rather than refuses.
var oddOK = map[string]bool{
	"AE": true, "AS": true, "CS": true, "DA": true, "DS": true, "DT": true, "IS": true,
	"LO": true, "LT": true, "PN": true, "SH": true, "ST": true, "TM": true, "UC": true,
	"UR": true, "UT": true, "UI": true, "OB": true, "UN": true,
}

// explicitVR is the VR to write e with in Explicit VR Little Endian. An implicit source
// gives the dictionary's first VR, which cannot always carry the value: LUT Data ("US or
// OW") of 65536 entries is too long for US's 16-bit length and becomes OW (PS3.5 A.1);
// anything else that does not fit, or has an odd length its VR forbids, is kept as UN.
func explicitVR(e *dicom.Element) string {
	vr := e.VR
	if shortVRs[vr] && e.Length > 0xFFFF {
		if vr == "US" || vr == "SS" {
			vr = "OW"
		} else {
			vr = "UN"
		}
	}
	if e.Length%2 == 1 && !oddOK[vr] {
		vr = "UN"
	}
	return vr
}

// pixelData writes Pixel Data: native frames copied, encapsulated frames decoded.
func (t *transcoder) pixelData(im *Image, first *Frame) error {
	in := im.info
	n := in.NumberOfFrames
	vr := "OB"
	if in.BitsAllocated > 8 {
		vr = "OW"
	}
	var frameLen int64
	var get func(i int) ([]byte, error)
	if !im.ts.Encapsulated {
		frameLen = in.nativeFrameBytes()
		get = func(i int) ([]byte, error) { return im.RawFrame(t.ctx, i) }
	} else {
		frameLen = int64(in.frameSamples() * in.bytesPerSample())
		// The packing buffer is in every frame's hold (transcoder.decode).
		var buf []byte
		if in.BitsAllocated == 16 {
			buf = make([]byte, frameLen)
		}
		photometric := first.Photometric
		get = func(i int) ([]byte, error) {
			f := first
			first = nil // written once; its memory goes with the next frame's decode
			if i > 0 {
				var err error
				if f, err = t.decode(im, i); err != nil {
					return nil, err
				}
			}
			if f.Photometric != photometric {
				return nil, fmt.Errorf("frame %d decodes to %s, frame 0 to %s", i, f.Photometric, photometric)
			}
			if f.Data8 != nil {
				return f.Data8, nil
			}
			for k, v := range f.Data16 {
				binary.LittleEndian.PutUint16(buf[2*k:], v)
			}
			return buf, nil
		}
	}
	total := frameLen * int64(n)
	if total > math.MaxUint32-1 {
		return fmt.Errorf("%w: native Pixel Data of %d bytes does not fit a 32-bit length", ErrTooLarge, total)
	}
	fs := &frameStream{ctx: t.ctx, n: n, get: get}
	t.enc.WriteElementFrom(dicom.TagPixelData, vr, uint32(total), fs)
	if fs.err != nil {
		return fs.err // the decode error, not the encoder's "short read"
	}
	return t.enc.Err()
}

// trailing copies the elements after Pixel Data (rare, but they are part of the object).
func (t *transcoder) trailing(im *Image, ts dicom.TransferSyntax) error {
	end, err := im.pixelDataEnd()
	if err != nil {
		return err
	}
	syntax := ts.UID
	if ts.Deflated {
		syntax = dicom.ExplicitVRLittleEndian // the stream here is already inflated
	}
	var probe [1]byte
	if n, _ := im.ds.ReadAt(probe[:], end); n == 0 {
		return nil // nothing after Pixel Data
	}
	tail, err := dicom.ReadDataset(&readerFrom{ra: im.ds, off: end}, syntax, dicom.ReadOptions{MaxValueLength: 1})
	if err != nil {
		// Bytes after Pixel Data that are not elements (zero padding, garbage) are not
		// part of the data set's meaning; they are left behind.
		slog.Debug("transcode: ignoring unreadable bytes after Pixel Data", "err", err)
		return nil
	}
	return t.dataset(tail, end, false)
}

// frameStream reads frames 0..n-1 one after another as one byte stream.
type frameStream struct {
	ctx  context.Context
	n    int
	next int
	cur  []byte
	get  func(i int) ([]byte, error)
	err  error
}

func (s *frameStream) Read(p []byte) (int, error) {
	for len(s.cur) == 0 {
		if s.next == s.n {
			return 0, io.EOF
		}
		if err := s.ctx.Err(); err != nil {
			s.err = err
			return 0, err
		}
		b, err := s.get(s.next)
		if err != nil {
			s.err = fmt.Errorf("frame %d: %w", s.next, err)
			return 0, s.err
		}
		s.cur = b
		s.next++
	}
	n := copy(p, s.cur)
	s.cur = s.cur[n:]
	return n, nil
}

// seqReader reads element values from the data set stream in increasing offsets (as the
// elements come), buffering so a header of many small elements costs few reads of the
// underlying reader (which may be ranged GETs on object storage).
type seqReader struct {
	ra  io.ReaderAt
	br  *bufio.Reader
	pos int64
}

func (s *seqReader) at(off, n int64) io.Reader {
	if s.br == nil || off < s.pos || off-s.pos > 1<<20 {
		s.br = bufio.NewReaderSize(&readerFrom{ra: s.ra, off: off}, 64<<10)
		s.pos = off
	}
	if d := off - s.pos; d > 0 {
		m, _ := s.br.Discard(int(d))
		s.pos += int64(m)
	}
	return io.LimitReader(readCounter{s}, n)
}

type readCounter struct{ s *seqReader }

func (c readCounter) Read(p []byte) (int, error) {
	n, err := c.s.br.Read(p)
	c.s.pos += int64(n)
	return n, err
}

// readerFrom reads an io.ReaderAt sequentially from off.
type readerFrom struct {
	ra  io.ReaderAt
	off int64
}

func (r *readerFrom) Read(p []byte) (int, error) {
	n, err := r.ra.ReadAt(p, r.off)
	r.off += int64(n)
	if n > 0 && err == io.EOF {
		err = nil
	}
	return n, err
}

// swapReader byte-swaps each unit of the stream (big to little endian).
type swapReader struct {
	r       io.Reader
	unit    int
	pending []byte // swapped bytes not yet returned
	buf     [8]byte
}

func (s *swapReader) Read(p []byte) (int, error) {
	if len(s.pending) > 0 {
		n := copy(p, s.pending)
		s.pending = s.pending[n:]
		return n, nil
	}
	if len(p) < s.unit {
		// Too small for a whole unit: swap one into the buffer and hand it out in pieces.
		u := s.buf[:s.unit]
		if _, err := io.ReadFull(s.r, u); err != nil {
			return 0, err
		}
		reverse(u)
		n := copy(p, u)
		s.pending = u[n:]
		return n, nil
	}
	p = p[:len(p)-len(p)%s.unit]
	n, err := io.ReadFull(s.r, p)
	n -= n % s.unit
	for i := 0; i < n; i += s.unit {
		reverse(p[i : i+s.unit])
	}
	if err == io.ErrUnexpectedEOF {
		err = io.EOF
	}
	return n, err
}

func reverse(b []byte) {
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
}
