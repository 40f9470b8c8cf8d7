package viewer

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"pacsd/internal/browsertest"
	"pacsd/reading"
)

// TestWorkflowInBrowser runs browsertest/workflow.mjs: two-level review with a claim seen by
// the second radiologist and a phrase inserted at the cursor, then a critical finding that
// reaches a township user's phone-sized worklist live and is acknowledged, and the county
// dashboard's time to acknowledgement. See the scenario for the steps.
func TestWorkflowInBrowser(t *testing.T) {
	browsertest.Require(t)
	en := newEnvWith(t, allRepos)
	ctx := context.Background()
	r := en.idx.Reading()
	site, err := r.PutSite(ctx, reading.Site{Name: "甲镇卫生院", AETitles: []string{"TOWN_A"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.PutSetting(ctx, reading.SettingReview, reading.ReviewTwo); err != nil {
		t.Fatal(err)
	}
	type person struct {
		Username string `json:"username"`
		Password string `json:"password"`
		Name     string `json:"name"`
	}
	add := func(username, name string, role reading.Role, siteID int64, reviewer bool) person {
		t.Helper()
		h, err := hashPassword("password-" + username)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.CreateUser(ctx, reading.User{Username: username, DisplayName: name, Role: role, SiteID: siteID,
			MayReview: reviewer, PasswordHash: h}); err != nil {
			t.Fatal(err)
		}
		return person{username, "password-" + username, name}
	}
	in := en.put("dr_mono2.dcm", "TOWN_A")
	sc := map[string]any{
		"a":     add("zhang", "张医生", reading.RoleRadiologist, 0, false),
		"b":     add("li", "李主任", reading.RoleRadiologist, 0, true),
		"town":  add("town", "甲镇护士", reading.RoleSite, site.ID, false),
		"site":  site.Name,
		"study": map[string]string{"uid": in.StudyInstanceUID},
	}
	scJSON, _ := json.Marshal(sc)
	res := browsertest.Run(t, "workflow.mjs", browsertest.Options{
		BaseURL: en.srv.URL,
		Env:     map[string]string{"WORKFLOW_SCENARIO": string(scJSON)},
		Timeout: 3 * time.Minute,
	})
	browsertest.Report(t, res)
	browsertest.RequireSteps(t, res,
		"radiologist A opens the study and claims it",
		"claiming is visible to a second radiologist",
		"radiologist A inserts a phrase at the cursor and submits for review",
		"reviewer B edits and signs; the report names both",
		"radiologist A flags a critical finding",
		"the township sees the red banner and a live notification at 390 px",
		"the township acknowledges it, saying whom it informed",
		"the township prints the report with both names",
		"the dashboard shows the time to acknowledgement",
		"no failed requests",
	)
	// What the browser did is in the records: one acknowledged finding, by the township user.
	fs, err := r.CriticalFindings(ctx, reading.CriticalFilter{StudyUID: in.StudyInstanceUID})
	if err != nil || len(fs) != 1 || fs[0].AckByName != "甲镇护士" || fs[0].Informed != "已电话通知急诊科王医生" {
		t.Errorf("critical findings after the scenario: %+v %v", fs, err)
	}
}
