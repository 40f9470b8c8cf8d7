package dicomweb

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"pacsd/audit"
	"pacsd/dicom"
	"pacsd/store"
)

// STOW-RS, PS3.18 10.5: POST /studies and /studies/{study} with a multipart/related body
// of Part-10 objects (type="application/dicom"). Each part streams straight into
// Archive.Put, the one way into the archive (DESIGN.md section 3), so no object and no
// request is ever held whole in memory; the response is the Store Instances Response
// Module (PS3.18 Annex I) as DICOM JSON, or XML when asked.

// Failure Reason (0008,1197) values, PS3.18 Table I.2-2 and PS3.4 Table B.2-1.
const (
	reasonProcessingFailure    uint16 = 0x0110 // general failure
	reasonSOPClassNotSupported uint16 = 0x0122 // not a storage SOP class
	reasonOutOfResources       uint16 = 0xA700 // disk full, object too large, storage down
	reasonDataSetMismatch      uint16 = 0xA900 // required identifying attributes missing or invalid
	reasonCannotUnderstand     uint16 = 0xC000 // not DICOM, truncated, malformed
	// reasonDuplicateSOPInstance (PS3.7 C.5; PS3.18 10.5.3 lets a failure reason be any
	// PS3.4/PS3.7 status): the SOP instance is stored with other content, and this sender
	// may not replace it (another site, or another study or series: store.ErrDuplicate).
	// The stored object stays as it was.
	reasonDuplicateSOPInstance uint16 = 0x0111
	// reasonNotAuthorized (PS3.7 C.5): the object names a township site's study and this
	// sender is neither that site nor the county (store.ErrForeignStudy).
	reasonNotAuthorized uint16 = 0x0124
	// reasonStudyMismatch is in the Cxxx ("cannot understand") family that Table I.2-2
	// lets an origin server extend; C409 is the value other archives (dcm4chee-arc) send
	// for an object whose Study Instance UID differs from the one in the request URL, so
	// clients that know one know the other. Listed in the capabilities document.
	reasonStudyMismatch uint16 = 0xC409
)

// Part-level errors found by this handler before the archive sees the object.
var (
	errStudyMismatch = errors.New("study instance UID differs from the study in the request URL")
	errNotStorage    = errors.New("SOP Class is not a storage SOP class")
	errPartType      = errors.New("part is not application/dicom")
)

// stowFailures is the one table from errors to Failure Reasons (DESIGN.md section 5);
// the first entry that matches wins, so specific causes come before the sentinels that
// wrap them (a malformed object is also store.ErrInvalid).
var stowFailures = []struct {
	target error
	reason uint16
}{
	{errStudyMismatch, reasonStudyMismatch},
	{errNotStorage, reasonSOPClassNotSupported},
	{errPartType, reasonCannotUnderstand},
	{dicom.ErrMalformed, reasonCannotUnderstand},
	{io.ErrUnexpectedEOF, reasonCannotUnderstand}, // the part ended before the object did
	{store.ErrInvalid, reasonDataSetMismatch},
	{store.ErrTooLarge, reasonOutOfResources},
	{store.ErrNoSpace, reasonOutOfResources},
	{store.ErrUnavailable, reasonOutOfResources},
	{store.ErrDuplicate, reasonDuplicateSOPInstance},
	{store.ErrForeignStudy, reasonNotAuthorized},
	{store.ErrConflict, reasonProcessingFailure},
}

// slogLevelFor logs refusals the client caused at debug level and the server's own
// failures as errors (DESIGN.md section 5).
func slogLevelFor(reason uint16) slog.Level {
	switch reason {
	case reasonOutOfResources, reasonProcessingFailure:
		return slog.LevelError
	}
	return slog.LevelDebug
}

// failureReason maps an error of one part to its Failure Reason.
func failureReason(err error) uint16 {
	for _, f := range stowFailures {
		if errors.Is(err, f.target) {
			return f.reason
		}
	}
	return reasonProcessingFailure
}

// Bounds of one STOW request.
const (
	maxStowParts = 10000    // parts read from one request; the rest is refused
	stowPeek     = 64 << 10 // bytes of a part looked at before it is stored
	maxSkip      = 1 << 20  // bytes of a part that is not DICOM read past stowPeek to reach the next part
	// maxBoundary bounds the multipart boundary. RFC 2046 5.1.1 lets generators make at
	// most 70 characters, but senders exceed it (Orthanc's DICOMweb client joins two
	// UUIDs: 73), so a receiver is liberal; the bound keeps the boundary line well inside
	// mime/multipart's 4 KiB read buffer, so the scan for it stays bounded per byte.
	maxBoundary = 512
)

// stowResult collects the outcome of each part.
type stowResult struct {
	stored []dicom.JSONDataset // Referenced SOP Sequence items
	failed []dicom.JSONDataset // Failed SOP Sequence items
	other  []dicom.JSONDataset // Other Failures Sequence items (no UIDs known)
	study  string              // the one study of everything stored, "" if several
	multi  bool
}

// store serves POST /studies and POST /studies/{study}.
func (s *server) store(c echo.Context) error {
	ctx := c.Request().Context()
	log := s.stowLog
	var target string
	if hasParam(c, paramStudy) {
		var err error
		if target, err = pathUID(c, paramStudy); err != nil {
			return s.refuseSTOW(c, log, err)
		}
	}
	// The response representation is settled before the body is read, so that a client
	// that could not read the answer does not store anything.
	ranges := acceptRanges(c)
	qd, qj, qx := quality(ranges, offerDicomJSON), quality(ranges, offerJSON), quality(ranges, offerXMLBare)
	if qd == 0 && qj == 0 && qx == 0 {
		return s.refuseSTOW(c, log, notAcceptable("the store response is offered as application/dicom+json or application/dicom+xml"))
	}
	if ce := strings.TrimSpace(c.Request().Header.Get(echo.HeaderContentEncoding)); ce != "" && !strings.EqualFold(ce, "identity") {
		// RFC 9110 15.5.16: a content coding the server does not accept is 415, and
		// Accept-Encoding on the answer says which it does (RFC 9110 12.5.3). The objects
		// are compressed by their transfer syntax already; decoding gzip would be one more
		// decompression bomb to bound.
		c.Response().Header().Set(echo.HeaderAcceptEncoding, "identity")
		return s.refuseSTOW(c, log, echo.NewHTTPError(http.StatusUnsupportedMediaType,
			"STOW-RS takes the multipart/related body without a Content-Encoding (send it uncompressed, not "+short(ce)+")"))
	}
	boundary, err := stowBoundary(c.Request().Header.Get(echo.HeaderContentType))
	if err != nil {
		return s.refuseSTOW(c, log, err)
	}

	res := &stowResult{}
	mr := multipart.NewReader(c.Request().Body, boundary)
	var syntaxErr error
	parts := 0
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			syntaxErr = err
			break
		}
		if parts == maxStowParts {
			res.other = append(res.other, failureItem("", "", reasonOutOfResources))
			syntaxErr = fmt.Errorf("more than %d parts", maxStowParts)
			p.Close()
			break
		}
		parts++
		if s.storePart(ctx, log, c.Request(), p, target, res) {
			// Not DICOM: a small part is skipped, but one that goes on (a file of gigabytes
			// sent by mistake) is not read to its end; the connection is closed instead of
			// drained.
			if n, _ := io.CopyN(io.Discard, p, maxSkip+1); n > maxSkip {
				c.Response().Header().Set(echo.HeaderConnection, "close")
				syntaxErr = fmt.Errorf("part %d is not DICOM and longer than %d bytes: the rest of the request is not read", parts, maxSkip)
				break
			}
		}
		p.Close()
		if ctx.Err() != nil {
			log.Debug("client went away", "parts", parts, "remote", c.Request().RemoteAddr)
			return nil
		}
	}
	if syntaxErr != nil {
		// The parser's text may quote a line of the body: debug level only (PHI).
		log.Debug("body malformed", "after_parts", parts, "err", syntaxErr)
		if parts > 0 || len(res.other) > 0 {
			res.other = append(res.other, failureItem("", "", reasonCannotUnderstand))
		}
	}

	status := http.StatusOK
	switch {
	case parts == 0 && syntaxErr != nil && len(res.other) == 0:
		return s.refuseSTOW(c, log, badRequest("malformed multipart/related body: no part could be read (check the boundary)"))
	case parts == 0:
		return s.refuseSTOW(c, log, badRequest("the request has no parts"))
	case len(res.stored) == 0 && syntaxErr != nil:
		status = http.StatusBadRequest
	case len(res.stored) == 0:
		// PS3.18 10.5.3, Table 10.5.3-1: nothing stored for reasons in the request.
		status = http.StatusConflict
	case len(res.failed) > 0 || len(res.other) > 0:
		status = http.StatusAccepted
	}
	log.Info("stow-rs", "stored", len(res.stored), "failed", len(res.failed)+len(res.other), "status", status,
		"remote", c.Request().RemoteAddr)

	out := s.stowResponse(c, target, res)
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	if qx > qd && qx > qj {
		return sendBody(c, status, mediaDicomXML+"; charset=utf-8", nativeXML(out), nil)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return s.publicError(c, "stow", err)
	}
	ctype := mediaDicomJSON
	if qj > qd {
		ctype = mediaJSON
	}
	return sendBody(c, status, ctype, b, nil)
}

// refuseSTOW answers a request refused as a whole, and says so at info level: a sender
// whose studies never arrive (another archive's STOW client, a script) is diagnosed from
// this line. It names the request's shape (status, reason, Content-Type, User-Agent, remote
// address), never its content: no patient data.
func (s *server) refuseSTOW(c echo.Context, log *slog.Logger, err error) error {
	herr := s.publicError(c, "stow", err)
	status, reason := HTTPStatus(herr), herr.Error()
	var he *echo.HTTPError
	if errors.As(herr, &he) {
		reason = fmt.Sprint(he.Message)
	}
	r := c.Request()
	log.Info("stow-rs request refused", "status", status, "reason", reason, "remote", r.RemoteAddr,
		"content_type", short(r.Header.Get(echo.HeaderContentType)), "user_agent", short(r.UserAgent()))
	return herr
}

// stowBoundary checks the request's Content-Type (PS3.18 10.5.1.1) and returns its
// boundary. Read leniently, like Accept: type may be quoted or not, and the boundary may
// be longer than RFC 2046 allows a generator (up to maxBoundary).
func stowBoundary(ct string) (string, error) {
	unsupported := echo.NewHTTPError(http.StatusUnsupportedMediaType,
		`STOW-RS accepts multipart/related; type="application/dicom" (Part-10 objects); metadata with bulk data (application/dicom+json, application/dicom+xml parts) is not supported`)
	rs := parseAccept(ct)
	if len(rs) != 1 || rs[0].typ != "multipart" || rs[0].sub != "related" {
		return "", unsupported
	}
	if typ, ok := rs[0].params["type"]; ok && !strings.EqualFold(strings.TrimSpace(typ), mediaDicom) {
		return "", unsupported
	}
	b := rs[0].params["boundary"]
	switch {
	case b == "":
		return "", badRequest("multipart/related Content-Type without a boundary parameter")
	case len(b) > maxBoundary:
		return "", badRequest("multipart/related boundary of %d bytes: at most %d are accepted", len(b), maxBoundary)
	}
	return b, nil
}

// storePart stores one part and records the outcome. It reports notDICOM when the part's
// first bytes are no DICOM object at all (nothing of it was stored or read past stowPeek).
func (s *server) storePart(ctx context.Context, log *slog.Logger, req *http.Request, p *multipart.Part, target string, res *stowResult) (notDICOM bool) {
	if err := checkPartHeader(p); err != nil {
		res.other = append(res.other, failureItem("", "", failureReason(err)))
		return false
	}
	br := bufio.NewReaderSize(p, stowPeek)
	prefix, _ := br.Peek(stowPeek)
	if !looksDICOM(prefix) {
		log.Debug("part refused, not DICOM", "reason", fmt.Sprintf("0x%04X", reasonCannotUnderstand))
		res.other = append(res.other, failureItem("", "", reasonCannotUnderstand))
		return true
	}
	// Look at the header first (from the first 64 KiB only; a header larger than that is
	// left to the archive): the UIDs name the instance in the response even when it is
	// refused, and two refusals need them before anything is stored.
	class, sop, study := peekUIDs(prefix, s.fallback)
	var err error
	switch {
	case class != "" && !dicom.IsStorageSOPClass(class):
		err = fmt.Errorf("part %s: SOP Class %s: %w", sop, class, errNotStorage)
	case target != "" && study != "" && study != target:
		err = fmt.Errorf("part %s: study %s: %w", sop, study, errStudyMismatch)
	}
	var inst *store.Instance
	if err == nil {
		site, _ := s.askedBy(req)
		inst, err = s.archive.Put(ctx, br, store.PutRequest{
			Origin:                 store.Origin{Transport: "stow", RemoteAddr: req.RemoteAddr, Site: site},
			ExpectStudyInstanceUID: target,
		})
	}
	if err != nil {
		reason := failureReason(err)
		level := slogLevelFor(reason)
		log.Log(ctx, level, "part refused", "sop_instance_uid", sop, "reason", fmt.Sprintf("0x%04X", reason), "err", err)
		if errors.Is(err, store.ErrDuplicate) {
			s.auditDuplicate(ctx, req, sop, err)
		}
		if class == "" && sop == "" {
			res.other = append(res.other, failureItem("", "", reason))
		} else {
			res.failed = append(res.failed, failureItem(class, sop, reason))
		}
		return false
	}
	item := dicom.JSONDataset{
		"00081150": {VR: "UI", Value: []any{inst.SOPClassUID}},
		"00081155": {VR: "UI", Value: []any{inst.SOPInstanceUID}},
	}
	item["00081190"] = dicom.JSONAttribute{VR: "UR", Value: []any{"/studies/" + url.PathEscape(inst.StudyInstanceUID) +
		"/series/" + url.PathEscape(inst.SeriesInstanceUID) + "/instances/" + url.PathEscape(inst.SOPInstanceUID)}}
	res.stored = append(res.stored, item)
	auditStored(ctx, inst)
	switch {
	case res.study == "" && !res.multi:
		res.study = inst.StudyInstanceUID
	case res.study != inst.StudyInstanceUID:
		res.study, res.multi = "", true
	}
	return false
}

// auditDuplicate records a part refused because its SOP instance is stored with other
// content (store.ErrDuplicate) as a failed store by the request's actor: another sender's
// attempt at a stored object is a security-relevant event of its own, whatever else the
// request stored. Detail is a fixed text, as C-STORE's ErrorComment.
func (s *server) auditDuplicate(ctx context.Context, req *http.Request, sop string, err error) {
	if s.audit == nil {
		return
	}
	actor, ok := audit.ActorFrom(ctx)
	if !ok {
		host, _, serr := net.SplitHostPort(req.RemoteAddr)
		if serr != nil {
			host = req.RemoteAddr
		}
		actor = audit.Anonymous("", host)
	}
	detail := "STOW-RS: SOP Instance UID already stored with other content by another site"
	if errors.Is(err, store.ErrOtherStudy) {
		detail = "STOW-RS: SOP Instance UID already stored with other content in another study"
	}
	s.audit.rec.Record(ctx, audit.Event{Actor: actor, Action: audit.ActionStore, Object: sop,
		Outcome: audit.OutcomeFailure, Detail: detail})
}

// looksDICOM reports whether a part's first bytes may start a Part-10 object, which is what
// application/dicom is (PS3.18 8.7.3.1.1): the PS3.10 7.1 preamble and "DICM", or, leniently,
// File Meta Information without the preamble. Anything else (a JPEG, a PDF, a ZIP, text) is
// known not to be DICOM after 132 bytes.
func looksDICOM(prefix []byte) bool {
	return len(prefix) >= 132 && string(prefix[128:132]) == "DICM" ||
		len(prefix) >= 4 && prefix[0] == 0x02 && prefix[1] == 0x00 // group 0002, little endian
}

// checkPartHeader accepts parts typed application/dicom (with any parameters) or not typed
// at all (the request's type then applies, RFC 2387), sent as binary.
func checkPartHeader(p *multipart.Part) error {
	if ct := p.Header.Get("Content-Type"); ct != "" {
		rs := parseAccept(ct)
		if len(rs) != 1 || rs[0].typ+"/"+rs[0].sub != mediaDicom {
			return fmt.Errorf("part of type %q: %w", short(ct), errPartType)
		}
	}
	switch strings.ToLower(strings.TrimSpace(p.Header.Get("Content-Transfer-Encoding"))) {
	case "", "binary", "8bit", "7bit":
		return nil
	}
	return fmt.Errorf("content transfer encoding %q: %w", short(p.Header.Get("Content-Transfer-Encoding")), errPartType)
}

// peekUIDs reads SOP Class, SOP Instance and Study Instance UIDs from the start of a
// Part-10 object, when they are there.
func peekUIDs(prefix []byte, fallback string) (class, sop, study string) {
	hdr, err := dicom.ReadPart10(bytes.NewReader(prefix), dicom.ReadOptions{FallbackCharset: fallback})
	if err != nil || hdr.Dataset == nil {
		return "", "", ""
	}
	clean := func(s string) string {
		s = dicom.TrimUID(s)
		if !dicom.ValidUID(s, dicom.UIDLeadingZeros) {
			return ""
		}
		return s
	}
	class = clean(hdr.Dataset.String(dicom.TagSOPClassUID))
	sop = clean(hdr.Dataset.String(dicom.TagSOPInstanceUID))
	if class == "" && hdr.Meta != nil {
		class = clean(hdr.Meta.String(dicom.TagMediaStorageSOPClassUID))
	}
	if sop == "" && hdr.Meta != nil {
		sop = clean(hdr.Meta.String(dicom.TagMediaStorageSOPInstanceUID))
	}
	return class, sop, clean(hdr.Dataset.String(dicom.TagStudyInstanceUID))
}

// failureItem is one item of Failed SOP Sequence (with the UIDs) or of Other Failures
// Sequence (without).
func failureItem(class, sop string, reason uint16) dicom.JSONDataset {
	item := dicom.JSONDataset{"00081197": {VR: "US", Value: []any{float64(reason)}}}
	if class != "" || sop != "" {
		item["00081150"] = uidAttr(class)
		item["00081155"] = uidAttr(sop)
	}
	return item
}

func uidAttr(u string) dicom.JSONAttribute {
	if u == "" {
		return dicom.JSONAttribute{VR: "UI"}
	}
	return dicom.JSONAttribute{VR: "UI", Value: []any{u}}
}

// stowResponse builds the Store Instances Response Module (PS3.18 Table I.1-1), with the
// study's Retrieve URL when the request named one or everything stored belongs to one study.
//
// Retrieve URL (0008,1190) has VR UR, which PS3.5 6.2 lets hold a relative URI as well as an
// absolute one. The request's Host is whatever the client wrote, so it is not echoed into
// the answer: under Config.PublicURL the URLs are absolute, otherwise they are relative
// references from this server's root (RFC 3986 4.2: "/dicomweb/studies/..."), which the
// client resolves against the URL it posted to.
func (s *server) stowResponse(c echo.Context, target string, res *stowResult) dicom.JSONDataset {
	base := s.publicURL + s.prefix
	out := dicom.JSONDataset{}
	study := target
	if study == "" {
		study = res.study
	}
	if study != "" && (len(res.stored) > 0 || target != "") {
		out["00081190"] = dicom.JSONAttribute{VR: "UR", Value: []any{base + "/studies/" + url.PathEscape(study)}}
	}
	seq := func(items []dicom.JSONDataset) dicom.JSONAttribute {
		a := dicom.JSONAttribute{VR: "SQ"}
		for _, it := range items {
			if u, ok := it["00081190"]; ok && len(u.Value) == 1 {
				if rel, ok := u.Value[0].(string); ok && strings.HasPrefix(rel, "/studies/") {
					it["00081190"] = dicom.JSONAttribute{VR: "UR", Value: []any{base + rel}}
				}
			}
			a.Value = append(a.Value, it)
		}
		return a
	}
	if len(res.stored) > 0 {
		out["00081199"] = seq(res.stored)
	}
	if len(res.failed) > 0 {
		out["00081198"] = seq(res.failed)
	}
	if len(res.other) > 0 {
		out["0008119A"] = seq(res.other)
	}
	return out
}
