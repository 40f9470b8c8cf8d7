package viewer

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"pacsd/reading"
)

var tokenRe = regexp.MustCompile(`pacsd_[A-Za-z0-9_-]{43}`)

// makeToken creates a token on /admin/tokens as the administrator and returns it, read
// from the page that shows it once.
func makeToken(t *testing.T, admin *client, name string, days string, scopes ...reading.Scope) string {
	t.Helper()
	form := url.Values{"name": {name}, "days": {days}}
	for _, s := range scopes {
		form.Add("scope", string(s))
	}
	form.Set("csrf", admin.csrf)
	req, _ := http.NewRequest(http.MethodPost, admin.en.srv.URL+"/admin/tokens", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, body := admin.do(req)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("create token %s: %d %q", name, resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
	tok := tokenRe.FindString(body)
	if tok == "" {
		t.Fatalf("create token %s: the page shows no token", name)
	}
	return tok
}

// stowBody is a STOW-RS request body of one testdata file.
func stowBody(t *testing.T, name string) (io.Reader, string) {
	t.Helper()
	b, err := os.ReadFile("../testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	pw, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/dicom"}})
	pw.Write(b)
	mw.Close()
	return &buf, `multipart/related; type="application/dicom"; boundary=` + mw.Boundary()
}

// tokenRequest sends method path with the token as Bearer (or as HTTP Basic's password of
// the user "token" when basic) and returns the status and the challenge.
func tokenRequest(t *testing.T, en *env, method, path, tok string, basic bool) (int, string) {
	t.Helper()
	var body io.Reader
	ctype := ""
	if method == http.MethodPost {
		body, ctype = stowBody(t, "sc_mono8.dcm")
	}
	req, _ := http.NewRequest(method, en.srv.URL+path, body)
	req.Header.Set("Accept", "application/dicom+json")
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if basic {
		req.SetBasicAuth(TokenUser, tok)
	} else if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
}

// TestAPITokens: an administrator makes tokens; each opens what its scopes name (read for
// DICOMweb GET and HEAD, store for STOW-RS), a wrong scope is 403, an unknown, expired or
// revoked token 401; the page lists them in Chinese with who made them and their last use.
func TestAPITokens(t *testing.T) {
	en := newEnv(t)
	en.put("dr_mono2.dcm", "TOWN_A")
	admin := en.admin()
	read := makeToken(t, admin, "质控脚本", "90", reading.ScopeRead)
	store := makeToken(t, admin, "上传脚本", "30", reading.ScopeStore)
	both := makeToken(t, admin, "同步", "365", reading.ScopeRead, reading.ScopeStore)
	metrics := makeToken(t, admin, "prometheus", "365", reading.ScopeMetrics)

	// The repository keeps the hash, never the token.
	tk, err := en.idx.Reading().TokenByHash(context.Background(), hashToken(read))
	if err != nil || tk.Name != "质控脚本" || tk.Hash == read || strings.Contains(tk.Hash, read) {
		t.Fatalf("stored token: %+v %v", tk, err)
	}
	if d := time.Until(tk.ExpiresAt); d < 89*24*time.Hour || d > 90*24*time.Hour {
		t.Errorf("90 days expire in %v", d)
	}

	// An expired token, made directly in the repository.
	expired := newAPIToken()
	if _, err := en.idx.Reading().CreateToken(context.Background(), reading.Token{Name: "old", Hash: hashToken(expired),
		Scopes: []reading.Scope{reading.ScopeRead}, CreatedAt: time.Now().Add(-48 * time.Hour),
		ExpiresAt: time.Now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}

	const search = "/dicomweb/studies"
	for _, c := range []struct {
		name         string
		method, path string
		tok          string
		basic        bool
		want         int
	}{
		{"read searches", http.MethodGet, search, read, false, 200},
		{"read as HTTP Basic password", http.MethodGet, search, read, true, 200},
		{"read HEAD", http.MethodHead, search, read, false, 200},
		{"read cannot store", http.MethodPost, "/dicomweb/studies", read, false, 403},
		{"store stores", http.MethodPost, "/dicomweb/studies", store, false, 200},
		{"store as HTTP Basic password", http.MethodPost, "/dicomweb/studies", store, true, 200},
		{"store cannot search", http.MethodGet, search, store, false, 403},
		{"both search", http.MethodGet, search, both, false, 200},
		{"both store", http.MethodPost, "/dicomweb/studies", both, false, 200},
		{"metrics cannot search", http.MethodGet, search, metrics, false, 403},
		{"no reading room", http.MethodGet, "/api/worklist", both, false, 401},
		{"unknown", http.MethodGet, search, newAPIToken(), false, 401},
		{"not a token", http.MethodGet, search, "abc", false, 401},
		{"expired", http.MethodGet, search, expired, false, 401},
	} {
		got, challenge := tokenRequest(t, en, c.method, c.path, c.tok, c.basic)
		if got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
		if got == 401 && c.path != "/api/worklist" && !strings.HasPrefix(challenge, "Bearer") {
			t.Errorf("%s: 401 with challenge %q", c.name, challenge)
		}
	}

	// Revoked: 401 from then on.
	id := tk.ID
	resp := admin.postForm(fmt.Sprintf("/admin/tokens/%d/revoke", id), url.Values{})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if got, _ := tokenRequest(t, en, http.MethodGet, search, read, false); got != 401 {
		t.Errorf("revoked token: %d, want 401", got)
	}
	if got, _ := tokenRequest(t, en, http.MethodGet, search, read, true); got != 401 {
		t.Errorf("revoked token over HTTP Basic: %d, want 401", got)
	}
	// A site user cannot reach the page.
	en.user("town", reading.RoleSite, mustSite(t, en))
	if r, _ := en.login("town", "password-town").get("/admin/tokens", "text/html"); r.StatusCode != http.StatusForbidden {
		t.Errorf("a site user on /admin/tokens: %d", r.StatusCode)
	}

	// The page: every token, its scopes, creator, last use and state, in Chinese; the
	// secret of none of them.
	_, body := admin.get("/admin/tokens", "text/html")
	for _, want := range []string{"质控脚本", "上传脚本", "存储（STOW-RS 上传）", "读取（DICOMweb 查询与调阅）", "已撤销", "已过期",
		"有效", "从未使用", "admin", "撤销"} {
		if !strings.Contains(body, want) {
			t.Errorf("/admin/tokens lacks %q", want)
		}
	}
	if tokenRe.MatchString(body) {
		t.Error("/admin/tokens shows a token after its creation")
	}
	if u, _ := en.idx.Reading().TokenByHash(context.Background(), hashToken(both)); u.LastUsedAt.IsZero() {
		t.Error("a used token's last use is not recorded")
	}
}

func mustSite(t *testing.T, en *env) int64 {
	t.Helper()
	s, err := en.idx.Reading().PutSite(context.Background(), reading.Site{Name: "甲镇卫生院", AETitles: []string{"TOWN_A"}})
	if err != nil {
		t.Fatal(err)
	}
	return s.ID
}

// TestTokenForm: the new-token form names what is wrong: no scope, a bad expiry, a live
// token's name again.
func TestTokenForm(t *testing.T) {
	en := newEnv(t)
	admin := en.admin()
	makeToken(t, admin, "夜间同步", "90", reading.ScopeRead)
	for _, c := range []struct {
		form   url.Values
		status int
		msg    string
	}{
		{url.Values{"name": {"a"}, "days": {"90"}}, 400, "权限范围：至少选择一项"},
		{url.Values{"name": {"a"}, "days": {"0"}, "scope": {"read"}}, 400, "有效天数：须为 1 至 3650 天"},
		{url.Values{"name": {"a"}, "days": {"x"}, "scope": {"read"}}, 400, "有效天数：须为 1 至 3650 天"},
		{url.Values{"name": {""}, "days": {"9"}, "scope": {"read"}}, 400, "名称：不能为空"},
		{url.Values{"name": {"a"}, "days": {"9"}, "scope": {"root"}}, 400, "不是可选的权限"},
		{url.Values{"name": {"夜间同步"}, "days": {"9"}, "scope": {"store"}}, 409, "名称：已有同名的有效令牌"},
	} {
		form := c.form
		form.Set("csrf", admin.csrf)
		req, _ := http.NewRequest(http.MethodPost, en.srv.URL+"/admin/tokens", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, body := admin.do(req)
		if resp.StatusCode != c.status || !strings.Contains(body, c.msg) || tokenRe.MatchString(body) {
			t.Errorf("%v: %d, want %d with %q", c.form, resp.StatusCode, c.status, c.msg)
		}
	}
}

func TestTokenScope(t *testing.T) {
	for _, c := range []struct {
		method, path string
		want         reading.Scope
	}{
		{"GET", "/dicomweb/studies", reading.ScopeRead},
		{"HEAD", "/dicomweb/studies/1.2/series", reading.ScopeRead},
		{"GET", "/dicomweb", reading.ScopeRead},
		{"GET", "/ohif/dicomweb/studies", reading.ScopeRead},
		{"POST", "/dicomweb/studies", reading.ScopeStore},
		{"POST", "/dicomweb/studies/1.2.3", reading.ScopeStore},
		{"POST", "/dicomweb/studies/1.2.3/series", ""},
		{"POST", "/ohif/dicomweb/studies", ""},
		{"DELETE", "/dicomweb/studies/1.2.3", ""},
		{"GET", "/dicomwebx", ""},
		{"GET", "/ohif/", ""},
		{"GET", "/api/worklist", ""},
		{"GET", "/metrics", reading.ScopeMetrics},
	} {
		req, _ := http.NewRequest(c.method, "http://x"+c.path, nil)
		if got := tokenScope(req); got != c.want {
			t.Errorf("%s %s: %q, want %q", c.method, c.path, got, c.want)
		}
	}
}
