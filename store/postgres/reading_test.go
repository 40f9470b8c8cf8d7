package postgres_test

import (
	"context"
	"flag"
	"testing"

	"pacsd/reading"
	"pacsd/reading/readingtest"
	"pacsd/store/postgres"
)

// partial is the reading room's repository while parts of it are still missing on
// PostgreSQL: the methods *postgres.Reading lacks come from nil interfaces two levels down
// (its own win), and their contract tests are not run.
type partial struct {
	*postgres.Reading
	missing
}

type missing struct{ interfaces }

type interfaces struct {
	reading.Annotations
	reading.KeyImages
	reading.Workflow
	reading.Shares
}

// Priors is missing too (an interface's method of its own name cannot be promoted).
func (partial) Priors(context.Context, string, reading.PriorScope) ([]reading.Prior, error) {
	return nil, reading.ErrNotFound
}

// readingEnv opens a fresh index; AddStudy puts a contract study through its PutInstance,
// whose triggers make the study's reading row.
func readingEnv(t *testing.T) (*postgres.Index, readingtest.Env) {
	x := openIndex(t)
	return x, readingtest.Env{Repo: partial{Reading: x.Reading()}, AddStudy: func(t testing.TB, s readingtest.Study) {
		t.Helper()
		if _, err := x.PutInstance(context.Background(), readingtest.Instance(s)); err != nil {
			t.Fatal(err)
		}
	}}
}

// partialReading runs the contract on a repository that lacks parts (whose tests then
// fail): with -run naming the parts that are in, e.g.
// -run 'TestReadingContract/(Sites|Users|Sessions|Tokens|Reports|Worklist|Orders)$'.
var partialReading = flag.Bool("reading.partial", false, "run the reading contract on an incomplete repository")

func TestReadingContract(t *testing.T) {
	if _, ok := any(&postgres.Reading{}).(reading.Repository); !ok && !*partialReading {
		t.Skip("*postgres.Reading does not implement all of reading.Repository yet; see -reading.partial")
	}
	readingtest.Run(t, func(t *testing.T) readingtest.Env {
		_, e := readingEnv(t)
		return e
	})
}
