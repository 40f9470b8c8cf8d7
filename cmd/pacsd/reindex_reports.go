package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"pacsd/dicom"
	"pacsd/reading"
	"pacsd/reading/sr"
	"pacsd/store"
)

// A signed report comes back from the Basic Text SR the reading room stored for each
// signed version (reading/sr.Build, viewer's exportReport): a verified, complete
// "Diagnostic Imaging Report" (LOINC 18748-4) whose Instance Number is the version, its
// verifying observer the signer and its verification time the signing time, the
// findings and impression its two TEXT items, the author its TID 1002 observer name.
// These are the tags and codes Build writes, and the series number the viewer gives it
// (viewer's reportSeriesNumber): a Basic Text SR from elsewhere is an ordinary instance.
const (
	reportSRSeriesNumber                   = 9901
	tagConceptNameCodeSequence   dicom.Tag = 0x0040A043
	tagCodeValue                 dicom.Tag = 0x00080100
	tagCodingSchemeDesignator    dicom.Tag = 0x00080102
	tagVerifyingObserverSequence dicom.Tag = 0x0040A073
	tagVerifyingObserverName     dicom.Tag = 0x0040A075
	tagVerificationDateTime      dicom.Tag = 0x0040A030
	tagCompletionFlag            dicom.Tag = 0x0040A491
	tagVerificationFlag          dicom.Tag = 0x0040A493
	tagContentSequence           dicom.Tag = 0x0040A730
	tagTextValue                 dicom.Tag = 0x0040A160
	tagPersonName                dicom.Tag = 0x0040A123
)

// reindexAmendReason stands for the reason an amendment was made: the SR does not carry it
// (Amend requires one).
const reindexAmendReason = "修改原因未随报告 SR 保存（由 pacsd reindex 从 SR 重建）"

// reportDoc is one signed report version read back from its SR.
type reportDoc struct {
	studyUID, sopUID     string
	version              int
	findings, impression string
	signer, author       string
	signedAt             time.Time
}

// reportDocs collects the report SRs met while reindexing (from several goroutines).
type reportDocs struct {
	log  *slog.Logger
	mu   sync.Mutex
	docs []reportDoc
}

// add is store.ReindexOptions.Indexed: it keeps the object when it is a report's SR.
func (r *reportDocs) add(_ context.Context, inst *store.Instance, hdr *dicom.Header) error {
	if inst.SOPClassUID != sr.BasicTextSRStorage || hdr.Dataset == nil {
		return nil
	}
	d, ok := readReportSR(hdr.Dataset)
	if !ok {
		return nil
	}
	d.studyUID, d.sopUID = inst.StudyInstanceUID, inst.SOPInstanceUID
	r.mu.Lock()
	r.docs = append(r.docs, d)
	r.mu.Unlock()
	return nil
}

// readReportSR reads a report version from a Basic Text SR, if the SR is one that
// sr.Build wrote for a signed version.
func readReportSR(ds *dicom.Dataset) (reportDoc, bool) {
	var d reportDoc
	if !hasCode(ds, "18748-4", "LN") || ds.String(tagCompletionFlag) != "COMPLETE" || ds.String(tagVerificationFlag) != "VERIFIED" {
		return d, false
	}
	if n, ok := ds.Int(dicom.TagSeriesNumber); !ok || n != reportSRSeriesNumber {
		return d, false
	}
	v, ok := ds.Int(dicom.TagInstanceNumber)
	if !ok || v < 1 {
		return d, false
	}
	d.version = int(v)
	obs := ds.Get(tagVerifyingObserverSequence)
	if obs == nil || len(obs.Items) == 0 {
		return d, false
	}
	d.signer = obs.Items[0].String(tagVerifyingObserverName)
	at, err := time.Parse("20060102150405-0700", obs.Items[0].String(tagVerificationDateTime))
	if err != nil {
		return d, false
	}
	d.signedAt = at
	if cs := ds.Get(tagContentSequence); cs != nil {
		for _, item := range cs.Items {
			switch {
			case hasCode(item, "121071", "DCM"):
				d.findings = item.String(tagTextValue)
			case hasCode(item, "121073", "DCM"):
				d.impression = item.String(tagTextValue)
			case hasCode(item, "121008", "DCM"):
				d.author = item.String(tagPersonName)
			}
		}
	}
	return d, true
}

// hasCode reports whether ds's Concept Name Code Sequence is the given code.
func hasCode(ds *dicom.Dataset, value, scheme string) bool {
	e := ds.Get(tagConceptNameCodeSequence)
	return e != nil && len(e.Items) > 0 && e.Items[0].String(tagCodeValue) == value &&
		e.Items[0].String(tagCodingSchemeDesignator) == scheme
}

// reportsRestored counts what restore did.
type reportsRestored struct{ studies, restored, known int }

// restore writes the report versions collected into the reading room, oldest version
// first, through the same operations a radiologist's signing takes (SaveDraft, Sign,
// Amend) with the original authors and times, and records each version's SR, so the
// reading room shows them signed and does not store them as SR again. Versions the
// repository has (a second run) are left as they are. The accounts are not in the objects:
// author and signer are names only (user ID 0).
func (r *reportDocs) restore(ctx context.Context, reports reading.Reports) (reportsRestored, error) {
	var out reportsRestored
	slices.SortFunc(r.docs, func(a, b reportDoc) int {
		return cmp.Or(strings.Compare(a.studyUID, b.studyUID), cmp.Compare(a.version, b.version))
	})
	for i := 0; i < len(r.docs); {
		j := i + 1
		for j < len(r.docs) && r.docs[j].studyUID == r.docs[i].studyUID {
			j++
		}
		n, known, err := r.restoreStudy(ctx, reports, r.docs[i:j])
		if err != nil {
			return out, err
		}
		out.studies++
		out.restored += n
		out.known += known
		i = j
	}
	return out, nil
}

func (r *reportDocs) restoreStudy(ctx context.Context, reports reading.Reports, docs []reportDoc) (restored, known int, err error) {
	study := docs[0].studyUID
	have, err := reports.Reports(ctx, study)
	if err != nil {
		return 0, 0, fmt.Errorf("reindex reports %s: %w", study, err)
	}
	last := 0 // the newest version the repository has signed
	for _, h := range have {
		if h.Status.Signed() {
			last = h.Version
		}
	}
	for k, d := range docs {
		if k > 0 && d.version == docs[k-1].version {
			continue // one version stored twice (an export retried): the first is enough
		}
		if d.version <= last {
			known++
			continue
		}
		author := reading.User{DisplayName: cmp.Or(d.author, d.signer)}
		signer := reading.User{DisplayName: d.signer}
		if last > 0 {
			if _, err := reports.Amend(ctx, study, reindexAmendReason, author, d.signedAt); err != nil {
				return restored, known, fmt.Errorf("reindex report %s version %d: amend: %w", study, d.version, err)
			}
		}
		draft, err := reports.SaveDraft(ctx, study, d.findings, d.impression, author, d.signedAt)
		if err != nil {
			return restored, known, fmt.Errorf("reindex report %s version %d: %w", study, d.version, err)
		}
		if draft.Version != d.version {
			// An earlier version's SR is missing: the versions are numbered again.
			r.log.Warn("report version renumbered: an earlier version's SR is missing", "study_uid", study,
				"sr_version", d.version, "version", draft.Version)
		}
		if _, err := reports.Sign(ctx, study, draft.Version, signer, d.signedAt); err != nil {
			return restored, known, fmt.Errorf("reindex report %s version %d: sign: %w", study, d.version, err)
		}
		if err := reports.SetReportObject(ctx, study, draft.Version, d.sopUID); err != nil && !errors.Is(err, reading.ErrNotFound) {
			return restored, known, fmt.Errorf("reindex report %s version %d: %w", study, d.version, err)
		}
		last = draft.Version
		restored++
	}
	return restored, known, nil
}
