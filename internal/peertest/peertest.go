// Package peertest is how a test treats a missing peer (DCMTK, GDCM, OpenJPEG, Orthanc,
// MinIO, node, Chromium, OHIF's built app): skipped on a developer's machine, failed under
// CI (the environment variable CI set), where scripts/deps.sh installs every one
// (DESIGN.md section 7). It is imported by tests only.
package peertest

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// Missing skips the test saying what is missing, or fails it under CI.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		t.Fatal(msg + " (required under CI: `make deps` installs it)")
	}
	t.Skip(msg)
}

// Optional reports whether a peer's tool is there, for a test that checks more with it
// when it is; under CI the tool is required like any other.
func Optional(t testing.TB, name string) bool {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not installed (required under CI: `make deps` installs it): %v", name, err)
		}
		t.Logf("%s not installed: its checks are left out", name)
		return false
	}
	return true
}

// Tool returns the path of a peer's command-line tool, or calls Missing.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, "%s not installed (`make deps` installs DCMTK, GDCM, OpenJPEG and Orthanc): %v", name, err)
	}
	return p
}
