package postgres_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"pacsd/dicom"
	"pacsd/store"
	"pacsd/store/storetest"
)

// benchFixture is the n-th instance of a load: 200 instances a series, 2 series a study.
func benchFixture(n int) storetest.Fixture {
	study, series := n/400, n/200
	return storetest.Fixture{Study: fmt.Sprintf("1.3.%d", study), Series: fmt.Sprintf("1.3.%d.%d", study, series),
		SOP: fmt.Sprintf("1.3.%d.%d.%d", study, series, n), SOPClass: storetest.ClassCT, Modality: "CT",
		PatientName: "Zhang^Wei=张^伟", PatientID: fmt.Sprintf("P%d", study), StudyDate: "20240105",
		SeriesNumber: series%2 + 1, InstanceNumber: n%200 + 1}
}

// BenchmarkPutInstance: one association's ingest (one PutInstance at a time), and eight at
// once (as several associations, or nodes, do).
func BenchmarkPutInstance(b *testing.B) {
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		x := openSearchIndex(b)
		for i := 0; b.Loop(); i++ {
			if _, err := x.PutInstance(ctx, benchFixture(i).Instance()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel8", func(b *testing.B) {
		x := openSearchIndex(b)
		var next atomic.Int64
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := x.PutInstance(ctx, benchFixture(int(next.Add(1))).Instance()); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkSearch: QIDO-RS's and C-FIND's common searches on loadPlanIndex's studies.
func BenchmarkSearch(b *testing.B) {
	ctx := context.Background()
	x := loadPlanIndex(b)
	m := func(tag dicom.Tag, v string) []store.Match { return []store.Match{{Tag: tag, Value: v}} }
	for _, c := range []struct {
		name string
		q    store.Query
	}{
		{"worklist page", store.Query{Level: store.LevelStudy, Limit: 50}},
		{"name prefix", store.Query{Level: store.LevelStudy, Limit: 50, Matches: m(dicom.TagPatientName, "张*")}},
		{"fuzzy name", store.Query{Level: store.LevelStudy, Fuzzy: true, Matches: m(dicom.TagPatientName, "zhang wei")}},
		{"patient id", store.Query{Level: store.LevelStudy, Matches: m(dicom.TagPatientID, "P00042")}},
		{"date range", store.Query{Level: store.LevelStudy, Matches: m(dicom.TagStudyDate, "20240101-20240131")}},
		{"series of a study", store.Query{Level: store.LevelSeries, StudyInstanceUID: "1.2.826.0.1.5"}},
		{"patients page", store.Query{Level: store.LevelPatient, Limit: 50}},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := x.Search(ctx, c.q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
