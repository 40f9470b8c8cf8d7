package dicomweb

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

func (f *fixture) wadoURI(name string, extra url.Values) string {
	e := f.expected[name]
	q := url.Values{"requestType": {"WADO"}, "studyUID": {e.StudyInstanceUID}, "seriesUID": {e.SeriesInstanceUID}, "objectUID": {e.SOPInstanceUID}}
	for k, v := range extra {
		if v == nil {
			delete(q, k)
		} else {
			q[k] = v
		}
	}
	return f.url + "/dicomweb/wado?" + q.Encode()
}

func testWADOURI(t *testing.T, f *fixture) {
	dcm := url.Values{"contentType": {"application/dicom"}}
	for _, name := range []string{"dr_mono2.dcm", "ts_jpeg_baseline.dcm", "us_multiframe_jpeg.dcm", "sr_basic_text.dcm"} {
		t.Run(name, func(t *testing.T) {
			r := get(t, http.MethodGet, f.wadoURI(name, dcm), nil)
			if r.status != http.StatusOK || r.header.Get("Content-Type") != mediaDicom || !bytes.Equal(r.body, f.files[name]) {
				t.Fatalf("%d %q, %d bytes (stored %d)", r.status, r.header.Get("Content-Type"), len(r.body), len(f.files[name]))
			}
			if et := r.header.Get("ETag"); et != `"`+sha(f.files[name])+`"` {
				t.Errorf("ETag %q", et)
			}
		})
	}
	name := "dr_mono2.dcm"
	stored := f.expected[name].TransferSyntaxUID
	tests := []struct {
		name   string
		q      url.Values
		hdr    map[string]string
		status int
	}{
		{"stored transfer syntax", url.Values{"contentType": {"application/dicom"}, "transferSyntax": {stored}}, nil, 200},
		{"other transfer syntax", url.Values{"contentType": {"application/dicom"}, "transferSyntax": {"1.2.840.10008.1.2.4.50"}}, nil, 406},
		{"list with weights", url.Values{"contentType": {"image/jpeg;q=0.5, application/dicom"}}, nil, 200},
		{"rendered by weight", url.Values{"contentType": {"image/jpeg, application/dicom;q=0.5"}}, nil, 200},
		{"rendered on a tie", url.Values{"contentType": {"application/dicom, image/png"}}, nil, 200},
		{"rendered", url.Values{"contentType": {"image/jpeg"}}, nil, 200},
		{"image without contentType is rendered", nil, nil, 200},
		{"rendered type not offered", url.Values{"contentType": {"image/gif"}}, nil, 406},
		{"Accept application/dicom", nil, map[string]string{"Accept": "application/dicom"}, 200},
		{"anonymize", url.Values{"contentType": {"application/dicom"}, "anonymize": {"yes"}}, nil, 406},
		{"anonymize other value", url.Values{"contentType": {"application/dicom"}, "anonymize": {"no"}}, nil, 400},
		{"wrong requestType", url.Values{"contentType": {"application/dicom"}, "requestType": {"WADO-RS"}}, nil, 400},
		{"no objectUID", url.Values{"contentType": {"application/dicom"}, "objectUID": nil}, nil, 400},
		{"bad studyUID", url.Values{"contentType": {"application/dicom"}, "studyUID": {"1.2.x"}}, nil, 400},
		{"other series", url.Values{"contentType": {"application/dicom"}, "seriesUID": {"1.2.3"}}, nil, 404},
		{"unknown object", url.Values{"contentType": {"application/dicom"}, "objectUID": {"1.2.3.4"}}, nil, 404},
		{"repeated parameter", url.Values{"contentType": {"application/dicom", "application/dicom"}}, nil, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, http.MethodGet, f.wadoURI(name, tt.q), tt.hdr)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); tt.status == http.StatusOK && strings.Contains(tt.name, "rendered") && !strings.HasPrefix(ct, "image/") {
				t.Errorf("rendered: Content-Type %q", ct)
			} else if tt.status == http.StatusOK && !strings.Contains(tt.name, "rendered") && ct != mediaDicom {
				t.Errorf("object: Content-Type %q", ct)
			}
			if tt.status != http.StatusOK {
				var body struct{ Message string }
				if json.Unmarshal(r.body, &body) != nil || body.Message == "" {
					t.Errorf("error body %q", r.body)
				}
				if tt.name == "rendered type not offered" && !strings.Contains(body.Message, "application/dicom") {
					t.Errorf("406 does not say what to ask for: %q", body.Message)
				}
			}
		})
	}
	t.Run("non-image without contentType is the object", func(t *testing.T) {
		r := get(t, http.MethodGet, f.wadoURI("sr_basic_text.dcm", nil), nil)
		if r.status != http.StatusOK || !bytes.Equal(r.body, f.files["sr_basic_text.dcm"]) {
			t.Errorf("%d", r.status)
		}
	})
	t.Run("range and HEAD", func(t *testing.T) {
		r := get(t, http.MethodGet, f.wadoURI(name, dcm), map[string]string{"Range": "bytes=128-131"})
		if r.status != http.StatusPartialContent || string(r.body) != "DICM" {
			t.Errorf("range: %d %q", r.status, r.body)
		}
		h := get(t, http.MethodHead, f.wadoURI(name, dcm), nil)
		if h.status != http.StatusOK || len(h.body) != 0 || h.header.Get("Content-Length") != strconv.Itoa(len(f.files[name])) {
			t.Errorf("HEAD: %d, Content-Length %q", h.status, h.header.Get("Content-Length"))
		}
		pdf := get(t, http.MethodGet, f.wadoURI("pdf_encapsulated.dcm", url.Values{"contentType": {"application/pdf"}}), nil)
		if pdf.status != http.StatusOK || pdf.header.Get("Content-Type") != "application/pdf" || !bytes.HasPrefix(pdf.body, []byte("%PDF")) {
			t.Errorf("PDF: %d %q", pdf.status, pdf.header.Get("Content-Type"))
		}
	})
}

func testCORS(t *testing.T, f *fixture) {
	const viewer = "https://viewer.example"
	listed := serve(t, f.archive, Config{Logger: testLogger(), AllowedOrigins: []string{viewer + "/"}})
	anyOrigin := serve(t, f.archive, Config{Logger: testLogger(), AllowedOrigins: []string{"*"}})
	e := f.expected["dr_mono2.dcm"]
	path := "/dicomweb/studies/" + e.StudyInstanceUID + "/series/" + e.SeriesInstanceUID + "/metadata"
	preflight := func(base, origin string) response {
		req, _ := http.NewRequest(http.MethodOptions, base+path, nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "GET")
		req.Header.Set("Access-Control-Request-Headers", "accept, authorization, x-bad header")
		resp, err := testClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return response{status: resp.StatusCode, header: resp.Header}
	}
	tests := []struct {
		name, base, origin string
		allowed            string // expected Access-Control-Allow-Origin, "" for none
		credentials        bool
	}{
		{"listed origin", listed, viewer, viewer, true},
		{"other origin", listed, "https://evil.example", "", false},
		{"default: same origin only", f.url, viewer, "", false},
		{"any origin", anyOrigin, "https://anywhere.example", "*", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := preflight(tt.base, tt.origin)
			if tt.allowed == "" {
				if p.status != http.StatusForbidden || p.header.Get("Access-Control-Allow-Origin") != "" {
					t.Errorf("preflight: %d, ACAO %q", p.status, p.header.Get("Access-Control-Allow-Origin"))
				}
			} else {
				if p.status != http.StatusNoContent || p.header.Get("Access-Control-Allow-Origin") != tt.allowed ||
					!strings.Contains(p.header.Get("Access-Control-Allow-Methods"), "GET") ||
					p.header.Get("Access-Control-Allow-Headers") != "accept, authorization" {
					t.Errorf("preflight: %d %v", p.status, p.header)
				}
			}
			r := get(t, http.MethodGet, tt.base+path, map[string]string{"Origin": tt.origin})
			if r.status != http.StatusOK {
				t.Fatalf("GET %d", r.status)
			}
			if got := r.header.Get("Access-Control-Allow-Origin"); got != tt.allowed {
				t.Errorf("ACAO %q, want %q", got, tt.allowed)
			}
			if got := r.header.Get("Access-Control-Allow-Credentials") == "true"; got != tt.credentials {
				t.Errorf("credentials %v", got)
			}
			if tt.allowed != "" {
				for _, h := range []string{"ETag", "Warning", "Content-Type", "Content-Range"} {
					if !strings.Contains(r.header.Get("Access-Control-Expose-Headers"), h) {
						t.Errorf("%s not exposed", h)
					}
				}
			}
			if !strings.Contains(strings.Join(r.header.Values("Vary"), ","), "Origin") {
				t.Error("Vary lacks Origin")
			}
		})
	}
	t.Run("errors carry CORS too", func(t *testing.T) {
		r := get(t, http.MethodGet, listed+"/dicomweb/studies/1.2.3/metadata", map[string]string{"Origin": viewer})
		if r.status != http.StatusNotFound || r.header.Get("Access-Control-Allow-Origin") != viewer {
			t.Errorf("%d, ACAO %q", r.status, r.header.Get("Access-Control-Allow-Origin"))
		}
	})
	t.Run("plain OPTIONS", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodOptions, f.url+"/dicomweb/studies/"+e.StudyInstanceUID, nil)
		resp, err := testClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent || !strings.Contains(resp.Header.Get("Allow"), "POST") {
			t.Errorf("%d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
		}
	})
}

func testCapabilities(t *testing.T, f *fixture) {
	for _, root := range []string{"/dicomweb", "/dicomweb/"} {
		r := get(t, http.MethodGet, f.url+root, nil)
		var doc capabilitiesDoc
		if r.status != http.StatusOK || json.Unmarshal(r.body, &doc) != nil || len(doc.Resources) < 7 || len(doc.FailureReasons) != 8 || !strings.Contains(string(r.body), `"0x0111"`) {
			t.Errorf("%s: %d %s", root, r.status, r.body)
		}
	}
	r := get(t, http.MethodGet, f.url+"/dicomweb", map[string]string{"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") || !bytes.Contains(r.body, []byte("0xC409")) {
		t.Errorf("HTML: %d %q", r.status, r.header.Get("Content-Type"))
	}
}

func testQIDOFormats(t *testing.T, f *fixture) {
	t.Run("HEAD", func(t *testing.T) {
		g := get(t, http.MethodGet, f.url+"/dicomweb/studies?limit=3", nil)
		h := get(t, http.MethodHead, f.url+"/dicomweb/studies?limit=3", nil)
		if h.status != http.StatusOK || len(h.body) != 0 || h.header.Get("Content-Length") != strconv.Itoa(len(g.body)) {
			t.Errorf("HEAD %d, Content-Length %q, GET body %d", h.status, h.header.Get("Content-Length"), len(g.body))
		}
	})
	t.Run("gzip", func(t *testing.T) {
		r := get(t, http.MethodGet, f.url+"/dicomweb/studies?includefield=all", map[string]string{"Accept-Encoding": "gzip, deflate"})
		if r.status != http.StatusOK || r.header.Get("Content-Encoding") != "gzip" {
			t.Errorf("%d, Content-Encoding %q", r.status, r.header.Get("Content-Encoding"))
		}
	})
	t.Run("XML", func(t *testing.T) {
		ir58 := f.expected["charset_ir58.dcm"]
		r := get(t, http.MethodGet, f.url+"/dicomweb/studies?PatientName=%E5%BC%A0%5E%E4%BC%9F", map[string]string{"Accept": `multipart/related; type="application/dicom+xml"`})
		if r.status != http.StatusOK {
			t.Fatalf("%d %s", r.status, r.body)
		}
		docs := xmlParts(t, r)
		found := false
		for _, d := range docs {
			m := parseNativeXML(t, d)
			if a := m.attr("0020000D"); a != nil && len(a.Value) == 1 && a.Value[0].Text == ir58.StudyInstanceUID {
				found = true
				if u := m.attr("00081190"); u == nil || !strings.HasSuffix(u.Value[0].Text, "/studies/"+ir58.StudyInstanceUID) {
					t.Errorf("Retrieve URL %+v", u)
				}
			}
		}
		if !found {
			t.Errorf("IR 58 study not among %d XML results", len(docs))
		}
		empty := get(t, http.MethodGet, f.url+"/dicomweb/studies?PatientID=NOBODY", map[string]string{"Accept": `multipart/related; type="application/dicom+xml"`})
		if empty.status != http.StatusOK || len(xmlParts(t, empty)) != 0 {
			t.Errorf("empty XML result: %d %q", empty.status, empty.body)
		}
	})
}
