package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"pacsd/reading"
)

// BenchmarkPriors: Reading.Priors at 10,000 and 100,000 studies (buildNameIndex: a patient
// has three studies, 480 names are shared by everyone), the patients spread over 20 sites
// with varied birth dates, so that each call finds the patient's two other studies by ID
// and looks at every study of the same name for a possible match; p50/p99 per call, county
// scope and a township's.
func BenchmarkPriors(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{10000, 100000} {
		x, err := Open(ctx, filepath.Join(b.TempDir(), "index.db"))
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		buildNameIndex(b, x, n)
		r := x.Reading()
		for i := range 20 {
			if _, err := r.PutSite(ctx, reading.Site{Name: fmt.Sprintf("镇%d", i+1)}); err != nil {
				b.Fatal(err)
			}
		}
		err = x.write(ctx, func(tx *sql.Tx) error {
			if _, err := tx.Exec(`UPDATE reading_studies SET site_id = (SELECT min(id) FROM sites) +
				(SELECT CAST(substr(patient_id, 2) AS INTEGER) FROM studies WHERE id = study_pk) % 20`); err != nil {
				return err
			}
			_, err := tx.Exec(`UPDATE studies SET patient_birth_date = printf('19%02d%02d%02d', 30 + CAST(substr(patient_id, 2) AS INTEGER) % 60,
				1 + CAST(substr(patient_id, 2) AS INTEGER) % 12, 1 + CAST(substr(patient_id, 2) AS INTEGER) % 28)`)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("indexed %d studies in %v", n, time.Since(t0).Round(time.Millisecond))
		var site int64
		if err := x.r.QueryRow(`SELECT COALESCE(site_id, 0) FROM reading_studies WHERE study_uid = ?`, "1.2.826.0.1.3680043.10.11.4").Scan(&site); err != nil {
			b.Fatal(err)
		}
		for _, c := range []struct {
			name  string
			scope reading.PriorScope
		}{{"county", reading.PriorScope{}}, {"township", reading.PriorScope{SiteID: site}}} {
			b.Run(fmt.Sprintf("studies=%d/%s", n, c.name), func(b *testing.B) {
				var lat []time.Duration
				found := 0
				for b.Loop() {
					t := time.Now()
					ps, err := r.Priors(ctx, "1.2.826.0.1.3680043.10.11.4", c.scope)
					if err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(t))
					found = len(ps)
				}
				sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
				b.ReportMetric(float64(found), "priors")
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds())/1000, "p99-ms")
			})
		}
		x.Close()
	}
}
