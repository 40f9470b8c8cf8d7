package viewer

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pacsd/reading"
	"pacsd/store"
)

func newPeersEnv(t *testing.T) *env {
	return newEnvWith(t, func(c *Config) { c.Peers = c.Sites.(reading.Peers) })
}

// adminJSON sends a JSON request with an Authorization bearer token (no session, no CSRF).
func bearerJSON(t *testing.T, en *env, method, path, tok, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, en.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// TestPeersAPI: the scripts' JSON API of the AE table, for an administrator's session (with
// its CSRF token) or an admin-scoped API token, refused to anybody else; changes are seen
// at once by the lookup the DICOM listener asks.
func TestPeersAPI(t *testing.T) {
	en := newPeersEnv(t)
	ctx := context.Background()
	rd := en.idx.Reading()
	site, err := rd.PutSite(ctx, reading.Site{Name: "甲镇卫生院"})
	if err != nil {
		t.Fatal(err)
	}
	admin := en.admin()

	// Without the CSRF token an administrator's session cannot change anything.
	noCSRF := *admin
	noCSRF.csrf = ""
	if resp, _ := noCSRF.sendJSON(http.MethodPost, "/api/admin/peers", `{"aeTitle":"X"}`); resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST without CSRF: %d, want 403", resp.StatusCode)
	}
	resp, body := admin.sendJSON(http.MethodPost, "/api/admin/peers",
		`{"aeTitle":"TOWN_A_DR","site":"甲镇卫生院","addresses":["192.168.10.0/24"],"mayStore":true}`)
	var created peerJSON
	if resp.StatusCode != http.StatusCreated || json.Unmarshal([]byte(body), &created) != nil || created.ID == 0 ||
		created.SiteID != site.ID || !created.MayStore || created.MayQuery {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	if p, ok, _ := rd.Peer(ctx, "TOWN_A_DR"); !ok || p.SiteID != site.ID || p.CallsFrom("10.0.0.1:1234") || !p.CallsFrom("192.168.10.7:1234") {
		t.Errorf("lookup after create: %+v %v", p, ok)
	}
	// The sites page lists it as the site's AE title: one registry.
	if s, _ := rd.Site(ctx, site.ID); len(s.AETitles) != 1 || s.AETitles[0] != "TOWN_A_DR" {
		t.Errorf("site's AE titles: %v", s.AETitles)
	}
	id := strconvI(created.ID)
	resp, body = admin.sendJSON(http.MethodPut, "/api/admin/peers/"+id,
		`{"aeTitle":"TOWN_A_DR","siteId":`+strconvI(site.ID)+`,"mayStore":true,"mayQuery":true,"requireTLS":true}`)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"mayQuery":true`) {
		t.Errorf("replace: %d %s", resp.StatusCode, body)
	}
	if p, _, _ := rd.Peer(ctx, "TOWN_A_DR"); !p.MayQuery || !p.RequireTLS || len(p.Addresses) != 0 {
		t.Errorf("lookup after replace: %+v", p)
	}
	for _, c := range []struct {
		body         string
		status       int
		field, value string
	}{
		{`{"aeTitle":"WS1","addresses":["10.0.0.300"]}`, http.StatusBadRequest, "addresses", "10.0.0.300"},
		{`{"aeTitle":"TOWN_A_DR"}`, http.StatusConflict, "aeTitle", "TOWN_A_DR"},
		{`{"aeTitle":"WS1","site":"没有的站点"}`, http.StatusBadRequest, "site", "没有的站点"},
		{`{"aeTitle":"WS1","destination":true,"host":"10.0.0.5"}`, http.StatusBadRequest, "port", "0"},
	} {
		resp, body := admin.sendJSON(http.MethodPost, "/api/admin/peers", c.body)
		var e map[string]string
		json.Unmarshal([]byte(body), &e)
		if resp.StatusCode != c.status || e["field"] != c.field || e["value"] != c.value || e["error"] == "" {
			t.Errorf("POST %s: %d %s; want %d about %s %q", c.body, resp.StatusCode, body, c.status, c.field, c.value)
		}
	}

	// A radiologist may not; nor a token without the admin scope; a token with it may.
	en.user("li", reading.RoleRadiologist, 0)
	li := en.login("li", "password-li")
	if resp, _ := li.get("/api/admin/peers", "application/json"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("radiologist GET: %d, want 403", resp.StatusCode)
	}
	readTok := makeToken(t, admin, "reader", "30", reading.ScopeRead)
	if st, _ := bearerJSON(t, en, http.MethodGet, "/api/admin/peers", readTok, ""); st != http.StatusForbidden {
		t.Errorf("read-scoped token: %d, want 403", st)
	}
	adminTok := makeToken(t, admin, "peers-script", "30", reading.ScopeAdmin)
	st, body := bearerJSON(t, en, http.MethodPost, "/api/admin/peers", adminTok,
		`{"aeTitle":"COUNTY_WS","host":"10.0.0.5","port":11112,"mayQuery":true,"mayRetrieve":true,"destination":true}`)
	if st != http.StatusCreated {
		t.Fatalf("admin token POST: %d %s", st, body)
	}
	st, body = bearerJSON(t, en, http.MethodGet, "/api/admin/peers", adminTok, "")
	var list []peerJSON
	if st != http.StatusOK || json.Unmarshal([]byte(body), &list) != nil || len(list) != 2 ||
		list[0].AETitle != "COUNTY_WS" || list[0].Site != "" || list[1].Site != "甲镇卫生院" {
		t.Errorf("list: %d %s", st, body)
	}
	if resp, _ := admin.sendJSON(http.MethodDelete, "/api/admin/peers/"+id, ""); resp.StatusCode != http.StatusNoContent {
		t.Errorf("delete: %d", resp.StatusCode)
	}
	if _, ok, _ := rd.Peer(ctx, "TOWN_A_DR"); ok {
		t.Error("deleted peer still found")
	}
	if resp, _ := admin.get("/api/admin/peers/"+id, "application/json"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET deleted: %d, want 404", resp.StatusCode)
	}
}

func strconvI(i int64) string { b, _ := json.Marshal(i); return string(b) }

// TestPeersPage: the administrator adds and edits a peer on /admin/peers (permissions as
// check boxes, the site from the sites), and a refused form names the field.
func TestPeersPage(t *testing.T) {
	en := newPeersEnv(t)
	ctx := context.Background()
	rd := en.idx.Reading()
	site, _ := rd.PutSite(ctx, reading.Site{Name: "乙镇卫生院"})
	admin := en.admin()
	resp := admin.postForm("/admin/peers", url.Values{"ae": {"TOWN_B_US"}, "site": {strconvI(site.ID)},
		"addresses": {"192.168.20.0/24\n192.168.21.5"}, "store": {"1"}, "query": {"1"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: %d", resp.StatusCode)
	}
	p, ok, _ := rd.Peer(ctx, "TOWN_B_US")
	if !ok || p.SiteID != site.ID || !p.MayStore || !p.MayQuery || p.MayRetrieve || len(p.Addresses) != 2 {
		t.Fatalf("saved peer: %+v %v", p, ok)
	}
	_, body := admin.get("/admin/peers", "text/html")
	for _, want := range []string{"DICOM 节点", "TOWN_B_US", "乙镇卫生院", "192.168.21.5/32", "/admin/peers?edit="} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	resp = admin.postForm("/admin/peers", url.Values{"ae": {"BAD"}, "addresses": {"not-an-address"}})
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad address: %d, want 400", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, en.srv.URL+"/admin/peers", strings.NewReader(url.Values{
		"ae": {"BAD"}, "addresses": {"not-an-address"}, "csrf": {admin.csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	_, body = admin.do(req)
	if !strings.Contains(body, "来源地址：“not-an-address”") || !strings.Contains(body, `name="ae" required maxlength="16" autocomplete="off" value="BAD"`) {
		t.Errorf("refused form does not name the field or lost what was typed")
	}
	// Editing keeps the ID; the site's AE titles follow.
	p.MayQuery = false
	resp = admin.postForm("/admin/peers", url.Values{"id": {strconvI(p.ID)}, "ae": {"TOWN_B_US"}, "site": {"0"}, "store": {"1"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("edit: %d", resp.StatusCode)
	}
	if s, _ := rd.Site(ctx, site.ID); len(s.AETitles) != 0 {
		t.Errorf("after moving the peer to the county, site has AE titles %v", s.AETitles)
	}
	if resp := admin.postForm("/admin/peers/"+strconvI(p.ID)+"/delete", url.Values{}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("delete: %d", resp.StatusCode)
	}
	if _, ok, _ := rd.Peer(ctx, "TOWN_B_US"); ok {
		t.Error("deleted peer still found")
	}
}

// TestQuarantineInReadingRoom: a study held in quarantine is not on a radiologist's
// worklist, study page or QIDO-RS; the administrator sees it marked and assigns it, which
// releases it (and may register its sender).
func TestQuarantineInReadingRoom(t *testing.T) {
	en := newEnvWith(t, func(c *Config) { c.Peers = c.Sites.(reading.Peers) })
	ctx := context.Background()
	rd := en.idx.Reading()
	site, _ := rd.PutSite(ctx, reading.Site{Name: "丙镇卫生院"})
	b, err := os.ReadFile(filepath.Join("..", "testdata", "dr_mono1.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	inst, err := en.archive.Put(ctx, bytes.NewReader(b), store.PutRequest{
		Origin: store.Origin{Transport: "dimse", CallingAE: "STRANGER", Site: "ae:STRANGER", Quarantined: true}})
	if err != nil {
		t.Fatal(err)
	}
	study := inst.StudyInstanceUID
	en.user("li", reading.RoleRadiologist, 0)
	li := en.login("li", "password-li")
	if _, body := li.get("/", "text/html"); strings.Contains(body, study) {
		t.Error("radiologist's worklist shows the quarantined study")
	}
	if resp, _ := li.get("/studies/"+study, "text/html"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("radiologist's study page: %d, want 404", resp.StatusCode)
	}
	if resp, _ := li.get("/api/studies/"+study+"/images", "application/json"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("radiologist's images: %d, want 404", resp.StatusCode)
	}
	admin := en.admin()
	if _, body := admin.get("/?site=quarantined", "text/html"); !strings.Contains(body, study) || !strings.Contains(body, "隔离") {
		t.Error("administrator's quarantined worklist lacks the study or its mark")
	}
	if resp, body := admin.get("/studies/"+study, "text/html"); resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="assign-form"`) {
		t.Errorf("administrator's study page: %d, assign form shown %v", resp.StatusCode, strings.Contains(body, `id="assign-form"`))
	}
	resp := admin.postForm("/studies/"+study+"/assign", url.Values{"site": {strconvI(site.ID)}, "register": {"1"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("assign: %d", resp.StatusCode)
	}
	if p, ok, _ := rd.Peer(ctx, "STRANGER"); !ok || p.SiteID != site.ID || !p.MayStore {
		t.Errorf("sender not registered with the assignment: %+v %v", p, ok)
	}
	if resp, _ := li.get("/studies/"+study, "text/html"); resp.StatusCode != http.StatusOK {
		t.Errorf("radiologist's study page after assignment: %d", resp.StatusCode)
	}
	if _, body := li.get("/", "text/html"); !strings.Contains(body, study) {
		t.Error("radiologist's worklist lacks the released study")
	}
}
