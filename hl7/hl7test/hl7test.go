// Package hl7test is the contract of the HIS link's records (hl7.RejectStore, hl7.Outbox
// and the administrator's lists) that every index engine passes: store/sqlite and
// store/postgres run it from their tests. Several nodes sending from one outbox
// (PostgreSQL) is tested there.
package hl7test

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"pacsd/hl7"
	"pacsd/reading"
	"pacsd/store"
	"pacsd/store/sqldb"
	"pacsd/store/storetest"
)

// Store is an engine's HL7 records.
type Store interface {
	hl7.RejectStore
	hl7.Outbox
	// Rejected lists refused messages, newest first, at most limit (0: 100) before the ID
	// before (0: from the newest).
	Rejected(ctx context.Context, before int64, limit int) ([]hl7.Rejected, error)
	// Outbound lists the outbox, newest first, sent messages too.
	Outbound(ctx context.Context, limit int) ([]hl7.Outbound, error)
	// UnqueuedReports lists the signed report versions, signed at or after since, that
	// have no row in the outbox for dest, oldest first, at most limit.
	UnqueuedReports(ctx context.Context, dest string, since time.Time, limit int) ([]sqldb.ReportRef, error)
}

// DB is one fresh, empty database: its HL7 store, the reports the outbox carries and the
// index holding their studies. All are closed when the test ends.
type DB struct {
	HL7     Store
	Reports reading.Reports
	Index   store.Index
}

// Run runs the contract; open makes a fresh database.
func Run(t *testing.T, open func(t *testing.T) DB) {
	t.Run("Rejected", func(t *testing.T) { testRejected(t, open(t).HL7) })
	t.Run("Outbox", func(t *testing.T) { testOutbox(t, open(t).HL7) })
	t.Run("UnqueuedReports", func(t *testing.T) { testUnqueued(t, open(t)) })
}

// testRejected: refused messages are kept byte for byte and listed newest first, a page
// at a time.
func testRejected(t *testing.T, h Store) {
	ctx := context.Background()
	raw := []byte("MSH|^~\\&|HIS\r\xd5\xc5") // kept byte for byte, GB 18030 too
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	for i, code := range []string{"AR", "AE", "AE"} {
		if err := h.KeepRejected(ctx, hl7.Rejected{ReceivedAt: now.Add(time.Duration(i) * time.Minute), Remote: "127.0.0.1:5",
			MessageType: "ORM^O01", ControlID: "C1", Code: code, Reason: "why " + code, Raw: raw}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := h.Rejected(ctx, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Code != "AE" || got[1].Reason != "why AE" || !bytes.Equal(got[0].Raw, raw) ||
		!got[1].ReceivedAt.Equal(now.Add(time.Minute)) || got[0].Remote != "127.0.0.1:5" || got[0].MessageType != "ORM^O01" ||
		got[0].ControlID != "C1" || got[0].ID <= got[1].ID {
		t.Fatalf("rejected %+v", got)
	}
	older, err := h.Rejected(ctx, got[1].ID, 0)
	if err != nil || len(older) != 1 || older[0].Code != "AR" || !older[0].ReceivedAt.Equal(now) {
		t.Errorf("page before %d: %+v %v", got[1].ID, older, err)
	}
}

// testOutbox: a message is queued once per destination, study and version; due ones are
// listed oldest first; a failure makes it due again later, a success never.
func testOutbox(t *testing.T, h Store) {
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	m := hl7.Outbound{Dest: hl7.DestMLLP, StudyUID: "1.2", Version: 1, Payload: "MSH|张", CreatedAt: now, NextAt: now}
	if err := h.EnqueueOutbound(ctx, []hl7.Outbound{m, {Dest: hl7.DestWebhook, StudyUID: "1.2", Version: 1, Payload: "{}", CreatedAt: now, NextAt: now.Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	m.Payload = "again"
	if err := h.EnqueueOutbound(ctx, []hl7.Outbound{m}); err != nil { // queued once
		t.Fatal(err)
	}
	due, err := h.DueOutbound(ctx, now, 10)
	if err != nil || len(due) != 1 || due[0].Payload != "MSH|张" || due[0].Dest != hl7.DestMLLP || due[0].Version != 1 ||
		due[0].StudyUID != "1.2" || !due[0].CreatedAt.Equal(now) || due[0].Attempts != 0 || !due[0].SentAt.IsZero() {
		t.Fatalf("due %+v %v", due, err)
	}
	d := due[0]
	d.Attempts, d.NextAt, d.LastError = 1, now.Add(time.Minute), "refused"
	if err := h.MarkOutbound(ctx, d); err != nil {
		t.Fatal(err)
	}
	if due, _ := h.DueOutbound(ctx, now, 10); len(due) != 0 {
		t.Errorf("due after a failure: %+v", due)
	}
	due, _ = h.DueOutbound(ctx, now.Add(2*time.Hour), 10)
	if len(due) != 2 || due[0].Attempts != 1 || due[0].LastError != "refused" || due[0].Dest != hl7.DestMLLP {
		t.Fatalf("due later %+v", due)
	}
	d = due[0]
	d.Attempts, d.SentAt, d.LastError = 2, now.Add(2*time.Hour), ""
	if err := h.MarkOutbound(ctx, d); err != nil {
		t.Fatal(err)
	}
	w := due[1]
	w.Attempts, w.LastError, w.NextAt = 1, "503", now.Add(2*time.Hour+time.Minute)
	if err := h.MarkOutbound(ctx, w); err != nil {
		t.Fatal(err)
	}
	if due, _ := h.DueOutbound(ctx, now.Add(3*time.Hour), 10); len(due) != 1 || due[0].Dest != hl7.DestWebhook || due[0].LastError != "503" {
		t.Errorf("due after sending: %+v", due)
	}
	all, err := h.Outbound(ctx, 0)
	if err != nil || len(all) != 2 || all[1].SentAt.IsZero() || !all[1].SentAt.Equal(now.Add(2*time.Hour)) || all[1].Attempts != 2 ||
		all[0].Dest != hl7.DestWebhook {
		t.Errorf("outbound %+v %v", all, err)
	}
	if one, _ := h.Outbound(ctx, 1); len(one) != 1 || one[0].ID != all[0].ID {
		t.Errorf("outbound limited to 1: %+v", one)
	}
}

// testUnqueued: the signed versions a crash left out of the outbox are found, per
// destination, from a time on, oldest signature first; drafts are not.
func testUnqueued(t *testing.T, db DB) {
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	doctor := reading.User{ID: 7, Username: "li", DisplayName: "李医生", Role: reading.RoleRadiologist}
	for _, study := range []string{"1.1", "1.2", "1.3"} {
		f := storetest.Fixture{Study: study, Series: study + ".1", SOP: study + ".1.1", SOPClass: "1.2.840.10008.5.1.4.1.1.2",
			Modality: "CT", PatientID: "P1", Content: study}
		if _, err := db.Index.PutInstance(ctx, f.Instance()); err != nil {
			t.Fatal(err)
		}
	}
	sign := func(study string, at time.Time) {
		t.Helper()
		r, err := db.Reports.SaveDraft(ctx, study, "findings", "impression", doctor, at)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Reports.Sign(ctx, study, r.Version, doctor, at); err != nil {
			t.Fatal(err)
		}
	}
	sign("1.1", t0)
	sign("1.2", t0.Add(time.Hour))
	if _, err := db.Reports.Amend(ctx, "1.1", "typo", doctor, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	sign("1.1", t0.Add(2*time.Hour)) // version 2
	if _, err := db.Reports.SaveDraft(ctx, "1.3", "draft", "", doctor, t0); err != nil {
		t.Fatal(err)
	}
	h := db.HL7
	if err := h.EnqueueOutbound(ctx, []hl7.Outbound{{Dest: hl7.DestMLLP, StudyUID: "1.1", Version: 1, Payload: "MSH",
		CreatedAt: t0, NextAt: t0}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		dest  string
		since time.Time
		limit int
		want  []sqldb.ReportRef
	}{
		{hl7.DestMLLP, t0, 10, []sqldb.ReportRef{{StudyUID: "1.2", Version: 1}, {StudyUID: "1.1", Version: 2}}},
		{hl7.DestMLLP, t0.Add(90 * time.Minute), 10, []sqldb.ReportRef{{StudyUID: "1.1", Version: 2}}},
		{hl7.DestWebhook, t0, 10, []sqldb.ReportRef{{StudyUID: "1.1", Version: 1}, {StudyUID: "1.2", Version: 1}, {StudyUID: "1.1", Version: 2}}},
		{hl7.DestWebhook, t0, 1, []sqldb.ReportRef{{StudyUID: "1.1", Version: 1}}},
		{hl7.DestWebhook, t0.Add(3 * time.Hour), 10, nil},
	} {
		got, err := h.UnqueuedReports(ctx, c.dest, c.since, c.limit)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("UnqueuedReports(%s, %v, %d) = %v, %v; want %v", c.dest, c.since, c.limit, got, err, c.want)
		}
	}
}
