package sr

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"pacsd/internal/peertest"
)

// runTool writes b (unless nil) to the file p and runs the tool on it with args before the
// file's name; its output, or the end of the test when it fails.
func runTool(t *testing.T, p string, b []byte, tool string, args ...string) string {
	t.Helper()
	if b != nil {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(tool, append(args, p)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", tool, err, out)
	}
	return string(out)
}

// dsrdumpClean fails the test for each warning or error in dsrdump's output s, except that
// its VR checker cannot check UTF-8 text, and the messages containing one of allowed.
func dsrdumpClean(t *testing.T, s string, allowed ...string) {
	t.Helper()
	allowed = append(allowed, "does not support this Specific Character Set")
	for _, line := range strings.Split(s, "\n") {
		if (strings.HasPrefix(line, "W:") || strings.HasPrefix(line, "E:")) && !containsAny(line, allowed) {
			t.Errorf("dsrdump: %s", line)
		}
	}
}

func containsAny(s string, subs []string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}

// checkIOD has dicom3tools' dciodvfy, an IOD checker independent of DCMTK, check the file p
// as the IOD named iod: no errors, and no warnings but one: it calls names written in
// characters alone (how Chinese names are sent) a retired form.
func checkIOD(t *testing.T, p, iod string) {
	t.Helper()
	peertest.Tool(t, "dciodvfy")
	out := runTool(t, p, nil, "dciodvfy")
	if !strings.Contains(out, iod) {
		t.Errorf("dciodvfy does not take it for %s:\n%s", iod, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "Error") || (strings.HasPrefix(line, "Warning") && !strings.Contains(line, "Retired Person Name form")) {
			t.Errorf("dciodvfy: %s", line)
		}
	}
}
