package viewer

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"pacsd/reading"
)

// TestAdminFormErrors: a refused administration form names the field and the problem in
// Chinese, with a 4xx status, and comes back with everything that was typed (but the
// password) instead of empty.
func TestAdminFormErrors(t *testing.T) {
	en := newEnv(t)
	admin := en.admin()
	ctx := context.Background()
	site, err := en.idx.Reading().PutSite(ctx, reading.Site{Name: "甲镇卫生院", AETitles: []string{"TOWN_A"}})
	if err != nil {
		t.Fatal(err)
	}
	en.user("li", reading.RoleRadiologist, 0)
	li := en.userNamed("li")
	siteID := strconv.FormatInt(site.ID, 10)
	me := strconv.FormatInt(en.userNamed("admin").ID, 10)

	for _, c := range []struct {
		name   string
		path   string
		form   url.Values
		status int
		msg    string
		kept   []string // fragments of the page that show what was typed
	}{
		{"taken user name", "/admin/users",
			url.Values{"username": {"LI"}, "display_name": {"王医生"}, "role": {"site"}, "site": {siteID}, "password": {"secret-password-1"}},
			http.StatusConflict, "用户名：已被其他账号使用",
			[]string{`name="username" required maxlength="64" autocomplete="off" value="LI"`, `value="王医生"`,
				`<option value="site" selected>`, `<option value="` + siteID + `" selected>`}},
		{"space in user name", "/admin/users",
			url.Values{"username": {"wang fang"}, "display_name": {"王芳"}, "role": {"radiologist"}, "password": {"secret-password-1"}, "must_change": {"1"}},
			http.StatusBadRequest, "用户名：不能包含空格",
			[]string{`value="wang fang"`, `value="王芳"`, `aria-invalid="true"`}},
		{"short password", "/admin/users",
			url.Values{"username": {"wangfang"}, "display_name": {"王芳"}, "role": {"radiologist"}, "password": {"short"}},
			http.StatusBadRequest, "密码：长度须为 8 至 72 个字节",
			[]string{`value="wangfang"`, `value="王芳"`}},
		{"site user without site", "/admin/users",
			url.Values{"username": {"town"}, "role": {"site"}, "password": {"secret-password-1"}},
			http.StatusBadRequest, "所属站点：站点用户必须选择所属站点",
			[]string{`value="town"`, `<option value="site" selected>`}},
		{"AE title of another site", "/admin/sites",
			url.Values{"name": {"乙镇卫生院"}, "aes": {"TOWN_B\nTOWN_A"}, "institutions": {"乙镇卫生院"}},
			http.StatusConflict, "AE 标题：“TOWN_A”已属于其他站点",
			[]string{`value="乙镇卫生院"`, "TOWN_B\nTOWN_A</textarea>"}},
		{"AE title in Chinese", "/admin/sites",
			url.Values{"name": {"乙镇卫生院"}, "aes": {"乙镇"}},
			http.StatusBadRequest, "AE 标题：“乙镇”只能包含英文字母",
			[]string{`value="乙镇卫生院"`, "乙镇</textarea>"}},
		{"long body part", "/admin/templates",
			url.Values{"name": {"胸部正位"}, "modality": {"DX"}, "body_part": {"CHEST_ABDOMEN_PELVIS"}, "findings": {"双肺纹理清晰。"}},
			http.StatusBadRequest, "检查部位：最多 16 个字符",
			[]string{`value="胸部正位"`, `value="CHEST_ABDOMEN_PELVIS"`, "双肺纹理清晰。</textarea>"}},
		{"edited user: site role without a site", "/admin/users/" + strconv.FormatInt(li.ID, 10),
			url.Values{"display_name": {"李医生改"}, "role": {"site"}, "site": {""}},
			http.StatusBadRequest, "所属站点：站点用户必须选择所属站点",
			[]string{`value="李医生改"`}},
		{"administrator disabling themselves", "/admin/users/" + me,
			url.Values{"display_name": {"管理员"}, "role": {"admin"}, "disabled": {"1"}},
			http.StatusConflict, "不能停用自己的账号",
			[]string{`value="管理员"`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.form.Set("csrf", admin.csrf)
			req, _ := http.NewRequest(http.MethodPost, en.srv.URL+c.path, strings.NewReader(c.form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Accept", "text/html")
			resp, body := admin.do(req)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, c.status)
			}
			page := html.UnescapeString(body)
			if !strings.Contains(page, c.msg) {
				t.Errorf("the page does not say %q", c.msg)
			}
			if strings.Contains(page, "输入有误") || strings.Contains(page, "与现有数据冲突") {
				t.Error("the page answers with the generic refusal")
			}
			for _, k := range c.kept {
				if !strings.Contains(page, k) {
					t.Errorf("what was typed is lost: no %q in the page", k)
				}
			}
			if pw := c.form.Get("password"); pw != "" && strings.Contains(page, pw) {
				t.Error("the password is sent back")
			}
		})
	}
}
