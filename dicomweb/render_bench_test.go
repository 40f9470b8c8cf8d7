package dicomweb

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"pacsd/dicom"
	"pacsd/internal/peertest"
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
	return drObjectSize(sop, study, series, 3000, 3000)
}

// drObjectSize is a rows x cols DX image with a window.
func drObjectSize(sop, study, series string, rows, cols int) genObject {
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

// BenchmarkRenderedFullSize renders a 3000 x 2500 16-bit DR image (12 bits stored, with a
// window) at full size as JPEG (quality 90, the default of both servers), the image a
// viewer's "original size" or a download asks for:
//
//   - VsOrthanc: side by side with Orthanc 1.10 in one run (make deps installs it), the
//     same file uploaded to both, requests alternating between the servers: pacsd's
//     /rendered with its frame cache emptied before each request (so it decodes the
//     stored object each time, as Orthanc does) against Orthanc's
//     /instances/{id}/frames/0/rendered, both with Accept: image/jpeg. It reports both
//     p50/p99 and pacsd's p50 as a fraction of Orthanc's;
//   - CachedNewWindow: the cached frame re-rendered with another window (decode excluded:
//     window, encode, copies), a viewer's window/level drag at full size.
func BenchmarkRenderedFullSize(b *testing.B) {
	a, _ := newArchive(b)
	study, series, sop := "1.2.826.0.1.3680043.10.14.1", "1.2.826.0.1.3680043.10.14.2", "1.2.826.0.1.3680043.10.14.3"
	obj := drObjectSize(sop, study, series, 2500, 3000)
	putAll(b, a, []genObject{obj})
	base, s := serveWith(b, a, Config{Logger: testLogger()})
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	u := base + "/dicomweb/studies/" + study + "/series/" + series + "/instances/" + sop + "/rendered"
	b.Run("VsOrthanc", func(b *testing.B) {
		orth := startBenchOrthanc(b)
		id := orth.upload(b, obj.bytes(b))
		ou := orth.base + "/instances/" + id + "/frames/0/rendered"
		pl, ol := make(latencies, 0, b.N), make(latencies, 0, b.N)
		var pn, on int64
		// One untimed request each: Orthanc's first answer loads its JPEG machinery.
		getImage(b, client, u, "image/jpeg")
		getImage(b, client, ou, "image/jpeg")
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			s.decoded.mem.Purge()
			start := time.Now()
			pn = getImage(b, client, u, "image/jpeg")
			pl = append(pl, time.Since(start))
			start = time.Now()
			on = getImage(b, client, ou, "image/jpeg")
			ol = append(ol, time.Since(start))
		}
		b.StopTimer()
		pl.reportAs(b, "pacsd-")
		ol.reportAs(b, "orthanc-")
		b.ReportMetric(pl.percentile(0.5).Seconds()/ol.percentile(0.5).Seconds(), "p50-pacsd/orthanc")
		b.ReportMetric(float64(pn), "pacsd-bytes")
		b.ReportMetric(float64(on), "orthanc-bytes")
	})
	b.Run("CachedNewWindow", func(b *testing.B) {
		getImage(b, client, u, "image/jpeg") // the frame is in the cache
		lat := make(latencies, 0, b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			start := time.Now()
			getImage(b, client, fmt.Sprintf("%s?window=%d,%d", u, 1500+i%1000, 1000+i%2000), "image/jpeg")
			lat = append(lat, time.Since(start))
		}
		lat.report(b)
	})
}

// benchOrthanc is an Orthanc started for a benchmark: its REST API only, no plugin.
type benchOrthanc struct{ base string }

// startBenchOrthanc runs Orthanc 1.10 (Debian's /usr/sbin/Orthanc) on a free loopback port
// with its data in a temporary folder, and stops it when the benchmark ends. Missing, the
// benchmark is skipped (failed under CI).
func startBenchOrthanc(b *testing.B) *benchOrthanc {
	b.Helper()
	const bin = "/usr/sbin/Orthanc"
	if _, err := os.Stat(bin); err != nil {
		peertest.Missing(b, "Orthanc not installed (`make deps` installs it): %v", err)
	}
	dir := b.TempDir()
	port := func() int {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}
	httpPort := port()
	cfg, err := json.Marshal(map[string]any{
		"Name": "pacsd-render-bench", "StorageDirectory": filepath.Join(dir, "storage"),
		"IndexDirectory": filepath.Join(dir, "index"), "Plugins": []string{},
		"HttpPort": httpPort, "DicomPort": port(), "RemoteAccessAllowed": false,
		"AuthenticationEnabled": false, "StorageCompression": false, "HttpCompressionEnabled": false,
		"KeepAlive": true, "SaveJobs": false,
	})
	if err != nil {
		b.Fatal(err)
	}
	conf := filepath.Join(dir, "orthanc.json")
	if err := os.WriteFile(conf, cfg, 0o600); err != nil {
		b.Fatal(err)
	}
	var log bytes.Buffer
	cmd := exec.Command(bin, conf)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	b.Cleanup(func() { cmd.Process.Kill(); <-exited })
	o := &benchOrthanc{base: fmt.Sprintf("http://127.0.0.1:%d", httpPort)}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(o.base + "/system")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return o
			}
		}
		select {
		case <-exited:
			b.Fatalf("Orthanc exited early\n%s", log.String())
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("Orthanc did not come up\n%s", log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// upload stores a Part-10 file in Orthanc and returns its instance ID.
func (o *benchOrthanc) upload(b *testing.B, part10 []byte) string {
	b.Helper()
	resp, err := http.Post(o.base+"/instances", "application/dicom", bytes.NewReader(part10))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || resp.StatusCode != http.StatusOK || r.ID == "" {
		b.Fatalf("Orthanc POST /instances: %d %v %+v", resp.StatusCode, err, r)
	}
	return r.ID
}

// getImage GETs u with Accept: accept and returns the body's length; the answer must be 200
// of that type.
func getImage(b *testing.B, client *http.Client, u, accept string) int64 {
	b.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Accept", accept)
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != accept {
		b.Fatalf("GET %s: %d %q", u, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return n
}
