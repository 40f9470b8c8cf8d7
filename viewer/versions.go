package viewer

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"pacsd/audit"
	"pacsd/dicom"
	"pacsd/store"
)

// Kept versions of instances (store.Version): when a site re-sends an instance with other
// content, the archive keeps the version it replaces; an administrator sees them per
// instance of a study (/studies/{study}/versions, "历史版本") and may make one current
// again. The same as JSON for scripts:
//
//	GET  /api/admin/instances/{sop}/versions               the current record and the kept versions
//	POST /api/admin/instances/{sop}/versions/{id}/restore  make version id current (CSRF header)
//
// Every restore is an audit event (audit.ActionRestore) naming the patient and study.

// versionJSON is one version of an instance, as the API shows it: where it came from and
// what it is, never patient data.
type versionJSON struct {
	ID                int64  `json:"id,omitempty"` // absent for the current record
	ReceivedAt        string `json:"receivedAt"`
	ReplacedAt        string `json:"replacedAt,omitempty"`
	ReplacedBy        string `json:"replacedBy,omitempty"`
	Transport         string `json:"transport"`
	CallingAE         string `json:"callingAE"`
	RemoteAddr        string `json:"remoteAddr"`
	Site              string `json:"site"`
	Size              int64  `json:"size"`
	SHA256            string `json:"sha256"`
	TransferSyntaxUID string `json:"transferSyntaxUID"`
}

type versionsJSON struct {
	SOPInstanceUID    string        `json:"sopInstanceUID"`
	StudyInstanceUID  string        `json:"studyInstanceUID"`
	SeriesInstanceUID string        `json:"seriesInstanceUID"`
	Current           versionJSON   `json:"current"`
	Versions          []versionJSON `json:"versions"`
}

func toVersionJSON(in *store.Instance) versionJSON {
	return versionJSON{ReceivedAt: in.ReceivedAt.UTC().Format(time.RFC3339), Transport: in.Origin.Transport,
		CallingAE: in.Origin.CallingAE, RemoteAddr: in.Origin.RemoteAddr, Site: in.Origin.Site, Size: in.Size,
		SHA256: in.SHA256, TransferSyntaxUID: in.TransferSyntaxUID}
}

// instanceVersions is one instance with its kept versions, newest replaced first.
type instanceVersions struct {
	Current  *store.Instance
	Versions []store.Version
}

// versionsView is the /studies/{study}/versions page.
type versionsView struct {
	Study     *studyView
	Instances []instanceVersions // those with kept versions
	Total     int                // instances in the study
	Restored  bool               // back from a restore
}

// loadVersions returns an instance of a study the administrator may see, with its
// versions; ErrNotFound (404) for an unknown instance, or one of a study the viewer does
// not know.
func (v *Viewer) loadVersions(c echo.Context) (*store.Instance, []store.Version, error) {
	sop := c.Param("sop")
	if !dicom.ValidUID(sop, dicom.UIDLeadingZeros) {
		return nil, nil, errNotFound
	}
	ctx := c.Request().Context()
	cur, err := v.cfg.Archive.Index().Instance(ctx, sop)
	if err != nil {
		return nil, nil, err
	}
	if _, err := v.authorizeStudy(c, cur.StudyInstanceUID); err != nil {
		return nil, nil, err
	}
	vs, err := v.cfg.Archive.Versions(ctx, sop)
	if err != nil {
		return nil, nil, err
	}
	return cur, vs, nil
}

// instanceVersionsAPI serves GET /api/admin/instances/{sop}/versions.
func (v *Viewer) instanceVersionsAPI(c echo.Context) error {
	cur, vs, err := v.loadVersions(c)
	if err != nil {
		return err
	}
	out := versionsJSON{SOPInstanceUID: cur.SOPInstanceUID, StudyInstanceUID: cur.StudyInstanceUID,
		SeriesInstanceUID: cur.SeriesInstanceUID, Current: toVersionJSON(cur), Versions: []versionJSON{}}
	for i := range vs {
		j := toVersionJSON(&vs[i].Instance)
		j.ID, j.ReplacedBy = vs[i].ID, vs[i].ReplacedBy
		j.ReplacedAt = vs[i].ReplacedAt.UTC().Format(time.RFC3339)
		out.Versions = append(out.Versions, j)
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.JSON(http.StatusOK, out)
}

// restoreVersion serves POST /api/admin/instances/{sop}/versions/{id}/restore (JSON) and
// POST /admin/instances/{sop}/versions/{id}/restore (the page's form, which goes back to
// the study's versions page).
func (v *Viewer) restoreVersion(c echo.Context) error {
	cur, _, err := v.loadVersions(c)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return errNotFound
	}
	row, err := v.authorizeStudy(c, cur.StudyInstanceUID)
	if err != nil {
		return err
	}
	me := currentUser(c)
	ev := studyEvent(row, audit.ActionRestore)
	ev.Object = cur.SOPInstanceUID
	restored, err := v.cfg.Archive.Restore(c.Request().Context(), cur.SOPInstanceUID, id, "admin:"+me.Username)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			ev.Outcome, ev.Detail = audit.OutcomeFailure, fmt.Sprintf("历史版本 %d 未能恢复", id)
			v.record(c, ev)
		}
		return err
	}
	ev.Detail = fmt.Sprintf("恢复历史版本 %d（SHA-256 %s，%s 接收），替换的版本（SHA-256 %s）保留为历史版本",
		id, short12(restored.SHA256), displayTime(restored.ReceivedAt, v.loc), short12(cur.SHA256))
	v.record(c, ev)
	v.log.Info("instance version restored", "by", me.ID, "sop_instance_uid", cur.SOPInstanceUID, "version", id)
	v.events.publish("studies")
	if c.Request().Header.Get(csrfHeader) == "" {
		return c.Redirect(http.StatusSeeOther, "/studies/"+url.PathEscape(cur.StudyInstanceUID)+"/versions?restored=1")
	}
	out := toVersionJSON(restored)
	return c.JSON(http.StatusOK, map[string]any{"sopInstanceUID": restored.SOPInstanceUID, "current": out})
}

// studyVersionsPage serves /studies/{study}/versions: every instance of the study that
// has kept versions, each with its versions and a restore button.
func (v *Viewer) studyVersionsPage(c echo.Context) error {
	row, err := v.authorizeStudy(c, c.Param("study"))
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	view := &versionsView{Study: &studyView{Row: row}, Restored: c.QueryParam("restored") == "1"}
	list, err := v.cfg.Archive.Index().Instances(ctx, row.StudyUID, "")
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	view.Total = len(list)
	for _, in := range list {
		vs, err := v.cfg.Archive.Versions(ctx, in.SOPInstanceUID)
		if errors.Is(err, store.ErrNotFound) {
			continue // replaced or gone since the listing
		}
		if err != nil {
			return err
		}
		if len(vs) > 0 {
			view.Instances = append(view.Instances, instanceVersions{Current: in, Versions: vs})
		}
	}
	v.record(c, studyEvent(row, audit.ActionStudyView))
	return v.render(c, http.StatusOK, "versions", pageData{Active: "worklist", Versions: view})
}

// short12 is a SHA-256's first 12 hex digits: enough to tell versions apart on a page.
func short12(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
