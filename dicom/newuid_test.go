package dicom

import (
	"strings"
	"testing"
)

func TestNewUID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		u := NewUID()
		if !strings.HasPrefix(u, "2.25.") || len(u) > 64 || !ValidUID(u, UIDStrict) {
			t.Fatalf("NewUID() = %q: not a valid 2.25 UID", u)
		}
		if seen[u] {
			t.Fatalf("NewUID() repeated %q", u)
		}
		seen[u] = true
	}
}
