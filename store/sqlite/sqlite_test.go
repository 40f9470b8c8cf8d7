package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"pacsd/store"
	"pacsd/store/sqlite"
	"pacsd/store/storetest"
)

func openIndex(t testing.TB) *sqlite.Index {
	t.Helper()
	x, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := x.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return x
}

func TestContract(t *testing.T) {
	storetest.RunIndex(t, func(t *testing.T) store.Index { return openIndex(t) })
}
