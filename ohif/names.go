package ohif

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode"

	"github.com/labstack/echo/v4"

	"pacsd/dicom"
)

// OHIF shows a Person Name by its alphabetic group only (@ohif/core's getName and formatPN:
// "Zhang^Wei=张^伟" reads "Zhang, Wei", and an ideographic-only "=张^伟" reads as nothing),
// and its study list filters the server's answer again in the browser on that text. A
// county radiologist knows the patient as 张伟. So OHIF's study search goes to the search
// root served here, <mount>/dicomweb (the data source's qidoRoot), which answers exactly
// as pacsd's DICOMweb does except that in a study search answer each Person Name's
// alphabetic group carries the name as a Chinese reader writes it (nameForOHIF).
//
// The rest stays standard: the request is pacsd's DICOMweb's own (same matching, limits,
// access checks, errors), dispatched in-process to DICOMwebPath; any other path under
// the root (series and instance searches) is passed through untouched; /dicomweb itself is
// never changed. Only the study search is rewritten because its names feed nothing but
// lists; metadata (wadoRoot) is not rewritten, since OHIF copies it into the reports (SR) it
// may store back.

// searchRoot is where OHIF's qidoRoot points, under the mount.
const searchRoot = "/dicomweb"

// maxSearchAnswer bounds a study search answer held for rewriting; pacsd's own result cap
// (dicomweb.Config.MaxResults) keeps real answers far below it.
const maxSearchAnswer = 64 << 20

// nameForOHIF is the text OHIF should show (and filter on) for a Person Name: the
// ideographic group when there is one, written as it is read (张^伟 -> 张伟), followed by the
// alphabetic group in parentheses (张伟 (Zhang Wei)), so that both 张 and the pinyin are in
// what OHIF shows; a name in characters sent in the alphabetic group (common in China)
// joined the same way. ok is false when the name has no ideographic content and is left as
// OHIF formats it ("Müller, Jürgen").
func nameForOHIF(p dicom.PersonName) (string, bool) {
	ideo := joinComponents(p.Ideographic, "")
	alpha := p.Alphabetic
	if ideo == "" {
		if !hasHan(alpha) {
			return "", false
		}
		return joinComponents(alpha, ""), true
	}
	if hasHan(alpha) || strings.Trim(alpha, "^ ") == "" {
		return ideo, true
	}
	return ideo + " (" + joinComponents(alpha, " ") + ")", true
}

// joinComponents writes a component group (PS3.5 6.2.1.1: family^given^middle^prefix^suffix)
// in reading order: prefix, family, given, middle, suffix, joined by sep. The result has no
// '^', which OHIF would turn into ", ".
func joinComponents(group, sep string) string {
	c := strings.Split(group, "^")
	for len(c) < 5 {
		c = append(c, "")
	}
	var words []string
	for _, w := range []string{c[3], c[0], c[1], c[2], strings.Join(c[4:], " ")} {
		if w = strings.TrimSpace(w); w != "" {
			words = append(words, w)
		}
	}
	return strings.Join(words, sep)
}

func hasHan(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return unicode.Is(unicode.Han, r) })
}

// rewriteNames replaces the alphabetic group of every Person Name value at the top level of
// each data set of a DICOM JSON search answer (PS3.18 F.2) by nameForOHIF's text; the other
// groups and attributes are kept.
func rewriteNames(answer []byte) ([]byte, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(answer, &items); err != nil {
		return nil, fmt.Errorf("read search answer: %w", err)
	}
	out := make([]dicom.JSONDataset, len(items))
	for i, raw := range items {
		ds, err := dicom.ParseJSON(raw)
		if err != nil {
			return nil, fmt.Errorf("read search answer: %w", err)
		}
		for _, a := range ds {
			if a.VR != "PN" {
				continue
			}
			for _, v := range a.Value {
				m, _ := v.(map[string]string)
				if m == nil {
					continue
				}
				p := dicom.PersonName{Alphabetic: m["Alphabetic"], Ideographic: m["Ideographic"], Phonetic: m["Phonetic"]}
				if name, ok := nameForOHIF(p); ok {
					m["Alphabetic"] = name // the map is the value's own
				}
			}
		}
		out[i] = ds
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("write search answer: %w", err)
	}
	return b, nil
}

// search answers OHIF's searches under <mount>/dicomweb by pacsd's DICOMweb.
func (h *handler) search(c echo.Context) error {
	req := c.Request()
	rest := strings.TrimPrefix(req.URL.Path, h.mount+searchRoot)
	if rest == req.URL.Path || (rest != "" && rest[0] != '/') {
		return echo.ErrNotFound
	}
	inner := req.Clone(req.Context())
	inner.URL.Path = h.dicomwebPath + rest
	inner.URL.RawPath = ""
	inner.RequestURI = inner.URL.RequestURI()
	if rest != "/studies" {
		h.echo.ServeHTTP(c.Response(), inner)
		return nil
	}
	inner.Method = http.MethodGet // a HEAD gets the headers of the rewritten GET
	rec := &capture{header: http.Header{}, status: http.StatusOK}
	h.echo.ServeHTTP(rec, inner)
	body, err := rec.rewritten()
	if err != nil {
		h.log.Error("study search answer not rewritten", "err", err)
		return echo.NewHTTPError(http.StatusBadGateway)
	}
	hdr := c.Response().Header()
	for k, v := range rec.header {
		hdr[k] = v
	}
	hdr.Del("ETag") // another representation than /dicomweb's
	hdr.Set(echo.HeaderContentLength, strconv.Itoa(len(body)))
	c.Response().WriteHeader(rec.status)
	if req.Method != http.MethodHead {
		_, err = c.Response().Write(body)
	}
	return err
}

// capture holds the answer of an in-process request.
type capture struct {
	header http.Header
	status int
	body   bytes.Buffer
	wrote  bool
	over   bool
}

func (c *capture) Header() http.Header { return c.header }

func (c *capture) WriteHeader(status int) {
	if !c.wrote {
		c.status, c.wrote = status, true
	}
}

func (c *capture) Write(p []byte) (int, error) {
	c.WriteHeader(http.StatusOK)
	if c.body.Len()+len(p) > maxSearchAnswer {
		c.over = true
		return 0, errors.New("study search answer too large to rewrite")
	}
	return c.body.Write(p)
}

// rewritten is the captured body with nameForOHIF applied when it is a successful DICOM
// JSON answer (in the content coding the server chose), else as it came.
func (c *capture) rewritten() ([]byte, error) {
	if c.over {
		return nil, fmt.Errorf("answer larger than %d bytes", maxSearchAnswer)
	}
	mt, _, _ := mime.ParseMediaType(c.header.Get(echo.HeaderContentType))
	if c.status != http.StatusOK || (mt != "application/dicom+json" && mt != "application/json") {
		return c.body.Bytes(), nil
	}
	switch enc := c.header.Get(echo.HeaderContentEncoding); enc {
	case "":
		return rewriteNames(c.body.Bytes())
	case "gzip":
		zr, err := gzip.NewReader(&c.body)
		if err != nil {
			return nil, fmt.Errorf("gunzip answer: %w", err)
		}
		plain, err := io.ReadAll(io.LimitReader(zr, maxSearchAnswer+1))
		if err != nil {
			return nil, fmt.Errorf("gunzip answer: %w", err)
		}
		if len(plain) > maxSearchAnswer {
			return nil, fmt.Errorf("answer larger than %d bytes", maxSearchAnswer)
		}
		b, err := rewriteNames(plain)
		if err != nil {
			return nil, err
		}
		var out bytes.Buffer
		zw := gzip.NewWriter(&out)
		zw.Write(b) // a bytes.Buffer does not fail
		if err := zw.Close(); err != nil {
			return nil, fmt.Errorf("gzip answer: %w", err)
		}
		return out.Bytes(), nil
	default:
		return nil, fmt.Errorf("answer in unexpected content coding %q", enc)
	}
}
