package file_test

import (
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
