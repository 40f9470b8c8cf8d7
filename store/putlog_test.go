package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"pacsd/internal/logtest"
	"pacsd/store"
)

// jsonLines returns the JSON log records written so far, and empties the buffer.
func jsonLines(t *testing.T, b *logtest.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for l := range strings.Lines(b.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%v: %q", err, l)
		}
		out = append(out, m)
	}
	b.Reset()
	return out
}

// TestPutLogsOneLine: every Put writes one info-or-above line, whatever its outcome
// (stored, duplicate, replaced, refused), naming the transport, the sender, the SOP
// Instance UID and the duration, with the archive's component attribute and without the
// patient's name or ID (DESIGN.md section 5).
func TestPutLogsOneLine(t *testing.T) {
	logs := &logtest.Buffer{}
	e := newEnv(t, func(c *store.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	o := obj{sop: "1.2.826.0.1.1.1.7", name: "Zhang^San", patientID: "PID-4711", pixels: 64}
	origin := store.Origin{Transport: "dimse", CallingAE: "TOWNSHIP_DR", CalledAE: "PACSD", RemoteAddr: "192.0.2.7:4242", Site: "site:1"}
	otherSite := origin
	otherSite.Site = "site:2"
	changed := o
	changed.fill = 9
	again := o
	again.fill = 10
	for _, tc := range []struct {
		name    string
		data    []byte
		req     store.PutRequest
		outcome string
		level   string
		sop     string // "": the object's
	}{
		{"new", o.bytes(), store.PutRequest{Origin: origin}, "stored", "INFO", ""},
		{"same again", o.bytes(), store.PutRequest{Origin: origin}, "duplicate", "INFO", ""},
		{"other content", changed.bytes(), store.PutRequest{Origin: origin}, "replaced", "WARN", ""},
		{"other content, other site", again.bytes(), store.PutRequest{Origin: otherSite}, "refused", "WARN", ""},
		{"wrong UID", o.bytes(), store.PutRequest{Origin: origin, ExpectSOPInstanceUID: "1.2.3.4"}, "refused", "WARN", "1.2.3.4"}, // the UID the sender named
	} {
		_, err := e.a.Put(context.Background(), bytes.NewReader(tc.data), tc.req)
		if (err != nil) != (tc.outcome == "refused") {
			t.Fatalf("%s: Put: %v", tc.name, err)
		}
		if tc.sop == "" {
			tc.sop = o.withDefaults().sop
		}
		lines := jsonLines(t, logs)
		if len(lines) != 1 {
			t.Fatalf("%s: %d log lines, want 1: %v", tc.name, len(lines), lines)
		}
		l := lines[0]
		for k, want := range map[string]any{
			"level": tc.level, "outcome": tc.outcome, "component": "archive", "transport": "dimse",
			"calling_ae": "TOWNSHIP_DR", "remote": "192.0.2.7:4242", "sop_instance_uid": tc.sop,
		} {
			if l[k] != want {
				t.Errorf("%s: %s = %v, want %v; line %v", tc.name, k, l[k], want, l)
			}
		}
		if _, ok := l["duration"]; !ok {
			t.Errorf("%s: no duration: %v", tc.name, l)
		}
		if tc.outcome != "refused" && l["size"] != float64(len(tc.data)) {
			t.Errorf("%s: size = %v, want %d", tc.name, l["size"], len(tc.data))
		}
		if b, _ := json.Marshal(l); bytes.Contains(b, []byte("Zhang")) || bytes.Contains(b, []byte("PID-4711")) {
			t.Errorf("%s: patient data in the log: %s", tc.name, b)
		}
	}
}
