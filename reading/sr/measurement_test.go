package sr

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pacsd/internal/peertest"
	"pacsd/reading"
)

func f64(v float64) *float64 { return &v }

// measurements is a document with every kind of annotation on the DR of testdata, the
// length calibrated (100 px at 0.143 mm), one ROI uncalibrated on frame 3 of an ultrasound cine.
func measurements(t *testing.T) Measurements {
	dr := func(id string, kind reading.AnnotationKind, pts ...reading.Point) reading.Annotation {
		return reading.Annotation{ID: id, Kind: kind, SeriesUID: "2.25.7", SOPClassUID: "1.2.840.10008.5.1.4.1.1.1.1",
			SOPInstanceUID: "2.25.8", Points: pts}
	}
	length := dr("2.25.101", reading.AnnotLength, reading.Point{X: 10, Y: 20}, reading.Point{X: 110, Y: 20})
	length.Calibration, length.Length = reading.CalPixelSpacing, f64(14.3)
	angle := dr("2.25.102", reading.AnnotAngle, reading.Point{X: 0, Y: 0}, reading.Point{X: 10, Y: 0}, reading.Point{X: 10, Y: 10})
	angle.Angle = f64(90)
	cobb := dr("2.25.103", reading.AnnotCobb, reading.Point{X: 0, Y: 0}, reading.Point{X: 10, Y: 1},
		reading.Point{X: 0, Y: 30}, reading.Point{X: 10, Y: 27})
	cobb.Angle = f64(22.43)
	ellipse := dr("2.25.104", reading.AnnotEllipse, reading.Point{X: 5, Y: 5}, reading.Point{X: 25, Y: 45})
	ellipse.Calibration, ellipse.Area, ellipse.Mean, ellipse.SD = reading.CalImagerPixelSpacing, f64(12.86), f64(2048.5), f64(31.25)
	rect := dr("2.25.105", reading.AnnotRect, reading.Point{X: 40, Y: 40}, reading.Point{X: 60, Y: 50})
	// A frame is named only in a multi-frame image (PS3.3 C.18.3.1.1): an ultrasound cine.
	rect.SOPClassUID, rect.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.3.1", "2.25.9"
	rect.Frame, rect.Frames, rect.Area, rect.Mean, rect.SD = 2, 30, f64(200), f64(100), f64(0)
	arrow := dr("2.25.106", reading.AnnotArrow, reading.Point{X: 70, Y: 70}, reading.Point{X: 80, Y: 75})
	arrow.Text = "结节"
	text := dr("2.25.107", reading.AnnotText, reading.Point{X: 90, Y: 15})
	text.Text = "右下肺野见片状影"
	return Measurements{
		SOPInstanceUID:    "2.25.2001",
		SeriesUID:         "2.25.2002",
		SeriesNumber:      9902,
		InstanceNumber:    3,
		SeriesDescription: "测量",
		StudyAttrs:        studyAttrs(t),
		Observer:          "李医生",
		Saved:             time.Date(2026, 3, 2, 10, 15, 0, 0, time.FixedZone("CST", 8*3600)),
		Items:             []reading.Annotation{length, angle, cobb, ellipse, rect, arrow, text},
		Predecessor:       &Ref{SeriesUID: "2.25.2002", SOPClassUID: ComprehensiveSRStorage, SOPInstanceUID: "2.25.2000"},
	}
}

// TestMeasurementsDCMTK has DCMTK's SR reader check the document the way an outside
// program reads it: dsrdump parses it as a Comprehensive SR of the study's patient in the
// series 测量, with no error or warning, and shows the report's structure, each value with
// its unit, the coordinates and the text. (TestMeasurementsAPI and TestOHIFShowsMeasurements
// store it through Archive.Put and find it over QIDO-RS.)
func TestMeasurementsDCMTK(t *testing.T) {
	peertest.Tool(t, "dsrdump")
	b, err := BuildMeasurements(measurements(t))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "measurements.dcm")
	s := runTool(t, p, b, "dsrdump", "+U8", "+Pl", "+Pc", "+Pt")
	for _, want := range []string{
		"Comprehensive SR", "Imaging Measurement Report", "TID 1500", "UNVERIFIED", "张伟", "Series              : 测量 (#9902)",
		"Image Library", "Imaging Measurements", "Measurement Group",
		`"长度 1"`, `"2.25.101"`, `(410668003,SCT,"Length")="14.3" (mm,UCUM,"millimeter")`,
		`(1483009,SCT,"Angle")="90" (deg,UCUM,"degree")`, `(285285000,SCT,"Cobb angle")="22.43"`,
		`(42798000,SCT,"Area")="12.86" (mm2,UCUM,"square millimeter")`, `(373098007,SCT,"Mean")="2048.5"`,
		`(42798000,SCT,"Area")="200" ({px2},UCUM,"square pixel")`,
		"ELLIPSE", "POLYLINE", "POINT", `"结节"`, `"右下肺野见片状影"`, `"李医生"`,
		"10/20,110/20",          // the length's end points
		"15/5,15/45,5/25,25/25", // the ellipse's major (vertical) then minor axis
	} {
		if !strings.Contains(s, want) {
			t.Errorf("dsrdump output lacks %s", want)
		}
	}
	dsrdumpClean(t, s)
	checkIOD(t, p, "ComprehensiveSR")
	if t.Failed() || testing.Verbose() {
		t.Logf("dsrdump output:\n%s", s)
	}
}

// TestMeasurementsRefusesInvalid: a document is not written from annotations the
// repository would refuse.
func TestMeasurementsRefusesInvalid(t *testing.T) {
	m := measurements(t)
	m.Items[0].Points = m.Items[0].Points[:1]
	if _, err := BuildMeasurements(m); err == nil {
		t.Error("BuildMeasurements accepted a length with one point")
	}
}

// TestMeasurementsEmpty: the save that removed the last measurement is a document too (it
// supersedes the one that had them): no image, no measurement group, and still valid.
func TestMeasurementsEmpty(t *testing.T) {
	peertest.Tool(t, "dsrdump")
	m := measurements(t)
	m.Items = nil
	b, err := BuildMeasurements(m)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "empty.dcm")
	s := runTool(t, p, b, "dsrdump", "+U8", "+Pl")
	if !strings.Contains(s, "Imaging Measurements") || strings.Contains(s, "Measurement Group") || strings.Contains(s, "IMAGE") {
		t.Errorf("dsrdump output of an empty set:\n%s", s)
	}
	dsrdumpClean(t, s)
	checkIOD(t, p, "ComprehensiveSR")
}
