package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pacsd/dicom"
	"pacsd/reading"
	"pacsd/store"
	"pacsd/store/sqldb"
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
		// C-FIND: patients (grouped from the studies by Patient ID) and a township's scope.
		{"patients", store.Query{Level: store.LevelPatient, Limit: 50}},
		{"patient by id", store.Query{Level: store.LevelPatient, Matches: m(dicom.TagPatientID, "P1")}},
		{"patient by name prefix", store.Query{Level: store.LevelPatient, Matches: m(dicom.TagPatientName, "张*")}},
		{"site: worklist page", store.Query{Level: store.LevelStudy, Limit: 50, SiteID: 3}},
		{"site: patient id", store.Query{Level: store.LevelStudy, SiteID: 3, Matches: m(dicom.TagPatientID, "P1")}},
		{"site: study date range", store.Query{Level: store.LevelStudy, SiteID: 3, Matches: m(dicom.TagStudyDate, "20240101-20240131")}},
		{"site: series of a study", store.Query{Level: store.LevelSeries, SiteID: 3, StudyInstanceUID: "1.2"}},
		{"site: patient by name", store.Query{Level: store.LevelPatient, SiteID: 3, Matches: m(dicom.TagPatientName, "张*")}},
		// Name searches start from study_names (0015_name_keys.sql), never from studies.
		{"patient name whole value", store.Query{Level: store.LevelStudy, Matches: m(dicom.TagPatientName, "Zhang^Wei=张^伟")}},
		{"patient name list", store.Query{Level: store.LevelStudy, Matches: m(dicom.TagPatientName, `张伟\李*`)}},
		{"patient name fuzzy", store.Query{Level: store.LevelStudy, Fuzzy: true, Matches: m(dicom.TagPatientName, "zhang")}},
		{"patient name fuzzy two words", store.Query{Level: store.LevelStudy, Fuzzy: true, Matches: m(dicom.TagPatientName, "zhang wei")}},
		{"patient name first page", store.Query{Level: store.LevelStudy, Limit: 50, Matches: m(dicom.TagPatientName, "张*")}},
		{"referring physician", store.Query{Level: store.LevelStudy, Matches: m(dicom.TagReferringPhysicianName, "Li*")}},
		{"site: patient name", store.Query{Level: store.LevelStudy, SiteID: 3, Matches: m(dicom.TagPatientName, "张*")}},
		{"series by patient name", store.Query{Level: store.LevelSeries, Matches: m(dicom.TagPatientName, "张*")}},
		{"instances by patient name", store.Query{Level: store.LevelInstance, Matches: m(dicom.TagPatientName, "张*")}},
		{"patient name and date", store.Query{Level: store.LevelStudy, Matches: []store.Match{
			{Tag: dicom.TagPatientName, Value: "zhang*"}, {Tag: dicom.TagStudyDate, Value: "20240101-20240131"}}}},
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
			byName := false
			for _, mt := range tc.q.Matches {
				byName = byName || mt.Tag == dicom.TagPatientName || mt.Tag == dicom.TagReferringPhysicianName
			}
			for _, step := range plan {
				// "SCAN s USING INDEX studies_order" walks the order index and stops at the
				// LIMIT; a bare "SCAN s" reads the whole table. "SCAN nm" (or nw) reads the studies
				// a name's keys found (a SEARCH of study_names).
				if strings.HasPrefix(step, "SCAN ") && !strings.Contains(step, "USING") && step != "SCAN nm" && step != "SCAN nw" {
					t.Errorf("full scan %q in plan %q", step, plan)
				}
				// A name search reads studies by primary key only: walking studies_order
				// would make its time grow with the archive.
				if byName && tc.q.Level != store.LevelPatient && strings.HasPrefix(step, "SCAN s") {
					t.Errorf("name search scans studies: %q in plan %q", step, plan)
				}
			}
			if byName && !strings.Contains(strings.Join(plan, "|"), "SEARCH study_names USING PRIMARY KEY (attr=? AND kind=? AND key") {
				t.Errorf("name search does not search study_names by key: %q", plan)
			}
			if tc.name == "worklist page" && !strings.Contains(strings.Join(plan, "|"), "studies_order") {
				t.Errorf("worklist page does not walk studies_order: %q", plan)
			}
			// Patients are grouped from the studies in Patient ID order: that index, not a sort.
			if tc.q.Level == store.LevelPatient && !strings.Contains(strings.Join(plan, "|"), "studies_patient_id") {
				t.Errorf("patient search does not use studies_patient_id: %q", plan)
			}
		})
	}
}

// TestWorklistPlans: each part of a worklist page, in either order and after a cursor, walks
// an index in the page's order and stops at the LIMIT: no full scan, no sort of the table
// (only the urgent unread part, a handful of rows from its partial index, may be sorted).
func TestWorklistPlans(t *testing.T) {
	x, err := Open(context.Background(), filepath.Join(t.TempDir(), "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	for _, order := range []reading.WorklistOrder{reading.OrderReceived, reading.OrderStudy} {
		for _, f := range []struct {
			name string
			f    reading.WorklistFilter
		}{
			{"all", reading.WorklistFilter{}},
			{"site", reading.WorklistFilter{SiteID: 3}},
			{"unread", reading.WorklistFilter{Status: reading.StatusUnread}},
			{"search", reading.WorklistFilter{Query: "张"}},
		} {
			where, err := sqldb.WorklistWhere(f.f, sqliteSQL, nameCond)
			if err != nil {
				t.Fatal(err)
			}
			row := reading.WorklistRow{StudyUID: "1.2.3", StudyDate: "20260301", StudyTime: "093000", ReceivedAt: time.Now()}
			for _, c := range []struct {
				name  string
				after sqldb.WorklistCursor
			}{
				{"urgent", sqldb.WorklistCursor{Order: order, Urgent: true}},
				{"urgent after", sqldb.CursorAt(order, true, row, 7)},
				{"others", sqldb.WorklistCursor{Order: order}},
				{"others after", sqldb.CursorAt(order, false, row, 7)},
			} {
				t.Run(string(order)+" "+f.name+" "+c.name, func(t *testing.T) {
					q, a := worklistQuery(where, c.after, 51)
					plan := queryPlan(t, x, q, a...)
					index := map[reading.WorklistOrder]string{reading.OrderReceived: "reading_studies_order", reading.OrderStudy: "reading_studies_study_order"}[order]
					for _, step := range plan {
						if strings.HasPrefix(step, "SCAN ") && !strings.Contains(step, "USING") {
							t.Errorf("full scan %q in plan %q", step, plan)
						}
						// A search starts from the studies it finds and sorts those.
						if strings.Contains(step, "TEMP B-TREE") && !c.after.Urgent && f.f.Query == "" {
							t.Errorf("the page is sorted (%q), not read in index order: %q", step, plan)
						}
					}
					if f.f.Query != "" && !strings.Contains(strings.Join(plan, "|"), "SEARCH study_names USING PRIMARY KEY (attr=? AND kind=? AND key>? AND key<?)") {
						t.Errorf("the search box's names are not looked up in study_names: %q", plan)
					}
					if c.after.Urgent {
						if !strings.Contains(strings.Join(plan, "|"), "reading_studies_urgent_unread") {
							t.Errorf("the urgent part does not use its index: %q", plan)
						}
					} else if f.name == "all" && !strings.Contains(strings.Join(plan, "|"), index) {
						t.Errorf("%s order does not walk %s: %q", order, index, plan)
					}
				})
			}
		}
	}
}

func queryPlan(t *testing.T, x *Index, q string, args ...any) []string {
	t.Helper()
	rows, err := x.r.Query("EXPLAIN QUERY PLAN "+q, args...)
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
	return plan
}
