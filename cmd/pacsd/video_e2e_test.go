package main

// End-to-end tests for the transfer syntaxes pacsd keeps without decoding (video) and the
// newer ones it decodes (HTJ2K, Encapsulated Uncompressed): the real binary, DCMTK's
// storescu and pacsd's own sender, then QIDO-RS and WADO-RS as a viewer uses them.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image/jpeg"
	"io"
	"math"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pacsd/dicom"
)

const videoPhotographicClass = "1.2.840.10008.5.1.4.1.1.77.1.4.1"

// e2eObject describes a Part-10 file a test writes with package dicom's encoder.
type e2eObject struct {
	sopClass, ts        string
	study, series, sop  string
	rows, cols, frames  int
	samples, bits       int
	photometric         string
	fragments           [][]byte // encapsulated Pixel Data, one fragment per entry
	modality, patientID string
}

// write writes the object to dir and returns its path.
func (o e2eObject) write(t *testing.T, dir string) string {
	t.Helper()
	var b bytes.Buffer
	if _, err := dicom.WriteFileMeta(&b, dicom.FileMeta{SOPClassUID: o.sopClass, SOPInstanceUID: o.sop, TransferSyntaxUID: o.ts}); err != nil {
		t.Fatal(err)
	}
	enc, err := dicom.NewEncoder(&b, o.ts)
	if err != nil {
		t.Fatal(err)
	}
	alloc := 8
	if o.bits > 8 {
		alloc = 16
	}
	enc.WriteString(dicom.TagSOPClassUID, "UI", o.sopClass)
	enc.WriteString(dicom.TagSOPInstanceUID, "UI", o.sop)
	enc.WriteString(dicom.TagModality, "CS", o.modality)
	enc.WriteString(dicom.TagPatientName, "PN", "Test^Township")
	enc.WriteString(dicom.TagPatientID, "LO", o.patientID)
	enc.WriteString(dicom.TagStudyInstanceUID, "UI", o.study)
	enc.WriteString(dicom.TagSeriesInstanceUID, "UI", o.series)
	enc.WriteUint16(dicom.TagSamplesPerPixel, "US", uint16(o.samples))
	enc.WriteString(dicom.TagPhotometricInterpretation, "CS", o.photometric)
	if o.samples == 3 {
		enc.WriteUint16(0x00280006, "US", 0) // Planar Configuration
	}
	if o.frames > 1 {
		enc.WriteString(dicom.TagNumberOfFrames, "IS", fmt.Sprint(o.frames))
	}
	enc.WriteUint16(dicom.TagRows, "US", uint16(o.rows))
	enc.WriteUint16(dicom.TagColumns, "US", uint16(o.cols))
	enc.WriteUint16(dicom.TagBitsAllocated, "US", uint16(alloc))
	enc.WriteUint16(dicom.TagBitsStored, "US", uint16(o.bits))
	enc.WriteUint16(0x00280102, "US", uint16(o.bits-1))
	enc.WriteUint16(dicom.TagPixelRepresentation, "US", 0)
	enc.WriteEncapsulatedPixelData(o.fragments)
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, o.sop+".dcm")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// getAccept GETs a DICOMweb path with an Accept field and returns the status, the content
// type and the body.
func (n *node) getAccept(t *testing.T, path, accept string) (int, string, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, n.baseURL+"/dicomweb"+path, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

// onlyPart returns the single part of a multipart/related body.
func onlyPart(t *testing.T, contentType string, body []byte) []byte {
	t.Helper()
	_, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		t.Fatalf("content type %q: %v", contentType, err)
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
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
	return b
}

func acceptDicom(ts string) string {
	return `multipart/related; type="application/dicom"; transfer-syntax=` + ts
}

// TestVideoStoredAsSent: an ultrasound cine clip in MPEG-4 AVC/H.264 (.102), sent by DCMTK's
// storescu, is stored with success, listed by QIDO-RS, returned by WADO-RS byte for byte,
// refused with 406 (not a 500, not a corrupt body) in Explicit VR Little Endian, and its
// thumbnail is an answer, not a fault: pacsd has no video decoder, and a video is normal.
func TestVideoStoredAsSent(t *testing.T) {
	needTool(t, "storescu")
	n := startPacsd(t, t.TempDir())
	dir := t.TempDir()
	// Arbitrary stream bytes behind an H.264 start code: pacsd must keep, not parse them.
	stream := make([]byte, 300_001)
	x := uint32(2463534242)
	for i := range stream {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		stream[i] = byte(x)
	}
	copy(stream, []byte{0, 0, 0, 1, 0x67, 0x64, 0x00, 0x29})
	stream = append(stream, 0) // even length, as a fragment must be
	obj := e2eObject{
		sopClass: videoPhotographicClass, ts: dicom.MPEG4HP41,
		study: "2.25.71000001", series: "2.25.71000001.1", sop: "2.25.71000001.1.1",
		rows: 480, cols: 640, frames: 90, samples: 3, bits: 8, photometric: "YBR_PARTIAL_420",
		fragments: [][]byte{stream}, modality: "US", patientID: "VIDEO-1",
	}
	path := obj.write(t, dir)

	// storescu proposes MPEG-4 only when told (-xn); -R proposes just the file's SOP class,
	// which is not among its 128 defaults.
	if got := storescu(t, n, "-R", "-xn", path); got != 1 {
		t.Fatalf("storescu: %d successes, want 1\n%s", got, n.log.String())
	}

	found := false
	for _, r := range n.qido(t, "/studies/"+obj.study+"/instances", url.Values{}) {
		if uidOf(r, "00080018") == obj.sop {
			found = true
			if c := uidOf(r, "00080016"); c != videoPhotographicClass {
				t.Errorf("QIDO SOP Class UID %q", c)
			}
		}
	}
	if !found {
		t.Fatal("QIDO-RS does not list the video instance")
	}

	// transfer-syntax=*: as stored. pacsd writes its own File Meta Information for a
	// C-STORE, so the data set is what must be identical.
	if ts := n.assertSameDataset(t, path); ts != dicom.MPEG4HP41 {
		t.Errorf("stored as %s, sent as %s", ts, dicom.MPEG4HP41)
	}
	base := "/studies/" + obj.study + "/series/" + obj.series + "/instances/" + obj.sop
	// application/dicom without a syntax: the default (Explicit VR LE) does not apply to a
	// lossy object, which goes as stored (PS3.18 8.7.3.5.2).
	status, ct, body := n.getAccept(t, base, `multipart/related; type="application/dicom"`)
	if status != http.StatusOK {
		t.Fatalf("default syntax: status %d %s", status, body)
	}
	src, _ := os.ReadFile(path)
	if got := onlyPart(t, ct, body); !bytes.Equal(datasetBytes(t, got), datasetBytes(t, src)) {
		t.Error("default syntax: data set differs from what was sent")
	}
	// Explicit VR Little Endian named: impossible without decoding the video, so 406 with
	// a reason, before any body.
	status, ct, body = n.getAccept(t, base, acceptDicom(dicom.ExplicitVRLittleEndian))
	if status != http.StatusNotAcceptable || !strings.Contains(string(body), "transfer-syntax=*") {
		t.Errorf("Explicit VR LE of a video: status %d (%s) %s, want 406 naming transfer-syntax=*", status, ct, body)
	}
	// Frames of a video are not separable, and its pixels cannot be rendered: clear
	// answers, never a 500.
	if status, _, body := n.getAccept(t, base+"/frames/1", `multipart/related; type="application/octet-stream"; transfer-syntax=*`); status != http.StatusNotImplemented {
		t.Errorf("frames of a video: status %d %s, want 501", status, body)
	}
	for _, p := range []string{"/thumbnail", "/rendered"} {
		if status, _, body := n.getAccept(t, base+p, "image/jpeg"); status != http.StatusNotAcceptable {
			t.Errorf("%s of a video: status %d %s, want 406", p, status, body)
		}
	}
	// The background thumbnail worker meets the clip too: a debug line, never a warning.
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(n.log.String(), "no thumbnail: pixel data not decoded") && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	for _, line := range strings.Split(n.log.String(), "\n") {
		if strings.Contains(line, obj.sop) && strings.Contains(line, "level=WARN") {
			t.Errorf("warning about a normal video clip: %s", line)
		}
	}
	if !strings.Contains(n.log.String(), "no thumbnail: pixel data not decoded") {
		t.Error("the thumbnail worker never reported the video at debug level")
	}
}

// TestHTJ2KSentWithPacsdSend: DCMTK 3.6.7 does not know HTJ2K, so pacsd's own sender sends
// a High-Throughput JPEG 2000 object (OpenJPH's codestream) and an Encapsulated Uncompressed
// one; both come back byte for byte, transcode to Explicit VR Little Endian with the source
// samples (checked by DCMTK reading the result), and render to a JPEG of the image.
func TestHTJ2KSentWithPacsdSend(t *testing.T) {
	needTool(t, "ojph_compress", "dcm2pnm")
	n := startPacsd(t, t.TempDir())
	dir := t.TempDir()
	const w, h = 61, 47
	px := make([]uint16, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := (x*4095/(w-1) + y*4095/(h-1)) / 2
			if dx, dy := x-20, y-23; dx*dx+dy*dy < 100 {
				v = 4000
			}
			px[y*w+x] = uint16(v)
		}
	}
	var pgm bytes.Buffer
	fmt.Fprintf(&pgm, "P5\n%d %d\n4095\n", w, h)
	for _, v := range px {
		pgm.Write([]byte{byte(v >> 8), byte(v)})
	}
	pgmPath, csPath := filepath.Join(dir, "img.pgm"), filepath.Join(dir, "img.j2c")
	if err := os.WriteFile(pgmPath, pgm.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	runTool(t, "ojph_compress", "-i", pgmPath, "-o", csPath, "-reversible", "true")
	code, err := os.ReadFile(csPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(code)%2 == 1 {
		code = append(code, 0)
	}
	native := make([]byte, 2*len(px))
	for i, v := range px {
		binary.LittleEndian.PutUint16(native[2*i:], v)
	}
	inverted := make([]byte, len(native))
	for i, v := range px {
		binary.LittleEndian.PutUint16(inverted[2*i:], 4095-v)
	}
	objs := []struct {
		obj  e2eObject
		want [][]uint16 // per frame
	}{
		{e2eObject{sopClass: "1.2.840.10008.5.1.4.1.1.1.1", ts: dicom.HTJ2KLossless,
			study: "2.25.72000001", series: "2.25.72000001.1", sop: "2.25.72000001.1.1",
			rows: h, cols: w, frames: 1, samples: 1, bits: 12, photometric: "MONOCHROME2",
			fragments: [][]byte{code}, modality: "DX", patientID: "HTJ2K-1"}, [][]uint16{px}},
		{e2eObject{sopClass: "1.2.840.10008.5.1.4.1.1.7.3", ts: dicom.EncapsulatedUncompressedExplicitVRLittleEndian,
			study: "2.25.72000001", series: "2.25.72000001.2", sop: "2.25.72000001.2.1",
			rows: h, cols: w, frames: 2, samples: 1, bits: 12, photometric: "MONOCHROME2",
			fragments: [][]byte{native, inverted}, modality: "OT", patientID: "HTJ2K-1"},
			[][]uint16{px, func() []uint16 {
				o := make([]uint16, len(px))
				for i, v := range px {
					o[i] = 4095 - v
				}
				return o
			}()}},
	}
	var paths []string
	for _, o := range objs {
		paths = append(paths, o.obj.write(t, dir))
	}
	out, err := exec.Command(pacsdBin, append([]string{"send", "--addr", n.dicomAddr, "--aec", "PACSD"}, paths...)...).CombinedOutput()
	if err != nil || strings.Count(string(out), "status 0x0000") != len(paths) || strings.Contains(string(out), "sent as Explicit") {
		t.Fatalf("pacsd send: %v\n%s", err, out)
	}

	for i, o := range objs {
		t.Run(o.obj.ts, func(t *testing.T) {
			if ts := n.assertSameDataset(t, paths[i]); ts != o.obj.ts {
				t.Errorf("stored as %s", ts)
			}
			base := "/studies/" + o.obj.study + "/series/" + o.obj.series + "/instances/" + o.obj.sop
			status, ct, body := n.getAccept(t, base, acceptDicom(dicom.ExplicitVRLittleEndian))
			if status != http.StatusOK {
				t.Fatalf("Explicit VR LE: status %d %s", status, body)
			}
			le := filepath.Join(t.TempDir(), "le.dcm")
			if err := os.WriteFile(le, onlyPart(t, ct, body), 0o644); err != nil {
				t.Fatal(err)
			}
			if ts := transferSyntaxOf(t, le); ts != dicom.ExplicitVRLittleEndian {
				t.Fatalf("asked for Explicit VR LE, got %s", ts)
			}
			var want []int
			for _, f := range o.want {
				for _, v := range f {
					want = append(want, int(v))
				}
			}
			if d, k := sampleDiff(dcmtkPixels(t, le), want); k > 0 || len(dcmtkPixels(t, le)) != len(want) {
				t.Errorf("DCMTK reads the transcoded object with %d samples off by up to %d", k, d)
			}

			for _, res := range []string{"/rendered", "/thumbnail"} {
				status, ct, body := n.getAccept(t, base+res, "image/jpeg")
				if status != http.StatusOK || !strings.HasPrefix(ct, "image/jpeg") {
					t.Fatalf("%s: status %d %s", res, status, ct)
				}
				img, err := jpeg.Decode(bytes.NewReader(body))
				if err != nil {
					t.Fatalf("%s: not a JPEG: %v", res, err)
				}
				b := img.Bounds()
				if res == "/rendered" && (b.Dx() != w || b.Dy() != h) {
					t.Errorf("rendered %dx%d, want %dx%d", b.Dx(), b.Dy(), w, h)
				}
				if res == "/rendered" {
					// The picture is the image: its grey levels follow the first frame's samples.
					var xs, ys []float64
					for y := 0; y < h; y++ {
						for x := 0; x < w; x++ {
							r, _, _, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
							xs, ys = append(xs, float64(o.want[0][y*w+x])), append(ys, float64(r))
						}
					}
					if c := correlation(xs, ys); c < 0.98 {
						t.Errorf("rendered image correlates %.3f with the source", c)
					}
				}
			}
		})
	}
}

// correlation is Pearson's coefficient of two equally long series.
func correlation(a, b []float64) float64 {
	var ma, mb float64
	for i := range a {
		ma += a[i]
		mb += b[i]
	}
	ma /= float64(len(a))
	mb /= float64(len(b))
	var sab, saa, sbb float64
	for i := range a {
		sab += (a[i] - ma) * (b[i] - mb)
		saa += (a[i] - ma) * (a[i] - ma)
		sbb += (b[i] - mb) * (b[i] - mb)
	}
	return sab / math.Sqrt(saa*sbb)
}
