package viewer

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"pacsd/internal/browsertest"
)

// TestKeyImagesInBrowser runs browsertest/keyimages.mjs against a real reading room (see
// newKeyEnv): a radiologist marks 张伟's chest DR as a key image with the button and K, sees
// the mark in the pane, on the series strip and in the gallery, finds the KOS over QIDO-RS,
// marks a frame of an ultrasound cine and finds it again from the gallery, compares with
// last year's DR side by side and sees another site's 张伟 as 可能为同一患者; the
// township user sees the key image on the study page and the printed report, at 1440 px and
// on a phone (390x844), and no other site's study among the priors.
func TestKeyImagesInBrowser(t *testing.T) {
	browsertest.Require(t)
	k := newKeyEnv(t)
	doc := k.login("doc", "password-doc")
	if resp, body := doc.sendJSON(http.MethodPost, "/api/studies/"+k.dr.StudyInstanceUID+"/report/sign",
		`{"version":1,"findings":"右下肺见一结节影，边界清。","impression":"右下肺结节，建议复查。"}`); resp.StatusCode != 200 {
		t.Fatalf("sign: %d %s", resp.StatusCode, body)
	}
	sc := map[string]any{
		"doc":      map[string]string{"username": "doc", "password": "password-doc"},
		"town":     map[string]string{"username": "town-a", "password": "password-town-a"},
		"study":    map[string]string{"uid": k.dr.StudyInstanceUID, "series": k.dr.SeriesInstanceUID, "sop": k.dr.SOPInstanceUID},
		"prior":    map[string]string{"uid": k.prior.StudyInstanceUID},
		"possible": map[string]string{"uid": k.other.StudyInstanceUID, "patientId": "XY20240315001"},
		"us":       map[string]string{"uid": k.us.StudyInstanceUID, "sop": k.us.SOPInstanceUID},
	}
	scJSON, _ := json.Marshal(sc)
	res := browsertest.Run(t, "keyimages.mjs", browsertest.Options{
		BaseURL: k.srv.URL,
		Env:     map[string]string{"KEYIMAGES_SCENARIO": string(scJSON)},
		Timeout: 3 * time.Minute,
	})
	browsertest.Report(t, res)
	browsertest.RequireSteps(t, res,
		"radiologist signs in",
		"the radiologist marks a key image with the toolbar button",
		"K unmarks and marks again",
		"the key object documents are found over QIDO-RS",
		"a frame of an ultrasound cine is marked and shown again from the gallery",
		"the priors list the same patient and, marked, a possible match of another site",
		"对比 opens the prior beside the study",
		"the township user sees the key image on the study page, and only its own site's priors",
		"the township user sees the key image on the printed report",
		"on a phone (390x844) the township sees the key image on the study page and the print",
		"no failed requests",
	)
}
