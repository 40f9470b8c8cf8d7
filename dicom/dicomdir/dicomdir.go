// Package dicomdir writes a DICOMDIR: the Basic Directory of a File-set on media (PS3.10
// section 8, PS3.3 Annex F), as CD and USB viewers and other archives expect beside the
// objects of an exported study. It writes the directory only; the objects are the caller's
// (copied byte for byte). It does not read DICOMDIRs: dicom.ReadPart10 does.
package dicomdir

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"pacsd/dicom"
)

// MediaStorageDirectoryStorage is the SOP Class of a DICOMDIR (PS3.4 Annex F; PS3.6 A).
const MediaStorageDirectoryStorage = "1.2.840.10008.1.3.10"

// Object is one file of the File-set and the keys of the records that lead to it.
type Object struct {
	// FileID is the file's path in the File-set, one component each (PS3.10 8.5: at most 8
	// components of at most 8 characters from A-Z, 0-9 and '_').
	FileID []string

	SOPClassUID, SOPInstanceUID, TransferSyntaxUID string

	PatientID, PatientName                                               string
	StudyUID, StudyDate, StudyTime, StudyDescription, StudyID, Accession string
	SeriesUID, Modality                                                  string
	SeriesNumber, InstanceNumber                                         int
}

// Tags of the Basic Directory IOD (PS3.3 F.3.2.1, F.3.2.2); the records' keys are dicom's.
const (
	tagFileSetID                   dicom.Tag = 0x00041130
	tagOffsetFirstRoot             dicom.Tag = 0x00041200
	tagOffsetLastRoot              dicom.Tag = 0x00041202
	tagFileSetConsistency          dicom.Tag = 0x00041212
	tagDirectoryRecordSequence     dicom.Tag = 0x00041220
	tagOffsetNext                  dicom.Tag = 0x00041400
	tagRecordInUse                 dicom.Tag = 0x00041410
	tagOffsetLower                 dicom.Tag = 0x00041420
	tagRecordType                  dicom.Tag = 0x00041430
	tagReferencedFileID            dicom.Tag = 0x00041500
	tagReferencedSOPClassInFile    dicom.Tag = 0x00041510
	tagReferencedSOPInstanceInFile dicom.Tag = 0x00041511
	tagReferencedTSInFile          dicom.Tag = 0x00041512
)

// record is one Directory Record (PS3.3 F.3.2.2) before it is placed.
type record struct {
	typ   string
	keys  func(e *dicom.Encoder)
	next  int // index of the next record at the same level, -1: none
	lower int // index of the first record below, -1: none
	off   uint32
}

// ValidFileID reports whether every component of id is a valid File ID component.
func ValidFileID(id []string) bool {
	if len(id) == 0 || len(id) > 8 {
		return false
	}
	for _, c := range id {
		if c == "" || len(c) > 8 || strings.ContainsFunc(c, func(r rune) bool {
			return !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_')
		}) {
			return false
		}
	}
	return true
}

// RecordType is the Directory Record Type of an object by its modality: what readers
// list it as (PS3.3 F.5). Anything with pixels, and anything else, is an IMAGE.
func RecordType(modality string) string {
	switch modality {
	case "SR":
		return "SR DOCUMENT"
	case "KO":
		return "KEY OBJECT DOC"
	case "PR":
		return "PRESENTATION"
	}
	return "IMAGE"
}

// Write writes a DICOMDIR naming objs, grouped PATIENT > STUDY > SERIES > object in the
// order they first appear, with File-set ID fileSetID (at most 16 characters of CS).
// Text is written as UTF-8 (ISO_IR 192), as pacsd keeps it.
func Write(w io.Writer, fileSetID string, objs []Object) error {
	recs, err := build(objs)
	if err != nil {
		return err
	}
	// Every record's length is known before its offsets are (UL values are four bytes
	// whatever they hold), so one pass places them and a second writes them.
	bodies := make([][]byte, len(recs))
	for i := range recs {
		if bodies[i], err = encodeRecord(recs, i); err != nil {
			return err
		}
	}
	var meta bytes.Buffer
	if _, err := dicom.WriteFileMeta(&meta, dicom.FileMeta{SOPClassUID: MediaStorageDirectoryStorage,
		SOPInstanceUID: dicom.NewUID(), TransferSyntaxUID: dicom.ExplicitVRLittleEndian}); err != nil {
		return fmt.Errorf("dicomdir: %w", err)
	}
	head := func(first, last uint32) ([]byte, error) {
		var b bytes.Buffer
		e, err := dicom.NewEncoder(&b, dicom.ExplicitVRLittleEndian)
		if err != nil {
			return nil, err
		}
		e.WriteString(tagFileSetID, "CS", fileSetID)
		e.WriteUint32(tagOffsetFirstRoot, "UL", first)
		e.WriteUint32(tagOffsetLastRoot, "UL", last)
		e.WriteUint16(tagFileSetConsistency, "US", 0)
		if err := e.Close(); err != nil {
			return nil, err
		}
		// (0004,1220) SQ, undefined length: its items follow (PS3.5 7.5.2).
		b.Write([]byte{0x04, 0x00, 0x20, 0x12, 'S', 'Q', 0, 0, 0xff, 0xff, 0xff, 0xff})
		return b.Bytes(), nil
	}
	h, err := head(0, 0)
	if err != nil {
		return fmt.Errorf("dicomdir: %w", err)
	}
	pos := uint32(meta.Len() + len(h))
	for i := range recs {
		recs[i].off = pos
		pos += 8 + uint32(len(bodies[i]))
	}
	var lastRoot uint32
	for i := 0; i >= 0; i = recs[i].next {
		lastRoot = recs[i].off
	}
	if h, err = head(recs[0].off, lastRoot); err != nil {
		return fmt.Errorf("dicomdir: %w", err)
	}
	if _, err := w.Write(append(meta.Bytes(), h...)); err != nil {
		return fmt.Errorf("dicomdir: %w", err)
	}
	for i := range recs {
		body, err := encodeRecord(recs, i)
		if err != nil {
			return err
		}
		item := make([]byte, 8, 8+len(body))
		binary.LittleEndian.PutUint32(item, 0xe000fffe) // (FFFE,E000) with explicit length
		binary.LittleEndian.PutUint32(item[4:], uint32(len(body)))
		if _, err := w.Write(append(item, body...)); err != nil {
			return fmt.Errorf("dicomdir: %w", err)
		}
	}
	_, err = w.Write([]byte{0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0}) // Sequence Delimitation Item
	if err != nil {
		return fmt.Errorf("dicomdir: %w", err)
	}
	return nil
}

// build lays out the records: each level's records linked by next, each parent to its
// first child by lower, in sequence order parent before children.
func build(objs []Object) ([]record, error) {
	if len(objs) == 0 {
		return nil, errors.New("dicomdir: no objects")
	}
	var recs []record
	add := func(r record) int {
		r.next, r.lower = -1, -1
		recs = append(recs, r)
		return len(recs) - 1
	}
	// link makes child the last of parent's children (prev: its last child so far, or -1).
	link := func(parent, prev, child int) {
		if prev < 0 {
			if parent >= 0 {
				recs[parent].lower = child
			}
		} else {
			recs[prev].next = child
		}
	}
	patients, studies, series := map[string]int{}, map[string]int{}, map[string]int{}
	lastChild := map[int]int{} // record -> its last child so far
	lastRoot := -1
	child := func(parent, r int) {
		prev, ok := lastChild[parent]
		if !ok {
			prev = -1
		}
		link(parent, prev, r)
		lastChild[parent] = r
	}
	for _, o := range objs {
		if !ValidFileID(o.FileID) {
			return nil, fmt.Errorf("dicomdir: file ID %q: %w", strings.Join(o.FileID, `\`), errBadFileID)
		}
		p, ok := patients[o.PatientID]
		if !ok {
			p = add(record{typ: "PATIENT", keys: func(e *dicom.Encoder) {
				e.WriteString(dicom.TagPatientName, "PN", o.PatientName)
				e.WriteString(dicom.TagPatientID, "LO", o.PatientID)
			}})
			patients[o.PatientID] = p
			if lastRoot >= 0 {
				recs[lastRoot].next = p
			}
			lastRoot = p
		}
		s, ok := studies[o.StudyUID]
		if !ok {
			s = add(record{typ: "STUDY", keys: func(e *dicom.Encoder) {
				e.WriteString(dicom.TagStudyDate, "DA", o.StudyDate)
				e.WriteString(dicom.TagStudyTime, "TM", o.StudyTime)
				e.WriteString(dicom.TagAccessionNumber, "SH", o.Accession)
				e.WriteString(dicom.TagStudyDescription, "LO", o.StudyDescription)
				e.WriteString(dicom.TagStudyInstanceUID, "UI", o.StudyUID)
				e.WriteString(dicom.TagStudyID, "SH", o.StudyID)
			}})
			studies[o.StudyUID] = s
			child(p, s)
		}
		se, ok := series[o.SeriesUID]
		if !ok {
			se = add(record{typ: "SERIES", keys: func(e *dicom.Encoder) {
				e.WriteString(dicom.TagModality, "CS", o.Modality)
				e.WriteString(dicom.TagSeriesInstanceUID, "UI", o.SeriesUID)
				e.WriteString(dicom.TagSeriesNumber, "IS", strconv.Itoa(o.SeriesNumber))
			}})
			series[o.SeriesUID] = se
			child(s, se)
		}
		im := add(record{typ: RecordType(o.Modality), keys: func(e *dicom.Encoder) {
			e.WriteString(tagReferencedFileID, "CS", strings.Join(o.FileID, `\`))
			e.WriteString(tagReferencedSOPClassInFile, "UI", o.SOPClassUID)
			e.WriteString(tagReferencedSOPInstanceInFile, "UI", o.SOPInstanceUID)
			e.WriteString(tagReferencedTSInFile, "UI", o.TransferSyntaxUID)
			e.WriteString(dicom.TagInstanceNumber, "IS", strconv.Itoa(o.InstanceNumber))
		}})
		child(se, im)
	}
	// Records are written in the order added: every parent before its children. Objects of
	// one series scattered through objs are still linked in one chain.
	return recs, nil
}

var errBadFileID = errors.New("not a valid File ID (PS3.10 8.5)")

// encodeRecord is record i's elements (PS3.3 F.3.2.2), Explicit VR Little Endian.
func encodeRecord(recs []record, i int) ([]byte, error) {
	r := recs[i]
	off := func(j int) uint32 {
		if j < 0 {
			return 0
		}
		return recs[j].off
	}
	var b bytes.Buffer
	e, err := dicom.NewEncoder(&b, dicom.ExplicitVRLittleEndian)
	if err != nil {
		return nil, err
	}
	e.WriteUint32(tagOffsetNext, "UL", off(r.next))
	e.WriteUint16(tagRecordInUse, "US", 0xffff)
	e.WriteUint32(tagOffsetLower, "UL", off(r.lower))
	e.WriteString(tagRecordType, "CS", r.typ)
	switch r.typ {
	case "PATIENT", "STUDY", "SERIES": // names and descriptions; an object's record has no text
		e.WriteString(dicom.TagSpecificCharacterSet, "CS", "ISO_IR 192")
	}
	r.keys(e)
	if err := e.Close(); err != nil {
		return nil, fmt.Errorf("dicomdir: %s record: %w", r.typ, err)
	}
	return b.Bytes(), nil
}
