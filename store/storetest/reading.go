package storetest

import (
	"crypto/sha256"
	"encoding/hex"

	"pacsd/dicom"
	"pacsd/reading/readingtest"
	"pacsd/store"
)

// ReadingInstance is the index record of a reading-room contract study
// (readingtest.Study): one instance of one series, as an implementation's Env.AddStudy puts
// it through its index. It lives here, not in readingtest, because reading never imports
// store (DESIGN.md section 2).
func ReadingInstance(s readingtest.Study) *store.Instance {
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
		Origin:            store.Origin{Transport: "dimse", CallingAE: s.CallingAE, Quarantined: s.Quarantined},
		ReceivedAt:        s.ReceivedAt,
		StudyAttrs: dicom.JSONDataset{
			dicom.TagStudyInstanceUID.Hex(): str("UI", s.UID),
			dicom.TagPatientName.Hex():      {VR: "PN", Value: []any{dicom.PersonNameJSON(s.PatientName)}},
			dicom.TagPatientID.Hex():        str("LO", s.PatientID),
			dicom.TagInstitutionName.Hex():  str("LO", s.Institution),
			dicom.TagStudyDate.Hex():        str("DA", s.StudyDate),
			dicom.TagStudyTime.Hex():        str("TM", s.StudyTime),
			dicom.TagAccessionNumber.Hex():  str("SH", s.Accession),
			dicom.TagStudyDescription.Hex(): str("LO", s.Description),
		},
		SeriesAttrs: dicom.JSONDataset{
			dicom.TagSeriesInstanceUID.Hex(): str("UI", series),
			dicom.TagModality.Hex():          str("CS", s.Modality),
			dicom.TagBodyPartExamined.Hex():  str("CS", s.BodyPart),
		},
		InstanceAttrs: dicom.JSONDataset{},
	}
}
