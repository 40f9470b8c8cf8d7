package sqlite_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"testing"

	"pacsd/dicom"
	"pacsd/reading/readingtest"
	"pacsd/store"
	"pacsd/store/sqlite"
)

func TestReadingContract(t *testing.T) {
	readingtest.Run(t, func(t *testing.T) readingtest.Env {
		idx, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "index.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { idx.Close() })
		return readingtest.Env{Repo: idx.Reading(), AddStudy: func(t testing.TB, s readingtest.Study) {
			t.Helper()
			if _, err := idx.PutInstance(context.Background(), readingInstance(s)); err != nil {
				t.Fatal(err)
			}
		}}
	})
}

// readingInstance is the index record of a contract-test study: one instance of one series.
func readingInstance(s readingtest.Study) *store.Instance {
	str := func(vr, v string) dicom.JSONAttribute {
		if v == "" {
			return dicom.JSONAttribute{VR: vr}
		}
		return dicom.JSONAttribute{VR: vr, Value: []any{v}}
	}
	series := s.SeriesUID
	if series == "" {
		series = s.UID + ".1"
	}
	sum := sha256.Sum256([]byte(s.UID))
	return &store.Instance{
		StudyInstanceUID:  s.UID,
		SeriesInstanceUID: series,
		SOPInstanceUID:    series + ".1",
		SOPClassUID:       "1.2.840.10008.5.1.4.1.1.1.1",
		TransferSyntaxUID: "1.2.840.10008.1.2.1",
		BlobKey:           "k/" + s.UID + ".dcm",
		Size:              1,
		SHA256:            hex.EncodeToString(sum[:]),
		Origin:            store.Origin{Transport: "dimse", CallingAE: s.CallingAE},
		ReceivedAt:        s.ReceivedAt,
		StudyAttrs: dicom.JSONDataset{
			dicom.TagStudyInstanceUID.Hex(): str("UI", s.UID),
			dicom.TagPatientName.Hex():      {VR: "PN", Value: []any{dicom.PersonNameJSON(s.PatientName)}},
			dicom.TagPatientID.Hex():        str("LO", s.PatientID),
			dicom.TagInstitutionName.Hex():  str("LO", s.Institution),
			dicom.TagStudyDate.Hex():        str("DA", s.StudyDate),
		},
		SeriesAttrs: dicom.JSONDataset{
			dicom.TagSeriesInstanceUID.Hex(): str("UI", series),
			dicom.TagModality.Hex():          str("CS", s.Modality),
			dicom.TagBodyPartExamined.Hex():  str("CS", s.BodyPart),
		},
		InstanceAttrs: dicom.JSONDataset{},
	}
}
