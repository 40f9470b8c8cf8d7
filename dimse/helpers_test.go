package dimse

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"pacsd/dicom"
	"pacsd/internal/peertest"
)

const scClass = "1.2.840.10008.5.1.4.1.1.7" // Secondary Capture Image Storage

// requireTools skips the test when a DCMTK tool is missing; the Makefile installs dcmtk, so
// CI runs these tests.
func requireTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		peertest.Tool(t, tool)
	}
}

func run(t testing.TB, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

func mustRun(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := run(t, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// newUID makes a unique UID under the 2.25 (UUID) root, PS3.5 B.2.
func newUID(t testing.TB) string {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 100))
	if err != nil {
		t.Fatal(err)
	}
	return "2.25." + n.String()
}

// testFile is a Part-10 file made for a test, with its bare data set.
type testFile struct {
	path        string
	sopClass    string
	sopInstance string
	ts          string
	dataset     []byte // the bytes after the File Meta Information
}

// makeFile writes a Secondary Capture Part-10 file with rows x cols x frames 8-bit pixels in
// Explicit VR Little Endian with dump2dcm, then converts it to ts with DCMTK.
func makeFile(t testing.TB, dir string, ts string, rows, cols, frames int) testFile {
	t.Helper()
	requireTools(t, "dump2dcm", "dcmconv", "dcmcrle", "dcmcjpeg")
	uid := newUID(t)
	base := filepath.Join(dir, uid)
	px := make([]byte, rows*cols*frames)
	for i := range px {
		px[i] = byte(i*7 + i/cols) // deterministic, compressible, not constant
	}
	if err := os.WriteFile(base+".raw", px, 0o644); err != nil {
		t.Fatal(err)
	}
	dump := fmt.Sprintf(`(0002,0001) OB 00\01
(0002,0002) UI =SecondaryCaptureImageStorage
(0002,0003) UI [%[1]s]
(0002,0010) UI =LittleEndianExplicit
(0008,0016) UI =SecondaryCaptureImageStorage
(0008,0018) UI [%[1]s]
(0008,0060) CS [OT]
(0010,0010) PN [Test^Patient]
(0010,0020) LO [PID-TEST]
(0020,000d) UI [%[1]s.1]
(0020,000e) UI [%[1]s.2]
(0028,0002) US 1
(0028,0004) CS [MONOCHROME2]
(0028,0008) IS [%[4]d]
(0028,0010) US %[2]d
(0028,0011) US %[3]d
(0028,0100) US 8
(0028,0101) US 8
(0028,0102) US 7
(0028,0103) US 0
(7fe0,0010) OB =%[5]s
`, uid, rows, cols, frames, base+".raw")
	if err := os.WriteFile(base+".dump", []byte(dump), 0o644); err != nil {
		t.Fatal(err)
	}
	src := base + ".ele.dcm"
	mustRun(t, "dump2dcm", base+".dump", src)
	os.Remove(base + ".raw")
	out := base + ".dcm"
	switch ts {
	case dicom.ExplicitVRLittleEndian:
		out = src
	case dicom.ImplicitVRLittleEndian:
		mustRun(t, "dcmconv", "+ti", src, out)
	case dicom.ExplicitVRBigEndian:
		mustRun(t, "dcmconv", "+tb", src, out)
	case dicom.DeflatedExplicitVRLittleEndian:
		mustRun(t, "dcmconv", "+td", src, out)
	case dicom.RLELossless:
		mustRun(t, "dcmcrle", src, out)
	case dicom.JPEGLosslessSV1:
		mustRun(t, "dcmcjpeg", "+e1", "+un", src, out)
	case dicom.JPEGBaseline8Bit:
		mustRun(t, "dcmcjpeg", "+eb", "+un", src, out)
	default:
		t.Fatalf("makeFile: no recipe for %s", ts)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	off, gotTS := part10DatasetOffset(t, b)
	if gotTS != ts {
		t.Fatalf("made %s in %s, wanted %s", out, gotTS, ts)
	}
	return testFile{path: out, sopClass: scClass, sopInstance: uid, ts: ts, dataset: b[off:]}
}

// part10DatasetOffset parses just enough of a Part-10 header (PS3.10 7.1: preamble, "DICM",
// group 0002 in Explicit VR Little Endian starting with its group length) to find where the
// data set starts and the transfer syntax.
func part10DatasetOffset(t testing.TB, b []byte) (int, string) {
	t.Helper()
	if len(b) < 144 || string(b[128:132]) != "DICM" || string(b[136:138]) != "UL" {
		t.Fatalf("not a Part-10 file with a group length")
	}
	end := 144 + int(binary.LittleEndian.Uint32(b[140:]))
	ts := ""
	for p := 144; p+8 <= end; {
		tag := binary.LittleEndian.Uint32([]byte{b[p+2], b[p+3], b[p], b[p+1]})
		vr := string(b[p+4 : p+6])
		var n, hdr int
		switch vr {
		case "OB", "OW", "UN", "SQ", "UT", "UC", "UR":
			n, hdr = int(binary.LittleEndian.Uint32(b[p+8:])), 12
		default:
			n, hdr = int(binary.LittleEndian.Uint16(b[p+6:])), 8
		}
		if tag == 0x00020010 {
			ts = strings.TrimRight(string(b[p+hdr:p+hdr+n]), "\x00 ")
		}
		p += hdr + n
	}
	return end, ts
}

// sameDataset compares what arrived with the file's data set. A deflated data set is
// compared after inflating (PS3.5 A.5): DCMTK re-deflates when it sends, so only the
// content, not the compressed bytes, is the same.
func sameDataset(t testing.TB, ts string, got, want []byte) bool {
	t.Helper()
	if ts == dicom.DeflatedExplicitVRLittleEndian {
		got, want = inflate(t, got), inflate(t, want)
	}
	return bytes.Equal(got, want)
}

func inflate(t testing.TB, b []byte) []byte {
	t.Helper()
	out, err := io.ReadAll(flate.NewReader(bytes.NewReader(b)))
	if err != nil {
		t.Fatalf("inflate: %v", err)
	}
	return out
}

// recorder is a StoreHandler writing each data set to dir/<SOP instance UID>.
type recorder struct {
	dir    string
	status func(*StoreRequest) Status // nil: success

	mu   sync.Mutex
	reqs []StoreRequest
}

func (r *recorder) HandleStore(ctx context.Context, req *StoreRequest, data io.Reader) Status {
	f, err := os.Create(filepath.Join(r.dir, req.SOPInstanceUID))
	if err != nil {
		return Status{Code: StatusOutOfResources, ErrorComment: err.Error()}
	}
	_, err = io.Copy(f, data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Status{Code: StatusProcessingFailure, ErrorComment: err.Error()}
	}
	r.mu.Lock()
	r.reqs = append(r.reqs, *req)
	r.mu.Unlock()
	if r.status != nil {
		return r.status(req)
	}
	return Status{Code: StatusSuccess}
}

func (r *recorder) received(t testing.TB, sopInstance string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.dir, sopInstance))
	if err != nil {
		t.Fatalf("instance %s not received: %v", sopInstance, err)
	}
	return b
}

func (r *recorder) requests() []StoreRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]StoreRequest(nil), r.reqs...)
}

// testLogger sends server logs to the test log (visible with -v or on failure).
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// startServer serves srv on 127.0.0.1:0 until the test ends, then closes it and checks that
// Serve returned ErrServerClosed.
func startServer(t testing.TB, srv *Server) (addr, host, port string) {
	t.Helper()
	if srv.Logger == nil {
		srv.Logger = testLogger(t)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	})
	addr = ln.Addr().String()
	host, port, _ = net.SplitHostPort(addr)
	return addr, host, port
}

// freePort finds a port for a DCMTK server (it cannot be told to pick one).
func freePort(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// storescuConfig writes a DCMTK association profile proposing exactly the given contexts
// (abstract syntax, transfer syntax), one per presentation context.
func storescuConfig(t testing.TB, dir string, pcs [][2]string) string {
	var b bytes.Buffer
	b.WriteString("[[TransferSyntaxes]]\n")
	for i, pc := range pcs {
		fmt.Fprintf(&b, "[TS%d]\nTransferSyntax1 = %s\n", i, pc[1])
	}
	b.WriteString("[[PresentationContexts]]\n[Contexts]\n")
	for i, pc := range pcs {
		fmt.Fprintf(&b, "PresentationContext%d = %s\\TS%d\n", i+1, pc[0], i)
	}
	b.WriteString("[[Profiles]]\n[Test]\nPresentationContexts = Contexts\n")
	p := filepath.Join(dir, "assoc.cfg")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
