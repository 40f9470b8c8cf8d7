package postgres

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"pacsd/dicom"
	"pacsd/internal/pgtest"
	"pacsd/reading"
	"pacsd/reading/readingtest"
	"pacsd/store/sqldb"
	"pacsd/store/storetest"
)

// TestPriorsPlan keeps the priors an index search at any archive size, as store/sqlite's
// test of the same name does: the same patient is found through studies_patient_id, a
// possible match through study_names' primary key, and each study then by its primary key;
// nothing scans studies or reading_studies, nor walks an order index of every study.
// PostgreSQL's planner decides from statistics, so the plans are read on a database of a
// few thousand studies at two sites after ANALYZE.
func TestPriorsPlan(t *testing.T) {
	if testing.Short() {
		t.Skip("loads thousands of studies")
	}
	ctx := context.Background()
	x, err := Open(ctx, pgtest.DB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	r := x.Reading()
	var sites []int64
	for _, s := range []reading.Site{{Name: "甲镇", AETitles: []string{"TOWN_A"}}, {Name: "乙镇", AETitles: []string{"TOWN_B"}}} {
		s, err := r.PutSite(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		sites = append(sites, s.ID)
	}
	// 3000 studies of 1000 patients, each patient's at one site, with names of a few
	// surnames and given names (so that name keys repeat as in a real county).
	const studies, workers = 3000, 4
	surnames, given := []string{"张", "王", "李", "赵", "刘", "陈"}, []string{"伟", "芳", "娜", "强", "磊", "洋", "敏", "静"}
	base := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < studies; i += workers {
				p := i % 1000
				in := storetest.ReadingInstance(readingtest.Study{UID: fmt.Sprintf("40.%d", i), PatientID: fmt.Sprintf("P%04d", p),
					PatientName: surnames[p%len(surnames)] + given[p/len(surnames)%len(given)] + given[p%len(given)],
					CallingAE:   []string{"TOWN_A", "TOWN_B"}[p%2], StudyDate: base.AddDate(0, 0, i%365).Format("20060102"),
					Modality: "DX", ReceivedAt: base.Add(time.Duration(i) * time.Minute)})
				in.StudyAttrs[dicom.TagPatientSex.Hex()] = dicom.JSONAttribute{VR: "CS", Value: []any{[]string{"M", "F"}[p%2]}}
				in.StudyAttrs[dicom.TagPatientBirthDate.Hex()] = dicom.JSONAttribute{VR: "DA", Value: []any{fmt.Sprintf("19%02d0101", p%90)}}
				if _, err := x.PutInstance(ctx, in); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if _, err := x.db.ExecContext(ctx, `VACUUM ANALYZE`); err != nil {
		t.Fatal(err)
	}
	// The priors themselves, as a check that the load is what the plans are read on.
	ps, err := r.Priors(ctx, "40.7", reading.PriorScope{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 {
		t.Errorf("study 40.7 has %d priors, want its patient's 2 others", len(ps))
	}

	// Patient 7 of the load: 王芳静, F, born 19070101, at the second site.
	site := sites[1]
	var keys []string
	for _, n := range sqldb.NormalizedNames("王芳静") {
		keys = append(keys, sqldb.FoldKey(n))
	}
	possible := []any{sqldb.AttrPatientName, sqldb.KeyWord, sqldb.KeyPinyin, keys, int64(1), &site, "F", "19070101"}
	for _, c := range []struct {
		name  string
		where string
		args  []any
		scope reading.PriorScope
		want  string
	}{
		{"same patient", priorsSame, []any{"P0007", int64(1), &site}, reading.PriorScope{}, "studies_patient_id"},
		{"same patient, township", priorsSame, []any{"P0007", int64(1), &site}, reading.PriorScope{SiteID: site}, "studies_patient_id"},
		{"same patient, unknown sender", priorsSame, []any{"P0007", int64(1), nil}, reading.PriorScope{WithQuarantined: true}, "studies_patient_id"},
		{"possible", priorsPossible, possible, reading.PriorScope{}, "study_names_pkey"},
	} {
		t.Run(c.name, func(t *testing.T) {
			q, a := priorsQuery(c.where, c.args, c.scope)
			plan := queryPlan(t, x, q, a...)
			all := strings.Join(plan, "\n")
			t.Logf("plan:\n%s", all)
			for _, step := range plan {
				for _, table := range []string{"studies", "reading_studies", "study_names", "series"} {
					if strings.Contains(step, "Seq Scan on "+table+" ") {
						t.Errorf("a full scan: %q in plan\n%s", step, all)
					}
				}
				// Any index of reading_studies but its primary key walks a site's or every
				// study.
				if strings.Contains(step, " on reading_studies") && !strings.Contains(step, "reading_studies_pkey") {
					t.Errorf("walks an index of every study: %q in plan\n%s", step, all)
				}
			}
			if !strings.Contains(all, c.want) {
				t.Errorf("plan lacks %q:\n%s", c.want, all)
			}
			if !strings.Contains(all, "reading_studies_pkey") {
				t.Errorf("the studies found are not read by primary key:\n%s", all)
			}
		})
	}
}

// queryPlan is PostgreSQL's plan of q, a line per step.
func queryPlan(t *testing.T, x *Index, q string, args ...any) []string {
	t.Helper()
	rows, err := x.db.QueryContext(context.Background(), "EXPLAIN "+q, args...)
	if err != nil {
		t.Fatalf("explain %s: %v", q, err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var step string
		if err := rows.Scan(&step); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, strings.TrimSpace(step))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}
