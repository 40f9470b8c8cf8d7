package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"pacsd/internal/pgtest"
	"pacsd/store/postgres"
	"pacsd/store/storetest"
)

// listenAll runs Index.ListenAll for a test as node: stored changes and events from other
// nodes arrive on one channel, as "stored <study>" and "event <kind>".
func listenAll(t *testing.T, x *postgres.Index, node string) *listener {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &listener{got: make(chan string, 100), done: make(chan error, 1)}
	go func() {
		l.done <- x.ListenAll(ctx, postgres.Notices{Node: node,
			Stored: func(uid string) { l.got <- "stored " + uid },
			Event:  func(kind string) { l.got <- "event " + kind }})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-l.done:
			if err != nil {
				t.Errorf("ListenAll returned %v after its context ended, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("ListenAll did not return after its context ended")
		}
	})
	return l
}

// TestEventsAcrossNodes: an event PublishEvent sends on node A reaches node B's ListenAll
// as its kind, and a node's own events do not come back to it; stored changes arrive on
// the same connection (one LISTENing backend a node); after that backend is killed, both
// kinds of listener hear "" and later events arrive.
func TestEventsAcrossNodes(t *testing.T) {
	ctx := context.Background()
	url := pgtest.DB(t)
	a, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	nodeA, nodeB := postgres.NewNodeID(), postgres.NewNodeID()
	if nodeA == nodeB || nodeA == "" {
		t.Fatalf("node ids %q and %q", nodeA, nodeB)
	}

	l := listenAll(t, b, nodeB)
	pid := waitListeningEvents(t, admin)
	var backends int
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN %'`).Scan(&backends); err != nil || backends != 1 {
		t.Fatalf("%d LISTENing backends (%v), want 1 for both channels", backends, err)
	}

	// B's own event is skipped; A's arrives, as its kind.
	if err := b.PublishEvent(ctx, nodeB, "studies"); err != nil {
		t.Fatal(err)
	}
	if err := a.PublishEvent(ctx, nodeA, "critical"); err != nil {
		t.Fatal(err)
	}
	if got := l.next(t, "A's event"); got != "event critical" {
		t.Fatalf("node B heard %q, want \"event critical\" (its own event skipped)", got)
	}
	fs := storetest.MatchingFixtures()
	if _, err := a.PutInstance(ctx, fs[0].Instance()); err != nil {
		t.Fatal(err)
	}
	if got := l.next(t, "PutInstance on node A"); got != "stored "+fs[0].Study {
		t.Fatalf("node B heard %q, want the stored study", got)
	}
	l.none(t, "one event and one store")

	var killed bool
	if err := admin.QueryRow(ctx, "SELECT pg_terminate_backend($1)", pid).Scan(&killed); err != nil || !killed {
		t.Fatalf("pg_terminate_backend(%d) = %v, %v", pid, killed, err)
	}
	missed := map[string]bool{}
	for range 2 {
		missed[l.next(t, "reconnection")] = true
	}
	if !missed["stored "] || !missed["event "] {
		t.Fatalf("after the drop: heard %v, want \"\" for both stored changes and events", missed)
	}
	if again := waitListeningEvents(t, admin); again == pid {
		t.Fatalf("still the killed backend %d", pid)
	}
	if err := a.PublishEvent(ctx, nodeA, "studies"); err != nil {
		t.Fatal(err)
	}
	if got := l.next(t, "A's event after the reconnection"); got != "event studies" {
		t.Fatalf("node B heard %q, want \"event studies\"", got)
	}
}

// waitListeningEvents is waitListening for a ListenAll with events: it waits for the last
// of its LISTENs (on pacsd_events), so that no event is published before.
func waitListeningEvents(t *testing.T, conn *pgx.Conn) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var pid int
		err := conn.QueryRow(context.Background(), `SELECT pid FROM pg_stat_activity
			WHERE datname = current_database() AND query LIKE 'LISTEN %pacsd_events%'`).Scan(&pid)
		if err == nil {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("no backend listening for events: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
