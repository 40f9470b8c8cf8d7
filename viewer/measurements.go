package viewer

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"pacsd/audit"
	"pacsd/dicom"
	"pacsd/reading"
	"pacsd/reading/sr"
	"pacsd/store"
)

// The study page's measurements and annotations (static/measure.js draws and edits them on
// the viewer's panes). GET /api/studies/:study/measurements gives the study's set to anyone
// who may see the study (a township user: the studies of their own site only, like every
// study URL); PUT (or POST) replaces it, for radiologists and administrators, with the CSRF
// token. Every save is stored into the study as a measurement SR (reading/sr,
// BuildMeasurements: why SR, and how each kind is carried) through Archive.Put: a new
// instance of the study's measurement series per save, naming the one it supersedes; none is
// deleted. The set the viewer edits is the repository's (reading.Annotations).

// measureSeriesNumber is the Series Number of the measurement SRs: after the images, beside
// the reports' 9901.
const measureSeriesNumber = 9902

// measureMessages are this file's catalogue entries (key, Chinese, English), merged into messages.
var measureMessages = [][3]string{
	{"meas.series", "测量", "Measurements"},
	{"meas.title", "测量与标注", "Measurements and annotations"},
	{"meas.none", "尚无测量", "No measurements yet"},
	{"meas.length", "长度", "Length"},
	{"meas.angle", "角度", "Angle"},
	{"meas.cobb", "Cobb角", "Cobb angle"},
	{"meas.ellipse", "椭圆ROI", "Ellipse ROI"},
	{"meas.rect", "矩形ROI", "Rectangle ROI"},
	{"meas.arrow", "箭头", "Arrow"},
	{"meas.text", "文字", "Text"},
	{"meas.select", "选择", "Select"},
	{"meas.tool.length", "测量长度：拖动画线", "Measure a length: drag a line"},
	{"meas.tool.angle", "测量角度：依次点击三点，第二点为顶点", "Measure an angle: click three points, the vertex second"},
	{"meas.tool.cobb", "Cobb角：拖动画出两条线", "Cobb angle: drag two lines"},
	{"meas.tool.ellipse", "椭圆ROI：拖动画出，显示均值、标准差和面积", "Ellipse ROI: drag; shows mean, SD and area"},
	{"meas.tool.rect", "矩形ROI：拖动画出，显示均值、标准差和面积", "Rectangle ROI: drag; shows mean, SD and area"},
	{"meas.tool.arrow", "箭头：从尾拖到箭头所指处", "Arrow: drag from the tail to what it points at"},
	{"meas.tool.text", "文字：点击放置文字", "Text: click where the text goes"},
	{"meas.tool.select", "选择测量：点击选中，拖动移动，Delete 键删除", "Select: click to select, drag to move, Delete to remove"},
	{"meas.textprompt", "请输入标注文字", "Text of the annotation"},
	{"meas.arrowprompt", "箭头说明（可留空）", "Label of the arrow (may be empty)"},
	{"meas.uncal", "px（未校准）", "px (uncalibrated)"},
	{"meas.uncalshort", "未校准", "uncalibrated"},
	{"meas.cal.PixelSpacing", "像素间距", "Pixel Spacing"},
	{"meas.cal.ImagerPixelSpacing", "成像器像素间距(探测器平面)", "Imager Pixel Spacing (detector plane)"},
	{"meas.cal.NominalScannedPixelSpacing", "扫描像素间距", "Nominal Scanned Pixel Spacing"},
	{"meas.cal.UltrasoundRegion", "超声区域", "Ultrasound region"},
	{"meas.mean", "均值", "Mean"},
	{"meas.sd", "标准差", "SD"},
	{"meas.area", "面积", "Area"},
	{"meas.delete", "删除", "Delete"},
	{"meas.save", "保存测量", "Save measurements"},
	{"meas.saving", "正在保存…", "Saving…"},
	{"meas.saved", "测量已保存", "Measurements saved"},
	{"meas.unsaved", "有未保存的测量", "Unsaved measurements"},
	{"meas.conflict", "其他医师已修改本检查的测量：已载入其版本，您新画的测量仍在，请再保存",
		"Another radiologist changed this study's measurements: theirs are loaded, yours drawn since are kept; save again"},
	{"meas.failed", "保存失败", "Saving failed"},
	{"meas.image", "第{n}幅", "Image {n}"},
	{"meas.frame", "第{n}帧", "frame {n}"},
	{"meas.otherstudy", "测量只能在本检查的图像上进行", "Measurements can only be made on this study's images"},
	{"meas.by", "{name} 保存于 {time}", "Saved by {name} at {time}"},
}

// measurementsJSON is a study's set as the scripts see it.
type measurementsJSON struct {
	Version   int                  `json:"version"`
	Items     []reading.Annotation `json:"items"`
	UpdatedBy string               `json:"updatedBy,omitempty"`
	UpdatedAt string               `json:"updatedAt,omitempty"` // RFC 3339 in the county's zone
	Object    string               `json:"object,omitempty"`    // SOP Instance UID of its SR, once stored
	Editable  bool                 `json:"editable"`
}

func (v *Viewer) toMeasurementsJSON(s reading.AnnotationSet, u reading.User) measurementsJSON {
	out := measurementsJSON{Version: s.Version, Items: s.Items, UpdatedBy: s.UpdatedByName, Object: s.SOPInstanceUID,
		Editable: u.Role.Staff()}
	if out.Items == nil {
		out.Items = []reading.Annotation{}
	}
	if !s.UpdatedAt.IsZero() {
		out.UpdatedAt = s.UpdatedAt.In(v.loc).Format(time.RFC3339)
	}
	return out
}

func (v *Viewer) measureRoutes(e *echo.Echo, g guards) {
	e.GET("/api/studies/:study/measurements", v.getMeasurements, g.authed...)
	if v.cfg.Annotations == nil {
		return // the page still asks: it is told there are none, and offers no tools
	}
	e.PUT("/api/studies/:study/measurements", v.saveMeasurements, g.staff...)
	e.POST("/api/studies/:study/measurements", v.saveMeasurements, g.staff...)
}

func (v *Viewer) getMeasurements(c echo.Context) error {
	row, err := v.authorizeStudy(c, c.Param("study"))
	if err != nil {
		return err
	}
	u := currentUser(c)
	if v.cfg.Annotations == nil {
		return c.JSON(http.StatusOK, measurementsJSON{Items: []reading.Annotation{}})
	}
	ctx := c.Request().Context()
	s, err := v.cfg.Annotations.Annotations(ctx, row.StudyUID)
	if err != nil {
		return err
	}
	if s.Version > 0 && s.SOPInstanceUID == "" && u.Role.Staff() {
		// The SR of the last save was not stored then (archive full or down): a
		// radiologist's next look stores it.
		if uid, err := v.exportMeasurements(ctx, row.StudyUID); err != nil {
			v.log.Warn("measurement SR not stored yet", "study_uid", row.StudyUID, "version", s.Version, "err", err)
		} else {
			s.SOPInstanceUID = uid
		}
	}
	ev := studyEvent(row, audit.ActionStudyView)
	ev.Object = "measurements"
	v.record(c, ev)
	return c.JSON(http.StatusOK, v.toMeasurementsJSON(s, u))
}

func (v *Viewer) saveMeasurements(c echo.Context) error {
	row, err := v.authorizeStudy(c, c.Param("study"))
	if err != nil {
		return err
	}
	var req struct {
		Version int                  `json:"version"`
		Items   []reading.Annotation `json:"items"`
	}
	if err := readJSON(c, &req); err != nil {
		return err
	}
	ctx := c.Request().Context()
	// Every annotation is on an image of this study; its series and SOP Class are the
	// archive's, not the page's word.
	insts, err := v.cfg.Archive.Index().Instances(ctx, row.StudyUID, "")
	if err != nil {
		return fmt.Errorf("save measurements: study instances: %w", err)
	}
	images := map[string]*store.Instance{}
	for _, in := range insts {
		if store.HasPixelData(in) {
			images[in.SOPInstanceUID] = in
		}
	}
	for i := range req.Items {
		a := &req.Items[i]
		in, ok := images[a.SOPInstanceUID]
		if !ok {
			return fmt.Errorf("annotation %d: image %q is not one of the study's: %w", i+1, a.SOPInstanceUID, reading.ErrInvalid)
		}
		frames, _ := in.InstanceAttrs.Int(dicom.TagNumberOfFrames)
		a.SeriesUID, a.SOPClassUID, a.Frames = in.SeriesInstanceUID, in.SOPClassUID, int(max(frames, 1))
		if a.ID == "" {
			a.ID = dicom.NewUID()
		}
	}
	u := currentUser(c)
	s, err := v.cfg.Annotations.SaveAnnotations(ctx, row.StudyUID, req.Version, req.Items, u, time.Now())
	if err != nil {
		return err
	}
	v.log.Info("measurements saved", "study_uid", row.StudyUID, "version", s.Version, "items", len(s.Items), "user_id", u.ID)
	ev := studyEvent(row, audit.ActionMeasure)
	ev.Object = "measurements v" + strconv.Itoa(s.Version)
	ev.Detail = fmt.Sprintf("%d 项测量与标注", len(s.Items))
	v.record(c, ev)
	// The save stands even if the SR cannot be stored now; a radiologist's next look stores it.
	if uid, err := v.exportMeasurements(ctx, row.StudyUID); err != nil {
		v.log.Warn("measurement SR not stored yet", "study_uid", row.StudyUID, "version", s.Version, "err", err)
	} else {
		s.SOPInstanceUID = uid
	}
	return c.JSON(http.StatusOK, v.toMeasurementsJSON(s, u))
}

// exportMeasurements stores the study's current set as a measurement SR unless it is stored
// already, records it, and returns its SOP Instance UID. Under exportMu, with the report
// SRs: two saves in a row do not race to store the same version.
func (v *Viewer) exportMeasurements(ctx context.Context, studyUID string) (string, error) {
	v.exportMu.Lock()
	defer v.exportMu.Unlock()
	s, err := v.cfg.Annotations.Annotations(ctx, studyUID)
	if err != nil || s.Version == 0 || s.SOPInstanceUID != "" {
		return s.SOPInstanceUID, err
	}
	insts, err := v.cfg.Archive.Index().Instances(ctx, studyUID, "")
	if err != nil {
		return "", fmt.Errorf("export measurements: study instances: %w", err)
	}
	if len(insts) == 0 {
		return "", fmt.Errorf("export measurements: study %s has no instances: %w", studyUID, store.ErrNotFound)
	}
	m := sr.Measurements{
		SOPInstanceUID:    dicom.NewUID(),
		SeriesUID:         s.SeriesUID,
		SeriesNumber:      measureSeriesNumber,
		InstanceNumber:    s.Version,
		StudyAttrs:        insts[0].StudyAttrs,
		Observer:          s.UpdatedByName,
		Saved:             s.UpdatedAt.In(v.loc),
		Created:           time.Now().In(v.loc),
		Items:             s.Items,
		SeriesDescription: v.message("meas.series"),
	}
	// The newest SR of the series is the one this version supersedes.
	var newest int64
	for _, in := range insts {
		if in.SeriesInstanceUID != s.SeriesUID || s.SeriesUID == "" {
			continue
		}
		if n, _ := in.InstanceAttrs.Int(dicom.TagInstanceNumber); m.Predecessor == nil || n > newest {
			newest = n
			m.Predecessor = &sr.Ref{SeriesUID: in.SeriesInstanceUID, SOPClassUID: in.SOPClassUID, SOPInstanceUID: in.SOPInstanceUID}
		}
	}
	if m.SeriesUID == "" {
		m.SeriesUID = dicom.NewUID()
	}
	b, err := sr.BuildMeasurements(m)
	if err != nil {
		return "", err
	}
	if err := v.putDocument(ctx, studyUID, sr.ComprehensiveSRStorage, m.SOPInstanceUID, b); err != nil {
		return "", fmt.Errorf("export measurements: store SR: %w", err)
	}
	if err := v.cfg.Annotations.SetAnnotationObject(ctx, studyUID, s.Version, m.SOPInstanceUID, m.SeriesUID); err != nil {
		return "", err
	}
	v.log.Info("measurements stored as SR", "study_uid", studyUID, "version", s.Version, "sop_instance_uid", m.SOPInstanceUID)
	return m.SOPInstanceUID, nil
}

// message is key's text in the first language (Chinese): what documents written into the
// archive say.
func (v *Viewer) message(key string) string {
	s, _ := translate(languages[0], key)
	return s
}
