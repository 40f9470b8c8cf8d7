package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"pacsd/dicom"
)

// TestNoSilentOverwrite: two township sites (--sites-file, TOWNA and TOWNB) and DCMTK's
// storescu. TOWNA stores X. TOWNB re-sends X's SOP Instance UID with other content, and
// then with another Study UID: both refused with 0x0111 Duplicate SOP Instance, X served
// byte for byte over WADO-RS and still in its study (QIDO-RS), no study made for the other
// UID; a new object of TOWNB's in X's study is refused with 0x0124 (the study's patient
// unchanged). TOWNA's corrected re-send replaces X; the first version is listed by the
// administrators' versions API and, restored, served byte for byte again.
func TestNoSilentOverwrite(t *testing.T) {
	needTool(t, "storescu", "dcmodify")
	dir := t.TempDir()
	sites := filepath.Join(dir, "sites.json")
	if err := os.WriteFile(sites, []byte(`[
		{"name": "甲镇卫生院", "aeTitles": ["TOWNA"], "institutions": []},
		{"name": "乙镇卫生院", "aeTitles": ["TOWNB"], "institutions": []}
	]`), 0o600); err != nil {
		t.Fatal(err)
	}
	n := startPacsd(t, filepath.Join(dir, "data"), "--sites-file", sites)

	// X and its variants, made with dcmodify from a committed object (Explicit VR LE, sent
	// as is).
	src, err := os.ReadFile("../../testdata/sc_mono8.dcm")
	if err != nil {
		t.Fatal(err)
	}
	variant := func(name string, mods ...string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, src, 0o600); err != nil {
			t.Fatal(err)
		}
		if len(mods) > 0 {
			args := []string{"-nb"}
			for _, m := range mods {
				args = append(args, "-i", m)
			}
			runTool(t, "dcmodify", append(args, p)...)
		}
		return p
	}
	const otherStudy = "1.2.826.0.1.3680043.10.99.1"
	x := variant("x.dcm")
	byB := variant("b.dcm", "(0010,0010)=Intruder^B")
	byBMoved := variant("b-moved.dcm", "(0020,000D)="+otherStudy, "(0010,0010)=Intruder^B")
	fixed := variant("a-fixed.dcm", "(0008,103E)=corrected by TOWNA")
	// A new object (its own SOP and series UIDs) in X's study, renaming its patient.
	joiner := variant("b-join.dcm", "(0008,0018)=1.2.826.0.1.3680043.10.99.2.1",
		"(0020,000E)=1.2.826.0.1.3680043.10.99.2", "(0010,0010)=Intruder^B")
	h := readHeader(t, x).Dataset
	study, series, sop := h.String(dicom.TagStudyInstanceUID), h.String(dicom.TagSeriesInstanceUID), h.String(dicom.TagSOPInstanceUID)

	if got := storeStatusOf(t, n, "TOWNA", x); got != 0 {
		t.Fatalf("TOWNA stores X: status 0x%04X, want success", got)
	}
	first, code := n.wadoInstance(t, study, series, sop)
	if code != http.StatusOK {
		t.Fatalf("WADO-RS of X: %d", code)
	}
	for _, f := range []string{byB, byBMoved} {
		if got := storeStatusOf(t, n, "TOWNB", f); got != 0x0111 {
			t.Fatalf("TOWNB re-sends X's UID (%s): status 0x%04X, want 0x0111", filepath.Base(f), got)
		}
		n.assertSameDataset(t, x)
	}
	if got, _ := n.wadoInstance(t, study, series, sop); sum(got) != sum(first) {
		t.Fatal("X's stored bytes changed after TOWNB's refused re-sends")
	}
	if res := n.qido(t, "/studies/"+study+"/instances", url.Values{}); len(res) != 1 || uidOf(res[0], "00080018") != sop {
		t.Fatalf("X's study lists %d instances, want X: %v", len(res), res)
	}
	if res := n.qido(t, "/studies", url.Values{"StudyInstanceUID": {otherStudy}}); len(res) != 0 {
		t.Fatalf("the other study exists: %v", res)
	}
	if !strings.Contains(n.log.String(), "re-sent object with other content refused") {
		t.Error("no refusal logged")
	}
	// Nor may TOWNB add a new object to TOWNA's study (and with it a new patient name).
	if got := storeStatusOf(t, n, "TOWNB", joiner); got != 0x0124 {
		t.Fatalf("TOWNB adds an object to TOWNA's study: status 0x%04X, want 0x0124", got)
	}
	res := n.qido(t, "/studies", url.Values{"StudyInstanceUID": {study}, "includefield": {"00100010"}})
	if len(res) != 1 || strings.Contains(pnAlphabeticOrIdeographic(res[0]), "Intruder") {
		t.Fatalf("X's study after TOWNB's object: %v, want its patient unchanged", res)
	}
	if !strings.Contains(n.log.String(), "its study belongs to another site") {
		t.Error("no refusal of the foreign object logged")
	}

	// TOWNA's own correction replaces X; the first version is kept.
	if got := storeStatusOf(t, n, "TOWNA", fixed); got != 0 {
		t.Fatalf("TOWNA's corrected re-send: status 0x%04X, want success", got)
	}
	n.assertSameDataset(t, fixed)

	adm := newAdminBrowser(t, n)
	var vs struct {
		Versions []struct {
			ID        int64  `json:"id"`
			SHA256    string `json:"sha256"`
			CallingAE string `json:"callingAE"`
			Site      string `json:"site"`
		} `json:"versions"`
	}
	resp, err := adm.http.Get(n.baseURL + "/api/admin/instances/" + sop + "/versions")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("versions API: %d %s", resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs.Versions) != 1 || vs.Versions[0].SHA256 != sum(first) || vs.Versions[0].CallingAE != "TOWNA" ||
		!strings.HasPrefix(vs.Versions[0].Site, "site:") {
		t.Fatalf("versions = %s; want X's first version from TOWNA's site", body)
	}
	page := adm.page("/studies/" + study + "/versions")
	m := csrfField.FindStringSubmatch(page)
	if m == nil || !strings.Contains(page, sum(first)[:12]) {
		t.Fatal("the versions page shows no restore form for X's first version")
	}
	restore := "/admin/instances/" + sop + "/versions/" + strconv.FormatInt(vs.Versions[0].ID, 10) + "/restore"
	resp, err = adm.http.PostForm(n.baseURL+restore, url.Values{"csrf": {m[1]}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK { // followed to the versions page
		t.Fatalf("restore: %d", resp.StatusCode)
	}
	if got, _ := n.wadoInstance(t, study, series, sop); sum(got) != sum(first) {
		t.Fatal("after the restore WADO-RS does not serve X's first version byte for byte")
	}
}

// storeStatusOf sends one file with storescu as callingAE and returns the C-STORE status
// pacsd answered (0 for success), as storescu reports it with -d.
func storeStatusOf(t *testing.T, n *node, callingAE, path string) uint16 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, _ := exec.CommandContext(ctx, "storescu", "-d", "-aec", "PACSD", "-aet", callingAE, "127.0.0.1", n.dicomPort, path).CombinedOutput()
	// DCMTK prints the response's "DIMSE Status : 0x0111: ..." in its -d dump.
	for _, line := range strings.Split(string(out), "\n") {
		_, rest, ok := strings.Cut(line, "DIMSE Status")
		if !ok {
			continue
		}
		i := strings.Index(rest, "0x")
		if i < 0 || len(rest) < i+6 {
			continue
		}
		v, err := strconv.ParseUint(rest[i+2:i+6], 16, 16)
		if err == nil {
			return uint16(v)
		}
	}
	t.Fatalf("storescu %s as %s: no C-STORE response status\n%s", filepath.Base(path), callingAE, out)
	return 0
}
