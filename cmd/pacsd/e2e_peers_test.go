package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"pacsd/dicom"
)

// peersNode starts pacsd with the site 甲镇 and its peers (from --sites-file and
// --peers-file), under the given --unknown-ae policy: LOCAL_DR may store from 127.0.0.1,
// FAR_DR only from 10.0.0.0/8, TLS_DR only over DICOM TLS, QUERY_WS may query but not
// store.
func peersNode(t *testing.T, policy string, extra ...string) *node {
	t.Helper()
	needTool(t, "storescu", "echoscu")
	dir := t.TempDir()
	sites, peers := filepath.Join(dir, "sites.json"), filepath.Join(dir, "peers.json")
	if err := os.WriteFile(sites, []byte(`[{"name": "甲镇", "aeTitles": [], "institutions": []}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(peers, []byte(`[
		{"aeTitle": "LOCAL_DR", "site": "甲镇", "addresses": ["127.0.0.1"], "mayStore": true},
		{"aeTitle": "FAR_DR", "site": "甲镇", "addresses": ["10.0.0.0/8"], "mayStore": true},
		{"aeTitle": "TLS_DR", "site": "甲镇", "requireTLS": true, "mayStore": true},
		{"aeTitle": "QUERY_WS", "mayQuery": true}
	]`), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--sites-file", sites, "--peers-file", peers, "--unknown-ae", policy}, extra...)
	return startPacsd(t, filepath.Join(dir, "data"), args...)
}

// storeAs sends files with storescu as aet; the error is storescu's (a rejected
// association, a refused object).
func (n *node) storeAs(aet string, files ...string) (string, error) {
	return runToolErr("storescu", append([]string{"-aec", "PACSD", "-aet", aet, "127.0.0.1", n.dicomPort}, files...)...)
}

// waitLog waits for a line of pacsd's log matching re (the logs are written as things
// happen; the association's end does not wait for them).
func (n *node) waitLog(t *testing.T, re string) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := rx.FindString(n.log.String()); m != "" {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line matching %s", re)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func studyOf(t *testing.T, name string) string {
	t.Helper()
	return readHeader(t, filepath.Join("../../testdata", name)).Dataset.String(dicom.TagStudyInstanceUID)
}

// qidoAs is the Study Instance UIDs of QIDO-RS /studies as client c sees them.
func (n *node) qidoAs(t *testing.T, c *http.Client) []string {
	t.Helper()
	resp, err := c.Get(n.baseURL + "/dicomweb/studies")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusNoContent {
		return nil
	}
	var res []map[string]struct{ Value []any }
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &res) != nil {
		t.Fatalf("QIDO-RS: %d %s", resp.StatusCode, b)
	}
	var out []string
	for _, r := range res {
		out = append(out, r[dicom.TagStudyInstanceUID.Hex()].Value[0].(string))
	}
	slices.Sort(out)
	return out
}

// TestPeersE2E: who may associate and store, decided by the peers registry, with the
// real binary and DCMTK: an unknown AE under quarantine is stored but held (invisible to a
// radiologist's worklist and QIDO-RS, visible to the administrator, released by
// assignment); an AE registered with addresses is refused from another; a TLS-only AE is
// refused on the plain port; a peer without store permission gets 0x0124.
func TestPeersE2E(t *testing.T) {
	n := peersNode(t, "quarantine", "--dicomweb-open=false")
	admin := newAdminBrowser(t, n)

	// An unknown sender is accepted and stored; the address-restricted peer from where it
	// may call too.
	runTool(t, "echoscu", "-aec", "PACSD", "-aet", "STRANGER", "127.0.0.1", n.dicomPort)
	if out, err := n.storeAs("STRANGER", "../../testdata/dr_mono1.dcm"); err != nil {
		t.Fatalf("STRANGER: %v\n%s", err, out)
	}
	if out, err := n.storeAs("LOCAL_DR", "../../testdata/dr_mono2.dcm"); err != nil {
		t.Fatalf("LOCAL_DR from 127.0.0.1: %v\n%s", err, out)
	}
	// Refused at association time, each logged with the calling AE, called AE and address.
	for _, aet := range []string{"FAR_DR", "TLS_DR"} {
		if out, err := runToolErr("echoscu", "-aec", "PACSD", "-aet", aet, "127.0.0.1", n.dicomPort); err == nil {
			t.Errorf("%s: association accepted\n%s", aet, out)
		}
		n.waitLog(t, `level=WARN msg="association refused" component=peers calling_ae=`+aet+` called_ae=PACSD remote=127\.0\.0\.1:\d+`)
	}
	// A registered peer that may not store: 0x0124 for the object, which is not stored.
	out, _ := runToolErr("storescu", "-v", "-aec", "PACSD", "-aet", "QUERY_WS", "127.0.0.1", n.dicomPort, "../../testdata/sc_mono8.dcm")
	if !strings.Contains(out, "Store Response (Unknown Status: 0x124)") { // DCMTK names no 0x0124
		t.Errorf("storescu as QUERY_WS: no 0x0124 status\n%s", out)
	}
	n.waitLog(t, `msg="C-STORE refused" component=ingest assoc=\S+ calling_ae=QUERY_WS .*reason="not authorized to store"`)

	quarantined, local, refused := studyOf(t, "dr_mono1.dcm"), studyOf(t, "dr_mono2.dcm"), studyOf(t, "sc_mono8.dcm")
	// The administrator sees the quarantined study, in QIDO-RS and marked on the worklist.
	if got := n.qidoAs(t, admin.http); !slices.Contains(got, quarantined) || !slices.Contains(got, local) || slices.Contains(got, refused) {
		t.Errorf("administrator's QIDO-RS: %v; want %s and %s, not %s", got, quarantined, local, refused)
	}
	if page := admin.page("/?site=quarantined"); !strings.Contains(page, quarantined) || !strings.Contains(page, "隔离") || strings.Contains(page, local) {
		t.Error("administrator's quarantined worklist does not list exactly the quarantined study, marked")
	}
	// A radiologist sees neither.
	admin.post("/admin/users", url.Values{"username": {"li"}, "display_name": {"李医生"}, "role": {"radiologist"},
		"password": {"initial-pw-1"}, "must_change": {"1"}}, true)
	li := n.changePassword(t, "li", "initial-pw-1", "li-password-2")
	if got := n.qidoAs(t, li); slices.Contains(got, quarantined) || !slices.Contains(got, local) {
		t.Errorf("radiologist's QIDO-RS: %v; want %s without %s", got, local, quarantined)
	}
	if page := get(t, li, n.baseURL+"/"); strings.Contains(page, quarantined) || !strings.Contains(page, local) {
		t.Error("radiologist's worklist shows the quarantined study, or not the local one")
	}
	// The administrator assigns it to 甲镇 (registering STRANGER there): released.
	var peers []struct {
		AETitle string `json:"aeTitle"`
		SiteID  int64  `json:"siteId"`
	}
	if err := json.Unmarshal([]byte(admin.page("/api/admin/peers")), &peers); err != nil || len(peers) != 4 {
		t.Fatalf("GET /api/admin/peers: %v %+v", err, peers)
	}
	site := peers[slices.IndexFunc(peers, func(p struct {
		AETitle string `json:"aeTitle"`
		SiteID  int64  `json:"siteId"`
	}) bool {
		return p.AETitle == "LOCAL_DR"
	})].SiteID
	csrf := csrfField.FindStringSubmatch(admin.page("/studies/" + quarantined))
	if csrf == nil {
		t.Fatal("no CSRF token on the study page")
	}
	resp, err := admin.http.PostForm(n.baseURL+"/studies/"+quarantined+"/assign",
		url.Values{"csrf": {csrf[1]}, "site": {strconvInt(site)}, "register": {"1"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("assign: %d", resp.StatusCode)
	}
	if got := n.qidoAs(t, li); !slices.Contains(got, quarantined) {
		t.Errorf("radiologist's QIDO-RS after assignment: %v, want %s", got, quarantined)
	}
	// STRANGER is now 甲镇's peer: what it sends next is not held.
	if !strings.Contains(admin.page("/admin/peers"), "STRANGER") {
		t.Error("STRANGER not registered by the assignment")
	}
}

func strconvInt(i int64) string { b, _ := json.Marshal(i); return string(b) }

func get(t *testing.T, c *http.Client, u string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Accept", "text/html")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestUnknownAEPolicies: --unknown-ae accept (stored, shown as from an unknown sender) and
// refuse (the association rejected, logged and audited).
func TestUnknownAEPolicies(t *testing.T) {
	t.Run("accept", func(t *testing.T) {
		n := peersNode(t, "accept")
		if out, err := n.storeAs("STRANGER", "../../testdata/dr_mono1.dcm"); err != nil {
			t.Fatalf("STRANGER: %v\n%s", err, out)
		}
		// DICOMweb is open in these tests: nobody is an administrator, yet the study is found.
		if got := n.qidoAs(t, http.DefaultClient); !slices.Contains(got, studyOf(t, "dr_mono1.dcm")) {
			t.Errorf("QIDO-RS: %v, want the unknown sender's study", got)
		}
	})
	t.Run("refuse", func(t *testing.T) {
		n := peersNode(t, "refuse")
		if out, err := n.storeAs("STRANGER", "../../testdata/dr_mono1.dcm"); err == nil {
			t.Errorf("STRANGER stored under refuse\n%s", out)
		}
		n.waitLog(t, `level=WARN msg="association refused" component=peers calling_ae=STRANGER called_ae=PACSD remote=127\.0\.0\.1:\d+ tls=false reason="未登记的 AE"`)
		if got := n.qidoAs(t, http.DefaultClient); len(got) != 0 {
			t.Errorf("QIDO-RS: %v, want nothing stored", got)
		}
		// A registered peer still may.
		if out, err := n.storeAs("LOCAL_DR", "../../testdata/dr_mono2.dcm"); err != nil {
			t.Errorf("LOCAL_DR under refuse: %v\n%s", err, out)
		}
	})
}
