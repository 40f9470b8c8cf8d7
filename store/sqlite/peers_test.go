package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"pacsd/reading"
	"pacsd/reading/readingtest"
	"pacsd/store"
	"pacsd/store/sqlite"
)

// TestUpgradeSiteAEsBecomePeers: migration 0009 turns every AE title of the sites registry
// (site_aes) into a store-only peer of its site, and studies are attributed through the
// peers from then on.
func TestUpgradeSiteAEsBecomePeers(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "index.db")
	db, err := sql.Open("sqlite3", path+"?_foreign_keys=on")
	if err != nil {
		t.Fatal(err)
	}
	stmts := []string{"CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"}
	for v := 1; v <= 8; v++ {
		names, err := filepath.Glob(filepath.Join("migrations", fmt.Sprintf("%04d_*.sql", v)))
		if err != nil || len(names) != 1 {
			t.Fatalf("migration %d: %v %v", v, names, err)
		}
		body, err := os.ReadFile(names[0])
		if err != nil {
			t.Fatal(err)
		}
		stmts = append(stmts, string(body), fmt.Sprintf("INSERT INTO schema_version VALUES (%d, 'then')", v))
	}
	stmts = append(stmts,
		`INSERT INTO sites (id, name) VALUES (1, '甲镇'), (2, '乙镇')`,
		`INSERT INTO site_aes (ae, site_id) VALUES ('TOWN_A', 1), ('TOWN_A_US', 1), ('TOWN_B', 2)`,
		// Instances stored before the overwrite rule (migration 0010 names their sites).
		`INSERT INTO studies (id, study_uid) VALUES (1, '9.1')`,
		`INSERT INTO series (id, study_pk, series_uid) VALUES (1, 1, '9.1.1')`,
		`INSERT INTO instances (series_pk, sop_uid, blob_key, size, sha256, calling_ae, transport) VALUES
			(1, '9.1.1.1', 'k1', 1, 'a', 'TOWN_A_US', 'dimse'),
			(1, '9.1.1.2', 'k2', 1, 'b', 'STRANGER', 'dimse'),
			(1, '9.1.1.3', 'k3', 1, 'c', '', 'stow')`)
	for _, stmt := range stmts {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%.60s: %v", stmt, err)
		}
	}
	db.Close()

	idx, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("open a schema-8 database: %v", err)
	}
	defer idx.Close()
	for sop, want := range map[string]string{"9.1.1.1": "site:1", "9.1.1.2": "ae:STRANGER", "9.1.1.3": "county"} {
		inst, err := idx.Instance(ctx, sop)
		if err != nil {
			t.Fatal(err)
		}
		if inst.Origin.Site != want {
			t.Errorf("instance %s stored before 0010: site %q, want %q", sop, inst.Origin.Site, want)
		}
	}
	r := idx.Reading()
	peers, err := r.Peers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range peers {
		if !p.MayStore || p.MayQuery || p.MayRetrieve || p.Destination || len(p.Addresses) != 0 {
			t.Errorf("migrated peer %+v, want store-only", p)
		}
		got = append(got, fmt.Sprintf("%s@%d", p.AETitle, p.SiteID))
	}
	if want := []string{"TOWN_A@1", "TOWN_A_US@1", "TOWN_B@2"}; !slices.Equal(got, want) {
		t.Errorf("peers after the upgrade: %v, want %v", got, want)
	}
	sites, err := r.Sites(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(sites) != 2 || !slices.Equal(sites[1].AETitles, []string{"TOWN_A", "TOWN_A_US"}) || !slices.Equal(sites[0].AETitles, []string{"TOWN_B"}) {
		t.Errorf("sites after the upgrade: %+v", sites)
	}
	// A study arriving now is attributed through the peers.
	if _, err := idx.PutInstance(ctx, readingInstance(readingtest.Study{UID: "7.1", CallingAE: "TOWN_B", ReceivedAt: time.Now()})); err != nil {
		t.Fatal(err)
	}
	if row, err := r.Study(ctx, "7.1"); err != nil || row.SiteID != 2 {
		t.Errorf("study from TOWN_B: %+v %v, want site 2", row, err)
	}
}

// TestSearchLeavesOutQuarantined: an index search finds a study held in quarantine only
// when asked WithQuarantined (an administrator), at every level, until it is assigned.
func TestSearchLeavesOutQuarantined(t *testing.T) {
	ctx := context.Background()
	idx, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	for _, s := range []readingtest.Study{
		{UID: "6.1", PatientID: "P1", CallingAE: "STRANGER", Quarantined: true, ReceivedAt: time.Now()},
		{UID: "6.2", PatientID: "P2", CallingAE: "TOWN_A", ReceivedAt: time.Now()},
	} {
		if _, err := idx.PutInstance(ctx, readingInstance(s)); err != nil {
			t.Fatal(err)
		}
	}
	found := func(q store.Query) []string {
		t.Helper()
		hits, err := idx.Search(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, h := range hits {
			out = append(out, h.StudyUID)
		}
		slices.Sort(out)
		return out
	}
	for _, level := range []store.Level{store.LevelStudy, store.LevelSeries, store.LevelInstance} {
		if got := found(store.Query{Level: level}); !slices.Equal(got, []string{"6.2"}) {
			t.Errorf("level %d: found %v, want only 6.2", level, got)
		}
		if got := found(store.Query{Level: level, WithQuarantined: true}); !slices.Equal(got, []string{"6.1", "6.2"}) {
			t.Errorf("level %d WithQuarantined: found %v, want 6.1 and 6.2", level, got)
		}
	}
	// An unknown sender's object added to a known site's study does not hide that study.
	intruder := readingInstance(readingtest.Study{UID: "6.2", PatientID: "P2", CallingAE: "STRANGER", Quarantined: true, ReceivedAt: time.Now()})
	intruder.SOPInstanceUID, intruder.BlobKey = intruder.SOPInstanceUID+".9", "k/6.2.9.dcm"
	if _, err := idx.PutInstance(ctx, intruder); err != nil {
		t.Fatal(err)
	}
	if got := found(store.Query{Level: store.LevelStudy}); !slices.Equal(got, []string{"6.2"}) {
		t.Errorf("after an unknown sender's object joined 6.2: found %v, want 6.2 still", got)
	}
	r := idx.Reading()
	site, err := r.PutSite(ctx, reading.Site{Name: "甲镇"})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.AssignStudy(ctx, "6.1", site.ID); err != nil {
		t.Fatal(err)
	}
	if got := found(store.Query{Level: store.LevelStudy}); !slices.Equal(got, []string{"6.1", "6.2"}) {
		t.Errorf("after assignment: found %v, want 6.1 and 6.2", got)
	}
}
