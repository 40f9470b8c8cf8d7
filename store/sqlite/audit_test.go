package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"pacsd/audit"
	"pacsd/audit/audittest"
	"pacsd/store/sqlite"
)

func openAuditIndex(t testing.TB) (*sqlite.Index, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "index.db")
	idx, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	return idx, path
}

// openAuditDB opens a new audit.db; it is closed when the test ends.
func openAuditDB(t testing.TB) (*sqlite.AuditDB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), sqlite.AuditFile)
	a, err := sqlite.OpenAudit(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a, path
}

func TestAuditContract(t *testing.T) {
	audittest.Run(t, func(t *testing.T) audit.Store {
		a, _ := openAuditDB(t)
		return a
	})
}

// TestAuditContractInIndex: the trail in the index's own tables, where pacsd kept it before
// audit.db (and where older data directories still hold it), is the same store.
func TestAuditContractInIndex(t *testing.T) {
	audittest.Run(t, func(t *testing.T) audit.Store {
		idx, _ := openAuditIndex(t)
		return idx.Audit()
	})
}

// TestAuditAppendOnly: the database itself refuses to change an audit event or to remove
// one younger than the last retention horizon, whoever asks (here a second connection, as
// the sqlite3 shell would be); a purge then removes exactly the older ones.
func TestAuditAppendOnly(t *testing.T) {
	ctx := context.Background()
	trail, path := openAuditDB(t)
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := trail.Append(ctx, []audit.Event{
		{Time: old, Actor: audit.User(1, "li", "10.0.0.1"), Action: audit.ActionStudyView, PatientName: "张^伟", StudyUID: "1.1"},
		{Time: old.AddDate(1, 0, 0), Actor: audit.User(1, "li", "10.0.0.1"), Action: audit.ActionStudyView, PatientName: "张^伟", StudyUID: "1.2"},
	}); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", path+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, stmt := range []string{
		`UPDATE audit_events SET user_name = 'someone else'`,
		`UPDATE audit_events SET time = '2019-01-01T00:00:00.000000000Z' WHERE study_uid = '1.1'`,
		`DELETE FROM audit_events`,
		`DELETE FROM audit_events WHERE study_uid = '1.1'`,
		`DELETE FROM audit_names`,
		`UPDATE audit_names SET key = 'x'`,
	} {
		_, err := db.ExecContext(ctx, stmt)
		if err == nil || !strings.Contains(err.Error(), "audit") {
			t.Errorf("%s: %v, want refused by the audit trigger", stmt, err)
		}
	}
	if n, err := trail.Purge(ctx, old.AddDate(0, 6, 0)); err != nil || n != 1 {
		t.Fatalf("purge: %d, %v; want 1", n, err)
	}
	// Older than the horizon: the shell may remove it now (nothing left), newer still not.
	if _, err := db.ExecContext(ctx, `DELETE FROM audit_events WHERE study_uid = '1.2'`); err == nil {
		t.Error("deleting an event younger than the retention horizon succeeded")
	}
	// Nor can the horizon be moved, or the record of a purge removed.
	for _, stmt := range []string{`UPDATE audit_retention SET horizon = '2099'`, `DELETE FROM audit_retention`} {
		if _, err := db.ExecContext(ctx, stmt); err == nil || !strings.Contains(err.Error(), "audit") {
			t.Errorf("%s: %v, want refused by the audit trigger", stmt, err)
		}
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM audit_events`).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d events left, %v; want 1", n, err)
	}
	var horizon string
	var deleted int
	if err := db.QueryRowContext(ctx, `SELECT horizon, deleted FROM audit_retention`).Scan(&horizon, &deleted); err != nil ||
		!strings.HasPrefix(horizon, "2020-07-01") || deleted != 1 {
		t.Errorf("retention record %q %d, %v", horizon, deleted, err)
	}
}

// TestAuditImport: the first OpenAudit of a data directory whose index holds the trail (an
// older pacsd's) copies it into audit.db, IDs, name keys and retention horizon kept; later
// opens copy nothing; new events follow the old IDs; the index's tables are left as they
// were.
func TestAuditImport(t *testing.T) {
	ctx := context.Background()
	idx, indexPath := openAuditIndex(t)
	old := idx.Audit()
	at := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	var evs []audit.Event
	for i := range 30 {
		evs = append(evs, audit.Event{Time: at.Add(time.Duration(i) * 24 * time.Hour), Actor: audit.User(1, "li", "10.0.0.1"),
			Action: audit.ActionStudyView, PatientName: "张^伟", StudyUID: fmt.Sprint("1.", i)})
	}
	if err := old.Append(ctx, evs); err != nil {
		t.Fatal(err)
	}
	// The oldest ten purged: the horizon comes along, and their IDs are never given again.
	if n, err := old.Purge(ctx, at.AddDate(0, 0, 10)); err != nil || n != 10 {
		t.Fatalf("purge: %d, %v", n, err)
	}
	before, err := old.Search(ctx, audit.Filter{Limit: audit.MaxPage})
	if err != nil {
		t.Fatal(err)
	}

	trail, err := idx.OpenAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := sqlite.AuditPath(indexPath); got != filepath.Join(filepath.Dir(indexPath), "audit.db") {
		t.Errorf("AuditPath = %s", got)
	}
	for _, f := range []audit.Filter{{Limit: audit.MaxPage}, {PatientName: "zhangw", Limit: audit.MaxPage}} {
		got, err := trail.Search(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Events, before.Events) {
			t.Errorf("%+v in audit.db: %d events, want the index's %d, IDs kept", f, len(got.Events), len(before.Events))
		}
	}
	// Younger than the copied horizon: still refused by audit.db's triggers.
	db, err := sql.Open("sqlite3", sqlite.AuditPath(indexPath)+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `DELETE FROM audit_events WHERE study_uid = '1.20'`); err == nil {
		t.Error("deleting an imported event younger than the horizon succeeded")
	}
	if err := trail.Append(ctx, []audit.Event{{Actor: audit.System(), Action: audit.ActionDelete, Object: "new"}}); err != nil {
		t.Fatal(err)
	}
	if err := trail.Close(); err != nil {
		t.Fatal(err)
	}

	// A second start imports nothing again.
	trail, err = idx.OpenAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer trail.Close()
	all, err := trail.Search(ctx, audit.Filter{Limit: audit.MaxPage})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Events) != 21 || all.Events[0].Object != "new" || all.Events[0].ID <= before.Events[0].ID {
		t.Errorf("after reopening: %d events, newest %q #%d; want 21, new after #%d", len(all.Events),
			all.Events[0].Object, all.Events[0].ID, before.Events[0].ID)
	}
	if n, err := trail.ImportIndex(ctx, indexPath); err != nil || n != 0 {
		t.Errorf("import again: %d, %v; want 0", n, err)
	}
	// The index keeps its copy.
	if got, err := old.Search(ctx, audit.Filter{Limit: audit.MaxPage}); err != nil || len(got.Events) != 20 {
		t.Errorf("index's trail after the import: %d events, %v", len(got.Events), err)
	}
}

// TestAuditImportAtomic: an import that fails half way (here an ID already taken in
// audit.db) leaves audit.db as it was and unmarked, so that the next start tries again.
func TestAuditImportAtomic(t *testing.T) {
	ctx := context.Background()
	idx, indexPath := openAuditIndex(t)
	ev := audit.Event{Actor: audit.System(), Action: audit.ActionDelete}
	for _, o := range []string{"a", "b"} {
		ev.Object = o
		if err := idx.Audit().Append(ctx, []audit.Event{ev}); err != nil {
			t.Fatal(err)
		}
	}
	trail, err := sqlite.OpenAudit(ctx, sqlite.AuditPath(indexPath))
	if err != nil {
		t.Fatal(err)
	}
	defer trail.Close()
	ev.Object = "taken"
	if err := trail.Append(ctx, []audit.Event{ev}); err != nil {
		t.Fatal(err)
	}
	if n, err := trail.ImportIndex(ctx, indexPath); err == nil {
		t.Fatalf("import over a taken ID: %d, nil error", n)
	}
	got, err := trail.Search(ctx, audit.Filter{})
	if err != nil || len(got.Events) != 1 || got.Events[0].Object != "taken" {
		t.Fatalf("after a failed import: %+v, %v", got.Events, err)
	}
	// Once the conflict is gone (here: a fresh audit.db), the import runs and completes.
	fresh, err := sqlite.OpenAudit(ctx, filepath.Join(t.TempDir(), sqlite.AuditFile))
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if n, err := fresh.ImportIndex(ctx, indexPath); err != nil || n != 2 {
		t.Errorf("import: %d, %v; want 2", n, err)
	}
	if _, err := fresh.ImportIndex(ctx, filepath.Join(t.TempDir(), "missing.db")); err == nil {
		t.Error("import from a missing index succeeded")
	}
}
