package dicomweb

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"pacsd/dicom"
	"pacsd/store"
	"pacsd/store/file"
	"pacsd/store/sqlite"
)

// stowPart is one part of a STOW-RS request.
type stowPart struct {
	ctype string // "" leaves the part untyped
	body  []byte
}

// multipartBody encodes parts as multipart/related with a fixed boundary.
func multipartBody(t testing.TB, parts []stowPart) []byte {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.SetBoundary("stow-test-boundary"); err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		if p.ctype != "" {
			h.Set("Content-Type", p.ctype)
		}
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(p.body)
	}
	mw.Close()
	return buf.Bytes()
}

const stowType = `multipart/related; type="application/dicom"; boundary=stow-test-boundary`

func post(t testing.TB, u, ctype string, body io.Reader, hdr map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = testHost
	req.Header.Set("Content-Type", ctype)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

// stowOutcome is a decoded Store Instances Response.
type stowOutcome struct {
	retrieveURL string
	stored      []string          // Referenced SOP Instance UIDs
	storedURLs  map[string]string // SOP Instance UID -> Retrieve URL
	failed      map[string]uint16 // SOP Instance UID -> Failure Reason
	other       []uint16          // Failure Reasons without UIDs
}

func decodeSTOW(t *testing.T, body []byte) stowOutcome {
	t.Helper()
	var ds map[string]map[string]any
	if err := json.Unmarshal(body, &ds); err != nil {
		t.Fatalf("response is not a DICOM JSON object: %v\n%s", err, body)
	}
	out := stowOutcome{storedURLs: map[string]string{}, failed: map[string]uint16{}}
	first := func(a any) any {
		m, _ := a.(map[string]any)
		v, _ := m["Value"].([]any)
		if len(v) == 0 {
			return nil
		}
		return v[0]
	}
	items := func(tag string) []map[string]any {
		var out []map[string]any
		vals, _ := ds[tag]["Value"].([]any)
		for _, v := range vals {
			out = append(out, v.(map[string]any))
		}
		return out
	}
	if u, ok := first(ds["00081190"]).(string); ok {
		out.retrieveURL = u
	}
	for _, it := range items("00081199") {
		sop, _ := first(it["00081155"]).(string)
		out.stored = append(out.stored, sop)
		out.storedURLs[sop], _ = first(it["00081190"]).(string)
		if cls, _ := first(it["00081150"]).(string); cls == "" {
			t.Errorf("stored item without SOP Class UID: %v", it)
		}
	}
	for _, it := range items("00081198") {
		sop, _ := first(it["00081155"]).(string)
		r, _ := first(it["00081197"]).(float64)
		out.failed[sop] = uint16(r)
	}
	for _, it := range items("0008119A") {
		r, _ := first(it["00081197"]).(float64)
		out.other = append(out.other, uint16(r))
	}
	sort.Strings(out.stored)
	return out
}

func readTestFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSTOW(t *testing.T) {
	f := &fixture{files: map[string][]byte{}}
	b, _ := os.ReadFile("../testdata/expected.json")
	if err := json.Unmarshal(b, &f.expected); err != nil {
		t.Fatal(err)
	}
	f.archive, f.blobs = newArchive(t)
	f.url = serve(t, f.archive, Config{Logger: testLogger()})
	part := func(name string) stowPart { return stowPart{"application/dicom", readTestFile(t, name)} }
	sopOf := func(name string) string { return f.expected[name].SOPInstanceUID }
	gb := f.expected["dr_mono2.dcm"]
	notStorage := genObject{sopClass: "1.2.840.10008.5.1.4.1.2.1.1", sop: "1.2.826.0.1.3680043.10.4.1",
		study: "1.2.826.0.1.3680043.10.4.2", series: "1.2.826.0.1.3680043.10.4.3"}.bytes(t)
	// broken_no_sopinstanceuid.dcm lacks it in the data set; the meta has one, which
	// names the instance in the response.
	var metaSOP string
	if h, err := dicom.ReadPart10(bytes.NewReader(readTestFile(t, "broken/broken_no_sopinstanceuid.dcm")), dicom.ReadOptions{}); err == nil {
		metaSOP = h.Meta.String(dicom.TagMediaStorageSOPInstanceUID)
	}

	tests := []struct {
		name    string
		path    string // after /dicomweb
		parts   []stowPart
		status  int
		stored  []string
		failed  map[string]uint16
		other   []uint16
		studyRU string // expected top-level Retrieve URL study, "" for none
	}{
		{"all stored", "/studies", []stowPart{part("dr_mono2.dcm"), part("charset_ir58.dcm")}, http.StatusOK,
			[]string{sopOf("dr_mono2.dcm"), sopOf("charset_ir58.dcm")}, nil, nil, ""},
		{"one study gets its Retrieve URL", "/studies", []stowPart{part("ts_rle.dcm"), part("ts_j2k.dcm")}, http.StatusOK,
			[]string{sopOf("ts_rle.dcm"), sopOf("ts_j2k.dcm")}, nil, nil, gb.StudyInstanceUID},
		{"good and broken", "/studies", []stowPart{part("sc_mono8.dcm"), part("broken/broken_notdicom.dcm"),
			part("broken/broken_no_sopinstanceuid.dcm"), part("broken/broken_truncated.dcm"), part("broken/broken_badlength.dcm")},
			http.StatusAccepted, []string{sopOf("sc_mono8.dcm")},
			map[string]uint16{metaSOP: reasonDataSetMismatch}, []uint16{reasonCannotUnderstand, reasonCannotUnderstand, reasonCannotUnderstand},
			f.expected["sc_mono8.dcm"].StudyInstanceUID},
		{"all broken", "/studies", []stowPart{part("broken/broken_notdicom.dcm"), part("broken/broken_truncated.dcm")},
			http.StatusConflict, nil, nil, []uint16{reasonCannotUnderstand, reasonCannotUnderstand}, ""},
		{"study mismatch", "/studies/" + gb.StudyInstanceUID, []stowPart{part("charset_latin1.dcm")}, http.StatusConflict,
			nil, map[string]uint16{sopOf("charset_latin1.dcm"): reasonStudyMismatch}, nil, gb.StudyInstanceUID},
		{"target study", "/studies/" + gb.StudyInstanceUID, []stowPart{part("ts_explicit_le.dcm"), part("charset_latin1.dcm")},
			http.StatusAccepted, []string{sopOf("ts_explicit_le.dcm")},
			map[string]uint16{sopOf("charset_latin1.dcm"): reasonStudyMismatch}, nil, gb.StudyInstanceUID},
		{"not a storage SOP class", "/studies", []stowPart{{"application/dicom", notStorage}}, http.StatusConflict,
			nil, map[string]uint16{"1.2.826.0.1.3680043.10.4.1": reasonSOPClassNotSupported}, nil, ""},
		{"same object twice", "/studies", []stowPart{part("us_multiframe.dcm"), part("us_multiframe.dcm")}, http.StatusOK,
			[]string{sopOf("us_multiframe.dcm"), sopOf("us_multiframe.dcm")}, nil, nil, f.expected["us_multiframe.dcm"].StudyInstanceUID},
		{"untyped parts and parameters", "/studies", []stowPart{{"", readTestFile(t, "ts_jpeg_baseline.dcm")},
			{"Application/DICOM; transfer-syntax=1.2.840.10008.1.2.4.50", readTestFile(t, "sc_mono8.dcm")}}, http.StatusOK,
			[]string{sopOf("ts_jpeg_baseline.dcm"), sopOf("sc_mono8.dcm")}, nil, nil, f.expected["sc_mono8.dcm"].StudyInstanceUID},
		{"part of another type", "/studies", []stowPart{{"application/dicom+json", []byte(`[{}]`)}}, http.StatusConflict,
			nil, nil, []uint16{reasonCannotUnderstand}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := post(t, f.url+"/dicomweb"+tt.path, stowType, bytes.NewReader(multipartBody(t, tt.parts)), nil)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != mediaDicomJSON {
				t.Errorf("Content-Type %q", ct)
			}
			out := decodeSTOW(t, r.body)
			want := slices.Clone(tt.stored)
			sort.Strings(want)
			if !slices.Equal(out.stored, want) {
				t.Errorf("stored %v, want %v", out.stored, want)
			}
			if fmt.Sprint(out.failed) != fmt.Sprint(orEmpty(tt.failed)) {
				t.Errorf("failed %v, want %v", out.failed, tt.failed)
			}
			if fmt.Sprint(out.other) != fmt.Sprint(tt.other) {
				t.Errorf("other failures %v, want %v", out.other, tt.other)
			}
			// Relative to the server (no PublicURL): the request's Host, which the client
			// chose, is not echoed.
			wantRU := ""
			if tt.studyRU != "" {
				wantRU = "/dicomweb/studies/" + tt.studyRU
			}
			if out.retrieveURL != wantRU {
				t.Errorf("Retrieve URL %q, want %q", out.retrieveURL, wantRU)
			}
			// What the response says is stored is stored, byte for byte.
			for _, p := range tt.parts {
				h, err := dicom.ReadPart10(bytes.NewReader(p.body), dicom.ReadOptions{})
				if err != nil {
					continue
				}
				sop := h.Dataset.String(dicom.TagSOPInstanceUID)
				if !slices.Contains(out.stored, sop) {
					continue
				}
				u := f.url + out.storedURLs[sop]
				g := get(t, http.MethodGet, u, map[string]string{"Accept": acceptAnyTS})
				if _, bodies := parts(t, g); len(bodies) != 1 || !bytes.Equal(bodies[0], p.body) {
					t.Errorf("%s: retrieved object differs from the part", sop)
				}
			}
		})
	}

	t.Run("XML response", func(t *testing.T) {
		r := post(t, f.url+"/dicomweb/studies", stowType, bytes.NewReader(multipartBody(t, []stowPart{part("charset_gbk.dcm"), part("broken/broken_notdicom.dcm")})),
			map[string]string{"Accept": "application/dicom+xml"})
		if r.status != http.StatusAccepted || !strings.HasPrefix(r.header.Get("Content-Type"), mediaDicomXML) {
			t.Fatalf("%d %q", r.status, r.header.Get("Content-Type"))
		}
		m := parseNativeXML(t, r.body)
		ref := m.attr("00081199")
		if ref == nil || len(ref.Items) != 1 || m.attr("0008119A") == nil {
			t.Fatalf("XML response: %s", r.body)
		}
		var sop string
		for _, a := range ref.Items[0].Attrs {
			if a.Tag == "00081155" {
				sop = a.Value[0].Text
			}
		}
		if sop != sopOf("charset_gbk.dcm") {
			t.Errorf("Referenced SOP Instance UID %q", sop)
		}
	})

	t.Run("request errors", func(t *testing.T) {
		good := multipartBody(t, []stowPart{part("charset_utf8.dcm")})
		for _, tt := range []struct {
			name, ctype, accept string
			body                []byte
			status              int
		}{
			{"single part", "application/dicom", "", readTestFile(t, "charset_utf8.dcm"), http.StatusUnsupportedMediaType},
			{"metadata and bulk data", `multipart/related; type="application/dicom+json"; boundary=stow-test-boundary`, "", good, http.StatusUnsupportedMediaType},
			{"form upload", `multipart/form-data; boundary=stow-test-boundary`, "", good, http.StatusUnsupportedMediaType},
			{"no boundary", `multipart/related; type="application/dicom"`, "", good, http.StatusBadRequest},
			{"wrong boundary", `multipart/related; type="application/dicom"; boundary=other`, "", good, http.StatusBadRequest},
			{"garbage", stowType, "", []byte("not a multipart body at all"), http.StatusBadRequest},
			{"no parts", stowType, "", []byte("--stow-test-boundary--\r\n"), http.StatusBadRequest},
			{"unreadable answer", stowType, "text/html", good, http.StatusNotAcceptable},
			{"bad study UID", stowType, "", good, http.StatusBadRequest},
		} {
			t.Run(tt.name, func(t *testing.T) {
				u := f.url + "/dicomweb/studies"
				if tt.name == "bad study UID" {
					u += "/1.2.abc"
				}
				r := post(t, u, tt.ctype, bytes.NewReader(tt.body), map[string]string{"Accept": tt.accept})
				if r.status != tt.status {
					t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
				}
				var body struct{ Message string }
				if json.Unmarshal(r.body, &body) != nil || body.Message == "" {
					t.Errorf("error body %q", r.body)
				}
			})
		}
		// None of the refused requests stored the object.
		if _, err := f.archive.Index().Instance(context.Background(), sopOf("charset_utf8.dcm")); err == nil {
			t.Error("a refused request stored its object")
		}
	})

	t.Run("truncated body", func(t *testing.T) {
		body := multipartBody(t, []stowPart{part("dr_mono1.dcm"), part("ts_implicit_le.dcm")})
		cut := body[:len(body)-len(readTestFile(t, "ts_implicit_le.dcm"))/2]
		r := post(t, f.url+"/dicomweb/studies", stowType, bytes.NewReader(cut), nil)
		if r.status != http.StatusAccepted {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		out := decodeSTOW(t, r.body)
		if !slices.Equal(out.stored, []string{sopOf("dr_mono1.dcm")}) || len(out.failed)+len(out.other) == 0 {
			t.Errorf("stored %v, failed %v, other %v", out.stored, out.failed, out.other)
		}
		if _, err := f.archive.Index().Instance(context.Background(), sopOf("ts_implicit_le.dcm")); err == nil {
			t.Error("the truncated object was stored")
		}
	})
}

// TestSTOWBoundaryLength: a boundary longer than RFC 2046 lets a generator make is accepted
// (Orthanc's DICOMweb client sends two UUIDs joined: 73 characters); one beyond maxBoundary
// is refused with a 400 that says why, and the refusal is logged at info level with the
// sender's address. The handler is called directly, so the log is read without races.
func TestSTOWBoundaryLength(t *testing.T) {
	a, _ := newArchive(t)
	var logs bytes.Buffer
	e := echo.New()
	e.Use(middleware.Recover())
	Register(e.Group("/dicomweb"), a, Config{Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	obj := readTestFile(t, "dr_mono2.dcm")
	stow := func(boundary string) *httptest.ResponseRecorder {
		t.Helper()
		var body bytes.Buffer
		// Written by hand: mime/multipart's writer refuses boundaries over 70 bytes.
		fmt.Fprintf(&body, "--%s\r\nContent-Type: application/dicom\r\n\r\n", boundary)
		body.Write(obj)
		fmt.Fprintf(&body, "\r\n--%s--\r\n", boundary)
		req := httptest.NewRequest(http.MethodPost, "/dicomweb/studies", &body)
		req.Header.Set("Content-Type", `multipart/related; type="application/dicom"; boundary=`+boundary)
		req.Header.Set("User-Agent", "stow-test")
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		return rec
	}

	orthanc := "0f4e2c1a-7d3b-4e58-9a61-2b8c5d7e9f01-6a1b3c5d-8e2f-4a7b-9c0d-1e3f5a7b9c2d"
	if len(orthanc) != 73 {
		t.Fatalf("test boundary is %d bytes", len(orthanc))
	}
	if rec := stow(orthanc); rec.Code != http.StatusOK {
		t.Fatalf("73-byte boundary: status %d: %s", rec.Code, rec.Body)
	}
	if rec := stow(strings.Repeat("b", maxBoundary)); rec.Code != http.StatusOK {
		t.Fatalf("%d-byte boundary: status %d: %s", maxBoundary, rec.Code, rec.Body)
	}
	if strings.Contains(logs.String(), "request refused") {
		t.Errorf("accepted requests logged as refused:\n%s", logs.String())
	}

	logs.Reset()
	rec := stow(strings.Repeat("b", maxBoundary+1))
	var body struct{ Message string }
	if rec.Code != http.StatusBadRequest || json.Unmarshal(rec.Body.Bytes(), &body) != nil ||
		!strings.Contains(body.Message, fmt.Sprintf("boundary of %d bytes", maxBoundary+1)) {
		t.Fatalf("too long a boundary: status %d: %s", rec.Code, rec.Body)
	}
	var line struct {
		Level, Msg, Component, Remote, Reason string
		Status                                int
	}
	for l := range strings.Lines(logs.String()) {
		if strings.Contains(l, "request refused") {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatal(err)
			}
		}
	}
	if line.Level != "INFO" || line.Component != "stow-rs" || line.Status != http.StatusBadRequest ||
		line.Remote != "192.0.2.1:1234" || line.Reason != body.Message {
		t.Errorf("refusal logged as %+v; log:\n%s", line, logs.String())
	}
	h, err := dicom.ReadPart10(bytes.NewReader(obj), dicom.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Index().Instance(context.Background(), h.Dataset.String(dicom.TagSOPInstanceUID)); err != nil {
		t.Errorf("the accepted object is not stored: %v", err)
	}
}

func orEmpty(m map[string]uint16) map[string]uint16 {
	if m == nil {
		return map[string]uint16{}
	}
	return m
}

// TestSTOWStreams: a part far larger than any buffer goes to the archive's spool while the
// client is still sending it, and the server's allocations stay a small fraction of it.
// The body comes from a generator through io.Pipe, so it never exists whole anywhere.
func TestSTOWStreams(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	idx, err := sqlite.Open(ctx, filepath.Join(dir, "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	blobs, err := file.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	spool := filepath.Join(dir, "spool")
	a, err := store.NewArchive(idx, blobs, store.Config{SpoolDir: spool, MinFreeBytes: -1, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, a, Config{Logger: testLogger()})

	const rows, cols, frames = 1024, 1024, 48 // 96 MiB of pixel data
	obj := imageObject("1.2.826.0.1.3680043.10.5.3", "1.2.826.0.1.3680043.10.5.1", "1.2.826.0.1.3680043.10.5.2", rows, cols, frames)
	half := obj.pixelLen / 2
	pr, pw := io.Pipe()
	reached := make(chan int64, 1)
	go func() {
		mw := multipart.NewWriter(pw)
		mw.SetBoundary("stow-test-boundary")
		w, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/dicom"}})
		// The pixels pause half way until the server has spooled most of what was sent.
		g := obj
		g.pixels = func() io.Reader {
			return io.MultiReader(io.LimitReader(newPattern(), half), &waitReader{spool: spool, min: half - 16<<20, reached: reached},
				io.LimitReader(newPatternAt(half), obj.pixelLen-half))
		}
		if err := g.write(w); err != nil {
			pw.CloseWithError(err)
			return
		}
		mw.Close()
		pw.Close()
	}()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r := post(t, base+"/dicomweb/studies", stowType, pr, nil)
	runtime.ReadMemStats(&after)
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	select {
	case n := <-reached:
		t.Logf("spool held %d MiB while the client had sent %d MiB", n>>20, half>>20)
	default:
		t.Fatal("the generator never saw the spool fill")
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d MiB allocated in this process while storing a %d MiB part", alloc>>20, obj.pixelLen>>20)
	if alloc > uint64(obj.pixelLen/4) {
		t.Errorf("%d MiB allocated while storing a %d MiB part", alloc>>20, obj.pixelLen>>20)
	}
	// And it is all there.
	rec, err := a.Index().Instance(ctx, "1.2.826.0.1.3680043.10.5.3")
	if err != nil || rec.Size < obj.pixelLen {
		t.Fatalf("stored %v, %v", rec, err)
	}
}

// waitReader yields nothing; its first Read blocks until a spool file of at least min
// bytes exists (proof that the server stores while the client sends), or a minute passes
// (which fails the test: a server that buffered the body would never get there).
type waitReader struct {
	spool   string
	min     int64
	reached chan int64
	done    bool
}

func (w *waitReader) Read([]byte) (int, error) {
	if w.done {
		return 0, io.EOF
	}
	w.done = true
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		entries, _ := os.ReadDir(w.spool)
		for _, e := range entries {
			if info, err := e.Info(); err == nil && info.Size() >= w.min {
				w.reached <- info.Size()
				return 0, io.EOF
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return 0, io.EOF
}

func newPatternAt(off int64) io.Reader { o := off; return patternReader{off: &o} }

// FuzzSTOW feeds arbitrary bodies and Content-Types to the STOW-RS handler: it must answer
// with one of its statuses and a well-formed body, never a 500 or a crash.
func FuzzSTOW(f *testing.F) {
	good, _ := os.ReadFile("../testdata/charset_utf8.dcm")
	notDICOM, _ := os.ReadFile("../testdata/broken/broken_notdicom.dcm")
	f.Add(stowType, multipartBody(f, []stowPart{{"application/dicom", good}}))
	f.Add(stowType, multipartBody(f, []stowPart{{"application/dicom", notDICOM}, {"", good[:300]}}))
	f.Add(stowType, []byte("--stow-test-boundary\r\nContent-Type: application/dicom\r\n\r\nDICM--stow-test-boundary--"))
	f.Add(`multipart/related; boundary="a"`, []byte("--a\r\n\r\n\r\n--a--\r\n"))
	f.Add("multipart/related; type=application/dicom; boundary=x", []byte("--x\r\nContent-Type: application/dicom\r\n"+strings.Repeat("X: y\r\n", 100)+"\r\n--x--"))
	f.Add("text/plain", []byte("hello"))

	dir := f.TempDir()
	idx, err := sqlite.Open(context.Background(), filepath.Join(dir, "index.db"))
	if err != nil {
		f.Fatal(err)
	}
	defer idx.Close()
	blobs, err := file.New(filepath.Join(dir, "blobs"))
	if err != nil {
		f.Fatal(err)
	}
	a, err := store.NewArchive(idx, blobs, store.Config{SpoolDir: filepath.Join(dir, "spool"), MinFreeBytes: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.Fatal(err)
	}
	e := echo.New()
	e.Use(middleware.Recover())
	Register(e.Group("/dicomweb"), a, Config{Logger: testLogger()})

	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/dicomweb/studies", bytes.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK, http.StatusAccepted, http.StatusConflict:
			var ds map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &ds); err != nil {
				t.Fatalf("status %d with a body that is not JSON: %v", rec.Code, err)
			}
		case http.StatusBadRequest, http.StatusUnsupportedMediaType:
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body.Bytes())
		}
	})
}

// TestSTOWRetrieveURLHost: the Retrieve URLs of a STOW-RS answer never carry the request's
// Host (a client's choice): relative without Config.PublicURL, under it with one.
func TestSTOWRetrieveURLHost(t *testing.T) {
	a, _ := newArchive(t)
	body := multipartBody(t, []stowPart{{"application/dicom", readTestFile(t, "dr_mono2.dcm")}})
	for _, c := range []struct {
		public, want string
	}{
		{"", "/dicomweb/studies/"},
		{"https://pacs.example/county1/", "https://pacs.example/county1/dicomweb/studies/"},
	} {
		u := serve(t, a, Config{Logger: testLogger(), PublicURL: c.public})
		req, _ := http.NewRequest(http.MethodPost, u+"/dicomweb/studies", bytes.NewReader(body))
		req.Host = "evil.example"
		req.Header.Set("Content-Type", stowType)
		resp, err := testClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		out := decodeSTOW(t, b)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(out.retrieveURL, c.want) || strings.Contains(string(b), "evil") {
			t.Errorf("PublicURL %q: %d, Retrieve URL %q, want %q...", c.public, resp.StatusCode, out.retrieveURL, c.want)
		}
		for _, ru := range out.storedURLs {
			if !strings.HasPrefix(ru, c.want) {
				t.Errorf("PublicURL %q: instance Retrieve URL %q", c.public, ru)
			}
		}
	}
}

// TestSTOWContentEncoding: a compressed body is refused with 415 saying so, not parsed as
// a multipart body whose boundary is wrong.
func TestSTOWContentEncoding(t *testing.T) {
	a, _ := newArchive(t)
	u := serve(t, a, Config{Logger: testLogger()})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(multipartBody(t, []stowPart{{"application/dicom", readTestFile(t, "dr_mono2.dcm")}}))
	zw.Close()
	r := post(t, u+"/dicomweb/studies", stowType, &gz, map[string]string{"Content-Encoding": "gzip"})
	if r.status != http.StatusUnsupportedMediaType || !strings.Contains(string(r.body), "Content-Encoding") ||
		r.header.Get("Accept-Encoding") != "identity" {
		t.Errorf("gzip body: %d %q, Accept-Encoding %q", r.status, r.body, r.header.Get("Accept-Encoding"))
	}
}

// countingReader counts what the handler reads of a body.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestSTOWGarbagePartNotDrained: a part that is not DICOM and goes on (a 64 MiB file sent
// by mistake) is not read to its end: the answer is 400 with Connection: close, after a
// bounded read. A small one is skipped and the next part stored.
func TestSTOWGarbagePartNotDrained(t *testing.T) {
	a, _ := newArchive(t)
	e := echo.New()
	Register(e.Group("/dicomweb"), a, Config{Logger: testLogger()})
	head := "--stow-test-boundary\r\nContent-Type: application/dicom\r\n\r\n"
	const garbage = 64 << 20
	body := &countingReader{r: io.MultiReader(strings.NewReader(head+"PK\x03\x04"),
		io.LimitReader(zeros{}, garbage), strings.NewReader("\r\n--stow-test-boundary--\r\n"))}
	req := httptest.NewRequest(http.MethodPost, "/dicomweb/studies", body)
	req.Header.Set("Content-Type", stowType)
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest || rec.Header().Get("Connection") != "close" {
		t.Errorf("garbage part: %d, Connection %q: %s", rec.Code, rec.Header().Get("Connection"), rec.Body.Bytes())
	}
	if body.n > 4<<20 {
		t.Errorf("read %d bytes of a %d-byte part that is not DICOM", body.n, garbage)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestSTOWDuplicate: a part whose SOP instance is stored with other content under another
// study is refused with Failure Reason 0x0111 (409, nothing else stored), whoever sends
// it, and the stored object stays byte for byte in its study. (Who may correct an instance
// in its own study is the archive's rule, covered by storetest.RunArchiveVersions.)
func TestSTOWDuplicate(t *testing.T) {
	a, _ := newArchive(t)
	u := serve(t, a, Config{Logger: testLogger()})
	base := genObject{sopClass: "1.2.840.10008.5.1.4.1.1.7", sop: "1.2.826.0.1.3680043.10.5.1",
		study: "1.2.826.0.1.3680043.10.5.2", series: "1.2.826.0.1.3680043.10.5.3"}
	first := base.with(dicom.TagPatientName, "PN", "Zhang^San").bytes(t)
	moved := base.with(dicom.TagPatientName, "PN", "Li^Si")
	moved.study, moved.series = "1.2.826.0.1.3680043.10.5.4", "1.2.826.0.1.3680043.10.5.5"
	send := func(body []byte) response {
		return post(t, u+"/dicomweb/studies", stowType, bytes.NewReader(multipartBody(t, []stowPart{{"application/dicom", body}})), nil)
	}
	if r := send(first); r.status != http.StatusOK {
		t.Fatalf("first store: %d %s", r.status, r.body)
	}
	r := send(moved.bytes(t))
	if r.status != http.StatusConflict {
		t.Fatalf("other study: status %d, want 409: %s", r.status, r.body)
	}
	if got := decodeSTOW(t, r.body).failed[base.sop]; got != reasonDuplicateSOPInstance {
		t.Errorf("other study: Failure Reason 0x%04X, want 0x0111", got)
	}
	inst, rc, err := a.Open(context.Background(), base.sop)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if b, _ := io.ReadAll(rc); !bytes.Equal(b, first) || inst.StudyInstanceUID != base.study {
		t.Fatal("the stored object changed or moved after refused re-sends")
	}
}
