package readingtest

import "testing"

func testAnnotations(t *testing.T, e Env) { t.Skip("not yet built") }
