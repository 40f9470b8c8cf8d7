package viewer

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"

	"pacsd/audit"
	"pacsd/dicom"
	"pacsd/dicom/pixel"
	"pacsd/reading"
	"pacsd/store"
	"pacsd/thumbnail"
)

// previewSide bounds the quick first frame sent for windowing (?preview=1): a 3000x3000 DR
// becomes 1024x1024 (2 MiB of 16-bit values), decoded, packed and drawn in a fraction of
// the full frame's time; the full-resolution frame follows (viewing.go).
const previewSide = 1024

// renderedSide bounds colour frames rendered as JPEG (ultrasound is 640-1024 wide).
const renderedSide = 1024

// imageInfo is one image instance for the study view's scripts.
type imageInfo struct {
	SOP          string `json:"sop"`
	Series       string `json:"series"`
	SeriesNumber int64  `json:"seriesNumber"`
	SeriesDesc   string `json:"seriesDescription"`
	Number       int64  `json:"number"`
	Frames       int64  `json:"frames"`
	Rows         int64  `json:"rows"`
	Columns      int64  `json:"columns"`
	Color        bool   `json:"color"`
	Modality     string `json:"modality"`
	imageGeometry
}

func (v *Viewer) studyImages(c echo.Context) error {
	row, err := v.authorizeStudy(c, c.Param("study"))
	if err != nil {
		return err
	}
	imgs, err := v.imagesOf(c, row)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, imgs)
}

// imagesOf is the images API's answer for the authorised study row (the study page carries
// it too, so that the viewer asks for the first frame without waiting for a round trip).
func (v *Viewer) imagesOf(c echo.Context, row reading.WorklistRow) (*studyImagesJSON, error) {
	ctx := c.Request().Context()
	insts, err := v.cfg.Archive.Index().Instances(ctx, row.StudyUID, "")
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	out := []imageInfo{}
	for _, in := range insts {
		if !store.HasPixelData(in) {
			continue
		}
		ii := imageInfo{SOP: in.SOPInstanceUID, Series: in.SeriesInstanceUID,
			Modality:   in.SeriesAttrs.String(dicom.TagModality),
			SeriesDesc: in.SeriesAttrs.String(dicom.TagSeriesDescription)}
		ii.SeriesNumber, _ = in.SeriesAttrs.Int(dicom.TagSeriesNumber)
		ii.Number, _ = in.InstanceAttrs.Int(dicom.TagInstanceNumber)
		ii.Rows, _ = in.InstanceAttrs.Int(dicom.TagRows)
		ii.Columns, _ = in.InstanceAttrs.Int(dicom.TagColumns)
		ii.Frames, _ = in.InstanceAttrs.Int(dicom.TagNumberOfFrames)
		ii.Frames = max(ii.Frames, 1)
		spp, _ := in.InstanceAttrs.Int(dicom.TagSamplesPerPixel)
		pi := in.InstanceAttrs.String(dicom.TagPhotometricInterpretation)
		ii.Color = spp > 1 || (pi != "" && !strings.HasPrefix(pi, "MONOCHROME"))
		ii.imageGeometry = v.geometry(ctx, in, ii.Modality, ii.Frames)
		out = append(out, ii)
	}
	// The study's images are opened once per study page: one event, not one per frame.
	v.record(c, studyEvent(row, audit.ActionImageView))
	return &studyImagesJSON{Study: v.overlayOf(c, row), Images: out}, nil
}

// instanceOf returns an instance of the authorised study: an instance UID of another study
// is not found, so authorising one study never opens another's images.
func (v *Viewer) instanceOf(c echo.Context) (*store.Instance, int, error) {
	row, err := v.authorizeStudy(c, c.Param("study"))
	if err != nil {
		return nil, 0, err
	}
	sop := c.Param("sop")
	if !dicom.ValidUID(sop, dicom.UIDLeadingZeros) {
		return nil, 0, errNotFound
	}
	in, err := v.cfg.Archive.Index().Instance(c.Request().Context(), sop)
	if errors.Is(err, store.ErrNotFound) || (err == nil && in.StudyInstanceUID != row.StudyUID) {
		return nil, 0, errNotFound
	}
	if err != nil {
		return nil, 0, err
	}
	frame, err := strconv.Atoi(c.Param("frame"))
	if err != nil || frame < 0 || frame > 1<<20 {
		return nil, 0, errNotFound
	}
	return in, frame, nil
}

// openImage opens an instance's pixels. The returned func releases the object.
func (v *Viewer) openImage(ctx context.Context, sop string) (*pixel.Image, func(), error) {
	in, rc, err := v.cfg.Archive.Open(ctx, sop)
	if err != nil {
		return nil, nil, err
	}
	ra, ok := rc.(io.ReaderAt)
	closer := func() { rc.Close() }
	if !ok {
		// A remote object (S3) without random access: keep a local temporary copy while
		// the frame is decoded.
		f, err := os.CreateTemp("", "pacsd-viewer-*.dcm")
		if err != nil {
			rc.Close()
			return nil, nil, err
		}
		_, err = io.Copy(f, io.LimitReader(store.ContextReader(ctx, rc), in.Size))
		rc.Close()
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			return nil, nil, err
		}
		ra = f
		closer = func() { f.Close(); os.Remove(f.Name()) }
	}
	hdr, err := dicom.ReadPart10(io.NewSectionReader(ra, 0, in.Size), dicom.ReadOptions{})
	if err != nil {
		closer()
		return nil, nil, fmt.Errorf("read header of %s: %w", sop, err)
	}
	im, err := v.cfg.Pixels.Open(ra, in.Size, hdr)
	if err != nil {
		closer()
		return nil, nil, fmt.Errorf("open pixels of %s: %w", sop, err)
	}
	return im, closer, nil
}

// pixelError maps the pixel pipeline's refusals to answers: bad or unsupported pixel data
// is the object's problem (422), not the server's; so is an image beyond the decoding
// limits (Config.Pixels), which says so.
func pixelError(err error) error {
	switch {
	case errors.Is(err, pixel.ErrNoPixelData):
		return errNotFound
	case errors.Is(err, pixel.ErrTooLarge):
		return &httpError{status: http.StatusUnprocessableEntity, key: "viewer.toolarge"}
	case errors.Is(err, pixel.ErrCorrupt), errors.Is(err, pixel.ErrUnsupported):
		return &httpError{status: http.StatusUnprocessableEntity, key: "viewer.error"}
	}
	return err
}

// framePixels sends one greyscale frame for windowing in the browser: little-endian
// uint16 values v, where the modality value (after Rescale Slope/Intercept or the
// Modality LUT) is X-Pixel-Offset + v * X-Pixel-Scale; the frame at full resolution, or
// reduced to fit previewSide with ?preview=1 (the quick first look). X-Window-Center/Width
// are the default window in modality units, X-Photometric says whether low values are white
// (MONOCHROME1). The body is gzipped. Decoding stays within Config.Pixels' memory budget and
// the prepared bodies within the frame cache's.
func (v *Viewer) framePixels(c echo.Context) error {
	in, n, err := v.instanceOf(c)
	if err != nil {
		return err
	}
	side := 0
	if c.QueryParam("preview") == "1" {
		side = previewSide
	}
	key := pixelsKey(in, n, side)
	e, ok := v.frames.Get(key)
	if !ok {
		e, err = v.preparePixels(c.Request().Context(), in.SOPInstanceUID, n, side)
		if err != nil {
			return pixelError(err)
		}
		v.frames.Add(key, e, e.size())
	}
	return v.sendFrame(c, e)
}

func (v *Viewer) sendFrame(c echo.Context, e *frameEntry) error {
	h := c.Response().Header()
	for k, val := range e.header {
		h.Set(k, val)
	}
	h.Set("Cache-Control", "private, max-age=300")
	h.Set("X-Content-Type-Options", "nosniff")
	body := e.body
	if e.gzipped {
		h.Add("Vary", "Accept-Encoding")
		if strings.Contains(c.Request().Header.Get("Accept-Encoding"), "gzip") {
			h.Set("Content-Encoding", "gzip")
		} else {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				return err
			}
			return c.Stream(http.StatusOK, e.ctype, zr)
		}
	}
	return c.Blob(http.StatusOK, e.ctype, body)
}

// preparePixels decodes, reduces to fit side (0: full resolution), applies the Modality
// LUT and packs one frame.
func (v *Viewer) preparePixels(ctx context.Context, sop string, n, side int) (*frameEntry, error) {
	im, done, err := v.openImage(ctx, sop)
	if err != nil {
		return nil, err
	}
	defer done()
	info := im.Info()
	if n >= im.NumFrames() {
		return nil, errNotFound
	}
	if info.SamplesPerPixel != 1 {
		return nil, &httpError{status: http.StatusUnsupportedMediaType, key: "viewer.error"}
	}
	w, h := previewSize(info.Columns, info.Rows, side)
	fr, err := im.FrameFit(ctx, n, w, h)
	if err != nil {
		return nil, err
	}
	return packPixels(fr, info)
}

// previewSize is the size a frame is reduced to so that it fits side x side (0: full
// resolution): a whole fraction of it where one fits (3000x3000 -> 1000x1000), which
// pixel.Downscale makes by block averages several times faster than by the general area
// average (the preview is the first thing a radiologist waits for); else side x side.
func previewSize(cols, rows, side int) (int, int) {
	if side <= 0 {
		return 0, 0
	}
	k := (max(cols, rows) + side - 1) / side
	if k > 1 && cols%k == 0 && rows%k == 0 {
		return cols / k, rows / k
	}
	return side, side
}

// packPixels turns a decoded greyscale frame into the framePixels payload.
func packPixels(fr *pixel.Frame, info pixel.Info) (*frameEntry, error) {
	mod := pixel.Modality(info)
	n := fr.Len()
	if n == 0 {
		return nil, fmt.Errorf("empty frame: %w", pixel.ErrCorrupt)
	}
	var lo, hi, scale float64
	var raw []byte
	if plainUnsigned16(fr, info) {
		// The common DR: unsigned 16-bit samples, no rescale beyond a whole intercept. The
		// values are sent as they are, less their minimum, in one pass each way.
		lo, hi, raw = packPlain16(fr.Data16, info.RescaleIntercept)
		scale = 1
	} else {
		lo, hi = math.Inf(1), math.Inf(-1)
		for i := 0; i < n; i++ {
			m := mod(fr.Sample(i))
			lo, hi = math.Min(lo, m), math.Max(hi, m)
		}
		// Whole modality values that fit 16 bits are sent exactly; anything else is quantised
		// to 65536 steps over the frame's range.
		scale = 1.0
		integral := info.ModalityLUT != nil || (info.RescaleSlope == math.Trunc(info.RescaleSlope) &&
			info.RescaleIntercept == math.Trunc(info.RescaleIntercept))
		if !integral || hi-lo > 65535 {
			scale = math.Max((hi-lo)/65535, 1e-9)
		}
		raw = make([]byte, 2*n)
		for i := 0; i < n; i++ {
			q := math.Round((mod(fr.Sample(i)) - lo) / scale)
			binary.LittleEndian.PutUint16(raw[2*i:], uint16(min(max(q, 0), 65535)))
		}
	}
	gz, err := gzipConcurrent(raw)
	if err != nil {
		return nil, err
	}

	center, width := defaultWindow(fr, info, lo, hi)
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', 10, 64) }
	return &frameEntry{
		body: gz, gzipped: true, ctype: "application/octet-stream",
		header: map[string]string{
			"X-Pixel-Width":   strconv.Itoa(fr.Columns),
			"X-Pixel-Height":  strconv.Itoa(fr.Rows),
			"X-Pixel-Offset":  f(lo),
			"X-Pixel-Scale":   f(scale),
			"X-Pixel-Min":     f(lo),
			"X-Pixel-Max":     f(hi),
			"X-Window-Center": f(center),
			"X-Window-Width":  f(width),
			"X-Photometric":   fr.Photometric,
		},
	}, nil
}

// gzipChunk is how much of a frame one goroutine compresses: a 3000x3000 frame (18 MB)
// is 18 chunks, spread over the cores.
const gzipChunk = 1 << 20

// gzipConcurrent compresses b as one gzip member (RFC 1952) whose deflate stream (RFC 1951)
// is made of chunks compressed at once on every core: each chunk but the last ends with a
// sync flush (an empty stored block, byte-aligned), so their concatenation is one valid
// stream that any gzip reader inflates. A full-resolution frame is ready in a fraction of
// the time one compressor takes, at the same ratio less a few bytes per chunk.
func gzipConcurrent(b []byte) ([]byte, error) {
	n := max(1, (len(b)+gzipChunk-1)/gzipChunk)
	parts := make([]bytes.Buffer, n)
	errs := make([]error, n)
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i := range parts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			fw, _ := flate.NewWriter(&parts[i], flate.BestSpeed) // the level is valid
			if _, err := fw.Write(b[i*gzipChunk : min(len(b), (i+1)*gzipChunk)]); err != nil {
				errs[i] = err
				return
			}
			if i == n-1 {
				errs[i] = fw.Close()
			} else {
				errs[i] = fw.Flush()
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("compress frame: %w", err)
	}
	size := 10 + 8
	for i := range parts {
		size += parts[i].Len()
	}
	out := make([]byte, 0, size)
	// Header: ID1 ID2, CM = deflate, no flags, no mtime, XFL 0, OS unknown.
	out = append(out, 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255)
	for i := range parts {
		out = append(out, parts[i].Bytes()...)
	}
	out = binary.LittleEndian.AppendUint32(out, crc32.ChecksumIEEE(b))
	return binary.LittleEndian.AppendUint32(out, uint32(len(b))), nil
}

// plainUnsigned16 says whether a frame's modality values are its unsigned 16-bit samples
// plus a whole intercept (no Modality LUT, slope 1), so packPlain16 may send them.
func plainUnsigned16(fr *pixel.Frame, info pixel.Info) bool {
	return fr.Data16 != nil && !fr.Signed && fr.SamplesPerPixel == 1 && info.ModalityLUT == nil &&
		(info.RescaleSlope == 1 || info.RescaleSlope == 0) && info.RescaleIntercept == math.Trunc(info.RescaleIntercept)
}

// packPlain16 packs samples as little-endian value minus the minimum: the modality range
// [lo, hi] is the samples' plus intercept.
func packPlain16(px []uint16, intercept float64) (lo, hi float64, raw []byte) {
	mn, mx := uint16(math.MaxUint16), uint16(0)
	for _, v := range px {
		mn, mx = min(mn, v), max(mx, v)
	}
	raw = make([]byte, 2*len(px))
	for i, v := range px {
		binary.LittleEndian.PutUint16(raw[2*i:], v-mn)
	}
	return float64(mn) + intercept, float64(mx) + intercept, raw
}

// defaultWindow is the window the browser starts with, in modality units: the file's
// (pixel.DefaultWindow); for a VOI LUT Sequence, its input range (the browser windows
// linearly, which approximates the table); for images shown over their full range, that.
func defaultWindow(fr *pixel.Frame, info pixel.Info, lo, hi float64) (float64, float64) {
	if w, ok := pixel.DefaultWindow(fr, info); ok && w.Width > 0 {
		return w.Center, w.Width
	}
	if len(info.VOILUTs) > 0 && len(info.VOILUTs[0].Data) > 1 {
		l := info.VOILUTs[0]
		return float64(l.FirstMapped) + float64(len(l.Data))/2, float64(len(l.Data))
	}
	if info.BitsStored > 0 && info.BitsStored <= 8 && !info.Signed && info.ModalityLUT == nil &&
		info.RescaleSlope == 1 && info.RescaleIntercept == 0 {
		full := float64(int(1) << info.BitsStored)
		return full / 2, full
	}
	return (lo + hi + 1) / 2, math.Max(hi-lo+1, 1)
}

// frameRendered sends one frame rendered by the server as JPEG: colour images and cine.
func (v *Viewer) frameRendered(c echo.Context) error {
	in, n, err := v.instanceOf(c)
	if err != nil {
		return err
	}
	key := fmt.Sprintf("r/%s/%s/%d", in.SOPInstanceUID, in.SHA256, n)
	e, ok := v.frames.Get(key)
	if !ok {
		b, err := v.renderJPEG(c.Request().Context(), in.SOPInstanceUID, n, renderedSide)
		if err != nil {
			return pixelError(err)
		}
		e = &frameEntry{body: b, ctype: "image/jpeg"}
		v.frames.Add(key, e, e.size())
	}
	return v.sendFrame(c, e)
}

func (v *Viewer) renderJPEG(ctx context.Context, sop string, n, side int) ([]byte, error) {
	im, done, err := v.openImage(ctx, sop)
	if err != nil {
		return nil, err
	}
	defer done()
	if n >= im.NumFrames() {
		return nil, errNotFound
	}
	fr, err := im.FrameFit(ctx, n, side, side)
	if err != nil {
		return nil, err
	}
	img, err := pixel.Render(fr, im.Info(), pixel.RenderOptions{Width: side, Height: side})
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := pixel.EncodeJPEG(&buf, img, 88); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (v *Viewer) seriesThumbnail(c echo.Context) error {
	row, err := v.authorizeStudy(c, c.Param("study"))
	if err != nil {
		return err
	}
	series := c.Param("series")
	if !dicom.ValidUID(series, dicom.UIDLeadingZeros) {
		return errNotFound
	}
	ctx := c.Request().Context()
	var b []byte
	if v.cfg.Thumbnails != nil {
		b, err = v.cfg.Thumbnails.Series(ctx, row.StudyUID, series)
	} else {
		b, err = v.seriesThumbnailFallback(ctx, row.StudyUID, series)
	}
	if errors.Is(err, thumbnail.ErrNoImage) || errors.Is(err, store.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return pixelError(err)
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "private, max-age=3600")
	h.Set("X-Content-Type-Options", "nosniff")
	return c.Blob(http.StatusOK, "image/jpeg", b)
}

// seriesThumbnailFallback renders the series' middle image when no thumbnail service is
// configured (tests, tools); pacsd serve gives the cached service.
func (v *Viewer) seriesThumbnailFallback(ctx context.Context, study, series string) ([]byte, error) {
	insts, err := v.cfg.Archive.Index().Instances(ctx, study, series)
	if err != nil {
		return nil, err
	}
	var imgs []*store.Instance
	for _, in := range insts {
		if store.HasPixelData(in) {
			imgs = append(imgs, in)
		}
	}
	if len(imgs) == 0 {
		return nil, thumbnail.ErrNoImage
	}
	return v.renderJPEG(ctx, imgs[len(imgs)/2].SOPInstanceUID, 0, 160)
}

// frameEntry is a prepared frame: the response body and its headers.
type frameEntry struct {
	body    []byte
	gzipped bool
	ctype   string
	header  map[string]string
}

// size is what the entry counts for in the viewer's frame cache budget: its body.
func (e *frameEntry) size() int64 { return int64(len(e.body)) }
