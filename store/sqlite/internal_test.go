package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"pacsd/dicom"
	"pacsd/store"
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
	if versions != 1 {
		t.Fatalf("%d schema versions recorded after reopening, want 1", versions)
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
