package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pacsd/dicom"
	"pacsd/store"
)

// TestReindex: an index rebuilt from a folder of objects alone has every instance with
// the record Put made (key, size, SHA-256, attributes), the newest object of a replaced
// instance current and the earlier one kept as a version; an object that is not DICOM is
// skipped and counted; a second run adds nothing; an index that has instances and is not
// being rebuilt is refused unless forced.
func TestReindex(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	orig := newEnvAt(t, data, t.TempDir())
	req := store.PutRequest{Origin: store.Origin{Transport: "dimse", CallingAE: "TOWN1", Site: "site:1"}}
	sops := []string{"1.2.826.0.1.1.1.1", "1.2.826.0.1.1.1.2", "1.2.826.0.1.1.2.1"}
	for i, sop := range sops {
		series := sop[:strings.LastIndexByte(sop, '.')]
		orig.put(t, obj{series: series, sop: sop, pixels: 64, fill: byte(i), name: "张^三"}.bytes(), req)
	}
	// A corrected re-send from the same site: the first object of sops[0] becomes a kept
	// version. Later on the clock, so that the write times tell the versions apart.
	time.Sleep(50 * time.Millisecond)
	orig.put(t, obj{sop: sops[0], pixels: 64, fill: 9, name: "张^三"}.bytes(), req)
	if err := orig.blobs.Put(ctx, "zz/not-dicom.dcm", strings.NewReader("not DICOM"), 9); err != nil {
		t.Fatal(err)
	}

	re := newEnvAt(t, data, t.TempDir())
	st, err := re.a.Reindex(ctx, store.ReindexOptions{Site: func(_ context.Context, ae string) (string, error) {
		if ae != "TOWN1" {
			t.Errorf("site asked for %q", ae)
		}
		return "site:1", nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	// The test's objects have no File Meta AE (not received over DIMSE): no site asked.
	if st.Objects != 5 || st.Indexed != 4 || st.Versions != 1 || st.Unreadable != 1 || st.Known != 0 {
		t.Fatalf("Reindex = %+v, want 5 objects, 4 indexed (1 a version), 1 unreadable", st)
	}
	for _, sop := range sops {
		want, err := orig.idx.Instance(ctx, sop)
		if err != nil {
			t.Fatal(err)
		}
		got, err := re.idx.Instance(ctx, sop)
		if err != nil {
			t.Fatalf("rebuilt index lacks %s: %v", sop, err)
		}
		if got.BlobKey != want.BlobKey || got.SHA256 != want.SHA256 || got.Size != want.Size ||
			got.DatasetOffset != want.DatasetOffset || got.TransferSyntaxUID != want.TransferSyntaxUID ||
			got.SeriesInstanceUID != want.SeriesInstanceUID || got.Uploaded || got.Evicted {
			t.Errorf("%s rebuilt as %+v, was %+v", sop, got, want)
		}
		for _, lv := range [][2]dicom.JSONDataset{{got.StudyAttrs, want.StudyAttrs}, {got.SeriesAttrs, want.SeriesAttrs},
			{got.InstanceAttrs, want.InstanceAttrs}} {
			g, _ := json.Marshal(lv[0])
			w, _ := json.Marshal(lv[1])
			if string(g) != string(w) {
				t.Errorf("%s attributes rebuilt as %s, were %s", sop, g, w)
			}
		}
		if got.Origin.Transport != "reindex" || got.ReceivedAt.IsZero() {
			t.Errorf("%s origin %+v received %v", sop, got.Origin, got.ReceivedAt)
		}
	}
	wantV, _ := orig.idx.Versions(ctx, sops[0])
	gotV, err := re.idx.Versions(ctx, sops[0])
	if err != nil || len(gotV) != 1 || len(wantV) != 1 || gotV[0].BlobKey != wantV[0].BlobKey {
		t.Fatalf("versions rebuilt %+v (%v), were %+v", gotV, err, wantV)
	}
	// What the rebuilt index says can be read.
	if _, rc, err := re.a.OpenVersion(ctx, sops[0], gotV[0].ID); err != nil {
		t.Fatal(err)
	} else {
		rc.Close()
	}
	c, err := re.a.Check(ctx, store.CheckOptions{Hash: true})
	if err != nil || c.Missing+c.HashMismatch != 0 || c.Unreferenced != 1 {
		t.Fatalf("check of the rebuilt index = %+v, %v; want only the non-DICOM object unreferenced", c, err)
	}

	// Again: nothing new (an interrupted run is resumed the same way, without --force).
	st, err = re.a.Reindex(ctx, store.ReindexOptions{})
	if err != nil || st.Indexed != 0 || st.Known != 4 {
		t.Fatalf("second Reindex = %+v, %v; want the 4 known", st, err)
	}
	if vs, _ := re.idx.Versions(ctx, sops[0]); len(vs) != 1 {
		t.Fatalf("second run: %d versions", len(vs))
	}

	// The original index has instances and is not being rebuilt: refused, unless forced.
	if _, err := orig.a.Reindex(ctx, store.ReindexOptions{}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Reindex over a live index = %v, want ErrConflict", err)
	}
	st, err = orig.a.Reindex(ctx, store.ReindexOptions{Force: true})
	if err != nil || st.Indexed != 0 || st.Known != 4 {
		t.Fatalf("forced Reindex = %+v, %v; want the 4 known", st, err)
	}
}

// TestReindexVersionOrder: the versions of an instance come back in write order whatever
// order the store lists them in: an earlier object read after the current one is kept as
// a version, the current one stays current.
func TestReindexVersionOrder(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	orig := newEnvAt(t, data, t.TempDir())
	req := store.PutRequest{Origin: store.Origin{Site: "site:1"}}
	var keys []string
	for i := range 3 {
		inst := orig.put(t, obj{pixels: 16, fill: byte(i)}.bytes(), req)
		keys = append(keys, inst.BlobKey)
	}
	// Write times: the last Put newest, whatever order the content hashes list in.
	for i, k := range keys {
		at := time.Now().Add(time.Duration(i-3) * time.Hour)
		if err := os.Chtimes(filepath.Join(data, "blobs", filepath.FromSlash(k)), at, at); err != nil {
			t.Fatal(err)
		}
	}
	for _, workers := range []int{1, 3} {
		re := newEnvAt(t, data, t.TempDir())
		if _, err := re.a.Reindex(ctx, store.ReindexOptions{Workers: workers}); err != nil {
			t.Fatal(err)
		}
		cur, err := re.idx.Instance(ctx, "1.2.826.0.1.1.1.1")
		if err != nil || cur.BlobKey != keys[2] {
			t.Fatalf("workers %d: current %v (%v), want the last put %s", workers, cur, err, keys[2])
		}
		vs, err := re.idx.Versions(ctx, "1.2.826.0.1.1.1.1")
		if err != nil || len(vs) != 2 {
			t.Fatalf("workers %d: versions %+v, %v", workers, vs, err)
		}
	}
}
