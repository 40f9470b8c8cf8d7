package dicomweb

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"pacsd/dicom"
	"pacsd/internal/cputime"
	"pacsd/store"
	"pacsd/store/file"
	"pacsd/store/sqlite"
)

// Benchmarks (go test -run '^$' -bench . ./dicomweb): QIDO-RS over an index of 10,000
// studies, the metadata of a 500-instance series from a warm cache, and instance
// retrieval. Latency benchmarks report p50 and p99 of the individual requests (over HTTP
// on loopback, as a client sees them) besides Go's mean ns/op.

// latencies records request durations and reports their percentiles.
type latencies []time.Duration

func (l latencies) report(b *testing.B) { l.reportAs(b, "") }

// reportAs reports the p50 and p99 under names that start with prefix.
func (l latencies) reportAs(b *testing.B, prefix string) {
	if len(l) == 0 {
		return
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(l.percentile(0.50)), prefix+"p50-ms")
	b.ReportMetric(ms(l.percentile(0.99)), prefix+"p99-ms")
}

// percentile returns the p-th (0..1) of the recorded durations (nearest rank below).
func (l latencies) percentile(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	return s[int(p*float64(len(s)-1))]
}

// benchGet runs b.N GETs of u and reports their latencies and the process's CPU time per
// request; every response must be 200.
func benchGet(b *testing.B, client *http.Client, u string, hdr map[string]string) {
	b.Helper()
	benchGetSettle(b, client, u, hdr, nil)
}

// benchGetSettle is benchGet that, when settle is not nil, calls it after the last request
// and before the CPU count stops (the wait for background work the requests caused, an
// audit writer): it is counted in cpu-us/op, not in ns/op or the latencies. It returns the
// mean latency and the CPU time per request.
func benchGetSettle(b *testing.B, client *http.Client, u string, hdr map[string]string, settle func()) (mean, cpuPer time.Duration) {
	b.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		b.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	lat := make(latencies, 0, b.N)
	var n int64
	b.ResetTimer()
	cpu := cputime.Process()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		m, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("GET %s: %d %v", u, resp.StatusCode, err)
		}
		lat = append(lat, time.Since(start))
		n += m
	}
	b.StopTimer()
	if settle != nil {
		settle()
	}
	cpu = cputime.Process() - cpu
	lat.report(b)
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/op")
	b.ReportMetric(float64(n)/float64(b.N), "bytes/resp")
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	return sum / time.Duration(max(len(lat), 1)), cpu / time.Duration(max(b.N, 1))
}

// fakeSHA is a stable stand-in for a content hash.
func fakeSHA(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// buildStudyIndex records n studies (one series, one instance each) directly in a SQLite
// index: QIDO reads only the index, and PutInstance from many goroutines shares commits,
// so 10,000 studies take seconds rather than the minutes of n durable Puts.
func buildStudyIndex(b *testing.B, idx store.Index, n int) {
	b.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	modalities := []string{"DX", "DX", "DX", "CR", "US"}
	family := []string{"Zhang", "Wang", "Li", "Liu", "Chen", "Yang", "Zhao", "Huang"}
	ideo := []string{"张", "王", "李", "刘", "陈", "杨", "赵", "黄"}
	day0 := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	recs := make(chan *store.Instance)
	var wg sync.WaitGroup
	var firstErr error
	var mu sync.Mutex
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range recs {
				if _, err := idx.PutInstance(ctx, r); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		study := fmt.Sprintf("1.2.826.0.1.3680043.10.9.%d", i+1)
		series, sop := study+".1", study+".1.1"
		f := rng.IntN(len(family))
		date := day0.AddDate(0, 0, rng.IntN(730)).Format("20060102")
		mod := modalities[rng.IntN(len(modalities))]
		pn := map[string]string{"Alphabetic": family[f] + "^Wei" + fmt.Sprint(i%97), "Ideographic": ideo[f] + "^伟"}
		recs <- &store.Instance{
			StudyInstanceUID: study, SeriesInstanceUID: series, SOPInstanceUID: sop,
			SOPClassUID: "1.2.840.10008.5.1.4.1.1.1.1", TransferSyntaxUID: dicom.ExplicitVRLittleEndian,
			BlobKey: "bench/" + sop, Size: 1000, SHA256: fakeSHA(sop), ReceivedAt: time.Now(),
			StudyAttrs: dicom.JSONDataset{
				"00080020": {VR: "DA", Value: []any{date}},
				"00080030": {VR: "TM", Value: []any{fmt.Sprintf("%02d%02d00", rng.IntN(24), rng.IntN(60))}},
				"00080050": {VR: "SH", Value: []any{fmt.Sprintf("A%08d", i)}},
				"00080090": {VR: "PN", Value: []any{map[string]string{"Alphabetic": "Li^Ming"}}},
				"00081030": {VR: "LO", Value: []any{"胸部正位"}},
				"00100010": {VR: "PN", Value: []any{pn}},
				"00100020": {VR: "LO", Value: []any{fmt.Sprintf("P%06d", i/3)}},
				"00100030": {VR: "DA", Value: []any{"19700101"}},
				"00100040": {VR: "CS", Value: []any{"M"}},
				"0020000D": {VR: "UI", Value: []any{study}},
				"00200010": {VR: "SH", Value: []any{fmt.Sprint(i)}},
			},
			SeriesAttrs: dicom.JSONDataset{
				"00080060": {VR: "CS", Value: []any{mod}},
				"0020000E": {VR: "UI", Value: []any{series}},
				"00200011": {VR: "IS", Value: []any{float64(1)}},
			},
			InstanceAttrs: dicom.JSONDataset{
				"00080016": {VR: "UI", Value: []any{"1.2.840.10008.5.1.4.1.1.1.1"}},
				"00080018": {VR: "UI", Value: []any{sop}},
				"00200013": {VR: "IS", Value: []any{float64(1)}},
			},
		}
	}
	close(recs)
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
}

func BenchmarkQIDO(b *testing.B) {
	const studies = 10000
	dir := b.TempDir()
	idx, err := sqlite.Open(context.Background(), filepath.Join(dir, "index.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer idx.Close()
	start := time.Now()
	buildStudyIndex(b, idx, studies)
	b.Logf("indexed %d studies in %v", studies, time.Since(start).Round(time.Millisecond))
	// QIDO never opens a blob: an empty folder store stands behind the index.
	blobs, err := file.New(filepath.Join(dir, "blobs"))
	if err != nil {
		b.Fatal(err)
	}
	a, err := store.NewArchive(idx, blobs, store.Config{SpoolDir: filepath.Join(dir, "spool"), MinFreeBytes: -1, Logger: testLogger()})
	if err != nil {
		b.Fatal(err)
	}
	base := serve(b, a, Config{Logger: testLogger()}) + "/dicomweb"
	client := &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 4}}
	for _, bc := range []struct{ name, query string }{
		{"PatientID", "/studies?PatientID=P001234"},
		{"StudyDateWeek", "/studies?StudyDate=20240301-20240307"},
		{"ModalitiesDXLimit50", "/studies?ModalitiesInStudy=DX&limit=50"},
		// What OHIF's study list asks first: one page, two extra fields.
		{"FirstPage", "/studies?limit=101&offset=0&includefield=00081030%2C00080060"},
		{"PatientNamePrefixChinese", "/studies?PatientName=%E5%BC%A0*&limit=50"},
	} {
		b.Run(bc.name, func(b *testing.B) { benchGet(b, client, base+bc.query, nil) })
	}
}

// snapshotIndex answers EachInstanceVersion from a fixed listing (benchmark only).
type snapshotIndex struct {
	store.Index
	list []*store.Instance
}

func (x *snapshotIndex) EachInstanceVersion(_ context.Context, _, _ string, fn func(string, string, string) error) error {
	for _, in := range x.list {
		if err := fn(in.SeriesInstanceUID, in.SOPInstanceUID, in.SHA256); err != nil {
			return err
		}
	}
	return nil
}

// putAll stores generated objects with Archive.Put, several at a time.
func putAll(b testing.TB, a *store.Archive, objs []genObject) {
	b.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(objs))
	sem := make(chan struct{}, 8)
	for _, o := range objs {
		wg.Add(1)
		sem <- struct{}{}
		go func(o genObject) {
			defer wg.Done()
			defer func() { <-sem }()
			var buf bytes.Buffer
			if err := o.write(&buf); err != nil {
				errs <- err
				return
			}
			if _, err := a.Put(context.Background(), &buf, store.PutRequest{}); err != nil {
				errs <- err
			}
		}(o)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

func BenchmarkSeriesMetadata(b *testing.B) {
	const n = 500
	a, _ := newArchive(b)
	study, series := "1.2.826.0.1.3680043.10.8.1", "1.2.826.0.1.3680043.10.8.2"
	objs := make([]genObject, n)
	for i := range objs {
		objs[i] = imageObject(fmt.Sprintf("1.2.826.0.1.3680043.10.8.3.%d", i+1), study, series, 64, 64, 1).
			with(dicom.TagSpecificCharacterSet, "CS", "ISO_IR 192").
			with(dicom.TagPatientName, "PN", "Zhang^Wei=张^伟").with(dicom.TagPatientID, "LO", "P000001 ").
			with(dicom.TagStudyDate, "DA", "20240315").with(dicom.TagInstanceNumber, "IS", fmt.Sprint(i+1)+" ").
			with(0x00200032, "DS", fmt.Sprintf(`0\0\%d `, i)).with(0x00200037, "DS", `1\0\0\0\1\0 `).
			with(0x00280030, "DS", `0.5\0.5 `).with(0x00281050, "DS", "2048 ").with(0x00281051, "DS", "4096 ")
	}
	start := time.Now()
	putAll(b, a, objs)
	b.Logf("stored %d instances in %v", n, time.Since(start).Round(time.Millisecond))
	base, s := serveWith(b, a, Config{Logger: testLogger(), CacheDir: b.TempDir()})
	u := base + "/dicomweb/studies/" + study + "/series/" + series + "/metadata"
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}

	// The first request reads 500 headers and builds the cache.
	start = time.Now()
	resp, err := client.Get(u)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("cold: %v %v", resp, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	b.Logf("cold series metadata (%d records built) in %v", s.meta.builds.Load(), time.Since(start).Round(time.Millisecond))

	// Warm: records and the series body are cached; the index is asked what the series
	// holds (store/sqlite's EachInstanceVersion).
	b.Run("Warm", func(b *testing.B) { benchGet(b, client, u, nil) })
	b.Run("WarmGzip", func(b *testing.B) { benchGet(b, client, u, map[string]string{"Accept-Encoding": "gzip"}) })
	// The same with the version listing (EachInstanceVersion) answered from a snapshot:
	// the cost of everything in dicomweb, without the index's listing.
	list, err := a.Index().Instances(context.Background(), study, series)
	if err != nil {
		b.Fatal(err)
	}
	emptyBlobs, err := file.New(b.TempDir()) // the records are warm: no object is opened
	if err != nil {
		b.Fatal(err)
	}
	sa, err := store.NewArchive(&snapshotIndex{Index: a.Index().(store.Index), list: list}, emptyBlobs, store.Config{SpoolDir: b.TempDir(), MinFreeBytes: -1, Logger: testLogger()})
	if err != nil {
		b.Fatal(err)
	}
	sbase, ss := serveWith(b, sa, Config{Logger: testLogger()})
	ss.meta = s.meta // the same warm records
	su := sbase + "/dicomweb/studies/" + study + "/series/" + series + "/metadata"
	b.Run("WarmListingExcluded", func(b *testing.B) { benchGet(b, client, su, nil) })

	// Records cached, series body not: what a newly arrived instance costs the next open.
	b.Run("RecordsOnly", func(b *testing.B) {
		lat := make(latencies, 0, b.N)
		for i := 0; i < b.N; i++ {
			s.bodies.Purge()
			start := time.Now()
			resp, err := client.Get(u)
			if err != nil || resp.StatusCode != http.StatusOK {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			lat = append(lat, time.Since(start))
		}
		lat.report(b)
	})
}

func BenchmarkRetrieveInstance(b *testing.B) {
	a, _ := newArchive(b)
	study, series := "1.2.826.0.1.3680043.10.7.1", "1.2.826.0.1.3680043.10.7.2"
	// A DR-sized object: 2800 x 2800 x 16 bits, about 15 MB.
	putAll(b, a, []genObject{imageObject("1.2.826.0.1.3680043.10.7.3", study, series, 2800, 2800, 1),
		imageObject("1.2.826.0.1.3680043.10.7.4", study, series, 512, 512, 40)})
	base := serve(b, a, Config{Logger: testLogger()}) + "/dicomweb/studies/" + study + "/series/" + series + "/instances/"
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	rec, err := a.Index().Instance(context.Background(), "1.2.826.0.1.3680043.10.7.3")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Instance15MB", func(b *testing.B) {
		b.SetBytes(rec.Size)
		benchGet(b, client, base+"1.2.826.0.1.3680043.10.7.3", map[string]string{"Accept": acceptAnyTS})
	})
	b.Run("Frame512x512", func(b *testing.B) {
		b.SetBytes(512 * 512 * 2)
		benchGet(b, client, base+"1.2.826.0.1.3680043.10.7.4/frames/20", map[string]string{"Accept": acceptOHIF})
	})
}
