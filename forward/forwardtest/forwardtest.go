// Package forwardtest is the contract of the forwarding queue (forward.Queue) that every
// index engine passes: store/sqlite and store/postgres run it from their tests. What only
// one engine can do (several nodes claiming at once from PostgreSQL) is tested there.
package forwardtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"pacsd/forward"
	"pacsd/store"
	"pacsd/store/storetest"
)

// Node is one pacsd node on the database under test: the index, through whose PutInstance
// the rules queue, and its forwarding queue.
type Node struct {
	Index store.Index
	Queue forward.Queue
}

// Opener opens a node on one database; each call opens it anew (as a restart does). What
// it opens is closed when the test ends (and may be closed before: a restart).
type Opener func() Node

// Run runs the contract. newDB makes a fresh, empty database for a test.
func Run(t *testing.T, newDB func(t *testing.T) Opener) {
	t.Run("Queue", func(t *testing.T) { testQueue(t, newDB(t)) })
	t.Run("Configuration", func(t *testing.T) { testConfiguration(t, newDB(t)) })
	t.Run("LateOutcome", func(t *testing.T) { testLateOutcome(t, newDB(t)) })
	t.Run("Rules", func(t *testing.T) { testRules(t, newDB(t)) })
}

func instance(study, sop, modality, ae string) *store.Instance {
	in := storetest.Fixture{Study: study, Series: study + ".1", SOP: sop, SOPClass: "1.2.840.10008.5.1.4.1.1.1.1",
		Modality: modality, Content: sop}.Instance()
	in.Origin = store.Origin{Transport: "dimse", CallingAE: ae, Site: "site:1"}
	in.ReceivedAt = time.Now()
	return in
}

func put(t *testing.T, x store.Index, in *store.Instance) {
	t.Helper()
	if _, err := x.PutInstance(context.Background(), in); err != nil {
		t.Fatal(err)
	}
}

func status(t *testing.T, q forward.Queue) forward.Status {
	t.Helper()
	st, err := q.Statuses(context.Background())
	if err != nil || len(st) != 1 {
		t.Fatalf("Statuses: %v %v", st, err)
	}
	if st[0].Secret != "" {
		t.Fatal("Statuses shows a secret")
	}
	return st[0]
}

// testQueue: rules queue at PutInstance (by calling AE and modality, once per destination
// however many rules match, never for quarantined objects); claims take one study's due
// jobs and lease them; a sent row is never claimed again, even by a manual re-send racing
// it, while a re-send after it adds new rows; failures back off; a restart (Release) makes
// its own leases due at once.
func testQueue(t *testing.T, db Opener) {
	ctx := context.Background()
	n := db()
	x, q := n.Index, n.Queue
	dest := &forward.Destination{Name: "市医院", Kind: forward.KindDICOM, AETitle: "CITY", Enabled: true}
	if err := q.SaveDestination(ctx, dest); err != nil {
		t.Fatal(err)
	}
	for _, r := range []forward.Rule{
		{DestinationID: dest.ID, CallingAE: "DR1", Enabled: true},
		{DestinationID: dest.ID, Modality: "dx", Enabled: true}, // overlaps the first: queued once
		{DestinationID: dest.ID, CallingAE: "OFF", Enabled: false},
	} {
		if err := q.SaveRule(ctx, &r); err != nil {
			t.Fatal(err)
		}
	}
	put(t, x, instance("1.2.1", "1.2.1.1.1", "DX", "DR1"))
	put(t, x, instance("1.2.1", "1.2.1.1.2", "DX", "DR1"))
	put(t, x, instance("1.2.2", "1.2.2.1.1", "CR", "DR1"))
	put(t, x, instance("1.2.3", "1.2.3.1.1", "US", "US9")) // no rule
	put(t, x, instance("1.2.4", "1.2.4.1.1", "CR", "OFF")) // disabled rule
	quar := instance("1.2.5", "1.2.5.1.1", "DX", "DR1")
	quar.Origin.Quarantined = true
	put(t, x, quar)
	if s := status(t, q); s.Queued != 3 || s.Sent != 0 {
		t.Fatalf("queued %d sent %d, want 3 0", s.Queued, s.Sent)
	}

	now := time.Now()
	jobs, err := q.Claim(ctx, dest.ID, "n1", now, time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 2 || jobs[0].StudyUID != "1.2.1" || jobs[1].StudyUID != "1.2.1" || jobs[0].Attempts != 1 ||
		jobs[0].SOPInstanceUID != "1.2.1.1.1" || jobs[1].SOPInstanceUID != "1.2.1.1.2" || jobs[0].DestinationID != dest.ID {
		t.Fatalf("first claim %+v, want study 1.2.1's two jobs in order", jobs)
	}
	// Leased: a second claim gets the other study only.
	jobs2, err := q.Claim(ctx, dest.ID, "n1", now, time.Minute, 10)
	if err != nil || len(jobs2) != 1 || jobs2[0].StudyUID != "1.2.2" {
		t.Fatalf("second claim %+v %v", jobs2, err)
	}
	// The first study goes through; the second fails and backs off.
	if err := q.Done(ctx, dest.ID, []forward.Outcome{{JobID: jobs[0].ID, OK: true}, {JobID: jobs[1].ID, OK: true}}, now, now, ""); err != nil {
		t.Fatal(err)
	}
	retry := now.Add(10 * time.Second)
	if err := q.Done(ctx, dest.ID, []forward.Outcome{{JobID: jobs2[0].ID, Err: "connection refused"}}, now, retry, "connection refused"); err != nil {
		t.Fatal(err)
	}
	s := status(t, q)
	if s.Queued != 1 || s.Sent != 2 || s.FailingSince.IsZero() || s.LastError != "connection refused" || s.LastSuccess.IsZero() {
		t.Fatalf("status after one study sent, one failed: %+v", s)
	}
	if j, _ := q.Claim(ctx, dest.ID, "n1", now.Add(5*time.Second), time.Minute, 10); len(j) != 0 {
		t.Fatalf("claimed %+v during its back-off", j)
	}
	// A sent row stays sent: recording it again (a late duplicate report) changes nothing.
	if err := q.Done(ctx, dest.ID, []forward.Outcome{{JobID: jobs[0].ID, Err: "late"}}, now, now, ""); err != nil {
		t.Fatal(err)
	}
	if s := status(t, q); s.Sent != 2 || s.Queued != 1 {
		t.Fatalf("a sent row changed: %+v", s)
	}
	// A manual re-send of a study queues its instances anew, once each.
	if n, err := q.Enqueue(ctx, dest.ID, "1.2.1", now); err != nil || n != 2 {
		t.Fatalf("Enqueue = %d, %v; want 2", n, err)
	}
	if n, err := q.Enqueue(ctx, dest.ID, "1.2.1", now); err != nil || n != 0 {
		t.Fatalf("second Enqueue while pending = %d, %v; want 0", n, err)
	}
	if _, err := q.Enqueue(ctx, dest.ID+100, "1.2.1", now); !errors.Is(err, forward.ErrNotFound) {
		t.Fatalf("Enqueue to a missing destination: %v", err)
	}
	// Restart: claimed by n1, which crashes; reopened, Release makes them due at once.
	later := now.Add(20 * time.Second)
	claimed, err := q.Claim(ctx, dest.ID, "n1", later, time.Hour, 10)
	if err != nil || len(claimed) == 0 {
		t.Fatalf("claim before the crash: %+v %v", claimed, err)
	}
	x.Close()
	q = db().Queue
	// Only the other study (due after its back-off) can be claimed while the lease holds.
	other, err := q.Claim(ctx, dest.ID, "n1", later, time.Minute, 10)
	if err != nil || len(other) != 1 || other[0].ID != jobs2[0].ID || other[0].Attempts != 2 {
		t.Fatalf("claimed %+v while leased, %v; want only job %d", other, err, jobs2[0].ID)
	}
	if err := q.Done(ctx, dest.ID, []forward.Outcome{{JobID: other[0].ID, OK: true}}, later, later, ""); err != nil {
		t.Fatal(err)
	}
	if s := status(t, q); !s.FailingSince.IsZero() {
		t.Fatalf("still failing after a success: %+v", s)
	}
	if err := q.Release(ctx, "n1", later); err != nil {
		t.Fatal(err)
	}
	again, err := q.Claim(ctx, dest.ID, "n1", later, time.Minute, 10)
	if err != nil || len(again) != len(claimed) || again[0].ID != claimed[0].ID || again[0].Attempts != claimed[0].Attempts+1 {
		t.Fatalf("after Release: %+v %v; want %+v again", again, err, claimed)
	}
	// Permanent failures leave the queue.
	var out []forward.Outcome
	for _, j := range again {
		out = append(out, forward.Outcome{JobID: j.ID, Permanent: true, Err: "gone"})
	}
	if err := q.Done(ctx, dest.ID, out, later, later, ""); err != nil {
		t.Fatal(err)
	}
	if s := status(t, q); s.Failed != int64(len(again)) || s.Queued != 0 {
		t.Fatalf("failed %d queued %d, want %d 0", s.Failed, s.Queued, len(again))
	}
	// A manual retry makes them pending again, due at once, attempts counted afresh.
	if n, err := q.Retry(ctx, dest.ID, later); err != nil || n != len(again) {
		t.Fatalf("Retry = %d, %v; want %d", n, err, len(again))
	}
	if s := status(t, q); s.Failed != 0 || s.Queued != int64(len(again)) {
		t.Fatalf("failed %d queued %d after Retry", s.Failed, s.Queued)
	}
	retried, err := q.Claim(ctx, dest.ID, "n1", later, time.Minute, 10)
	if err != nil || len(retried) != len(again) || retried[0].ID != again[0].ID || retried[0].Attempts != 1 {
		t.Fatalf("claim after Retry: %+v %v", retried, err)
	}
	// Failed again, then queued anew by a re-send: Retry leaves the failed rows, one row
	// per instance being pending.
	out = out[:0]
	for _, j := range retried {
		out = append(out, forward.Outcome{JobID: j.ID, Permanent: true, Err: "gone"})
	}
	if err := q.Done(ctx, dest.ID, out, later, later, ""); err != nil {
		t.Fatal(err)
	}
	if n, err := q.Enqueue(ctx, dest.ID, "1.2.1", later); err != nil || n != 2 {
		t.Fatalf("Enqueue after failures = %d, %v; want 2", n, err)
	}
	if n, err := q.Retry(ctx, dest.ID, later); err != nil || n != 0 {
		t.Fatalf("Retry with the instances pending = %d, %v; want 0", n, err)
	}
	if s := status(t, q); s.Failed != int64(len(retried)) || s.Queued != 2 {
		t.Fatalf("after Retry with the instances pending: %+v", s)
	}
	// Those fail too: each instance has failed rows from two sends, and Retry makes one
	// row of each pending.
	resent, err := q.Claim(ctx, dest.ID, "n1", later, time.Minute, 10)
	if err != nil || len(resent) != 2 {
		t.Fatalf("claim of the re-send: %+v %v", resent, err)
	}
	out = out[:0]
	for _, j := range resent {
		out = append(out, forward.Outcome{JobID: j.ID, Permanent: true, Err: "gone"})
	}
	if err := q.Done(ctx, dest.ID, out, later, later, ""); err != nil {
		t.Fatal(err)
	}
	if n, err := q.Retry(ctx, dest.ID, later); err != nil || n != 2 {
		t.Fatalf("Retry of instances failed twice = %d, %v; want 2", n, err)
	}
	if s := status(t, q); s.Queued != 2 || s.Failed != int64(len(retried)+len(resent)-2) {
		t.Fatalf("after Retry of instances failed twice: %+v", s)
	}
}

// testConfiguration: destinations and rules are saved, listed, updated and deleted (with
// their rules and queue); an update without a secret keeps the stored one; a destination
// needs a usable target and a unique name.
func testConfiguration(t *testing.T, db Opener) {
	ctx := context.Background()
	q := db().Queue
	d := &forward.Destination{Name: "云", Kind: forward.KindSTOW, URL: "https://pacs.example/dicom-web/", Auth: forward.AuthBearer, Secret: "tok", Enabled: true}
	if err := q.SaveDestination(ctx, d); err != nil {
		t.Fatal(err)
	}
	d.Secret = ""
	d.Name = "云影像"
	if err := q.SaveDestination(ctx, d); err != nil {
		t.Fatal(err)
	}
	got, err := q.Destination(ctx, d.ID)
	if err != nil || got.Secret != "tok" || !got.HasSecret || got.URL != "https://pacs.example/dicom-web" || got.Name != "云影像" {
		t.Fatalf("after update without secret: %+v %v", got, err)
	}
	// No authentication: the secret goes.
	d.Auth = forward.AuthNone
	if err := q.SaveDestination(ctx, d); err != nil {
		t.Fatal(err)
	}
	if got, err := q.Destination(ctx, d.ID); err != nil || got.Secret != "" || got.HasSecret {
		t.Fatalf("after dropping authentication: %+v %v", got, err)
	}
	for i, bad := range []forward.Destination{
		{Name: "a", Kind: forward.KindDICOM},
		{Name: "b", Kind: forward.KindSTOW, URL: "ftp://x"},
		{Name: "c", Kind: forward.KindSTOW, URL: "http://x", Auth: forward.AuthBasic},
		{Name: "", Kind: forward.KindDICOM, AETitle: "X"},
		{Name: "云影像", Kind: forward.KindDICOM, AETitle: "X"}, // duplicate name
	} {
		if err := q.SaveDestination(ctx, &bad); !errors.Is(err, forward.ErrInvalid) {
			t.Errorf("%d: SaveDestination(%+v) = %v, want ErrInvalid", i, bad, err)
		}
	}
	if _, err := q.Destination(ctx, d.ID+100); !errors.Is(err, forward.ErrNotFound) {
		t.Errorf("missing destination: %v", err)
	}
	missing := forward.Destination{ID: d.ID + 100, Name: "x", Kind: forward.KindDICOM, AETitle: "X"}
	if err := q.SaveDestination(ctx, &missing); !errors.Is(err, forward.ErrNotFound) {
		t.Errorf("update of a missing destination: %v", err)
	}

	b := &forward.Destination{Name: "B", Kind: forward.KindDICOM, AETitle: "BB", Enabled: true}
	if err := q.SaveDestination(ctx, b); err != nil {
		t.Fatal(err)
	}
	ds, err := q.Destinations(ctx)
	if err != nil || len(ds) != 2 || ds[0].Name != "B" || ds[1].Name != "云影像" || ds[0].AETitle != "BB" {
		t.Fatalf("Destinations = %+v, %v", ds, err)
	}
	r := &forward.Rule{DestinationID: b.ID, Modality: " ct ", Enabled: true}
	if err := q.SaveRule(ctx, r); err != nil {
		t.Fatal(err)
	}
	r2 := &forward.Rule{DestinationID: d.ID, CallingAE: "DR1", SOPClassUID: "1.2", Site: "site:3"}
	if err := q.SaveRule(ctx, r2); err != nil {
		t.Fatal(err)
	}
	r.Modality, r.Enabled = "MR", false
	if err := q.SaveRule(ctx, r); err != nil {
		t.Fatal(err)
	}
	rules, err := q.Rules(ctx)
	if err != nil || len(rules) != 2 || rules[0] != *r2 || rules[1] != *r || rules[1].Modality != "MR" {
		t.Fatalf("Rules = %+v, %v; want %+v %+v (by destination)", rules, err, *r2, *r)
	}
	if err := q.SaveRule(ctx, &forward.Rule{DestinationID: d.ID + 100}); !errors.Is(err, forward.ErrInvalid) {
		t.Errorf("rule of a missing destination: %v", err)
	}
	if err := q.SaveRule(ctx, &forward.Rule{ID: r.ID + 100, DestinationID: d.ID}); !errors.Is(err, forward.ErrNotFound) {
		t.Errorf("update of a missing rule: %v", err)
	}
	if err := q.DeleteRule(ctx, r2.ID); err != nil {
		t.Fatal(err)
	}
	if err := q.DeleteRule(ctx, r2.ID); !errors.Is(err, forward.ErrNotFound) {
		t.Errorf("second DeleteRule: %v", err)
	}
	if err := q.DeleteDestination(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if err := q.DeleteDestination(ctx, b.ID); !errors.Is(err, forward.ErrNotFound) {
		t.Errorf("second DeleteDestination: %v", err)
	}
	if rules, err := q.Rules(ctx); err != nil || len(rules) != 0 {
		t.Errorf("rules after deleting their destinations: %+v %v", rules, err)
	}
	if st, err := q.Statuses(ctx); err != nil || len(st) != 1 || st[0].ID != d.ID || st[0].HasSecret {
		t.Errorf("Statuses = %+v, %v", st, err)
	}
}

// testLateOutcome: an outcome for a job whose lease ended and which another claim took
// (a node that stalled) does not overwrite what the new claimant recorded.
func testLateOutcome(t *testing.T, db Opener) {
	ctx := context.Background()
	n := db()
	q := n.Queue
	dest := &forward.Destination{Name: "d", Kind: forward.KindDICOM, AETitle: "D", Enabled: true}
	if err := q.SaveDestination(ctx, dest); err != nil {
		t.Fatal(err)
	}
	if err := q.SaveRule(ctx, &forward.Rule{DestinationID: dest.ID, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	put(t, n.Index, instance("3.1", "3.1.1.1", "CT", "CT1"))
	now := time.Now()
	first, err := q.Claim(ctx, dest.ID, "n1", now, time.Minute, 10)
	if err != nil || len(first) != 1 {
		t.Fatalf("claim: %+v %v", first, err)
	}
	// n1 stalls past its lease; n2 takes the job over and sends it.
	q2 := db().Queue
	if j, _ := q2.Claim(ctx, dest.ID, "n2", now.Add(30*time.Second), time.Minute, 10); len(j) != 0 {
		t.Fatalf("claimed %+v under another's lease", j)
	}
	then := now.Add(2 * time.Minute)
	second, err := q2.Claim(ctx, dest.ID, "n2", then, time.Minute, 10)
	if err != nil || len(second) != 1 || second[0].ID != first[0].ID || second[0].Attempts != 2 {
		t.Fatalf("claim after the lease: %+v %v", second, err)
	}
	if err := q2.Done(ctx, dest.ID, []forward.Outcome{{JobID: second[0].ID, OK: true}}, then, then, ""); err != nil {
		t.Fatal(err)
	}
	// n1 wakes up and reports a failure: the row stays sent.
	if err := q.Done(ctx, dest.ID, []forward.Outcome{{JobID: first[0].ID, Err: "timeout"}}, then, then, ""); err != nil {
		t.Fatal(err)
	}
	if s := status(t, q); s.Sent != 1 || s.Queued != 0 {
		t.Fatalf("after a late failure: %+v", s)
	}
}

// testRules: every criterion of a rule (site, calling AE, modality, SOP class) must match,
// an empty one matches anything; a disabled rule or destination queues nothing.
func testRules(t *testing.T, db Opener) {
	ctx := context.Background()
	n := db()
	q := n.Queue
	dests := map[string]*forward.Destination{}
	for _, name := range []string{"a", "b", "off"} {
		d := &forward.Destination{Name: name, Kind: forward.KindDICOM, AETitle: name, Enabled: name != "off"}
		if err := q.SaveDestination(ctx, d); err != nil {
			t.Fatal(err)
		}
		dests[name] = d
	}
	for _, r := range []forward.Rule{
		{DestinationID: dests["a"].ID, Modality: "CT", Enabled: true},
		{DestinationID: dests["b"].ID, Site: "site:1", CallingAE: "CT1", SOPClassUID: "1.2.3", Enabled: true},
		{DestinationID: dests["b"].ID, Enabled: false},
		{DestinationID: dests["off"].ID, Enabled: true},
	} {
		if err := q.SaveRule(ctx, &r); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range []struct {
		site, ae, modality, class string
	}{
		{"site:1", "CT1", "CT", "1.2.3"}, // a, b
		{"site:2", "CT1", "CT", "1.2.3"}, // a
		{"site:1", "CT2", "MR", "1.2.3"}, // none
		{"site:1", "CT1", "MR", "1.2.3"}, // b
		{"site:1", "CT1", "MR", "1.2.4"}, // none
	} {
		study := fmt.Sprintf("4.%d", i)
		in := storetest.Fixture{Study: study, Series: study + ".1", SOP: study + ".1.1", SOPClass: c.class,
			Modality: c.modality, Content: study}.Instance()
		in.Origin = store.Origin{Transport: "dimse", CallingAE: c.ae, Site: c.site}
		put(t, n.Index, in)
	}
	queued := map[string][]string{}
	for name, d := range dests {
		for {
			js, err := q.Claim(ctx, d.ID, "n1", time.Now(), time.Hour, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(js) == 0 {
				break
			}
			for _, j := range js {
				queued[name] = append(queued[name], j.StudyUID)
			}
		}
	}
	for _, studies := range queued {
		slices.Sort(studies)
	}
	const want = "map[a:[4.0 4.1] b:[4.0 4.3]]"
	if got := fmt.Sprint(queued); got != want {
		t.Errorf("queued %s, want %s", got, want)
	}
}
