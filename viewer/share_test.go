package viewer

import (
	"archive/zip"
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"image/png"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	qrcode "github.com/piglig/go-qr"

	"pacsd/audit"
	"pacsd/internal/peertest"
	"pacsd/reading"
	"pacsd/store"
)

// shareEnv is a reading room with share links: 甲镇卫生院 (TOWN_A) sent a chest DR
// (dr_mono2.dcm) and an ultrasound cine of another patient; the DR's report is signed and
// one key image marked. Users: doc (radiologist), town-a, town-b (site users).
type shareEnv struct {
	*env
	rec       *lateRecorder
	dr, other *store.Instance
	doc       *client
	row       reading.WorklistRow
}

func newShareEnv(t *testing.T) *shareEnv {
	rec := &lateRecorder{t: t}
	en := newEnvWith(t, func(c *Config) {
		allRepos(c)
		c.Organization = "某某县人民医院"
		c.Audit, c.AuditLog = rec, rec
		c.ShareOnSign = true // the signature made here goes round the viewer: no link made
	})
	rec.set(en.idx.Audit())
	ctx := context.Background()
	r := en.idx.Reading()
	en.townships()
	s := &shareEnv{env: en, rec: rec}
	s.dr = en.put("dr_mono2.dcm", "TOWN_A")
	s.other = en.put("us_multiframe.dcm", "TOWN_A")
	u, err := r.UserByName(ctx, "doc")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.SaveDraft(ctx, s.dr.StudyInstanceUID, "双肺纹理清晰。", "心肺未见异常。", u, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Sign(ctx, s.dr.StudyInstanceUID, 1, u, time.Now()); err != nil {
		t.Fatal(err)
	}
	s.doc = en.login("doc", "password-doc")
	if resp, body := s.doc.sendJSON(http.MethodPost, "/api/studies/"+s.dr.StudyInstanceUID+"/keyimages",
		`{"sop":"`+s.dr.SOPInstanceUID+`","frame":0,"key":true}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("mark key image: %d %s", resp.StatusCode, body)
	}
	if s.row, err = r.Study(ctx, s.dr.StudyInstanceUID); err != nil {
		t.Fatal(err)
	}
	return s
}

// makeLink makes a link as c and returns its answer.
func (s *shareEnv) makeLink(c *client, study, body string) shareCreated {
	s.t.Helper()
	resp, out := c.sendJSON(http.MethodPost, "/api/studies/"+study+"/shares", body)
	if resp.StatusCode != http.StatusCreated {
		s.t.Fatalf("make share link: %d %s", resp.StatusCode, out)
	}
	var l shareCreated
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		s.t.Fatal(err)
	}
	return l
}

// answer is the right verification of the DR's patient for l.
func (s *shareEnv) answer(l shareCreated) string {
	if l.Verify == string(reading.VerifyBirthDate) {
		return s.row.BirthDate
	}
	id := s.row.PatientID
	return id[max(len(id)-4, 0):]
}

func (s *shareEnv) path(l shareCreated) string {
	u, err := url.Parse(l.URL)
	if err != nil {
		s.t.Fatal(err)
	}
	return u.Path
}

// TestShareLinks: a patient's link made by the township prints as a QR code that decodes to
// it; the link asks for the verification, refuses a wrong answer (counted, then locked),
// opens with the right one the final report, the key image and every image as JPEG, by
// index only; another study's UID is unreachable through it; an expired and a revoked link
// are refused with a Chinese page; every look is in the audit trail.
func TestShareLinks(t *testing.T) {
	s := newShareEnv(t)
	study := s.dr.StudyInstanceUID
	town := s.login("town-a", "password-town-a")
	if resp, _ := s.login("town-b", "password-town-b").sendJSON(http.MethodPost, "/api/studies/"+study+"/shares", `{}`); resp.StatusCode != http.StatusNotFound {
		t.Errorf("another site's user made a link: %d", resp.StatusCode)
	}
	if resp, _ := town.sendJSON(http.MethodPost, "/api/studies/"+study+"/shares", `{"kind":"doctor"}`); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a site user made a doctor's link: %d", resp.StatusCode)
	}
	l := s.makeLink(town, study, `{"kind":"patient"}`)
	tok := strings.TrimPrefix(s.path(l), "/s/")
	if !strings.HasPrefix(l.URL, s.srv.URL+"/s/") || len(tok) < 43 {
		t.Fatalf("link %q", l.URL)
	}
	img, err := png.Decode(bytes.NewReader(mustBase64(t, strings.TrimPrefix(l.QR, "data:image/png;base64,"))))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := qrcode.Decode(img); err != nil || got != l.URL {
		t.Errorf("QR code decodes to %q (%v), want %q", got, err, l.URL)
	}

	phone := s.anon()
	resp, body := phone.get(s.path(l), "text/html")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="share-verify"`) || strings.Contains(body, "心肺未见异常") {
		t.Fatalf("before verification: %d %s", resp.StatusCode, body)
	}
	if resp.Header.Get("Referrer-Policy") != "no-referrer" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", resp.Header)
	}
	if resp, _ := phone.get(s.path(l)+"/i/0", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("an image before verification: %d", resp.StatusCode)
	}
	wrong := phone.postForm(s.path(l), url.Values{"answer": {"0000"}})
	if wrong.StatusCode != http.StatusForbidden {
		t.Errorf("a wrong answer: %d", wrong.StatusCode)
	}
	right := phone.postForm(s.path(l), url.Values{"answer": {s.answer(l)}})
	if right.StatusCode != http.StatusSeeOther {
		t.Fatalf("the right answer: %d", right.StatusCode)
	}
	resp, body = phone.get(s.path(l), "text/html")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the phone page after verification: %d", resp.StatusCode)
	}
	for _, want := range []string{"心肺未见异常", "某某县人民医院", s.path(l) + "/k/0", s.path(l) + "/i/0", "电子胶片"} {
		if !strings.Contains(body, want) {
			t.Errorf("the phone page lacks %q", want)
		}
	}
	for _, p := range []string{"/k/0", "/i/0"} {
		resp, b := phone.get(s.path(l)+p, "")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/jpeg" || len(b) < 1000 {
			t.Errorf("%s: %d %s, %d bytes", p, resp.StatusCode, resp.Header.Get("Content-Type"), len(b))
		}
	}
	// Only this study: indexes past its images, another study's UID in any place, the
	// reading room's own URLs.
	for _, p := range []string{s.path(l) + "/i/1", s.path(l) + "/k/1", s.path(l) + "/i/" + s.other.SOPInstanceUID,
		s.path(l) + "/i/-1", "/api/studies/" + s.other.StudyInstanceUID + "/instances/" + s.other.SOPInstanceUID + "/frames/0/rendered",
		"/api/studies/" + study + "/instances/" + s.dr.SOPInstanceUID + "/frames/0/rendered", s.path(l) + "/study.zip"} {
		if resp, _ := phone.get(p, ""); resp.StatusCode == http.StatusOK {
			t.Errorf("%s reached through the link", p)
		}
	}
	// A stranger with the paper: five wrong answers lock the link for everyone.
	stranger := s.anon()
	for i := 0; i < reading.MaxShareAttempts; i++ {
		stranger.postForm(s.path(l), url.Values{"answer": {"19000101"}})
	}
	if resp, body := stranger.get(s.path(l), "text/html"); resp.StatusCode != http.StatusGone || !strings.Contains(body, "锁定") {
		t.Errorf("after %d wrong answers: %d", reading.MaxShareAttempts, resp.StatusCode)
	}
	// Expired and revoked.
	exp := s.makeLink(s.doc, study, `{}`)
	revoked := s.makeLink(s.doc, study, `{}`)
	if err := s.idx.Reading().ExtendShare(context.Background(), exp.ID, time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	admin := s.admin()
	if resp := admin.postForm("/admin/shares/"+itoa(revoked.ID)+"/revoke", url.Values{}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	for link, want := range map[shareCreated]string{exp: "过期", revoked: "撤销"} {
		resp, body := s.anon().get(s.path(link), "text/html")
		if resp.StatusCode != http.StatusGone || !strings.Contains(body, want) {
			t.Errorf("%s link: %d, want 410 saying %s", want, resp.StatusCode, want)
		}
	}
	// The administrator makes a doctor's link by the study's UID: shown once, it opens at once.
	form := url.Values{"study": {study}, "kind": {"doctor"}, "verify": {"none"}, "csrf": {admin.csrf}}
	req, _ := http.NewRequest(http.MethodPost, s.srv.URL+"/admin/shares", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	made, madeBody := admin.do(req)
	m := regexp.MustCompile(`id="share-created-url">([^<]+)<`).FindStringSubmatch(madeBody)
	if made.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("admin's new link: %d", made.StatusCode)
	}
	if u, _ := url.Parse(string(m[1])); u == nil || func() int { r, _ := s.anon().get(u.Path+"/study.zip", ""); return r.StatusCode }() != http.StatusOK {
		t.Errorf("the administrator's doctor's link %s does not download the study", m[1])
	}
	if resp, body := admin.get("/admin/shares", "text/html"); resp.StatusCode != http.StatusOK ||
		!strings.Contains(body, `id="share-`+itoa(revoked.ID)+`" data-state="revoked"`) || !strings.Contains(body, "甲镇卫生院") {
		t.Errorf("/admin/shares: %d", resp.StatusCode)
	}

	// The trail: the opening, the images, the wrong answers, the refusals, under "share:<id>".
	evs := events(t, s.rec, audit.Filter{StudyUID: study})
	count := map[audit.Action]int{}
	for _, e := range evs {
		if e.Object == shareObject(l.ID) || (e.Action == audit.ActionImageView && strings.Contains(e.Detail, shareObject(l.ID))) {
			count[e.Action]++
			if e.Action != audit.ActionShare && (e.Actor.Kind != audit.ActorAnonymous || e.Actor.Address == "") {
				t.Errorf("share event %+v is not an anonymous look from an address", e)
			}
		}
	}
	if count[audit.ActionReportView] != 1 || count[audit.ActionImageView] == 0 || count[audit.ActionSecurity] < reading.MaxShareAttempts {
		t.Errorf("share events in the trail: %v", count)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func mustBase64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestShareZip: a doctor's link downloads the study as a ZIP whose objects are the stored
// ones byte for byte and whose DICOMDIR DCMTK reads.
func TestShareZip(t *testing.T) {
	s := newShareEnv(t)
	l := s.makeLink(s.doc, s.dr.StudyInstanceUID, `{"kind":"doctor","verify":"none"}`)
	resp, body := s.anon().get(s.path(l)+"/study.zip", "")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/zip" {
		t.Fatalf("zip: %d", resp.StatusCode)
	}
	zr, err := zip.NewReader(bytes.NewReader([]byte(body)), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	insts, err := s.archive.Index().Instances(context.Background(), s.dr.StudyInstanceUID, "")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		files[f.Name] = b
		p := filepath.Join(dir, filepath.FromSlash(f.Name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if len(files) != len(insts)+1 || files["DICOMDIR"] == nil {
		t.Fatalf("%d files for %d objects", len(files), len(insts))
	}
	for _, in := range insts {
		_, rc, err := s.archive.Open(context.Background(), in.SOPInstanceUID)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := io.ReadAll(rc)
		rc.Close()
		found := false
		for name, b := range files {
			if name != "DICOMDIR" && bytes.Equal(b, want) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s is not in the ZIP byte for byte", in.SOPInstanceUID)
		}
	}
	if dcmdump, err := exec.LookPath("dcmdump"); err == nil {
		out, err := exec.Command(dcmdump, "+U8", filepath.Join(dir, "DICOMDIR")).CombinedOutput()
		if err != nil || !strings.Contains(string(out), s.dr.SOPInstanceUID) || !strings.Contains(string(out), "KEY OBJECT DOC") {
			t.Errorf("dcmdump DICOMDIR: %v\n%s", err, out)
		}
	} else if os.Getenv("CI") != "" {
		t.Fatal("dcmdump (DCMTK) is required in CI")
	}
	if resp, _ := s.anon().get(s.path(s.makeLink(s.doc, s.dr.StudyInstanceUID, `{}`))+"/study.zip", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a patient's link downloaded the study: %d", resp.StatusCode)
	}
	evs := events(t, s.rec, audit.Filter{StudyUID: s.dr.StudyInstanceUID, Actions: []audit.Action{audit.ActionExport}})
	if len(evs) != 1 || evs[0].Object != shareObject(l.ID) {
		t.Errorf("export events %+v", evs)
	}

	// DICOMweb through the link: the study's QIDO-RS and WADO-RS, nothing else.
	study, other := s.dr.StudyInstanceUID, s.other.StudyInstanceUID
	web := s.path(l) + "/dicomweb"
	for p, want := range map[string]int{
		"/studies?StudyInstanceUID=" + study:                   http.StatusOK,
		"/studies/" + study + "/metadata":                      http.StatusOK,
		"/studies/" + study + "/series":                        http.StatusOK,
		"/studies":                                             http.StatusOK, // limited to the link's study
		"/studies?PatientID=" + s.row.PatientID:                http.StatusOK,
		"/studies?PatientID=*&limit=100":                       http.StatusOK,
		"/studies?StudyInstanceUID=" + other:                   http.StatusNotFound,
		"/studies?StudyInstanceUID=" + study + "%5C" + other:   http.StatusNotFound,
		"/studies/" + other + "/metadata":                      http.StatusNotFound,
		"/studies/" + study + "/../" + other + "/metadata":     http.StatusNotFound,
		"/studies/" + study + "/%2e%2e/" + other + "/metadata": http.StatusNotFound,
	} {
		resp, body := s.anon().get(web+p, "application/dicom+json")
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", p, resp.StatusCode, want)
		}
		if want == http.StatusOK && (!strings.Contains(body, study) || strings.Contains(body, other)) {
			t.Errorf("GET %s: %.300s", p, body)
		}
	}
	patient := s.makeLink(s.doc, study, `{}`)
	if resp, _ := s.anon().get(s.path(patient)+"/dicomweb/studies/"+study+"/metadata", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a patient's link reached DICOMweb: %d", resp.StatusCode)
	}
}

// TestShareZipOrthanc: Orthanc, another archive, imports the ZIP a doctor's link downloads
// (its REST API takes a ZIP of DICOM files) and holds every object of the study as stored.
func TestShareZipOrthanc(t *testing.T) {
	const bin = "/usr/sbin/Orthanc"
	if _, err := os.Stat(bin); err != nil {
		peertest.Missing(t, "Orthanc not installed: %v", err)
	}
	s := newShareEnv(t)
	l := s.makeLink(s.doc, s.dr.StudyInstanceUID, `{"kind":"doctor","verify":"none"}`)
	resp, zipBody := s.anon().get(s.path(l)+"/study.zip", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("zip: %d", resp.StatusCode)
	}
	base := startShareOrthanc(t, bin)
	up, err := http.Post(base+"/instances", "application/zip", strings.NewReader(zipBody))
	if err != nil {
		t.Fatal(err)
	}
	upBody, _ := io.ReadAll(up.Body)
	up.Body.Close()
	if up.StatusCode != http.StatusOK {
		t.Fatalf("Orthanc refused the ZIP: %d %s", up.StatusCode, upBody)
	}
	insts, err := s.archive.Index().Instances(context.Background(), s.dr.StudyInstanceUID, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range insts {
		// Orthanc finds an instance by its DICOM UIDs through /tools/lookup.
		lr, err := http.Post(base+"/tools/lookup", "text/plain", strings.NewReader(in.SOPInstanceUID))
		if err != nil {
			t.Fatal(err)
		}
		var found []struct{ ID, Type string }
		json.NewDecoder(lr.Body).Decode(&found)
		lr.Body.Close()
		if len(found) != 1 || found[0].Type != "Instance" {
			t.Errorf("Orthanc does not hold %s after the import: %+v (upload answer %s)", in.SOPInstanceUID, found, upBody)
			continue
		}
		fr, err := http.Get(base + "/instances/" + found[0].ID + "/file")
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(fr.Body)
		fr.Body.Close()
		_, rc, err := s.archive.Open(context.Background(), in.SOPInstanceUID)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, want) {
			t.Errorf("Orthanc's copy of %s differs from the stored object (%d/%d bytes)", in.SOPInstanceUID, len(got), len(want))
		}
	}
}

// startShareOrthanc runs Orthanc's core (no plugins) on a free loopback port, everything in
// a temporary directory, and returns its REST API's address.
func startShareOrthanc(t *testing.T, bin string) string {
	t.Helper()
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cfg, _ := json.Marshal(map[string]any{
		"Name": "share-import", "StorageDirectory": filepath.Join(dir, "storage"), "IndexDirectory": filepath.Join(dir, "index"),
		"Plugins": []string{}, "HttpPort": port, "DicomServerEnabled": false, "RemoteAccessAllowed": false,
		"AuthenticationEnabled": false, "StorageCompression": false, "UnknownSopClassAccepted": true,
	})
	path := filepath.Join(dir, "orthanc.json")
	if err := os.WriteFile(path, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	cmd := exec.Command(bin, path)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("Orthanc log:\n%s", log.String())
		}
	})
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get(base + "/system"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		select {
		case <-exited:
			t.Fatalf("Orthanc exited:\n%s", log.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("Orthanc did not answer in 30 s:\n%s", log.String())
		}
	}
}

// BenchmarkSharePhonePage measures what a phone loads for the first screen of a patient's
// link to a two-image DR study (2500 x 2048, 12 bits): the page, its style sheet and script,
// the key image and the first image, as JPEGs rendered by the server. The first load
// renders (cold); the rest come from the frame cache. Reported: bytes/first-screen and
// cold-ms; ns/op is a warm first screen. Target (issue 19): < 500 KB and < 1 s on loopback.
func BenchmarkSharePhonePage(b *testing.B) {
	en := newEnvWith(b, func(c *Config) {
		c.KeyImages = c.Sites.(reading.KeyImages)
		c.Shares = c.Sites.(reading.Shares)
	})
	ctx := context.Background()
	r := en.idx.Reading()
	var sops []string
	for i := range 2 {
		sop := "2.25.8800" + strconv.Itoa(i)
		en.putBytes(syntheticDR(b, "2.25.88", "2.25.881", sop, "王^芳=王^芳", 2048, 2500), "")
		sops = append(sops, sop)
	}
	en.user("doc", reading.RoleRadiologist, 0)
	u, err := r.UserByName(ctx, "doc")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := r.SaveDraft(ctx, "2.25.88", "双肺纹理清晰。", "心肺未见异常。", u, time.Now()); err != nil {
		b.Fatal(err)
	}
	if _, err := r.Sign(ctx, "2.25.88", 1, u, time.Now()); err != nil {
		b.Fatal(err)
	}
	if _, err := r.SetKeyImages(ctx, reading.KeySet{StudyUID: "2.25.88", Images: []reading.KeyImage{{SeriesUID: "2.25.881",
		SOPInstanceUID: sops[1], SOPClassUID: "1.2.840.10008.5.1.4.1.1.1.1", Frames: 1, MarkedAt: time.Now()}}}, 0); err != nil {
		b.Fatal(err)
	}
	doc := en.login("doc", "password-doc")
	s := &shareEnv{env: en}
	l := s.makeLink(doc, "2.25.88", `{"verify":"idlast4"}`)
	phone := en.anon()
	if resp := phone.postForm(s.path(l), url.Values{"answer": {"G001"}}); resp.StatusCode != http.StatusSeeOther {
		b.Fatalf("verify: %d", resp.StatusCode)
	}
	first := func() int {
		n := 0
		for _, p := range []string{s.path(l), "/static/share.css", "/static/share.js", s.path(l) + "/k/0", s.path(l) + "/i/0"} {
			resp, body := phone.get(p, "text/html")
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("%s: %d", p, resp.StatusCode)
			}
			n += len(body)
		}
		return n
	}
	t0 := time.Now()
	size := first()
	cold := time.Since(t0)
	b.ResetTimer()
	for b.Loop() {
		first()
	}
	b.ReportMetric(float64(size), "bytes/first-screen")
	b.ReportMetric(float64(cold.Microseconds())/1000, "cold-ms")
}

// TestShareURL: behind a reverse proxy the link names --public-url, else the address asked.
func TestShareURL(t *testing.T) {
	e := echo.New()
	req := httptest.NewRequest(http.MethodGet, "http://10.0.0.5:8080/api/studies/1.2/shares", nil)
	c := e.NewContext(req, httptest.NewRecorder())
	for public, want := range map[string]string{
		"":                      "http://10.0.0.5:8080/s/TOKEN",
		"https://pacs.example/": "https://pacs.example/s/TOKEN",
		"https://pacs.example":  "https://pacs.example/s/TOKEN",
	} {
		v := &Viewer{cfg: Config{PublicURL: public}}
		if got := v.shareURL(c, "TOKEN"); got != want {
			t.Errorf("public URL %q: %s, want %s", public, got, want)
		}
	}
}

// TestSharesOff: without share links the printed report's request gets no link (204, not an
// error), and /s/ is not served.
func TestSharesOff(t *testing.T) {
	en := newEnv(t)
	admin := en.admin()
	if resp, _ := admin.sendJSON(http.MethodPost, "/api/studies/1.2.3/shares", `{}`); resp.StatusCode != http.StatusNoContent {
		t.Errorf("a link asked for with share links off: %d", resp.StatusCode)
	}
	if resp, _ := en.anon().get("/s/"+strings.Repeat("A", 43), "text/html"); resp.StatusCode == http.StatusOK {
		t.Error("/s/ is served with share links off")
	}
}

// TestShareOnSign: signing a report makes the study's report link (by pacsd, lasting
// --share-days from the signature); the print shows that link, the same on every print,
// and its token opens it; the amended report keeps it; a link with a random token (made
// before derived tokens) still opens. A copy of the database without the secret file holds
// no token: no value of it, nor the hashes, opens the link; the secret file is 0600, read
// again derives the same token, and is refused once others may read it.
func TestShareOnSign(t *testing.T) {
	secretPath := filepath.Join(t.TempDir(), "share.key")
	en := newEnvWith(t, func(c *Config) {
		allRepos(c)
		c.ShareSecret, c.ShareOnSign = secretPath, true
	})
	en.townships()
	dr := en.put("dr_mono2.dcm", "TOWN_A")
	study := dr.StudyInstanceUID
	ctx := context.Background()
	r := en.idx.Reading()
	if fi, err := os.Stat(secretPath); err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != shareSecretSize {
		t.Fatalf("secret file: %v %v", fi, err)
	}
	if _, err := r.ReportShare(ctx, study); !errors.Is(err, reading.ErrNotFound) {
		t.Fatalf("a report link before signing: %v", err)
	}
	doc := en.login("doc", "password-doc")
	sign := func(version int) reading.ShareLink {
		t.Helper()
		resp, body := doc.sendJSON(http.MethodPost, "/api/studies/"+study+"/report/sign",
			`{"version":`+strconv.Itoa(version)+`,"findings":"双肺纹理清晰。","impression":"心肺未见异常。"}`)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("sign: %d %s", resp.StatusCode, body)
		}
		l, err := r.ReportShare(ctx, study)
		if err != nil {
			t.Fatalf("no report link after signing: %v", err)
		}
		return l
	}
	made := sign(1)
	reports, err := r.Reports(ctx, study)
	if err != nil {
		t.Fatal(err)
	}
	signedAt := reports[len(reports)-1].SignedAt
	if made.CreatedBy != 0 || made.Kind != reading.SharePatient || !made.ExpiresAt.Equal(signedAt.AddDate(0, 0, defaultShareDays)) {
		t.Errorf("link at signing: by %d, %s, expires %v (signed %v)", made.CreatedBy, made.Kind, made.ExpiresAt, signedAt)
	}

	printLink := func(c *client) shareCreated {
		t.Helper()
		resp, body := c.sendJSON(http.MethodPost, "/api/studies/"+study+"/shares/report", ``)
		var l shareCreated
		if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &l) != nil {
			t.Fatalf("print's link: %d %s", resp.StatusCode, body)
		}
		return l
	}
	first, second := printLink(doc), printLink(en.login("town-a", "password-town-a"))
	if first.ID != made.ID || second.URL != first.URL || second.QR != first.QR {
		t.Errorf("two prints: %d %q, %d %q; signing made %d", first.ID, first.URL, second.ID, second.URL, made.ID)
	}
	if resp, _ := en.login("town-b", "password-town-b").sendJSON(http.MethodPost, "/api/studies/"+study+"/shares/report", ``); resp.StatusCode != http.StatusNotFound {
		t.Errorf("another site's user got the link: %d", resp.StatusCode)
	}
	u, err := url.Parse(first.URL)
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimPrefix(u.Path, "/s/")
	if reading.ShareTokenHash(token) != made.TokenHash {
		t.Fatalf("the printed token is not the signed link's")
	}
	row, err := r.Study(ctx, study)
	if err != nil {
		t.Fatal(err)
	}
	phone := en.anon()
	answer := row.BirthDate
	if made.Verify == reading.VerifyIDLast4 {
		answer = row.PatientID[max(len(row.PatientID)-4, 0):]
	}
	if resp := phone.postForm(u.Path, url.Values{"answer": {answer}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the printed link's verification: %d", resp.StatusCode)
	}
	if resp, body := phone.get(u.Path, "text/html"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "心肺未见异常") {
		t.Fatalf("the printed link's page: %d", resp.StatusCode)
	}

	// Amended and signed again: the same link, lasting from the new signature.
	if resp, body := doc.sendJSON(http.MethodPost, "/api/studies/"+study+"/report/amend", `{"reason":"补充描述"}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("amend: %d %s", resp.StatusCode, body)
	}
	if again := sign(2); again.ID != made.ID || again.ExpiresAt.Before(made.ExpiresAt) {
		t.Errorf("after the amendment: link %d expiring %v; was %d expiring %v", again.ID, again.ExpiresAt, made.ID, made.ExpiresAt)
	}
	if l := printLink(doc); l.URL != first.URL {
		t.Errorf("the amended report prints %q, was %q", l.URL, first.URL)
	}

	// A link made before derived tokens (a random token, no nonce) still opens.
	oldToken, err := reading.NewShareToken()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.CreateShare(ctx, reading.ShareLink{TokenHash: reading.ShareTokenHash(oldToken), StudyUID: study,
		Kind: reading.ShareDoctor, Verify: reading.VerifyNone, CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if resp, body := en.anon().get("/s/"+oldToken, "text/html"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "心肺未见异常") {
		t.Errorf("a link with a random token: %d", resp.StatusCode)
	}
	// The thief's copy: the database files as they are on disk, without the secret.
	files, err := filepath.Glob(filepath.Join(filepath.Dir(t.TempDir()), "*", "index.db*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("database files: %v %v", files, err)
	}
	stolen := filepath.Join(t.TempDir(), "stolen.db")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(token)) {
			t.Errorf("%s holds the token", filepath.Base(f))
		}
		if err := os.WriteFile(stolen+strings.TrimPrefix(filepath.Base(f), "index.db"), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	db, err := sql.Open("sqlite3", stolen)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT * FROM share_links`)
	if err != nil {
		t.Fatal(err)
	}
	cols, _ := rows.Columns()
	var values []string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			values = append(values, v.String)
		}
	}
	if err := rows.Close(); err != nil || len(values) == 0 {
		t.Fatalf("stolen share_links: %d values, %v", len(values), err)
	}
	for _, c := range cols {
		if strings.Contains(c, "token") && c != "token_hash" {
			t.Errorf("share_links has a column %q", c)
		}
	}
	// No value of the copy is a token: none opens a link the way /s/{token} looks one up
	// (every value, as the link's hash is looked up), and the hash itself, tried at the door,
	// is an unknown link.
	for _, v := range values {
		if v == token {
			t.Errorf("the stolen database holds the token")
		}
		if l, err := r.ShareByHash(ctx, reading.ShareTokenHash(v)); !errors.Is(err, reading.ErrNotFound) {
			t.Errorf("the stolen value %q opens link %d (%v)", v, l.ID, err)
		}
	}
	if resp, _ := en.anon().get("/s/"+made.TokenHash, "text/html"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the token's hash as a token: %d", resp.StatusCode)
	}
	// The same secret file, read again (a restart), derives the same token.
	again, err := loadShareSecret(secretPath)
	if err != nil || reading.ShareTokenHash(reading.DeriveShareToken(again, made.Nonce)) != made.TokenHash {
		t.Errorf("the secret read again does not derive the link's token: %v", err)
	}
	if err := os.Chmod(secretPath, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadShareSecret(secretPath); err == nil {
		t.Error("a secret others may read was accepted")
	}
}
