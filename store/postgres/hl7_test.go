package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"pacsd/hl7"
	"pacsd/hl7/hl7test"
	"pacsd/internal/pgtest"
	"pacsd/store/postgres"
)

// TestHL7Contract: the HIS link's records (hl7test).
func TestHL7Contract(t *testing.T) {
	hl7test.Run(t, func(t *testing.T) hl7test.DB {
		x := openIndex(t)
		return hl7test.DB{HL7: x.HL7(), Reports: x.Reading(), Index: x}
	})
}

// TestHL7OutboxAcrossNodes: senders on two nodes drain one outbox at once, and every
// report is handed to exactly one of them, once.
func TestHL7OutboxAcrossNodes(t *testing.T) {
	ctx := context.Background()
	url := pgtest.DB(t)
	nodes := []*postgres.HL7{openOn(t, url).HL7(), openOn(t, url).HL7()}
	now := time.Now().UTC()
	const n = 120
	var msgs []hl7.Outbound
	for i := range n {
		msgs = append(msgs, hl7.Outbound{Dest: hl7.DestMLLP, StudyUID: fmt.Sprintf("1.%d", i), Version: 1, Payload: "MSH",
			CreatedAt: now, NextAt: now.Add(-time.Duration(i) * time.Millisecond)})
	}
	if err := nodes[0].EnqueueOutbound(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	sentBy := map[int64]int{}
	var wg sync.WaitGroup
	for w := range 6 {
		h := nodes[w%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				due, err := h.DueOutbound(ctx, now, 50)
				if err != nil {
					t.Error(err)
					return
				}
				if len(due) == 0 {
					return
				}
				for _, m := range due {
					mu.Lock()
					if prev, ok := sentBy[m.ID]; ok {
						t.Errorf("report %d handed to worker %d and again to %d", m.ID, prev, w)
					}
					sentBy[m.ID] = w
					mu.Unlock()
					m.Attempts++
					m.SentAt = now
					if err := h.MarkOutbound(ctx, m); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if len(sentBy) != n {
		t.Fatalf("%d of %d reports handed out", len(sentBy), n)
	}
	all, err := nodes[1].Outbound(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range all {
		if m.SentAt.IsZero() || m.Attempts != 1 {
			t.Errorf("report %d: attempts %d sent %v", m.ID, m.Attempts, m.SentAt)
		}
	}
}

// TestHL7OutboxLeaseTakeover: the reports a node took stay with it while its lease holds;
// after, another node sends them, and the first node's late record changes nothing.
func TestHL7OutboxLeaseTakeover(t *testing.T) {
	ctx := context.Background()
	url := pgtest.DB(t)
	a, b := openOn(t, url).HL7(), openOn(t, url).HL7()
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	if err := a.EnqueueOutbound(ctx, []hl7.Outbound{{Dest: hl7.DestWebhook, StudyUID: "1.2", Version: 1, Payload: "{}",
		CreatedAt: t0, NextAt: t0}}); err != nil {
		t.Fatal(err)
	}
	da, err := a.DueOutbound(ctx, t0, 10)
	if err != nil || len(da) != 1 || !da[0].NextAt.Equal(t0) {
		t.Fatalf("node a: %+v %v", da, err)
	}
	if db, err := b.DueOutbound(ctx, t0.Add(time.Minute), 10); err != nil || len(db) != 0 {
		t.Fatalf("node b during a's lease: %+v %v", db, err)
	}
	t1 := t0.Add(time.Hour)
	db, err := b.DueOutbound(ctx, t1, 10)
	if err != nil || len(db) != 1 || db[0].ID != da[0].ID {
		t.Fatalf("node b after a's lease: %+v %v", db, err)
	}
	// a records a success late: dropped, b holds the report.
	ma := da[0]
	ma.Attempts, ma.SentAt = 1, t1
	if err := a.MarkOutbound(ctx, ma); err != nil {
		t.Fatal(err)
	}
	if all, _ := a.Outbound(ctx, 10); len(all) != 1 || !all[0].SentAt.IsZero() || all[0].Attempts != 0 {
		t.Fatalf("after a's late record: %+v", all)
	}
	// b fails, then sends it at its retry; nothing is due after.
	mb := db[0]
	mb.Attempts, mb.LastError, mb.NextAt = 1, "503", t1.Add(time.Minute)
	if err := b.MarkOutbound(ctx, mb); err != nil {
		t.Fatal(err)
	}
	again, err := a.DueOutbound(ctx, t1.Add(2*time.Minute), 10)
	if err != nil || len(again) != 1 || again[0].Attempts != 1 || again[0].LastError != "503" {
		t.Fatalf("due at b's retry: %+v %v", again, err)
	}
	m := again[0]
	m.Attempts, m.SentAt, m.LastError = 2, t1.Add(2*time.Minute), ""
	if err := a.MarkOutbound(ctx, m); err != nil {
		t.Fatal(err)
	}
	// A late failure from b cannot make a sent report unsent.
	mb.Attempts, mb.LastError = 2, "late"
	if err := b.MarkOutbound(ctx, mb); err != nil {
		t.Fatal(err)
	}
	if all, _ := b.Outbound(ctx, 10); len(all) != 1 || all[0].SentAt.IsZero() || all[0].Attempts != 2 || all[0].LastError != "" {
		t.Fatalf("after sending: %+v", all)
	}
	if due, _ := b.DueOutbound(ctx, t1.Add(24*time.Hour), 10); len(due) != 0 {
		t.Fatalf("due after sending: %+v", due)
	}
}
