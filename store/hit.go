package store

import (
	"context"
	"fmt"
	"maps"

	"pacsd/dicom"
)

// Hit is one search result as the index keeps it: the stored DICOM JSON of each level, so
// that a QIDO-RS answer can be spliced together without decoding and re-encoding a hundred
// studies' attributes (that was most of a search's time), and the attributes the index
// derives (PS3.18 table 10.6.1-5 ff.).
type Hit struct {
	StudyUID, SeriesUID, SOPInstanceUID string // "" below the query level
	// Study, Series and Instance are DICOM JSON objects (PS3.18 F.2), compact; Series is
	// nil for a study-level search and Instance for all but an instance-level one. Text is
	// UTF-8 whatever the object's Specific Character Set said.
	Study, Series, Instance []byte
	ModalitiesInStudy       []string
	StudySeries             int // Number of Study Related Series
	StudyInstances          int // Number of Study Related Instances
	SeriesInstances         int // Number of Series Related Instances (series and instance level)
	// TransferSyntaxUID is the syntax the instance is stored in (instance level only): its
	// Available Transfer Syntax UID (0008,3002).
	TransferSyntaxUID string
}

// Dataset merges the hit's levels and derived attributes into one data set: what Search
// used to return, for callers that want typed values rather than speed.
func (h Hit) Dataset(level Level) (dicom.JSONDataset, error) {
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
	if level >= LevelSeries {
		ds[dicom.TagNumberOfSeriesRelatedInstances.Hex()] = dicom.JSONAttribute{VR: "IS", Value: []any{float64(h.SeriesInstances)}}
	}
	// Everything the index lists can be retrieved at once (PS3.3 C.4.23.1.1, ONLINE).
	ds[TagInstanceAvailability.Hex()] = dicom.JSONAttribute{VR: "CS", Value: []any{"ONLINE"}}
	if level == LevelInstance && h.TransferSyntaxUID != "" {
		ds[TagAvailableTransferSyntaxUID.Hex()] = dicom.JSONAttribute{VR: "UI", Value: []any{h.TransferSyntaxUID}}
	}
	return ds, nil
}

// SearchDatasets runs q and returns each hit as one data set (Hit.Dataset).
func SearchDatasets(ctx context.Context, x Index, q Query) ([]dicom.JSONDataset, error) {
	hits, err := x.Search(ctx, q)
	if err != nil {
		return nil, err
	}
	out := make([]dicom.JSONDataset, len(hits))
	for i, h := range hits {
		if out[i], err = h.Dataset(q.Level); err != nil {
			return nil, err
		}
	}
	return out, nil
}
