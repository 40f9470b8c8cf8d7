package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"pacsd/dicom"
	"pacsd/store/s3/miniotest"
)

// TestReindexFromBucket is the disaster test's second half (issue 20): a pacsd with an S3
// bucket receives studies through DCMTK's storescu, a signed report and an amended one;
// once every object is uploaded it is SIGKILLed and its data dir deleted, replica and all.
// `pacsd reindex` on a fresh data dir with the bucket alone rebuilds the index, and a
// pacsd started there lists every study (QIDO-RS), serves every instance (WADO-RS, the
// images byte for byte) and shows every signed version of both reports with its text,
// author, signer, signing time and SR. A second run adds nothing.
func TestReindexFromBucket(t *testing.T) {
	needTool(t, "storescu")
	srv := miniotest.Start(t)
	t.Setenv(envS3AccessKey, srv.AccessKey)
	t.Setenv(envS3SecretKey, srv.SecretKey)
	s3args := []string{"--s3-endpoint", srv.Endpoint, "--s3-bucket", "county-reindex", "--s3-prefix", "county-b"}
	reindexScenario(t, s3args, func(n *node) string {
		n.waitMetric(t, "pacsd_spool_pending_objects", func(v float64) bool { return v == 0 }, time.Minute)
		n.kill()
		if err := os.RemoveAll(n.dataDir); err != nil {
			t.Fatal(err)
		}
		return filepath.Join(t.TempDir(), "data")
	})
}

// TestReindexFromFolder: the same with a folder archive whose index is lost: only the
// data dir's blobs folder is left, moved into a fresh data dir.
func TestReindexFromFolder(t *testing.T) {
	needTool(t, "storescu")
	reindexScenario(t, nil, func(n *node) string {
		if err := n.stop(); err != nil {
			t.Fatal(err)
		}
		fresh := filepath.Join(t.TempDir(), "data")
		if err := os.MkdirAll(fresh, 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(n.dataDir, "blobs"), filepath.Join(fresh, "blobs")); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(n.dataDir); err != nil {
			t.Fatal(err)
		}
		return fresh
	})
}

// reindexScenario runs a pacsd with args, stores studies and reports, loses the server
// with lose (which returns the data dir to rebuild in), runs pacsd reindex there and checks
// what a pacsd started on it serves.
func reindexScenario(t *testing.T, args []string, lose func(*node) string) {
	n := startPacsd(t, filepath.Join(t.TempDir(), "data"), args...)
	// storescu proposes the uncompressed syntaxes: the test objects in those.
	var files []string
	for _, f := range testdataFiles(t) {
		if ts := transferSyntaxOf(t, f); ts == dicom.ExplicitVRLittleEndian || ts == dicom.ImplicitVRLittleEndian {
			files = append(files, f)
		}
	}
	if got := storescu(t, n, files...); got != len(files) || len(files) < 3 {
		t.Fatalf("storescu stored %d of %d", got, len(files))
	}
	var studies []string
	for _, f := range files {
		s, _, _ := parseHeaderUIDs(t, f)
		if !slices.Contains(studies, s) {
			studies = append(studies, s)
		}
	}
	if len(studies) < 2 {
		t.Fatalf("%d studies in the test objects, want 2", len(studies))
	}
	slices.Sort(studies)
	signed, amended := studies[0], studies[1]
	admin := newAdminBrowser(t, n)
	signReport(t, n, admin.http, signed, "双肺纹理清晰，心影不大。", "胸部正位片未见明显异常。")
	signReport(t, n, admin.http, amended, "右下肺见斑片影。", "右下肺炎可能。")
	reportAPI(t, n, admin.http, amended, "amend", map[string]any{"reason": "补充侧位片所见"})
	reportAPI(t, n, admin.http, amended, "sign", map[string]any{"version": 2,
		"findings": "右下肺见斑片影，侧位片示位于后基底段。", "impression": "右下肺后基底段炎症。"})
	reports := map[string][]reportVersion{}
	instances := map[string]int{}
	stored := map[string]string{} // SOP Instance UID: SHA-256 of the data set served
	for _, s := range studies {
		reports[s] = getReport(t, n, admin.http, s)
		list := n.qido(t, "/studies/"+s+"/instances", nil)
		instances[s] = len(list)
		for _, r := range list {
			body, code := n.wadoInstance(t, s, uidOf(r, "0020000E"), uidOf(r, "00080018"))
			if code != http.StatusOK {
				t.Fatalf("WADO-RS %s: %d", uidOf(r, "00080018"), code)
			}
			stored[uidOf(r, "00080018")] = sum(datasetBytes(t, body))
		}
	}
	if len(reports[signed]) != 1 || len(reports[amended]) != 2 || reports[amended][1].Object == "" {
		t.Fatalf("reports before the loss: %+v", reports)
	}

	fresh := lose(n)
	reindex := func() string {
		out, err := exec.Command(pacsdBin, append([]string{"reindex", "--data-dir", fresh}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("pacsd reindex: %v\n%s", err, out)
		}
		t.Logf("pacsd reindex:\n%s", out)
		return string(out)
	}
	total := 0
	for _, c := range instances {
		total += c
	}
	out := reindex()
	if !regexp.MustCompile(`done in \S+: `+strconv.Itoa(total)+` objects \([\d.]+ MiB\), `+strconv.Itoa(total)+` indexed`).MatchString(out) ||
		!bytes.Contains([]byte(out), []byte("3 signed versions of 2 studies restored")) {
		t.Errorf("reindex summary: want %d objects indexed and 3 report versions of 2 studies", total)
	}
	out = reindex() // resumed or repeated: nothing twice
	if !regexp.MustCompile(` 0 indexed \(0 of them earlier versions\), `+strconv.Itoa(total)+` already indexed`).MatchString(out) ||
		!bytes.Contains([]byte(out), []byte("0 signed versions of 2 studies restored from their SR objects, 3 already there")) {
		t.Error("a second reindex added something")
	}

	n2 := startPacsd(t, fresh, args...)
	var got []string
	for _, r := range n2.qido(t, "/studies", url.Values{"limit": {"1000"}}) {
		got = append(got, uidOf(r, "0020000D"))
	}
	slices.Sort(got)
	if !slices.Equal(got, studies) {
		t.Errorf("studies after reindex %q, want %q", got, studies)
	}
	for _, s := range studies {
		list := n2.qido(t, "/studies/"+s+"/instances", nil)
		if len(list) != instances[s] {
			t.Errorf("study %s: %d instances after reindex, want %d", s, len(list), instances[s])
		}
		for _, r := range list {
			sop := uidOf(r, "00080018")
			body, code := n2.wadoInstance(t, s, uidOf(r, "0020000E"), sop)
			if code != http.StatusOK || sum(datasetBytes(t, body)) != stored[sop] {
				t.Errorf("WADO-RS %s after reindex: %d, or other bytes than before", sop, code)
			}
		}
	}
	// The accounts are not in the objects: a new initial administrator reads the reports.
	admin2 := newAdminBrowser(t, n2)
	for _, s := range studies {
		after := getReport(t, n2, admin2.http, s)
		if len(after) != len(reports[s]) {
			t.Errorf("study %s: %d report versions after reindex, want %d", s, len(after), len(reports[s]))
			continue
		}
		for i, want := range reports[s] {
			g := after[i]
			if g.Version != want.Version || g.Status != want.Status || g.Findings != want.Findings ||
				g.Impression != want.Impression || g.SignedByName != want.SignedByName || g.SignedAt != want.SignedAt ||
				g.AuthorName != want.AuthorName || g.Object != want.Object {
				t.Errorf("study %s version %d after reindex:\n got %+v\nwant %+v", s, want.Version, g, want)
			}
			if (g.Version > 1) != (g.AmendReason != "") {
				t.Errorf("study %s version %d: amendment reason %q", s, g.Version, g.AmendReason)
			}
		}
	}
	// Restored versions name their SR: pacsd does not store them again.
	for _, s := range studies {
		if c := len(n2.qido(t, "/studies/"+s+"/instances", nil)); c != instances[s] {
			t.Errorf("study %s: %d instances once pacsd ran, want %d", s, c, instances[s])
		}
	}
	if err := n2.stop(); err != nil {
		t.Fatal(err)
	}
	// The rebuilt index and the stores agree, byte for byte.
	check, err := exec.Command(pacsdBin, append([]string{"check", "--data-dir", fresh, "--hash"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("pacsd check after reindex: %v\n%s", err, check)
	}
	for _, line := range []string{"missing (lost):                0", "unreferenced local:            0",
		"unreferenced remote:           0", "hash mismatches:               0"} {
		if !bytes.Contains(check, []byte(line)) {
			t.Errorf("pacsd check after reindex lacks %q:\n%s", line, check)
		}
	}
}

// reportVersion is a version as GET /api/studies/{study}/report gives it.
type reportVersion struct {
	Version      int    `json:"version"`
	Status       string `json:"status"`
	Findings     string `json:"findings"`
	Impression   string `json:"impression"`
	AuthorName   string `json:"authorName"`
	SignedByName string `json:"signedByName"`
	SignedAt     string `json:"signedAt"`
	AmendReason  string `json:"amendReason"`
	Object       string `json:"object"`
}

func getReport(t *testing.T, n *node, c *http.Client, study string) []reportVersion {
	t.Helper()
	resp, err := c.Get(n.baseURL + "/api/studies/" + study + "/report")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rep struct {
		Versions []reportVersion `json:"versions"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("report of %s: %d, %v", study, resp.StatusCode, err)
	}
	return rep.Versions
}

// reportAPI posts to /api/studies/{study}/report/{action} as the logged-in staff member c.
func reportAPI(t *testing.T, n *node, c *http.Client, study, action string, body map[string]any) {
	t.Helper()
	resp, err := c.Get(n.baseURL + "/account/password")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	csrf := csrfField.FindSubmatch(page)
	if csrf == nil {
		t.Fatal("no CSRF token")
	}
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, n.baseURL+"/api/studies/"+study+"/report/"+action, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", string(csrf[1]))
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("report %s: %d %s", action, resp.StatusCode, out)
	}
}
