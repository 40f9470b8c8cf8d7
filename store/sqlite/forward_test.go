package sqlite_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"pacsd/forward"
	"pacsd/store"
	"pacsd/store/sqlite"
	"pacsd/store/storetest"
)

func fwdInstance(study, sop, modality, ae string) *store.Instance {
	in := storetest.Fixture{Study: study, Series: study + ".1", SOP: sop, SOPClass: "1.2.840.10008.5.1.4.1.1.1.1",
		Modality: modality, Content: sop}.Instance()
	in.Origin = store.Origin{Transport: "dimse", CallingAE: ae, Site: "site:1"}
	in.ReceivedAt = time.Now()
	return in
}

// TestForwardQueue: rules queue at PutInstance (by calling AE and modality, once per
// destination however many rules match, never for quarantined objects); claims take one
// study's due jobs and lease them; a sent row is never claimed again, even by a manual
// re-send racing it, while a re-send after it adds new rows; failures back off; a
// restart (Release) makes its own leases due at once.
func TestForwardQueue(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "index.db")
	x, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { x.Close() }()
	q := x.Forwarding()
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
	put := func(in *store.Instance) {
		t.Helper()
		if _, err := x.PutInstance(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	put(fwdInstance("1.2.1", "1.2.1.1.1", "DX", "DR1"))
	put(fwdInstance("1.2.1", "1.2.1.1.2", "DX", "DR1"))
	put(fwdInstance("1.2.2", "1.2.2.1.1", "CR", "DR1"))
	put(fwdInstance("1.2.3", "1.2.3.1.1", "US", "US9")) // no rule
	put(fwdInstance("1.2.4", "1.2.4.1.1", "CR", "OFF")) // disabled rule
	quar := fwdInstance("1.2.5", "1.2.5.1.1", "DX", "DR1")
	quar.Origin.Quarantined = true
	put(quar)
	queued := func() forward.Status {
		t.Helper()
		st, err := q.Statuses(ctx)
		if err != nil || len(st) != 1 {
			t.Fatalf("Statuses: %v %v", st, err)
		}
		if st[0].Secret != "" {
			t.Fatal("Statuses shows a secret")
		}
		return st[0]
	}
	if s := queued(); s.Queued != 3 || s.Sent != 0 {
		t.Fatalf("queued %d sent %d, want 3 0", s.Queued, s.Sent)
	}

	now := time.Now()
	jobs, err := q.Claim(ctx, dest.ID, "n1", now, time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 2 || jobs[0].StudyUID != "1.2.1" || jobs[1].StudyUID != "1.2.1" || jobs[0].Attempts != 1 {
		t.Fatalf("first claim %+v, want study 1.2.1's two jobs", jobs)
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
	s := queued()
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
	if s := queued(); s.Sent != 2 || s.Queued != 1 {
		t.Fatalf("a sent row changed: %+v", s)
	}
	// Re-storing the same instance (new content) queues it again; a manual re-send of a
	// study queues its instances anew, once each.
	n, err := q.Enqueue(ctx, dest.ID, "1.2.1", now)
	if err != nil || n != 2 {
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
	if x, err = sqlite.Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	q = x.Forwarding()
	// Only the other study (due after its back-off) can be claimed while the lease holds.
	other, err := q.Claim(ctx, dest.ID, "n1", later, time.Minute, 10)
	if err != nil || len(other) != 1 || other[0].ID != jobs2[0].ID || other[0].Attempts != 2 {
		t.Fatalf("claimed %+v while leased, %v; want only job %d", other, err, jobs2[0].ID)
	}
	if err := q.Done(ctx, dest.ID, []forward.Outcome{{JobID: other[0].ID, OK: true}}, later, later, ""); err != nil {
		t.Fatal(err)
	}
	if s := queued(); !s.FailingSince.IsZero() {
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
	if s := queued(); s.Failed != int64(len(again)) {
		t.Fatalf("failed %d, want %d", s.Failed, len(again))
	}
	// A manual retry makes them pending again, due at once, attempts counted afresh.
	if n, err := q.Retry(ctx, dest.ID, later); err != nil || n != len(again) {
		t.Fatalf("Retry = %d, %v; want %d", n, err, len(again))
	}
	if s := queued(); s.Failed != 0 {
		t.Fatalf("failed %d after Retry, want 0", s.Failed)
	}
	retried, err := q.Claim(ctx, dest.ID, "n1", later, time.Minute, 10)
	if err != nil || len(retried) != len(again) || retried[0].ID != again[0].ID || retried[0].Attempts != 1 {
		t.Fatalf("claim after Retry: %+v %v", retried, err)
	}
}

// TestForwardDestinationSecrets: an update without a secret keeps the stored one; a
// destination needs a usable target.
func TestForwardDestinationSecrets(t *testing.T) {
	ctx := context.Background()
	q := openIndex(t).Forwarding()
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
	if err != nil || got.Secret != "tok" || got.URL != "https://pacs.example/dicom-web" || got.Name != "云影像" {
		t.Fatalf("after update without secret: %+v %v", got, err)
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
}
