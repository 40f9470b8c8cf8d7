package dicomweb

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"pacsd/dicom"
	"pacsd/thumbnail"
)

// Rendered and thumbnail resources and WADO-URI rendering, checked against DCMTK's renderer
// (dcmj2pnm) on the committed test objects.

// renderFiles are the objects the rendering tests store.
var renderFiles = []string{
	"dr_mono1.dcm", "dr_mono2.dcm", "sc_mono8.dcm", "ts_jpeg_baseline.dcm", "ts_jpeg_lossless.dcm",
	"ts_rle.dcm", "ts_j2k_lossless.dcm", "us_multiframe.dcm", "us_multiframe_jpeg.dcm", "sr_basic_text.dcm",
	"pdf_encapsulated.dcm",
}

// newRenderFixture stores renderFiles and serves them with a real thumbnail service.
func newRenderFixture(t *testing.T) (*fixture, *thumbnail.Service) {
	t.Helper()
	f := newFixture(t, renderFiles...)
	thumbs, err := thumbnail.New(f.archive, thumbnail.Config{Dir: filepath.Join(t.TempDir(), "thumbnails"), Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	f.url = serve(t, f.archive, Config{Logger: testLogger(), Thumbnails: thumbs})
	return f, thumbs
}

// dcmtkRender renders a test file with dcmj2pnm (8-bit PNG) and decodes it.
func dcmtkRender(t *testing.T, name string, args ...string) image.Image {
	t.Helper()
	out := filepath.Join(t.TempDir(), "dcmtk.png")
	cmd := exec.Command(needTool(t, "dcmj2pnm"), append(append([]string{"+on"}, args...), filepath.Join("../testdata", name), out)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dcmj2pnm %v %s: %v\n%s", args, name, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return decodeImage(t, b)
}

func decodeImage(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		n := min(len(b), 200)
		t.Fatalf("decode image: %v (%q)", err, b[:n])
	}
	return img
}

// imageDiff compares two images of the same size sample by sample (grey, or R, G, B):
// the mean and largest absolute difference in 8-bit levels.
func imageDiff(t *testing.T, got, want image.Image) (mean float64, worst int) {
	t.Helper()
	gb, wb := got.Bounds(), want.Bounds()
	if gb.Dx() != wb.Dx() || gb.Dy() != wb.Dy() {
		t.Fatalf("size %dx%d, want %dx%d", gb.Dx(), gb.Dy(), wb.Dx(), wb.Dy())
	}
	sum, n := 0, 0
	for y := 0; y < gb.Dy(); y++ {
		for x := 0; x < gb.Dx(); x++ {
			a := color.NRGBAModel.Convert(got.At(gb.Min.X+x, gb.Min.Y+y)).(color.NRGBA)
			b := color.NRGBAModel.Convert(want.At(wb.Min.X+x, wb.Min.Y+y)).(color.NRGBA)
			for _, d := range []int{int(a.R) - int(b.R), int(a.G) - int(b.G), int(a.B) - int(b.B)} {
				d = max(d, -d)
				sum += d
				worst = max(worst, d)
				n++
			}
		}
	}
	return float64(sum) / float64(n), worst
}

// grey is the brightness of a pixel, 0-255.
func grey(img image.Image, x, y int) int {
	b := img.Bounds()
	c := color.GrayModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.Gray)
	return int(c.Y)
}

// meanGrey is the mean brightness of a w x h block at x, y.
func meanGrey(img image.Image, x, y, w, h int) float64 {
	sum := 0
	for j := y; j < y+h; j++ {
		for i := x; i < x+w; i++ {
			sum += grey(img, i, j)
		}
	}
	return float64(sum) / float64(w*h)
}

// countSquares counts the white squares us_multiframe.dcm draws along the top of frame k
// (k+1 of them, 4 pixels wide every 6 at x = 2, rows 2-5): runs of white along row 3.
func countSquares(img image.Image) int {
	n, in := 0, false
	for x := 0; x < min(img.Bounds().Dx(), 60); x++ {
		white := grey(img, x, 3) > 180
		if white && !in {
			n++
		}
		in = white
	}
	return n
}

// renderedParts reads a multipart/related response of rendered images.
func renderedParts(t *testing.T, r response) (partType string, imgs []image.Image, locations []string) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(r.header.Get("Content-Type"))
	if err != nil || mt != "multipart/related" || params["boundary"] == "" {
		t.Fatalf("Content-Type %q: %v", r.header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(bytes.NewReader(r.body), params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return params["type"], imgs, locations
		}
		if err != nil {
			t.Fatalf("part %d: %v", len(imgs), err)
		}
		b, _ := io.ReadAll(p)
		if ct := p.Header.Get("Content-Type"); ct != params["type"] {
			t.Errorf("part Content-Type %q in a multipart of %q", ct, params["type"])
		}
		if cl := p.Header.Get("Content-Length"); cl != strconv.Itoa(len(b)) {
			t.Errorf("part Content-Length %q, body %d bytes", cl, len(b))
		}
		imgs = append(imgs, decodeImage(t, b))
		locations = append(locations, p.Header.Get("Content-Location"))
	}
}

func TestRendered(t *testing.T) {
	needTool(t, "dcmj2pnm")
	f, _ := newRenderFixture(t)
	acceptPNG := map[string]string{"Accept": "image/png"}

	// The rendered image equals DCMTK's rendering of the same file with the same window:
	// PNG is lossless, so any difference is the renderer's.
	t.Run("DCMTK", func(t *testing.T) {
		tests := []struct {
			file, path, query string
			dcmtk             []string
		}{
			{"dr_mono2.dcm", "/rendered", "", []string{"+Wi", "1"}},
			{"dr_mono2.dcm", "/rendered", "window=1000,2000", []string{"+Ww", "1000", "2000"}},
			{"dr_mono2.dcm", "/rendered", "window=1500,1200,linear", []string{"+Ww", "1500", "1200"}},
			{"dr_mono2.dcm", "/rendered", "window=2048,2000,sigmoid", []string{"+Ww", "2048", "2000", "+Wfs"}},
			// MONOCHROME1: the lowest values are white; DCMTK applies the polarity too.
			{"dr_mono1.dcm", "/rendered", "", []string{"+Wi", "1"}},
			{"dr_mono1.dcm", "/rendered", "window=20000,30000", []string{"+Ww", "20000", "30000"}},
			{"ts_jpeg_lossless.dcm", "/frames/1/rendered", "window=2048,4096", []string{"+Ww", "2048", "4096"}},
			{"ts_rle.dcm", "/rendered", "", []string{"+Wi", "1"}},
			// 8 bits, no window: the full range, as DCMTK shows without windowing.
			{"sc_mono8.dcm", "/rendered", "", []string{"-W"}},
			{"ts_jpeg_baseline.dcm", "/rendered", "", []string{"-W"}},
			{"us_multiframe.dcm", "/frames/3/rendered", "", []string{"+F", "3"}},
			{"us_multiframe_jpeg.dcm", "/frames/5/rendered", "", []string{"+F", "5"}},
		}
		for _, tt := range tests {
			t.Run(tt.file+tt.path+"?"+tt.query, func(t *testing.T) {
				u := f.instanceURL(tt.file) + tt.path
				if tt.query != "" {
					u += "?" + tt.query
				}
				r := get(t, http.MethodGet, u, acceptPNG)
				if r.status != http.StatusOK || r.header.Get("Content-Type") != "image/png" {
					t.Fatalf("%d %q: %s", r.status, r.header.Get("Content-Type"), r.body)
				}
				mean, worst := imageDiff(t, decodeImage(t, r.body), dcmtkRender(t, tt.file, tt.dcmtk...))
				t.Logf("mean |pacsd - DCMTK| %.3f, max %d", mean, worst)
				if mean > 1 {
					t.Errorf("differs from DCMTK by %.2f levels on average (max %d)", mean, worst)
				}
			})
		}
		// JPEG at full quality stays within a level of DCMTK too.
		r := get(t, http.MethodGet, f.instanceURL("dr_mono2.dcm")+"/rendered?quality=100", nil)
		if r.status != http.StatusOK || r.header.Get("Content-Type") != "image/jpeg" {
			t.Fatalf("JPEG: %d %q", r.status, r.header.Get("Content-Type"))
		}
		if mean, worst := imageDiff(t, decodeImage(t, r.body), dcmtkRender(t, "dr_mono2.dcm", "+Wi", "1")); mean > 1 {
			t.Errorf("JPEG differs from DCMTK by %.2f levels on average (max %d)", mean, worst)
		}
	})

	t.Run("MONOCHROME1 polarity", func(t *testing.T) {
		// Both files show the same chest with the bright marker at the top left (the
		// MONOCHROME1 file stores inverted samples); both must come out that way.
		for _, name := range []string{"dr_mono1.dcm", "dr_mono2.dcm"} {
			r := get(t, http.MethodGet, f.instanceURL(name)+"/rendered", acceptPNG)
			img := decodeImage(t, r.body)
			if m := meanGrey(img, 2, 2, 12, 12); m < 200 {
				t.Errorf("%s: top-left marker has brightness %.0f; the polarity is wrong", name, m)
			}
			if m := meanGrey(img, 0, 0, 256, 256); m > 200 || m < 30 {
				t.Errorf("%s: mean brightness %.0f", name, m)
			}
		}
	})

	t.Run("viewport", func(t *testing.T) {
		tests := []struct {
			file, query string
			w, h        int
		}{
			{"dr_mono2.dcm", "viewport=128,128", 128, 128},
			{"dr_mono2.dcm", "viewport=100,50", 50, 50},
			{"dr_mono2.dcm", "viewport=512,512", 256, 256}, // never scaled up
			{"us_multiframe.dcm", "viewport=80,80", 80, 60},
			{"us_multiframe.dcm", "viewport=1000,30", 40, 30},
			{"dr_mono2.dcm", "viewport=64,64,0,0,128,128", 64, 64},
			{"dr_mono2.dcm", "viewport=300,300,0,0,128,64", 128, 64},
			{"dr_mono2.dcm", "viewport=300,300,200,200,,", 56, 56}, // to the edges
		}
		for _, tt := range tests {
			r := get(t, http.MethodGet, f.instanceURL(tt.file)+"/rendered?"+tt.query, acceptPNG)
			if r.status != http.StatusOK {
				t.Errorf("%s: %d %s", tt.query, r.status, r.body)
				continue
			}
			if b := decodeImage(t, r.body).Bounds(); b.Dx() != tt.w || b.Dy() != tt.h {
				t.Errorf("%s %s: %dx%d, want %dx%d", tt.file, tt.query, b.Dx(), b.Dy(), tt.w, tt.h)
			}
		}
		// The source region is the top-left quarter, marker included; flipped, the marker
		// moves to the bottom right.
		full := decodeImage(t, get(t, http.MethodGet, f.instanceURL("dr_mono2.dcm")+"/rendered", acceptPNG).body)
		quarter := decodeImage(t, get(t, http.MethodGet, f.instanceURL("dr_mono2.dcm")+"/rendered?viewport=128,128,0,0,128,128", acceptPNG).body)
		sub := full.(interface {
			SubImage(image.Rectangle) image.Image
		}).SubImage(image.Rect(0, 0, 128, 128))
		if mean, _ := imageDiff(t, quarter, sub); mean > 0.01 {
			t.Errorf("region differs from the same part of the whole image by %.2f", mean)
		}
		flipped := decodeImage(t, get(t, http.MethodGet, f.instanceURL("dr_mono2.dcm")+"/rendered?viewport=128,128,0,0,-128,-128", acceptPNG).body)
		if meanGrey(flipped, 118, 118, 8, 8) < 200 || meanGrey(flipped, 2, 2, 8, 8) > 200 {
			t.Error("flipped region: the marker is not at the bottom right")
		}
	})

	t.Run("quality and format", func(t *testing.T) {
		u := f.instanceURL("dr_mono2.dcm") + "/rendered"
		low := get(t, http.MethodGet, u+"?quality=10", nil)
		high := get(t, http.MethodGet, u+"?quality=95", nil)
		if low.status != 200 || high.status != 200 || len(low.body) >= len(high.body) {
			t.Errorf("quality 10: %d bytes, quality 95: %d bytes", len(low.body), len(high.body))
		}
		p := get(t, http.MethodGet, u, acceptPNG)
		j := get(t, http.MethodGet, u, map[string]string{"Accept": "image/jpeg"})
		if !bytes.HasPrefix(p.body, []byte("\x89PNG")) || !bytes.HasPrefix(j.body, []byte{0xFF, 0xD8}) {
			t.Fatalf("PNG %q, JPEG %q: wrong formats", p.header.Get("Content-Type"), j.header.Get("Content-Type"))
		}
		if _, err := png.Decode(bytes.NewReader(p.body)); err != nil {
			t.Error(err)
		}
		if _, err := jpeg.Decode(bytes.NewReader(j.body)); err != nil {
			t.Error(err)
		}
		if mean, _ := imageDiff(t, decodeImage(t, j.body), decodeImage(t, p.body)); mean > 2 {
			t.Errorf("JPEG and PNG renders differ by %.2f levels", mean)
		}
		// Browsers: "*/*" and image/* get JPEG, the default.
		for _, accept := range []string{"", "*/*", "image/*", "image/avif,image/webp,*/*;q=0.8"} {
			if r := get(t, http.MethodGet, u, map[string]string{"Accept": accept}); r.header.Get("Content-Type") != "image/jpeg" {
				t.Errorf("Accept %q: %q", accept, r.header.Get("Content-Type"))
			}
		}
	})

	t.Run("frames", func(t *testing.T) {
		for _, name := range []string{"us_multiframe.dcm", "us_multiframe_jpeg.dcm"} {
			for k := 1; k <= 8; k++ {
				r := get(t, http.MethodGet, f.instanceURL(name)+"/frames/"+strconv.Itoa(k)+"/rendered", acceptPNG)
				if r.status != http.StatusOK {
					t.Fatalf("%s frame %d: %d %s", name, k, r.status, r.body)
				}
				if n := countSquares(decodeImage(t, r.body)); n != k {
					t.Errorf("%s frame %d shows %d squares", name, k, n)
				}
			}
		}
		u := f.instanceURL("us_multiframe.dcm")
		// Several frames: multipart, in the order asked.
		r := get(t, http.MethodGet, u+"/frames/5,2/rendered", nil)
		typ, imgs, locs := renderedParts(t, r)
		if typ != "image/jpeg" || len(imgs) != 2 || countSquares(imgs[0]) != 5 || countSquares(imgs[1]) != 2 {
			t.Errorf("frames 5,2: %q, %d parts", typ, len(imgs))
		}
		if len(locs) == 2 && !strings.HasSuffix(locs[0], "/frames/5/rendered") {
			t.Errorf("Content-Location %q", locs[0])
		}
		// The instance: every frame for a client that names multipart, else the first.
		r = get(t, http.MethodGet, u+"/rendered", map[string]string{"Accept": `multipart/related; type="image/png"`})
		typ, imgs, _ = renderedParts(t, r)
		if typ != "image/png" || len(imgs) != 8 {
			t.Fatalf("multipart instance: %q, %d parts", typ, len(imgs))
		}
		for i, img := range imgs {
			if n := countSquares(img); n != i+1 {
				t.Errorf("part %d shows %d squares", i+1, n)
			}
		}
		r = get(t, http.MethodGet, u+"/rendered", acceptPNG)
		if r.header.Get("Content-Type") != "image/png" || countSquares(decodeImage(t, r.body)) != 1 {
			t.Errorf("single image of a multi-frame instance: %q, not the first frame", r.header.Get("Content-Type"))
		}
	})

	t.Run("study and series", func(t *testing.T) {
		e := f.expected["us_multiframe.dcm"]
		r := get(t, http.MethodGet, f.url+"/dicomweb/studies/"+e.StudyInstanceUID+"/series/"+e.SeriesInstanceUID+"/rendered?viewport=64,64", nil)
		if r.status != http.StatusOK {
			t.Fatalf("%d %s", r.status, r.body)
		}
		typ, imgs, locs := renderedParts(t, r)
		if typ != "image/jpeg" || len(imgs) != 16 { // two instances of 8 frames
			t.Fatalf("series: %q, %d parts", typ, len(imgs))
		}
		for i, img := range imgs {
			if b := img.Bounds(); b.Dx() != 64 || b.Dy() != 48 || !strings.Contains(locs[i], "/frames/") {
				t.Errorf("part %d: %v at %q", i, b, locs[i])
			}
		}
		// A study with images, a report and a PDF: the images only.
		gb := f.expected["dr_mono2.dcm"]
		r = get(t, http.MethodGet, f.url+"/dicomweb/studies/"+gb.StudyInstanceUID+"/rendered", map[string]string{"Accept": `multipart/related; type="image/png"`})
		typ, imgs, _ = renderedParts(t, r)
		want := len(f.filesWhere(func(x expectedFile) bool { return x.StudyInstanceUID == gb.StudyInstanceUID && x.Rows != "" }))
		if typ != "image/png" || len(imgs) != want {
			t.Errorf("study: %q, %d parts, want %d", typ, len(imgs), want)
		}
		if h := get(t, http.MethodHead, f.url+"/dicomweb/studies/"+gb.StudyInstanceUID+"/rendered", nil); h.status != 200 || len(h.body) != 0 {
			t.Errorf("HEAD: %d", h.status)
		}
	})

	t.Run("validators", func(t *testing.T) {
		u := f.instanceURL("dr_mono2.dcm") + "/rendered?window=100,200"
		r := get(t, http.MethodGet, u, nil)
		etag := r.header.Get("ETag")
		if etag == "" || r.header.Get("Cache-Control") != cacheInstance {
			t.Fatalf("ETag %q, Cache-Control %q", etag, r.header.Get("Cache-Control"))
		}
		if r := get(t, http.MethodGet, u, map[string]string{"If-None-Match": etag}); r.status != http.StatusNotModified {
			t.Errorf("If-None-Match: %d", r.status)
		}
		if other := get(t, http.MethodGet, f.instanceURL("dr_mono2.dcm")+"/rendered?window=100,300", nil); other.header.Get("ETag") == etag {
			t.Error("another window, same ETag")
		}
		if other := get(t, http.MethodGet, u, acceptPNG); other.header.Get("ETag") == etag {
			t.Error("PNG and JPEG share an ETag")
		}
	})

	t.Run("errors", func(t *testing.T) {
		dr := f.instanceURL("dr_mono2.dcm")
		tests := []struct {
			name, url, accept string
			status            int
		}{
			{"not an image", f.instanceURL("sr_basic_text.dcm") + "/rendered", "", 406},
			{"PDF", f.instanceURL("pdf_encapsulated.dcm") + "/rendered", "", 406},
			{"not a rendered type", dr + "/rendered", "application/dicom", 406},
			{"GIF", dr + "/rendered", "image/gif", 406},
			{"several frames, one image", f.instanceURL("us_multiframe.dcm") + "/frames/1,2/rendered", "image/jpeg", 406},
			{"series as one image", f.url + "/dicomweb/studies/" + f.expected["dr_mono2.dcm"].StudyInstanceUID + "/rendered", "image/jpeg", 406},
			{"no such frame", f.instanceURL("us_multiframe.dcm") + "/frames/9/rendered", "", 404},
			{"no such instance", f.url + "/dicomweb/studies/1.2/series/1.3/instances/1.4/rendered", "", 404},
			{"series without images", f.url + "/dicomweb/studies/" + f.expected["sr_basic_text.dcm"].StudyInstanceUID + "/series/" + f.expected["sr_basic_text.dcm"].SeriesInstanceUID + "/rendered", "", 404},
			{"window not numbers", dr + "/rendered?window=a,b", "", 400},
			{"window width 0", dr + "/rendered?window=10,0", "", 400},
			{"window function", dr + "/rendered?window=10,20,cubic", "", 400},
			{"viewport 0", dr + "/rendered?viewport=0,10", "", 400},
			{"viewport 3 values", dr + "/rendered?viewport=10,10,10", "", 400},
			{"viewport region outside", dr + "/rendered?viewport=10,10,300,300,10,10", "", 400},
			{"quality 101", dr + "/rendered?quality=101", "", 400},
			{"annotation unknown", dr + "/rendered?annotation=everything", "", 400},
			{"repeated parameter", dr + "/rendered?quality=50&quality=60", "", 400},
			{"annotation accepted, not drawn", dr + "/rendered?annotation=patient,technique", "", 200},
			{"iccprofile ignored", dr + "/rendered?iccprofile=srgb", "", 200},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := get(t, http.MethodGet, tt.url, map[string]string{"Accept": tt.accept})
				if r.status != tt.status {
					t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
				}
				if tt.status >= 400 && !strings.Contains(r.header.Get("Content-Type"), "json") {
					t.Errorf("error Content-Type %q", r.header.Get("Content-Type"))
				}
			})
		}
		// Annotations are not drawn: the same image as without them.
		a := get(t, http.MethodGet, dr+"/rendered?annotation=patient", acceptPNG)
		b := get(t, http.MethodGet, dr+"/rendered", acceptPNG)
		if !bytes.Equal(a.body, b.body) {
			t.Error("annotation=patient changed the image")
		}
	})
}

func TestThumbnail(t *testing.T) {
	needTool(t, "dcmj2pnm")
	f, thumbs := newRenderFixture(t)
	dr := f.expected["dr_mono2.dcm"]
	study := f.url + "/dicomweb/studies/" + dr.StudyInstanceUID

	t.Run("instance", func(t *testing.T) {
		r := get(t, http.MethodGet, f.instanceURL("dr_mono2.dcm")+"/thumbnail", nil)
		if r.status != http.StatusOK || r.header.Get("Content-Type") != "image/jpeg" {
			t.Fatalf("%d %q: %s", r.status, r.header.Get("Content-Type"), r.body)
		}
		// The service's cached JPEG, byte for byte.
		cached, err := thumbs.Instance(t.Context(), dr.SOPInstanceUID)
		if err != nil || !bytes.Equal(cached, r.body) {
			t.Errorf("not the thumbnail service's image (%v)", err)
		}
		// The test images are 256 pixels, the thumbnail size: DCMTK at the file's window.
		mean, worst := imageDiff(t, decodeImage(t, r.body), dcmtkRender(t, "dr_mono2.dcm", "+Wi", "1"))
		t.Logf("thumbnail vs DCMTK: mean %.3f, max %d", mean, worst)
		if mean > 1 {
			t.Errorf("thumbnail differs from DCMTK by %.2f levels on average (max %d)", mean, worst)
		}
		if cc := r.header.Get("Cache-Control"); cc != cacheInstance {
			t.Errorf("Cache-Control %q", cc)
		}
		etag := r.header.Get("ETag")
		if !strings.HasPrefix(etag, `"`) {
			t.Errorf("ETag %q: want a strong validator", etag)
		}
		if r := get(t, http.MethodGet, f.instanceURL("dr_mono2.dcm")+"/thumbnail", map[string]string{"If-None-Match": etag}); r.status != http.StatusNotModified {
			t.Errorf("If-None-Match: %d", r.status)
		}
		// MONOCHROME1 too.
		m1 := decodeImage(t, get(t, http.MethodGet, f.instanceURL("dr_mono1.dcm")+"/thumbnail", nil).body)
		if mean, _ := imageDiff(t, m1, dcmtkRender(t, "dr_mono1.dcm", "+Wi", "1")); mean > 1 {
			t.Errorf("MONOCHROME1 thumbnail differs from DCMTK by %.2f levels", mean)
		}
	})

	t.Run("viewport and format", func(t *testing.T) {
		u := f.instanceURL("dr_mono2.dcm") + "/thumbnail"
		def := get(t, http.MethodGet, u, nil)
		same := get(t, http.MethodGet, u+"?viewport=256,256", nil)
		if !bytes.Equal(same.body, def.body) {
			t.Error("viewport=256,256 is the default size but was rendered again")
		}
		for _, tt := range []struct {
			query  string
			accept string
			w, h   int
			ct     string
		}{
			{"viewport=64,64", "", 64, 64, "image/jpeg"},
			{"viewport=100,40", "", 40, 40, "image/jpeg"},
			{"", "image/png", 256, 256, "image/png"},
			{"viewport=32,32", "image/png", 32, 32, "image/png"},
		} {
			r := get(t, http.MethodGet, u+"?"+tt.query, map[string]string{"Accept": tt.accept})
			if r.status != 200 || r.header.Get("Content-Type") != tt.ct {
				t.Errorf("%s %s: %d %q", tt.query, tt.accept, r.status, r.header.Get("Content-Type"))
				continue
			}
			if b := decodeImage(t, r.body).Bounds(); b.Dx() != tt.w || b.Dy() != tt.h {
				t.Errorf("%s: %v", tt.query, b)
			}
		}
	})

	t.Run("series, study and frames", func(t *testing.T) {
		inst := get(t, http.MethodGet, f.instanceURL("dr_mono2.dcm")+"/thumbnail", nil)
		series := get(t, http.MethodGet, study+"/series/"+dr.SeriesInstanceUID+"/thumbnail", nil)
		if series.status != 200 || series.header.Get("Cache-Control") != cacheCollection {
			t.Fatalf("series: %d %q", series.status, series.header.Get("Cache-Control"))
		}
		// The series is dr_mono2 in many transfer syntaxes: its middle instance looks
		// like dr_mono2 (within the lossy syntaxes' error).
		if mean, _ := imageDiff(t, decodeImage(t, series.body), decodeImage(t, inst.body)); mean > 3 {
			t.Errorf("series thumbnail differs from its images by %.2f levels", mean)
		}
		if r := get(t, http.MethodGet, study+"/thumbnail", nil); r.status != 200 || r.header.Get("Content-Type") != "image/jpeg" {
			t.Errorf("study: %d", r.status)
		}
		// The middle frame of the US clip, and a frame named.
		us := f.instanceURL("us_multiframe.dcm")
		if n := countSquares(decodeImage(t, get(t, http.MethodGet, us+"/thumbnail", map[string]string{"Accept": "image/png"}).body)); n != 5 {
			t.Errorf("instance thumbnail shows frame with %d squares, want the middle (5)", n)
		}
		if n := countSquares(decodeImage(t, get(t, http.MethodGet, us+"/frames/3/thumbnail", map[string]string{"Accept": "image/png"}).body)); n != 3 {
			t.Errorf("frame 3 thumbnail shows %d squares", n)
		}
	})

	t.Run("errors", func(t *testing.T) {
		sr := f.expected["sr_basic_text.dcm"]
		for _, tt := range []struct {
			name, url, accept string
			status            int
		}{
			{"report", f.instanceURL("sr_basic_text.dcm") + "/thumbnail", "", 404},
			{"series of a report", study + "/series/" + sr.SeriesInstanceUID + "/thumbnail", "", 404},
			{"PDF", f.instanceURL("pdf_encapsulated.dcm") + "/thumbnail", "", 404},
			{"unknown study", f.url + "/dicomweb/studies/1.2.3/thumbnail", "", 404},
			{"JSON", f.instanceURL("dr_mono2.dcm") + "/thumbnail", "application/json", 406},
			{"multipart", f.instanceURL("dr_mono2.dcm") + "/thumbnail", `multipart/related; type="image/jpeg"`, 406},
			{"region", f.instanceURL("dr_mono2.dcm") + "/thumbnail?viewport=10,10,0,0,5,5", "", 400},
			{"no such frame", f.instanceURL("us_multiframe.dcm") + "/frames/9/thumbnail", "", 404},
		} {
			r := get(t, http.MethodGet, tt.url, map[string]string{"Accept": tt.accept})
			if r.status != tt.status {
				t.Errorf("%s: %d, want %d: %s", tt.name, r.status, tt.status, r.body)
			}
			if tt.status == 404 && tt.name == "report" && !strings.Contains(string(r.body), "no image") {
				t.Errorf("%s: message %s", tt.name, r.body)
			}
		}
	})
}

func TestWADOURIRendered(t *testing.T) {
	needTool(t, "dcmj2pnm")
	f, _ := newRenderFixture(t)
	q := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	t.Run("JPEG", func(t *testing.T) {
		r := get(t, http.MethodGet, f.wadoURI("dr_mono2.dcm", q("contentType", "image/jpeg", "imageQuality", "100")), nil)
		if r.status != 200 || r.header.Get("Content-Type") != "image/jpeg" {
			t.Fatalf("%d %q %s", r.status, r.header.Get("Content-Type"), r.body)
		}
		if mean, worst := imageDiff(t, decodeImage(t, r.body), dcmtkRender(t, "dr_mono2.dcm", "+Wi", "1")); mean > 1 {
			t.Errorf("differs from DCMTK by %.2f (max %d)", mean, worst)
		}
	})
	t.Run("window", func(t *testing.T) {
		r := get(t, http.MethodGet, f.wadoURI("dr_mono1.dcm", q("contentType", "image/png", "windowCenter", "20000", "windowWidth", "30000")), nil)
		if mean, worst := imageDiff(t, decodeImage(t, r.body), dcmtkRender(t, "dr_mono1.dcm", "+Ww", "20000", "30000")); mean > 1 {
			t.Errorf("differs from DCMTK by %.2f (max %d)", mean, worst)
		}
	})
	for _, tt := range []struct {
		name   string
		file   string
		q      url.Values
		status int
		w, h   int
		frame  int // squares expected (us_multiframe), 0: not checked
	}{
		{"rows and columns", "dr_mono2.dcm", q("contentType", "image/png", "rows", "64", "columns", "64"), 200, 64, 64, 0},
		{"columns alone", "us_multiframe.dcm", q("contentType", "image/png", "columns", "80"), 200, 80, 60, 1},
		{"frameNumber", "us_multiframe.dcm", q("contentType", "image/png", "frameNumber", "3"), 200, 160, 120, 3},
		{"first frame by default", "us_multiframe_jpeg.dcm", q("contentType", "image/png"), 200, 160, 120, 1},
		{"region", "dr_mono2.dcm", q("contentType", "image/png", "region", "0,0,0.5,0.25"), 200, 128, 64, 0},
		{"frameNumber beyond", "us_multiframe.dcm", q("contentType", "image/png", "frameNumber", "9"), 400, 0, 0, 0},
		{"windowCenter alone", "dr_mono2.dcm", q("contentType", "image/jpeg", "windowCenter", "10"), 400, 0, 0, 0},
		{"imageQuality 0", "dr_mono2.dcm", q("contentType", "image/jpeg", "imageQuality", "0"), 400, 0, 0, 0},
		{"region backwards", "dr_mono2.dcm", q("contentType", "image/jpeg", "region", "0.5,0,0.2,1"), 400, 0, 0, 0},
		{"presentation state", "dr_mono2.dcm", q("contentType", "image/jpeg", "presentationUID", "1.2.3"), 406, 0, 0, 0},
		{"GIF", "dr_mono2.dcm", q("contentType", "image/gif"), 406, 0, 0, 0},
		{"report as JPEG", "sr_basic_text.dcm", q("contentType", "image/jpeg"), 406, 0, 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, http.MethodGet, f.wadoURI(tt.file, tt.q), nil)
			if r.status != tt.status {
				t.Fatalf("%d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.status != 200 {
				return
			}
			img := decodeImage(t, r.body)
			if b := img.Bounds(); b.Dx() != tt.w || b.Dy() != tt.h {
				t.Errorf("%dx%d, want %dx%d", b.Dx(), b.Dy(), tt.w, tt.h)
			}
			if tt.frame > 0 && tt.w == 160 {
				if n := countSquares(img); n != tt.frame {
					t.Errorf("%d squares, want %d", n, tt.frame)
				}
			}
		})
	}
}

// TestThumbnailSkipsVideo: a study whose first series is a video clip (kept as sent, not
// decoded) is represented by the image of its next series; the clip's series itself has
// no picture to give.
func TestThumbnailSkipsVideo(t *testing.T) {
	a, _ := newArchive(t)
	thumbs, err := thumbnail.New(a, thumbnail.Config{Dir: filepath.Join(t.TempDir(), "thumbnails"), Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, a, Config{Logger: testLogger(), Thumbnails: thumbs}) + "/dicomweb"
	study := "1.2.826.0.1.3680043.10.13.1"
	clip := genObject{sopClass: "1.2.840.10008.5.1.4.1.1.77.1.4.1", sop: "1.2.826.0.1.3680043.10.13.2.1", study: study,
		series: "1.2.826.0.1.3680043.10.13.2", ts: dicom.MPEG4HP41, fragments: [][]byte{bytes.Repeat([]byte{0, 0, 1, 0xB3}, 64)}}.
		with(dicom.TagModality, "CS", "XC").with(dicom.TagSeriesNumber, "IS", "1 ").
		with(dicom.TagSamplesPerPixel, "US", us16(3)).with(dicom.TagPhotometricInterpretation, "CS", "YBR_PARTIAL_420").
		with(dicom.TagRows, "US", us16(64)).with(dicom.TagColumns, "US", us16(64)).
		with(dicom.TagBitsAllocated, "US", us16(8)).with(dicom.TagBitsStored, "US", us16(8)).with(0x00280102, "US", us16(7)).
		with(dicom.TagPixelRepresentation, "US", us16(0))
	img := imageObject("1.2.826.0.1.3680043.10.13.3.1", study, "1.2.826.0.1.3680043.10.13.3", 32, 32, 1).
		with(dicom.TagSeriesNumber, "IS", "2 ")
	putAll(t, a, []genObject{clip, img})

	r := get(t, http.MethodGet, base+"/studies/"+study+"/thumbnail", nil)
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("study thumbnail: %d %q: %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	if b := decodeImage(t, r.body).Bounds(); b.Dx() != 32 || b.Dy() != 32 {
		t.Errorf("study thumbnail is %v, want the 32x32 image's", b)
	}
	if r := get(t, http.MethodGet, base+"/studies/"+study+"/series/1.2.826.0.1.3680043.10.13.2/thumbnail", nil); r.status == http.StatusOK {
		t.Errorf("the video series has a thumbnail: %d %q", r.status, r.header.Get("Content-Type"))
	} else {
		t.Logf("video series thumbnail: %d %s", r.status, r.body)
	}
}
