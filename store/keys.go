package store

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"syscall"
)

// ValidUID reports whether s is a UID pacsd accepts as an identifier and as a path element:
// PS3.5 9.1 — at most 64 characters, numeric components separated by single dots. The rule
// that components have no leading zeros is deliberately not enforced: real modalities break
// it, and such UIDs are still unambiguous and path-safe.
func ValidUID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	prevDot := true // a leading dot is an empty component
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			if prevDot {
				return false
			}
			prevDot = true
		case c >= '0' && c <= '9':
			prevDot = false
		default:
			return false
		}
	}
	return !prevDot
}

// BlobKey is where the archive keeps one object:
//
//	<2 hex of sha256(study)>/<study>/<series>/<sop>.<16 hex of the content SHA-256>.dcm
//
// The leading hash spreads studies over 256 folders; the content hash makes two versions of
// one instance (a corrected re-send) distinct keys, so writing the new one never touches the
// old one until the index has switched over. The UIDs must satisfy ValidUID and contentSHA
// must be a hex SHA-256, which makes every element a safe path component.
func BlobKey(studyUID, seriesUID, sopUID, contentSHA string) string {
	h := sha256.Sum256([]byte(studyUID))
	return hex.EncodeToString(h[:1]) + "/" + studyUID + "/" + seriesUID + "/" + sopUID + "." + contentSHA[:16] + ".dcm"
}

// IsNoSpace reports whether err is a full filesystem or an exhausted quota (ENOSPC, EDQUOT),
// which callers report as ErrNoSpace ("out of resources") rather than a generic failure.
func IsNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, ErrNoSpace)
}
