package dicomweb

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"pacsd/dicom"
)

// Media types of the Studies Service (PS3.18 8.7).
const (
	mediaDicom        = "application/dicom"
	mediaDicomXML     = "application/dicom+xml"
	mediaOctetStream  = "application/octet-stream"
	mediaDicomJSONRaw = "application/dicom+json"
)

// frameMediaTypes gives, per encapsulated transfer syntax, the single-frame media type a
// compressed frame or bulk data item is sent as (PS3.18 8.7.3.3.2, Table 8.7.3-5).
var frameMediaTypes = map[string]string{
	dicom.JPEGBaseline8Bit:   "image/jpeg",
	dicom.JPEGExtended12Bit:  "image/jpeg",
	dicom.JPEGLossless:       "image/jpeg",
	dicom.JPEGLosslessSV1:    "image/jpeg",
	dicom.JPEGLSLossless:     "image/jls",
	dicom.JPEGLSNearLossless: "image/jls",
	dicom.JPEG2000Lossless:   "image/jp2",
	dicom.JPEG2000:           "image/jp2",
	"1.2.840.10008.1.2.4.92": "image/jpx", // JPEG 2000 Part 2 Multi-component (Lossless Only)
	"1.2.840.10008.1.2.4.93": "image/jpx", // JPEG 2000 Part 2 Multi-component
	dicom.RLELossless:        "image/dicom-rle",
}

// mediaDefaultTS is the transfer syntax a media type stands for when a client names it
// without a transfer-syntax parameter (PS3.18 Table 8.7.3-5, the default of each type).
var mediaDefaultTS = map[string]string{
	"image/jpeg":      dicom.JPEGBaseline8Bit,
	"image/jls":       dicom.JPEGLSLossless,
	"image/jp2":       dicom.JPEG2000Lossless,
	"image/jpx":       "1.2.840.10008.1.2.4.92",
	"image/dicom-rle": dicom.RLELossless,
}

// legacyMedia maps the experimental names some clients still send to the registered ones.
var legacyMedia = map[string]string{
	"image/x-jls":       "image/jls",
	"image/x-dicom-rle": "image/dicom-rle",
	"image/jpeg2000":    "image/jp2",
}

// normMedia lower-cases a media type and replaces a legacy name.
func normMedia(t string) string {
	t = strings.ToLower(strings.TrimSpace(t))
	if n, ok := legacyMedia[t]; ok {
		return n
	}
	return t
}

// acceptRanges returns the client's Accept field as media ranges: the accept query
// parameter when given (PS3.18 8.3.3.1), else the header; no field at all accepts anything.
func acceptRanges(c echo.Context) []mediaRange {
	accept := c.QueryParam(qpAccept)
	if accept == "" {
		accept = acceptField(c.Request().Header.Values(echo.HeaderAccept))
	}
	if strings.TrimSpace(accept) == "" {
		return []mediaRange{{typ: "*", sub: "*", q: 1}}
	}
	return parseAccept(accept)
}

// acceptsGzip reports whether the client accepts the gzip content coding (RFC 9110
// 12.5.3): a gzip (or x-gzip) entry with a non-zero weight, or failing one, a "*" entry.
func acceptsGzip(r *http.Request) bool {
	gzipQ, starQ := -1.0, -1.0
	for _, line := range r.Header.Values(echo.HeaderAcceptEncoding) {
		for _, el := range strings.Split(line, ",") {
			name, params, _ := strings.Cut(el, ";")
			name = strings.ToLower(strings.TrimSpace(name))
			q := 1.0
			for _, p := range strings.Split(params, ";") {
				k, v, _ := strings.Cut(p, "=")
				if strings.EqualFold(strings.TrimSpace(k), "q") {
					if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
						q = f
					}
				}
			}
			switch name {
			case "gzip", "x-gzip":
				gzipQ = max(gzipQ, q)
			case "*":
				starQ = max(starQ, q)
			}
		}
	}
	if gzipQ >= 0 {
		return gzipQ > 0
	}
	return starQ > 0
}
