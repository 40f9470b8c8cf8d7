package store_test

import (
	"strings"
	"testing"

	"pacsd/store"
)

func TestValidUID(t *testing.T) {
	for _, tc := range []struct {
		uid  string
		want bool
	}{
		{"1.2.840.10008.5.1.4.1.1.7", true},
		{"2.25.178146563190893376187392471620383245081", true},
		{"1.2.03.4", true}, // leading zero: against PS3.5 9.1, but sent by real devices
		{"1", true},
		{"1." + strings.Repeat("2", 62), true},
		{"1." + strings.Repeat("2", 63), false},
		{"", false}, {".", false}, {"..", false}, {".1", false}, {"1.", false}, {"1..2", false},
		{"1.2a", false}, {"1.2 ", false}, {"1/2", false}, {"1.2\x00", false},
	} {
		if got := store.ValidUID(tc.uid); got != tc.want {
			t.Errorf("ValidUID(%q) = %v, want %v", tc.uid, got, tc.want)
		}
	}
}

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
