package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestForwardManualResend: a study forwarded by its rule to DCMTK's storescp is sent again,
// by hand, through the administration API (an administrator's session with its CSRF token):
// it arrives a second time, byte for byte, and the status and /metrics count both sends.
func TestForwardManualResend(t *testing.T) {
	needTool(t, "storescu", "storescp")
	recv := t.TempDir()
	sinkPort := startStorescp(t, recv, "SINK")
	peers := writePeersFile(t,
		map[string]any{"aeTitle": "DR1", "mayStore": true},
		map[string]any{"aeTitle": "SINK", "host": "127.0.0.1", "port": mustAtoi(t, sinkPort), "destination": true})
	fwdFile := writeForwardFile(t, map[string]any{
		"destinations": []map[string]any{{"name": "县影像中心", "kind": "dicom", "aeTitle": "SINK"}},
		"rules":        []map[string]any{{"destination": "县影像中心", "callingAE": "DR1"}},
	})
	n := startPacsd(t, filepath.Join(t.TempDir(), "data"), "--peers-file", peers, "--forward-file", fwdFile,
		"--forward-retry-min", "500ms", "--forward-retry-max", "2s")
	objs := loadObjects(t, []string{"ts_explicit_le.dcm"})
	if out, err := n.storeAs("DR1", objs[0].path); err != nil {
		t.Fatalf("storescu: %v\n%s", err, out)
	}
	sent := `pacsd_forward_sent_objects_total{destination="县影像中心"}`
	n.waitMetric(t, sent, func(v float64) bool { return v == 1 }, 30*time.Second)
	checkReceived(t, "storescp", receivedFiles(t, recv), objs, acceptsUncompressed)
	// Clear what arrived, so that only the re-send can put it back.
	paths, _ := filepath.Glob(filepath.Join(recv, "*"))
	for _, p := range paths {
		os.Remove(p)
	}

	admin := newAdminBrowser(t, n)
	page := admin.page("/admin/forward")
	m := csrfField.FindStringSubmatch(page)
	if m == nil || !strings.Contains(page, `data-name="县影像中心"`) {
		t.Fatalf("/admin/forward: no destination or no CSRF token:\n%s", page)
	}
	var dests []struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	}
	if code, body := apiCall(t, admin, http.MethodGet, "/api/admin/forward/destinations", m[1], ""); code != http.StatusOK ||
		json.Unmarshal(body, &dests) != nil || len(dests) != 1 {
		t.Fatalf("destinations: %d %s", code, body)
	}
	code, body := apiCall(t, admin, http.MethodPost, "/api/admin/studies/"+objs[0].study+"/forward", m[1],
		`{"destinationId":`+jsonInt(dests[0].ID)+`}`)
	if code != http.StatusAccepted || !strings.Contains(string(body), `"queued":1`) {
		t.Fatalf("manual re-send: %d %s", code, body)
	}
	n.waitMetric(t, sent, func(v float64) bool { return v == 2 }, 30*time.Second)
	checkReceived(t, "storescp (re-send)", receivedFiles(t, recv), objs, acceptsUncompressed)
	var st []struct {
		Name   string `json:"name"`
		Queued int64  `json:"queued"`
		Sent   int64  `json:"sent"`
	}
	if code, body := apiCall(t, admin, http.MethodGet, "/api/admin/forward/status", m[1], ""); code != http.StatusOK ||
		json.Unmarshal(body, &st) != nil || len(st) != 1 || st[0].Sent != 2 || st[0].Queued != 0 {
		t.Errorf("status after the re-send: %d %s", code, body)
	}
}

// apiCall sends a JSON request in the administrator's session with its CSRF token.
func apiCall(t *testing.T, b *adminBrowser, method, path, csrf, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, b.n.baseURL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-CSRF-Token", csrf)
	resp, err := b.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func jsonInt(i int64) string { b, _ := json.Marshal(i); return string(b) }
