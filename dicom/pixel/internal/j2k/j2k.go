// Package j2k decodes JPEG 2000 frames (ISO/IEC 15444-1; DICOM 1.2.840.10008.1.2.4.90 and
// .91, PS3.5 8.2.4) with OpenJPEG through cgo (Debian libopenjp2-7-dev). No complete,
// maintained pure-Go JPEG 2000 decoder exists; OpenJPEG is the ISO reference software.
// The same calls decode High-Throughput JPEG 2000 codestreams (ISO/IEC 15444-15; DICOM .201
// .202 .203), which OpenJPEG reads since 2.5.0, and Part 2 (ISO/IEC 15444-2; DICOM .92 .93)
// codestreams that use only what OpenJPEG implements. Part 2's array-based multiple
// component transforms it does not decode; checkExtensions refuses them up front.
//
// The whole decode happens inside one C call over the caller's bytes, so OpenJPEG never
// keeps a Go pointer past it (cgo pointer rules), and the image header is checked against
// the DICOM header before any tile is decoded, so a codestream cannot make OpenJPEG allocate
// more than the header allowed.
package j2k

/*
#cgo pkg-config: libopenjp2
#include <stdlib.h>
#include <string.h>
#include <openjpeg.h>

typedef struct { const OPJ_BYTE* data; OPJ_SIZE_T len; OPJ_SIZE_T pos; } pacsd_mem;

static OPJ_SIZE_T pacsd_read(void* buf, OPJ_SIZE_T n, void* ud) {
	pacsd_mem* m = (pacsd_mem*)ud;
	if (m->pos >= m->len) return (OPJ_SIZE_T)-1;
	OPJ_SIZE_T k = m->len - m->pos;
	if (k > n) k = n;
	memcpy(buf, m->data + m->pos, k);
	m->pos += k;
	return k;
}

static OPJ_OFF_T pacsd_skip(OPJ_OFF_T n, void* ud) {
	pacsd_mem* m = (pacsd_mem*)ud;
	if (n < 0) {
		if ((OPJ_SIZE_T)(-n) > m->pos) n = -(OPJ_OFF_T)m->pos;
	} else if ((OPJ_SIZE_T)n > m->len - m->pos) {
		n = (OPJ_OFF_T)(m->len - m->pos);
	}
	m->pos += n;
	return n;
}

static OPJ_BOOL pacsd_seek(OPJ_OFF_T n, void* ud) {
	pacsd_mem* m = (pacsd_mem*)ud;
	if (n < 0 || (OPJ_SIZE_T)n > m->len) return OPJ_FALSE;
	m->pos = (OPJ_SIZE_T)n;
	return OPJ_TRUE;
}

typedef struct { char* buf; size_t cap; } pacsd_msgbuf;

static void pacsd_error(const char* msg, void* ud) {
	pacsd_msgbuf* b = (pacsd_msgbuf*)ud;
	size_t used = strlen(b->buf);
	if (used + 1 < b->cap) strncat(b->buf, msg, b->cap - used - 1);
}

static void pacsd_quiet(const char* msg, void* ud) { (void)msg; (void)ud; }

enum { PACSD_J2K_OK = 0, PACSD_J2K_FORMAT = 1, PACSD_J2K_HEADER = 2, PACSD_J2K_GEOMETRY = 3, PACSD_J2K_DECODE = 4, PACSD_J2K_NOMEM = 5 };

typedef struct {
	OPJ_UINT32 w, h, comps, prec, sgnd, dx, dy, mct, resolutions;
} pacsd_j2k_info;

// pacsd_j2k_decode decodes src into dst (want_c interleaved components of 8 or 16 bits).
// The image must be want_w x want_h; with reduce > 0 the decoder skips that many
// resolution levels and dst holds the ceil(want/2^reduce) sized result. With header_only
// it stops after the main header, reporting the fewest resolution levels of any component.
static int pacsd_j2k_decode(const void* src, size_t srclen, void* dst, int dst16,
		OPJ_UINT32 want_w, OPJ_UINT32 want_h, OPJ_UINT32 want_c, OPJ_UINT32 max_bits,
		OPJ_UINT32 reduce, int header_only, pacsd_j2k_info* info, char* err, size_t errcap) {
	const OPJ_BYTE* s = (const OPJ_BYTE*)src;
	OPJ_CODEC_FORMAT fmt;
	static const OPJ_BYTE jp2sig[12] = {0,0,0,0x0C,0x6A,0x50,0x20,0x20,0x0D,0x0A,0x87,0x0A};
	if (srclen >= 12 && memcmp(s, jp2sig, 12) == 0) fmt = OPJ_CODEC_JP2;
	else if (srclen >= 4 && s[0] == 0xFF && s[1] == 0x4F && s[2] == 0xFF && s[3] == 0x51) fmt = OPJ_CODEC_J2K;
	else return PACSD_J2K_FORMAT;

	pacsd_msgbuf mb = { err, errcap };
	pacsd_mem mem = { s, srclen, 0 };
	opj_codec_t* codec = opj_create_decompress(fmt);
	opj_stream_t* stream = opj_stream_create(OPJ_J2K_STREAM_CHUNK_SIZE, OPJ_TRUE);
	opj_image_t* img = NULL;
	int rc = PACSD_J2K_OK;
	if (codec == NULL || stream == NULL) { rc = PACSD_J2K_NOMEM; goto done; }
	opj_set_error_handler(codec, pacsd_error, &mb);
	opj_set_warning_handler(codec, pacsd_quiet, NULL);
	opj_set_info_handler(codec, pacsd_quiet, NULL);
	opj_dparameters_t params;
	opj_set_default_decoder_parameters(&params);
	if (!opj_setup_decoder(codec, &params)) { rc = PACSD_J2K_HEADER; goto done; }
	opj_stream_set_read_function(stream, pacsd_read);
	opj_stream_set_skip_function(stream, pacsd_skip);
	opj_stream_set_seek_function(stream, pacsd_seek);
	opj_stream_set_user_data(stream, &mem, NULL);
	opj_stream_set_user_data_length(stream, srclen);
	if (!opj_read_header(stream, codec, &img) || img == NULL) { rc = PACSD_J2K_HEADER; goto done; }

	info->comps = img->numcomps;
	if (img->numcomps > 0) {
		info->w = img->comps[0].w; info->h = img->comps[0].h;
		info->prec = img->comps[0].prec; info->sgnd = img->comps[0].sgnd;
		info->dx = img->comps[0].dx; info->dy = img->comps[0].dy;
	}
	// The image area (x1-x0 by y1-y0) must be the DICOM frame, every component at full
	// resolution: anything else is refused before a tile is decoded.
	if (img->numcomps != want_c || img->x1 - img->x0 != want_w || img->y1 - img->y0 != want_h) {
		info->w = img->x1 - img->x0; info->h = img->y1 - img->y0;
		rc = PACSD_J2K_GEOMETRY; goto done;
	}
	for (OPJ_UINT32 c = 0; c < img->numcomps; c++) {
		opj_image_comp_t* k = &img->comps[c];
		if (k->dx != 1 || k->dy != 1 || k->prec < 1 || k->prec > max_bits) {
			info->prec = k->prec; info->dx = k->dx; info->dy = k->dy;
			rc = PACSD_J2K_GEOMETRY; goto done;
		}
	}
	{
		opj_codestream_info_v2_t* ci = opj_get_cstr_info(codec);
		if (ci != NULL) {
			info->mct = ci->m_default_tile_info.mct;
			info->resolutions = 0;
			if (ci->m_default_tile_info.tccp_info != NULL) {
				for (OPJ_UINT32 c = 0; c < ci->nbcomps; c++) {
					OPJ_UINT32 r = ci->m_default_tile_info.tccp_info[c].numresolutions;
					if (c == 0 || r < info->resolutions) info->resolutions = r;
				}
			}
			opj_destroy_cstr_info(&ci);
		}
	}
	if (header_only) goto done;
	if (reduce > 0) {
		if (reduce >= info->resolutions || !opj_set_decoded_resolution_factor(codec, reduce)) { rc = PACSD_J2K_GEOMETRY; goto done; }
	}
	if (!opj_decode(codec, stream, img) || !opj_end_decompress(codec, stream)) { rc = PACSD_J2K_DECODE; goto done; }
	OPJ_UINT32 out_w = (want_w + (1u << reduce) - 1) >> reduce, out_h = (want_h + (1u << reduce) - 1) >> reduce;
	for (OPJ_UINT32 c = 0; c < img->numcomps; c++) {
		opj_image_comp_t* k = &img->comps[c];
		if (k->data == NULL || k->w != out_w || k->h != out_h) { info->w = k->w; info->h = k->h; rc = PACSD_J2K_GEOMETRY; goto done; }
		OPJ_INT32 lo = 0, hi = (OPJ_INT32)((1u << k->prec) - 1);
		if (k->sgnd) { lo = -(OPJ_INT32)(1u << (k->prec - 1)); hi = (OPJ_INT32)((1u << (k->prec - 1)) - 1); }
		size_t n = (size_t)out_w * out_h;
		for (size_t p = 0; p < n; p++) {
			OPJ_INT32 v = k->data[p];
			if (v < lo) v = lo; else if (v > hi) v = hi;
			size_t at = p * want_c + c;
			if (dst16) ((OPJ_UINT16*)dst)[at] = (OPJ_UINT16)v;
			else ((OPJ_BYTE*)dst)[at] = (OPJ_BYTE)v;
		}
	}
done:
	if (img != NULL) opj_image_destroy(img);
	if (stream != NULL) opj_stream_destroy(stream);
	if (codec != NULL) opj_destroy_codec(codec);
	return rc;
}
*/
import "C"

import (
	"bytes"
	"errors"
	"fmt"
	"unsafe"

	"pacsd/dicom/pixel/internal/raster"
)

// ErrCorrupt marks JPEG 2000 data OpenJPEG refuses or that disagrees with the DICOM header.
var ErrCorrupt = errors.New("corrupt JPEG 2000 data")

// Info describes a decoded codestream.
type Info struct {
	// MCT reports a multiple component transform (RCT/ICT) undone by the decoder: the
	// components are RGB rather than what was compressed.
	MCT bool
	// Signed reports signed components; their samples hold two's complement patterns.
	Signed    bool
	Precision int
	// Resolutions is the number of resolution levels (decomposition levels + 1).
	Resolutions int
}

// Decode decodes one JPEG 2000 codestream (or JP2 file, which some writers store) into out,
// pixel-interleaved, each sample clamped to its component's precision.
func Decode(data []byte, out *raster.Buffer) (Info, error) {
	return DecodeReduced(data, out, out.Width, out.Height, 0)
}

// Resolutions reads the main header and returns the number of resolution levels the
// codestream has (the fewest of any component): DecodeReduced may skip up to one less.
func Resolutions(data []byte, width, height, components int) (int, error) {
	out := &raster.Buffer{Width: width, Height: height, Components: components, Pix16: []uint16{0}}
	info, err := decode(data, out, width, height, 0, true)
	return info.Resolutions, err
}

// DecodeReduced decodes the codestream of a width x height image skipping reduce resolution
// levels (ISO/IEC 15444-1 Annex F), each halving the size: out must be
// ceil(width/2^reduce) x ceil(height/2^reduce). Thumbnails of large images decode many
// times faster this way.
func DecodeReduced(data []byte, out *raster.Buffer, width, height, reduce int) (Info, error) {
	if reduce < 0 || reduce > 31 || (width+(1<<reduce)-1)>>reduce != out.Width || (height+(1<<reduce)-1)>>reduce != out.Height {
		return Info{}, fmt.Errorf("j2k: buffer of %dx%d does not hold %dx%d reduced %d times", out.Width, out.Height, width, height, reduce)
	}
	return decode(data, out, width, height, reduce, false)
}

func decode(data []byte, out *raster.Buffer, width, height, reduce int, headerOnly bool) (Info, error) {
	if len(data) == 0 {
		return Info{}, fmt.Errorf("j2k: %w: empty frame", ErrCorrupt)
	}
	if err := checkExtensions(data); err != nil {
		return Info{}, err
	}
	var dst unsafe.Pointer
	dst16 := C.int(0)
	if out.Pix16 != nil {
		dst, dst16 = unsafe.Pointer(unsafe.SliceData(out.Pix16)), 1
	} else {
		dst = unsafe.Pointer(unsafe.SliceData(out.Pix8))
	}
	msg := make([]byte, 512)
	var info C.pacsd_j2k_info
	hdrOnly := C.int(0)
	if headerOnly {
		hdrOnly = 1
	}
	rc := C.pacsd_j2k_decode(unsafe.Pointer(unsafe.SliceData(data)), C.size_t(len(data)), dst, dst16,
		C.OPJ_UINT32(width), C.OPJ_UINT32(height), C.OPJ_UINT32(out.Components), C.OPJ_UINT32(out.MaxBits()),
		C.OPJ_UINT32(reduce), hdrOnly, &info, (*C.char)(unsafe.Pointer(&msg[0])), C.size_t(len(msg)))
	text := string(bytes.TrimRight(msg[:max(bytes.IndexByte(msg, 0), 0)], "\n"))
	if rc == C.PACSD_J2K_OK {
		return Info{MCT: info.mct != 0, Signed: info.sgnd != 0, Precision: int(info.prec), Resolutions: int(info.resolutions)}, nil
	}
	return Info{}, decodeError(rc, info, text, width, height, out)
}

func decodeError(rc C.int, info C.pacsd_j2k_info, text string, width, height int, out *raster.Buffer) error {
	switch rc {
	case C.PACSD_J2K_FORMAT:
		return fmt.Errorf("j2k: %w: neither a JPEG 2000 codestream (FF4F FF51) nor a JP2 file", ErrCorrupt)
	case C.PACSD_J2K_GEOMETRY:
		return fmt.Errorf("j2k: %w: codestream is %dx%d with %d component(s) of %d bits (subsampling %dx%d); the DICOM header says %dx%d with %d of at most %d bits",
			ErrCorrupt, info.w, info.h, info.comps, info.prec, info.dx, info.dy, width, height, out.Components, out.MaxBits())
	case C.PACSD_J2K_NOMEM:
		return errors.New("j2k: cannot create decoder")
	case C.PACSD_J2K_HEADER:
		return fmt.Errorf("j2k: %w: header: %s", ErrCorrupt, text)
	default:
		return fmt.Errorf("j2k: %w: decode: %s", ErrCorrupt, text)
	}
}
