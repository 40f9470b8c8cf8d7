package readingtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"pacsd/reading"
)

// testWorkflow: critical findings (flag, site isolation of the lists, one acknowledgement,
// per-site figures), claims timing out on the caller's clock, two-level review's statuses,
// phrases (shared and personal) and the settings.
func testWorkflow(t *testing.T, e Env) {
	ctx := context.Background()
	r := e.Repo
	a := must(r.PutSite(ctx, reading.Site{Name: "甲镇", AETitles: []string{"TOWN_A"}}))(t)
	b := must(r.PutSite(ctx, reading.Site{Name: "乙镇", AETitles: []string{"TOWN_B"}}))(t)
	e.AddStudy(t, Study{UID: "7.1", PatientName: "王芳", PatientID: "P71", CallingAE: "TOWN_A", Modality: "US",
		StudyDate: "20260301", ReceivedAt: base})
	e.AddStudy(t, Study{UID: "7.2", PatientName: "赵强", PatientID: "P72", CallingAE: "TOWN_B", Modality: "DX",
		StudyDate: "20260301", ReceivedAt: base})
	zhang := must(r.CreateUser(ctx, reading.User{Username: "zhang", DisplayName: "张医生", Role: reading.RoleRadiologist, PasswordHash: "h"}))(t)
	li := must(r.CreateUser(ctx, reading.User{Username: "li", DisplayName: "李主任", Role: reading.RoleRadiologist,
		MayReview: true, PasswordHash: "h"}))(t)
	town := must(r.CreateUser(ctx, reading.User{Username: "town", DisplayName: "甲镇护士", Role: reading.RoleSite, SiteID: a.ID, PasswordHash: "h"}))(t)
	if got := must(r.User(ctx, li.ID))(t); !got.MayReview {
		t.Errorf("reviewer flag not kept: %+v", got)
	}
	zhang.MayReview = true
	must(0, r.UpdateUser(ctx, zhang))(t)
	if got := must(r.User(ctx, zhang.ID))(t); !got.MayReview {
		t.Errorf("reviewer flag not updated")
	}
	zhang.MayReview = false
	must(0, r.UpdateUser(ctx, zhang))(t)

	t.Run("Critical", func(t *testing.T) {
		if _, err := r.FlagCritical(ctx, reading.CriticalFinding{StudyUID: "9.9", Category: "pneumothorax", Text: "右侧气胸"}); !errors.Is(err, reading.ErrNotFound) {
			t.Errorf("flag on an unknown study: %v", err)
		}
		if _, err := r.FlagCritical(ctx, reading.CriticalFinding{StudyUID: "7.1", Category: "ectopic", Text: "  "}); !errors.Is(err, reading.ErrInvalid) {
			t.Errorf("flag without text: %v", err)
		}
		f1 := must(r.FlagCritical(ctx, reading.CriticalFinding{StudyUID: "7.1", Category: "ectopic", Text: "右附件区混合回声包块，盆腔积液",
			FlaggedBy: zhang.ID, FlaggedByName: zhang.Name(), FlaggedAt: base.Add(10 * time.Minute)}))(t)
		if f1.ID == 0 || f1.SiteID != a.ID || f1.PatientName != "王芳" || f1.Acknowledged() {
			t.Fatalf("flagged = %+v", f1)
		}
		f2 := must(r.FlagCritical(ctx, reading.CriticalFinding{StudyUID: "7.2", Category: "pneumothorax", Text: "左侧气胸，肺组织压缩约60%",
			FlaggedBy: zhang.ID, FlaggedByName: zhang.Name(), FlaggedAt: base.Add(20 * time.Minute)}))(t)
		// A site's list holds only its own studies' findings.
		for _, c := range []struct {
			f    reading.CriticalFilter
			want []int64
		}{
			{reading.CriticalFilter{}, []int64{f2.ID, f1.ID}},
			{reading.CriticalFilter{SiteID: a.ID, Open: true}, []int64{f1.ID}},
			{reading.CriticalFilter{SiteID: b.ID}, []int64{f2.ID}},
			{reading.CriticalFilter{StudyUID: "7.2"}, []int64{f2.ID}},
		} {
			got := must(r.CriticalFindings(ctx, c.f))(t)
			var ids []int64
			for _, f := range got {
				ids = append(ids, f.ID)
			}
			if len(ids) != len(c.want) || (len(ids) > 0 && (ids[0] != c.want[0] || ids[len(ids)-1] != c.want[len(c.want)-1])) {
				t.Errorf("CriticalFindings(%+v) = %v, want %v", c.f, ids, c.want)
			}
		}
		if _, err := r.AcknowledgeCritical(ctx, f1.ID, town, " ", base); !errors.Is(err, reading.ErrInvalid) {
			t.Errorf("acknowledgement naming nobody informed: %v", err)
		}
		ackAt := base.Add(25 * time.Minute)
		ack := must(r.AcknowledgeCritical(ctx, f1.ID, town, "已电话通知妇产科刘医生", ackAt))(t)
		if !ack.Acknowledged() || ack.AckByName != "甲镇护士" || !ack.AckAt.Equal(ackAt) || ack.Informed != "已电话通知妇产科刘医生" {
			t.Fatalf("acknowledged = %+v", ack)
		}
		if _, err := r.AcknowledgeCritical(ctx, f1.ID, town, "再次", ackAt.Add(time.Minute)); !errors.Is(err, reading.ErrConflict) {
			t.Errorf("second acknowledgement: %v, want ErrConflict", err)
		}
		if _, err := r.AcknowledgeCritical(ctx, 9999, town, "x", ackAt); !errors.Is(err, reading.ErrNotFound) {
			t.Errorf("acknowledging a missing finding: %v", err)
		}
		if got := must(r.CriticalFindings(ctx, reading.CriticalFilter{SiteID: a.ID, Open: true}))(t); len(got) != 0 {
			t.Errorf("open findings of site a after acknowledgement: %+v", got)
		}
		stats := must(r.CriticalStats(ctx, base, base.Add(time.Hour)))(t)
		if len(stats) != 2 {
			t.Fatalf("stats = %+v", stats)
		}
		for _, s := range stats {
			switch s.SiteID {
			case a.ID:
				if s.Flagged != 1 || s.Acknowledged != 1 || s.Open != 0 || s.Median != 15*time.Minute || s.Max != 15*time.Minute {
					t.Errorf("site a stats = %+v", s)
				}
			case b.ID:
				if s.Flagged != 1 || s.Open != 1 || s.Acknowledged != 0 {
					t.Errorf("site b stats = %+v", s)
				}
			default:
				t.Errorf("stats of an unexpected site: %+v", s)
			}
		}
	})

	t.Run("Claims", func(t *testing.T) {
		ttl := 15 * time.Minute
		c := must(r.ClaimStudy(ctx, "7.1", zhang, base, ttl))(t)
		if c.UserName != "张医生" || !c.ExpiresAt.Equal(base.Add(ttl)) {
			t.Fatalf("claim = %+v", c)
		}
		_, err := r.ClaimStudy(ctx, "7.1", li, base.Add(5*time.Minute), ttl)
		var ce *reading.ClaimedError
		if !errors.As(err, &ce) || !errors.Is(err, reading.ErrConflict) || ce.Claim.UserID != zhang.ID {
			t.Fatalf("second claimant: %v", err)
		}
		// A renewal keeps the start and moves the end.
		c = must(r.ClaimStudy(ctx, "7.1", zhang, base.Add(10*time.Minute), ttl))(t)
		if !c.ClaimedAt.Equal(base) || !c.ExpiresAt.Equal(base.Add(25*time.Minute)) {
			t.Errorf("renewed claim = %+v", c)
		}
		live := must(r.Claims(ctx, []string{"7.1", "7.2"}, base.Add(20*time.Minute)))(t)
		if len(live) != 1 || live["7.1"].UserID != zhang.ID {
			t.Errorf("live claims = %+v", live)
		}
		// After its time it lapses, and somebody else may take the study.
		if got := must(r.Claims(ctx, []string{"7.1"}, base.Add(26*time.Minute)))(t); len(got) != 0 {
			t.Errorf("claims after expiry = %+v", got)
		}
		c = must(r.ClaimStudy(ctx, "7.1", li, base.Add(26*time.Minute), ttl))(t)
		if c.UserID != li.ID || !c.ClaimedAt.Equal(base.Add(26*time.Minute)) {
			t.Errorf("claim taken over = %+v", c)
		}
		// Only the holder releases.
		must(0, r.ReleaseClaim(ctx, "7.1", zhang.ID))(t)
		if got := must(r.Claims(ctx, []string{"7.1"}, base.Add(27*time.Minute)))(t); got["7.1"].UserID != li.ID {
			t.Errorf("another user's release ended the claim: %+v", got)
		}
		must(0, r.ReleaseClaim(ctx, "7.1", li.ID))(t)
		if got := must(r.Claims(ctx, []string{"7.1"}, base.Add(27*time.Minute)))(t); len(got) != 0 {
			t.Errorf("claims after release = %+v", got)
		}
	})

	t.Run("Review", func(t *testing.T) {
		// Received first and examined on no known day: last in either order, unless urgent.
		e.AddStudy(t, Study{UID: "7.3", CallingAE: "TOWN_A", Modality: "DX", ReceivedAt: base.Add(-time.Hour)})
		if _, err := r.SubmitReport(ctx, "7.3", 1, zhang, base); !errors.Is(err, reading.ErrNotFound) {
			t.Errorf("submit without report: %v", err)
		}
		must(r.SaveDraft(ctx, "7.3", "腰椎生理曲度变直。", "腰椎退行性变。", zhang, base))(t)
		must(0, r.SetUrgent(ctx, "7.3", true))(t)
		if got := uids(must(r.Worklist(ctx, reading.WorklistFilter{Limit: 1}))(t).Rows); len(got) != 1 || got[0] == "7.3" {
			t.Errorf("an urgent study being written heads the worklist: %v", got)
		}
		p := must(r.SubmitReport(ctx, "7.3", 1, zhang, base.Add(time.Minute)))(t)
		if p.Status != reading.StatusPreliminary || p.AuthorName != "张医生" {
			t.Fatalf("submitted = %+v", p)
		}
		// Awaiting its reviewer, the urgent study heads the worklist again, in either order.
		for _, o := range []reading.WorklistOrder{reading.OrderReceived, reading.OrderStudy} {
			if got := uids(must(r.Worklist(ctx, reading.WorklistFilter{Limit: 1, Order: o}))(t).Rows); len(got) != 1 || got[0] != "7.3" {
				t.Errorf("order %s: first row %v, want the urgent study awaiting review", o, got)
			}
		}
		if st := status(t, r, "7.3"); st != reading.StatusPreliminary {
			t.Errorf("study status after submission %q", st)
		}
		if _, err := r.SubmitReport(ctx, "7.3", 1, zhang, base); !errors.Is(err, reading.ErrConflict) {
			t.Errorf("second submission: %v", err)
		}
		// The reviewer edits: the report stays the author's, and preliminary.
		d := must(r.SaveDraft(ctx, "7.3", "腰椎生理曲度变直，L4/5椎间隙变窄。", "腰椎退行性变。", li, base.Add(2*time.Minute)))(t)
		if d.Status != reading.StatusPreliminary || d.AuthorName != "张医生" {
			t.Errorf("reviewer's edit = %+v", d)
		}
		f := must(r.Sign(ctx, "7.3", 1, li, base.Add(3*time.Minute)))(t)
		if f.Status != reading.StatusFinal || f.AuthorName != "张医生" || f.SignedByName != "李主任" {
			t.Errorf("signed = %+v", f)
		}
		vs := must(r.Reports(ctx, "7.3"))(t)
		if len(vs) != 1 || vs[0].AuthorName != "张医生" || vs[0].SignedByName != "李主任" || vs[0].Findings != d.Findings ||
			vs[0].SubmittedAt.IsZero() {
			t.Errorf("versions = %+v", vs)
		}
		if st := status(t, r, "7.3"); st != reading.StatusFinal {
			t.Errorf("study status after signature %q", st)
		}
		rows := must(r.Worklist(ctx, reading.WorklistFilter{Status: reading.StatusPreliminary}))(t)
		if len(rows.Rows) != 0 {
			t.Errorf("preliminary filter after signature: %v", uids(rows.Rows))
		}
		if got := uids(must(r.Worklist(ctx, reading.WorklistFilter{Limit: 1}))(t).Rows); len(got) != 1 || got[0] == "7.3" {
			t.Errorf("a signed urgent study still heads the worklist: %v", got)
		}
		must(0, r.SetUrgent(ctx, "7.3", false))(t)
	})

	t.Run("Phrases", func(t *testing.T) {
		shared := must(r.PutPhrase(ctx, reading.Phrase{Group: " 胸部 ", Text: "双肺纹理清晰，未见明显实质性病变。"}))(t)
		own := must(r.PutPhrase(ctx, reading.Phrase{OwnerID: zhang.ID, Group: "超声", Text: "肝脏大小形态正常，包膜光滑。"}))(t)
		must(r.PutPhrase(ctx, reading.Phrase{OwnerID: li.ID, Group: "超声", Text: "李的词条"}))(t)
		if shared.Group != "胸部" {
			t.Errorf("group not trimmed: %q", shared.Group)
		}
		got := must(r.Phrases(ctx, zhang.ID))(t)
		// By group: 胸部 (U+80F8) sorts before 超声 (U+8D85).
		if len(got) != 2 || got[0].ID != shared.ID || got[1].ID != own.ID {
			t.Errorf("zhang's phrases = %+v", got)
		}
		if _, err := r.PutPhrase(ctx, reading.Phrase{Group: "x"}); !errors.Is(err, reading.ErrInvalid) {
			t.Errorf("phrase without text: %v", err)
		}
		own.Text = "肝脏大小形态正常。"
		must(r.PutPhrase(ctx, own))(t)
		if p := must(r.Phrase(ctx, own.ID))(t); p.Text != own.Text || p.OwnerID != zhang.ID {
			t.Errorf("phrase = %+v", p)
		}
		must(0, r.DeletePhrase(ctx, own.ID))(t)
		if err := r.DeletePhrase(ctx, own.ID); !errors.Is(err, reading.ErrNotFound) {
			t.Errorf("second delete: %v", err)
		}
	})

	t.Run("Settings", func(t *testing.T) {
		if v := must(r.Setting(ctx, reading.SettingReview))(t); v != "" {
			t.Errorf("review mode before any setting: %q", v)
		}
		must(0, r.PutSetting(ctx, reading.SettingReview, reading.ReviewTwo))(t)
		if v := must(r.Setting(ctx, reading.SettingReview))(t); v != reading.ReviewTwo {
			t.Errorf("review mode %q", v)
		}
		if err := r.PutSetting(ctx, "fuzzy_version", "0"); !errors.Is(err, reading.ErrInvalid) {
			t.Errorf("a setting that is not the reading room's: %v", err)
		}
	})
}
