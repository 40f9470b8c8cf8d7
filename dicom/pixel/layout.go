package pixel

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"pacsd/dicom"
)

// Where the frames of a stored object lie: the Pixel Data element's value for native data,
// or the fragments of each frame for encapsulated data (PS3.5 A.4). This file is the one
// place that decides it; Open uses it to decode, dicomweb to serve frames as stored (and
// caches the Layout in its instance records, hence the JSON names). Only element and item
// headers are read, seeking past values, so a 2 GB multi-frame object costs a few reads,
// never a pass over its pixels.

const (
	// maxFragments bounds the fragments of one encapsulated Pixel Data element.
	maxFragments = 1 << 20
	// MaxFrames is the most frames of one instance located or decoded.
	MaxFrames = maxFrames
)

// Errors of Layout.Frame.
var (
	// ErrNoFrames: the frames of an object cannot be separated (damaged encapsulation, a
	// video stream); the object itself is still retrievable whole.
	ErrNoFrames = errors.New("frames cannot be located")
	// ErrFrameRange: a frame number beyond the object's frames.
	ErrFrameRange = errors.New("no such frame")
)

// Fragment is a piece of pixel data to read: for encapsulated data one item's value, the
// offset of its first byte and its length.
type Fragment struct {
	Offset int64 `json:"o"`
	Length int64 `json:"n"`
}

// Layout locates the frames of one object. Offsets count in the stream the Layout was made
// from: the Part-10 object, or the data set stream (inflated, for a deflated data set).
type Layout struct {
	Tag          dicom.Tag `json:"tag"`
	VR           string    `json:"vr"`
	Encapsulated bool      `json:"encapsulated,omitempty"`
	// Native data: the value of the Pixel Data element and the size of one frame.
	Offset      int64 `json:"offset"`
	Length      int64 `json:"length"`
	FrameLength int64 `json:"frameLength,omitempty"`
	// Frames is the number of frames that can be served (0 when they cannot be located;
	// Problem says why).
	Frames  int    `json:"frames"`
	Problem string `json:"problem,omitempty"`
	// Encapsulated data: the fragments of each frame, in order.
	FrameFragments [][]Fragment `json:"frameFragments,omitempty"`

	// Open's lazy form (never cached): when an offset table says where the frames are, the
	// offset of each frame's first item; its items are walked when the frame is read.
	starts []int64
	// unsupported: the frames cannot be located because of what the encoding is, not
	// damage (Open answers ErrUnsupported rather than ErrCorrupt).
	unsupported bool
}

// Frame returns the pieces of frame n (1-based) to read, in order, and its size.
func (l *Layout) Frame(n int) ([]Fragment, int64, error) {
	if l == nil || l.Frames == 0 || (l.Encapsulated && len(l.FrameFragments) != l.Frames) {
		if l != nil && l.Problem != "" {
			return nil, 0, fmt.Errorf("%w: %s", ErrNoFrames, l.Problem)
		}
		return nil, 0, ErrNoFrames
	}
	if n < 1 || n > l.Frames {
		return nil, 0, fmt.Errorf("frame %d of %d: %w", n, l.Frames, ErrFrameRange)
	}
	if !l.Encapsulated {
		return []Fragment{{Offset: l.Offset + int64(n-1)*l.FrameLength, Length: l.FrameLength}}, l.FrameLength, nil
	}
	frs := l.FrameFragments[n-1]
	var size int64
	for _, f := range frs {
		size += f.Length
	}
	return frs, size, nil
}

// LocateFrames reads the Pixel Data element whose tag is at off in r (a stream of size
// bytes) and says where its frames are. ds is the header (the image's geometry and any
// Extended Offset Table); ts the syntax of the data set. end is the offset just past the
// element, where any trailing elements begin. Frames that cannot be located are not an
// error: the Layout's Problem says why. Errors are r's, or damage that makes the element
// itself unreadable (wrapping dicom.ErrMalformed).
func LocateFrames(r io.ReaderAt, off, size int64, ds *dicom.Dataset, ts dicom.TransferSyntax) (l *Layout, end int64, err error) {
	h, err := readElementHeader(r, off, ts)
	if err != nil {
		return nil, 0, fmt.Errorf("pixel data header at %d: %w", off, err)
	}
	value := off + h.Size
	if h.Length != dicom.UndefinedLength {
		end = value + int64(h.Length)
		if end > size {
			return nil, 0, fmt.Errorf("%w: pixel data length %d runs past the end of the object", dicom.ErrMalformed, h.Length)
		}
		return NativeLayout(h.Tag, h.VR, value, int64(h.Length), ds), end, nil
	}
	e, err := readEncapsulation(r, value, size)
	if err != nil {
		return nil, 0, err
	}
	if err := e.scan(); err != nil {
		return nil, 0, err
	}
	l = &Layout{Tag: h.Tag, VR: h.VR, Offset: value, Encapsulated: true}
	if err := l.findFrames(e, geometryOf(ds).frames, ts, ExtendedOffsets(ds), false); err != nil {
		return nil, 0, fmt.Errorf("locate frames: %w", err)
	}
	return l, e.end, nil
}

// readElementHeader reads the element header at off with one read (an S3 blob costs a
// request per read).
func readElementHeader(r io.ReaderAt, off int64, ts dicom.TransferSyntax) (dicom.ElementHeader, error) {
	var b [12]byte
	n, err := r.ReadAt(b[:], off)
	if n < len(b) && err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return dicom.ElementHeader{}, err
	}
	h, err := dicom.ReadElementHeader(bytes.NewReader(b[:n]), ts)
	return h, eofMalformed(err)
}

// eofMalformed reports a stream that ends inside a header as malformed data.
func eofMalformed(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: object ends inside an element header", dicom.ErrMalformed)
	}
	return err
}

// ExtendedOffsets returns the Extended Offset Table (7FE0,0001) of ds when it was loaded
// and well formed (64-bit offsets, PS3.5 A.4), or nil.
func ExtendedOffsets(ds *dicom.Dataset) []uint64 {
	e := ds.Get(tagExtendedOffsetTable)
	if e == nil {
		return nil
	}
	return decodeOffsets64(e.Bytes)
}

func decodeOffsets64(b []byte) []uint64 {
	if len(b) == 0 || len(b)%8 != 0 {
		return nil
	}
	out := make([]uint64, len(b)/8)
	for i := range out {
		out[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	return out
}

// geometry is what the header says about frames, for native frame sizes.
type geometry struct {
	rows, cols, samples, bitsAllocated int64
	frames                             int64
	photometric                        string
}

func geometryOf(ds *dicom.Dataset) geometry {
	g := geometry{samples: 1, frames: 1}
	if v, ok := ds.Int(dicom.TagRows); ok {
		g.rows = v
	}
	if v, ok := ds.Int(dicom.TagColumns); ok {
		g.cols = v
	}
	if v, ok := ds.Int(dicom.TagSamplesPerPixel); ok && v > 0 {
		g.samples = v
	}
	if v, ok := ds.Int(dicom.TagBitsAllocated); ok {
		g.bitsAllocated = v
	}
	if v, ok := ds.Int(dicom.TagNumberOfFrames); ok && v > 0 {
		g.frames = v
	}
	g.photometric = ds.String(dicom.TagPhotometricInterpretation)
	return g
}

// nativeFrameBits is the size of one uncompressed frame in bits (PS3.5 8.1.1, PS3.3 C.7.6.3):
// rows x columns x samples x bits allocated; YBR_FULL_422 and YBR_PARTIAL_422 keep two
// samples' worth per pixel (PS3.3 C.7.6.3.1.2). Bit-packed data (Bits Allocated 1) is
// returned in bits; callers decide whether frames fall on byte boundaries.
func (g geometry) nativeFrameBits() int64 {
	samples := g.samples
	if samples == 3 && (g.photometric == "YBR_FULL_422" || g.photometric == "YBR_PARTIAL_422") {
		samples = 2
	}
	return g.rows * g.cols * samples * g.bitsAllocated
}

// NativeLayout describes the frames of uncompressed Pixel Data (element tag and VR) whose
// value is length bytes at offset, as the header ds describes them.
func NativeLayout(tag dicom.Tag, vr string, offset, length int64, ds *dicom.Dataset) *Layout {
	l := &Layout{Tag: tag, VR: vr, Offset: offset, Length: length}
	g := geometryOf(ds)
	switch {
	case g.rows <= 0 || g.cols <= 0 || g.bitsAllocated <= 0:
		l.Problem = "Rows, Columns or Bits Allocated missing"
		return l
	case g.rows > 65535 || g.cols > 65535 || g.samples > 4 || g.bitsAllocated > 64:
		// US values and the sample counts PS3.3 C.7.6.3 allows: anything else is damage,
		// and would overflow the frame size.
		l.Problem = "implausible Rows, Columns, Samples per Pixel or Bits Allocated"
		return l
	case g.frames > maxFrames:
		l.Problem = fmt.Sprintf("Number of Frames %d is more than this server serves", g.frames)
		return l
	case g.nativeFrameBits()%8 != 0 && g.frames > 1:
		// PS3.5 8.1.1: bit-packed frames may begin inside a byte; they cannot be sent as
		// whole bytes without re-packing.
		l.Problem = "frames of bit-packed pixel data do not start on byte boundaries"
		return l
	}
	l.FrameLength = (g.nativeFrameBits() + 7) / 8
	frames := g.frames
	if have := l.Length / l.FrameLength; have < frames {
		// A short Pixel Data value: serve the frames that are whole.
		frames = have
		l.Problem = fmt.Sprintf("Pixel Data holds %d of %d frames", have, g.frames)
	}
	l.Frames = int(frames)
	return l
}

// encapsulation is encapsulated Pixel Data as found in the stream (PS3.5 A.4, Table A.4-1):
// the Basic Offset Table item, then fragment items, then a Sequence Delimitation Item.
// Item headers are little endian in every encapsulated syntax.
type encapsulation struct {
	r    io.ReaderAt
	size int64 // of the stream; < 0 when unknown (an inflated data set)
	bot  []uint32
	// base is the offset of the first fragment's item tag: offsets in both offset tables
	// count from there.
	base int64
	// frags and end (just past the Sequence Delimitation Item) once scan has run.
	frags   []Fragment
	end     int64
	scanned bool
}

// beyond reports whether n bytes at off would run past the end of the stream.
func (e *encapsulation) beyond(off, n int64) bool {
	return e.size >= 0 && (off < 0 || n < 0 || off+n > e.size)
}

// item reads the item header at off.
func (e *encapsulation) item(off int64) (dicom.Tag, uint32, error) {
	var b [8]byte
	if err := readAt(e.r, b[:], off); err != nil {
		return 0, 0, fmt.Errorf("item at %d: %w", off, err)
	}
	return dicom.Tag(uint32(binary.LittleEndian.Uint16(b[0:]))<<16 | uint32(binary.LittleEndian.Uint16(b[2:]))),
		binary.LittleEndian.Uint32(b[4:]), nil
}

// readAt reads len(b) bytes at off; a stream that ends first is malformed.
func readAt(r io.ReaderAt, b []byte, off int64) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: object ends %d bytes short of %d bytes at %d", dicom.ErrMalformed, len(b)-n, len(b), off)
	}
	return err
}

// readEncapsulation reads the Basic Offset Table item whose tag is at off.
func readEncapsulation(r io.ReaderAt, off, size int64) (*encapsulation, error) {
	e := &encapsulation{r: r, size: size, end: -1}
	tag, n, err := e.item(off)
	if err != nil {
		return nil, fmt.Errorf("basic offset table: %w", err)
	}
	switch {
	case tag != dicom.TagItem:
		return nil, fmt.Errorf("%w: expected the basic offset table item at %d, found %s", dicom.ErrMalformed, off, tag)
	case n == dicom.UndefinedLength || e.beyond(off+8, int64(n)):
		return nil, fmt.Errorf("%w: basic offset table at %d of length %d runs past the end of the object", dicom.ErrMalformed, off, n)
	case n%4 != 0 || n > 4*maxFrames:
		return nil, fmt.Errorf("%w: basic offset table of %d bytes", dicom.ErrMalformed, n)
	}
	e.base = off + 8 + int64(n)
	if n > 0 {
		raw := make([]byte, n)
		if err := readAt(r, raw, off+8); err != nil {
			return nil, fmt.Errorf("basic offset table: %w", err)
		}
		e.bot = make([]uint32, n/4)
		for i := range e.bot {
			e.bot[i] = binary.LittleEndian.Uint32(raw[4*i:])
		}
	}
	return e, nil
}

// scan walks the fragment items to the Sequence Delimitation Item, once, and keeps them.
func (e *encapsulation) scan() error {
	if e.scanned {
		return nil
	}
	frags, end, err := e.walk()
	if err != nil {
		return err
	}
	e.frags, e.end, e.scanned = frags, end, true
	return nil
}

// walk reads the fragment items from base to the Sequence Delimitation Item: the fragments
// and the offset just past the delimiter.
func (e *encapsulation) walk() ([]Fragment, int64, error) {
	var frags []Fragment
	for pos := e.base; ; {
		tag, n, err := e.item(pos)
		if err != nil {
			return nil, 0, fmt.Errorf("fragment %d: %w", len(frags), err)
		}
		switch {
		case tag == dicom.TagSequenceDelimitationItem:
			return frags, pos + 8, nil
		case tag != dicom.TagItem:
			return nil, 0, fmt.Errorf("%w: expected a fragment item at %d, found %s", dicom.ErrMalformed, pos, tag)
		case n == dicom.UndefinedLength || e.beyond(pos+8, int64(n)):
			return nil, 0, fmt.Errorf("%w: fragment at %d of length %d runs past the end of the object", dicom.ErrMalformed, pos, n)
		case len(frags) == maxFragments:
			return nil, 0, fmt.Errorf("%w: %w: more than %d fragments", dicom.ErrMalformed, ErrTooLarge, maxFragments)
		}
		frags = append(frags, Fragment{Offset: pos + 8, Length: int64(n)})
		pos += 8 + int64(n)
	}
}

// findFrames groups the fragments into frames (PS3.5 A.4), trying in turn:
//   - a video stream (PS3.5 8.2.5-8.2.8): its fragments are not frames, whatever their number;
//   - a single frame: all the fragments;
//   - the Extended, then the Basic Offset Table, when it has an entry per frame, starts at 0
//     and increases, and each entry is the start of a fragment item;
//   - one fragment per frame, when the numbers agree;
//   - a frame per fragment that starts a codestream (JPEG and JPEG-LS SOI; JPEG 2000 SOC
//     and SIZ, or a JP2 signature box); RLE and Encapsulated Uncompressed have no start
//     marker and one fragment per frame by definition (PS3.5 A.4.2, 8.2.1).
//
// Frames it cannot find are left at 0 with Problem saying why. lazy (Open) trusts a
// fitting table without walking the fragment items: each frame's items are walked when it
// is read, and a table whose entries are not item starts is found wrong then.
func (l *Layout) findFrames(e *encapsulation, frames int64, ts dicom.TransferSyntax, eot []uint64, lazy bool) error {
	if frames > maxFrames {
		l.Problem = fmt.Sprintf("Number of Frames %d is more than this server serves", frames)
		return nil
	}
	nframes := int(frames)
	if e.scanned && len(e.frags) == 0 {
		l.Problem = "encapsulated Pixel Data without fragments"
		return nil
	}
	if ts.Video {
		l.Problem = "the frames are one " + ts.Name + " video stream"
		l.unsupported = true
		return nil
	}
	if nframes == 1 {
		if lazy && !e.scanned {
			l.starts, l.Frames = []int64{e.base}, 1
			return nil
		}
		l.FrameFragments, l.Frames = [][]Fragment{e.frags}, 1
		return nil
	}
	bot := make([]uint64, len(e.bot))
	for i, v := range e.bot {
		bot[i] = uint64(v)
	}
	for _, offsets := range [][]uint64{eot, bot} {
		if !tableFits(offsets, nframes) {
			continue
		}
		if lazy && !e.scanned {
			if offsets[nframes-1] > uint64(max(e.size, 1<<40)) || e.beyond(e.base+int64(offsets[nframes-1]), 8) {
				continue // past the end of the object: not this object's table
			}
			l.starts = make([]int64, nframes)
			for i, o := range offsets {
				l.starts[i] = e.base + int64(o)
			}
			l.Frames = nframes
			return nil
		}
		if out, ok := byOffsets(e.frags, e.base, offsets); ok {
			l.FrameFragments, l.Frames = out, nframes
			return nil
		}
	}
	if err := e.scan(); err != nil {
		return err
	}
	if len(e.frags) == 0 {
		l.Problem = "encapsulated Pixel Data without fragments"
		return nil
	}
	if len(e.frags) == nframes {
		l.FrameFragments = make([][]Fragment, nframes)
		for i := range e.frags {
			l.FrameFragments[i] = e.frags[i : i+1]
		}
		l.Frames = nframes
		return nil
	}
	starts, err := codestreamStarts(e, ts)
	if err != nil {
		return err
	}
	if len(starts) != nframes || starts[0] != 0 {
		l.Problem = fmt.Sprintf("%d fragments and no offset table; found %d frame starts for %d frames", len(e.frags), len(starts), nframes)
		if len(starts) > 0 && len(starts) < nframes && starts[0] == 0 && (ts.UID == dicom.JPEG2000MCLossless || ts.UID == dicom.JPEG2000MC) {
			// JPEG 2000 Part 2 can code several frames as the components of one codestream
			// (a transform across frames); that is not decoded frame by frame.
			l.Problem = fmt.Sprintf("%d JPEG 2000 Part 2 codestream(s) for %d frames (frames coded as components)", len(starts), nframes)
			l.unsupported = true
		}
		return nil
	}
	l.FrameFragments = make([][]Fragment, nframes)
	for k, i := range starts {
		end := len(e.frags)
		if k+1 < len(starts) {
			end = starts[k+1]
		}
		l.FrameFragments[k] = e.frags[i:end]
	}
	l.Frames = nframes
	return nil
}

// tableFits reports whether an offset table can describe nframes frames: an entry per
// frame, the first 0, increasing.
func tableFits(offsets []uint64, nframes int) bool {
	if len(offsets) != nframes || offsets[0] != 0 {
		return false
	}
	for k := 1; k < len(offsets); k++ {
		if offsets[k] <= offsets[k-1] {
			return false
		}
	}
	return true
}

// byOffsets groups frags by a table's frame offsets (counted from base, the first
// fragment's item tag); false when an entry is not the start of a fragment item.
func byOffsets(frags []Fragment, base int64, offsets []uint64) ([][]Fragment, bool) {
	start := make(map[uint64]int, len(frags))
	for i, f := range frags {
		start[uint64(f.Offset-8-base)] = i
	}
	out := make([][]Fragment, len(offsets))
	for k, off := range offsets {
		i, ok := start[off]
		if !ok {
			return nil, false
		}
		end := len(frags)
		if k+1 < len(offsets) {
			if end, ok = start[offsets[k+1]]; !ok {
				return nil, false
			}
		}
		out[k] = frags[i:end]
	}
	return out, true
}

var (
	jpegSOI = []byte{0xFF, 0xD8}
	j2kSOC  = []byte{0xFF, 0x4F, 0xFF, 0x51}                         // SOC, then SIZ (ITU-T T.800 A.4)
	jp2Box  = []byte{0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20} // JP2 signature box (T.800 I.5.1)
)

// codestreamStarts returns the indexes of the fragments that begin a codestream.
func codestreamStarts(e *encapsulation, ts dicom.TransferSyntax) ([]int, error) {
	var markers [][]byte
	switch codecs[ts.UID] {
	case codecJPEG, codecJPEGLS:
		markers = [][]byte{jpegSOI}
	case codecJ2K:
		markers = [][]byte{j2kSOC, jp2Box}
	default:
		return nil, nil
	}
	var starts []int
	var b [8]byte
	for i, f := range e.frags {
		n := min(int64(len(b)), f.Length)
		if err := readAt(e.r, b[:n], f.Offset); err != nil {
			return nil, fmt.Errorf("fragment %d: %w", i, err)
		}
		for _, m := range markers {
			if n >= int64(len(m)) && bytes.Equal(b[:len(m)], m) {
				starts = append(starts, i)
				break
			}
		}
	}
	return starts, nil
}
