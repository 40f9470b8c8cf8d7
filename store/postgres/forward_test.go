package postgres_test

import (
	"context"
	"database/sql"
	"sync"
	"testing"
	"time"

	"pacsd/forward"
	"pacsd/forward/forwardtest"
	"pacsd/internal/pgtest"
	"pacsd/store/postgres"
)

// openOn opens a node on the database at url; it is closed when the test ends.
func openOn(t *testing.T, url string) *postgres.Index {
	t.Helper()
	x, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	return x
}

// rawDB is a plain connection to url, for what the tests set up or check behind the
// repositories' backs.
func rawDB(t *testing.T, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestForwardContract: the forwarding queue's contract (forwardtest), each node an index
// opened on one database.
func TestForwardContract(t *testing.T) {
	forwardtest.Run(t, func(t *testing.T) forwardtest.Opener {
		url := pgtest.DB(t)
		return func() forwardtest.Node {
			x, err := postgres.Open(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { x.Close() })
			return forwardtest.Node{Index: x, Queue: x.Forwarding()}
		}
	})
}

// queueJobs adds n pending jobs for dest over n/perStudy studies, due at due, behind the
// repository's back (as PutInstance's rules would).
func queueJobs(t *testing.T, db *sql.DB, dest int64, n, perStudy int, due time.Time) {
	t.Helper()
	at := due.UTC().Format("2006-01-02T15:04:05.000000000Z07:00")
	if _, err := db.Exec(`INSERT INTO forward_queue (dest_id, sop_uid, study_uid, next_at, created_at)
		SELECT $1, '9.' || i, '8.' || (i / $2), $3, $3 FROM generate_series(0, $4 - 1) i`, dest, perStudy, at, n); err != nil {
		t.Fatal(err)
	}
}

// TestForwardClaimsAcrossNodes: two nodes on one database, each claiming from several
// workers at once, share the queue: every job is claimed by exactly one of them, once,
// and each claim is of one study.
func TestForwardClaimsAcrossNodes(t *testing.T) {
	ctx := context.Background()
	url := pgtest.DB(t)
	nodes := []*postgres.Forwarding{openOn(t, url).Forwarding(), openOn(t, url).Forwarding()}
	dest := &forward.Destination{Name: "city", Kind: forward.KindDICOM, AETitle: "CITY", Enabled: true}
	if err := nodes[0].SaveDestination(ctx, dest); err != nil {
		t.Fatal(err)
	}
	const jobs = 400
	now := time.Now()
	queueJobs(t, rawDB(t, url), dest.ID, jobs, 7, now)

	var mu sync.Mutex
	claimedBy := map[int64]string{}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		q, owner := nodes[w%2], []string{"n1", "n2"}[w%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				js, err := q.Claim(ctx, dest.ID, owner, now, time.Hour, 5)
				if err != nil {
					errs <- err
					return
				}
				if len(js) == 0 {
					return
				}
				mu.Lock()
				for _, j := range js {
					if prev, ok := claimedBy[j.ID]; ok {
						t.Errorf("job %d claimed by %s and again by %s", j.ID, prev, owner)
					}
					claimedBy[j.ID] = owner
					if j.StudyUID != js[0].StudyUID || j.Attempts != 1 {
						t.Errorf("claim %+v: job %+v", js[0], j)
					}
				}
				mu.Unlock()
				var out []forward.Outcome
				for _, j := range js {
					out = append(out, forward.Outcome{JobID: j.ID, OK: true})
				}
				if err := q.Done(ctx, dest.ID, out, now, now, ""); err != nil {
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
	per := map[string]int{}
	for _, o := range claimedBy {
		per[o]++
	}
	if len(claimedBy) != jobs || per["n1"] == 0 || per["n2"] == 0 {
		t.Fatalf("claimed %d of %d jobs (per node %v)", len(claimedBy), jobs, per)
	}
	st, err := nodes[1].Statuses(ctx)
	if err != nil || len(st) != 1 || st[0].Sent != jobs || st[0].Queued != 0 {
		t.Fatalf("Statuses = %+v, %v", st, err)
	}
}

// TestForwardLeaseTakeover: a node that stops leaves its leases; when they end another
// node claims the jobs, and what the first records afterwards (it was only slow) changes
// nothing of the new owner's lease or outcome, while the new owner's outcomes count.
func TestForwardLeaseTakeover(t *testing.T) {
	ctx := context.Background()
	url := pgtest.DB(t)
	a, b := openOn(t, url).Forwarding(), openOn(t, url).Forwarding()
	db := rawDB(t, url)
	dest := &forward.Destination{Name: "city", Kind: forward.KindDICOM, AETitle: "CITY", Enabled: true}
	if err := a.SaveDestination(ctx, dest); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	queueJobs(t, db, dest.ID, 3, 3, t0)
	ja, err := a.Claim(ctx, dest.ID, "n1", t0, time.Minute, 10)
	if err != nil || len(ja) != 3 {
		t.Fatalf("n1 claims %+v %v", ja, err)
	}
	if jb, err := b.Claim(ctx, dest.ID, "n2", t0.Add(59*time.Second), time.Minute, 10); err != nil || len(jb) != 0 {
		t.Fatalf("n2 claimed %+v under n1's lease (%v)", jb, err)
	}
	t1 := t0.Add(2 * time.Minute)
	jb, err := b.Claim(ctx, dest.ID, "n2", t1, time.Minute, 10)
	if err != nil || len(jb) != 3 || jb[0].ID != ja[0].ID || jb[0].Attempts != 2 {
		t.Fatalf("n2 after n1's lease ended: %+v %v", jb, err)
	}
	// n1 comes back: its success, failure and permanent failure are all dropped.
	if err := a.Done(ctx, dest.ID, []forward.Outcome{{JobID: ja[0].ID, OK: true}, {JobID: ja[1].ID, Err: "refused"},
		{JobID: ja[2].ID, Permanent: true, Err: "gone"}}, t1, t1.Add(time.Hour), ""); err != nil {
		t.Fatal(err)
	}
	type row struct {
		state, owner, lastError, nextAt string
	}
	rows := func() []row {
		t.Helper()
		rs, err := db.Query(`SELECT state, owner, last_error, next_at FROM forward_queue ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rs.Close()
		var out []row
		for rs.Next() {
			var r row
			if err := rs.Scan(&r.state, &r.owner, &r.lastError, &r.nextAt); err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
		return out
	}
	leaseEnd := t1.Add(time.Minute).UTC().Format("2006-01-02T15:04:05.000000000Z07:00")
	for i, r := range rows() {
		if r != (row{"pending", "n2", "", leaseEnd}) {
			t.Errorf("job %d after n1's late outcomes: %+v, want n2's lease untouched", ja[i].ID, r)
		}
	}
	// n2 records its own.
	retryAt := t1.Add(time.Hour)
	if err := b.Done(ctx, dest.ID, []forward.Outcome{{JobID: jb[0].ID, OK: true}, {JobID: jb[1].ID, Err: "busy"},
		{JobID: jb[2].ID, Permanent: true, Err: "gone"}}, t1, retryAt, ""); err != nil {
		t.Fatal(err)
	}
	got := rows()
	if got[0].state != "sent" || got[1] != (row{"pending", "", "busy", retryAt.UTC().Format("2006-01-02T15:04:05.000000000Z07:00")}) ||
		got[2].state != "failed" || got[2].lastError != "gone" {
		t.Fatalf("after n2's outcomes: %+v", got)
	}
	// Release by n1 (its restart) leaves what n2 holds alone.
	jb2, err := b.Claim(ctx, dest.ID, "n2", retryAt, time.Minute, 10)
	if err != nil || len(jb2) != 1 {
		t.Fatalf("n2 claims the retry: %+v %v", jb2, err)
	}
	if err := a.Release(ctx, "n1", retryAt); err != nil {
		t.Fatal(err)
	}
	if j, _ := a.Claim(ctx, dest.ID, "n1", retryAt, time.Minute, 10); len(j) != 0 {
		t.Fatalf("n1 claimed %+v under n2's lease after its Release", j)
	}
}
