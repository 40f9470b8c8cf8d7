package viewer

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"pacsd/dimse"
	"pacsd/internal/browsertest"
	"pacsd/internal/peertest"
	"pacsd/store"
	"pacsd/store/sqlite"
)

// TestReadingRoomInBrowser runs browsertest/viewer.mjs against a real reading room: the
// viewer and DICOMweb on one HTTP server, a DIMSE server DCMTK's storescu sends to, SQLite
// and a folder archive. See the scenario for the steps; every one must pass.
func TestReadingRoomInBrowser(t *testing.T) {
	browsertest.Require(t)
	storescu := peertest.Tool(t, "storescu")
	const organization = "某县人民医院"
	// Every part of the study page and the print on, as pacsd serve has them (the print asks
	// for its share link's QR code).
	en := newEnvWith(t, func(c *Config) {
		allRepos(c)
		c.Shares = c.Reports.(*sqlite.Reading)
		c.Organization = organization
	})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dsrv := &dimse.Server{AETitle: "PACSD", Store: ingest{en.archive}, Logger: quietLogger(t)}
	go dsrv.Serve(ln)
	t.Cleanup(func() { dsrv.Close() })

	var expected map[string]struct {
		PatientName, StudyInstanceUID, SeriesInstanceUID, SOPInstanceUID string
	}
	b, err := os.ReadFile("../testdata/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &expected); err != nil {
		t.Fatal(err)
	}
	dr := expected["dr_mono2.dcm"]
	if dr.PatientName != "张伟" {
		t.Fatalf("dr_mono2.dcm's patient is %q, want 张伟", dr.PatientName)
	}
	drFile, err := filepath.Abs("../testdata/dr_mono2.dcm")
	if err != nil {
		t.Fatal(err)
	}

	// A full-size DR for the window/level timing, received from site A before the site is
	// registered (the registry must claim it later).
	big := syntheticDR(t, "2.25.900001", "2.25.900002", "2.25.900003", "测试^大图", 3000, 3000)
	if _, err := en.archive.Put(context.Background(), bytes.NewReader(big), store.PutRequest{
		Origin: store.Origin{Transport: "dimse", CallingAE: "TOWN_A"}}); err != nil {
		t.Fatal(err)
	}

	// An abdominal ultrasound from site A, for the presets and the template offered.
	us := en.put("us_multiframe.dcm", "TOWN_A")

	host, port, _ := net.SplitHostPort(ln.Addr().String())
	p, _ := strconv.Atoi(port)
	sc := map[string]any{
		"adminPassword":    en.initialPW,
		"adminNewPassword": "管理员-own-password-1",
		"storescu":         map[string]any{"bin": storescu, "host": host, "port": p, "aec": "PACSD", "file": drFile},
		"sites":            []map[string]string{{"name": "甲镇卫生院", "ae": "TOWN_A"}, {"name": "乙镇卫生院", "ae": "TOWN_B"}},
		"study": map[string]string{"uid": dr.StudyInstanceUID, "patientName": dr.PatientName,
			"series": dr.SeriesInstanceUID, "sop": dr.SOPInstanceUID},
		"large":        map[string]string{"uid": "2.25.900001"},
		"us":           map[string]string{"uid": us.StudyInstanceUID},
		"organization": organization,
		"browserUTC":   true,
		"windowSteps":  40,
	}
	scJSON, _ := json.Marshal(sc)
	res := browsertest.Run(t, "viewer.mjs", browsertest.Options{
		BaseURL: en.srv.URL,
		// The browser in UTC like the server (TestMain): the county's time must come from
		// the reading room, not from either machine's zone.
		Env:     map[string]string{"VIEWER_SCENARIO": string(scJSON), "TZ": "UTC"},
		Timeout: 4 * time.Minute,
	})
	browsertest.Report(t, res)
	browsertest.RequireSteps(t, res,
		"admin logs in with the initial password",
		"admin must change the initial password first",
		"admin logs out and back in with the new password",
		"admin creates two sites",
		"admin creates a radiologist and the sites' users",
		"a user created by the administrator must change the password at first login",
		"radiologist opens the worklist",
		"storescu sends the DR study from the site's AE title",
		"the study appears without reloading, with site, Chinese name and thumbnail",
		"radiologist opens the study and the image renders",
		"the DX chest study offers the chest template and only the buttons that apply",
		"window/level changes by dragging and by preset",
		"signing an empty report says which field is empty and leaves no draft",
		"applying a template asks before replacing what was typed",
		"radiologist writes and signs a report in Chinese",
		"radiologist amends the report: the badge says an amendment is in progress",
		"window/level on a 3000x3000 DR (client-side timing)",
		"an ultrasound study shows no radiograph window presets and offers the abdominal template",
		"the site's user sees the amended report and prints it",
		"another site's user is refused every URL of the study",
		"the signed report is in the study over QIDO-RS",
		"no failed requests",
	)
	if s := res.Step("window/level on a 3000x3000 DR (client-side timing)"); s != nil {
		t.Logf("window/level timing: %s", s.Detail)
	}

	// The server's side of the same story: the study is site A's, its report final, then
	// amended, each version stored as an SR; the large DR, received before site A existed,
	// is site A's too.
	ctx := context.Background()
	for _, uid := range []string{dr.StudyInstanceUID, "2.25.900001"} {
		row, err := en.idx.Reading().Study(ctx, uid)
		if err != nil || row.SiteName != "甲镇卫生院" {
			t.Errorf("study %s: site %q (%v)", uid, row.SiteName, err)
		}
	}
	vs, err := en.idx.Reading().Reports(ctx, dr.StudyInstanceUID)
	if err != nil || len(vs) != 2 || vs[0].Status != "final" || vs[1].Status != "amended" ||
		vs[0].SOPInstanceUID == "" || vs[1].SOPInstanceUID == "" || vs[1].SignedByName != "李医生" {
		t.Errorf("reports %+v (%v)", vs, err)
	}
	// Every password an administrator set has been replaced by its user's own, except
	// town-b's, whose box the administrator unticked.
	for _, name := range []string{"admin", "doc", "town-a", "town-b"} {
		if en.userNamed(name).MustChangePassword {
			t.Errorf("%s must still change the password", name)
		}
	}
	if resp := en.anon().postForm("/login", url.Values{"username": {"admin"}, "password": {en.initialPW}}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("login with the initial password after the scenario: %d", resp.StatusCode)
	}
	en.login("admin", "管理员-own-password-1")
	doc := en.login("doc", "doc-password-1")
	resp, body := doc.get("/dicomweb/studies/"+dr.StudyInstanceUID+"/instances?Modality=SR", "application/dicom+json")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "1.2.840.10008.5.1.4.1.1.88.11") {
		t.Errorf("QIDO-RS for the SR: %d %s", resp.StatusCode, body)
	}
}
