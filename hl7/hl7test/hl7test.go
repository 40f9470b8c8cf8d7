// Package hl7test is the contract of the HIS link's records (hl7.RejectStore, hl7.Outbox
// and the administrator's lists) that every index engine passes: store/sqlite and
// store/postgres run it from their tests. Several nodes sending from one outbox
// (PostgreSQL) is tested there.
package hl7test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"pacsd/hl7"
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
}

// Run runs the contract; open returns the store of a fresh, empty database, closed when
// the test ends.
func Run(t *testing.T, open func(t *testing.T) Store) {
	t.Run("Rejected", func(t *testing.T) { testRejected(t, open(t)) })
	t.Run("Outbox", func(t *testing.T) { testOutbox(t, open(t)) })
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
