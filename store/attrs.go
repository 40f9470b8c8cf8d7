package store

import (
	"slices"

	"pacsd/dicom"
)

// The attributes the index keeps for each level, as DICOM JSON. They are the query keys and
// result attributes of PS3.18 Tables 10.6.1-5 and 10.6.3-3/-4/-5 (and the patient/study/
// series/image keys of PS3.4 C.6.2.1) plus what the viewer's worklist and OHIF's study list
// show. Patient attributes travel with the study (study root). Everything else stays in the
// Part-10 object: the index is a catalogue, not a copy of every header.
var (
	studyTags = []dicom.Tag{
		dicom.TagStudyDate, dicom.TagStudyTime, dicom.TagAccessionNumber,
		0x00080051, // IssuerOfAccessionNumberSequence
		dicom.TagReferringPhysicianName, dicom.TagTimezoneOffsetFromUTC,
		dicom.TagInstitutionName,
		0x00080081, // InstitutionAddress
		dicom.TagStudyDescription,
		0x00081032, // ProcedureCodeSequence
		dicom.TagInstitutionalDepartmentName,
		0x00081048, // PhysiciansOfRecord
		0x00081060, // NameOfPhysiciansReadingStudy
		0x00081080, // AdmittingDiagnosesDescription
		dicom.TagPatientName, dicom.TagPatientID, dicom.TagIssuerOfPatientID,
		0x00100022, // TypeOfPatientID
		0x00100024, // IssuerOfPatientIDQualifiersSequence
		dicom.TagPatientBirthDate, dicom.TagPatientBirthTime, dicom.TagPatientSex,
		dicom.TagOtherPatientIDs,
		0x00101001, // OtherPatientNames
		0x00101002, // OtherPatientIDsSequence
		dicom.TagPatientAge, dicom.TagPatientSize, dicom.TagPatientWeight,
		0x00102160, // EthnicGroup
		0x001021B0, // AdditionalPatientHistory
		0x00104000, // PatientComments
		dicom.TagStudyInstanceUID, dicom.TagStudyID,
		0x00321032, // RequestingPhysician
		0x00321060, // RequestedProcedureDescription
	}
	seriesTags = []dicom.Tag{
		dicom.TagSeriesDate, dicom.TagSeriesTime, dicom.TagModality,
		dicom.TagManufacturer, dicom.TagStationName, dicom.TagSeriesDescription,
		0x0008103F, // SeriesDescriptionCodeSequence
		dicom.TagPerformingPhysicianName,
		0x00081070, // OperatorsName
		0x00081111, // ReferencedPerformedProcedureStepSequence
		dicom.TagManufacturerModelName,
		dicom.TagBodyPartExamined,
		0x00181000, // DeviceSerialNumber
		0x00181020, // SoftwareVersions
		0x00181030, // ProtocolName
		0x00185100, // PatientPosition
		dicom.TagSeriesInstanceUID, dicom.TagSeriesNumber, dicom.TagLaterality,
		0x00200052, // FrameOfReferenceUID
		dicom.TagPerformedProcedureStepStartDate, dicom.TagPerformedProcedureStepStartTime,
		0x00400253, // PerformedProcedureStepID
		0x00400254, // PerformedProcedureStepDescription
		dicom.TagRequestAttributesSequence,
	}
	instanceTags = []dicom.Tag{
		dicom.TagImageType, dicom.TagInstanceCreationDate, dicom.TagInstanceCreationTime,
		dicom.TagSOPClassUID, dicom.TagSOPInstanceUID,
		dicom.TagAcquisitionDate, dicom.TagContentDate,
		0x0008002A, // AcquisitionDateTime
		0x00080032, // AcquisitionTime
		dicom.TagContentTime, dicom.TagConversionType,
		0x00080068, // PresentationIntentType
		0x00180050, // SliceThickness
		0x00181063, // FrameTime
		0x00181164, // ImagerPixelSpacing
		dicom.TagViewPosition,
		0x00200012, // AcquisitionNumber
		dicom.TagInstanceNumber,
		0x00200020, // PatientOrientation
		0x00200032, // ImagePositionPatient
		0x00200037, // ImageOrientationPatient
		0x00200062, // ImageLaterality
		0x00201041, // SliceLocation
		dicom.TagSamplesPerPixel, dicom.TagPhotometricInterpretation,
		0x00280006, // PlanarConfiguration
		dicom.TagNumberOfFrames,
		0x00280009, // FrameIncrementPointer
		dicom.TagRows, dicom.TagColumns,
		0x00280030, // PixelSpacing
		dicom.TagBitsAllocated, dicom.TagBitsStored,
		0x00280102, // HighBit
		dicom.TagPixelRepresentation,
		0x00280301, // BurnedInAnnotation
		0x00281050, // WindowCenter
		0x00281051, // WindowWidth
		0x00281052, // RescaleIntercept
		0x00281053, // RescaleSlope
		0x00281054, // RescaleType
		0x00281056, // VOILUTFunction
		0x00282110, // LossyImageCompression
		0x00282112, // LossyImageCompressionRatio
		0x00282114, // LossyImageCompressionMethod
		0x0040A043, // ConceptNameCodeSequence
		0x0040A491, // CompletionFlag
		0x0040A493, // VerificationFlag
		0x00420010, // DocumentTitle
		0x00420012, // MIMETypeOfEncapsulatedDocument
		0x00700080, // ContentLabel
		0x00700081, // ContentDescription
	}
	levelOf = func() map[dicom.Tag]Level {
		m := make(map[dicom.Tag]Level)
		for _, t := range studyTags {
			m[t] = LevelStudy
		}
		for _, t := range seriesTags {
			m[t] = LevelSeries
		}
		for _, t := range instanceTags {
			m[t] = LevelInstance
		}
		m[dicom.TagSpecificCharacterSet] = LevelStudy
		return m
	}()
)

// LevelTags lists the attributes the index keeps at level l (besides (0008,0005), which every
// level carries as "ISO_IR 192" because DICOM JSON is UTF-8).
func LevelTags(l Level) []dicom.Tag {
	switch l {
	case LevelStudy:
		return slices.Clone(studyTags)
	case LevelSeries:
		return slices.Clone(seriesTags)
	case LevelInstance:
		return slices.Clone(instanceTags)
	}
	return nil
}

// LevelOf tells at which level the index keeps attribute t; ok is false for attributes it
// does not keep (they can be read from the Part-10 object only).
func LevelOf(t dicom.Tag) (l Level, ok bool) {
	l, ok = levelOf[t]
	return l, ok
}

// LevelAttrs converts the header attributes of one level to DICOM JSON, with (0008,0005) set
// to "ISO_IR 192": the dicom reader has already decoded every text value to UTF-8.
func LevelAttrs(ds *dicom.Dataset, l Level) dicom.JSONDataset {
	out := ds.ToJSON(dicom.JSONOptions{Include: func(t dicom.Tag) bool {
		lt, ok := levelOf[t]
		return ok && lt == l && t != dicom.TagSpecificCharacterSet
	}})
	if out == nil {
		out = dicom.JSONDataset{}
	}
	out[dicom.TagSpecificCharacterSet.Hex()] = dicom.JSONAttribute{VR: "CS", Value: []any{"ISO_IR 192"}}
	return out
}

// HasPixelData reports whether an instance is an image, judged from the index alone: image
// pixel modules require Rows and Columns (PS3.3 C.7.6.3), which no structured report or
// encapsulated document carries.
func HasPixelData(in *Instance) bool {
	r, ok1 := in.InstanceAttrs.Int(dicom.TagRows)
	c, ok2 := in.InstanceAttrs.Int(dicom.TagColumns)
	return ok1 && ok2 && r > 0 && c > 0
}
