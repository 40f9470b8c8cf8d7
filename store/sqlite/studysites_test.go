package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"pacsd/store"
)

// TestStudySitesSkipScan: a study's sites come from instances_series_site a value at a
// time (no read of every instance, which made the n-th object of a series cost n row
// reads at every Put), and are still every distinct site of every series, in order.
func TestStudySitesSkipScan(t *testing.T) {
	x, _ := openTest(t)
	ctx := context.Background()
	rows, err := x.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+studySitesQuery, "1.2")
	if err != nil {
		t.Fatal(err)
	}
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	rows.Close()
	all := strings.Join(plan, "\n")
	if !strings.Contains(all, "instances_series_site (series_pk=? AND site>?)") || strings.Contains(all, "SCAN i") || strings.Contains(all, "instances_order") {
		t.Errorf("StudySites plan reads the instances rather than seeking the index:\n%s", all)
	}

	put := func(series, sop int, site string) {
		t.Helper()
		if _, err := x.PutInstance(ctx, &store.Instance{StudyInstanceUID: "1.2", SeriesInstanceUID: fmt.Sprintf("1.2.%d", series),
			SOPInstanceUID: fmt.Sprintf("1.2.%d.%d", series, sop), BlobKey: fmt.Sprintf("k%d.%d.dcm", series, sop), SHA256: "00",
			Origin: store.Origin{Site: site}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 50 {
		put(1, i, "county")
	}
	put(1, 50, "site:2")
	put(2, 1, "")
	put(2, 2, "site:7")
	put(2, 3, "site:2")
	got, err := x.StudySites(ctx, "1.2")
	if want := []string{"", "county", "site:2", "site:7"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("StudySites = %q, %v; want %q", got, err, want)
	}
	if got, err := x.StudySites(ctx, "9.9"); err != nil || len(got) != 0 {
		t.Errorf("StudySites of an unknown study = %q, %v; want none", got, err)
	}
}

// BenchmarkStudySites: the sites of a 1,000-instance study (a CT series), as every Put of
// its next object asks them.
func BenchmarkStudySites(b *testing.B) {
	x, err := Open(context.Background(), filepath.Join(b.TempDir(), "index.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer x.Close()
	ctx := context.Background()
	recs := make([]*store.Instance, 1000)
	for i := range recs {
		recs[i] = &store.Instance{StudyInstanceUID: "1.2", SeriesInstanceUID: "1.2.3", SOPInstanceUID: fmt.Sprintf("1.2.3.%d", i),
			BlobKey: fmt.Sprintf("k%d.dcm", i), SHA256: "00", Origin: store.Origin{Site: "site:1"}}
	}
	if err := x.putBatch(ctx, recs); err != nil {
		b.Fatal(err)
	}
	b.Run("skip-scan", func(b *testing.B) {
		for b.Loop() {
			if sites, err := x.StudySites(ctx, "1.2"); err != nil || len(sites) != 1 {
				b.Fatal(sites, err)
			}
		}
	})
	// The query before 0022_instances_site.sql, for comparison: every instance read.
	b.Run("every-instance", func(b *testing.B) {
		for b.Loop() {
			var n int
			if err := x.r.QueryRowContext(ctx, `SELECT count(DISTINCT i.site) FROM studies st
				JOIN series se ON se.study_pk = st.id JOIN instances i ON i.series_pk = se.id
				WHERE st.study_uid = ?`, "1.2").Scan(&n); err != nil || n != 1 {
				b.Fatal(n, err)
			}
		}
	})
}
