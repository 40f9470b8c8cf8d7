package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	// The time zone database inside the binary: the county's zone must load on a server
	// without /usr/share/zoneinfo (a minimal container, some Windows machines).
	_ "time/tzdata"
)

// defaultTimezone is the zone a county in China reads: Beijing time.
const defaultTimezone = "Asia/Shanghai"

// countyLocation loads --timezone, a tz database name. "Local" and "" are refused: what the
// reading room shows must not change with the server's own setting.
func countyLocation(name string) (*time.Location, error) {
	name = strings.TrimSpace(name)
	if name == "" || name == "Local" {
		return nil, errors.New("--timezone: name a time zone of the tz database, e.g. Asia/Shanghai")
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("--timezone %q is not a time zone of the tz database (e.g. Asia/Shanghai): %w", name, err)
	}
	return loc, nil
}
