package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"pacsd/dicom"
	"pacsd/internal/pgtest"
	"pacsd/store"
	"pacsd/store/postgres"
	"pacsd/store/storetest"
)

// TestNodesPutOneStudy: two nodes (two Index values on one database) receive the instances
// of one study at once, several associations each, some replacing instances the other
// node wrote (with other content, so versions are kept) and some deleting: no write fails
// (deadlocks and serialization failures are retried) and the derived counts come out as
// the rows are.
func TestNodesPutOneStudy(t *testing.T) {
	ctx := context.Background()
	url := pgtest.DB(t)
	var nodes [2]*postgres.Index
	for i := range nodes {
		x, err := postgres.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { x.Close() })
		stubReadingStudies(t, x)
		nodes[i] = x
	}
	const (
		goroutines = 12 // six per node
		each       = 30
		series     = 4
		shared     = 10 // each goroutine's first instances are also sent by its twin on the other node
	)
	fixture := func(g, i int, content string) storetest.Fixture {
		owner := g / 2 // goroutines 2k and 2k+1 (one per node) send the same first instances
		sop := fmt.Sprintf("1.9.1.%d.%d", g, i)
		if i < shared {
			sop = fmt.Sprintf("1.9.1.s%d.%d", owner, i)
		}
		s := (owner + i) % series
		return storetest.Fixture{Study: "1.9.1", Series: fmt.Sprintf("1.9.1.%d", s), SOP: sop,
			SOPClass: storetest.ClassCT, Modality: []string{"CT", "MR", "CT", "SR"}[s],
			PatientName: "Nodes^Test", PatientID: "N1", SeriesNumber: s + 1, InstanceNumber: i + 1,
			Content: content}
	}
	// Each node's modality fills other study attributes: the study must end with both
	// (a merge computed from a study row read before the other node's write would lose one).
	withNode := func(f storetest.Fixture, node int) storetest.Fixture {
		if node == 0 {
			f.Accession = "ACC1"
		} else {
			f.StudyDescription = "CT HEAD"
		}
		return f
	}
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*each)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := nodes[g%2]
			for i := range each {
				f := withNode(fixture(g, i, fmt.Sprintf("node %d goroutine %d", g%2, g)), g%2)
				if _, err := x.PutInstance(ctx, f.Instance()); err != nil {
					errs <- fmt.Errorf("put %s: %w", f.SOP, err)
				}
				if i%7 == 6 && i >= shared { // a deletion of one's own instance
					if err := x.DeleteInstance(ctx, f.SOP); err != nil {
						errs <- fmt.Errorf("delete %s: %w", f.SOP, err)
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	wantInstances := 0
	for g := range goroutines {
		for i := range each {
			if i < shared && g%2 == 1 {
				continue // counted with its twin
			}
			if i%7 == 6 && i >= shared {
				continue
			}
			wantInstances++
		}
	}
	db := nodes[0].DB()
	var nSeries, nInst int
	var mods string
	if err := db.QueryRowContext(ctx, `SELECT num_series, num_instances, modalities_in_study FROM studies
		WHERE study_uid = '1.9.1'`).Scan(&nSeries, &nInst, &mods); err != nil {
		t.Fatal(err)
	}
	if nSeries != series || nInst != wantInstances || mods != `CT\MR\SR` {
		t.Errorf("study has %d series, %d instances, modalities %q; want %d, %d, CT\\MR\\SR", nSeries, nInst, mods, series, wantInstances)
	}
	rows, err := db.QueryContext(ctx, `SELECT se.series_uid, se.num_instances, (SELECT count(*) FROM instances i WHERE i.series_pk = se.id)
		FROM series se`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var uid string
		var kept, actual int
		if err := rows.Scan(&uid, &kept, &actual); err != nil {
			t.Fatal(err)
		}
		if kept != actual {
			t.Errorf("series %s counts %d instances, has %d", uid, kept, actual)
		}
	}
	// Both nodes sent each shared instance, each with its own content: one is current, the
	// other kept as a version (or none when the second put came from the same content).
	var versions int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM instance_versions`).Scan(&versions); err != nil {
		t.Fatal(err)
	}
	if want := goroutines / 2 * shared; versions != want {
		t.Errorf("%d kept versions, want %d (one per instance both nodes sent)", versions, want)
	}
	var acc, desc string
	if err := db.QueryRowContext(ctx, `SELECT accession_number, study_description FROM studies`).Scan(&acc, &desc); err != nil {
		t.Fatal(err)
	}
	if acc != "ACC1" || desc != "CT HEAD" {
		t.Errorf("study's accession %q, description %q: a node's attributes were lost", acc, desc)
	}
	hits, err := nodes[1].Search(ctx, store.Query{Level: store.LevelSeries, StudyInstanceUID: "1.9.1",
		Matches: []store.Match{{Tag: dicom.TagPatientName, Value: "nodes*"}}})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, h := range hits {
		total += h.SeriesInstances
	}
	if len(hits) != series || total != wantInstances {
		t.Errorf("series search: %d series with %d instances; want %d with %d", len(hits), total, series, wantInstances)
	}
}

// TestNodesMergeStudy: two nodes each add an instance to the same existing study at once,
// one carrying the Accession Number, the other the Study Description: the study keeps both
// (each merge reads the study under its row lock, after the other's commit).
func TestNodesMergeStudy(t *testing.T) {
	ctx := context.Background()
	url := pgtest.DB(t)
	var nodes [2]*postgres.Index
	for i := range nodes {
		x, err := postgres.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { x.Close() })
		stubReadingStudies(t, x)
		nodes[i] = x
	}
	const studies = 40
	base := func(s, i int) storetest.Fixture {
		return storetest.Fixture{Study: fmt.Sprintf("1.9.2.%d", s), Series: fmt.Sprintf("1.9.2.%d.1", s),
			SOP: fmt.Sprintf("1.9.2.%d.1.%d", s, i), SOPClass: storetest.ClassCT, Modality: "CT",
			PatientName: "Merge^Test", PatientID: "M1", InstanceNumber: i + 1}
	}
	for s := range studies {
		if _, err := nodes[0].PutInstance(ctx, base(s, 0).Instance()); err != nil {
			t.Fatal(err)
		}
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 2*studies)
	for s := range studies {
		for n := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				f := base(s, n+1)
				if n == 0 {
					f.Accession = "ACC"
				} else {
					f.StudyDescription = "DESC"
				}
				<-start
				if _, err := nodes[n].PutInstance(ctx, f.Instance()); err != nil {
					errs <- err
				}
			}()
		}
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var lost, miscounted int
	if err := nodes[1].DB().QueryRowContext(ctx, `SELECT
		count(*) FILTER (WHERE accession_number <> 'ACC' OR study_description <> 'DESC'),
		count(*) FILTER (WHERE num_instances <> 3) FROM studies`).Scan(&lost, &miscounted); err != nil {
		t.Fatal(err)
	}
	if lost != 0 || miscounted != 0 {
		t.Errorf("of %d studies, %d lost a node's attributes and %d miscount their instances", studies, lost, miscounted)
	}
}
