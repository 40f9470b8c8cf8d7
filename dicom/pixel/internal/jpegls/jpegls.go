// Package jpegls decodes JPEG-LS frames (ISO/IEC 14495-1; DICOM 1.2.840.10008.1.2.4.80 and
// .81, PS3.5 8.2.3) with CharLS, the reference implementation, through cgo (Debian
// libcharls-dev). No maintained pure-Go JPEG-LS decoder exists.
//
// The whole decode happens inside one C call, so CharLS never keeps a Go pointer past it
// (cgo pointer rules), and the frame geometry is checked against the DICOM header before
// CharLS writes a sample.
package jpegls

/*
#cgo pkg-config: charls
#include <stdint.h>
#include <stddef.h>
#include <charls/charls.h>

// Result codes of pacsd_jls_decode beyond CharLS's own (which are positive).
enum { PACSD_JLS_GEOMETRY = -1, PACSD_JLS_NOMEM = -2 };

static int pacsd_jls_decode(const void* src, size_t srclen, void* dst, size_t dstlen,
		uint32_t want_w, uint32_t want_h, int32_t want_c, int32_t max_bits,
		charls_frame_info* fi, int32_t* interleave) {
	charls_jpegls_decoder* d = charls_jpegls_decoder_create();
	if (d == NULL) return PACSD_JLS_NOMEM;
	int rc = (int)charls_jpegls_decoder_set_source_buffer(d, src, srclen);
	if (rc == 0) rc = (int)charls_jpegls_decoder_read_header(d);
	if (rc == 0) rc = (int)charls_jpegls_decoder_get_frame_info(d, fi);
	if (rc == 0) {
		charls_interleave_mode m;
		rc = (int)charls_jpegls_decoder_get_interleave_mode(d, &m);
		*interleave = (int32_t)m;
	}
	if (rc == 0) {
		size_t need = (size_t)fi->width * fi->height * (size_t)fi->component_count * (fi->bits_per_sample > 8 ? 2 : 1);
		if (fi->width != want_w || fi->height != want_h || fi->component_count != want_c ||
				fi->bits_per_sample > max_bits || need > dstlen) {
			rc = PACSD_JLS_GEOMETRY;
		} else {
			rc = (int)charls_jpegls_decoder_decode_to_buffer(d, dst, need, 0);
		}
	}
	charls_jpegls_decoder_destroy(d);
	return rc;
}

static const char* pacsd_jls_message(int rc) {
	return charls_get_error_message((charls_jpegls_errc)rc);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"

	"pacsd/dicom/pixel/internal/raster"
)

// ErrCorrupt marks JPEG-LS data CharLS refuses or that disagrees with the DICOM header.
var ErrCorrupt = errors.New("corrupt JPEG-LS data")

// Decode decodes one JPEG-LS codestream into out, pixel-interleaved.
func Decode(data []byte, out *raster.Buffer) error {
	if len(data) < 4 {
		return fmt.Errorf("jpegls: %w: %d bytes", ErrCorrupt, len(data))
	}
	var dst unsafe.Pointer
	var dstLen int
	if out.Pix16 != nil {
		dst, dstLen = unsafe.Pointer(unsafe.SliceData(out.Pix16)), 2*len(out.Pix16)
	} else {
		dst, dstLen = unsafe.Pointer(unsafe.SliceData(out.Pix8)), len(out.Pix8)
	}
	var fi C.charls_frame_info
	var interleave C.int32_t
	rc := C.pacsd_jls_decode(unsafe.Pointer(unsafe.SliceData(data)), C.size_t(len(data)), dst, C.size_t(dstLen),
		C.uint32_t(out.Width), C.uint32_t(out.Height), C.int32_t(out.Components), C.int32_t(out.MaxBits()),
		&fi, &interleave)
	switch {
	case rc == C.PACSD_JLS_GEOMETRY:
		return fmt.Errorf("jpegls: %w: codestream is %dx%d, %d component(s) of %d bits; the DICOM header says %dx%d, %d of at most %d",
			ErrCorrupt, fi.width, fi.height, fi.component_count, fi.bits_per_sample, out.Width, out.Height, out.Components, out.MaxBits())
	case rc == C.PACSD_JLS_NOMEM:
		return errors.New("jpegls: cannot create decoder")
	case rc != 0:
		return fmt.Errorf("jpegls: %w: %s", ErrCorrupt, C.GoString(C.pacsd_jls_message(rc)))
	}
	// CharLS writes samples of more than 8 bits as native-endian 16-bit words, which is
	// what the []uint16 holds; 8-bit samples into a 16-bit buffer need widening.
	if out.Pix16 != nil && fi.bits_per_sample <= 8 {
		b := unsafe.Slice((*byte)(dst), dstLen)
		for i := len(out.Pix16) - 1; i >= 0; i-- {
			out.Pix16[i] = uint16(b[i])
		}
	}
	if interleave == C.CHARLS_INTERLEAVE_MODE_NONE && out.Components > 1 {
		deplanarize(out)
	}
	return nil
}

// deplanarize turns component planes (interleave mode none) into pixel-interleaved samples.
func deplanarize(out *raster.Buffer) {
	n, c := out.Width*out.Height, out.Components
	if out.Pix16 != nil {
		planes := append([]uint16(nil), out.Pix16...)
		for k := 0; k < c; k++ {
			for p := 0; p < n; p++ {
				out.Pix16[p*c+k] = planes[k*n+p]
			}
		}
		return
	}
	planes := append([]uint8(nil), out.Pix8...)
	for k := 0; k < c; k++ {
		for p := 0; p < n; p++ {
			out.Pix8[p*c+k] = planes[k*n+p]
		}
	}
}
