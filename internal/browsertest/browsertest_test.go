package browsertest

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const selftestPage = `<!doctype html><meta charset="utf-8"><title>selftest</title>
<canvas id="blank" width="64" height="64"></canvas>
<canvas id="drawn" width="64" height="64"></canvas>
<img src="/missing.png">
<script>
const c = document.getElementById('drawn').getContext('2d');
const g = c.createLinearGradient(0, 0, 64, 0);
g.addColorStop(0, '#000'); g.addColorStop(1, '#fff');
c.fillStyle = g; c.fillRect(0, 0, 64, 64);
</script>`

// TestRun drives the harness end to end: steps that pass, a step that fails, a 404 the page
// met, the exit code, and the screenshot on disk.
func TestRun(t *testing.T) {
	Require(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
		case "/favicon.ico": // whether Chromium asks for it is not under test
			w.WriteHeader(http.StatusNoContent)
			return
		default:
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(selftestPage))
	}))
	t.Cleanup(srv.Close)
	script, err := filepath.Abs("testdata/selftest.mjs")
	if err != nil {
		t.Fatal(err)
	}
	artifacts := t.TempDir()
	res := Run(t, script, Options{BaseURL: srv.URL, Artifacts: artifacts})
	Report(t, res)

	if res.OK || res.ExitCode != 1 {
		t.Errorf("ok=%v exit=%d, want a failed run with exit code 1", res.OK, res.ExitCode)
	}
	for name, wantOK := range map[string]bool{
		"page loads":                 true,
		"blank canvas is blank":      true,
		"drawn canvas has a picture": true,
		"this step fails":            false,
		"no failed requests":         false,
	} {
		s := res.Step(name)
		if s == nil {
			t.Errorf("step %q missing", name)
			continue
		}
		if s.OK != wantOK {
			t.Errorf("step %q ok=%v (%s), want %v", name, s.OK, s.Error, wantOK)
		}
	}
	if s := res.Step("this step fails"); s != nil && !strings.Contains(s.Error, "on purpose") {
		t.Errorf("error %q", s.Error)
	}
	if len(res.HTTPErrors) != 1 || res.HTTPErrors[0].Status != 404 || !strings.HasSuffix(res.HTTPErrors[0].URL, "/missing.png") {
		t.Errorf("HTTP errors %+v, want the one 404 for /missing.png", res.HTTPErrors)
	}
	for _, name := range []string{"page.png", "failed-this-step-fails.png"} {
		if st, err := os.Stat(filepath.Join(artifacts, name)); err != nil || st.Size() == 0 {
			t.Errorf("screenshot %s: %v", name, err)
		}
	}
}
