// Package sr writes a signed report as a DICOM Basic Text SR document (PS3.3 A.35.1), the
// object pacsd stores into the report's study so that DICOMweb clients and other archives
// receive the report with the images.
//
// Why Basic Text SR rather than Encapsulated PDF: its text is searchable and readable by
// every SR-aware viewer (OHIF, DCMTK's dsrdump), it carries the signer as the verifying
// observer and amendments as predecessor documents in DICOM's own terms, and it needs no
// PDF writer with CJK fonts. The printable form is the viewer's print page.
//
// It also writes the reading room's measurements and annotations as an Imaging Measurement
// Report (PS3.16 TID 1500) in a Comprehensive SR (BuildMeasurements; measurement.go says
// why an SR rather than a presentation state: coded values with units that OHIF and other
// SR readers show, each pinned to its image by SCOORD; and how arrows and text ride in TID
// 1410 groups as a POINT with a TEXT comment).
//
// The document is Explicit VR Little Endian with Specific Character Set ISO_IR 192, so
// Chinese text needs no conversion. It is not a general SR writer.
package sr

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"pacsd/dicom"
	"pacsd/reading"
)

// BasicTextSRStorage is the SOP Class UID of what Build writes (PS3.4 B.5).
const BasicTextSRStorage = "1.2.840.10008.5.1.4.1.1.88.11"

// Ref is one instance the document refers to.
type Ref struct {
	SeriesUID, SOPClassUID, SOPInstanceUID string
}

// Document is what Build needs.
type Document struct {
	SOPInstanceUID string
	SeriesUID      string
	SeriesNumber   int
	InstanceNumber int // the report version
	// StudyAttrs are the study's attributes as the index keeps them (patient and study
	// identification are copied from them, so the report files with its images).
	StudyAttrs dicom.JSONDataset
	Findings   string
	Impression string
	Signer     string // verifying observer, shown as given
	// Author is who wrote the report (TID 1002 observer context: a person); with
	// two-level review it differs from Signer. "": not said.
	Author       string
	Organization string // verifying organisation (the county hospital)
	SignedAt     time.Time
	Created      time.Time
	// Evidence lists the study's images the report was made from (Current Requested
	// Procedure Evidence Sequence); Predecessor the document an amendment replaces.
	Evidence    []Ref
	Predecessor *Ref
	// Title is the document title's meaning; "" gives "Diagnostic Imaging Report".
	Title string
}

// Tags used here that package dicom does not name.
const (
	tagInstanceCreationDate      dicom.Tag = 0x00080012
	tagInstanceCreationTime      dicom.Tag = 0x00080013
	tagContentDate               dicom.Tag = 0x00080023
	tagContentTime               dicom.Tag = 0x00080033
	tagCodeValue                 dicom.Tag = 0x00080100
	tagCodingSchemeDesignator    dicom.Tag = 0x00080102
	tagCodeMeaning               dicom.Tag = 0x00080104
	tagRefPPSSequence            dicom.Tag = 0x00081111
	tagReferencedSeriesSequence  dicom.Tag = 0x00081115
	tagReferencedSOPClassUID     dicom.Tag = 0x00081150
	tagReferencedSOPInstanceUID  dicom.Tag = 0x00081155
	tagReferencedSOPSequence     dicom.Tag = 0x00081199
	tagRelationshipType          dicom.Tag = 0x0040A010
	tagVerifyingOrganization     dicom.Tag = 0x0040A027
	tagVerificationDateTime      dicom.Tag = 0x0040A030
	tagValueType                 dicom.Tag = 0x0040A040
	tagConceptNameCodeSequence   dicom.Tag = 0x0040A043
	tagContinuityOfContent       dicom.Tag = 0x0040A050
	tagVerifyingObserverSequence dicom.Tag = 0x0040A073
	tagVerifyingObserverName     dicom.Tag = 0x0040A075
	tagVerifyingObserverIDCodes  dicom.Tag = 0x0040A088
	tagTextValue                 dicom.Tag = 0x0040A160
	tagPredecessorDocuments      dicom.Tag = 0x0040A360
	tagPerformedProcedureCodes   dicom.Tag = 0x0040A372
	tagCurrentRequestedEvidence  dicom.Tag = 0x0040A375
	tagContentSequence           dicom.Tag = 0x0040A730
	tagCompletionFlag            dicom.Tag = 0x0040A491
	tagVerificationFlag          dicom.Tag = 0x0040A493
)

type code struct{ value, scheme, meaning string }

// Concept names: LOINC's diagnostic imaging report, DCM's finding and impression (PS3.16).
var (
	codeReport     = code{"18748-4", "LN", "Diagnostic Imaging Report"}
	codeFinding    = code{"121071", "DCM", "Finding"}
	codeImpression = code{"121073", "DCM", "Impression"}
)

var utf8Set = []string{"ISO_IR 192"}

// textVRs are the VRs whose values Build copies from the study's attributes.
var textVRs = map[string]bool{"AE": true, "AS": true, "CS": true, "DA": true, "DS": true, "DT": true, "IS": true,
	"LO": true, "LT": true, "PN": true, "SH": true, "ST": true, "TM": true, "UC": true, "UI": true, "UR": true, "UT": true}

// Build returns the Part-10 bytes of the document.
func Build(d Document) ([]byte, error) {
	studyUID := d.StudyAttrs.String(dicom.TagStudyInstanceUID)
	title := codeReport
	if d.Title != "" {
		title.meaning = d.Title
	}
	o, err := newObject(d.StudyAttrs, identity{SOPClassUID: BasicTextSRStorage, SOPInstanceUID: d.SOPInstanceUID,
		SeriesUID: d.SeriesUID, Modality: "SR", SeriesNumber: d.SeriesNumber, InstanceNumber: d.InstanceNumber,
		Created: d.Created, Content: d.SignedAt})
	if err != nil {
		return nil, fmt.Errorf("build report document: %w", err)
	}
	enc, w := o.enc, &o.w
	o.container(title)
	// PS3.3 C.17.2: a VERIFIED document names who verified it and when.
	o.seq(tagVerifyingObserverSequence, func() {
		enc.BeginSequence(tagVerifyingObserverSequence)
		enc.BeginItem()
		w.text(tagVerifyingOrganization, "LO", d.Organization)
		w.text(tagVerificationDateTime, "DT", d.SignedAt.Format("20060102150405-0700"))
		w.text(tagVerifyingObserverName, "PN", d.Signer)
		o.empty(tagVerifyingObserverIDCodes)() // type 2
		enc.EndItem()
		enc.EndSequence()
	})
	if d.Predecessor != nil {
		o.seq(tagPredecessorDocuments, func() { w.refs(tagPredecessorDocuments, studyUID, []Ref{*d.Predecessor}) })
	}
	o.seq(tagPerformedProcedureCodes, o.empty(tagPerformedProcedureCodes)) // type 2
	if len(d.Evidence) > 0 {
		o.seq(tagCurrentRequestedEvidence, func() { w.refs(tagCurrentRequestedEvidence, studyUID, d.Evidence) })
	}
	o.set(tagCompletionFlag, "CS", "COMPLETE")
	o.set(tagVerificationFlag, "CS", "VERIFIED")
	o.seq(tagContentSequence, func() {
		enc.BeginSequence(tagContentSequence)
		if d.Author != "" {
			// PS3.3 Table A.35.1-2: a Basic Text SR's root may have HAS OBS CONTEXT children
			// of types CODE and PNAME; TID 1002 says who observed (wrote) what follows.
			enc.BeginItem()
			w.text(tagRelationshipType, "CS", "HAS OBS CONTEXT")
			w.text(tagValueType, "CS", "CODE")
			w.code(tagConceptNameCodeSequence, codeObserverType)
			w.code(tagConceptCodeSequence, codePerson)
			enc.EndItem()
			enc.BeginItem()
			w.text(tagRelationshipType, "CS", "HAS OBS CONTEXT")
			w.text(tagValueType, "CS", "PNAME")
			w.code(tagConceptNameCodeSequence, codeObserverName)
			w.text(tagPersonName, "PN", d.Author)
			enc.EndItem()
		}
		for _, item := range []struct {
			c    code
			text string
		}{{codeFinding, d.Findings}, {codeImpression, d.Impression}} {
			if item.text == "" {
				continue
			}
			enc.BeginItem()
			w.text(tagRelationshipType, "CS", "CONTAINS")
			w.text(tagValueType, "CS", "TEXT")
			w.code(tagConceptNameCodeSequence, item.c)
			w.text(tagTextValue, "UT", item.text)
			enc.EndItem()
		}
		enc.EndSequence()
	})
	b, err := o.finish()
	if err != nil {
		return nil, fmt.Errorf("build report document: %w", err)
	}
	return b, nil
}

// identity is what every document pacsd writes into a study says about itself.
type identity struct {
	SOPClassUID, SOPInstanceUID, SeriesUID string
	Modality                               string // SR, KO
	SeriesNumber, InstanceNumber           int
	Created                                time.Time // instance creation; zero: now
	Content                                time.Time // Content Date and Time
}

// object collects a document's top-level elements by tag and writes them in ascending
// order (finish): the study's own attributes first, so that storing the document, which
// makes its study-level attributes the study's, keeps what the images said; then the
// document's, which replace any of the same tag.
type object struct {
	body  bytes.Buffer
	enc   *dicom.Encoder
	w     writer
	els   map[dicom.Tag]func()
	class string
	uid   string
}

// newObject starts a document of the study whose attributes (as the index keeps them)
// are study, identified by id: patient and study identification are copied from the
// study, so the document files with its images.
func newObject(study dicom.JSONDataset, id identity) (*object, error) {
	studyUID := study.String(dicom.TagStudyInstanceUID)
	for _, u := range []string{id.SOPInstanceUID, id.SeriesUID, studyUID} {
		if !dicom.ValidUID(u, dicom.UIDLeadingZeros) {
			return nil, fmt.Errorf("UID %q: %w", u, reading.ErrInvalid)
		}
	}
	o := &object{els: map[dicom.Tag]func(){}, class: id.SOPClassUID, uid: id.SOPInstanceUID}
	var err error
	if o.enc, err = dicom.NewEncoder(&o.body, dicom.ExplicitVRLittleEndian); err != nil {
		return nil, err
	}
	o.w = writer{enc: o.enc}
	for key, a := range study {
		t, ok := dicom.ParseTag(key)
		if !ok || !textVRs[a.VR] || len(a.Value) == 0 {
			continue
		}
		v := strings.Join(study.Strings(t), `\`)
		if a.VR == "PN" {
			v = study.PersonName(t).String()
		}
		o.set(t, a.VR, v)
	}
	created := id.Created
	if created.IsZero() {
		created = time.Now()
	}
	st := func(t dicom.Tag) string { return study.String(t) }
	o.set(dicom.TagSpecificCharacterSet, "CS", "ISO_IR 192")
	o.set(tagInstanceCreationDate, "DA", created.Format("20060102"))
	o.set(tagInstanceCreationTime, "TM", created.Format("150405"))
	o.set(dicom.TagSOPClassUID, "UI", id.SOPClassUID)
	o.set(dicom.TagSOPInstanceUID, "UI", id.SOPInstanceUID)
	o.set(dicom.TagStudyDate, "DA", st(dicom.TagStudyDate))
	o.set(tagContentDate, "DA", id.Content.Format("20060102"))
	o.set(dicom.TagStudyTime, "TM", st(dicom.TagStudyTime))
	o.set(tagContentTime, "TM", id.Content.Format("150405"))
	o.set(dicom.TagAccessionNumber, "SH", st(dicom.TagAccessionNumber))
	o.set(dicom.TagModality, "CS", id.Modality)
	o.set(dicom.TagManufacturer, "LO", "pacsd")
	o.set(dicom.TagReferringPhysicianName, "PN", study.PersonName(dicom.TagReferringPhysicianName).String())
	o.seq(tagRefPPSSequence, o.empty(tagRefPPSSequence)) // type 2
	o.set(dicom.TagPatientName, "PN", study.PersonName(dicom.TagPatientName).String())
	o.set(dicom.TagPatientID, "LO", st(dicom.TagPatientID))
	o.set(dicom.TagPatientBirthDate, "DA", st(dicom.TagPatientBirthDate))
	o.set(dicom.TagPatientSex, "CS", st(dicom.TagPatientSex))
	o.set(dicom.TagStudyInstanceUID, "UI", studyUID)
	o.set(dicom.TagSeriesInstanceUID, "UI", id.SeriesUID)
	o.set(dicom.TagStudyID, "SH", st(dicom.TagStudyID))
	o.set(dicom.TagSeriesNumber, "IS", strconv.Itoa(id.SeriesNumber))
	o.set(dicom.TagInstanceNumber, "IS", strconv.Itoa(id.InstanceNumber))
	return o, nil
}

// set makes t a text element; seq makes t whatever fn writes.
func (o *object) set(t dicom.Tag, vr, v string) { o.els[t] = func() { o.w.text(t, vr, v) } }
func (o *object) seq(t dicom.Tag, fn func())    { o.els[t] = fn }

// empty writes t as an empty sequence (a type 2 sequence with nothing to say).
func (o *object) empty(t dicom.Tag) func() {
	return func() { o.enc.BeginSequence(t); o.enc.EndSequence() }
}

// container sets the SR Document Content Module's root (PS3.3 C.17.3): a CONTAINER titled
// title, its items SEPARATE.
func (o *object) container(title code) {
	o.set(tagValueType, "CS", "CONTAINER")
	o.seq(tagConceptNameCodeSequence, func() { o.w.code(tagConceptNameCodeSequence, title) })
	o.set(tagContinuityOfContent, "CS", "SEPARATE")
}

// finish writes the elements in ascending order and returns the Part-10 bytes.
func (o *object) finish() ([]byte, error) {
	tags := make([]dicom.Tag, 0, len(o.els))
	for t := range o.els {
		tags = append(tags, t)
	}
	slices.Sort(tags)
	for _, t := range tags {
		o.els[t]()
	}
	if err := o.enc.Close(); err != nil {
		return nil, err
	}
	if o.w.err != nil {
		return nil, o.w.err
	}
	var out bytes.Buffer
	if _, err := dicom.WriteFileMeta(&out, dicom.FileMeta{
		SOPClassUID:       o.class,
		SOPInstanceUID:    o.uid,
		TransferSyntaxUID: dicom.ExplicitVRLittleEndian,
	}); err != nil {
		return nil, err
	}
	out.Write(o.body.Bytes())
	return out.Bytes(), nil
}

type writer struct {
	enc *dicom.Encoder
	err error
}

func (w *writer) text(t dicom.Tag, vr, s string) {
	b, err := dicom.EncodeText(s, utf8Set, vr)
	if err != nil {
		if w.err == nil {
			w.err = fmt.Errorf("(%04X,%04X): %w", uint32(t)>>16, uint32(t)&0xffff, err)
		}
		return
	}
	w.enc.WriteElement(t, vr, b)
}

func (w *writer) code(t dicom.Tag, c code) {
	w.enc.BeginSequence(t)
	w.enc.BeginItem()
	w.text(tagCodeValue, "SH", c.value)
	w.text(tagCodingSchemeDesignator, "SH", c.scheme)
	w.text(tagCodeMeaning, "LO", c.meaning)
	w.enc.EndItem()
	w.enc.EndSequence()
}

// refs writes a Hierarchical SOP Instance Reference Macro sequence (PS3.3 Table C.17-3):
// one item for the study, one series item per series, in the order first seen.
func (w *writer) refs(t dicom.Tag, studyUID string, refs []Ref) {
	var order []string
	bySeries := map[string][]Ref{}
	for _, r := range refs {
		if _, ok := bySeries[r.SeriesUID]; !ok {
			order = append(order, r.SeriesUID)
		}
		bySeries[r.SeriesUID] = append(bySeries[r.SeriesUID], r)
	}
	w.enc.BeginSequence(t)
	w.enc.BeginItem()
	w.enc.BeginSequence(tagReferencedSeriesSequence)
	for _, s := range order {
		w.enc.BeginItem()
		w.enc.BeginSequence(tagReferencedSOPSequence)
		for _, r := range bySeries[s] {
			w.enc.BeginItem()
			w.text(tagReferencedSOPClassUID, "UI", r.SOPClassUID)
			w.text(tagReferencedSOPInstanceUID, "UI", r.SOPInstanceUID)
			w.enc.EndItem()
		}
		w.enc.EndSequence()
		w.text(dicom.TagSeriesInstanceUID, "UI", s)
		w.enc.EndItem()
	}
	w.enc.EndSequence()
	w.text(dicom.TagStudyInstanceUID, "UI", studyUID)
	w.enc.EndItem()
	w.enc.EndSequence()
}
