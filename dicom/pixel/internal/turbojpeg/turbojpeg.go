// Package turbojpeg compresses 8-bit greyscale and RGB rasters as baseline JPEG with
// libjpeg-turbo's TurboJPEG API (SIMD DCT, colour conversion and Huffman coding) through
// cgo (Debian libturbojpeg0-dev, TurboJPEG 2.x: tjCompress2). It is several times faster
// than Go's image/jpeg, whose encode was most of the time of a full-size rendered image.
//
// The raster is read in place (no copy of the Go memory); libjpeg-turbo writes into a
// buffer it allocates and grows in C memory, which is handed to the caller's writer and
// freed before Encode returns, so no C pointer outlives a call and no Go pointer is kept by
// C (cgo pointer rules).
package turbojpeg

/*
#cgo pkg-config: libturbojpeg
#include <stdio.h>
#include <stdlib.h>
#include <turbojpeg.h>

// pacsd_tj_compress compresses one raster; *out (tjFree it) and *outlen receive the JPEG,
// or, on failure, *msg the library's message (valid until the handle is destroyed, so it
// is copied before that). It returns 0 or -1.
static int pacsd_tj_compress(const unsigned char* src, int width, int pitch, int height,
		int pf, int subsamp, int quality, unsigned char** out, unsigned long* outlen,
		char* msg, size_t msglen) {
	tjhandle h = tjInitCompress();
	if (h == NULL) {
		snprintf(msg, msglen, "%s", tjGetErrorStr2(NULL));
		return -1;
	}
	*out = NULL;
	*outlen = 0;
	// TJFLAG_ACCURATEDCT: the accurate integer DCT (IJG islow, as Go's image/jpeg and
	// DCMTK use); TurboJPEG's default when compressing is the fast one.
	int rc = tjCompress2(h, src, width, pitch, height, pf, out, outlen, subsamp, quality,
		TJFLAG_ACCURATEDCT);
	if (rc != 0) {
		snprintf(msg, msglen, "%s", tjGetErrorStr2(h));
		tjFree(*out);
		*out = NULL;
	}
	tjDestroy(h);
	return rc;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"io"
	"unsafe"
)

// Format is the layout of a raster's pixels.
type Format int

const (
	// Gray is one byte per pixel; the JPEG has one component.
	Gray Format = iota
	// RGBX is four bytes per pixel, R G B and an ignored fourth (an opaque image.NRGBA or an
	// image.RGBA); the JPEG is YCbCr with 4:2:0 chrominance, as Go's image/jpeg wrote it.
	RGBX
)

// ErrArgs marks a raster whose geometry does not fit its buffer, or a quality out of range.
var ErrArgs = errors.New("turbojpeg: bad arguments")

// Encode compresses the width x height raster pix (rows stride bytes apart) at quality
// 1-100 (the IJG quality scaling of the standard tables, PS3.5 8.2.1 process 1) and writes
// the JPEG to w.
func Encode(w io.Writer, pix []byte, width, height, stride int, f Format, quality int) error {
	bpp, pf, samp := 1, C.int(C.TJPF_GRAY), C.int(C.TJSAMP_GRAY)
	if f == RGBX {
		bpp, pf, samp = 4, C.int(C.TJPF_RGBX), C.int(C.TJSAMP_420)
	}
	// JPEG's frame header holds 16-bit dimensions (ISO/IEC 10918-1 B.2.2).
	if width < 1 || height < 1 || width > 65535 || height > 65535 || stride < width*bpp ||
		len(pix) < (height-1)*stride+width*bpp || quality < 1 || quality > 100 {
		return fmt.Errorf("%w: %dx%d, stride %d, %d bytes, quality %d", ErrArgs, width, height, stride, len(pix), quality)
	}
	var out *C.uchar
	var outLen C.ulong
	var msg [256]C.char
	rc := C.pacsd_tj_compress((*C.uchar)(unsafe.Pointer(unsafe.SliceData(pix))), C.int(width), C.int(stride), C.int(height),
		pf, samp, C.int(quality), &out, &outLen, &msg[0], C.size_t(len(msg)))
	if rc != 0 {
		return fmt.Errorf("turbojpeg: compress %dx%d: %s", width, height, C.GoString(&msg[0]))
	}
	defer C.tjFree(out)
	// The writer must not keep p (io.Writer's contract): the C buffer is freed on return.
	if _, err := w.Write(unsafe.Slice((*byte)(unsafe.Pointer(out)), int(outLen))); err != nil {
		return fmt.Errorf("turbojpeg: write: %w", err)
	}
	return nil
}
