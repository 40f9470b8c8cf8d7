package pixel

import (
	"bytes"
	"context"
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"pacsd/dicom"
	"pacsd/internal/cputime"
)

// Benchmarks. The large objects are generated in the benchmark's temporary directory (never
// committed): a 3000x3000 12-bit DR written with dicom.Encoder, then compressed by DCMTK
// (JPEG lossless SV1), GDCM (JPEG 2000 lossless) and OpenJPH (HTJ2K lossless); a 640x480 ultrasound RGB cine
// compressed by DCMTK to JPEG baseline YBR_FULL_422, as ultrasound machines send.
//
//	go test -run '^$' -bench . -benchmem ./dicom/pixel/

// writeDR writes a rows x cols 16-bit (12 stored) MONOCHROME2 image: a chest-like picture
// with mild noise so that lossless codecs have real work to do.
func writeDR(b *testing.B, path string, rows, cols int) {
	b.Helper()
	px := make([]byte, 2*rows*cols)
	seed := uint32(2463534242)
	for y := 0; y < rows; y++ {
		for x := 0; x < cols; x++ {
			v := 600 + 1200*y/rows
			dx, dy := (x-cols/2)*100/cols, (y-rows/2)*100/rows
			if dx*dx+dy*dy < 45*45 {
				v += 1400
			}
			if lx := (x - cols*3/10) * 100 / cols; lx*lx+dy*dy < 14*14 {
				v -= 900
			}
			seed ^= seed << 13
			seed ^= seed >> 17
			seed ^= seed << 5
			v += int(seed%33) - 16
			v = min(max(v, 0), 4095)
			px[2*(y*cols+x)], px[2*(y*cols+x)+1] = byte(v), byte(v>>8)
		}
	}
	s := synth{rows: rows, cols: cols, bitsAlloc: 16, bitsStored: 12, photometric: Monochrome2, window: "2048 4096", native: px}
	if err := os.WriteFile(path, s.build(b), 0o644); err != nil {
		b.Fatal(err)
	}
}

// writeUS writes a frames x 480 x 640 RGB 8-bit cine.
func writeUS(b *testing.B, path string, frames int) {
	b.Helper()
	const rows, cols = 480, 640
	px := make([]byte, 0, frames*rows*cols*3)
	for f := 0; f < frames; f++ {
		for y := 0; y < rows; y++ {
			for x := 0; x < cols; x++ {
				g := byte((x*y/64 + f*9) % 200)
				px = append(px, g, g, g)
				if (x-200-f*10)*(x-200-f*10)+(y-240)*(y-240) < 900 {
					px[len(px)-3], px[len(px)-2], px[len(px)-1] = 200, 30, 30
				}
			}
		}
	}
	s := synth{rows: rows, cols: cols, frames: frames, samples: 3, bitsAlloc: 8, bitsStored: 8, photometric: RGB, native: px}
	if err := os.WriteFile(path, s.build(b), 0o644); err != nil {
		b.Fatal(err)
	}
}

// measureCPU runs the benchmark loop body and reports CPU milliseconds per operation.
func measureCPU(b *testing.B, body func(i int)) {
	b.Helper()
	b.ResetTimer()
	start := cputime.Process()
	for i := 0; i < b.N; i++ {
		body(i)
	}
	b.StopTimer()
	b.ReportMetric(float64(cputime.Process()-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}

func benchTool(b *testing.B, name string, args ...string) {
	b.Helper()
	needTool(b, name)
	run(b, name, args...)
}

// thumbnail is the work of a thumbnail request: read the header, open, decode the frame
// (FrameFit: JPEG 2000 skips resolution levels), window it, fit it in 256x256 and encode it
// as JPEG.
func thumbnail(b *testing.B, data []byte, out io.Writer) {
	hdr, err := dicom.ReadPart10(bytes.NewReader(data), dicom.ReadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	im, err := Open(bytes.NewReader(data), int64(len(data)), hdr)
	if err != nil {
		b.Fatal(err)
	}
	f, err := im.FrameFit(context.Background(), 0, 256, 256)
	if err != nil {
		b.Fatal(err)
	}
	img, err := Render(f, im.Info(), RenderOptions{Width: 256, Height: 256})
	if err != nil {
		b.Fatal(err)
	}
	if err := EncodeJPEG(out, img, 85); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkDRThumbnail(b *testing.B) {
	benchDR(b, func(b *testing.B, data []byte) {
		var out bytes.Buffer
		measureCPU(b, func(int) {
			out.Reset()
			thumbnail(b, data, &out)
		})
	})
}

// BenchmarkDRDecode decodes the whole 3000x3000 frame (what a viewer caches).
func BenchmarkDRDecode(b *testing.B) {
	benchDR(b, func(b *testing.B, data []byte) {
		im, err := openBytes(b, data)
		if err != nil {
			b.Fatal(err)
		}
		measureCPU(b, func(int) {
			if _, err := im.Frame(context.Background(), 0); err != nil {
				b.Fatal(err)
			}
		})
	})
}

// benchDR runs fn as a sub-benchmark for the 3000x3000 DR in each syntax.
func benchDR(b *testing.B, fn func(b *testing.B, data []byte)) {
	dir := b.TempDir()
	native := filepath.Join(dir, "dr_native.dcm")
	writeDR(b, native, 3000, 3000)
	files := []struct{ name, path string }{{"native", native}}
	if _, err := os.Stat("/usr/bin/dcmcjpeg"); err == nil {
		p := filepath.Join(dir, "dr_jpeg_lossless_sv1.dcm")
		benchTool(b, "dcmcjpeg", "+e1", native, p)
		files = append(files, struct{ name, path string }{"jpeg_lossless_sv1", p})
	}
	if _, err := os.Stat("/usr/bin/gdcmconv"); err == nil {
		p := filepath.Join(dir, "dr_j2k_lossless.dcm")
		benchTool(b, "gdcmconv", "--j2k", native, p)
		files = append(files, struct{ name, path string }{"j2k_lossless", p})
	}
	if _, err := os.Stat("/usr/bin/ojph_compress"); err == nil {
		p := filepath.Join(dir, "dr_htj2k_lossless.dcm")
		writeHTJ2K(b, native, p)
		files = append(files, struct{ name, path string }{"htj2k_lossless", p})
	}
	for _, f := range files {
		data, err := os.ReadFile(f.path)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(f.name, func(b *testing.B) {
			b.SetBytes(3000 * 3000 * 2)
			fn(b, data)
		})
	}
}

// BenchmarkDRWindow is window/level dragging in a viewer: the frame is decoded and cached
// once; each step renders it to 1024 px with a new window.
func BenchmarkDRWindow(b *testing.B) {
	path := filepath.Join(b.TempDir(), "dr.dcm")
	writeDR(b, path, 3000, 3000)
	data, _ := os.ReadFile(path)
	im, err := openBytes(b, data)
	if err != nil {
		b.Fatal(err)
	}
	f, err := im.Frame(context.Background(), 0)
	if err != nil {
		b.Fatal(err)
	}
	measureCPU(b, func(i int) {
		w := Window{Center: float64(1500 + i%1000), Width: float64(2000 + i%500)}
		if _, err := Render(f, im.Info(), RenderOptions{Window: &w, Width: 1024, Height: 1024}); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkUSCineFrame decodes and renders one 640x480 frame of a JPEG baseline YBR cine.
func BenchmarkUSCineFrame(b *testing.B) {
	needTool(b, "dcmcjpeg")
	dir := b.TempDir()
	native := filepath.Join(dir, "us.dcm")
	writeUS(b, native, 10)
	jpg := filepath.Join(dir, "us_jpeg.dcm")
	benchTool(b, "dcmcjpeg", "+eb", native, jpg)
	data, _ := os.ReadFile(jpg)
	im, err := openBytes(b, data)
	if err != nil {
		b.Fatal(err)
	}
	if p := im.Info().Photometric; p != YBRFull422 {
		b.Fatalf("dcmcjpeg wrote %s, want YBR_FULL_422", p)
	}
	measureCPU(b, func(i int) {
		f, err := im.Frame(context.Background(), i%im.NumFrames())
		if err != nil {
			b.Fatal(err)
		}
		img, err := Render(f, im.Info(), RenderOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if i == 0 {
			if c := color.NRGBAModel.Convert(img.At(0, 0)).(color.NRGBA); c.A != 255 {
				b.Fatalf("unexpected pixel %v", c)
			}
		}
	})
}

// BenchmarkTranscodeJPEGLossless transcodes the JPEG lossless DR to Explicit VR Little
// Endian (WADO-RS to a client that accepts only uncompressed).
func BenchmarkTranscodeJPEGLossless(b *testing.B) {
	needTool(b, "dcmcjpeg")
	dir := b.TempDir()
	native := filepath.Join(dir, "dr.dcm")
	writeDR(b, native, 3000, 3000)
	p := filepath.Join(dir, "dr_jpeg.dcm")
	benchTool(b, "dcmcjpeg", "+e1", native, p)
	data, _ := os.ReadFile(p)
	hdr, err := dicom.ReadPart10(bytes.NewReader(data), dicom.ReadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(3000 * 3000 * 2)
	measureCPU(b, func(int) {
		if err := TranscodeExplicitLE(context.Background(), io.Discard, bytes.NewReader(data), int64(len(data)), hdr); err != nil {
			b.Fatal(fmt.Errorf("transcode: %w", err))
		}
	})
}

// writeHTJ2K writes the greyscale native object at src as High-Throughput JPEG 2000
// (lossless), compressed by OpenJPH's ojph_compress.
func writeHTJ2K(b *testing.B, src, dst string) {
	b.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		b.Fatal(err)
	}
	im, err := openBytes(b, data)
	if err != nil {
		b.Fatal(err)
	}
	f, err := im.Frame(context.Background(), 0)
	if err != nil {
		b.Fatal(err)
	}
	in := im.Info()
	pgm, cs := dst+".pgm", dst+".j2c"
	writePGM16(b, pgm, in.Columns, in.Rows, 1<<in.BitsStored-1, f.Data16)
	benchTool(b, "ojph_compress", "-i", pgm, "-o", cs, "-reversible", "true")
	code, err := os.ReadFile(cs)
	if err != nil {
		b.Fatal(err)
	}
	obj := j2kSynth(dicom.HTJ2KLossless, in.Columns, in.Rows, 1, in.BitsStored, Monochrome2, code)
	obj.window = "2048 4096"
	if err := os.WriteFile(dst, obj.build(b), 0o644); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkDRFullSize is a full-size rendered image of a 3000x2500 DR, step by step: the
// native frame decoded (read, stored bits isolated), windowed through the lookup table, and
// encoded as JPEG at the default quality.
func BenchmarkDRFullSize(b *testing.B) {
	path := filepath.Join(b.TempDir(), "dr.dcm")
	writeDR(b, path, 2500, 3000)
	data, _ := os.ReadFile(path)
	im, err := openBytes(b, data)
	if err != nil {
		b.Fatal(err)
	}
	f, err := im.Frame(context.Background(), 0)
	if err != nil {
		b.Fatal(err)
	}
	img, err := Render(f, im.Info(), RenderOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Decode", func(b *testing.B) {
		measureCPU(b, func(int) {
			if _, err := im.Frame(context.Background(), 0); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("Window", func(b *testing.B) {
		measureCPU(b, func(i int) {
			w := Window{Center: float64(1500 + i%1000), Width: float64(2000 + i%500)}
			if _, err := Render(f, im.Info(), RenderOptions{Window: &w}); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("EncodeJPEG", func(b *testing.B) {
		var out bytes.Buffer
		measureCPU(b, func(int) {
			out.Reset()
			if err := EncodeJPEG(&out, img, 0); err != nil {
				b.Fatal(err)
			}
		})
		b.ReportMetric(float64(out.Len()), "bytes")
	})
}
