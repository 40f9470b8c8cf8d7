package qr

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"pacsd/dicom"
	"pacsd/dicom/pixel"
	"pacsd/dimse"
	"pacsd/internal/peertest"
	"pacsd/reading"
)

// storescp runs DCMTK's storescp as AE title aet on a free port until the test ends, and
// returns its port.
func storescp(t *testing.T, dir, aet string, args ...string) int {
	t.Helper()
	bin := peertest.Tool(t, "storescp")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, append(append([]string{"-od", dir, "-aet", aet}, args...), strconv.Itoa(port))...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		if t.Failed() {
			t.Logf("storescp output:\n%s", out.String())
		}
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for deadline := time.Now().Add(30 * time.Second); ; {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return port
		}
		if time.Now().After(deadline) {
			t.Fatalf("storescp did not start: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// received reads the files storescp wrote: SOP Instance UID -> transfer syntax and data set.
func received(t *testing.T, dir string) map[string]struct {
	ts      string
	dataset []byte
} {
	t.Helper()
	out := map[string]struct {
		ts      string
		dataset []byte
	}{}
	paths, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		h, err := dicom.ReadPart10(bytes.NewReader(b), dicom.ReadOptions{})
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out[h.Meta.String(dicom.TagMediaStorageSOPInstanceUID)] = struct {
			ts      string
			dataset []byte
		}{h.TransferSyntax, b[h.DatasetOffset:]}
	}
	return out
}

// TestMoveToStorescp: C-MOVE sub-operations to DCMTK's storescp, a registered destination.
// What it writes (bit-preserving, +B) is the stored data set byte for byte, each in its
// stored syntax; a storescp that takes nothing compressed gets the compressed object in
// Explicit VR Little Endian, exactly as pixel.ExplicitLEDataset re-encodes it.
func TestMoveToStorescp(t *testing.T) {
	names := []string{"ts_explicit_le.dcm", "ts_implicit_le.dcm", "ts_jpeg_baseline.dcm", "ts_rle.dcm", "ts_j2k.dcm", "us_multiframe.dcm", "charset_gb18030.dcm"}
	a, objs := newTestArchive(t, names...)
	all := filepath.Join(t.TempDir(), "all")
	plain := filepath.Join(t.TempDir(), "plain")
	for _, d := range []string{all, plain} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	reg := peers{
		"WS":    {AETitle: "WS", MayRetrieve: true},
		"ALL":   {AETitle: "ALL", Destination: true, Host: "127.0.0.1", Port: storescp(t, all, "ALL", "+B", "+xa")},
		"PLAIN": {AETitle: "PLAIN", Destination: true, Host: "127.0.0.1", Port: storescp(t, plain, "PLAIN", "+B")},
	}
	var ev events
	r := newRetriever(a, reg, &ev, nil)
	var studies []string
	for _, o := range objs {
		studies = append(studies, o.study)
	}
	var uidList string
	for i, s := range studies {
		if i > 0 {
			uidList += `\`
		}
		uidList += s
	}
	move := func(dest string) dimse.RetrieveResult {
		req := request(t, StudyRootMove, "WS", "STUDY", map[dicom.Tag]string{dicom.TagStudyInstanceUID: uidList})
		req.MoveDestination = dest
		var pending int
		res := r.HandleMove(context.Background(), req, func(dimse.SubOperations) error { pending++; return nil })
		if res.Status.Code != dimse.StatusSuccess || res.SubOperations.Completed != len(names) || pending != len(names)-1 {
			t.Fatalf("move to %s: %+v (%d pending responses)", dest, res, pending)
		}
		return res
	}

	move("ALL")
	got := received(t, all)
	if len(got) != len(names) {
		t.Fatalf("storescp received %d objects, want %d", len(got), len(names))
	}
	for _, o := range objs {
		g, ok := got[o.sop]
		switch {
		case !ok:
			t.Errorf("%s not received", o.name)
		case g.ts != o.ts:
			t.Errorf("%s received in %s, stored in %s", o.name, g.ts, o.ts)
		case !bytes.Equal(g.dataset, o.dataset):
			t.Errorf("%s: received data set differs from the stored one (%d vs %d bytes)", o.name, len(g.dataset), len(o.dataset))
		}
	}
	distinct := map[string]bool{}
	for _, o := range objs {
		distinct[o.study] = true
	}
	if evs := ev.all(); len(evs) != len(distinct) {
		t.Fatalf("%d audit events, want one per study (%d): %+v", len(evs), len(distinct), evs)
	}
	for _, e := range ev.all() {
		if e.StudyUID == "" || e.Object != "ALL" || e.Actor.AETitle != "WS" || e.Outcome != "success" {
			t.Errorf("audit event %+v", e)
		}
	}

	move("PLAIN")
	got = received(t, plain)
	for _, o := range objs {
		g, ok := got[o.sop]
		if !ok {
			t.Errorf("%s not received by the uncompressed-only storescp", o.name)
			continue
		}
		want := o.dataset
		if !storescpNative[o.ts] {
			want = explicitLE(t, a, o.sop)
			if g.ts != dicom.ExplicitVRLittleEndian {
				t.Errorf("%s (stored in %s) received in %s, want Explicit VR Little Endian", o.name, o.ts, g.ts)
			}
		} else if g.ts != o.ts {
			t.Errorf("%s received in %s, stored in %s", o.name, g.ts, o.ts)
		}
		if !bytes.Equal(g.dataset, want) {
			t.Errorf("%s: received data set differs from what was sent (%d vs %d bytes)", o.name, len(g.dataset), len(want))
		}
	}
}

// storescpNative are the syntaxes storescp accepts by default (+x=): the uncompressed ones.
var storescpNative = map[string]bool{dicom.ExplicitVRLittleEndian: true, dicom.ImplicitVRLittleEndian: true, dicom.ExplicitVRBigEndian: true}

// explicitLE is the stored object's data set re-encoded as pacsd send and C-MOVE do.
func explicitLE(t *testing.T, a *testArchive, sop string) []byte {
	t.Helper()
	rec, rc, err := a.Open(context.Background(), sop)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	hdr, err := dicom.ReadPart10(bufio.NewReader(rc), dicom.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	body, err := pixel.ExplicitLEDataset(context.Background(), rc.(io.ReaderAt), rec.Size, hdr)
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var _ reading.PeerLookup = peers{}
