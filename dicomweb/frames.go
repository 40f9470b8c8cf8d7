package dicomweb

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/zlib"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"pacsd/dicom"
	"pacsd/dicom/pixel"
	"pacsd/store"
)

// WADO-RS frames, PS3.18 10.4.1.1.3 (Retrieve Frames) and 8.7.3 (bulk data media types):
// one or more frames of an image. Uncompressed frames are sent as application/octet-stream
// in little-endian byte order; compressed (encapsulated) frames as their codestream, typed
// by the single-frame media type of the stored transfer syntax (Table 8.7.3-5) or as
// application/octet-stream with that transfer syntax named, which is what OHIF asks for
// (multipart/related; type=application/octet-stream; transfer-syntax=*). A client that
// accepts only uncompressed frames (application/octet-stream without transfer-syntax, or
// with Explicit VR Little Endian) gets compressed frames decoded: native little-endian
// samples, pixel-interleaved, at Bits Allocated 8 or 16, colour JPEG (YBR) as RGB, i.e.
// the Pixel Data TranscodeExplicitLE would write (PS3.5 8.1.1, 8.2). Any other syntax, or
// a codec this server lacks, is 406.

// Bounds on a frame list.
const (
	maxFrameList    = 10000
	maxFrameListLen = 64 << 10
)

// parseFrameList reads "1,3,5" (commas may arrive percent-encoded), 1-based frame numbers
// in the order asked.
func parseFrameList(raw string) ([]int, error) {
	if len(raw) > maxFrameListLen {
		return nil, badRequest("frame list longer than %d bytes", maxFrameListLen)
	}
	v, err := url.PathUnescape(raw)
	if err != nil {
		return nil, badRequest("frame list %q is not a comma-separated list of frame numbers", short(raw))
	}
	parts := strings.Split(v, ",")
	if len(parts) > maxFrameList {
		return nil, badRequest("more than %d frames in one request", maxFrameList)
	}
	out := make([]int, 0, len(parts))
	for _, p := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 || n > maxFrames {
			return nil, badRequest("frame list %q: frame numbers are positive integers, the first frame is 1", short(v))
		}
		out = append(out, n)
	}
	return out, nil
}

// pixelChoice is how pixel data is sent: which media type each part (or the single body)
// has and the transfer syntax it names.
type pixelChoice struct {
	single    bool
	mediaType string
	ts        string
	decode    bool // encapsulated frames decoded to native samples
}

func (p pixelChoice) contentType() string {
	if p.ts == "" {
		return p.mediaType
	}
	return p.mediaType + "; transfer-syntax=" + p.ts
}

// pixelCandidate is one representation the server can produce for an instance's pixels.
type pixelCandidate struct {
	pixelChoice
	native bool // uncompressed data sent as little-endian bytes (any native syntax label fits)
}

// pixelCandidates lists what the frames of ir can be sent as, the server's preference first.
func pixelCandidates(ir *instanceRecord, singleOK bool) []pixelCandidate {
	var out []pixelCandidate
	add := func(c pixelCandidate) {
		out = append(out, c)
		if singleOK {
			c.single = true
			out = append(out, c)
		}
	}
	if !ir.Pixel.Encapsulated {
		add(pixelCandidate{pixelChoice{mediaType: mediaOctetStream, ts: dicom.ExplicitVRLittleEndian}, true})
		return out
	}
	if m := frameMediaTypes[ir.TransferSyntax]; m != "" {
		add(pixelCandidate{pixelChoice{mediaType: m, ts: ir.TransferSyntax}, false})
	}
	add(pixelCandidate{pixelChoice{mediaType: mediaOctetStream, ts: ir.TransferSyntax}, false})
	// Last, so that a client accepting the stored form gets it: decoded frames.
	if decodableSyntaxes[ir.TransferSyntax] {
		add(pixelCandidate{pixelChoice{mediaType: mediaOctetStream, ts: dicom.ExplicitVRLittleEndian, decode: true}, true})
	}
	return out
}

// rangeAccepts reports whether media range r covers candidate c, how specifically, and
// the transfer syntax label the client asked for when that matters.
func rangeAccepts(r mediaRange, c pixelCandidate) (spec int, label string, ok bool) {
	var inner, want string
	named := false // the client named the media type of the frames
	switch {
	case r.typ == "*" && r.sub == "*":
	case r.typ == "multipart" && (r.sub == "related" || r.sub == "*"):
		if c.single {
			return 0, "", false
		}
		spec = 2
		inner = normMedia(r.params["type"])
		want = strings.TrimSpace(r.params["transfer-syntax"])
		named = inner != "" && inner != "*/*"
	default:
		if !c.single {
			return 0, "", false
		}
		inner = normMedia(r.typ + "/" + r.sub)
		want = strings.TrimSpace(r.params["transfer-syntax"])
		named = true
		if r.sub == "*" {
			spec = 1
			named = false
			if r.typ != strings.SplitN(c.mediaType, "/", 2)[0] {
				return 0, "", false
			}
		} else {
			spec = 2
		}
	}
	if named {
		if inner != c.mediaType {
			return 0, "", false
		}
		spec++
	}
	switch {
	case want == "*":
		return spec, "", true
	case want == "":
		if !named {
			return spec, "", true // no type or syntax named: anything, as stored
		}
		// A media type without transfer-syntax stands for its default syntax (PS3.18
		// 8.7.3.5.2): Explicit VR Little Endian for octet-stream, Table 8.7.3-5 for images.
		if c.mediaType == mediaOctetStream {
			return spec, "", c.native
		}
		return spec, "", mediaDefaultTS[c.mediaType] == c.ts
	case want == c.ts:
		return spec + 1, "", true
	case c.native && (want == dicom.ExplicitVRLittleEndian || want == dicom.ImplicitVRLittleEndian):
		// Uncompressed little-endian pixels are the same bytes under either label.
		return spec + 1, want, true
	}
	return 0, "", false
}

// choosePixels picks among candidates for a client accepting ranges (RFC 9110 12.5.1:
// each candidate takes the q of the most specific range covering it; the highest q wins,
// ties go to the server's preference, which is the candidates' order).
func choosePixels(ranges []mediaRange, cands []pixelCandidate) (pixelChoice, bool) {
	best, bestQ := pixelChoice{}, 0.0
	for _, c := range cands {
		spec, q, label := -1, 0.0, ""
		for _, r := range ranges {
			s, l, ok := rangeAccepts(r, c)
			if !ok {
				continue
			}
			if s > spec || (s == spec && r.q > q) {
				spec, q, label = s, r.q, l
			}
		}
		if q > bestQ {
			best, bestQ = c.pixelChoice, q
			if label != "" {
				best.ts = label
			}
		}
	}
	return best, bestQ > 0
}

// negotiatePixels picks the representation of ir's frames.
func negotiatePixels(ranges []mediaRange, ir *instanceRecord, singleOK bool) (pixelChoice, error) {
	if choice, ok := choosePixels(ranges, pixelCandidates(ir, singleOK)); ok {
		return choice, nil
	}
	name := ir.TransferSyntax
	if info, ok := dicom.LookupTransferSyntax(name); ok {
		name = info.Name + " (" + name + ")"
	}
	if ir.Pixel.Encapsulated {
		m := frameMediaTypes[ir.TransferSyntax]
		if m == "" {
			m = mediaOctetStream
		}
		also := ""
		if decodableSyntaxes[ir.TransferSyntax] {
			also = ", or decoded as application/octet-stream; transfer-syntax=" + dicom.ExplicitVRLittleEndian
		}
		return pixelChoice{}, notAcceptable(`the frames are stored compressed as %s; `+
			`accept multipart/related; type="application/octet-stream"; transfer-syntax=* or type="%s"%s`, name, m, also)
	}
	if singleOK {
		return pixelChoice{}, notAcceptable(`uncompressed frames are offered as multipart/related; type="application/octet-stream" ` +
			`or application/octet-stream`)
	}
	return pixelChoice{}, notAcceptable(`uncompressed frames are offered as multipart/related; type="application/octet-stream"`)
}

// frames serves Retrieve Frames for GET and HEAD.
func (s *server) frames(c echo.Context) error {
	ctx := c.Request().Context()
	study, series, sop, err := pathUIDs(c)
	if err != nil {
		return s.publicError(c, "frames", err)
	}
	nums, err := parseFrameList(c.Param(paramFrames))
	if err != nil {
		return s.publicError(c, "frames", err)
	}
	rec, err := s.lookupInstance(ctx, study, series, sop)
	if err != nil {
		return s.publicError(c, "frames", err)
	}
	ir, err := s.meta.record(ctx, rec)
	if err != nil {
		return s.publicError(c, "frames", err)
	}
	if ir.Pixel == nil {
		return s.publicError(c, "frames", echo.NewHTTPError(http.StatusNotFound, "the instance has no pixel data, so no frames"))
	}
	pieces := make([][]fragment, len(nums))
	sizes := make([]int64, len(nums))
	for i, n := range nums {
		if pieces[i], sizes[i], err = ir.Pixel.Frame(n); err != nil {
			return s.publicError(c, "frames", frameError(err, n, ir))
		}
	}
	choice, err := negotiatePixels(acceptRanges(c), ir, len(nums) == 1)
	if err != nil {
		return s.publicError(c, "frames", err)
	}
	if choice.decode {
		return s.sendDecodedFrames(c, ir, choice, nums)
	}
	return s.sendPixels(c, ir, choice, pieces, sizes, framesETag(ir, nums))
}

// sendDecodedFrames sends frames of an encapsulated image decoded to native samples, one
// at a time (a multi-frame object is never held whole). Every frame has the size the header
// gives, so the response's length is known before the first frame is decoded; the first is
// decoded before the status goes out, so that a codec this server lacks is a 406.
func (s *server) sendDecodedFrames(c echo.Context, ir *instanceRecord, choice pixelChoice, nums []int) error {
	ctx := c.Request().Context()
	h, err := s.openImage(ctx, ir.SOPInstanceUID)
	if err != nil {
		return s.publicError(c, "frames", decodeError(err))
	}
	defer h.Close()
	if h.rec.SHA256 != ir.SHA256 {
		return s.publicError(c, "frames", fmt.Errorf("instance %s replaced while being read: %w", ir.SOPInstanceUID, store.ErrUnavailable))
	}
	size := decodedFrameSize(h.im.Info())
	etag := strings.TrimSuffix(framesETag(ir, nums), `"`) + "-" + dicom.ExplicitVRLittleEndian + `"`
	hd := c.Response().Header()
	if notModified(c, etag, cacheInstance) {
		return c.NoContent(http.StatusNotModified)
	}
	var (
		mw     *multipartWriter
		length = size
	)
	if !choice.single {
		boundary, err := newBoundary()
		if err != nil {
			return s.publicError(c, "frames", err)
		}
		mw = &multipartWriter{w: c.Response(), boundary: boundary}
		heads := make([]partHead, len(nums))
		for i := range heads {
			heads[i] = partHead{contentType: choice.contentType(), size: size}
		}
		length = mw.lengthOf(heads)
		hd.Set(echo.HeaderContentType, multipartType(choice.mediaType, boundary))
	} else {
		hd.Set(echo.HeaderContentType, choice.contentType())
	}
	if c.Request().Method == http.MethodHead {
		hd.Set(echo.HeaderContentLength, strconv.FormatInt(length, 10))
		return c.NoContent(http.StatusOK)
	}
	for i, n := range nums {
		df, err := s.decodeFrame(ctx, h.im, n-1, 0)
		var b []byte
		if err == nil {
			if b = frameBytes(df.fr); int64(len(b)) != size {
				err = fmt.Errorf("frame %d decoded to %d bytes, the header says %d: %w", n, len(b), size, pixel.ErrCorrupt)
			}
		}
		if err != nil {
			if i == 0 {
				hd.Del("ETag")
				hd.Del(echo.HeaderContentType)
				return s.publicError(c, "frames", decodeError(fmt.Errorf("instance %s: %w", ir.SOPInstanceUID, err)))
			}
			s.abort(ctx, "decode frame", ir.SOPInstanceUID, err)
		}
		if i == 0 {
			hd.Set(echo.HeaderContentLength, strconv.FormatInt(length, 10))
			c.Response().WriteHeader(http.StatusOK)
		}
		if mw == nil {
			_, err = c.Response().Write(b)
		} else {
			err = mw.writePart(ctx, partHead{contentType: choice.contentType(), size: size}, bytes.NewReader(b))
		}
		if err != nil {
			s.abort(ctx, "send frames", ir.SOPInstanceUID, err)
		}
	}
	if mw != nil {
		if err := mw.close(); err != nil {
			s.abort(ctx, "send frames", ir.SOPInstanceUID, err)
		}
	}
	return nil
}

// decodeError makes a decoder's refusal a 406: the client asked for decoded frames and
// this server cannot produce them, but the frames as stored are still offered.
func decodeError(err error) error {
	if errors.Is(err, pixel.ErrUnsupported) {
		return notAcceptable(`this server cannot decode these frames; accept multipart/related; type="application/octet-stream"; transfer-syntax=*`)
	}
	return err
}

// framesETag is the validator of a frames response: the object's content hash and the
// frames asked for (weak: the multipart boundary differs between responses).
func framesETag(ir *instanceRecord, nums []int) string {
	var b strings.Builder
	for i, n := range nums {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(n))
	}
	list := b.String()
	if len(list) > 64 {
		sum := sha256.Sum256([]byte(list))
		list = hex.EncodeToString(sum[:8])
	}
	return `W/"` + ir.SHA256[:32] + "-f" + list + `"`
}

// frameError turns a layout error into the client's answer.
func frameError(err error, n int, ir *instanceRecord) error {
	switch {
	case errors.Is(err, errFrameRange):
		return echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("frame %d does not exist: the instance has %d frame(s)", n, ir.Pixel.Frames))
	case errors.Is(err, errNoFrames):
		msg := "this server cannot separate the frames of this instance"
		if ir.Pixel.Problem != "" {
			msg += " (" + ir.Pixel.Problem + ")"
		}
		return echo.NewHTTPError(http.StatusNotImplemented, msg+"; retrieve the whole instance instead")
	}
	return err
}

// sendPixels writes frames (or a pixel bulk value): each entry of pieces is one part, read
// from the listed fragments of the stored object in order.
func (s *server) sendPixels(c echo.Context, ir *instanceRecord, choice pixelChoice, pieces [][]fragment, sizes []int64, etag string) error {
	h := c.Response().Header()
	if notModified(c, etag, cacheInstance) {
		return c.NoContent(http.StatusNotModified)
	}
	var (
		mw     *multipartWriter
		length int64
	)
	if choice.single {
		h.Set(echo.HeaderContentType, choice.contentType())
		length = sizes[0]
	} else {
		boundary, err := newBoundary()
		if err != nil {
			return s.publicError(c, "pixels", err)
		}
		mw = &multipartWriter{w: c.Response(), boundary: boundary}
		heads := make([]partHead, len(sizes))
		for i := range sizes {
			heads[i] = partHead{contentType: choice.contentType(), size: sizes[i]}
		}
		length = mw.lengthOf(heads)
		h.Set(echo.HeaderContentType, multipartType(choice.mediaType, boundary))
	}
	if c.Request().Method == http.MethodHead {
		h.Set(echo.HeaderContentLength, strconv.FormatInt(length, 10))
		return c.NoContent(http.StatusOK)
	}
	ctx := c.Request().Context()
	src, err := s.openPixels(ctx, ir)
	if err != nil {
		return s.publicError(c, "pixels", err)
	}
	defer src.Close()
	h.Set(echo.HeaderContentLength, strconv.FormatInt(length, 10))
	c.Response().WriteHeader(http.StatusOK)
	for i, frs := range pieces {
		r, err := src.reader(frs)
		if err == nil {
			if mw == nil {
				_, err = io.CopyBuffer(c.Response(), io.LimitReader(store.ContextReader(ctx, r), sizes[i]), make([]byte, copyBufferSize))
			} else {
				err = mw.writePart(ctx, partHead{contentType: choice.contentType(), size: sizes[i]}, r)
			}
		}
		if err != nil {
			s.abort(ctx, "send pixels", ir.SOPInstanceUID, err)
		}
	}
	if mw != nil {
		if err := mw.close(); err != nil {
			s.abort(ctx, "send pixels", ir.SOPInstanceUID, err)
		}
	}
	return nil
}

// pixelSource reads values of one stored object version.
type pixelSource struct {
	rc io.ReadSeekCloser
	ir *instanceRecord
}

// openPixels opens the object ir describes. A record of another version (the instance was
// replaced after the record was read) is refused as unavailable for this request; the
// next one builds the new record.
func (s *server) openPixels(ctx context.Context, ir *instanceRecord) (*pixelSource, error) {
	got, rc, err := s.archive.Open(ctx, ir.SOPInstanceUID)
	if err != nil {
		return nil, fmt.Errorf("open instance %s: %w", ir.SOPInstanceUID, err)
	}
	if got.SHA256 != ir.SHA256 {
		rc.Close()
		return nil, fmt.Errorf("instance %s replaced while being read: %w", ir.SOPInstanceUID, store.ErrUnavailable)
	}
	return &pixelSource{rc: rc, ir: ir}, nil
}

func (p *pixelSource) Close() error { return p.rc.Close() }

// reader returns the bytes of the given fragments, in order, in little-endian byte order.
func (p *pixelSource) reader(frs []fragment) (io.Reader, error) {
	unit := 1
	if p.ir.Pixel != nil {
		unit = swapUnit(p.ir.Pixel.VR)
	}
	readers := make([]io.Reader, 0, len(frs))
	for _, f := range frs {
		r, err := p.section(f, unit)
		if err != nil {
			return nil, err
		}
		readers = append(readers, r)
	}
	if len(readers) == 1 {
		return readers[0], nil
	}
	return io.MultiReader(readers...), nil
}

// section returns one value: a range of the object, or of the inflated data set, swapped
// to little endian in words of unit bytes for a big-endian syntax. f must start on a word
// boundary of the value. Readers of several sections are consumed one after the other, so
// each seeks when it is first read.
func (p *pixelSource) section(f fragment, unit int) (io.Reader, error) {
	if p.ir.Deflated {
		return &lazyReader{open: func() (io.Reader, error) { return p.inflated(f) }}, nil
	}
	var r io.Reader = &lazyReader{open: func() (io.Reader, error) {
		if _, err := p.rc.Seek(f.Offset, io.SeekStart); err != nil {
			return nil, err
		}
		return io.LimitReader(p.rc, f.Length), nil
	}}
	if p.ir.BigEndian && unit > 1 {
		r = newSwapReader(r, unit)
	}
	return r, nil
}

// inflated reads f from the deflated data set (PS3.5 A.5): inflate from the start and
// skip to the value. Deflated objects are rare and small; there is no index into them.
func (p *pixelSource) inflated(f fragment) (io.Reader, error) {
	if _, err := p.rc.Seek(p.ir.DatasetOffset, io.SeekStart); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(p.rc, 32<<10)
	var zr io.Reader
	if b, _ := br.Peek(2); len(b) == 2 && b[0]&0x0f == 8 && b[0]>>4 <= 7 && (uint16(b[0])<<8|uint16(b[1]))%31 == 0 {
		// Some writers wrap the deflate stream in a zlib header (RFC 1950).
		z, err := zlib.NewReader(br)
		if err != nil {
			return nil, err
		}
		zr = z
	} else {
		zr = flate.NewReader(br)
	}
	if _, err := io.CopyN(io.Discard, zr, f.Offset); err != nil {
		return nil, fmt.Errorf("inflate to offset %d: %w", f.Offset, err)
	}
	return io.LimitReader(zr, f.Length), nil
}

// lazyReader opens its source on first read.
type lazyReader struct {
	open func() (io.Reader, error)
	r    io.Reader
}

func (l *lazyReader) Read(b []byte) (int, error) {
	if l.r == nil {
		r, err := l.open()
		if err != nil {
			return 0, err
		}
		l.r = r
	}
	return l.r.Read(b)
}

// swapUnit is the byte-swapping unit of a VR's values (PS3.5 7.3).
func swapUnit(vr string) int {
	switch vr {
	case "OW", "US", "SS", "AT":
		return 2
	case "OF", "OL", "FL", "UL", "SL":
		return 4
	case "OD", "OV", "FD", "UV", "SV":
		return 8
	}
	return 1
}

// swapReader reverses the bytes of each unit-sized word of r: big endian to little.
type swapReader struct {
	r    io.Reader
	unit int
	buf  []byte
	out  []byte
	err  error
}

func newSwapReader(r io.Reader, unit int) *swapReader {
	return &swapReader{r: r, unit: unit, buf: make([]byte, 32<<10)}
}

func (s *swapReader) Read(p []byte) (int, error) {
	if len(s.out) == 0 {
		if s.err != nil {
			return 0, s.err
		}
		n, err := io.ReadFull(s.r, s.buf)
		switch err {
		case nil:
		case io.ErrUnexpectedEOF, io.EOF:
			s.err = io.EOF
		default:
			s.err = err
		}
		for i := 0; i+s.unit <= n; i += s.unit {
			w := s.buf[i : i+s.unit]
			for a, b := 0, len(w)-1; a < b; a, b = a+1, b-1 {
				w[a], w[b] = w[b], w[a]
			}
		}
		s.out = s.buf[:n]
		if n == 0 {
			return 0, s.err
		}
	}
	n := copy(p, s.out)
	s.out = s.out[n:]
	return n, nil
}
