package viewer

import (
	"os"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// TestMain lowers the bcrypt work factor: at the production cost each hash or login takes
// over a second under the race detector on the shared CI machine, and the tests make
// hundreds. What the tests check (which password verifies, limits, sessions) does not
// depend on the cost.
func TestMain(m *testing.M) {
	bcryptCost = bcrypt.MinCost
	os.Exit(m.Run())
}
