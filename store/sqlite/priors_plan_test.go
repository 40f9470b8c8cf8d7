package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"pacsd/reading"
)

// TestPriorsPlan keeps the priors an index search at any archive size: the same patient is
// found through studies_patient_id, a possible match through the primary key of
// study_names, and each study then by its primary key; nothing scans studies or
// reading_studies (at 100k studies a scan is the difference between a millisecond and a
// second). SQLite's planner decides from the schema, so an empty index shows the plan.
func TestPriorsPlan(t *testing.T) {
	x, err := Open(context.Background(), filepath.Join(t.TempDir(), "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	site := int64(3)
	possible := strings.Replace(priorsPossible, "%s", "?, ?", 1)
	possibleArgs := []any{attrPatientName, keyWord, keyPinyin, "zhangwei", "张伟", int64(1), &site, "M", "19790312"}
	for _, c := range []struct {
		name  string
		where string
		args  []any
		scope reading.PriorScope
		want  string
	}{
		{"same patient", priorsSame, []any{"P001", int64(1), &site}, reading.PriorScope{}, "USING COVERING INDEX studies_patient_id (patient_id=?)"},
		{"same patient, township", priorsSame, []any{"P001", int64(1), &site}, reading.PriorScope{SiteID: site}, "USING COVERING INDEX studies_patient_id (patient_id=?)"},
		{"same patient, unknown sender", priorsSame, []any{"P001", int64(1), nil}, reading.PriorScope{WithQuarantined: true}, "USING COVERING INDEX studies_patient_id (patient_id=?)"},
		{"possible", possible, possibleArgs, reading.PriorScope{}, "SEARCH study_names USING PRIMARY KEY (attr=? AND kind=? AND key=?)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			q, a := priorsQuery(c.where, c.args, c.scope)
			plan := queryPlan(t, x, q, a...)
			for _, step := range plan {
				if strings.HasPrefix(step, "SCAN ") && !strings.Contains(step, "USING") {
					t.Errorf("full scan %q in plan %q", step, plan)
				}
				if strings.HasPrefix(step, "SCAN rs") || strings.HasPrefix(step, "SCAN st") {
					t.Errorf("walks an index of every study: %q in plan %q", step, plan)
				}
			}
			all := strings.Join(plan, "|")
			if !strings.Contains(all, c.want) {
				t.Errorf("plan %q lacks %q", plan, c.want)
			}
			if !strings.Contains(all, "SEARCH rs USING INTEGER PRIMARY KEY (rowid=?)") {
				t.Errorf("the studies found are not read by primary key: %q", plan)
			}
		})
	}
}
