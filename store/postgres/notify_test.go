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

// listener runs Index.Listen for a test and hands out what it delivers.
type listener struct {
	got  chan string
	done chan error
}

func listen(t *testing.T, x *postgres.Index) *listener {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &listener{got: make(chan string, 100), done: make(chan error, 1)}
	go func() { l.done <- x.Listen(ctx, func(uid string) { l.got <- uid }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-l.done:
			if err != nil {
				t.Errorf("Listen returned %v after its context ended, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Listen did not return after its context ended")
		}
	})
	return l
}

// next waits for the next delivery.
func (l *listener) next(t *testing.T, what string) string {
	t.Helper()
	select {
	case uid := <-l.got:
		return uid
	case <-time.After(10 * time.Second):
		t.Fatalf("no notification: %s", what)
		return ""
	}
}

// waitListening waits until a backend of the database is LISTENing (Listen connects on
// its own goroutine) and returns its process ID.
func waitListening(t *testing.T, conn *pgx.Conn) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var pid int
		err := conn.QueryRow(context.Background(), `SELECT pid FROM pg_stat_activity
			WHERE datname = current_database() AND query LIKE 'LISTEN %' AND pid <> pg_backend_pid()`).Scan(&pid)
		if err == nil {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("no backend listening: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestListenAcrossNodes: a PutInstance through one node's Index reaches Listen on another
// node's (one study's UID per committed change, none for an upload mark); after the
// listening backend is killed, Listen reconnects, says so with "", and later changes
// arrive.
func TestListenAcrossNodes(t *testing.T) {
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

	l := listen(t, b)
	pid := waitListening(t, admin)

	fs := storetest.MatchingFixtures()
	first := fs[0].Instance()
	if _, err := a.PutInstance(ctx, first); err != nil {
		t.Fatal(err)
	}
	if got := l.next(t, "PutInstance on node A"); got != fs[0].Study {
		t.Fatalf("notified %q, want study %s", got, fs[0].Study)
	}
	// Marks change no worklist: nothing is sent for them. A new version of the instance
	// (another blob) is a change.
	if err := a.MarkUploaded(ctx, first.SOPInstanceUID, first.BlobKey); err != nil {
		t.Fatal(err)
	}
	l.none(t, "MarkUploaded")
	second := fs[0].Instance()
	second.BlobKey, second.SHA256 = first.BlobKey+".v2", "ff"+first.SHA256[2:]
	second.ReceivedAt = first.ReceivedAt.Add(time.Second)
	if _, err := a.PutInstance(ctx, second); err != nil {
		t.Fatal(err)
	}
	if got := l.next(t, "new version"); got != fs[0].Study {
		t.Fatalf("after a new version: notified %q, want study %s", got, fs[0].Study)
	}

	// The listening connection dies (a PostgreSQL restart, a network cut).
	var killed bool
	if err := admin.QueryRow(ctx, "SELECT pg_terminate_backend($1)", pid).Scan(&killed); err != nil || !killed {
		t.Fatalf("pg_terminate_backend(%d) = %v, %v", pid, killed, err)
	}
	if got := l.next(t, "reconnection"); got != "" {
		t.Fatalf("after the drop: notified %q, want \"\" (reconnected, anything may have changed)", got)
	}
	if again := waitListening(t, admin); again == pid {
		t.Fatalf("still the killed backend %d", pid)
	}
	if _, err := a.PutInstance(ctx, fs[1].Instance()); err != nil {
		t.Fatal(err)
	}
	if got := l.next(t, "PutInstance after the reconnection"); got != fs[1].Study {
		t.Fatalf("notified %q, want study %s", got, fs[1].Study)
	}
	if err := a.DeleteInstance(ctx, fs[1].SOP); err != nil {
		t.Fatal(err)
	}
	if got := l.next(t, "DeleteInstance"); got != fs[1].Study {
		t.Fatalf("notified %q, want study %s", got, fs[1].Study)
	}
	l.none(t, "DeleteInstance's one notification")
}

// none checks that nothing more is delivered for a while.
func (l *listener) none(t *testing.T, after string) {
	t.Helper()
	select {
	case uid := <-l.got:
		t.Fatalf("after %s: unexpected notification %q", after, uid)
	case <-time.After(300 * time.Millisecond):
	}
}
