package viewer

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"pacsd/reading"
)

// studyRoom is a reading room with site A's DX chest study (张伟, dr_mono2.dcm) and
// abdominal ultrasound (李娜, us_multiframe.dcm), a radiologist and site A's user.
type studyRoom struct {
	*env
	dr, us    string // Study Instance UIDs
	doc, town *client
}

func newStudyRoom(t *testing.T, configure func(*Config)) *studyRoom {
	t.Helper()
	en := newEnvWith(t, configure)
	site, err := en.idx.Reading().PutSite(context.Background(), reading.Site{Name: "甲镇卫生院", AETitles: []string{"TOWN_A"}})
	if err != nil {
		t.Fatal(err)
	}
	en.user("doc", reading.RoleRadiologist, 0)
	en.user("town-a", reading.RoleSite, site.ID)
	dr := en.put("dr_mono2.dcm", "TOWN_A").StudyInstanceUID
	us := en.put("us_multiframe.dcm", "TOWN_A").StudyInstanceUID
	return &studyRoom{env: en, dr: dr, us: us, doc: en.login("doc", "password-doc"),
		town: en.login("town-a", "password-town-a")}
}

func (r *studyRoom) sign(study string, version int, findings, impression string) reportJSON {
	r.t.Helper()
	b, _ := json.Marshal(map[string]any{"version": version, "findings": findings, "impression": impression})
	resp, body := r.doc.sendJSON(http.MethodPost, "/api/studies/"+study+"/report/sign", string(b))
	if resp.StatusCode != http.StatusOK {
		r.t.Fatalf("sign %s v%d: %d %s", study, version, resp.StatusCode, body)
	}
	var out reportJSON
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		r.t.Fatal(err)
	}
	return out
}

func (r *studyRoom) amend(study, reason string) {
	r.t.Helper()
	b, _ := json.Marshal(map[string]string{"reason": reason})
	if resp, body := r.doc.sendJSON(http.MethodPost, "/api/studies/"+study+"/report/amend", string(b)); resp.StatusCode != http.StatusOK {
		r.t.Fatalf("amend %s: %d %s", study, resp.StatusCode, body)
	}
}

func (c *client) page(path string) string {
	c.en.t.Helper()
	resp, body := c.get(path, "text/html")
	if resp.StatusCode != http.StatusOK {
		c.en.t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	return body
}

// element returns the start tag of the element with the given id ("" when none).
func element(page, id string) string {
	return regexp.MustCompile(`<[a-z]+\b[^>]*\bid="` + regexp.QuoteMeta(id) + `"[^>]*>`).FindString(page)
}

func hasHidden(tag string) bool { return regexp.MustCompile(`\shidden(\s|>|=)`).MatchString(tag) }

// TestReportControlsMatchState: the editor's buttons are rendered hidden when they do not
// apply (sign on a signed report, amend before one), so no stylesheet or script can show a
// button whose request would only be refused.
func TestReportControlsMatchState(t *testing.T) {
	r := newStudyRoom(t, nil)
	page := r.doc.page("/studies/" + r.dr)
	if hasHidden(element(page, "sign")) || !hasHidden(element(page, "amend")) {
		t.Errorf("unread study: sign %q, amend %q; want sign shown, amend hidden", element(page, "sign"), element(page, "amend"))
	}
	r.sign(r.dr, 1, "双肺纹理清晰。", "未见异常。")
	page = r.doc.page("/studies/" + r.dr)
	for _, id := range []string{"sign", "template-bar"} {
		if !hasHidden(element(page, id)) {
			t.Errorf("signed report: #%s is not hidden: %q", id, element(page, id))
		}
	}
	if hasHidden(element(page, "amend")) {
		t.Errorf("signed report: amend is hidden: %q", element(page, "amend"))
	}
	r.amend(r.dr, "补充")
	page = r.doc.page("/studies/" + r.dr)
	if hasHidden(element(page, "sign")) || !hasHidden(element(page, "amend")) {
		t.Errorf("amendment open: sign %q, amend %q", element(page, "sign"), element(page, "amend"))
	}
	// Radiograph window presets: on the DX study, not on the ultrasound.
	preset := regexp.MustCompile(`<button[^>]*data-preset="(lung|bone|soft)"[^>]*>`)
	for study, hidden := range map[string]bool{r.dr: false, r.us: true} {
		tags := preset.FindAllString(r.doc.page("/studies/"+study), -1)
		if len(tags) != 3 {
			t.Fatalf("study %s: presets %q", study, tags)
		}
		for _, tag := range tags {
			if hasHidden(tag) != hidden {
				t.Errorf("study %s: %s, want hidden=%v", study, tag, hidden)
			}
		}
	}
}

// TestTemplateSuggestion: the template offered first fits the study's modality and body
// part (Body Part Examined, else the descriptions' words), and none is offered when none
// fits.
func TestTemplateSuggestion(t *testing.T) {
	ts := append([]reading.Template(nil), defaultTemplates...)
	for i := range ts {
		ts[i].ID = int64(i + 1)
	}
	name := func(id int64) string {
		for _, t := range ts {
			if t.ID == id {
				return t.Name + " " + t.Modality
			}
		}
		return "none"
	}
	series := func(desc ...string) []reading.SeriesRef {
		var out []reading.SeriesRef
		for _, d := range desc {
			out = append(out, reading.SeriesRef{Modality: "X", Description: d})
		}
		return out
	}
	for _, c := range []struct {
		what string
		row  reading.WorklistRow
		want string
	}{
		{"DX chest", reading.WorklistRow{Modalities: []string{"DX"}, BodyPart: "CHEST"}, "胸部正位（正常） DX"},
		{"CR chest by description", reading.WorklistRow{Modalities: []string{"CR"}, Description: "Thorax p.a."}, "胸部正位（正常） CR"},
		{"DX chest by Chinese description", reading.WorklistRow{Modalities: []string{"DX"}, Description: "胸部正位"}, "胸部正位（正常） DX"},
		{"DX knee", reading.WorklistRow{Modalities: []string{"DX"}, BodyPart: "KNEE"}, "四肢关节（正常） DX"},
		{"DX wrist by series", reading.WorklistRow{Modalities: []string{"DX"}, Series: series("左腕关节正侧位")}, "四肢关节（正常） DX"},
		{"DX thoracic spine is not the chest", reading.WorklistRow{Modalities: []string{"DX"}, Description: "胸椎正侧位"}, "none"},
		{"DX unknown part", reading.WorklistRow{Modalities: []string{"DX"}}, "none"},
		{"US abdomen", reading.WorklistRow{Modalities: []string{"US"}, BodyPart: "ABDOMEN"}, "腹部超声（正常） US"},
		{"US abdomen by series", reading.WorklistRow{Modalities: []string{"US"}, Series: series("肝胆脾 动态")}, "腹部超声（正常） US"},
		{"US early pregnancy", reading.WorklistRow{Modalities: []string{"US"}, Description: "早孕"}, "产科超声（早孕） US"},
		{"US unknown part", reading.WorklistRow{Modalities: []string{"US"}}, "none"},
		{"US thyroid", reading.WorklistRow{Modalities: []string{"US"}, BodyPart: "THYROID"}, "none"},
		{"MR chest", reading.WorklistRow{Modalities: []string{"MR"}, BodyPart: "CHEST"}, "none"},
	} {
		if got := name(suggestTemplate(c.row, ts)); got != c.want {
			t.Errorf("%s: %s, want %s", c.what, got, c.want)
		}
	}

	// The study page preselects it.
	r := newStudyRoom(t, nil)
	for study, want := range map[string]string{r.dr: "胸部正位（正常） (DX CHEST)", r.us: "腹部超声（正常） (US ABDOMEN)"} {
		sel := regexp.MustCompile(`<option value="\d+" selected>([^<]*)</option>`).FindAllStringSubmatch(r.doc.page("/studies/"+study), -1)
		if len(sel) != 1 || sel[0][1] != want {
			t.Errorf("study %s: selected %q, want %q", study, sel, want)
		}
	}
}

// TestPrintedReport: the print view names the organization of --organization, and an
// amended version says so, with its version number and reason.
func TestPrintedReport(t *testing.T) {
	r := newStudyRoom(t, func(c *Config) { c.Organization = "某县人民医院" })
	r.sign(r.dr, 1, "双肺纹理清晰。", "未见异常。")
	page := r.town.page("/studies/" + r.dr + "/print")
	if !strings.Contains(page, `<p class="hospital">某县人民医院</p>`) {
		t.Errorf("the print view does not name the organization: %s", element(page, "print-report"))
	}
	if strings.Contains(page, "修订") {
		t.Error("the first version's print says it is amended")
	}
	r.amend(r.dr, "补充左肺结节描述")
	r.sign(r.dr, 2, "双肺纹理清晰，左肺上叶小结节。", "左肺上叶小结节，建议随访。")
	page = r.town.page("/studies/" + r.dr + "/print")
	for _, want := range []string{"修订版", "第 2 版", "修订原因", "补充左肺结节描述", "建议随访"} {
		if !strings.Contains(page, want) {
			t.Errorf("the amended print lacks %q", want)
		}
	}
}

// TestTimesInCountyZone: on a server in UTC, every time shown is the county's (the default,
// China Standard Time): the signing time on the study page, the print and in the API, and
// the dashboard's oldest unread study, which names no "UTC".
func TestTimesInCountyZone(t *testing.T) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what string
		loc  *time.Location
	}{{"default", nil}, {"Asia/Shanghai", shanghai}} {
		t.Run(c.what, func(t *testing.T) {
			r := newStudyRoom(t, func(cfg *Config) { cfg.Location = c.loc })
			got := r.sign(r.dr, 1, "双肺纹理清晰。", "未见异常。")
			vs, err := r.idx.Reading().Reports(context.Background(), r.dr)
			if err != nil || len(vs) != 1 {
				t.Fatalf("reports %v %v", vs, err)
			}
			at := vs[0].SignedAt
			want, utc := at.In(shanghai).Format("2006-01-02 15:04"), at.UTC().Format("2006-01-02 15:04")
			if !strings.HasSuffix(got.SignedAt, "+08:00") || !strings.HasSuffix(got.UpdatedAt, "+08:00") {
				t.Errorf("API times %q, %q: want the county's offset", got.SignedAt, got.UpdatedAt)
			}
			for _, p := range []string{"/studies/" + r.dr, "/studies/" + r.dr + "/print"} {
				page := r.town.page(p)
				if !strings.Contains(page, want) || strings.Contains(page, utc) {
					t.Errorf("%s: want the signing time %s (Beijing), not %s (UTC)", p, want, utc)
				}
			}
			row, err := r.idx.Reading().Study(context.Background(), r.us)
			if err != nil {
				t.Fatal(err)
			}
			dash := r.doc.page("/dashboard")
			if !strings.Contains(dash, row.ReceivedAt.In(shanghai).Format("2006-01-02 15:04")) || strings.Contains(dash, "UTC") {
				t.Errorf("the dashboard's oldest unread study is not in Beijing time, or says UTC")
			}
		})
	}
}

// TestSignEmpty: signing with findings or impression empty is refused with a message that
// names the empty field, and leaves no report behind (the township would see a draft).
// Nor does an empty autosave create one.
func TestSignEmpty(t *testing.T) {
	r := newStudyRoom(t, nil)
	path := "/api/studies/" + r.dr + "/report"
	for _, c := range []struct{ body, code, says string }{
		{`{"version":1,"findings":"","impression":"未见异常。"}`, "report.emptyfindings", "检查所见"},
		{`{"version":1,"findings":"双肺纹理清晰。","impression":"  \n"}`, "report.emptyimpression", "诊断意见"},
		{`{"version":1,"findings":" ","impression":""}`, "report.empty", "检查所见和诊断意见"},
	} {
		resp, body := r.doc.sendJSON(http.MethodPost, path+"/sign", c.body)
		var e struct{ Error, Code string }
		json.Unmarshal([]byte(body), &e)
		if resp.StatusCode != http.StatusBadRequest || e.Code != c.code || !strings.Contains(e.Error, c.says) {
			t.Errorf("sign %s: %d %s; want 400 %s naming %s", c.body, resp.StatusCode, body, c.code, c.says)
		}
	}
	if resp, body := r.doc.sendJSON(http.MethodPut, path, `{"findings":"","impression":" "}`); resp.StatusCode != http.StatusOK {
		t.Errorf("empty autosave: %d %s", resp.StatusCode, body)
	}
	if vs, err := r.idx.Reading().Reports(context.Background(), r.dr); err != nil || len(vs) != 0 {
		t.Errorf("after refused signatures and an empty autosave: versions %+v (%v), want none", vs, err)
	}
	if row, err := r.idx.Reading().Study(context.Background(), r.dr); err != nil || row.Status != reading.StatusUnread {
		t.Errorf("study status %q (%v), want unread", row.Status, err)
	}
	if badge := r.town.page("/studies/" + r.dr); !strings.Contains(badge, `id="report-status">未读<`) {
		t.Errorf("the township's badge: %s", regexp.MustCompile(`<span class="status[^"]*" id="report-status">[^<]*<`).FindString(badge))
	}
}

// TestAmendingBadge: while an amendment is open the radiologist's badge says so; the
// township still sees the signed version's status.
func TestAmendingBadge(t *testing.T) {
	r := newStudyRoom(t, nil)
	r.sign(r.dr, 1, "双肺纹理清晰。", "未见异常。")
	r.amend(r.dr, "补充")
	badge := regexp.MustCompile(`id="report-status">([^<]*)<`)
	if m := badge.FindStringSubmatch(r.doc.page("/studies/" + r.dr)); m == nil || m[1] != "修订中" {
		t.Errorf("radiologist's badge during the amendment: %q, want 修订中", m)
	}
	if m := badge.FindStringSubmatch(r.town.page("/studies/" + r.dr)); m == nil || m[1] != "已审核" {
		t.Errorf("township's badge during the amendment: %q, want 已审核", m)
	}
}
