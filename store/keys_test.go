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
