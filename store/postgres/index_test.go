package postgres_test

import (
	"context"
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
