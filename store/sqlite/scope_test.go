package sqlite_test

import (
	"context"
	"slices"
	"testing"

	"pacsd/reading"
	"pacsd/store"
	"pacsd/store/storetest"
)

// TestSiteScope: a query with Query.SiteID sees only the studies the reading room assigns
// to that site, at every level; without it, every study.
func TestSiteScope(t *testing.T) {
	ctx := context.Background()
	x := openIndex(t)
	a, err := x.Reading().PutSite(ctx, reading.Site{Name: "A", Institutions: []string{"Township A"}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := x.Reading().PutSite(ctx, reading.Site{Name: "B", Institutions: []string{"Township B"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range storetest.MatchingFixtures() {
		if _, err := x.PutInstance(ctx, f.Instance()); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		q    store.Query
		want []string
	}{
		{"county: studies", store.Query{}, []string{"1.2.2", "1.2.4", "1.2.6", "1.2.1", "1.2.3", "1.2.5"}},
		{"site A: studies", store.Query{SiteID: a.ID}, []string{"1.2.1"}},
		{"site B: studies", store.Query{SiteID: b.ID}, []string{"1.2.2"}},
		{"site B: by name", store.Query{SiteID: b.ID, Matches: []store.Match{{Tag: 0x00100010, Value: "张*"}}}, []string{"1.2.2"}},
		{"site A: another site's study", store.Query{SiteID: a.ID, StudyInstanceUID: "1.2.2"}, nil},
		{"site A: series", store.Query{Level: store.LevelSeries, SiteID: a.ID}, []string{"1.2.1.1"}},
		{"site A: instances", store.Query{Level: store.LevelInstance, SiteID: a.ID}, []string{"1.2.1.1.1"}},
		// Patient P1 has studies 1.2.1 (Township A) and 1.2.6 (no site): site A sees one.
		{"site A: patients", store.Query{Level: store.LevelPatient, SiteID: a.ID}, []string{"P1"}},
		{"county: patients P1", store.Query{Level: store.LevelPatient, Matches: []store.Match{{Tag: 0x00100020, Value: "P1"}}}, []string{"P1", "P1"}},
		{"unknown site", store.Query{SiteID: 999}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := storetest.SearchDatasets(ctx, x, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := storetest.ResultUIDs(res, tc.q.Level); !slices.Equal(got, tc.want) {
				t.Fatalf("Search = %q, want %q", got, tc.want)
			}
		})
	}
}
