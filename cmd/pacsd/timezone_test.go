package main

import (
	"bytes"
	"context"
	"go/build"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestTimezoneFlag: --timezone (PACSD_TIMEZONE) names the county's zone, Beijing time by
// default; a name the tz database lacks stops pacsd at start, saying so.
func TestTimezoneFlag(t *testing.T) {
	loc, err := countyLocation(defaultTimezone)
	if err != nil {
		t.Fatal(err)
	}
	if _, off := time.Date(2026, 3, 2, 9, 30, 0, 0, loc).Zone(); off != 8*3600 {
		t.Errorf("%s is UTC%+d, want +8", defaultTimezone, off/3600)
	}
	for _, c := range []struct {
		args []string
		env  string
	}{
		{args: []string{"--timezone", "Asia/Beijing"}},
		{args: []string{"--timezone", "Local"}},
		{env: "Mars/Olympus_Mons"},
	} {
		if c.env != "" {
			t.Setenv("PACSD_TIMEZONE", c.env)
		}
		var out bytes.Buffer
		err := runServe(context.Background(), append(c.args, "--data-dir", t.TempDir()), &out)
		if err == nil || !strings.Contains(err.Error(), "--timezone") || !strings.Contains(err.Error(), "tz database") {
			t.Errorf("%v %s: %v, want a refusal naming --timezone", c.args, c.env, err)
		}
	}
}

// TestTimezoneDatabaseBuiltIn: the binary carries the tz database (time/tzdata), so
// --timezone loads on a server without /usr/share/zoneinfo.
func TestTimezoneDatabaseBuiltIn(t *testing.T) {
	p, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(p.Imports, "time/tzdata") {
		t.Error("cmd/pacsd does not import time/tzdata")
	}
}
