package viewer

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"pacsd/reading"
)

func passwordForm(current, pw, again string) url.Values {
	return url.Values{"current": {current}, "new": {pw}, "confirm": {again}}
}

// basicStatus is the status of a DICOMweb search with HTTP Basic credentials, and its body.
func (en *env) basicStatus(user, pw string) (int, string) {
	en.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, en.srv.URL+"/dicomweb/studies", nil)
	req.Header.Set("Accept", "application/dicom+json")
	req.SetBasicAuth(user, pw)
	resp, body := en.anon().do(req)
	if resp.StatusCode == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
		en.t.Errorf("basic %s: 401 without a WWW-Authenticate challenge", user)
	}
	return resp.StatusCode, body
}

func (en *env) userNamed(name string) reading.User {
	en.t.Helper()
	u, err := en.idx.Reading().UserByName(context.Background(), name)
	if err != nil {
		en.t.Fatal(err)
	}
	return u
}

// TestChangePassword: a user changes their own password. Every refusal leaves the password
// and the sessions as they were and says why in Chinese; the change itself ends the user's
// other sessions (and the credentials a script had), keeps this browser logged in on a new
// session, and makes the old password useless.
func TestChangePassword(t *testing.T) {
	en := newEnv(t)
	en.user("doc", reading.RoleRadiologist, 0)
	const old, fresh = "password-doc", "新的密码-doc-2026"
	here := en.login("doc", old)
	elsewhere := en.login("doc", old)
	if st, _ := en.basicStatus("doc", old); st != http.StatusOK {
		t.Fatalf("basic with the old password before the change: %d", st)
	}
	hashBefore := en.userNamed("doc").PasswordHash

	for _, c := range []struct {
		name   string
		form   url.Values
		header map[string]string
		status int
		says   string // in the answer (the page, or the JSON error)
	}{
		{"wrong current password", passwordForm("wrong-password", fresh, fresh), nil, http.StatusBadRequest, "当前密码不正确"},
		{"no current password", passwordForm("", fresh, fresh), nil, http.StatusBadRequest, "当前密码不正确"},
		{"new passwords differ", passwordForm(old, fresh, fresh+"x"), nil, http.StatusBadRequest, "两次输入的新密码不一致"},
		{"too short", passwordForm(old, "short", "short"), nil, http.StatusBadRequest, "新密码长度须为 8 至 72 个字节"},
		{"empty", passwordForm(old, "", ""), nil, http.StatusBadRequest, "新密码长度须为 8 至 72 个字节"},
		{"too long for bcrypt", passwordForm(old, strings.Repeat("长", 25), strings.Repeat("长", 25)), nil, http.StatusBadRequest, "新密码长度须为 8 至 72 个字节"},
		{"same as the current one", passwordForm(old, old, old), nil, http.StatusBadRequest, "新密码不能与当前密码相同"},
		{"wrong CSRF token", func() url.Values { f := passwordForm(old, fresh, fresh); f.Set("csrf", "forged"); return f }(), nil,
			http.StatusForbidden, "页面已过期"},
		{"another site's form", passwordForm(old, fresh, fresh), map[string]string{"Origin": "http://evil.example"},
			http.StatusForbidden, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.form.Get("csrf") == "" {
				c.form.Set("csrf", here.csrf)
			}
			req, _ := http.NewRequest(http.MethodPost, en.srv.URL+passwordPath, strings.NewReader(c.form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for k, v := range c.header {
				req.Header.Set(k, v)
			}
			resp, body := here.do(req)
			if resp.StatusCode != c.status || !strings.Contains(body, c.says) {
				t.Errorf("%d, want %d saying %q: %.300s", resp.StatusCode, c.status, c.says, body)
			}
			if en.userNamed("doc").PasswordHash != hashBefore {
				t.Fatal("the password changed")
			}
			if resp, _ := elsewhere.get("/api/worklist", ""); resp.StatusCode != http.StatusOK {
				t.Errorf("the other session ended after a refused change: %d", resp.StatusCode)
			}
		})
	}

	oldCookie, oldCSRF := here.cookie(), here.csrf
	form := passwordForm(old, fresh, fresh)
	form.Set("next", "/dashboard")
	resp := here.postForm(passwordPath, form)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != passwordPath+"?changed=1&next=%2Fdashboard" {
		t.Fatalf("change: %d to %q", resp.StatusCode, loc)
	}
	if bcrypt.CompareHashAndPassword([]byte(en.userNamed("doc").PasswordHash), []byte(fresh)) != nil {
		t.Fatal("the stored hash is not the new password's")
	}
	// This browser: a new session (new cookie, new CSRF token), still logged in, told so.
	if c := here.cookie(); c == "" || c == oldCookie {
		t.Errorf("session cookie after the change: %q (was %q): not replaced", c, oldCookie)
	}
	_, page := here.get(resp.Header.Get("Location"), "text/html")
	if !strings.Contains(page, "密码已修改") || !strings.Contains(page, `href="/dashboard"`) {
		t.Errorf("the page does not say the password changed or where to go on: %.500s", page)
	}
	here.readCSRF("/")
	if here.csrf == oldCSRF {
		t.Error("the new session kept the old CSRF token")
	}
	if resp, _ := here.get("/api/worklist", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("this browser after the change: %d", resp.StatusCode)
	}
	// Everybody else: out.
	if resp, _ := elsewhere.get("/api/worklist", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the other browser after the change: %d, want 401", resp.StatusCode)
	}
	stale := en.anon()
	u, _ := url.Parse(en.srv.URL)
	stale.http.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: oldCookie, Path: "/"}})
	if resp, _ := stale.get("/api/worklist", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the replaced cookie still works: %d", resp.StatusCode)
	}
	// A script that had the old password (remembered for a few minutes) is refused at once.
	if st, _ := en.basicStatus("doc", old); st != http.StatusUnauthorized {
		t.Errorf("basic with the old password after the change: %d, want 401", st)
	}
	if st, _ := en.basicStatus("doc", fresh); st != http.StatusOK {
		t.Errorf("basic with the new password: %d", st)
	}
	if resp := en.anon().postForm("/login", url.Values{"username": {"doc"}, "password": {old}}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("login with the old password: %d", resp.StatusCode)
	}
	en.login("doc", fresh)
}

// TestChangePasswordLimited: wrong current passwords count toward the login limits, so a
// session left open is no way to guess the password; once limited, the user's login from
// that address is refused too.
func TestChangePasswordLimited(t *testing.T) {
	en := newEnv(t)
	en.user("doc", reading.RoleRadiologist, 0)
	c := en.login("doc", "password-doc")
	for i := range 5 {
		if resp := c.postForm(passwordPath, passwordForm("guess-"+strconv.Itoa(i), "new-password-1", "new-password-1")); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("wrong current password %d: %d", i, resp.StatusCode)
		}
	}
	resp := c.postForm(passwordPath, passwordForm("password-doc", "new-password-1", "new-password-1"))
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("right current password after five wrong ones: %d, want 429", resp.StatusCode)
	}
	if resp := en.anon().postForm("/login", url.Values{"username": {"doc"}, "password": {"password-doc"}}); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("login after five wrong current passwords: %d, want 429", resp.StatusCode)
	}
	if bcrypt.CompareHashAndPassword([]byte(en.userNamed("doc").PasswordHash), []byte("password-doc")) != nil {
		t.Error("the password changed")
	}
}

// TestMustChangePassword: the initial administrator, and every user whose password an
// administrator set with the box ticked, is sent to the change-password page at login; until
// the change every other page redirects there, every API and DICOMweb answers 403, and
// HTTP Basic authentication with that password is 401.
func TestMustChangePassword(t *testing.T) {
	en, ina, _ := twoSites(t)
	if !en.userNamed("admin").MustChangePassword {
		t.Fatal("the initial administrator is not marked")
	}
	c := en.anon()
	resp := c.postForm("/login", url.Values{"username": {"admin"}, "password": {en.initialPW}, "next": {"/dashboard"}})
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != passwordPath+"?next=%2Fdashboard" {
		t.Fatalf("login with the initial password: %d to %q", resp.StatusCode, loc)
	}
	_, page := c.get(passwordPath+"?next=%2Fdashboard", "text/html")
	if !strings.Contains(page, "请先设置自己的新密码") || strings.Contains(page, `href="/admin/users"`) {
		t.Errorf("the change-password page does not say why, or offers the menu: %.600s", page)
	}
	c.readCSRF(passwordPath)

	s := ina.StudyInstanceUID
	for _, r := range []struct {
		method, path, accept string
		status               int
		location             string // of a redirect
	}{
		{"GET", "/", "text/html", http.StatusSeeOther, passwordPath},
		{"GET", "/admin/users", "text/html", http.StatusSeeOther, passwordPath + "?next=%2Fadmin%2Fusers"},
		{"GET", "/studies/" + s, "text/html", http.StatusSeeOther, passwordPath + "?next=%2Fstudies%2F" + url.QueryEscape(s)},
		{"GET", "/dicomweb/studies", "text/html", http.StatusSeeOther, passwordPath + "?next=%2Fdicomweb%2Fstudies"},
		{"GET", "/api/worklist", "", http.StatusForbidden, ""},
		{"GET", "/api/events", "text/event-stream", http.StatusForbidden, ""},
		{"GET", "/api/studies/" + s + "/images", "", http.StatusForbidden, ""},
		{"GET", "/studies/" + s + "/series/" + ina.SeriesInstanceUID + "/thumbnail", "image/*", http.StatusForbidden, ""},
		{"POST", "/api/studies/" + s + "/urgent", "", http.StatusForbidden, ""},
		{"POST", "/admin/users", "", http.StatusForbidden, ""},
		{"GET", "/dicomweb/studies", "application/dicom+json", http.StatusForbidden, ""},
		{"GET", passwordPath, "text/html", http.StatusOK, ""},
	} {
		// Bounded: let through by mistake, /api/events would stream forever.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		req, _ := http.NewRequestWithContext(ctx, r.method, en.srv.URL+r.path, strings.NewReader(`{}`))
		if r.accept != "" {
			req.Header.Set("Accept", r.accept)
		}
		if r.method == "POST" {
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set(csrfHeader, c.csrf)
		}
		resp, body := c.do(req)
		cancel()
		if resp.StatusCode != r.status || resp.Header.Get("Location") != r.location {
			t.Errorf("%s %s: %d to %q, want %d to %q", r.method, r.path, resp.StatusCode, resp.Header.Get("Location"), r.status, r.location)
		}
		// The reading room's APIs say why, in the user's language (DICOMweb's own errors
		// are English).
		if resp.StatusCode == http.StatusForbidden && !strings.HasPrefix(r.path, "/dicomweb") {
			var e struct{ Error, Code string }
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Code != "err.mustchange" || !strings.Contains(e.Error, "请先修改密码") {
				t.Errorf("%s %s: 403 says %s", r.method, r.path, body)
			}
		}
	}
	if st, body := en.basicStatus("admin", en.initialPW); st != http.StatusUnauthorized || !strings.Contains(body, "change it") {
		t.Errorf("basic with the initial password: %d %s, want 401 saying it must be changed", st, body)
	}

	resp = c.postForm(passwordPath, url.Values{"current": {en.initialPW}, "new": {"admin-password-1"},
		"confirm": {"admin-password-1"}, "next": {"/dashboard"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("change: %d", resp.StatusCode)
	}
	en.adminPW = "admin-password-1"
	if en.userNamed("admin").MustChangePassword {
		t.Error("still marked after the change")
	}
	if resp, _ := c.get("/dashboard", "text/html"); resp.StatusCode != http.StatusOK {
		t.Errorf("/dashboard after the change: %d", resp.StatusCode)
	}
	if st, _ := en.basicStatus("admin", en.adminPW); st != http.StatusOK {
		t.Errorf("basic with the new password: %d", st)
	}
	admin := c
	admin.readCSRF("/admin/users")

	// New accounts: the box is ticked by default in the form; unticked, the password is
	// the user's to keep. Every role is held the same way.
	sites, err := en.idx.Reading().Sites(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, nu := range []struct {
		name, role, site string
		mustChange       bool
	}{
		{"zhao", "radiologist", "", true},
		{"town-c", "site", strconv.FormatInt(sites[0].ID, 10), true},
		{"qian", "radiologist", "", false},
	} {
		form := url.Values{"username": {nu.name}, "display_name": {nu.name}, "role": {nu.role}, "site": {nu.site},
			"password": {"temporary-1"}}
		if nu.mustChange {
			form.Set("must_change", "1")
		}
		if resp := admin.postForm("/admin/users", form); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("create %s: %d", nu.name, resp.StatusCode)
		}
		if got := en.userNamed(nu.name).MustChangePassword; got != nu.mustChange {
			t.Errorf("%s: must change %v, want %v", nu.name, got, nu.mustChange)
		}
		want := "/"
		if nu.mustChange {
			want = passwordPath
		}
		if resp := en.anon().postForm("/login", url.Values{"username": {nu.name}, "password": {"temporary-1"}}); resp.Header.Get("Location") != want {
			t.Errorf("%s's first login goes to %q, want %q", nu.name, resp.Header.Get("Location"), want)
		}
	}
	if st, _ := en.basicStatus("zhao", "temporary-1"); st != http.StatusUnauthorized {
		t.Errorf("basic with an administrator-set password: %d, want 401", st)
	}
	if st, _ := en.basicStatus("qian", "temporary-1"); st != http.StatusOK {
		t.Errorf("basic with a password the administrator did not mark: %d", st)
	}

	// A reset: marked when the box is ticked (the user's sessions end, as before), not
	// when unticked; an administrator's own new password is never marked; no password, no
	// change to the mark.
	qian := en.login("qian", "temporary-1")
	for _, r := range []struct {
		user       string
		form       url.Values
		mustChange bool
	}{
		{"qian", url.Values{"password": {"reset-password-1"}, "must_change": {"1"}}, true},
		{"qian", url.Values{}, true},
		{"qian", url.Values{"password": {"reset-password-2"}}, false},
		{"admin", url.Values{"password": {"admin-password-2"}, "must_change": {"1"}}, false},
	} {
		u := en.userNamed(r.user)
		r.form.Set("display_name", u.DisplayName)
		r.form.Set("role", string(u.Role))
		if resp := admin.postForm("/admin/users/"+strconv.FormatInt(u.ID, 10), r.form); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("update %s %v: %d", r.user, r.form, resp.StatusCode)
		}
		if got := en.userNamed(r.user).MustChangePassword; got != r.mustChange {
			t.Errorf("update %s %v: must change %v, want %v", r.user, r.form, got, r.mustChange)
		}
	}
	if resp, _ := qian.get("/api/worklist", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("qian's session after a reset: %d, want 401", resp.StatusCode)
	}
	_, usersPage := admin.get("/admin/users", "text/html")
	if n := strings.Count(usersPage, "待修改密码"); n != 2 { // zhao and town-c
		t.Errorf("the users page marks %d accounts as waiting for a new password, want 2", n)
	}

	// The marked user changes the administrator's password and is in.
	zhao := en.login("zhao", "temporary-1")
	if resp := zhao.postForm(passwordPath, passwordForm("temporary-1", "zhao-own-password", "zhao-own-password")); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("zhao's change: %d", resp.StatusCode)
	}
	if resp, _ := zhao.get("/", "text/html"); resp.StatusCode != http.StatusOK {
		t.Errorf("zhao's worklist after the change: %d", resp.StatusCode)
	}
	if st, _ := en.basicStatus("zhao", "zhao-own-password"); st != http.StatusOK {
		t.Errorf("zhao's basic after the change: %d", st)
	}
}
