package dicomweb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"pacsd/dicom"
)

// Where the pixel data of a stored object is: the Pixel Data element's value for native
// data, or the fragments of each frame for encapsulated data (PS3.5 A.4). It is found by
// reading element and item headers only, seeking past values, so a 2 GB multi-frame object
// costs a few reads, never a pass over its pixels.

// Bounds on what a damaged or hostile object can make the scanner do.
const (
	maxFragments = 1 << 20 // fragments of one Pixel Data element
	maxFrames    = 1 << 20 // frames of one instance
)

// errNoFrames: the frames of an object cannot be separated (damaged encapsulation, an
// encoding this server does not cut into frames). The object itself is still retrievable.
var errNoFrames = errors.New("frames cannot be located")

// fragment is one item of encapsulated pixel data: the offset of its value in the object
// and the value's length.
type fragment struct {
	Offset int64 `json:"o"`
	Length int64 `json:"n"`
}

// pixelLayout locates the frames of one object. Offsets count from the first byte of the
// Part-10 object, or, for a deflated data set, from the first byte of the inflated data set.
type pixelLayout struct {
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
	FrameFragments [][]fragment `json:"frameFragments,omitempty"`
}

// frame returns the pieces of frame n (1-based) to read, in order, and its size.
func (p *pixelLayout) frame(n int) ([]fragment, int64, error) {
	if p == nil || p.Frames == 0 {
		if p != nil && p.Problem != "" {
			return nil, 0, fmt.Errorf("%w: %s", errNoFrames, p.Problem)
		}
		return nil, 0, errNoFrames
	}
	if n < 1 || n > p.Frames {
		return nil, 0, fmt.Errorf("frame %d of %d: %w", n, p.Frames, errFrameRange)
	}
	if !p.Encapsulated {
		return []fragment{{Offset: p.Offset + int64(n-1)*p.FrameLength, Length: p.FrameLength}}, p.FrameLength, nil
	}
	frs := p.FrameFragments[n-1]
	var size int64
	for _, f := range frs {
		size += f.Length
	}
	return frs, size, nil
}

// errFrameRange: a frame number beyond the object's frames.
var errFrameRange = errors.New("no such frame")

// elementHeader is a top-level element header read directly from the object.
type elementHeader struct {
	tag    dicom.Tag
	vr     string
	length uint32
	size   int64 // bytes of the header itself
}

const undefinedLength = 0xFFFFFFFF

// longVRs have a 4-byte length in explicit VR encodings (PS3.5 7.1.2, Table 7.1-1).
var longVRs = map[string]bool{
	"OB": true, "OD": true, "OF": true, "OL": true, "OV": true, "OW": true, "SQ": true,
	"SV": true, "UC": true, "UN": true, "UR": true, "UT": true, "UV": true,
}

// readElementHeader reads an element header in transfer syntax ts (PS3.5 7.1.2, 7.1.3).
func readElementHeader(r io.Reader, ts dicom.TransferSyntax) (elementHeader, error) {
	var b [12]byte
	var bo binary.ByteOrder = binary.LittleEndian
	if ts.BigEndian {
		bo = binary.BigEndian
	}
	if _, err := io.ReadFull(r, b[:8]); err != nil {
		return elementHeader{}, err
	}
	h := elementHeader{tag: dicom.Tag(uint32(bo.Uint16(b[0:]))<<16 | uint32(bo.Uint16(b[2:])))}
	if !ts.ExplicitVR {
		h.length, h.size = bo.Uint32(b[4:]), 8
		h.vr = "OW" // PS3.5 A.1: Pixel Data in Implicit VR Little Endian is OW
		switch h.tag {
		case dicom.TagFloatPixelData:
			h.vr = "OF"
		case dicom.TagDoubleFloatPixelData:
			h.vr = "OD"
		}
		return h, nil
	}
	h.vr = string(b[4:6])
	if !longVRs[h.vr] {
		h.length, h.size = uint32(bo.Uint16(b[6:])), 8
		return h, nil
	}
	if _, err := io.ReadFull(r, b[8:12]); err != nil {
		return elementHeader{}, err
	}
	h.length, h.size = bo.Uint32(b[8:]), 12
	return h, nil
}

// scanPixelData reads the Pixel Data element whose tag is at off in r (a seekable
// Part-10 object of size bytes) and returns its header, the value offset and, for
// encapsulated data, the Basic Offset Table and fragments. end is the offset just past the
// element (where any trailing elements begin).
func scanPixelData(r io.ReadSeeker, off, size int64, ts dicom.TransferSyntax) (h elementHeader, value int64, bot []uint32, frags []fragment, end int64, err error) {
	if _, err = r.Seek(off, io.SeekStart); err != nil {
		return h, 0, nil, nil, 0, err
	}
	if h, err = readElementHeader(r, ts); err != nil {
		return h, 0, nil, nil, 0, fmt.Errorf("pixel data header at %d: %w", off, eofMalformed(err))
	}
	value = off + h.size
	if h.length != undefinedLength {
		end = value + int64(h.length)
		if end > size {
			return h, 0, nil, nil, 0, fmt.Errorf("%w: pixel data length %d runs past the end of the object", dicom.ErrMalformed, h.length)
		}
		return h, value, nil, nil, end, nil
	}
	// PS3.5 A.4: items of defined length (the first is the Basic Offset Table), then a
	// Sequence Delimitation Item. Item headers are always little endian there.
	pos := value
	first := true
	var b [8]byte
	for {
		if _, err = r.Seek(pos, io.SeekStart); err != nil {
			return h, 0, nil, nil, 0, err
		}
		if _, err = io.ReadFull(r, b[:]); err != nil {
			return h, 0, nil, nil, 0, fmt.Errorf("fragment item at %d: %w", pos, eofMalformed(err))
		}
		tag := dicom.Tag(uint32(binary.LittleEndian.Uint16(b[0:]))<<16 | uint32(binary.LittleEndian.Uint16(b[2:])))
		n := binary.LittleEndian.Uint32(b[4:])
		pos += 8
		switch {
		case tag == dicom.TagSequenceDelimitationItem:
			return h, value, bot, frags, pos, nil
		case tag != dicom.TagItem:
			return h, 0, nil, nil, 0, fmt.Errorf("%w: expected a fragment item at %d, found %s", dicom.ErrMalformed, pos-8, tag)
		case n == undefinedLength || pos+int64(n) > size:
			return h, 0, nil, nil, 0, fmt.Errorf("%w: fragment at %d of length %d runs past the end of the object", dicom.ErrMalformed, pos-8, n)
		}
		if first {
			first = false
			if n%4 != 0 || n > 4*maxFrames {
				return h, 0, nil, nil, 0, fmt.Errorf("%w: basic offset table of %d bytes", dicom.ErrMalformed, n)
			}
			if n > 0 {
				raw := make([]byte, n)
				if _, err = io.ReadFull(r, raw); err != nil {
					return h, 0, nil, nil, 0, fmt.Errorf("basic offset table: %w", eofMalformed(err))
				}
				bot = make([]uint32, n/4)
				for i := range bot {
					bot[i] = binary.LittleEndian.Uint32(raw[4*i:])
				}
			}
		} else {
			if len(frags) == maxFragments {
				return h, 0, nil, nil, 0, fmt.Errorf("%w: more than %d fragments", dicom.ErrMalformed, maxFragments)
			}
			frags = append(frags, fragment{Offset: pos, Length: int64(n)})
		}
		pos += int64(n)
	}
}

// eofMalformed reports a stream that ends inside a header as malformed data.
func eofMalformed(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: object ends inside an element header", dicom.ErrMalformed)
	}
	return err
}

// imageGeometry is what the header says about frames.
type imageGeometry struct {
	rows, cols, samples, bitsAllocated int64
	frames                             int64
	photometric                        string
}

func geometryOf(ds *dicom.Dataset) imageGeometry {
	g := imageGeometry{samples: 1, frames: 1}
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
func (g imageGeometry) nativeFrameBits() int64 {
	samples := g.samples
	if samples == 3 && (g.photometric == "YBR_FULL_422" || g.photometric == "YBR_PARTIAL_422") {
		samples = 2
	}
	return g.rows * g.cols * samples * g.bitsAllocated
}

// nativeLayout fills in the frames of uncompressed pixel data.
func nativeLayout(p *pixelLayout, g imageGeometry) {
	switch {
	case g.rows <= 0 || g.cols <= 0 || g.bitsAllocated <= 0:
		p.Problem = "Rows, Columns or Bits Allocated missing"
		return
	case g.rows > 65535 || g.cols > 65535 || g.samples > 4 || g.bitsAllocated > 64:
		// US values and the sample counts PS3.3 C.7.6.3 allows: anything else is damage,
		// and would overflow the frame size.
		p.Problem = "implausible Rows, Columns, Samples per Pixel or Bits Allocated"
		return
	case g.frames > maxFrames:
		p.Problem = fmt.Sprintf("Number of Frames %d is more than this server serves", g.frames)
		return
	case g.nativeFrameBits()%8 != 0 && g.frames > 1:
		// PS3.5 8.1.1: bit-packed frames may begin inside a byte; they cannot be sent as
		// whole bytes without re-packing.
		p.Problem = "frames of bit-packed pixel data do not start on byte boundaries"
		return
	}
	p.FrameLength = (g.nativeFrameBits() + 7) / 8
	frames := g.frames
	if have := p.Length / p.FrameLength; have < frames {
		// A short Pixel Data value: serve the frames that are whole.
		frames = have
		p.Problem = fmt.Sprintf("Pixel Data holds %d of %d frames", have, g.frames)
	}
	p.Frames = int(frames)
}

// encapsulatedLayout groups fragments into frames (PS3.5 A.4): by the Extended Offset Table
// or the Basic Offset Table when present, one fragment per frame when the counts agree,
// all fragments for a single frame, else by finding the start of each frame's codestream.
// r reads the object, to look at the first bytes of fragments.
func encapsulatedLayout(p *pixelLayout, g imageGeometry, bot []uint32, eot []uint64, frags []fragment, ts string, r io.ReadSeeker) error {
	nframes := int(min(g.frames, maxFrames+1))
	if nframes > maxFrames {
		p.Problem = fmt.Sprintf("Number of Frames %d is more than this server serves", g.frames)
		return nil
	}
	if len(frags) == 0 {
		p.Problem = "encapsulated Pixel Data without fragments"
		return nil
	}
	if t, _ := dicom.LookupTransferSyntax(ts); t.Video {
		// PS3.5 8.2.5-8.2.8: the fragments are pieces of one video stream, whatever their
		// number; no fragment is a frame.
		p.Problem = "the frames are one " + t.Name + " video stream"
		return nil
	}
	if nframes == 1 {
		p.FrameFragments = [][]fragment{frags}
		p.Frames = 1
		return nil
	}
	// Offsets in both tables count from the first byte of the first fragment's item tag.
	byOffsets := func(offsets []uint64) bool {
		if len(offsets) != nframes {
			return false
		}
		base := frags[0].Offset - 8
		start := map[uint64]int{}
		for i, f := range frags {
			start[uint64(f.Offset-8-base)] = i
		}
		out := make([][]fragment, nframes)
		for k, off := range offsets {
			i, ok := start[off]
			if !ok || (k > 0 && off <= offsets[k-1]) || (k == 0 && off != 0) {
				return false
			}
			end := len(frags)
			if k+1 < nframes {
				j, ok := start[offsets[k+1]]
				if !ok {
					return false
				}
				end = j
			}
			out[k] = frags[i:end]
		}
		p.FrameFragments = out
		p.Frames = nframes
		return true
	}
	if len(eot) > 0 && byOffsets(eot) {
		return nil
	}
	if len(bot) > 0 {
		offs := make([]uint64, len(bot))
		for i, v := range bot {
			offs[i] = uint64(v)
		}
		if byOffsets(offs) {
			return nil
		}
	}
	if len(frags) == nframes {
		p.FrameFragments = make([][]fragment, nframes)
		for i := range frags {
			p.FrameFragments[i] = frags[i : i+1]
		}
		p.Frames = nframes
		return nil
	}
	// Several fragments per frame and no usable table: a frame starts where a fragment
	// starts a codestream (JPEG SOI for JPEG and JPEG-LS, ITU-T T.800 SOC or a JP2
	// signature box for JPEG 2000). RLE has one fragment per frame by definition (PS3.5
	// A.4.2), which was handled above.
	starts, err := codestreamStarts(frags, ts, r)
	if err != nil {
		return err
	}
	if len(starts) != nframes || starts[0] != 0 {
		p.Problem = fmt.Sprintf("%d fragments and no offset table; found %d frame starts for %d frames", len(frags), len(starts), nframes)
		return nil
	}
	p.FrameFragments = make([][]fragment, nframes)
	for k, i := range starts {
		end := len(frags)
		if k+1 < len(starts) {
			end = starts[k+1]
		}
		p.FrameFragments[k] = frags[i:end]
	}
	p.Frames = nframes
	return nil
}

var (
	jpegSOI = []byte{0xFF, 0xD8}
	j2kSOC  = []byte{0xFF, 0x4F, 0xFF, 0x51}
	jp2Box  = []byte{0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20}
)

// codestreamStarts returns the indexes of the fragments that begin a codestream.
func codestreamStarts(frags []fragment, ts string, r io.ReadSeeker) ([]int, error) {
	var markers [][]byte
	switch frameMediaTypes[ts] {
	case "image/jpeg", "image/jls":
		markers = [][]byte{jpegSOI}
	case "image/jp2", "image/jpx":
		markers = [][]byte{j2kSOC, jp2Box}
	default:
		return nil, nil
	}
	var starts []int
	var b [8]byte
	for i, f := range frags {
		if _, err := r.Seek(f.Offset, io.SeekStart); err != nil {
			return nil, err
		}
		n, err := io.ReadFull(r, b[:min(int64(len(b)), f.Length)])
		if err != nil {
			return nil, fmt.Errorf("fragment %d: %w", i, eofMalformed(err))
		}
		for _, m := range markers {
			if n >= len(m) && bytes.Equal(b[:len(m)], m) {
				starts = append(starts, i)
				break
			}
		}
	}
	return starts, nil
}
