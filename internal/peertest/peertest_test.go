package peertest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

const absent = "no-such-peer-tool-pacsd"

// TestChild is run by TestMissing in a child process, where a skip or a failure does not
// end the parent test.
func TestChild(t *testing.T) {
	switch os.Getenv("PEERTEST_CHILD") {
	case "tool":
		Tool(t, absent)
		t.Log("peer found")
	case "optional":
		if Optional(t, absent) {
			t.Error("an absent tool reported present")
		}
	}
}

// TestMissing: a missing peer skips the test, or fails it under CI; an optional one leaves
// its checks out, except under CI, where it fails the test.
func TestMissing(t *testing.T) {
	for _, c := range []struct {
		mode, ci string
		want     string
		wantFail bool
	}{
		{"tool", "", "--- SKIP: TestChild", false},
		{"tool", "true", "--- FAIL: TestChild", true},
		{"optional", "", "--- PASS: TestChild", false},
		{"optional", "true", "--- FAIL: TestChild", true},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestChild$", "-test.v")
		cmd.Env = append(os.Environ(), "PEERTEST_CHILD="+c.mode, "CI="+c.ci)
		out, err := cmd.CombinedOutput()
		if (err != nil) != c.wantFail || !strings.Contains(string(out), c.want) {
			t.Errorf("%s, CI=%q: err %v, output:\n%s\nwant %q", c.mode, c.ci, err, out, c.want)
		}
	}
}
