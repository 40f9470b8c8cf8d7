package viewer

import (
	"bytes"
	"context"
	"errors"
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

// The study page's key images and prior studies (static/keyimages.js shows both; the
// printed report shows the key images, static/print.js).
//
// Key images: GET /api/studies/:study/keyimages lists a study's key images to anyone who may
// see the study (a township user: their own site's studies, like every study URL); POST marks
// or unmarks one frame of one image, for radiologists and administrators, with the CSRF
// token. Every change stores a new Key Object Selection document into the study
// (reading/sr, BuildKeyObject) through Archive.Put before the set is kept, so a marked image
// is always in the archive's record too; the earlier documents stay. Unmarking the last one
// stores no document (TID 2010 needs an image). keyImagesOf is the list the share link
// shows.
//
// Priors: GET /api/studies/:study/priors lists the patient's other studies (reading.Priors:
// the same Patient ID at the same site; for the county, possible matches at other sites by
// name, sex and birth date, marked as such). A township user sees only their own site's.

// keyObjectSeriesNumber is the Series Number of the key object documents: after the images,
// beside the reports' 9901 and the measurements' 9902.
const keyObjectSeriesNumber = 9903

// keyImageMessages are this file's catalogue entries (key, Chinese, English), merged into messages.
var keyImageMessages = [][3]string{
	{"key.series", "关键图像", "Key images"},
	{"key.title", "关键图像", "Key images"},
	{"key.none", "尚无关键图像", "No key images yet"},
	{"key.mark", "标记关键图像", "Mark key image"},
	{"key.unmark", "取消关键图像", "Unmark key image"},
	{"key.button", "关键图像", "Key image"},
	{"key.tip", "将当前图像（帧）标记为关键图像，再按一次取消（K）", "Mark the image (frame) shown as a key image; again to unmark (K)"},
	{"key.badge", "关键", "Key"},
	{"key.marked", "已标记为关键图像", "Marked as a key image"},
	{"key.unmarked", "已取消关键图像", "Key image unmarked"},
	{"key.failed", "关键图像保存失败", "Saving the key image failed"},
	{"key.by", "{name} 标记于 {time}", "Marked by {name} at {time}"},
	{"key.image", "第{n}幅", "Image {n}"},
	{"key.frame", "第{n}帧", "frame {n}"},
	{"key.open", "在查看器中显示", "Show in the viewer"},
	{"key.otherstudy", "只能标记本检查的图像", "Only this study's images can be marked"},
	{"key.print", "关键图像", "Key images"},
	{"prior.title", "既往检查", "Prior studies"},
	{"prior.none", "无其他检查", "No other studies"},
	{"prior.loading", "正在查找既往检查…", "Looking for prior studies…"},
	{"prior.failed", "既往检查加载失败", "Prior studies could not be loaded"},
	{"prior.compare", "对比", "Compare"},
	{"prior.comparing", "正在对比", "Comparing"},
	{"prior.possible", "可能为同一患者", "Possibly the same patient"},
	{"prior.possible.tip", "其他站点的检查：姓名、性别、出生日期相同，但患者ID不同，未合并", "Another site's study: same name, sex and birth date, another patient ID; not merged"},
	{"prior.images", "{n}幅", "{n} images"},
	{"prior.open", "打开", "Open"},
	{"prior.site", "站点", "Site"},
	{"prior.patient", "患者", "Patient"},
}

// keyImageJSON is one key image as the scripts see it.
type keyImageJSON struct {
	reading.KeyImage
	MarkedAt string `json:"markedAt"` // in the county's zone, to the minute
	URL      string `json:"url"`      // the server's rendering of the frame
}

// keyImagesJSON is a study's key images.
type keyImagesJSON struct {
	Revision int            `json:"revision"`
	Images   []keyImageJSON `json:"images"`
	Object   string         `json:"object,omitempty"` // SOP Instance UID of the current KOS
	Editable bool           `json:"editable"`
}

func (v *Viewer) keyImageRoutes(e *echo.Echo, g guards) {
	// Without the repositories the page still asks: it is told there are none (an empty,
	// read-only list), as measurements.go does, rather than a 404 in every browser's log.
	e.GET("/api/studies/:study/keyimages", v.getKeyImages, g.authed...)
	e.GET("/api/studies/:study/priors", v.getPriors, g.authed...)
	if v.cfg.KeyImages != nil {
		e.POST("/api/studies/:study/keyimages", v.changeKeyImage, g.staff...)
	}
}

// keyImagesOf is a study's key images with the URLs of their renderings (which check the
// viewer's own access rules): what the study page, the printed report and the share link
// show.
func (v *Viewer) keyImagesOf(ctx context.Context, studyUID string) (keyImagesJSON, error) {
	s, err := v.cfg.KeyImages.KeyImages(ctx, studyUID)
	if err != nil {
		return keyImagesJSON{}, err
	}
	return v.toKeyImagesJSON(s), nil
}

func (v *Viewer) toKeyImagesJSON(s reading.KeySet) keyImagesJSON {
	out := keyImagesJSON{Revision: s.Revision, Object: s.ObjectUID, Images: []keyImageJSON{}}
	for _, k := range s.Images {
		out.Images = append(out.Images, keyImageJSON{KeyImage: k, MarkedAt: displayTime(k.MarkedAt, v.loc),
			URL: "/api/studies/" + s.StudyUID + "/instances/" + k.SOPInstanceUID + "/frames/" + strconv.Itoa(k.Frame) + "/rendered"})
	}
	return out
}

func (v *Viewer) getKeyImages(c echo.Context) error {
	row, err := v.authorizeStudy(c, c.Param("study"))
	if err != nil {
		return err
	}
	if v.cfg.KeyImages == nil {
		return c.JSON(http.StatusOK, keyImagesJSON{Images: []keyImageJSON{}})
	}
	out, err := v.keyImagesOf(c.Request().Context(), row.StudyUID)
	if err != nil {
		return err
	}
	out.Editable = currentUser(c).Role.Staff()
	ev := studyEvent(row, audit.ActionStudyView)
	ev.Object = "key images"
	v.record(c, ev)
	return c.JSON(http.StatusOK, out)
}

// keyImageChange is a mark or an unmark.
type keyImageChange struct {
	SOP   string `json:"sop"`
	Frame int    `json:"frame"` // 0-based
	Key   bool   `json:"key"`   // true marks, false unmarks
}

func (v *Viewer) changeKeyImage(c echo.Context) error {
	row, err := v.authorizeStudy(c, c.Param("study"))
	if err != nil {
		return err
	}
	var req keyImageChange
	if err := readJSON(c, &req); err != nil {
		return err
	}
	ctx := c.Request().Context()
	u := currentUser(c)
	want := reading.KeyImage{SOPInstanceUID: req.SOP, Frame: req.Frame, MarkedBy: u.ID, MarkedByName: u.Name(),
		MarkedAt: time.Now()}
	// The image is one of this study's; its series, class and frames are the archive's word.
	// (An image no longer in the archive can still be unmarked.)
	in, err := v.cfg.Archive.Index().Instance(ctx, req.SOP)
	switch {
	case err == nil && in.StudyInstanceUID == row.StudyUID && store.HasPixelData(in):
		frames, _ := in.InstanceAttrs.Int(dicom.TagNumberOfFrames)
		want.SeriesUID, want.SOPClassUID, want.Frames = in.SeriesInstanceUID, in.SOPClassUID, int(max(frames, 1))
	case (err == nil || errors.Is(err, store.ErrNotFound)) && req.Key:
		return fmt.Errorf("key image %q is not an image of study %s: %w", req.SOP, row.StudyUID, reading.ErrInvalid)
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return err
	}
	s, changed, err := v.setKeyImage(ctx, row.StudyUID, want, req.Key, u)
	if err != nil {
		return err
	}
	out := v.toKeyImagesJSON(s)
	out.Editable = true
	if !changed {
		return c.JSON(http.StatusOK, out)
	}
	verb := map[bool]string{true: "标记", false: "取消"}[req.Key]
	v.log.Info("key images changed", "study_uid", row.StudyUID, "revision", s.Revision, "images", len(s.Images), "user_id", u.ID)
	ev := studyEvent(row, audit.ActionKeyImage)
	ev.Object = req.SOP + " frame " + strconv.Itoa(req.Frame+1)
	ev.Detail = fmt.Sprintf("%s关键图像；现有 %d 幅；KOS %s", verb, len(s.Images), s.ObjectUID)
	v.record(c, ev)
	return c.JSON(http.StatusOK, out)
}

// setKeyImage marks (key) or unmarks one frame, and says whether that changed anything: the
// new set's KOS is stored first, then the set is kept. Under exportMu, with the other
// documents pacsd writes, so that two changes in a row do not both build on one revision; a
// change made meanwhile by another node is a conflict, and the change is redone on top of it.
func (v *Viewer) setKeyImage(ctx context.Context, studyUID string, k reading.KeyImage, key bool, u reading.User) (reading.KeySet, bool, error) {
	v.exportMu.Lock()
	defer v.exportMu.Unlock()
	for attempt := 0; ; attempt++ {
		cur, err := v.cfg.KeyImages.KeyImages(ctx, studyUID)
		if err != nil {
			return reading.KeySet{}, false, err
		}
		next := reading.KeySet{StudyUID: studyUID, SeriesUID: cur.SeriesUID}
		marked := false
		for _, o := range cur.Images {
			if o.Same(k) {
				marked = true
			} else {
				next.Images = append(next.Images, o)
			}
		}
		if marked == key {
			return cur, false, nil // nothing to change
		}
		if key {
			next.Images = append(next.Images, k)
		}
		if err := next.Validate(); err != nil {
			return reading.KeySet{}, false, err
		}
		if next.SeriesUID == "" {
			next.SeriesUID = dicom.NewUID()
		}
		if len(next.Images) > 0 {
			if next.ObjectUID, err = v.storeKeyObject(ctx, next, cur.Revision+1, u); err != nil {
				return reading.KeySet{}, false, err
			}
		}
		s, err := v.cfg.KeyImages.SetKeyImages(ctx, next, cur.Revision)
		if errors.Is(err, reading.ErrConflict) && attempt < 3 {
			continue
		}
		return s, err == nil, err
	}
}

// storeKeyObject stores set s, to be revision rev, as a Key Object Selection document.
func (v *Viewer) storeKeyObject(ctx context.Context, s reading.KeySet, rev int, u reading.User) (string, error) {
	insts, err := v.cfg.Archive.Index().Instances(ctx, s.StudyUID, "")
	if err != nil {
		return "", fmt.Errorf("store key object: study instances: %w", err)
	}
	if len(insts) == 0 {
		return "", fmt.Errorf("store key object: study %s has no instances: %w", s.StudyUID, store.ErrNotFound)
	}
	now := time.Now().In(v.loc)
	k := sr.KeyObject{SOPInstanceUID: dicom.NewUID(), SeriesUID: s.SeriesUID, SeriesNumber: keyObjectSeriesNumber,
		InstanceNumber: rev, SeriesDescription: v.message("key.series"), StudyAttrs: insts[0].StudyAttrs,
		Observer: u.Name(), Saved: now, Created: now, Images: s.Images}
	b, err := sr.BuildKeyObject(k)
	if err != nil {
		return "", err
	}
	if err := v.putDocument(ctx, s.StudyUID, sr.KeyObjectSelectionStorage, k.SOPInstanceUID, b); err != nil {
		return "", fmt.Errorf("store key object: %w", err)
	}
	v.log.Info("key images stored as KOS", "study_uid", s.StudyUID, "revision", rev, "sop_instance_uid", k.SOPInstanceUID)
	return k.SOPInstanceUID, nil
}

// putDocument stores a document pacsd wrote (a KOS, an SR) into its study through the
// archive's one way in, as the reading room (no calling AE), checking that what is stored is
// what was built: the report SRs, the measurement SRs and the key object documents.
func (v *Viewer) putDocument(ctx context.Context, studyUID, sopClass, sopUID string, b []byte) error {
	_, err := v.cfg.Archive.Put(ctx, bytes.NewReader(b), store.PutRequest{
		Origin:                 store.Origin{Transport: "viewer"},
		ExpectSOPInstanceUID:   sopUID,
		ExpectSOPClassUID:      sopClass,
		ExpectStudyInstanceUID: studyUID,
	})
	return err
}

// priorJSON is one prior study as the scripts show it: its values in words.
type priorJSON struct {
	Study       string `json:"study"`
	URL         string `json:"url"`
	Date        string `json:"date"` // Study Date and Time as the modality gave them (Beijing time); else receipt
	Modality    string `json:"modality"`
	BodyPart    string `json:"bodyPart"`
	Description string `json:"description"`
	Status      string `json:"status"`
	StatusText  string `json:"statusText"`
	Images      int    `json:"images"`
	Site        string `json:"site"`
	Possible    bool   `json:"possible"` // another site's study, possibly the same patient
	PatientName string `json:"patientName,omitempty"`
	PatientID   string `json:"patientId,omitempty"`
}

func (v *Viewer) getPriors(c echo.Context) error {
	row, err := v.authorizeStudy(c, c.Param("study"))
	if err != nil {
		return err
	}
	if v.cfg.Priors == nil {
		return c.JSON(http.StatusOK, map[string]any{"priors": []priorJSON{}})
	}
	u := currentUser(c)
	scope := reading.PriorScope{WithQuarantined: u.Role == reading.RoleAdmin}
	if !u.Role.Staff() {
		scope.SiteID = u.SiteID // mayRead let a site user this far only with a site
	}
	priors, err := v.cfg.Priors.Priors(c.Request().Context(), row.StudyUID, scope)
	if err != nil {
		return err
	}
	lang := langOf(c)
	out := []priorJSON{}
	possible := 0
	for _, p := range priors {
		if !mayRead(u, p.WorklistRow) {
			continue // the repository's scope already; the rule is checked once more here
		}
		status, _ := translate(lang, "status."+string(p.Status))
		j := priorJSON{Study: p.StudyUID, URL: "/studies/" + p.StudyUID, Date: studyDateTime(p.StudyDate, p.StudyTime),
			Modality: displayModalities(lang, p.Modalities), BodyPart: displayBodyPart(lang, p.BodyPart),
			Description: p.Description, Status: string(p.Status), StatusText: status, Images: imageCount(p.Series),
			Site: p.SiteName, Possible: p.Match == reading.MatchPossible}
		if j.Date == "" {
			j.Date = displayTime(p.ReceivedAt, v.loc)
		}
		if j.Possible {
			// Whoever judges a possible match needs to see whom it names.
			j.PatientName, j.PatientID = displayName(p.PatientName), p.PatientID
			possible++
		}
		out = append(out, j)
	}
	ev := studyEvent(row, audit.ActionQuery)
	ev.Object = "priors"
	ev.Detail = fmt.Sprintf("既往检查 %d 项，其中可能为同一患者 %d 项", len(out), possible)
	v.record(c, ev)
	return c.JSON(http.StatusOK, map[string]any{"priors": out})
}
