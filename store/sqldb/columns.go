package sqldb

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"pacsd/dicom"
	"pacsd/store"
)

// Columns are the column values of one instance's study, series and instance rows, as both
// engines store them (the studies, series and instances tables).
type Columns struct {
	StudyDate, StudyTime, Accession        string
	PatientName, Referring                 PNCols
	PatientID, BirthDate, Sex              string
	StudyID, StudyDescription, Institution string
	Modality, SeriesDescription, BodyPart  string
	PPSDate, PPSTime                       string
	SeriesNumber, InstanceNumber           sql.NullInt64
	StudyAttrs, SeriesAttrs, InstanceAttrs string
	ReceivedAt                             string
}

// PNCols are the columns of one person name: the whole name (groups '='-joined), each
// group, and the fuzzy words (FuzzyName).
type PNCols struct{ Full, Alpha, Ideo, Phon, Fuzzy string }

// Name is the person name the columns hold.
func (c PNCols) Name() dicom.PersonName {
	return dicom.PersonName{Alphabetic: c.Alpha, Ideographic: c.Ideo, Phonetic: c.Phon}
}

// ColumnsOf derives the column values of an instance's rows from its attributes.
func ColumnsOf(in *store.Instance) (*Columns, error) {
	st, se, ia := in.StudyAttrs, in.SeriesAttrs, in.InstanceAttrs
	c := &Columns{
		StudyDate:         NormDate(st.String(dicom.TagStudyDate)),
		StudyTime:         NormTime(st.String(dicom.TagStudyTime)),
		Accession:         st.String(dicom.TagAccessionNumber),
		PatientName:       PNColumns(st.PersonName(dicom.TagPatientName)),
		Referring:         PNColumns(st.PersonName(dicom.TagReferringPhysicianName)),
		PatientID:         st.String(dicom.TagPatientID),
		BirthDate:         NormDate(st.String(dicom.TagPatientBirthDate)),
		Sex:               st.String(dicom.TagPatientSex),
		StudyID:           st.String(dicom.TagStudyID),
		StudyDescription:  st.String(dicom.TagStudyDescription),
		Institution:       st.String(dicom.TagInstitutionName),
		Modality:          se.String(dicom.TagModality),
		SeriesDescription: se.String(dicom.TagSeriesDescription),
		BodyPart:          se.String(dicom.TagBodyPartExamined),
		PPSDate:           NormDate(se.String(dicom.TagPerformedProcedureStepStartDate)),
		PPSTime:           NormTime(se.String(dicom.TagPerformedProcedureStepStartTime)),
	}
	if n, ok := se.Int(dicom.TagSeriesNumber); ok {
		c.SeriesNumber = sql.NullInt64{Int64: n, Valid: true}
	}
	if n, ok := ia.Int(dicom.TagInstanceNumber); ok {
		c.InstanceNumber = sql.NullInt64{Int64: n, Valid: true}
	}
	var err error
	if c.StudyAttrs, err = EncodeJSON(st); err != nil {
		return nil, fmt.Errorf("study attributes: %w", err)
	}
	if c.SeriesAttrs, err = EncodeJSON(se); err != nil {
		return nil, fmt.Errorf("series attributes: %w", err)
	}
	if c.InstanceAttrs, err = EncodeJSON(ia); err != nil {
		return nil, fmt.Errorf("instance attributes: %w", err)
	}
	recv := in.ReceivedAt
	if recv.IsZero() {
		recv = time.Now()
	}
	c.ReceivedAt = recv.UTC().Format(TimeFormat)
	return c, nil
}

// EncodeJSON is the stored text of a level's attributes ("{}" for none).
func EncodeJSON(ds dicom.JSONDataset) (string, error) {
	if ds == nil {
		return "{}", nil
	}
	b, err := json.Marshal(ds)
	if err != nil {
		return "", fmt.Errorf("%w: %w", store.ErrInvalid, err)
	}
	return string(b), nil
}

// DecodeJSON reads stored attributes back (dicom.ParseJSON).
func DecodeJSON(s string) (dicom.JSONDataset, error) { return dicom.ParseJSON([]byte(s)) }

// PNColumns are the columns of a person name, normalized (NormPN).
func PNColumns(p dicom.PersonName) PNCols {
	p = NormPN(p)
	return PNCols{
		Full:  p.String(),
		Alpha: p.Alphabetic,
		Ideo:  p.Ideographic,
		Phon:  p.Phonetic,
		Fuzzy: FuzzyName(p),
	}
}

// NormPN drops trailing empty components and padding from each group, so "Zhang^Wei^^"
// and "Zhang^Wei" are the same name (PS3.5 6.2.1 allows both spellings).
func NormPN(p dicom.PersonName) dicom.PersonName {
	trim := func(s string) string { return strings.TrimRight(strings.TrimSpace(s), "^ ") }
	return dicom.PersonName{Alphabetic: trim(p.Alphabetic), Ideographic: trim(p.Ideographic), Phonetic: trim(p.Phonetic)}
}

// NormDate accepts the ACR-NEMA "YYYY.MM.DD" spelling some old devices still send.
func NormDate(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), ".", "") }

// NormTime accepts the ACR-NEMA "HH:MM:SS" spelling.
func NormTime(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), ":", "") }
