package viewer

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pacsd/internal/logtest"
)

// TestLogsComponent: the reading room's log lines carry component=viewer (DESIGN.md
// section 5) rather than a "viewer: " prefix in the message. Applying a sites file at
// start logs one line before New returns.
func TestLogsComponent(t *testing.T) {
	sites := filepath.Join(t.TempDir(), "sites.json")
	if err := os.WriteFile(sites, []byte(`[{"name": "城关镇卫生院", "aeTitles": ["CGZ_DR"]}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &logtest.Buffer{} // the viewer's background work may log meanwhile
	newEnvWith(t, func(c *Config) {
		c.SitesFile = sites
		c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	var line struct{ Msg, Component string }
	for l := range strings.Lines(logs.String()) {
		if strings.Contains(l, "sites file applied") {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatal(err)
			}
		}
	}
	if line.Msg != "sites file applied" || line.Component != "viewer" {
		t.Errorf("logged %+v, want component viewer and no prefix; log:\n%s", line, logs.String())
	}
}
