package viewer

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"pacsd/dicom"
	"pacsd/dicomweb"
	"pacsd/dimse"
	"pacsd/reading"
	"pacsd/store"
	"pacsd/store/file"
	"pacsd/store/sqlite"
)

// env is a real reading room: SQLite index and repository, folder blobs, the viewer and
// DICOMweb (behind RequireStaff) on one echo, served on 127.0.0.1.
type env struct {
	t       testing.TB
	idx     *sqlite.Index
	archive *store.Archive
	viewer  *Viewer
	srv     *httptest.Server
	// initialPW is the generated password printed at the first start; adminPW is the one the
	// administrator chose instead, set by the first call of admin().
	initialPW string
	adminPW   string
	adminOut  *bytes.Buffer
}

func quietLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

var adminPWRe = regexp.MustCompile(`password "([^"]+)"`)

func newEnv(t testing.TB) *env { return newEnvWith(t, nil) }

// newEnvWith is newEnv with the viewer's Config adjusted by configure (nil: as is).
func newEnvWith(t testing.TB, configure func(*Config)) *env {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	idx, err := sqlite.Open(ctx, filepath.Join(dir, "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := file.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := store.NewArchive(idx, blobs, store.Config{SpoolDir: filepath.Join(dir, "spool"), MinFreeBytes: -1,
		Logger: quietLogger(t), FallbackCharset: "GB18030"})
	if err != nil {
		t.Fatal(err)
	}
	out := &bytes.Buffer{}
	rd := idx.Reading()
	cfg := Config{Sites: rd, Users: rd, Reports: rd, Worklist: rd, Tokens: rd, Archive: a, Logger: quietLogger(t),
		OHIFPath: "/ohif", AdminOut: out, ReportRetry: time.Hour}
	if configure != nil {
		configure(&cfg)
	}
	v, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	v.Start(ctx)
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(middleware.Recover())
	dicomweb.Register(e.Group("/dicomweb", v.RequireStaff()), a, dicomweb.Config{Logger: quietLogger(t)})
	v.Register(e)
	srv := httptest.NewUnstartedServer(e)
	srv.Config.RegisterOnShutdown(v.CloseEvents)
	srv.Start()
	m := adminPWRe.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no initial admin password printed: %q", out.String())
	}
	en := &env{t: t, idx: idx, archive: a, viewer: v, srv: srv, initialPW: m[1], adminOut: out}
	t.Cleanup(func() {
		v.CloseEvents()
		srv.Close()
		v.Close()
		a.Close()
		idx.Close()
	})
	return en
}

// put stores a testdata file as if sent from callingAE.
func (en *env) put(name, callingAE string) *store.Instance {
	en.t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		en.t.Fatal(err)
	}
	in, err := en.archive.Put(context.Background(), bytes.NewReader(b), store.PutRequest{
		Origin: store.Origin{Transport: "dimse", CallingAE: callingAE}})
	if err != nil {
		en.t.Fatalf("put %s: %v", name, err)
	}
	return in
}

func (en *env) user(name string, role reading.Role, site int64) {
	en.t.Helper()
	h, err := hashPassword("password-" + name)
	if err != nil {
		en.t.Fatal(err)
	}
	if _, err := en.idx.Reading().CreateUser(context.Background(), reading.User{Username: name, DisplayName: name,
		Role: role, SiteID: site, PasswordHash: h}); err != nil {
		en.t.Fatal(err)
	}
}

// client is a logged-in browser-like client (cookie jar, no redirects followed).
type client struct {
	en   *env
	http *http.Client
	csrf string
}

func (en *env) anon() *client {
	jar, _ := cookiejar.New(nil)
	return &client{en: en, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// login logs in and reads the CSRF token from the page the login leads to (the worklist,
// or the change-password page of a user who must change it).
func (en *env) login(user, pw string) *client {
	en.t.Helper()
	c := en.anon()
	resp := c.postForm("/login", url.Values{"username": {user}, "password": {pw}})
	if resp.StatusCode != http.StatusSeeOther {
		en.t.Fatalf("login %s: %d", user, resp.StatusCode)
	}
	c.readCSRF(resp.Header.Get("Location"))
	return c
}

// readCSRF loads a page and keeps its CSRF token (a new session has a new one).
func (c *client) readCSRF(path string) {
	c.en.t.Helper()
	resp, body := c.get(path, "text/html")
	m := csrfRe.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		c.en.t.Fatalf("no CSRF token on %s (%d)", path, resp.StatusCode)
	}
	c.csrf = m[1]
}

// admin is the administrator's client. The first call logs in with the initial password
// and replaces it (as the reading room demands) with adminPW.
func (en *env) admin() *client {
	en.t.Helper()
	if en.adminPW != "" {
		return en.login("admin", en.adminPW)
	}
	c := en.login("admin", en.initialPW)
	resp := c.postForm(passwordPath, url.Values{"current": {en.initialPW}, "new": {"admin-password-1"},
		"confirm": {"admin-password-1"}})
	if resp.StatusCode != http.StatusSeeOther {
		en.t.Fatalf("the administrator's first password change: %d", resp.StatusCode)
	}
	en.adminPW = "admin-password-1"
	c.readCSRF("/")
	return c
}

// cookie is the client's session cookie value ("" when none).
func (c *client) cookie() string {
	u, _ := url.Parse(c.en.srv.URL)
	for _, k := range c.http.Jar.Cookies(u) {
		if k.Name == sessionCookie {
			return k.Value
		}
	}
	return ""
}

func (c *client) do(req *http.Request) (*http.Response, string) {
	c.en.t.Helper()
	resp, err := c.http.Do(req)
	if err != nil {
		c.en.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (c *client) get(path, accept string) (*http.Response, string) {
	req, _ := http.NewRequest(http.MethodGet, c.en.srv.URL+path, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	return c.do(req)
}

func (c *client) postForm(path string, form url.Values) *http.Response {
	if c.csrf != "" && form.Get("csrf") == "" {
		form.Set("csrf", c.csrf)
	}
	req, _ := http.NewRequest(http.MethodPost, c.en.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, _ := c.do(req)
	return resp
}

func (c *client) sendJSON(method, path, body string) (*http.Response, string) {
	req, _ := http.NewRequest(method, c.en.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if c.csrf != "" {
		req.Header.Set(csrfHeader, c.csrf)
	}
	return c.do(req)
}

// ingest is the DIMSE store handler of the e2e test: the same adapter cmd/pacsd uses
// (File Meta Information prefixed, origin recorded).
type ingest struct{ archive *store.Archive }

func (h ingest) HandleStore(ctx context.Context, req *dimse.StoreRequest, data io.Reader) dimse.Status {
	var meta bytes.Buffer
	if _, err := dicom.WriteFileMeta(&meta, dicom.FileMeta{SOPClassUID: req.SOPClassUID,
		SOPInstanceUID: req.SOPInstanceUID, TransferSyntaxUID: req.TransferSyntaxUID}); err != nil {
		return dimse.Status{Code: dimse.StatusCannotUnderstand}
	}
	_, err := h.archive.Put(ctx, io.MultiReader(&meta, data), store.PutRequest{
		Origin:               store.Origin{Transport: "dimse", CallingAE: req.CallingAETitle, CalledAE: req.CalledAETitle, RemoteAddr: req.RemoteAddr},
		ExpectSOPInstanceUID: req.SOPInstanceUID, ExpectSOPClassUID: req.SOPClassUID})
	if err != nil {
		return dimse.Status{Code: dimse.StatusProcessingFailure}
	}
	return dimse.Status{Code: dimse.StatusSuccess}
}
