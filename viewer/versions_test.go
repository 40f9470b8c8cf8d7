package viewer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"pacsd/audit"
	"pacsd/store"
	"pacsd/store/storetest"
)

// TestInstanceVersions: a site's corrected re-send keeps the first version; an
// administrator sees it on the study's 历史版本 page and in the JSON API, restores it with
// the page's form (CSRF), gets the first bytes back, and the restore is an audit event;
// a radiologist may do neither.
func TestInstanceVersions(t *testing.T) {
	r := newAuditRoom(t)
	ctx := context.Background()
	obj := storetest.Object{Study: "1.2.826.0.1.3680043.10.9.1", Series: "1.2.826.0.1.3680043.10.9.1.1",
		SOP: "1.2.826.0.1.3680043.10.9.1.1.1", PatientName: "Wang^Wu", Fill: 1}
	fixed := obj
	fixed.Fill = 2
	origin := store.PutRequest{Origin: store.Origin{Transport: "dimse", CallingAE: "TOWN_A", Site: "site:1"}}
	for _, o := range []storetest.Object{obj, fixed} {
		if _, err := r.archive.Put(ctx, bytes.NewReader(o.Bytes(t)), origin); err != nil {
			t.Fatal(err)
		}
	}
	api := "/api/admin/instances/" + obj.SOP + "/versions"
	if resp, _ := r.doc.get(api, "application/json"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a radiologist's GET %s: %d, want 403", api, resp.StatusCode)
	}
	if resp, _ := r.doc.get("/studies/"+obj.Study+"/versions", "text/html"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a radiologist's versions page: %d, want 403", resp.StatusCode)
	}
	adm := r.admin()
	if _, body := adm.get("/studies/"+obj.Study, "text/html"); !strings.Contains(body, `id="versions-link"`) {
		t.Error("the administrator's study page has no link to the versions")
	}
	resp, body := adm.get(api, "application/json")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", api, resp.StatusCode, body)
	}
	var got versionsJSON
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	first := storetestSHA(obj.Bytes(t))
	if got.StudyInstanceUID != obj.Study || got.Current.SHA256 != storetestSHA(fixed.Bytes(t)) ||
		len(got.Versions) != 1 || got.Versions[0].SHA256 != first || got.Versions[0].Site != "site:1" ||
		got.Versions[0].CallingAE != "TOWN_A" || got.Versions[0].ID == 0 {
		t.Fatalf("versions = %+v", got)
	}
	id := got.Versions[0].ID
	_, page := adm.get("/studies/"+obj.Study+"/versions", "text/html")
	for _, want := range []string{"历史版本", first[:12], "TOWN_A", "site:1", "/admin/instances/" + obj.SOP + "/versions/" + strconv.FormatInt(id, 10) + "/restore"} {
		if !strings.Contains(page, want) {
			t.Errorf("versions page lacks %q", want)
		}
	}
	// Without the CSRF token: refused, nothing restored.
	restore := "/admin/instances/" + obj.SOP + "/versions/" + strconv.FormatInt(id, 10) + "/restore"
	if resp := adm.postForm(restore, url.Values{"csrf": {"forged"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("restore without the CSRF token: %d, want 403", resp.StatusCode)
	}
	if resp := adm.postForm(restore, url.Values{}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("restore: %d, want 303", resp.StatusCode)
	}
	_, rc, err := r.archive.Open(ctx, obj.SOP)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(b, obj.Bytes(t)) {
		t.Fatal("after the restore the instance is not the first version byte for byte")
	}
	// The JSON restore of an unknown version: 404.
	if resp, _ := adm.sendJSON(http.MethodPost, api+"/999999/restore", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("restore of an unknown version: %d, want 404", resp.StatusCode)
	}
	ev := one(t, events(t, r.idx.Audit(), audit.Filter{}), audit.ActionRestore, "admin", obj.Study)
	if ev.Object != obj.SOP || ev.PatientName != "Wang^Wu" || !strings.Contains(ev.Detail, first[:12]) {
		t.Errorf("restore event = %+v", ev)
	}
}

func storetestSHA(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
