package dicomweb

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"pacsd/dicom"
	"pacsd/store"
)

// WADO-RS, PS3.18 10.4: retrieve a study, a series or one instance as
// multipart/related; type="application/dicom" (PS3.18 8.7.3.3.2, 8.7.3.5), one part per
// instance, each the stored Part-10 object byte for byte.

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
	for _, inst := range list {
		if err := negotiateInstance(ranges, inst.TransferSyntaxUID); err != nil {
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
	rec, rc, err := s.openPart(ctx, ranges, list[0].SOPInstanceUID)
	if err != nil {
		return s.publicError(c, "retrieve", err)
	}
	setCollectionHeaders(c.Response().Header(), boundary)
	c.Response().WriteHeader(http.StatusOK)
	mw := &multipartWriter{w: c.Response(), boundary: boundary}
	for i, inst := range list {
		if i > 0 {
			if rec, rc, err = s.openPart(ctx, ranges, inst.SOPInstanceUID); err != nil {
				s.abort(ctx, "open", inst.SOPInstanceUID, err)
			}
		}
		err = mw.writePart(ctx, instancePart(rec), rc)
		rc.Close()
		if err != nil {
			s.abort(ctx, "send", inst.SOPInstanceUID, err)
		}
		// Each finished part goes out now: a viewer can start on it, and should a later
		// part fail, everything before it has arrived whole.
		_ = http.NewResponseController(c.Response().Writer).Flush()
	}
	if err := mw.close(); err != nil {
		s.abort(ctx, "send", "", err)
	}
	s.log.Debug("wado-rs", "study", study, "series", series, "instances", len(list))
	return nil
}

// retrieveInstance serves one instance: it can promise a Content-Length and an ETag.
func (s *server) retrieveInstance(c echo.Context, ranges []mediaRange, study, series, uid string) error {
	ctx := c.Request().Context()
	rec, err := s.archive.Index().Instance(ctx, uid)
	if err == nil && (rec.StudyInstanceUID != study || rec.SeriesInstanceUID != series) {
		// The instance exists, but not at this URL.
		err = fmt.Errorf("instance %s is in %s/%s: %w", uid, rec.StudyInstanceUID, rec.SeriesInstanceUID, store.ErrNotFound)
	}
	if err != nil {
		return s.publicError(c, "retrieve", err)
	}
	if err := negotiateInstance(ranges, rec.TransferSyntaxUID); err != nil {
		return s.publicError(c, "retrieve", err)
	}
	// RFC 9110 13.1.2: If-None-Match uses the weak comparison.
	if etag := weakETag(rec.SHA256); etag != "" && etagMatches(c.Request().Header.Get("If-None-Match"), etag) {
		setInstanceHeaders(c.Response().Header(), rec)
		return c.NoContent(http.StatusNotModified)
	}

	var rc io.ReadSeekCloser
	if c.Request().Method != http.MethodHead {
		// What Open returns is what is sent, and what the headers describe.
		if rec, rc, err = s.openPart(ctx, ranges, uid); err != nil {
			return s.publicError(c, "retrieve", err)
		}
		defer rc.Close()
	}
	boundary, err := newBoundary()
	if err != nil {
		return s.publicError(c, "retrieve", err)
	}
	mw := &multipartWriter{w: c.Response(), boundary: boundary}
	h := c.Response().Header()
	setInstanceHeaders(h, rec)
	h.Set(echo.HeaderContentType, multipartMedia(boundary))
	h.Set(echo.HeaderContentLength, strconv.FormatInt(mw.lengthOf([]partHead{instancePart(rec)}), 10))
	if rc == nil {
		return c.NoContent(http.StatusOK)
	}
	c.Response().WriteHeader(http.StatusOK)
	if err := mw.writePart(ctx, instancePart(rec), rc); err != nil {
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
func setInstanceHeaders(h http.Header, rec *store.Instance) {
	if etag := weakETag(rec.SHA256); etag != "" {
		h.Set("ETag", etag)
	}
	h.Set(echo.HeaderCacheControl, cacheInstance)
	h.Add(echo.HeaderVary, echo.HeaderAccept)
	h.Set(echo.HeaderXContentTypeOptions, "nosniff")
}

// openPart opens one instance for sending and checks what a.Open returned: it is still
// acceptable (it may have been replaced since it was listed) and the blob is as long as
// the index says, which a Content-Length is about to promise.
func (s *server) openPart(ctx context.Context, ranges []mediaRange, uid string) (*store.Instance, io.ReadSeekCloser, error) {
	rec, rc, err := s.archive.Open(ctx, uid)
	if err != nil {
		return nil, nil, fmt.Errorf("open instance %s: %w", uid, err)
	}
	if err := negotiateInstance(ranges, rec.TransferSyntaxUID); err != nil {
		rc.Close()
		return nil, nil, err
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
		return nil, nil, fmt.Errorf("open instance %s: %w", uid, err)
	}
	return rec, rc, nil
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

// negotiateInstance reports whether an instance stored in transfer syntax ts can be sent
// to a client accepting ranges, as stored (no transcoding yet).
func negotiateInstance(ranges []mediaRange, ts string) error {
	o := offer{typ: "multipart", sub: "related", params: map[string]string{"type": "application/dicom", "transfer-syntax": ts}}
	if quality(ranges, o) > 0 {
		return nil
	}
	anyTS := offer{typ: "multipart", sub: "related", params: map[string]string{"type": "application/dicom"}}
	if quality(ranges, anyTS) > 0 {
		name := ts
		if info, ok := dicom.LookupTransferSyntax(ts); ok {
			name = info.Name + " (" + ts + ")"
		}
		return notAcceptable(`an instance is stored as %s and transcoding is not supported yet; `+
			`accept multipart/related; type="application/dicom"; transfer-syntax=*`, name)
	}
	return notAcceptable(`instances are offered as multipart/related; type="application/dicom" only`)
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
