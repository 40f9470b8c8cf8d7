package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sort"
	"time"
)

// budget bounds one (row, server) measurement: at most maxN timed requests, and no more
// once spent has passed, but never fewer than minN (a slow server still gets a sample).
type budget struct {
	maxN, minN, warm int
	spent            time.Duration
}

// stats are the timings of one (row, server) measurement.
type stats struct {
	durs       []time.Duration
	bytes      int64 // response bodies as received, summed
	mismatches int   // responses that failed their check
	firstBad   string
}

func (s stats) n() int { return len(s.durs) }

// kb is the mean response body in KB.
func (s stats) kb() float64 {
	if len(s.durs) == 0 {
		return math.NaN()
	}
	return float64(s.bytes) / 1e3 / float64(len(s.durs))
}

// pct is the nearest-rank percentile p (0-100) in milliseconds.
func (s stats) pct(p float64) float64 {
	if len(s.durs) == 0 {
		return math.NaN()
	}
	d := append([]time.Duration(nil), s.durs...)
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	k := int(math.Ceil(p/100*float64(len(d)))) - 1
	k = max(0, min(k, len(d)-1))
	return ms(d[k])
}

func (s stats) total() time.Duration {
	var t time.Duration
	for _, d := range s.durs {
		t += d
	}
	return t
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// fetcher is how a row asks: the client (keep-alive), the Accept field, and whether it
// asks for gzip.
type fetcher struct {
	client *http.Client // its Transport must have DisableCompression set
	accept string
	gzip   bool
}

// request times one GET: from sending the request to the last byte of the body read (and,
// for gzip, inflated: a browser inflates before it parses). The body lands in buf (reused,
// so allocation does not show in the timings); wire is the body's size as received.
func (f fetcher) request(u string, buf, raw *bytes.Buffer) (d time.Duration, code int, wire int64, err error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return 0, 0, 0, err
	}
	req.Header.Set("Accept", f.accept)
	if f.gzip {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	buf.Reset()
	raw.Reset()
	t0 := time.Now()
	resp, err := f.client.Do(req)
	if err != nil {
		return 0, 0, 0, err
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Encoding") == "gzip" {
		if _, err = raw.ReadFrom(resp.Body); err == nil {
			wire = int64(raw.Len())
			var zr *gzip.Reader
			if zr, err = gzip.NewReader(raw); err == nil {
				_, err = buf.ReadFrom(zr)
			}
		}
	} else {
		_, err = buf.ReadFrom(resp.Body)
		wire = int64(buf.Len())
	}
	d = time.Since(t0)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("GET %s: read body: %w", u, err)
	}
	return d, resp.StatusCode, wire, nil
}

// run measures one row on several servers: warm-up requests on each (not counted), then
// timed requests in sequence, interleaved (request i to each server in turn) so that the
// machine's changing load falls on all of them alike. urlOf[k](i) is the i-th URL for
// server k (parameters vary across iterations, the same for every server); check (may be
// nil) judges each body after its timing. A server leaves the row after b.maxN requests,
// or once its own request time passes b.spent (never before b.minN).
func run(f fetcher, b budget, urlOf []func(i int) string, check func(i int, body []byte) error) ([]stats, error) {
	var buf, raw bytes.Buffer
	for _, u := range urlOf {
		for i := 0; i < b.warm; i++ {
			u := u(b.maxN + i) // warm-up parameters are not the measured ones
			if _, code, _, err := f.request(u, &buf, &raw); err != nil || code != http.StatusOK {
				return nil, fmt.Errorf("warm-up GET %s: HTTP %d %v: %.300s", u, code, err, buf.Bytes())
			}
		}
	}
	out := make([]stats, len(urlOf))
	for i := 0; i < b.maxN; i++ {
		active := false
		for k, urlOf := range urlOf {
			s := &out[k]
			if i >= b.minN && s.total() >= b.spent {
				continue
			}
			active = true
			u := urlOf(i)
			d, code, wire, err := f.request(u, &buf, &raw)
			if err != nil {
				return nil, err
			}
			if code != http.StatusOK {
				return nil, fmt.Errorf("GET %s: HTTP %d: %.300s", u, code, buf.Bytes())
			}
			s.durs = append(s.durs, d)
			s.bytes += wire
			if check != nil {
				if err := check(i, buf.Bytes()); err != nil {
					s.mismatches++
					if s.firstBad == "" {
						s.firstBad = fmt.Sprintf("%s: %v", u, err)
					}
				}
			}
		}
		if !active {
			break
		}
	}
	return out, nil
}

// studyUIDs reads the Study Instance UIDs of a QIDO-RS JSON answer (PS3.18 F.2).
func studyUIDs(body []byte) ([]string, error) {
	var list []map[string]struct {
		Value []any `json:"Value"`
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("not a DICOM JSON array: %w", err)
	}
	out := make([]string, 0, len(list))
	for _, r := range list {
		v := r["0020000D"].Value
		if len(v) != 1 {
			return nil, fmt.Errorf("a result without one Study Instance UID")
		}
		s, _ := v[0].(string)
		out = append(out, s)
	}
	return out, nil
}

// checkStudies checks a QIDO answer against the set of studies the plan says match: all of
// them when the set is at most limit, else exactly limit of them (limit 0: no limit).
func checkStudies(body []byte, want map[string]bool, limit int) error {
	got, err := studyUIDs(body)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, u := range got {
		if !want[u] {
			return fmt.Errorf("returned study %s that does not match", u)
		}
		if seen[u] {
			return fmt.Errorf("returned study %s twice", u)
		}
		seen[u] = true
	}
	n := len(want)
	if limit > 0 {
		n = min(n, limit)
	}
	if len(got) != n {
		return fmt.Errorf("%d results, want %d", len(got), n)
	}
	return nil
}
