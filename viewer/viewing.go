package viewer

import (
	"context"
	"math"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"pacsd/dicom"
	"pacsd/reading"
	"pacsd/store"
)

// The study page's image viewer (static/viewer.js): what the images API tells it beyond the
// pixels — the overlay's patient and study lines, each image's calibration, orientation,
// laterality and cine rate — and the viewer's messages. Frames themselves are images.go's.

// viewingMessages are this file's catalogue entries (key, Chinese, English), merged into messages.
var viewingMessages = [][3]string{
	{"view.layout", "布局", "Layout"},
	{"view.layout.1x1", "1×1", "1×1"},
	{"view.layout.1x2", "1×2", "1×2"},
	{"view.layout.2x2", "2×2", "2×2"},
	{"view.rotate", "旋转", "Rotate"},
	{"view.fliph", "水平翻转", "Flip H"},
	{"view.flipv", "垂直翻转", "Flip V"},
	{"view.loupe", "放大镜", "Magnifier"},
	{"view.actual", "1:1", "1:1"},
	{"view.actual.title", "原始像素 1:1 显示", "Actual pixels 1:1"},
	{"view.link", "联动", "Link"},
	{"view.link.title", "对比时同步缩放、平移和窗宽窗位", "Link zoom, pan and window between panes"},
	{"view.help", "快捷键", "Shortcuts"},
	{"view.hint", "左键拖动：窗宽窗位　右键或 Shift 拖动：平移　滚轮：缩放　←/→：上/下一幅　缩略图拖入窗格　?：全部快捷键", "Drag: window/level · Right or Shift drag: pan · Wheel: zoom · ←/→: previous/next · drag a series into a pane · ?: all shortcuts"},
	{"view.help.title", "快捷键与方位标记", "Shortcuts and orientation markers"},
	{"view.help.close", "关闭", "Close"},
	{"view.uncalibrated", "未校准", "Uncalibrated"},
	{"view.zoom", "缩放", "Zoom"},
	{"view.ww", "窗宽", "W"},
	{"view.wc", "窗位", "L"},
	{"view.frame", "帧", "Frame"},
	{"view.fullres", "全分辨率", "Full resolution"},
	{"view.preview", "预览", "Preview"},
	{"view.prior", "对比检查", "Prior"},
	{"view.current", "本次检查", "This study"},
	{"view.drop", "拖入序列或点击缩略图后点此窗格", "Drop a series here"},
	{"view.source.PixelSpacing", "像素间距", "Pixel Spacing"},
	{"view.source.ImagerPixelSpacing", "探测器像素间距", "Imager Pixel Spacing"},
	{"view.source.NominalScannedPixelSpacing", "扫描像素间距", "Nominal Scanned Pixel Spacing"},
	{"view.source.UltrasoundRegion", "超声区域标定", "Ultrasound region"},
	{"view.orient.A", "A 前", "A anterior"},
	{"view.orient.P", "P 后", "P posterior"},
	{"view.orient.R", "R 右（患者右侧）", "R patient's right"},
	{"view.orient.L", "L 左（患者左侧）", "L patient's left"},
	{"view.orient.H", "H 头侧", "H head"},
	{"view.orient.F", "F 足侧", "F foot"},
	{"view.laterality", "侧别", "Laterality"},
	{"view.lat.R", "右", "right"},
	{"view.lat.L", "左", "left"},
	{"view.lat.B", "双侧", "both"},
	{"view.key.wl", "左键拖动", "Left drag"},
	{"view.key.wl.do", "调节窗宽窗位（横向窗宽，纵向窗位）", "Window/level (across: width, up/down: level)"},
	{"view.key.pan", "右键 / Shift 拖动", "Right / Shift drag"},
	{"view.key.pan.do", "平移", "Pan"},
	{"view.key.wheel", "滚轮", "Wheel"},
	{"view.key.wheel.do", "缩放", "Zoom"},
	{"view.key.prev.do", "上一幅图像", "Previous image"},
	{"view.key.next.do", "下一幅图像", "Next image"},
	{"view.key.frame.do", "超声/多帧：上一帧 / 下一帧", "Multi-frame: previous / next frame"},
	{"view.key.play.do", "播放 / 暂停电影", "Play / pause cine"},
	{"view.key.layout.do", "布局 1×1 / 1×2 / 2×2", "Layout 1×1 / 1×2 / 2×2"},
	{"view.key.pane.do", "切换当前窗格", "Next pane"},
	{"view.key.rotate.do", "顺时针旋转 90°", "Rotate 90° clockwise"},
	{"view.key.fliph.do", "水平翻转", "Flip horizontally"},
	{"view.key.flipv.do", "垂直翻转", "Flip vertically"},
	{"view.key.invert.do", "反相", "Invert"},
	{"view.key.loupe.do", "放大镜开 / 关", "Magnifier on / off"},
	{"view.key.actual.do", "1:1 原始像素", "Actual pixels"},
	{"view.key.reset.do", "复位", "Reset"},
	{"view.key.zoom.do", "放大 / 缩小", "Zoom in / out"},
	{"view.key.presets.do", "窗位预设：默认 / 肺窗 / 骨窗 / 软组织窗", "Presets: default / lung / bone / soft tissue"},
	{"view.key.link.do", "对比联动开 / 关", "Link panes on / off"},
	{"view.key.help.do", "显示 / 关闭本帮助", "Show / hide this help"},
	{"view.key.esc.do", "取消当前工具、关闭帮助", "Cancel the tool, close help"},
	{"view.key.touch", "触屏", "Touch"},
	{"view.key.touch.do", "单指拖动：窗宽窗位　双指捏合：缩放　双指拖动：平移　快速横扫：上/下一幅", "One finger: window/level · pinch: zoom · two fingers: pan · quick swipe: previous/next image"},
	{"view.orient.title", "方位标记（患者方位，DICOM 字母）", "Orientation markers (patient directions, DICOM letters)"},
}

// studyImagesJSON is the images API's answer: the overlay's study lines and the images.
type studyImagesJSON struct {
	Study  overlayJSON `json:"study"`
	Images []imageInfo `json:"images"`
}

// overlayJSON is what the image overlay says about the patient and the study, displayed the
// way the study page shows it (name, 47岁, sex in words, date and time).
type overlayJSON struct {
	UID         string `json:"uid"`
	Name        string `json:"name"`
	PatientID   string `json:"patientId"`
	Age         string `json:"age"`
	Sex         string `json:"sex"`
	Date        string `json:"date"`    // as shown: 2026-03-02 09:30
	DateRaw     string `json:"dateRaw"` // DA, for ordering a prior against the current study
	Institution string `json:"institution"`
	Description string `json:"description"`
	BodyPart    string `json:"bodyPart"`
}

func (v *Viewer) overlayOf(c echo.Context, row reading.WorklistRow) overlayJSON {
	lang := langOf(c)
	sex := strings.ToUpper(strings.TrimSpace(row.PatientSex))
	if s, err := translate(lang, "sex."+sex); err == nil && sex != "" {
		sex = s
	}
	inst := row.Institution
	if inst == "" {
		inst = row.SiteName
	}
	return overlayJSON{
		UID: row.StudyUID, Name: displayName(row.PatientName), PatientID: row.PatientID,
		Age: displayAge(lang, row.PatientAge, row.BirthDate, row.StudyDate), Sex: sex,
		Date: studyDateTime(row.StudyDate, row.StudyTime), DateRaw: row.StudyDate,
		Institution: inst, Description: row.Description, BodyPart: displayBodyPart(lang, row.BodyPart),
	}
}

// spacingJSON is an image's calibration: millimetres per pixel between rows (row) and
// between columns (col), and which attribute said so.
type spacingJSON struct {
	Row    float64 `json:"row"`
	Col    float64 `json:"col"`
	Source string  `json:"source"`
}

// imageGeometry is what the viewer needs of an image beyond its pixels: calibration (nil:
// uncalibrated, shown as such), Patient Orientation (0020,0020), Image Laterality
// (0020,0062), View Position and the default cine rate in frames per second (0: none).
type imageGeometry struct {
	Spacing      *spacingJSON `json:"spacing"`
	Orientation  []string     `json:"orientation,omitempty"`
	Laterality   string       `json:"laterality,omitempty"`
	ViewPosition string       `json:"viewPosition,omitempty"`
	CineRate     float64      `json:"cineRate,omitempty"`
}

const (
	tagPixelSpacing       dicom.Tag = 0x00280030
	tagImagerPixelSpacing dicom.Tag = 0x00181164
	tagNominalScanned     dicom.Tag = 0x00182010
	tagPatientOrientation dicom.Tag = 0x00200020
	tagImageLaterality    dicom.Tag = 0x00200062
	tagCineRate           dicom.Tag = 0x00180040
	tagFrameTime          dicom.Tag = 0x00181063
	tagRecommendedRate    dicom.Tag = 0x00082144
	tagUSRegions          dicom.Tag = 0x00186011
	tagPhysicalUnitsX     dicom.Tag = 0x00186024
	tagPhysicalUnitsY     dicom.Tag = 0x00186026
	tagPhysicalDeltaX     dicom.Tag = 0x0018602C
	tagPhysicalDeltaY     dicom.Tag = 0x0018602E
	usUnitsCentimetre               = 3 // PS3.3 C.8.5.5.1.15: Physical Units X/Y Direction 0003H = cm
)

// geometry reads an image's calibration, orientation and cine rate: from the index when it
// holds them (Pixel Spacing, Imager Pixel Spacing, Patient Orientation, Image Laterality,
// Frame Time), from the object's header for what only the header has (Cine Rate, the
// Sequence of Ultrasound Regions, Nominal Scanned Pixel Spacing) — read only for
// ultrasound, multi-frame and uncalibrated secondary captures, never for a plain DR.
func (v *Viewer) geometry(ctx context.Context, in *store.Instance, modality string, frames int64) imageGeometry {
	a := in.InstanceAttrs
	var g imageGeometry
	g.Spacing = spacingFrom(a.Strings(tagPixelSpacing), "PixelSpacing")
	if g.Spacing == nil {
		g.Spacing = spacingFrom(a.Strings(tagImagerPixelSpacing), "ImagerPixelSpacing")
	}
	for _, s := range a.Strings(tagPatientOrientation) {
		g.Orientation = append(g.Orientation, strings.ToUpper(strings.TrimSpace(s)))
	}
	if len(g.Orientation) != 2 || g.Orientation[0] == "" || g.Orientation[1] == "" {
		g.Orientation = nil
	}
	// Image Laterality R, L or B (both); U (unpaired: a chest, a spine) marks no side.
	g.Laterality = strings.ToUpper(strings.TrimSpace(a.String(tagImageLaterality)))
	if g.Laterality == "" {
		g.Laterality = strings.ToUpper(strings.TrimSpace(in.SeriesAttrs.String(dicom.TagLaterality)))
	}
	if g.Laterality == "U" {
		g.Laterality = ""
	}
	g.ViewPosition = strings.TrimSpace(a.String(dicom.TagViewPosition))
	if ft, err := strconv.ParseFloat(strings.TrimSpace(a.String(tagFrameTime)), 64); err == nil && ft > 0 {
		g.CineRate = math.Round(10000/ft) / 10
	}
	if modality != "US" && frames <= 1 && (g.Spacing != nil || modality != "SC" && modality != "OT") {
		return g
	}
	ds := v.header(ctx, in.SOPInstanceUID)
	if ds == nil {
		return g
	}
	// The Cine Module (PS3.3 C.7.6.5): Cine Rate is the rate to play at; without it, the
	// acquisition's Frame Time (read above), then Recommended Display Frame Rate.
	if r, ok := ds.Float(tagCineRate); ok && r > 0 {
		g.CineRate = r
	} else if g.CineRate == 0 {
		if r, ok := ds.Float(tagRecommendedRate); ok && r > 0 {
			g.CineRate = r
		}
	}
	if g.Spacing == nil {
		g.Spacing = usRegionSpacing(ds)
	}
	if g.Spacing == nil {
		if e := ds.Get(tagNominalScanned); e != nil {
			g.Spacing = spacingFrom(e.Strings, "NominalScannedPixelSpacing")
		}
	}
	return g
}

// header reads an object's data set before Pixel Data; nil when it cannot (the viewer then
// goes without what only the header says, which is not worth failing the image list for).
func (v *Viewer) header(ctx context.Context, sop string) *dicom.Dataset {
	_, rc, err := v.cfg.Archive.Open(ctx, sop)
	if err != nil {
		v.log.Debug("header for the viewer", "sop", sop, "err", err)
		return nil
	}
	defer rc.Close()
	hdr, err := dicom.ReadPart10(store.ContextReader(ctx, rc), dicom.ReadOptions{})
	if err != nil {
		v.log.Debug("header for the viewer", "sop", sop, "err", err)
		return nil
	}
	return hdr.Dataset
}

// spacingFrom parses a DS pair "row\col" of millimetres; nil unless both are positive.
func spacingFrom(vals []string, source string) *spacingJSON {
	if len(vals) != 2 {
		return nil
	}
	r, err1 := strconv.ParseFloat(strings.TrimSpace(vals[0]), 64)
	c, err2 := strconv.ParseFloat(strings.TrimSpace(vals[1]), 64)
	if err1 != nil || err2 != nil || !(r > 0) || !(c > 0) || math.IsInf(r, 0) || math.IsInf(c, 0) {
		return nil
	}
	return &spacingJSON{Row: r, Col: c, Source: source}
}

// usRegionSpacing is the calibration of an ultrasound image's first region measured in
// centimetres in both directions (PS3.3 C.8.5.5, Physical Delta X/Y), in mm per pixel.
func usRegionSpacing(ds *dicom.Dataset) *spacingJSON {
	e := ds.Get(tagUSRegions)
	if e == nil {
		return nil
	}
	for _, it := range e.Items {
		ux, ok1 := it.Int(tagPhysicalUnitsX)
		uy, ok2 := it.Int(tagPhysicalUnitsY)
		dx, ok3 := it.Float(tagPhysicalDeltaX)
		dy, ok4 := it.Float(tagPhysicalDeltaY)
		if ok1 && ok2 && ok3 && ok4 && ux == usUnitsCentimetre && uy == usUnitsCentimetre && dx > 0 && dy > 0 {
			return &spacingJSON{Row: math.Abs(dy) * 10, Col: math.Abs(dx) * 10, Source: "UltrasoundRegion"}
		}
	}
	return nil
}

func (v *Viewer) viewingRoutes(e *echo.Echo, g guards) {}
