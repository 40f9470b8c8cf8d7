package readingtest

import (
	"context"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	"pacsd/reading"
)

func ptr(f float64) *float64 { return &f }

// annotation is a valid annotation of the given kind on study 5.1's image.
func annotation(id string, kind reading.AnnotationKind, pts ...reading.Point) reading.Annotation {
	return reading.Annotation{ID: id, Kind: kind, SeriesUID: "5.1.1", SOPInstanceUID: "5.1.1.1",
		SOPClassUID: "1.2.840.10008.5.1.4.1.1.1.1", Points: pts}
}

// testAnnotations: a study's set starts empty at version 0, is replaced whole at each save
// with the version counting up, refuses a save from a stale version, keeps every field
// (values, calibration, Chinese text), records the SR stored per version and forgets it
// at the next save, and refuses invalid items and unknown studies.
func testAnnotations(t *testing.T, e Env) {
	ctx := context.Background()
	r := e.Repo
	e.AddStudy(t, Study{UID: "5.1", PatientName: "张伟", Modality: "DX", ReceivedAt: base})
	e.AddStudy(t, Study{UID: "5.2", PatientName: "李娜", Modality: "US", ReceivedAt: base})
	doc := must(r.CreateUser(ctx, reading.User{Username: "wang", DisplayName: "王医生", Role: reading.RoleRadiologist, PasswordHash: "h"}))(t)

	s := must(r.Annotations(ctx, "5.1"))(t)
	if s.Version != 0 || len(s.Items) != 0 || s.StudyUID != "5.1" {
		t.Fatalf("a study's set before any save: %+v", s)
	}
	if _, err := r.Annotations(ctx, "9.9"); !errors.Is(err, reading.ErrNotFound) {
		t.Errorf("annotations of an unknown study: %v, want ErrNotFound", err)
	}

	length := annotation("2.25.11", reading.AnnotLength, reading.Point{X: 10.5, Y: 20}, reading.Point{X: 110.5, Y: 20})
	length.Calibration, length.Length = reading.CalPixelSpacing, ptr(14.3)
	roi := annotation("2.25.12", reading.AnnotEllipse, reading.Point{X: 5, Y: 5}, reading.Point{X: 25, Y: 15})
	roi.Frame, roi.Frames, roi.Area, roi.Mean, roi.SD = 2, 30, ptr(157.08), ptr(2048.25), ptr(31.5)
	note := annotation("2.25.13", reading.AnnotText, reading.Point{X: 50, Y: 60})
	note.Text = "右下肺结节？"
	items := []reading.Annotation{length, roi, note}

	at := base.Add(time.Hour)
	saved := must(r.SaveAnnotations(ctx, "5.1", 0, items, doc, at))(t)
	if saved.Version != 1 || saved.UpdatedByName != "王医生" || !saved.UpdatedAt.Equal(at) || saved.SOPInstanceUID != "" {
		t.Errorf("first save = %+v", saved)
	}
	got := must(r.Annotations(ctx, "5.1"))(t)
	if got.Version != 1 || !reflect.DeepEqual(got.Items, items) || got.UpdatedBy != doc.ID || !got.UpdatedAt.Equal(at) {
		t.Errorf("read back %+v\nwant items %+v", got, items)
	}
	if other := must(r.Annotations(ctx, "5.2"))(t); other.Version != 0 || len(other.Items) != 0 {
		t.Errorf("another study's set changed: %+v", other)
	}

	// Someone else saved version 1 meanwhile: a save based on version 0 is refused.
	if _, err := r.SaveAnnotations(ctx, "5.1", 0, items[:1], doc, at); !errors.Is(err, reading.ErrConflict) {
		t.Errorf("save from a stale version: %v, want ErrConflict", err)
	}

	// The SR of version 1 is recorded; the next save has none yet, keeps the series.
	if err := r.SetAnnotationObject(ctx, "5.1", 1, "2.25.901", "2.25.900"); err != nil {
		t.Fatal(err)
	}
	if err := r.SetAnnotationObject(ctx, "5.1", 7, "2.25.902", "2.25.900"); !errors.Is(err, reading.ErrNotFound) {
		t.Errorf("object of a version that is not the set's: %v, want ErrNotFound", err)
	}
	got = must(r.Annotations(ctx, "5.1"))(t)
	if got.SOPInstanceUID != "2.25.901" || got.SeriesUID != "2.25.900" {
		t.Errorf("after SetAnnotationObject: %+v", got)
	}
	second := must(r.SaveAnnotations(ctx, "5.1", 1, items[1:], doc, at.Add(time.Minute)))(t)
	got = must(r.Annotations(ctx, "5.1"))(t)
	if second.Version != 2 || got.Version != 2 || len(got.Items) != 2 || got.Items[0].ID != "2.25.12" ||
		got.SOPInstanceUID != "" || got.SeriesUID != "2.25.900" {
		t.Errorf("second save %+v, read back %+v", second, got)
	}
	// Deleting every annotation is a save of none.
	if empty := must(r.SaveAnnotations(ctx, "5.1", 2, nil, doc, at))(t); empty.Version != 3 {
		t.Errorf("empty save: %+v", empty)
	}
	if got = must(r.Annotations(ctx, "5.1"))(t); len(got.Items) != 0 || got.Items == nil {
		t.Errorf("after the empty save: %+v", got)
	}

	if _, err := r.SaveAnnotations(ctx, "9.9", 0, items, doc, at); !errors.Is(err, reading.ErrNotFound) {
		t.Errorf("save for an unknown study: %v, want ErrNotFound", err)
	}
	bad := func(f func(a *reading.Annotation)) []reading.Annotation {
		a := length
		a.Points = append([]reading.Point(nil), length.Points...)
		f(&a)
		return []reading.Annotation{a}
	}
	for name, it := range map[string][]reading.Annotation{
		"unknown kind":       bad(func(a *reading.Annotation) { a.Kind = "circle" }),
		"too few points":     bad(func(a *reading.Annotation) { a.Points = a.Points[:1] }),
		"not a UID":          bad(func(a *reading.Annotation) { a.ID = "abc" }),
		"no image":           bad(func(a *reading.Annotation) { a.SOPInstanceUID = "" }),
		"negative frame":     bad(func(a *reading.Annotation) { a.Frame = -1 }),
		"frame beyond":       bad(func(a *reading.Annotation) { a.Frame = 1 }),
		"unknown calibrated": bad(func(a *reading.Annotation) { a.Calibration = "ruler" }),
		"not a number":       bad(func(a *reading.Annotation) { a.Length = ptr(math.NaN()) }),
		"empty text":         {annotation("2.25.14", reading.AnnotText, reading.Point{})},
		"same id twice":      {length, length},
	} {
		if _, err := r.SaveAnnotations(ctx, "5.2", 0, it, doc, at); !errors.Is(err, reading.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if got := must(r.Annotations(ctx, "5.2"))(t); got.Version != 0 {
		t.Errorf("a refused save changed the set: %+v", got)
	}
}
