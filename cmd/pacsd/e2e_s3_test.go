package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pacsd/dimse"
	"pacsd/store"
	"pacsd/store/s3"
	"pacsd/store/s3/miniotest"
	"pacsd/store/sqlite"
)

// metric reads one value from the node's /metrics.
func (n *node) metric(t *testing.T, name string) float64 {
	t.Helper()
	resp, err := http.Get(n.baseURL + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("metric %s not exposed", name)
	return 0
}

// waitMetric polls until the metric satisfies ok.
func (n *node) waitMetric(t *testing.T, name string, ok func(float64) bool, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v := n.metric(t, name)
		if ok(v) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("metric %s stuck at %g", name, v)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// sendAll stores files over assocs parallel associations and records what was acknowledged.
// It stops an association at its first transport error (a killed server).
func sendAll(ctx context.Context, t *testing.T, addr string, files []string, assocs int, acked *sync.Map, nAcked *atomic.Int32) {
	var wg sync.WaitGroup
	for a := range assocs {
		var share []string
		for i := a; i < len(files); i += assocs {
			share = append(share, files[i])
		}
		if len(share) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := dialFor(t, ctx, addr, "TOWNSHIP-S3", share)
			defer c.Abort()
			for _, p := range share {
				st, err := sendWithClient(ctx, c, p)
				if err != nil {
					return
				}
				if st.Code == dimse.StatusSuccess {
					acked.Store(p, true)
					nAcked.Add(1)
				}
			}
		}()
	}
	wg.Wait()
}

// TestS3FaultIngest is issue 4's fault test: four associations store large DR images into an
// S3-backed pacsd; MinIO is stopped for 30 s and pacsd is SIGKILLed meanwhile and restarted
// (with the bucket still down). At the end every acknowledged instance is in the bucket with
// the right hash, indexed once and retrievable over WADO-RS; the spool is empty; nothing in
// the bucket is unindexed.
func TestS3FaultIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test: 30 s outage")
	}
	srv := miniotest.Start(t)
	t.Setenv(envS3AccessKey, srv.AccessKey)
	t.Setenv(envS3SecretKey, srv.SecretKey)
	const bucket = "county-fault"
	dataDir := t.TempDir()
	s3args := []string{"--s3-endpoint", srv.Endpoint, "--s3-bucket", bucket, "--cache-max-mb", "0",
		"--upload-retry-max", "2s"}
	n := startPacsd(t, dataDir, s3args...)
	files := genCorpus(t, 16, 8)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var acked sync.Map
	var nAcked atomic.Int32
	var stoppedAt time.Time
	var didKill bool
	sent, killed := make(chan struct{}), make(chan struct{})
	// acks waits for k acknowledgements; false when the senders finished first.
	acks := func(k int32) bool {
		for nAcked.Load() < k {
			select {
			case <-sent:
				return false
			case <-time.After(5 * time.Millisecond):
			}
		}
		return true
	}
	go func() {
		defer close(killed)
		if !acks(3) {
			return
		}
		srv.Stop()
		stoppedAt = time.Now()
		if !acks(9) {
			return
		}
		n.kill()
		didKill = true
	}()
	sendAll(ctx, t, n.dicomAddr, files, 4, &acked, &nAcked)
	close(sent)
	<-killed
	if !didKill || int(nAcked.Load()) == len(files) {
		t.Fatalf("%d of %d objects were acknowledged before the kill; the test must kill mid-ingest", nAcked.Load(), len(files))
	}
	t.Logf("%d of %d acknowledged before SIGKILL (bucket down since %s)", nAcked.Load(), len(files), time.Since(stoppedAt).Round(time.Millisecond))

	// Restart with the bucket still down: pacsd must come up and keep taking objects.
	n2 := startPacsd(t, dataDir, s3args...)
	var rest []string
	for _, p := range files {
		if _, ok := acked.Load(p); !ok {
			rest = append(rest, p)
		}
	}
	before := nAcked.Load()
	sendAll(ctx, t, n2.dicomAddr, rest, 4, &acked, &nAcked)
	if got := int(nAcked.Load() - before); got != len(rest) {
		t.Fatalf("with the bucket down, %d of %d objects acknowledged; the spool must take them all", got, len(rest))
	}
	if v := n2.metric(t, "pacsd_spool_pending_objects"); v == 0 {
		t.Fatal("nothing pending while the bucket is down")
	}
	// The uploader meets the outage: its failures are counted (and retried).
	n2.waitMetric(t, "pacsd_upload_failures_total", func(v float64) bool { return v > 0 }, time.Minute)
	// The outage lasts its 30 s: the scenario's length, not a wait for anything.
	if d := 30*time.Second - time.Since(stoppedAt); d > 0 {
		time.Sleep(d)
	}
	srv.Restart()
	n2.waitMetric(t, "pacsd_spool_pending_objects", func(v float64) bool { return v == 0 }, 3*time.Minute)
	n2.waitMetric(t, "pacsd_local_bytes", func(v float64) bool { return v == 0 }, time.Minute)

	// Indexed once, retrievable, the bytes that were sent.
	visible := n2.qido(t, "/instances", url.Values{"limit": {"1000"}})
	seen := map[string]bool{}
	for _, r := range visible {
		sop := uidOf(r, "00080018")
		if seen[sop] {
			t.Errorf("%s indexed twice", sop)
		}
		seen[sop] = true
	}
	if len(visible) != len(files) {
		t.Errorf("index lists %d instances, want %d", len(visible), len(files))
	}
	for _, p := range files {
		study, series, inst := parseHeaderUIDs(t, p)
		got, code := n2.wadoInstance(t, study, series, inst)
		if code != http.StatusOK {
			t.Errorf("%s: WADO-RS %d", filepath.Base(p), code)
			continue
		}
		src, _ := os.ReadFile(p)
		if sum(datasetBytes(t, got)) != sum(datasetBytes(t, src)) {
			t.Errorf("%s: retrieved data set differs from the one sent", filepath.Base(p))
		}
	}
	if err := n2.stop(); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(dataDir, "spool", "*")); len(left) != 0 {
		t.Errorf("spool not empty: %v", left)
	}

	// The bucket against the index: every object referenced, every reference uploaded
	// with the indexed SHA-256.
	idx, err := sqlite.Open(ctx, filepath.Join(dataDir, "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	remote, err := s3.New(ctx, s3.Config{Endpoint: srv.Endpoint, Bucket: bucket, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	refs := map[string]store.BlobRef{}
	err = idx.BlobRefs(ctx, store.RefsAll, 0, func(r store.BlobRef) error { refs[r.BlobKey] = r; return nil })
	if err != nil {
		t.Fatal(err)
	}
	inBucket := 0
	err = remote.List(ctx, func(bi store.BlobInfo) error {
		inBucket++
		r, ok := refs[bi.Key]
		if !ok {
			t.Errorf("bucket object %s is not indexed", bi.Key)
			return nil
		}
		if !r.Uploaded || !r.Evicted {
			t.Errorf("%s: uploaded %v evicted %v", r.SOPInstanceUID, r.Uploaded, r.Evicted)
		}
		rc, err := remote.Open(ctx, bi.Key)
		if err != nil {
			return err
		}
		defer rc.Close()
		h := sha256.New()
		if _, err := io.Copy(h, rc); err != nil {
			return err
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != r.SHA256 {
			t.Errorf("%s: bucket SHA-256 %s, indexed %s", bi.Key, got, r.SHA256)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if inBucket != len(refs) || len(refs) != len(files) {
		t.Errorf("%d objects in the bucket, %d indexed, %d sent", inBucket, len(refs), len(files))
	}

	// pacsd check agrees, reading every object back.
	out, err := exec.CommandContext(ctx, pacsdBin, "check", "--data-dir", dataDir, "--s3-endpoint", srv.Endpoint,
		"--s3-bucket", bucket, "--hash").CombinedOutput()
	if err != nil {
		t.Fatalf("pacsd check: %v\n%s", err, out)
	}
	for _, want := range []string{"missing (lost):                0", "unreferenced remote:           0", "hash mismatches:               0"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("pacsd check output lacks %q:\n%s", want, out)
		}
	}
}

// TestMigrateToS3: a folder archive is moved into a bucket with `pacsd migrate --to s3`;
// pacsd then serves every object from the bucket, and refuses to start without it.
func TestMigrateToS3(t *testing.T) {
	srv := miniotest.Start(t)
	t.Setenv(envS3AccessKey, srv.AccessKey)
	t.Setenv(envS3SecretKey, srv.SecretKey)
	dataDir := t.TempDir()
	n := startPacsd(t, dataDir)
	files := testdataFiles(t)
	c := dialFor(t, context.Background(), n.dicomAddr, "TOWNSHIP-MIG", files)
	for _, p := range files {
		if st, err := sendWithClient(context.Background(), c, p); err != nil || st.Code != dimse.StatusSuccess {
			t.Fatalf("store %s: %v 0x%04X", filepath.Base(p), err, st.Code)
		}
	}
	c.Release(context.Background())
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}

	s3args := []string{"--s3-endpoint", srv.Endpoint, "--s3-bucket", "county-migrated", "--cache-max-mb", "0"}
	out, err := exec.Command(pacsdBin, append([]string{"migrate", "--to", "s3", "--data-dir", dataDir}, s3args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("pacsd migrate: %v\n%s", err, out)
	}
	t.Logf("pacsd migrate:\n%s", out)
	if !bytes.Contains(out, []byte("none missing")) {
		t.Fatalf("migrate did not report a clean check:\n%s", out)
	}
	var left []string
	filepath.WalkDir(filepath.Join(dataDir, "blobs"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			left = append(left, p)
		}
		return nil
	})
	if len(left) != 0 {
		t.Errorf("local copies left after migrating with --cache-max-mb 0: %v", left)
	}

	// Without the bucket, the archive is incomplete: pacsd refuses to start.
	bad := exec.Command(pacsdBin, "serve", "--data-dir", dataDir, "--dicom-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0")
	if out, err := bad.CombinedOutput(); err == nil || !bytes.Contains(out, []byte("only in the remote store")) {
		t.Fatalf("serve without S3 after migration: %v\n%s", err, out)
	}

	n2 := startPacsd(t, dataDir, s3args...)
	for _, p := range files {
		study, series, inst := parseHeaderUIDs(t, p)
		got, code := n2.wadoInstance(t, study, series, inst)
		if code != http.StatusOK {
			t.Errorf("%s after migration: WADO-RS %d", filepath.Base(p), code)
			continue
		}
		src, _ := os.ReadFile(p)
		if sum(datasetBytes(t, got)) != sum(datasetBytes(t, src)) {
			t.Errorf("%s after migration: data set differs", filepath.Base(p))
		}
	}
}
