package postgres_test

import (
	"context"
	"testing"

	"pacsd/store/storetest"
)

// TestPutInstanceGet: what the other repositories' tests need first (the reading room adds
// studies through PutInstance).
func TestPutInstanceGet(t *testing.T) {
	ctx := context.Background()
	x := openIndex(t)
	fs := storetest.MatchingFixtures()
	for _, f := range fs {
		if _, err := x.PutInstance(ctx, f.Instance()); err != nil {
			t.Fatal(err)
		}
	}
	got, err := x.Instance(ctx, fs[0].SOP)
	if err != nil {
		t.Fatal(err)
	}
	if got.StudyInstanceUID != fs[0].Study || got.SeriesInstanceUID != fs[0].Series {
		t.Fatalf("instance %s is in %s/%s, want %s/%s", fs[0].SOP, got.StudyInstanceUID, got.SeriesInstanceUID, fs[0].Study, fs[0].Series)
	}
	list, err := x.Instances(ctx, fs[0].Study, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) == 0 || list[0].StudyInstanceUID != fs[0].Study {
		t.Fatalf("instances of %s: %d", fs[0].Study, len(list))
	}
}
