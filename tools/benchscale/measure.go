package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"pacsd/dicom"
	"pacsd/dimse"
	"pacsd/internal/xorshift"
	"pacsd/tools/internal/benchkit"
)

// summary is what the checks need of one study: the answers' expected counts come from
// these, not from the server.
type summary struct {
	patientID, name, date string
	modalities            []string
	zhang                 bool
}

// summarize draws every study of the corpus again (not its objects) for the checks.
func summarize(seed uint64, n int) []summary {
	out := make([]summary, n)
	for i := range out {
		st := studyAt(seed, i)
		out[i] = summary{patientID: st.patient.id, name: st.patient.name, date: st.date,
			modalities: st.modalities, zhang: st.patient.zhang}
	}
	return out
}

// query is one measured row's request i: a QIDO-RS query string, a C-FIND's keys or a
// worklist query string, and how many studies must match (-1: not checked).
type query struct {
	qido    string
	find    benchkit.StudyFind
	want    int
	limited bool // the answer is capped: min(want, cap) results
}

// rowSpec is one line of the table.
type rowSpec struct {
	name   string
	kind   string // "qido", "cfind", "worklist"
	target [2]float64
	q      func(i int) query
}

// qidoCap is pacsd's default QIDO-RS page (no limit asked).
const qidoCap = 1000

// specs are the rows: benchweb's QIDO and C-FIND queries (tools/benchweb main.go), and
// the reading room's worklist first page and filtered pages. Targets are the p99
// (SQLite, PostgreSQL) in ms.
func specs(seed uint64, sums []summary, n int) []rowSpec {
	rng := xorshift.New(seed, "queries")
	ids := make([]string, n)
	wks := make([]string, n)
	for i := range ids {
		ids[i] = sums[rng.Intn(len(sums))].patientID
		from := dayZero.AddDate(0, 0, rng.Intn(spanDays-6))
		wks[i] = from.Format("20060102") + "-" + from.AddDate(0, 0, 6).Format("20060102")
	}
	memo := map[string]int{}
	count := func(key string, match func(s summary) bool) int {
		if v, ok := memo[key]; ok {
			return v
		}
		c := 0
		for _, s := range sums {
			if match(s) {
				c++
			}
		}
		memo[key] = c
		return c
	}
	byID := func(i int) int { return count("id"+ids[i], func(s summary) bool { return s.patientID == ids[i] }) }
	byWeek := func(i int) int {
		from, to, _ := strings.Cut(wks[i], "-")
		return count("wk"+wks[i], func(s summary) bool { return s.date >= from && s.date <= to })
	}
	byName := func(val string) int {
		return count("pn"+val, func(s summary) bool { return nameMatches(s, val) })
	}
	all := len(sums)
	dx := count("dx", func(s summary) bool {
		for _, m := range s.modalities {
			if m == "DX" {
				return true
			}
		}
		return false
	})
	qido := [2]float64{20, 50}
	cfind := [2]float64{50, 50}
	return []rowSpec{
		{"QIDO PatientID=<one>", "qido", qido, func(i int) query { return query{qido: "PatientID=" + ids[i], want: byID(i)} }},
		{"QIDO StudyDate=<one week>", "qido", qido, func(i int) query { return query{qido: "StudyDate=" + wks[i], want: byWeek(i), limited: true} }},
		{"QIDO ModalitiesInStudy=DX&limit=50", "qido", qido, func(int) query {
			return query{qido: "ModalitiesInStudy=DX&limit=50", want: min(dx, 50)}
		}},
		{"QIDO unfiltered limit=100", "qido", qido, func(int) query { return query{qido: "limit=100", want: min(all, 100)} }},
		{"QIDO unfiltered, no limit (1000)", "qido", qido, func(int) query { return query{qido: "", want: all, limited: true} }},
		{"QIDO PatientName=张*", "qido", qido, func(int) query { return query{qido: "PatientName=张*", want: byName("张*"), limited: true} }},
		{"QIDO PatientName=张伟", "qido", qido, func(int) query { return query{qido: "PatientName=张伟", want: byName("张伟"), limited: true} }},
		{"QIDO PatientName=zhang*", "qido", qido, func(int) query {
			return query{qido: "PatientName=zhang*", want: byName("zhang*"), limited: true}
		}},
		{"QIDO PatientName=zhang, fuzzy", "qido", qido, func(int) query {
			return query{qido: "PatientName=zhang&fuzzymatching=true", want: byName("fuzzy:zhang"), limited: true}
		}},
		{"C-FIND PatientID=<one>", "cfind", cfind, func(i int) query { return query{find: benchkit.StudyFind{PatientID: ids[i]}, want: byID(i)} }},
		{"C-FIND StudyDate=<one week>", "cfind", cfind, func(i int) query { return query{find: benchkit.StudyFind{StudyDate: wks[i]}, want: byWeek(i)} }},
		{"C-FIND PatientName=张*", "cfind", cfind, func(int) query { return query{find: benchkit.StudyFind{PatientName: "张*"}, want: byName("张*")} }},
		// A worklist page is 50 rows (viewer's worklistFilter); every study is unread.
		{"worklist first page", "worklist", qido, func(int) query { return query{qido: "", want: min(all, 50)} }},
		{"worklist modality=US&q=张", "worklist", qido, func(int) query { return query{qido: "modality=US&q=张", want: -1} }},
		{"worklist one week", "worklist", qido, func(i int) query {
			from, to, _ := strings.Cut(wks[i], "-")
			return query{qido: "from=" + from + "&to=" + to, want: min(byWeek(i), 50)}
		}},
	}
}

// nameMatches is pacsd's PN rule for the benchmark's values (benchkit.NameMatches); fuzzy
// "zhang" finds the Chinese names of surname 张.
func nameMatches(s summary, val string) bool {
	if val == "fuzzy:zhang" {
		return s.zhang
	}
	return benchkit.NameMatches(s.name, val)
}

// result is one row's timings on one node.
type result struct {
	durs       []time.Duration
	mismatches int
	firstBad   string
	lastCount  int
}

// pct is the nearest-rank percentile p (0-100) in milliseconds.
func (r result) pct(p float64) float64 {
	if len(r.durs) == 0 {
		return math.NaN()
	}
	d := append([]time.Duration(nil), r.durs...)
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	k := max(0, min(int(math.Ceil(p/100*float64(len(d))))-1, len(d)-1))
	return float64(d[k]) / float64(time.Millisecond)
}

// measure runs every row on one node: warm untimed requests, then n timed ones in
// sequence (one client, keep-alive, as a workstation or a browser asks).
func measure(ctx context.Context, nd *node, rows []rowSpec, n, warm int) ([]result, error) {
	plain := &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: time.Minute}
	browser, err := nd.login()
	if err != nil {
		return nil, err
	}
	browser.Transport = &http.Transport{DisableCompression: true}
	fc, err := dimse.Dial(ctx, nd.dicomAddr, dimse.ClientConfig{CallingAETitle: "BENCHSCALE", CalledAETitle: "BENCH",
		Contexts: map[string][]string{benchkit.StudyRootFind: {dicom.ImplicitVRLittleEndian}}})
	if err != nil {
		return nil, fmt.Errorf("C-FIND association: %w", err)
	}
	defer fc.Release(ctx)
	out := make([]result, len(rows))
	for k, r := range rows {
		res := &out[k]
		for i := 0; i < warm+n; i++ {
			q := r.q((i + n - warm) % n) // warm-up parameters are drawn from the same list
			var d time.Duration
			var got int
			switch r.kind {
			case "qido":
				d, got, err = qidoOnce(plain, nd.base+"/dicomweb/studies", q.qido)
			case "cfind":
				d, got, err = findOnce(ctx, fc, q.find)
			case "worklist":
				d, got, err = worklistOnce(browser, nd.base+"/api/worklist", q.qido)
			}
			if err != nil {
				return nil, fmt.Errorf("%s on %s: %w", r.name, nd.engine, err)
			}
			if i < warm {
				continue
			}
			res.durs = append(res.durs, d)
			res.lastCount = got
			want := q.want
			if q.limited {
				want = min(want, qidoCap)
			}
			if q.want >= 0 && got != want {
				res.mismatches++
				if res.firstBad == "" {
					res.firstBad = fmt.Sprintf("%+v: %d results, want %d", q, got, want)
				}
			}
		}
	}
	return out, nil
}

// timedGet times one GET of base?q (q a raw query string, "" for none): from sending the
// request to the last byte of the body.
func timedGet(c *http.Client, base, q, accept string) (time.Duration, []byte, int, error) {
	u := base
	if q != "" {
		v, err := url.ParseQuery(q)
		if err != nil {
			return 0, nil, 0, err
		}
		u += "?" + v.Encode()
	}
	t0 := time.Now()
	body, code, err := get(c, u, accept)
	d := time.Since(t0)
	if err != nil {
		return 0, nil, 0, err
	}
	if code != http.StatusOK && code != http.StatusNoContent {
		return 0, nil, 0, fmt.Errorf("GET %s: HTTP %d: %.300s", u, code, body)
	}
	return d, body, code, nil
}

// qidoOnce is one QIDO-RS study search; the count is the studies it returned.
func qidoOnce(c *http.Client, base, q string) (time.Duration, int, error) {
	d, body, code, err := timedGet(c, base, q, "application/dicom+json")
	if err != nil || code == http.StatusNoContent {
		return d, 0, err
	}
	var list []json.RawMessage
	if err := json.Unmarshal(body, &list); err != nil {
		return 0, 0, fmt.Errorf("QIDO-RS %s: not a DICOM JSON array: %w", q, err)
	}
	return d, len(list), nil
}

// worklistOnce asks the reading room's live worklist for its rows (what the page
// refreshes); the count is the rendered studies' rows.
func worklistOnce(c *http.Client, base, q string) (time.Duration, int, error) {
	d, body, _, err := timedGet(c, base, q, "")
	return d, bytes.Count(body, []byte(`data-study="`)), err
}

func findOnce(ctx context.Context, c *dimse.Client, q benchkit.StudyFind) (time.Duration, int, error) {
	id, err := q.Identifier()
	if err != nil {
		return 0, 0, err
	}
	n := 0
	t0 := time.Now()
	st, err := c.Find(ctx, benchkit.StudyRootFind, id, func(uint16, []byte) error { n++; return nil })
	d := time.Since(t0)
	if err != nil {
		return 0, 0, fmt.Errorf("C-FIND: %w", err)
	}
	if !st.OK() {
		return 0, 0, fmt.Errorf("C-FIND: final status %v", st)
	}
	return d, n, nil
}
