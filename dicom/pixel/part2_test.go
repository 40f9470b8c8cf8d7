package pixel

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"pacsd/dicom"
	"pacsd/internal/peertest"
)

// TestJ2KPart2 covers JPEG 2000 Part 2 Multi-component Image Compression (.92 lossless, .93).
// opj_compress writes no Part 2 multiple component transform from its command line, so:
// Part 1 codestreams (a subset of Part 2) labelled .92/.93 must decode like .90/.91, and a
// real Part 2 codestream with an array-based transform, written by OpenJPEG's encoder API
// through testdata/j2kpart2/mct_encode.c, must be refused as unsupported (OpenJPEG 2.5
// cannot decode it), not reported as damaged data.
func TestJ2KPart2(t *testing.T) {
	needTool(t, "opj_compress", "opj_decompress")
	const w, h = 61, 47
	dir := t.TempDir()
	gray := testGray12(w, h, 5)
	rgb := testRGB8(w, h)
	grayPath, rgbPath := filepath.Join(dir, "gray.pgm"), filepath.Join(dir, "rgb.ppm")
	writePGM16(t, grayPath, w, h, 4095, gray)
	writePPM8(t, rgbPath, w, h, rgb)
	graySrc, rgbSrc := make([]int, len(gray)), make([]int, len(rgb))
	for i, v := range gray {
		graySrc[i] = int(v)
	}
	for i, v := range rgb {
		rgbSrc[i] = int(v)
	}

	tests := []struct {
		name        string
		in          string
		ts          string
		args        []string
		photometric string
		samples     int
		bits        int
		src         []int
	}{
		{"gray12 reversible as .92", grayPath, dicom.JPEG2000MCLossless, nil, Monochrome2, 1, 12, graySrc},
		{"rgb reversible RCT as .92", rgbPath, dicom.JPEG2000MCLossless, nil, YBRRCT, 3, 8, rgbSrc},
		{"gray12 irreversible as .93", grayPath, dicom.JPEG2000MC, []string{"-I", "-r", "20"}, Monochrome2, 1, 12, nil},
		{"rgb irreversible ICT as .93", rgbPath, dicom.JPEG2000MC, []string{"-I", "-r", "20"}, YBRICT, 3, 8, nil},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := filepath.Join(dir, "p1_"+string(rune('a'+i))+".j2k")
			run(t, "opj_compress", append([]string{"-i", tt.in, "-o", cs, "-n", "4"}, tt.args...)...)
			code, err := os.ReadFile(cs)
			if err != nil {
				t.Fatal(err)
			}
			im, err := openBytes(t, j2kSynth(tt.ts, w, h, tt.samples, tt.bits, tt.photometric, code).build(t))
			if err != nil {
				t.Fatal(err)
			}
			fr, err := im.Frame(context.Background(), 0)
			if err != nil {
				t.Fatal(err)
			}
			got := frameInts(fr)
			if tt.src != nil {
				compareSamples(t, "decoded vs source", got, tt.src, 0)
				return
			}
			// Lossy: the reference decoder (OpenJPEG's own tool) gives the same samples.
			out := filepath.Join(dir, "p1_"+string(rune('a'+i))+map[int]string{1: ".pgm", 3: ".ppm"}[tt.samples])
			run(t, "opj_decompress", "-i", cs, "-o", out)
			ref, err := readPNM(out)
			if err != nil {
				t.Fatal(err)
			}
			compareSamples(t, "decoded vs opj_decompress", got, ref.data, 0)
		})
	}

	t.Run("array-based multiple component transform", func(t *testing.T) {
		needTool(t, "cc", "pkg-config")
		flags, err := exec.Command("pkg-config", "--cflags", "--libs", "libopenjp2").Output()
		if err != nil {
			peertest.Missing(t, "pkg-config libopenjp2 (OpenJPEG's -dev package): %v", err)
		}
		enc := filepath.Join(dir, "mct_encode")
		src := filepath.Join(repoRoot(t), "dicom", "pixel", "testdata", "j2kpart2", "mct_encode.c")
		run(t, "cc", append([]string{"-O1", "-o", enc, src}, strings.Fields(string(flags))...)...)
		for _, mode := range []struct{ name, ts, photometric string }{
			{"lossless", dicom.JPEG2000MCLossless, RGB},
			{"lossy", dicom.JPEG2000MC, RGB},
		} {
			cs := filepath.Join(dir, "p2_"+mode.name+".j2k")
			run(t, enc, rgbPath, cs, mode.name)
			code, err := os.ReadFile(cs)
			if err != nil {
				t.Fatal(err)
			}
			// The test means something only if this is a Part 2 codestream: Rsiz (the SIZ
			// capabilities, after SOC, SIZ and Lsiz) has the Part 2 bit.
			if len(code) < 8 || binary.BigEndian.Uint16(code[6:])&0x8000 == 0 {
				t.Fatalf("%s: mct_encode did not write a Part 2 codestream", mode.name)
			}
			if err := exec.Command("opj_decompress", "-i", cs, "-o", filepath.Join(dir, "p2.ppm")).Run(); err == nil {
				t.Logf("%s: this OpenJPEG's opj_decompress decodes Part 2 array transforms now; pacsd could too", mode.name)
			}
			im, err := openBytes(t, j2kSynth(mode.ts, w, h, 3, 8, mode.photometric, code).build(t))
			if err != nil {
				t.Fatal(err)
			}
			_, err = im.Frame(context.Background(), 0)
			if !errors.Is(err, ErrUnsupported) || errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "Part 2") {
				t.Fatalf("%s: Frame = %v, want ErrUnsupported naming the Part 2 transform", mode.name, err)
			}
			if _, err := im.FrameFit(context.Background(), 0, 16, 16); !errors.Is(err, ErrUnsupported) {
				t.Fatalf("%s: FrameFit = %v, want ErrUnsupported", mode.name, err)
			}
			// The same codestream in a JP2 container (signature, file type and codestream
			// boxes, ISO/IEC 15444-1 Annex I), as some writers store it.
			jp2 := []byte{0, 0, 0, 12, 'j', 'P', ' ', ' ', 0x0D, 0x0A, 0x87, 0x0A,
				0, 0, 0, 20, 'f', 't', 'y', 'p', 'j', 'p', 'x', ' ', 0, 0, 0, 0, 'j', 'p', 'x', ' '}
			jp2 = binary.BigEndian.AppendUint32(jp2, uint32(8+len(code)))
			jp2 = append(append(jp2, "jp2c"...), code...)
			im, err = openBytes(t, j2kSynth(mode.ts, w, h, 3, 8, mode.photometric, jp2).build(t))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := im.Frame(context.Background(), 0); !errors.Is(err, ErrUnsupported) {
				t.Fatalf("%s in JP2: Frame = %v, want ErrUnsupported", mode.name, err)
			}
		}
	})
}

// TestJ2KPart2FramesAsComponents: one Part 2 codestream for several frames (frames coded as
// components, which Part 2 allows) is refused as unsupported when frames are located, not
// mistaken for damage.
func TestJ2KPart2FramesAsComponents(t *testing.T) {
	s := synth{ts: dicom.JPEG2000MCLossless, rows: 4, cols: 4, frames: 3, bitsAlloc: 8, bitsStored: 8,
		photometric: Monochrome2, fragments: [][][]byte{{{0xFF, 0x4F, 0xFF, 0x51, 0, 0}}}}
	if _, err := openBytes(t, s.build(t)); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("Open = %v, want ErrUnsupported", err)
	}
	s.ts = dicom.JPEG2000Lossless // the same in Part 1 is damage
	if _, err := openBytes(t, s.build(t)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Part 1: Open = %v, want ErrCorrupt", err)
	}
}
