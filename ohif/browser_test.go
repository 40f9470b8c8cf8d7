package ohif

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"pacsd/dicomweb"
	"pacsd/internal/browsertest"
	"pacsd/store"
	"pacsd/store/file"
	"pacsd/store/sqlite"
)

// The studies the browser test stores (testdata/README.md): the DR study as three
// instances of one series in the syntaxes OHIF decodes with its own codecs (native,
// JPEG-LS and JPEG 2000, both wasm), the MONOCHROME1 CR study, and the US multi-frame study
// as native RGB and as JPEG baseline YBR.
var (
	drFiles = []string{"dr_mono2.dcm", "ts_jpegls_lossless.dcm", "ts_j2k_lossless.dcm"}
	crFiles = []string{"dr_mono1.dcm"}
	usFiles = []string{"us_multiframe.dcm", "us_multiframe_jpeg.dcm"}
)

// expectedFile is an entry of testdata/expected.json.
type expectedFile struct {
	PatientName      string
	PatientID        string
	StudyInstanceUID string
	NumberOfFrames   json.Number
}

// shownNames are the names of the committed studies' patients as OHIF's study list shows
// them (names.go): Chinese names in characters, others as OHIF formats them ("Family, Given").
var shownNames = map[string]struct{ pn, shown string }{
	drFiles[0]: {"张伟", "张伟"},
	crFiles[0]: {"Müller^Jürgen", "Müller, Jürgen"},
	usFiles[0]: {"Li^Na=李^娜", "李娜 (Li Na)"},
}

// TestOHIFInBrowser serves OHIF and pacsd's DICOMweb from one in-process server over a
// real archive, and drives OHIF in headless Chromium (browsertest/ohif.mjs): the study
// list, a DR study opened from the list, its MONOCHROME1 twin by link, a US multi-frame
// study by link, cine.
func TestOHIFInBrowser(t *testing.T) {
	dist := realDist(t)
	browsertest.Require(t)

	var expected map[string]expectedFile
	b, err := os.ReadFile("../testdata/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &expected); err != nil {
		t.Fatal(err)
	}

	archive := newArchive(t)
	var files []string
	files = append(append(append(files, drFiles...), crFiles...), usFiles...)
	for _, name := range files {
		data, err := os.ReadFile(filepath.Join("../testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := archive.Put(context.Background(), bytes.NewReader(data), store.PutRequest{}); err != nil {
			t.Fatalf("put %s: %v", name, err)
		}
	}

	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	e := echo.New()
	e.Use(middleware.Recover())
	dicomweb.Register(e.Group("/dicomweb"), archive, dicomweb.Config{Logger: log})
	Register(e, Config{Dir: dist, DICOMwebPath: "/dicomweb", Logger: log})
	srv := httptest.NewServer(e) // 127.0.0.1:0
	t.Cleanup(srv.Close)

	putNameCases(t, archive)

	for file, n := range shownNames {
		if expected[file].PatientName != n.pn {
			t.Fatalf("%s: patient %q in testdata/expected.json, the test expects %q", file, expected[file].PatientName, n.pn)
		}
	}
	shown := func(file string) string { return shownNames[file].shown }
	dr, cr, us := expected[drFiles[0]], expected[crFiles[0]], expected[usFiles[0]]
	frames, _ := us.NumberOfFrames.Int64()
	// The patient filter: the name OHIF must show for each patient id, and the studies
	// typing 张 must find at least (张 in the name's characters): the scenario takes the
	// studies to expect from pacsd's own answer to OHIF's query.
	names := map[string]string{}
	var withZhang []string
	for _, nc := range nameCases {
		names[nc.id] = nc.shown
		if strings.Contains(nc.shown, "张") {
			withZhang = append(withZhang, nc.id)
		}
	}
	for _, file := range []string{drFiles[0], crFiles[0], usFiles[0]} {
		names[expected[file].PatientID] = shown(file)
	}
	scenario := map[string]any{
		"mount":        "/ohif",
		"dicomweb":     "/dicomweb",
		"patientNames": []string{shown(drFiles[0]), shown(crFiles[0]), shown(usFiles[0])},
		"dr":           map[string]any{"studyUID": dr.StudyInstanceUID, "patientName": shown(drFiles[0]), "instances": len(drFiles)},
		"cr":           map[string]any{"studyUID": cr.StudyInstanceUID},
		"us":           map[string]any{"studyUID": us.StudyInstanceUID, "instances": len(usFiles), "frames": frames},
		"names":        map[string]any{"shown": names, "typed": []string{"张", "zhang"}, "mustFind": withZhang},
	}
	sc, err := json.Marshal(scenario)
	if err != nil {
		t.Fatal(err)
	}

	res := browsertest.Run(t, "ohif.mjs", browsertest.Options{
		BaseURL: srv.URL,
		Env:     map[string]string{"OHIF_SCENARIO": string(sc)},
		Timeout: 3 * time.Minute,
	})
	browsertest.Report(t, res)

	// Every step must have run, not only passed: a scenario that stopped early fails here.
	browsertest.RequireSteps(t, res,
		"app loads with pacsd as its data source",
		"study list shows the test studies",
		"DR study opens from the study list",
		"DR image renders",
		"MONOCHROME1 CR renders like the DR",
		"US multi-frame study opens by link",
		"US cine plays through the frames",
		"patient filter 张 shows every study pacsd found, by their Chinese names",
		"patient filter zhang shows every study pacsd found, by their Chinese names",
		"no failed requests",
	)
	for _, r := range res.HTTPErrors {
		t.Errorf("the page got HTTP %d for %s %s", r.Status, r.Method, r.URL)
	}
	for _, r := range res.RequestFailures {
		t.Errorf("no response to %s %s: %s", r.Method, r.URL, r.Error)
	}
	if !res.OK && !t.Failed() {
		t.Error("the scenario reported failure")
	}
}

// newArchive is a real archive (SQLite index, folder blobs) in a temporary folder.
func newArchive(t *testing.T) *store.Archive {
	t.Helper()
	dir := t.TempDir()
	idx, err := sqlite.Open(context.Background(), filepath.Join(dir, "index.db"))
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
		MinFreeBytes: -1, // the machine's free space is not under test
		Logger:       quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// testWriter sends server log lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
