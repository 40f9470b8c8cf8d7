package dicomweb

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"pacsd/dicom"
)

// The capabilities document, served at the DICOMweb root: what this origin server
// offers, for the people setting up a viewer or a script (and a short conformance
// statement in the sense of PS3.2 for the implementation-specific choices: failure
// reasons, representations, limits). JSON by default, HTML for a browser.

type capResource struct {
	Path    string   `json:"path"`
	Methods []string `json:"methods"`
	Media   []string `json:"mediaTypes"`
	Note    string   `json:"note,omitempty"`
}

type capFailure struct {
	Code    string `json:"code"`
	Meaning string `json:"meaning"`
}

type capabilitiesDoc struct {
	Service          string        `json:"service"`
	Standard         string        `json:"standard"`
	Resources        []capResource `json:"resources"`
	TransferSyntaxes []string      `json:"storedTransferSyntaxes"`
	Transcoding      bool          `json:"transcoding"`
	MaxResults       int           `json:"maxResults"`
	FuzzyMatching    string        `json:"fuzzyMatching"`
	FailureReasons   []capFailure  `json:"stowFailureReasons"`
	WarningReasons   string        `json:"stowWarningReasons"`
	CrossOrigin      string        `json:"crossOrigin"`
}

func (s *server) capabilitiesDoc() capabilitiesDoc {
	get := []string{"GET", "HEAD"}
	jsonXML := []string{"application/dicom+json", "application/json", `multipart/related; type="application/dicom+xml"`}
	pixels := []string{`multipart/related; type="application/octet-stream"; transfer-syntax=*`,
		`multipart/related; type="image/jpeg|image/jls|image/jp2|image/jpx|image/dicom-rle"`, "application/octet-stream (one frame)",
		`multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.1 (decoded)`}
	rendered := []string{"image/jpeg", "image/png", `multipart/related; type="image/jpeg"`, `multipart/related; type="image/png"`}
	doc := capabilitiesDoc{
		Service:  "pacsd DICOMweb origin server",
		Standard: "DICOM PS3.18 (Web Services): QIDO-RS, WADO-RS, STOW-RS, WADO-URI",
		Resources: []capResource{
			{"/studies, /series, /instances, /studies/{study}/series, /studies/{study}/instances, /studies/{study}/series/{series}/instances",
				[]string{"GET"}, jsonXML, "QIDO-RS (PS3.18 10.6): includefield, limit, offset, fuzzymatching"},
			{"/studies/{study}[/series/{series}[/instances/{instance}]]", get,
				[]string{`multipart/related; type="application/dicom"; transfer-syntax=*`,
					`multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1`},
				"WADO-RS instances (PS3.18 10.4): as stored, or transcoded to Explicit VR Little Endian; without transfer-syntax, " +
					"Explicit VR Little Endian except lossy and undecodable objects (as stored)"},
			{"/studies/{study}[/series/{series}[/instances/{instance}]]/metadata", get, jsonXML,
				"WADO-RS metadata; BulkDataURI for Pixel Data and binary values over 1 KiB"},
			{"/studies/{study}/series/{series}/instances/{instance}/frames/{list}", get, pixels,
				"frames as stored, or decoded to native little-endian samples; uncompressed frames little endian"},
			{"/studies/{study}[/series/{series}[/instances/{instance}[/frames/{list}]]]/rendered", get, rendered,
				"Retrieve Rendered (PS3.18 10.4.1.1.3): window=center,width[,linear|linear-exact|sigmoid], viewport=vw,vh[,sx,sy,sw,sh], " +
					"quality=1-100; annotation accepted, not drawn; a multi-frame instance is one image (its first frame) unless multipart is named"},
			{"/studies/{study}[/series/{series}[/instances/{instance}[/frames/{list}]]]/thumbnail", get, []string{"image/jpeg", "image/png"},
				"Thumbnails (PS3.18 10.4.1.1.4): viewport=vw,vh; 404 where there is no image"},
			{"/studies/{study}/series/{series}/instances/{instance}/bulkdata/{tag path}", get,
				[]string{`multipart/related; type="application/octet-stream"`, "application/octet-stream", "the MIME type of an Encapsulated Document"},
				"Range (one byte range) supported"},
			{"/studies, /studies/{study}", []string{"POST"}, []string{`multipart/related; type="application/dicom"`},
				"STOW-RS (PS3.18 10.5); response application/dicom+json or application/dicom+xml"},
			{"/wado?requestType=WADO&studyUID=&seriesUID=&objectUID=&contentType=application/dicom", get,
				[]string{"application/dicom", "application/pdf (Encapsulated PDF)", "image/jpeg", "image/png"},
				"WADO-URI (PS3.18 9): transferSyntax (stored or 1.2.840.10008.1.2.1), rows, columns, windowCenter, windowWidth, region, frameNumber, imageQuality"},
		},
		Transcoding:   true,
		MaxResults:    s.maxResults,
		FuzzyMatching: "Patient's and Referring Physician's Name: case- and accent-insensitive, word-prefix matching on every component group",
		FailureReasons: []capFailure{
			{fmt.Sprintf("0x%04X", reasonProcessingFailure), "processing failure"},
			{fmt.Sprintf("0x%04X", reasonSOPClassNotSupported), "not a storage SOP class"},
			{fmt.Sprintf("0x%04X", reasonOutOfResources), "out of resources: storage full or unavailable, or object too large"},
			{fmt.Sprintf("0x%04X", reasonDataSetMismatch), "data set lacks valid SOP Class, SOP Instance, Study or Series Instance UIDs"},
			{fmt.Sprintf("0x%04X", reasonCannotUnderstand), "cannot understand: not DICOM, truncated or malformed, or a part that is not application/dicom"},
			{fmt.Sprintf("0x%04X", reasonStudyMismatch), "Study Instance UID differs from the study in the request URL"},
			{fmt.Sprintf("0x%04X", reasonDuplicateSOPInstance), "duplicate SOP instance: the SOP Instance UID is stored with other content, from another site or in another study or series; the stored object is kept"},
			{fmt.Sprintf("0x%04X", reasonNotAuthorized), "not authorized: the object names a township site's study, and only that site and the county may add to it"},
		},
		WarningReasons: "none: objects are stored byte for byte, never coerced or trimmed",
		CrossOrigin:    "same origin only",
	}
	for _, ts := range dicom.TransferSyntaxes() {
		doc.TransferSyntaxes = append(doc.TransferSyntaxes, ts.UID+" "+ts.Name)
	}
	switch {
	case s.cors.any:
		doc.CrossOrigin = "any origin (without credentials)"
	case len(s.cors.origins) > 0:
		doc.CrossOrigin = "listed origins"
	}
	return doc
}

var (
	offerHTML = offer{typ: "text", sub: "html"}
)

// capabilities serves the document at the service root.
func (s *server) capabilities(c echo.Context) error {
	doc := s.capabilitiesDoc()
	ranges := acceptRanges(c)
	c.Response().Header().Add(echo.HeaderVary, echo.HeaderAccept)
	c.Response().Header().Set(echo.HeaderCacheControl, "no-cache")
	qh, qj := quality(ranges, offerHTML), max(quality(ranges, offerJSON), quality(ranges, offer{typ: "application", sub: "json"}))
	if qh > 0 && qh > qj && !(len(ranges) == 1 && ranges[0].typ == "*") {
		return sendBody(c, http.StatusOK, "text/html; charset=utf-8", capabilitiesHTML(doc), nil)
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return s.publicError(c, "capabilities", err)
	}
	return sendBody(c, http.StatusOK, mediaJSON, b, nil)
}

func capabilitiesHTML(doc capabilitiesDoc) []byte {
	var b strings.Builder
	e := html.EscapeString
	b.WriteString("<!doctype html><html><head><meta charset=\"utf-8\"><title>" + e(doc.Service) + "</title></head><body>")
	b.WriteString("<h1>" + e(doc.Service) + "</h1><p>" + e(doc.Standard) + "</p><table border=\"1\"><tr><th>Resource</th><th>Methods</th><th>Media types</th><th>Notes</th></tr>")
	for _, r := range doc.Resources {
		b.WriteString("<tr><td><code>" + e(r.Path) + "</code></td><td>" + e(strings.Join(r.Methods, ", ")) + "</td><td>" +
			e(strings.Join(r.Media, "; ")) + "</td><td>" + e(r.Note) + "</td></tr>")
	}
	b.WriteString("</table><h2>Stored transfer syntaxes</h2><ul>")
	for _, ts := range doc.TransferSyntaxes {
		b.WriteString("<li>" + e(ts) + "</li>")
	}
	b.WriteString("</ul><p>Transcoding: to Explicit VR Little Endian (objects) and native samples (frames), from every stored syntax this server decodes.</p>")
	b.WriteString(fmt.Sprintf("<p>Search results per request: at most %d.</p><p>Fuzzy matching: %s.</p>", doc.MaxResults, e(doc.FuzzyMatching)))
	b.WriteString("<h2>STOW-RS failure reasons</h2><ul>")
	for _, f := range doc.FailureReasons {
		b.WriteString("<li><code>" + e(f.Code) + "</code> " + e(f.Meaning) + "</li>")
	}
	b.WriteString("</ul><p>Warning reasons: " + e(doc.WarningReasons) + ".</p><p>Cross-origin access: " + e(doc.CrossOrigin) + ".</p></body></html>\n")
	return []byte(b.String())
}
