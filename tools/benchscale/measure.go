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
	find    findKeys
	want    int
	limited bool // the answer is capped: min(want, cap) results
}

type findKeys struct{ patientID, patientName, studyDate string }

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
		{"C-FIND PatientID=<one>", "cfind", cfind, func(i int) query { return query{find: findKeys{patientID: ids[i]}, want: byID(i)} }},
		{"C-FIND StudyDate=<one week>", "cfind", cfind, func(i int) query { return query{find: findKeys{studyDate: wks[i]}, want: byWeek(i)} }},
		{"C-FIND PatientName=张*", "cfind", cfind, func(int) query { return query{find: findKeys{patientName: "张*"}, want: byName("张*")} }},
		{"worklist first page", "worklist", qido, func(int) query { return query{qido: "", want: -1} }},
		{"worklist modality=US&q=张", "worklist", qido, func(int) query { return query{qido: "modality=US&q=张", want: -1} }},
		{"worklist one week", "worklist", qido, func(i int) query {
			from, to, _ := strings.Cut(wks[i], "-")
			return query{qido: "from=" + from + "&to=" + to, want: -1}
		}},
	}
}

// nameMatches is pacsd's PN rule for the benchmark's values (store/sqlite's package
// comment, as tools/benchweb checks it): a value without '=' matches when one component
// group matches, ignoring ASCII case, '*' only at the end; fuzzy "zhang" finds surname 张.
func nameMatches(s summary, val string) bool {
	if val == "fuzzy:zhang" {
		return s.zhang
	}
	prefix, wild := strings.CutSuffix(val, "*")
	for _, g := range strings.Split(s.name, "=") {
		g = strings.ToLower(g)
		if wild && strings.HasPrefix(g, strings.ToLower(prefix)) || !wild && g == strings.ToLower(val) {
			return true
		}
	}
	return false
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
		Contexts: map[string][]string{studyRootFind: {dicom.ImplicitVRLittleEndian}}})
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

func qidoOnce(c *http.Client, base, q string) (time.Duration, int, error) {
	u := base
	if q != "" {
		v, err := url.ParseQuery(q)
		if err != nil {
			return 0, 0, err
		}
		u += "?" + v.Encode()
	}
	t0 := time.Now()
	body, code, err := get(c, u, "application/dicom+json")
	d := time.Since(t0)
	if err != nil {
		return 0, 0, err
	}
	if code == http.StatusNoContent {
		return d, 0, nil
	}
	if code != http.StatusOK {
		return 0, 0, fmt.Errorf("GET %s: HTTP %d: %.300s", u, code, body)
	}
	var list []json.RawMessage
	if err := json.Unmarshal(body, &list); err != nil {
		return 0, 0, fmt.Errorf("GET %s: not a DICOM JSON array: %w", u, err)
	}
	return d, len(list), nil
}

// worklistOnce asks the reading room's live worklist for its rows (what the page
// refreshes); the count is the rendered table rows.
func worklistOnce(c *http.Client, base, q string) (time.Duration, int, error) {
	u := base
	if q != "" {
		v, err := url.ParseQuery(q)
		if err != nil {
			return 0, 0, err
		}
		u += "?" + v.Encode()
	}
	t0 := time.Now()
	body, code, err := get(c, u, "")
	d := time.Since(t0)
	if err != nil {
		return 0, 0, err
	}
	if code != http.StatusOK {
		return 0, 0, fmt.Errorf("GET %s: HTTP %d: %.300s", u, code, body)
	}
	return d, bytes.Count(body, []byte("<tr")), nil
}

const studyRootFind = "1.2.840.10008.5.1.4.1.2.2.1"

// identifier is a study-level C-FIND request (Study Root), Specific Character Set
// ISO_IR 192 for the Chinese names, with the return keys a workstation's study list asks
// (as tools/benchweb's).
func (q findKeys) identifier() ([]byte, error) {
	var b bytes.Buffer
	enc, err := dicom.NewEncoder(&b, dicom.ImplicitVRLittleEndian)
	if err != nil {
		return nil, err
	}
	name, err := dicom.EncodeText(q.patientName, []string{"ISO_IR 192"}, "PN")
	if err != nil {
		return nil, err
	}
	enc.WriteString(dicom.TagSpecificCharacterSet, "CS", "ISO_IR 192")
	enc.WriteString(dicom.TagStudyDate, "DA", q.studyDate)
	enc.WriteString(dicom.TagStudyTime, "TM", "")
	enc.WriteString(dicom.TagAccessionNumber, "SH", "")
	enc.WriteString(0x00080052, "CS", "STUDY") // Query/Retrieve Level
	enc.WriteString(dicom.TagModalitiesInStudy, "CS", "")
	enc.WriteString(dicom.TagStudyDescription, "LO", "")
	enc.WriteElement(dicom.TagPatientName, "PN", name)
	enc.WriteString(dicom.TagPatientID, "LO", q.patientID)
	enc.WriteString(dicom.TagPatientBirthDate, "DA", "")
	enc.WriteString(dicom.TagStudyInstanceUID, "UI", "")
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func findOnce(ctx context.Context, c *dimse.Client, q findKeys) (time.Duration, int, error) {
	id, err := q.identifier()
	if err != nil {
		return 0, 0, err
	}
	n := 0
	t0 := time.Now()
	st, err := c.Find(ctx, studyRootFind, id, func(uint16, []byte) error { n++; return nil })
	d := time.Since(t0)
	if err != nil {
		return 0, 0, fmt.Errorf("C-FIND: %w", err)
	}
	if !st.OK() {
		return 0, 0, fmt.Errorf("C-FIND: final status %v", st)
	}
	return d, n, nil
}
