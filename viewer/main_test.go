package viewer

import (
	"os"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// TestMain lowers the bcrypt work factor: at the production cost each hash or login takes
// over a second under the race detector on the shared CI machine, and the tests make
// hundreds. What the tests check (which password verifies, limits, sessions) does not
// depend on the cost.
//
// The process runs in UTC, as servers often are: a time shown in the server's zone instead
// of the county's (Config.Location) is then wrong by hours, whatever the developer's zone.
func TestMain(m *testing.M) {
	bcryptCost = bcrypt.MinCost
	time.Local = time.UTC
	os.Exit(m.Run())
}
