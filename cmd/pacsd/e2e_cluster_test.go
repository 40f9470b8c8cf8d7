package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"pacsd/internal/pgtest"
	"pacsd/store"
	"pacsd/store/derived"
	"pacsd/store/postgres"
	"pacsd/store/s3"
	"pacsd/store/s3/miniotest"
)

// TestClusterTwoNodes is issue 20's cluster test: two pacsd nodes share one PostgreSQL
// database and one MinIO bucket (--cluster). DCMTK's storescu stores through node 1 and
// node 2 at once and node 1 is SIGKILLed mid-ingest. Every instance either node
// acknowledged is then served by node 2 with the bytes sent; every indexed instance is in
// the bucket once; a worklist open on node 2 hears of the studies node 1 received, live;
// one login works on both nodes (the sessions are in the database).
func TestClusterTwoNodes(t *testing.T) {
	needTool(t, "storescu")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cl := startCluster(t, "city-platform")
	srv, dbURL, bucket, n1, n2, c2 := cl.srv, cl.dbURL, cl.bucket, cl.n1, cl.n2, cl.c2
	events := openEvents(ctx, t, n2, c2)

	files := genCorpus(t, 0, 48)
	first, rest := files[:4], files[4:]
	// Phase 1: node 1 alone receives a study; node 2's live worklist hears of it.
	if got := storescu(t, n1, first...); got != len(first) {
		t.Fatalf("node 1 acknowledged %d of %d", got, len(first))
	}
	study, _, _ := parseHeaderUIDs(t, first[0])
	waitKind(t, events, "studies", "node 1's store")
	if rows := n2.getWith(t, c2, "/api/worklist"); !strings.Contains(rows, study) {
		t.Fatalf("node 2's worklist lacks study %s received by node 1", study)
	}
	// Node 1's work after ingest (thumbnails, metadata records) is done for these before
	// phase 2, so that node 2 is sure to find them in the bucket after the kill.
	waitMetrics(t, n1, 60*time.Second, func(m func(string) float64) bool {
		return m("pacsd_thumbnails_made_total") >= float64(len(first)) && m("pacsd_metadata_made_total") >= float64(len(first))
	})

	// Phase 2: both nodes receive at once; node 1 is killed after a few acknowledgements.
	var half1, half2 []string
	for i, f := range rest {
		if i%2 == 0 {
			half1 = append(half1, f)
		} else {
			half2 = append(half2, f)
		}
	}
	var wg sync.WaitGroup
	var acked1, acked2 []string
	wg.Add(2)
	go func() {
		defer wg.Done()
		acked1 = storescuAcked(ctx, t, n1, half1, func(acked int) {
			if acked == 5 {
				n1.kill()
			}
		})
	}()
	go func() { defer wg.Done(); acked2 = storescuAcked(ctx, t, n2, half2, nil) }()
	wg.Wait()
	if len(acked1) < 5 || len(acked1) == len(half1) {
		t.Fatalf("node 1 acknowledged %d of %d: the kill did not come mid-ingest", len(acked1), len(half1))
	}
	if len(acked2) != len(half2) {
		t.Fatalf("node 2 acknowledged %d of %d", len(acked2), len(half2))
	}
	t.Logf("node 1 acknowledged %d of %d before SIGKILL; node 2 all %d", len(acked1), len(half1), len(acked2))

	// Every acknowledged instance, from whichever node, is served by node 2 as sent.
	for _, f := range append(append(append([]string{}, first...), acked1...), acked2...) {
		st, se, in := parseHeaderUIDs(t, f)
		got, code := n2.wadoInstance(t, st, se, in)
		if code != http.StatusOK {
			t.Fatalf("node 2 cannot serve %s (acknowledged): HTTP %d", filepath.Base(f), code)
		}
		if !bytes.Equal(datasetBytes(t, got), datasetBytes(t, mustReadFile(t, f))) {
			t.Fatalf("node 2 serves %s with other content", filepath.Base(f))
		}
	}

	// The bucket against the shared index: every indexed instance uploaded once, under its
	// own key; at most the one object node 1 was writing when killed is not indexed.
	x, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	refs := map[string]store.BlobRef{}
	if err := x.BlobRefs(ctx, store.RefsAll, 0, func(r store.BlobRef) error { refs[r.BlobKey] = r; return nil }); err != nil {
		t.Fatal(err)
	}
	if want := len(first) + len(acked1) + len(acked2); len(refs) < want {
		t.Fatalf("%d instances indexed, %d acknowledged", len(refs), want)
	}
	remote, err := s3.New(ctx, s3.Config{Endpoint: srv.Endpoint, Bucket: bucket, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	inBucket, unindexed := map[string]bool{}, 0
	if err := remote.List(ctx, func(bi store.BlobInfo) error {
		inBucket[bi.Key] = true
		if _, ok := refs[bi.Key]; !ok {
			unindexed++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for key, r := range refs {
		if !inBucket[key] || !r.Uploaded {
			t.Errorf("indexed %s is not in the bucket (uploaded %v)", r.SOPInstanceUID, r.Uploaded)
		}
	}
	if unindexed > 1 {
		t.Errorf("%d bucket objects are indexed nowhere; at most the one in flight at the kill may be", unindexed)
	}

	// Thumbnails and metadata records are made once across the nodes (store/derived): node
	// 2, once its own work after ingest is done, makes one for a node-1 instance only when
	// node 1 died before making it, and gets the others from the bucket.
	waitMetrics(t, n2, 60*time.Second, func(m func(string) float64) bool {
		return m("pacsd_thumbnails_queued")+m("pacsd_thumbnails_series_queued")+m("pacsd_metadata_queued")+m("pacsd_metadata_series_queued") == 0 &&
			m("pacsd_thumbnails_made_total")+m("pacsd_thumbnail_failures_total") >= float64(len(acked2)) &&
			m("pacsd_metadata_made_total") >= float64(len(acked2))
	})
	folder, err := remote.Reserved(derived.Folder)
	if err != nil {
		t.Fatal(err)
	}
	node1 := append(append([]string{}, first...), acked1...)
	madeOnce(ctx, t, n2, folder, "thumbnails", "pacsd_thumbnails", node1, first, "/thumbnail")
	madeOnce(ctx, t, n2, folder, "metadata", "pacsd_metadata", node1, first, "/metadata")
	// Node 2's own are served from its cache: nothing more made or fetched.
	before := n2.metric(t, "pacsd_thumbnails_made_total") + n2.metric(t, "pacsd_thumbnails_fetched_total")
	for _, f := range acked2 {
		st, se, in := parseHeaderUIDs(t, f)
		n2.getOK(t, fmt.Sprintf("/dicomweb/studies/%s/series/%s/instances/%s/thumbnail", st, se, in))
	}
	if after := n2.metric(t, "pacsd_thumbnails_made_total") + n2.metric(t, "pacsd_thumbnails_fetched_total"); after != before {
		t.Errorf("node 2 made or fetched %v thumbnails of its own instances again", after-before)
	}
}

// madeOnce requests from n (node 2) the artifact of kind (the DICOMweb path suffix) of
// every file node 1 acknowledged and checks, against the bucket's listing taken before,
// that n made exactly those node 1 had not put there and fetched the others; those of
// waited (node 1 finished them before the kill) must all come from the bucket.
func madeOnce(ctx context.Context, t *testing.T, n *node, folder *s3.Reserved, kind, metric string, node1, waited []string, suffix string) {
	t.Helper()
	shared := map[string]bool{} // SOP Instance UIDs with an artifact in the bucket
	if err := folder.List(ctx, kind+"/", func(name string, _ int64) error {
		rest := strings.TrimPrefix(name, kind+"/")
		rest = rest[:strings.LastIndexByte(rest, '.')]         // the extension
		shared[rest[:strings.LastIndexByte(rest, '.')]] = true // the content hash
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, f := range waited {
		if _, _, in := parseHeaderUIDs(t, f); !shared[in] {
			t.Errorf("%s of %s, made by node 1 before the kill, is not in the bucket", kind, in)
		}
	}
	absent := 0
	for _, f := range node1 {
		if _, _, in := parseHeaderUIDs(t, f); !shared[in] {
			absent++
		}
	}
	made0, fetched0 := n.metric(t, metric+"_made_total"), n.metric(t, metric+"_fetched_total")
	for _, f := range node1 {
		st, se, in := parseHeaderUIDs(t, f)
		n.getOK(t, fmt.Sprintf("/dicomweb/studies/%s/series/%s/instances/%s%s", st, se, in, suffix))
	}
	made, fetched := n.metric(t, metric+"_made_total")-made0, n.metric(t, metric+"_fetched_total")-fetched0
	t.Logf("%s of node 1's %d instances: %d in the bucket, node 2 made %v and fetched %v", kind, len(node1), len(node1)-absent, made, fetched)
	if made != float64(absent) || fetched != float64(len(node1)-absent) {
		t.Errorf("%s: node 2 made %v and fetched %v; want %d made (absent from the bucket) and %d fetched", kind, made, fetched, absent, len(node1)-absent)
	}
}

// waitMetrics polls n's /metrics until done says so, failing the test after limit.
func waitMetrics(t *testing.T, n *node, limit time.Duration, done func(m func(string) float64) bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !done(func(name string) float64 { return n.metric(t, name) }) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: background work not done after %v", n.baseURL, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// getOK GETs a path of n without an account (--dicomweb-open) and wants 200.
func (n *node) getOK(t *testing.T, path string) {
	t.Helper()
	resp, err := http.Get(n.baseURL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d", path, resp.StatusCode)
	}
}

// storescuAcked sends files on one association with DCMTK's storescu and returns those it
// acknowledged with Success, calling onAck (when given) with the running count.
func storescuAcked(ctx context.Context, t *testing.T, n *node, files []string, onAck func(int)) []string {
	cmd := exec.CommandContext(ctx, "storescu", append([]string{"-v", "-aec", "PACSD", "-aet", "TOWNSHIP1", "127.0.0.1", n.dicomPort}, files...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Error(err)
		return nil
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Error(err)
		return nil
	}
	var acked []string
	var sending string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if _, f, ok := strings.Cut(line, "Sending file: "); ok {
			sending = strings.TrimSpace(f)
		}
		if strings.Contains(line, "Received Store Response (Success)") && sending != "" {
			acked = append(acked, sending)
			sending = ""
			if onAck != nil {
				onAck(len(acked))
			}
		}
	}
	cmd.Wait() // fails when the peer was killed: what counts is what it acknowledged
	return acked
}

// cluster is two pacsd nodes over one PostgreSQL database and one MinIO bucket
// (--cluster), the administrator node 1 made logged in on both.
type cluster struct {
	srv           *miniotest.Server
	dbURL, bucket string
	n1, n2        *node
	admin         *adminBrowser // on node 1, password changed
	c2            *http.Client  // the same administrator on node 2
}

func startCluster(t *testing.T, bucket string) *cluster {
	t.Helper()
	needTool(t, "storescu")
	cl := &cluster{srv: miniotest.Start(t), dbURL: pgtest.DB(t), bucket: bucket}
	t.Setenv(envS3AccessKey, cl.srv.AccessKey)
	t.Setenv(envS3SecretKey, cl.srv.SecretKey)
	args := []string{"--database", cl.dbURL, "--cluster", "--s3-endpoint", cl.srv.Endpoint, "--s3-bucket", bucket}
	cl.n1 = startPacsd(t, t.TempDir(), args...)
	cl.n2 = startPacsd(t, t.TempDir(), args...)
	// The first node made the administrator; after the password change it logs in on node 2
	// (users and sessions are in the shared database).
	cl.admin = newAdminBrowser(t, cl.n1)
	user, _ := cl.n1.initialAdmin(t)
	cl.c2 = cl.n2.login(t, user, "county-admin-1")
	return cl
}

// openEvents logs c into n's live worklist event stream and hands out each event's kind.
func openEvents(ctx context.Context, t *testing.T, n *node, c *http.Client) <-chan string {
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
				select {
				case ch <- kind:
				default:
				}
			}
		}
	}()
	return ch
}

// getWith GETs a reading-room path as the logged-in client c and returns the body.
func (n *node) getWith(t *testing.T, c *http.Client, path string) string {
	t.Helper()
	resp, err := c.Get(n.baseURL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	return b.String()
}

func mustReadFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
