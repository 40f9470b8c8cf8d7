package thumbnail_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"pacsd/dicom"
	"pacsd/store"
	"pacsd/store/file"
	"pacsd/store/sqlite"
	"pacsd/thumbnail"
)

type env struct {
	a   *store.Archive
	svc *thumbnail.Service
	dir string
}

func newEnvB(b *testing.B) *env { return newEnv(b, false) }

func (e *env) putB(b *testing.B, name string) *store.Instance { return e.put(b, name) }

// clearCache removes every cached thumbnail.
func (e *env) clearCache(tb testing.TB) {
	if err := os.RemoveAll(filepath.Join(e.dir, "thumbs")); err != nil {
		tb.Fatal(err)
	}
}

func newEnv(t testing.TB, start bool, tune ...func(*thumbnail.Config)) *env {
	t.Helper()
	dir := t.TempDir()
	idx, err := sqlite.Open(context.Background(), filepath.Join(dir, "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	blobs, err := file.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := store.NewArchive(idx, blobs, store.Config{SpoolDir: filepath.Join(dir, "spool"), MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	cfg := thumbnail.Config{Dir: filepath.Join(dir, "thumbs"), MaxWait: time.Second,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	for _, f := range tune {
		f(&cfg)
	}
	svc, err := thumbnail.New(a, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if start {
		svc.Start(context.Background())
		t.Cleanup(svc.Close)
	}
	return &env{a: a, svc: svc, dir: dir}
}

func (e *env) put(t testing.TB, name string) *store.Instance {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	in, err := e.a.Put(context.Background(), f, store.PutRequest{})
	if err != nil {
		t.Fatalf("put %s: %v", name, err)
	}
	return in
}

func decode(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("thumbnail is not a JPEG: %v", err)
	}
	return img
}

// lum is the image's luminance as floats, for comparing thumbnails of one anatomy.
func lum(img image.Image) []float64 {
	r := img.Bounds()
	out := make([]float64, 0, r.Dx()*r.Dy())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			out = append(out, 0.299*float64(cr)+0.587*float64(cg)+0.114*float64(cb))
		}
	}
	return out
}

func correlation(a, b []float64) float64 {
	n := min(len(a), len(b))
	var ma, mb float64
	for i := range n {
		ma += a[i]
		mb += b[i]
	}
	ma, mb = ma/float64(n), mb/float64(n)
	var sab, saa, sbb float64
	for i := range n {
		sab += (a[i] - ma) * (b[i] - mb)
		saa += (a[i] - ma) * (a[i] - ma)
		sbb += (b[i] - mb) * (b[i] - mb)
	}
	return sab / math.Sqrt(saa*sbb)
}

func TestBackgroundAfterIngest(t *testing.T) {
	e := newEnv(t, true)
	images := []string{"dr_mono2.dcm", "dr_mono1.dcm", "ts_jpeg_lossless.dcm", "ts_j2k.dcm", "ts_jpegls_lossless.dcm",
		"ts_rle.dcm", "us_multiframe.dcm", "us_multiframe_jpeg.dcm"}
	for _, n := range images {
		e.put(t, n)
	}
	sr := e.put(t, "sr_basic_text.dcm")
	deadline := time.Now().Add(60 * time.Second)
	for e.svc.Stats().Made < int64(len(images)) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if st := e.svc.Stats(); st.Made != int64(len(images)) || st.Failed != 0 {
		t.Fatalf("after ingest: %+v, want %d made in the background", st, len(images))
	}
	if _, err := e.svc.Instance(context.Background(), sr.SOPInstanceUID); !errors.Is(err, thumbnail.ErrNoImage) {
		t.Fatalf("thumbnail of an SR = %v, want ErrNoImage", err)
	}
	// Served from the cache now: nothing more is made.
	before := e.svc.Stats().Made
	for _, n := range images {
		in := e.put(t, n) // duplicate: the stored record
		b, err := e.svc.Instance(context.Background(), in.SOPInstanceUID)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		img := decode(t, b)
		// Fitted within 256 x 256, keeping the aspect; small images are not enlarged.
		rows, _ := in.InstanceAttrs.Int(dicom.TagRows)
		cols, _ := in.InstanceAttrs.Int(dicom.TagColumns)
		w, h := img.Bounds().Dx(), img.Bounds().Dy()
		if want := min(256, int(max(rows, cols))); max(w, h) != want || w*int(rows) != h*int(cols) {
			t.Errorf("%s: thumbnail %dx%d of a %dx%d image, want the longest side %d and the same aspect", n, w, h, cols, rows, want)
		}
	}
	if got := e.svc.Stats().Made; got != before {
		t.Fatalf("%d thumbnails remade; the cache should have served them", got-before)
	}
}

// TestBackgroundOverflow: instances that find the queue full during a bulk load are made
// from their series afterwards, each once.
func TestBackgroundOverflow(t *testing.T) {
	e := newEnv(t, false, func(c *thumbnail.Config) { c.QueueLen = 1 })
	svc := e.svc
	images := []string{"dr_mono2.dcm", "dr_mono1.dcm", "ts_rle.dcm", "us_multiframe.dcm", "sr_basic_text.dcm"}
	var recs []*store.Instance
	for _, n := range images {
		recs = append(recs, e.put(t, n))
	}
	for _, in := range recs { // as the archive calls it during a load, before the worker runs
		svc.Add(in)
	}
	if st := svc.Stats(); st.Queued != 1 || st.Overflowed != int64(len(recs)-1) || st.SeriesQueued == 0 {
		t.Fatalf("before the worker: %+v, want 1 queued and the rest overflowed into series", st)
	}
	svc.Start(context.Background())
	t.Cleanup(svc.Close)
	want := int64(len(images) - 1) // the SR has no image
	deadline := time.Now().Add(60 * time.Second)
	for st := svc.Stats(); st.Made < want || st.Queued+st.SeriesQueued > 0; st = svc.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("after 60 s: %+v, want %d made", st, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := svc.Stats(); st.Made != want || st.Failed != 0 {
		t.Fatalf("%+v, want %d made, none twice", st, want)
	}
}

// TestPolarity: a MONOCHROME1 and a MONOCHROME2 image of the same chest look alike (the
// inversion is applied once), and not like each other's negative.
func TestPolarity(t *testing.T) {
	e := newEnv(t, false)
	m1 := e.put(t, "dr_mono1.dcm")
	m2 := e.put(t, "dr_mono2.dcm")
	b1, err := e.svc.Instance(context.Background(), m1.SOPInstanceUID)
	if err != nil {
		t.Fatal(err)
	}
	b2, err := e.svc.Instance(context.Background(), m2.SOPInstanceUID)
	if err != nil {
		t.Fatal(err)
	}
	if r := correlation(lum(decode(t, b1)), lum(decode(t, b2))); r < 0.9 {
		t.Fatalf("MONOCHROME1 vs MONOCHROME2 thumbnails correlate %.3f, want > 0.9 (same anatomy, same polarity)", r)
	}
}

// TestSeriesAndStudy: a series is shown by an image, a study skips series without images.
func TestSeriesAndStudy(t *testing.T) {
	e := newEnv(t, false)
	dr := e.put(t, "dr_mono2.dcm")
	for _, n := range []string{"ts_rle.dcm", "ts_explicit_le.dcm", "sr_basic_text.dcm", "pdf_encapsulated.dcm"} {
		e.put(t, n) // the same study (see testdata/README.md)
	}
	ctx := context.Background()
	b, err := e.svc.Series(ctx, dr.StudyInstanceUID, dr.SeriesInstanceUID)
	if err != nil {
		t.Fatalf("series thumbnail: %v", err)
	}
	decode(t, b)
	b, err = e.svc.Study(ctx, dr.StudyInstanceUID)
	if err != nil {
		t.Fatalf("study thumbnail: %v", err)
	}
	decode(t, b)
	if _, err := e.svc.Study(ctx, "1.2.3.404"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown study: %v, want ErrNotFound", err)
	}
}

// TestOneRenderPerThumbnail: many viewers asking for a missing thumbnail at once cost one
// render.
func TestOneRenderPerThumbnail(t *testing.T) {
	e := newEnv(t, false)
	in := e.put(t, "ts_j2k_lossless.dcm")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.svc.Instance(context.Background(), in.SOPInstanceUID); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if st := e.svc.Stats(); st.Made != 1 {
		t.Fatalf("made %d thumbnails for one instance", st.Made)
	}
}

func TestCandidates(t *testing.T) {
	var list []*store.Instance
	for _, id := range []string{"a1", "a2", "a3", "a4", "b1", "b2"} {
		list = append(list, &store.Instance{SeriesInstanceUID: id[:1], SOPInstanceUID: id})
	}
	var got []string
	for _, in := range thumbnail.Candidates(list) {
		got = append(got, in.SOPInstanceUID)
	}
	// Series by series; in each the middle first, then outward.
	want := []string{"a3", "a2", "a4", "a1", "b2", "b1"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("Candidates = %v, want %v", got, want)
	}
}

// TestVideoDoesNotHideImages: a study whose first series is a video clip (kept, not
// decoded) is shown by the image in its next series; the clip's own series has none.
func TestVideoDoesNotHideImages(t *testing.T) {
	e := newEnv(t, false)
	const study = "2.25.77001"
	build := func(series, sop, ts string, number int, pixels func(*dicom.Encoder)) []byte {
		var b bytes.Buffer
		class := "1.2.840.10008.5.1.4.1.1.7"
		if ts == dicom.MPEG4HP41 {
			class = "1.2.840.10008.5.1.4.1.1.77.1.4.1" // Video Photographic Image Storage
		}
		if _, err := dicom.WriteFileMeta(&b, dicom.FileMeta{SOPClassUID: class, SOPInstanceUID: sop, TransferSyntaxUID: ts}); err != nil {
			t.Fatal(err)
		}
		enc, err := dicom.NewEncoder(&b, ts)
		if err != nil {
			t.Fatal(err)
		}
		enc.WriteString(dicom.TagSOPClassUID, "UI", class)
		enc.WriteString(dicom.TagSOPInstanceUID, "UI", sop)
		enc.WriteString(dicom.TagModality, "CS", "XC")
		enc.WriteString(dicom.TagStudyInstanceUID, "UI", study)
		enc.WriteString(dicom.TagSeriesInstanceUID, "UI", series)
		enc.WriteString(dicom.TagSeriesNumber, "IS", fmt.Sprint(number))
		enc.WriteUint16(dicom.TagSamplesPerPixel, "US", 1)
		enc.WriteString(dicom.TagPhotometricInterpretation, "CS", "MONOCHROME2")
		enc.WriteUint16(dicom.TagRows, "US", 64)
		enc.WriteUint16(dicom.TagColumns, "US", 64)
		enc.WriteUint16(dicom.TagBitsAllocated, "US", 8)
		enc.WriteUint16(dicom.TagBitsStored, "US", 8)
		enc.WriteUint16(0x00280102, "US", 7)
		enc.WriteUint16(dicom.TagPixelRepresentation, "US", 0)
		pixels(enc)
		if err := enc.Close(); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	video := build("2.25.77001.1", "2.25.77001.1.1", dicom.MPEG4HP41, 1, func(enc *dicom.Encoder) {
		enc.WriteEncapsulatedPixelData([][]byte{bytes.Repeat([]byte{0, 0, 1, 0xB3}, 256)}) // not decoded by anyone here
	})
	image := build("2.25.77001.2", "2.25.77001.2.1", dicom.ExplicitVRLittleEndian, 2, func(enc *dicom.Encoder) {
		px := make([]byte, 64*64)
		for i := range px {
			px[i] = byte(i%64*4) ^ byte(i/64*2)
		}
		enc.WriteElement(dicom.TagPixelData, "OB", px)
	})
	for _, b := range [][]byte{video, image} {
		if _, err := e.a.Put(context.Background(), bytes.NewReader(b), store.PutRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	b, err := e.svc.Study(context.Background(), study)
	if err != nil {
		t.Fatalf("study thumbnail behind a video series: %v", err)
	}
	if img := decode(t, b); img.Bounds().Dx() != 64 {
		t.Errorf("study thumbnail %v, want the 64x64 image", img.Bounds())
	}
	if _, err := e.svc.Series(context.Background(), study, "2.25.77001.1"); !errors.Is(err, thumbnail.ErrNoImage) {
		t.Errorf("thumbnail of the video series = %v, want ErrNoImage", err)
	}
}
