package viewer

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"pacsd/dicom"
	"pacsd/reading"
	"pacsd/store"
)

// TestStudyImagesGeometry checks what the images API tells the viewer: the overlay's study
// lines as the page shows them (name, 47岁, sex in words, date and time, institution), and per
// image the calibration and its source (Imager Pixel Spacing, Pixel Spacing, an ultrasound
// region in cm converted to mm, none), Patient Orientation, and the cine rate (Cine Rate
// before Frame Time).
func TestStudyImagesGeometry(t *testing.T) {
	en := newEnv(t)
	en.user("doc", reading.RoleRadiologist, 0)
	vs := putViewingStudies(t, en.archive)
	usRaw, err := os.ReadFile(filepath.Join("..", "testdata", "us_multiframe.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	fd := func(v float64) []byte { return binary.LittleEndian.AppendUint64(nil, math.Float64bits(v)) }
	regions := elem{tag: 0x00186011, write: func(enc *dicom.Encoder) {
		enc.BeginSequence(dicom.Tag(0x00186011))
		enc.BeginItem()
		enc.WriteUint16(dicom.Tag(0x00186024), "US", 3) // cm
		enc.WriteUint16(dicom.Tag(0x00186026), "US", 3)
		enc.WriteElement(dicom.Tag(0x0018602C), "FD", fd(0.02))
		enc.WriteElement(dicom.Tag(0x0018602E), "FD", fd(0.025))
		enc.EndItem()
		enc.EndSequence()
	}}
	us, err := en.archive.Put(context.Background(), bytes.NewReader(withElements(t, usRaw,
		elem{0x00180040, "IS", "30", nil}, regions)), store.PutRequest{Origin: store.Origin{Transport: "dimse", CallingAE: "TOWN_A"}})
	if err != nil {
		t.Fatal(err)
	}
	doc := en.login("doc", "password-doc")
	get := func(study string) studyImagesJSON {
		t.Helper()
		resp, body := doc.get("/api/studies/"+study+"/images", "application/json")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("images of %s: %d %s", study, resp.StatusCode, body)
		}
		var out studyImagesJSON
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}

	cur := get(vs.current)
	want := overlayJSON{UID: vs.current, Name: "王建国", PatientID: "P0001", Age: "47岁", Sex: "男",
		Date: "2026-03-02 09:30", DateRaw: "20260302", Institution: "城关镇卫生院", BodyPart: "胸部"}
	if cur.Study != want {
		t.Errorf("overlay %+v, want %+v", cur.Study, want)
	}
	if len(cur.Images) != 2 {
		t.Fatalf("%d images", len(cur.Images))
	}
	for _, im := range cur.Images {
		sp := im.Spacing
		if sp == nil || sp.Source != "ImagerPixelSpacing" || sp.Row != 0.143 || sp.Col != 0.143 {
			t.Errorf("%s: spacing %+v", im.SOP, sp)
		}
		wantO := map[string]string{vs.pa: `L\F`, vs.lat: `P\F`}[im.SOP]
		if strings.Join(im.Orientation, `\`) != wantO || im.Laterality != "" {
			t.Errorf("%s: orientation %v laterality %q", im.SOP, im.Orientation, im.Laterality)
		}
		if im.SOP == vs.pa && (im.Columns != 3000 || im.Rows != 3000 || im.ViewPosition != "PA" || im.SeriesDesc != "胸部正位") {
			t.Errorf("PA: %+v", im)
		}
	}
	if p := get(vs.prior).Images[0].Spacing; p == nil || p.Source != "PixelSpacing" || p.Row != 0.4 {
		t.Errorf("prior spacing %+v", p)
	}
	if u := get(vs.uncalibrated); u.Images[0].Spacing != nil || u.Study.Sex != "女" {
		t.Errorf("uncalibrated: %+v %+v", u.Images[0].Spacing, u.Study)
	}
	usImg := get(us.StudyInstanceUID).Images[0]
	if usImg.CineRate != 30 || usImg.Frames != 8 || !usImg.Color {
		t.Errorf("ultrasound: cine rate %v, %d frames, colour %v", usImg.CineRate, usImg.Frames, usImg.Color)
	}
	if sp := usImg.Spacing; sp == nil || sp.Source != "UltrasoundRegion" || math.Abs(sp.Col-0.2) > 1e-9 || math.Abs(sp.Row-0.25) > 1e-9 {
		t.Errorf("ultrasound spacing %+v, want 0.25 x 0.2 mm from the region", sp)
	}
}

// TestFramePixelsFullResolution: a 3000x3000 DR is sent whole (no 2048 cap), and as a
// 1024x1024 preview with ?preview=1; both carry the same modality values where they
// coincide (the top-left corner's value of the full frame is the file's stored sample).
func TestFramePixelsFullResolution(t *testing.T) {
	en := newEnv(t)
	en.user("doc", reading.RoleRadiologist, 0)
	vs := putViewingStudies(t, en.archive)
	doc := en.login("doc", "password-doc")
	frame := func(query string) (int, int, []uint16, float64) {
		t.Helper()
		// Without Accept-Encoding: gzip, the server inflates the stored body itself.
		req, _ := http.NewRequest(http.MethodGet, en.srv.URL+"/api/studies/"+vs.current+"/instances/"+vs.pa+"/frames/0/pixels"+query, nil)
		req.Header.Set("Accept-Encoding", "identity")
		resp, body := doc.do(req)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Encoding") != "" {
			t.Fatalf("pixels%s: %d %q", query, resp.StatusCode, resp.Header.Get("Content-Encoding"))
		}
		raw := []byte(body)
		w, _ := strconv.Atoi(resp.Header.Get("X-Pixel-Width"))
		h, _ := strconv.Atoi(resp.Header.Get("X-Pixel-Height"))
		off, _ := strconv.ParseFloat(resp.Header.Get("X-Pixel-Offset"), 64)
		if len(raw) != 2*w*h {
			t.Fatalf("pixels%s: %d bytes for %dx%d", query, len(raw), w, h)
		}
		px := make([]uint16, w*h)
		for i := range px {
			px[i] = binary.LittleEndian.Uint16(raw[2*i:])
		}
		return w, h, px, off
	}
	w, h, px, off := frame("")
	if w != 3000 || h != 3000 {
		t.Fatalf("full frame %dx%d, want 3000x3000", w, h)
	}
	// syntheticDR's value at (0,0): 2048 + 0 + the two Gaussians + 0, as stored.
	g := func(dx, dy, k float64) float64 { return math.Exp(-(dx*dx + dy*dy) * k) }
	stored := uint16(2048 + 700*g(0.35, 0.5, 30) - 600*g(0.68, 0.45, 25))
	if got := off + float64(px[0]); got != float64(stored) {
		t.Errorf("full frame (0,0) = %v, want %d", got, stored)
	}
	// The preview fits previewSide as a whole fraction of the frame: a third of 3000.
	pw, ph, _, _ := frame("?preview=1")
	if pw != 1000 || ph != 1000 {
		t.Errorf("preview %dx%d, want 1000x1000", pw, ph)
	}
	if w, h := previewSize(2560, 3072, previewSide); w != previewSide || h != previewSide {
		t.Errorf("previewSize(2560x3072) = %dx%d, want the general fit within %d", w, h, previewSide)
	}
}

// TestGzipConcurrent: the concurrently compressed chunks make one gzip member that the
// standard reader inflates to the input, whatever the size against the chunk.
func TestGzipConcurrent(t *testing.T) {
	for _, n := range []int{0, 1, gzipChunk - 1, gzipChunk, gzipChunk + 1, 3*gzipChunk + gzipChunk/2} {
		in := make([]byte, n)
		for i := range in {
			in[i] = byte(i*7/3) ^ byte(i>>11) // compressible, not constant
		}
		gz, err := gzipConcurrent(in)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		zr.Multistream(false)
		out, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("%d bytes: inflated %d bytes (%v)", n, len(out), err)
		}
		if n > gzipChunk && len(gz) > n/2 {
			t.Errorf("%d bytes compressed to %d", n, len(gz))
		}
	}
}
