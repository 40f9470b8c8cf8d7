package dimse

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"pacsd/dicom"
)

func TestEchoSCU(t *testing.T) {
	requireTools(t, "echoscu")
	_, host, port := startServer(t, &Server{AETitle: "PACSD"})
	out := mustRun(t, "echoscu", "-v", "-aec", "PACSD", host, port)
	if !strings.Contains(out, "Received Echo Response (Success)") {
		t.Fatalf("echoscu output:\n%s", out)
	}
}

func TestEchoSCUStrictCalledAE(t *testing.T) {
	requireTools(t, "echoscu")
	_, host, port := startServer(t, &Server{AETitle: "PACSD", StrictCalledAE: true})
	out, err := run(t, "echoscu", "-v", "-aec", "SOMEONE", host, port)
	if err == nil {
		t.Fatalf("echoscu succeeded against the wrong called AE:\n%s", out)
	}
	if !strings.Contains(out, "Called AE Title Not Recognized") {
		t.Fatalf("echoscu output lacks the reject reason:\n%s", out)
	}
	mustRun(t, "echoscu", "-aec", "PACSD", host, port)
}

// TestStoreSCUTransferSyntaxes sends files in several transfer syntaxes with storescu,
// proposing exactly each file's syntax, with small PDUs both ways to force fragmentation,
// and checks that the handler saw byte for byte the data set of the file.
func TestStoreSCUTransferSyntaxes(t *testing.T) {
	requireTools(t, "storescu")
	dir := t.TempDir()
	rec := &recorder{dir: t.TempDir()}
	// 4096 is DCMTK's minimum: a 64 KiB image crosses many PDUs.
	_, host, port := startServer(t, &Server{AETitle: "PACSD", Store: rec, MaxPDULength: 4096})
	for _, ts := range []string{
		dicom.ExplicitVRLittleEndian, dicom.ImplicitVRLittleEndian, dicom.ExplicitVRBigEndian,
		dicom.DeflatedExplicitVRLittleEndian, dicom.RLELossless, dicom.JPEGLosslessSV1, dicom.JPEGBaseline8Bit,
	} {
		t.Run(ts, func(t *testing.T) {
			f := makeFile(t, dir, ts, 256, 256, 1)
			cfg := storescuConfig(t, t.TempDir(), [][2]string{{f.sopClass, ts}})
			out := mustRun(t, "storescu", "-v", "-xf", cfg, "Test", "-pdu", "4096", "-aec", "PACSD", host, port, f.path)
			if !strings.Contains(out, "Received Store Response (Success)") {
				t.Fatalf("storescu output:\n%s", out)
			}
			if got := rec.received(t, f.sopInstance); !sameDataset(t, ts, got, f.dataset) {
				t.Fatalf("received %d bytes, file data set has %d (first difference at %d)", len(got), len(f.dataset), firstDiff(got, f.dataset))
			}
			var req *StoreRequest
			for _, r := range rec.requests() {
				if r.SOPInstanceUID == f.sopInstance {
					req = &r
				}
			}
			if req == nil || req.TransferSyntaxUID != ts || req.SOPClassUID != scClass || req.CallingAETitle != "STORESCU" ||
				req.CalledAETitle != "PACSD" || req.AssociationID == "" || req.RemoteAddr == "" {
				t.Fatalf("store request %+v", req)
			}
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestStoreSCUDefaultProposal: storescu's default proposal (all uncompressed syntaxes, each
// combined into one context by +C) with several files on one association: the peer's first
// proposal (its local byte order, Explicit VR LE) is accepted, and storescu converts to it.
func TestStoreSCUDefaultProposal(t *testing.T) {
	requireTools(t, "storescu")
	dir := t.TempDir()
	rec := &recorder{dir: t.TempDir()}
	_, host, port := startServer(t, &Server{AETitle: "PACSD", Store: rec})
	a := makeFile(t, dir, dicom.ImplicitVRLittleEndian, 32, 32, 1)
	b := makeFile(t, dir, dicom.ExplicitVRLittleEndian, 32, 32, 1)
	out := mustRun(t, "storescu", "-v", "+C", "-aec", "PACSD", host, port, a.path, b.path)
	if n := strings.Count(out, "Received Store Response (Success)"); n != 2 {
		t.Fatalf("%d successes:\n%s", n, out)
	}
	for _, r := range rec.requests() {
		// One combined context with three uncompressed syntaxes: the peer's first wins.
		if r.TransferSyntaxUID != dicom.ExplicitVRLittleEndian {
			t.Errorf("%s arrived in %s", r.SOPInstanceUID, r.TransferSyntaxUID)
		}
	}
	if got := rec.received(t, b.sopInstance); !bytes.Equal(got, b.dataset) {
		t.Error("explicit file changed on the way")
	}
}

func TestDcmsend(t *testing.T) {
	requireTools(t, "dcmsend")
	dir := t.TempDir()
	rec := &recorder{dir: t.TempDir()}
	_, host, port := startServer(t, &Server{AETitle: "PACSD", Store: rec})
	files := []testFile{
		makeFile(t, dir, dicom.ExplicitVRLittleEndian, 64, 64, 2),
		makeFile(t, dir, dicom.RLELossless, 64, 64, 1),
		makeFile(t, dir, dicom.JPEGBaseline8Bit, 64, 64, 1),
	}
	args := []string{"-v", "-dn", "-aec", "PACSD", host, port}
	for _, f := range files {
		args = append(args, f.path)
	}
	out := mustRun(t, "dcmsend", args...)
	if !strings.Contains(out, "with status SUCCESS") && !strings.Contains(out, "Success") {
		t.Logf("dcmsend output:\n%s", out)
	}
	for _, f := range files {
		if got := rec.received(t, f.sopInstance); !bytes.Equal(got, f.dataset) {
			// dcmsend proposes the file's syntax first; for uncompressed files it may add
			// others, and we may pick Implicit: then it converts. Only compare what it
			// did not convert.
			var ts string
			for _, r := range rec.requests() {
				if r.SOPInstanceUID == f.sopInstance {
					ts = r.TransferSyntaxUID
				}
			}
			if ts == f.ts {
				t.Errorf("%s: received data set differs from the file's", f.ts)
			}
		}
	}
	if n := len(rec.requests()); n != len(files) {
		t.Fatalf("%d stored, want %d:\n%s", n, len(files), out)
	}
}

// TestStoreSCURejectPerContext: one unsupported abstract syntax in the proposal must not
// cost the supported one.
func TestStoreSCURejectPerContext(t *testing.T) {
	requireTools(t, "storescu")
	dir := t.TempDir()
	rec := &recorder{dir: t.TempDir()}
	_, host, port := startServer(t, &Server{AETitle: "PACSD", Store: rec})
	f := makeFile(t, dir, dicom.ExplicitVRLittleEndian, 16, 16, 1)
	cfg := storescuConfig(t, dir, [][2]string{
		{"1.2.840.10008.5.1.4.1.2.2.1", dicom.ExplicitVRLittleEndian}, // Study Root Q/R FIND: not served
		{"1.2.840.10008.5.1.4.1.1.7", "1.2.3.4.5.6.7.8.9"},            // a transfer syntax nobody knows
		{f.sopClass, dicom.ExplicitVRLittleEndian},
	})
	out := mustRun(t, "storescu", "-v", "+v", "-xf", cfg, "Test", "-aec", "PACSD", host, port, f.path)
	if !strings.Contains(out, "Received Store Response (Success)") {
		t.Fatalf("storescu output:\n%s", out)
	}
	if !strings.Contains(out, "Abstract Syntax Not Supported") || !strings.Contains(out, "Transfer Syntaxes Not Supported") {
		t.Errorf("expected per-context rejections in:\n%s", out)
	}
	if got := rec.received(t, f.sopInstance); !bytes.Equal(got, f.dataset) {
		t.Error("data set differs")
	}
}

// TestStoreSCUHandlerStatus: the handler's status reaches the SCU, with its comment.
func TestStoreSCUHandlerStatus(t *testing.T) {
	requireTools(t, "storescu")
	dir := t.TempDir()
	rec := &recorder{dir: t.TempDir(), status: func(*StoreRequest) Status {
		return Status{Code: StatusOutOfResources, ErrorComment: "disk full"}
	}}
	_, host, port := startServer(t, &Server{AETitle: "PACSD", Store: rec})
	f := makeFile(t, dir, dicom.ImplicitVRLittleEndian, 16, 16, 1)
	out, err := run(t, "storescu", "-d", "-xi", "-aec", "PACSD", host, port, f.path)
	if err == nil {
		t.Errorf("storescu exited 0 after a refused store:\n%s", out)
	}
	if !strings.Contains(out, "0xa700") && !strings.Contains(out, "0xA700") {
		t.Fatalf("storescu did not report status 0xA700:\n%s", out)
	}
	if !strings.Contains(out, "disk full") {
		t.Errorf("error comment missing:\n%s", out)
	}
}

// TestStoreSCUMultiframe pushes a larger multi-frame object through with PDUs at DCMTK's
// maximum, on two associations at once.
func TestStoreSCUMultiframe(t *testing.T) {
	if testing.Short() {
		t.Skip("large transfer")
	}
	requireTools(t, "storescu")
	dir := t.TempDir()
	rec := &recorder{dir: t.TempDir()}
	_, host, port := startServer(t, &Server{AETitle: "PACSD", Store: rec})
	files := []testFile{
		makeFile(t, dir, dicom.ExplicitVRLittleEndian, 512, 512, 24), // 6 MiB
		makeFile(t, dir, dicom.ImplicitVRLittleEndian, 512, 512, 24),
	}
	errs := make(chan error, len(files))
	for _, f := range files {
		go func() {
			cfg := storescuConfig(t, t.TempDir(), [][2]string{{f.sopClass, f.ts}})
			out, err := run(t, "storescu", "-xf", cfg, "Test", "-pdu", "131072", "-aec", "PACSD", host, port, f.path)
			if err != nil {
				err = fmt.Errorf("%v\n%s", err, out)
			}
			errs <- err
		}()
	}
	for range files {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range files {
		if got := rec.received(t, f.sopInstance); !bytes.Equal(got, f.dataset) {
			t.Errorf("%s: data set differs", f.ts)
		}
	}
}
