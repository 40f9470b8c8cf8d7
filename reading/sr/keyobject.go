package sr

// Key object documents: a study's key images as a Key Object Selection Document (PS3.3
// A.35.4) with the content of TID 2010 (PS3.16), titled (113000, DCM, "Of Interest"), so
// that another PACS, OHIF or DCMTK knows which images the radiologist picked. Each change
// of the set is a new document of the study's key object series (instance number = the
// set's revision); the earlier ones stay in the archive, and the newest is the current set.
//
// Content: the language (TID 1204: zh-CN), who marked them (TID 1002: a person observer),
// an optional Key Object Description TEXT, then one IMAGE item per key image, naming its
// frame (Referenced Frame Number, 1-based) when the image has several.

import (
	"fmt"
	"time"

	"pacsd/dicom"
	"pacsd/reading"
)

// KeyObjectSelectionStorage is the SOP Class UID of what BuildKeyObject writes (PS3.4 B.5).
const KeyObjectSelectionStorage = "1.2.840.10008.5.1.4.1.1.88.59"

// Concepts of TID 2010 (PS3.16; the title from CID 7010).
var (
	codeOfInterest     = code{"113000", "DCM", "Of Interest"}
	codeKeyDescription = code{"113012", "DCM", "Key Object Description"}
)

// KeyObject is what BuildKeyObject needs.
type KeyObject struct {
	SOPInstanceUID    string
	SeriesUID         string
	SeriesNumber      int
	InstanceNumber    int    // the set's revision
	SeriesDescription string // e.g. 关键图像
	// StudyAttrs are the study's attributes as the index keeps them.
	StudyAttrs  dicom.JSONDataset
	Description string    // Key Object Description; "" none
	Observer    string    // who changed the set (Person Observer Name)
	Saved       time.Time // Content Date and Time
	Created     time.Time
	Images      []reading.KeyImage // at least one (TID 2010 row 6 is 1-n)
}

// BuildKeyObject returns the Part-10 bytes of the key object document.
func BuildKeyObject(k KeyObject) ([]byte, error) {
	if len(k.Images) == 0 {
		return nil, fmt.Errorf("build key object document: no images: %w", reading.ErrInvalid)
	}
	studyUID := k.StudyAttrs.String(dicom.TagStudyInstanceUID)
	o, err := newObject(k.StudyAttrs, identity{SOPClassUID: KeyObjectSelectionStorage, SOPInstanceUID: k.SOPInstanceUID,
		SeriesUID: k.SeriesUID, Modality: "KO", SeriesNumber: k.SeriesNumber, InstanceNumber: k.InstanceNumber,
		Created: k.Created, Content: k.Saved})
	if err != nil {
		return nil, fmt.Errorf("build key object document: %w", err)
	}
	if k.SeriesDescription != "" {
		o.set(dicom.TagSeriesDescription, "LO", k.SeriesDescription)
	}
	o.container(codeOfInterest)
	o.template("2010")
	content := []item{
		{rel: "HAS CONCEPT MOD", vt: "CODE", concept: &codeLanguage, value: &codeChinese},
		{rel: "HAS OBS CONTEXT", vt: "CODE", concept: &codeObserverType, value: &codePerson},
		{rel: "HAS OBS CONTEXT", vt: "PNAME", concept: &codeObserverName, text: k.Observer},
	}
	if k.Description != "" {
		content = append(content, item{rel: "CONTAINS", vt: "TEXT", concept: &codeKeyDescription, text: k.Description})
	}
	// PS3.3 C.17.6.2: the evidence lists every instance referenced, each once.
	var evidence []Ref
	seen := map[string]bool{}
	for _, im := range k.Images {
		ref := &imageRef{class: im.SOPClassUID, uid: im.SOPInstanceUID}
		if im.Frames > 1 { // PS3.3 Table 10-3: a frame is named only in a multi-frame image
			ref.frame = im.Frame + 1
		}
		content = append(content, item{rel: "CONTAINS", vt: "IMAGE", image: ref})
		if !seen[im.SOPInstanceUID] {
			seen[im.SOPInstanceUID] = true
			evidence = append(evidence, Ref{SeriesUID: im.SeriesUID, SOPClassUID: im.SOPClassUID, SOPInstanceUID: im.SOPInstanceUID})
		}
	}
	o.seq(tagCurrentRequestedEvidence, func() { o.w.refs(tagCurrentRequestedEvidence, studyUID, evidence) })
	o.seq(tagContentSequence, func() { o.w.items(content) })
	b, err := o.finish()
	if err != nil {
		return nil, fmt.Errorf("build key object document: %w", err)
	}
	return b, nil
}

// template sets the Content Template Sequence (PS3.3 C.17.3): the document follows
// template tid of PS3.16 (mapping resource DCMR).
func (o *object) template(tid string) {
	o.seq(tagContentTemplate, func() {
		o.enc.BeginSequence(tagContentTemplate)
		o.enc.BeginItem()
		o.w.text(tagMappingResource, "CS", "DCMR")
		o.w.text(tagTemplateIdentifier, "CS", tid)
		o.enc.EndItem()
		o.enc.EndSequence()
	})
}
