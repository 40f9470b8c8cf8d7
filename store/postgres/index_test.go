package postgres_test

import (
	"context"
	"strings"
	"testing"

	"pacsd/store"
	"pacsd/store/postgres"
	"pacsd/store/sqldb"
	"pacsd/store/storetest"
)

// openSearchIndex is openIndex for the index's searches, which read the reading room's
// reading_studies for their scope (0003_reading.sql; stubReadingStudies makes a stand-in
// where it is missing, which it no longer is: kept for the tests written before it was).
func openSearchIndex(t testing.TB) *postgres.Index {
	x := openIndex(t)
	stubReadingStudies(t, x)
	return x
}

func stubReadingStudies(t testing.TB, x *postgres.Index) {
	t.Helper()
	if _, err := x.DB().Exec(`CREATE TABLE IF NOT EXISTS reading_studies (
		study_pk bigint PRIMARY KEY REFERENCES studies (id) ON DELETE CASCADE,
		study_uid text NOT NULL DEFAULT '', site_id bigint, quarantined integer NOT NULL DEFAULT 0);
		CREATE INDEX IF NOT EXISTS reading_studies_site ON reading_studies (site_id);
		CREATE INDEX IF NOT EXISTS reading_studies_quarantined ON reading_studies (study_pk) WHERE quarantined = 1`); err != nil {
		t.Fatal(err)
	}
}

func TestIndexContract(t *testing.T) {
	storetest.RunIndex(t, func(t *testing.T) store.Index { return openSearchIndex(t) })
}

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

// TestNameKeysVersion: the database records the versions of the name keys it holds, and
// they are the ones this pacsd computes. A change of sqldb.FuzzyVersion or NameKeysVersion
// needs a rewrite of the keys on PostgreSQL too (SQLite's backfillNames), which this
// test's failure asks for.
func TestNameKeysVersion(t *testing.T) {
	ctx := context.Background()
	x := openIndex(t)
	for key, want := range map[string]string{"fuzzy_version": sqldb.FuzzyVersion, "name_keys_version": sqldb.NameKeysVersion} {
		if got, err := x.Setting(ctx, key); err != nil || got != want {
			t.Errorf("setting %s = %q, %v; this pacsd writes %q", key, got, err, want)
		}
	}
}

// TestSearchScope: a township's search (Query.SiteID) finds the studies the reading room
// assigns to its site; a study begun by an unknown sender (Origin.Quarantined) is held
// from every search but an administrator's (WithQuarantined), and an unknown sender's
// object added to a known study does not hide it.
func TestSearchScope(t *testing.T) {
	ctx := context.Background()
	x := openIndex(t)
	put := func(f storetest.Fixture, quarantined bool) {
		t.Helper()
		inst := f.Instance()
		inst.Origin.Quarantined = quarantined
		if _, err := x.PutInstance(ctx, inst); err != nil {
			t.Fatal(err)
		}
	}
	f := func(study, sop string) storetest.Fixture {
		return storetest.Fixture{Study: study, Series: study + ".1", SOP: sop, SOPClass: storetest.ClassCT,
			Modality: "CT", PatientName: "Scope^Test", PatientID: "S1"}
	}
	put(f("1.8.1", "1.8.1.1.1"), false)
	put(f("1.8.2", "1.8.2.1.1"), false)
	put(f("1.8.3", "1.8.3.1.1"), true) // begun by an unknown sender: held
	put(f("1.8.1", "1.8.1.1.2"), true) // added to a known study: not held
	if _, err := x.DB().ExecContext(ctx, `UPDATE reading_studies SET site_id = 7 WHERE study_uid = '1.8.2'`); err != nil {
		t.Fatal(err)
	}
	uids := func(q store.Query) string {
		t.Helper()
		hits, err := x.Search(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, h := range hits {
			out = append(out, h.StudyUID)
		}
		return strings.Join(out, " ")
	}
	for _, c := range []struct {
		name string
		q    store.Query
		want string
	}{
		{"everybody", store.Query{}, "1.8.1 1.8.2"},
		{"administrator", store.Query{WithQuarantined: true}, "1.8.1 1.8.2 1.8.3"},
		{"site 7", store.Query{SiteID: 7}, "1.8.2"},
		{"site 8", store.Query{SiteID: 8}, ""},
	} {
		if got := uids(c.q); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	// The patient S1 as site 7 sees it: one study.
	hits, err := x.Search(ctx, store.Query{Level: store.LevelPatient, SiteID: 7})
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 1 || hits[0].PatientStudies != 1 {
		t.Errorf("site 7's patients: %+v, want one with one study", hits)
	}
}
