package derived_test

import (
	"context"
	"testing"

	"pacsd/store"
	"pacsd/store/derived"
	"pacsd/store/s3"
	"pacsd/store/s3/miniotest"
)

// TestBucket: a put artifact reads back, a missing one is store.ErrNotFound (so a node
// makes it rather than fail), a second put of the same key (two nodes racing) is harmless,
// and artifacts stay out of the blob listing that `pacsd check` and reindex go through.
func TestBucket(t *testing.T) {
	srv := miniotest.Start(t)
	ctx := context.Background()
	remote, err := s3.New(ctx, s3.Config{Endpoint: srv.Endpoint, Bucket: "derived", AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	d, err := derived.Open(remote)
	if err != nil {
		t.Fatal(err)
	}
	key := derived.Key("thumbnails", "1.2.3", "ab12", "jpg")
	if key != "thumbnails/1.2.3.ab12.jpg" {
		t.Fatalf("key %q", key)
	}
	if _, err := d.Get(ctx, key); !derived.IsMissing(err) {
		t.Fatalf("get before put: %v, want not found", err)
	}
	for _, body := range []string{"jpeg bytes", "jpeg bytes"} {
		if err := d.Put(ctx, key, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := d.Get(ctx, key); err != nil || string(got) != "jpeg bytes" {
		t.Fatalf("get: %q, %v", got, err)
	}
	var keys []string
	if err := d.List(ctx, "thumbnails", func(k string) error { keys = append(keys, k); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0] != key {
		t.Fatalf("listed %q, want [%s]", keys, key)
	}
	blobs := 0
	if err := remote.List(ctx, func(store.BlobInfo) error { blobs++; return nil }); err != nil {
		t.Fatal(err)
	}
	if blobs != 0 {
		t.Fatalf("blob listing sees %d objects; the artifacts are not blobs", blobs)
	}
}
