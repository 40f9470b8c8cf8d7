package store

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"strings"
	"syscall"
)

// BlobKey is where the archive keeps one object:
//
//	<2 hex of sha256(study)>/<study>/<series>/<sop>.<16 hex of the content SHA-256>.dcm
//
// The leading hash spreads studies over 256 folders; the content hash makes two versions of
// one instance (a corrected re-send) distinct keys, so writing the new one never touches the
// old one until the index has switched over. The UIDs must be valid (dicom.ValidUID with
// dicom.UIDLeadingZeros, as Put checks) and contentSHA a hex SHA-256, which makes every
// element a safe path component.
func BlobKey(studyUID, seriesUID, sopUID, contentSHA string) string {
	h := sha256.Sum256([]byte(studyUID))
	return hex.EncodeToString(h[:1]) + "/" + studyUID + "/" + seriesUID + "/" + sopUID + "." + contentSHA[:16] + ".dcm"
}

// ValidBlobKey reports whether key may name a blob, in every Blobs implementation (the
// Blobs contract): a clean, relative, slash-separated path (io/fs.ValidPath) whose elements
// do not start with a dot, so that no key can escape a folder, alias another key, or name a
// backend's own files (the folder's temporary files, the bucket's probe objects). Keys
// BlobKey makes are valid; one rule for both backends lets a bucket be migrated to a folder
// and back.
func ValidBlobKey(key string) bool {
	if key == "" || key == "." || !fs.ValidPath(key) || strings.ContainsAny(key, "\\\x00") {
		return false
	}
	for _, el := range strings.Split(key, "/") {
		if strings.HasPrefix(el, ".") {
			return false
		}
	}
	return true
}

// IsNoSpace reports whether err is a full filesystem or an exhausted quota (ENOSPC, EDQUOT),
// which callers report as ErrNoSpace ("out of resources") rather than a generic failure.
func IsNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, ErrNoSpace)
}
