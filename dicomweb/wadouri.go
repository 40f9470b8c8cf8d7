package dicomweb

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"pacsd/dicom"
)

// WADO-URI, PS3.18 9 (the URI Service): GET /wado?requestType=WADO&studyUID=..&seriesUID=..
// &objectUID=..&contentType=.. . pacsd answers application/dicom (the stored object, in its
// stored transfer syntax, or 406 when transferSyntax names another) and, for an
// Encapsulated PDF, application/pdf (the document). Rendered media types (image/jpeg,
// image/png, image/gif, image/jp2, text/html, ...) go to renderWADOURI, the one place the
// renderer is to be wired in.

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
		if !validUID(v) {
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
	if req.transferSyntax != "" && !validUID(req.transferSyntax) {
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
	case explicitDicom || (qDicom > 0 && !isImage(rec.SOPClassUID, rec.InstanceAttrs)):
		return s.wadoURIObject(c, req, rec.SOPInstanceUID)
	}
	return s.renderWADOURI(c, req)
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

// wadoURIObject sends the stored Part-10 object as application/dicom (PS3.18 9.1.2.1.4):
// the file as stored, with ranges and validators (http.ServeContent), when the stored
// transfer syntax is the one asked for or none is asked for. (PS3.18 makes Explicit VR Little
// Endian the default; the stored syntax is sent instead, as WADO-RS does here, since
// nothing is transcoded yet.)
func (s *server) wadoURIObject(c echo.Context, req *wadoURIRequest, sop string) error {
	ctx := c.Request().Context()
	rec, rc, err := s.archive.Open(ctx, sop)
	if err != nil {
		return s.publicError(c, "wado-uri", err)
	}
	defer rc.Close()
	if req.transferSyntax != "" && req.transferSyntax != "*" && req.transferSyntax != rec.TransferSyntaxUID {
		name := rec.TransferSyntaxUID
		if info, ok := dicom.LookupTransferSyntax(name); ok {
			name = info.Name + " (" + name + ")"
		}
		return s.publicError(c, "wado-uri", notAcceptable("the object is stored as %s and transcoding is not supported yet; omit transferSyntax or name that one", name))
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, mediaDicom)
	h.Set(echo.HeaderContentDisposition, `attachment; filename="`+rec.SOPInstanceUID+`.dcm"`)
	h.Set(echo.HeaderCacheControl, cacheInstance)
	h.Set(echo.HeaderXContentTypeOptions, "nosniff")
	if len(rec.SHA256) == 64 {
		// The bytes are exactly the stored object: a strong validator (Range, If-Range).
		h.Set("ETag", `"`+strings.ToLower(rec.SHA256)+`"`)
	}
	http.ServeContent(c.Response(), c.Request(), "", rec.ReceivedAt, rc)
	return nil
}

// renderWADOURI answers a WADO-URI request for a rendered media type (image/jpeg,
// image/gif, image/png, image/jp2, text/html, text/plain, ...). Rendering is provided by
// another part of pacsd and is not wired in yet, so this says so with 406; this function
// is the single place to connect it.
func (s *server) renderWADOURI(c echo.Context, req *wadoURIRequest) error {
	_ = req // the rendering parameters (req.rendering, req.contentTypes) go to the renderer
	return s.publicError(c, "wado-uri", notAcceptable(
		"rendered WADO-URI responses (image/jpeg and other rendered types) are not available yet; "+
			"request contentType=application/dicom"))
}
