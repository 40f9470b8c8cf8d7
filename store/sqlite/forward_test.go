package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"pacsd/forward/forwardtest"
	"pacsd/store/sqlite"
)

// TestForwardContract: the forwarding queue's contract (forwardtest), each node an index
// opened on one file.
func TestForwardContract(t *testing.T) {
	forwardtest.Run(t, func(t *testing.T) forwardtest.Opener {
		path := filepath.Join(t.TempDir(), "index.db")
		return func() forwardtest.Node {
			x, err := sqlite.Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { x.Close() })
			return forwardtest.Node{Index: x, Queue: x.Forwarding()}
		}
	})
}
