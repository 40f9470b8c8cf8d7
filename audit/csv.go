package audit

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"pacsd/dicom"
)

// csvHeader names WriteCSV's columns, in Chinese for the county's administrators.
var csvHeader = []string{"时间", "操作", "结果", "说明", "操作者类型", "用户ID", "用户名", "AE", "地址",
	"患者ID", "患者姓名", "检查UID", "对象", "次数", "记录号"}

// csvPage is how many events WriteCSV asks for at a time.
const csvPage = 500

// WriteCSV writes the events f selects (all pages, f.After onwards, newest first) as CSV for
// Excel: UTF-8 with a byte order mark (without it Excel in China reads the file as GBK and
// garbles every Chinese character), CRLF line ends, times as "2006-01-02 15:04:05" in loc
// (the county's zone). It streams: one page in memory at a time. A cell Excel would take
// for a formula (starting with = + - @) gets a leading apostrophe: a user name typed at a
// failed login must not become a formula in the administrator's spreadsheet. 次数 is how many
// identical looks the row stands for (Event.Count).
func WriteCSV(ctx context.Context, w io.Writer, s Searcher, f Filter, loc *time.Location) error {
	if loc == nil {
		loc = time.UTC
	}
	if _, err := io.WriteString(w, "\uFEFF"); err != nil {
		return fmt.Errorf("audit csv: %w", err)
	}
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write(csvHeader); err != nil {
		return fmt.Errorf("audit csv: %w", err)
	}
	f.Limit = csvPage
	row := make([]string, len(csvHeader))
	for {
		p, err := s.Search(ctx, f)
		if err != nil {
			return fmt.Errorf("audit csv: %w", err)
		}
		for _, e := range p.Events {
			uid := ""
			if e.Actor.UserID != 0 {
				uid = strconv.FormatInt(e.Actor.UserID, 10)
			}
			row = append(row[:0], e.Time.In(loc).Format(time.DateTime), e.Action.Label(), e.Outcome.Label(),
				e.Detail, e.Actor.Kind.Label(), uid, e.Actor.UserName, e.Actor.AETitle, e.Actor.Address,
				e.PatientID, dicom.ParsePersonName(e.PatientName).Display(), e.StudyUID, e.Object,
				strconv.Itoa(max(e.Count, 1)), strconv.FormatInt(e.ID, 10))
			for i, v := range row {
				row[i] = noFormula(v)
			}
			if err := cw.Write(row); err != nil {
				return fmt.Errorf("audit csv: %w", err)
			}
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return fmt.Errorf("audit csv: %w", err)
		}
		if p.Next == "" {
			return nil
		}
		f.After = p.Next
	}
}

// noFormula keeps a spreadsheet from evaluating a cell (OWASP's CSV injection advice).
func noFormula(v string) string {
	if v != "" && strings.ContainsRune("=+-@", rune(v[0])) {
		return "'" + v
	}
	return v
}
