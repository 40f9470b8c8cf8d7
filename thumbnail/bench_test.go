package thumbnail_test

import (
	"context"
	"testing"
)

// BenchmarkCachedThumbnail is a viewer's worklist asking for a thumbnail already made: an
// index lookup and a file read.
func BenchmarkCachedThumbnail(b *testing.B) {
	e := newEnvB(b)
	ctx := context.Background()
	in := e.putB(b, "dr_mono2.dcm")
	if _, err := e.svc.Instance(ctx, in.SOPInstanceUID); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := e.svc.Instance(ctx, in.SOPInstanceUID); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMakeThumbnail renders one from the stored object each time (cache removed).
func BenchmarkMakeThumbnail(b *testing.B) {
	for _, name := range []string{"dr_mono2.dcm", "ts_jpeg_lossless.dcm", "ts_j2k_lossless.dcm", "us_multiframe_jpeg.dcm"} {
		b.Run(name, func(b *testing.B) {
			e := newEnvB(b)
			in := e.putB(b, name)
			for b.Loop() {
				e.clearCache(b)
				if _, err := e.svc.Instance(context.Background(), in.SOPInstanceUID); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
