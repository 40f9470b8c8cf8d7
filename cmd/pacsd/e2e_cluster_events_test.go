package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestClusterReadingRoomEvents: a claim and a critical finding made on node 1 reach a live
// worklist open on node 2 as their kinds ("studies", "critical"), through the database
// (postgres.Index.PublishEvent, ListenAll); the node's own stream hears each once.
func TestClusterReadingRoomEvents(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cl := startCluster(t, "events")
	n1, n2, admin, c2 := cl.n1, cl.n2, cl.admin, cl.c2
	files := genCorpus(t, 0, 1)
	if got := storescu(t, n1, files...); got != 1 {
		t.Fatalf("node 1 acknowledged %d of 1", got)
	}
	study, _, _ := parseHeaderUIDs(t, files[0])

	// Opened after the store: what arrives now is what the worklist is told of the store
	// (node 2 may still be told) and then of the claim.
	kinds := openEvents(ctx, t, n2, c2)
	quiet(kinds, time.Second)
	m := csrfField.FindStringSubmatch(admin.page("/account/password"))
	if m == nil {
		t.Fatal("no CSRF token")
	}
	if code, body := apiCall(t, admin, http.MethodPost, "/api/studies/"+study+"/claim", m[1], ""); code != http.StatusOK {
		t.Fatalf("claim on node 1: %d %s", code, body)
	}
	waitKind(t, kinds, "studies", "the claim made on node 1")
	if code, body := apiCall(t, admin, http.MethodPost, "/api/studies/"+study+"/critical", m[1],
		`{"category":"pneumothorax","text":"右侧气胸"}`); code != http.StatusOK {
		t.Fatalf("critical finding on node 1: %d %s", code, body)
	}
	waitKind(t, kinds, "critical", "the critical finding flagged on node 1")
	// The claim is on node 2's worklist (the event came after the change committed).
	if rows := n2.getWith(t, c2, "/api/worklist"); !strings.Contains(rows, study) {
		t.Fatalf("node 2's worklist lacks %s", study)
	}
}

// quiet drains kinds until nothing has arrived for d.
func quiet(kinds <-chan string, d time.Duration) {
	for {
		select {
		case <-kinds:
		case <-time.After(d):
			return
		}
	}
}

// waitKind waits for an event of kind; none at all, or only others, fails.
func waitKind(t *testing.T, kinds <-chan string, kind, what string) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case k := <-kinds:
			if k == kind {
				return
			}
			t.Logf("event %q while waiting for %q", k, kind)
		case <-deadline:
			t.Fatalf("node 2's event stream did not hear of %s", what)
		}
	}
}
