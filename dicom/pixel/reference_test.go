package pixel

import (
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pacsd/dicom"
)

// The reference test: every image in testdata/ decodes to the samples DCMTK decodes
// (GDCM for JPEG 2000, which DCMTK does not read), exactly for lossless syntaxes and within
// one grey level after windowing for lossy ones, and renders to what DCMTK renders with the
// same window, within one level on average.

type refFile struct {
	name string
	path string
	im   *Image
	hdr  *dicom.Header
}

func testImages(t *testing.T) []refFile {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "testdata")
	paths, err := filepath.Glob(filepath.Join(dir, "*.dcm"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no test files in %s: %v", dir, err)
	}
	var out []refFile
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		hdr, err := dicom.ReadPart10(f, dicom.ReadOptions{})
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if hdr.PixelDataOffset < 0 {
			continue // SR, encapsulated PDF
		}
		im, _ := openPath(t, p)
		out = append(out, refFile{name: filepath.Base(p), path: p, im: im, hdr: hdr})
	}
	return out
}

// displayWindow is the window both sides render with: the file's first, else the full
// stored range (for 8-bit images) or min-max.
func dcmtkWindowArgs(info Info, f *Frame) ([]string, *Window) {
	if len(info.Windows) > 0 {
		w := info.Windows[0]
		return []string{"+Ww", fmtF(w.Center), fmtF(w.Width)}, &w
	}
	if fullRange(f, info) {
		return []string{"-W"}, nil
	}
	return []string{"+Wm"}, nil
}

func fmtF(v float64) string { return fmt.Sprintf("%g", v) }

func TestReferenceDCMTK(t *testing.T) {
	needTool(t, "dcmj2pnm", "dcml2pnm", "dcm2pnm", "gdcmconv")
	files := testImages(t)
	var sheet []image.Image
	var labels []string
	for _, rf := range files {
		t.Run(strings.TrimSuffix(rf.name, ".dcm"), func(t *testing.T) {
			info := rf.im.Info()
			frames := allFrames(t, rf.im)
			ts, _ := dicom.LookupTransferSyntax(rf.hdr.TransferSyntax)

			// 1. Decoded samples. With the modality and VOI transforms off (-M -W), an
			// identity presentation shape (+Pid, else MONOCHROME1 comes out inverted) and
			// output at the stored depth (+opn BitsStored), DCMTK writes each stored value
			// unchanged for unsigned data; colour comes out as RGB after its own YCbCr
			// conversion.
			ref := dcmtkFrames(t, rf.path, rf.hdr.TransferSyntax, "-M", "-W", "+Pid", "+opn", "{bits}")
			if len(ref) != len(frames) {
				t.Fatalf("DCMTK wrote %d frames, we decoded %d", len(ref), len(frames))
			}
			for i, f := range frames {
				p := ref[i]
				if p.w != f.Columns || p.h != f.Rows || p.channels != f.SamplesPerPixel {
					t.Fatalf("frame %d: DCMTK %dx%dx%d, ours %dx%dx%d", i, p.w, p.h, p.channels, f.Columns, f.Rows, f.SamplesPerPixel)
				}
				ours := comparable(t, f, info)
				diff, maxd := 0, 0
				for k := range ours {
					if d := absInt(ours[k] - p.data[k]); d != 0 {
						diff++
						maxd = max(maxd, d)
					}
				}
				if !ts.Lossy {
					if diff != 0 {
						t.Errorf("frame %d: %d of %d samples differ from DCMTK (max %d) in a lossless syntax", i, diff, len(ours), maxd)
					}
					continue
				}
				// Lossy: compare after windowing to 8 bits.
				_, win := dcmtkWindowArgs(info, f)
				lutOurs, lutRef := windowTo8(f, info, win, ours), windowTo8(f, info, win, p.data)
				worst := 0
				for k := range lutOurs {
					worst = max(worst, absInt(lutOurs[k]-lutRef[k]))
				}
				t.Logf("frame %d: lossy: %d samples differ from the reference decoder (max %d); after windowing max %d grey level(s)", i, diff, maxd, worst)
				if worst > 1 {
					t.Errorf("frame %d: differs from the reference decoder by %d grey levels after windowing", i, worst)
				}
			}

			// 2. Rendering with the same window, 8-bit output.
			args, win := dcmtkWindowArgs(info, frames[0])
			rendered := dcmtkFrames(t, rf.path, rf.hdr.TransferSyntax, append(args, "+opb")...)
			for i, f := range frames {
				img, err := Render(f, info, RenderOptions{Window: win})
				if err != nil {
					t.Fatalf("render frame %d: %v", i, err)
				}
				got := imageSamples(img, rendered[i].channels)
				sum, worst := 0, 0
				for k := range got {
					d := absInt(got[k] - rendered[i].data[k])
					sum += d
					worst = max(worst, d)
				}
				mean := float64(sum) / float64(len(got))
				if i == 0 {
					t.Logf("render: mean |ours - DCMTK| = %.3f, max %d (%s)", mean, worst, strings.Join(args, " "))
				}
				if mean > 1 {
					t.Errorf("frame %d: rendered image differs from DCMTK's by %.2f levels on average (max %d)", i, mean, worst)
				}
				if i == 0 {
					sheet = append(sheet, img)
					labels = append(labels, rf.name)
				}
			}
		})
	}
	if len(sheet) > 0 {
		path := filepath.Join(artifactDir(t), "pixel_contact_sheet.png")
		if err := writeContactSheet(path, sheet); err != nil {
			t.Fatal(err)
		}
		t.Logf("contact sheet of %d rendered test images (%s): %s", len(sheet), strings.Join(labels, ", "), path)
	}
}

// comparable returns a frame's samples as ints, the way DCMTK's +opn output orders them.
func comparable(t *testing.T, f *Frame, info Info) []int {
	t.Helper()
	out := make([]int, f.Len())
	for i := range out {
		out[i] = f.Sample(i)
	}
	if info.Signed {
		t.Fatal("reference comparison of raw samples assumes unsigned data")
	}
	return out
}

// windowTo8 maps stored values (or RGB samples) to 8 bits with the given window (nil: full
// stored range), for comparing lossy decoders.
func windowTo8(f *Frame, info Info, w *Window, samples []int) []int {
	lo, hi := storedRange(f)
	fn := func(x float64) float64 { return (x - float64(lo)) / float64(hi-lo) }
	if w != nil && isMono(f.Photometric) {
		fn = windowFunc(*w, info.VOILUTFunction)
	}
	m := Modality(info)
	out := make([]int, len(samples))
	for i, v := range samples {
		x := float64(v)
		if isMono(f.Photometric) {
			x = m(v)
		}
		out[i] = int(math.Round(255 * math.Min(1, math.Max(0, fn(x)))))
	}
	return out
}

func imageSamples(img image.Image, channels int) []int {
	b := img.Bounds()
	out := make([]int, 0, b.Dx()*b.Dy()*channels)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if channels == 1 {
				out = append(out, int(r>>8))
			} else {
				out = append(out, int(r>>8), int(g>>8), int(bl>>8))
			}
		}
	}
	return out
}

func absInt(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// writeContactSheet tiles images (each fitted to 256x256) into one PNG.
func writeContactSheet(path string, imgs []image.Image) error {
	const cell, cols = 260, 6
	rows := (len(imgs) + cols - 1) / cols
	sheet := image.NewRGBA(image.Rect(0, 0, cols*cell, rows*cell))
	draw.Draw(sheet, sheet.Bounds(), image.Black, image.Point{}, draw.Src)
	for i, img := range imgs {
		b := img.Bounds()
		w, h := fitSize(b.Dx(), b.Dy(), 256, 256)
		if w != b.Dx() || h != b.Dy() {
			img = resizeNRGBA(toNRGBA(img), w, h)
		}
		at := image.Pt((i%cols)*cell+2, (i/cols)*cell+2)
		draw.Draw(sheet, image.Rectangle{at, at.Add(img.Bounds().Size())}, img, img.Bounds().Min, draw.Src)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, sheet); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func toNRGBA(img image.Image) *image.NRGBA {
	b := img.Bounds()
	out := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(out, out.Bounds(), img, b.Min, draw.Src)
	return out
}
