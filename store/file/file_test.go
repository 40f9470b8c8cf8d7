package file_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"pacsd/store"
	"pacsd/store/file"
	"pacsd/store/storetest"
)

func TestContract(t *testing.T) {
	storetest.RunBlobs(t, func(t *testing.T) store.Blobs {
		b, err := file.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

// TestNewCleansTemp: temporary files of Puts interrupted by a crash were never acknowledged;
// New removes them, and List never shows them.
func TestNewCleansTemp(t *testing.T) {
	root := t.TempDir()
	b, err := file.New(root)
	if err != nil {
		t.Fatal(err)
	}
	leftover := filepath.Join(root, ".tmp", "put-123")
	if err := os.WriteFile(leftover, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	var listed []string
	if err := b.List(context.Background(), func(k string, _ int64) error { listed = append(listed, k); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 0 {
		t.Fatalf("List shows temporary files: %q", listed)
	}
	if _, err := file.New(root); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(leftover); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("leftover temporary file survived New: %v", err)
	}
}

func TestValidKey(t *testing.T) {
	for _, tc := range []struct {
		key  string
		want bool
	}{
		{"ab/1.2.3/1.2.3.4/1.2.3.4.5.0123456789abcdef.dcm", true},
		{"x.dcm", true},
		{"", false}, {".", false}, {"/x", false}, {"../x", false}, {"a/../x", false}, {"a//x", false},
		{"a/", false}, {".tmp/x", false}, {"a/.hidden", false}, {`a\b`, false}, {"a\x00b", false},
	} {
		if got := file.ValidKey(tc.key); got != tc.want {
			t.Errorf("ValidKey(%q) = %v, want %v", tc.key, got, tc.want)
		}
	}
}
