package ohif

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"pacsd/internal/peertest"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/ from the current output")

// fakeDist is a miniature of OHIF's dist/ with each kind of path the rewriting handles.
const fakeDist = "testdata/dist"

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newServer registers cfg the way cmd/pacsd does and returns the server's URL.
func newServer(t *testing.T, cfg Config) string {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	e := echo.New()
	e.Use(middleware.Recover())
	Register(e, cfg)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv.URL
}

type reply struct {
	status int
	header http.Header
	body   string
}

func fetch(t *testing.T, method, url string, hdr map[string]string) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{resp.StatusCode, resp.Header, string(b)}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update once)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s:\n%s", name, path, got)
	}
}

func TestServe(t *testing.T) {
	base := newServer(t, Config{Dir: fakeDist})
	const year = "public, max-age=31536000, immutable"
	tests := []struct {
		name, path   string
		status       int
		contentType  string
		cacheControl string
		body         string // exact body when set
		contains     []string
		lacks        []string
	}{
		{name: "app root", path: "/ohif/", status: 200, contentType: "text/html; charset=utf-8", cacheControl: "no-cache",
			contains: []string{`window.PUBLIC_URL="/ohif/"`, `src="/ohif/app.bundle.0123456789abcdef.js"`, `href="/ohif/manifest.json"`,
				`content="/ohif/assets/browserconfig.xml"`, `href="//cdn.example"`, `src="/ohif/app-config.js"`},
			lacks: []string{`="/app`, `PUBLIC_URL="/"`}},
		{name: "index.html by name", path: "/ohif/index.html", status: 200, contentType: "text/html; charset=utf-8",
			contains: []string{`window.PUBLIC_URL="/ohif/"`}},
		{name: "client route", path: "/ohif/viewer?StudyInstanceUIDs=1.2.840.113619.2.55", status: 200, contentType: "text/html; charset=utf-8",
			contains: []string{`window.PUBLIC_URL="/ohif/"`}},
		{name: "client route with UID in the path", path: "/ohif/viewer/pacsd/1.2.840.113619", status: 200, contentType: "text/html; charset=utf-8",
			contains: []string{`window.PUBLIC_URL="/ohif/"`}},
		{name: "hashed bundle", path: "/ohif/app.bundle.0123456789abcdef.js", status: 200, contentType: "text/javascript; charset=utf-8", cacheControl: year,
			contains: []string{`__webpack_require__.p = "/ohif/";`, `"//cdn.example/x.js"`}},
		{name: "css", path: "/ohif/app.bundle.css", status: 200, contentType: "text/css; charset=utf-8", cacheControl: "no-cache",
			contains: []string{`url(/ohif/fedcba9876543210.woff2)`, `url(//cdn.example/a.png)`}},
		{name: "wasm", path: "/ohif/0123456789abcdef.wasm", status: 200, contentType: "application/wasm", cacheControl: year,
			body: "\x00asm\x01\x00\x00\x00"},
		{name: "font", path: "/ohif/fedcba9876543210.woff2", status: 200, contentType: "font/woff2", cacheControl: year},
		{name: "manifest", path: "/ohif/manifest.json", status: 200, contentType: "application/json",
			contains: []string{`"start_url": "/ohif/"`, `"src": "/ohif/assets/favicon.png"`}},
		{name: "nested asset", path: "/ohif/assets/favicon.png", status: 200, contentType: "image/png", cacheControl: "no-cache"},
		{name: "xml", path: "/ohif/assets/browserconfig.xml", status: 200, contentType: "application/xml",
			contains: []string{`src="/ohif/assets/favicon.png"`}},
		{name: "unknown type as is", path: "/ohif/sub/plain.txt", status: 200, contentType: "application/octet-stream", body: "not hashed\n"},
		{name: "generated config", path: "/ohif/app-config.js", status: 200, contentType: "text/javascript; charset=utf-8", cacheControl: "no-cache",
			contains: []string{`"routerBasename": "/ohif"`}, lacks: []string{"which pacsd replaces"}},
		{name: "missing script is 404, not the app", path: "/ohif/nothere.0123456789abcdef.js", status: 404},
		{name: "missing wasm is 404", path: "/ohif/x.wasm", status: 404},
		{name: "directory is a client route", path: "/ohif/assets", status: 200, contentType: "text/html; charset=utf-8"},
		{name: "traversal", path: "/ohif/../go.mod", status: 404},
		{name: "encoded traversal", path: "/ohif/%2e%2e/ohif_test.go", status: 404},
		{name: "encoded slash traversal", path: "/ohif/assets%2f..%2f..%2fohif.go", status: 404},
		{name: "outside the mount", path: "/ohifx/", status: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := fetch(t, http.MethodGet, base+tt.path, nil)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d; body %.200q", r.status, tt.status, r.body)
			}
			if tt.contentType != "" && r.header.Get("Content-Type") != tt.contentType {
				t.Errorf("Content-Type %q, want %q", r.header.Get("Content-Type"), tt.contentType)
			}
			if tt.cacheControl != "" && r.header.Get("Cache-Control") != tt.cacheControl {
				t.Errorf("Cache-Control %q, want %q", r.header.Get("Cache-Control"), tt.cacheControl)
			}
			if r.status == 200 {
				if r.header.Get("X-Content-Type-Options") != "nosniff" {
					t.Error("no X-Content-Type-Options: nosniff")
				}
				if r.header.Get("ETag") == "" {
					t.Error("no ETag")
				}
				if r.header.Get("Last-Modified") != "" {
					t.Error("Last-Modified sent (npm's 1985 file times would make it lie across versions)")
				}
			}
			if tt.body != "" && r.body != tt.body {
				t.Errorf("body %q, want %q", r.body, tt.body)
			}
			for _, s := range tt.contains {
				if !strings.Contains(r.body, s) {
					t.Errorf("body lacks %q:\n%s", s, r.body)
				}
			}
			for _, s := range tt.lacks {
				if strings.Contains(r.body, s) {
					t.Errorf("body has %q:\n%s", s, r.body)
				}
			}
		})
	}
}

func TestIndexGolden(t *testing.T) {
	base := newServer(t, Config{Dir: fakeDist})
	golden(t, "index.html", fetch(t, "GET", base+"/ohif/", nil).body)
	// Behind a proxy that strips /county1, the public path gains it.
	base = newServer(t, Config{Dir: fakeDist, PublicURL: "https://pacs.example/county1/", Mount: "viewer/ohif/"})
	r := fetch(t, "GET", base+"/viewer/ohif/", nil)
	if r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	golden(t, "index-public-url.html", r.body)
}

func TestAppConfigGolden(t *testing.T) {
	for _, tt := range []struct {
		golden string
		cfg    Config
	}{
		{"app-config.js", Config{Dir: fakeDist}},
		{"app-config-public-url.js", Config{Dir: fakeDist, PublicURL: "https://pacs.example/county1/", DICOMwebPath: "/dicom-web/"}},
	} {
		base := newServer(t, tt.cfg)
		golden(t, tt.golden, fetch(t, "GET", base+"/ohif/app-config.js", nil).body)
	}
}

// TestAppConfigEvaluates runs the generated app-config.js in Node with a stand-in window and
// checks the configuration OHIF would read. Skipped without node: the browser test covers it
// in a real page too.
func TestAppConfigEvaluates(t *testing.T) {
	node := peertest.Tool(t, "node")
	const evalJS = `
const fs = require('fs');
const window = { location: { origin: process.env.PAGE_ORIGIN } };
new Function('window', fs.readFileSync(0, 'utf8'))(window);
// The study list's columns as OHIF 3.13 would merge them, with the patient column's filter
// tried on a row whose shown name lacks the typed text.
const apply = window.config.customizationService?.['workList.columns']?.$apply;
const cols = apply ? apply([{ id: 'patient', meta: { label: 'Patient' } }, { id: 'mrn' }]) : [];
window.config.patientColumn = cols[0] && { label: cols[0].meta.label, keeps: cols[0].filterFn?.({}, 'patient', 'zhang') };
window.config.otherColumnFilter = typeof cols[1]?.filterFn;
window.config.notAnArray = apply ? apply(undefined) === undefined : false;
process.stdout.write(JSON.stringify(window.config));`
	for _, tt := range []struct {
		name, origin, wantRoot, wantSearch, wantBasename string
		cfg                                              Config
	}{
		{"page origin", "http://10.1.2.3:8080", "http://10.1.2.3:8080/dicomweb", "http://10.1.2.3:8080/ohif/dicomweb", "/ohif", Config{Dir: fakeDist}},
		{"public url", "http://ignored", "https://pacs.example/county1/dicomweb", "https://pacs.example/county1/ohif/dicomweb", "/county1/ohif",
			Config{Dir: fakeDist, PublicURL: "https://pacs.example/county1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			base := newServer(t, tt.cfg)
			script := fetch(t, "GET", base+"/ohif/app-config.js", nil).body
			cmd := exec.Command(node, "-e", evalJS)
			cmd.Env = append(os.Environ(), "PAGE_ORIGIN="+tt.origin)
			cmd.Stdin = strings.NewReader(script)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("node: %v", err)
			}
			var cfg struct {
				RouterBasename        string `json:"routerBasename"`
				ShowStudyList         bool   `json:"showStudyList"`
				DefaultDataSourceName string `json:"defaultDataSourceName"`
				DataSources           []struct {
					Namespace     string         `json:"namespace"`
					SourceName    string         `json:"sourceName"`
					Configuration map[string]any `json:"configuration"`
				} `json:"dataSources"`
				PatientColumn *struct {
					Label string `json:"label"`
					Keeps bool   `json:"keeps"`
				} `json:"patientColumn"`
				OtherColumnFilter string `json:"otherColumnFilter"`
				NotAnArray        bool   `json:"notAnArray"`
			}
			if err := json.Unmarshal(out, &cfg); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if cfg.RouterBasename != tt.wantBasename || !cfg.ShowStudyList || len(cfg.DataSources) != 1 {
				t.Fatalf("config %s", out)
			}
			ds := cfg.DataSources[0]
			if ds.Namespace != "@ohif/extension-default.dataSourcesModule.dicomweb" || ds.SourceName != cfg.DefaultDataSourceName {
				t.Errorf("data source %s/%s, default %s", ds.Namespace, ds.SourceName, cfg.DefaultDataSourceName)
			}
			want := map[string]any{
				"qidoRoot": tt.wantSearch, "wadoRoot": tt.wantRoot, "wadoUriRoot": tt.wantRoot,
				"supportsFuzzyMatching": true, "supportsWildcard": true, "imageRendering": "wadors",
				"thumbnailRendering": "thumbnail", "thumbnailRequestStrategy": "fetch", "enableStudyLazyLoad": true, "supportsReject": false,
				"omitQuotationForMultipartRequest": true,
			}
			for k, v := range want {
				if ds.Configuration[k] != v {
					t.Errorf("%s = %v, want %v", k, ds.Configuration[k], v)
				}
			}
			if bulk, _ := ds.Configuration["bulkDataURI"].(map[string]any); bulk["enabled"] != true {
				t.Errorf("bulkDataURI = %v", ds.Configuration["bulkDataURI"])
			}
			// The patient column keeps what pacsd answered; other columns and a release
			// without the customization are left alone.
			if pc := cfg.PatientColumn; pc == nil || !pc.Keeps || pc.Label != "Patient" {
				t.Errorf("patient column after the customization: %+v", pc)
			}
			if cfg.OtherColumnFilter != "undefined" || !cfg.NotAnArray {
				t.Errorf("other column's filter %q, non-array kept %v", cfg.OtherColumnFilter, cfg.NotAnArray)
			}
		})
	}
}

func TestRedirect(t *testing.T) {
	base := newServer(t, Config{Dir: fakeDist})
	r := fetch(t, "GET", base+"/ohif?x=1", nil)
	if r.status != http.StatusMovedPermanently || r.header.Get("Location") != "ohif/?x=1" {
		t.Fatalf("status %d Location %q", r.status, r.header.Get("Location"))
	}
}

func TestConditionalAndRange(t *testing.T) {
	base := newServer(t, Config{Dir: fakeDist})
	for _, path := range []string{"/ohif/", "/ohif/app.bundle.0123456789abcdef.js", "/ohif/app-config.js", "/ohif/0123456789abcdef.wasm"} {
		first := fetch(t, "GET", base+path, nil)
		tag := first.header.Get("ETag")
		if r := fetch(t, "GET", base+path, map[string]string{"If-None-Match": tag}); r.status != http.StatusNotModified {
			t.Errorf("%s with its ETag: status %d, want 304", path, r.status)
		}
		// A rewritten file answers ranges of the rewritten bytes.
		r := fetch(t, "GET", base+path, map[string]string{"Range": "bytes=2-5"})
		if r.status != http.StatusPartialContent || r.body != first.body[2:6] {
			t.Errorf("%s range: status %d body %q, want %q", path, r.status, r.body, first.body[2:6])
		}
		if r := fetch(t, "HEAD", base+path, nil); r.status != 200 || r.body != "" {
			t.Errorf("%s HEAD: status %d", path, r.status)
		}
	}
}

// TestETagFollowsPublicPath: the same file rewritten for another public path is another
// representation and must not share a validator.
func TestETagFollowsPublicPath(t *testing.T) {
	a := fetch(t, "GET", newServer(t, Config{Dir: fakeDist})+"/ohif/app.bundle.css", nil)
	b := fetch(t, "GET", newServer(t, Config{Dir: fakeDist, Mount: "/viewer2"})+"/viewer2/app.bundle.css", nil)
	if a.header.Get("ETag") == b.header.Get("ETag") || a.body == b.body {
		t.Errorf("same ETag %s for different rewrites", a.header.Get("ETag"))
	}
}

// TestRescanOnChange: a file replaced in place (same name, other content) is served with the
// new content and a new ETag.
func TestRescanOnChange(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("index.html", `<script src="/a.js"></script>`)
	write("x.css", `a{b:url(/one.png)}`)
	base := newServer(t, Config{Dir: dir})
	first := fetch(t, "GET", base+"/ohif/x.css", nil)
	write("x.css", `a{b:url(/two.png)} c{d:url(/three.png)}`)
	second := fetch(t, "GET", base+"/ohif/x.css", nil)
	if second.body != `a{b:url(/ohif/two.png)} c{d:url(/ohif/three.png)}` {
		t.Errorf("after change: %q", second.body)
	}
	if first.header.Get("ETag") == second.header.Get("ETag") {
		t.Error("ETag unchanged after the file changed")
	}
}

// logRecorder keeps the records a handler saw.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, r)
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

func (l *logRecorder) messages(min slog.Level) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.records {
		if r.Level >= min {
			out = append(out, r.Message)
		}
	}
	return out
}

func TestMissingDist(t *testing.T) {
	for _, tt := range []struct {
		name, hint string
		cfg        Config
	}{
		{"no such folder", "make ohif", Config{Dir: filepath.Join(t.TempDir(), "nothere")}},
		{"folder without index.html", "make ohif", Config{Dir: t.TempDir()}},
		{"not configured", "make ohif", Config{}},
		{"bad public url", "public URL", Config{Dir: fakeDist, PublicURL: "pacs.example/county1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := &logRecorder{}
			tt.cfg.Logger = slog.New(rec)
			base := newServer(t, tt.cfg)
			for _, path := range []string{"/ohif/", "/ohif/viewer?StudyInstanceUIDs=1.2.3", "/ohif/app-config.js", "/ohif/app.bundle.css"} {
				r := fetch(t, "GET", base+path, nil)
				if r.status != http.StatusNotFound || !strings.Contains(r.body, tt.hint) {
					t.Errorf("%s: status %d body %q", path, r.status, r.body)
				}
				if !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
					t.Errorf("%s: Content-Type %q", path, r.header.Get("Content-Type"))
				}
			}
			if msgs := rec.messages(slog.LevelWarn); len(msgs) != 1 {
				t.Errorf("logged %d warnings or errors, want exactly 1: %q", len(msgs), msgs)
			}
		})
	}
}

func TestRegisterLogsServing(t *testing.T) {
	rec := &logRecorder{}
	newServer(t, Config{Dir: fakeDist, Logger: slog.New(rec)})
	if msgs := rec.messages(slog.LevelWarn); len(msgs) != 0 {
		t.Errorf("warnings for a good dist: %q", msgs)
	}
	if msgs := rec.messages(slog.LevelInfo); len(msgs) != 1 {
		t.Errorf("info messages %q, want one", msgs)
	}
}

// TestLogsComponent: ohif's log lines carry the component attribute (DESIGN.md section 5)
// rather than a prefix in the message.
func TestLogsComponent(t *testing.T) {
	var buf strings.Builder // Register logs once, before it returns
	newServer(t, Config{Dir: fakeDist, Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	var line struct{ Msg, Component string }
	if err := json.Unmarshal([]byte(buf.String()), &line); err != nil {
		t.Fatalf("%v: %q", err, buf.String())
	}
	if line.Component != "ohif" || strings.HasPrefix(line.Msg, "ohif") {
		t.Errorf("logged %+v, want component ohif and no prefix", line)
	}
}

// TestRealDistAssets checks, when `make ohif` has installed the real build, that every
// path the rewritten index.html names is served with the right type: the browser test does
// the same through Chromium's network log.
func TestRealDistAssets(t *testing.T) {
	dir := realDist(t)
	base := newServer(t, Config{Dir: dir})
	index := fetch(t, "GET", base+"/ohif/", nil)
	if index.status != 200 {
		t.Fatalf("index: %d", index.status)
	}
	if strings.Contains(index.body, `="/`) && !strings.Contains(index.body, `="/ohif/`) {
		t.Fatal("index.html not rewritten")
	}
	refs := 0
	for _, part := range strings.Split(index.body, `="/ohif/`)[1:] {
		ref := part[:strings.IndexByte(part, '"')]
		if ref == "" {
			continue // window.PUBLIC_URL
		}
		refs++
		r := fetch(t, "HEAD", base+"/ohif/"+ref, nil)
		if r.status != 200 {
			t.Errorf("%s: %d", ref, r.status)
		}
		if ct := r.header.Get("Content-Type"); ct == "application/octet-stream" || ct == "" {
			t.Errorf("%s: Content-Type %q", ref, ct)
		}
	}
	if refs < 5 {
		t.Errorf("only %d references in index.html", refs)
	}
	// The webpack runtime of the app bundle must load chunks from the mount.
	var bundle string
	for _, part := range strings.Split(index.body, `src="/ohif/`)[1:] {
		if ref := part[:strings.IndexByte(part, '"')]; strings.HasPrefix(ref, "app.bundle.") {
			bundle = ref
		}
	}
	if bundle == "" {
		t.Fatal("no app bundle in index.html")
	}
	r := fetch(t, "GET", base+"/ohif/"+bundle, nil)
	if !strings.Contains(r.body, `__webpack_require__.p = "/ohif/"`) || strings.Contains(r.body, `__webpack_require__.p = "/";`) {
		t.Error("the app bundle's public path was not rewritten")
	}
	wasm, _ := filepath.Glob(filepath.Join(dir, "*.wasm"))
	if len(wasm) == 0 {
		t.Fatal("no codecs (*.wasm) in the dist")
	}
	for _, w := range wasm {
		r := fetch(t, "HEAD", base+"/ohif/"+filepath.Base(w), nil)
		if r.status != 200 || r.header.Get("Content-Type") != "application/wasm" {
			t.Errorf("%s: %d %q", filepath.Base(w), r.status, r.header.Get("Content-Type"))
		}
	}
}

// realDist is OHIF's dist as `make ohif` installs it ($PACSD_OHIF_DIR overrides); missing
// is a skip, or a failure in CI, where `make test` installs it first.
func realDist(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("PACSD_OHIF_DIR")
	if dir == "" {
		dir = filepath.Join("..", ".cache", "ohif", Version, "dist")
	}
	if _, err := os.Stat(filepath.Join(dir, "index.html")); err != nil {
		peertest.Missing(t, "OHIF dist not installed (%s): run make ohif", dir)
	}
	return dir
}

func TestLooksLikeAsset(t *testing.T) {
	for name, want := range map[string]bool{
		"viewer": false, "viewer/pacsd": false, "1.2.840.10008": false, "viewer/1.2.3.4": false,
		"a.js": true, "x/y.WASM": true, "a.js.map": true, "f.woff": true, "c.css": true,
	} {
		if got := looksLikeAsset(name); got != want {
			t.Errorf("looksLikeAsset(%q) = %v", name, got)
		}
	}
}
