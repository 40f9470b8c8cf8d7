package sqlite_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"pacsd/store/storetest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestMatchingGolden pins the complete results (attributes, derived attributes, order) of
// each matching rule; storetest's Matching suite checks only which UIDs come back.
// Run with -update after an intended change and review the diff.
func TestMatchingGolden(t *testing.T) {
	x := openIndex(t)
	ctx := context.Background()
	for _, f := range storetest.MatchingFixtures() {
		if _, err := x.PutInstance(ctx, f.Instance()); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range storetest.MatchingCases() {
		if tc.Invalid {
			continue
		}
		t.Run(tc.Name, func(t *testing.T) {
			res, err := storetest.SearchDatasets(ctx, x, tc.Query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(res, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", "match_"+tc.Name+".json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("results differ from %s (run with -update after an intended change):\n%s", path, got)
			}
		})
	}
}
