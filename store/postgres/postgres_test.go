package postgres_test

import (
	"context"
	"database/sql"
	"os"
	"sync"
	"testing"

	"pacsd/internal/pgtest"
	"pacsd/store/postgres"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// openIndex opens a new index on a fresh database; it is closed when the test ends.
func openIndex(t testing.TB) *postgres.Index {
	t.Helper()
	x, err := postgres.Open(context.Background(), pgtest.DB(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	return x
}

// TestNodesMigrateOnce: several nodes opening one new database at once each find it ready,
// and every migration ran exactly once.
func TestNodesMigrateOnce(t *testing.T) {
	ctx := context.Background()
	url := pgtest.DB(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x, err := postgres.Open(ctx, url)
			if err == nil {
				err = x.SetSetting(ctx, "node", "x")
				x.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n, distinct int
	if err := db.QueryRowContext(ctx, `SELECT count(*), count(DISTINCT version) FROM schema_version`).Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if n == 0 || n != distinct {
		t.Fatalf("schema_version has %d rows for %d versions", n, distinct)
	}
}

func TestSettings(t *testing.T) {
	ctx := context.Background()
	x := openIndex(t)
	if v, err := x.Setting(ctx, "remote"); err != nil || v != "" {
		t.Fatalf("unset setting = %q, %v", v, err)
	}
	for _, v := range []string{"s3://a", "s3://b"} {
		if err := x.SetSetting(ctx, "remote", v); err != nil {
			t.Fatal(err)
		}
		if got, err := x.Setting(ctx, "remote"); err != nil || got != v {
			t.Fatalf("setting = %q, %v; want %q", got, err, v)
		}
	}
}
