package dicomweb

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
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

var update = flag.Bool("update", false, "rewrite testdata/golden/*.json from the current output")

// testHost is the Host every request carries, so that Retrieve URLs in golden files are
// stable whatever port httptest picks.
const testHost = "pacsd.test"

// expectedFile is an entry of testdata/expected.json (see testdata/README.md).
type expectedFile struct {
	Rows, Columns     string
	NumberOfFrames    string
	SamplesPerPixel   string
	BitsAllocated     string
	PatientName       string
	StudyInstanceUID  string
	SeriesInstanceUID string
	SOPInstanceUID    string
	TransferSyntaxUID string
	Malformed         string
}

// fixture is a real archive (SQLite index, folder blobs) holding the committed test
// objects, served over HTTP.
type fixture struct {
	archive  *store.Archive
	blobs    *file.Blobs
	url      string                  // base URL of the server, DICOMweb at /dicomweb
	files    map[string][]byte       // file name -> Part-10 bytes
	expected map[string]expectedFile // file name -> what it holds
}

func newArchive(t testing.TB) (*store.Archive, *file.Blobs) {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	idx, err := sqlite.Open(ctx, filepath.Join(dir, "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	blobs, err := file.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := store.NewArchive(idx, blobs, store.Config{
		SpoolDir:     filepath.Join(dir, "spool"),
		MinFreeBytes: -1, // the test machine's free space is not under test
		Logger:       testLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return a, blobs
}

func testLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newFixture stores the named test files (all well-formed ones when names is empty).
func newFixture(t *testing.T, names ...string) *fixture {
	t.Helper()
	b, err := os.ReadFile("../testdata/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{files: map[string][]byte{}}
	if err := json.Unmarshal(b, &f.expected); err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		paths, _ := filepath.Glob("../testdata/*.dcm")
		for _, p := range paths {
			names = append(names, filepath.Base(p))
		}
	}
	if len(names) == 0 {
		t.Fatal("no test objects in ../testdata")
	}
	f.archive, f.blobs = newArchive(t)
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join("../testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.archive.Put(context.Background(), bytes.NewReader(data), store.PutRequest{}); err != nil {
			t.Fatalf("put %s: %v", name, err)
		}
		f.files[name] = data
	}
	f.url = serve(t, f.archive, Config{Logger: testLogger()})
	return f
}

// serve registers the handlers the way cmd/pacsd does and returns the server's URL.
func serve(t testing.TB, a *store.Archive, cfg Config) string {
	t.Helper()
	e := echo.New()
	e.Use(middleware.Recover()) // as cmd/pacsd wires it
	Register(e.Group("/dicomweb"), a, cfg)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv.URL
}

// testClient sees responses as sent: no transparent gzip (which would hide the
// compression and the lengths under test).
var testClient = &http.Client{Transport: &http.Transport{DisableCompression: true}}

type response struct {
	status int
	header http.Header
	body   []byte
}

// get sends one request with the fixed test host; hdr holds extra header fields.
func get(t *testing.T, method, url string, hdr map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = testHost
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return response{resp.StatusCode, resp.Header, body}
}

// qido runs a search that must succeed and returns its results.
func (f *fixture) qido(t *testing.T, pathAndQuery string) ([]dicom.JSONDataset, response) {
	t.Helper()
	r := get(t, http.MethodGet, f.url+"/dicomweb"+pathAndQuery, nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", pathAndQuery, r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != mediaDicomJSON {
		t.Errorf("GET %s: Content-Type %q", pathAndQuery, ct)
	}
	var out []dicom.JSONDataset
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatalf("GET %s: %v\n%s", pathAndQuery, err, r.body)
	}
	return out, r
}

// uids returns the first value of tag in every result.
func uids(res []dicom.JSONDataset, tag dicom.Tag) []string {
	var out []string
	for _, r := range res {
		out = append(out, r.String(tag))
	}
	return out
}

// filesWhere lists the files whose expectation satisfies keep.
func (f *fixture) filesWhere(keep func(expectedFile) bool) []string {
	var out []string
	for name := range f.files {
		if keep(f.expected[name]) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// header reads the data set header of a stored test file.
func (f *fixture) header(t *testing.T, name string) *dicom.Dataset {
	t.Helper()
	h, err := dicom.ReadPart10(bytes.NewReader(f.files[name]), dicom.ReadOptions{})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return h.Dataset
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// TestDICOMweb runs every end-to-end case over one archive: ingesting the corpus once
// keeps the run short on a small machine.
func TestDICOMweb(t *testing.T) {
	f := newFixture(t)
	t.Run("QIDO", func(t *testing.T) { testQIDO(t, f) })
	t.Run("QIDOPaging", func(t *testing.T) { testQIDOPaging(t, f) })
	t.Run("QIDOErrors", func(t *testing.T) { testQIDOErrors(t, f) })
	t.Run("Golden", func(t *testing.T) { testGolden(t, f) })
	t.Run("WADOInstances", func(t *testing.T) { testWADOInstances(t, f) })
	t.Run("WADOStudySeries", func(t *testing.T) { testWADOStudySeries(t, f) })
	t.Run("WADOErrors", func(t *testing.T) { testWADOErrors(t, f) })
	t.Run("Metadata", func(t *testing.T) { testMetadata(t, f) })
	t.Run("Frames", func(t *testing.T) { testFrames(t, f) })
	t.Run("Bulkdata", func(t *testing.T) { testBulkdata(t, f) })
	t.Run("WADOURI", func(t *testing.T) { testWADOURI(t, f) })
	t.Run("CORS", func(t *testing.T) { testCORS(t, f) })
	t.Run("Capabilities", func(t *testing.T) { testCapabilities(t, f) })
	t.Run("QIDOFormats", func(t *testing.T) { testQIDOFormats(t, f) })
}

func testQIDO(t *testing.T, f *fixture) {
	gb := f.expected["dr_mono2.dcm"]
	ir58 := f.expected["charset_ir58.dcm"]

	t.Run("GB18030 study by percent-encoded Chinese prefix", func(t *testing.T) {
		res, r := f.qido(t, "/studies?PatientName=%E5%BC%A0*")
		i := slices.Index(uids(res, dicom.TagStudyInstanceUID), gb.StudyInstanceUID)
		if i < 0 {
			t.Fatalf("study %s not found; got %v", gb.StudyInstanceUID, uids(res, dicom.TagStudyInstanceUID))
		}
		pn := res[i]["00100010"]
		if pn.VR != "PN" || len(pn.Value) != 1 {
			t.Fatalf("PatientName %+v", pn)
		}
		if got := pn.Value[0].(map[string]any); len(got) != 1 || got["Alphabetic"] != gb.PatientName {
			t.Errorf("PatientName %v, want {Alphabetic: %s}", got, gb.PatientName)
		}
		// UTF-8 on the wire, not \u escapes.
		if !bytes.Contains(r.body, []byte(`"Alphabetic":"张伟"`)) {
			t.Errorf("body does not carry 张伟 as UTF-8:\n%s", r.body)
		}
		if got := res[i].String(dicom.TagRetrieveURL); got != "http://"+testHost+"/dicomweb/studies/"+gb.StudyInstanceUID {
			t.Errorf("RetrieveURL %q", got)
		}
		for _, r := range res {
			if n := r.PersonName(dicom.TagPatientName); !strings.HasPrefix(n.Alphabetic, "张") &&
				!strings.HasPrefix(n.Ideographic, "张") && !strings.HasPrefix(n.Phonetic, "张") {
				t.Errorf("result %s does not match 张*", n.String())
			}
		}
	})

	t.Run("ISO 2022 IR 58 study by its ideographic group", func(t *testing.T) {
		res, _ := f.qido(t, "/studies?PatientName=%E5%BC%A0%5E%E4%BC%9F") // 张^伟
		i := slices.Index(uids(res, dicom.TagStudyInstanceUID), ir58.StudyInstanceUID)
		if i < 0 {
			t.Fatalf("IR 58 study not found; got %v", uids(res, dicom.TagStudyInstanceUID))
		}
		if got := res[i].PersonName(dicom.TagPatientName).String(); got != ir58.PatientName {
			t.Errorf("PatientName %q, want %q", got, ir58.PatientName)
		}
	})

	t.Run("wildcards", func(t *testing.T) {
		for _, tt := range []struct {
			query, file string
		}{
			{"PatientName=Buc*", "charset_latin1.dcm"},
			{"PatientName=%3Fhen%5EJing", "sc_mono8.dcm"}, // ?hen^Jing
			{"PatientID=CS-GB18030*", "charset_gb18030.dcm"},
		} {
			res, _ := f.qido(t, "/studies?"+tt.query)
			if !slices.Contains(uids(res, dicom.TagStudyInstanceUID), f.expected[tt.file].StudyInstanceUID) {
				t.Errorf("%s did not find %s", tt.query, tt.file)
			}
			if len(res) == len(f.studies()) {
				t.Errorf("%s matched every study", tt.query)
			}
		}
	})

	t.Run("date ranges", func(t *testing.T) {
		d := f.header(t, "dr_mono2.dcm").String(dicom.TagStudyDate)
		day, err := time.Parse("20060102", d)
		if err != nil {
			t.Fatalf("StudyDate %q: %v", d, err)
		}
		before := day.AddDate(0, 0, -1).Format("20060102")
		after := day.AddDate(0, 0, 1).Format("20060102")
		for _, tt := range []struct {
			value string
			found bool
		}{
			{d, true}, {d + "-" + d, true}, {before + "-" + after, true}, {"-" + after, true},
			{before + "-", true}, {"-" + before, false}, {after + "-", false},
		} {
			res, _ := f.qido(t, "/studies?StudyDate="+tt.value)
			if got := slices.Contains(uids(res, dicom.TagStudyInstanceUID), gb.StudyInstanceUID); got != tt.found {
				t.Errorf("StudyDate=%s: found %v, want %v", tt.value, got, tt.found)
			}
		}
	})

	t.Run("UID lists", func(t *testing.T) {
		want := []string{gb.StudyInstanceUID, ir58.StudyInstanceUID}
		slices.Sort(want)
		for _, sep := range []string{",", "%5C"} {
			res, _ := f.qido(t, "/studies?StudyInstanceUID="+want[0]+sep+want[1])
			got := uids(res, dicom.TagStudyInstanceUID)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("separator %s: %v, want %v", sep, got, want)
			}
		}
	})

	t.Run("includefield", func(t *testing.T) {
		q := "/studies?StudyInstanceUID=" + gb.StudyInstanceUID
		plain, _ := f.qido(t, q)
		with, _ := f.qido(t, q+"&includefield=StudyDescription,00080080")
		all, _ := f.qido(t, q+"&includefield=all")
		if len(plain) != 1 || len(with) != 1 || len(all) != 1 {
			t.Fatalf("results %d %d %d, want 1 each", len(plain), len(with), len(all))
		}
		for _, k := range []string{"00081030", "00080080"} {
			if _, ok := plain[0][k]; ok {
				t.Errorf("%s returned without includefield", k)
			}
			if _, ok := with[0][k]; !ok {
				t.Errorf("%s not returned with includefield", k)
			}
			if _, ok := all[0][k]; !ok {
				t.Errorf("%s not returned with includefield=all", k)
			}
		}
		if len(all[0]) <= len(with[0]) {
			t.Errorf("includefield=all returned %d attributes, a list %d", len(all[0]), len(with[0]))
		}
		// Defaults of Table 10.6.3-3 that every stored study has.
		for _, k := range []string{"00080020", "00080061", "00081190", "00100010", "00100020", "0020000D", "00201206", "00201208"} {
			if _, ok := plain[0][k]; !ok {
				t.Errorf("default attribute %s missing", k)
			}
		}
		// Series-level attributes are not study attributes.
		if _, ok := all[0]["0020000E"]; ok {
			t.Error("study result carries a Series Instance UID")
		}
	})

	t.Run("scoped to study and series", func(t *testing.T) {
		inStudy := f.filesWhere(func(e expectedFile) bool { return e.StudyInstanceUID == gb.StudyInstanceUID })
		seriesOf := map[string]int{}
		for _, n := range inStudy {
			seriesOf[f.expected[n].SeriesInstanceUID]++
		}
		series, _ := f.qido(t, "/studies/"+gb.StudyInstanceUID+"/series")
		if len(series) != len(seriesOf) {
			t.Errorf("%d series, want %d", len(series), len(seriesOf))
		}
		for _, r := range series {
			se := r.String(dicom.TagSeriesInstanceUID)
			if seriesOf[se] == 0 {
				t.Errorf("series %s is not in the study", se)
			}
			if want := "http://" + testHost + "/dicomweb/studies/" + gb.StudyInstanceUID + "/series/" + se; r.String(dicom.TagRetrieveURL) != want {
				t.Errorf("series RetrieveURL %q, want %q", r.String(dicom.TagRetrieveURL), want)
			}
			if _, ok := r["00100010"]; ok {
				t.Error("series in a study carry study attributes")
			}
		}
		insts, _ := f.qido(t, "/studies/"+gb.StudyInstanceUID+"/instances")
		if len(insts) != len(inStudy) {
			t.Errorf("%d instances in the study, want %d", len(insts), len(inStudy))
		}
		if len(insts) > 0 {
			if _, ok := insts[0]["0020000E"]; !ok {
				t.Error("study's instances lack series attributes")
			}
		}
		se := gb.SeriesInstanceUID
		insts, _ = f.qido(t, "/studies/"+gb.StudyInstanceUID+"/series/"+se+"/instances")
		if len(insts) != seriesOf[se] {
			t.Errorf("%d instances in the series, want %d", len(insts), seriesOf[se])
		}
		for _, r := range insts {
			want := "http://" + testHost + "/dicomweb/studies/" + gb.StudyInstanceUID + "/series/" + se +
				"/instances/" + r.String(dicom.TagSOPInstanceUID)
			if got := r.String(dicom.TagRetrieveURL); got != want {
				t.Errorf("instance RetrieveURL %q, want %q", got, want)
			}
		}
		all, _ := f.qido(t, "/instances?SOPInstanceUID="+ir58.SOPInstanceUID)
		if len(all) != 1 || all[0].String(dicom.TagStudyInstanceUID) != ir58.StudyInstanceUID {
			t.Errorf("/instances by SOP Instance UID: %v", uids(all, dicom.TagSOPInstanceUID))
		}
		allSeries, _ := f.qido(t, "/series?Modality=DX&PatientID=CS-GB18030")
		if len(allSeries) != 0 {
			t.Errorf("/series with contradicting keys: %d results", len(allSeries))
		}
	})

	t.Run("no match is 200 with an empty array", func(t *testing.T) {
		res, r := f.qido(t, "/studies?PatientID=NO-SUCH-PATIENT")
		if len(res) != 0 || strings.TrimSpace(string(r.body)) != "[]" {
			t.Errorf("body %q", r.body)
		}
	})

	t.Run("accept", func(t *testing.T) {
		for accept, want := range map[string]string{
			"":                 mediaDicomJSON,
			"application/json": mediaJSON,
			"*/*":              mediaDicomJSON,
			`multipart/related; type="application/dicom+xml";q=0.1, application/dicom+json`: mediaDicomJSON,
		} {
			r := get(t, http.MethodGet, f.url+"/dicomweb/studies?limit=1", map[string]string{"Accept": accept})
			if r.status != http.StatusOK || r.header.Get("Content-Type") != want {
				t.Errorf("Accept %q: %d %q, want %q", accept, r.status, r.header.Get("Content-Type"), want)
			}
		}
	})
}

// studies lists the distinct studies of the corpus.
func (f *fixture) studies() []string {
	var out []string
	for name := range f.files {
		if s := f.expected[name].StudyInstanceUID; !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func testQIDOPaging(t *testing.T, f *fixture) {
	full, _ := f.qido(t, "/studies")
	nStudies := len(f.studies())
	if len(full) != nStudies {
		t.Fatalf("%d studies, want %d", len(full), nStudies)
	}
	order := uids(full, dicom.TagStudyInstanceUID)

	small := serve(t, f.archive, Config{Logger: testLogger(), MaxResults: 2})
	const warning = "The number of results exceeded the maximum supported by the server"
	tests := []struct {
		name   string
		base   string
		query  string
		want   []string
		warned bool
	}{
		{"limit", f.url, "?limit=2", order[:2], false},
		{"limit and offset", f.url, "?limit=2&offset=1", order[1:3], false},
		{"offset past the end", f.url, "?offset=1000", nil, false},
		{"server maximum without limit", small, "", order[:2], true},
		{"server maximum below limit", small, "?limit=100", order[:2], true},
		{"limit below server maximum", small, "?limit=1", order[:1], false},
		{"maximum with offset", small, "?offset=1", order[1:3], true},
		{"maximum not exceeded", small, "?StudyInstanceUID=" + order[0] + "," + order[1], nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, http.MethodGet, tt.base+"/dicomweb/studies"+tt.query, nil)
			if r.status != http.StatusOK {
				t.Fatalf("%d %s", r.status, r.body)
			}
			var res []dicom.JSONDataset
			if err := json.Unmarshal(r.body, &res); err != nil {
				t.Fatal(err)
			}
			got := uids(res, dicom.TagStudyInstanceUID)
			if tt.want != nil && !slices.Equal(got, tt.want) {
				t.Errorf("studies %v, want %v", got, tt.want)
			}
			if tt.want == nil && tt.name == "offset past the end" && len(got) != 0 {
				t.Errorf("studies %v, want none", got)
			}
			w := r.header.Get("Warning")
			if warned := strings.Contains(w, warning); warned != tt.warned {
				t.Errorf("Warning %q, want one: %v", w, tt.warned)
			}
			if tt.warned && !strings.HasPrefix(w, "299 ") {
				t.Errorf("Warning %q lacks code 299", w)
			}
		})
	}
}

func testQIDOErrors(t *testing.T, f *fixture) {
	tests := []struct {
		path   string
		accept string
		status int
	}{
		{"/studies?PatientsName=x", "", http.StatusBadRequest},
		{"/studies?limit=many", "", http.StatusBadRequest},
		{"/studies?StudyDate=yesterday", "", http.StatusBadRequest},
		{"/studies/1.2.x/series", "", http.StatusBadRequest},
		{"/studies/1.2.3/series/..1/instances", "", http.StatusBadRequest},
		// The index refuses a key of a lower level than the one searched.
		{"/studies?SOPInstanceUID=1.2.3", "", http.StatusBadRequest},
		{"/studies", `application/dicom+xml`, http.StatusNotAcceptable},
		{"/studies", "text/html", http.StatusNotAcceptable},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r := get(t, http.MethodGet, f.url+"/dicomweb"+tt.path, map[string]string{"Accept": tt.accept})
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			var body struct{ Message string }
			if err := json.Unmarshal(r.body, &body); err != nil || body.Message == "" {
				t.Errorf("error body %q: want a JSON message", r.body)
			}
			// Internal error text (wrapping with ": ") never reaches the client.
			if strings.Contains(body.Message, "search:") || strings.Contains(body.Message, "sqlite") {
				t.Errorf("message leaks internals: %q", body.Message)
			}
		})
	}
}

func testGolden(t *testing.T, f *fixture) {
	gb := f.expected["dr_mono2.dcm"]
	ir58 := f.expected["charset_ir58.dcm"]
	tests := []struct{ name, path string }{
		{"studies_patientname_zhang", "/studies?PatientName=%E5%BC%A0*&includefield=StudyDescription"},
		{"studies_ir58_all", "/studies?StudyInstanceUID=" + ir58.StudyInstanceUID + "&includefield=all"},
		{"series_in_gb18030_study", "/studies/" + gb.StudyInstanceUID + "/series"},
		{"instances_ir58_series", "/studies/" + ir58.StudyInstanceUID + "/series/" + ir58.SeriesInstanceUID + "/instances"},
		{"all_series_modality_us", "/series?Modality=US"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, r := f.qido(t, tt.path)
			var got bytes.Buffer
			if err := json.Indent(&got, r.body, "", "  "); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "golden", tt.name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("%s differs from %s (run with -update if the change is intended)\ngot:\n%s", tt.path, path, got.Bytes())
			}
		})
	}
}

// parts reads a WADO-RS multipart/related response: each part's transfer syntax and bytes.
func parts(t *testing.T, r response) (ts []string, bodies [][]byte) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(r.header.Get("Content-Type"))
	if err != nil || mt != "multipart/related" || params["type"] != "application/dicom" || params["boundary"] == "" {
		t.Fatalf("Content-Type %q: %v", r.header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(bytes.NewReader(r.body), params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return ts, bodies
		}
		if err != nil {
			t.Fatalf("part %d: %v", len(bodies), err)
		}
		pt, pp, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if err != nil || pt != "application/dicom" {
			t.Fatalf("part Content-Type %q: %v", p.Header.Get("Content-Type"), err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, pp["transfer-syntax"])
		bodies = append(bodies, b)
	}
}

const acceptAnyTS = `multipart/related; type="application/dicom"; transfer-syntax=*`

func (f *fixture) instanceURL(name string) string {
	e := f.expected[name]
	return f.url + "/dicomweb/studies/" + e.StudyInstanceUID + "/series/" + e.SeriesInstanceUID + "/instances/" + e.SOPInstanceUID
}

func testWADOInstances(t *testing.T, f *fixture) {
	names := f.filesWhere(func(expectedFile) bool { return true })
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			r := get(t, http.MethodGet, f.instanceURL(name), map[string]string{"Accept": acceptAnyTS})
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			ts, bodies := parts(t, r)
			if len(bodies) != 1 {
				t.Fatalf("%d parts, want 1", len(bodies))
			}
			want := sha(f.files[name])
			if got := sha(bodies[0]); got != want {
				t.Errorf("part sha256 %s, stored file %s", got, want)
			}
			if ts[0] != f.expected[name].TransferSyntaxUID {
				t.Errorf("part transfer-syntax %q, want %q", ts[0], f.expected[name].TransferSyntaxUID)
			}
			if et := r.header.Get("ETag"); et != `W/"`+want+`"` {
				t.Errorf("ETag %q", et)
			}
			if cl := r.header.Get("Content-Length"); cl != strconv.Itoa(len(r.body)) {
				t.Errorf("Content-Length %s, body %d bytes", cl, len(r.body))
			}
			if cc := r.header.Get("Cache-Control"); !strings.HasPrefix(cc, "private, max-age=") {
				t.Errorf("Cache-Control %q", cc)
			}
		})
	}

	name := "ts_jpeg_baseline.dcm"
	jpeg := f.expected[name].TransferSyntaxUID
	for _, tt := range []struct {
		accept     string
		status     int
		transcoded bool // to Explicit VR Little Endian (transcode_test.go checks the content)
	}{
		{"", http.StatusOK, false},
		{"*/*", http.StatusOK, false},
		// Lossy: the default syntax does not apply (PS3.18 8.7.3.4).
		{`multipart/related; type=application/dicom`, http.StatusOK, false},
		{`multipart/related; type="application/dicom"; transfer-syntax=` + jpeg, http.StatusOK, false},
		{`multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1`, http.StatusOK, true},
		{`multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.70`, http.StatusNotAcceptable, false},
		{`application/dicom+json`, http.StatusNotAcceptable, false},
	} {
		t.Run("accept "+tt.accept, func(t *testing.T) {
			r := get(t, http.MethodGet, f.instanceURL(name), map[string]string{"Accept": tt.accept})
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.status != http.StatusOK {
				return
			}
			ts, bodies := parts(t, r)
			switch {
			case len(bodies) != 1:
				t.Errorf("%d parts", len(bodies))
			case tt.transcoded:
				if ts[0] != dicom.ExplicitVRLittleEndian || sha(bodies[0]) == sha(f.files[name]) {
					t.Errorf("part in %s, same bytes as stored %v; want transcoded", ts[0], sha(bodies[0]) == sha(f.files[name]))
				}
				if r.header.Get("Content-Length") != "" || r.header.Get("ETag") == `W/"`+sha(f.files[name])+`"` {
					t.Errorf("transcoded: Content-Length %q, ETag %q", r.header.Get("Content-Length"), r.header.Get("ETag"))
				}
			case sha(bodies[0]) != sha(f.files[name]):
				t.Error("body is not the stored object")
			}
		})
	}

	t.Run("HEAD", func(t *testing.T) {
		g := get(t, http.MethodGet, f.instanceURL(name), nil)
		h := get(t, http.MethodHead, f.instanceURL(name), nil)
		if h.status != http.StatusOK || len(h.body) != 0 {
			t.Fatalf("HEAD: %d, %d body bytes", h.status, len(h.body))
		}
		if h.header.Get("Content-Length") != strconv.Itoa(len(g.body)) || h.header.Get("ETag") != g.header.Get("ETag") {
			t.Errorf("HEAD headers %v differ from GET's %v", h.header, g.header)
		}
	})

	t.Run("If-None-Match", func(t *testing.T) {
		etag := `W/"` + sha(f.files[name]) + `"`
		r := get(t, http.MethodGet, f.instanceURL(name), map[string]string{"If-None-Match": etag})
		if r.status != http.StatusNotModified || len(r.body) != 0 {
			t.Errorf("status %d, %d body bytes; want 304", r.status, len(r.body))
		}
		r = get(t, http.MethodGet, f.instanceURL(name), map[string]string{"If-None-Match": `"stale"`})
		if r.status != http.StatusOK {
			t.Errorf("stale ETag: status %d", r.status)
		}
	})
}

func testWADOStudySeries(t *testing.T, f *fixture) {
	gb := f.expected["dr_mono2.dcm"]
	tests := []struct {
		name, url string
		files     []string
	}{
		{"study", f.url + "/dicomweb/studies/" + gb.StudyInstanceUID,
			f.filesWhere(func(e expectedFile) bool { return e.StudyInstanceUID == gb.StudyInstanceUID })},
		{"series", f.url + "/dicomweb/studies/" + gb.StudyInstanceUID + "/series/" + gb.SeriesInstanceUID,
			f.filesWhere(func(e expectedFile) bool { return e.SeriesInstanceUID == gb.SeriesInstanceUID })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.files) < 2 {
				t.Fatalf("corpus has %d files here; the test needs several", len(tt.files))
			}
			r := get(t, http.MethodGet, tt.url, nil)
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			ts, bodies := parts(t, r)
			var got, want []string
			for i, b := range bodies {
				got = append(got, sha(b)+" "+ts[i])
			}
			for _, n := range tt.files {
				want = append(want, sha(f.files[n])+" "+f.expected[n].TransferSyntaxUID)
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("parts (sha256, transfer syntax)\n got %v\nwant %v", got, want)
			}
			if r.header.Get("ETag") != "" {
				t.Error("a collection response carries an ETag")
			}

			// Stored in many syntaxes: naming Explicit VR Little Endian transcodes every
			// other one (transcode_test.go checks the content with DCMTK).
			r = get(t, http.MethodGet, tt.url, map[string]string{
				"Accept": `multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1`})
			if r.status != http.StatusOK {
				t.Fatalf("explicit transfer syntax over mixed syntaxes: %d, want 200", r.status)
			}
			ts, bodies = parts(t, r)
			if len(bodies) != len(tt.files) {
				t.Errorf("%d parts, want %d", len(bodies), len(tt.files))
			}
			for i, b := range bodies {
				h, err := dicom.ReadPart10(bytes.NewReader(b), dicom.ReadOptions{})
				if ts[i] != dicom.ExplicitVRLittleEndian || err != nil || h.TransferSyntax != dicom.ExplicitVRLittleEndian {
					t.Errorf("part %d: labelled %s, reads as %v (%v)", i, ts[i], h, err)
				}
			}
			// Another syntax than the stored ones and Explicit VR Little Endian: 406.
			r = get(t, http.MethodGet, tt.url, map[string]string{
				"Accept": `multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50`})
			if r.status != http.StatusNotAcceptable {
				t.Errorf("JPEG baseline over mixed syntaxes: %d, want 406", r.status)
			}
			h := get(t, http.MethodHead, tt.url, map[string]string{"Accept": acceptAnyTS})
			if h.status != http.StatusOK || len(h.body) != 0 || !strings.HasPrefix(h.header.Get("Content-Type"), "multipart/related") {
				t.Errorf("HEAD: %d, %d bytes, %q", h.status, len(h.body), h.header.Get("Content-Type"))
			}
		})
	}
}

func testWADOErrors(t *testing.T, f *fixture) {
	gb := f.expected["dr_mono2.dcm"]
	other := f.expected["charset_latin1.dcm"]
	base := f.url + "/dicomweb/studies/"
	tests := []struct {
		name, url string
		status    int
	}{
		{"unknown study", base + "1.2.3.4", http.StatusNotFound},
		{"unknown series", base + gb.StudyInstanceUID + "/series/1.2.3.4", http.StatusNotFound},
		{"unknown instance", base + gb.StudyInstanceUID + "/series/" + gb.SeriesInstanceUID + "/instances/1.2.3.4", http.StatusNotFound},
		{"instance under another study", base + other.StudyInstanceUID + "/series/" + gb.SeriesInstanceUID + "/instances/" + gb.SOPInstanceUID, http.StatusNotFound},
		{"malformed study UID", base + "1.2.abc", http.StatusBadRequest},
		{"malformed instance UID", base + gb.StudyInstanceUID + "/series/" + gb.SeriesInstanceUID + "/instances/1..2", http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, m := range []string{http.MethodGet, http.MethodHead} {
				r := get(t, m, tt.url, nil)
				if r.status != tt.status {
					t.Errorf("%s: status %d, want %d: %s", m, r.status, tt.status, r.body)
				}
				if ct := r.header.Get("Content-Type"); m == http.MethodGet && !strings.HasPrefix(ct, "application/json") {
					t.Errorf("error body typed %q", ct)
				}
			}
		})
	}
}

// TestWADOAbortsOnMissingBlob: when an object disappears from the blob store after the
// response has started, the client must see a broken transfer, never a complete-looking
// study that lacks an instance.
func TestWADOAbortsOnMissingBlob(t *testing.T) {
	f := newFixture(t, "dr_mono2.dcm", "ts_explicit_le.dcm", "ts_implicit_le.dcm")
	gb := f.expected["dr_mono2.dcm"]
	ctx := context.Background()
	list, err := f.archive.Index().Instances(ctx, gb.StudyInstanceUID, "")
	if err != nil || len(list) != 3 {
		t.Fatalf("instances: %d, %v", len(list), err)
	}
	if err := f.blobs.Delete(ctx, list[2].BlobKey); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, f.url+"/dicomweb/studies/"+gb.StudyInstanceUID, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: the failure is after the first part", resp.StatusCode)
	}
	_, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	mr := multipart.NewReader(resp.Body, params["boundary"])
	var readErr error
	n := 0
	for {
		p, err := mr.NextPart()
		if err != nil {
			readErr = err
			break
		}
		if _, err := io.Copy(io.Discard, p); err != nil {
			readErr = err
			break
		}
		n++
	}
	if readErr == io.EOF {
		t.Fatalf("response ended cleanly after %d parts; want a broken transfer", n)
	}
	// Each part is flushed with the delimiter after it, so the two good instances arrive
	// complete before the transfer breaks.
	if n != 2 {
		t.Errorf("%d complete parts before the failure, want 2", n)
	}

	// Asked for alone, the damaged instance is refused before any byte is sent: the archive
	// reports an indexed blob that is gone as unavailable, not as absent.
	r := get(t, http.MethodGet, f.url+"/dicomweb/studies/"+gb.StudyInstanceUID+"/series/"+list[2].SeriesInstanceUID+
		"/instances/"+list[2].SOPInstanceUID, nil)
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Errorf("missing blob of one instance: status %d, Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") || r.header.Get("ETag") != "" {
		t.Errorf("error response carries Content-Type %q, ETag %q", ct, r.header.Get("ETag"))
	}
	if strings.Contains(string(r.body), list[2].BlobKey) {
		t.Errorf("error body names the blob key: %s", r.body)
	}
}
