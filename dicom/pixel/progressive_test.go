package pixel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pacsd/dicom"
	ijpeg "pacsd/dicom/pixel/internal/jpeg"
	"pacsd/dicom/pixel/internal/raster"
)

// The retired progressive JPEG processes (PS3.5 A.4.1): spectral selection (.53, processes
// 6 and 8) and full progression (.55, processes 10 and 12). TestReferenceDCMTK covers the
// committed files like every other test image; the tests here hold them to more: exactly
// DCMTK's samples, the same render and thumbnail as the decompressed object, and an
// independent encoder's variants DCMTK does not write.

// dctJPEG lists the lossy JPEG syntaxes our DCT decoder reads.
var dctJPEG = map[string]bool{
	dicom.JPEGBaseline8Bit:                       true,
	dicom.JPEGExtended12Bit:                      true,
	dicom.JPEGSpectralSelectionNonHierarchical68: true,
	dicom.JPEGFullProgressionNonHierarchical1012: true,
}

// TestJPEGDCTMatchesDcmdjpeg: every lossy JPEG test object, the progressive ones included,
// decodes to exactly the samples DCMTK's dcmdjpeg writes into Explicit VR Little Endian,
// renders to the same image as that decompressed copy, and gives the same thumbnail.
func TestJPEGDCTMatchesDcmdjpeg(t *testing.T) {
	needTool(t, "dcmdjpeg")
	seen := map[string]bool{}
	for _, rf := range testImages(t) {
		if !dctJPEG[rf.hdr.TransferSyntax] {
			continue
		}
		seen[rf.hdr.TransferSyntax] = true
		t.Run(strings.TrimSuffix(rf.name, ".dcm"), func(t *testing.T) {
			native := filepath.Join(t.TempDir(), "native.dcm")
			run(t, "dcmdjpeg", "+te", rf.path, native)
			ref, refHdr := openPath(t, native)
			if refHdr.TransferSyntax != dicom.ExplicitVRLittleEndian {
				t.Fatalf("dcmdjpeg wrote %s", refHdr.TransferSyntax)
			}
			ours, theirs := allFrames(t, rf.im), allFrames(t, ref)
			if len(ours) != len(theirs) {
				t.Fatalf("%d frames, dcmdjpeg %d", len(ours), len(theirs))
			}
			worst := 0
			for i, f := range ours {
				g := theirs[i]
				if f.Len() != g.Len() || f.Photometric != g.Photometric {
					t.Fatalf("frame %d: %d samples %s, dcmdjpeg %d %s", i, f.Len(), f.Photometric, g.Len(), g.Photometric)
				}
				for k := 0; k < f.Len(); k++ {
					worst = max(worst, absInt(f.Sample(k)-g.Sample(k)))
				}
			}
			t.Logf("%s: max |ours - dcmdjpeg| = %d over %d frame(s)", rf.hdr.TransferSyntax, worst, len(ours))
			if worst != 0 {
				t.Errorf("decoded samples differ from dcmdjpeg's by up to %d", worst)
			}

			// The render and the thumbnail (FrameFit of the middle frame, rendered and
			// encoded as the thumbnail service does) equal those of the decompressed copy.
			mid := rf.im.NumFrames() / 2
			for _, size := range []int{0, 64} {
				a := renderFit(t, rf.im, mid, size)
				b := renderFit(t, ref, mid, size)
				if !bytes.Equal(a, b) {
					t.Errorf("render at size %d differs from the decompressed object's", size)
				}
			}
			var thumb bytes.Buffer
			fr, err := rf.im.FrameFit(context.Background(), mid, 64, 64)
			if err != nil {
				t.Fatal(err)
			}
			img, err := Render(fr, rf.im.Info(), RenderOptions{Width: 64, Height: 64})
			if err != nil {
				t.Fatal(err)
			}
			if err := EncodeJPEG(&thumb, img, 85); err != nil {
				t.Fatal(err)
			}
			cfg, err := jpeg.DecodeConfig(&thumb)
			if err != nil || max(cfg.Width, cfg.Height) != 64 {
				t.Fatalf("thumbnail %dx%d: %v", cfg.Width, cfg.Height, err)
			}
		})
	}
	for _, ts := range []string{dicom.JPEGSpectralSelectionNonHierarchical68, dicom.JPEGFullProgressionNonHierarchical1012} {
		if !seen[ts] {
			t.Errorf("no test object in %s (testdata/make.sh makes them)", ts)
		}
	}
}

// renderFit renders frame i fitted to size x size (0: full size) and returns its pixels.
func renderFit(t *testing.T, im *Image, i, size int) []byte {
	t.Helper()
	var f *Frame
	var err error
	if size > 0 {
		f, err = im.FrameFit(context.Background(), i, size, size)
	} else {
		f, err = im.Frame(context.Background(), i)
	}
	if err != nil {
		t.Fatal(err)
	}
	img, err := Render(f, im.Info(), RenderOptions{Width: size, Height: size})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := EncodePNG(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestJPEGProgressiveLibjpeg decodes progressive streams from a second, independent
// encoder (libjpeg-turbo's cjpeg, Debian libjpeg-turbo-progs) in variants dcmcjpeg does not
// write: restart intervals (per block and per MCU row), 4:2:0 and 4:4:4 colour,
// sizes that leave partial MCUs, DC scans per component, and scan scripts with several
// successive approximation steps. Each must decode to exactly what libjpeg-turbo's djpeg
// returns (same integer IDCT, upsampling and colour conversion).
func TestJPEGProgressiveLibjpeg(t *testing.T) {
	needTool(t, "cjpeg", "djpeg")
	// Scan scripts (cjpeg -scans): components: Ss-Se, Ah, Al;
	scripts := map[string]string{
		"deep_successive_approximation": `0,1,2: 0-0, 0, 3; 0: 1-63, 0, 4; 1: 1-63, 0, 2; 2: 1-63, 0, 2;
0,1,2: 0-0, 3, 2; 0: 1-63, 4, 3; 0: 1-63, 3, 2; 0,1,2: 0-0, 2, 1; 0,1,2: 0-0, 1, 0;
1: 1-63, 2, 1; 2: 1-63, 2, 1; 1: 1-63, 1, 0; 2: 1-63, 1, 0; 0: 1-63, 2, 1; 0: 1-63, 1, 0;`,
		"dc_per_component_bands": `0: 0-0, 0, 0; 1: 0-0, 0, 0; 2: 0-0, 0, 0; 0: 1-1, 0, 0; 0: 2-9, 0, 1;
1: 1-63, 0, 0; 0: 10-63, 0, 0; 2: 1-63, 0, 0; 0: 2-9, 1, 0;`,
		"spectral_selection_only": `0,1,2: 0-0, 0, 0; 0: 1-1, 0, 0; 0: 2-2, 0, 0; 0: 3-20, 0, 0; 0: 21-63, 0, 0;
1: 1-63, 0, 0; 2: 1-63, 0, 0;`,
	}
	grey := func(s string) string { // the same script for a one-component image
		var out []string
		for _, scan := range strings.Split(s, ";") {
			scan = strings.TrimSpace(scan)
			if scan == "" {
				continue
			}
			comps, rest, _ := strings.Cut(scan, ":")
			if !strings.Contains(comps, "0") {
				continue
			}
			out = append(out, "0:"+rest+";")
		}
		return strings.Join(out, "\n")
	}
	type tc struct {
		w, h    int
		colour  bool
		sample  string // cjpeg -sample
		restart string // cjpeg -restart: MCU rows, or blocks with B
		script  string // key of scripts; "" for cjpeg's default progression
	}
	var cases []tc
	for _, size := range [][2]int{{70, 45}, {33, 17}, {8, 8}} {
		for _, colour := range []bool{false, true} {
			samples := []string{""}
			if colour {
				samples = []string{"2x2", "1x1", "2x1"}
			}
			for _, smp := range samples {
				for _, rst := range []string{"", "1B", "1", "3B"} {
					for _, sc := range []string{"", "deep_successive_approximation", "dc_per_component_bands", "spectral_selection_only"} {
						cases = append(cases, tc{w: size[0], h: size[1], colour: colour, sample: smp, restart: rst, script: sc})
					}
				}
			}
		}
	}
	dir := t.TempDir()
	for _, c := range cases {
		name := fmt.Sprintf("%dx%d_%s_%s_rst%s_%s", c.w, c.h, map[bool]string{false: "grey", true: "colour"}[c.colour], c.sample, c.restart, c.script)
		t.Run(name, func(t *testing.T) {
			in := filepath.Join(dir, name+".pnm")
			if err := os.WriteFile(in, testPNM(c.w, c.h, c.colour), 0o644); err != nil {
				t.Fatal(err)
			}
			args := []string{"-quality", "85", "-progressive"}
			if c.sample != "" {
				args = append(args, "-sample", c.sample)
			}
			if c.restart != "" {
				args = append(args, "-restart", c.restart)
			}
			if c.script != "" {
				s := scripts[c.script]
				if !c.colour {
					s = grey(s)
				}
				file := filepath.Join(dir, name+".scans")
				if err := os.WriteFile(file, []byte(s), 0o644); err != nil {
					t.Fatal(err)
				}
				args = append(args, "-scans", file)
			}
			stream := filepath.Join(dir, name+".jpg")
			run(t, "cjpeg", append(args, "-outfile", stream, in)...)
			out := filepath.Join(dir, name+".out.pnm")
			run(t, "djpeg", "-pnm", "-outfile", out, stream)
			ref, err := readPNM(out)
			if err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(stream)
			if err != nil {
				t.Fatal(err)
			}
			nc := 1
			if c.colour {
				nc = 3
			}
			buf := raster.New(c.w, c.h, nc, 8)
			info, err := ijpeg.Decode(data, buf, ijpeg.Options{ConvertYCbCr: c.colour})
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if info.Process != 2 || info.Precision != 8 {
				t.Fatalf("decoded process %d precision %d", info.Process, info.Precision)
			}
			if ref.w != c.w || ref.h != c.h || ref.channels != nc {
				t.Fatalf("djpeg wrote %dx%dx%d", ref.w, ref.h, ref.channels)
			}
			for i, want := range ref.data {
				if got := int(buf.Pix8[i]); got != want {
					t.Fatalf("sample %d (x %d, y %d) = %d, djpeg %d", i, i/nc%c.w, i/nc/c.w, got, want)
				}
			}

			// Cut before its last scan (whatever tables precede it), the stream holds a
			// coarser image than it promises: an error, not that image. Without its EOI
			// it is still the whole image.
			last := bytes.LastIndex(data, []byte{0xFF, 0xDA})
			if _, err := ijpeg.Decode(data[:last], raster.New(c.w, c.h, nc, 8), ijpeg.Options{ConvertYCbCr: c.colour}); !errors.Is(err, ijpeg.ErrCorrupt) {
				t.Errorf("cut before the last scan: %v, want ErrCorrupt", err)
			}
			noEOI := raster.New(c.w, c.h, nc, 8)
			if _, err := ijpeg.Decode(data[:len(data)-2], noEOI, ijpeg.Options{ConvertYCbCr: c.colour}); err != nil || !bytes.Equal(noEOI.Pix8, buf.Pix8) {
				t.Errorf("without EOI: %v, same samples %v", err, bytes.Equal(noEOI.Pix8, buf.Pix8))
			}
		})
	}
}

// testPNM is a binary PGM/PPM with gradients, edges and a checkerboard, so that every band
// of coefficients carries something.
func testPNM(w, h int, colour bool) []byte {
	nc, magic := 1, "P5"
	if colour {
		nc, magic = 3, "P6"
	}
	b := []byte(fmt.Sprintf("%s\n%d %d\n255\n", magic, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			for c := 0; c < nc; c++ {
				v := (x*255/w + y*(3+c)) % 256
				if (x/3+y/3)%2 == 0 {
					v = 255 - v
				}
				if x > w/2 && y > h/2 {
					v = (v * (c + 1) * 37) % 256
				}
				b = append(b, byte(v))
			}
		}
	}
	return b
}

// TestJPEGProgressiveScanOrder: scans that break T.81 G.1.1.1 (AC before DC, a refinement
// of bits never coded, a band mixing DC and AC, more than one bit refined) are corrupt.
func TestJPEGProgressiveScanOrder(t *testing.T) {
	rf := openTestFile(t, "ts_jpeg_progressive_8.dcm")
	raw, err := rf.RawFrame(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	info := rf.Info()
	// The scans of dcmcjpeg +ep on a grey image: DC 0/1, AC 1-5 0/2, AC 6-63 0/2,
	// AC 1-63 2/1, DC 1/0, AC 1-63 1/0 (Ss, Se, Ah/Al; T.81 B.2.3).
	cases := []struct {
		name         string
		scan         int
		ss, se, ahal byte
	}{
		{"ac_before_dc", 0, 1, 1, 0x00},
		{"refines_uncoded_bits", 1, 1, 5, 0x10},
		{"dc_and_ac_in_one_scan", 0, 0, 5, 0x01},
		{"refines_two_bits", 3, 1, 63, 0x31},
		{"band_past_63", 2, 6, 64, 0x02},
		{"band_reversed", 2, 9, 6, 0x02},
		{"point_transform_14", 0, 0, 0, 0x0E},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bad := append([]byte(nil), raw...)
			at := nthSOS(t, bad, c.scan)
			// SOS: FF DA, length, Ns=1, Cs1 Td/Ta, Ss, Se, Ah/Al.
			if bad[at+4] != 1 {
				t.Fatalf("scan %d has %d components", c.scan, bad[at+4])
			}
			bad[at+7], bad[at+8], bad[at+9] = c.ss, c.se, c.ahal
			_, err := decodeCodestream(dicom.JPEGFullProgressionNonHierarchical1012, info, bad)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decode = %v, want ErrCorrupt", err)
			}
		})
	}
	if _, err := decodeCodestream(dicom.JPEGFullProgressionNonHierarchical1012, info, raw); err != nil {
		t.Fatalf("the unaltered frame: %v", err)
	}
}

func openTestFile(t *testing.T, name string) *Image {
	t.Helper()
	im, _ := openPath(t, filepath.Join(repoRoot(t), "testdata", name))
	return im
}

// nthSOS returns the offset of the n-th (0-based) SOS marker. Entropy-coded data never
// holds FF DA (T.81 B.1.1.5 stuffs every FF), and header values of this stream do not.
func nthSOS(t *testing.T, b []byte, n int) int {
	t.Helper()
	off := 0
	for i := 0; ; i++ {
		k := bytes.Index(b[off:], []byte{0xFF, 0xDA})
		if k < 0 {
			t.Fatalf("no scan %d", n)
		}
		if i == n {
			return off + k
		}
		off += k + 2
	}
}

// TestJPEGProgressiveUndecodedSiblings: the arithmetic-coded and hierarchical retired JPEG
// syntaxes are accepted for storage but not decoded.
func TestJPEGProgressiveUndecodedSiblings(t *testing.T) {
	for _, ts := range []string{dicom.JPEGSpectralSelectionNonHierarchical68, dicom.JPEGFullProgressionNonHierarchical1012} {
		if !Decodes(ts) {
			t.Errorf("%s not decodable", ts)
		}
	}
	for _, ts := range []string{dicom.JPEGExtended35, dicom.JPEGSpectralSelectionNonHierarchical79, dicom.JPEGFullProgressionNonHierarchical1113,
		dicom.JPEGLosslessNonHierarchical15, dicom.JPEGFullProgressionHierarchical2426, dicom.JPEGLosslessHierarchical29} {
		if Decodes(ts) {
			t.Errorf("%s (arithmetic or hierarchical) claimed decodable", ts)
		}
	}
	// An arithmetic-coded progressive frame header (SOF10) in a decodable syntax is
	// unsupported, not corrupt.
	sof10 := []byte{0xFF, 0xD8, 0xFF, 0xCA, 0, 11, 8, 0, 8, 0, 8, 1, 1, 0x11, 0, 0xFF, 0xD9}
	_, err := decodeCodestream(dicom.JPEGFullProgressionNonHierarchical1012, Info{Columns: 8, Rows: 8, SamplesPerPixel: 1, BitsAllocated: 8, BitsStored: 8, HighBit: 7, Photometric: Monochrome2}, sof10)
	if !errors.Is(err, ErrUnsupported) {
		t.Errorf("SOF10: %v, want ErrUnsupported", err)
	}
}
