package dicom

import (
	"errors"
	"fmt"
	"strings"
)

// MaxUIDLen is the longest a UID may be, in characters (PS3.5 9.1).
const MaxUIDLen = 64

// UIDRule is how strictly CheckUID applies PS3.5 9.1. The zero value is the standard as
// written.
type UIDRule uint8

const (
	// UIDStrict is PS3.5 9.1: 1 to 64 characters; components of digits separated by single
	// dots; no component starts with 0 unless it is the single digit 0.
	UIDStrict UIDRule = 0

	// UIDLeadingZeros is UIDStrict except that components may have leading zeros
	// ("1.2.03.4"). Such UIDs break PS3.5 9.1 but real modalities send them, and they are
	// still unambiguous and safe as path elements. pacsd archives what it is sent, since
	// refusing the object would lose the image; so what names a stored object (its File
	// Meta, queries, URL paths, C-STORE forwarding, SR references) accepts them as well.
	UIDLeadingZeros UIDRule = 1
)

// CheckUID reports why uid is not a UID under rule, or returns nil. uid is the bare value:
// padding from the wire is removed first (TrimUID).
func CheckUID(uid string, rule UIDRule) error {
	if uid == "" {
		return errors.New("empty UID")
	}
	if len(uid) > MaxUIDLen {
		return fmt.Errorf("UID %q longer than %d characters (PS3.5 9.1)", short(uid), MaxUIDLen)
	}
	start := 0 // first byte of the current component
	for i := 0; i <= len(uid); i++ {
		if i < len(uid) && uid[i] != '.' {
			if c := uid[i]; c < '0' || c > '9' {
				return fmt.Errorf("UID %q has character %q: only digits and '.' (PS3.5 9.1)", uid, c)
			}
			continue
		}
		switch {
		case i == start:
			return fmt.Errorf("UID %q has an empty component (PS3.5 9.1)", uid)
		case rule != UIDLeadingZeros && uid[start] == '0' && i-start > 1:
			return fmt.Errorf("UID %q has a component with a leading zero (PS3.5 9.1)", uid)
		}
		start = i + 1
	}
	return nil
}

// ValidUID reports whether CheckUID accepts uid under rule.
func ValidUID(uid string, rule UIDRule) bool { return CheckUID(uid, rule) == nil }

// TrimUID drops the padding a UID carries on the wire: the NUL that makes its length even
// (PS3.5 9.1) or the space that lenient peers use instead.
func TrimUID(s string) string { return strings.TrimRight(s, "\x00 ") }

// short cuts s for an error message.
func short(s string) string {
	if len(s) > MaxUIDLen+8 {
		return s[:MaxUIDLen+8] + "..."
	}
	return s
}
