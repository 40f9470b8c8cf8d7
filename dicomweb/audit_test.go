package dicomweb

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"pacsd/audit"
	"pacsd/store"
	"pacsd/store/file"
	"pacsd/store/sqlite"
)

// appendRecorder appends each event at once to the real store, so that the test reads
// what a request recorded as soon as it is answered.
type appendRecorder struct {
	t  testing.TB
	st audit.Store
}

func (r appendRecorder) Record(ctx context.Context, ev audit.Event) {
	if err := r.st.Append(context.WithoutCancel(ctx), []audit.Event{ev}); err != nil {
		r.t.Errorf("append audit event: %v", err)
	}
}

// auditFixture serves DICOMweb behind a stand-in for the reading room's authentication:
// a request with X-Test-User is that user (audit.WithActor), one without is anonymous.
type auditFixture struct {
	url     string
	archive *store.Archive
	trail   *sqlite.AuditDB
}

func newAuditFixture(t testing.TB, rec func(st audit.Store) audit.Auditor) *auditFixture {
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
	a, err := store.NewArchive(idx, blobs, store.Config{SpoolDir: filepath.Join(dir, "spool"), MinFreeBytes: -1, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	login := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if u := c.Request().Header.Get("X-Test-User"); u != "" {
				r := c.Request()
				c.SetRequest(r.WithContext(audit.WithActor(r.Context(), audit.User(7, u, "127.0.0.1"))))
			}
			return next(c)
		}
	}
	trail, err := idx.OpenAudit(context.Background()) // audit.db beside the index, as pacsd keeps it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { trail.Close() })
	Register(e.Group("/dicomweb", login), a, Config{Logger: testLogger(), Audit: rec(trail)})
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &auditFixture{url: srv.URL + "/dicomweb", archive: a, trail: trail}
}

func (f *auditFixture) put(t testing.TB, name string) *store.Instance {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	in, err := f.archive.Put(context.Background(), bytes.NewReader(b), store.PutRequest{Origin: store.Origin{Transport: "dimse", CallingAE: "TOWN_A"}})
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func (f *auditFixture) do(t testing.TB, method, path, user, ctype string, body []byte) int {
	t.Helper()
	req, _ := http.NewRequest(method, f.url+path, bytes.NewReader(body))
	if user != "" {
		req.Header.Set("X-Test-User", user)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestAuditDICOMweb: QIDO-RS searches (one event per request, the query named), metadata,
// retrieval, rendered frames and WADO-URI (one event per user, study and kind, however
// many requests), STOW-RS (per study stored) are recorded with the user or anonymous, the
// address, the study and its patient; a failed look is recorded as failed.
func TestAuditDICOMweb(t *testing.T) {
	f := newAuditFixture(t, func(st audit.Store) audit.Auditor { return appendRecorder{t, st} })
	dr := f.put(t, "dr_mono2.dcm")
	us := f.put(t, "us_multiframe.dcm")
	drPath := "/studies/" + dr.StudyInstanceUID
	drInst := drPath + "/series/" + dr.SeriesInstanceUID + "/instances/" + dr.SOPInstanceUID
	stowFile, err := os.ReadFile(filepath.Join("..", "testdata", "charset_gb18030.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		method, path, user string
		want               int
	}{
		{"GET", "/studies?PatientID=" + url.QueryEscape(dr.StudyAttrs.String(0x00100020)) + "&includefield=all", "doc", 200},
		{"GET", "/studies", "", 200},
		{"GET", drPath + "/metadata", "doc", 200},
		{"GET", drPath + "/metadata", "doc", 200},
		{"GET", drInst + "/frames/1/rendered", "doc", 200},
		{"GET", drInst + "/frames/1/rendered", "doc", 200},
		{"GET", drInst + "/thumbnail", "doc", 200},
		{"GET", drPath, "doc", 200},
		{"GET", "/wado?requestType=WADO&studyUID=" + us.StudyInstanceUID + "&seriesUID=" + us.SeriesInstanceUID +
			"&objectUID=" + us.SOPInstanceUID + "&contentType=image/jpeg", "doc", 200},
		{"GET", "/studies/1.2.3.4/metadata", "doc", 404},
		{"GET", "/", "doc", 200},
	} {
		if got := f.do(t, r.method, r.path, r.user, "", nil); got != r.want {
			t.Fatalf("%s %s: %d, want %d", r.method, r.path, got, r.want)
		}
	}
	if got := f.do(t, "POST", "/studies", "doc", stowType, multipartBody(t, []stowPart{{"application/dicom", stowFile}})); got != 200 {
		t.Fatalf("STOW-RS: %d", got)
	}

	p, err := f.trail.Search(context.Background(), audit.Filter{Limit: audit.MaxPage})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, e := range p.Events {
		who := e.Actor.UserName
		if e.Actor.Kind == audit.ActorAnonymous {
			who = "anonymous"
		}
		if e.Actor.Address != "127.0.0.1" {
			t.Errorf("%s: address %q", e.Action, e.Actor.Address)
		}
		key := string(e.Action) + " " + who + " " + e.StudyUID + " " + string(e.Outcome)
		count[key]++
		switch {
		case e.Action == audit.ActionQuery:
			if who == "doc" && !strings.Contains(e.Object, "PatientID=") {
				t.Errorf("query event names %q, not the query", e.Object)
			}
		case e.Outcome == audit.OutcomeSuccess && (e.PatientID == "" || e.PatientName == ""):
			t.Errorf("%s on %s: no patient: %+v", e.Action, e.StudyUID, e)
		}
	}
	ok := string(audit.OutcomeSuccess)
	want := map[string]int{
		"query doc  " + ok:                                       1,
		"query anonymous  " + ok:                                 1,
		"study.view doc " + dr.StudyInstanceUID + " " + ok:       1, // twice asked, once recorded
		"image.view doc " + dr.StudyInstanceUID + " " + ok:       1, // two frames and a thumbnail
		"retrieve doc " + dr.StudyInstanceUID + " " + ok:         1,
		"image.view doc " + us.StudyInstanceUID + " " + ok:       1, // WADO-URI
		"study.view doc 1.2.3.4 " + string(audit.OutcomeFailure): 1,
	}
	for k, n := range want {
		if count[k] != n {
			t.Errorf("%d events %q, want %d", count[k], k, n)
		}
	}
	stored := 0
	for k, n := range count {
		if strings.HasPrefix(k, "store doc ") {
			stored += n
		}
	}
	if stored != 1 || len(p.Events) != len(want)+1 {
		t.Errorf("%d STOW-RS events, %d in all (want 1, %d): %v", stored, len(p.Events), len(want)+1, count)
	}
}
