package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"pacsd/store/s3"
	"pacsd/store/s3/miniotest"
)

// TestRestoreFromBucket is the disaster test's first half (issue 20): a pacsd with an S3
// bucket takes studies, a new radiologist and a signed report; once the replica has had
// time to ship (a few --replica-interval), the server is SIGKILLed and its data dir deleted.
// `pacsd restore` rebuilds the databases in a fresh data dir from the bucket, and a pacsd
// started there has every study (read back from the bucket), the signed report, and the
// users, who log in with their passwords, and the audit trail. `pacsd check --repair` then leaves the replica's
// objects alone: they are not blobs.
func TestRestoreFromBucket(t *testing.T) {
	srv := miniotest.Start(t)
	t.Setenv(envS3AccessKey, srv.AccessKey)
	t.Setenv(envS3SecretKey, srv.SecretKey)
	const bucket, prefix = "county-restore", "county-a"
	s3args := []string{"--s3-endpoint", srv.Endpoint, "--s3-bucket", bucket, "--s3-prefix", prefix}
	serveArgs := append([]string{"--replica-interval", "250ms"}, s3args...)
	ctx := context.Background()

	dataDir := filepath.Join(t.TempDir(), "data")
	n := startPacsd(t, dataDir, serveArgs...)
	files := testdataFiles(t)
	studies := map[string]bool{}
	for _, f := range files {
		n.stow(t, f)
		study, _, _ := parseHeaderUIDs(t, f)
		studies[study] = true
	}
	admin := newAdminBrowser(t, n) // the initial administrator, password changed to county-admin-1
	admin.post("/admin/users", url.Values{"username": {"lisi"}, "display_name": {"李四"}, "role": {"radiologist"},
		"password": {"lisi-reads-xrays"}}, true)
	study, _, _ := parseHeaderUIDs(t, files[0])
	findings, impression := "双肺纹理清晰，心影不大。", "胸部正位片未见明显异常。"
	signReport(t, n, admin.http, study, findings, impression)
	n.waitMetric(t, "pacsd_spool_pending_objects", func(v float64) bool { return v == 0 }, time.Minute)
	// The audit trail (audit.db) so far: the stores, the user's creation, the signature.
	auditBefore := auditExport(t, admin.http, n.baseURL+"/admin/audit.csv")
	if len(auditBefore) == 0 {
		t.Fatal("no audit events before the loss")
	}
	// The recovery point is about one interval plus an upload: 3 s is twelve intervals.
	time.Sleep(3 * time.Second)
	n.kill()
	if err := os.RemoveAll(dataDir); err != nil {
		t.Fatal(err)
	}

	fresh := filepath.Join(t.TempDir(), "data")
	out, err := exec.Command(pacsdBin, append([]string{"restore", "--data-dir", fresh}, s3args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("pacsd restore: %v\n%s", err, out)
	}
	t.Logf("pacsd restore:\n%s", out)
	if !regexp.MustCompile(`(?m)^index\.db: generation \w+, snapshot of .* \+ [1-9]\d* WAL segments`).Match(out) || bytes.Contains(out, []byte("WARNING")) {
		t.Errorf("restore output lacks index.db's snapshot and segments, or warns:\n%s", out)
	}
	// A data dir in use (or left over) is not overwritten without --force.
	out, err = exec.Command(pacsdBin, append([]string{"restore", "--data-dir", fresh}, s3args...)...).CombinedOutput()
	if err == nil || !bytes.Contains(out, []byte("not empty")) {
		t.Errorf("restore into a non-empty data dir: %v\n%s", err, out)
	}

	n2 := startPacsd(t, fresh, serveArgs...)
	if strings.Contains(n2.log.String(), "initial administrator created") {
		t.Error("the restored index has no users: a new initial administrator was made")
	}
	got := map[string]bool{}
	for _, r := range n2.qido(t, "/studies", url.Values{"limit": {"1000"}}) {
		got[uidOf(r, "0020000D")] = true
	}
	if len(got) != len(studies) {
		t.Errorf("restored index lists %d studies, want %d", len(got), len(studies))
	}
	for _, f := range files {
		s, se, in := parseHeaderUIDs(t, f)
		body, code := n2.wadoInstance(t, s, se, in)
		src, _ := os.ReadFile(f)
		if code != http.StatusOK || sum(datasetBytes(t, body)) != sum(datasetBytes(t, src)) {
			t.Errorf("%s: WADO-RS %d after restore, or other bytes", filepath.Base(f), code)
		}
	}
	// The users log in with their passwords (and not with wrong ones).
	if c := n2.login(t, "lisi", "lisi-reads-xrays"); c == nil {
		t.Error("the radiologist created before the loss cannot log in after the restore")
	}
	if c := n2.login(t, "lisi", "wrong-password"); c != nil {
		t.Error("a wrong password logs in")
	}
	adminUser, _ := n.initialAdmin(t)
	c := n2.login(t, adminUser, "county-admin-1")
	if c == nil {
		t.Fatal("the administrator's changed password does not log in after the restore")
	}
	// The signed report is back.
	versions := getReport(t, n2, c, study)
	if len(versions) == 0 {
		t.Fatal("no report after the restore")
	}
	if last := versions[len(versions)-1]; last.SignedAt == "" || last.Findings != findings || last.Impression != impression {
		t.Errorf("report after restore: %+v, want signed with the findings and impression", last)
	}
	// And so is the audit trail: every event exported before the loss.
	after := map[string]bool{}
	for _, r := range auditExport(t, c, n2.baseURL+"/admin/audit.csv") {
		after[strings.Join(r, "\x00")] = true
	}
	for _, r := range auditBefore {
		if !after[strings.Join(r, "\x00")] {
			t.Errorf("audit event lost in the restore: %q", r)
		}
	}
	if err := n2.stop(); err != nil {
		t.Fatal(err)
	}

	// The replica's objects are not blobs: check does not count them, --repair keeps them.
	remote, err := s3.New(ctx, s3.Config{Endpoint: srv.Endpoint, Bucket: bucket, Prefix: prefix, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	folder, err := remote.Reserved(replicaFolder)
	if err != nil {
		t.Fatal(err)
	}
	count := func() int {
		n := 0
		if err := folder.List(ctx, "", func(string, int64) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := count()
	out, err = exec.Command(pacsdBin, append([]string{"check", "--data-dir", fresh, "--repair", "--grace", "0s"}, s3args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("pacsd check: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("unreferenced remote:           0")) {
		t.Errorf("pacsd check counts the replica as unreferenced objects:\n%s", out)
	}
	if after := count(); before < 2 || after != before {
		t.Errorf("replica objects: %d before pacsd check --repair, %d after", before, after)
	}
}

// signReport signs the first version of study's report as the logged-in staff member c.
func signReport(t *testing.T, n *node, c *http.Client, study, findings, impression string) {
	t.Helper()
	reportAPI(t, n, c, study, "sign", map[string]any{"version": 1, "findings": findings, "impression": impression})
}

// login logs in through the reading room's form; nil when the password is refused.
func (n *node) login(t *testing.T, user, password string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: time.Minute}
	resp, err := c.PostForm(n.baseURL+"/login", url.Values{"username": {user}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path == "/login" {
		return nil
	}
	return c
}
