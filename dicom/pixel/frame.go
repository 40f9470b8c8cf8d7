package pixel

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"

	"pacsd/dicom"
	"pacsd/dicom/pixel/internal/j2k"
	"pacsd/dicom/pixel/internal/jpeg"
	"pacsd/dicom/pixel/internal/jpegls"
	"pacsd/dicom/pixel/internal/raster"
	"pacsd/dicom/pixel/internal/rle"
)

// Frame is one decoded frame: plain samples, so callers can cache it (a viewer keeps the
// frame and re-renders it as the window changes).
type Frame struct {
	Rows, Columns   int
	SamplesPerPixel int // 1, or 3 pixel-interleaved (R G B R G B ...)
	// Photometric is the interpretation of these samples: as stored, except RGB when the
	// codec converted YCbCr (JPEG lossy YBR_FULL_422/YBR_FULL, JPEG 2000 YBR_ICT/YBR_RCT),
	// and YBR_FULL (YBR_PARTIAL_420 for YBR_PARTIAL_422) for native 4:2:2 samples, which are
	// expanded to one chrominance pair per pixel.
	Photometric string
	BitsStored  int
	Signed      bool
	// Exactly one is set: Data8 for Bits Allocated 8, Data16 for 16. Samples hold their
	// value in the low BitsStored bits, high bits cleared (unsigned) or sign-extended
	// (signed: the uint holds the two's complement pattern of an int8/int16).
	Data8  []uint8
	Data16 []uint16
}

// Sample returns sample i as a signed integer.
func (f *Frame) Sample(i int) int {
	switch {
	case f.Data16 != nil && f.Signed:
		return int(int16(f.Data16[i]))
	case f.Data16 != nil:
		return int(f.Data16[i])
	case f.Signed:
		return int(int8(f.Data8[i]))
	default:
		return int(f.Data8[i])
	}
}

// Len is the number of samples.
func (f *Frame) Len() int { return f.Rows * f.Columns * f.SamplesPerPixel }

// Frame decodes frame i (0-based). Each call decodes afresh; callers cache the result.
// The decode runs within the image's budget: a frame beyond its pixel limit, or needing
// more memory than the budget has, is refused with ErrTooLarge before anything frame-sized
// is allocated; otherwise the call waits for the memory while ctx allows. The returned
// frame is the caller's, outside the budget (a cache of frames has its own bound).
func (im *Image) Frame(ctx context.Context, i int) (*Frame, error) {
	f, release, err := im.frameHeld(ctx, i, 0)
	if err != nil {
		return nil, err
	}
	release()
	return f, nil
}

// frameHeld decodes frame i holding its memory, and extra bytes the caller will use with
// it, in the budget until the caller calls release.
func (im *Image) frameHeld(ctx context.Context, i int, extra int64) (*Frame, func(), error) {
	if err := im.budget.checkPixels(im.info.Columns, im.info.Rows); err != nil {
		return nil, nil, fmt.Errorf("decode frame %d: %w", i, err)
	}
	frags, n, err := im.frameSource(ctx, i)
	if err != nil {
		return nil, nil, err
	}
	release, err := im.budget.acquire(ctx, im.decodeCost(n, im.info.Columns, im.info.Rows)+extra)
	if err != nil {
		return nil, nil, fmt.Errorf("decode frame %d: %w", i, err)
	}
	f, err := im.decode(ctx, i, frags)
	if err != nil {
		release()
		return nil, nil, err
	}
	return f, release, nil
}

// decode reads and decodes frame i from where frameSource found it.
func (im *Image) decode(ctx context.Context, i int, frags []Fragment) (*Frame, error) {
	raw, err := im.readFrame(ctx, i, frags)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var f *Frame
	if im.ts.Encapsulated {
		f, err = decodeCodestream(im.ts.UID, im.info, raw)
	} else {
		f, err = decodeNative(im.info, raw)
	}
	if err != nil {
		return nil, fmt.Errorf("decode frame %d: %w", i, err)
	}
	return f, nil
}

// FrameFit decodes frame i reduced to fit within maxW x maxH (0: unbounded), keeping the
// aspect ratio: for thumbnails and a viewer's first screenful. JPEG 2000 frames are decoded
// at the smallest resolution level still at least that large (each level skipped roughly
// quarters the decoding work), then reduced like every other syntax by Downscale. Only
// JPEG 2000 can decode less than the whole frame, so only there does the pixel limit apply
// to the reduced size; every other frame must fit the limit at full resolution.
func (im *Image) FrameFit(ctx context.Context, i, maxW, maxH int) (*Frame, error) {
	in := im.info
	w, h := fitSize(in.Columns, in.Rows, maxW, maxH)
	if codecs[im.ts.UID] != codecJ2K || (w == in.Columns && h == in.Rows) {
		f, release, err := im.frameHeld(ctx, i, 0)
		if err != nil {
			return nil, err
		}
		defer release()
		return Downscale(f, maxW, maxH), nil
	}
	frags, n, err := im.frameSource(ctx, i)
	if err != nil {
		return nil, err
	}
	// The resolution levels are in the main header, at the start of the codestream: read
	// before the memory for the decode is known, so only the head is read for them.
	head, err := im.readHead(ctx, i, frags)
	if err != nil {
		return nil, err
	}
	levels, err := j2k.Resolutions(head, in.Columns, in.Rows, in.SamplesPerPixel)
	if err != nil && int64(len(head)) == n {
		return nil, fmt.Errorf("decode frame %d: %w", i, codecErr(err))
	}
	if err != nil {
		levels = 1 // a main header longer than the head: decode in full, which reports any damage
	}
	reduce := 0
	for reduce+1 < levels && (in.Columns>>(reduce+1)) >= w && (in.Rows>>(reduce+1)) >= h {
		reduce++
	}
	small := in
	reduced := func() {
		small.Columns = (in.Columns + 1<<reduce - 1) >> reduce
		small.Rows = (in.Rows + 1<<reduce - 1) >> reduce
	}
	reduced()
	// A frame too large at the level asked for may still be shown from a coarser one.
	for reduce+1 < levels && im.budget.checkPixels(small.Columns, small.Rows) != nil {
		reduce++
		reduced()
	}
	if err := im.budget.checkPixels(small.Columns, small.Rows); err != nil {
		return nil, fmt.Errorf("decode frame %d: %w", i, err)
	}
	release, err := im.budget.acquire(ctx, im.decodeCost(n, small.Columns, small.Rows))
	if err != nil {
		return nil, fmt.Errorf("decode frame %d: %w", i, err)
	}
	defer release()
	raw, err := im.readFrame(ctx, i, frags)
	if err != nil {
		return nil, err
	}
	f, buf := newFrame(small, in.Photometric)
	info, err := j2k.DecodeReduced(raw, buf, in.Columns, in.Rows, reduce)
	if err != nil {
		return nil, fmt.Errorf("decode frame %d: %w", i, codecErr(err))
	}
	finishJ2K(f, small, im.ts.UID, info)
	return Downscale(f, maxW, maxH), nil
}

// maxCodestreamHead is how much of a JPEG 2000 codestream is read for its main header
// (SIZ, COD, and any MCT markers: a few hundred bytes in practice).
const maxCodestreamHead = 64 << 10

// readHead reads the first bytes of encapsulated frame i, at most maxCodestreamHead.
func (im *Image) readHead(ctx context.Context, i int, frags []Fragment) ([]byte, error) {
	var head []Fragment
	var total int64
	for _, f := range frags {
		if total >= maxCodestreamHead {
			break
		}
		f.Length = min(f.Length, maxCodestreamHead-total)
		head = append(head, f)
		total += f.Length
	}
	return im.readFrame(ctx, i, head)
}

func newFrame(in Info, photometric string) (*Frame, *raster.Buffer) {
	buf := raster.New(in.Columns, in.Rows, in.SamplesPerPixel, in.BitsAllocated)
	return &Frame{
		Rows: in.Rows, Columns: in.Columns, SamplesPerPixel: in.SamplesPerPixel,
		Photometric: photometric, BitsStored: in.BitsStored, Signed: in.Signed,
		Data8: buf.Pix8, Data16: buf.Pix16,
	}, buf
}

// decodeNative unpacks one native frame (little-endian bytes, PS3.5 8.1): colour-by-plane
// to pixel-interleaved, 4:2:2 to full chrominance, then the stored bits isolated.
func decodeNative(in Info, raw []byte) (*Frame, error) {
	if int64(len(raw)) < in.nativeFrameBytes() {
		return nil, fmt.Errorf("%w: %d bytes for a frame of %d", ErrCorrupt, len(raw), in.nativeFrameBytes())
	}
	pi := in.Photometric
	switch pi {
	case YBRFull422:
		pi = YBRFull
	case YBRPartial422:
		pi = YBRPartial420 // same equations, full chrominance now
	}
	if pi == in.Photometric && (in.SamplesPerPixel == 1 || in.PlanarConfiguration == 0) {
		// Already pixel-interleaved: the samples are the bytes RawFrame read, taken over
		// without a copy (the frame of a 3000x3000 DR is 18 MB).
		f := &Frame{Rows: in.Rows, Columns: in.Columns, SamplesPerPixel: in.SamplesPerPixel,
			Photometric: pi, BitsStored: in.BitsStored, Signed: in.Signed}
		n := in.frameSamples()
		if in.BitsAllocated == 8 {
			f.Data8 = raw[:n:n]
		} else {
			f.Data16 = leUint16s(raw, n)
		}
		normalize(f, in.HighBit+1-in.BitsStored)
		return f, nil
	}
	f, buf := newFrame(in, pi)
	get := func(k int) uint16 { return uint16(raw[k]) }
	if in.BitsAllocated == 16 {
		get = func(k int) uint16 { return binary.LittleEndian.Uint16(raw[2*k:]) }
	}
	switch {
	case in.Photometric == YBRFull422 || in.Photometric == YBRPartial422:
		// PS3.3 C.7.6.3.1.2: Y1 Y2 Cb Cr for each pair of pixels of a row.
		for p := 0; p < in.Rows*in.Columns; p += 2 {
			k := p * 2
			y1, y2, cb, cr := get(k), get(k+1), get(k+2), get(k+3)
			buf.Set(3*p, y1)
			buf.Set(3*p+1, cb)
			buf.Set(3*p+2, cr)
			buf.Set(3*p+3, y2)
			buf.Set(3*p+4, cb)
			buf.Set(3*p+5, cr)
		}
	case in.SamplesPerPixel == 3 && in.PlanarConfiguration == 1:
		// PS3.3 C.7.6.3.1.3: all red samples, then green, then blue.
		plane := in.Rows * in.Columns
		for c := 0; c < 3; c++ {
			for p := 0; p < plane; p++ {
				buf.Set(3*p+c, get(c*plane+p))
			}
		}
	}
	normalize(f, in.HighBit+1-in.BitsStored)
	return f, nil
}

// hostLittleEndian: little-endian sample bytes are the host's uint16s as they lie.
var hostLittleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// leUint16s returns the n little-endian 16-bit samples in b as a []uint16: the same memory
// on a little-endian host (b is not used afterwards), a converted copy otherwise.
func leUint16s(b []byte, n int) []uint16 {
	if hostLittleEndian && n > 0 && uintptr(unsafe.Pointer(&b[0]))%2 == 0 {
		return unsafe.Slice((*uint16)(unsafe.Pointer(&b[0])), n)
	}
	out := make([]uint16, n)
	for k := range out {
		out[k] = binary.LittleEndian.Uint16(b[2*k:])
	}
	return out
}

// decodeCodestream decodes one encapsulated frame with the codec of transfer syntax ts.
func decodeCodestream(ts string, in Info, data []byte) (*Frame, error) {
	if codecs[ts] == codecNative {
		// Encapsulated Uncompressed: the fragment is the frame as a native syntax stores it
		// (PS3.5 8.1.1), with at most a trailing pad byte.
		return decodeNative(in, data)
	}
	pi := in.Photometric
	f, buf := newFrame(in, pi)
	switch codecs[ts] {
	case codecRLE:
		if err := rle.Decode(data, buf); err != nil {
			return nil, codecErr(err)
		}
	case codecJPEG:
		// PS3.5 8.2.1: lossy JPEG colour images are YBR_FULL_422 (or YBR_FULL) because the
		// codestream carries YCbCr; the decoder's colour conversion yields RGB. RGB means the
		// components were compressed without conversion (DCMTK's default reading too);
		// lossless JPEG never converts.
		info, err := jpeg.Decode(data, buf, jpeg.Options{ConvertYCbCr: pi == YBRFull422 || pi == YBRFull})
		if err != nil {
			return nil, codecErr(err)
		}
		if info.Converted {
			f.Photometric = RGB
		}
	case codecJPEGLS:
		if err := jpegls.Decode(data, buf); err != nil {
			return nil, codecErr(err)
		}
	case codecJ2K:
		// YBR_RCT and YBR_ICT (PS3.5 8.2.4; HTJ2K alike) are undone by the codec's
		// inverse component transform, which the codestream signals.
		info, err := j2k.Decode(data, buf)
		if err != nil {
			return nil, codecErr(err)
		}
		finishJ2K(f, in, ts, info)
		return f, nil
	default:
		return nil, fmt.Errorf("%w: transfer syntax %s", ErrUnsupported, ts)
	}
	finishCodec(f, in, ts, false)
	return f, nil
}

// finishJ2K sets the photometric interpretation of a decoded JPEG 2000 frame and isolates
// its stored bits.
func finishJ2K(f *Frame, in Info, ts string, info j2k.Info) {
	if info.MCT || in.Photometric == YBRICT || in.Photometric == YBRRCT {
		f.Photometric = RGB
	}
	finishCodec(f, in, ts, info.Signed)
}

// finishCodec settles a codec's output: 4:2:2 labels become their full-resolution form,
// and the samples are clamped (lossy) or masked (lossless) to Bits Stored. codecSigned: the
// codec itself produced signed values (JPEG 2000 signed components); otherwise it produced
// bit patterns that Pixel Representation interprets.
func finishCodec(f *Frame, in Info, ts string, codecSigned bool) {
	// Codecs return one chrominance pair per pixel: a 4:2:2 label left on unconverted
	// samples (lossless JPEG, JPEG-LS, RLE, which DICOM does not pair with it but devices
	// do) now means its full-resolution form.
	switch f.Photometric {
	case YBRFull422:
		f.Photometric = YBRFull
	case YBRPartial422:
		f.Photometric = YBRPartial420
	}
	if t, _ := dicom.LookupTransferSyntax(ts); t.Lossy && codecSigned == in.Signed {
		// A lossy codec's reconstruction may overshoot the stored range (a bright edge
		// decoding to 4097 in a 12-bit image); clamp it rather than let the mask wrap it
		// to black.
		clampStored(f)
		return
	}
	normalize(f, 0)
}

// codecErr files a codec's error under the package's sentinels.
func codecErr(err error) error {
	switch {
	case errors.Is(err, jpeg.ErrUnsupported), errors.Is(err, j2k.ErrUnsupported):
		return fmt.Errorf("%w: %w", ErrUnsupported, err)
	case errors.Is(err, jpeg.ErrCorrupt), errors.Is(err, rle.ErrCorrupt), errors.Is(err, jpegls.ErrCorrupt), errors.Is(err, j2k.ErrCorrupt):
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return err
}

// clampStored limits every sample to the range Bits Stored can hold.
func clampStored(f *Frame) {
	lo, hi := storedRange(f)
	n := f.Len()
	for i := 0; i < n; i++ {
		v := f.Sample(i)
		if v >= lo && v <= hi {
			continue
		}
		v = min(max(v, lo), hi)
		if f.Data16 != nil {
			f.Data16[i] = uint16(v)
		} else {
			f.Data8[i] = uint8(v)
		}
	}
}

// normalize isolates the stored bits of every sample (PS3.5 8.1.1): shift the high bit
// down, clear the bits above Bits Stored that may hold overlays or garbage, and
// sign-extend signed samples.
func normalize(f *Frame, shift int) {
	bs := f.BitsStored
	// Unsigned samples take one shift and mask each, in a loop of its own: this runs over
	// every sample of every decoded frame (7.5 million for a 3000x2500 DR).
	if f.Data16 != nil {
		if bs == 16 && shift == 0 {
			return
		}
		d, sh := f.Data16, uint(shift)&15
		mask := uint16(1)<<bs - 1
		if !f.Signed {
			maskUint16s(d, sh, mask)
			return
		}
		sign := uint16(1) << (bs - 1)
		for i, v := range d {
			v = v >> sh & mask
			if v&sign != 0 {
				v |= ^mask
			}
			d[i] = v
		}
		return
	}
	if bs == 8 && shift == 0 {
		return
	}
	d, sh := f.Data8, uint(shift)&7
	mask := uint8(1)<<bs - 1
	if !f.Signed {
		for i, v := range d {
			d[i] = v >> sh & mask
		}
		return
	}
	sign := uint8(1) << (bs - 1)
	for i, v := range d {
		v = v >> sh & mask
		if v&sign != 0 {
			v |= ^mask
		}
		d[i] = v
	}
}

// maskUint16s sets every d[i] to d[i] >> sh & mask, four samples per 64-bit word: the bits
// a word's shift moves into a sample from the next one land above mask (sh + the mask's
// width <= 16) and are cleared with it, whichever the byte order.
func maskUint16s(d []uint16, sh uint, mask uint16) {
	i := 0
	for ; i < len(d) && uintptr(unsafe.Pointer(&d[i]))%8 != 0; i++ {
		d[i] = d[i] >> sh & mask
	}
	if n := (len(d) - i) / 4; n > 0 {
		w := unsafe.Slice((*uint64)(unsafe.Pointer(&d[i])), n)
		m := uint64(mask) * 0x0001000100010001
		for k, v := range w {
			w[k] = v >> sh & m
		}
		i += 4 * n
	}
	for ; i < len(d); i++ {
		d[i] = d[i] >> sh & mask
	}
}
