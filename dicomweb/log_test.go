package dicomweb

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"pacsd/internal/logtest"
)

// TestLogsComponent: DICOMweb's log lines carry component=dicomweb (STOW-RS's, stow-rs:
// TestSTOWBoundaryLength), DESIGN.md section 5. A search logs its line before it answers.
func TestLogsComponent(t *testing.T) {
	a, _ := newArchive(t)
	logs := &logtest.Buffer{}
	u := serve(t, a, Config{Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if r := get(t, http.MethodGet, u+"/dicomweb/studies", nil); r.status != http.StatusOK && r.status != http.StatusNoContent {
		t.Fatalf("search: status %d", r.status)
	}
	var line struct{ Msg, Component string }
	for l := range strings.Lines(logs.String()) {
		if strings.Contains(l, `"msg":"qido-rs"`) {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatal(err)
			}
		}
	}
	if line.Component != "dicomweb" {
		t.Errorf("qido-rs logged as %+v; log:\n%s", line, logs.String())
	}
}
