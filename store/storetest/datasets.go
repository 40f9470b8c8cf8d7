package storetest

import (
	"context"
	"fmt"
	"maps"

	"pacsd/dicom"
	"pacsd/store"
)

// HitDataset merges a search hit's levels and derived attributes into one data set, as
// Index.Search answered before hits were spliced into QIDO-RS bodies: the decoded reference
// that tests hold search results and the splicing to.
func HitDataset(h store.Hit, level store.Level) (dicom.JSONDataset, error) {
	if level == store.LevelPatient {
		return patientDataset(h)
	}
	ds := dicom.JSONDataset{}
	for _, l := range []struct {
		name string
		b    []byte
	}{{"study", h.Study}, {"series", h.Series}, {"instance", h.Instance}} {
		if l.b == nil {
			continue
		}
		part, err := dicom.ParseJSON(l.b)
		if err != nil {
			return nil, fmt.Errorf("%s attributes of %s: %w", l.name, h.StudyUID, err)
		}
		maps.Copy(ds, part)
	}
	mods := make([]any, len(h.ModalitiesInStudy))
	for i, m := range h.ModalitiesInStudy {
		mods[i] = m
	}
	ds[dicom.TagModalitiesInStudy.Hex()] = dicom.JSONAttribute{VR: "CS", Value: mods}
	ds[dicom.TagNumberOfStudyRelatedSeries.Hex()] = dicom.JSONAttribute{VR: "IS", Value: []any{float64(h.StudySeries)}}
	ds[dicom.TagNumberOfStudyRelatedInstances.Hex()] = dicom.JSONAttribute{VR: "IS", Value: []any{float64(h.StudyInstances)}}
	if level >= store.LevelSeries {
		ds[dicom.TagNumberOfSeriesRelatedInstances.Hex()] = dicom.JSONAttribute{VR: "IS", Value: []any{float64(h.SeriesInstances)}}
	}
	// Everything the index lists can be retrieved at once (PS3.3 C.4.23.1.1, ONLINE).
	ds[dicom.TagInstanceAvailability.Hex()] = dicom.JSONAttribute{VR: "CS", Value: []any{"ONLINE"}}
	if level == store.LevelInstance && h.TransferSyntaxUID != "" {
		ds[dicom.TagAvailableTransferSyntaxUID.Hex()] = dicom.JSONAttribute{VR: "UI", Value: []any{h.TransferSyntaxUID}}
	}
	return ds, nil
}

// SearchDatasets runs q and returns each hit as one data set (HitDataset).
func SearchDatasets(ctx context.Context, x store.IndexReader, q store.Query) ([]dicom.JSONDataset, error) {
	hits, err := x.Search(ctx, q)
	if err != nil {
		return nil, err
	}
	out := make([]dicom.JSONDataset, len(hits))
	for i, h := range hits {
		if out[i], err = HitDataset(h, q.Level); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// patientDataset is a patient-level hit as one data set: the patient attributes of its
// study attributes and the patient's numbers of related studies, series and instances.
func patientDataset(h store.Hit) (dicom.JSONDataset, error) {
	st, err := dicom.ParseJSON(h.Study)
	if err != nil {
		return nil, fmt.Errorf("patient attributes: %w", err)
	}
	ds := dicom.JSONDataset{}
	for k, v := range st {
		if t, ok := dicom.ParseTag(k); ok && store.PatientTag(t) {
			ds[k] = v
		}
	}
	for t, n := range map[dicom.Tag]int{TagNumberOfPatientRelatedStudies: h.PatientStudies,
		TagNumberOfPatientRelatedSeries: h.StudySeries, TagNumberOfPatientRelatedInstances: h.StudyInstances} {
		ds[t.Hex()] = dicom.JSONAttribute{VR: "IS", Value: []any{float64(n)}}
	}
	return ds, nil
}
