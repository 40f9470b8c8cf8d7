package dicomweb

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"pacsd/dicom"
	"pacsd/store"
	"pacsd/thumbnail"
)

// Rendering benchmarks (go test -run '^$' -bench 'Rendered|Thumbnail' ./dicomweb): a
// 3000 x 3000 DR image rendered to a 1024-pixel JPEG, first (decoded from the stored
// object) and again with a new window from the frame cache, which is what a viewer's
// window/level drag costs per step; and thumbnails served from the thumbnail service's
// cache.

// drPixels is a smooth radiograph-like 12-bit picture with a little noise, as DR detectors
// produce (noise alone would make every JPEG slower than real images do).
func drPixels(rows, cols int) []byte {
	b := make([]byte, 2*rows*cols)
	seed := uint32(1)
	for y := 0; y < rows; y++ {
		for x := 0; x < cols; x++ {
			seed = seed*1664525 + 1013904223
			dx, dy := float64(x-cols/2)/float64(cols), float64(y-rows/2)/float64(rows)
			v := 600 + 1800*math.Exp(-4*(dx*dx+dy*dy)) + 400*math.Sin(float64(y)/37) + float64(seed>>28)
			if (dx+0.2)*(dx+0.2)/0.03+dy*dy/0.12 < 1 || (dx-0.2)*(dx-0.2)/0.03+dy*dy/0.12 < 1 {
				v -= 900 // lungs
			}
			binary.LittleEndian.PutUint16(b[2*(y*cols+x):], uint16(max(0, min(4095, v))))
		}
	}
	return b
}

// drObject is a 3000 x 3000 DX image (18 MB) with a window.
func drObject(sop, study, series string) genObject {
	const rows, cols = 3000, 3000
	px := drPixels(rows, cols)
	g := imageObject(sop, study, series, rows, cols, 1)
	g.sopClass = "1.2.840.10008.5.1.4.1.1.1.1"
	g.pixels = func() io.Reader { return bytes.NewReader(px) }
	return g.with(0x00281050, "DS", "2048 ").with(0x00281051, "DS", "4096 ")
}

func BenchmarkRendered(b *testing.B) {
	a, _ := newArchive(b)
	study, series := "1.2.826.0.1.3680043.10.12.1", "1.2.826.0.1.3680043.10.12.2"
	native := drObject("1.2.826.0.1.3680043.10.12.3", study, series)
	putAll(b, a, []genObject{native})
	sops := map[string]string{"Native": native.sop}
	// The same image as DR systems send it, JPEG lossless (process 14 SV1), when DCMTK is
	// there to compress it.
	if p, err := exec.LookPath("dcmcjpeg"); err == nil {
		dir := b.TempDir()
		in, out := filepath.Join(dir, "native.dcm"), filepath.Join(dir, "jpegll.dcm")
		lossless := drObject("1.2.826.0.1.3680043.10.12.4", study, series)
		if err := os.WriteFile(in, lossless.bytes(b), 0o600); err != nil {
			b.Fatal(err)
		}
		if o, err := exec.Command(p, "+e1", in, out).CombinedOutput(); err != nil {
			b.Fatalf("dcmcjpeg: %v\n%s", err, o)
		}
		f, err := os.Open(out)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := a.Put(context.Background(), f, store.PutRequest{}); err != nil {
			b.Fatal(err)
		}
		f.Close()
		sops["JPEGLossless"] = lossless.sop
	}
	base, s := serveWith(b, a, Config{Logger: testLogger()})
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	fetch := func(b *testing.B, u string) int64 {
		resp, err := client.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/jpeg" {
			b.Fatalf("GET %s: %d %q", u, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		return n
	}
	for _, kind := range []string{"Native", "JPEGLossless"} {
		sop, ok := sops[kind]
		if !ok {
			continue
		}
		u := base + "/dicomweb/studies/" + study + "/series/" + series + "/instances/" + sop + "/rendered?viewport=1024,1024"
		b.Run(kind+"/First", func(b *testing.B) {
			lat := make(latencies, 0, b.N)
			var n int64
			for i := 0; i < b.N; i++ {
				s.decoded.mem.Purge()
				start := time.Now()
				n = fetch(b, u)
				lat = append(lat, time.Since(start))
			}
			lat.report(b)
			b.ReportMetric(float64(n), "bytes/resp")
		})
		b.Run(kind+"/CachedNewWindow", func(b *testing.B) {
			fetch(b, u) // the frame is in the cache
			lat := make(latencies, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				fetch(b, fmt.Sprintf("%s&window=%d,%d", u, 1500+i%1000, 1000+i%2000))
				lat = append(lat, time.Since(start))
			}
			lat.report(b)
		})
	}
}

func BenchmarkThumbnail(b *testing.B) {
	a, _ := newArchive(b)
	study, series := "1.2.826.0.1.3680043.10.13.1", "1.2.826.0.1.3680043.10.13.2"
	const n = 200
	objs := make([]genObject, n)
	for i := range objs {
		objs[i] = imageObject(fmt.Sprintf("1.2.826.0.1.3680043.10.13.3.%d", i+1), study, series, 512, 512, 1).
			with(dicom.TagInstanceNumber, "IS", fmt.Sprint(i+1)+" ").with(0x00281050, "DS", "2048 ").with(0x00281051, "DS", "4096 ")
	}
	putAll(b, a, objs)
	thumbs, err := thumbnail.New(a, thumbnail.Config{Dir: b.TempDir(), Logger: testLogger()})
	if err != nil {
		b.Fatal(err)
	}
	base := serve(b, a, Config{Logger: testLogger(), Thumbnails: thumbs}) + "/dicomweb/studies/" + study
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	for _, tt := range []struct{ name, path string }{
		{"Instance", "/series/" + series + "/instances/" + objs[n/2].sop + "/thumbnail"},
		{"Series200", "/series/" + series + "/thumbnail"},
		{"Study", "/thumbnail"},
	} {
		b.Run(tt.name, func(b *testing.B) {
			resp, err := client.Get(base + tt.path) // made once, then served from the cache
			if err != nil || resp.StatusCode != http.StatusOK {
				b.Fatalf("%v %v", resp, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			benchGet(b, client, base+tt.path, nil)
		})
	}
}
