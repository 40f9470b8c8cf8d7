package main

import (
	"bufio"
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

	"pacsd/dicom"
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

	n := startPacsd(t, t.TempDir(), "--dicomweb-open=false", "--audit-syslog", "tcp://"+collector.Addr().String())
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
		resp, err := browser.Get(n.baseURL + "/admin/audit.csv")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(string(b), "\uFEFF"))).ReadAll()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("export: %d %v", resp.StatusCode, err)
		}
		for _, r := range rows[1:] {
			// 时间 操作 结果 说明 操作者类型 用户ID 用户名 AE 地址 患者ID 患者姓名 检查UID 对象 记录号
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
