package sqldb

import "time"

// TimeFormat is how both engines keep a time: UTC text of fixed width, so that text order
// is time order and one index serves both "newest first" and ranges.
const TimeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// FormatTime is t as TimeFormat text in UTC; the zero time is "".
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(TimeFormat)
}

// ParseTime reads FormatTime's text; "" and unreadable text are the zero time.
func ParseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(TimeFormat, s)
	if err != nil {
		return time.Time{}
	}
	return t
}
