package dicomweb

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"pacsd/dicom"
	"pacsd/store"
)

// A QIDO-RS answer in JSON is spliced from the attributes as the index stores them (DICOM
// JSON already) rather than decoded and encoded again: a page of a hundred studies is
// 75 KB of JSON, and the round trip through Go maps was most of a search's time and nearly
// all of its garbage.

// member is one attribute of a DICOM JSON object: its key (eight hex digits) and its raw
// value object. rank says which source wins when two carry the same key: the derived
// attributes over the instance's, the instance's over the series', the series' over the
// study's, as when the levels are merged into one data set.
type member struct {
	key, val []byte
	rank     int8
}

const (
	rankStudy int8 = iota
	rankSeries
	rankInstance
	rankDerived
)

var (
	keyCharset         = []byte(dicom.TagSpecificCharacterSet.Hex())
	keyAvailability    = []byte(dicom.TagInstanceAvailability.Hex())
	keyModalities      = []byte(dicom.TagModalitiesInStudy.Hex())
	keyStudySeries     = []byte(dicom.TagNumberOfStudyRelatedSeries.Hex())
	keyStudyInstances  = []byte(dicom.TagNumberOfStudyRelatedInstances.Hex())
	keySeriesInstances = []byte(dicom.TagNumberOfSeriesRelatedInstances.Hex())
	keyRetrieveURL     = []byte(dicom.TagRetrieveURL.Hex())
	keyAvailableTS     = []byte(dicom.TagAvailableTransferSyntaxUID.Hex())

	// Values are UTF-8 whatever the object was encoded in; a Specific Character Set
	// copied from the object would mislabel them (PS3.18 F.2: DICOM JSON is UTF-8).
	valCharsetUTF8 = []byte(`{"vr":"CS","Value":["ISO_IR 192"]}`)
	// Instance Availability (0008,0056) "shall be present if known": everything the index
	// lists is retrievable at once (PS3.3 C.4.23.1.1, ONLINE).
	valOnline = []byte(`{"vr":"CS","Value":["ONLINE"]}`)
)

// hitWriter appends QIDO-RS results as DICOM JSON, keeping the attributes the request
// returns (PS3.18 10.6.3.3) in ascending tag order (F.2.1) and adding Retrieve URL.
type hitWriter struct {
	t        searchTarget
	req      *searchRequest
	keep     map[string]bool // the target's defaults and the keys asked: one look-up a member
	base     string
	baseJSON []byte   // base as the start of a JSON string (quote, escaped text)
	members  []member // reused from one hit to the next
	derived  []byte   // the derived attributes' values, reused likewise
}

func newHitWriter(t searchTarget, req *searchRequest, base string) *hitWriter {
	keep := map[string]bool{}
	maps.Copy(keep, defaultReturnKeys[t])
	maps.Copy(keep, req.returnKeys)
	b := appendJSONString(nil, base)
	return &hitWriter{t: t, req: req, keep: keep, base: base, baseJSON: b[:len(b)-1]}
}

func (w *hitWriter) returned(key []byte) bool {
	return w.req.includeAll || w.keep[string(key)]
}

// appendRetrieveURL appends the Retrieve URL of a hit (joinRetrieveURL) as a JSON string;
// ok is false when a UID its level needs is missing. UIDs are digits and dots, which
// neither a path nor JSON escapes: they are appended as they stand.
func (w *hitWriter) appendRetrieveURL(dst []byte, level store.Level, study, series, inst string) ([]byte, bool) {
	uids := [3]string{study, series, inst}
	parts := [3]string{"/studies/", "/series/", "/instances/"}
	n := int(level - store.LevelStudy + 1)
	for _, u := range uids[:n] {
		if u == "" {
			return dst, false
		}
		if strings.Trim(u, "0123456789.") != "" {
			u := joinRetrieveURL(w.base, level, study, series, inst)
			return appendJSONString(dst, u), true
		}
	}
	dst = append(dst, w.baseJSON...)
	for i, u := range uids[:n] {
		dst = append(append(dst, parts[i]...), u...)
	}
	return append(dst, '"'), true
}

// append appends h as one JSON object.
func (w *hitWriter) append(buf []byte, h store.Hit) ([]byte, error) {
	w.members = w.members[:0]
	var bounds [5]int // where each run of members starts: each level's, the derived ones
	runs := 0
	for _, l := range []struct {
		obj  []byte
		rank int8
	}{{h.Study, rankStudy}, {h.Series, rankSeries}, {h.Instance, rankInstance}} {
		if l.obj == nil {
			continue
		}
		bounds[runs] = len(w.members)
		runs++
		err := eachMember(l.obj, func(key, val []byte) {
			if !w.returned(key) {
				return
			}
			if bytes.Equal(key, keyCharset) {
				val = valCharsetUTF8
			}
			w.members = append(w.members, member{key, val, l.rank})
		})
		if err != nil {
			return buf, fmt.Errorf("stored attributes of study %s: %w", h.StudyUID, err)
		}
	}

	// The derived values are written into one buffer first and sliced afterwards, since
	// appending may move it.
	level := w.t.level()
	w.derived = w.derived[:0]
	type span struct {
		key        []byte
		start, end int
	}
	var spans [7]span
	n := 0
	add := func(key []byte, write func()) {
		if !w.returned(key) {
			return
		}
		start := len(w.derived)
		write()
		spans[n] = span{key, start, len(w.derived)}
		n++
	}
	count := func(key []byte, v int) {
		add(key, func() {
			w.derived = append(w.derived, `{"vr":"IS","Value":[`...)
			w.derived = strconv.AppendInt(w.derived, int64(v), 10)
			w.derived = append(w.derived, "]}"...)
		})
	}
	// In tag order, so that they are a run in order (writeMembers).
	add(keyAvailability, func() { w.derived = append(w.derived, valOnline...) })
	add(keyModalities, func() {
		w.derived = append(w.derived, `{"vr":"CS"`...)
		if len(h.ModalitiesInStudy) > 0 {
			w.derived = append(w.derived, `,"Value":[`...)
			for i, m := range h.ModalitiesInStudy {
				if i > 0 {
					w.derived = append(w.derived, ',')
				}
				w.derived = appendJSONString(w.derived, m)
			}
			w.derived = append(w.derived, ']')
		}
		w.derived = append(w.derived, '}')
	})
	start := len(w.derived)
	w.derived = append(w.derived, `{"vr":"UR","Value":[`...)
	if d, ok := w.appendRetrieveURL(w.derived, level, h.StudyUID, h.SeriesUID, h.SOPInstanceUID); ok {
		w.derived = append(d, "]}"...)
		spans[n] = span{keyRetrieveURL, start, len(w.derived)}
		n++
	} else {
		w.derived = w.derived[:start]
	}
	// Available Transfer Syntax UID (0008,3002), an instance-level attribute (PS3.18
	// 10.6.3.3.3): the Transfer Syntaxes the server "can assure will be supported for
	// retrieval". That is the stored syntax only: it goes out byte for byte
	// (transfer-syntax=*). Explicit VR Little Endian is not listed although WADO-RS
	// transcodes to it: transcodable predicts from the index, and damaged or unusual pixel
	// data still fails when decoded, so it cannot be assured; it is the default syntax
	// every origin server converts to where it can (PS3.18 8.7.3.4), which a client knows
	// without being told; and viewers take its first value for the syntax the object is in
	// (Cornerstone, OHIF's image loader, decodes frames by it when (0002,0010) is absent).
	// The WADO-RS metadata says the same (record.go).
	if level == store.LevelInstance && h.TransferSyntaxUID != "" {
		add(keyAvailableTS, func() {
			w.derived = append(w.derived, `{"vr":"UI","Value":[`...)
			w.derived = appendJSONString(w.derived, h.TransferSyntaxUID)
			w.derived = append(w.derived, "]}"...)
		})
	}
	count(keyStudySeries, h.StudySeries)
	count(keyStudyInstances, h.StudyInstances)
	if level >= store.LevelSeries {
		count(keySeriesInstances, h.SeriesInstances)
	}
	bounds[runs] = len(w.members)
	runs++
	for _, s := range spans[:n] {
		w.members = append(w.members, member{s.key, w.derived[s.start:s.end], rankDerived})
	}
	bounds[runs] = len(w.members)
	return writeMembers(buf, w.members, bounds[:runs+1]), nil
}

// writeMembers appends ms as a JSON object in key order, of members with the same key the
// one of highest rank. ms is made of runs of increasing rank (bounds: each run's start,
// then len(ms)), each in key order as a rule (a level's record as encoding/json wrote it;
// the derived ones once sorted, a handful): they are merged as they stand, nothing moved.
// Runs out of order are sorted first (sortMembers).
func writeMembers(buf []byte, ms []member, bounds []int) []byte {
	nr := len(bounds) - 1
	sorted := nr <= 4
	for r := 0; r < nr && sorted; r++ {
		if r == nr-1 && bounds[r+1]-bounds[r] <= 8 {
			sortMembers(ms[bounds[r]:bounds[r+1]]) // the derived ones
		}
		for i := bounds[r] + 1; i < bounds[r+1] && sorted; i++ {
			sorted = bytes.Compare(ms[i-1].key, ms[i].key) < 0
		}
	}
	buf = append(buf, '{')
	first := true
	emit := func(m member) {
		if !first {
			buf = append(buf, ',')
		}
		first = false
		buf = append(buf, '"')
		buf = append(buf, m.key...)
		buf = append(buf, `":`...)
		buf = append(buf, m.val...)
	}
	if !sorted {
		sortMembers(ms)
		for i, m := range ms {
			if i+1 < len(ms) && bytes.Equal(ms[i+1].key, m.key) {
				continue // a higher rank follows
			}
			emit(m)
		}
		return append(buf, '}')
	}
	var heads [4]int
	copy(heads[:], bounds[:nr])
	for {
		best := -1
		for r := range nr {
			if heads[r] == bounds[r+1] {
				continue
			}
			if best < 0 {
				best = r
				continue
			}
			switch c := bytes.Compare(ms[heads[r]].key, ms[heads[best]].key); {
			case c < 0:
				best = r
			case c == 0: // the later run's rank is higher: it wins
				heads[best]++
				best = r
			}
		}
		if best < 0 {
			return append(buf, '}')
		}
		emit(ms[heads[best]])
		heads[best]++
	}
}

// compareMembers orders members by key, then rank.
func compareMembers(a, b member) int {
	if c := bytes.Compare(a.key, b.key); c != 0 {
		return c
	}
	return int(a.rank) - int(b.rank)
}

// sortMembers orders ms by compareMembers. They come as runs already in order (each
// level's record, its keys sorted as encoding/json writes them) followed by a few derived
// ones, so each member out of place is moved into the sorted part before it (found by
// binary search): a general sort of every hit's members, swapping them one by one, was
// half of the splicing. Many members out of order (a record written otherwise) go to the
// general sort.
func sortMembers(ms []member) {
	moved := 0
	for i := 1; i < len(ms); i++ {
		if compareMembers(ms[i-1], ms[i]) <= 0 {
			continue
		}
		if moved++; moved > 16 {
			slices.SortFunc(ms, compareMembers)
			return
		}
		m := ms[i]
		j, _ := slices.BinarySearchFunc(ms[:i], m, compareMembers)
		for j < i && compareMembers(ms[j], m) <= 0 {
			j++ // after equal ones: stable
		}
		copy(ms[j+1:i+1], ms[j:i])
		ms[j] = m
	}
}

var errBadJSON = errors.New("malformed JSON object")

// eachMember calls fn with the key (unquoted, as written) and the raw value of each
// member of the JSON object obj, in order.
func eachMember(obj []byte, fn func(key, val []byte)) error {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return errBadJSON
	}
	i = skipSpace(obj, i+1)
	if i < len(obj) && obj[i] == '}' {
		return trailing(obj, i+1)
	}
	for {
		if i >= len(obj) || obj[i] != '"' {
			return errBadJSON
		}
		end, err := skipString(obj, i)
		if err != nil {
			return err
		}
		key := obj[i+1 : end-1]
		i = skipSpace(obj, end)
		if i >= len(obj) || obj[i] != ':' {
			return errBadJSON
		}
		i = skipSpace(obj, i+1)
		end, err = skipValue(obj, i)
		if err != nil {
			return err
		}
		fn(key, obj[i:end])
		i = skipSpace(obj, end)
		if i >= len(obj) {
			return errBadJSON
		}
		switch obj[i] {
		case ',':
			i = skipSpace(obj, i+1)
		case '}':
			return trailing(obj, i+1)
		default:
			return errBadJSON
		}
	}
}

func trailing(b []byte, i int) error {
	if skipSpace(b, i) != len(b) {
		return errBadJSON
	}
	return nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"'.
func skipString(b []byte, i int) (int, error) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, errBadJSON
}

// skipValue returns the index after the JSON value starting at b[i]. Objects and arrays
// are skipped by counting brackets outside strings; the stored JSON was written by
// encoding/json, so checking its grammar further would only cost.
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errBadJSON
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, err := skipString(b, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, errBadJSON
	}
	j := i
	for j < len(b) && !bytes.ContainsRune([]byte(",}] \t\r\n"), rune(b[j])) {
		j++
	}
	if j == i {
		return 0, errBadJSON
	}
	return j, nil
}

// appendJSONString appends s as a JSON string escaped as encoding/json escapes it (HTML
// characters included), so spliced and encoded answers read the same.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
