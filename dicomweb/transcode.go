package dicomweb

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"pacsd/dicom"
	"pacsd/dicom/pixel"
	"pacsd/store"
)

// Transfer syntax selection for instances (PS3.18 8.7.3.4, 8.7.8.2, Table 8.7.3-2) and the
// one transcoding pacsd does: to Explicit VR Little Endian with native pixel data
// (pixel.TranscodeExplicitLE), the syntax every origin server must be able to return.
//
// How a range of the Accept field is read for an instance is in the package
// documentation (Transfer syntaxes of instances); in short: transfer-syntax=* is as stored,
// a named syntax is that one (stored, or Explicit VR Little Endian by transcoding), a range
// naming application/dicom without transfer-syntax is the default (Explicit VR Little
// Endian, or as stored for lossy and undecodable objects), and a range naming no instance
// type takes the stored form. Each part of a study or series response is selected on its
// own (8.7.8.2 Note 1).

// tsPlan is how one instance is sent.
type tsPlan struct {
	transcode bool   // to target(); else as stored
	to        string // the syntax transcoded to; "" is Explicit VR Little Endian
	// fallback: the transcoding was chosen by default (no syntax named), so an object that
	// turns out not to be decodable is sent as stored instead of failing.
	fallback bool
}

// target is the transfer syntax a transcoding plan writes.
func (p tsPlan) target() string {
	if p.to == "" {
		return dicom.ExplicitVRLittleEndian
	}
	return p.to
}

// jpegable predicts from the index whether pixel.TranscodeJPEGBaseline can rewrite the
// instance: 8-bit unsigned greyscale or colour (ultrasound, secondary capture), for viewers
// that ask for JPEG baseline and for slow township links.
func jpegable(in *store.Instance) bool {
	if ok, _ := transcodable(in); !ok || !store.HasPixelData(in) {
		return false
	}
	a := in.InstanceAttrs
	ba, _ := a.Int(dicom.TagBitsAllocated)
	bs, _ := a.Int(dicom.TagBitsStored)
	pr, _ := a.Int(dicom.TagPixelRepresentation)
	switch strings.TrimSpace(a.String(dicom.TagPhotometricInterpretation)) {
	case pixel.Monochrome1, pixel.Monochrome2, pixel.RGB, pixel.YBRFull, pixel.YBRFull422:
		return ba == 8 && bs == 8 && pr == 0
	}
	return false
}

// decodableSyntaxes are the encapsulated transfer syntaxes dicom/pixel decodes; the others
// pacsd accepts (video, JPEG XL) are only ever sent as stored.
var decodableSyntaxes = func() map[string]bool {
	m := map[string]bool{}
	for _, ts := range dicom.TransferSyntaxes() {
		if ts.Encapsulated && pixel.Decodes(ts.UID) {
			m[ts.UID] = true
		}
	}
	return m
}()

// maxNativePixelBytes is the longest Pixel Data value Explicit VR Little Endian can hold
// (a 32-bit even length, PS3.5 7.1.2).
const maxNativePixelBytes = 0xFFFFFFFE

// transcodable predicts from the index alone whether pixel.TranscodeExplicitLE can rewrite
// the instance; why says what stands in the way. A prediction, made before any byte is
// sent: damaged pixel data or an unusual codestream (arithmetic-coded JPEG) still fails
// when decoded.
func transcodable(in *store.Instance) (ok bool, why string) {
	ts, known := dicom.LookupTransferSyntax(in.TransferSyntaxUID)
	if !known {
		return false, "its transfer syntax " + in.TransferSyntaxUID + " is not one this server reads"
	}
	if ts.Encapsulated && !decodableSyntaxes[ts.UID] {
		return false, "this server has no decoder for " + ts.Name
	}
	if !store.HasPixelData(in) {
		return true, ""
	}
	a := in.InstanceAttrs
	if ba, ok := a.Int(dicom.TagBitsAllocated); ok && ba != 8 && ba != 16 {
		return false, fmt.Sprintf("its pixels have %d bits allocated (8 and 16 are decoded)", ba)
	}
	switch pi := strings.TrimSpace(a.String(dicom.TagPhotometricInterpretation)); pi {
	case "", pixel.Monochrome1, pixel.Monochrome2, pixel.PaletteColor, pixel.RGB, pixel.YBRFull,
		pixel.YBRFull422, pixel.YBRPartial422, pixel.YBRPartial420, pixel.YBRICT, pixel.YBRRCT:
	default:
		return false, "its photometric interpretation " + pi + " is not decoded"
	}
	cols, rows, frames := indexGeometry(in)
	spp, ok := a.Int(dicom.TagSamplesPerPixel)
	if !ok || spp < 1 {
		spp = 1
	}
	ba, ok := a.Int(dicom.TagBitsAllocated)
	if !ok {
		ba = 16
	}
	if int64(cols)*int64(rows)*spp*(ba/8)*int64(frames) > maxNativePixelBytes {
		return false, "its decompressed pixel data would exceed the 4 GiB Explicit VR Little Endian can hold"
	}
	return true, ""
}

// defaultIsStored reports whether a client naming application/dicom without a transfer
// syntax gets the stored form of in (see the package comment above): it is already
// Explicit VR Little Endian, or lossy, or cannot be transcoded.
func defaultIsStored(in *store.Instance) bool {
	if in.TransferSyntaxUID == dicom.ExplicitVRLittleEndian {
		return true
	}
	if ts, ok := dicom.LookupTransferSyntax(in.TransferSyntaxUID); ok && ts.Lossy {
		return true
	}
	ok, _ := transcodable(in)
	return !ok
}

// dicomRangeAccepts reports whether Accept range r covers a Part-10 instance part in
// transfer syntax ts, and how specifically. def is the syntax a range naming
// application/dicom without transfer-syntax stands for.
func dicomRangeAccepts(r mediaRange, ts, def string) (spec int, ok bool) {
	switch {
	case r.typ == "*" && r.sub == "*":
		return 0, true
	case r.typ != "multipart" || (r.sub != "related" && r.sub != "*"):
		return 0, false
	}
	spec = 1
	if r.sub == "related" {
		spec++
	}
	inner, named := r.params["type"]
	if !named {
		return spec, true
	}
	if !strings.EqualFold(strings.TrimSpace(inner), mediaDicom) {
		return 0, false
	}
	spec++
	switch want, given := r.params["transfer-syntax"]; {
	case !given || strings.TrimSpace(want) == "":
		return spec, ts == def
	case strings.TrimSpace(want) == "*":
		return spec, true
	case strings.TrimSpace(want) == ts:
		return spec + 1, true
	}
	return 0, false
}

// rangesQuality is the weight ranges give to syntax ts: the q of the most specific range
// covering it (RFC 9110 12.5.1).
func rangesQuality(ranges []mediaRange, ts, def string) float64 {
	best, q := -1, 0.0
	for _, r := range ranges {
		spec, ok := dicomRangeAccepts(r, ts, def)
		if !ok {
			continue
		}
		if spec > best || (spec == best && r.q > q) {
			best, q = spec, r.q
		}
	}
	return q
}

// planInstance selects the transfer syntax of one instance for a client accepting ranges:
// the stored syntax or Explicit VR Little Endian, the higher weight winning and the stored
// one on a tie.
func planInstance(ranges []mediaRange, in *store.Instance) (tsPlan, error) {
	stored := in.TransferSyntaxUID
	def := dicom.ExplicitVRLittleEndian
	if defaultIsStored(in) {
		def = stored
	}
	qStored := rangesQuality(ranges, stored, def)
	qLE := 0.0
	canLE, why := transcodable(in)
	if stored != dicom.ExplicitVRLittleEndian && canLE {
		qLE = rangesQuality(ranges, dicom.ExplicitVRLittleEndian, def)
	}
	qJPEG := 0.0
	if stored != dicom.JPEGBaseline8Bit && jpegable(in) {
		qJPEG = rangesQuality(ranges, dicom.JPEGBaseline8Bit, def)
	}
	switch {
	case qStored > 0 && qStored >= qLE && qStored >= qJPEG:
		return tsPlan{}, nil
	case qJPEG > qLE:
		// Only ever named (never a default), so the stored form is a fallback only if the
		// client takes it too.
		return tsPlan{transcode: true, to: dicom.JPEGBaseline8Bit, fallback: qStored > 0}, nil
	case qLE > 0:
		// Should the object turn out not to be decodable after all, it goes as stored if the
		// client takes that too (a range without transfer-syntax, see above).
		return tsPlan{transcode: true, fallback: rangesQuality(ranges, stored, stored) > 0}, nil
	}
	name := stored
	if info, ok := dicom.LookupTransferSyntax(stored); ok {
		name = info.Name + " (" + stored + ")"
	}
	if rangesQuality(ranges, dicom.ExplicitVRLittleEndian, def) > 0 && !canLE {
		return tsPlan{}, notAcceptable(`an instance is stored as %s and cannot be sent in Explicit VR Little Endian: %s; `+
			`accept multipart/related; type="application/dicom"; transfer-syntax=*`, name, why)
	}
	if anyDicomRange(ranges) {
		return tsPlan{}, notAcceptable(`an instance is stored as %s, and this server transcodes only to Explicit VR Little Endian (%s), `+
			`and 8-bit images to JPEG Baseline (%s); accept multipart/related; type="application/dicom"; transfer-syntax=* or transfer-syntax=%s`,
			name, dicom.ExplicitVRLittleEndian, dicom.JPEGBaseline8Bit, dicom.ExplicitVRLittleEndian)
	}
	return tsPlan{}, notAcceptable(`instances are offered as multipart/related; type="application/dicom" only`)
}

// anyDicomRange reports whether some acceptable range names multipart/related instances.
func anyDicomRange(ranges []mediaRange) bool {
	for _, r := range ranges {
		if r.q > 0 && r.typ == "multipart" && strings.EqualFold(strings.TrimSpace(r.params["type"]), mediaDicom) {
			return true
		}
	}
	return false
}

// startWriter passes writes through to w, calling start before the first byte: a
// transcoder that fails before writing anything leaves the response (or the part) unstarted,
// so that an error status or another representation can still be sent.
type startWriter struct {
	w       io.Writer
	start   func() error
	started bool
}

func (s *startWriter) Write(p []byte) (int, error) {
	if !s.started && len(p) > 0 {
		s.started = true
		if err := s.start(); err != nil {
			return 0, err
		}
	}
	return s.w.Write(p)
}

// transcodeTo writes the object h holds to w in the plan's target syntax.
func transcodeTo(ctx context.Context, w io.Writer, h *imageHandle, plan tsPlan) error {
	var err error
	if plan.target() == dicom.JPEGBaseline8Bit {
		err = h.pixels.TranscodeJPEGBaseline(ctx, w, h.ra, h.rec.Size, h.hdr, 90)
	} else {
		err = h.pixels.TranscodeExplicitLE(ctx, w, h.ra, h.rec.Size, h.hdr)
	}
	if err != nil {
		return fmt.Errorf("instance %s: %w", h.rec.SOPInstanceUID, err)
	}
	return nil
}

// transcodeFailed tells a failure that another representation can still answer (nothing
// was written and the data cannot be decoded) from one that ends the response.
func transcodeFailed(sw *startWriter, err error) (recoverable bool) {
	return !sw.started && (errors.Is(err, pixel.ErrUnsupported) || errors.Is(err, pixel.ErrCorrupt) || errors.Is(err, pixel.ErrTooLarge))
}

// frameBytes packs a decoded frame as native pixel data: samples pixel-interleaved, one
// byte each for Bits Allocated 8, two little-endian bytes for 16 (PS3.5 8.1.1, 8.2).
func frameBytes(f *pixel.Frame) []byte {
	if f.Data8 != nil {
		return f.Data8
	}
	b := make([]byte, 2*len(f.Data16))
	for i, v := range f.Data16 {
		binary.LittleEndian.PutUint16(b[2*i:], v)
	}
	return b
}

// decodedFrameSize is the size of one frame as frameBytes packs it.
func decodedFrameSize(info pixel.Info) int64 {
	return int64(info.Rows) * int64(info.Columns) * int64(info.SamplesPerPixel) * int64(info.BitsAllocated/8)
}
