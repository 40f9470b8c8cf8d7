package viewer

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"pacsd/reading"
)

func newOrdersEnv(t *testing.T) (*env, reading.Site, reading.Site) {
	t.Helper()
	en := newEnvWith(t, func(c *Config) {
		c.Peers = c.Sites.(reading.Peers)
		c.Orders = c.Sites.(reading.Orders)
	})
	ctx := context.Background()
	rd := en.idx.Reading()
	a, err := rd.PutSite(ctx, reading.Site{Name: "甲镇卫生院", AETitles: []string{"DR_A"}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := rd.PutSite(ctx, reading.Site{Name: "乙镇卫生院", AETitles: []string{"US_B"}})
	if err != nil {
		t.Fatal(err)
	}
	return en, a, b
}

// TestOrdersAPI: the HIS registers, reads, changes and cancels orders with an API token of
// scope "orders"; a refusal names the field; other scopes are refused.
func TestOrdersAPI(t *testing.T) {
	en, a, _ := newOrdersEnv(t)
	admin := en.admin()
	tok := makeToken(t, admin, "his", "30", reading.ScopeOrders)
	readTok := makeToken(t, admin, "reader", "30", reading.ScopeRead)

	body := `{"patientId":"P001","patientName":"张三","patientSex":"M","birthDate":"1960-05-04","accessionNumber":"ACC1",
		"requestedProcedure":"胸部正位","modality":"DX","stationAE":"DR_A","scheduledDate":"2026-03-02","scheduledTime":"08:30"}`
	if st, _ := bearerJSON(t, en, http.MethodPost, "/api/orders", readTok, body); st != http.StatusForbidden {
		t.Fatalf("read-scoped token POST: %d, want 403", st)
	}
	st, out := bearerJSON(t, en, http.MethodPost, "/api/orders", tok, body)
	var o orderJSON
	if st != http.StatusCreated || json.Unmarshal([]byte(out), &o) != nil || o.ID == 0 || o.StudyUID == "" ||
		o.PatientName != "Zhang^San=张^三" || o.SiteID != a.ID || o.Site != "甲镇卫生院" || o.ScheduledDate != "20260302" ||
		o.Status != "scheduled" || o.CreatedBy != TokenUser+":his" {
		t.Fatalf("create: %d %s", st, out)
	}
	for _, c := range []struct {
		edit         func(string) string
		status       int
		field, value string
	}{
		{func(b string) string { return strings.Replace(b, `"P001"`, `""`, 1) }, http.StatusBadRequest, "patientId", ""},
		{func(b string) string { return strings.Replace(b, `"2026-03-02"`, `"2026-02-30"`, 1) }, http.StatusBadRequest, "scheduledDate", "2026-02-30"},
		{func(b string) string { return strings.Replace(b, `"DR_A"`, `"NOBODY"`, 1) }, http.StatusBadRequest, "stationAE", "NOBODY"},
		{func(b string) string { return b }, http.StatusConflict, "accessionNumber", "ACC1"},
		{func(b string) string { return strings.Replace(b, `"modality"`, `"modalty"`, 1) }, http.StatusBadRequest, "body", ""},
	} {
		st, out := bearerJSON(t, en, http.MethodPost, "/api/orders", tok, c.edit(body))
		var e map[string]string
		json.Unmarshal([]byte(out), &e)
		if st != c.status || e["field"] != c.field || e["value"] != c.value || e["error"] == "" {
			t.Errorf("POST: %d %s; want %d about %s %q", st, out, c.status, c.field, c.value)
		}
	}
	id := strconvI(o.ID)
	st, out = bearerJSON(t, en, http.MethodPut, "/api/orders/"+id, tok, strings.Replace(body, "胸部正位", "胸部侧位", 1))
	if st != http.StatusOK || !strings.Contains(out, "胸部侧位") || !strings.Contains(out, o.StudyUID) {
		t.Fatalf("PUT: %d %s", st, out)
	}
	st, out = bearerJSON(t, en, http.MethodGet, "/api/orders?date=2026-03-02&stationAE=DR_A", tok, "")
	var list []orderJSON
	if st != http.StatusOK || json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 || list[0].RequestedProcedure != "胸部侧位" {
		t.Fatalf("list: %d %s", st, out)
	}
	if st, out := bearerJSON(t, en, http.MethodGet, "/api/orders?date=2026-03-03", tok, ""); st != http.StatusOK || out != "[]\n" && out != "[]" {
		t.Fatalf("another day: %d %s", st, out)
	}
	// Scheduled in the past and never got images: the missing view.
	st, out = bearerJSON(t, en, http.MethodGet, "/api/orders?missing=1", tok, "")
	if st != http.StatusOK || !strings.Contains(out, `"ACC1"`) {
		t.Fatalf("missing: %d %s", st, out)
	}
	if st, _ := bearerJSON(t, en, http.MethodDelete, "/api/orders/"+id, tok, ""); st != http.StatusNoContent {
		t.Fatalf("DELETE: %d", st)
	}
	st, out = bearerJSON(t, en, http.MethodGet, "/api/orders/"+id, tok, "")
	if st != http.StatusOK || !strings.Contains(out, `"status":"cancelled"`) {
		t.Fatalf("after cancel: %d %s", st, out)
	}
	if st, _ := bearerJSON(t, en, http.MethodGet, "/api/orders/99999", tok, ""); st != http.StatusNotFound {
		t.Fatalf("missing order: %d, want 404", st)
	}
}

// TestOrdersPage: a site's registrar registers on /orders for their own site only; a
// refused form names the field and keeps what was typed; the day's list shows the order.
func TestOrdersPage(t *testing.T) {
	en, a, _ := newOrdersEnv(t)
	en.user("reg", reading.RoleSite, a.ID)
	reg := en.login("reg", "password-reg")
	today := time.Now().In(en.viewer.loc).Format("2006-01-02")
	form := url.Values{"patientId": {"P9"}, "patientName": {"李四"}, "patientSex": {"F"}, "birthDate": {"1970-01-02"},
		"accessionNumber": {"PG1"}, "requestedProcedure": {"腹部超声"}, "modality": {"dx"}, "stationAE": {"DR_A"},
		"scheduledDate": {today}, "scheduledTime": {"09:15"}}

	bad := url.Values{}
	for k, v := range form {
		bad[k] = v
	}
	bad.Set("scheduledDate", "2026-13-01")
	resp := reg.postForm("/orders", bad)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad date: %d, want 400", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, en.srv.URL+"/orders", strings.NewReader(withCSRF(bad, reg.csrf).Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	_, page := reg.do(req)
	page = html.UnescapeString(page)
	if !strings.Contains(page, "预约日期：“2026-13-01”不是有效日期") || !strings.Contains(page, `value="2026-13-01"`) ||
		!strings.Contains(page, `value="李四"`) || !strings.Contains(page, `name="scheduledDate" placeholder="2026-03-02" value="2026-13-01" aria-invalid="true"`) {
		t.Fatalf("refused form does not name the date or keep what was typed:\n%s", page)
	}
	// A station of another site is refused for a site's registrar.
	other := url.Values{}
	for k, v := range form {
		other[k] = v
	}
	other.Set("stationAE", "US_B")
	if resp := reg.postForm("/orders", other); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("another site's station: %d, want 400", resp.StatusCode)
	}
	if resp := reg.postForm("/orders", form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("register: %d", resp.StatusCode)
	}
	orders, err := en.idx.Reading().Orders(context.Background(), reading.OrderFilter{Accession: "PG1"})
	if err != nil || len(orders) != 1 || orders[0].SiteID != a.ID || orders[0].PatientName != "Li^Si=李^四" || orders[0].CreatedBy != "reg" {
		t.Fatalf("registered: %+v %v", orders, err)
	}
	_, page = reg.get("/orders", "text/html")
	if !strings.Contains(page, `data-accession="PG1" data-status="scheduled"`) || !strings.Contains(page, "李四") || !strings.Contains(page, "已预约") {
		t.Fatalf("the day's list does not show the order:\n%s", page)
	}
	if resp := reg.postForm("/orders/"+strconvI(orders[0].ID)+"/cancel", url.Values{}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("cancel: %d", resp.StatusCode)
	}
	if o, _ := en.idx.Reading().Order(context.Background(), orders[0].ID); o.Status != reading.OrderCancelled {
		t.Fatalf("after cancel: %s", o.Status)
	}
}

func withCSRF(v url.Values, csrf string) url.Values {
	out := url.Values{"csrf": {csrf}}
	for k, x := range v {
		out[k] = x
	}
	return out
}
