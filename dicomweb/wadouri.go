package dicomweb

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"pacsd/dicom"
	"pacsd/dicom/pixel"
	"pacsd/store"
)

// WADO-URI, PS3.18 9 (the URI Service): GET /wado?requestType=WADO&studyUID=..&seriesUID=..
// &objectUID=..&contentType=.. . pacsd answers application/dicom (the object in the
// transfer syntax transferSyntax names: as stored, or Explicit VR Little Endian by
// transcoding; without transferSyntax, Explicit VR Little Endian, the default of PS3.18
// 9.4.2.4, except for lossy or undecodable objects, sent as stored as for WADO-RS, see
// transcode.go), for an Encapsulated PDF application/pdf (the document), and for images
// image/jpeg and image/png (renderWADOURI, with the renderer of the rendered resources).

// wadoURIRequest is a parsed WADO-URI query (PS3.18 9.1.2).
type wadoURIRequest struct {
	study, series, object string
	contentTypes          []mediaRange // contentType parameter; nil when absent
	transferSyntax        string
	anonymize             bool
	// Parameters of rendered requests, passed through to renderWADOURI as given.
	rendering url.Values
}

// Parameters that only apply to rendered media types (PS3.18 9.1.2.2).
var wadoURIRenderingParams = []string{
	"annotation", "rows", "columns", "region", "windowCenter", "windowWidth",
	"frameNumber", "imageQuality", "presentationUID", "presentationSeriesUID", "charset",
}

// parseWADOURI reads and checks the query. Parameter names are case-sensitive in
// PS3.18 9.1.2; values are checked like the WADO-RS path's.
func parseWADOURI(q url.Values) (*wadoURIRequest, error) {
	if len(q) > maxQueryParams {
		return nil, badRequest("too many query parameters")
	}
	one := func(name string) (string, error) {
		v := q[name]
		switch len(v) {
		case 0:
			return "", nil
		case 1:
			return v[0], nil
		}
		return "", badRequest("query parameter %q given %d times; give it once", name, len(v))
	}
	rt, err := one("requestType")
	if err != nil {
		return nil, err
	}
	if rt != "WADO" {
		return nil, badRequest(`requestType must be "WADO" (PS3.18 9.1.2.1.1)`)
	}
	req := &wadoURIRequest{rendering: url.Values{}}
	for _, p := range []struct {
		name string
		dst  *string
	}{{"studyUID", &req.study}, {"seriesUID", &req.series}, {"objectUID", &req.object}} {
		v, err := one(p.name)
		if err != nil {
			return nil, err
		}
		if !dicom.ValidUID(v, dicom.UIDLeadingZeros) {
			return nil, badRequest("%s %q is missing or not a valid UID", p.name, short(v))
		}
		*p.dst = v
	}
	if v, err := one("contentType"); err != nil {
		return nil, err
	} else if v != "" {
		// A list of media types with optional weights, like Accept (PS3.18 9.1.2.1.4).
		req.contentTypes = parseAccept(v)
		if len(req.contentTypes) == 0 {
			return nil, badRequest("contentType %q is not a list of media types", short(v))
		}
	}
	if req.transferSyntax, err = one("transferSyntax"); err != nil {
		return nil, err
	}
	if req.transferSyntax != "" && !dicom.ValidUID(req.transferSyntax, dicom.UIDLeadingZeros) {
		return nil, badRequest("transferSyntax %q is not a UID", short(req.transferSyntax))
	}
	if v, err := one("anonymize"); err != nil {
		return nil, err
	} else if v != "" {
		if v != "yes" {
			return nil, badRequest(`anonymize takes the value "yes" (PS3.18 9.1.2.2.1)`)
		}
		req.anonymize = true
	}
	for _, name := range wadoURIRenderingParams {
		if v, ok := q[name]; ok {
			req.rendering[name] = v
		}
	}
	return req, nil
}

var (
	offerDicomSingle = offer{typ: "application", sub: "dicom"}
	offerPDF         = offer{typ: "application", sub: "pdf"}
	offerJPEG        = offer{typ: "image", sub: "jpeg"}
	offerPNG         = offer{typ: "image", sub: "png"}
)

// encapsulatedPDF is the Encapsulated PDF Storage SOP Class (PS3.4 Annex B).
const encapsulatedPDF = "1.2.840.10008.5.1.4.1.1.104.1"

// wadoURI serves GET and HEAD /wado.
func (s *server) wadoURI(c echo.Context) error {
	ctx := c.Request().Context()
	req, err := parseWADOURI(c.QueryParams())
	if err != nil {
		return s.publicError(c, "wado-uri", err)
	}
	rec, err := s.lookupInstance(ctx, req.study, req.series, req.object)
	if err != nil {
		return s.publicError(c, "wado-uri", err)
	}
	if req.anonymize {
		// PS3.18 9.1.2.2.1: a server that cannot remove the patient's identity must not
		// send the object with it.
		return s.publicError(c, "wado-uri", notAcceptable("anonymize=yes is not supported by this server"))
	}
	types := req.contentTypes
	if types == nil {
		// No contentType: the Accept field decides between what the URI Service offers;
		// an image without either is rendered (PS3.18 9.1.2.1.4, image/jpeg by default).
		types = parseAccept(acceptField(c.Request().Header.Values(echo.HeaderAccept)))
		if len(types) == 0 {
			types = []mediaRange{{typ: "*", sub: "*", q: 1}}
		}
	}
	qDicom, qPDF := quality(types, offerDicomSingle), quality(types, offerPDF)
	explicitDicom := false
	for _, r := range types {
		if r.typ == "application" && r.sub == "dicom" && r.q > 0 {
			explicitDicom = true
		}
	}
	switch {
	case qPDF > 0 && qPDF >= qDicom && rec.SOPClassUID == encapsulatedPDF:
		ir, err := s.meta.record(ctx, rec)
		if err != nil {
			return s.publicError(c, "wado-uri", err)
		}
		pdf := pixelChoice{single: true, mediaType: "application/pdf"}
		if ref, ok := ir.Bulk["00420011"]; ok && ref.Length >= 0 {
			return s.sendBulk(c, ir, ref, "00420011", pdf)
		}
		// A small document travels inline in the metadata (InlineBinary).
		doc, ok := inlineBinary(ir, "00420011")
		if !ok {
			return s.publicError(c, "wado-uri", echo.NewHTTPError(http.StatusNotFound, "the instance holds no document"))
		}
		c.Response().Header().Set(echo.HeaderCacheControl, cacheInstance)
		c.Response().Header().Set("ETag", `"`+ir.SHA256[:32]+"-00420011"+`"`)
		return sendBody(c, http.StatusOK, "application/pdf", doc, nil)
	case qDicom > 0 && !isImage(rec.SOPClassUID, rec.InstanceAttrs):
		return s.wadoURIObject(c, req, rec.SOPInstanceUID)
	case explicitDicom && qDicom > max(quality(types, offerJPEG), quality(types, offerPNG)):
		// An image: rendered (the URI Service's default, PS3.18 9.4.1) unless the client
		// weighs application/dicom above every rendered type it names or covers.
		return s.wadoURIObject(c, req, rec.SOPInstanceUID)
	}
	return s.renderWADOURI(c, req, rec, types)
}

// inlineBinary returns the decoded InlineBinary of a top-level attribute of ir's metadata.
func inlineBinary(ir *instanceRecord, tag string) ([]byte, bool) {
	var ds map[string]struct {
		InlineBinary string `json:"InlineBinary"`
	}
	if err := json.Unmarshal(ir.Metadata, &ds); err != nil {
		return nil, false
	}
	a, ok := ds[tag]
	if !ok || a.InlineBinary == "" {
		return nil, false
	}
	b, err := base64.StdEncoding.DecodeString(a.InlineBinary)
	return b, err == nil
}

// isImage tells image objects (which WADO-URI renders by default) from others, by the
// presence of Rows in the index's instance attributes.
func isImage(class string, attrs map[string]dicom.JSONAttribute) bool {
	_, ok := attrs[dicom.TagRows.Hex()]
	return ok && class != encapsulatedPDF
}

// wadoURIObject sends the Part-10 object as application/dicom (PS3.18 9.4.2.4): the file as
// stored, with ranges and validators (http.ServeContent), when that is the syntax selected,
// else transcoded to Explicit VR Little Endian, streamed without a length.
func (s *server) wadoURIObject(c echo.Context, req *wadoURIRequest, sop string) error {
	ctx := c.Request().Context()
	rec, rc, err := s.archive.Open(ctx, sop)
	if err != nil {
		return s.publicError(c, "wado-uri", err)
	}
	defer rc.Close()
	transcode := false
	switch ts := req.transferSyntax; {
	case ts == "*" || ts == rec.TransferSyntaxUID:
	case ts == "":
		transcode = !defaultIsStored(rec)
	case ts == dicom.ExplicitVRLittleEndian:
		if ok, why := transcodable(rec); !ok {
			return s.publicError(c, "wado-uri", notAcceptable("the object cannot be sent in Explicit VR Little Endian: %s; omit transferSyntax", why))
		}
		transcode = true
	default:
		name := rec.TransferSyntaxUID
		if info, ok := dicom.LookupTransferSyntax(name); ok {
			name = info.Name + " (" + name + ")"
		}
		return s.publicError(c, "wado-uri", notAcceptable("the object is stored as %s and this server transcodes only to Explicit VR Little Endian (%s); "+
			"omit transferSyntax or name one of those", name, dicom.ExplicitVRLittleEndian))
	}
	h := c.Response().Header()
	if transcode {
		hd, err := s.handleFor(ctx, rec, rc)
		if err != nil {
			return s.publicError(c, "wado-uri", err)
		}
		etag := instanceETag(rec, tsPlan{transcode: true})
		if etag != "" && etagMatches(c.Request().Header.Get("If-None-Match"), etag) {
			return c.NoContent(http.StatusNotModified)
		}
		sw := &startWriter{w: c.Response(), start: func() error {
			setWADOURIObjectHeaders(h, rec, etag)
			if c.Request().Method == http.MethodHead {
				return errHeadDone
			}
			return nil
		}}
		err = transcodeTo(ctx, sw, hd, tsPlan{transcode: true})
		switch {
		case errors.Is(err, errHeadDone):
			c.Response().WriteHeader(http.StatusOK)
			return nil
		case err == nil:
			return nil
		case !sw.started && req.transferSyntax == "" && transcodeFailed(sw, err):
			// Not decodable after all, and the client named no syntax: as stored.
			s.log.Debug("wado-uri: cannot transcode; sending as stored", "sop_instance_uid", sop, "err", err)
		case !sw.started:
			return s.publicError(c, "wado-uri", decodeError(err))
		default:
			s.abort(ctx, "wado-uri transcode", sop, err)
		}
	}
	etag := ""
	if len(rec.SHA256) == 64 {
		// The bytes are exactly the stored object: a strong validator (Range, If-Range).
		etag = `"` + strings.ToLower(rec.SHA256) + `"`
	}
	setWADOURIObjectHeaders(h, rec, etag)
	http.ServeContent(c.Response(), c.Request(), "", rec.ReceivedAt, rc)
	return nil
}

// errHeadDone stops a transcoding whose headers are all a HEAD request needs.
var errHeadDone = errors.New("HEAD: headers only")

func setWADOURIObjectHeaders(h http.Header, rec *store.Instance, etag string) {
	h.Set(echo.HeaderContentType, mediaDicom)
	h.Set(echo.HeaderContentDisposition, `attachment; filename="`+rec.SOPInstanceUID+`.dcm"`)
	h.Set(echo.HeaderCacheControl, cacheInstance)
	h.Set(echo.HeaderXContentTypeOptions, "nosniff")
	if etag != "" {
		h.Set("ETag", etag)
	}
}

// renderWADOURI answers a WADO-URI request for a rendered media type (PS3.18 9.4.1,
// 9.4.2): image/jpeg (the default for images) or image/png, rendered like the WADO-RS
// rendered resources. Parameters (PS3.18 9.4.1.1): rows and columns bound the size
// (either alone keeps the aspect ratio), windowCenter and windowWidth (both or neither)
// replace the file's VOI, region=x1,y1,x2,y2 (normalized 0.0-1.0) selects part of the
// image, frameNumber (1-based) picks the frame, the first when absent, imageQuality
// (1-100) sets JPEG quality, annotation is read as in WADO-RS (nothing is drawn). A
// presentation state (presentationUID) cannot be applied: 406. Other rendered types
// (image/gif, image/jp2, text/html, video) are 406.
func (s *server) renderWADOURI(c echo.Context, req *wadoURIRequest, rec *store.Instance, types []mediaRange) error {
	ctx := c.Request().Context()
	choice, err := negotiateRendered(types, true, false)
	if err != nil {
		return s.publicError(c, "wado-uri", notAcceptable(
			"rendered WADO-URI responses are image/jpeg or image/png; for the object itself request contentType=application/dicom"))
	}
	_, _, n := indexGeometry(rec)
	if n == 0 {
		return s.publicError(c, "wado-uri", notAcceptable("the object is not an image; request contentType=application/dicom"))
	}
	p, frame, err := parseWADOURIRendering(req.rendering, n)
	if err != nil {
		return s.publicError(c, "wado-uri", err)
	}
	etag := renderedETag(rec, []int{frame}, choice, p)
	h := c.Response().Header()
	if notModified(c, etag, cacheInstance) {
		return c.NoContent(http.StatusNotModified)
	}
	b, err := s.renderFrame(ctx, rec, frame, p, choice.media)
	if err != nil {
		h.Del("ETag")
		return s.publicError(c, "wado-uri", renderError(err, frame+1, n))
	}
	return c.Blob(http.StatusOK, choice.media, b)
}

// parseWADOURIRendering reads the rendering parameters of a WADO-URI request for an image
// of n frames; frame is 0-based.
func parseWADOURIRendering(q url.Values, n int) (p renderParams, frame int, err error) {
	get := func(name string) string {
		if v := q[name]; len(v) > 0 {
			return strings.TrimSpace(v[0])
		}
		return ""
	}
	var canon []string
	dim := func(name string) (int, error) {
		v := get(name)
		if v == "" {
			return 0, nil
		}
		d, err := strconv.Atoi(v)
		if err != nil || d < 1 || d > maxViewport {
			return 0, badRequest("%s %q: an integer from 1 to %d", name, short(v), maxViewport)
		}
		canon = append(canon, name+"="+v)
		return d, nil
	}
	if p.vh, err = dim("rows"); err != nil {
		return
	}
	if p.vw, err = dim("columns"); err != nil {
		return
	}
	wc, ww := get("windowCenter"), get("windowWidth")
	if (wc == "") != (ww == "") {
		return p, 0, badRequest("windowCenter and windowWidth go together (PS3.18 9.4.1.1.5)")
	}
	if wc != "" {
		c, err1 := strconv.ParseFloat(wc, 64)
		w, err2 := strconv.ParseFloat(ww, 64)
		if err1 != nil || err2 != nil || math.IsNaN(c) || math.IsInf(c, 0) || !(w >= 1) || math.IsInf(w, 0) {
			return p, 0, badRequest("windowCenter %q, windowWidth %q: decimal numbers, the width at least 1", short(wc), short(ww))
		}
		p.window = &pixel.Window{Center: c, Width: w}
		canon = append(canon, "window="+wc+","+ww)
	}
	if v := get("region"); v != "" {
		parts := strings.Split(v, ",")
		var f [4]float64
		ok := len(parts) == 4
		for i := 0; ok && i < 4; i++ {
			var e error
			f[i], e = strconv.ParseFloat(strings.TrimSpace(parts[i]), 64)
			ok = e == nil && f[i] >= 0 && f[i] <= 1
		}
		if !ok || f[2] <= f[0] || f[3] <= f[1] {
			return p, 0, badRequest("region %q: x1,y1,x2,y2 from 0.0 to 1.0, x2 > x1 and y2 > y1 (PS3.18 9.4.1.1.4)", short(v))
		}
		p.region = &srcRegion{x: f[0], y: f[1], w: f[2] - f[0], h: f[3] - f[1], norm: true}
		canon = append(canon, "region="+v)
	}
	if v := get("imageQuality"); v != "" {
		q, err := strconv.Atoi(v)
		if err != nil || q < 1 || q > 100 {
			return p, 0, badRequest("imageQuality %q: an integer from 1 to 100", short(v))
		}
		p.quality = q
		canon = append(canon, "quality="+v)
	}
	if v := get("annotation"); v != "" {
		if err := checkAnnotation(v); err != nil {
			return p, 0, err
		}
	}
	if get("presentationUID") != "" || get("presentationSeriesUID") != "" {
		return p, 0, notAcceptable("this server does not apply presentation states; omit presentationUID")
	}
	if v := get("frameNumber"); v != "" {
		k, err := strconv.Atoi(v)
		if err != nil || k < 1 || k > n {
			return p, 0, badRequest("frameNumber %q: the image has frames 1 to %d", short(v), n)
		}
		frame = k - 1
	}
	p.canon = strings.Join(canon, "&")
	return p, frame, nil
}
