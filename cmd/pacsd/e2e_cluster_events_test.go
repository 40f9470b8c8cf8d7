package main

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"pacsd/internal/pgtest"
	"pacsd/store/s3/miniotest"
)

// TestClusterReadingRoomEvents: a claim and a critical finding made on node 1 reach a live
// worklist open on node 2 as their kinds ("studies", "critical"), through the database
// (postgres.Index.PublishEvent, ListenAll); the node's own stream hears each once.
func TestClusterReadingRoomEvents(t *testing.T) {
	needTool(t, "storescu")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	srv := miniotest.Start(t)
	t.Setenv(envS3AccessKey, srv.AccessKey)
	t.Setenv(envS3SecretKey, srv.SecretKey)
	args := []string{"--database", pgtest.DB(t), "--cluster", "--s3-endpoint", srv.Endpoint, "--s3-bucket", "events"}
	n1 := startPacsd(t, t.TempDir(), args...)
	n2 := startPacsd(t, t.TempDir(), args...)
	admin := newAdminBrowser(t, n1)
	user, _ := n1.initialAdmin(t)
	c2 := n2.login(t, user, "county-admin-1")
	if c2 == nil {
		t.Fatal("login on node 2 failed")
	}
	files := genCorpus(t, 0, 1)
	if got := storescu(t, n1, files...); got != 1 {
		t.Fatalf("node 1 acknowledged %d of 1", got)
	}
	study, _, _ := parseHeaderUIDs(t, files[0])

	// Opened after the store: what arrives now is what the worklist is told of the store
	// (node 2 may still be told) and then of the claim.
	kinds := openEventKinds(ctx, t, n2, c2)
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

// openEventKinds logs c into n's live worklist event stream and hands out each event's kind.
func openEventKinds(ctx context.Context, t *testing.T, n *node, c *http.Client) <-chan string {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.baseURL+"/api/events", nil)
	resp, err := (&http.Client{Jar: c.Jar}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/events: %d", resp.StatusCode)
	}
	ch := make(chan string, 64)
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if kind, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				ch <- kind
			}
		}
	}()
	return ch
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
