package dicomweb

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"pacsd/dicom/pixel"
	"pacsd/store"
)

// WADO-RS, PS3.18 10.4: retrieve a study, a series or one instance as
// multipart/related; type="application/dicom" (PS3.18 8.7.3.3.2, 8.7.3.5), one part per
// instance, each the stored Part-10 object byte for byte or transcoded to Explicit VR
// Little Endian (transcode.go decides which).

// Cache lifetimes. Responses carry PHI, so only the client may cache them ("private").
// One instance is revalidated with its ETag after an hour (an object re-sent under the same
// UID gets a new hash); a study or series gains instances while a modality is still
// sending, so it is not reused without asking again.
const (
	cacheInstance   = "private, max-age=3600"
	cacheCollection = "private, max-age=0"
)

// copyBufferSize is the buffer one transfer streams through: a whole instance or study is
// never held in memory.
const copyBufferSize = 64 << 10

// retrieve serves the three WADO-RS instance resources for GET and HEAD.
func (s *server) retrieve(c echo.Context) error {
	study, err := pathUID(c, paramStudy)
	if err != nil {
		return s.publicError(c, "retrieve", err)
	}
	var series, instance string
	if c.Param(paramSeries) != "" {
		if series, err = pathUID(c, paramSeries); err != nil {
			return s.publicError(c, "retrieve", err)
		}
	}
	if c.Param(paramInstance) != "" {
		if instance, err = pathUID(c, paramInstance); err != nil {
			return s.publicError(c, "retrieve", err)
		}
	}
	// PS3.18 8.3.3.1: the accept query parameter, when present, replaces the Accept field.
	accept := c.QueryParam(qpAccept)
	if accept == "" {
		accept = acceptField(c.Request().Header.Values(echo.HeaderAccept))
	}
	ranges := parseAccept(accept)
	if strings.TrimSpace(accept) == "" {
		ranges = []mediaRange{{typ: "*", sub: "*", q: 1}}
	}

	if instance != "" {
		return s.retrieveInstance(c, ranges, study, series, instance)
	}
	ctx := c.Request().Context()
	list, err := s.archive.Index().Instances(ctx, study, series)
	if err == nil && len(list) == 0 {
		err = fmt.Errorf("list instances of %s/%s: %w", study, series, store.ErrNotFound)
	}
	if err != nil {
		return s.publicError(c, "retrieve", err)
	}
	// Every instance must be sendable before the status goes out (PS3.18 8.7.8.2: each
	// part's transfer syntax is selected on its own).
	for _, inst := range list {
		if _, err := planInstance(ranges, inst); err != nil {
			return s.publicError(c, "retrieve", err)
		}
	}
	boundary, err := newBoundary()
	if err != nil {
		return s.publicError(c, "retrieve", err)
	}
	if c.Request().Method == http.MethodHead {
		setCollectionHeaders(c.Response().Header(), boundary)
		return c.NoContent(http.StatusOK)
	}

	// The first object is opened before the status goes out, so that the common failures
	// (storage down, object gone) still get an honest status line and a plain error body.
	p, err := s.openPart(ctx, ranges, list[0].SOPInstanceUID)
	if err != nil {
		return s.publicError(c, "retrieve", err)
	}
	setCollectionHeaders(c.Response().Header(), boundary)
	c.Response().WriteHeader(http.StatusOK)
	mw := &multipartWriter{w: c.Response(), boundary: boundary}
	transcoded := 0
	for i, inst := range list {
		if i > 0 {
			if p, err = s.openPart(ctx, ranges, inst.SOPInstanceUID); err != nil {
				s.abort(ctx, "open", inst.SOPInstanceUID, err)
			}
		}
		err := s.sendInstancePart(ctx, mw, p)
		p.rc.Close()
		if err != nil {
			s.abort(ctx, "send", inst.SOPInstanceUID, err)
		}
		if p.sent.transcode {
			transcoded++
		}
		// Each finished part goes out now: a viewer can start on it, and should a later
		// part fail, everything before it has arrived whole.
		_ = http.NewResponseController(c.Response().Writer).Flush()
	}
	if err := mw.close(); err != nil {
		s.abort(ctx, "send", "", err)
	}
	s.log.Debug("wado-rs", "study", study, "series", series, "instances", len(list), "transcoded", transcoded)
	return nil
}

// retrieveInstance serves one instance. As stored, it can promise a Content-Length; a
// transcoded instance is streamed as it is produced, without one.
func (s *server) retrieveInstance(c echo.Context, ranges []mediaRange, study, series, uid string) error {
	ctx := c.Request().Context()
	rec, err := s.lookupInstance(ctx, study, series, uid)
	if err != nil {
		return s.publicError(c, "retrieve", err)
	}
	plan, err := planInstance(ranges, rec)
	if err != nil {
		return s.publicError(c, "retrieve", err)
	}
	// RFC 9110 13.1.2: If-None-Match uses the weak comparison.
	if etag := instanceETag(rec, plan); etag != "" && etagMatches(c.Request().Header.Get("If-None-Match"), etag) {
		setInstanceHeaders(c.Response().Header(), rec, plan)
		return c.NoContent(http.StatusNotModified)
	}
	boundary, err := newBoundary()
	if err != nil {
		return s.publicError(c, "retrieve", err)
	}
	mw := &multipartWriter{w: c.Response(), boundary: boundary}
	h := c.Response().Header()
	if c.Request().Method == http.MethodHead {
		setInstanceHeaders(h, rec, plan)
		h.Set(echo.HeaderContentType, multipartMedia(boundary))
		if !plan.transcode {
			h.Set(echo.HeaderContentLength, strconv.FormatInt(mw.lengthOf([]partHead{instancePart(rec)}), 10))
		}
		return c.NoContent(http.StatusOK)
	}
	// What Open returns is what is sent, and what the headers describe.
	p, err := s.openPart(ctx, ranges, uid)
	if err != nil {
		return s.publicError(c, "retrieve", err)
	}
	defer p.rc.Close()
	if p.plan.transcode {
		// The headers describe what is actually sent, settled by the first byte written.
		c.Response().Before(func() {
			if !p.writing {
				return // an error response
			}
			setInstanceHeaders(h, p.rec, p.sent)
			h.Set(echo.HeaderContentType, multipartMedia(boundary))
		})
		err := s.sendInstancePart(ctx, mw, p)
		switch {
		case err != nil && !c.Response().Committed:
			// Nothing went out: the client gets a status that says why.
			if errors.Is(err, pixel.ErrUnsupported) {
				err = notAcceptable(`the instance cannot be sent in Explicit VR Little Endian: this server cannot decode its pixel data; ` +
					`accept multipart/related; type="application/dicom"; transfer-syntax=*`)
			}
			return s.publicError(c, "retrieve", err)
		case err != nil:
			s.abort(ctx, "send", uid, err)
		}
		if err := mw.close(); err != nil {
			s.abort(ctx, "send", uid, err)
		}
		return nil
	}
	setInstanceHeaders(h, p.rec, p.plan)
	h.Set(echo.HeaderContentType, multipartMedia(boundary))
	h.Set(echo.HeaderContentLength, strconv.FormatInt(mw.lengthOf([]partHead{instancePart(p.rec)}), 10))
	c.Response().WriteHeader(http.StatusOK)
	if err := mw.writePart(ctx, instancePart(p.rec), p.rc); err != nil {
		s.abort(ctx, "send", uid, err)
	}
	if err := mw.close(); err != nil {
		s.abort(ctx, "send", uid, err)
	}
	return nil
}

// setCollectionHeaders describes a study or series response. They are set only once the
// response is certain to succeed, so that an error body never goes out under them.
func setCollectionHeaders(h http.Header, boundary string) {
	h.Set(echo.HeaderContentType, multipartMedia(boundary))
	h.Set(echo.HeaderCacheControl, cacheCollection)
	h.Add(echo.HeaderVary, echo.HeaderAccept)
	h.Set(echo.HeaderXContentTypeOptions, "nosniff")
}

// setInstanceHeaders sets the validator and caching headers of a single-instance response
// (and of its 304).
func setInstanceHeaders(h http.Header, rec *store.Instance, plan tsPlan) {
	if etag := instanceETag(rec, plan); etag != "" {
		h.Set("ETag", etag)
	}
	h.Set(echo.HeaderCacheControl, cacheInstance)
	h.Add(echo.HeaderVary, echo.HeaderAccept)
	h.Set(echo.HeaderXContentTypeOptions, "nosniff")
}

// instanceETag is the validator of a single-instance response: the content hash, and for
// a transcoded representation the syntax it was transcoded to (the same object, other
// bytes).
func instanceETag(rec *store.Instance, plan tsPlan) string {
	etag := weakETag(rec.SHA256)
	if etag != "" && plan.transcode {
		etag = strings.TrimSuffix(etag, `"`) + "-" + plan.target() + `"`
	}
	return etag
}

// outPart is one instance opened for sending, how it is to be sent, and (once writing
// starts) how it is actually sent.
type outPart struct {
	rec  *store.Instance
	rc   io.ReadSeekCloser
	plan tsPlan
	sent tsPlan
	// writing is set once sent is settled and the part's first byte is about to go out.
	writing bool
}

// openPart opens one instance for sending and checks what a.Open returned: it is still
// acceptable (it may have been replaced since it was listed; the plan is made again for
// what was opened) and the blob is as long as the index says, which a Content-Length is
// about to promise.
func (s *server) openPart(ctx context.Context, ranges []mediaRange, uid string) (*outPart, error) {
	rec, rc, err := s.archive.Open(ctx, uid)
	if err != nil {
		return nil, fmt.Errorf("open instance %s: %w", uid, err)
	}
	plan, err := planInstance(ranges, rec)
	if err != nil {
		rc.Close()
		return nil, err
	}
	size, err := rc.Seek(0, io.SeekEnd)
	if err == nil {
		_, err = rc.Seek(0, io.SeekStart)
	}
	if err == nil && size != rec.Size {
		err = fmt.Errorf("blob %s is %d bytes, index says %d", rec.BlobKey, size, rec.Size)
	}
	if err != nil {
		rc.Close()
		return nil, fmt.Errorf("open instance %s: %w", uid, err)
	}
	return &outPart{rec: rec, rc: rc, plan: plan}, nil
}

// sendInstancePart writes one instance as the next part of mw, as stored or transcoded to
// Explicit VR Little Endian (PS3.18 8.7.3.5.2: the part names its transfer syntax). The
// transcoded object is written as it is produced, a frame at a time; its part header goes
// out with its first byte, so an object that turns out not to be decodable can still be sent
// as stored when the plan allows. p.sent says which was written, from the first byte on.
func (s *server) sendInstancePart(ctx context.Context, mw *multipartWriter, p *outPart) error {
	if p.plan.transcode {
		h, err := s.handleFor(ctx, p.rec, p.rc)
		if err == nil {
			head := partHead{contentType: mediaDicom + "; transfer-syntax=" + p.plan.target(), size: -1}
			sw := &startWriter{w: mw.w, start: func() error {
				p.sent, p.writing = p.plan, true
				return mw.beginPart(head)
			}}
			if err = transcodeTo(ctx, sw, h, p.plan); err == nil {
				return mw.endPart()
			}
			if !p.plan.fallback || !transcodeFailed(sw, err) {
				return err
			}
		} else if !p.plan.fallback {
			return err
		}
		s.log.Debug("wado-rs: cannot transcode; sending as stored", "sop_instance_uid", p.rec.SOPInstanceUID, "err", err)
		if _, err := p.rc.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("instance %s: %w", p.rec.SOPInstanceUID, err)
		}
	}
	p.sent, p.writing = tsPlan{}, true
	return mw.writePart(ctx, instancePart(p.rec), p.rc)
}

// abort ends a response whose status is already sent. Leaving the multipart body without
// its close delimiter and the connection without its final chunk makes every client see a
// failed transfer, rather than a study that silently lacks instances.
func (s *server) abort(ctx context.Context, op, uid string, err error) {
	if ctx.Err() != nil {
		s.log.Debug("wado-rs client went away", "op", op, "sop_instance_uid", uid, "err", err)
	} else {
		s.log.Error("wado-rs transfer aborted", "op", op, "sop_instance_uid", uid, "err", err)
	}
	panic(http.ErrAbortHandler)
}

// weakETag builds the validator of an instance response from its SHA-256. It is weak
// (RFC 9110 8.8.1) because the multipart boundary differs between responses: the bytes
// differ, the content does not. "" when the digest is not the hex a header may carry.
func weakETag(sha string) string {
	if len(sha) != 64 {
		return ""
	}
	if _, err := hex.DecodeString(sha); err != nil {
		return ""
	}
	return `W/"` + strings.ToLower(sha) + `"`
}

// notModified sets the validator and caching headers of a resource's response (its ETag,
// Cache-Control, Vary: Accept, nosniff) and reports whether the client's copy is current,
// to be answered 304.
func notModified(c echo.Context, etag, cacheControl string) bool {
	h := c.Response().Header()
	h.Set("ETag", etag)
	h.Set(echo.HeaderCacheControl, cacheControl)
	h.Add(echo.HeaderVary, echo.HeaderAccept)
	h.Set(echo.HeaderXContentTypeOptions, "nosniff")
	return etagMatches(c.Request().Header.Get("If-None-Match"), etag)
}

// etagMatches implements If-None-Match's weak comparison (RFC 9110 13.1.2) of the
// field against etag.
func etagMatches(field, etag string) bool {
	field = strings.TrimSpace(field)
	if field == "" {
		return false
	}
	if field == "*" {
		return true
	}
	opaque := strings.TrimPrefix(etag, "W/")
	for _, t := range splitQuoted(field, ',') {
		if strings.TrimPrefix(strings.TrimSpace(t), "W/") == opaque {
			return true
		}
	}
	return false
}
