package sqlite_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"pacsd/hl7"
)

func TestHL7Store(t *testing.T) {
	ctx := context.Background()
	h := openIndex(t).HL7()
	raw := []byte("MSH|^~\\&|HIS\r\xd5\xc5") // kept byte for byte, GB 18030 too
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	for i, code := range []string{"AR", "AE"} {
		if err := h.KeepRejected(ctx, hl7.Rejected{ReceivedAt: now.Add(time.Duration(i) * time.Minute), Remote: "127.0.0.1:5",
			MessageType: "ORM^O01", ControlID: "C1", Code: code, Reason: "why " + code, Raw: raw}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := h.Rejected(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Code != "AE" || got[1].Reason != "why AR" || !bytes.Equal(got[0].Raw, raw) || !got[1].ReceivedAt.Equal(now) {
		t.Fatalf("rejected %+v", got)
	}
	if older, _ := h.Rejected(ctx, got[0].ID, 10); len(older) != 1 || older[0].ID != got[1].ID {
		t.Errorf("page before %d: %+v", got[0].ID, older)
	}

	m := hl7.Outbound{Dest: hl7.DestMLLP, StudyUID: "1.2", Version: 1, Payload: "MSH|张", CreatedAt: now, NextAt: now}
	if err := h.EnqueueOutbound(ctx, []hl7.Outbound{m, {Dest: hl7.DestWebhook, StudyUID: "1.2", Version: 1, Payload: "{}", CreatedAt: now, NextAt: now.Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	m.Payload = "again"
	if err := h.EnqueueOutbound(ctx, []hl7.Outbound{m}); err != nil { // queued once
		t.Fatal(err)
	}
	due, err := h.DueOutbound(ctx, now, 10)
	if err != nil || len(due) != 1 || due[0].Payload != "MSH|张" || due[0].Dest != hl7.DestMLLP {
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
	if len(due) != 2 || due[0].Attempts != 1 || due[0].LastError != "refused" {
		t.Fatalf("due later %+v", due)
	}
	d = due[0]
	d.Attempts, d.SentAt, d.LastError = 2, now.Add(2*time.Hour), ""
	if err := h.MarkOutbound(ctx, d); err != nil {
		t.Fatal(err)
	}
	if due, _ := h.DueOutbound(ctx, now.Add(3*time.Hour), 10); len(due) != 1 || due[0].Dest != hl7.DestWebhook {
		t.Errorf("due after sending: %+v", due)
	}
	all, _ := h.Outbound(ctx, 10)
	if len(all) != 2 || all[1].SentAt.IsZero() {
		t.Errorf("outbound %+v", all)
	}
}
