package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"pacsd/reading/readingtest"
	"pacsd/store/sqlite"
	"pacsd/store/storetest"
)

func TestReadingContract(t *testing.T) {
	readingtest.Run(t, func(t *testing.T) readingtest.Env {
		idx, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "index.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { idx.Close() })
		return readingtest.Env{Repo: idx.Reading(), AddStudy: func(t testing.TB, s readingtest.Study) {
			t.Helper()
			if _, err := idx.PutInstance(context.Background(), readingInstance(s)); err != nil {
				t.Fatal(err)
			}
		}}
	})
}

// TestUpgradeKeepsPasswords: accounts made before migration 0005 do not have to change
// their password when pacsd is upgraded; only passwords set from then on can be marked.
func TestUpgradeKeepsPasswords(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "index.db")
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	stmts := []string{"CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"}
	for i, name := range []string{"0001_init.sql", "0002_writeback.sql", "0003_reading.sql", "0004_pinyin.sql"} {
		body, err := os.ReadFile(filepath.Join("migrations", name))
		if err != nil {
			t.Fatal(err)
		}
		stmts = append(stmts, string(body), fmt.Sprintf("INSERT INTO schema_version VALUES (%d, 'then')", i+1))
	}
	stmts = append(stmts, `INSERT INTO users (username, role, password_hash) VALUES ('li', 'radiologist', 'h')`)
	for _, stmt := range stmts {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%.60s: %v", stmt, err)
		}
	}
	db.Close()

	idx, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("open a schema-4 database: %v", err)
	}
	defer idx.Close()
	r := idx.Reading()
	u, err := r.UserByName(ctx, "li")
	if err != nil {
		t.Fatal(err)
	}
	if u.MustChangePassword {
		t.Error("an account older than the must-change flag has it after the upgrade")
	}
	u.MustChangePassword = true
	if err := r.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if u, err = r.User(ctx, u.ID); err != nil || !u.MustChangePassword {
		t.Errorf("after setting the flag on an upgraded database: %+v %v", u, err)
	}
}

// readingInstance is the index record of a contract-test study (storetest.ReadingInstance).
var readingInstance = storetest.ReadingInstance
