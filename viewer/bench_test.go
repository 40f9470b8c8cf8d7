package viewer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"pacsd/dicom"
	"pacsd/internal/browsertest"
	"pacsd/reading"
	"pacsd/store"
	"pacsd/thumbnail"
)

// benchStudies is how many studies the worklist benchmarks index: 10k by default,
// PACSD_BENCH_STUDIES=100000 for the 100k figure.
func benchStudies() int {
	if n, err := strconv.Atoi(os.Getenv("PACSD_BENCH_STUDIES")); err == nil && n > 0 {
		return n
	}
	return 10000
}

var surnames = []string{"张", "王", "李", "赵", "刘", "陈", "杨", "黄", "周", "吴"}
var pinyin = []string{"Zhang", "Wang", "Li", "Zhao", "Liu", "Chen", "Yang", "Huang", "Zhou", "Wu"}

// fill indexes n studies from 25 sites (and some unknown senders) over 30 days, one DX or
// US instance each, straight into the index (the archive's blobs are not needed here).
func fill(b testing.TB, en *env, n int) {
	ctx := context.Background()
	r := en.idx.Reading()
	for s := 0; s < 25; s++ {
		if _, err := r.PutSite(ctx, reading.Site{Name: fmt.Sprintf("镇%02d卫生院", s), AETitles: []string{fmt.Sprintf("TOWN%02d", s)}}); err != nil {
			b.Fatal(err)
		}
	}
	start := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	work := make(chan int)
	errc := make(chan error, 1)
	for w := 0; w < 64; w++ { // concurrent writers share group commits
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if _, err := en.idx.PutInstance(ctx, benchInstance(i, start)); err != nil {
					select {
					case errc <- err:
					default:
					}
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errc:
		b.Fatal(err)
	default:
	}
}

func benchInstance(i int, start time.Time) *store.Instance {
	str := func(vr, v string) dicom.JSONAttribute { return dicom.JSONAttribute{VR: vr, Value: []any{v}} }
	study := fmt.Sprintf("2.25.7%d", i)
	series := study + ".1"
	recv := start.Add(time.Duration(i) * 30 * 24 * time.Hour / 100000)
	mod := "DX"
	if i%3 == 0 {
		mod = "US"
	}
	ae := fmt.Sprintf("TOWN%02d", i%27) // 25 known sites, 2 unknown senders
	sum := sha256.Sum256([]byte(study))
	k := i % len(surnames)
	return &store.Instance{
		StudyInstanceUID: study, SeriesInstanceUID: series, SOPInstanceUID: series + ".1",
		SOPClassUID: "1.2.840.10008.5.1.4.1.1.1.1", TransferSyntaxUID: dicom.ExplicitVRLittleEndian,
		BlobKey: "b/" + study, Size: 1, SHA256: hex.EncodeToString(sum[:]),
		Origin: store.Origin{Transport: "dimse", CallingAE: ae}, ReceivedAt: recv,
		StudyAttrs: dicom.JSONDataset{
			dicom.TagStudyInstanceUID.Hex(): str("UI", study),
			dicom.TagPatientName.Hex():      {VR: "PN", Value: []any{dicom.PersonNameJSON(fmt.Sprintf("%s^Wei%d=%s^伟%d", pinyin[k], i, surnames[k], i))}},
			dicom.TagPatientID.Hex():        str("LO", fmt.Sprintf("P%07d", i)),
			dicom.TagPatientSex.Hex():       str("CS", "M"),
			dicom.TagPatientAge.Hex():       str("AS", "045Y"),
			dicom.TagStudyDate.Hex():        str("DA", recv.Format("20060102")),
			dicom.TagStudyTime.Hex():        str("TM", recv.Format("150405")),
		},
		SeriesAttrs: dicom.JSONDataset{
			dicom.TagSeriesInstanceUID.Hex(): str("UI", series),
			dicom.TagModality.Hex():          str("CS", mod),
			dicom.TagBodyPartExamined.Hex():  str("CS", "CHEST"),
		},
		InstanceAttrs: dicom.JSONDataset{dicom.TagRows.Hex(): {VR: "US", Value: []any{float64(256)}},
			dicom.TagColumns.Hex(): {VR: "US", Value: []any{float64(256)}}},
	}
}

// serverClient calls the echo handler in-process, so the figure is server time only.
type serverClient struct {
	h      http.Handler
	cookie string
}

func newServerClient(b testing.TB, en *env) *serverClient {
	e := echo.New()
	en.viewer.Register(e)
	en.admin() // the initial password opens nothing until it is changed
	req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(url.Values{
		"username": {"admin"}, "password": {en.adminPW}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther {
		b.Fatalf("login: %d", rec.Code)
	}
	return &serverClient{h: e, cookie: rec.Result().Cookies()[0].String()}
}

func (s *serverClient) get(b testing.TB, path string) (time.Duration, *httptest.ResponseRecorder) {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("Cookie", s.cookie)
	req.Header.Set("Accept", "text/html")
	rec := httptest.NewRecorder()
	t0 := time.Now()
	s.h.ServeHTTP(rec, req)
	d := time.Since(t0)
	if rec.Code != http.StatusOK {
		b.Fatalf("GET %s: %d", path, rec.Code)
	}
	return d, rec
}

func reportPercentiles(b *testing.B, ds []time.Duration) {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	q := func(p float64) float64 {
		return float64(ds[min(len(ds)-1, int(p*float64(len(ds))))].Microseconds()) / 1000
	}
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.95), "p95-ms")
}

// BenchmarkWorklist is the worklist page (full HTML, 50 rows with series, sites, filters)
// at benchStudies() studies, server time: first page, a site, a status, a name prefix, and
// page 20 by cursor.
func BenchmarkWorklist(b *testing.B) {
	en := newEnv(b)
	n := benchStudies()
	t0 := time.Now()
	fill(b, en, n)
	b.Logf("indexed %d studies in %v", n, time.Since(t0).Round(time.Millisecond))
	sc := newServerClient(b, en)
	sites, _ := en.idx.Reading().Sites(context.Background())

	// The cursor of page 20.
	path := "/"
	for i := 0; i < 19; i++ {
		_, rec := sc.get(b, path)
		body := rec.Body.String()
		j := strings.Index(body, `id="next-page"`)
		k := strings.LastIndex(body[:j], `href="`)
		path = htmlUnescape(body[k+6 : j-2])
	}
	for _, c := range []struct{ name, path string }{
		{"first-page", "/"},
		{"site", "/?site=" + strconv.FormatInt(sites[7].ID, 10)},
		{"unread-DX", "/?status=unread&modality=DX"},
		{"name-prefix", "/?q=" + url.QueryEscape("王")},
		{"pinyin-prefix", "/?q=zhao"},
		{"page-20", path},
	} {
		b.Run(c.name, func(b *testing.B) {
			ds := make([]time.Duration, 0, b.N)
			for i := 0; i < b.N; i++ {
				d, _ := sc.get(b, c.path)
				ds = append(ds, d)
			}
			reportPercentiles(b, ds)
		})
	}
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#43;", "+", "&lt;", "<", "&gt;", ">").Replace(s)
}

// BenchmarkFramePixels3000 is the server's one-time work for a 3000x3000 DR in the study
// view: read, decode, Modality LUT, pack and gzip the full-resolution frame, and the same
// reduced to the 1024 px preview (the cache is bypassed).
// Window/level itself then runs in the browser (measured by browsertest/viewer.mjs).
func BenchmarkFramePixels3000(b *testing.B) {
	en := newEnv(b)
	big := syntheticDR(b, "2.25.900001", "2.25.900002", "2.25.900003", "测试^大图", 3000, 3000)
	if _, err := en.archive.Put(context.Background(), bytes.NewReader(big), store.PutRequest{}); err != nil {
		b.Fatal(err)
	}
	for _, side := range []int{0, previewSide} {
		b.Run(fmt.Sprintf("side=%d", side), func(b *testing.B) {
			var size int
			for i := 0; i < b.N; i++ {
				e, err := en.viewer.preparePixels(context.Background(), "2.25.900003", 0, side)
				if err != nil {
					b.Fatal(err)
				}
				size = len(e.body)
			}
			b.ReportMetric(float64(size)/(1<<20), "MiB-gzipped")
		})
	}
}

// BenchmarkViewerInBrowser times the image viewer in Chromium (browsertest/viewer_bench.mjs)
// on five chest DR studies (3000x3000 PA and a lateral, each with a prior), each opened once,
// as a study is opened some time after it arrived: its thumbnails and previews made after
// ingest (previews.go), its full-resolution frames not yet prepared: first image, full
// resolution, next image, window/level and a prior side by side, p50 and p95 over the
// studies. The figures are reported, not asserted:
//
//	go test -run '^$' -bench BenchmarkViewerInBrowser -benchtime 1x ./viewer/
func BenchmarkViewerInBrowser(b *testing.B) {
	browsertest.Require(b)
	// Thumbnails from the service, made before the studies are opened, as pacsd serve makes
	// them after ingest (the test fallback would render each on every page load).
	var thumbs *thumbnail.Service
	en := newEnvWith(b, func(c *Config) {
		allRepos(c)
		var err error
		if thumbs, err = thumbnail.New(c.Archive, thumbnail.Config{Dir: b.TempDir(), Logger: quietLogger(b)}); err != nil {
			b.Fatal(err)
		}
		c.Thumbnails = thumbs
	})
	en.admin()
	en.user("doc", reading.RoleRadiologist, 0)
	var studies []map[string]string
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		vs := putViewingStudiesAt(b, en.archive, fmt.Sprintf("2.25.82%04d", i))
		studies = append(studies, map[string]string{"uid": vs.current, "prior": vs.prior})
		for _, s := range [][2]string{{vs.current, vs.current + ".1"}, {vs.current, vs.latSeries}, {vs.prior, vs.prior + ".1"}} {
			if _, err := thumbs.Series(ctx, s[0], s[1]); err != nil {
				b.Fatal(err)
			}
		}
	}
	// The previews the viewer makes after ingest, ready as the thumbnails are.
	for _, st := range studies {
		for _, uid := range []string{st["uid"], st["prior"]} {
			insts, err := en.archive.Index().Instances(ctx, uid, "")
			if err != nil {
				b.Fatal(err)
			}
			for _, in := range insts {
				deadline := time.Now().Add(time.Minute)
				for wantsPreview(in) {
					if _, ok := en.viewer.frames.Get(pixelsKey(in, 0, previewSide)); ok {
						break
					}
					if time.Now().After(deadline) {
						b.Fatalf("no preview of %s after a minute", in.SOPInstanceUID)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		}
	}
	sc, _ := json.Marshal(map[string]any{
		"doc":         map[string]string{"username": "doc", "password": "password-doc"},
		"studies":     studies,
		"windowSteps": 40,
	})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i > 0 { // one pass: the studies are cold only once
			break
		}
		res := browsertest.Run(b, "viewer_bench.mjs", browsertest.Options{
			BaseURL: en.srv.URL,
			Env:     map[string]string{"VIEWER_BENCH": string(sc)},
			Timeout: 4 * time.Minute,
		})
		browsertest.Report(b, res)
		s := res.Step("time the viewer on 3000x3000 DR studies")
		if s == nil || !s.OK {
			b.Fatalf("the benchmark scenario failed: %+v", s)
		}
		b.Logf("viewer timings (ms): %s", s.Detail)
		var figures map[string]struct{ P50, P95 float64 }
		if err := json.Unmarshal(s.Detail, &figures); err != nil {
			b.Fatal(err)
		}
		for _, k := range []string{"firstImageMs", "fullResMs", "nextImageMs", "windowMs", "windowFullResMs", "compareMs"} {
			b.ReportMetric(figures[k].P50, k+"-p50")
		}
	}
}
