package viewer

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"pacsd/audit"
	"pacsd/forward"
	"pacsd/reading"
)

// newForwardEnv is a reading room with forwarding: the index's queue, the AE table, and a
// counter of the forwarder's wake-ups.
func newForwardEnv(t *testing.T) (*env, *atomic.Int64) {
	kicks := &atomic.Int64{}
	rec := &lateRecorder{t: t}
	lq := &lateQueue{} // the index is opened after the Config is made
	en := newEnvWith(t, func(c *Config) {
		c.Audit = rec
		c.Peers = c.Sites.(reading.Peers)
		c.Forward = lq
		c.ForwardKick = func() { kicks.Add(1) }
	})
	rec.set(en.idx.Audit())
	lq.Queue = en.idx.Forwarding()
	if _, err := en.idx.Reading().PutPeer(context.Background(), reading.Peer{AETitle: "CITY_PACS", Host: "127.0.0.1",
		Port: 11112, Destination: true}); err != nil {
		t.Fatal(err)
	}
	return en, kicks
}

// lateQueue is the index's queue, set once the env has opened the index.
type lateQueue struct{ forward.Queue }

// apiErrorOf decodes an API refusal.
func apiErrorOf(body string) map[string]string {
	var e map[string]string
	json.Unmarshal([]byte(body), &e)
	return e
}

// TestForwardAPI: destinations and rules through the administration API (an administrator's
// session with its CSRF token, or an admin-scoped token), refusals naming the field,
// secrets written but never answered, and a manual re-send queueing the study's objects.
func TestForwardAPI(t *testing.T) {
	en, kicks := newForwardEnv(t)
	ctx := context.Background()
	q := en.idx.Forwarding()
	admin := en.admin()

	noCSRF := *admin
	noCSRF.csrf = ""
	if resp, _ := noCSRF.sendJSON(http.MethodPost, "/api/admin/forward/destinations", `{"name":"x","kind":"dicom","aeTitle":"CITY_PACS"}`); resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST without CSRF: %d, want 403", resp.StatusCode)
	}
	resp, body := admin.sendJSON(http.MethodPost, "/api/admin/forward/destinations", `{"name":"市医院","kind":"dicom","aeTitle":"CITY_PACS"}`)
	var city forward.Destination
	if resp.StatusCode != http.StatusCreated || json.Unmarshal([]byte(body), &city) != nil || city.ID == 0 || !city.Enabled {
		t.Fatalf("create DICOM destination: %d %s", resp.StatusCode, body)
	}
	resp, body = admin.sendJSON(http.MethodPost, "/api/admin/forward/destinations",
		`{"name":"云影像","kind":"stow","url":"https://cloud.example/dicom-web","auth":"basic","user":"county","secret":"s3cret-pw"}`)
	var cloud forward.Destination
	if resp.StatusCode != http.StatusCreated || json.Unmarshal([]byte(body), &cloud) != nil || !cloud.HasSecret || strings.Contains(body, "s3cret") {
		t.Fatalf("create STOW destination: %d %s", resp.StatusCode, body)
	}
	// An update without a secret keeps the stored one; no answer shows it.
	resp, body = admin.sendJSON(http.MethodPut, "/api/admin/forward/destinations/"+strconvI(cloud.ID),
		`{"name":"云影像","kind":"stow","url":"https://cloud.example/dicom-web","auth":"basic","user":"county2","enabled":false}`)
	if resp.StatusCode != http.StatusOK || strings.Contains(body, "s3cret") {
		t.Errorf("update without secret: %d %s", resp.StatusCode, body)
	}
	if d, err := q.Destination(ctx, cloud.ID); err != nil || d.Secret != "s3cret-pw" || d.User != "county2" || d.Enabled {
		t.Errorf("stored after update: %+v %v", d, err)
	}
	for _, path := range []string{"/api/admin/forward/destinations", "/api/admin/forward/status"} {
		if resp, body := admin.get(path, "application/json"); resp.StatusCode != http.StatusOK || strings.Contains(body, "s3cret") ||
			!strings.Contains(body, `"hasSecret":true`) {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, body)
		}
	}
	for _, c := range []struct {
		body         string
		status       int
		field, value string
	}{
		{`{"name":"乙","kind":"dicom","aeTitle":"NOT_A_PEER"}`, http.StatusBadRequest, "forward.aeTitle", "NOT_A_PEER"},
		{`{"name":"乙","kind":"stow","url":"ftp://x/"}`, http.StatusBadRequest, "forward.url", "ftp://x/"},
		{`{"name":"乙","kind":"stow","url":"https://x/","auth":"bearer"}`, http.StatusBadRequest, "forward.secret", ""},
		{`{"name":"乙","kind":"fax"}`, http.StatusBadRequest, "forward.kind", "fax"},
		{`{"name":"市医院","kind":"dicom","aeTitle":"CITY_PACS"}`, http.StatusConflict, "forward.name", "市医院"},
	} {
		resp, body := admin.sendJSON(http.MethodPost, "/api/admin/forward/destinations", c.body)
		e := apiErrorOf(body)
		if resp.StatusCode != c.status || e["field"] != c.field || e["value"] != c.value || e["error"] == "" || strings.HasPrefix(e["error"], "form.") {
			t.Errorf("POST %s: %d %s; want %d about %s %q", c.body, resp.StatusCode, body, c.status, c.field, c.value)
		}
	}

	// Rules.
	resp, body = admin.sendJSON(http.MethodPost, "/api/admin/forward/rules", `{"destinationId":`+strconvI(city.ID)+`,"modality":"dx","callingAE":"TOWN_A"}`)
	var rule forward.Rule
	if resp.StatusCode != http.StatusCreated || json.Unmarshal([]byte(body), &rule) != nil || rule.Modality != "DX" || !rule.Enabled {
		t.Fatalf("create rule: %d %s", resp.StatusCode, body)
	}
	if resp, body := admin.sendJSON(http.MethodPost, "/api/admin/forward/rules", `{"destinationId":`+strconvI(city.ID)+`,"sopClassUID":"1.2.abc"}`); resp.StatusCode != http.StatusBadRequest ||
		apiErrorOf(body)["field"] != "forward.sopClass" {
		t.Errorf("rule with a bad UID: %d %s", resp.StatusCode, body)
	}
	if resp, body := admin.sendJSON(http.MethodPut, "/api/admin/forward/rules/"+strconvI(rule.ID), `{"destinationId":`+strconvI(city.ID)+`,"enabled":false}`); resp.StatusCode != http.StatusOK ||
		!strings.Contains(body, `"enabled":false`) {
		t.Errorf("disable rule: %d %s", resp.StatusCode, body)
	}
	if rules, _ := q.Rules(ctx); len(rules) != 1 || rules[0].Enabled || rules[0].Modality != "" {
		t.Errorf("rules after PUT: %+v", rules)
	}

	// A radiologist may not; nor a read-scoped token.
	en.user("li", reading.RoleRadiologist, 0)
	li := en.login("li", "password-li")
	for _, path := range []string{"/api/admin/forward/status", "/api/admin/forward/destinations", "/api/admin/forward/rules"} {
		if resp, _ := li.get(path, "application/json"); resp.StatusCode != http.StatusForbidden {
			t.Errorf("radiologist GET %s: %d, want 403", path, resp.StatusCode)
		}
	}
	study := en.put("dr_mono2.dcm", "TOWN_A").StudyInstanceUID
	if resp, _ := li.sendJSON(http.MethodPost, "/api/admin/studies/"+study+"/forward", `{"destinationId":`+strconvI(city.ID)+`}`); resp.StatusCode != http.StatusForbidden {
		t.Errorf("radiologist re-send: %d, want 403", resp.StatusCode)
	}
	if st, _ := queuedFor(t, q, city.ID); st != 0 {
		t.Fatalf("queued before the re-send: %d (the rule is disabled)", st)
	}

	// A manual re-send by an admin-scoped token: new queue rows, the forwarder woken, audited.
	tok := makeToken(t, admin, "forward-script", "30", reading.ScopeAdmin)
	before := kicks.Load()
	st, body := bearerJSON(t, en, http.MethodPost, "/api/admin/studies/"+study+"/forward", tok, `{"destinationId":`+strconvI(city.ID)+`}`)
	var sent struct{ Queued int }
	if st != http.StatusAccepted || json.Unmarshal([]byte(body), &sent) != nil || sent.Queued != 1 {
		t.Fatalf("re-send: %d %s", st, body)
	}
	if n, _ := queuedFor(t, q, city.ID); n != 1 || kicks.Load() == before {
		t.Errorf("after the re-send: %d queued, kicks %d -> %d", n, before, kicks.Load())
	}
	if st, body := bearerJSON(t, en, http.MethodPost, "/api/admin/studies/"+study+"/forward", tok, `{"destinationId":999}`); st != http.StatusBadRequest ||
		apiErrorOf(body)["field"] != "forward.destination" {
		t.Errorf("re-send to no destination: %d %s", st, body)
	}
	if st, _ := bearerJSON(t, en, http.MethodPost, "/api/admin/studies/1.2.3.4/forward", tok, `{"destinationId":`+strconvI(city.ID)+`}`); st != http.StatusNotFound {
		t.Errorf("re-send of an unknown study: %d, want 404", st)
	}
	evs, err := en.idx.Audit().Search(ctx, audit.Filter{Actions: []audit.Action{audit.ActionExport}, StudyUID: study})
	if err != nil || len(evs.Events) != 1 || !strings.Contains(evs.Events[0].Object, "市医院") {
		t.Errorf("audit of the re-send: %+v %v", evs, err)
	}

	// A given-up object is queued again by the retry.
	jobs, err := q.Claim(ctx, city.ID, "test", time.Now(), time.Minute, 10)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %+v %v", jobs, err)
	}
	if err := q.Done(ctx, city.ID, []forward.Outcome{{JobID: jobs[0].ID, Permanent: true, Err: "refused"}}, time.Now(), time.Now(), "refused"); err != nil {
		t.Fatal(err)
	}
	resp, body = admin.sendJSON(http.MethodPost, "/api/admin/forward/destinations/"+strconvI(city.ID)+"/retry", "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"queued":1`) {
		t.Errorf("retry: %d %s", resp.StatusCode, body)
	}
	if resp, _ := admin.sendJSON(http.MethodDelete, "/api/admin/forward/destinations/"+strconvI(cloud.ID), ""); resp.StatusCode != http.StatusNoContent {
		t.Errorf("delete: %d", resp.StatusCode)
	}
	if _, err := q.Destination(ctx, cloud.ID); err == nil {
		t.Error("deleted destination still there")
	}
}

func queuedFor(t *testing.T, q forward.Queue, id int64) (int64, int64) {
	t.Helper()
	st, err := q.Statuses(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if s.ID == id {
			return s.Queued, s.Failed
		}
	}
	t.Fatalf("no status of destination %d", id)
	return 0, 0
}

// TestForwardPage: the administrator's /admin/forward (a refused destination keeps what was
// typed but the secret, and names the field), the status table, and the study page's 转发.
func TestForwardPage(t *testing.T) {
	en, _ := newForwardEnv(t)
	ctx := context.Background()
	q := en.idx.Forwarding()
	admin := en.admin()
	if resp, body := admin.get("/admin/forward", "text/html"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "CITY_PACS") ||
		!strings.Contains(body, `id="dest-form"`) {
		t.Fatalf("page: %d", resp.StatusCode)
	}
	resp, body := admin.postFormBody("/admin/forward/destinations", url.Values{"name": {"云影像"}, "kind": {"stow"}, "url": {"cloud.example/dicom-web"},
		"auth": {"bearer"}, "secret": {"typed-token-1"}, "enabled": {"1"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `value="云影像"`) || !strings.Contains(body, "DICOMweb 地址") ||
		!strings.Contains(body, `name="url" type="url" maxlength="1024" value="cloud.example/dicom-web" aria-invalid="true"`) || strings.Contains(body, "typed-token-1") {
		t.Errorf("refused form: %d\n%s", resp.StatusCode, body)
	}
	resp, body = admin.postFormBody("/admin/forward/destinations", url.Values{"name": {"市医院"}, "kind": {"dicom"}, "ae": {"CITY_PACS"}, "enabled": {"1"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: %d %s", resp.StatusCode, body)
	}
	ds, _ := q.Destinations(ctx)
	if len(ds) != 1 || ds[0].AETitle != "CITY_PACS" || !ds[0].Enabled {
		t.Fatalf("destinations: %+v", ds)
	}
	id := strconvI(ds[0].ID)
	if resp := admin.postForm("/admin/forward/rules", url.Values{"destination": {id}, "modality": {"DX"}, "enabled": {"1"}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("save rule: %d", resp.StatusCode)
	}
	// The rule queues what arrives; the page shows it queued, failing since in Beijing time.
	study := en.put("dr_mono2.dcm", "TOWN_A").StudyInstanceUID
	if n, _ := queuedFor(t, q, ds[0].ID); n != 1 {
		t.Fatalf("queued by the rule: %d", n)
	}
	at := time.Date(2026, 3, 2, 1, 30, 0, 0, time.UTC)
	if err := q.Done(ctx, ds[0].ID, nil, at, at, "association refused"); err != nil {
		t.Fatal(err)
	}
	_, body = admin.get("/admin/forward", "text/html")
	if !strings.Contains(body, `data-queued="1"`) || !strings.Contains(body, "2026-03-02 09:30") || !strings.Contains(body, "association refused") {
		t.Errorf("status table:\n%s", body)
	}

	// The study page offers 转发 to administrators only; it queues the study again.
	_, body = admin.get("/studies/"+study, "text/html")
	if !strings.Contains(body, `id="forward-form"`) {
		t.Error("no 转发 on the administrator's study page")
	}
	en.user("li", reading.RoleRadiologist, 0)
	li := en.login("li", "password-li")
	if _, body := li.get("/studies/"+study, "text/html"); strings.Contains(body, `id="forward-form"`) {
		t.Error("转发 offered to a radiologist")
	}
	if resp := li.postForm("/studies/"+study+"/forward", url.Values{"destination": {id}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("radiologist's 转发: %d, want 403", resp.StatusCode)
	}
	jobs, _ := q.Claim(ctx, ds[0].ID, "test", time.Now(), time.Minute, 10)
	if err := q.Done(ctx, ds[0].ID, []forward.Outcome{{JobID: jobs[0].ID, OK: true}}, time.Now(), time.Now(), ""); err != nil {
		t.Fatal(err)
	}
	resp = admin.postForm("/studies/"+study+"/forward", url.Values{"destination": {id}})
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "forwarded=1") {
		t.Fatalf("转发: %d", resp.StatusCode)
	}
	if n, _ := queuedFor(t, q, ds[0].ID); n != 1 {
		t.Errorf("queued after the manual re-send of a sent study: %d, want 1", n)
	}
	if _, body := admin.get(resp.Header.Get("Location"), "text/html"); !strings.Contains(body, "已加入转发队列") {
		t.Error("no confirmation after 转发")
	}
}

// postFormBody is postForm with the answer's body.
func (c *client) postFormBody(path string, form url.Values) (*http.Response, string) {
	if c.csrf != "" && form.Get("csrf") == "" {
		form.Set("csrf", c.csrf)
	}
	req, _ := http.NewRequest(http.MethodPost, c.en.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}
