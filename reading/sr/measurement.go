package sr

// Measurement documents: the reading room's measurements and annotations as an Imaging
// Measurement Report (PS3.16 TID 1500) in a Comprehensive SR (PS3.3 A.35.3).
//
// Why an SR and not a presentation state: the measured values are what must travel with
// the study, as coded numbers with units that any SR reader (OHIF, DCMTK's dsrdump, another
// PACS) shows and searches, each pinned by SCOORD to the image and frame it was made on; a
// Grayscale Softcopy Presentation State carries graphics and text but no coded values, and
// OHIF 3 does not show presentation states at all, while it displays TID 1500 documents.
// The drawing state the viewer edits (both Cobb lines, an arrow's tail) stays in the
// reading room's repository; the SR is the record.
//
// How each kind is carried (PS3.16):
//   - length, angle, Cobb angle: TID 1501 measurement groups, a NUM (Length 410668003,
//     Angle 1483009, Cobb angle 285285000, SCT) INFERRED FROM the SCOORD POLYLINEs it was
//     measured on (TID 300 and TID 320);
//   - ellipse and rectangle ROIs: TID 1410 planar ROI groups, the Image Region SCOORD
//     (ELLIPSE, or a closed POLYLINE) with NUMs Area, Mean and Standard Deviation;
//   - arrow and text: TID 1410 groups whose Image Region is a POINT (the arrow's head, the
//     text's anchor) with the text as a TEXT Comment (121106, DCM); OHIF draws such a POINT
//     as an arrow.
//
// Every group has a Tracking Identifier (the kind in words and its number) and a Tracking
// Unique Identifier (the annotation's ID, stable across saves). Coordinates are image pixel
// coordinates (PS3.3 C.18.6.1.2), the frame referenced when the image has several. Lengths
// and areas are in mm and mm² when the image is calibrated, otherwise in pixels ("{px}",
// "{px2}" UCUM annotations), so an uncalibrated value is never mistaken for millimetres.
// Each save is a new instance of the study's measurement series, with the instance it
// supersedes as its predecessor; none is deleted.

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"time"

	"pacsd/dicom"
	"pacsd/reading"
)

// ComprehensiveSRStorage is the SOP Class UID of what BuildMeasurements writes (PS3.4 B.5).
const ComprehensiveSRStorage = "1.2.840.10008.5.1.4.1.1.88.33"

// Measurements is what BuildMeasurements needs.
type Measurements struct {
	SOPInstanceUID    string
	SeriesUID         string
	SeriesNumber      int
	InstanceNumber    int    // the set's version
	SeriesDescription string // e.g. 测量
	// StudyAttrs are the study's attributes as the index keeps them.
	StudyAttrs dicom.JSONDataset
	Observer   string    // who saved the set (Person Observer Name)
	Saved      time.Time // Content Date and Time
	Created    time.Time
	Items      []reading.Annotation
	// Predecessor is the measurement document this one supersedes.
	Predecessor *Ref
}

// Tags of content items (PS3.3 C.17.3, C.18) not named above.
const (
	tagMappingResource       dicom.Tag = 0x00080105
	tagReferencedFrameNumber dicom.Tag = 0x00081160
	tagMeasurementUnits      dicom.Tag = 0x004008EA
	tagPersonName            dicom.Tag = 0x0040A123
	tagUID                   dicom.Tag = 0x0040A124
	tagConceptCodeSequence   dicom.Tag = 0x0040A168
	tagMeasuredValueSequence dicom.Tag = 0x0040A300
	tagNumericValue          dicom.Tag = 0x0040A30A
	tagContentTemplate       dicom.Tag = 0x0040A504
	tagTemplateIdentifier    dicom.Tag = 0x0040DB00
	tagGraphicData           dicom.Tag = 0x00700022
	tagGraphicType           dicom.Tag = 0x00700023
)

// Concepts of TID 1500 and the groups it contains (PS3.16 Annex D and the CIDs named).
var (
	codeMeasurementReport = code{"126000", "DCM", "Imaging Measurement Report"}
	codeLanguage          = code{"121049", "DCM", "Language of Content Item and Descendants"}
	codeChinese           = code{"zh-CN", "RFC5646", "Chinese (China)"}
	codeObserverType      = code{"121005", "DCM", "Observer Type"}
	codePerson            = code{"121006", "DCM", "Person"}
	codeObserverName      = code{"121008", "DCM", "Person Observer Name"}
	codeProcedureReported = code{"121058", "DCM", "Procedure reported"}
	codeImagingProcedure  = code{"363679005", "SCT", "Imaging procedure"}
	codeImageLibrary      = code{"111028", "DCM", "Image Library"}
	codeImageLibraryGroup = code{"126200", "DCM", "Image Library Group"}
	codeImagingMeasures   = code{"126010", "DCM", "Imaging Measurements"}
	codeMeasurementGroup  = code{"125007", "DCM", "Measurement Group"}
	codeTrackingID        = code{"112039", "DCM", "Tracking Identifier"}
	codeTrackingUID       = code{"112040", "DCM", "Tracking Unique Identifier"}
	codeImageRegion       = code{"111030", "DCM", "Image Region"}
	codeComment           = code{"121106", "DCM", "Comment"}
	codeLength            = code{"410668003", "SCT", "Length"}
	codeAngle             = code{"1483009", "SCT", "Angle"}
	codeCobbAngle         = code{"285285000", "SCT", "Cobb angle"}
	codeArea              = code{"42798000", "SCT", "Area"}
	codeMean              = code{"373098007", "SCT", "Mean"}
	codeSD                = code{"386136009", "SCT", "Standard Deviation"}

	unitMM       = code{"mm", "UCUM", "millimeter"}
	unitMM2      = code{"mm2", "UCUM", "square millimeter"}
	unitPixel    = code{"{px}", "UCUM", "pixel"}
	unitPixel2   = code{"{px2}", "UCUM", "square pixel"}
	unitDegree   = code{"deg", "UCUM", "degree"}
	unitNoneUCUM = code{"1", "UCUM", "no units"}
)

// kindNames name each kind in the Tracking Identifier, as the reading room shows it.
var kindNames = map[reading.AnnotationKind]string{reading.AnnotLength: "长度", reading.AnnotAngle: "角度",
	reading.AnnotCobb: "Cobb角", reading.AnnotEllipse: "椭圆ROI", reading.AnnotRect: "矩形ROI", reading.AnnotArrow: "箭头",
	reading.AnnotText: "文字"}

// item is one SR content item (PS3.3 C.17.3.2) with the value its type has.
type item struct {
	rel, vt  string
	concept  *code
	text     string // TEXT; UIDREF's UID; PNAME's name
	value    *code  // CODE
	num      *float64
	unit     code
	graphic  string // SCOORD: graphic type and data
	points   []reading.Point
	image    *imageRef // IMAGE
	children []item
}

type imageRef struct {
	class, uid string
	frame      int // 1-based; 0: a single-frame image, no frame named
}

// BuildMeasurements returns the Part-10 bytes of the measurement document.
func BuildMeasurements(m Measurements) ([]byte, error) {
	if err := reading.CheckAnnotations(m.Items); err != nil {
		return nil, fmt.Errorf("build measurement document: %w", err)
	}
	studyUID := m.StudyAttrs.String(dicom.TagStudyInstanceUID)
	o, err := newObject(m.StudyAttrs, identity{SOPClassUID: ComprehensiveSRStorage, SOPInstanceUID: m.SOPInstanceUID,
		SeriesUID: m.SeriesUID, Modality: "SR", SeriesNumber: m.SeriesNumber, InstanceNumber: m.InstanceNumber,
		Created: m.Created, Content: m.Saved})
	if err != nil {
		return nil, fmt.Errorf("build measurement document: %w", err)
	}
	if m.SeriesDescription != "" {
		o.set(dicom.TagSeriesDescription, "LO", m.SeriesDescription)
	}
	o.container(codeMeasurementReport)
	o.template("1500")
	if m.Predecessor != nil {
		o.seq(tagPredecessorDocuments, func() { o.w.refs(tagPredecessorDocuments, studyUID, []Ref{*m.Predecessor}) })
	}
	o.seq(tagPerformedProcedureCodes, o.empty(tagPerformedProcedureCodes)) // type 2
	// The images measured are the document's evidence (PS3.3 C.17.2.3), each once.
	var evidence []Ref
	seen := map[string]bool{}
	var library []item
	for _, a := range m.Items {
		if seen[a.SOPInstanceUID] {
			continue
		}
		seen[a.SOPInstanceUID] = true
		evidence = append(evidence, Ref{SeriesUID: a.SeriesUID, SOPClassUID: a.SOPClassUID, SOPInstanceUID: a.SOPInstanceUID})
		library = append(library, item{rel: "CONTAINS", vt: "IMAGE", image: &imageRef{class: a.SOPClassUID, uid: a.SOPInstanceUID}})
	}
	if len(evidence) > 0 {
		o.seq(tagCurrentRequestedEvidence, func() { o.w.refs(tagCurrentRequestedEvidence, studyUID, evidence) })
	}
	o.set(tagCompletionFlag, "CS", "COMPLETE")
	o.set(tagVerificationFlag, "CS", "UNVERIFIED")

	content := []item{
		{rel: "HAS CONCEPT MOD", vt: "CODE", concept: &codeLanguage, value: &codeChinese},
		{rel: "HAS OBS CONTEXT", vt: "CODE", concept: &codeObserverType, value: &codePerson},
		{rel: "HAS OBS CONTEXT", vt: "PNAME", concept: &codeObserverName, text: m.Observer},
		{rel: "HAS CONCEPT MOD", vt: "CODE", concept: &codeProcedureReported, value: &codeImagingProcedure},
		{rel: "CONTAINS", vt: "CONTAINER", concept: &codeImageLibrary},
	}
	if len(library) > 0 {
		// TID 1600: a group holds images; a set emptied by its last save lists none.
		content[4].children = []item{{rel: "CONTAINS", vt: "CONTAINER", concept: &codeImageLibraryGroup, children: library}}
	}
	counts := map[reading.AnnotationKind]int{}
	var groups []item
	for _, a := range m.Items {
		counts[a.Kind]++
		groups = append(groups, group(a, counts[a.Kind]))
	}
	content = append(content, item{rel: "CONTAINS", vt: "CONTAINER", concept: &codeImagingMeasures, children: groups})
	o.seq(tagContentSequence, func() { o.w.items(content) })
	b, err := o.finish()
	if err != nil {
		return nil, fmt.Errorf("build measurement document: %w", err)
	}
	return b, nil
}

// group is the measurement group of annotation a, the n-th of its kind.
func group(a reading.Annotation, n int) item {
	ref := &imageRef{class: a.SOPClassUID, uid: a.SOPInstanceUID}
	if a.Frames > 1 {
		// PS3.3 C.17.3.2.1 (Referenced Frame Number, 1C): the frame of a multi-frame image.
		ref.frame = a.Frame + 1
	}
	scoord := func(concept *code, graphic string, pts []reading.Point) item {
		return item{rel: "CONTAINS", vt: "SCOORD", concept: concept, graphic: graphic, points: pts,
			children: []item{{rel: "SELECTED FROM", vt: "IMAGE", image: ref}}}
	}
	num := func(concept code, v *float64, unit code, from ...item) item {
		c := concept
		for i := range from {
			from[i].rel, from[i].concept = "INFERRED FROM", nil
		}
		return item{rel: "CONTAINS", vt: "NUM", concept: &c, num: v, unit: unit, children: from}
	}
	lengthUnit, areaUnit := unitPixel, unitPixel2
	if a.Calibrated() {
		lengthUnit, areaUnit = unitMM, unitMM2
	}
	g := []item{
		{rel: "CONTAINS", vt: "TEXT", concept: &codeTrackingID, text: fmt.Sprintf("%s %d", kindNames[a.Kind], n)},
		{rel: "CONTAINS", vt: "UIDREF", concept: &codeTrackingUID, text: a.ID},
	}
	p := a.Points
	switch a.Kind {
	case reading.AnnotLength:
		g = append(g, num(codeLength, a.Length, lengthUnit, scoord(nil, "POLYLINE", p)))
	case reading.AnnotAngle:
		g = append(g, num(codeAngle, a.Angle, unitDegree, scoord(nil, "POLYLINE", p)))
	case reading.AnnotCobb:
		g = append(g, num(codeCobbAngle, a.Angle, unitDegree, scoord(nil, "POLYLINE", p[:2]), scoord(nil, "POLYLINE", p[2:])))
	case reading.AnnotEllipse, reading.AnnotRect:
		if a.Kind == reading.AnnotEllipse {
			g = append(g, scoord(&codeImageRegion, "ELLIPSE", ellipseAxes(p[0], p[1])))
		} else {
			x0, y0, x1, y1 := p[0].X, p[0].Y, p[1].X, p[1].Y
			g = append(g, scoord(&codeImageRegion, "POLYLINE", []reading.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1},
				{X: x0, Y: y1}, {X: x0, Y: y0}}))
		}
		for _, v := range []struct {
			c    code
			v    *float64
			unit code
		}{{codeArea, a.Area, areaUnit}, {codeMean, a.Mean, unitNoneUCUM}, {codeSD, a.SD, unitNoneUCUM}} {
			if v.v != nil {
				g = append(g, num(v.c, v.v, v.unit))
			}
		}
	case reading.AnnotArrow, reading.AnnotText:
		g = append(g, scoord(&codeImageRegion, "POINT", p[len(p)-1:]))
	}
	if a.Text != "" {
		g = append(g, item{rel: "CONTAINS", vt: "TEXT", concept: &codeComment, text: a.Text})
	}
	return item{rel: "CONTAINS", vt: "CONTAINER", concept: &codeMeasurementGroup, children: g}
}

// ellipseAxes turns an ellipse's bounding box into SCOORD ELLIPSE data (PS3.3
// C.18.6.1.2): the major axis' end points, then the minor axis'.
func ellipseAxes(a, b reading.Point) []reading.Point {
	cx, cy := (a.X+b.X)/2, (a.Y+b.Y)/2
	rx, ry := math.Abs(b.X-a.X)/2, math.Abs(b.Y-a.Y)/2
	horiz := []reading.Point{{X: cx - rx, Y: cy}, {X: cx + rx, Y: cy}}
	vert := []reading.Point{{X: cx, Y: cy - ry}, {X: cx, Y: cy + ry}}
	if ry > rx {
		return append(vert, horiz...)
	}
	return append(horiz, vert...)
}

// items writes a Content Sequence of items, each item's elements in ascending tag order.
func (w *writer) items(items []item) {
	w.enc.BeginSequence(tagContentSequence)
	for _, it := range items {
		w.enc.BeginItem()
		if it.image != nil {
			w.enc.BeginSequence(tagReferencedSOPSequence)
			w.enc.BeginItem()
			w.text(tagReferencedSOPClassUID, "UI", it.image.class)
			w.text(tagReferencedSOPInstanceUID, "UI", it.image.uid)
			if it.image.frame > 0 {
				w.text(tagReferencedFrameNumber, "IS", strconv.Itoa(it.image.frame))
			}
			w.enc.EndItem()
			w.enc.EndSequence()
		}
		w.text(tagRelationshipType, "CS", it.rel)
		w.text(tagValueType, "CS", it.vt)
		if it.concept != nil {
			w.code(tagConceptNameCodeSequence, *it.concept)
		}
		switch it.vt {
		case "CONTAINER":
			w.text(tagContinuityOfContent, "CS", "SEPARATE")
		case "PNAME":
			w.text(tagPersonName, "PN", it.text)
		case "UIDREF":
			w.text(tagUID, "UI", it.text)
		case "TEXT":
			w.text(tagTextValue, "UT", it.text)
		case "CODE":
			w.code(tagConceptCodeSequence, *it.value)
		case "NUM":
			// PS3.3 C.18.1: an empty Measured Value Sequence says the value is unknown.
			w.enc.BeginSequence(tagMeasuredValueSequence)
			if it.num != nil {
				w.enc.BeginItem()
				w.code(tagMeasurementUnits, it.unit)
				w.text(tagNumericValue, "DS", formatDS(*it.num))
				w.enc.EndItem()
			}
			w.enc.EndSequence()
		}
		if len(it.children) > 0 {
			w.items(it.children)
		}
		if it.vt == "SCOORD" {
			data := make([]byte, 0, 8*len(it.points))
			for _, p := range it.points {
				data = binary.LittleEndian.AppendUint32(data, math.Float32bits(float32(p.X)))
				data = binary.LittleEndian.AppendUint32(data, math.Float32bits(float32(p.Y)))
			}
			w.enc.WriteElement(tagGraphicData, "FL", data)
			w.text(tagGraphicType, "CS", it.graphic)
		}
		w.enc.EndItem()
	}
	w.enc.EndSequence()
}

// formatDS writes v as a Decimal String of at most 16 characters (PS3.5 6.2), to the
// thousandth: finer than any measurement made on screen.
func formatDS(v float64) string {
	s := strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64)
	if len(s) > 16 {
		s = strconv.FormatFloat(v, 'g', 10, 64)
	}
	return s
}
