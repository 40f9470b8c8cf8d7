package viewer

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"pacsd/internal/browsertest"
	"pacsd/internal/peertest"
	"pacsd/ohif"
)

// TestShareInBrowser runs browsertest/share.mjs against a reading room with share links
// (newShareEnv, the DR's report back to a draft): sign (which makes the report link), print
// to PDF, zbarimg reads the QR code from pdftoppm's PNG, the phone (390x844, touch) verifies, sees the report and the
// key image, zooms with two fingers; wrong answers lock a link, an expired and a revoked one
// are refused; another study's images are not reached; the administrator finds the
// openings in the audit trail. It logs the bytes and time to the phone's first screen.
func TestShareInBrowser(t *testing.T) {
	browsertest.Require(t)
	for _, tool := range []string{"zbarimg", "pdftoppm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is required (scripts/deps.sh installs it): %v", tool, err)
		}
	}
	s := newShareEnv(t)
	ctx := context.Background()
	r := s.idx.Reading()
	study := s.dr.StudyInstanceUID
	// The report is signed in the browser: amend the one newShareEnv signed into a draft.
	u, err := r.UserByName(ctx, "doc")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Amend(ctx, study, "浏览器中重新签发", u, time.Now()); err != nil {
		t.Fatal(err)
	}
	locked := s.makeLink(s.doc, study, `{}`)
	expired := s.makeLink(s.doc, study, `{}`)
	revoked := s.makeLink(s.doc, study, `{}`)
	if err := r.ExtendShare(ctx, expired.ID, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := r.RevokeShare(ctx, revoked.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	s.admin() // the initial password replaced, as the administrator's first login demands
	sc := map[string]any{
		"doc":     map[string]string{"username": "doc", "password": "password-doc"},
		"admin":   map[string]string{"username": "admin", "password": s.adminPW},
		"study":   map[string]string{"uid": study, "patientId": s.row.PatientID},
		"answer":  s.answer(locked),
		"other":   map[string]string{"uid": s.other.StudyInstanceUID, "sop": s.other.SOPInstanceUID},
		"locked":  locked.URL,
		"expired": expired.URL,
		"revoked": revoked.URL,
	}
	scJSON, _ := json.Marshal(sc)
	res := browsertest.Run(t, "share.mjs", browsertest.Options{
		BaseURL: s.srv.URL,
		Env:     map[string]string{"SHARE_SCENARIO": string(scJSON)},
		Timeout: 3 * time.Minute,
	})
	browsertest.Report(t, res)
	browsertest.RequireSteps(t, res,
		"the radiologist signs the report",
		"the printed report carries a QR code that zbarimg decodes from the PDF",
		"the link asks for the verification and refuses a wrong answer",
		"the right answer shows the report and the key image on the phone",
		"two fingers zoom the key image, the brightness slider brightens it",
		"bytes and time to the first screen (measured, not asserted)",
		"another study's images are not reached through the link",
		"a wrong verification is limited: five wrong answers lock the link",
		"an expired and a revoked link are refused in Chinese",
		"the administrator finds each opening in the audit trail",
		"no failed requests",
	)
	// The printed link is the one the browser's signature made (by pacsd, 0), not the print.
	if l, err := r.ReportShare(ctx, study); err != nil || l.CreatedBy != 0 {
		t.Errorf("the report link: made by %d, %v; want one made at signing", l.CreatedBy, err)
	}
}

// TestShareOHIFInBrowser runs browsertest/share_ohif.mjs against a reading room with share
// links and OHIF's built app mounted as pacsd serve mounts it (ohif.Guard: staff only but
// for the app's files and a share link's way in): another hospital's doctor, with no pacsd
// account, verifies a doctor's link, opens it in OHIF (the dicomwebproxy data source on the
// link's DICOMweb) and sees the image; another study's UID through the link's root is
// refused, and OHIF serves no foreign configuration.
func TestShareOHIFInBrowser(t *testing.T) {
	dist := os.Getenv("PACSD_OHIF_DIR")
	if dist == "" {
		dist = filepath.Join("..", ".cache", "ohif", ohif.Version, "dist")
	}
	if _, err := os.Stat(filepath.Join(dist, "index.html")); err != nil {
		peertest.Missing(t, "OHIF dist not installed (%s): run make ohif", dist)
	}
	browsertest.Require(t)
	s := newShareEnv(t)
	e := s.srv.Config.Handler.(*echo.Echo)
	e.Use(ohif.Guard("/ohif", s.viewer.RequireStaff()))
	ohif.Register(e, ohif.Config{Dir: dist, DICOMwebPath: "/dicomweb", SharePath: "/s", Logger: quietLogger(t)})

	l := s.makeLink(s.doc, s.dr.StudyInstanceUID, `{"kind":"doctor"}`)
	sc, _ := json.Marshal(map[string]any{
		"link": l.URL, "answer": s.answer(l), "study": s.dr.StudyInstanceUID,
		"other": map[string]string{"uid": s.other.StudyInstanceUID, "series": s.other.SeriesInstanceUID},
	})
	res := browsertest.Run(t, "share_ohif.mjs", browsertest.Options{
		BaseURL: s.srv.URL,
		Env:     map[string]string{"SHARE_OHIF_SCENARIO": string(sc)},
		Timeout: 3 * time.Minute,
	})
	browsertest.Report(t, res)
	browsertest.RequireSteps(t, res,
		"the doctor passes the link's verification and is offered OHIF",
		"OHIF opens the shared study through the link and renders its image",
		"another study's UID through the link's root is refused",
		"OHIF serves no other configuration, and asks for a login elsewhere",
		"no failed requests",
	)
}
