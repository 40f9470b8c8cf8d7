package dicomweb

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"pacsd/dicom"
	"pacsd/store"
)

// QIDO-RS, PS3.18 10.6: search for studies, series and instances, answered from the index
// alone (DESIGN.md section 4).

// searchTarget is one of the search resources of PS3.18 Table 10.6.1-2.
type searchTarget int

const (
	searchStudies         searchTarget = iota // /studies
	searchAllSeries                           // /series
	searchAllInstances                        // /instances
	searchStudySeries                         // /studies/{study}/series
	searchStudyInstances                      // /studies/{study}/instances
	searchSeriesInstances                     // /studies/{study}/series/{series}/instances
)

func (t searchTarget) level() store.Level {
	switch t {
	case searchStudies:
		return store.LevelStudy
	case searchAllSeries, searchStudySeries:
		return store.LevelSeries
	default:
		return store.LevelInstance
	}
}

// Default return attributes per level: PS3.18 Table 10.6.3-3 (study), 10.6.3-4 (series),
// 10.6.3-5 (instance). Retrieve URL is in all three and is built here, not by the index.
var (
	studyReturnTags = []dicom.Tag{
		dicom.TagStudyDate, dicom.TagStudyTime, dicom.TagAccessionNumber,
		dicom.TagInstanceAvailability, dicom.TagModalitiesInStudy, dicom.TagReferringPhysicianName,
		dicom.TagTimezoneOffsetFromUTC, dicom.TagRetrieveURL, dicom.TagPatientName, dicom.TagPatientID,
		dicom.TagPatientBirthDate, dicom.TagPatientSex, dicom.TagStudyInstanceUID, dicom.TagStudyID,
		dicom.TagNumberOfStudyRelatedSeries, dicom.TagNumberOfStudyRelatedInstances,
	}
	seriesReturnTags = []dicom.Tag{
		dicom.TagModality, dicom.TagTimezoneOffsetFromUTC, dicom.TagSeriesDescription,
		dicom.TagRetrieveURL, dicom.TagSeriesInstanceUID, dicom.TagSeriesNumber,
		dicom.TagNumberOfSeriesRelatedInstances, dicom.TagPerformedProcedureStepStartDate,
		dicom.TagPerformedProcedureStepStartTime, dicom.TagRequestAttributesSequence,
	}
	instanceReturnTags = []dicom.Tag{
		dicom.TagSOPClassUID, dicom.TagSOPInstanceUID, dicom.TagInstanceAvailability,
		dicom.TagTimezoneOffsetFromUTC, dicom.TagRetrieveURL, dicom.TagInstanceNumber,
		dicom.TagRows, dicom.TagColumns, dicom.TagBitsAllocated, dicom.TagNumberOfFrames,
		// 10.6.3.3.3 lets the response include Available Transfer Syntax UID, "the Transfer
		// Syntaxes that the origin server can assure will be supported for retrieval";
		// viewers (OHIF) read it to choose how to fetch frames, so it is a default here.
		// pacsd lists the stored syntax alone (qidojson.go says why).
		dicom.TagAvailableTransferSyntaxUID,
	}
)

// defaultReturnKeys holds, per search target, the JSON keys returned without includefield.
// A search that is not scoped to a study or series also returns the attributes of the
// levels above (PS3.18 10.6.3.3.2: "If the Target Resource is All Series, then include all
// Study Level Attributes"; 10.6.3.3.3 likewise for Study's Instances and All Instances).
var defaultReturnKeys = func() map[searchTarget]map[string]bool {
	set := func(lists ...[]dicom.Tag) map[string]bool {
		m := map[string]bool{}
		for _, l := range lists {
			for _, t := range l {
				m[t.Hex()] = true
			}
		}
		return m
	}
	return map[searchTarget]map[string]bool{
		searchStudies:         set(studyReturnTags),
		searchAllSeries:       set(seriesReturnTags, studyReturnTags),
		searchStudySeries:     set(seriesReturnTags),
		searchAllInstances:    set(instanceReturnTags, seriesReturnTags, studyReturnTags),
		searchStudyInstances:  set(instanceReturnTags, seriesReturnTags),
		searchSeriesInstances: set(instanceReturnTags),
	}
}()

// Query parameters that are not attribute matches (PS3.18 8.3.4, Table 8.3.4-1; "accept"
// is the Accept query parameter of PS3.18 8.3.3.1).
const (
	qpIncludeField  = "includefield"
	qpFuzzyMatching = "fuzzymatching"
	qpLimit         = "limit"
	qpOffset        = "offset"
	qpAccept        = "accept"
)

// Bounds on what one query may ask, checked before anything is allocated for it.
const (
	maxQueryParams = 128
	maxValueLen    = 8192 // a list of 100 UIDs fits
)

// searchRequest is a parsed QIDO-RS query string.
type searchRequest struct {
	matches    []store.Match
	returnKeys map[string]bool // matching and includefield keys, as JSON keys
	includeAll bool
	limit      int // 0: none given
	offset     int
	fuzzy      bool
	accept     string // the accept query parameter, "" when absent
}

// parseSearch reads a raw (still percent-encoded) query string. url.ParseQuery decodes it
// as application/x-www-form-urlencoded, so '+' is a space; see the package comment.
func parseSearch(rawQuery string) (*searchRequest, error) {
	if strings.Count(rawQuery, "&")+1 > maxQueryParams*2 {
		return nil, badRequest("too many query parameters (at most %d)", maxQueryParams)
	}
	vals, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, badRequest("malformed query string: percent-encode reserved characters (';' is not a separator)")
	}
	if len(vals) > maxQueryParams {
		return nil, badRequest("too many query parameters (at most %d)", maxQueryParams)
	}
	req := &searchRequest{returnKeys: map[string]bool{}}
	seen := map[dicom.Tag]string{}
	// Sorted names give stable error messages and match order.
	names := make([]string, 0, len(vals))
	for name := range vals {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		values := vals[name]
		if !utf8.ValidString(name) {
			return nil, badRequest("query parameter names must be UTF-8")
		}
		for _, v := range values {
			if len(v) > maxValueLen {
				return nil, badRequest("value of %q too long (at most %d bytes)", short(name), maxValueLen)
			}
			if !utf8.ValidString(v) {
				return nil, badRequest("value of %q is not UTF-8 after percent-decoding", short(name))
			}
		}
		switch strings.ToLower(name) {
		case qpIncludeField:
			for _, v := range values {
				if err := req.addIncludeFields(v); err != nil {
					return nil, err
				}
			}
			continue
		case qpFuzzyMatching:
			v, err := single(name, values)
			if err != nil {
				return nil, err
			}
			switch strings.ToLower(v) {
			case "true":
				req.fuzzy = true
			case "false":
				req.fuzzy = false
			default:
				return nil, badRequest("fuzzymatching must be true or false, not %q", short(v))
			}
			continue
		case qpLimit, qpOffset:
			v, err := single(name, values)
			if err != nil {
				return nil, err
			}
			n, err := strconv.Atoi(v)
			lower := strings.ToLower(name)
			if err != nil || n < 0 || (lower == qpLimit && n == 0) {
				if lower == qpLimit {
					return nil, badRequest("limit must be a positive integer, not %q", short(v))
				}
				return nil, badRequest("offset must be a non-negative integer, not %q", short(v))
			}
			if lower == qpLimit {
				req.limit = n
			} else {
				req.offset = n
			}
			continue
		case qpAccept:
			req.accept = strings.Join(values, ",")
			continue
		}

		tag, err := parseAttributePath(name)
		if err != nil {
			return nil, err
		}
		if prev, dup := seen[tag]; dup {
			return nil, badRequest("attribute %s given more than once (%q and %q)", tag, short(prev), short(name))
		}
		seen[tag] = name
		v, err := single(name, values)
		if err != nil {
			return nil, err
		}
		mv, err := matchValue(tag, v)
		if err != nil {
			return nil, err
		}
		req.matches = append(req.matches, store.Match{Tag: tag, Value: mv})
		// PS3.18 10.6.3.3: attributes passed as match parameters are returned too.
		req.returnKeys[tag.Hex()] = true
	}
	return req, nil
}

// single returns the one value of a parameter that may not repeat.
func single(name string, values []string) (string, error) {
	if len(values) != 1 {
		return "", badRequest("query parameter %q given %d times; give it once", short(name), len(values))
	}
	return values[0], nil
}

// addIncludeFields reads one includefield value: "all", or a comma-separated list of
// keywords or tags (PS3.18 8.3.4.3).
func (r *searchRequest) addIncludeFields(v string) error {
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		switch {
		case f == "":
			continue
		case strings.EqualFold(f, "all"):
			r.includeAll = true
			continue
		}
		tag, err := parseIncludePath(f)
		if err != nil {
			return err
		}
		r.returnKeys[tag.Hex()] = true
	}
	return nil
}

// parseIncludePath reads an includefield attribute: a keyword or tag, or a dotted path into
// a sequence (PS3.18 8.3.4.1), of which the top-level sequence is returned whole.
func parseIncludePath(f string) (dicom.Tag, error) {
	parts := strings.Split(f, ".")
	var top dicom.Tag
	for i, p := range parts {
		t, ok := dicom.ParseTag(p)
		if !ok {
			return 0, badRequest("includefield %q: %q is not a DICOM keyword or tag", short(f), short(p))
		}
		if i == 0 {
			top = t
		}
	}
	return top, nil
}

// parseAttributePath reads the name of a matching parameter. Matching inside sequences
// (dotted paths) is not supported by the index yet, which is said rather than ignored.
func parseAttributePath(name string) (dicom.Tag, error) {
	if strings.Contains(name, ".") {
		if t, ok := dicom.ParseTag(name[:strings.IndexByte(name, '.')]); ok {
			return 0, badRequest("matching on attributes inside sequences (%q, in %s) is not supported", short(name), t)
		}
	}
	t, ok := dicom.ParseTag(name)
	if !ok {
		return 0, badRequest("unknown query parameter %q: not a DICOM keyword or tag, nor one of %s, %s, %s, %s, %s",
			short(name), qpIncludeField, qpLimit, qpOffset, qpFuzzyMatching, qpAccept)
	}
	return t, nil
}

// Media types of QIDO-RS responses (PS3.18 8.7.4, 10.6.3.3). DICOM JSON is always UTF-8
// (PS3.18 F.1); the charset parameter is there for browsers viewing a response.
const (
	mediaDicomJSON = "application/dicom+json; charset=utf-8"
	mediaJSON      = "application/json; charset=utf-8"
)

var (
	offerDicomJSON = offer{typ: "application", sub: "dicom+json"}
	offerJSON      = offer{typ: "application", sub: "json"}
	offerDicomXML  = offer{typ: "multipart", sub: "related", params: map[string]string{"type": "application/dicom+xml"}}
)

// negotiateSearch picks the response representation for accept (the joined Accept field,
// or the accept query parameter): DICOM JSON, plain JSON, or the XML of PS3.18 10.6.3.3
// (multipart/related; type="application/dicom+xml", one Native DICOM Model document per
// result). An absent field accepts anything (RFC 9110 12.5.1).
func negotiateSearch(accept string) (string, error) {
	if strings.TrimSpace(accept) == "" {
		return mediaDicomJSON, nil
	}
	ranges := parseAccept(accept)
	qd, qj, qx := quality(ranges, offerDicomJSON), quality(ranges, offerJSON), quality(ranges, offerDicomXML)
	switch {
	case qd > 0 && qd >= qj && qd >= qx:
		return mediaDicomJSON, nil
	case qx > 0 && qx > qj:
		return mediaDicomXML, nil
	case qj > 0:
		return mediaJSON, nil
	}
	return "", notAcceptable(`search results are offered as application/dicom+json, application/json or multipart/related; type="application/dicom+xml"`)
}

// warningTruncated is the Warning of PS3.18 8.3.4.4 when the server's maximum cut the
// results short. warn-agent "pacsd:" is a uri-host with an empty port, which RFC 9111
// 5.5 (obsoleted Warning syntax) allows, and keeps the form PS3.18 shows.
const warningTruncated = `299 pacsd: "The number of results exceeded the maximum supported by the server. Additional results can be requested."`

// search serves one QIDO-RS resource.
func (s *server) search(t searchTarget) echo.HandlerFunc {
	return func(c echo.Context) error {
		req, err := parseSearch(c.Request().URL.RawQuery)
		if err != nil {
			return s.publicError(c, "search", err)
		}
		accept := req.accept
		if accept == "" {
			accept = acceptField(c.Request().Header.Values(echo.HeaderAccept))
		}
		ctype, err := negotiateSearch(accept)
		if err != nil {
			return s.publicError(c, "search", err)
		}

		q := store.Query{Level: t.level(), Matches: req.matches, Fuzzy: req.fuzzy, Offset: req.offset}
		_, q.WithQuarantined = s.askedBy(c.Request())
		switch t {
		case searchStudySeries, searchStudyInstances, searchSeriesInstances:
			if q.StudyInstanceUID, err = pathUID(c, paramStudy); err != nil {
				return s.publicError(c, "search", err)
			}
		}
		if t == searchSeriesInstances {
			if q.SeriesInstanceUID, err = pathUID(c, paramSeries); err != nil {
				return s.publicError(c, "search", err)
			}
		}

		// PS3.18 8.3.4.4: a limit above what the server supports, or none, gets the server's
		// maximum; one more is asked for to know whether anything was cut.
		limit, capped := req.limit, false
		if limit == 0 || limit > s.maxResults {
			limit, capped = s.maxResults, true
		}
		q.Limit = limit
		if capped {
			q.Limit = limit + 1
		}
		results, err := s.archive.Index().Search(c.Request().Context(), q)
		if err != nil {
			return s.publicError(c, "search", err)
		}
		truncated := capped && len(results) > limit
		if truncated {
			results = results[:limit]
		}

		base := s.baseURL(c)
		h := c.Response().Header()
		if truncated {
			h.Set("Warning", warningTruncated)
		}
		setPrivateNoStore(h)
		h.Add(echo.HeaderVary, echo.HeaderAccept)
		s.log.Debug("qido-rs", "resource", c.Path(), "results", len(results), "truncated", truncated)
		w := newHitWriter(t, req, base)
		if ctype == mediaDicomXML {
			// The same attributes as in JSON, shaped once by the hit writer.
			docs := make([][]byte, len(results))
			for i, r := range results {
				b, err := w.append(nil, r)
				if err != nil {
					return s.publicError(c, "search", err)
				}
				ds, err := dicom.ParseJSON(b)
				if err != nil {
					return s.publicError(c, "search", err)
				}
				docs[i] = nativeXML(ds)
			}
			return s.sendXMLParts(c, docs)
		}
		bp := searchBufs.Get().(*[]byte)
		defer putSearchBuf(bp)
		buf := append((*bp)[:0], '[')
		for i, r := range results {
			if i > 0 {
				buf = append(buf, ',')
			}
			if buf, err = w.append(buf, r); err != nil {
				return s.publicError(c, "search", err)
			}
		}
		buf = append(buf, ']', '\n')
		*bp = buf
		return sendBody(c, http.StatusOK, ctype, buf, nil) // written before it returns
	}
}

// searchBufs are the buffers QIDO-RS answers are spliced into, reused: a name search's
// few hundred matches are a few hundred KB, which allocated for each search were a third
// of its garbage (and GC cycles are what a loaded server's slowest answers wait for).
var searchBufs = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// putSearchBuf returns a buffer to searchBufs unless an unusual answer made it big.
func putSearchBuf(bp *[]byte) {
	if cap(*bp) <= 4<<20 {
		searchBufs.Put(bp)
	}
}

// setPrivateNoStore marks a search response as PHI that may not be cached: results change
// as objects arrive, and shared caches must never keep patient data.
func setPrivateNoStore(h http.Header) {
	h.Set(echo.HeaderCacheControl, "private, no-store")
	h.Set(echo.HeaderXContentTypeOptions, "nosniff")
}

// joinRetrieveURL builds the WADO-RS URL of a study, series or instance (PS3.18 10.6.3.3,
// Retrieve URL); "" when a UID the level needs is missing.
func joinRetrieveURL(base string, level store.Level, study, series, inst string) string {
	if study == "" {
		return ""
	}
	u := base + "/studies/" + url.PathEscape(study)
	if level == store.LevelStudy {
		return u
	}
	if series == "" {
		return ""
	}
	u += "/series/" + url.PathEscape(series)
	if level == store.LevelSeries {
		return u
	}
	if inst == "" {
		return ""
	}
	return u + "/instances/" + url.PathEscape(inst)
}

// pathUID returns a UID path parameter, or 400 when it is not a UID.
func pathUID(c echo.Context, name string) (string, error) {
	v := c.Param(name)
	if !dicom.ValidUID(v, dicom.UIDLeadingZeros) {
		return "", badRequest("%s UID %q in the path is not a valid UID", name, short(v))
	}
	return v, nil
}
