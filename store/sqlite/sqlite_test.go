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

// TestEachInstanceVersion lists what Instances lists, in the same order, with the same
// UIDs and hashes.
func TestEachInstanceVersion(t *testing.T) {
	ctx := context.Background()
	x := openIndex(t)
	for _, f := range storetest.MatchingFixtures() {
		if _, err := x.PutInstance(ctx, f.Instance()); err != nil {
			t.Fatal(err)
		}
	}
	studies := map[string]bool{}
	for _, f := range storetest.MatchingFixtures() {
		studies[f.Study] = true
	}
	for study := range studies {
		all, err := x.Instances(ctx, study, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, series := range []string{"", all[0].SeriesInstanceUID} {
			want, _ := x.Instances(ctx, study, series)
			var got []string
			err := x.EachInstanceVersion(ctx, study, series, func(se, sop, sha string) error {
				got = append(got, se+"/"+sop+"/"+sha)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("study %s series %q: %d versions, Instances has %d", study, series, len(got), len(want))
			}
			for i, in := range want {
				if w := in.SeriesInstanceUID + "/" + in.SOPInstanceUID + "/" + in.SHA256; got[i] != w {
					t.Fatalf("study %s series %q #%d: %s, want %s", study, series, i, got[i], w)
				}
			}
		}
	}
	if err := x.EachInstanceVersion(ctx, "1.2.3.404", "", func(string, string, string) error {
		t.Fatal("called for an unknown study")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
