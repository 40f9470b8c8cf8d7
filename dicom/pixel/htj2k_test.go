package pixel

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"pacsd/dicom"
)

// testGray12 is a 12-bit greyscale test image: a diagonal gradient with a bright disc, a
// dark bar and fine texture, so that every wavelet subband carries something. The width
// should be odd to catch off-by-one errors in the codec's geometry.
func testGray12(w, h int, seed uint32) []uint16 {
	out := make([]uint16, w*h)
	x32 := seed | 1
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := (x*4095/(w-1) + y*4095/(h-1)) / 2
			if dx, dy := x-w/3, y-h/2; dx*dx+dy*dy < (h/4)*(h/4) {
				v = 3900
			}
			if x > 2*w/3 && x < 2*w/3+5 {
				v = 60
			}
			x32 ^= x32 << 13
			x32 ^= x32 >> 17
			x32 ^= x32 << 5
			v += int(x32%64) - 32
			out[y*w+x] = uint16(min(max(v, 0), 4095))
		}
	}
	return out
}

// testRGB8 is an 8-bit RGB test image, pixel-interleaved: crossing gradients, a saturated
// square and a grey stripe.
func testRGB8(w, h int) []uint8 {
	out := make([]uint8, 3*w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			r, g, b := x*255/(w-1), y*255/(h-1), (x*y)%256
			if x > w/4 && x < w/2 && y > h/4 && y < h/2 {
				r, g, b = 250, 10, 40
			}
			if y == h-3 {
				r, g, b = 128, 128, 128
			}
			i := 3 * (y*w + x)
			out[i], out[i+1], out[i+2] = uint8(r), uint8(g), uint8(b)
		}
	}
	return out
}

// writePGM16 writes a binary PGM with 16-bit big-endian samples and the given maxval.
func writePGM16(t testing.TB, path string, w, h, maxval int, px []uint16) {
	t.Helper()
	var b bytes.Buffer
	fmt.Fprintf(&b, "P5\n%d %d\n%d\n", w, h, maxval)
	for _, v := range px {
		b.Write([]byte{byte(v >> 8), byte(v)})
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writePPM8 writes a binary PPM with 8-bit samples.
func writePPM8(t testing.TB, path string, w, h int, px []uint8) {
	t.Helper()
	var b bytes.Buffer
	fmt.Fprintf(&b, "P6\n%d %d\n255\n", w, h)
	b.Write(px)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// j2kSynth wraps JPEG 2000 codestreams (one per frame) as an object in syntax ts.
func j2kSynth(ts string, w, h, samples, bits int, photometric string, frames ...[]byte) synth {
	s := synth{ts: ts, rows: h, cols: w, frames: len(frames), samples: samples,
		bitsAlloc: 8, bitsStored: bits, photometric: photometric, bot: true}
	if bits > 8 {
		s.bitsAlloc = 16
	}
	if samples == 3 {
		s.planar = 0
	}
	for _, f := range frames {
		s.fragments = append(s.fragments, [][]byte{f})
	}
	return s
}

// frameInts returns a decoded frame's samples as ints.
func frameInts(f *Frame) []int {
	out := make([]int, f.Len())
	for i := range out {
		out[i] = f.Sample(i)
	}
	return out
}

// compareSamples fails the test when got and want differ by more than tol anywhere.
func compareSamples(t testing.TB, what string, got, want []int, tol int) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d samples, want %d", what, len(got), len(want))
	}
	worst, at := 0, -1
	for i := range got {
		if d := abs(got[i] - want[i]); d > worst {
			worst, at = d, i
		}
	}
	if worst > tol {
		t.Fatalf("%s: sample %d is %d, want %d (max difference %d, allowed %d)", what, at, got[at], want[at], worst, tol)
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// TestHTJ2KOpenJPH decodes High-Throughput JPEG 2000 codestreams written by OpenJPH (an
// independent HTJ2K implementation; pacsd decodes with OpenJPEG): reversible ones must give
// back the source samples exactly, irreversible ones what OpenJPH's own decoder gives, within
// one level (two decoders of one codestream, each rounding its floating-point inverse
// transform).
func TestHTJ2KOpenJPH(t *testing.T) {
	needTool(t, "ojph_compress", "ojph_expand")
	const w, h = 61, 47
	gray := testGray12(w, h, 7)
	rgb := testRGB8(w, h)
	dir := t.TempDir()
	grayPath, rgbPath := filepath.Join(dir, "gray.pgm"), filepath.Join(dir, "rgb.ppm")
	writePGM16(t, grayPath, w, h, 4095, gray)
	writePPM8(t, rgbPath, w, h, rgb)
	source := map[string][]int{grayPath: make([]int, len(gray)), rgbPath: make([]int, len(rgb))}
	for i, v := range gray {
		source[grayPath][i] = int(v)
	}
	for i, v := range rgb {
		source[rgbPath][i] = int(v)
	}

	tests := []struct {
		name        string
		in          string
		ts          string
		args        []string
		photometric string
		lossless    bool
	}{
		{"gray12 reversible CPRL", grayPath, dicom.HTJ2KLossless, []string{"-reversible", "true", "-prog_order", "CPRL"}, Monochrome2, true},
		{"gray12 reversible RPCL", grayPath, dicom.HTJ2KLosslessRPCL, []string{"-reversible", "true", "-prog_order", "RPCL"}, Monochrome2, true},
		{"gray12 reversible as HTJ2K", grayPath, dicom.HTJ2K, []string{"-reversible", "true"}, Monochrome2, true},
		{"gray12 irreversible", grayPath, dicom.HTJ2K, []string{"-qstep", "0.01"}, Monochrome2, false},
		{"rgb reversible RCT", rgbPath, dicom.HTJ2KLossless, []string{"-reversible", "true"}, YBRRCT, true},
		{"rgb reversible no transform", rgbPath, dicom.HTJ2KLossless, []string{"-reversible", "true", "-colour_trans", "false"}, RGB, true},
		{"rgb irreversible ICT", rgbPath, dicom.HTJ2K, []string{"-qstep", "0.01"}, YBRICT, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := filepath.Join(dir, fmt.Sprintf("c%d.j2c", i))
			run(t, "ojph_compress", append([]string{"-i", tt.in, "-o", cs}, tt.args...)...)
			code, err := os.ReadFile(cs)
			if err != nil {
				t.Fatal(err)
			}
			samples, bits := 1, 12
			if tt.in == rgbPath {
				samples, bits = 3, 8
			}
			im, err := openBytes(t, j2kSynth(tt.ts, w, h, samples, bits, tt.photometric, code).build(t))
			if err != nil {
				t.Fatal(err)
			}
			fr, err := im.Frame(context.Background(), 0)
			if err != nil {
				t.Fatal(err)
			}
			if samples == 3 && fr.Photometric != RGB {
				t.Errorf("photometric %s after decoding %s, want RGB", fr.Photometric, tt.photometric)
			}
			got := frameInts(fr)
			if tt.lossless {
				compareSamples(t, "decoded vs source", got, source[tt.in], 0)
				return
			}
			ext := ".pgm"
			if samples == 3 {
				ext = ".ppm"
			}
			out := filepath.Join(dir, fmt.Sprintf("c%d%s", i, ext))
			run(t, "ojph_expand", "-i", cs, "-o", out)
			ref, err := readPNM(out)
			if err != nil {
				t.Fatal(err)
			}
			compareSamples(t, "decoded vs ojph_expand", got, ref.data, 1)
			// And it is the image, not merely what both decoders agree on.
			var sum int
			for k := range got {
				sum += abs(got[k] - source[tt.in][k])
			}
			if limit := len(got) * (1 << bits) / 100; sum > limit {
				t.Errorf("lossy frame differs from the source by %d in total (more than 1%% of the range per sample)", sum)
			}
		})
	}
}

// TestHTJ2KMultiFrame: frames located by the Basic Offset Table, by one fragment per frame,
// and by codestream starts when frames span several fragments; the thumbnail path decodes a
// reduced resolution level of an HTJ2K codestream.
func TestHTJ2KMultiFrame(t *testing.T) {
	needTool(t, "ojph_compress")
	const w, h = 61, 47
	dir := t.TempDir()
	var codes [][]byte
	var srcs [][]uint16
	for k := 0; k < 3; k++ {
		px := testGray12(w, h, uint32(11+k))
		for i := range px {
			if k == 1 {
				px[i] = 4095 - px[i]
			}
		}
		in, out := filepath.Join(dir, fmt.Sprintf("f%d.pgm", k)), filepath.Join(dir, fmt.Sprintf("f%d.j2c", k))
		writePGM16(t, in, w, h, 4095, px)
		run(t, "ojph_compress", "-i", in, "-o", out, "-reversible", "true")
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		codes, srcs = append(codes, b), append(srcs, px)
	}
	split := func(b []byte) [][]byte { m := len(b) / 2 &^ 1; return [][]byte{b[:m], b[m:]} }
	tests := []struct {
		name string
		frag func([]byte) [][]byte
		bot  bool
	}{
		{"offset table", func(b []byte) [][]byte { return [][]byte{b} }, true},
		{"one fragment per frame", func(b []byte) [][]byte { return [][]byte{b} }, false},
		{"two fragments per frame, no table", split, false},
		{"two fragments per frame, offset table", split, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := j2kSynth(dicom.HTJ2KLossless, w, h, 1, 12, Monochrome2, codes...)
			s.bot = tt.bot
			s.fragments = nil
			for _, c := range codes {
				s.fragments = append(s.fragments, tt.frag(c))
			}
			im, err := openBytes(t, s.build(t))
			if err != nil {
				t.Fatal(err)
			}
			for k, fr := range allFrames(t, im) {
				want := make([]int, len(srcs[k]))
				for i, v := range srcs[k] {
					want[i] = int(v)
				}
				compareSamples(t, fmt.Sprintf("frame %d", k), frameInts(fr), want, 0)
			}
		})
	}
	t.Run("reduced resolution", func(t *testing.T) {
		im, err := openBytes(t, j2kSynth(dicom.HTJ2KLossless, w, h, 1, 12, Monochrome2, codes[0]).build(t))
		if err != nil {
			t.Fatal(err)
		}
		full, err := im.Frame(context.Background(), 0)
		if err != nil {
			t.Fatal(err)
		}
		small, err := im.FrameFit(context.Background(), 0, 16, 16)
		if err != nil {
			t.Fatal(err)
		}
		if small.Columns > 16 || small.Rows > 16 || small.Columns < 12 {
			t.Fatalf("FrameFit gave %dx%d for 16x16", small.Columns, small.Rows)
		}
		// The reduced decode is a low-pass image of the same picture: the means agree.
		mean := func(f *Frame) float64 {
			var s float64
			for i := 0; i < f.Len(); i++ {
				s += float64(f.Sample(i))
			}
			return s / float64(f.Len())
		}
		if d := mean(small) - mean(full); d > 60 || d < -60 {
			t.Errorf("reduced frame mean %.0f, full frame %.0f", mean(small), mean(full))
		}
	})
}

// TestHTJ2KCorruptCodestream: a damaged HTJ2K frame is a clear error, never a crash.
func TestHTJ2KCorruptCodestream(t *testing.T) {
	needTool(t, "ojph_compress")
	const w, h = 61, 47
	dir := t.TempDir()
	in, out := filepath.Join(dir, "g.pgm"), filepath.Join(dir, "g.j2c")
	writePGM16(t, in, w, h, 4095, testGray12(w, h, 3))
	run(t, "ojph_compress", "-i", in, "-o", out, "-reversible", "true")
	code, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	mutations := map[string][]byte{
		"truncated":   code[:len(code)/3],
		"header only": code[:40],
		"wrong width": func() []byte { b := bytes.Clone(code); binary.BigEndian.PutUint32(b[8:], w+2); return b }(),
		"garbage payload": func() []byte {
			b := bytes.Clone(code)
			copy(b[len(b)/2:], bytes.Repeat([]byte{0xFF}, len(b)/4))
			return b
		}(),
	}
	for name, b := range mutations {
		t.Run(name, func(t *testing.T) {
			im, err := openBytes(t, j2kSynth(dicom.HTJ2KLossless, w, h, 1, 12, Monochrome2, b).build(t))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := im.Frame(context.Background(), 0); err == nil {
				// OpenJPEG may decode a damaged payload to some picture; that is its right, as
				// long as nothing crashes and the geometry holds.
				if name != "garbage payload" {
					t.Fatal("damaged codestream decoded without error")
				}
			}
		})
	}
}
