package reading

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// A study's measurements and annotations, as the radiologist drew them on its images. The
// repository keeps the editable state (one set per study, replaced whole at every save, with
// a version against lost updates); the record that travels with the study is the
// measurement SR the viewer stores at every save (reading/sr: BuildMeasurements).

// AnnotationKind is what was drawn.
type AnnotationKind string

const (
	AnnotLength  AnnotationKind = "length"  // a line: 2 points
	AnnotAngle   AnnotationKind = "angle"   // 3 points, the vertex in the middle
	AnnotCobb    AnnotationKind = "cobb"    // two lines, 4 points: the angle between them
	AnnotEllipse AnnotationKind = "ellipse" // an axis-aligned ellipse ROI: 2 corners of its bounding box
	AnnotRect    AnnotationKind = "rect"    // a rectangle ROI: 2 opposite corners
	AnnotArrow   AnnotationKind = "arrow"   // 2 points: tail, then the head it points at
	AnnotText    AnnotationKind = "text"    // 1 point: where the text is anchored
)

// pointsOf is how many points each kind has.
var pointsOf = map[AnnotationKind]int{AnnotLength: 2, AnnotAngle: 3, AnnotCobb: 4, AnnotEllipse: 2, AnnotRect: 2,
	AnnotArrow: 2, AnnotText: 1}

// Calibration sources: where a measurement's millimetres per pixel came from. "" is
// uncalibrated: lengths and areas are then in pixels.
const (
	CalPixelSpacing       = "PixelSpacing"               // (0028,0030): in the patient
	CalImagerPixelSpacing = "ImagerPixelSpacing"         // (0018,1164): at the detector, not corrected for magnification
	CalNominalScanned     = "NominalScannedPixelSpacing" // (0018,2010): a digitised film
	CalUltrasoundRegion   = "UltrasoundRegion"           // (0018,6011) region's Physical Delta X/Y in cm
	MaxAnnotations        = 500                          // per study
	MaxAnnotationText     = 500                          // characters of a text annotation or label
	maxCoordinate         = 1 << 20                      // image coordinates beyond any image's size
)

var calibrations = map[string]bool{"": true, CalPixelSpacing: true, CalImagerPixelSpacing: true, CalNominalScanned: true,
	CalUltrasoundRegion: true}

// Point is a position in an image, in pixel units: X the column, Y the row, continuous, with
// (0,0) the top left corner of the top left pixel (PS3.3 C.18.6.1.2, as SCOORD has it).
type Point struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// Annotation is one measurement or annotation on one frame of one image. The measured values
// are the viewer's, computed where the pixels are (ROI statistics need the stored values);
// which of them a kind has: Length (length: mm, or pixels when uncalibrated), Angle (angle,
// cobb: degrees), Area, Mean and SD (ellipse, rect: Area in mm² or pixels², Mean and SD in
// the stored values' units after the Modality LUT). The JSON names are the viewer API's.
type Annotation struct {
	ID             string         `json:"id"` // a UID: the SR's Tracking Unique Identifier
	Kind           AnnotationKind `json:"kind"`
	SeriesUID      string         `json:"series"`
	SOPInstanceUID string         `json:"sop"`
	SOPClassUID    string         `json:"sopClass"`
	Frame          int            `json:"frame"`  // 0-based
	Frames         int            `json:"frames"` // the image's Number of Frames (0 or 1: single-frame); a frame is named only when it has several
	Points         []Point        `json:"points"`
	Text           string         `json:"text,omitempty"` // text annotation, arrow label
	Calibration    string         `json:"calibration,omitempty"`
	Length         *float64       `json:"length,omitempty"`
	Angle          *float64       `json:"angle,omitempty"`
	Area           *float64       `json:"area,omitempty"`
	Mean           *float64       `json:"mean,omitempty"`
	SD             *float64       `json:"sd,omitempty"`
}

// Calibrated reports whether the annotation's lengths and areas are in millimetres.
func (a Annotation) Calibrated() bool { return a.Calibration != "" }

// AnnotationSet is a study's annotations as last saved.
type AnnotationSet struct {
	StudyUID      string
	Version       int // 0: never saved; each save adds one
	Items         []Annotation
	UpdatedBy     int64
	UpdatedByName string
	UpdatedAt     time.Time
	// The measurement SR of this version, once stored ("" until then), and the series the
	// study's measurement SRs share.
	SOPInstanceUID string
	SeriesUID      string
}

// Annotations keeps a study's measurements and annotations.
type Annotations interface {
	// Annotations returns the study's set; a study with none saved has Version 0 and no
	// items. ErrNotFound: no such study.
	Annotations(ctx context.Context, studyUID string) (AnnotationSet, error)
	// SaveAnnotations replaces the study's set with items as version base+1. ErrConflict:
	// the set is no longer at version base (someone saved meanwhile); ErrInvalid: an item
	// fails CheckAnnotations; ErrNotFound: no such study.
	SaveAnnotations(ctx context.Context, studyUID string, base int, items []Annotation, by User, at time.Time) (AnnotationSet, error)
	// SetAnnotationObject records the SR stored for version of the study's set (and the
	// series the study's measurement SRs share). ErrNotFound: the set is not at version.
	SetAnnotationObject(ctx context.Context, studyUID string, version int, sopUID, seriesUID string) error
}

// CheckAnnotations validates items before they are saved: known kinds with their number of
// points, finite coordinates and values, references to an image, UIDs as identifiers, text
// of bounded length, no identifier twice.
func CheckAnnotations(items []Annotation) error {
	if len(items) > MaxAnnotations {
		return fmt.Errorf("at most %d annotations per study: %w", MaxAnnotations, ErrInvalid)
	}
	seen := map[string]bool{}
	for i, a := range items {
		if err := checkAnnotation(a); err != nil {
			return fmt.Errorf("annotation %d: %w", i+1, err)
		}
		if seen[a.ID] {
			return fmt.Errorf("annotation %d: identifier %s twice: %w", i+1, a.ID, ErrInvalid)
		}
		seen[a.ID] = true
	}
	return nil
}

func checkAnnotation(a Annotation) error {
	n, ok := pointsOf[a.Kind]
	switch {
	case !ok:
		return fmt.Errorf("kind %q: %w", a.Kind, ErrInvalid)
	case len(a.Points) != n:
		return fmt.Errorf("%s has %d points, not %d: %w", a.Kind, len(a.Points), n, ErrInvalid)
	case !uidLike(a.ID) || !uidLike(a.SeriesUID) || !uidLike(a.SOPInstanceUID) || !uidLike(a.SOPClassUID):
		return fmt.Errorf("identifiers must be UIDs: %w", ErrInvalid)
	case a.Frame < 0 || a.Frame >= max(a.Frames, 1):
		return fmt.Errorf("frame %d of an image of %d: %w", a.Frame, max(a.Frames, 1), ErrInvalid)
	case !calibrations[a.Calibration]:
		return fmt.Errorf("calibration %q: %w", a.Calibration, ErrInvalid)
	case !utf8.ValidString(a.Text) || utf8.RuneCountInString(a.Text) > MaxAnnotationText:
		return fmt.Errorf("text must be valid UTF-8 of at most %d characters: %w", MaxAnnotationText, ErrInvalid)
	case a.Kind == AnnotText && strings.TrimSpace(a.Text) == "":
		return fmt.Errorf("a text annotation without text: %w", ErrInvalid)
	}
	for _, p := range a.Points {
		if !finite(p.X) || !finite(p.Y) || math.Abs(p.X) > maxCoordinate || math.Abs(p.Y) > maxCoordinate {
			return fmt.Errorf("point (%v, %v): %w", p.X, p.Y, ErrInvalid)
		}
	}
	for _, v := range []*float64{a.Length, a.Angle, a.Area, a.Mean, a.SD} {
		if v != nil && !finite(*v) {
			return fmt.Errorf("a measured value is not a number: %w", ErrInvalid)
		}
	}
	return nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// uidLike is the shape of a UID (PS3.5 9.1): digits and dots, at most 64 characters.
// Package dicom checks UIDs fully where objects are written.
func uidLike(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '.' && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}
