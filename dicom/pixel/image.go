package pixel

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"pacsd/dicom"
)

// Errors. Every error the package returns for bad data wraps ErrCorrupt; for valid data it
// cannot handle, ErrUnsupported; for sizes beyond its bounds, ErrTooLarge. Other errors are
// I/O errors of the caller's reader or a cancelled context.
var (
	ErrNoPixelData = errors.New("no pixel data")
	ErrUnsupported = errors.New("unsupported pixel data")
	ErrCorrupt     = errors.New("corrupt pixel data")
	ErrTooLarge    = errors.New("pixel data too large")
)

const (
	tagItem                 = 0xFFFEE000
	tagSequenceDelimitation = 0xFFFEE0DD
	// maxFragments bounds the fragments of encapsulated Pixel Data that Open records.
	maxFragments = 1 << 20
)

// Image gives access to the frames of one Part-10 object. It holds the reader, the header's
// pixel description and where each frame lies; no pixel bytes. It is safe for concurrent use
// if the reader is (os.File and the store's readers are).
type Image struct {
	info Info
	ts   dicom.TransferSyntax
	ds   io.ReaderAt // the data set stream

	// Native Pixel Data: the value's offset and length in the data set stream.
	valueOff, valueLen int64
	// Encapsulated Pixel Data: where each frame's fragments are, and where the Pixel Data
	// element ends (after its Sequence Delimitation Item), when Open had to find it.
	frames []encFrame
	// fragBase is the offset of the first fragment's item tag (after the Basic Offset
	// Table); end, when Open found it, the offset just after the Pixel Data element.
	fragBase int64
	end      int64
	// dsSize is the length of the data set stream, -1 when unknown (deflated); every
	// length read from the object is checked against it before anything is allocated.
	dsSize int64
}

// beyond reports whether n bytes at off would run past the end of the object.
func (im *Image) beyond(off, n int64) bool {
	return im.dsSize >= 0 && (off < 0 || n < 0 || off+n > im.dsSize)
}

// encFrame locates one frame of encapsulated Pixel Data: either its fragments, found by a
// scan, or the span of items holding them (from a Basic or Extended Offset Table), walked
// when the frame is read. end < 0: up to the Sequence Delimitation Item.
type encFrame struct {
	frags      []fragment
	start, end int64
}

type fragment struct {
	off int64 // of the value, in the data set stream
	n   int64
}

// Open prepares access to the pixels of a Part-10 object: r holds the whole object (size
// bytes), hdr is what dicom.ReadPart10 read from it. No pixel bytes are read; for
// encapsulated syntaxes Open reads the Basic Offset Table or Extended Offset Table, and walks
// the fragment items only when neither says where the frames are.
func Open(r io.ReaderAt, size int64, hdr *dicom.Header) (*Image, error) {
	if hdr == nil || hdr.Dataset == nil {
		return nil, fmt.Errorf("open pixel data: no header")
	}
	if hdr.PixelDataOffset < 0 {
		return nil, ErrNoPixelData
	}
	ts, ok := dicom.LookupTransferSyntax(hdr.TransferSyntax)
	if !ok {
		return nil, fmt.Errorf("%w: transfer syntax %q", ErrUnsupported, hdr.TransferSyntax)
	}
	if err := refuseUndecodable(ts); err != nil {
		return nil, fmt.Errorf("open pixel data: %w", err)
	}
	im := &Image{ts: ts, ds: datasetReader(r, size, hdr, ts), end: -1, dsSize: -1}
	if !ts.Deflated {
		im.dsSize = size - hdr.DatasetOffset
	}
	info, err := parseInfo(hdr.Dataset, ts, valueLoader(im.ds, ts.BigEndian))
	if err != nil {
		return nil, fmt.Errorf("open pixel data: %w", err)
	}
	im.info = info
	if err := im.locate(hdr); err != nil {
		return nil, fmt.Errorf("open pixel data: %w", err)
	}
	return im, nil
}

// Info describes the image.
func (im *Image) Info() Info { return im.info }

// NumFrames is the number of frames.
func (im *Image) NumFrames() int { return im.info.NumberOfFrames }

// locate reads the Pixel Data element header and finds the frames.
func (im *Image) locate(hdr *dicom.Header) error {
	var b [12]byte
	at := hdr.PixelDataOffset
	if err := readFull(im.ds, b[:8], at); err != nil {
		return fmt.Errorf("pixel data element: %w", err)
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if im.ts.BigEndian {
		bo = binary.BigEndian
	}
	tag := dicom.Tag(uint32(bo.Uint16(b[0:]))<<16 | uint32(bo.Uint16(b[2:])))
	if tag != dicom.TagPixelData {
		return fmt.Errorf("%w: %s (float pixel data)", ErrUnsupported, tag)
	}
	var length uint32
	switch vr := string(b[4:6]); {
	case !im.ts.ExplicitVR:
		length = bo.Uint32(b[4:])
		at += 8
	case vr == "OB" || vr == "OW" || vr == "UN":
		if err := readFull(im.ds, b[8:12], at+8); err != nil {
			return fmt.Errorf("pixel data element: %w", err)
		}
		length = bo.Uint32(b[8:])
		at += 12
	default:
		return fmt.Errorf("%w: Pixel Data with VR %q", ErrCorrupt, vr)
	}
	if !im.ts.Encapsulated {
		if length == 0xFFFFFFFF {
			return fmt.Errorf("%w: encapsulated Pixel Data in native transfer syntax %s", ErrCorrupt, im.ts.Name)
		}
		need := im.info.nativeFrameBytes() * int64(im.info.NumberOfFrames)
		if int64(length) < need {
			return fmt.Errorf("%w: Pixel Data holds %d bytes; %d frame(s) of %dx%d need %d",
				ErrCorrupt, length, im.info.NumberOfFrames, im.info.Columns, im.info.Rows, need)
		}
		if im.beyond(at, need) {
			return fmt.Errorf("%w: Pixel Data needs %d bytes; the object ends %d bytes after its start", ErrCorrupt, need, im.dsSize-at)
		}
		im.valueOff, im.valueLen = at, int64(length)
		return nil
	}
	if length != 0xFFFFFFFF {
		return fmt.Errorf("%w: native Pixel Data in encapsulated transfer syntax %s", ErrUnsupported, im.ts.Name)
	}
	return im.locateFragments(hdr, at)
}

// item reads an item header (tag and length, always little-endian in encapsulated syntaxes,
// PS3.5 A.4).
func (im *Image) item(off int64) (tag uint32, length uint32, err error) {
	var b [8]byte
	if err := readFull(im.ds, b[:], off); err != nil {
		return 0, 0, err
	}
	return uint32(binary.LittleEndian.Uint16(b[0:]))<<16 | uint32(binary.LittleEndian.Uint16(b[2:])),
		binary.LittleEndian.Uint32(b[4:]), nil
}

// locateFragments finds the frames of encapsulated Pixel Data (PS3.5 A.4): by the Extended
// Offset Table, else the Basic Offset Table, else one frame = all fragments, else one
// fragment per frame, else by the codestream start marker each frame's first fragment has.
func (im *Image) locateFragments(hdr *dicom.Header, at int64) error {
	n := im.info.NumberOfFrames
	tag, botLen, err := im.item(at)
	if err != nil {
		return fmt.Errorf("basic offset table: %w", err)
	}
	if tag != tagItem || botLen == 0xFFFFFFFF || botLen%4 != 0 || int64(botLen) > 8*maxFrames {
		return fmt.Errorf("%w: bad Basic Offset Table item (tag %08X, length %d)", ErrCorrupt, tag, botLen)
	}
	base := at + 8 + int64(botLen) // the first fragment's item tag; offsets count from here
	im.fragBase = base

	// PS3.5 A.4, Table A.4-1 note: with an Extended Offset Table the Basic one is empty and
	// each frame is one fragment.
	if eot, lens, ok := im.extendedOffsets(hdr.Dataset); ok && len(eot) == n {
		im.frames = make([]encFrame, n)
		for i := range im.frames {
			start := base + int64(eot[i])
			im.frames[i] = encFrame{start: start, end: start + 8 + int64(lens[i])}
		}
		return nil
	}
	if botLen > 0 && int(botLen/4) == n {
		bot := make([]byte, botLen)
		if err := readFull(im.ds, bot, at+8); err != nil {
			return fmt.Errorf("basic offset table: %w", err)
		}
		offs := make([]int64, n)
		valid := true
		for i := range offs {
			offs[i] = int64(binary.LittleEndian.Uint32(bot[4*i:]))
			if (i == 0 && offs[0] != 0) || (i > 0 && offs[i] <= offs[i-1]) {
				valid = false
			}
		}
		if valid {
			im.frames = make([]encFrame, n)
			for i := range im.frames {
				im.frames[i] = encFrame{start: base + offs[i], end: -1}
				if i+1 < n {
					im.frames[i].end = base + offs[i+1]
				}
			}
			return nil
		}
		// A Basic Offset Table that cannot be right: ignore it and scan.
	}
	if n == 1 {
		im.frames = []encFrame{{start: base, end: -1}}
		return nil
	}
	frags, firsts, end, err := im.scanFragments(base)
	if err != nil {
		return err
	}
	im.end = end
	if len(frags) == n {
		im.frames = make([]encFrame, n)
		for i := range frags {
			im.frames[i] = encFrame{frags: frags[i : i+1]}
		}
		return nil
	}
	if codecs[im.ts.UID] == codecNative {
		// Native bytes carry no start marker to find frames by; the syntax requires one
		// fragment per frame.
		return fmt.Errorf("%w: %d fragments for %d frames in %s (one fragment per frame)", ErrCorrupt, len(frags), n, im.ts.Name)
	}
	// Several fragments per frame and no offset table: a frame starts at each fragment
	// that starts a codestream (SOI for JPEG and JPEG-LS, SOC or a JP2 signature box for
	// JPEG 2000); RLE frames are always one fragment (PS3.5 A.4.2).
	for i, b := range firsts {
		if startsCodestream(b) {
			if len(im.frames) == n {
				return fmt.Errorf("%w: more codestreams than the %d frames the header declares", ErrCorrupt, n)
			}
			im.frames = append(im.frames, encFrame{})
		}
		if len(im.frames) == 0 {
			return fmt.Errorf("%w: first fragment does not start a codestream", ErrCorrupt)
		}
		f := &im.frames[len(im.frames)-1]
		f.frags = append(f.frags, frags[i])
	}
	if len(im.frames) != n {
		if len(im.frames) < n && (im.ts.UID == dicom.JPEG2000MCLossless || im.ts.UID == dicom.JPEG2000MC) {
			// JPEG 2000 Part 2 can code several frames as the components of one codestream
			// (a transform across frames); that is not decoded frame by frame.
			return fmt.Errorf("%w: %d JPEG 2000 Part 2 codestream(s) for %d frames (frames coded as components)", ErrUnsupported, len(im.frames), n)
		}
		return fmt.Errorf("%w: found %d frames in %d fragments, the header declares %d", ErrCorrupt, len(im.frames), len(frags), n)
	}
	return nil
}

func startsCodestream(b [4]byte) bool {
	return (b[0] == 0xFF && (b[1] == 0xD8 || b[1] == 0x4F)) || (b == [4]byte{0, 0, 0, 0x0C})
}

// extendedOffsets reads the Extended Offset Table and its lengths (PS3.5 A.4; 64-bit
// offsets and lengths, one per frame).
func (im *Image) extendedOffsets(ds *dicom.Dataset) (offs, lens []uint64, ok bool) {
	e, l := ds.Get(tagExtendedOffsetTable), ds.Get(tagExtendedOffsetTableLength)
	if e == nil || l == nil {
		return nil, nil, false
	}
	load := valueLoader(im.ds, false)
	eb, err1 := load(e)
	lb, err2 := load(l)
	if err1 != nil || err2 != nil || len(eb) != len(lb) || len(eb)%8 != 0 {
		return nil, nil, false
	}
	for i := 0; i < len(eb); i += 8 {
		o, n := binary.LittleEndian.Uint64(eb[i:]), binary.LittleEndian.Uint64(lb[i:])
		if o > 1<<40 || n == 0 || int64(n) > frameLimit || (i > 0 && o <= offs[len(offs)-1]) {
			return nil, nil, false
		}
		offs, lens = append(offs, o), append(lens, n)
	}
	return offs, lens, true
}

// scanFragments walks the fragment items from off to the Sequence Delimitation Item,
// recording each fragment and its first bytes.
func (im *Image) scanFragments(off int64) ([]fragment, [][4]byte, int64, error) {
	var frags []fragment
	var firsts [][4]byte
	for {
		var b [12]byte
		if err := readFull(im.ds, b[:8], off); err != nil {
			return nil, nil, 0, fmt.Errorf("fragment %d: %w", len(frags), err)
		}
		tag := uint32(binary.LittleEndian.Uint16(b[0:]))<<16 | uint32(binary.LittleEndian.Uint16(b[2:]))
		n := binary.LittleEndian.Uint32(b[4:])
		if tag == tagSequenceDelimitation {
			return frags, firsts, off + 8, nil
		}
		if tag != tagItem || n == 0xFFFFFFFF {
			return nil, nil, 0, fmt.Errorf("%w: fragment %d: item tag %08X length %d", ErrCorrupt, len(frags), tag, n)
		}
		if len(frags) >= maxFragments {
			return nil, nil, 0, fmt.Errorf("%w: more than %d fragments", ErrTooLarge, maxFragments)
		}
		if im.beyond(off+8, int64(n)) {
			return nil, nil, 0, fmt.Errorf("%w: fragment %d of %d bytes runs past the end of the object", ErrCorrupt, len(frags), n)
		}
		var first [4]byte
		if n >= 4 {
			if err := readFull(im.ds, first[:], off+8); err != nil {
				return nil, nil, 0, fmt.Errorf("fragment %d: %w", len(frags), err)
			}
		}
		frags = append(frags, fragment{off: off + 8, n: int64(n)})
		firsts = append(firsts, first)
		off += 8 + int64(n)
	}
}

// pixelDataEnd returns the offset in the data set stream just after the Pixel Data element,
// where any trailing elements start.
func (im *Image) pixelDataEnd() (int64, error) {
	if !im.ts.Encapsulated {
		return im.valueOff + im.valueLen, nil
	}
	if im.end >= 0 {
		return im.end, nil
	}
	_, _, end, err := im.scanFragments(im.fragBase)
	return end, err
}

// fragments returns the fragments of frame i, walking its span when Open did not scan.
func (im *Image) fragments(ctx context.Context, i int) ([]fragment, error) {
	f := im.frames[i]
	if f.frags != nil {
		return f.frags, nil
	}
	var out []fragment
	var total int64
	for off := f.start; f.end < 0 || off < f.end; {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		tag, n, err := im.item(off)
		if err != nil {
			return nil, err
		}
		if tag == tagSequenceDelimitation && f.end < 0 && len(out) > 0 {
			break
		}
		if tag != tagItem || n == 0xFFFFFFFF {
			return nil, fmt.Errorf("%w: item tag %08X length %d at data set offset %d (wrong offset table?)", ErrCorrupt, tag, n, off)
		}
		if im.beyond(off+8, int64(n)) {
			return nil, fmt.Errorf("%w: fragment of %d bytes runs past the end of the object", ErrCorrupt, n)
		}
		total += int64(n)
		if len(out) >= maxFragments || total > frameLimit {
			return nil, fmt.Errorf("%w: frame of more than %d fragments or %d bytes", ErrTooLarge, maxFragments, frameLimit)
		}
		out = append(out, fragment{off: off + 8, n: int64(n)})
		off += 8 + int64(n)
		if f.end >= 0 && off > f.end {
			return nil, fmt.Errorf("%w: fragment crosses the next frame's offset", ErrCorrupt)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no fragments", ErrCorrupt)
	}
	return out, nil
}

// RawFrame returns frame i (0-based) as stored: for encapsulated syntaxes the frame's
// fragments joined (the codestream, possibly with a trailing pad byte); for native syntaxes
// the frame's bytes in little-endian order (swapped from Explicit VR Big Endian, inflated
// from Deflated), which is what WADO-RS serves as application/octet-stream.
func (im *Image) RawFrame(ctx context.Context, i int) ([]byte, error) {
	if i < 0 || i >= im.info.NumberOfFrames {
		return nil, fmt.Errorf("frame %d: out of range (%d frames)", i, im.info.NumberOfFrames)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !im.ts.Encapsulated {
		b, err := im.nativeFrame(i)
		if err != nil {
			return nil, fmt.Errorf("frame %d: %w", i, err)
		}
		return b, nil
	}
	frags, err := im.fragments(ctx, i)
	if err != nil {
		return nil, fmt.Errorf("frame %d: %w", i, err)
	}
	var total int64
	for _, f := range frags {
		total += f.n
	}
	if total > frameLimit {
		return nil, fmt.Errorf("frame %d: %w: %d bytes", i, ErrTooLarge, total)
	}
	out := make([]byte, total)
	pos := int64(0)
	for _, f := range frags {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := readFull(im.ds, out[pos:pos+f.n], f.off); err != nil {
			return nil, fmt.Errorf("frame %d: %w", i, err)
		}
		pos += f.n
	}
	return out, nil
}

// nativeFrame reads frame i of native Pixel Data, little-endian.
func (im *Image) nativeFrame(i int) ([]byte, error) {
	size := im.info.nativeFrameBytes()
	off := im.valueOff + int64(i)*size
	swap := im.ts.BigEndian && im.info.BitsAllocated == 16
	if im.ts.BigEndian && im.info.BitsAllocated == 8 && im.pixelVRIsOW() {
		// 8-bit samples in OW: big endian swapped each byte pair (PS3.5 A.3), across the
		// whole value, so a frame may start in the middle of a pair.
		start, end := off&^1, (off+size+1)&^1
		b := make([]byte, end-start)
		if err := readFull(im.ds, b, start); err != nil {
			return nil, err
		}
		swap16(b)
		return b[off-start : off-start+size], nil
	}
	var b []byte
	if im.dsSize < 0 {
		// Deflated: how much the stream holds is unknown until inflated, so the buffer
		// grows with the bytes that arrive rather than trusting the header up front.
		var err error
		if b, err = readGrowing(im.ds, off, size); err != nil {
			return nil, err
		}
	} else {
		b = make([]byte, size)
		if err := readFull(im.ds, b, off); err != nil {
			return nil, err
		}
	}
	if swap {
		swap16(b)
	}
	return b, nil
}

// readGrowing reads n bytes at off in chunks, growing the buffer as they arrive.
func readGrowing(r io.ReaderAt, off, n int64) ([]byte, error) {
	const chunk = 1 << 20
	b := make([]byte, 0, min(n, chunk))
	for int64(len(b)) < n {
		k := min(n-int64(len(b)), chunk)
		b = append(b, make([]byte, k)...)
		if err := readFull(r, b[int64(len(b))-k:], off+int64(len(b))-k); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func (im *Image) pixelVRIsOW() bool {
	var b [2]byte
	if err := readFull(im.ds, b[:], im.valueOff-8); err != nil {
		return false
	}
	return string(b[:]) == "OW"
}
