package postgres_test

import (
	"context"
	"testing"

	"pacsd/reading/readingtest"
)

// TestReadingFeaturesContract runs the whole contract on x.Reading() (temporary: pgreada's
// TestReadingContract will).
func TestReadingFeaturesContract(t *testing.T) {
	readingtest.Run(t, func(t *testing.T) readingtest.Env {
		x := openIndex(t)
		return readingtest.Env{Repo: x.Reading(), AddStudy: func(t testing.TB, s readingtest.Study) {
			t.Helper()
			if _, err := x.PutInstance(context.Background(), readingtest.Instance(s)); err != nil {
				t.Fatal(err)
			}
		}}
	})
}
