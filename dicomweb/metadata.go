package dicomweb

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	"github.com/labstack/echo/v4"

	"pacsd/store"
)

// WADO-RS metadata, PS3.18 10.4.1.1.2: the DICOM JSON (Annex F) of every instance of a
// study, a series or one instance, bulk data by reference. OHIF asks for a series'
// metadata on every study open, so the answer is assembled from cached instance records
// once and then kept whole (with its gzip form) until an instance of the series changes.

// metaLevel is the resource a metadata request names.
type metaLevel int

const (
	levelStudy metaLevel = iota
	levelSeries
	levelInstance
)

func (l metaLevel) String() string {
	return [...]string{"study", "series", "instance"}[l]
}

// Cache lifetime of metadata: private (PHI), and revalidated every time, since a series
// gains instances while a modality is still sending; the ETag makes that a 304.
const cacheMetadata = "private, no-cache"

// recordWorkers bounds the records built at once for one request (reading headers is
// mostly waiting on the disk or the blob store; two cores are shared).
const recordWorkers = 4

var offerXMLBare = offer{typ: "application", sub: "dicom+xml"}

// metaFormat is the representation a metadata or search response is sent in.
type metaFormat int

const (
	formatDicomJSON metaFormat = iota
	formatJSON
	formatXML // multipart/related; type="application/dicom+xml", one part per data set
)

// negotiateMetadata picks DICOM JSON, plain JSON or multipart XML (PS3.18 8.7.4).
func negotiateMetadata(ranges []mediaRange) (metaFormat, error) {
	qd, qj, qx := quality(ranges, offerDicomJSON), quality(ranges, offerJSON), quality(ranges, offerDicomXML)
	switch {
	case qd > 0 && qd >= qj && qd >= qx:
		return formatDicomJSON, nil
	case qx > 0 && qx > qj:
		return formatXML, nil
	case qj > 0:
		return formatJSON, nil
	}
	if quality(ranges, offerXMLBare) > 0 {
		return 0, notAcceptable(`metadata in XML is sent as multipart/related; type="application/dicom+xml", one part per instance`)
	}
	return 0, notAcceptable(`metadata is offered as application/dicom+json or multipart/related; type="application/dicom+xml"`)
}

func (f metaFormat) contentType() string {
	if f == formatJSON {
		return mediaJSON
	}
	return mediaDicomJSON
}

// metadata serves the three metadata resources for GET and HEAD.
func (s *server) metadata(level metaLevel) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		study, series, sop, err := pathUIDs(c)
		if err != nil {
			return s.publicError(c, "metadata", err)
		}
		format, err := negotiateMetadata(acceptRanges(c))
		if err != nil {
			return s.publicError(c, "metadata", err)
		}
		var list []*store.Instance
		if level == levelInstance {
			rec, err := s.lookupInstance(ctx, study, series, sop)
			if err != nil {
				return s.publicError(c, "metadata", err)
			}
			list = []*store.Instance{rec}
		} else {
			if list, err = s.versions(ctx, study, series); err != nil {
				return s.publicError(c, "metadata", err)
			}
		}
		etag := s.metadataETag(level, list)
		h := c.Response().Header()
		h.Set(echo.HeaderCacheControl, cacheMetadata)
		h.Add(echo.HeaderVary, echo.HeaderAccept)
		h.Set(echo.HeaderXContentTypeOptions, "nosniff")
		if etagMatches(c.Request().Header.Get("If-None-Match"), etag) {
			h.Set("ETag", etag)
			return c.NoContent(http.StatusNotModified)
		}

		if format == formatXML {
			return s.metadataXML(c, level, list, etag)
		}
		b, err := s.metadataBody(ctx, level, list, etag)
		if err != nil {
			return s.publicError(c, "metadata", err)
		}
		h.Set("ETag", b.etag)
		s.log.Debug("wado-rs metadata", "level", level, "instances", len(list), "bytes", len(b.raw))
		return sendBody(c, http.StatusOK, format.contentType(), b.raw, b)
	}
}

// versions lists the instances of a study or series with (at least) their UIDs and hashes:
// metadata needs nothing more, and for a 500-instance series decoding every instance's
// attributes (Instances) would be nearly all the time of a warm request.
func (s *server) versions(ctx context.Context, study, series string) ([]*store.Instance, error) {
	var out []*store.Instance
	err := s.archive.Index().EachInstanceVersion(ctx, study, series, func(se, sop, sha string) error {
		out = append(out, &store.Instance{StudyInstanceUID: study, SeriesInstanceUID: se, SOPInstanceUID: sop, SHA256: sha})
		return nil
	})
	if err == nil && len(out) == 0 {
		err = fmt.Errorf("instances of study %s series %q: %w", study, series, store.ErrNotFound)
	}
	return out, err
}

// metadataETag is the validator of a metadata response: a digest of what it is built
// from (each object's UID and content hash, the level, how BulkDataURIs are written and
// the record version), so that it changes exactly when the answer would.
func (s *server) metadataETag(level metaLevel, list []*store.Instance) string {
	h := sha256.New()
	fmt.Fprintf(h, "v%d|%d|%s|", recordVersion, level, s.publicURL+s.prefix)
	for _, in := range list {
		h.Write([]byte(in.SOPInstanceUID))
		h.Write([]byte{'/'})
		h.Write([]byte(in.SHA256))
		h.Write([]byte{'\n'})
	}
	return `W/"` + hex.EncodeToString(h.Sum(nil)[:16]) + `"`
}

// metadataBody returns the DICOM JSON array for list, from the body cache or assembled
// from instance records.
func (s *server) metadataBody(ctx context.Context, level metaLevel, list []*store.Instance, etag string) (*body, error) {
	key := "m:" + etag
	if b, ok := s.bodies.Get(key); ok {
		return b, nil
	}
	records, err := s.records(ctx, list)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	n := 2
	for _, ir := range records {
		n += len(ir.Metadata) + 1
	}
	buf.Grow(n + n/16)
	buf.WriteByte('[')
	for i, ir := range records {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(rewriteBulkURIs(ir.Metadata, s.bulkURIPrefix(level, ir)))
	}
	buf.WriteByte(']')
	b := &body{raw: buf.Bytes(), etag: etag}
	// A record may describe a newer version than the list named (replaced meanwhile): then
	// the body is not what the ETag promises and is not kept.
	for i, ir := range records {
		if ir.SHA256 != list[i].SHA256 {
			return b, nil
		}
	}
	if level != levelInstance {
		s.bodies.Add(key, b, b.cost())
	}
	return b, nil
}

// records returns the record of each instance, in order, building missing ones a few at
// a time.
func (s *server) records(ctx context.Context, list []*store.Instance) ([]*instanceRecord, error) {
	out := make([]*instanceRecord, len(list))
	if len(list) == 1 {
		ir, err := s.meta.record(ctx, list[0])
		if err != nil {
			return nil, err
		}
		out[0] = ir
		return out, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	next := make(chan int)
	for w := 0; w < min(recordWorkers, len(list)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				ir, err := s.meta.record(ctx, list[i])
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
						cancel()
					}
					mu.Unlock()
					continue
				}
				out[i] = ir
			}
		}()
	}
feed:
	for i := range list {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// bulkURIPrefix is what goes before a record's "bulkdata/..." references in a response at
// level: with a public URL, the absolute URL of the instance; otherwise the path from the
// metadata resource to the instance, so that RFC 3986 resolution against the request URL
// lands on the instance's bulk data whatever proxy is in front. OHIF resolves relative
// BulkDataURIs against the series by default, which is the series-level form.
func (s *server) bulkURIPrefix(level metaLevel, ir *instanceRecord) string {
	if s.publicURL != "" {
		return jsonEscape(s.publicURL+s.prefix) + "/studies/" + ir.StudyInstanceUID + "/series/" +
			ir.SeriesInstanceUID + "/instances/" + ir.SOPInstanceUID + "/"
	}
	switch level {
	case levelStudy:
		return "series/" + ir.SeriesInstanceUID + "/instances/" + ir.SOPInstanceUID + "/"
	case levelSeries:
		return "instances/" + ir.SOPInstanceUID + "/"
	}
	return ""
}

// bulkKey is the one place the JSON key occurs in a record: inside a JSON string a '"' is
// always escaped, so this byte sequence cannot be part of a value.
var bulkKey = []byte(`"BulkDataURI":"`)

// rewriteBulkURIs puts prefix (already JSON-escaped) in front of every BulkDataURI of a
// record's JSON.
func rewriteBulkURIs(meta []byte, prefix string) []byte {
	if prefix == "" || !bytes.Contains(meta, bulkKey) {
		return meta
	}
	return bytes.ReplaceAll(meta, bulkKey, append(append([]byte(nil), bulkKey...), prefix...))
}

// jsonEscape returns s as it appears between the quotes of a JSON string.
func jsonEscape(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

// metadataXML sends the metadata as multipart/related; type="application/dicom+xml",
// one Native DICOM Model document per instance (PS3.18 8.7.4, PS3.19 A.1).
func (s *server) metadataXML(c echo.Context, level metaLevel, list []*store.Instance, etag string) error {
	ctx := c.Request().Context()
	records, err := s.records(ctx, list)
	if err != nil {
		return s.publicError(c, "metadata", err)
	}
	docs := make([][]byte, len(records))
	for i, ir := range records {
		var ds map[string]json.RawMessage
		js := rewriteBulkURIs(ir.Metadata, s.bulkURIPrefix(level, ir))
		if err := json.Unmarshal(js, &ds); err != nil {
			return s.publicError(c, "metadata", fmt.Errorf("decode record of %s: %w", ir.SOPInstanceUID, err))
		}
		docs[i] = nativeXML(asJSONDataset(ds))
	}
	c.Response().Header().Set("ETag", etag)
	return s.sendXMLParts(c, docs)
}

// sendXMLParts writes XML documents as a multipart/related body (compressed like JSON).
func (s *server) sendXMLParts(c echo.Context, docs [][]byte) error {
	boundary, err := newBoundary()
	if err != nil {
		return s.publicError(c, "xml", err)
	}
	var buf bytes.Buffer
	mw := &multipartWriter{w: &buf, boundary: boundary}
	for _, d := range docs {
		if err := mw.writePart(c.Request().Context(), partHead{contentType: mediaDicomXML + "; charset=utf-8", size: int64(len(d))}, bytes.NewReader(d)); err != nil {
			return s.publicError(c, "xml", err)
		}
	}
	if len(docs) == 0 {
		// RFC 2046 requires at least one part; an empty result is the close delimiter alone,
		// which readers take as no parts.
		buf.WriteString("--" + boundary + "--\r\n")
	} else if err := mw.close(); err != nil {
		return s.publicError(c, "xml", err)
	}
	return sendBody(c, http.StatusOK, multipartType(mediaDicomXML, boundary), buf.Bytes(), nil)
}

// lookupInstance returns the record of an instance that exists at the given study and
// series, else ErrNotFound.
func (s *server) lookupInstance(ctx context.Context, study, series, sop string) (*store.Instance, error) {
	rec, err := s.archive.Index().Instance(ctx, sop)
	if err == nil && (rec.StudyInstanceUID != study || rec.SeriesInstanceUID != series) {
		err = fmt.Errorf("instance %s is in %s/%s: %w", sop, rec.StudyInstanceUID, rec.SeriesInstanceUID, store.ErrNotFound)
	}
	return rec, err
}

// pathUIDs reads whichever of the study, series and instance UIDs the route has.
func pathUIDs(c echo.Context) (study, series, sop string, err error) {
	if study, err = pathUID(c, paramStudy); err != nil {
		return
	}
	if c.Param(paramSeries) != "" || hasParam(c, paramSeries) {
		if series, err = pathUID(c, paramSeries); err != nil {
			return
		}
	}
	if c.Param(paramInstance) != "" || hasParam(c, paramInstance) {
		sop, err = pathUID(c, paramInstance)
	}
	return
}

func hasParam(c echo.Context, name string) bool {
	for _, n := range c.ParamNames() {
		if n == name {
			return true
		}
	}
	return false
}
