package store

// Hit is one search result as the index keeps it: the stored DICOM JSON of each level, so
// that a QIDO-RS answer can be spliced together without decoding and re-encoding a hundred
// studies' attributes (that was most of a search's time), and the attributes the index
// derives (PS3.18 table 10.6.1-5 ff.).
type Hit struct {
	StudyUID, SeriesUID, SOPInstanceUID string // "" below the query level (all three at patient level)
	// Study, Series and Instance are DICOM JSON objects (PS3.18 F.2), compact; Series is
	// nil for a study-level search and Instance for all but an instance-level one. Text is
	// UTF-8 whatever the object's Specific Character Set said.
	Study, Series, Instance []byte
	ModalitiesInStudy       []string
	StudySeries             int // Number of Study Related Series (patient level: Patient Related)
	StudyInstances          int // Number of Study Related Instances (patient level: Patient Related)
	PatientStudies          int // Number of Patient Related Studies (patient level only)
	SeriesInstances         int // Number of Series Related Instances (series and instance level)
	// TransferSyntaxUID is the syntax the instance is stored in (instance level only): its
	// Available Transfer Syntax UID (0008,3002).
	TransferSyntaxUID string
}
