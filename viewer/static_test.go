package viewer

import (
	"net/http"
	"strings"
	"testing"
)

// TestStaticFilesOnly: /static/ serves the pages' files and lists nothing.
func TestStaticFilesOnly(t *testing.T) {
	en := newEnv(t)
	c := en.anon()
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/static/app.css", http.StatusOK},
		{"/static/", http.StatusNotFound},
		{"/static/.", http.StatusNotFound},
		{"/static/nothing.js", http.StatusNotFound},
	} {
		resp, body := c.get(tc.path, "")
		if resp.StatusCode != tc.want {
			t.Errorf("GET %s: %d, want %d", tc.path, resp.StatusCode, tc.want)
		}
		if strings.Contains(body, "worklist.js") {
			t.Errorf("GET %s lists the directory", tc.path)
		}
	}
}
