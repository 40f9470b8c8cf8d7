package main

// End-to-end tests of transfer syntax acceptance: the retired JPEG processes DCMTK still
// writes, and a sweep over every storage transfer syntax pacsd accepts, each sent by a real
// sender proposing exactly that syntax and stored as sent.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"pacsd/dicom"
)

// TestRetiredJPEGFromDCMTK: DCMTK's dcmcjpeg compresses a 12-bit DR and an 8-bit colour US
// cine with spectral selection (+es: 1.2.840.10008.1.2.4.53) and full progression (+ep: .55),
// retired syntaxes Orthanc stores and pacsd used to refuse with "No acceptable presentation
// contexts". storescu proposing exactly the file's syntax (a configuration file: it has no
// option for these), and dcmsend, which proposes the file's syntax by itself, both get
// success, and WADO-RS (transfer-syntax=*) returns the data set byte for byte in that syntax.
func TestRetiredJPEGFromDCMTK(t *testing.T) {
	needTool(t, "dcmcjpeg", "storescu", "dcmsend")
	dir := t.TempDir()
	var files []string
	sops := map[string]bool{}
	for _, src := range []string{"ts_explicit_le.dcm", "us_multiframe.dcm"} {
		for _, c := range []struct{ opt, ts string }{
			{"+es", dicom.JPEGSpectralSelectionNonHierarchical68},
			{"+ep", dicom.JPEGFullProgressionNonHierarchical1012},
		} {
			out := filepath.Join(dir, strings.TrimSuffix(src, ".dcm")+"_"+c.opt[1:]+".dcm")
			runTool(t, "dcmcjpeg", c.opt, filepath.Join("..", "..", "testdata", src), out)
			h := readHeader(t, out)
			if h.TransferSyntax != c.ts {
				t.Fatalf("dcmcjpeg %s wrote %s, want %s", c.opt, h.TransferSyntax, c.ts)
			}
			// Lossy compression gets a new SOP Instance UID, so the four are four objects.
			if sop := h.Dataset.String(dicom.TagSOPInstanceUID); sops[sop] {
				t.Fatalf("%s repeats SOP Instance UID %s", out, sop)
			} else {
				sops[sop] = true
			}
			files = append(files, out)
		}
	}

	n := startPacsd(t, t.TempDir())
	for _, f := range files {
		if got := storescu(t, n, "-xf", storescuConfig(t, f), "Pacsd", f); got != 1 {
			t.Errorf("storescu %s: %d successes, want 1\n%s", filepath.Base(f), got, n.log.String())
		}
	}
	for _, f := range files {
		if ts, want := n.assertSameDataset(t, f), transferSyntaxOf(t, f); ts != want {
			t.Errorf("%s: stored as %s, sent as %s", filepath.Base(f), ts, want)
		}
	}

	// dcmsend, to a second pacsd: the same objects sent again to the first would be
	// duplicates, whatever pacsd made of them.
	n2 := startPacsd(t, t.TempDir())
	out := runTool(t, "dcmsend", append([]string{"-v", "-aec", "PACSD", "-aet", "TOWNSHIP2", "127.0.0.1", n2.dicomPort}, files...)...)
	if !strings.Contains(out, fmt.Sprintf("with status SUCCESS  : %d", len(files))) {
		t.Errorf("dcmsend did not report %d successes:\n%s", len(files), out)
	}
	for _, f := range files {
		n2.assertSameDataset(t, f)
	}
}

// storageSyntaxes are the transfer syntaxes of PS3.6 Table A-1 a storage SCP can be sent
// with the pixels in the data set, retired ones included: all of them, less JPIP Referenced
// (.94 .95 .204 .205), the XML and MIME encodings (.6.1 .6.2) and SMPTE ST 2110 (.7.x). Kept
// here, apart from dicom's table, so that a syntax missing from the table fails the test.
var storageSyntaxes = func() []string {
	uids := []string{
		"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.1.98", "1.2.840.10008.1.2.1.99",
		"1.2.840.10008.1.2.2", "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.8.1", "1.2.840.10008.1.20",
	}
	for _, s := range strings.Fields(`50 51 52 53 54 55 56 57 58 59 60 61 62 63 64 65 66 70 80 81 90 91
		92 93 100 100.1 101 101.1 102 102.1 103 103.1 104 104.1 105 105.1 106 106.1 107 108 110 111
		112 201 202 203`) {
		uids = append(uids, "1.2.840.10008.1.2.4."+s)
	}
	return uids
}()

// TestEveryStorageSyntaxAccepted: one object in each storage transfer syntax that a committed
// test file does not already cover (every encapsulated one, Papyrus 3), sent by a sender
// proposing exactly that syntax, is stored with success and comes back byte for byte in it.
// DCMTK's storescu sends every syntax DCMTK knows, pacsd's own sender the rest (DCMTK 3.6.7
// knows neither HTJ2K, JPEG XL, the Fragmentable video syntaxes, .1.2.1.98, .1.2.8.1 nor
// Papyrus 3). Video syntaxes go in a Video Photographic object, a class they fit
// (dicom.CanCarryVideo), the others in a Secondary Capture image. Nothing decodes the pixels
// on the way in, so a short stand-in codestream is enough.
func TestEveryStorageSyntaxAccepted(t *testing.T) {
	needTool(t, "storescu", "dcmdump")
	n := startPacsd(t, t.TempDir())
	dir := t.TempDir()
	stream := bytes.Repeat([]byte{0xFF, 0xD8, 0xFF, 0xC0, 0, 0, 0, 1, 0x65, 0x88}, 400) // even length
	for _, ts := range dicom.TransferSyntaxes() {
		if !slices.Contains(storageSyntaxes, ts.UID) {
			t.Errorf("dicom accepts %s (%s), which is not a storage syntax", ts.UID, ts.Name)
		}
	}
	var dcmtkFiles, ownFiles []string
	for i, tsUID := range storageSyntaxes {
		ts, ok := dicom.LookupTransferSyntax(tsUID)
		if !ok {
			t.Errorf("%s is not accepted: dicom's table lacks it", tsUID)
			continue
		}
		uid := fmt.Sprintf("2.25.7300000%d", i+1)
		var path string
		switch {
		case ts.UID == dicom.Papyrus3ImplicitVRLittleEndian:
			path = writeNative(t, dir, ts.UID, uid)
		case !ts.Encapsulated:
			continue // testdata's ts_*.dcm, sent by TestDCMTKPeersStoreEverything
		case ts.Video:
			path = e2eObject{sopClass: videoPhotographicClass, ts: ts.UID,
				study: uid, series: uid + ".1", sop: uid + ".1.1",
				rows: 480, cols: 640, frames: 30, samples: 3, bits: 8, photometric: "YBR_PARTIAL_420",
				fragments: [][]byte{stream}, modality: "XC", patientID: "TS-SWEEP"}.write(t, dir)
		default:
			path = e2eObject{sopClass: "1.2.840.10008.5.1.4.1.1.7", ts: ts.UID,
				study: uid, series: uid + ".1", sop: uid + ".1.1",
				rows: 64, cols: 64, frames: 1, samples: 1, bits: 8, photometric: "MONOCHROME2",
				fragments: [][]byte{stream}, modality: "OT", patientID: "TS-SWEEP"}.write(t, dir)
		}
		if dcmtkKnows(t, path) {
			dcmtkFiles = append(dcmtkFiles, path)
		} else {
			ownFiles = append(ownFiles, path)
		}
	}
	if len(dcmtkFiles) < 30 {
		t.Fatalf("DCMTK knows only %d of the syntaxes: the sweep would hardly test it", len(dcmtkFiles))
	}

	// One storescu association, one presentation context per file: its class in its syntax.
	if got := storescu(t, n, append([]string{"-xf", storescuConfigAll(t, dcmtkFiles), "Pacsd"}, dcmtkFiles...)...); got != len(dcmtkFiles) {
		t.Errorf("storescu: %d successes, want %d\n%s", got, len(dcmtkFiles), n.log.String())
	}
	t.Logf("storescu sends %d syntaxes, pacsd send %d", len(dcmtkFiles), len(ownFiles))
	out, err := exec.Command(pacsdBin, append([]string{"send", "--addr", n.dicomAddr, "--aec", "PACSD"}, ownFiles...)...).CombinedOutput()
	if err != nil || strings.Count(string(out), "status 0x0000") != len(ownFiles) || strings.Contains(string(out), "sent as Explicit") {
		t.Errorf("pacsd send: %v\n%s", err, out)
	}
	for _, f := range append(dcmtkFiles, ownFiles...) {
		t.Run(transferSyntaxOf(t, f), func(t *testing.T) {
			if ts, want := n.assertSameDataset(t, f), transferSyntaxOf(t, f); ts != want {
				t.Errorf("stored as %s, sent as %s", ts, want)
			}
		})
	}
}

// dcmtkKnows reports whether DCMTK names the transfer syntax of a file: dcmdump prints a
// known UID by its name, an unknown one as the bare UID.
func dcmtkKnows(t *testing.T, path string) bool {
	t.Helper()
	out, _ := exec.Command("dcmdump", "-M", "+P", "0002,0010", path).CombinedOutput()
	line := strings.SplitN(string(out), "\n", 2)[0]
	if !strings.HasPrefix(line, "(0002,0010) UI ") {
		t.Fatalf("dcmdump %s: %s", path, out)
	}
	return strings.HasPrefix(line, "(0002,0010) UI =")
}

// storescuConfigAll writes a storescu profile "Pacsd" proposing, for each file, its SOP class
// in exactly its transfer syntax (one presentation context each).
func storescuConfigAll(t *testing.T, files []string) string {
	t.Helper()
	var syntaxes, contexts strings.Builder
	for i, p := range files {
		f, err := inspect(p)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&syntaxes, "[TS%d]\nTransferSyntax1 = %s\n", i+1, f.ts)
		fmt.Fprintf(&contexts, "PresentationContext%d = %s\\TS%d\n", i+1, f.sopClass, i+1)
	}
	cfg := "[[TransferSyntaxes]]\n" + syntaxes.String() +
		"\n[[PresentationContexts]]\n[Contexts]\n" + contexts.String() +
		"\n[[Profiles]]\n[Pacsd]\nPresentationContexts = Contexts\n"
	p := filepath.Join(t.TempDir(), "storescu-all.cfg")
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeNative writes a small 8-bit Secondary Capture image with native Pixel Data in
// transfer syntax ts (one pacsd encodes natively, such as Papyrus 3's Implicit VR LE).
func writeNative(t *testing.T, dir, ts, uid string) string {
	t.Helper()
	const sc = "1.2.840.10008.5.1.4.1.1.7"
	var b bytes.Buffer
	if _, err := dicom.WriteFileMeta(&b, dicom.FileMeta{SOPClassUID: sc, SOPInstanceUID: uid + ".1.1", TransferSyntaxUID: ts}); err != nil {
		t.Fatal(err)
	}
	enc, err := dicom.NewEncoder(&b, ts)
	if err != nil {
		t.Fatal(err)
	}
	enc.WriteString(dicom.TagSOPClassUID, "UI", sc)
	enc.WriteString(dicom.TagSOPInstanceUID, "UI", uid+".1.1")
	enc.WriteString(dicom.TagModality, "CS", "OT")
	enc.WriteString(dicom.TagPatientName, "PN", "Test^Township")
	enc.WriteString(dicom.TagPatientID, "LO", "TS-SWEEP")
	enc.WriteString(dicom.TagStudyInstanceUID, "UI", uid)
	enc.WriteString(dicom.TagSeriesInstanceUID, "UI", uid+".1")
	enc.WriteUint16(dicom.TagSamplesPerPixel, "US", 1)
	enc.WriteString(dicom.TagPhotometricInterpretation, "CS", "MONOCHROME2")
	enc.WriteUint16(dicom.TagRows, "US", 16)
	enc.WriteUint16(dicom.TagColumns, "US", 16)
	enc.WriteUint16(dicom.TagBitsAllocated, "US", 8)
	enc.WriteUint16(dicom.TagBitsStored, "US", 8)
	enc.WriteUint16(0x00280102, "US", 7)
	enc.WriteUint16(dicom.TagPixelRepresentation, "US", 0)
	px := make([]byte, 16*16)
	for i := range px {
		px[i] = byte(i)
	}
	enc.WriteElement(dicom.TagPixelData, "OW", px)
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, uid+".dcm")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
