package pixel

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"testing"
)

// drFrame is a smooth 12-bit radiograph-like frame with a little noise (noise alone would
// test the encoder on what it is worst at, not on what it is given).
func drFrame(rows, cols int) *Frame {
	f := &Frame{Rows: rows, Columns: cols, SamplesPerPixel: 1, Photometric: Monochrome2, BitsStored: 12,
		Data16: make([]uint16, rows*cols)}
	seed := uint32(7)
	for y := 0; y < rows; y++ {
		for x := 0; x < cols; x++ {
			seed = seed*1664525 + 1013904223
			dx, dy := float64(x-cols/2)/float64(cols), float64(y-rows/2)/float64(rows)
			v := 600 + 1800*math.Exp(-4*(dx*dx+dy*dy)) + 400*math.Sin(float64(y)/37) + float64(seed>>28)
			f.Data16[y*cols+x] = uint16(max(0, min(4095, v)))
		}
	}
	return f
}

// meanAbsDiff compares a decoded JPEG with the image it was made from, channel by channel
// (greyscale as one channel).
func meanAbsDiff(t *testing.T, want image.Image, got image.Image) float64 {
	t.Helper()
	wb, gb := want.Bounds(), got.Bounds()
	if wb.Dx() != gb.Dx() || wb.Dy() != gb.Dy() {
		t.Fatalf("decoded %dx%d, encoded %dx%d", gb.Dx(), gb.Dy(), wb.Dx(), wb.Dy())
	}
	var sum float64
	n := 0
	for y := 0; y < wb.Dy(); y++ {
		for x := 0; x < wb.Dx(); x++ {
			a := color.NRGBAModel.Convert(want.At(wb.Min.X+x, wb.Min.Y+y)).(color.NRGBA)
			b := color.NRGBAModel.Convert(got.At(gb.Min.X+x, gb.Min.Y+y)).(color.NRGBA)
			for _, d := range [3]int{int(a.R) - int(b.R), int(a.G) - int(b.G), int(a.B) - int(b.B)} {
				sum += math.Abs(float64(d))
				n++
			}
		}
	}
	return sum / float64(n)
}

func TestEncodeJPEG(t *testing.T) {
	// A rendered DR frame (through Render's window) and a colour image with edges and a
	// gradient; each also as a sub-image whose rows are longer than it is wide.
	fr := drFrame(300, 250)
	grey, err := Render(fr, Info{Windows: []Window{{Center: 2048, Width: 4096}}, RescaleSlope: 1}, RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := grey.(*image.Gray); !ok {
		t.Fatalf("Render gave %T for MONOCHROME2", grey)
	}
	rgb := image.NewNRGBA(image.Rect(0, 0, 160, 120))
	for y := 0; y < 120; y++ {
		for x := 0; x < 160; x++ {
			c := color.NRGBA{uint8(x * 255 / 159), uint8(y * 255 / 119), 128, 255}
			if x > 60 && x < 100 && y > 40 && y < 80 {
				c = color.NRGBA{230, 40, 40, 255}
			}
			rgb.SetNRGBA(x, y, c)
		}
	}
	rgba := image.NewRGBA(rgb.Bounds())
	copy(rgba.Pix, rgb.Pix) // opaque: the same bytes premultiplied
	ycc := image.NewYCbCr(rgb.Bounds(), image.YCbCrSubsampleRatio444)
	for y := 0; y < 120; y++ {
		for x := 0; x < 160; x++ {
			c := rgb.NRGBAAt(x, y)
			yy, cb, cr := color.RGBToYCbCr(c.R, c.G, c.B)
			ycc.Y[ycc.YOffset(x, y)], ycc.Cb[ycc.COffset(x, y)], ycc.Cr[ycc.COffset(x, y)] = yy, cb, cr
		}
	}
	sub := func(img image.Image) image.Image {
		return img.(interface {
			SubImage(image.Rectangle) image.Image
		}).SubImage(image.Rect(13, 7, 13+61, 7+45))
	}
	for _, tt := range []struct {
		name   string
		img    image.Image
		model  color.Model
		maxMAE float64
	}{
		// Quality 90 on smooth images: a level or two per pixel on average; a wrong
		// stride, channel order or geometry gives tens.
		{"grey", grey, color.GrayModel, 1.5},
		{"grey sub-image", sub(grey), color.GrayModel, 1.5},
		{"NRGBA", rgb, nil, 4},
		{"NRGBA sub-image", sub(rgb), nil, 4},
		{"RGBA", rgba, nil, 4},
		{"YCbCr (drawn into RGBA first)", ycc, nil, 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := EncodeJPEG(&b, tt.img, 0); err != nil {
				t.Fatal(err)
			}
			dec, err := jpeg.Decode(bytes.NewReader(b.Bytes()))
			if err != nil {
				t.Fatalf("image/jpeg cannot read the output: %v", err)
			}
			if tt.model != nil && dec.ColorModel() != tt.model {
				t.Errorf("decoded colour model %v, want greyscale", dec.ColorModel())
			}
			if tt.model == nil && dec.ColorModel() == color.GrayModel {
				t.Errorf("colour image encoded as greyscale")
			}
			if mae := meanAbsDiff(t, tt.img, dec); mae > tt.maxMAE {
				t.Errorf("mean absolute difference %.2f levels, want <= %.1f", mae, tt.maxMAE)
			} else {
				t.Logf("%d bytes, mean absolute difference %.2f levels", b.Len(), mae)
			}
		})
	}
}

// TestEncodeJPEGQuality: quality 0 is 90, quality changes the quantisation tables as the IJG
// scaling of the standard tables does, which is what Go's image/jpeg used before, and values
// outside 1-100 are refused.
func TestEncodeJPEGQuality(t *testing.T) {
	img, err := Render(drFrame(64, 80), Info{Windows: []Window{{Center: 1500, Width: 3000}}, RescaleSlope: 1}, RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	enc := func(q int) []byte {
		var b bytes.Buffer
		if err := EncodeJPEG(&b, img, q); err != nil {
			t.Fatalf("quality %d: %v", q, err)
		}
		return b.Bytes()
	}
	if !bytes.Equal(enc(0), enc(90)) {
		t.Error("quality 0 is not quality 90")
	}
	for _, q := range []int{1, 50, 75, 90, 100} {
		var ref bytes.Buffer
		if err := jpeg.Encode(&ref, img, &jpeg.Options{Quality: q}); err != nil {
			t.Fatal(err)
		}
		got, want := lumaTable(t, enc(q)), lumaTable(t, ref.Bytes())
		if !bytes.Equal(got, want) {
			t.Errorf("quality %d: luminance quantisation table\n%v\nimage/jpeg's at the same quality\n%v", q, got, want)
		}
	}
	if len(enc(30)) >= len(enc(95)) {
		t.Errorf("quality 30 gives %d bytes, not fewer than quality 95's %d", len(enc(30)), len(enc(95)))
	}
	for _, q := range []int{-1, 101} {
		if err := EncodeJPEG(&bytes.Buffer{}, img, q); err == nil {
			t.Errorf("quality %d accepted", q)
		}
	}
	if err := EncodeJPEG(&bytes.Buffer{}, image.NewGray(image.Rect(0, 0, 0, 5)), 90); err == nil {
		t.Error("empty image accepted")
	}
}

// lumaTable returns quantisation table 0 (64 bytes, zigzag order) of a JPEG stream.
func lumaTable(t *testing.T, b []byte) []byte {
	t.Helper()
	for i := 2; i+4 <= len(b); {
		if b[i] != 0xFF {
			t.Fatalf("no marker at %d", i)
		}
		marker, n := b[i+1], int(b[i+2])<<8|int(b[i+3])
		seg := b[i+4 : min(len(b), i+2+n)]
		if marker == 0xDB { // DQT, ISO/IEC 10918-1 B.2.4.1
			for len(seg) >= 65 {
				if seg[0]>>4 != 0 {
					t.Fatal("16-bit quantisation table")
				}
				if seg[0]&15 == 0 {
					return seg[1:65]
				}
				seg = seg[65:]
			}
		}
		if marker == 0xDA {
			break
		}
		i += 2 + n
	}
	t.Fatal("no quantisation table 0")
	return nil
}

// TestEncodeJPEGWriteError: the writer's error comes back.
func TestEncodeJPEGWriteError(t *testing.T) {
	boom := errors.New("disk full")
	err := EncodeJPEG(failWriter{boom}, image.NewGray(image.Rect(0, 0, 8, 8)), 90)
	if !errors.Is(err, boom) {
		t.Fatalf("got %v, want the writer's error", err)
	}
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }
