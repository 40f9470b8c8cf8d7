package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"pacsd/internal/pgtest"
	"pacsd/reading"
	"pacsd/reading/readingtest"
	"pacsd/store/postgres"
	"pacsd/store/storetest"
)

// TestReadingContract runs the reading room's contract on *postgres.Reading; a study is
// added through the index's PutInstance, whose triggers make its reading row.
func TestReadingContract(t *testing.T) {
	readingtest.Run(t, func(t *testing.T) readingtest.Env {
		x := openIndex(t)
		return readingtest.Env{Repo: x.Reading(), AddStudy: func(t testing.TB, s readingtest.Study) {
			t.Helper()
			if _, err := x.PutInstance(context.Background(), storetest.ReadingInstance(s)); err != nil {
				t.Fatal(err)
			}
		}}
	})
}

// nodes opens n indexes on one fresh database, as n pacsd nodes would.
func nodes(t *testing.T, n int) []*postgres.Index {
	t.Helper()
	url := pgtest.DB(t)
	var xs []*postgres.Index
	for range n {
		x, err := postgres.Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { x.Close() })
		xs = append(xs, x)
	}
	return xs
}

// TestPeerLookupAcrossNodes: a change of the AE table made through one node is seen by the
// next lookup on another, which had the table cached: a new peer, a changed right, a
// site's AE titles, and their removal with the site.
func TestPeerLookupAcrossNodes(t *testing.T) {
	ctx := context.Background()
	xs := nodes(t, 2)
	a, b := xs[0].Reading(), xs[1].Reading()
	lookup := func(ae string) (reading.Peer, bool) {
		t.Helper()
		p, ok, err := b.Peer(ctx, ae)
		if err != nil {
			t.Fatal(err)
		}
		return p, ok
	}
	if _, ok := lookup("CT1"); ok {
		t.Fatal("CT1 found in an empty table")
	}
	p, err := a.PutPeer(ctx, reading.Peer{AETitle: "CT1", MayStore: true, Addresses: []string{"10.0.0.0/8"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := lookup("CT1 "); !ok || !got.MayStore || got.MayQuery || len(got.Addresses) != 1 {
		t.Fatalf("after another node added CT1: %+v %v", got, ok)
	}
	p.MayQuery = true
	p.Addresses = nil
	if _, err := a.PutPeer(ctx, p); err != nil {
		t.Fatal(err)
	}
	if got, _ := lookup("CT1"); !got.MayQuery || len(got.Addresses) != 0 {
		t.Fatalf("after another node changed CT1: %+v", got)
	}
	s, err := a.PutSite(ctx, reading.Site{Name: "镇卫生院", AETitles: []string{"DR_TOWN"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := lookup("DR_TOWN"); !ok || got.SiteID != s.ID || !got.MayStore {
		t.Fatalf("a site's AE title added on another node: %+v %v", got, ok)
	}
	if err := a.DeleteSite(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if got, ok := lookup("DR_TOWN"); ok {
		t.Fatalf("the AE title of a site deleted on another node is still found: %+v", got)
	}
	if err := a.DeletePeer(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := lookup("CT1"); ok {
		t.Fatal("a peer deleted on another node is still found")
	}
}

// TestSignAcrossNodes: radiologists on several nodes signing one draft at once: exactly one
// signature is recorded, every other signer gets ErrConflict (never a second, silent
// signature over the first); first drafts saved at once make one version.
func TestSignAcrossNodes(t *testing.T) {
	ctx := context.Background()
	xs := nodes(t, 2)
	if _, err := xs[0].PutInstance(ctx, storetest.ReadingInstance(readingtest.Study{UID: "9.1", PatientID: "P9",
		ReceivedAt: time.Now()})); err != nil {
		t.Fatal(err)
	}
	const signers = 6
	var wg sync.WaitGroup
	errs := make([]error, signers)
	for i := range signers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := reading.User{ID: int64(i + 1), Username: fmt.Sprint("dr", i), Role: reading.RoleRadiologist}
			_, errs[i] = xs[i%2].Reading().SaveDraft(ctx, "9.1", fmt.Sprint("findings ", i), "impression", u, time.Now())
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("draft %d: %v", i, err)
		}
	}
	for i := range signers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := reading.User{ID: int64(i + 1), Username: fmt.Sprint("dr", i), Role: reading.RoleRadiologist}
			_, errs[i] = xs[i%2].Reading().Sign(ctx, "9.1", 1, u, time.Now())
		}()
	}
	wg.Wait()
	signed := 0
	for i, err := range errs {
		switch {
		case err == nil:
			signed++
		case !errors.Is(err, reading.ErrConflict):
			t.Errorf("signer %d: %v, want ErrConflict", i, err)
		}
	}
	reports, err := xs[1].Reading().Reports(ctx, "9.1")
	if err != nil {
		t.Fatal(err)
	}
	if signed != 1 || len(reports) != 1 || reports[0].Status != reading.StatusFinal {
		t.Fatalf("%d signatures succeeded, reports %+v", signed, reports)
	}
	if row, err := xs[0].Reading().Study(ctx, "9.1"); err != nil || row.Status != reading.StatusFinal || row.FinalAt.IsZero() {
		t.Fatalf("the worklist row after signing: %+v %v", row, err)
	}
}
