package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/textproto"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
)

// adminBrowser is the administrator in the reading room: the initial password replaced,
// a session cookie and the pages' CSRF token.
type adminBrowser struct {
	t    *testing.T
	n    *node
	http *http.Client
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func newAdminBrowser(t *testing.T, n *node) *adminBrowser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	b := &adminBrowser{t: t, n: n, http: &http.Client{Jar: jar}}
	user, initial := n.initialAdmin(t)
	b.post("/login", url.Values{"username": {user}, "password": {initial}}, false)
	b.post("/account/password", url.Values{"current": {initial}, "new": {"county-admin-1"}, "confirm": {"county-admin-1"}}, true)
	return b
}

// page GETs a reading-room page.
func (b *adminBrowser) page(path string) string {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.n.baseURL+path, nil)
	req.Header.Set("Accept", "text/html")
	resp, err := b.http.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	return string(body)
}

// post submits a form (with the CSRF token of the form's own page when csrf) and returns
// the page it leads to.
func (b *adminBrowser) post(path string, form url.Values, csrf bool) string {
	b.t.Helper()
	if csrf {
		m := csrfField.FindStringSubmatch(b.page(path))
		if m == nil {
			b.t.Fatalf("no CSRF token on %s", path)
		}
		form.Set("csrf", m[1])
	}
	resp, err := b.http.PostForm(b.n.baseURL+path, form)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("POST %s: %d", path, resp.StatusCode)
	}
	return string(body)
}

// TestTokenScript: a script (plain net/http, no cookies, no password) stores over STOW-RS
// and searches over QIDO-RS with API tokens an administrator made at /admin/tokens; a
// store-only token cannot search, and a revoked token is refused.
func TestTokenScript(t *testing.T) {
	n := startPacsd(t, t.TempDir(), "--dicomweb-open=false", "--metrics-open=false")
	admin := newAdminBrowser(t, n)
	tokenOf := func(page string) string {
		tok := regexp.MustCompile(`pacsd_[A-Za-z0-9_-]{43}`).FindString(page)
		if tok == "" {
			t.Fatal("the new token is not shown")
		}
		return tok
	}
	sync := tokenOf(admin.post("/admin/tokens", url.Values{"name": {"夜间同步"}, "days": {"30"}, "scope": {"read", "store"}}, true))
	upload := tokenOf(admin.post("/admin/tokens", url.Values{"name": {"上传"}, "days": {"30"}, "scope": {"store"}}, true))
	prom := tokenOf(admin.post("/admin/tokens", url.Values{"name": {"prometheus"}, "days": {"365"}, "scope": {"metrics"}}, true))

	script := &http.Client{}
	do := func(method, path, tok string, body io.Reader, ctype string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, n.baseURL+path, body)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Accept", "application/dicom+json")
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := script.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	stow := func(tok string) int {
		t.Helper()
		obj, err := os.ReadFile("../../testdata/dr_mono2.dcm")
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		pw, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/dicom"}})
		pw.Write(obj)
		mw.Close()
		status, _ := do(http.MethodPost, "/dicomweb/studies", tok, &buf,
			`multipart/related; type="application/dicom"; boundary=`+mw.Boundary())
		return status
	}

	if got := stow(upload); got != http.StatusOK {
		t.Fatalf("STOW-RS with the store token: %d", got)
	}
	if got, _ := do(http.MethodGet, "/dicomweb/studies", upload, nil, ""); got != http.StatusForbidden {
		t.Errorf("QIDO-RS with the store-only token: %d, want 403", got)
	}
	if got := stow(sync); got != http.StatusOK {
		t.Errorf("STOW-RS with the read+store token: %d", got)
	}
	status, body := do(http.MethodGet, "/dicomweb/studies?ModalitiesInStudy=DX", sync, nil, "")
	var studies []map[string]any
	if status != http.StatusOK || json.Unmarshal(body, &studies) != nil || len(studies) != 1 {
		t.Fatalf("QIDO-RS with the read token: %d %s", status, body)
	}
	if got, _ := do(http.MethodGet, "/metrics", prom, nil, ""); got != http.StatusOK {
		t.Errorf("/metrics with the metrics token: %d", got)
	}
	if got, _ := do(http.MethodGet, "/metrics", sync, nil, ""); got != http.StatusForbidden {
		t.Errorf("/metrics with a DICOMweb token: %d, want 403", got)
	}

	// Revoked at /admin/tokens: refused from the next request on.
	page := admin.page("/admin/tokens")
	m := regexp.MustCompile(`<tr id="token-(\d+)" data-state="live">\s*<td class="name">夜间同步</td>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the token's row is not on /admin/tokens:\n%s", page)
	}
	page = admin.post(fmt.Sprintf("/admin/tokens/%s/revoke", m[1]), url.Values{"csrf": {csrfField.FindStringSubmatch(page)[1]}}, false)
	if !strings.Contains(page, "已撤销") {
		t.Error("the revoked token is not shown revoked")
	}
	if got, _ := do(http.MethodGet, "/dicomweb/studies", sync, nil, ""); got != http.StatusUnauthorized {
		t.Errorf("QIDO-RS with the revoked token: %d, want 401", got)
	}
	if got := stow(sync); got != http.StatusUnauthorized {
		t.Errorf("STOW-RS with the revoked token: %d, want 401", got)
	}
}
