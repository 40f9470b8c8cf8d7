package ohif

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"pacsd/dicom"
	"pacsd/dicomweb"
	"pacsd/internal/browsertest"
	"pacsd/reading"
	"pacsd/reading/sr"
	"pacsd/store"
)

// TestOHIFShowsMeasurements stores the reading room's measurement SR (reading/sr,
// BuildMeasurements: TID 1500 in a Comprehensive SR) beside the DR image it measures, and
// drives OHIF in headless Chromium (browsertest/ohif_measure.mjs): the SR is found over
// QIDO-RS by modality and SOP Class, OHIF lists its series, and opening it shows the
// measured image with the length's value and the ROI's statistics as OHIF labels them.
func TestOHIFShowsMeasurements(t *testing.T) {
	dist := realDist(t)
	browsertest.Require(t)
	ctx := context.Background()
	archive := newArchive(t)
	data, err := os.ReadFile(filepath.Join("../testdata", drFiles[0]))
	if err != nil {
		t.Fatal(err)
	}
	img, err := archive.Put(ctx, bytes.NewReader(data), store.PutRequest{})
	if err != nil {
		t.Fatal(err)
	}
	on := func(id string, kind reading.AnnotationKind, pts ...reading.Point) reading.Annotation {
		return reading.Annotation{ID: id, Kind: kind, SeriesUID: img.SeriesInstanceUID, SOPClassUID: img.SOPClassUID,
			SOPInstanceUID: img.SOPInstanceUID, Points: pts, Calibration: reading.CalPixelSpacing}
	}
	length := on(dicom.NewUID(), reading.AnnotLength, reading.Point{X: 20, Y: 30}, reading.Point{X: 120, Y: 30})
	l, area, mean, sd := 14.3, 88.4, 1234.5, 56.25
	length.Length = &l
	roi := on(dicom.NewUID(), reading.AnnotEllipse, reading.Point{X: 40, Y: 60}, reading.Point{X: 90, Y: 100})
	roi.Area, roi.Mean, roi.SD = &area, &mean, &sd
	m := sr.Measurements{SOPInstanceUID: dicom.NewUID(), SeriesUID: dicom.NewUID(), SeriesNumber: 9902, InstanceNumber: 1,
		SeriesDescription: "测量", StudyAttrs: img.StudyAttrs, Observer: "李医生", Saved: time.Now(),
		Items: []reading.Annotation{length, roi}}
	b, err := sr.BuildMeasurements(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := archive.Put(ctx, bytes.NewReader(b), store.PutRequest{ExpectSOPInstanceUID: m.SOPInstanceUID}); err != nil {
		t.Fatal(err)
	}

	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	e := echo.New()
	e.Use(middleware.Recover())
	dicomweb.Register(e.Group("/dicomweb"), archive, dicomweb.Config{Logger: log})
	Register(e, Config{Dir: dist, DICOMwebPath: "/dicomweb", Logger: log})
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)

	sc, _ := json.Marshal(map[string]any{
		"studyUID": img.StudyInstanceUID, "srUID": m.SOPInstanceUID, "sopClass": sr.ComprehensiveSRStorage,
		// OHIF shows a NUM as its value to two decimals and its unit's code value.
		"labels": []string{"14.30 mm", "1234.50 1"},
	})
	res := browsertest.Run(t, "ohif_measure.mjs", browsertest.Options{
		BaseURL: srv.URL,
		Env:     map[string]string{"OHIF_MEASURE": string(sc)},
		Timeout: 2 * time.Minute,
	})
	browsertest.Report(t, res)
	browsertest.RequireSteps(t, res,
		"the measurement SR is found over QIDO-RS",
		"OHIF lists the measurement series",
		"opening it shows the measurements on the image",
	)
	if !res.OK && !t.Failed() {
		t.Error("the scenario reported failure")
	}
}
