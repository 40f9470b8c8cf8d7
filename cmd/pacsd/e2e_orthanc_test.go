package main

// Interop with Orthanc, a second, independent DICOM implementation (its DIMSE stack is
// DCMTK's, its storage, REST API and DICOMweb client its own): Orthanc as the SCU that
// pushes to pacsd, as the SCP that pacsd pushes to, and as the STOW-RS client that pushes
// to pacsd's DICOMweb. The tests skip only when Orthanc (or its DICOMweb plugin) is absent
// and CI is not set.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"pacsd/dicom"
	"pacsd/internal/logtest"
	"pacsd/internal/peertest"
)

const (
	orthancBin = "/usr/sbin/Orthanc"
	// The Debian package orthanc-dicomweb (scripts/deps.sh installs it with Orthanc).
	orthancDICOMwebPlugin = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
)

type orthanc struct {
	base      string // REST API, http://127.0.0.1:port
	dicomPort string
	log       *logtest.Buffer
	exited    chan struct{}
}

// needOrthancFile skips the test when a file of Orthanc's is missing, or fails it under CI,
// where every peer must be there.
func needOrthancFile(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		peertest.Missing(t, "Orthanc not installed: %v", err)
	}
}

// startOrthanc runs Orthanc on free loopback ports with everything in a temporary directory.
// pacsdPort, when not empty, is registered as the modality "pacsd" (AE PACSD). dicomWebServers,
// when not nil, loads the DICOMweb plugin with these servers (DicomWeb.Servers: name ->
// {"Url", "Username", "Password"}) for its client; otherwise no plugin loads.
func startOrthanc(t *testing.T, pacsdPort string, dicomWebServers map[string]any) *orthanc {
	t.Helper()
	needOrthancFile(t, orthancBin)
	plugins := []string{}
	if dicomWebServers != nil {
		needOrthancFile(t, orthancDICOMwebPlugin)
		plugins = append(plugins, orthancDICOMwebPlugin)
	}
	dir := t.TempDir()
	o := &orthanc{log: &logtest.Buffer{}, exited: make(chan struct{})}
	httpPort := freePort(t)
	o.dicomPort = freePort(t)
	o.base = "http://127.0.0.1:" + httpPort
	modalities := map[string][]any{}
	if pacsdPort != "" {
		modalities["pacsd"] = []any{"PACSD", "127.0.0.1", mustAtoi(t, pacsdPort)}
	}
	cfg := map[string]any{
		"Name":             "pacsd-interop",
		"StorageDirectory": filepath.Join(dir, "storage"),
		"IndexDirectory":   filepath.Join(dir, "index"),
		// The Debian package's system plugins must not load unasked: the tests talk to the
		// core REST API (and the DICOMweb client when asked for), and a plugin could change
		// what is stored.
		"Plugins":               plugins,
		"HttpPort":              mustAtoi(t, httpPort),
		"DicomPort":             mustAtoi(t, o.dicomPort),
		"DicomAet":              "ORTHANC",
		"DicomCheckCalledAet":   false,
		"RemoteAccessAllowed":   false,
		"AuthenticationEnabled": false,
		"DicomModalities":       modalities,
		// Accept every syntax and SOP class, so that nothing Orthanc refuses is the test's
		// configuration: every standard transfer syntax UID (native, deflate, JPEG,
		// JPEG-LS, JPEG 2000, RLE) is under 1.2.840.10008.
		"AcceptedTransferSyntaxes": []string{"1.2.840.10008.*"},
		"UnknownSopClassAccepted":  true,
		"DicomAlwaysAllowEcho":     true,
		"DicomAlwaysAllowStore":    true,
		// When pacsd does not accept an object's syntax Orthanc would transcode to this;
		// pacsd accepts them all, so this must never be used (the test checks the syntax).
		"DicomScuPreferredTransferSyntax": dicom.ExplicitVRLittleEndian,
		// Stored files stay as received: no compression of the storage area, no ingest
		// transcoding (absent option), so GET /instances/{id}/file is what arrived.
		"StorageCompression": false,
		// Close Orthanc's SCU association as soon as the job is done, not 5 s later.
		"DicomAssociationCloseDelay": 0,
		"SaveJobs":                   false,
		"SyncStorageArea":            false,
		"HttpCompressionEnabled":     false,
		"ConcurrentJobs":             1,
	}
	if dicomWebServers != nil {
		// The plugin serves its client's routes (/dicom-web/servers/...) only when enabled.
		cfg["DicomWeb"] = map[string]any{"Enable": true, "Root": "/dicom-web/", "Servers": dicomWebServers}
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "orthanc.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(orthancBin, path)
	cmd.Stdout, cmd.Stderr = o.log, o.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(o.exited) }()
	t.Cleanup(func() {
		// SIGKILL: Orthanc's own shutdown takes seconds and its data is thrown away.
		cmd.Process.Kill()
		<-o.exited
		if t.Failed() {
			t.Logf("Orthanc log:\n%s", o.log.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(o.base + "/system")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				waitTCP(t, "127.0.0.1:"+o.dicomPort)
				return o
			}
		}
		select {
		case <-o.exited:
			t.Fatalf("Orthanc exited early\n%s", o.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("Orthanc did not come up\n%s", o.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// call sends one REST request and returns the body and status.
func (o *orthanc) call(t *testing.T, method, path string, body []byte) ([]byte, int) {
	t.Helper()
	req, err := http.NewRequest(method, o.base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 2 * time.Minute}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("Orthanc %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b, resp.StatusCode
}

func (o *orthanc) callJSON(t *testing.T, method, path string, body []byte, out any) {
	t.Helper()
	b, code := o.call(t, method, path, body)
	if code != http.StatusOK {
		t.Fatalf("Orthanc %s %s: HTTP %d\n%s", method, path, code, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("Orthanc %s %s: %v\n%s", method, path, err, b)
	}
}

// instancesBySOP lists what Orthanc holds: SOP Instance UID -> Orthanc ID.
func (o *orthanc) instancesBySOP(t *testing.T) map[string]string {
	t.Helper()
	var list []struct {
		ID            string
		MainDicomTags map[string]string
	}
	o.callJSON(t, "GET", "/instances?expand", nil, &list)
	m := map[string]string{}
	for _, in := range list {
		m[in.MainDicomTags["SOPInstanceUID"]] = in.ID
	}
	return m
}

// orthancUpload is Orthanc's answer to POST /instances.
type orthancUpload struct{ ID, ParentStudy, Status string }

// upload stores a file in Orthanc over REST and returns its bytes. Orthanc keeps a REST
// upload as it is (checked here): what it sends on is this file's content.
func (o *orthanc) upload(t *testing.T, path string) ([]byte, orthancUpload) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var up orthancUpload
	o.callJSON(t, "POST", "/instances", b, &up)
	if up.Status != "Success" {
		t.Fatalf("upload %s to Orthanc: %q", filepath.Base(path), up.Status)
	}
	if got, _ := o.call(t, "GET", "/instances/"+up.ID+"/file", nil); !bytes.Equal(got, b) {
		t.Fatalf("Orthanc changed %s on upload", filepath.Base(path))
	}
	return b, up
}

// header reads a Part-10 object held in memory.
func header(t *testing.T, name string, b []byte) *dicom.Header {
	t.Helper()
	h, err := dicom.ReadPart10(bytes.NewReader(b), dicom.ReadOptions{})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return h
}

// TestOrthancAsSCU: Orthanc holds every test object (uploaded over REST, kept byte for
// byte), C-ECHOes pacsd and C-STOREs everything to it; pacsd indexes and serves each one.
// Chinese names that arrived this way are found by QIDO and come back in UTF-8.
func TestOrthancAsSCU(t *testing.T) {
	n := startPacsd(t, t.TempDir())
	o := startOrthanc(t, n.dicomPort, nil)
	files := testdataFiles(t)
	expected := loadExpected(t)

	src := map[string][]byte{} // SOP Instance UID -> file bytes
	names := map[string]string{}
	var ids []string
	for _, f := range files {
		b, up := o.upload(t, f)
		sop := expected[filepath.Base(f)].SOPInstanceUID
		src[sop], names[sop] = b, filepath.Base(f)
		ids = append(ids, up.ID)
	}

	if b, code := o.call(t, "POST", "/modalities/pacsd/echo", []byte("{}")); code != http.StatusOK {
		t.Fatalf("Orthanc C-ECHO to pacsd: HTTP %d %s", code, b)
	}
	req, _ := json.Marshal(map[string]any{"Resources": ids, "Synchronous": true})
	var job struct {
		FailedInstancesCount, InstancesCount int
		RemoteAet                            string
	}
	o.callJSON(t, "POST", "/modalities/pacsd/store", req, &job)
	if job.FailedInstancesCount != 0 || job.InstancesCount != len(files) || job.RemoteAet != "PACSD" {
		t.Fatalf("Orthanc C-STORE to pacsd: %+v, want %d instances, none failed", job, len(files))
	}

	listed := map[string]map[string]any{}
	for _, r := range n.qido(t, "/instances", url.Values{"limit": {"1000"}, "includefield": {"0020000D", "0020000E"}}) {
		listed[uidOf(r, "00080018")] = r
	}
	same := 0
	for sop, b := range src {
		name := names[sop]
		r, ok := listed[sop]
		if !ok {
			t.Errorf("%s (%s) sent by Orthanc is not listed by QIDO", name, sop)
			continue
		}
		got, code := n.wadoInstance(t, uidOf(r, "0020000D"), uidOf(r, "0020000E"), sop)
		if code != http.StatusOK {
			t.Errorf("%s: WADO-RS %d", name, code)
			continue
		}
		if s := header(t, name+" from pacsd", got).Dataset.String(dicom.TagSOPInstanceUID); s != sop {
			t.Errorf("%s: WADO-RS returned SOP Instance UID %q", name, s)
		}
		// Orthanc proposes each object's own syntax and pacsd accepts them all, so nothing
		// is transcoded; Orthanc's DCMTK does rewrite undefined-length sequences with
		// explicit lengths as it sends, and pacsd must keep whatever arrived.
		if compareCopy(t, name, b, got, false) {
			same++
		}
	}
	t.Logf("%d of %d objects arrived with the data set bytes of the file", same, len(src))

	// Chinese names through Orthanc: the GB18030 study and both ISO 2022 IR 58 studies are
	// found by a Chinese prefix (any name group matches) and shown in UTF-8.
	byStudy := map[string]string{}
	for _, r := range n.qido(t, "/studies", url.Values{"PatientName": {"张*"}, "includefield": {"00100010"}}) {
		byStudy[uidOf(r, "0020000D")] = pnAlphabeticOrIdeographic(r)
	}
	for _, name := range []string{"dr_mono2.dcm", "charset_ir58.dcm", "charset_ir58_only.dcm"} {
		e := expected[name]
		got, ok := byStudy[e.StudyInstanceUID]
		if !ok {
			t.Errorf("PatientName=张* did not find the study of %s; found %q", name, byStudy)
			continue
		}
		// DICOM JSON has no place for trailing empty groups (PS3.18 F.2.2).
		if want := strings.TrimRight(e.PatientName, "="); got != want {
			t.Errorf("%s: PatientName %q, want %q", name, got, want)
		}
	}
	// The ideographic group alone, and the whole name, find the IR 58 studies (and the
	// UTF-8 one whose patient has the same name: charset_utf8.dcm).
	for _, c := range []struct {
		key   string
		files []string
	}{
		{"张^伟", []string{"charset_ir58.dcm", "charset_utf8.dcm"}},
		{"Zhang^Wei=张^伟", []string{"charset_ir58.dcm", "charset_utf8.dcm"}},
		{"张^小东", []string{"charset_ir58_only.dcm"}},
		{"*=张^小*", []string{"charset_ir58_only.dcm"}},
	} {
		var got, want []string
		for _, r := range n.qido(t, "/studies", url.Values{"PatientName": {c.key}}) {
			got = append(got, uidOf(r, "0020000D"))
		}
		for _, f := range c.files {
			want = append(want, expected[f].StudyInstanceUID)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("PatientName=%s: studies %q, want those of %q (%q)", c.key, got, c.files, want)
		}
	}
}

// TestOrthancSTOW: Orthanc's DICOMweb client (POST /dicom-web/servers/pacsd/stow) pushes
// every test object, study by study, to pacsd's STOW-RS, authenticated over HTTP Basic with
// a staff account as a site would configure it; every instance then comes back from pacsd
// byte for byte as Orthanc holds it. Orthanc's multipart boundary is 73 characters (two
// UUIDs joined), more than RFC 2046 lets a generator make: pacsd accepts it.
func TestOrthancSTOW(t *testing.T) {
	n := startPacsd(t, t.TempDir(), "--dicomweb-open=false")
	user, pw := n.staffAccount(t)
	o := startOrthanc(t, "", map[string]any{
		"pacsd": map[string]any{"Url": n.baseURL + "/dicomweb/", "Username": user, "Password": pw},
	})

	held := map[string][]byte{}        // SOP Instance UID -> the file Orthanc holds
	bySOP := map[string]string{}       // SOP Instance UID -> test file name
	studyUIDs := map[string][]string{} // Study Instance UID -> its SOP Instance UIDs
	studyIDs := map[string]bool{}      // Orthanc's study IDs
	for _, f := range testdataFiles(t) {
		b, up := o.upload(t, f)
		h := header(t, filepath.Base(f), b)
		sop, study := h.Dataset.String(dicom.TagSOPInstanceUID), h.Dataset.String(dicom.TagStudyInstanceUID)
		held[sop], bySOP[sop] = b, filepath.Base(f)
		studyUIDs[study] = append(studyUIDs[study], sop)
		studyIDs[up.ParentStudy] = true
	}

	req, _ := json.Marshal(map[string]any{"Resources": slices.Sorted(maps.Keys(studyIDs)), "Synchronous": true})
	if b, code := o.call(t, "POST", "/dicom-web/servers/pacsd/stow", req); code != http.StatusOK {
		t.Fatalf("Orthanc STOW-RS to pacsd: HTTP %d %s", code, b)
	}

	got := map[string][]byte{}
	for study := range studyUIDs {
		for sop, b := range n.retrieveStudy(t, user, pw, study) {
			got[sop] = b
		}
	}
	for sop, b := range held {
		g, ok := got[sop]
		switch {
		case !ok:
			t.Errorf("%s (%s) pushed by Orthanc is not in pacsd", bySOP[sop], sop)
		case !bytes.Equal(g, b):
			t.Errorf("%s: pacsd returns %d bytes that differ from the %d Orthanc holds", bySOP[sop], len(g), len(b))
		}
	}
	if len(got) != len(held) {
		t.Errorf("pacsd holds %d instances, Orthanc pushed %d", len(got), len(held))
	}
	t.Logf("%d instances in %d studies pushed by Orthanc's STOW-RS client", len(held), len(studyIDs))
}

// staffAccount readies the initial administrator for DICOMweb as a person would: logs in
// with the password pacsd printed, then changes it in the reading room (a password someone
// else chose is refused until then). It returns the account's name and new password.
func (n *node) staffAccount(t *testing.T) (user, password string) {
	t.Helper()
	user, initial := n.initialAdmin(t)
	password = "orthanc-stow-" + initial
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar, Timeout: time.Minute}
	// The login redirects to the password page, which holds the session's CSRF token.
	resp, err := c.PostForm(n.baseURL+"/login", url.Values{"username": {user}, "password": {initial}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
	if resp.StatusCode != http.StatusOK || csrf == nil {
		t.Fatalf("login as %s: HTTP %d at %s, no CSRF token\n%s", user, resp.StatusCode, resp.Request.URL, page)
	}
	resp, err = c.PostForm(n.baseURL+"/account/password", url.Values{"csrf": {string(csrf[1])},
		"current": {initial}, "new": {password}, "confirm": {password}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Query().Get("changed") != "1" {
		t.Fatalf("change %s's password: HTTP %d at %s\n%s", user, resp.StatusCode, resp.Request.URL, page)
	}
	req, _ := http.NewRequest(http.MethodGet, n.baseURL+"/dicomweb/studies?limit=1", nil)
	req.SetBasicAuth(user, password)
	resp, err = http.DefaultClient.Do(req) // no session cookie: Basic alone
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("DICOMweb as %s with the new password: HTTP %d", user, resp.StatusCode)
	}
	return user, password
}

// retrieveStudy fetches a whole study over WADO-RS as stored (any transfer syntax), with
// HTTP Basic credentials, and returns its instances by SOP Instance UID.
func (n *node) retrieveStudy(t *testing.T, user, password, study string) map[string][]byte {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, n.baseURL+"/dicomweb/studies/"+study, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(user, password)
	req.Header.Set("Accept", `multipart/related; type="application/dicom"; transfer-syntax=*`)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("WADO-RS study %s: HTTP %d %s", study, resp.StatusCode, b)
	}
	_, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("WADO-RS study %s: Content-Type: %v", study, err)
	}
	out := map[string][]byte{}
	mr := multipart.NewReader(resp.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("WADO-RS study %s: %v", study, err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatalf("WADO-RS study %s: %v", study, err)
		}
		out[header(t, "part of study "+study, b).Dataset.String(dicom.TagSOPInstanceUID)] = b
	}
}

// TestOrthancAsSCP: `pacsd send` pushes every test object to Orthanc, which then holds each
// one; where Orthanc stores what it received unchanged, the data set bytes are the file's.
func TestOrthancAsSCP(t *testing.T) {
	o := startOrthanc(t, "", nil)
	files := testdataFiles(t)
	expected := loadExpected(t)
	out, err := exec.Command(pacsdBin, append([]string{"send", "--addr", "127.0.0.1:" + o.dicomPort, "--aec", "ORTHANC", "--aet", "TOWNSHIP4"}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("pacsd send to Orthanc: %v\n%s", err, out)
	}
	if c := strings.Count(string(out), "status 0x0000"); c != len(files) {
		t.Errorf("pacsd send to Orthanc: %d successes, want %d\n%s", c, len(files), out)
	}
	held := o.instancesBySOP(t)
	same := 0
	for _, f := range files {
		name := filepath.Base(f)
		id, ok := held[expected[name].SOPInstanceUID]
		if !ok {
			t.Errorf("%s: Orthanc does not hold it", name)
			continue
		}
		got, code := o.call(t, "GET", "/instances/"+id+"/file", nil)
		if code != http.StatusOK {
			t.Errorf("%s: Orthanc file: HTTP %d", name, code)
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if s := header(t, name+" from Orthanc", got).Dataset.String(dicom.TagSOPInstanceUID); s != expected[name].SOPInstanceUID {
			t.Errorf("%s: Orthanc holds SOP Instance UID %q", name, s)
		}
		// Orthanc stores what DCMTK parsed and wrote again: undefined-length sequences
		// get explicit lengths, and a deflated data set is inflated and deflated anew.
		if compareCopy(t, name, b, got, true) {
			same++
		}
	}
	t.Logf("%d of %d objects stored by Orthanc with the data set bytes sent", same, len(files))
}

// compareCopy checks an object that went through Orthanc against the file it came from:
// same transfer syntax, same element values (pixel data included), and the same data set
// bytes unless the file holds what Orthanc's DCMTK is known to re-encode (undefined-length
// sequences; with reDeflates, a deflated data set). It reports whether the bytes were equal.
func compareCopy(t *testing.T, name string, src, got []byte, reDeflates bool) bool {
	t.Helper()
	full := dicom.ReadOptions{KeepPixelData: true, MaxValueLength: 4 << 20}
	sh, err := dicom.ReadPart10(bytes.NewReader(src), full)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	gh, err := dicom.ReadPart10(bytes.NewReader(got), full)
	if err != nil {
		t.Errorf("%s: copy through Orthanc unreadable: %v", name, err)
		return false
	}
	if gh.TransferSyntax != sh.TransferSyntax {
		t.Errorf("%s: copy is in %s, the file in %s", name, gh.TransferSyntax, sh.TransferSyntax)
		return false
	}
	if d := diffDatasets("", sh.Dataset, gh.Dataset); d != "" {
		t.Errorf("%s: copy through Orthanc differs: %s", name, d)
	}
	if bytes.Equal(got[gh.DatasetOffset:], src[sh.DatasetOffset:]) {
		return true
	}
	ts, _ := dicom.LookupTransferSyntax(sh.TransferSyntax)
	if !undefinedLengthSequence(sh.Dataset) && !(reDeflates && ts.Deflated) {
		t.Errorf("%s: data set bytes changed through Orthanc (%d -> %d bytes) with nothing to re-encode",
			name, len(src)-int(sh.DatasetOffset), len(got)-int(gh.DatasetOffset))
	}
	return false
}

func undefinedLengthSequence(ds *dicom.Dataset) bool {
	for _, e := range ds.Elements {
		if e.VR == "SQ" && e.Length == 0xFFFFFFFF {
			return true
		}
		for _, it := range e.Items {
			if undefinedLengthSequence(it) {
				return true
			}
		}
	}
	return false
}

// diffDatasets describes the first difference in tags, VRs and decoded values (lengths and
// encodings of sequences and items do not count), or returns "".
func diffDatasets(path string, a, b *dicom.Dataset) string {
	if len(a.Elements) != len(b.Elements) {
		return fmt.Sprintf("%s: %d elements, copy has %d", orRoot(path), len(a.Elements), len(b.Elements))
	}
	for i, x := range a.Elements {
		y := b.Elements[i]
		where := fmt.Sprintf("%s%s", path, x.Tag)
		switch {
		case x.Tag != y.Tag:
			return fmt.Sprintf("%s: copy has %s instead", where, y.Tag)
		case x.VR != y.VR:
			return fmt.Sprintf("%s: VR %s, copy %s", where, x.VR, y.VR)
		case !slices.Equal(x.Strings, y.Strings):
			return fmt.Sprintf("%s: %q, copy %q", where, x.Strings, y.Strings)
		case !slices.Equal(x.Numbers, y.Numbers):
			return fmt.Sprintf("%s: %v, copy %v", where, x.Numbers, y.Numbers)
		case !bytes.Equal(x.Bytes, y.Bytes):
			return fmt.Sprintf("%s: %d value bytes differ from the copy's %d", where, len(x.Bytes), len(y.Bytes))
		case len(x.Items) != len(y.Items):
			return fmt.Sprintf("%s: %d items, copy has %d", where, len(x.Items), len(y.Items))
		}
		for j := range x.Items {
			if d := diffDatasets(fmt.Sprintf("%s[%d]", where, j), x.Items[j], y.Items[j]); d != "" {
				return d
			}
		}
	}
	return ""
}

func orRoot(path string) string {
	if path == "" {
		return "data set"
	}
	return path
}
