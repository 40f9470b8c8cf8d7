package store_test

import (
	"strings"
	"testing"

	"pacsd/store"
)

func TestBlobKey(t *testing.T) {
	sha := strings.Repeat("ab", 32)
	k := store.BlobKey("1.2", "1.2.3", "1.2.3.4", sha)
	parts := strings.Split(k, "/")
	if len(parts) != 4 || len(parts[0]) != 2 || parts[1] != "1.2" || parts[2] != "1.2.3" ||
		parts[3] != "1.2.3.4.abababababababab.dcm" {
		t.Fatalf("BlobKey = %q", k)
	}
	if k2 := store.BlobKey("1.2", "1.2.3", "1.2.3.4", strings.Repeat("cd", 32)); k2 == k {
		t.Fatal("two contents of one instance share a key")
	}
}

func TestValidBlobKey(t *testing.T) {
	for _, tc := range []struct {
		key  string
		want bool
	}{
		{"ab/1.2.3/1.2.3.4/1.2.3.4.5.0123456789abcdef.dcm", true},
		{"x.dcm", true},
		{"", false}, {".", false}, {"/x", false}, {"../x", false}, {"a/../x", false}, {"a//x", false},
		{"a/", false}, {".tmp/x", false}, {"a/.hidden", false}, {`a\b`, false}, {"a\x00b", false},
	} {
		if got := store.ValidBlobKey(tc.key); got != tc.want {
			t.Errorf("ValidBlobKey(%q) = %v, want %v", tc.key, got, tc.want)
		}
	}
}
