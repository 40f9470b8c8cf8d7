package dicomweb

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"pacsd/store"
)

// WADO-RS bulk data, PS3.18 10.4.1.1.5 (Retrieve Bulkdata) and 8.7.3.3: the value a
// BulkDataURI in metadata points at, served from the stored object. The URI's path after
// "bulkdata/" names the value: tags from the top level down, with 1-based item numbers in
// between ("7FE00010", "00540016/1/00181072"). Uncompressed values are sent little endian
// (swapped from a big-endian object) as application/octet-stream; encapsulated Pixel Data
// as its frames (frames.go); an Encapsulated Document (0042,0011) may also be asked for
// in its own MIME type (0042,0012), e.g. application/pdf, so a browser can open it.
//
// A Range header (RFC 9110 14.2, one byte range) selects part of the value, as PS3.18
// provides for Retrieve Bulkdata ("only the specified bytes of the bulk data"): a single-part response is then 206 Partial Content with a
// Content-Range; in a multipart response the part carries the Content-Range and the
// response stays 200, since Content-Range of the whole response would describe the
// multipart body rather than the value.

// Bounds on a bulk data path.
const (
	maxBulkPath     = 512
	maxBulkSegments = 33 // 16 nesting levels of tag/item plus the value's tag
)

// parseBulkPath normalises a bulk data path: eight hex digits per tag, positive item
// numbers between them.
func parseBulkPath(raw string) (string, error) {
	raw = strings.Trim(raw, "/")
	bad := badRequest("bulk data path %q: want tags (8 hex digits) separated by item numbers, e.g. 7FE00010 or 00540016/1/00181072", short(raw))
	if raw == "" || len(raw) > maxBulkPath {
		return "", bad
	}
	segs := strings.Split(raw, "/")
	if len(segs) > maxBulkSegments || len(segs)%2 == 0 {
		return "", bad
	}
	for i, seg := range segs {
		if i%2 == 0 {
			if len(seg) != 8 {
				return "", bad
			}
			if _, err := strconv.ParseUint(seg, 16, 32); err != nil {
				return "", bad
			}
			segs[i] = strings.ToUpper(seg)
			continue
		}
		if n, err := strconv.Atoi(seg); err != nil || n < 1 || strconv.Itoa(n) != seg {
			return "", bad
		}
	}
	return strings.Join(segs, "/"), nil
}

// bulkdata serves Retrieve Bulkdata for GET and HEAD.
func (s *server) bulkdata(c echo.Context) error {
	ctx := c.Request().Context()
	study, series, sop, err := pathUIDs(c)
	if err != nil {
		return s.publicError(c, "bulkdata", err)
	}
	path, err := parseBulkPath(c.Param("*"))
	if err != nil {
		return s.publicError(c, "bulkdata", err)
	}
	rec, err := s.lookupInstance(ctx, study, series, sop)
	if err != nil {
		return s.publicError(c, "bulkdata", err)
	}
	ir, err := s.meta.record(ctx, rec)
	if err != nil {
		return s.publicError(c, "bulkdata", err)
	}
	ranges := acceptRanges(c)

	if ir.Pixel != nil && ir.Pixel.Encapsulated && path == ir.Pixel.Tag.Hex() {
		// Compressed pixel data has no single byte stream a client could use: it is the
		// frames, each a codestream, in one multipart response (PS3.18 8.7.3.3.2).
		nums := make([]int, ir.Pixel.Frames)
		pieces := make([][]fragment, len(nums))
		sizes := make([]int64, len(nums))
		for i := range nums {
			nums[i] = i + 1
			if pieces[i], sizes[i], err = ir.Pixel.Frame(i + 1); err != nil {
				return s.publicError(c, "bulkdata", frameError(err, i+1, ir))
			}
		}
		if len(nums) == 0 {
			return s.publicError(c, "bulkdata", frameError(errNoFrames, 1, ir))
		}
		choice, err := negotiatePixels(ranges, ir, len(nums) == 1)
		if err != nil {
			return s.publicError(c, "bulkdata", err)
		}
		return s.sendPixels(c, ir, choice, pieces, sizes, `W/"`+ir.SHA256[:32]+"-b"+path+`"`)
	}

	ref, ok := ir.Bulk[path]
	if !ok || ref.Length < 0 {
		return s.publicError(c, "bulkdata", echo.NewHTTPError(http.StatusNotFound, "no bulk data at this path of the instance"))
	}
	cands := []pixelCandidate{
		{pixelChoice{mediaType: mediaOctetStream}, true},
		{pixelChoice{mediaType: mediaOctetStream, single: true}, true},
	}
	if path == "00420011" {
		if mt := documentMIMEType(ir); mt != "" {
			cands = append(cands,
				pixelCandidate{pixelChoice{mediaType: mt}, false},
				pixelCandidate{pixelChoice{mediaType: mt, single: true}, false})
		}
	}
	choice, ok := choosePixels(ranges, cands)
	if !ok {
		return s.publicError(c, "bulkdata", notAcceptable(`bulk data is offered as multipart/related; type="application/octet-stream" or application/octet-stream`))
	}
	return s.sendBulk(c, ir, ref, path, choice)
}

// documentMIMEType returns MIME Type of Encapsulated Document (0042,0012) from ir's
// metadata, when it is a plain media type.
func documentMIMEType(ir *instanceRecord) string {
	var ds map[string]struct {
		Value []any `json:"Value"`
	}
	if err := json.Unmarshal(ir.Metadata, &ds); err != nil {
		return ""
	}
	a, ok := ds["00420012"]
	if !ok || len(a.Value) == 0 {
		return ""
	}
	mt, _ := a.Value[0].(string)
	mt = strings.ToLower(strings.TrimSpace(mt))
	typ, sub, ok := strings.Cut(mt, "/")
	if !ok || !isToken(typ) || !isToken(sub) {
		return ""
	}
	return mt
}

// byteRange is one satisfiable range of a value of size bytes: [start, end).
type byteRange struct{ start, end int64 }

// parseRange reads a Range field for a value of size bytes. It returns nil when the whole
// value is to be sent (no Range, an If-Range that does not match etag, a unit other than
// bytes, or several ranges, which a server may ignore: RFC 9110 14.2), and an error for
// a range that cannot be satisfied (416).
func parseRange(r *http.Request, size int64, etag string) (*byteRange, error) {
	field := strings.TrimSpace(r.Header.Get("Range"))
	if field == "" {
		return nil, nil
	}
	if ir := strings.TrimSpace(r.Header.Get("If-Range")); ir != "" && ir != etag {
		return nil, nil
	}
	spec, ok := strings.CutPrefix(field, "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return nil, nil
	}
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return nil, nil
	}
	unsatisfiable := echo.NewHTTPError(http.StatusRequestedRangeNotSatisfiable, fmt.Sprintf("the range is outside the value's %d bytes", size))
	if first == "" {
		// A suffix: the last n bytes.
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n < 0 {
			return nil, nil
		}
		if n == 0 || size == 0 {
			return nil, unsatisfiable
		}
		return &byteRange{start: max(0, size-n), end: size}, nil
	}
	a, err := strconv.ParseInt(first, 10, 64)
	if err != nil || a < 0 {
		return nil, nil
	}
	b := size - 1
	if last != "" {
		if b, err = strconv.ParseInt(last, 10, 64); err != nil || b < a {
			return nil, nil
		}
	}
	if a >= size {
		return nil, unsatisfiable
	}
	return &byteRange{start: a, end: min(b+1, size)}, nil
}

// sendBulk sends one bulk value (or the requested range of it).
func (s *server) sendBulk(c echo.Context, ir *instanceRecord, ref bulkRef, path string, choice pixelChoice) error {
	h := c.Response().Header()
	tagPath := strings.ReplaceAll(path, "/", ".")
	// The single-part bytes are exactly the value: a strong validator, usable with
	// If-Range. A multipart body differs by its boundary: weak.
	etag := `"` + ir.SHA256[:32] + "-" + tagPath + `"`
	if !choice.single {
		etag = "W/" + etag
	}
	h.Set("Accept-Ranges", "bytes")
	if notModified(c, etag, cacheInstance) {
		return c.NoContent(http.StatusNotModified)
	}
	rng, err := parseRange(c.Request(), ref.Length, etag)
	if err != nil {
		h.Set("Content-Range", "bytes */"+strconv.FormatInt(ref.Length, 10))
		return s.publicError(c, "bulkdata", err)
	}
	start, end := int64(0), ref.Length
	contentRange := ""
	if rng != nil {
		start, end = rng.start, rng.end
		contentRange = fmt.Sprintf("bytes %d-%d/%d", start, end-1, ref.Length)
	}
	size := end - start

	status := http.StatusOK
	var mw *multipartWriter
	var length int64
	if choice.single {
		h.Set(echo.HeaderContentType, choice.contentType())
		length = size
		if rng != nil {
			status = http.StatusPartialContent
			h.Set("Content-Range", contentRange)
		}
	} else {
		boundary, err := newBoundary()
		if err != nil {
			return s.publicError(c, "bulkdata", err)
		}
		mw = &multipartWriter{w: c.Response(), boundary: boundary}
		length = mw.lengthOf([]partHead{{contentType: choice.contentType(), contentRange: contentRange, size: size}})
		h.Set(echo.HeaderContentType, multipartType(choice.mediaType, boundary))
	}
	h.Set(echo.HeaderContentLength, strconv.FormatInt(length, 10))
	if c.Request().Method == http.MethodHead {
		c.Response().WriteHeader(status)
		return nil
	}
	ctx := c.Request().Context()
	src, err := s.openPixels(ctx, ir)
	if err != nil {
		h.Del(echo.HeaderContentLength)
		h.Del("Content-Range")
		return s.publicError(c, "bulkdata", err)
	}
	defer src.Close()

	// Swapped values are read from the start of the word that holds the first byte asked
	// for (PS3.5 7.3), then the bytes before it are dropped.
	unit := int64(swapUnit(ref.VR))
	if !ir.BigEndian {
		unit = 1
	}
	aligned := start - start%unit
	r, err := src.section(fragment{Offset: ref.Offset + aligned, Length: end - aligned + (unit-(end-aligned)%unit)%unit}, int(unit))
	if err != nil {
		return s.publicError(c, "bulkdata", err)
	}
	c.Response().WriteHeader(status)
	if _, err := io.CopyN(io.Discard, r, start-aligned); err != nil {
		s.abort(ctx, "send bulk data", ir.SOPInstanceUID, err)
	}
	if mw == nil {
		_, err = io.CopyBuffer(c.Response(), io.LimitReader(store.ContextReader(ctx, r), size), make([]byte, copyBufferSize))
	} else {
		err = mw.writePart(ctx, partHead{contentType: choice.contentType(), contentRange: contentRange, size: size}, r)
		if err == nil {
			err = mw.close()
		}
	}
	if err != nil {
		s.abort(ctx, "send bulk data", ir.SOPInstanceUID, err)
	}
	return nil
}
