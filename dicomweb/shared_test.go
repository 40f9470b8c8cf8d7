package dicomweb

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"pacsd/store"
	"pacsd/store/derived"
	"pacsd/store/s3"
	"pacsd/store/s3/miniotest"
)

// TestSharedMetadata: cluster nodes share metadata records through the bucket
// (store/derived). The node that receives objects builds each record once after ingest;
// another node (its own cache folder) gets them from the bucket and builds none, also after
// losing its cache; a record missing from the bucket it builds once and shares; a replaced
// instance's new record, never the old one, is what the other node serves.
func TestSharedMetadata(t *testing.T) {
	srv := miniotest.Start(t)
	ctx := context.Background()
	remote, err := s3.New(ctx, s3.Config{Endpoint: srv.Endpoint, Bucket: "cluster", AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	shared, err := derived.Open(remote)
	if err != nil {
		t.Fatal(err)
	}
	// The nodes' archives share index and bucket; the records depend on the object only, so
	// one archive stands for both here (the cluster itself: cmd/pacsd TestClusterTwoNodes).
	a, _ := newArchive(t)
	_, sa, svcA := registerWith(t, a, Config{Logger: testLogger(), CacheDir: t.TempDir(), Shared: shared})
	svcA.Start(ctx)
	t.Cleanup(svcA.Close)

	const n = 5
	study, series := "1.2.826.0.1.3680043.10.21.1", "1.2.826.0.1.3680043.10.21.2"
	sop := func(i int) string { return fmt.Sprintf("1.2.826.0.1.3680043.10.21.3.%d", i+1) }
	put := func(i int, number string) *store.Instance {
		t.Helper()
		obj := imageObject(sop(i), study, series, 16, 16, 1).with(0x00200013, "IS", number)
		rec, err := a.Put(ctx, bytes.NewReader(obj.bytes(t)), store.PutRequest{Origin: store.Origin{Site: "town1"}})
		if err != nil {
			t.Fatal(err)
		}
		return rec
	}
	var recs []*store.Instance
	for i := range n {
		recs = append(recs, put(i, fmt.Sprint(i+1)+" "))
	}
	waitBuilt := func(want int64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for sa.meta.builds.Load() < want {
			if time.Now().After(deadline) {
				t.Fatalf("node A built %d records, want %d", sa.meta.builds.Load(), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitBuilt(n)

	seriesURL := "/dicomweb/studies/" + study + "/series/" + series + "/metadata"
	// node asks for the series metadata on a fresh node B (its own, empty cache folder) and
	// checks how many records it built and fetched.
	node := func(what string, built, fetched int64) []map[string]any {
		t.Helper()
		base, sb, _ := registerWith(t, a, Config{Logger: testLogger(), CacheDir: t.TempDir(), Shared: shared})
		ds, r := getMeta(t, base+seriesURL, nil)
		if r.status != http.StatusOK || len(ds) != n {
			t.Fatalf("%s: series metadata: HTTP %d, %d data sets", what, r.status, len(ds))
		}
		if b, f := sb.meta.builds.Load(), sb.meta.fetched.Load(); b != built || f != fetched {
			t.Fatalf("%s: node B built %d and fetched %d records, want %d and %d", what, b, f, built, fetched)
		}
		return ds
	}
	node("from the bucket", 0, n)
	node("a node that lost its cache", 0, n)
	if got := sa.meta.builds.Load(); got != n {
		t.Fatalf("node A built %d records, want each of %d once", got, n)
	}

	// Node A died before building the first record: B builds it, once, and shares it.
	folder, err := remote.Reserved(derived.Folder)
	if err != nil {
		t.Fatal(err)
	}
	if err := folder.Delete(ctx, sharedRecordKey(recs[0].SOPInstanceUID, recs[0].SHA256)); err != nil {
		t.Fatal(err)
	}
	node("one missing from the bucket", 1, n-1)
	node("rebuilt and shared", 0, n)

	// A replaced instance: A builds its new record; B serves the new one from the bucket.
	put(1, "42 ")
	waitBuilt(n + 1)
	ds := node("after a replacement", 0, n)
	found := false
	for _, d := range ds {
		if d["00080018"].(map[string]any)["Value"].([]any)[0] == sop(1) {
			found = true
			if v := d["00200013"].(map[string]any)["Value"].([]any)[0]; v != float64(42) {
				t.Errorf("node B serves instance number %v of the replaced instance, want 42", v)
			}
		}
	}
	if !found {
		t.Fatalf("replaced instance %s missing from the series metadata", sop(1))
	}
}
