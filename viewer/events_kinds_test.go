package viewer

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
)

// TestEventKindsListed: every kind the viewer publishes is in eventKinds, or another
// node's EventElsewhere would drop it (and a missed-events "" would not cover it).
func TestEventKindsListed(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	call := regexp.MustCompile(`\.(?:publish|deliver)\("([^"]*)"\)`)
	seen := 0
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range call.FindAllSubmatch(src, -1) {
			seen++
			if !slices.Contains(eventKinds, string(m[1])) {
				t.Errorf("%s publishes %q, not in eventKinds %q", f, m[1], eventKinds)
			}
		}
	}
	if seen < 5 {
		t.Fatalf("found %d publish calls: the pattern no longer matches the code", seen)
	}
}
