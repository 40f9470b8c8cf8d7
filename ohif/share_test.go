package ohif

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

const testToken = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde" // 43 characters, as a link's

// TestShareProxy: with share links, app-config.js adds the dicomwebproxy data source; a
// link's config.json names the link's DICOMweb as every root (the public URL's when one is
// set); the proxy route is the app only with a share link's config on this mount, never
// another server's; without share links neither exists.
func TestShareProxy(t *testing.T) {
	for _, tt := range []struct {
		name     string
		cfg      Config
		wantRoot string
	}{
		{"page origin", Config{Dir: fakeDist, SharePath: "/s"}, "/s/" + testToken + "/dicomweb"},
		{"public url", Config{Dir: fakeDist, SharePath: "s", PublicURL: "https://pacs.example/county1/"},
			"https://pacs.example/county1/s/" + testToken + "/dicomweb"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			base := newServer(t, tt.cfg)
			if js := fetch(t, "GET", base+"/ohif/app-config.js", nil).body; !strings.Contains(js, "dataSourcesModule.dicomwebproxy") {
				t.Errorf("app-config.js lacks the proxy data source")
			}
			r := fetch(t, "GET", base+"/ohif"+shareConfigPath(testToken), nil)
			var cfg struct {
				Servers struct {
					DICOMweb []map[string]any `json:"dicomWeb"`
				} `json:"servers"`
			}
			if r.status != http.StatusOK || json.Unmarshal([]byte(r.body), &cfg) != nil || len(cfg.Servers.DICOMweb) != 1 {
				t.Fatalf("config.json: %d %s", r.status, r.body)
			}
			ds := cfg.Servers.DICOMweb[0]
			for _, k := range []string{"qidoRoot", "wadoRoot", "wadoUriRoot"} {
				if ds[k] != tt.wantRoot {
					t.Errorf("%s = %v, want %s", k, ds[k], tt.wantRoot)
				}
			}
			if ds["imageRendering"] != "wadors" {
				t.Errorf("config.json is not pacsd's data source: %v", ds)
			}
			if r := fetch(t, "GET", base+"/ohif/share/short/config.json", nil); r.status != http.StatusNotFound {
				t.Errorf("config.json of a malformed token: %d", r.status)
			}
			own := ShareViewerURL("/ohif", testToken, "1.2.3")
			if r := fetch(t, "GET", base+own, nil); r.status != http.StatusOK || !strings.Contains(r.body, "<html") {
				t.Errorf("the proxy route with a share link's config: %d", r.status)
			}
			for _, foreign := range []string{"https://evil.example/servers.json", "//evil.example/ohif/share/" + testToken + "/config.json",
				"/ohif/share/" + testToken + "/config.json?x=1", "/ohif/share/" + testToken + "/../../dicomweb/x.json", "/other.json", ""} {
				u := "/ohif/viewer/dicomwebproxy?" + url.Values{"url": {foreign}, "StudyInstanceUIDs": {"1.2.3"}}.Encode()
				if r := fetch(t, "GET", base+u, nil); r.status != http.StatusNotFound {
					t.Errorf("the proxy route with url=%q: %d", foreign, r.status)
				}
			}
		})
	}
	base := newServer(t, Config{Dir: fakeDist})
	if js := fetch(t, "GET", base+"/ohif/app-config.js", nil).body; strings.Contains(js, "dicomwebproxy") {
		t.Error("the proxy data source without share links")
	}
	if r := fetch(t, "GET", base+ShareViewerURL("", testToken, "1.2.3"), nil); r.status != http.StatusNotFound {
		t.Errorf("the proxy route without share links: %d", r.status)
	}
}

// TestShareGuard: Guard lets through without a session the app's files, a link's config, the
// proxy route with a link's config and app-config.js for that page; everything else of the mount (the study list, the
// search root, a proxy route with another configuration) goes to the staff check.
func TestShareGuard(t *testing.T) {
	staff := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error { return c.NoContent(http.StatusUnauthorized) }
	}
	open := func(c echo.Context) error { return c.NoContent(http.StatusOK) }
	h := Guard("/ohif", staff)(open)
	for target, want := range map[string]int{
		"/ohif/app-config.js":                       http.StatusUnauthorized, // but from a share link's page, below
		"/ohif/app.bundle.0f6159c501addfe9.js":      http.StatusOK,
		"/ohif/0ddf166f7a343eda.wasm":               http.StatusOK,
		"/ohif" + shareConfigPath(testToken):        http.StatusOK,
		ShareViewerURL("/ohif", testToken, "1.2.3"): http.StatusOK,
		"/ohif/":                               http.StatusUnauthorized,
		"/ohif":                                http.StatusUnauthorized,
		"/ohif/viewer?StudyInstanceUIDs=1.2.3": http.StatusUnauthorized,
		"/ohif/dicomweb/studies":               http.StatusUnauthorized,
		"/ohif/dicomweb/x.js":                  http.StatusUnauthorized,
		"/ohif/share/x/config.json":            http.StatusUnauthorized,
		"/ohif/viewer/dicomwebproxy?url=https://e.example/a.json": http.StatusUnauthorized,
		"/other": http.StatusOK, // not the mount: not this guard's
	} {
		rec := httptest.NewRecorder()
		c := echo.New().NewContext(httptest.NewRequest(http.MethodGet, target, nil), rec)
		if err := h(c); err != nil {
			t.Fatal(err)
		}
		if rec.Code != want {
			t.Errorf("%s: %d, want %d", target, rec.Code, want)
		}
	}
	for referer, want := range map[string]int{
		"http://pacs.example" + ShareViewerURL("/ohif", testToken, "1.2.3"):                              http.StatusOK,
		"http://pacs.example/ohif/viewer/dicomwebproxy?url=https://e.example/a.json&studyInstanceUIDs=1": http.StatusUnauthorized,
		"http://pacs.example/ohif/viewer?StudyInstanceUIDs=1.2.3":                                        http.StatusUnauthorized,
	} {
		req := httptest.NewRequest(http.MethodGet, "/ohif/app-config.js", nil)
		req.Header.Set("Referer", referer)
		rec := httptest.NewRecorder()
		if err := h(echo.New().NewContext(req, rec)); err != nil {
			t.Fatal(err)
		}
		if rec.Code != want {
			t.Errorf("app-config.js from %s: %d, want %d", referer, rec.Code, want)
		}
	}
}
