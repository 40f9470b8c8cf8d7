package dicomweb

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"pacsd/dicom/pixel"
	"pacsd/store"
)

// Rendered resources, PS3.18 10.4.1.1.3 (Retrieve Rendered): a study, series, instance or
// frames as consumer images (Rendered Media Types, PS3.18 8.7.4), with the rendering query
// parameters of 8.3.5.1. The pixels go through dicom/pixel's grayscale pipeline (PS3.4 N.2:
// Modality LUT, VOI LUT or window, MONOCHROME1 polarity) or its colour conversion.
//
// What each resource returns:
//
//   - an instance with one frame, or one frame (/frames/{n}/rendered): one image, image/jpeg
//     (the default) or image/png;
//   - an instance with several frames: PS3.18 Table 8.7.4-1 lists animated image/gif and
//     video for multi-frame images, which pacsd does not produce. A client that names
//     multipart/related; type="image/jpeg" (or "image/png") gets every frame, one part
//     each, in frame order; any other client (a browser's <img>, "*/*", "image/jpeg") gets
//     the first frame as one image, the picture WADO-URI shows for the same object;
//   - several frames (/frames/1,3,5/rendered): multipart/related, one part per frame in the
//     order asked; a client that accepts only a single image gets 406;
//   - a series or study: multipart/related, one part per frame of each image instance, in
//     series and instance order, each part with the Content-Location of its frame's
//     rendered resource. Objects without pixel data (reports, documents) are left out, as
//     are images whose pixel data this server cannot decode (logged).
//
// Parameters (PS3.18 8.3.5.1): window=center,width[,linear|linear-exact|sigmoid] replaces
// the file's VOI (greyscale only); viewport=vw,vh scales the image down to fit within vw x
// vh pixels keeping its aspect ratio (never up: a browser scales up without loss), and
// viewport=vw,vh,sx,sy,sw,sh first takes the source region sx,sy,sw,sh in image pixels
// (sx, sy default 0; sw, sh default to the right and bottom edges; a negative sw or sh
// flips that axis); quality=1..100 sets JPEG quality (default 90; PNG is lossless and
// ignores it). annotation=patient,technique is accepted and no annotation is drawn: 8.3.5.1
// lets an origin server not support a parameter, and burning the patient's name into
// images that browsers and proxies keep would spread PHI; an unknown keyword is 400.
// iccprofile and charset are ignored (no ICC profile is embedded; there is no text). A
// malformed value is 400; other parameters are ignored.
//
// A viewer dragging the window keeps asking for the same frame at the same viewport with
// another window: frames are decoded once, reduced to the smallest power of two from 256
// pixels at least as large as the output needs, and kept in a byte-bounded LRU
// (Config.FrameCacheBytes), so each further step costs one render and one encode.

// Rendered media types (PS3.18 Table 8.7.4-1, single frame images).
const (
	mediaJPEG = "image/jpeg"
	mediaPNG  = "image/png"
)

const (
	defaultRenderQuality = 90
	maxViewport          = 16384
	// rendererVersion is part of every rendered ETag, so that a change in how pacsd renders
	// invalidates what browsers hold.
	rendererVersion = "1"
	// minDecodeSize is the smallest size frames are decoded at for the cache.
	minDecodeSize = 256
)

// renderParams are the parsed rendering query parameters.
type renderParams struct {
	window   *pixel.Window
	function string // VOI LUT Function for the window ("" keeps the file's)
	vw, vh   int    // viewport; 0 unbounded
	region   *srcRegion
	quality  int // JPEG quality, 1-100; 0 means the default
	canon    string
}

// srcRegion is a source image region. In pixels of the full image, or, from WADO-URI,
// normalized to 0..1 (PS3.18 9.4.1.1.3 region).
type srcRegion struct {
	x, y, w, h   float64 // w, h < 0: to the right and bottom edges (pixels only)
	norm         bool
	flipX, flipY bool
}

// one returns the single value of a query parameter ("" when absent); repeating it is 400.
func one(q url.Values, name string) (string, error) {
	switch v := q[name]; len(v) {
	case 0:
		return "", nil
	case 1:
		return v[0], nil
	default:
		return "", badRequest("query parameter %q given %d times; give it once", name, len(v))
	}
}

// parseRenderParams reads the PS3.18 8.3.5.1 parameters. For thumbnails (Sup 203) only
// viewport=vw,vh applies.
func parseRenderParams(q url.Values, thumbnail bool) (renderParams, error) {
	var p renderParams
	var canon []string
	if v, err := one(q, "viewport"); err != nil {
		return p, err
	} else if v != "" {
		if err := p.parseViewport(v, thumbnail); err != nil {
			return p, err
		}
		canon = append(canon, "viewport="+v)
	}
	if thumbnail {
		p.canon = strings.Join(canon, "&")
		return p, nil
	}
	if v, err := one(q, "window"); err != nil {
		return p, err
	} else if v != "" {
		parts := strings.Split(v, ",")
		if len(parts) != 2 && len(parts) != 3 {
			return p, badRequest("window %q: give center,width[,function] (PS3.18 8.3.5.1.4)", short(v))
		}
		c, err1 := strconv.ParseFloat(strings.TrimSpace(parts[0]), 64)
		w, err2 := strconv.ParseFloat(strings.TrimSpace(parts[1]), 64)
		if err1 != nil || err2 != nil || math.IsNaN(c) || math.IsInf(c, 0) || math.IsNaN(w) || math.IsInf(w, 0) {
			return p, badRequest("window %q: center and width are decimal numbers", short(v))
		}
		fn := "linear"
		if len(parts) == 3 {
			fn = strings.ToLower(strings.TrimSpace(parts[2]))
		}
		switch fn {
		case "linear":
			// PS3.3 C.11.2.1.2.1: the LINEAR function needs a width of at least 1.
			if w < 1 {
				return p, badRequest("window %q: a linear window's width is at least 1", short(v))
			}
			p.function = "LINEAR"
		case "linear-exact", "sigmoid":
			if w <= 0 {
				return p, badRequest("window %q: the width must be greater than 0", short(v))
			}
			p.function = strings.ToUpper(strings.ReplaceAll(fn, "-", "_"))
		default:
			return p, badRequest("window %q: the function is linear, linear-exact or sigmoid", short(v))
		}
		p.window = &pixel.Window{Center: c, Width: w}
		canon = append(canon, "window="+strconv.FormatFloat(c, 'g', -1, 64)+","+strconv.FormatFloat(w, 'g', -1, 64)+","+fn)
	}
	if v, err := one(q, "quality"); err != nil {
		return p, err
	} else if v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 || n > 100 {
			return p, badRequest("quality %q: an integer from 1 to 100 (PS3.18 8.3.5.1.2)", short(v))
		}
		p.quality = n
		canon = append(canon, "quality="+strconv.Itoa(n))
	}
	if v, err := one(q, "annotation"); err != nil {
		return p, err
	} else if v != "" {
		if err := checkAnnotation(v); err != nil {
			return p, err
		}
	}
	p.canon = strings.Join(canon, "&")
	return p, nil
}

// checkAnnotation accepts the keywords of PS3.18 8.3.5.1.1; none is drawn (see above).
func checkAnnotation(v string) error {
	for _, k := range strings.Split(v, ",") {
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "patient", "technique":
		default:
			return badRequest("annotation %q: the keywords are patient and technique (PS3.18 8.3.5.1.1)", short(v))
		}
	}
	return nil
}

// parseViewport reads vw,vh[,sx,sy,sw,sh] (PS3.18 8.3.5.1.3); thumbnails take vw,vh only.
func (p *renderParams) parseViewport(v string, thumbnail bool) error {
	parts := strings.Split(v, ",")
	if len(parts) != 2 && (thumbnail || len(parts) != 6) {
		if thumbnail {
			return badRequest("viewport %q: give vw,vh", short(v))
		}
		return badRequest("viewport %q: give vw,vh or vw,vh,sx,sy,sw,sh (PS3.18 8.3.5.1.3)", short(v))
	}
	dim := func(s string) (int, error) {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > maxViewport {
			return 0, badRequest("viewport %q: vw and vh are integers from 1 to %d", short(v), maxViewport)
		}
		return n, nil
	}
	var err error
	if p.vw, err = dim(parts[0]); err != nil {
		return err
	}
	if p.vh, err = dim(parts[1]); err != nil {
		return err
	}
	if len(parts) == 2 {
		return nil
	}
	num := func(s string, def float64) (float64, error) {
		s = strings.TrimSpace(s)
		if s == "" {
			return def, nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, badRequest("viewport %q: sx, sy, sw and sh are numbers", short(v))
		}
		return f, nil
	}
	r := &srcRegion{}
	if r.x, err = num(parts[2], 0); err != nil {
		return err
	}
	if r.y, err = num(parts[3], 0); err != nil {
		return err
	}
	if r.w, err = num(parts[4], -1); err != nil {
		return err
	}
	if r.h, err = num(parts[5], -1); err != nil {
		return err
	}
	if r.x < 0 || r.y < 0 || r.w == 0 || r.h == 0 {
		return badRequest("viewport %q: sx and sy are at least 0; sw and sh are not 0", short(v))
	}
	// A given negative width or height flips the axis; an absent one runs to the edge.
	if strings.TrimSpace(parts[4]) != "" && r.w < 0 {
		r.flipX, r.w = true, -r.w
	}
	if strings.TrimSpace(parts[5]) != "" && r.h < 0 {
		r.flipY, r.h = true, -r.h
	}
	p.region = r
	return nil
}

// pixels returns the region in pixels of a cols x rows image, clipped to it.
func (r *srcRegion) pixels(cols, rows int) (x, y, w, h float64, err error) {
	x, y, w, h = r.x, r.y, r.w, r.h
	if r.norm {
		x, y, w, h = x*float64(cols), y*float64(rows), w*float64(cols), h*float64(rows)
	}
	if w < 0 {
		w = float64(cols) - x
	}
	if h < 0 {
		h = float64(rows) - y
	}
	w = math.Min(w, float64(cols)-x)
	h = math.Min(h, float64(rows)-y)
	if w < 1 || h < 1 {
		return 0, 0, 0, 0, badRequest("the source region lies outside the %d x %d image", cols, rows)
	}
	return x, y, w, h, nil
}

// decodeSize is the size frames of a cols x rows image are decoded at for p (the argument of
// FrameFit): the smallest power of two from minDecodeSize whose fit is at least as large as
// the output, or 0 for full resolution. Nearby viewports share one decoded frame.
func (p *renderParams) decodeSize(cols, rows int) int {
	if cols < 1 || rows < 1 {
		return 0
	}
	sw, sh := float64(cols), float64(rows)
	if p.region != nil {
		_, _, w, h, err := p.region.pixels(cols, rows)
		if err != nil {
			return 0
		}
		sw, sh = w, h
	}
	scale := 1.0
	if p.vw > 0 {
		scale = math.Min(scale, float64(p.vw)/sw)
	}
	if p.vh > 0 {
		scale = math.Min(scale, float64(p.vh)/sh)
	}
	longest := max(cols, rows)
	need := int(math.Ceil(scale * float64(longest)))
	size := minDecodeSize
	for size < need {
		size *= 2
	}
	if size >= longest {
		return 0
	}
	return size
}

// render displays a decoded frame with p: the source region, then the window and the fit
// to the viewport.
func (p *renderParams) render(df *decodedFrame) (image.Image, error) {
	fr := df.fr
	if p.region != nil {
		x, y, w, h, err := p.region.pixels(df.cols, df.rows)
		if err != nil {
			return nil, err
		}
		// The frame may be reduced: scale the region to it.
		kx, ky := float64(fr.Columns)/float64(df.cols), float64(fr.Rows)/float64(df.rows)
		x0, y0 := int(math.Floor(x*kx)), int(math.Floor(y*ky))
		x1, y1 := min(fr.Columns, int(math.Ceil((x+w)*kx))), min(fr.Rows, int(math.Ceil((y+h)*ky)))
		fr = cropFrame(fr, x0, y0, max(1, x1-x0), max(1, y1-y0), p.region.flipX, p.region.flipY)
	}
	img, err := pixel.Render(fr, df.info, pixel.RenderOptions{Window: p.window, VOILUTFunction: p.function, Width: p.vw, Height: p.vh})
	if err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	return img, nil
}

// cropFrame copies the w x h block at x0, y0 of f, mirrored as asked.
func cropFrame(f *pixel.Frame, x0, y0, w, h int, flipX, flipY bool) *pixel.Frame {
	out := *f
	out.Columns, out.Rows = w, h
	spp := f.SamplesPerPixel
	src := func(x, y int) int {
		if flipX {
			x = w - 1 - x
		}
		if flipY {
			y = h - 1 - y
		}
		return ((y0+y)*f.Columns + x0 + x) * spp
	}
	if f.Data8 != nil {
		out.Data8 = make([]uint8, w*h*spp)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				copy(out.Data8[(y*w+x)*spp:(y*w+x+1)*spp], f.Data8[src(x, y):src(x, y)+spp])
			}
		}
	} else {
		out.Data16 = make([]uint16, w*h*spp)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				copy(out.Data16[(y*w+x)*spp:(y*w+x+1)*spp], f.Data16[src(x, y):src(x, y)+spp])
			}
		}
	}
	return &out
}

// encodeRendered writes img in the chosen media type.
func encodeRendered(img image.Image, media string, quality int) ([]byte, error) {
	var buf bytes.Buffer
	var err error
	if media == mediaPNG {
		err = pixel.EncodePNG(&buf, img)
	} else {
		if quality == 0 {
			quality = defaultRenderQuality
		}
		err = pixel.EncodeJPEG(&buf, img, quality)
	}
	return buf.Bytes(), err
}

// renderedChoice is the representation of a rendered response.
type renderedChoice struct {
	media     string // image/jpeg or image/png
	multipart bool
}

func (r renderedChoice) offer() offer {
	if r.multipart {
		return offer{typ: "multipart", sub: "related", params: map[string]string{"type": r.media}}
	}
	typ, sub, _ := strings.Cut(r.media, "/")
	return offer{typ: typ, sub: sub}
}

// negotiateRendered picks a rendered representation. single and multi say which kinds the
// resource has; when both, multipart counts only for a client that names multipart
// (a "*/*" client, such as a browser's <img>, gets the single image) and wins a tie.
func negotiateRendered(ranges []mediaRange, single, multi bool) (renderedChoice, error) {
	var cands []renderedChoice
	if multi {
		cands = append(cands, renderedChoice{mediaJPEG, true}, renderedChoice{mediaPNG, true})
	}
	if single {
		cands = append(cands, renderedChoice{mediaJPEG, false}, renderedChoice{mediaPNG, false})
	}
	named := ranges
	if single && multi {
		named = nil
		for _, r := range ranges {
			if r.typ == "multipart" {
				named = append(named, r)
			}
		}
	}
	best, bestQ := renderedChoice{}, 0.0
	for _, c := range cands {
		rs := ranges
		if c.multipart {
			rs = named
		}
		if q := quality(rs, c.offer()); q > bestQ {
			best, bestQ = c, q
		}
	}
	if bestQ > 0 {
		return best, nil
	}
	switch {
	case single && multi:
		return best, notAcceptable(`rendered images are offered as image/jpeg, image/png, or multipart/related; type="image/jpeg" or type="image/png"`)
	case single:
		return best, notAcceptable(`rendered images are offered as image/jpeg or image/png`)
	}
	return best, notAcceptable(`several rendered images are sent as multipart/related; type="image/jpeg" or type="image/png"`)
}

// renderLevel is the resource a rendered or thumbnail request names.
type renderLevel int

const (
	renderStudy renderLevel = iota
	renderSeries
	renderInstance
	renderFrames
)

// renderedETag is the validator of a rendered instance or frames response: the object
// version, the frames, the representation and the parameters. It is known before anything
// is decoded, so a revalidation costs no rendering.
func renderedETag(rec *store.Instance, frames []int, choice renderedChoice, p renderParams) string {
	h := sha256.New()
	fmt.Fprintf(h, "r%s|%s|%v|%s|%v|", rendererVersion, choice.media, choice.multipart, p.canon, frames)
	return `W/"` + rec.SHA256[:min(32, len(rec.SHA256))] + "-r" + hex.EncodeToString(h.Sum(nil)[:8]) + `"`
}

// renderFrame renders frame i (0-based) of an instance through the frame cache.
func (s *server) renderFrame(ctx context.Context, rec *store.Instance, i int, p renderParams, media string) ([]byte, error) {
	cols, rows, _ := indexGeometry(rec)
	df, err := s.frame(ctx, rec, i, p.decodeSize(cols, rows))
	if err != nil {
		return nil, err
	}
	img, err := p.render(df)
	if err != nil {
		return nil, err
	}
	return encodeRendered(img, media, p.quality)
}

// rendered serves the Retrieve Rendered resources for GET and HEAD.
func (s *server) rendered(level renderLevel) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		study, series, sop, err := pathUIDs(c)
		if err != nil {
			return s.publicError(c, "rendered", err)
		}
		p, err := parseRenderParams(c.QueryParams(), false)
		if err != nil {
			return s.publicError(c, "rendered", err)
		}
		if level == renderStudy || level == renderSeries {
			return s.renderCollection(c, p, study, series)
		}
		rec, err := s.lookupInstance(ctx, study, series, sop)
		if err != nil {
			return s.publicError(c, "rendered", err)
		}
		_, _, n := indexGeometry(rec)
		if n == 0 {
			return s.publicError(c, "rendered", notAcceptable("the instance has no image; this server renders images only"))
		}
		var frames []int // 0-based
		if level == renderFrames {
			nums, err := parseFrameList(c.Param(paramFrames))
			if err != nil {
				return s.publicError(c, "rendered", err)
			}
			for _, k := range nums {
				if k > n {
					return s.publicError(c, "rendered", echo.NewHTTPError(http.StatusNotFound,
						fmt.Sprintf("frame %d does not exist: the instance has %d frame(s)", k, n)))
				}
				frames = append(frames, k-1)
			}
		} else {
			for i := range n {
				frames = append(frames, i)
			}
		}
		choice, err := negotiateRendered(acceptRanges(c), len(frames) == 1 || level == renderInstance, true)
		if err != nil {
			return s.publicError(c, "rendered", err)
		}
		if !choice.multipart {
			frames = frames[:1] // a multi-frame instance as one image: its first frame
		}
		etag := renderedETag(rec, frames, choice, p)
		h := c.Response().Header()
		if notModified(c, etag, cacheInstance) {
			return c.NoContent(http.StatusNotModified)
		}
		first, err := s.renderFrame(ctx, rec, frames[0], p, choice.media)
		if err != nil {
			return s.publicError(c, "rendered", renderError(err, frames[0]+1, n))
		}
		if !choice.multipart {
			return c.Blob(http.StatusOK, choice.media, first)
		}
		boundary, err := newBoundary()
		if err != nil {
			return s.publicError(c, "rendered", err)
		}
		h.Set(echo.HeaderContentType, multipartType(choice.media, boundary))
		if c.Request().Method == http.MethodHead {
			return c.NoContent(http.StatusOK)
		}
		c.Response().WriteHeader(http.StatusOK)
		mw := &multipartWriter{w: c.Response(), boundary: boundary}
		base := s.baseURL(c) + "/studies/" + study + "/series/" + series + "/instances/" + sop + "/frames/"
		for k, i := range frames {
			b := first
			if k > 0 {
				if b, err = s.renderFrame(ctx, rec, i, p, choice.media); err != nil {
					s.abort(ctx, "render", sop, err)
				}
			}
			head := partHead{contentType: choice.media, contentLocation: base + strconv.Itoa(i+1) + "/rendered", size: int64(len(b))}
			if err := mw.writePart(ctx, head, bytes.NewReader(b)); err != nil {
				s.abort(ctx, "send rendered", sop, err)
			}
		}
		if err := mw.close(); err != nil {
			s.abort(ctx, "send rendered", sop, err)
		}
		return nil
	}
}

// renderError turns a frame error into the client's answer.
func renderError(err error, frame, frames int) error {
	if errors.Is(err, errFrameRange) {
		return echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("frame %d does not exist: the instance has %d frame(s)", frame, frames))
	}
	return err
}

// renderCollection serves a series' or study's rendered resource: every frame of every
// image instance, one part each, decoded without the frame cache (each frame is shown once;
// keeping them would push out the frames a viewer is working on).
func (s *server) renderCollection(c echo.Context, p renderParams, study, series string) error {
	ctx := c.Request().Context()
	choice, err := negotiateRendered(acceptRanges(c), false, true)
	if err != nil {
		return s.publicError(c, "rendered", err)
	}
	list, err := s.archive.Index().Instances(ctx, study, series)
	if err == nil && len(list) == 0 {
		err = fmt.Errorf("list instances of %s/%s: %w", study, series, store.ErrNotFound)
	}
	if err != nil {
		return s.publicError(c, "rendered", err)
	}
	images := list[:0:0]
	for _, in := range list {
		if store.HasPixelData(in) {
			images = append(images, in)
		}
	}
	if len(images) == 0 {
		return s.publicError(c, "rendered", echo.NewHTTPError(http.StatusNotFound, "no images to render here: the instances hold no pixel data"))
	}
	boundary, err := newBoundary()
	if err != nil {
		return s.publicError(c, "rendered", err)
	}
	h := c.Response().Header()
	setCollectionHeaders(h, boundary)
	h.Set(echo.HeaderContentType, multipartType(choice.media, boundary))
	if c.Request().Method == http.MethodHead {
		return c.NoContent(http.StatusOK)
	}
	mw := &multipartWriter{w: c.Response(), boundary: boundary}
	base := s.baseURL(c) + "/studies/" + study + "/series/"
	parts := 0
	for _, in := range images {
		err := s.renderInstanceParts(ctx, mw, in, p, choice.media, base, func() {
			if !c.Response().Committed {
				c.Response().WriteHeader(http.StatusOK)
			}
		})
		switch {
		case err == nil:
			parts++
		case errors.Is(err, pixel.ErrUnsupported) || errors.Is(err, pixel.ErrNoPixelData):
			// Normal for a video clip or a report in the study: not a fault.
			s.log.Debug("rendered: image left out", "sop_instance_uid", in.SOPInstanceUID, "err", err)
		case !c.Response().Committed:
			return s.publicError(c, "rendered", err)
		default:
			s.abort(ctx, "render", in.SOPInstanceUID, err)
		}
	}
	if parts == 0 {
		h.Del(echo.HeaderContentType)
		return s.publicError(c, "rendered", notAcceptable("this server cannot decode the pixel data of any image here"))
	}
	if err := mw.close(); err != nil {
		s.abort(ctx, "send rendered", "", err)
	}
	return nil
}

// renderInstanceParts writes every frame of one instance as a part; start is called before
// the first byte.
func (s *server) renderInstanceParts(ctx context.Context, mw *multipartWriter, in *store.Instance, p renderParams, media, base string, start func()) error {
	h, err := s.openImage(ctx, in.SOPInstanceUID)
	if err != nil {
		return err
	}
	defer h.Close()
	info := h.im.Info()
	size := p.decodeSize(info.Columns, info.Rows)
	loc := base + h.rec.SeriesInstanceUID + "/instances/" + h.rec.SOPInstanceUID + "/frames/"
	for i := range h.im.NumFrames() {
		df, err := s.decodeFrame(ctx, h.im, i, size)
		if err != nil {
			return fmt.Errorf("instance %s: %w", h.rec.SOPInstanceUID, err)
		}
		img, err := p.render(df)
		if err != nil {
			return fmt.Errorf("instance %s: %w", h.rec.SOPInstanceUID, err)
		}
		b, err := encodeRendered(img, media, p.quality)
		if err != nil {
			return err
		}
		start()
		head := partHead{contentType: media, contentLocation: loc + strconv.Itoa(i+1) + "/rendered", size: int64(len(b))}
		if err := mw.writePart(ctx, head, bytes.NewReader(b)); err != nil {
			return fmt.Errorf("send rendered: %w", err)
		}
	}
	return nil
}
