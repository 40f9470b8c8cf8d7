package pgtest_test

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"pacsd/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestDBsAreSeparate: each test's database starts empty, whatever another test wrote.
func TestDBsAreSeparate(t *testing.T) {
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		c, err := pgx.Connect(ctx, pgtest.DB(t))
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := c.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename = 'mark'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("database %d already has the table another test made", i)
		}
		if _, err := c.Exec(ctx, `CREATE TABLE mark (v text)`); err != nil {
			t.Fatal(err)
		}
		c.Close(ctx)
	}
}
