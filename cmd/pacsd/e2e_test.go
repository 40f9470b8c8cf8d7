package main

// End-to-end tests: the real pacsd binary against DCMTK peers, over loopback, the way a
// township modality and a county viewer use it.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"pacsd/dicom"
	"pacsd/internal/logtest"
	"pacsd/internal/peertest"
	"pacsd/internal/pgtest"
)

var (
	pacsdBin string // built once by TestMain
	genBin   string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pacsd-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pacsdBin = filepath.Join(dir, "pacsd")
	genBin = filepath.Join(dir, "gentestdata")
	for bin, pkg := range map[string]string{pacsdBin: ".", genBin: "../../tools/gentestdata"} {
		out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, out)
			os.Exit(1)
		}
	}
	// pgtest.Main runs the tests and stops the PostgreSQL server a test may have started.
	code := pgtest.Main(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

type node struct {
	t         *testing.T
	cmd       *exec.Cmd
	dataDir   string
	dicomAddr string
	dicomPort string
	baseURL   string
	log       *logtest.Buffer
	exited    chan struct{} // closed when the process has been reaped
	exitErr   error
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
}

// startPacsd runs the binary on fresh loopback ports over dataDir and waits until both
// listeners answer. A port freePort found free can be taken by another process before pacsd
// binds it: then pacsd is started again on other ports (the log, with what the first start
// printed, is kept).
func startPacsd(t *testing.T, dataDir string, extra ...string) *node {
	t.Helper()
	log := &logtest.Buffer{}
	for attempt := 1; ; attempt++ {
		if n := tryStartPacsd(t, dataDir, log, attempt < 3, extra...); n != nil {
			return n
		}
	}
}

// tryStartPacsd is one start of startPacsd; nil when retry is set and a port was taken.
func tryStartPacsd(t *testing.T, dataDir string, log *logtest.Buffer, retry bool, extra ...string) *node {
	t.Helper()
	n := &node{t: t, dataDir: dataDir, log: log, exited: make(chan struct{})}
	n.dicomPort = freePort(t)
	httpPort := freePort(t)
	n.dicomAddr = "127.0.0.1:" + n.dicomPort
	n.baseURL = "http://127.0.0.1:" + httpPort
	args := append([]string{"serve", "--dicom-addr", n.dicomAddr, "--http-addr", "127.0.0.1:" + httpPort,
		"--data-dir", dataDir, "--min-free-mb", "16", "--log-level", "debug",
		// The tests query DICOMweb and /metrics as scripts do, without an account;
		// TestDICOMwebNeedsAccount turns both off again (the last flag wins).
		"--dicomweb-open", "--metrics-open"}, extra...)
	n.cmd = exec.Command(pacsdBin, args...)
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { n.exitErr = n.cmd.Wait(); close(n.exited) }()
	t.Cleanup(func() {
		select {
		case <-n.exited:
		default:
			n.cmd.Process.Kill()
			<-n.exited
		}
		if t.Failed() {
			t.Logf("pacsd log:\n%s", n.log.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(n.baseURL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if c, err := net.Dial("tcp", n.dicomAddr); err == nil {
				c.Close()
				return n
			}
		}
		select {
		case <-n.exited:
			if retry && strings.Contains(n.log.String(), "address already in use") {
				return nil
			}
			t.Fatalf("pacsd exited early: %v\n%s", n.exitErr, n.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("pacsd did not come up\n%s", n.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (n *node) kill() {
	n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.exited
}

func (n *node) stop() error {
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
		return n.exitErr
	case <-time.After(60 * time.Second):
		n.cmd.Process.Kill()
		<-n.exited
		return fmt.Errorf("pacsd did not stop on SIGTERM")
	}
}

// needTool skips the test when a peer's tool is missing, or fails it under CI, where
// scripts/deps.sh installs every one.
func needTool(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		peertest.Tool(t, tool)
	}
}

func runTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// testdataFiles lists the committed, well-formed test objects.
func testdataFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../../testdata/*.dcm")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	return files
}

// datasetBytes returns the bytes after the File Meta Information: what a modality sends
// over DIMSE and what must come back unchanged.
func datasetBytes(t *testing.T, part10 []byte) []byte {
	t.Helper()
	h, err := dicom.ReadPart10(bytes.NewReader(part10), dicom.ReadOptions{})
	if err != nil {
		t.Fatalf("read header: %v", err)
	}
	return part10[h.DatasetOffset:]
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

type expectedFile struct {
	PatientName       string
	StudyInstanceUID  string
	SOPInstanceUID    string
	TransferSyntaxUID string
}

func loadExpected(t *testing.T) map[string]expectedFile {
	t.Helper()
	b, err := os.ReadFile("../../testdata/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]expectedFile{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// wadoInstance fetches one instance over WADO-RS and returns its Part-10 bytes.
func (n *node) wadoInstance(t *testing.T, study, series, inst string) ([]byte, int) {
	t.Helper()
	u := fmt.Sprintf("%s/dicomweb/studies/%s/series/%s/instances/%s", n.baseURL, study, series, inst)
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("Accept", `multipart/related; type="application/dicom"; transfer-syntax=*`)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, resp.StatusCode
	}
	_, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("content-type: %v", err)
	}
	mr := multipart.NewReader(resp.Body, params["boundary"])
	p, err := mr.NextPart()
	if err != nil {
		t.Fatalf("first part: %v", err)
	}
	b, err := io.ReadAll(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mr.NextPart(); err != io.EOF {
		t.Fatalf("want exactly one part, next: %v", err)
	}
	return b, resp.StatusCode
}

func (n *node) qido(t *testing.T, path string, q url.Values) []map[string]any {
	t.Helper()
	resp, err := http.Get(n.baseURL + "/dicomweb" + path + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("QIDO %s?%s: %d %s", path, q.Encode(), resp.StatusCode, b)
	}
	var out []map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("QIDO JSON: %v\n%s", err, b)
	}
	return out
}

// TestDCMTKPeersStoreEverything is the foundation's acceptance test: echoscu, storescu and
// dcmsend of every committed test object (every transfer syntax, every charset) succeed;
// QIDO finds the GB18030 study by a Chinese prefix; WADO-RS returns the data set bytes
// exactly as sent.
func TestDCMTKPeersStoreEverything(t *testing.T) {
	needTool(t, "echoscu", "storescu", "dcmsend")
	n := startPacsd(t, t.TempDir())
	runTool(t, "echoscu", "-aec", "PACSD", "127.0.0.1", n.dicomPort)

	files := testdataFiles(t)
	expected := loadExpected(t)
	// storescu may convert between uncompressed syntaxes on the way (it proposes its own
	// order); pacsd must accept and store whatever arrives. Then dcmsend sends every file
	// as it is stored on disk, and those bytes must come back unchanged: an object resent
	// with different bytes by the same sender replaces the earlier one (the overwrite rule:
	// another sender's would be refused, TestNoSilentOverwrite).
	// storescu proposes a compressed syntax only when told which (-xy, -xv, ...); a modality
	// configured for JPEG does the same. Uncompressed files go together on one association.
	successes := 0
	var plain []string
	for _, f := range files {
		ts := expected[filepath.Base(f)].TransferSyntaxUID
		if opt, ok := storescuProposal[ts]; ok {
			successes += storescu(t, n, opt, f)
		} else if s, _ := dicom.LookupTransferSyntax(ts); s.Encapsulated {
			// .57, RLE and the retired JPEG processes: no storescu option, a configuration.
			successes += storescu(t, n, "-xf", storescuConfig(t, f), "Pacsd", f)
		} else {
			plain = append(plain, f)
		}
	}
	successes += storescu(t, n, append([]string{"-R"}, plain...)...)
	if successes != len(files) {
		t.Errorf("storescu: %d success responses, want %d", successes, len(files))
	}
	// One log line per stored object above debug level, written before its response, with
	// where it came from and no patient name (DESIGN.md section 5).
	logged := n.log.String()
	for _, f := range files {
		e := expected[filepath.Base(f)]
		var lines []string
		for l := range strings.Lines(logged) {
			if strings.Contains(l, "sop_instance_uid="+e.SOPInstanceUID+" ") && !strings.Contains(l, "level=DEBUG") {
				lines = append(lines, l)
			}
		}
		if len(lines) != 1 || !strings.Contains(lines[0], "outcome=stored transport=dimse calling_ae=TOWNSHIP1 ") ||
			(e.PatientName != "" && strings.Contains(lines[0], e.PatientName)) {
			t.Errorf("%s: logged %q, want one line: stored over DIMSE, no patient name", filepath.Base(f), lines)
		}
	}
	// dcmsend re-encodes what it reads (as every DCMTK sender does), so "the bytes that
	// were sent" are what a bit-preserving storescp receives from the same dcmsend run.
	// pacsd must hand back exactly those data set bytes, in the negotiated syntax.
	refDir := t.TempDir()
	refPort := freePort(t)
	scp := exec.Command("storescp", "+B", "-xf", storescpConfig(t, files), "Pacsd", "-od", refDir, "-aet", "REFSCP", refPort)
	if err := scp.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { scp.Process.Kill(); scp.Wait() }()
	waitTCP(t, "127.0.0.1:"+refPort)
	for _, port := range []string{refPort, n.dicomPort} {
		out := runTool(t, "dcmsend", append([]string{"-v", "-dn", "-aec", "PACSD", "-aet", "TOWNSHIP1", "127.0.0.1", port}, files...)...)
		if !strings.Contains(out, fmt.Sprintf("with status SUCCESS  : %d", len(files))) {
			t.Errorf("dcmsend to port %s did not report %d successes:\n%s", port, len(files), out)
		}
	}
	refs, _ := filepath.Glob(filepath.Join(refDir, "*"))
	if len(refs) != len(files) {
		t.Fatalf("reference storescp received %d objects, want %d", len(refs), len(files))
	}
	for _, ref := range refs {
		n.assertSameDataset(t, ref)
	}

	// pacsd's own SCU sends the bytes of each file untouched: they come back identical, in
	// the transfer syntax of the file.
	out, err := exec.Command(pacsdBin, append([]string{"send", "--addr", n.dicomAddr, "--aec", "PACSD", "--aet", "TOWNSHIP1"}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("pacsd send: %v\n%s", err, out)
	}
	for _, f := range files {
		ts := n.assertSameDataset(t, f)
		if exp := expected[filepath.Base(f)].TransferSyntaxUID; ts != exp {
			t.Errorf("%s: stored in %s, sent in %s", filepath.Base(f), ts, exp)
		}
	}

	// A Chinese prefix, percent-encoded as every client sends it.
	res := n.qido(t, "/studies", url.Values{"PatientName": {"张*"}, "includefield": {"00100010"}})
	var names []string
	for _, r := range res {
		names = append(names, pnAlphabeticOrIdeographic(r))
	}
	gb := expected["dr_mono2.dcm"]
	found := false
	for _, r := range res {
		if uidOf(r, "0020000D") == gb.StudyInstanceUID {
			found = true
			if got := pnAlphabeticOrIdeographic(r); got != gb.PatientName {
				t.Errorf("GB18030 study PatientName = %q, want %q", got, gb.PatientName)
			}
		}
	}
	if !found {
		t.Errorf("PatientName=张* did not find the GB18030 study; got %q", names)
	}
}

// storescuProposal is the storescu option that proposes each compressed transfer syntax.
// JPEG Lossless process 14 (.57) and RLE have none: they go through a storescu
// configuration file (storescuConfig), the way a site would set up its modality.
var storescuProposal = map[string]string{
	dicom.JPEGBaseline8Bit:   "-xy",
	dicom.JPEGExtended12Bit:  "-xx",
	dicom.JPEGLosslessSV1:    "-xs",
	dicom.JPEGLSLossless:     "-xt",
	dicom.JPEGLSNearLossless: "-xu",
	dicom.JPEG2000Lossless:   "-xv",
	dicom.JPEG2000:           "-xw",
}

// storescu sends files on one association and returns the number of success responses.
func storescu(t *testing.T, n *node, args ...string) int {
	t.Helper()
	out := runTool(t, "storescu", append([]string{"-v", "-aec", "PACSD", "-aet", "TOWNSHIP1", "127.0.0.1", n.dicomPort}, args...)...)
	return strings.Count(out, "Received Store Response (Success)")
}

// storescuConfig writes a storescu association profile "Pacsd" that proposes exactly the
// file's SOP class in its own transfer syntax (DCMTK's storescu configuration format).
func storescuConfig(t *testing.T, path string) string {
	t.Helper()
	f, err := inspect(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`[[TransferSyntaxes]]
[AsStored]
TransferSyntax1 = %s

[[PresentationContexts]]
[AsStoredContexts]
PresentationContext1 = %s\AsStored

[[Profiles]]
[Pacsd]
PresentationContexts = AsStoredContexts
`, f.ts, f.sopClass)
	p := filepath.Join(t.TempDir(), "storescu.cfg")
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// assertSameDataset fetches the instance of the Part-10 file at path over WADO-RS and
// checks that its data set bytes equal the file's; it returns the stored transfer syntax.
func (n *node) assertSameDataset(t *testing.T, path string) string {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := dicom.ReadPart10(bytes.NewReader(src), dicom.ReadOptions{})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	name := filepath.Base(path)
	got, code := n.wadoInstance(t, h.Dataset.String(dicom.TagStudyInstanceUID), h.Dataset.String(dicom.TagSeriesInstanceUID), h.Dataset.String(dicom.TagSOPInstanceUID))
	if code != http.StatusOK {
		t.Errorf("%s: WADO-RS status %d", name, code)
		return ""
	}
	gh, err := dicom.ReadPart10(bytes.NewReader(got), dicom.ReadOptions{})
	if err != nil {
		t.Fatalf("%s: returned object unreadable: %v", name, err)
	}
	if sum(got[gh.DatasetOffset:]) != sum(src[h.DatasetOffset:]) {
		t.Errorf("%s: WADO-RS data set differs from what was sent (%d vs %d bytes)", name, len(got)-int(gh.DatasetOffset), len(src)-int(h.DatasetOffset))
	}
	if gh.TransferSyntax != h.TransferSyntax {
		t.Errorf("%s: returned in %s, sent in %s", name, gh.TransferSyntax, h.TransferSyntax)
	}
	return gh.TransferSyntax
}

// storescpConfig writes a storescp profile "Pacsd" that accepts the SOP classes of files in
// every transfer syntax pacsd accepts: storescp's own +xa leaves out those DCMTK cannot
// decode (JPEG 2000), and a reference receiver must take the bytes as sent.
func storescpConfig(t *testing.T, files []string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("[[TransferSyntaxes]]\n[All]\n")
	for i, ts := range dicom.TransferSyntaxes() {
		fmt.Fprintf(&b, "TransferSyntax%d = %s\n", i+1, ts.UID)
	}
	b.WriteString("\n[[PresentationContexts]]\n[AllContexts]\n")
	seen := map[string]bool{}
	for _, p := range files {
		f, err := inspect(p)
		if err != nil {
			t.Fatal(err)
		}
		if !seen[f.sopClass] {
			seen[f.sopClass] = true
			fmt.Fprintf(&b, "PresentationContext%d = %s\\All\n", len(seen), f.sopClass)
		}
	}
	b.WriteString("\n[[Profiles]]\n[Pacsd]\nPresentationContexts = AllContexts\n")
	p := filepath.Join(t.TempDir(), "storescp.cfg")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func uidOf(r map[string]any, tag string) string {
	a, _ := r[tag].(map[string]any)
	v, _ := a["Value"].([]any)
	if len(v) == 0 {
		return ""
	}
	s, _ := v[0].(string)
	return s
}

// pnAlphabeticOrIdeographic renders a PN JSON value back to its "=" string form.
func pnAlphabeticOrIdeographic(r map[string]any) string {
	a, _ := r["00100010"].(map[string]any)
	v, _ := a["Value"].([]any)
	if len(v) == 0 {
		return ""
	}
	pn, _ := v[0].(map[string]any)
	groups := []string{fmt.Sprint(orEmpty(pn["Alphabetic"])), fmt.Sprint(orEmpty(pn["Ideographic"])), fmt.Sprint(orEmpty(pn["Phonetic"]))}
	return strings.TrimRight(strings.Join(groups, "="), "=")
}

func orEmpty(v any) any {
	if v == nil {
		return ""
	}
	return v
}

// TestPacsdSendCommand: pacsd's own SCU sends to pacsd and to DCMTK's storescp.
func TestPacsdSendCommand(t *testing.T) {
	needTool(t, "storescp")
	n := startPacsd(t, t.TempDir())
	files := testdataFiles(t)
	out, err := exec.Command(pacsdBin, append([]string{"send", "--addr", n.dicomAddr, "--aec", "PACSD"}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("pacsd send: %v\n%s", err, out)
	}
	if c := strings.Count(string(out), "status 0x0000"); c != len(files) {
		t.Errorf("pacsd send: %d successes, want %d\n%s", c, len(files), out)
	}

	// storescp as the peer (bit-preserving, accepting every syntax we send): every file
	// arrives with the same data set bytes.
	dir := t.TempDir()
	port := freePort(t)
	scp := exec.Command("storescp", "+B", "-xf", storescpConfig(t, files), "Pacsd", "-od", dir, "-aet", "STORESCP", port)
	if err := scp.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { scp.Process.Kill(); scp.Wait() }()
	waitTCP(t, "127.0.0.1:"+port)
	out, err = exec.Command(pacsdBin, append([]string{"send", "--addr", "127.0.0.1:" + port, "--aec", "STORESCP"}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("pacsd send to storescp: %v\n%s", err, out)
	}
	got, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(got) != len(files) {
		t.Fatalf("storescp received %d files, want %d", len(got), len(files))
	}
	sent := map[string]string{}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		sent[sum(datasetBytes(t, b))] = f
	}
	for _, g := range got {
		b, _ := os.ReadFile(g)
		if _, ok := sent[sum(datasetBytes(t, b))]; !ok {
			t.Errorf("storescp received %s, whose data set matches none of the files sent", filepath.Base(g))
		}
	}

	// A peer that takes nothing compressed (storescp's default: uncompressed syntaxes only):
	// compressed files go re-encoded in Explicit VR Little Endian, with the same pixels.
	plain := t.TempDir()
	port2 := freePort(t)
	scp2 := exec.Command("storescp", "-od", plain, "-aet", "PLAIN", port2)
	if err := scp2.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { scp2.Process.Kill(); scp2.Wait() }()
	waitTCP(t, "127.0.0.1:"+port2)
	compressed := []string{"ts_jpeg_baseline.dcm", "ts_jpeg_extended.dcm", "ts_jpeg_lossless.dcm",
		"ts_jpeg_lossless_sv1.dcm", "ts_jpegls_lossless.dcm", "ts_jpegls_near.dcm", "ts_j2k.dcm",
		"ts_j2k_lossless.dcm", "ts_rle.dcm", "us_multiframe_jpeg.dcm"}
	var paths []string
	for _, c := range compressed {
		paths = append(paths, filepath.Join("..", "..", "testdata", c))
	}
	out, err = exec.Command(pacsdBin, append([]string{"send", "--addr", "127.0.0.1:" + port2, "--aec", "PLAIN",
		"../../testdata/ts_explicit_le.dcm"}, paths...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("send to a peer without compressed syntaxes: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), "sent as Explicit VR Little Endian"); n != len(compressed) {
		t.Errorf("%d files re-encoded, want %d:\n%s", n, len(compressed), out)
	}
	received := map[string]string{} // SOP Instance UID -> file storescp wrote
	got, _ = filepath.Glob(filepath.Join(plain, "*"))
	for _, g := range got {
		_, _, sop := parseHeaderUIDs(t, g)
		received[sop] = g
	}
	for _, p := range paths {
		_, _, sop := parseHeaderUIDs(t, p)
		r, ok := received[sop]
		if !ok {
			t.Errorf("%s not received", filepath.Base(p))
			continue
		}
		if ts := transferSyntaxOf(t, r); ts != dicom.ExplicitVRLittleEndian {
			t.Errorf("%s arrived in %s", filepath.Base(p), ts)
		}
		// DCMTK (GDCM for JPEG 2000) decodes the original; DCMTK reads the re-encoded copy:
		// every frame's samples must be the same.
		want, gotPix := dcmtkPixels(t, p), dcmtkPixels(t, r)
		if transferSyntaxOf(t, p) == dicom.JPEG2000 {
			// Lossy JPEG 2000: pacsd decodes with Debian's OpenJPEG, GDCM with its own
			// bundled copy; their irreversible wavelet rounds a handful of samples apart.
			if d, n := sampleDiff(want, gotPix); len(want) != len(gotPix) || d > 2 || n > len(want)/1000 {
				t.Errorf("%s: re-encoded pixels differ from GDCM's decode: %d samples, by up to %d", filepath.Base(p), n, d)
			}
		} else if d, n := sampleDiff(want, gotPix); len(want) != len(gotPix) || n > 0 {
			t.Errorf("%s: pixels sent in Explicit VR LE differ from the original's: %d of %d samples, by up to %d", filepath.Base(p), n, len(want), d)
		}
	}
}

// sampleDiff compares two sample lists: the largest difference and how many differ.
func sampleDiff(a, b []int) (maxDiff, n int) {
	for i := range min(len(a), len(b)) {
		if d := max(a[i]-b[i], b[i]-a[i]); d > 0 {
			n++
			maxDiff = max(maxDiff, d)
		}
	}
	return maxDiff, n
}

// pnmSamples reads the samples of a plain (ASCII) PNM, which dcm2pnm +opn writes. The
// header's maxval depends on the Bits Stored the file declares, which GDCM's uncompressed
// copy of a JPEG 2000 file may change; the samples are what must agree.
func pnmSamples(t *testing.T, b []byte) []int {
	t.Helper()
	f := strings.Fields(string(b))
	if len(f) < 4 || (f[0] != "P2" && f[0] != "P3") {
		t.Fatalf("not a plain PNM: %.20q", b)
	}
	out := make([]int, 0, len(f)-4)
	for _, v := range f[4:] {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("PNM sample %q: %v", v, err)
		}
		out = append(out, n)
	}
	return out
}

func transferSyntaxOf(t *testing.T, path string) string {
	t.Helper()
	return readHeader(t, path).TransferSyntax
}

// readHeader reads a Part-10 file's header (up to Pixel Data).
func readHeader(t *testing.T, path string) *dicom.Header {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := dicom.ReadPart10(bufio.NewReader(f), dicom.ReadOptions{})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return h
}

// dcmtkPixels decodes every frame with DCMTK (JPEG 2000 through GDCM's gdcmconv --raw) to
// plain PNM at the stored depth, without windowing, and returns the samples in frame order.
func dcmtkPixels(t *testing.T, path string) []int {
	t.Helper()
	needTool(t, "dcm2pnm", "dcmj2pnm", "dcml2pnm", "gdcmconv")
	in, tool := path, "dcm2pnm"
	switch ts := transferSyntaxOf(t, path); {
	case ts == dicom.JPEG2000Lossless || ts == dicom.JPEG2000:
		in = filepath.Join(t.TempDir(), "raw.dcm")
		runTool(t, "gdcmconv", "--raw", path, in)
	case ts == dicom.JPEGLSLossless || ts == dicom.JPEGLSNearLossless:
		tool = "dcml2pnm"
	case ts != dicom.ExplicitVRLittleEndian && ts != dicom.ImplicitVRLittleEndian:
		tool = "dcmj2pnm"
	}
	bits, _ := readHeader(t, in).Dataset.Int(dicom.TagBitsStored)
	prefix := filepath.Join(t.TempDir(), "f")
	runTool(t, tool, "+Fa", "-M", "-W", "+Pid", "+opn", fmt.Sprint(bits), in, prefix)
	frames, _ := filepath.Glob(prefix + ".*")
	sort.Slice(frames, func(i, j int) bool {
		ni, _ := strconv.Atoi(strings.Split(filepath.Base(frames[i]), ".")[1])
		nj, _ := strconv.Atoi(strings.Split(filepath.Base(frames[j]), ".")[1])
		return ni < nj
	})
	var all []int
	for _, fr := range frames {
		b, err := os.ReadFile(fr)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, pnmSamples(t, b)...)
	}
	if len(all) == 0 {
		t.Fatalf("%s decoded no frames of %s", tool, path)
	}
	return all
}

func waitTCP(t *testing.T, addr string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("%s never accepted", addr)
}

// genCorpus writes generated objects (see tools/gentestdata) and returns their paths.
func genCorpus(t *testing.T, large, small int) []string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command(genBin, "-bench", dir, "-large", fmt.Sprint(large), "-small", fmt.Sprint(small), "-seed", "7").CombinedOutput()
	if err != nil {
		t.Fatalf("gentestdata: %v\n%s", err, out)
	}
	var files []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".dcm") {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != large+small {
		t.Fatalf("gentestdata wrote %d files, want %d", len(files), large+small)
	}
	return files
}

// parseHeaderUIDs reads a file's study, series and SOP Instance UIDs.
func parseHeaderUIDs(t *testing.T, path string) (study, series, inst string) {
	t.Helper()
	h := readHeader(t, path)
	return h.Dataset.String(dicom.TagStudyInstanceUID), h.Dataset.String(dicom.TagSeriesInstanceUID), h.Dataset.String(dicom.TagSOPInstanceUID)
}
