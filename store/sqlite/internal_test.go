package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"pacsd/dicom"
	"pacsd/store"
	"pacsd/store/storetest"
)

func openTest(t testing.TB) (*Index, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "index.db")
	x, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	return x, path
}

// TestWriteIsolation: writes that share a group-commit transaction do not share fate. A
// failing write leaves nothing, its neighbours commit, whichever way the writes are batched.
func TestWriteIsolation(t *testing.T) {
	x, _ := openTest(t)
	ctx := context.Background()
	errBoom := errors.New("boom")
	var wg sync.WaitGroup
	results := make([]error, 40)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = x.write(ctx, func(tx *sql.Tx) error {
				if _, err := tx.Exec("INSERT INTO schema_version (version, applied_at) VALUES (?, 'test')", 1000+i); err != nil {
					return err
				}
				if i%2 == 1 {
					return errBoom
				}
				return nil
			})
		}()
	}
	wg.Wait()
	for i, err := range results {
		if want := i%2 == 1; errors.Is(err, errBoom) != want || (!want && err != nil) {
			t.Errorf("write %d: %v", i, err)
		}
	}
	var n int
	if err := x.r.QueryRow("SELECT count(*) FROM schema_version WHERE version >= 1000 AND version % 2 = 0").Scan(&n); err != nil {
		t.Fatal(err)
	}
	var bad int
	if err := x.r.QueryRow("SELECT count(*) FROM schema_version WHERE version >= 1000 AND version % 2 = 1").Scan(&bad); err != nil {
		t.Fatal(err)
	}
	if n != 20 || bad != 0 {
		t.Fatalf("committed %d good and %d failed writes, want 20 and 0", n, bad)
	}
}

func TestReopenAndSchemaVersion(t *testing.T) {
	x, path := openTest(t)
	ctx := context.Background()
	if _, err := x.PutInstance(ctx, &store.Instance{StudyInstanceUID: "1.2", SeriesInstanceUID: "1.2.3",
		SOPInstanceUID: "1.2.3.4", BlobKey: "k.dcm", SHA256: "00"}); err != nil {
		t.Fatal(err)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	if err := x.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := x.PutInstance(ctx, &store.Instance{StudyInstanceUID: "1.2", SeriesInstanceUID: "1.2.3",
		SOPInstanceUID: "1.2.3.5", BlobKey: "k2.dcm"}); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("PutInstance after Close: %v, want ErrUnavailable", err)
	}

	y, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if _, err := y.Instance(ctx, "1.2.3.4"); err != nil {
		t.Fatalf("after reopen: %v", err)
	}
	var versions int
	if err := y.r.QueryRow("SELECT count(*) FROM schema_version").Scan(&versions); err != nil {
		t.Fatal(err)
	}
	files, _ := fs.Glob(migrations, "migrations/*.sql")
	if versions != len(files) {
		t.Fatalf("%d schema versions recorded after reopening, want %d (one per migration)", versions, len(files))
	}
	// A database written by a newer pacsd is refused rather than misread.
	if err := y.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec("INSERT INTO schema_version (version, applied_at) VALUES (999, 'future')")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	y.Close()
	if z, err := Open(ctx, path); err == nil || !strings.Contains(err.Error(), "newer") {
		if z != nil {
			z.Close()
		}
		t.Fatalf("Open of a newer schema: %v", err)
	}
}

// FuzzSearch feeds arbitrary matching values to the query builder and runs the SQL: the
// only acceptable failure is ErrInvalid (never a SQL syntax error, never a panic).
func FuzzSearch(f *testing.F) {
	for _, seed := range []string{"", "*", "?", "Zhang^Wei", "张*", `a\b`, "20240101-", "-", "0800-1200",
		"*=张*", "'; DROP TABLE studies; --", "[", "%_\\", "1.2.3", "=", "^^^", "12"} {
		f.Add(seed, uint8(0), false)
	}
	x, _ := openTest(f)
	tags := []dicom.Tag{dicom.TagPatientName, dicom.TagPatientID, dicom.TagStudyDate, dicom.TagStudyTime,
		dicom.TagStudyInstanceUID, dicom.TagModalitiesInStudy, dicom.TagSeriesNumber, dicom.TagIssuerOfPatientID,
		dicom.TagImageType, dicom.TagPatientAge, dicom.TagReferringPhysicianName, 0x00081060}
	f.Fuzz(func(t *testing.T, v string, which uint8, fuzzy bool) {
		tag := tags[int(which)%len(tags)]
		level := store.LevelInstance
		_, err := x.Search(context.Background(), store.Query{Level: level, Fuzzy: fuzzy,
			Matches: []store.Match{{Tag: tag, Value: v}}})
		if err != nil && !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("Search(%s=%q): %v", tag, v, err)
		}
	})
}

// A database written by the first release (schema 1) is upgraded in place: its instances
// become local, not uploaded, which is exactly what a folder archive's objects are.
func TestUpgradeFromSchema1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "index.db")
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	body, err := migrations.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		"CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
		string(body),
		"INSERT INTO schema_version VALUES (1, 'then')",
		"INSERT INTO studies (id, study_uid) VALUES (1, '1.2')",
		"INSERT INTO series (id, study_pk, series_uid) VALUES (1, 1, '1.2.3')",
		"INSERT INTO instances (series_pk, sop_uid, blob_key, size, sha256, received_at) VALUES (1, '1.2.3.4', 'k.dcm', 10, 'ab', '2026-01-02T03:04:05.000000000Z')",
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%.60s: %v", stmt, err)
		}
	}
	db.Close()

	x, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("open schema-1 database: %v", err)
	}
	defer x.Close()
	in, err := x.Instance(ctx, "1.2.3.4")
	if err != nil {
		t.Fatal(err)
	}
	if in.Uploaded || in.Evicted || in.BlobKey != "k.dcm" {
		t.Fatalf("upgraded instance = uploaded %v evicted %v key %q", in.Uploaded, in.Evicted, in.BlobKey)
	}
	u, err := x.Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if u != (store.Usage{Instances: 1, Bytes: 10, PendingObjects: 1, PendingBytes: 10, LocalObjects: 1, LocalBytes: 10}) {
		t.Fatalf("Usage after upgrade = %+v", u)
	}
}

func TestPinyinKeys(t *testing.T) {
	for _, c := range []struct {
		name string
		want []string // must all be among the keys
		none bool
	}{
		{name: "张伟", want: []string{"zhangwei"}},
		{name: "Zhang^Wei=张^伟", want: []string{"zhangwei"}},
		{name: "单田芳", want: []string{"dantianfang", "shantianfang"}}, // 单 as a surname is Shan
		{name: "曾^小东", want: []string{"zengxiaodong", "cengxiaodong"}},
		{name: "王㛃", want: []string{"wangjie"}}, // a GB18030 four-byte character
		{name: "Buc^Jérôme", none: true},
	} {
		keys := pinyinKeys(dicom.ParsePersonName(c.name))
		if c.none {
			if keys != nil {
				t.Errorf("%s: pinyin keys %q, want none", c.name, keys)
			}
			continue
		}
		if len(keys) > maxPinyinKeys {
			t.Errorf("%s: %d keys, more than %d", c.name, len(keys), maxPinyinKeys)
		}
		for _, w := range c.want {
			found := false
			for _, k := range keys {
				found = found || k == w
			}
			if !found {
				t.Errorf("%s: keys %q lack %q", c.name, keys, w)
			}
		}
	}
}

// TestFuzzyBackfill: fuzzy words (pn_fuzzy and the name keys) written by an older
// fuzzyWords are recomputed at open, once,
// so that a search improved since finds studies that arrived before.
func TestFuzzyBackfill(t *testing.T) {
	ctx := context.Background()
	x, path := openTest(t)
	f := storetest.Fixture{Study: "1.9.1", Series: "1.9.1.1", SOP: "1.9.1.1.1", SOPClass: storetest.ClassDX,
		PatientName: "张伟", Referring: "欧阳娜娜"}
	if _, err := x.PutInstance(ctx, f.Instance()); err != nil {
		t.Fatal(err)
	}
	found := func(x *Index, tag dicom.Tag, v string) bool {
		t.Helper()
		hits, err := x.Search(ctx, store.Query{Level: store.LevelStudy, Fuzzy: true, Matches: []store.Match{{Tag: tag, Value: v}}})
		if err != nil {
			t.Fatal(err)
		}
		return len(hits) == 1
	}
	if !found(x, dicom.TagPatientName, "伟") || !found(x, dicom.TagReferringPhysicianName, "娜娜") {
		t.Fatal("fuzzy given name not found in a one-word Chinese name")
	}
	// As an index written before version 2: no given names, no version setting.
	for _, stmt := range []string{"UPDATE studies SET pn_fuzzy = '^张伟^zhang^wei^zhangwei^', rp_fuzzy = ''",
		"DELETE FROM study_names WHERE kind = 2 AND key IN ('伟', '娜娜', '阳娜娜')",
		"DELETE FROM settings WHERE key = 'fuzzy_version'"} {
		if _, err := x.w.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	if found(x, dicom.TagPatientName, "伟") {
		t.Fatal("the old column still matches: the test would prove nothing")
	}
	x.Close()
	y, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer y.Close()
	if !found(y, dicom.TagPatientName, "伟") || !found(y, dicom.TagReferringPhysicianName, "娜娜") {
		t.Fatal("fuzzy words not recomputed at open")
	}
	var v string
	if err := y.r.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = 'fuzzy_version'").Scan(&v); err != nil || v != fuzzyVersion {
		t.Fatalf("fuzzy_version = %q, %v", v, err)
	}
}

func TestGivenNames(t *testing.T) {
	for _, c := range []struct {
		word string
		want []string
	}{
		{"张伟", []string{"伟"}},
		{"张小伟", []string{"小伟", "伟"}},
		{"欧阳娜娜", []string{"阳娜娜", "娜娜"}},
		{"张", nil},
		{"诸葛孔明先生", nil}, // five or more: not a name in one word
		{"zhangwei", nil},
		{"张wei", nil},
	} {
		if got := givenNames(c.word); !slices.Equal(got, c.want) {
			t.Errorf("givenNames(%q) = %q, want %q", c.word, got, c.want)
		}
	}
}

// TestNameKeysBackfill: an index written before study_names (0015) gets the name keys of
// its studies at open, in batches, and then finds them by name as a new one does.
func TestNameKeysBackfill(t *testing.T) {
	ctx := context.Background()
	x, path := openTest(t)
	names := []string{"张伟", "Zhang^Wei=张^伟", "李^娜", "Buc^Jérôme", "欧阳娜娜"}
	for i, n := range names {
		f := storetest.Fixture{Study: fmt.Sprintf("1.9.2.%d", i+1), Series: fmt.Sprintf("1.9.2.%d.1", i+1),
			SOP: fmt.Sprintf("1.9.2.%d.1.1", i+1), SOPClass: storetest.ClassDX, PatientName: n}
		if _, err := x.PutInstance(ctx, f.Instance()); err != nil {
			t.Fatal(err)
		}
	}
	queries := []struct {
		v     string
		fuzzy bool
	}{{"张*", false}, {"张伟", false}, {"zhang*", false}, {"jerome", true}, {"娜娜", true}, {"zhang wei", true}, {"Zhang^Wei=张^伟", false}}
	count := func(x *Index) []int {
		t.Helper()
		var out []int
		for _, q := range queries {
			hits, err := x.Search(ctx, store.Query{Level: store.LevelStudy, Fuzzy: q.fuzzy,
				Matches: []store.Match{{Tag: dicom.TagPatientName, Value: q.v}}})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, len(hits))
		}
		return out
	}
	want := count(x)
	if !slices.Equal(want, []int{2, 1, 1, 1, 1, 2, 1}) {
		t.Fatalf("matches before = %v", want)
	}
	for _, stmt := range []string{"DELETE FROM study_names", "DELETE FROM settings WHERE key = 'name_keys_version'"} {
		if _, err := x.w.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	if got := count(x); slices.Equal(got, want) {
		t.Fatal("found without keys: the test would prove nothing")
	}
	x.Close()
	defer func(n int) { backfillBatch = n }(backfillBatch)
	backfillBatch = 2 // several batches, the last one partial
	y, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer y.Close()
	if got := count(y); !slices.Equal(got, want) {
		t.Fatalf("matches after the backfill = %v, want %v", got, want)
	}
}
