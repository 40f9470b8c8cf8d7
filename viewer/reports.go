package viewer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"pacsd/audit"
	"pacsd/dicom"
	"pacsd/reading"
	"pacsd/reading/sr"
	"pacsd/store"
)

// reportJSON is a report version as the scripts see it. Times are RFC 3339 in the
// county's time zone, so a script can show their wall-clock part as it is.
type reportJSON struct {
	Version      int    `json:"version"`
	Status       string `json:"status"`
	Findings     string `json:"findings"`
	Impression   string `json:"impression"`
	AuthorName   string `json:"authorName"`
	UpdatedAt    string `json:"updatedAt"`
	SignedByName string `json:"signedByName,omitempty"`
	SignedAt     string `json:"signedAt,omitempty"`
	AmendReason  string `json:"amendReason,omitempty"`
	SubmittedAt  string `json:"submittedAt,omitempty"` // two-level review: when it became preliminary
	Object       string `json:"object,omitempty"`      // SOP Instance UID of the stored SR
}

func toReportJSON(r reading.Report, loc *time.Location) *reportJSON {
	out := &reportJSON{Version: r.Version, Status: string(r.Status), Findings: r.Findings, Impression: r.Impression,
		AuthorName: r.AuthorName, UpdatedAt: r.UpdatedAt.In(loc).Format(time.RFC3339), SignedByName: r.SignedByName,
		AmendReason: r.AmendReason, Object: r.SOPInstanceUID}
	if !r.SignedAt.IsZero() {
		out.SignedAt = r.SignedAt.In(loc).Format(time.RFC3339)
	}
	if !r.SubmittedAt.IsZero() {
		out.SubmittedAt = r.SubmittedAt.In(loc).Format(time.RFC3339)
	}
	return out
}

// getReport returns the versions the user may see: all for staff, signed ones for sites.
func (v *Viewer) getReport(c echo.Context) error {
	sv, err := v.loadStudy(c)
	if err != nil {
		return err
	}
	out := []*reportJSON{}
	for _, r := range sv.Reports {
		out = append(out, toReportJSON(r, v.loc))
	}
	if n := len(sv.Reports); n > 0 {
		ev := studyEvent(sv.Row, audit.ActionReportView)
		ev.Object = reportObject(sv.Reports[n-1])
		v.record(c, ev)
	}
	return c.JSON(http.StatusOK, map[string]any{"status": sv.Row.Status, "versions": out})
}

type draftRequest struct {
	Findings   string `json:"findings"`
	Impression string `json:"impression"`
}

// maxReportBody bounds a report request body before it is read.
const maxReportBody = 256 << 10

func readJSON(c echo.Context, v any) error {
	dec := json.NewDecoder(io.LimitReader(c.Request().Body, maxReportBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("request body: %w: %w", reading.ErrInvalid, err)
	}
	return nil
}

func (v *Viewer) saveDraft(c echo.Context) error {
	row, err := v.authorizeStudy(c, c.Param("study"))
	if err != nil {
		return err
	}
	var req draftRequest
	if err := readJSON(c, &req); err != nil {
		return err
	}
	if err := v.mayEditReport(c, row.StudyUID); err != nil {
		return err
	}
	if blank(req.Findings) && blank(req.Impression) {
		// Text typed and wiped again is no report: a first draft is not created empty,
		// or the township would see the study as being reported.
		vs, err := v.cfg.Reports.Reports(c.Request().Context(), row.StudyUID)
		if err != nil {
			return err
		}
		if len(vs) == 0 {
			return c.JSON(http.StatusOK, nil)
		}
	}
	r, err := v.cfg.Reports.SaveDraft(c.Request().Context(), row.StudyUID, req.Findings, req.Impression, currentUser(c), time.Now())
	if err != nil {
		return err
	}
	if row.Status == reading.StatusUnread {
		v.events.publish("studies")
	}
	return c.JSON(http.StatusOK, toReportJSON(r, v.loc))
}

func blank(s string) bool { return strings.TrimSpace(s) == "" }

// checkSignable refuses to sign a report with its findings or impression empty, naming the
// empty part: a signed report goes to the township and into the patient's record whole.
func checkSignable(findings, impression string) error {
	switch {
	case blank(findings) && blank(impression):
		return &httpError{status: http.StatusBadRequest, key: "report.empty"}
	case blank(findings):
		return &httpError{status: http.StatusBadRequest, key: "report.emptyfindings"}
	case blank(impression):
		return &httpError{status: http.StatusBadRequest, key: "report.emptyimpression"}
	}
	return nil
}

// saveFinal is the start of a signature or a submission for review: the study, the
// version named and the editor's text saved as the draft, once it may be (neither part
// empty, the user may sign when sign is set, the study is not held by another). Checked
// before the text is saved: a refused request leaves no draft behind.
func (v *Viewer) saveFinal(c echo.Context, sign bool) (reading.WorklistRow, int, error) {
	row, err := v.authorizeStudy(c, c.Param("study"))
	if err != nil {
		return row, 0, err
	}
	var req struct {
		Version    int    `json:"version"`
		Findings   string `json:"findings"`
		Impression string `json:"impression"`
	}
	if err := readJSON(c, &req); err != nil {
		return row, 0, err
	}
	if err := checkSignable(req.Findings, req.Impression); err != nil {
		return row, 0, err
	}
	if sign {
		if err := v.mayReviewSign(c); err != nil {
			return row, 0, err
		}
	}
	if err := v.holdStudy(c, row.StudyUID); err != nil {
		return row, 0, err
	}
	// What the radiologist sees is what is signed: the editor's text is saved first.
	_, err = v.cfg.Reports.SaveDraft(c.Request().Context(), row.StudyUID, req.Findings, req.Impression, currentUser(c), time.Now())
	return row, req.Version, err
}

func (v *Viewer) signReport(c echo.Context) error {
	row, version, err := v.saveFinal(c, true)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	u := currentUser(c)
	r, err := v.cfg.Reports.Sign(ctx, row.StudyUID, version, u, time.Now())
	if err != nil {
		return err
	}
	v.log.Info("report signed", "study_uid", row.StudyUID, "version", r.Version, "user_id", u.ID)
	ev := studyEvent(row, audit.ActionReportSign)
	ev.Object = reportObject(r)
	v.record(c, ev)
	v.releaseClaim(c, row.StudyUID)
	v.events.publish("studies")
	if v.cfg.ReportSigned != nil {
		v.cfg.ReportSigned(ctx, r)
	}
	// The signature stands even if the SR cannot be stored now; it is retried.
	if uid, err := v.exportReport(ctx, r); err != nil {
		v.log.Warn("report SR not stored yet; will retry", "study_uid", row.StudyUID, "version", r.Version, "err", err)
	} else {
		r.SOPInstanceUID = uid
	}
	return c.JSON(http.StatusOK, toReportJSON(r, v.loc))
}

func (v *Viewer) amendReport(c echo.Context) error {
	row, err := v.authorizeStudy(c, c.Param("study"))
	if err != nil {
		return err
	}
	var req struct {
		Reason string `json:"reason"`
	}
	if err := readJSON(c, &req); err != nil {
		return err
	}
	if err := v.holdStudy(c, row.StudyUID); err != nil {
		return err
	}
	r, err := v.cfg.Reports.Amend(c.Request().Context(), row.StudyUID, req.Reason, currentUser(c), time.Now())
	if err != nil {
		return err
	}
	ev := studyEvent(row, audit.ActionReportAmend)
	ev.Object, ev.Detail = reportObject(r), req.Reason
	v.record(c, ev)
	return c.JSON(http.StatusOK, toReportJSON(r, v.loc))
}

// reportSeriesNumber is the Series Number of the reports pacsd writes: high, so viewers that
// sort by number put the report after the images.
const reportSeriesNumber = 9901

// exportReport writes a signed version into its study as a Basic Text SR through
// Archive.Put, and records it. Versions of one study share one report series; an amended
// version names the version it replaces as its predecessor.
func (v *Viewer) exportReport(ctx context.Context, r reading.Report) (string, error) {
	v.exportMu.Lock()
	defer v.exportMu.Unlock()
	return v.exportLocked(ctx, r)
}

// exportLocked is exportReport under exportMu, which keeps the background retry and a
// signature from storing two documents for one version.
func (v *Viewer) exportLocked(ctx context.Context, r reading.Report) (string, error) {
	if !r.Status.Signed() {
		return "", nil
	}
	insts, err := v.cfg.Archive.Index().Instances(ctx, r.StudyUID, "")
	if err != nil {
		return "", fmt.Errorf("export report: study instances: %w", err)
	}
	if len(insts) == 0 {
		return "", fmt.Errorf("export report: study %s has no instances: %w", r.StudyUID, store.ErrNotFound)
	}
	versions, err := v.cfg.Reports.Reports(ctx, r.StudyUID)
	if err != nil {
		return "", err
	}
	known := map[string]bool{}
	var pred *sr.Ref
	for _, o := range versions {
		if o.Version == r.Version && o.SOPInstanceUID != "" {
			return o.SOPInstanceUID, nil // stored meanwhile
		}
		if o.SOPInstanceUID != "" {
			known[o.SOPInstanceUID] = true
			if o.Version < r.Version {
				pred = &sr.Ref{SOPClassUID: sr.BasicTextSRStorage, SOPInstanceUID: o.SOPInstanceUID}
			}
		}
	}
	doc := sr.Document{
		SOPInstanceUID: dicom.NewUID(),
		SeriesNumber:   reportSeriesNumber,
		InstanceNumber: r.Version,
		StudyAttrs:     insts[0].StudyAttrs,
		Findings:       r.Findings,
		Impression:     r.Impression,
		Signer:         r.SignedByName,
		Author:         r.AuthorName,
		Organization:   v.organization(),
		SignedAt:       r.SignedAt.In(v.loc),
		Created:        time.Now().In(v.loc),
	}
	for _, in := range insts {
		if known[in.SOPInstanceUID] {
			doc.SeriesUID = in.SeriesInstanceUID // the report series already exists
			if pred != nil && pred.SOPInstanceUID == in.SOPInstanceUID {
				pred.SeriesUID = in.SeriesInstanceUID
			}
			continue
		}
		if store.HasPixelData(in) {
			doc.Evidence = append(doc.Evidence, sr.Ref{SeriesUID: in.SeriesInstanceUID, SOPClassUID: in.SOPClassUID,
				SOPInstanceUID: in.SOPInstanceUID})
		}
	}
	if doc.SeriesUID == "" {
		doc.SeriesUID = dicom.NewUID()
	}
	if pred != nil && pred.SeriesUID != "" {
		doc.Predecessor = pred
	}
	b, err := sr.Build(doc)
	if err != nil {
		return "", err
	}
	if err := v.putDocument(ctx, r.StudyUID, sr.BasicTextSRStorage, doc.SOPInstanceUID, b); err != nil {
		return "", fmt.Errorf("export report: store SR: %w", err)
	}
	if err := v.cfg.Reports.SetReportObject(ctx, r.StudyUID, r.Version, doc.SOPInstanceUID); err != nil {
		return "", err
	}
	v.log.Info("report stored as SR", "study_uid", r.StudyUID, "version", r.Version, "sop_instance_uid", doc.SOPInstanceUID)
	return doc.SOPInstanceUID, nil
}

func (v *Viewer) organization() string {
	if v.cfg.Organization != "" {
		return v.cfg.Organization
	}
	s, _ := translate(languages[0], "print.hospital")
	return s
}

// exportPending retries the SR of every signed version not yet stored.
func (v *Viewer) exportPending(ctx context.Context) {
	v.exportMu.Lock()
	defer v.exportMu.Unlock()
	pending, err := v.cfg.Reports.Unexported(ctx, 100)
	if err != nil {
		if ctx.Err() == nil {
			v.log.Warn("listing reports to store", "err", err)
		}
		return
	}
	for _, r := range pending {
		if ctx.Err() != nil {
			return
		}
		if _, err := v.exportLocked(ctx, r); err != nil && !errors.Is(err, context.Canceled) {
			v.log.Warn("report SR not stored yet", "study_uid", r.StudyUID, "version", r.Version, "err", err)
		}
	}
}
