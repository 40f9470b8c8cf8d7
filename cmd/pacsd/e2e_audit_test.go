package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"pacsd/audit"
	"pacsd/dicom"
	"pacsd/store/sqlite"
)

// TestAuditTrail: a C-STORE from storescu and a QIDO-RS search with HTTP Basic
// authentication are in the audit trail (the administrator's CSV export) with who, from
// where and which patient, and --audit-syslog delivers them to a collector as DICOM audit
// messages over RFC 5424 syslog.
func TestAuditTrail(t *testing.T) {
	needTool(t, "storescu")
	collector, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer collector.Close()
	received := make(chan string, 100)
	go func() {
		c, err := collector.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		for {
			// RFC 6587 octet counting: "LEN SP MSG".
			lenText, err := r.ReadString(' ')
			if err != nil {
				return
			}
			n, err := strconv.Atoi(strings.TrimSpace(lenText))
			if err != nil || n <= 0 || n > 1<<20 {
				return
			}
			msg := make([]byte, n)
			if _, err := io.ReadFull(r, msg); err != nil {
				return
			}
			received <- string(msg)
		}
	}()

	dataDir := t.TempDir()
	n := startPacsd(t, dataDir, "--dicomweb-open=false", "--audit-syslog", "tcp://"+collector.Addr().String())
	admin, initial := n.initialAdmin(t)
	browser := n.changePassword(t, admin, initial, "admin-password-e2e")

	file := filepath.Join("..", "..", "testdata", "dr_mono2.dcm")
	if got := storescu(t, n, file); got != 1 {
		t.Fatalf("storescu: %d successes", got)
	}
	patientID := readHeader(t, file).Dataset.String(dicom.TagPatientID)
	req, _ := http.NewRequest(http.MethodGet, n.baseURL+"/dicomweb/studies?PatientID="+url.QueryEscape(patientID), nil)
	req.SetBasicAuth(admin, "admin-password-e2e")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("QIDO-RS with HTTP Basic: %d", resp.StatusCode)
	}

	// The recorder writes in batches: poll the export until both events are there.
	var store, query []string
	deadline := time.Now().Add(30 * time.Second)
	for store == nil || query == nil {
		if time.Now().After(deadline) {
			t.Fatalf("events not in the audit trail: store %v, query %v", store, query)
		}
		for _, r := range auditExport(t, browser, n.baseURL+"/admin/audit.csv") {
			switch r[1] {
			case "接收影像":
				if r[7] == "TOWNSHIP1" && r[8] == "127.0.0.1" && r[9] == patientID && r[10] != "" && r[2] == "成功" {
					store = r
				}
			case "查询":
				if r[6] == admin && r[8] == "127.0.0.1" && strings.Contains(r[12], "PatientID="+patientID) {
					query = r
				}
			}
		}
		if store == nil || query == nil {
			time.Sleep(100 * time.Millisecond) // polling the export, not synchronising
		}
	}

	// The events are in audit.db beside the index, none in the index's own tables (the
	// index's readers keep their page cache).
	ctx := context.Background()
	trail, err := sqlite.OpenAudit(ctx, filepath.Join(dataDir, "audit.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer trail.Close()
	if p, err := trail.Search(ctx, audit.Filter{Actions: []audit.Action{audit.ActionStore}}); err != nil || len(p.Events) == 0 {
		t.Errorf("audit.db: %d C-STORE events, %v", len(p.Events), err)
	}
	idx, err := sqlite.Open(ctx, filepath.Join(dataDir, "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	if p, err := idx.Audit().Search(ctx, audit.Filter{}); err != nil || len(p.Events) != 0 {
		t.Errorf("index.db's audit tables: %d events, %v; want none", len(p.Events), err)
	}

	// The collector got the C-STORE's event as a DICOM audit message.
	timeout := time.After(30 * time.Second)
	for {
		select {
		case m := <-received:
			if strings.HasPrefix(m, "<85>1 ") && strings.Contains(m, "IHE+RFC-3881") &&
				strings.Contains(m, `csd-code="110104"`) && strings.Contains(m, "AETITLES=TOWNSHIP1") &&
				strings.Contains(m, `ParticipantObjectID="`+patientID+`"`) {
				return
			}
		case <-timeout:
			t.Fatal("no DICOM Instances Transferred message reached the syslog collector")
		}
	}
}

// TestAuditTrailUpgrade: a data directory whose index holds the audit trail (as pacsd kept
// it before audit.db) starts with that trail in audit.db: the events an older pacsd recorded
// are in the administrator's export, with their record numbers.
func TestAuditTrailUpgrade(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	idx, err := sqlite.Open(ctx, filepath.Join(dataDir, "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	old := []audit.Event{
		{Time: time.Now().Add(-48 * time.Hour), Actor: audit.User(3, "li.na", "10.0.0.8"), Action: audit.ActionStudyView,
			PatientID: "P-OLD", PatientName: "张^伟", StudyUID: "1.2.3.4", Object: "before-upgrade-1"},
		{Time: time.Now().Add(-47 * time.Hour), Actor: audit.AE("TOWN_B", "10.0.0.9"), Action: audit.ActionRetrieve,
			PatientID: "P-OLD", StudyUID: "1.2.3.4", Object: "before-upgrade-2"},
	}
	if err := idx.Audit().Append(ctx, old); err != nil {
		t.Fatal(err)
	}
	p, err := idx.Audit().Search(ctx, audit.Filter{})
	if err != nil || len(p.Events) != 2 {
		t.Fatalf("index's trail: %d events, %v", len(p.Events), err)
	}
	ids := map[string]string{}
	for _, e := range p.Events {
		ids[e.Object] = strconv.FormatInt(e.ID, 10)
	}
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}

	n := startPacsd(t, dataDir)
	admin, initial := n.initialAdmin(t)
	browser := n.changePassword(t, admin, initial, "admin-password-e2e")
	found := map[string]string{}
	for _, r := range auditExport(t, browser, n.baseURL+"/admin/audit.csv?patient_id=P-OLD") {
		if strings.HasPrefix(r[12], "before-upgrade") {
			found[r[12]] = r[14]
		}
	}
	if len(found) != 2 || found["before-upgrade-1"] != ids["before-upgrade-1"] || found["before-upgrade-2"] != ids["before-upgrade-2"] {
		t.Errorf("export after the upgrade holds %v, want the index's events with their numbers %v", found, ids)
	}
}

// auditExport is the administrator's CSV export at addr, without its header row. Columns:
// 时间 操作 结果 说明 操作者类型 用户ID 用户名 AE 地址 患者ID 患者姓名 检查UID 对象 次数 记录号.
func auditExport(t *testing.T, browser *http.Client, addr string) [][]string {
	t.Helper()
	resp, err := browser.Get(addr)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(string(b), "\uFEFF"))).ReadAll()
	if err != nil || resp.StatusCode != http.StatusOK || len(rows) == 0 {
		t.Fatalf("export: %d %v", resp.StatusCode, err)
	}
	return rows[1:]
}

// changePassword logs in with the initial password, replaces it in the reading room (as
// it demands) and returns the logged-in browser.
func (n *node) changePassword(t *testing.T, user, old, pw string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.PostForm(n.baseURL+"/login", url.Values{"username": {user}, "password": {old}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body) // followed to the change-password page
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(string(b))
	if m == nil {
		t.Fatalf("login: %d, no change-password form", resp.StatusCode)
	}
	resp, err = c.PostForm(n.baseURL+"/account/password", url.Values{"csrf": {m[1]}, "current": {old}, "new": {pw}, "confirm": {pw}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("password change: %d", resp.StatusCode)
	}
	return c
}
