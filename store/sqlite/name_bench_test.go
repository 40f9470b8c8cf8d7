package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"pacsd/dicom"
	"pacsd/store"
)

// Names as township modalities send them (tools/benchweb's corpus draws from the same
// lists): 20 common surnames, 24 given names; 45% ideographs only (half of them with '^'),
// 45% Alphabetic=Ideographic, 10% Latin.
var (
	benchSurnames = [][2]string{{"王", "Wang"}, {"李", "Li"}, {"张", "Zhang"}, {"刘", "Liu"}, {"陈", "Chen"},
		{"杨", "Yang"}, {"黄", "Huang"}, {"赵", "Zhao"}, {"吴", "Wu"}, {"周", "Zhou"}, {"徐", "Xu"}, {"孙", "Sun"},
		{"马", "Ma"}, {"朱", "Zhu"}, {"胡", "Hu"}, {"郭", "Guo"}, {"何", "He"}, {"林", "Lin"}, {"罗", "Luo"}, {"高", "Gao"}}
	benchGiven = [][2]string{{"伟", "Wei"}, {"芳", "Fang"}, {"娜", "Na"}, {"敏", "Min"}, {"静", "Jing"}, {"丽", "Li"},
		{"强", "Qiang"}, {"磊", "Lei"}, {"军", "Jun"}, {"洋", "Yang"}, {"勇", "Yong"}, {"艳", "Yan"}, {"杰", "Jie"},
		{"娟", "Juan"}, {"涛", "Tao"}, {"明", "Ming"}, {"超", "Chao"}, {"秀英", "Xiuying"}, {"建华", "Jianhua"},
		{"志强", "Zhiqiang"}, {"桂兰", "Guilan"}, {"国强", "Guoqiang"}, {"小红", "Xiaohong"}, {"海燕", "Haiyan"}}
)

// buildNameIndex fills x with n one-instance studies, names drawn as above, the first
// 10,000 always the same; beyond them (filler) no name has the surname 张 (Zhang), so that
// searches for it find the same studies at 10,000 and at 100,000.
func buildNameIndex(tb testing.TB, x *Index, n int) {
	tb.Helper()
	rng := rand.New(rand.NewPCG(7, 1))
	day0 := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	const batch = 500
	for lo := 0; lo < n; lo += batch {
		var recs []*store.Instance
		for i := lo; i < min(n, lo+batch); i++ {
			if i == 10000 {
				rng = rand.New(rand.NewPCG(7, 2))
			}
			s, g := benchSurnames[rng.IntN(len(benchSurnames))], benchGiven[rng.IntN(len(benchGiven))]
			for i >= 10000 && s[0] == "张" {
				s = benchSurnames[rng.IntN(len(benchSurnames))]
			}
			var pn map[string]string
			switch r := rng.IntN(100); {
			case r < 45:
				if rng.IntN(2) == 0 {
					pn = map[string]string{"Alphabetic": s[0] + g[0]}
				} else {
					pn = map[string]string{"Alphabetic": s[0] + "^" + g[0]}
				}
			case r < 90:
				pn = map[string]string{"Alphabetic": s[1] + "^" + g[1], "Ideographic": s[0] + "^" + g[0]}
			default:
				pn = map[string]string{"Alphabetic": []string{"SMITH", "GARCIA", "ROSSI", "KIM"}[rng.IntN(4)] + "^JOHN"}
			}
			study := fmt.Sprintf("1.2.826.0.1.3680043.10.11.%d", i+1)
			recs = append(recs, &store.Instance{
				StudyInstanceUID: study, SeriesInstanceUID: study + ".1", SOPInstanceUID: study + ".1.1",
				SOPClassUID: "1.2.840.10008.5.1.4.1.1.1.1", TransferSyntaxUID: dicom.ExplicitVRLittleEndian,
				BlobKey: "bench/" + study, Size: 1000, SHA256: fmt.Sprintf("%064x", i), ReceivedAt: time.Now(),
				StudyAttrs: dicom.JSONDataset{
					"00080020": {VR: "DA", Value: []any{day0.AddDate(0, 0, rng.IntN(730)).Format("20060102")}},
					"00080030": {VR: "TM", Value: []any{fmt.Sprintf("%02d%02d00", rng.IntN(24), rng.IntN(60))}},
					"00080050": {VR: "SH", Value: []any{fmt.Sprintf("A%08d", i)}},
					"00081030": {VR: "LO", Value: []any{"胸部正位"}},
					"00100010": {VR: "PN", Value: []any{pn}},
					"00100020": {VR: "LO", Value: []any{fmt.Sprintf("P%07d", i/3)}},
					"00100040": {VR: "CS", Value: []any{"M"}},
					"0020000D": {VR: "UI", Value: []any{study}},
				},
				SeriesAttrs: dicom.JSONDataset{
					"00080060": {VR: "CS", Value: []any{"DX"}},
					"0020000E": {VR: "UI", Value: []any{study + ".1"}},
				},
				InstanceAttrs: dicom.JSONDataset{
					"00080016": {VR: "UI", Value: []any{"1.2.840.10008.5.1.4.1.1.1.1"}},
					"00080018": {VR: "UI", Value: []any{study + ".1.1"}},
				},
			})
		}
		if err := x.putBatch(context.Background(), recs); err != nil {
			tb.Fatal(err)
		}
	}
}

// nameQueries are the name searches measured: Chinese prefix, whole Chinese name, pinyin
// prefix, fuzzy pinyin.
var nameQueries = []struct {
	name  string
	value string
	fuzzy bool
}{
	{"张*", "张*", false},
	{"张伟", "张伟", false},
	{"zhang*", "zhang*", false},
	{"fuzzy zhang", "zhang", true},
}

// BenchmarkNameSearch: Index.Search by Patient Name at 10,000 and 100,000 studies, the
// same studies matching at both (buildNameIndex), all matches returned as QIDO-RS and
// C-FIND ask; p50/p99 per query. "uncached" prepares the SQL for each search, as Search
// did before stmtCache.
func BenchmarkNameSearch(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		x, err := Open(context.Background(), filepath.Join(b.TempDir(), "index.db"))
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		buildNameIndex(b, x, n)
		b.Logf("indexed %d studies in %v", n, time.Since(t0).Round(time.Millisecond))
		for _, q := range nameQueries {
			b.Run(fmt.Sprintf("studies=%d/%s", n, q.name), func(b *testing.B) { benchNameSearch(b, x, q.value, q.fuzzy) })
		}
		if n == 10000 {
			x.stmts.close()
			for _, q := range nameQueries[1:2] {
				b.Run(fmt.Sprintf("studies=%d/%s/uncached", n, q.name), func(b *testing.B) { benchNameSearch(b, x, q.value, q.fuzzy) })
			}
		}
		x.Close()
	}
}

func benchNameSearch(b *testing.B, x *Index, v string, fuzzy bool) {
	sq := store.Query{Level: store.LevelStudy, Fuzzy: fuzzy, Matches: []store.Match{{Tag: dicom.TagPatientName, Value: v}}}
	var lat []time.Duration
	hits := 0
	for b.Loop() {
		t := time.Now()
		h, err := x.Search(context.Background(), sq)
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t))
		hits = len(h)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(hits), "matches")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds())/1000, "p99-ms")
}

// putBatch writes many records at once, so that the writer's group commit puts up to
// maxBatch of them in one transaction (benchmarks only).
func (x *Index) putBatch(ctx context.Context, recs []*store.Instance) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(recs))
	for _, r := range recs {
		wg.Go(func() {
			if _, err := x.PutInstance(ctx, r); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// TestBuildNameIndexFile writes a 10,000-study index to $PACSD_NAME_DB for looking at
// plans in the sqlite3 shell (skipped unless set).
func TestBuildNameIndexFile(t *testing.T) {
	path := os.Getenv("PACSD_NAME_DB")
	if path == "" {
		t.Skip("PACSD_NAME_DB not set")
	}
	x, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	buildNameIndex(t, x, 10000)
}
