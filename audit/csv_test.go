package audit_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pacsd/audit"
	"pacsd/store/sqlite"
)

func openStore(t testing.TB) audit.Store {
	t.Helper()
	idx, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	return idx.Audit()
}

// TestWriteCSV: the export opens in Excel as Chinese text (UTF-8 BOM), reads back with
// encoding/csv, shows Beijing time and words, crosses pages, and defuses formulas.
func TestWriteCSV(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	at := time.Date(2026, 3, 2, 1, 2, 3, 0, time.UTC)
	var evs []audit.Event
	for i := range 1203 { // more than two of WriteCSV's pages
		evs = append(evs, audit.Event{Time: at.Add(-time.Duration(i) * time.Minute), Actor: audit.User(7, "li.na", "10.0.0.7"),
			Action: audit.ActionImageView, PatientID: "P1", PatientName: "Zhang^Wei=张^伟", StudyUID: "1.2.3",
			Object: fmt.Sprint("1.2.3.", i)})
	}
	evs[0] = audit.Event{Time: at.Add(time.Minute), Actor: audit.Anonymous("=HYPERLINK(\"http://x\")", "203.0.113.9"),
		Action: audit.ActionLogin, Outcome: audit.OutcomeFailure, Detail: "密码错误, \"第3次\"\n锁定", Count: 2}
	if err := st.Append(ctx, evs); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	if err := audit.WriteCSV(ctx, &buf, st, audit.Filter{}, shanghai); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if !bytes.HasPrefix(b, []byte("\xEF\xBB\xBF")) {
		t.Fatalf("no UTF-8 byte order mark: % x", b[:3])
	}
	if !bytes.Contains(b, []byte("\r\n")) {
		t.Error("lines do not end in CRLF")
	}
	recs, err := csv.NewReader(bytes.NewReader(b[3:])).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1+1203 {
		t.Fatalf("%d rows, want header + 1203", len(recs))
	}
	head := strings.Join(recs[0], ",")
	if head != "时间,操作,结果,说明,操作者类型,用户ID,用户名,AE,地址,患者ID,患者姓名,检查UID,对象,次数,记录号" {
		t.Errorf("header %q", head)
	}
	login := recs[1]
	want := []string{"2026-03-02 09:03:03", "登录", "失败", "密码错误, \"第3次\" 锁定", "匿名", "",
		"'=HYPERLINK(\"http://x\")", "", "203.0.113.9", "", "", "", "", "2"}
	if strings.Join(login[:14], "|") != strings.Join(want, "|") {
		t.Errorf("login row\n got %q\nwant %q", login[:14], want)
	}
	view := recs[2]
	want = []string{"2026-03-02 09:01:03", "查看图像", "成功", "", "用户", "7", "li.na", "", "10.0.0.7", "P1", "张伟", "1.2.3", "1.2.3.1", "1"}
	if strings.Join(view[:14], "|") != strings.Join(want, "|") {
		t.Errorf("view row\n got %q\nwant %q", view[:14], want)
	}
	if last := recs[len(recs)-1]; last[12] != "1.2.3.1202" {
		t.Errorf("last row is %q, want the oldest event", last[12])
	}
	seen := map[string]bool{}
	for _, r := range recs[1:] {
		if seen[r[14]] {
			t.Errorf("event %s exported twice", r[14])
		}
		seen[r[14]] = true
	}
	// A filter applies to the export as to a page.
	buf.Reset()
	if err := audit.WriteCSV(ctx, &buf, st, audit.Filter{Actions: []audit.Action{audit.ActionLogin}}, shanghai); err != nil {
		t.Fatal(err)
	}
	if recs, err := csv.NewReader(bytes.NewReader(buf.Bytes()[3:])).ReadAll(); err != nil || len(recs) != 2 {
		t.Errorf("filtered export: %d rows, %v", len(recs), err)
	}
}
