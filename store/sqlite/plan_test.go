package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"pacsd/dicom"
	"pacsd/store"
)

// TestQueryPlans keeps the common queries off full table scans: at 100k+ studies a scan is
// the difference between milliseconds and seconds. SQLite's planner decides from the schema
// (no statistics on a fresh file), so an empty index shows the plan a big one would use.
func TestQueryPlans(t *testing.T) {
	x, err := Open(context.Background(), filepath.Join(t.TempDir(), "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	m := func(tag dicom.Tag, v string) []store.Match { return []store.Match{{Tag: tag, Value: v}} }
	for _, tc := range []struct {
		name string
		q    store.Query
	}{
		{"worklist page", store.Query{Level: store.LevelStudy, Limit: 50}},
		{"patient id", store.Query{Level: store.LevelStudy, Matches: m(dicom.TagPatientID, "P1")}},
		{"accession", store.Query{Level: store.LevelStudy, Matches: m(dicom.TagAccessionNumber, "A100")}},
		{"study uid list", store.Query{Level: store.LevelStudy, Matches: m(dicom.TagStudyInstanceUID, `1.2\1.3`)}},
		{"study date range", store.Query{Level: store.LevelStudy, Matches: m(dicom.TagStudyDate, "20240101-20240131")}},
		{"patient name prefix", store.Query{Level: store.LevelStudy, Matches: m(dicom.TagPatientName, "zhang*")}},
		{"patient name chinese prefix", store.Query{Level: store.LevelStudy, Matches: m(dicom.TagPatientName, "张*")}},
		{"patient name exact", store.Query{Level: store.LevelStudy, Matches: m(dicom.TagPatientName, "Zhang^Wei")}},
		{"modalities in study", store.Query{Level: store.LevelStudy, Limit: 50, Matches: m(dicom.TagModalitiesInStudy, "CT")}},
		{"series of a study", store.Query{Level: store.LevelSeries, StudyInstanceUID: "1.2"}},
		{"series by uid", store.Query{Level: store.LevelSeries, Matches: m(dicom.TagSeriesInstanceUID, "1.2.3")}},
		{"instances of a series", store.Query{Level: store.LevelInstance, StudyInstanceUID: "1.2", SeriesInstanceUID: "1.2.3"}},
		{"instance by uid", store.Query{Level: store.LevelInstance, Matches: m(dicom.TagSOPInstanceUID, "1.2.3.4")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sqlText, args, err := buildSearch(tc.q)
			if err != nil {
				t.Fatal(err)
			}
			rows, err := x.r.Query("EXPLAIN QUERY PLAN "+sqlText, args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, notused int
				var detail string
				if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			t.Logf("plan: %q", plan)
			for _, step := range plan {
				// "SCAN s USING INDEX studies_order" walks the order index and stops at the
				// LIMIT; a bare "SCAN s" reads the whole table.
				if strings.HasPrefix(step, "SCAN ") && !strings.Contains(step, "USING") {
					t.Errorf("full scan %q in plan %q", step, plan)
				}
			}
			if tc.name == "worklist page" && !strings.Contains(strings.Join(plan, "|"), "studies_order") {
				t.Errorf("worklist page does not walk studies_order: %q", plan)
			}
		})
	}
}
