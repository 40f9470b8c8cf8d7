package viewer

import "fmt"

// Languages the pages speak; the first is the default.
var languages = []string{"zh", "en"}

// messages is the catalogue: key, Chinese (zh-CN), English. Templates ask for strings with
// {{t "key"}}; scripts get the "js." keys and the few others they name in jsKeys.
var messages = [][3]string{
	{"app.name", "县域影像阅片室", "County reading room"},
	{"lang.switch", "English", "中文"},
	{"nav.worklist", "工作列表", "Worklist"},
	{"nav.dashboard", "统计", "Dashboard"},
	{"nav.sites", "站点", "Sites"},
	{"nav.users", "用户", "Users"},
	{"nav.templates", "报告模板", "Templates"},
	{"nav.logout", "退出", "Log out"},
	{"nav.password", "修改密码", "Change password"},

	{"login.title", "登录", "Log in"},
	{"login.username", "用户名", "User name"},
	{"login.password", "密码", "Password"},
	{"login.submit", "登录", "Log in"},
	{"login.failed", "用户名或密码错误", "Wrong user name or password"},
	{"login.limited", "登录失败次数过多，请稍后再试", "Too many failed attempts; try again later"},

	{"pw.title", "修改密码", "Change password"},
	{"pw.current", "当前密码", "Current password"},
	{"pw.new", "新密码（至少 8 位）", "New password (8 characters or more)"},
	{"pw.confirm", "再次输入新密码", "New password again"},
	{"pw.submit", "确认修改", "Change password"},
	{"pw.mustchange", "您的密码是管理员设置的（或系统初始密码），请先设置自己的新密码，然后才能继续使用。", "Your password was set by an administrator (or generated at installation): choose your own before you go on."},
	{"pw.wrong", "当前密码不正确", "The current password is wrong"},
	{"pw.mismatch", "两次输入的新密码不一致", "The two new passwords differ"},
	{"pw.policy", "新密码长度须为 8 至 72 个字节（一个汉字占 3 个字节）", "The new password must be 8 to 72 bytes long"},
	{"pw.same", "新密码不能与当前密码相同", "The new password must differ from the current one"},
	{"pw.changed", "密码已修改，您在其他设备或浏览器上的登录均已退出", "Password changed; you are logged out everywhere else"},
	{"pw.continue", "继续", "Continue"},

	{"wl.site", "站点", "Site"},
	{"wl.allsites", "全部站点", "All sites"},
	{"wl.unknown", "未知来源", "Unknown sender"},
	{"wl.modality", "设备类型", "Modality"},
	{"wl.all", "全部", "All"},
	{"wl.from", "开始日期", "From"},
	{"wl.to", "结束日期", "To"},
	{"wl.status", "报告状态", "Report status"},
	{"wl.query", "姓名 / 拼音 / 患者ID", "Name / pinyin / patient ID"},
	{"wl.urgentonly", "仅急诊", "Urgent only"},
	{"wl.filter", "筛选", "Filter"},
	{"wl.reset", "重置", "Reset"},
	{"wl.col.urgent", "急", "!"},
	{"wl.col.site", "站点", "Site"},
	{"wl.col.patient", "姓名", "Patient"},
	{"wl.col.id", "患者ID", "Patient ID"},
	{"wl.col.sexage", "性别/年龄", "Sex/age"},
	{"wl.col.modality", "类型", "Modality"},
	{"wl.col.bodypart", "部位", "Body part"},
	{"wl.col.time", "检查时间", "Study time"},
	{"wl.col.images", "图像", "Images"},
	{"wl.col.status", "状态", "Status"},
	{"wl.col.series", "序列", "Series"},
	{"wl.col.received", "接收时间", "Received"},
	{"wl.sortby", "按此列排序（最新在前）", "Sort by this column, newest first"},
	{"wl.empty", "没有符合条件的检查", "No studies match"},
	{"wl.next", "下一页", "Next page"},
	{"wl.first", "第一页", "First page"},
	{"wl.live", "新检查会自动出现", "New studies appear automatically"},

	{"status.unread", "未读", "Unread"},
	{"status.draft", "草稿", "Draft"},
	{"status.final", "已审核", "Final"},
	{"status.amended", "已修订", "Amended"},
	{"sex.M", "男", "M"},
	{"sex.F", "女", "F"},
	{"sex.O", "其他", "O"},

	{"study.patient", "患者信息", "Patient"},
	{"study.study", "检查信息", "Study"},
	{"study.name", "姓名", "Name"},
	{"study.id", "患者ID", "Patient ID"},
	{"study.birth", "出生日期", "Birth date"},
	{"study.sex", "性别", "Sex"},
	{"study.age", "年龄", "Age"},
	{"study.date", "检查时间", "Study date"},
	{"study.desc", "检查描述", "Description"},
	{"study.accession", "检查号", "Accession"},
	{"study.institution", "机构", "Institution"},
	{"study.site", "来源站点", "Site"},
	{"study.sender", "发送方 AE", "Calling AE"},
	{"study.received", "接收时间", "Received"},
	{"study.images", "图像数", "Images"},
	{"study.ohif", "在 OHIF 中打开", "Open in OHIF"},
	{"study.urgent", "标记急诊", "Mark urgent"},
	{"study.noturgent", "取消急诊", "Not urgent"},
	{"study.isurgent", "急诊", "Urgent"},

	{"tool.preset", "窗位预设", "Presets"},
	{"tool.preset.default", "默认", "Default"},
	{"tool.preset.lung", "肺窗", "Lung"},
	{"tool.preset.bone", "骨窗", "Bone"},
	{"tool.preset.soft", "软组织窗", "Soft tissue"},
	{"tool.invert", "反相", "Invert"},
	{"tool.reset", "复位", "Reset"},
	{"tool.prev", "上一幅", "Previous"},
	{"tool.next", "下一幅", "Next"},
	{"tool.play", "播放", "Play"},
	{"tool.pause", "暂停", "Pause"},
	{"tool.fps", "帧/秒", "fps"},
	{"tool.hint", "左键拖动：窗宽窗位　右键或 Shift 拖动：平移　滚轮：缩放　←/→：上/下一幅", "Drag: window/level · Right or Shift drag: pan · Wheel: zoom · ←/→: previous/next image"},
	{"viewer.loading", "加载中…", "Loading…"},
	{"viewer.error", "图像无法显示", "The image cannot be shown"},
	{"viewer.noimage", "本检查没有图像", "This study has no images"},
	{"viewer.image", "图像", "Image"},
	{"viewer.frame", "帧", "Frame"},

	{"report.title", "诊断报告", "Report"},
	{"report.findings", "检查所见", "Findings"},
	{"report.impression", "诊断意见", "Impression"},
	{"report.template", "报告模板", "Template"},
	{"report.apply", "套用", "Apply"},
	{"report.saved", "草稿已保存", "Draft saved"},
	{"report.saving", "保存中…", "Saving…"},
	{"report.savefailed", "保存失败", "Could not save"},
	{"report.sign", "签发报告", "Sign report"},
	{"report.signconfirm", "签发后该版本不可更改，确认签发？", "A signed version cannot be changed. Sign now?"},
	{"report.amend", "修订报告", "Amend report"},
	{"report.amendreason", "修订原因", "Reason for the amendment"},
	{"report.signedby", "审核医师", "Signed by"},
	{"report.signedat", "审核时间", "Signed at"},
	{"report.author", "报告医师", "Reported by"},
	{"report.version", "版本", "Version"},
	{"report.history", "历史版本", "Versions"},
	{"report.print", "打印报告", "Print report"},
	{"report.none", "尚无已签发的报告", "No signed report yet"},
	{"report.conflict", "报告已被他人签发或修改，请刷新页面", "The report was signed or changed by someone else; reload the page"},
	{"report.object", "已写入 DICOM 结构化报告", "Stored as DICOM SR"},
	{"report.objectpending", "DICOM 结构化报告待写入", "DICOM SR pending"},

	{"print.title", "医学影像诊断报告书", "Imaging report"},
	{"print.hospital", "县人民医院 医学影像科", "County Hospital · Department of Radiology"},
	{"print.note", "本报告仅供临床参考，请结合临床。", "This report is for clinical reference."},
	{"print.print", "打印", "Print"},

	{"dash.title", "工作量与报告时效", "Workload and turnaround"},
	{"dash.days", "统计天数", "Days"},
	{"dash.day", "日期", "Day"},
	{"dash.received", "接收", "Received"},
	{"dash.reported", "已报告", "Reported"},
	{"dash.median", "接收至签发 中位时间", "Receipt to signature, median"},
	{"dash.p90", "接收至签发 90% 时间", "Receipt to signature, 90th percentile"},
	{"dash.count", "已签发检查数", "Studies signed"},
	{"dash.unread", "未读检查", "Unread studies"},
	{"dash.oldest", "最早的未读检查", "Oldest unread study"},
	{"dash.none", "无", "None"},
	{"dash.total", "合计", "Total"},

	{"admin.sites", "站点管理", "Sites"},
	{"admin.users", "用户管理", "Users"},
	{"admin.templates", "报告模板", "Report templates"},
	{"admin.name", "名称", "Name"},
	{"admin.aes", "AE 标题（每行一个）", "AE titles (one per line)"},
	{"admin.institutions", "机构名称（每行一个）", "Institution names (one per line)"},
	{"admin.save", "保存", "Save"},
	{"admin.delete", "删除", "Delete"},
	{"admin.new", "新建", "New"},
	{"admin.edit", "编辑", "Edit"},
	{"admin.username", "用户名", "User name"},
	{"admin.displayname", "显示名（签名用）", "Display name (signature)"},
	{"admin.role", "角色", "Role"},
	{"admin.site", "所属站点", "Site"},
	{"admin.password", "密码（至少 8 位）", "Password (8 characters or more)"},
	{"admin.newpassword", "新密码（留空不改）", "New password (empty: unchanged)"},
	{"admin.disabled", "停用", "Disabled"},
	{"admin.mustchange", "用户须在下次登录时修改此密码", "User must change it at next login"},
	{"admin.mustchangepending", "待修改密码", "Must change password"},
	{"admin.modality", "设备类型", "Modality"},
	{"admin.bodypart", "检查部位", "Body part"},
	{"admin.none", "（无）", "(none)"},
	{"admin.saved", "已保存", "Saved"},
	{"role.admin", "管理员", "Administrator"},
	{"role.radiologist", "放射科医师", "Radiologist"},
	{"role.site", "站点用户", "Site user"},
	// A refused admin form names the field and the problem (reading.FieldError, forms.go);
	// %s is the offending item of a list.
	{"form.name.required", "名称：不能为空", "Name: required"},
	{"form.name.length", "名称：最多 64 个字", "Name: at most 64 characters"},
	{"form.name.taken", "名称：已有同名的站点", "Name: another site has this name"},
	{"form.aeTitles.length", "AE 标题：“%s”超过 16 个字符", "AE titles: \"%s\" is longer than 16 characters"},
	{"form.aeTitles.chars", "AE 标题：“%s”只能包含英文字母、数字、空格和英文标点，不能有汉字或反斜杠", "AE titles: \"%s\" may hold only ASCII letters, digits, spaces and punctuation, no backslash"},
	{"form.aeTitles.taken", "AE 标题：“%s”已属于其他站点", "AE titles: \"%s\" belongs to another site"},
	{"form.institutions.length", "机构名称：“%s”超过 64 个字", "Institution names: \"%s\" is longer than 64 characters"},
	{"form.institutions.taken", "机构名称：“%s”已属于其他站点", "Institution names: \"%s\" belongs to another site"},
	{"form.username.required", "用户名：不能为空", "User name: required"},
	{"form.username.length", "用户名：最多 64 个字节（一个汉字占 3 个字节）", "User name: at most 64 bytes"},
	{"form.username.chars", "用户名：不能包含空格或控制字符", "User name: no spaces or control characters"},
	{"form.username.taken", "用户名：已被其他账号使用", "User name: taken by another account"},
	{"form.displayName.length", "显示名：最多 64 个字", "Display name: at most 64 characters"},
	{"form.role.value", "角色：请选择放射科医师、站点用户或管理员", "Role: choose radiologist, site user or administrator"},
	{"form.site.site", "所属站点：站点用户必须选择所属站点", "Site: a site user needs a site"},
	{"form.password.required", "密码：不能为空", "Password: required"},
	{"form.password.length", "密码：长度须为 8 至 72 个字节（一个汉字占 3 个字节）", "Password: 8 to 72 bytes"},
	{"form.modality.length", "设备类型：最多 16 个字符", "Modality: at most 16 characters"},
	{"form.bodyPart.length", "检查部位：最多 16 个字符", "Body part: at most 16 characters"},
	{"form.findings.length", "检查所见：最多 20000 个字", "Findings: at most 20000 characters"},
	{"form.impression.length", "诊断意见：最多 20000 个字", "Impression: at most 20000 characters"},
	{"form.self", "不能停用自己的账号，也不能取消自己的管理员角色", "You cannot disable your own account or drop your own administrator role"},
	{"form.site.inuse", "该站点仍有用户，不能删除：请先停用或改动这些用户", "Users still belong to this site: change them before deleting it"},

	{"err.title", "出错了", "Error"},
	{"err.notfound", "未找到，或无权查看", "Not found, or not yours to see"},
	{"err.forbidden", "无权访问", "Forbidden"},
	{"err.invalid", "输入有误", "Invalid input"},
	{"err.conflict", "与现有数据冲突", "Conflicts with existing data"},
	{"err.internal", "服务器内部错误", "Server error"},
	{"err.csrf", "页面已过期，请刷新后重试", "The page has expired; reload and try again"},
	{"err.mustchange", "请先修改密码（阅片室右上角“修改密码”），然后才能继续使用", "Change your password first (\"Change password\" at the top right of the reading room)"},
	{"err.back", "返回", "Back"},
}

// jsKeys are the catalogue entries the scripts need besides the "js." ones.
var jsPrefixes = []string{"status.", "tool.", "viewer.", "report."}

// catalogue maps language -> key -> text.
var catalogue = func() map[string]map[string]string {
	m := map[string]map[string]string{"zh": {}, "en": {}}
	for _, e := range messages {
		if _, dup := m["zh"][e[0]]; dup {
			panic(fmt.Sprintf("viewer: message %q defined twice", e[0]))
		}
		m["zh"][e[0]], m["en"][e[0]] = e[1], e[2]
	}
	return m
}()

// translate returns the text of key in lang; an unknown key is an error, so that a
// template naming a missing message fails its test instead of showing a key.
func translate(lang, key string) (string, error) {
	s, ok := catalogue[lang][key]
	if !ok {
		return "", fmt.Errorf("no message %q", key)
	}
	return s, nil
}
