package pixel

import (
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"io"

	"pacsd/dicom/pixel/internal/turbojpeg"
)

// EncodeJPEG writes a rendered image as baseline JPEG: greyscale images (*image.Gray) as
// one-component JPEG, colour as YCbCr with 4:2:0 chrominance. quality is 1-100 with the IJG
// scaling of the standard tables; 0 means 90.
//
// Every JPEG pacsd writes (rendered images, thumbnails, the reading room's images, JPEG
// baseline transcoding) is compressed here, by libjpeg-turbo through cgo
// (internal/turbojpeg): its SIMD encoder is several times faster than Go's image/jpeg, whose
// encode was most of a full-size rendered image's time. dicom/pixel already needs cgo for
// OpenJPEG and CharLS, so there is no pure-Go fallback to keep in step.
//
// *image.Gray, *image.NRGBA and *image.RGBA are read in place; Render's output is one of
// the first two and always opaque. Any other image is first drawn into an RGBA copy.
func EncodeJPEG(w io.Writer, img image.Image, quality int) error {
	if quality == 0 {
		quality = 90
	}
	if quality < 1 || quality > 100 {
		return fmt.Errorf("encode jpeg: quality %d out of 1-100", quality)
	}
	b := img.Bounds()
	if b.Empty() {
		return fmt.Errorf("encode jpeg: empty image %v", b)
	}
	var err error
	switch m := img.(type) {
	case *image.Gray:
		err = turbojpeg.Encode(w, m.Pix[m.PixOffset(b.Min.X, b.Min.Y):], b.Dx(), b.Dy(), m.Stride, turbojpeg.Gray, quality)
	case *image.NRGBA:
		err = turbojpeg.Encode(w, m.Pix[m.PixOffset(b.Min.X, b.Min.Y):], b.Dx(), b.Dy(), m.Stride, turbojpeg.RGBX, quality)
	case *image.RGBA:
		// Premultiplied: the colour over black, which is what a JPEG of it shows.
		err = turbojpeg.Encode(w, m.Pix[m.PixOffset(b.Min.X, b.Min.Y):], b.Dx(), b.Dy(), m.Stride, turbojpeg.RGBX, quality)
	default:
		rgba := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
		draw.Draw(rgba, rgba.Bounds(), img, b.Min, draw.Src)
		err = turbojpeg.Encode(w, rgba.Pix, b.Dx(), b.Dy(), rgba.Stride, turbojpeg.RGBX, quality)
	}
	if err != nil {
		return fmt.Errorf("encode jpeg: %w", err)
	}
	return nil
}

// pngEncoder trades a little size for speed: rendered images are served often and cached.
var pngEncoder = png.Encoder{CompressionLevel: png.BestSpeed}

// EncodePNG writes a rendered image as PNG.
func EncodePNG(w io.Writer, img image.Image) error {
	if err := pngEncoder.Encode(w, img); err != nil {
		return fmt.Errorf("encode png: %w", err)
	}
	return nil
}
