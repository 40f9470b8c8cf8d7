package pixel

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"pacsd/dicom"
)

// Fuzz targets: every decoder entry point and the whole path from Part-10 bytes to pixels.
// They are seeded with the committed test objects and their frames. The property is that
// nothing panics and nothing allocates beyond what the (bounded) header allows; errors are
// expected. Frames are limited to 4 MiB here so that a fuzzed header asking for the 1 GiB
// maximum cannot exhaust the fuzz workers.

const fuzzFrameLimit = 4 << 20

func limitFrames(tb testing.TB) {
	old := frameLimit
	frameLimit = fuzzFrameLimit
	tb.Cleanup(func() { frameLimit = old })
}

// seedFrames adds frame 0 of every test file in one of the given transfer syntaxes, with its
// geometry.
func seedFrames(f *testing.F, syntaxes ...string) {
	dir := filepath.Join(repoRoot(f), "testdata")
	paths, _ := filepath.Glob(filepath.Join(dir, "*.dcm"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		hdr, err := dicom.ReadPart10(bytes.NewReader(b), dicom.ReadOptions{})
		if err != nil || hdr.PixelDataOffset < 0 {
			continue
		}
		match := false
		for _, s := range syntaxes {
			match = match || hdr.TransferSyntax == s
		}
		if !match {
			continue
		}
		im, err := Open(bytes.NewReader(b), int64(len(b)), hdr)
		if err != nil {
			f.Fatal(err)
		}
		raw, err := im.RawFrame(context.Background(), 0)
		if err != nil {
			f.Fatal(err)
		}
		in := im.Info()
		f.Add(raw, uint16(in.Columns), uint16(in.Rows), in.SamplesPerPixel == 3, in.BitsAllocated == 16, in.Photometric == YBRFull422)
	}
}

// fuzzDecode runs one codec on fuzzed bytes with a fuzzed (small) geometry.
func fuzzDecode(t *testing.T, ts string, data []byte, w, h uint16, colour, wide, ybr bool) {
	in := Info{Columns: int(w%512) + 1, Rows: int(h%512) + 1, SamplesPerPixel: 1, BitsAllocated: 8, BitsStored: 8, Photometric: Monochrome2}
	if colour {
		in.SamplesPerPixel, in.Photometric = 3, RGB
		if ybr {
			in.Photometric = YBRFull422
		}
	}
	if wide {
		in.BitsAllocated, in.BitsStored = 16, 16
	}
	in.HighBit = in.BitsStored - 1
	f, err := decodeCodestream(ts, in, data)
	if err != nil {
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) {
			t.Fatalf("error wraps neither ErrCorrupt nor ErrUnsupported: %v", err)
		}
		return
	}
	if f.Len() != in.frameSamples() || (len(f.Data8) != f.Len() && len(f.Data16) != f.Len()) {
		t.Fatalf("decoded %d samples into buffers of %d/%d, want %d", f.Len(), len(f.Data8), len(f.Data16), in.frameSamples())
	}
	if _, err := Render(f, in, RenderOptions{Width: 64, Height: 64}); err != nil {
		t.Fatalf("render a decoded frame: %v", err)
	}
}

func FuzzDecodeJPEG(f *testing.F) {
	seedFrames(f, dicom.JPEGBaseline8Bit, dicom.JPEGExtended12Bit, dicom.JPEGLossless, dicom.JPEGLosslessSV1,
		dicom.JPEGSpectralSelectionNonHierarchical68, dicom.JPEGFullProgressionNonHierarchical1012)
	f.Fuzz(func(t *testing.T, data []byte, w, h uint16, colour, wide, ybr bool) {
		fuzzDecode(t, dicom.JPEGLossless, data, w, h, colour, wide, ybr)
	})
}

func FuzzDecodeRLE(f *testing.F) {
	seedFrames(f, dicom.RLELossless)
	f.Add(rleEncode([]uint16{1, 2, 3, 4, 5, 6}, 3, 1), uint16(2), uint16(1), true, false, false)
	f.Fuzz(func(t *testing.T, data []byte, w, h uint16, colour, wide, ybr bool) {
		fuzzDecode(t, dicom.RLELossless, data, w, h, colour, wide, ybr)
	})
}

func FuzzDecodeJPEGLS(f *testing.F) {
	seedFrames(f, dicom.JPEGLSLossless, dicom.JPEGLSNearLossless)
	f.Fuzz(func(t *testing.T, data []byte, w, h uint16, colour, wide, ybr bool) {
		fuzzDecode(t, dicom.JPEGLSLossless, data, w, h, colour, wide, ybr)
	})
}

func FuzzDecodeJ2K(f *testing.F) {
	seedFrames(f, dicom.JPEG2000Lossless, dicom.JPEG2000)
	f.Fuzz(func(t *testing.T, data []byte, w, h uint16, colour, wide, ybr bool) {
		fuzzDecode(t, dicom.JPEG2000, data, w, h, colour, wide, ybr)
	})
}

// FuzzOpen runs the whole pipeline on a Part-10 object: header, Open, every frame (up to
// four), render, transcode.
func FuzzOpen(f *testing.F) {
	dir := filepath.Join(repoRoot(f), "testdata")
	paths, _ := filepath.Glob(filepath.Join(dir, "*.dcm"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		limitFrames(t)
		hdr, err := dicom.ReadPart10(bytes.NewReader(b), dicom.ReadOptions{})
		if err != nil {
			return
		}
		im, err := Open(bytes.NewReader(b), int64(len(b)), hdr)
		if err != nil {
			return
		}
		ctx := context.Background()
		for i := 0; i < min(im.NumFrames(), 4); i++ {
			fr, err := im.Frame(ctx, i)
			if err != nil {
				continue
			}
			if _, err := Render(fr, im.Info(), RenderOptions{Width: 32, Height: 32}); err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("render frame %d: %v", i, err)
			}
		}
		if im.NumFrames() <= 4 {
			_ = TranscodeExplicitLE(ctx, discard{}, bytes.NewReader(b), int64(len(b)), hdr)
		}
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
