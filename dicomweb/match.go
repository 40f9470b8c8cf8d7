package dicomweb

import (
	"errors"
	"strings"

	"pacsd/dicom"
	"pacsd/store"
)

// Matching values of QIDO-RS queries are checked by store.ParseMatch, the one place both
// QIDO-RS and C-FIND take PS3.4 C.2.2.2 from: a value the index would misread is refused
// with a message saying what to send.

// matchValue checks a matching value and returns it in the form store.Match expects. An
// empty value is universal matching (PS3.4 C.2.2.2.3): the attribute is only returned.
func matchValue(tag dicom.Tag, v string) (string, error) {
	if info, ok := dicom.LookupTag(tag); ok && info.VR == "UI" {
		// PS3.18 8.3.4.1 lets a list of UIDs be separated by commas as well as by the
		// DICOM backslash.
		v = strings.ReplaceAll(v, ",", `\`)
	}
	m, err := store.ParseMatch(tag, v)
	var me *store.MatchError
	if errors.As(err, &me) {
		msg := me.Msg
		if me.Syntax && strings.Contains(v, " ") {
			msg += "; note that '+' in a query string means a space, send a literal '+' as %2B"
		}
		return "", badRequest("%s", msg)
	}
	if err != nil {
		return "", err
	}
	return m.Value, nil
}
