package pixel

import (
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
)

// EncodeJPEG writes a rendered image as JPEG (greyscale images as one-component JPEG).
// quality is 1-100; 0 means 90.
func EncodeJPEG(w io.Writer, img image.Image, quality int) error {
	if quality == 0 {
		quality = 90
	}
	if quality < 1 || quality > 100 {
		return fmt.Errorf("encode jpeg: quality %d out of 1-100", quality)
	}
	if err := jpeg.Encode(w, img, &jpeg.Options{Quality: quality}); err != nil {
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
