package pixel

import (
	"context"
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
	// Encapsulated Pixel Data: where the frames are (layout.go), and its items as far as
	// Open had to read them.
	layout *Layout
	enc    *encapsulation
	// dsSize is the length of the data set stream, -1 when unknown (deflated); every
	// length read from the object is checked against it before anything is allocated.
	dsSize int64
	// budget bounds the frames decoded from the image (budget.go).
	budget *Budget
}

// beyond reports whether n bytes at off would run past the end of the object.
func (im *Image) beyond(off, n int64) bool {
	return im.dsSize >= 0 && (off < 0 || n < 0 || off+n > im.dsSize)
}

// Open prepares access to the pixels of a Part-10 object: r holds the whole object (size
// bytes), hdr is what dicom.ReadPart10 read from it. No pixel bytes are read; for
// encapsulated syntaxes Open reads the Basic Offset Table or Extended Offset Table, and walks
// the fragment items only when neither says where the frames are.
//
// Its frames are decoded within the package's default budget (budget.go); a server opens
// through its own Budget instead.
func Open(r io.ReaderAt, size int64, hdr *dicom.Header) (*Image, error) {
	return defaultBudget.Open(r, size, hdr)
}

func open(r io.ReaderAt, size int64, hdr *dicom.Header) (*Image, error) {
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
	im := &Image{ts: ts, ds: datasetReader(r, size, hdr, ts), dsSize: -1}
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
	at := hdr.PixelDataOffset
	h, err := readElementHeader(im.ds, at, im.ts)
	if err != nil {
		return fmt.Errorf("pixel data element: %w", corrupt(err))
	}
	if h.Tag != dicom.TagPixelData {
		return fmt.Errorf("%w: %s (float pixel data)", ErrUnsupported, h.Tag)
	}
	if im.ts.ExplicitVR && h.VR != "OB" && h.VR != "OW" && h.VR != "UN" {
		return fmt.Errorf("%w: Pixel Data with VR %q", ErrCorrupt, h.VR)
	}
	length := h.Length
	at += h.Size
	if !im.ts.Encapsulated {
		if length == dicom.UndefinedLength {
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
	if length != dicom.UndefinedLength {
		return fmt.Errorf("%w: native Pixel Data in encapsulated transfer syntax %s", ErrUnsupported, im.ts.Name)
	}
	return im.locateFragments(hdr, h, at)
}

// corrupt reports damaged structure (dicom.ErrMalformed from layout.go) as ErrCorrupt,
// this package's word for it; too many fragments stays ErrTooLarge.
func corrupt(err error) error {
	if errors.Is(err, dicom.ErrMalformed) && !errors.Is(err, ErrTooLarge) {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return err
}

// locateFragments finds the frames of encapsulated Pixel Data whose value starts at at
// (layout.go, PS3.5 A.4). When an offset table fits, no fragment item is read here: each
// frame's items are walked when it is read.
func (im *Image) locateFragments(hdr *dicom.Header, h dicom.ElementHeader, at int64) error {
	e, err := readEncapsulation(im.ds, at, im.dsSize)
	if err != nil {
		return corrupt(err)
	}
	l := &Layout{Tag: h.Tag, VR: h.VR, Offset: at, Encapsulated: true}
	if err := l.findFrames(e, int64(im.info.NumberOfFrames), im.ts, im.extendedOffsets(hdr.Dataset), true); err != nil {
		return corrupt(err)
	}
	if l.Frames == 0 {
		if l.unsupported {
			return fmt.Errorf("%w: %s", ErrUnsupported, l.Problem)
		}
		return fmt.Errorf("%w: %s", ErrCorrupt, l.Problem)
	}
	im.layout, im.enc = l, e
	return nil
}

// extendedOffsets reads the Extended Offset Table (PS3.5 A.4), loading it from the object
// when the header reader left it there.
func (im *Image) extendedOffsets(ds *dicom.Dataset) []uint64 {
	e := ds.Get(tagExtendedOffsetTable)
	if e == nil {
		return nil
	}
	b, err := valueLoader(im.ds, false)(e)
	if err != nil {
		return nil
	}
	return decodeOffsets64(b)
}

// pixelDataEnd returns the offset in the data set stream just after the Pixel Data element,
// where any trailing elements start.
func (im *Image) pixelDataEnd() (int64, error) {
	if !im.ts.Encapsulated {
		return im.valueOff + im.valueLen, nil
	}
	if im.enc.scanned {
		return im.enc.end, nil
	}
	_, end, err := im.enc.walk()
	return end, corrupt(err)
}

// fragments returns the fragments of frame i, walking its items when Open did not.
func (im *Image) fragments(ctx context.Context, i int) ([]Fragment, error) {
	if im.layout.starts == nil {
		return im.layout.FrameFragments[i], nil
	}
	start, end := im.layout.starts[i], int64(-1)
	if i+1 < len(im.layout.starts) {
		end = im.layout.starts[i+1]
	}
	var out []Fragment
	var total int64
	for off := start; end < 0 || off < end; {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		tag, n, err := im.enc.item(off)
		if err != nil {
			return nil, corrupt(err)
		}
		if tag == dicom.TagSequenceDelimitationItem && end < 0 && len(out) > 0 {
			break
		}
		if tag != dicom.TagItem || n == dicom.UndefinedLength {
			return nil, fmt.Errorf("%w: item tag %s length %d at data set offset %d (wrong offset table?)", ErrCorrupt, tag, n, off)
		}
		if im.beyond(off+8, int64(n)) {
			return nil, fmt.Errorf("%w: fragment of %d bytes runs past the end of the object", ErrCorrupt, n)
		}
		total += int64(n)
		if len(out) >= maxFragments || total > frameLimit {
			return nil, fmt.Errorf("%w: frame of more than %d fragments or %d bytes", ErrTooLarge, maxFragments, frameLimit)
		}
		out = append(out, Fragment{Offset: off + 8, Length: int64(n)})
		off += 8 + int64(n)
		if end >= 0 && off > end {
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
// from Deflated), which is what WADO-RS serves as application/octet-stream. The read takes
// its size from the image's budget while it runs.
func (im *Image) RawFrame(ctx context.Context, i int) ([]byte, error) {
	frags, n, err := im.frameSource(ctx, i)
	if err != nil {
		return nil, err
	}
	release, err := im.budget.acquire(ctx, n)
	if err != nil {
		return nil, fmt.Errorf("frame %d: %w", i, err)
	}
	defer release()
	return im.readFrame(ctx, i, frags)
}

// frameSource finds frame i: its fragments (encapsulated) and its stored length, so that
// the memory to read it is known before anything is allocated.
func (im *Image) frameSource(ctx context.Context, i int) ([]Fragment, int64, error) {
	if i < 0 || i >= im.info.NumberOfFrames {
		return nil, 0, fmt.Errorf("frame %d: out of range (%d frames)", i, im.info.NumberOfFrames)
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	if !im.ts.Encapsulated {
		return nil, im.info.nativeFrameBytes(), nil
	}
	frags, err := im.fragments(ctx, i)
	if err != nil {
		return nil, 0, fmt.Errorf("frame %d: %w", i, err)
	}
	var total int64
	for _, f := range frags {
		total += f.Length
	}
	if total > frameLimit {
		return nil, 0, fmt.Errorf("frame %d: %w: %d bytes", i, ErrTooLarge, total)
	}
	return frags, total, nil
}

// readFrame reads frame i from where frameSource found it.
func (im *Image) readFrame(ctx context.Context, i int, frags []Fragment) ([]byte, error) {
	if !im.ts.Encapsulated {
		b, err := im.nativeFrame(i)
		if err != nil {
			return nil, fmt.Errorf("frame %d: %w", i, err)
		}
		return b, nil
	}
	var total int64
	for _, f := range frags {
		total += f.Length
	}
	out := make([]byte, total)
	pos := int64(0)
	for _, f := range frags {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := readFull(im.ds, out[pos:pos+f.Length], f.Offset); err != nil {
			return nil, fmt.Errorf("frame %d: %w", i, err)
		}
		pos += f.Length
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
